import Foundation
import Logging
import NIOCore
import Shared

/// The executor of `WatchdogLifecheck`, owned by `WatchdogMemberRunner` and confined to its event loop: it runs
/// the checks the core asks for and hands the verdicts to the election machine (`feed`), logging every change.
/// - query checks log in to each other member's `hostname:pgpool_port` as `wd_lifecheck_user` (password
///   `wd_lifecheck_password`, else its pool_passwd entry) to `wd_lifecheck_dbname` and run `wd_lifecheck_query`
///   through `BackendProbe` — the health check's client — with `wd_interval` to answer; the login settings and
///   `trusted_server_command` are read at each check, as they are reloadable;
/// - `trusted_server_command` (`%h` = the server) runs through `CommandRunner`, its stdout discarded;
/// - the monitored links are read from /sys/class/net/<if>/operstate (and carrier where the driver reports
///   `unknown`); in a network namespace (`ip netns exec`) sysfs is the namespace's, so are the links;
/// - external reports arrive from the admin socket (`Runtime.watchdogLifecheck`) and are answered with what
///   they changed.
final class WatchdogLifecheckRunner: @unchecked Sendable {
    let runtime: Runtime
    let configuration: WatchdogConfiguration
    let loop: EventLoop
    let logger: Logger
    private var core: WatchdogLifecheck
    private var feed: (WatchdogStateMachine.Event) -> Void = { _ in }
    private var ticks: RepeatedTask?
    private var running = false
    private var links: [String: Bool] = [:]
    /// Whether each trusted server answered last time (its changes are logged, not every failure).
    private var answered: [String: Bool] = [:]

    /// The core's tick, and how often the links are read.
    static let period = TimeAmount.milliseconds(250)

    init(runtime: Runtime, configuration: WatchdogConfiguration, loop: EventLoop, logger: Logger) {
        self.runtime = runtime
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        core = WatchdogLifecheck(configuration: .init(configuration))
    }

    private var lifecheck: WatchdogConfiguration.Lifecheck { configuration.lifecheck }
    private func name(_ id: Int) -> String { configuration.members.first { $0.id == id }?.name ?? "member \(id)" }

