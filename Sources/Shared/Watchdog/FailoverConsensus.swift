/// The leader's ledger of backend failover proposals from members: Pgpool-II's `compute_failover_consensus()` and
/// `add_failover()` (`watchdog.c`, 4.6: node down, node up and promote all need consensus), pure, time passed in.
///
/// A member whose health check fails a backend proposes it to the leader (the leader's own health check is a
/// proposal too). With `failover_when_quorum_exists` off everything proceeds; a confirmed request (an operator's
/// detach, attach or promote) proceeds; without quorum nothing does; with `failover_require_consensus` the leader
/// counts distinct proposing members — or every proposal with `allow_multiple_failover_requests_from_node` — until
/// `WatchdogQuorum.votesNeeded`; the proposers keep the node in local quarantine meanwhile (`Quarantine`). A
/// proposal nobody completes within `timeout` (Pgpool-II's `FAILOVER_COMMAND_FINISH_TIMEOUT`, 15 s) is dropped.
public struct FailoverConsensus: Equatable, Sendable {
    public enum Kind: String, Hashable, Sendable { case nodeDown, nodeUp, promote }

    /// One failover: its kind and the backend nodes it is about.
    public struct Request: Hashable, Sendable {
        public var kind: Kind
        public var nodes: [Int]
        public init(_ kind: Kind, nodes: [Int]) {
            self.kind = kind
            self.nodes = nodes.sorted()
        }
    }

    public struct Rules: Equatable, Sendable {
        public var members: Int
        public var halfVotes: Bool
        public var failoverWhenQuorumExists: Bool
        public var requireConsensus: Bool
        public var allowMultipleRequestsFromMember: Bool
        public var timeout: Duration

        public init(members: Int, halfVotes: Bool, failoverWhenQuorumExists: Bool = true, requireConsensus: Bool = true,
                    allowMultipleRequestsFromMember: Bool = false, timeout: Duration = .seconds(15)) {
            self.members = members
            self.halfVotes = halfVotes
            self.failoverWhenQuorumExists = failoverWhenQuorumExists
            self.requireConsensus = requireConsensus
            self.allowMultipleRequestsFromMember = allowMultipleRequestsFromMember
            self.timeout = timeout
        }

        public init(_ w: WatchdogConfiguration) {
            self.init(members: w.members.count, halfVotes: w.consensus.enableConsensusWithHalfVotes,
                      failoverWhenQuorumExists: w.consensus.failoverWhenQuorumExists,
                      requireConsensus: w.consensus.failoverRequireConsensus,
                      allowMultipleRequestsFromMember: w.consensus.allowMultipleFailoverRequestsFromNode)
        }

        public var votesNeeded: Int { WatchdogQuorum.votesNeeded(members: members, halfVotes: halfVotes) }
    }

    /// The leader's answer to one proposal (Pgpool-II's `WDFailoverCMDResults`).
    public enum Decision: Equatable, Sendable {
        /// Run the failover now (FAILOVER_RES_PROCEED).
        case proceed
        /// No quorum: nothing fails over; the proposer quarantines the node (FAILOVER_RES_NO_QUORUM).
        case noQuorum
        /// Noted, `votes` of `needed`; the proposer quarantines the node meanwhile (FAILOVER_RES_BUILDING_CONSENSUS).
        case buildingConsensus(votes: Int, needed: Int)
        /// A repeated proposal from the same member, not counted (FAILOVER_RES_CONSENSUS_MAY_FAIL).
        case repeatedProposal(votes: Int, needed: Int)

        /// What the proposing member does with its node.
        public var proposerQuarantines: Bool { self != .proceed }
    }

    struct Pending: Equatable, Sendable {
        var votes: Int
        var members: Set<Int>
        var since: Duration
    }

    public let rules: Rules
    var pending: [Request: Pending] = [:]

    public init(rules: Rules) { self.rules = rules }

    /// Votes so far for `request`.
    public func votes(for request: Request) -> Int { pending[request]?.votes ?? 0 }

    /// A proposal from member `member`. `confirmed`: an operator's request (PCP, admin socket), which bypasses
    /// quorum and consensus as Pgpool-II's REQ_DETAIL_CONFIRMED does. `quorumHolds`: the leader's current quorum.
    public mutating func propose(_ request: Request, from member: Int, confirmed: Bool = false, quorumHolds: Bool,
                                 now: Duration) -> Decision {
        expire(now: now)
        guard rules.failoverWhenQuorumExists, !confirmed else { return .proceed }
        guard quorumHolds else { return .noQuorum }
        guard rules.requireConsensus else { return .proceed }
        var p = pending[request] ?? Pending(votes: 0, members: [], since: now)
        let repeated = p.members.contains(member)
        if !repeated || rules.allowMultipleRequestsFromMember {
            p.votes += 1
            p.members.insert(member)
        }
        let needed = rules.votesNeeded
        if p.votes >= needed {
            pending[request] = nil
            return .proceed
        }
        pending[request] = p
        return repeated && !rules.allowMultipleRequestsFromMember
            ? .repeatedProposal(votes: p.votes, needed: needed) : .buildingConsensus(votes: p.votes, needed: needed)
    }

    /// Drops proposals older than the timeout; returns them.
    @discardableResult
    public mutating func expire(now: Duration) -> [Request] { expireWithProposers(now: now).map(\.request) }

    /// Drops proposals older than the timeout; returns them with the members that had proposed each.
    public mutating func expireWithProposers(now: Duration) -> [(request: Request, proposers: Set<Int>)] {
        let old = pending.filter { now - $0.value.since >= rules.timeout }
        for r in old.keys { pending[r] = nil }
        return old.map { ($0.key, $0.value.members) }.sorted { "\($0.request)" < "\($1.request)" }
    }

    /// Leadership changed: a new leader starts with no proposals (members propose again on their next check).
    public mutating func reset() { pending = [:] }
}
