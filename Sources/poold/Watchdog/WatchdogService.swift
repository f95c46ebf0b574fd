import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Shared

/// Runs this member of the watchdog cluster: feeds `WatchdogStateMachine` with frames, heartbeats and ticks
/// on one event loop, and carries out its actions in order — persist (durably, before what follows), send,
/// arm the VIP guard, escalate and de-escalate (the commands run one after another, off the loop). Publishes a
/// `WatchdogReport` to the runtime for the admin socket and the console.
struct WatchdogService: Service {
    let runtime: Runtime
    let configuration: WatchdogConfiguration
    let eventLoop: EventLoop
    let logger: Logger

    func run() async throws {
        let member = WatchdogMemberRunner(runtime: runtime, configuration: configuration, loop: eventLoop, logger: logger)
        try await member.start()
        try? await gracefulShutdown()
        await member.shutdown()
    }
}

/// Lets the VIP guard's callback, made before the runner exists, reach it (weakly, on the runner's loop).
private final class RunnerBox: @unchecked Sendable {
    weak var runner: WatchdogMemberRunner?
}

/// The executor of the watchdog's state machine (event-loop confined).
final class WatchdogMemberRunner: @unchecked Sendable {
    let runtime: Runtime
    let configuration: WatchdogConfiguration
    let loop: EventLoop
    let logger: Logger
    private var machine: WatchdogStateMachine
    /// The cluster-wide backend state beside the election: the leader's view, proposals, forwarded requests.
    private var sync: WatchdogClusterSync
    /// Operators' requests on this member waiting for the leader's answer, by id.
    private var adminReplies: [UInt64: @Sendable (AdminResult) -> Void] = [:]
    private var nextAdminID: UInt64 = 0
    private let transport: WatchdogTransport
    private let vipGuard: VIPGuard?
    /// Query and external lifechecks, trusted servers, monitored interfaces (`WatchdogLifecheckRunner`).
    private let lifecheck: WatchdogLifecheckRunner
    private let statePath: String
    private var ticks: RepeatedTask?
    private var heartbeats: RepeatedTask?
    /// Escalation and de-escalation commands, one after another.
    private let commands: WatchdogCommandQueue
    private var stopped: EventLoopPromise<Void>

    init(runtime: Runtime, configuration: WatchdogConfiguration, loop: EventLoop, logger: Logger) {
        self.runtime = runtime
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        machine = WatchdogStateMachine(configuration: .init(configuration))
        sync = WatchdogClusterSync(configuration: .init(configuration), cluster: WatchdogClusterView(runtime.cluster),
                                   digest: WatchdogSettingsDigest(backends: runtime.config.backends))
        transport = WatchdogTransport(configuration: configuration, loop: loop, logger: logger)
        // The guard reports a drop of its own; the runner is created before it, so it is reached through a box.
        let box = RunnerBox()
        vipGuard = configuration.virtualIP.flatMap { vip in
            VIPGuard(downCommand: vip.expandedDown, logger: logger, dropped: { [loop] in
                loop.execute {
                    guard let runner = box.runner else { return }
                    runner.logger.warning("watchdog: the VIP guard brought the VIP down by itself (its deadline passed before a renewal)")
                    runner.handle(.vipDropped)
                }
            })
        }
        lifecheck = WatchdogLifecheckRunner(runtime: runtime, configuration: configuration, loop: loop, logger: logger)
        let logdir = runtime.config.string("logdir").isEmpty ? "/tmp" : runtime.config.string("logdir")
        statePath = logdir + "/poold_watchdog.state"
        commands = WatchdogCommandQueue(loop: loop, logger: logger)
        stopped = loop.makePromise()
        box.runner = self
    }