    /// Starts checking (on `loop`); `feed` takes the events for the election machine.
    func start(feed: @escaping (WatchdogStateMachine.Event) -> Void) {
        loop.preconditionInEventLoop()
        self.feed = feed
        running = true
        let interfaces = lifecheck.monitoringInterfaces
        for i in interfaces where !Self.isAny(i) && Self.read("/sys/class/net/\(i)/operstate") == nil {
            logger.warning("wd_monitoring_interfaces_list names an interface this host does not have; it counts as down",
                           metadata: ["interface": "\(i)"])
        }
        if lifecheck.method != .heartbeat || !lifecheck.trustedServers.isEmpty || !interfaces.isEmpty {
            logger.notice("watchdog lifecheck", metadata: [
                "method": "\(lifecheck.method.rawValue)", "trusted_servers": "\(lifecheck.trustedServers.joined(separator: ","))",
                "interfaces": "\(interfaces.joined(separator: ","))",
                "interval": "\(core.configuration.interval)", "life_point": "\(core.configuration.lifePoint)"])
        }
        execute(core.event(.start, now: watchdogNow()))
        if lifecheck.method == .query || !lifecheck.trustedServers.isEmpty || !interfaces.isEmpty {
            ticks = loop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.period) { [self] _ in tick() }
        }
        if lifecheck.method == .external {
            let loopBound = NIOLoopBound(self, eventLoop: loop)
            runtime.watchdogLifecheck.withLock {
                $0 = { member, alive, reply in
                    loopBound.eventLoop.execute { reply(loopBound.value.reported(member, alive: alive)) }
                }
            }
        }
    }

    /// Stops checking (on `loop`); results of checks still running are dropped.
    func stop() {
        running = false
        ticks?.cancel()
        ticks = nil
        runtime.watchdogLifecheck.withLock { $0 = nil }
    }

    private func tick() {
        guard running else { return }
        let now = watchdogNow()
        if !lifecheck.monitoringInterfaces.isEmpty {
            let current = Self.links(lifecheck.monitoringInterfaces)
            if current != links {
                for (i, up) in current.sorted(by: { $0.key < $1.key }) where links[i] != up {
                    logger.info(up ? "monitored interface is up" : "monitored interface is down", metadata: ["interface": "\(i)"])
                }
                links = current
                execute(core.event(.links(current), now: now))
            }
        }
        execute(core.event(.tick, now: now))
    }

    /// An external agent's report: refused unless `wd_lifecheck_method = external`.
    func reported(_ id: Int, alive: Bool) -> AdminResult {
        guard running else { return .failure("the watchdog is stopping") }
        guard lifecheck.method == .external else {
            return .failure("wd_lifecheck_method is \(lifecheck.method.rawValue), not external: this member checks the others itself")
        }
        guard configuration.members.contains(where: { $0.id == id }) else {
            return .failure("no watchdog member \(id) (members: \(configuration.members.map { String($0.id) }.joined(separator: ", ")))")
        }
        guard id != configuration.localID else {
            return .failure("member \(id) is this member; report it to the other members")
        }
        let actions = core.event(.reported(member: id, alive: alive), now: watchdogNow())
        execute(actions, external: true)
        let word = alive ? "alive" : "dead"
        return .success(actions.isEmpty ? "member \(id) (\(name(id))) was already \(word)" : "member \(id) (\(name(id))) is now \(word)")
    }

    // MARK: - Actions

    private func execute(_ actions: [WatchdogLifecheck.Action], external: Bool = false) {
        for action in actions {
            switch action {
            case .query(let id):
                query(id)
            case .checkTrustedServer(let server):
                checkTrustedServer(server)
            case .memberSilent(let id, let failures):
                logger.warning(external ? "watchdog member reported dead; it is LOST until reported alive"
                               : "watchdog member lost by the lifecheck: its pgpool_port does not answer wd_lifecheck_query",
                               metadata: external ? ["member": "\(name(id))"] : ["member": "\(name(id))", "failures": "\(failures)"])
                runtime.publish(["event": "watchdog_lifecheck", "member": id, "name": name(id), "alive": false])
                feed(.memberSilent(id))
            case .memberAlive(let id, let wasSilent):
                if wasSilent {
                    logger.notice(external ? "watchdog member reported alive" : "watchdog member answers the lifecheck again",
                                  metadata: ["member": "\(name(id))"])
                    runtime.publish(["event": "watchdog_lifecheck", "member": id, "name": name(id), "alive": true])
                }
                feed(.heartbeat(from: id))
            case .networkTrouble(let reason):
                let why: String
                switch reason {
                case .interfacesDown(let names): why = "every monitored interface is down (\(names.joined(separator: ", ")))"
                case .trustedServersUnreachable(let servers): why = "no trusted server answers (\(servers.joined(separator: ", ")))"
                }
                logger.warning("watchdog: network trouble; giving up leadership and the VIP until it is restored",
                               metadata: ["reason": "\(why)"])
                runtime.publish(["event": "watchdog_network", "trouble": true, "reason": why])
                feed(.networkTrouble)
            case .networkRestored:
                logger.notice("watchdog: network restored; rejoining the cluster")
                runtime.publish(["event": "watchdog_network", "trouble": false])
                feed(.networkRestored)
            }
        }
    }

    private func query(_ id: Int) {
        guard let member = configuration.members.first(where: { $0.id == id }) else { return }
        // The login settings are reloadable (SIGHUP), so they are read at each check.
        let config = runtime.config
        let user = config.string("wd_lifecheck_user"), password = config.string("wd_lifecheck_password")
        let secret = runtime.auth.passwd.secret(user: user, configured: password)
        let (s, a) = core.configuration.interval.components
        let timeout = TimeAmount.nanoseconds(s * 1_000_000_000 + a / 1_000_000_000)
        BackendProbe.query(lifecheck.query, host: member.hostname, port: member.pgpoolPort, user: user,
                           database: config.string("wd_lifecheck_dbname"), secret: secret, eventLoop: loop, timeout: timeout, tls: runtime.tls)
            .whenComplete { [self] result in
                guard running else { return }
                if case .failure(let error) = result {
                    // Once the member is LOST, its failures are not news.
                    let level: Logger.Level = core.silentMembers.contains(id) ? .debug : .info
                    logger.log(level: level, "watchdog lifecheck query failed",
                               metadata: ["member": "\(member.name)", "port": "\(member.pgpoolPort)", "error": "\(error)"])
                }
                let ok: Bool
                if case .success = result { ok = true } else { ok = false }
                execute(core.event(.queryFinished(member: id, ok: ok), now: watchdogNow()))
            }
    }

    private func checkTrustedServer(_ server: String) {
        let command = runtime.config.string("trusted_server_command").replacing("%h", with: server)  // reloadable
        let logger = self.logger
        let promise = loop.makePromise(of: Int32.self)
        promise.completeWithTask { await CommandRunner.run(command, logger: logger, level: .debug, discardOutput: true).status }
        promise.futureResult.whenSuccess { [self] status in
            guard running else { return }
            if answered.updateValue(status == 0, forKey: server) != (status == 0) {
                logger.info(status == 0 ? "trusted server answers" : "trusted server does not answer",
                            metadata: ["server": "\(server)", "status": "\(status)"])
            }
            execute(core.event(.trustedServerFinished(server, ok: status == 0), now: watchdogNow()))
        }
    }

    // MARK: - Links

    static func isAny(_ name: String) -> Bool { name.lowercased() == "any" }

    /// The state of the listed interfaces (`any`: every interface but loopback), up or not, by name.
    static func links(_ listed: [String]) -> [String: Bool] {
        let names = listed.contains(where: isAny)
            ? ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).filter { !isLoopback($0) }
            : listed
        return Dictionary(names.map { ($0, linkUp($0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Up: the kernel's operstate says so (RFC 2863 "up"), or "unknown" — drivers that do not report it, such as
    /// dummy or tun — with carrier. A missing interface is down.
    static func linkUp(_ name: String) -> Bool {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else { return false }
        let base = "/sys/class/net/\(name)/"
        switch read(base + "operstate") {
        case "up": return true
        case "unknown": return read(base + "carrier") == "1"
        default: return false
        }
    }

    /// ARPHRD_LOOPBACK (772).
    static func isLoopback(_ name: String) -> Bool { name == "lo" || read("/sys/class/net/\(name)/type") == "772" }

    static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
