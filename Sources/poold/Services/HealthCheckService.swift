import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Shared

/// One health-check loop per backend (reference §4.1): log in as health_check_user (startup and
/// authentication, no query) within health_check_timeout, retry health_check_max_retries times
/// health_check_retry_delay apart, and ask the cluster service to fail the node over when every attempt
/// failed. Detached nodes are skipped. The decisions are `HealthCheckMachine`'s.
struct HealthCheckService: Service {
    let runtime: Runtime
    let eventLoop: EventLoop
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for node in runtime.config.backends {
                group.addTask { await check(node.id) }
            }
        }
    }

    private func check(_ id: Int) async {
        var machine = HealthCheckMachine(settings: HealthCheckSettings(runtime.config, node: id))
        var delay = Double(max(1, machine.settings.period))
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let wait = Int64(delay * 1000)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(wait)) }
            } catch {
                return
            }
            let config = runtime.config
            machine.update(HealthCheckSettings(config, node: id))
            guard machine.settings.period > 0, let node = config.backends.first(where: { $0.id == id }) else {
                delay = 1
                continue
            }
            let now = Date().timeIntervalSince1970
            let action: HealthCheckMachine.Action
            let status = runtime.cluster.status(of: id)
            if status == .down || status == .unused {
                action = machine.skipped(at: now)
            } else {
                let s = machine.settings
                let secret = runtime.auth.passwd.secret(user: s.user, configured: s.password)
                let start = Date()
                let timeout: TimeAmount = s.timeout > 0 ? .seconds(Int64(s.timeout)) : .hours(1)
                let ok = (try? await BackendProbe.query("", node: node, user: s.user, database: s.database, secret: secret,
                                                        eventLoop: eventLoop, timeout: timeout, tls: runtime.tls).get()) != nil
                let ms = Date().timeIntervalSince(start) * 1000
                if !ok {
                    logger.info("health check failed", metadata: ["node_id": "\(id)", "attempt": "\(machine.failures + 1)",
                                                                   "event": "node.suspect"])
                }
                action = machine.probeFinished(success: ok, at: Date().timeIntervalSince1970, durationMS: ms)
            }
            runtime.recordHealth(id, machine.stats)
            switch action {
            case .probe(let after):
                delay = after
            case .reportDown(let after):
                logger.warning("health check failed on every attempt", metadata: ["node_id": "\(id)", "event": "node.down"])
                runtime.submit(.nodeDown(id, reason: "health check failed"))
                delay = after
            case .reportUp(let after):
                logger.info("health check succeeds again", metadata: ["node_id": "\(id)"])
                runtime.watchdogHooks.withLock { $0 }?.nodeAnswered(id)
                delay = after
            }
        }
    }
}