    func start() async throws {
        transport.deliver = { [self] packet, from in
            switch packet.body {
            case .message(let m): handle(.received(m, from: from))
            // In query and external modes liveness is the lifecheck's (Pgpool-II sends no heartbeats there).
            case .heartbeat: if configuration.lifecheck.method == .heartbeat { handle(.heartbeat(from: from)) }
            }
        }
        try await transport.start()
        // The runner is confined to `loop`: every hook hops onto it.
        let loop = self.loop
        runtime.watchdogHooks.withLock {
            $0 = WatchdogHooks(
                detected: { [self] request in loop.execute { self.syncEvent(.detected(request)) } },
                nodeAnswered: { [self] id in loop.execute { self.syncEvent(.nodeAnswered(id)) } },
                clusterChanged: { [self] state in loop.execute { self.syncEvent(.clusterChanged(WatchdogClusterView(state))) } },
                admin: { [self] request, reply in loop.execute { self.adminRequested(request, reply) } },
                resign: { [self] reply in loop.execute { self.resignRequested(reply) } },
                clusterCommand: { [self] command in loop.execute { self.syncEvent(.clusterCommandRequested(command)) } })
        }
        let saved = (try? Data(contentsOf: URL(fileURLWithPath: statePath)))
            .flatMap { try? JSONDecoder().decode(WatchdogStateMachine.PersistentState.self, from: $0) }
            ?? WatchdogStateMachine.PersistentState()
        let t = configuration.timings
        let tickEvery = TimeAmount.nanoseconds(Int64(max(20_000_000, nanoseconds(t.beaconInterval) / 2)))
        let heartbeatEvery = TimeAmount.nanoseconds(Int64(max(100_000_000, nanoseconds(t.keepalive))))
        try await loop.submit { [self] in
            handle(.start(saved))
            ticks = loop.scheduleRepeatedTask(initialDelay: tickEvery, delay: tickEvery) { [self] _ in handle(.tick) }
            if configuration.lifecheck.method == .heartbeat {
                heartbeats = loop.scheduleRepeatedTask(initialDelay: .zero, delay: heartbeatEvery) { [self] _ in transport.sendHeartbeats() }
            }
            lifecheck.start { [self] event in handle(event) }
        }.get()
        logger.notice("watchdog started", metadata: ["member": "\(configuration.local.name)", "term": "\(saved.term)",
                                                     "members": "\(configuration.members.count)"])
    }

    /// Steps down (VIP down first), tells the others, stops.
    func shutdown() async {
        loop.execute { [self] in handle(.shutdown) }
        // De-escalation commands may take a while; do not wait for ever.
        let limit = loop.scheduleTask(in: .seconds(10)) { [self] in stopped.succeed(()) }
        try? await stopped.futureResult.get()
        limit.cancel()
        runtime.watchdogHooks.withLock { $0 = nil }
        try? await loop.submit { [self] in
            ticks?.cancel()
            heartbeats?.cancel()
            lifecheck.stop()
            transport.stop()
            vipGuard?.stop()
        }.get()
    }

