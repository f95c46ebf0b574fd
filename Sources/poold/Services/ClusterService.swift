import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Shared

/// The single writer of the cluster view: finds the primary at start, and executes failover, attach,
/// detach, promote/switchover and online recovery one request at a time (reference §4.3, §5, §8).
/// follow_primary_command runs in a task of its own, because the script attaches nodes through the
/// admin socket, which is this same queue.
struct ClusterService: Service {
    let runtime: Runtime
    let eventLoop: EventLoop
    let logger: Logger
    /// When a backend-error probe last found each node alive.
    private let recentlyAlive = RecentlyAlive()
    private static let aliveFor: Double = 5

    /// Shared by the requests the service handles one at a time.
    final class RecentlyAlive: Sendable {
        let seen = Mutex<[Int: Double]>([:])
    }

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            // The first search runs beside the queue: a node that hangs must not delay a failover request.
            group.addTask { await searchPrimary(timeout: 0) }
            group.addTask {
                for await request in runtime.requests.cancelOnGracefulShutdown() {
                    await handle(request)
                }
            }
            group.addTask {
                try? await gracefulShutdown()
                runtime.requestSink.finish()
            }
        }
    }

    private var now: Double { Date().timeIntervalSince1970 }

    /// What operator scripts get from poold: where its admin socket and poolconsole are.
    private var scriptEnvironment: [String: String] {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        return ["POOLD_ADMIN_SOCKET": AdminServer.path(config), "POOLCONSOLE": exe + "/poolconsole"]
    }
    private var config: PoolConfiguration { runtime.config }
    private func backend(_ id: Int?) -> BackendConfig? { id.flatMap { i in config.backends.first { $0.id == i } } }

    private func handle(_ request: ClusterRequest) async {
        switch request {
        case .nodeDown(let id, let reason):
            // With a watchdog the leader decides: this member proposes (and quarantines the node meanwhile).
            if let hooks = runtime.watchdogHooks.withLock({ $0 }) {
                logger.warning("proposing a failover to the watchdog leader", metadata: ["node_id": "\(id)", "reason": "\(reason)"])
                hooks.detected(FailoverConsensus.Request(.nodeDown, nodes: [id]))
                return
            }
            _ = await failover(id, reason: reason, promoteCandidate: nil)
        case .watchdogFailover(let request):
            for id in request.nodes {
                switch request.kind {
                case .nodeDown: _ = await failover(id, reason: "watchdog consensus", promoteCandidate: nil)
                case .nodeUp: _ = await attach(id)
                case .promote: _ = await promote(id, switchover: false)
                }
            }
        case .watchdogAdmin(let request, let reply):
            switch request {
            case .attach(let id): reply(await attach(id))
            case .detach(let id, let wait):
                if wait { await waitUntilUnused(id) }
                reply(await failover(id, reason: "detached by an operator", promoteCandidate: nil, force: true))
            case .promote(let id): reply(await promote(id, switchover: false))
            case .switchover(let id): reply(await promote(id, switchover: true))
            case .recover(let id): reply(await recover(id))
            }
        case .watchdogApply(let view, let quarantineOnly):
            runtime.updateCluster { state in
                for id in view.nodeIDs where state.node(id) != nil {
                    let want = view.status(of: id), have = state.status(of: id)
                    if quarantineOnly {
                        guard (want == .quarantine && have.isUsable) || (have == .quarantine && want.isUsable) else { continue }
                    }
                    state.set(id, want, now: now)
                }
                if !quarantineOnly { state.setPrimary(view.primary, now: now) }
            }
        case .backendError(let id):
            guard config.bool("failover_on_backend_error"), runtime.cluster.status(of: id).isUsable,
                  let node = backend(id) else { return }
            // A crash restart of one node ends every session's backend on it at once: one probe that found the
            // node alive answers for all those reports for a few seconds, instead of one probe each.
            if let seen = recentlyAlive.seen.withLock({ $0[id] }), now - seen < Self.aliveFor { return }
            // Pgpool-II fails over at once; poold first checks that the node itself is gone, so one killed
            // backend process (pg_terminate_backend, OOM killer) does not cost a failover. A node that answers
            // at all (even refusing the login, as during crash recovery) is alive; one that does not is
            // probed again as a health check would be (health_check_max_retries, at least twice, retry_delay
            // apart), so a node slow under load is not failed over on one late answer.
            let s = HealthCheckSettings(config, node: id)
            let secret = runtime.auth.passwd.secret(user: s.user, configured: s.password)
            var alive = false
            for attempt in 0...max(1, s.maxRetries) where !alive {
                if attempt > 0 { try? await Task.sleep(for: .seconds(max(1, s.retryDelay))) }
                do {
                    _ = try await BackendProbe.query("", node: node, user: s.user, database: s.database, secret: secret,
                                                     eventLoop: eventLoop, timeout: .seconds(Int64(max(1, min(5, s.timeout)))), tls: runtime.tls).get()
                    alive = true
                } catch let f as BackendProbe.Failure {
                    alive = f.description != "timeout"
                } catch {
                    alive = false
                }
            }
            if alive {
                recentlyAlive.seen.withLock { $0[id] = now }
            } else if let hooks = runtime.watchdogHooks.withLock({ $0 }) {
                hooks.detected(FailoverConsensus.Request(.nodeDown, nodes: [id]))
            } else {
                _ = await failover(id, reason: "backend connection error and the node does not answer", promoteCandidate: nil)
            }
        case .attach(let id, let reply):
            if let hooks = runtime.watchdogHooks.withLock({ $0 }) { return hooks.admin(.attach(id), reply) }
            reply(await attach(id))
        case .detach(let id, let wait, let reply):
            if let hooks = runtime.watchdogHooks.withLock({ $0 }) { return hooks.admin(.detach(id, waitForClients: wait), reply) }
            if wait { await waitUntilUnused(id) }
            reply(await failover(id, reason: "detached by an operator", promoteCandidate: nil, force: true))
        case .promote(let id, let switchover, let wait, let reply):
            if wait, let primary = runtime.cluster.primary { await waitUntilUnused(primary) }
            if let hooks = runtime.watchdogHooks.withLock({ $0 }) { return hooks.admin(switchover ? .switchover(id) : .promote(id), reply) }
            reply(await promote(id, switchover: switchover))
        case .recover(let id, let reply):
            if let hooks = runtime.watchdogHooks.withLock({ $0 }) { return hooks.admin(.recover(id), reply) }
            reply(await recover(id))
        }
    }

    // MARK: - Primary search

    /// `pg_is_in_recovery()` on every usable node as sr_check_user; repeats every second up to `timeout`
    /// seconds (0: one round). Keeps the current primary when nobody answers.
    @discardableResult
    func searchPrimary(timeout: Int) async -> Int? {
        let deadline = Date().addingTimeInterval(Double(timeout))
        repeat {
            let usable = runtime.cluster.usableNodes
            var answers: [Int: Bool] = [:]
            // All nodes at once: the round takes as long as the slowest answer, not the sum.
            let futures = usable.compactMap { id in backend(id).map { (id, probe($0, "SELECT pg_catalog.pg_is_in_recovery()")) } }
            for (id, future) in futures {
                if let rows = try? await future.get(), let v = rows.first?.first ?? nil { answers[id] = v == "t" }
            }
            if let chosen = PrimarySearch.choose(backends: config.backends, usable: usable, answers: answers) {
                runtime.updateCluster { $0.setPrimary(chosen, now: now) }
                runtime.primaryAbsence.withLock { $0 = nil }
                // With the watchdog, only the leader detaches (as Pgpool-II): the others follow its view.
                if config.bool("detach_false_primary"), !runtime.isWatchdogFollower {
                    for id in PrimarySearch.falsePrimaries(chosen: chosen, usable: usable, answers: answers) {
                        logger.warning("detaching false primary", metadata: ["node_id": "\(id)"])
                        runtime.updateCluster { $0.set(id, .down, now: now) }
                        runtime.nodeDetached(id)
                    }
                }
                return chosen
            }
            if PrimarySearch.noPrimaryAmongUpNodes(usable: usable, answers: answers) {
                await reportNoPrimary(usable: usable)
                return nil
            }
            if answers.isEmpty, timeout == 0 { return runtime.cluster.primary }
            try? await Task.sleep(for: .seconds(1))
        } while Date() < deadline
        return runtime.cluster.primary
    }

    /// No node that is up is a primary: sessions get a clear error instead of writing to a standby, and the
    /// log says which down node answers as a primary and how to fix it.
    private func reportNoPrimary(usable: [Int]) async {
        let down = config.backends.map(\.id).filter { !usable.contains($0) }
        var downPrimaries: [Int] = []
        for id in down {
            if let node = backend(id), let rows = try? await probe(node, "SELECT pg_catalog.pg_is_in_recovery()").get(),
               rows.first?.first ?? nil == "f" {
                downPrimaries.append(id)
            }
        }
        let (message, detail) = PrimarySearch.noPrimaryMessage(downPrimaries: downPrimaries)
        runtime.updateCluster { $0.setPrimary(nil, now: now) }
        runtime.primaryAbsence.withLock { $0 = ProxyError(.cannotConnectNow, message, detail: detail) }
        logger.error("\(message)", metadata: ["event": "primary.none", "standbys": "\(usable)", "down_primaries": "\(downPrimaries)",
                                                "hint": "\(detail)"])
    }

    private func probe(_ node: BackendConfig, _ sql: String) -> EventLoopFuture<[[String?]]> {
        let user = config.string("sr_check_user")
        let password = config.string("sr_check_password")
        let secret = runtime.auth.passwd.secret(user: user, configured: password)
        // connect_timeout bounds a probe, but never beyond 5 s: a hanging node must not stall a failover.
        let ms = min(5000, max(1000, config.int("connect_timeout")))
        return BackendProbe.query(sql, node: node, user: user, database: config.string("sr_check_database"), secret: secret,
                                  eventLoop: eventLoop, timeout: .milliseconds(Int64(ms)), tls: runtime.tls)
    }

    // MARK: - Failover

    /// Detaches `id` and repairs the topology (reference §5.3). `promoteCandidate`: the node the failover
    /// command should promote (switchover); otherwise, when the primary failed, the usable standby with the
    /// most WAL replayed — Pgpool-II passes the lowest id, which may lose commits acknowledged by another
    /// standby.
    func failover(_ id: Int, reason: String, promoteCandidate: Int?, force: Bool = false) async -> AdminResult {
        guard let node = backend(id) else { return .failure("node \(id) does not exist") }
        let before = runtime.cluster
        guard before.status(of: id) != .down else { return .failure("node \(id) is already down") }
        if node.flags.contains(.disallowToFailover), !force {
            logger.warning("node failed but DISALLOW_TO_FAILOVER is set; not detaching", metadata: ["node_id": "\(id)", "reason": "\(reason)"])
            return .failure("node \(id) has DISALLOW_TO_FAILOVER")
        }
        let oldPrimary = before.primary
        let oldMain = before.usableNodes.min() ?? -1
        logger.warning("failover started", metadata: ["node_id": "\(id)", "reason": "\(reason)", "event": "failover.start"])
        runtime.updateCluster { $0.set(id, .down, now: now) }
        runtime.nodeDetached(id)

        let primaryFailed = oldPrimary == id || oldPrimary == nil
        var candidate = promoteCandidate
        if primaryFailed, candidate == nil { candidate = await mostAdvancedStandby() }
        let newMain = candidate ?? runtime.cluster.usableNodes.min()
        let command = config.string("failover_command")
        if !command.isEmpty {
            let p = FailoverPlaceholders(node: .init(node), newMain: backend(newMain).map { .init($0) }, oldMainID: oldMain,
                                         oldPrimary: backend(oldPrimary).map { .init($0) })
            let r = await CommandRunner.run(p.expand(command), environment: scriptEnvironment, logger: logger)
            if r.status != 0 { logger.error("failover_command failed", metadata: ["status": "\(r.status)"]) }
        }
        guard primaryFailed else {
            logger.warning("failover done", metadata: ["node_id": "\(id)", "event": "failover.done"])
            return .success("node \(id) detached")
        }
        // The primary is gone: find the new one (the failover command should have promoted `newMain`).
        runtime.updateCluster { $0.setPrimary(nil, now: now) }
        let newPrimary = await searchPrimary(timeout: max(1, config.int("search_primary_node_timeout")))
        guard let newPrimary, newPrimary != oldPrimary else {
            logger.error("no new primary found", metadata: ["event": "failover.no_primary"])
            return .failure("node \(id) detached; no new primary was found")
        }
        followPrimary(newPrimary: newPrimary, oldPrimary: oldPrimary, oldMain: oldMain)
        logger.warning("failover done", metadata: ["node_id": "\(id)", "new_primary": "\(newPrimary)", "event": "failover.done"])
        return .success("node \(id) detached; node \(newPrimary) is the new primary")
    }

    /// The usable standby with the highest replay LSN (ties: lowest id), or nil when none answers.
    private func mostAdvancedStandby() async -> Int? {
        var best: (Int, UInt64)? = nil
        let futures = runtime.cluster.usableNodes.sorted().compactMap { id in
            backend(id).map { (id, probe($0, "SELECT pg_catalog.pg_last_wal_replay_lsn()::text")) }
        }
        for (id, future) in futures {
            guard let rows = try? await future.get(), let text = rows.first?.first ?? nil,
                  let lsn = ShowResult.lsnDistance(primary: text, standby: "0/0") else { continue }
            if best == nil || lsn > best!.1 { best = (id, lsn) }
        }
        return best?.0
    }

    /// follow_primary_command for every other node (reference §5.3 step 6): they are marked down first and
    /// the script (pg_rewind or pg_basebackup, then attach) brings each back. Runs outside the queue.
    private func followPrimary(newPrimary: Int, oldPrimary: Int?, oldMain: Int) {
        let command = config.string("follow_primary_command")
        guard !command.isEmpty else { return }
        let others = runtime.cluster.nodes.filter { $0.id != newPrimary && $0.status != .unused }.map(\.id)
        for id in others where runtime.cluster.status(of: id) != .down {
            runtime.updateCluster { $0.set(id, .down, now: now) }
            runtime.nodeDetached(id)
        }
        let backends = config.backends
        let logger = self.logger
        Task {
            for id in others {
                guard let node = backends.first(where: { $0.id == id }), let primary = backends.first(where: { $0.id == newPrimary }) else { continue }
                let p = FailoverPlaceholders(node: .init(node), newMain: .init(primary), oldMainID: oldMain,
                                             oldPrimary: backends.first(where: { $0.id == oldPrimary }).map { .init($0) })
                let r = await CommandRunner.run(p.expand(command), environment: scriptEnvironment, logger: logger)
                if r.status != 0 { logger.error("follow_primary_command failed", metadata: ["node_id": "\(id)", "status": "\(r.status)"]) }
            }
        }
    }

    // MARK: - Attach, promote, recover

    func attach(_ id: Int) async -> AdminResult {
        guard let node = backend(id) else { return .failure("node \(id) does not exist") }
        guard runtime.cluster.status(of: id) == .down || runtime.cluster.status(of: id) == .quarantine else {
            return .failure("node \(id) is not down")
        }
        let before = runtime.cluster
        runtime.updateCluster { $0.set(id, .up, now: now) }
        if runtime.cluster.primary == nil { await searchPrimary(timeout: 0) }
        let command = config.string("failback_command")
        if !command.isEmpty {
            let p = FailoverPlaceholders(node: .init(node), newMain: backend(before.usableNodes.min()).map { .init($0) },
                                         oldMainID: before.usableNodes.min() ?? -1, oldPrimary: backend(before.primary).map { .init($0) })
            _ = await CommandRunner.run(p.expand(command), environment: scriptEnvironment, logger: logger)
        }
        return .success("node \(id) attached")
    }

    func promote(_ id: Int, switchover: Bool) async -> AdminResult {
        guard backend(id) != nil else { return .failure("node \(id) does not exist") }
        let state = runtime.cluster
        guard state.status(of: id).isUsable else { return .failure("node \(id) is not up") }
        guard let primary = state.primary, primary != id else { return .failure("node \(id) is already the primary") }
        guard switchover else {
            // pcp_promote_node without -s: poold only changes which node it treats as primary.
            runtime.updateCluster { $0.setPrimary(id, now: now) }
            runtime.primaryAbsence.withLock { $0 = nil }
            return .success("node \(id) is now the primary in poold's view")
        }
        return await failover(primary, reason: "switchover to node \(id)", promoteCandidate: id, force: true)
    }

    /// Online recovery (reference §8.2), run by poold itself: recovery_1st_stage_command with the seven
    /// arguments, then `pgpool_remote_start`, wait for the node to accept connections, attach it.
    func recover(_ id: Int) async -> AdminResult {
        guard let node = backend(id) else { return .failure("node \(id) does not exist") }
        let state = runtime.cluster
        guard state.status(of: id) == .down else { return .failure("node \(id) is not down; detach it first") }
        guard let primary = backend(state.primary) else { return .failure("no primary to recover from") }
        let stage1 = config.string("recovery_1st_stage_command")
        guard !stage1.isEmpty else { return .failure("recovery_1st_stage_command is not set") }
        func script(_ name: String) -> String { name.hasPrefix("/") ? name : primary.dataDirectory + "/" + name }
        let host = node.hostname.isEmpty || node.hostname.hasPrefix("/") ? "localhost" : node.hostname
        let primaryHost = primary.hostname.isEmpty || primary.hostname.hasPrefix("/") ? "localhost" : primary.hostname
        let args = [primary.dataDirectory, host, node.dataDirectory, String(primary.port), String(id), String(node.port), primaryHost]
        runtime.publish(["event": "recovery", "node_id": id, "stage": "1st_stage"])
        let r1 = await CommandRunner.run(([script(stage1)] + args).map(shellQuote).joined(separator: " "),
                                         environment: scriptEnvironment, logger: logger)
        guard r1.status == 0 else { return .failure("recovery_1st_stage_command failed with status \(r1.status)") }
        // pgpool_remote_start sits next to the first-stage script (in the primary's PGDATA, as Pgpool-II has it,
        // unless the script was given as an absolute path).
        let remoteStart = URL(fileURLWithPath: script(stage1)).deletingLastPathComponent().path + "/pgpool_remote_start"
        runtime.publish(["event": "recovery", "node_id": id, "stage": "remote_start"])
        let r2 = await CommandRunner.run([remoteStart, host, node.dataDirectory].map(shellQuote).joined(separator: " "),
                                         environment: scriptEnvironment, logger: logger)
        guard r2.status == 0 else { return .failure("\(remoteStart) failed with status \(r2.status)") }
        runtime.publish(["event": "recovery", "node_id": id, "stage": "waiting"])
        let deadline = Date().addingTimeInterval(Double(max(1, config.int("recovery_timeout"))))
        var started = false
        while Date() < deadline, !started {
            let user = config.string("recovery_user")
            let password = config.string("recovery_password")
            let secret = runtime.auth.passwd.secret(user: user, configured: password)
            started = (try? await BackendProbe.query("", node: node, user: user, database: "postgres", secret: secret,
                                                     eventLoop: eventLoop, timeout: .seconds(3), tls: runtime.tls).get()) != nil
            if !started { try? await Task.sleep(for: .seconds(1)) }
        }
        guard started else {
            return .failure("postmaster on hostname:\"\(node.hostname)\" port:\(node.port) failed to start in \(config.int("recovery_timeout")) second")
        }
        let a = await attach(id)
        runtime.publish(["event": "recovery", "node_id": id, "stage": "done"])
        return a.ok ? .success("node \(id) recovered and attached") : a
    }

    private func waitUntilUnused(_ id: Int) async {
        let deadline = Date().addingTimeInterval(Double(max(1, config.int("recovery_timeout"))))
        while Date() < deadline, runtime.sessionActivities.contains(where: { $0.row({ _ in "" }).backends.contains { $0.node == id } }) {
            try? await Task.sleep(for: .milliseconds(200))
        }
    }
}

/// Single-quotes a word for /bin/sh.
func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
