/// A watchdog member's state, with Pgpool-II's names and numbers (`WD_STATES`; the number is `State` and the name
/// `StateName` in `pcp_watchdog_info`'s JSON, reference §7.3). A member's own state is one of LOADING … SHUTDOWN;
/// DEAD, LOST, ADD MESSAGE SENT and NETWORK ISOLATION describe how it sees another member.
public enum WatchdogState: Int, Equatable, Hashable, Sendable, CaseIterable {
    /// Another member not heard yet (no hello sent, no answer).
    case dead = 0
    /// Just started: hello sent to every member, waiting (one reply timeout at most) for their answers.
    /// Next: INITIALIZING (decide), or STANDBY at once on a leader's beacon.
    case loading = 1
    /// Re-hearing the cluster after a pause (a time jump), after network trouble or after stepping down:
    /// votes for nobody and stands for nothing until a quorum was heard again or a deadtime passed.
    /// Next: STANDBY on a beacon, else INITIALIZING.
    case joining = 2
    /// No leader is known: waiting for this member's turn to stand (staggered by election rank so the preferred
    /// member goes first) and for any promise given to a former leader to run out. Next: STANDING FOR LEADER,
    /// PARTICIPATING IN ELECTION, STANDBY on a beacon.
    case initializing = 3
    /// Leader of the current term. Holds the VIP only while its lease is valid: a quorum (itself included)
    /// answered a beacon sent less than `lease` ago. Next: JOINING when the lease runs out, INITIALIZING/STANDBY
    /// on a higher term, IN NETWORK TROUBLE, SHUTDOWN.
    case leader = 4
    /// Another member is standing; this one answers votes and waits (as INITIALIZING, with a later turn).
    case participatingInElection = 5
    /// Candidate: first a pre-vote (would a quorum vote for me in term+1?), then the real vote in term+1.
    /// Next: LEADER with a quorum of votes, STANDBY on a beacon, INITIALIZING when the round fails.
    case standingForLeader = 6
    /// Follows the leader of the current term and answers its beacons; each answer is a promise to vote for
    /// nobody else for a deadtime. Next: INITIALIZING when the leader has been silent that long.
    case standby = 7
    /// Another member silent for the deadtime (or declared lost by the lifecheck).
    case lost = 8
    /// This member's own network is down (trusted servers unreachable, monitored interfaces down): it gives up
    /// leadership and answers no beacon and no vote. Next: JOINING when the network is back.
    case inNetworkTrouble = 9
    /// Stopping (or another member that said it was stopping). Final.
    case shutdown = 10
    /// Another member we sent hello to and that has not answered.
    case addMessageSent = 11
    /// Another member that reported network trouble.
    case networkIsolation = 12

    /// Pgpool-II's `StateName`.
    public var name: String {
        switch self {
        case .dead: return "DEAD"
        case .loading: return "LOADING"
        case .joining: return "JOINING"
        case .initializing: return "INITIALIZING"
        case .leader: return "LEADER"
        case .participatingInElection: return "PARTICIPATING IN ELECTION"
        case .standingForLeader: return "STANDING FOR LEADER"
        case .standby: return "STANDBY"
        case .lost: return "LOST"
        case .inNetworkTrouble: return "IN NETWORK TROUBLE"
        case .shutdown: return "SHUTDOWN"
        case .addMessageSent: return "ADD MESSAGE SENT"
        case .networkIsolation: return "NETWORK ISOLATION"
        }
    }

    /// A member in this state (as reported) can take part in an election.
    public var isActive: Bool {
        switch self {
        case .loading, .joining, .initializing, .leader, .participatingInElection, .standingForLeader, .standby:
            return true
        case .dead, .lost, .inNetworkTrouble, .shutdown, .addMessageSent, .networkIsolation:
            return false
        }
    }
}
