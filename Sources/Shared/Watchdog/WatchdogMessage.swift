/// One message between watchdog members, as the state machines see it (the transport adds the sender and
/// receiver names, a per-process session and sequence number, and the HMAC: share/doc/watchdog.md). Every
/// message carries the sender's term, state, priority and uptime, so any message refreshes the receiver's view.
/// Kinds 1–8 are the election's (`WatchdogStateMachine`); kinds 9–15 are `WatchdogClusterSync`'s (backends, and
/// commands every member runs) and carry a `cluster` payload whose kind is theirs.
/// Not compatible with Pgpool-II's watchdog packets: members of one cluster are all poold.
public struct WatchdogMessage: Equatable, Sendable {
    public enum Kind: UInt8, Equatable, Sendable, CaseIterable {
        /// "I am starting (or re-hearing): tell me your state" (Pgpool-II's ADD NODE / REQUEST INFO).
        case hello = 1
        /// The answer to hello, and a state announcement (Pgpool-II's INFO).
        case info = 2
        /// The leader's periodic claim for its term; `sentAt` is its own monotonic clock (I AM COORDINATOR).
        case beacon = 3
        /// A follower's answer to one beacon, `sentAt` echoed: the promise the leader's lease is built on.
        case beaconAck = 4
        /// A candidate asks for a vote in `term` (with `preVote`, only whether the member would vote).
        case voteRequest = 5
        /// The answer: `granted`, refused, or (`abstain`) unable to vote now; `askedTerm` echoes the request.
        case voteReply = 6
        /// The sender is stopping; from the leader, also that it has already brought the VIP down.
        case goingDown = 7
        /// The sender's own network is in trouble and it gave up leadership (I AM IN NETWORK TROUBLE).
        case networkTrouble = 8
        /// Leader → all: the cluster-wide backend status and primary, versioned (`WatchdogClusterView`).
        case clusterView = 9
        /// Member → leader: a failover the member's own checks call for (node down, node up, promote).
        case failoverProposal = 10
        /// Leader → proposer: the consensus decision on a proposal.
        case failoverAnswer = 11
        /// Member → leader: an operator's attach, detach, promote, switchover or recover made on the member.
        case adminRequest = 12
        /// Leader → member: the outcome of a forwarded operator's request.
        case adminReply = 13
        /// Any → any: the sender's backend settings digest (at join and after a reload).
        case settingsDigest = 14
        /// Any → all: a command each member runs on itself (cluster-wide reload or shutdown, PCP's `-s c`).
        case clusterCommand = 15

        /// Kinds 9–15 carry a `WatchdogClusterPayload`; the election's kinds carry none.
        public var carriesPayload: Bool { rawValue >= Kind.clusterView.rawValue }
    }

    /// Boolean fields.
    public struct Flags: OptionSet, Equatable, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// voteRequest / voteReply: the pre-vote round.
        public static let preVote = Flags(rawValue: 1)
        /// voteReply: the vote is given.
        public static let granted = Flags(rawValue: 2)
        /// voteReply: neither given nor refused (the voter is starting, re-hearing or in network trouble).
        public static let abstain = Flags(rawValue: 4)
        /// beacon: the leader holds the VIP (has run its escalation).
        public static let escalated = Flags(rawValue: 8)
        /// goingDown: the leader resigned (an operator asked, or it could not get consensus to fail its primary
        /// over) and stays a member: its VIP is already down, its followers may elect at once.
        public static let resigned = Flags(rawValue: 16)
    }

    public var kind: Kind
    public var term: UInt64
    /// The sender's own state.
    public var state: WatchdogState
    public var priority: Int
    /// Time since the sender started: the receiver estimates the start on its own clock (`now − uptime`), so
    /// "started earlier" (Pgpool-II's tie-breaker) needs no synchronised wall clocks.
    public var uptime: Duration
    /// The leader the sender follows in `term` (its member name; itself for a leader), '' for none.
    public var leader: String
    /// beacon: the leader's send time on its own monotonic clock; beaconAck: the same value echoed.
    public var sentAt: Duration
    /// voteReply: the term the request asked for.
    public var askedTerm: UInt64
    public var flags: Flags
    /// beacon: how many members answered the leader within its lease (Pgpool-II's standby count).
    public var followers: Int
    /// beacon: how long the sender has been leader (Pgpool-II's "older leader" tie-breaker).
    public var leaderFor: Duration
    /// Kinds 9–14: the payload (its `kind` is the message's); nil for the election's kinds.
    public var cluster: WatchdogClusterPayload?

    public init(kind: Kind, term: UInt64, state: WatchdogState, priority: Int, uptime: Duration, leader: String = "",
                sentAt: Duration = .zero, askedTerm: UInt64 = 0, flags: Flags = [], followers: Int = 0,
                leaderFor: Duration = .zero) {
        self.kind = kind
        self.term = term
        self.state = state
        self.priority = priority
        self.uptime = uptime
        self.leader = leader
        self.sentAt = sentAt
        self.askedTerm = askedTerm
        self.flags = flags
        self.followers = followers
        self.leaderFor = leaderFor
    }

    /// A message about backends: its kind is the payload's.
    public init(_ payload: WatchdogClusterPayload, term: UInt64, state: WatchdogState, priority: Int, uptime: Duration,
                leader: String = "") {
        self.init(kind: payload.kind, term: term, state: state, priority: priority, uptime: uptime, leader: leader)
        cluster = payload
    }
}
