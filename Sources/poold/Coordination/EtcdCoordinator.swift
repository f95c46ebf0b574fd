import EtcdClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Shared

/// Runs this member with etcd as the watchdog's coordination backend (`watchdog_coordination = etcd`): started
/// by poold instead of `WatchdogService`, with the same hooks and the same `WatchdogReport`, so the cluster
/// service, the admin socket's `watchdog` and the console need not know which backend decides.
struct EtcdCoordinatorService: Service {
    let runtime: Runtime
    let configuration: EtcdCoordinationConfiguration
    let eventLoop: EventLoop
    let logger: Logger

    func run() async throws {
        let member = EtcdCoordinator(runtime: runtime, configuration: configuration, loop: eventLoop, logger: logger)
        member.start()
        try? await gracefulShutdown()
        await member.shutdown()
    }
}

/// The executor of `EtcdLeadership` (event-loop confined): every action becomes one etcd call (or a VIP guard
/// line, or commands queued one after another, off the loop), and every answer comes back to the loop as an
/// event with the time it arrived. A watch task follows the leader key. The cluster-state half (proposals,
/// the leader's view under `<prefix>/cluster`) is in `EtcdCoordinator+Cluster.swift`.
final class EtcdCoordinator: @unchecked Sendable {
    let runtime: Runtime
    let configuration: EtcdCoordinationConfiguration
    let loop: EventLoop
    let logger: Logger
    let client: EtcdClient
    let name: String
    let record: EtcdMemberRecord
    var machine: EtcdLeadership
    /// The member keys as last read; nil before the first read (the leader counts no proposal until then, so a
    /// quorum is never computed over an empty list).
    var members: [EtcdMemberRecord]?
    /// Cluster-state bookkeeping (see `EtcdCoordinator+Cluster.swift`).
    var cluster = ClusterSide()
    /// Operators' requests forwarded to the leader through etcd (see `EtcdCoordinator+Requests.swift`).
    var requests = ForwardedRequests()
    private let vipGuard: VIPGuard?
    private var ticks: RepeatedTask?
    private var watchTask: Task<Void, Never>?
    /// Escalation and de-escalation commands, one after another.
    private let commands: WatchdogCommandQueue
    /// The last revoke sent: shutdown waits for it, so the others need not wait a TTL.
    private var lastRevoke: EventLoopFuture<Void>
    private var stopped: EventLoopPromise<Void>
    private var lastRole: EtcdLeadership.Role?
    /// The etcd revision of the newest news of the leader key handed to the machine.
    private var leaderRevision: Int64 = 0

    init(runtime: Runtime, configuration: EtcdCoordinationConfiguration, loop: EventLoop, logger: Logger) {
        self.runtime = runtime
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        let host = ProcessInfo.processInfo.hostName
        name = configuration.memberName ?? "\(host):\(runtime.config.port)"
        record = EtcdMemberRecord(name: name, hostname: host, pgpoolPort: runtime.config.port)
        machine = EtcdLeadership(name: name, timings: configuration.timings)
        let t = configuration.timings
        client = EtcdClient(configuration: .init(
            endpoints: configuration.endpoints.compactMap(EtcdEndpoint.init), requestTimeout: t.requestTimeout,
            deadline: max(t.requestTimeout, t.renewInterval), user: configuration.user,
            password: configuration.password.map { String(decoding: $0.bytes, as: UTF8.self) }),
            eventLoopGroup: loop, logger: logger)
        vipGuard = configuration.virtualIP.flatMap { VIPGuard(downCommand: $0.expandedDown, logger: logger) }
        commands = WatchdogCommandQueue(loop: loop, logger: logger)
        lastRevoke = loop.makeSucceededVoidFuture()
        stopped = loop.makePromise()
    }

    func start() {
        installHooks()
        let tick = TimeAmount.nanoseconds(max(20_000_000, Self.nanoseconds(configuration.timings.tickInterval)))
        loop.execute { [self] in
            handle(.start)
            ticks = loop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { [self] _ in handle(.tick) }
        }
        watchTask = Task { [self] in await watchLeader() }
        logger.notice("watchdog on etcd started", metadata: [
            "member": "\(name)", "endpoints": "\(configuration.endpoints.joined(separator: ","))",
            "prefix": "\(configuration.prefix)", "lease_ttl": "\(configuration.timings.leaseTTL)"])
    }

    /// Steps down (VIP down first), revokes the lease (the others take over at once), stops.
    func shutdown() async {
        loop.execute { [self] in handle(.shutdown) }
        let limit = loop.scheduleTask(in: .seconds(10)) { [self] in stopped.succeed(()) }
        try? await stopped.futureResult.get()
        limit.cancel()
        runtime.watchdogHooks.withLock { $0 = nil }
        watchTask?.cancel()
        try? await loop.submit { [self] in
            ticks?.cancel()
            vipGuard?.stop()
        }.get()
        client.shutdown()
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let (s, a) = d.components
        return s * 1_000_000_000 + a / 1_000_000_000
    }