    private func nanoseconds(_ d: Duration) -> UInt64 {
        let (s, a) = d.components
        return UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, a / 1_000_000_000))
    }

    // MARK: - Events and actions

    fileprivate func handle(_ event: WatchdogStateMachine.Event) {
        let before = machine.state
        let actions = machine.event(event, now: watchdogNow())
        for action in actions { execute(action) }
        switch event {
        case .start: syncEvent(.start)
        case .received(let m, let from): syncEvent(.received(m, from: from))
        case .tick: syncEvent(.tick)
        default: break
        }
        if machine.state != before {
            logger.notice("watchdog state changed", metadata: ["from": "\(before.name)", "to": "\(machine.state.name)",
                                                               "term": "\(machine.term)", "leader": "\(machine.leaderName ?? "none")"])
            runtime.publish(["event": "watchdog", "state": machine.state.name, "term": Int(machine.term),
                             "leader": machine.leaderName ?? ""])
        }
        publishReport()
    }

    private func publishReport() {
        var report = WatchdogReport(machine: machine, configuration: configuration, now: watchdogNow())
        report.cluster = .init(sync)
        runtime.watchdogReport.withLock { $0 = report }
    }

    private func execute(_ action: WatchdogStateMachine.Action) {
        switch action {
        case .send(let message, let to):
            transport.send(message, to: to)
        case .persist(let state):
            persist(state)
        case .holdVIP(let until, _):
            vipGuard?.hold(until: until)
        case .escalate(let term):
            logger.notice("watchdog: escalating (this member is the leader)", metadata: ["term": "\(term)"])
            let vip = configuration.virtualIP
            commands.run([configuration.escalationCommand, vip?.expandedUp ?? "", vip?.expandedArping ?? ""],
                         while: { [self] in machine.mayActAsLeader(now: watchdogNow()) },
                         skipped: "watchdog: lease ended; skipping an escalation command")
        case .deEscalate(let term):
            logger.notice("watchdog: de-escalating", metadata: ["term": "\(term)"])
            commands.run([configuration.deEscalationCommand, configuration.virtualIP?.expandedDown ?? ""], then: { [self] in
                // A member that has meanwhile become leader again (a later term) keeps its guard armed.
                if !machine.mayActAsLeader(now: watchdogNow()) { vipGuard?.release() }
                handle(.deEscalated)
            })
        case .stop:
            stopped.succeed(())
        }
    }

    /// An operator's `watchdog resign`: only the leader has something to give up.
    private func resignRequested(_ reply: @Sendable (AdminResult) -> Void) {
        guard machine.state == .leader else {
            reply(.failure("\(configuration.local.name) is not the watchdog leader (it is \(machine.state.name); the leader is \(machine.leaderName ?? "none")): run resign on the leader"))
            return
        }
        logger.warning("watchdog: resigning leadership (operator request)", metadata: ["term": "\(machine.term)"])
        handle(.resign)
        reply(.success("\(configuration.local.name) resigned leadership of term \(machine.term): the VIP goes down here, then another member is elected"))
    }

    // MARK: - Cluster-wide backend state

    private func adminRequested(_ request: WatchdogAdminRequest, _ reply: @escaping @Sendable (AdminResult) -> Void) {
        nextAdminID += 1
        adminReplies[nextAdminID] = reply
        syncEvent(.adminRequested(request, id: nextAdminID))
    }

    private func syncEvent(_ event: WatchdogClusterSync.Event) {
        let now = watchdogNow()
        for action in sync.event(event, membership: .init(machine, now: now), now: now) { execute(action) }
        publishReport()
    }

    private func execute(_ action: WatchdogClusterSync.Action) {
        let now = watchdogNow()
        switch action {
        case .send(let message, let to):
            transport.send(message, to: to)
        case .executeFailover(let request, let term):
            guard machine.mayAct(inTerm: term, now: now) else {
                logger.warning("watchdog: no longer the leader of the term that decided a failover; not running it",
                               metadata: ["nodes": "\(request.nodes)", "term": "\(term)"])
                return
            }
            logger.warning("watchdog: failover decided by the leader", metadata: ["kind": "\(request.kind)", "nodes": "\(request.nodes)",
                                                                                 "term": "\(term)"])
            runtime.submit(.watchdogFailover(request))
        case .executeAdmin(let request, let origin, let term):
            let loopBound = NIOLoopBound(self, eventLoop: loop)
            guard machine.mayAct(inTerm: term, now: now) else {
                syncEvent(.adminFinished(origin, ok: false, message: "the watchdog leader changed; retry"))
                return
            }
            runtime.submit(.watchdogAdmin(request, reply: { result in
                loopBound.eventLoop.execute { loopBound.value.syncEvent(.adminFinished(origin, ok: result.ok, message: result.message)) }
            }))
        case .replyAdmin(let id, let ok, let message):
            adminReplies.removeValue(forKey: id)?(AdminResult(ok: ok, message: message))
        case .resign(let reason):
            logger.warning("watchdog: resigning leadership", metadata: ["reason": "\(reason)", "term": "\(machine.term)"])
            handle(.resign)
        case .apply(let view):
            runtime.submit(.watchdogApply(view, quarantineOnly: sync.isLeading || machine.state == .leader))
        case .executeClusterCommand(let command, let from):
            logger.warning("watchdog: a member asks every member to \(command == .reload ? "reload" : "stop")",
                           metadata: ["member": "\(configuration.members.first { $0.id == from }?.name ?? String(from))",
                                      "command": "\(command)"])
            kill(getpid(), command.signal)
        case .notice(let notice):
            switch notice {
            case .settingsDiffer(_, let name, _, _):
                logger.warning("watchdog member has different backend settings", metadata: ["member": "\(name)"])
            default:
                logger.notice("watchdog: \(notice)")
            }
        }
    }

    /// Writes the term file durably (temp file, fsync, rename) before any action that relies on it.
    private func persist(_ state: WatchdogStateMachine.PersistentState) {
        guard let data = try? JSONEncoder().encode(state) else { return }
        let temp = statePath + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else {
            logger.error("cannot write the watchdog state file", metadata: ["path": "\(temp)", "errno": "\(errno)"])
            return
        }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        rename(temp, statePath)
    }
}

extension WatchdogClusterCommand {
    /// The signal that does it to this process: SIGHUP, or the stop mode's SIGTERM / SIGINT / SIGQUIT.
    var signal: Int32 {
        switch self {
        case .reload: return SIGHUP
        case .stop(.smart): return SIGTERM
        case .stop(.fast): return SIGINT
        case .stop(.immediate): return SIGQUIT
        }
    }
}
