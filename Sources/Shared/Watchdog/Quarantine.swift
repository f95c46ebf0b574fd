/// A member's locally quarantined backends: nodes its own health check sees down but that the cluster has not
/// failed over (no quorum, or consensus still building). Sessions on this member do not use them; no
/// failover_command runs; the quarantine ends when the node answers again or the leader fails it over.
public struct Quarantine: Equatable, Sendable {
    /// Node id → when it entered quarantine.
    public private(set) var nodes: [Int: Duration] = [:]

    public init() {}

    public func contains(_ node: Int) -> Bool { nodes[node] != nil }

    /// The leader's answer to our proposal; returns true when the node enters quarantine now.
    @discardableResult
    public mutating func apply(_ decision: FailoverConsensus.Decision, node: Int, now: Duration) -> Bool {
        guard decision.proposerQuarantines else {
            nodes[node] = nil
            return false
        }
        guard nodes[node] == nil else { return false }
        nodes[node] = now
        return true
    }

    /// This member's check fails the node and it proposes a failover: the node is avoided here from now on,
    /// whatever the leader answers (a proceed lifts it only once the leader's view says down). Returns true when
    /// the node enters quarantine now.
    @discardableResult
    public mutating func enter(_ node: Int, now: Duration) -> Bool {
        guard nodes[node] == nil else { return false }
        nodes[node] = now
        return true
    }

    /// The health check reaches the node again: returns true when that lifts a quarantine.
    @discardableResult
    public mutating func nodeAnswered(_ node: Int) -> Bool { nodes.removeValue(forKey: node) != nil }

    /// The cluster failed the node over (the leader's status says down): no longer a local matter.
    public mutating func failedOver(_ node: Int) { nodes[node] = nil }
}