    static func seconds(_ d: Duration) -> Int64 { max(1, Int64((Double(nanoseconds(d)) / 1e9).rounded(.up))) }

    // MARK: - Events and actions

    func handle(_ event: EtcdLeadership.Event) {
        let actions = machine.event(event, now: watchdogNow())
        for action in actions { execute(action) }
        if machine.role != lastRole {
            let state: String
            switch machine.role {
            case .idle: state = "no lease"
            case .candidate: state = "candidate"
            case .following(let h): state = "following \(h.name)"
            case .leading(let term, let verified): state = verified ? "leader of term \(term)" : "leader of term \(term), re-checking after a pause"
            case .stopped: state = "stopped"
            }
            logger.notice("watchdog on etcd: \(state)", metadata: ["member": "\(name)", "term": "\(machine.term ?? 0)",
                                                               "leader": "\(machine.leader?.name ?? "none")"])
            runtime.publish(["event": "watchdog", "state": state, "term": Int(machine.term ?? 0),
                             "leader": machine.leader?.name ?? ""])
            lastRole = machine.role
        }
        if event == .tick { clusterTick() }
        publishReport()
    }

    func publishReport() {
        var report = WatchdogReport(etcd: machine, local: record, members: members ?? [],
                                    delegateIP: configuration.virtualIP?.address ?? "", now: watchdogNow())
        report.cluster = clusterReport()
        report.coordination = .init(backend: "etcd", prefix: configuration.prefix, endpoints: client.endpointStates.map { e in
            let error = e.lastFailure.map { "\($0)" } ?? ""
            return .init(url: "\(e.endpoint)", healthy: e.lastAnswer != nil && e.consecutiveFailures == 0,
                         failures: e.consecutiveFailures, lastError: String(error.prefix(120)))
        })
        runtime.watchdogReport.withLock { $0 = report }
    }

    /// Runs `body` off the loop and hands its event back to the loop.
    func call(_ body: @escaping @Sendable () async -> EtcdLeadership.Event?) {
        Task {
            guard let event = await body() else { return }
            loop.execute { self.handle(event) }
        }
    }

