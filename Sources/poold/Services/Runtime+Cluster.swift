import Foundation
import Shared

/// What an operator (admin socket, SHOW, scripts) or a check asks of the cluster service.
enum ClusterRequest: Sendable {
    /// A health check says the node is gone.
    case nodeDown(Int, reason: String)
    /// A session saw its backend connection fail (failover_on_backend_error): probe the node, fail it over
    /// only if the probe fails too.
    case backendError(Int)
    case attach(Int, reply: @Sendable (AdminResult) -> Void)
    /// `waitForClients`: like pcp_detach_node -g, wait until no session uses the node.
    case detach(Int, waitForClients: Bool, reply: @Sendable (AdminResult) -> Void)
    /// Make the node the primary: detach the current primary and have the others follow (switchover).
    /// `waitForClients`: like pcp_promote_node -g, first wait until no session here uses the current primary.
    case promote(Int, switchover: Bool, waitForClients: Bool = false, reply: @Sendable (AdminResult) -> Void)
    case recover(Int, reply: @Sendable (AdminResult) -> Void)
    /// The watchdog leader decided this failover (consensus reached): run it here.
    case watchdogFailover(FailoverConsensus.Request)
    /// The watchdog leader runs an operator's request (its own, or forwarded by a member).
    case watchdogAdmin(WatchdogAdminRequest, reply: @Sendable (AdminResult) -> Void)
    /// A watchdog member takes the leader's view of the backends. `quarantineOnly` (on the leader, whose own
    /// cluster service is the authority): only put nodes into or out of quarantine, never undo a status or
    /// primary change made since the view was taken.
    case watchdogApply(WatchdogClusterView, quarantineOnly: Bool)
}

/// How the cluster service reaches the watchdog (set by the watchdog's runner; nil without `use_watchdog`): with
/// a watchdog, failures this member detects are proposed to the leader and operators' requests run there.
struct WatchdogHooks: Sendable {
    var detected: @Sendable (FailoverConsensus.Request) -> Void
    var nodeAnswered: @Sendable (Int) -> Void
    var clusterChanged: @Sendable (ClusterState) -> Void
    var admin: @Sendable (WatchdogAdminRequest, @escaping @Sendable (AdminResult) -> Void) -> Void
    /// An operator asks this member to give up leadership.
    var resign: @Sendable (@escaping @Sendable (AdminResult) -> Void) -> Void
    /// An operator asks every member to reload or stop (PCP's `-s c`): sent to the others; this member runs it itself.
    var clusterCommand: @Sendable (WatchdogClusterCommand) -> Void = { _ in }
}

/// The outcome of an admin request.
struct AdminResult: Sendable {
    var ok: Bool
    var message: String
    static func success(_ m: String) -> AdminResult { AdminResult(ok: true, message: m) }
    static func failure(_ m: String) -> AdminResult { AdminResult(ok: false, message: m) }
}

extension Runtime {
    /// The watchdog runs and this member does not lead: cluster-wide decisions are the leader's.
    var isWatchdogFollower: Bool {
        guard let report = watchdogReport.withLock({ $0 }) else { return false }
        return report.nodes.first(where: \.isLocal)?.state != .leader
    }

    var cluster: ClusterState { clusterState.withLock { $0 } }

    /// Changes the cluster view, rewrites pgpool_status and tells subscribers; returns the new state.
    @discardableResult
    func updateCluster(_ change: (inout ClusterState) -> Void) -> ClusterState {
        let (before, after) = clusterState.withLock { s -> (ClusterState, ClusterState) in
            let old = s
            change(&s)
            return (old, s)
        }
        guard before != after else { return after }
        watchdogHooks.withLock { $0 }?.clusterChanged(after)
        let dir = config.string("logdir")
        try? after.statusFileText.write(toFile: (dir.isEmpty ? "/tmp" : dir) + "/pgpool_status", atomically: true, encoding: .utf8)
        for n in after.nodes where before.node(n.id)?.status != n.status {
            logger.warning("node status changed", metadata: ["node_id": "\(n.id)", "status": "\(n.status.rawValue)",
                                                              "event": "node.\(n.status.rawValue)"])
            publish(["event": "node_status", "node_id": n.id, "status": n.status.rawValue])
        }
        if before.primary != after.primary {
            logger.warning("primary node changed", metadata: ["old": "\(before.primary.map(String.init) ?? "none")",
                                                               "new": "\(after.primary.map(String.init) ?? "none")",
                                                               "event": "cluster.primary"])
            publish(["event": "primary", "node_id": after.primary ?? -1])
        }
        return after
    }

    /// Sends one JSON event line to every admin-socket subscriber.
    func publish(_ event: [String: Any]) {
        var e = event
        e["time"] = Date().timeIntervalSince1970
        guard let data = try? JSONSerialization.data(withJSONObject: e, options: [.sortedKeys]),
              let line = String(data: data, encoding: .utf8) else { return }
        for c in subscribers.withLock({ Array($0.values) }) { c.yield(line) }
    }

    func subscribe() -> (Int, AsyncStream<String>) {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let id = makeID()
        subscribers.withLock { $0[id] = continuation }
        return (id, stream)
    }

    func unsubscribe(_ id: Int) { subscribers.withLock { $0.removeValue(forKey: id)?.finish() } }

    func submit(_ r: ClusterRequest) { requestSink.yield(r) }

    func recordHealth(_ node: Int, _ stats: HealthCheckStats) { healthState.withLock { $0[node] = stats } }
    var healthStats: [Int: HealthCheckStats] { healthState.withLock { $0 } }

    /// Sessions drop their connections to a detached node.
    func nodeDetached(_ id: Int) { detachHandler.withLock { $0 }?(id) }
}
