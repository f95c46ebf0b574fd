/// Pgpool-II's quorum and consensus arithmetic (reference §7.5; `watchdog.c`: `update_quorum_status()`,
/// `get_minimum_remote_nodes_required_for_quorum()`, `get_minimum_votes_to_resolve_consensus()`), counted over
/// every configured member. Pgpool-II counts only members not "revoked" by its removal timeouts; poold never
/// shrinks the count, so two quorums always share a member (except with half votes, see `votesNeeded`).
public enum WatchdogQuorum {
    /// `QuorumStatus` of `pcp_watchdog_info`.
    public enum Status: Int, Equatable, Sendable {
        /// A strict majority of the members is alive.
        case exists = 1
        /// Exactly half of an even number of members, with `enable_consensus_with_half_votes`: counts as quorum.
        case onTheEdge = 0
        case absent = -1
        case noLeader = -2

        public var holds: Bool { self == .exists || self == .onTheEdge }
        public var name: String {
            switch self {
            case .exists: return "QUORUM EXIST"
            case .onTheEdge: return "QUORUM IS ON THE EDGE"
            case .absent: return "QUORUM ABSENT"
            case .noLeader: return "NO LEADER NODE"
            }
        }
    }

    /// Remote members that must be alive besides the local one: R = M/2 for an even number M of remote members
    /// (odd cluster), (M−1)/2 for an odd M (even cluster).
    public static func requiredRemoteMembers(members n: Int) -> Int {
        let remote = max(n - 1, 0)
        return remote % 2 == 0 ? remote / 2 : (remote - 1) / 2
    }

    /// Pgpool-II's quorum status, seen by a leader with `aliveRemote` members answering it.
    public static func status(aliveRemote: Int, members n: Int, halfVotes: Bool) -> Status {
        let required = requiredRemoteMembers(members: n)
        if aliveRemote > required { return .exists }
        if aliveRemote < required { return .absent }
        // exactly R: an odd cluster has its majority; an even one has exactly half
        if (n - 1) % 2 == 0 { return .exists }
        return halfVotes ? .onTheEdge : .absent
    }

    /// Members (the local one included) that must agree: for an election, for a leader's lease and for a
    /// failover. R + 1, plus one more in an even cluster unless half votes are enabled; that is a strict
    /// majority, or exactly half of an even cluster with `enable_consensus_with_half_votes` (2 members: 1) —
    /// then two halves do not overlap, so two partitioned halves may each elect a leader: the operator's choice of
    /// availability over split-brain safety (use `trusted_servers` so an isolated half gives up).
    public static func votesNeeded(members n: Int, halfVotes: Bool) -> Int {
        var needed = requiredRemoteMembers(members: n) + 1
        if (n - 1) % 2 != 0, !halfVotes { needed += 1 }
        return needed
    }
}