    private func execute(_ action: EtcdLeadership.Action) {
        let client = self.client, c = configuration, name = self.name, logger = self.logger
        let quick = EtcdClient.Timeouts(request: c.timings.requestTimeout, deadline: max(c.timings.requestTimeout, c.timings.renewInterval))
        switch action {
        case .grantLease(let ttl):
            let sent = watchdogNow()
            call {
                do {
                    let r = try await client.grantLease(ttl: Self.seconds(ttl), timeouts: quick)
                    return .leaseGranted(id: r.id, ttl: .seconds(r.ttl), sentAt: sent)
                } catch {
                    logger.warning("etcd: cannot grant a lease", metadata: ["error": "\(error)"])
                    return .leaseGrantFailed
                }
            }
        case .putMember(let lease):
            let value = (try? JSONEncoder().encode(record)).map { String(decoding: $0, as: UTF8.self) } ?? name
            call {
                do { _ = try await client.put(key: c.memberKey(name), value: value, lease: lease, timeouts: quick) } catch {
                    logger.warning("etcd: cannot register this member", metadata: ["error": "\(error)"])
                }
                return nil
            }
        case .campaign(let lease):
            call {
                do {
                    let r = try await client.txn(compare: [.createRevision(c.leaderKey, .equal, 0)],
                                                 success: [.put(c.leaderKey, name, lease: lease)],
                                                 failure: [.range(c.leaderKey)], timeouts: quick)
                    if r.succeeded { return .campaigned(.won(createRevision: r.header.revision), lease: lease) }
                    guard let kv = r.responses.first?.range?.kvs.first else { return .campaignFailed(leaseGone: false, lease: lease) }
                    return .campaigned(.lost(Self.holder(kv)), lease: lease)
                } catch let e as EtcdError {
                    logger.warning("etcd: campaign failed", metadata: ["error": "\(e)"])
                    return .campaignFailed(leaseGone: e.isLeaseNotFound, lease: lease)
                } catch {
                    return .campaignFailed(leaseGone: false, lease: lease)
                }
            }
        case .keepAlive(let lease):
            let sent = watchdogNow()
            call { [self] in
                defer { Task { await self.refreshMembers() } }
                do {
                    let r = try await client.keepAlive(lease: lease, timeouts: quick)
                    return .renewed(lease: lease, ttl: .seconds(r.ttl), sentAt: sent)
                } catch let e as EtcdError {
                    logger.warning("etcd: lease renewal failed", metadata: ["error": "\(e)"])
                    return .renewFailed(leaseGone: e.isLeaseNotFound, lease: lease)
                } catch {
                    return .renewFailed(leaseGone: false, lease: lease)
                }
            }
        case .readLeader:
            call {
                do {
                    let r = try await client.range(key: c.leaderKey, timeouts: quick)
                    return .leaderRead(r.kvs.first.map(Self.holder))
                } catch {
                    return .leaderReadFailed
                }
            }
        case .deleteStaleLeader(let revision):
            logger.warning("etcd: the leader key is a dead incarnation of this member's; deleting it",
                           metadata: ["create_revision": "\(revision)"])
            call {
                _ = try? await client.txn(compare: [.createRevision(c.leaderKey, .equal, revision)],
                                          success: [.deleteRange(c.leaderKey)], timeouts: quick)
                return nil
            }
        case .holdVIP(let until):
            vipGuard?.hold(until: until)
        case .escalate(let term):
            logger.notice("watchdog on etcd: escalating (this member holds the leader key)", metadata: ["term": "\(term)"])
            cluster.leadingStarted(term: term)
            let vip = c.virtualIP
            commands.run([c.escalationCommand, vip?.expandedUp ?? "", vip?.expandedArping ?? ""],
                         while: { [self] in machine.mayAct(inTerm: term, now: watchdogNow()) },
                         skipped: "watchdog on etcd: no longer the leader; skipping an escalation command")
        case .deEscalate(let term):
            logger.notice("watchdog on etcd: de-escalating", metadata: ["term": "\(term)"])
            commands.run([c.deEscalationCommand, c.virtualIP?.expandedDown ?? ""], then: { [self] in
                if machine.actingTerm(now: watchdogNow()) == nil { vipGuard?.release() }
            })
        case .revoke(let lease):
            // After the commands queued so far (the de-escalation that comes with it): revoking deletes the
            // leader key, and another member raises the VIP as soon as it sees that, so this member's VIP must
            // be down first.
            let revoked = commands.done.flatMap { [self] () -> EventLoopFuture<Void> in
                let promise = loop.makePromise(of: Void.self)
                promise.completeWithTask {
                    _ = try? await client.revoke(lease: lease, timeouts: quick)
                }
                return promise.futureResult
            }
            lastRevoke = lastRevoke.and(revoked).map { _ in }
        case .stop:
            commands.done.and(lastRevoke).whenComplete { [self] _ in stopped.succeed(()) }
        }
    }

    static func holder(_ kv: KeyValue) -> EtcdLeadership.Holder {
        .init(name: kv.valueString, lease: kv.lease, createRevision: kv.createRevision)
    }

    // MARK: - Watch and members

    /// Follows the leader key: a read (delivered as a change, so a missed event is made up for), then a watch
    /// from the revision after it; read and watch again whenever the watch ends.
    private func watchLeader() async {
        let c = configuration
        while !Task.isCancelled {
            do {
                let r = try await client.range(key: c.leaderKey)
                let first = r.kvs.first.map(Self.holder)
                loop.execute { self.leaderSeen(first, at: r.header.revision) }
                for try await event in client.watch(key: c.leaderKey, startRevision: r.header.revision + 1, prevKV: false) {
                    let holder = event.type == .delete ? nil : Self.holder(event.kv)
                    loop.execute { self.leaderSeen(holder, at: event.kv.modRevision) }
                }
                if Task.isCancelled { return }
            } catch {
                if Task.isCancelled { return }
                logger.debug("etcd: leader watch ended; reading again", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: c.timings.retryInterval)
        }
    }

    /// The leader key as of etcd revision `revision` (a watch event's, or a read's): older news than what the
    /// machine already has is dropped, so a read that overtook a watch event cannot undo it.
    private func leaderSeen(_ holder: EtcdLeadership.Holder?, at revision: Int64) {
        guard revision > leaderRevision else { return }
        leaderRevision = revision
        handle(.leaderChanged(holder))
    }

    /// Reads the member keys for the report (and the failover quorum), and the leader key: a watch whose
    /// connection hangs (a partition without a reset) must not leave this member following a gone leader.
    func refreshMembers() async {
        if let r = try? await client.range(key: configuration.leaderKey) {
            let holder = r.kvs.first.map(Self.holder)
            loop.execute { self.leaderSeen(holder, at: r.header.revision) }
        }
        guard let r = try? await client.range(key: configuration.membersPrefix, prefix: true) else { return }
        let list = r.kvs.compactMap { try? JSONDecoder().decode(EtcdMemberRecord.self, from: Data($0.value)) }
        loop.execute { [self] in
            self.members = list
            self.publishReport()
        }
    }
}
