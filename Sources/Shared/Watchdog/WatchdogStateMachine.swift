/// One watchdog member's membership and election logic as a pure value: events in (with the time), actions out.
/// No sockets, no clocks, no randomness; the watchdog service turns packets and timers into events and runs the
/// actions in order (persist before send, hold the VIP guard before escalating).
///
/// Pgpool-II's states and tie-breakers (`WatchdogState`; preference by `wd_priority`, then the member that
/// started earlier, then — ours — the lower member name), made safe against its known failures
/// (ha-coordination.md §1.2: two leaders after SIGSTOP, VIP on nobody, a stale leader acting):
/// - **Terms.** Every leadership has a term that only grows and is persisted before it is used; every message
///   carries it; a message from an older term changes nothing (the sender is told the current term), a newer
///   term makes a leader step down first.
/// - **Votes.** A member votes once per term, only after a pre-vote showed a quorum would (so a member cut off
///   from a healthy leader cannot disrupt it), and never within a deadtime of answering a leader's beacon.
/// - **Lease.** A leader holds the VIP only while a quorum (itself included) answered a beacon it sent less
///   than `lease` (= deadtime / 2) ago; it steps down when the lease runs out, and the VIP guard drops the VIP at
///   that instant even if this process is stopped. Anyone who answered waits the whole deadtime before voting,
///   so the old leader's VIP is down before a new leader can be elected (share/doc/watchdog.md, "Safety").
/// - **Pauses.** A gap between two events longer than `pauseThreshold` means this process did not run
///   (SIGSTOP, a frozen VM): a leader steps down at once, and the member re-hears the cluster (JOINING) before it
///   votes or stands.
public struct WatchdogStateMachine: Sendable {
    /// A configured member: its id in this host's file and its cluster-wide name (`host:wd_port`).
    public struct Member: Equatable, Sendable {
        public var id: Int
        public var name: String
        public init(id: Int, name: String) {
            self.id = id
            self.name = name
        }
    }

    /// What the machine needs from `WatchdogConfiguration`.
    public struct Configuration: Equatable, Sendable {
        public var members: [Member]
        public var localID: Int
        public var priority: Int
        public var halfVotes: Bool
        public var timings: WatchdogTimings
        /// Members send UDP heartbeats (`wd_lifecheck_method = heartbeat`), so a member silent for a deadtime is
        /// LOST. Without them (`query`, `external`: Pgpool-II sends none) two standbys never talk, so silence
        /// counts only on the leader, which every live member answers each beacon interval; otherwise a member
        /// is LOST when the lifecheck says so (`.memberSilent`), when it said it stops, or — a standby's leader —
        /// after a deadtime without beacons.
        public var heartbeats: Bool

        public init(members: [Member], localID: Int, priority: Int, halfVotes: Bool, timings: WatchdogTimings,
                    heartbeats: Bool = true) {
            self.members = members
            self.localID = localID
            self.priority = priority
            self.halfVotes = halfVotes
            self.timings = timings
            self.heartbeats = heartbeats
        }

        public init(_ w: WatchdogConfiguration) {
            self.init(members: w.members.map { Member(id: $0.id, name: $0.name) }, localID: w.localID,
                      priority: w.priority, halfVotes: w.consensus.enableConsensusWithHalfVotes, timings: w.timings,
                      heartbeats: w.lifecheck.method == .heartbeat)
        }

        /// Members (this one included) that must agree: `WatchdogQuorum.votesNeeded`.
        public var votesNeeded: Int { WatchdogQuorum.votesNeeded(members: members.count, halfVotes: halfVotes) }
        var localName: String { members.first { $0.id == localID }!.name }
    }

    /// What must survive a restart. The executor writes it (durably) when `.persist` says so, before running the
    /// actions after it, and hands it back with `.start`.
    public struct PersistentState: Equatable, Sendable, Codable {
        public var term: UInt64
        /// The member voted for in `term` (by name), if any.
        public var votedFor: String?
        /// The leader this member last answered (or was) in `term`. After a restart the member keeps the promise
        /// it may have given: no vote and no candidacy for a deadtime, unless it hears a leader first.
        public var followedLeader: String?

        public init(term: UInt64 = 0, votedFor: String? = nil, followedLeader: String? = nil) {
            self.term = term
            self.votedFor = votedFor
            self.followedLeader = followedLeader
        }
    }

    public enum Event: Equatable, Sendable {
        /// The service starts the member with what it persisted last time.
        case start(PersistentState)
        /// An authenticated message from member `from` (the transport checked the HMAC and the sequence).
        case received(WatchdogMessage, from: Int)
        /// A heartbeat (UDP) from member `from`: it is alive.
        case heartbeat(from: Int)
        /// Time passes: the executor ticks at least every `timings.beaconInterval / 2`.
        case tick
        /// The query or external lifecheck declares the member lost (heartbeat mode needs no such event: silence
        /// past the deadtime is noticed on ticks). It stays LOST, whatever it sends, until the lifecheck finds it
        /// alive again (`.heartbeat(from:)`), as in Pgpool-II: meanwhile its beacons are not followed, its
        /// answers do not extend a lease and its candidacy is refused.
        case memberSilent(Int)
        /// This member's own network is down (no trusted server answers, every monitored interface is down).
        case networkTrouble
        case networkRestored
        /// Give up leadership and stay a member (an operator's `watchdog resign`, or the leader could not get
        /// consensus to fail its primary over): VIP down first, then the followers are told they may elect at
        /// once, and this member stands last (priority −1, as Pgpool-II) until a leader is established.
        case resign
        /// Stop (poold is shutting down).
        case shutdown
        /// The executor finished the de-escalation commands of a `.deEscalate`.
        case deEscalated
        /// The VIP guard ran `if_down_cmd` by itself: its deadline passed before a renewal reached it.
        case vipDropped
    }

    public enum Action: Equatable, Sendable {
        case send(WatchdogMessage, to: [Int])
        /// Write the persistent state durably before the actions that follow.
        case persist(PersistentState)
        /// Arm (or extend) the VIP guard: it brings the VIP down by itself at `until` (this process's monotonic
        /// clock; the lease's end + `guardGrace`) unless extended, and on its own if this process dies.
        case holdVIP(until: Duration, term: UInt64)
        /// Become the escalated leader: `wd_escalation_command`, then `if_up_cmd`, then `arping_cmd` (Pgpool-II's
        /// order), each skipped when empty, commands and VIP only while the guard's deadline holds.
        case escalate(term: UInt64)
        /// Give up the VIP: `wd_de_escalation_command`, then `if_down_cmd`; disarm the guard; then report
        /// `.deEscalated`.
        case deEscalate(term: UInt64)
        /// The member has stopped; the service may exit.
        case stop
    }

    /// How this member sees another one.
    public struct Peer: Equatable, Sendable {
        public var id: Int
        public var name: String
        /// DEAD, ADD MESSAGE SENT, LOST, SHUTDOWN, NETWORK ISOLATION, or the state it reported.
        public var state: WatchdogState
        /// The state it last reported.
        public var reported: WatchdogState
        public var term: UInt64 = 0
        public var priority: Int = 0
        /// Its start, estimated on this member's clock.
        public var startedAt: Duration?
        public var lastHeard: Duration?
        public var leader: String = ""
        /// The lifecheck declared it lost and has not found it alive since (see `Event.memberSilent`).
        public var lostByLifecheck = false
    }

    struct Election: Equatable, Sendable {
        var term: UInt64
        var preVote: Bool
        var deadline: Duration
        var answered: Set<Int> = []
        var granted: Set<Int> = []
        var refused = false
    }

    struct Leadership: Equatable, Sendable {
        var since: Duration
        var latestBeacon: Duration
        var nextBeacon: Duration
        /// Per member, the latest of this leadership's beacons it answered (its `sentAt`).
        var acks: [Int: Duration] = [:]
    }

    public let configuration: Configuration
    public internal(set) var state: WatchdogState = .dead
    public internal(set) var persistent = PersistentState()
    public internal(set) var peers: [Int: Peer]
    /// The leader of the current term, as far as this member knows (itself when leader).
    public internal(set) var leaderID: Int?
    /// This member ran its escalation and has not de-escalated since.
    public internal(set) var escalated = false
    /// When the leader's lease runs out (nil without a lease).
    public internal(set) var leaseExpiry: Duration?
    /// Followers the leader reported in its last beacon (for `quorumStatus` on a standby).
    var leaderFollowers = 0
    var startedAt: Duration = .zero
    var lastEventAt: Duration?
    /// No vote and no candidacy before this: a deadtime after the last beacon answered (or sent, by a leader),
    /// or after a restart that may have forgotten such a promise.
    var noVoteBefore: Duration = .zero
    var loadingUntil: Duration?
    /// LOADING: when hello last went to the members that have not answered.
    var helloSentAt: Duration = .zero
    /// INITIALIZING / PARTICIPATING: this member's turn to stand.
    var standAt: Duration?
    var election: Election?
    var leadership: Leadership?
    /// JOINING: who was heard since, and until when to wait at most.
    var rehearing: (heard: Set<Int>, until: Duration)?
    var awaitingDeEscalation = false
    /// Resigned: waiting for the VIP to be down before the followers are released.
    var awaitingResignation = false
    /// Resigned and no leader established since: this member advertises (and ranks itself with) priority −1.
    public internal(set) var resigned = false
    var out: [Action] = []

    public init(configuration: Configuration) {
        self.configuration = configuration
        var peers: [Int: Peer] = [:]
        for m in configuration.members where m.id != configuration.localID {
            peers[m.id] = Peer(id: m.id, name: m.name, state: .dead, reported: .dead)
        }
        self.peers = peers
    }

    public var term: UInt64 { persistent.term }
    var timings: WatchdogTimings { configuration.timings }
    var localName: String { configuration.localName }
    var others: [Int] { peers.keys.sorted() }

    /// The leader's name, if one is known.
    public var leaderName: String? {
        guard let leaderID else { return nil }
        return leaderID == configuration.localID ? localName : peers[leaderID]?.name
    }

    /// True while this member may act as leader (failover, status writes, VIP): leader with a valid lease.
    /// Every such action should carry `term`.
    public func mayActAsLeader(now: Duration) -> Bool {
        state == .leader && (leaseExpiry.map { now < $0 } ?? false)
    }

    /// Pgpool-II's `QuorumStatus` as this member sees it.
    public func quorumStatus(now: Duration) -> WatchdogQuorum.Status {
        guard leaderID != nil else { return .noLeader }
        let alive = state == .leader ? recentFollowers(now: now) : leaderFollowers
        return WatchdogQuorum.status(aliveRemote: alive, members: configuration.members.count,
                                     halfVotes: configuration.halfVotes)
    }

    // MARK: - Events

    public mutating func event(_ event: Event, now: Duration) -> [Action] {
        defer { out = [] }
        if case .start(let saved) = event {
            start(saved, now: now)
            return out
        }
        guard state != .dead else { return [] }
        if state == .shutdown {
            if event == .deEscalated, awaitingDeEscalation { finishShutdown() }
            return out
        }
        let before = state
        if let last = lastEventAt, now - last > timings.pauseThreshold { resumed(now: now) }
        lastEventAt = max(lastEventAt ?? now, now)
        if state == .leader, let expiry = leaseExpiry, now >= expiry { stepDown(now: now, rehear: true) }

        switch event {
        case .start: break
        case .received(let message, let from): received(message, from: from, now: now)
        case .heartbeat(let from): heard(from, now: now)
        case .tick: tick(now: now)
        case .memberSilent(let id): lifecheckLost(id, now: now)
        case .networkTrouble: networkTrouble(now: now)
        case .networkRestored:
            if state == .inNetworkTrouble { rehear(now: now) }
        case .resign: resign(now: now)
        case .shutdown: shutdown()
        case .deEscalated:
            if awaitingResignation { finishResignation(now: now) }
        case .vipDropped:
            vipDropped(now: now)
        }
        if state != before { announceState(now: now) }
        return out
    }

    mutating func start(_ saved: PersistentState, now: Duration) {
        guard state == .dead else { return }
        persistent = saved
        startedAt = now
        lastEventAt = now
        if saved.followedLeader != nil, !peers.isEmpty { noVoteBefore = now + timings.deadtime }
        state = .loading
        for id in others { peers[id]?.state = .addMessageSent }
        // When this member alone is a quorum (2 members with half votes), two members started together must
        // hear each other before either leads alone: wait a deadtime for the others' hello, not a reply timeout.
        let alone = configuration.votesNeeded <= 1 && !peers.isEmpty
        loadingUntil = now + (alone ? timings.deadtime : timings.replyTimeout * 2)
        if !others.isEmpty { send(.hello, to: others, now: now) }
        helloSentAt = now
        if peers.isEmpty { decide(now: now) }
    }

    mutating func tick(now: Duration) {
        // Without heartbeats only the leader hears every live member regularly (answers to its beacons), counted
        // from when it started leading.
        let since = configuration.heartbeats ? nil : leadership?.since
        for id in others where configuration.heartbeats || since != nil {
            guard var p = peers[id], let heard = p.lastHeard, now - max(heard, since ?? heard) >= timings.deadtime,
                  p.state != .lost, p.state != .shutdown else { continue }
            p.state = .lost
            peers[id] = p
        }
        switch state {
        case .loading:
            if let until = loadingUntil, now >= until { decide(now: now); break }
            // A member started at the same moment may not have been listening yet: ask again the ones that did
            // not answer, once per reply timeout.
            let silent = others.filter { peers[$0]?.state == .addMessageSent }
            if !silent.isEmpty, now - helloSentAt >= timings.replyTimeout {
                send(.hello, to: silent, now: now)
                helloSentAt = now
            }
        case .joining:
            if let r = rehearing, r.heard.count + 1 >= configuration.votesNeeded || now >= r.until { decide(now: now) }
        case .initializing, .participatingInElection:
            if let at = standAt, now >= at { stand(now: now) }
        case .standingForLeader:
            checkElection(now: now)
        case .standby:
            if now >= noVoteBefore { leaderLost(now: now) }
        case .leader:
            leaderTick(now: now)
        case .dead, .lost, .inNetworkTrouble, .shutdown, .addMessageSent, .networkIsolation:
            break
        }
    }

    /// A time jump: this process was not running. Whatever it believed is stale.
    mutating func resumed(now: Duration) {
        switch state {
        case .leader: stepDown(now: now, rehear: true)
        case .inNetworkTrouble, .shutdown, .dead: break
        case .loading, .joining, .initializing, .participatingInElection, .standingForLeader, .standby, .lost,
             .addMessageSent, .networkIsolation:
            rehear(now: now)
        }
    }

    /// JOINING: forget the leader and any candidacy, ask everyone for their state, wait to hear a quorum.
    mutating func rehear(now: Duration) {
        election = nil
        standAt = nil
        leaderID = nil
        state = .joining
        rehearing = ([], now + timings.deadtime)
        if !others.isEmpty { send(.hello, to: others, now: now) }
    }

    /// A heartbeat, or the lifecheck found the member alive.
    mutating func heard(_ id: Int, now: Duration) {
        guard var p = peers[id] else { return }
        p.lastHeard = now
        p.lostByLifecheck = false
        if p.state == .lost { p.state = p.reported }
        peers[id] = p
        rehearing?.heard.insert(id)
    }

    /// The lifecheck says the member is dead. A standby whose leader it is stops following it at once; its
    /// promise (`noVoteBefore`) still holds, so it votes and stands only a deadtime after its last answer.
    mutating func lifecheckLost(_ id: Int, now: Duration) {
        guard var p = peers[id] else { return }
        p.lostByLifecheck = true
        if p.state != .shutdown { p.state = .lost }
        peers[id] = p
        if id == leaderID, state == .standby { leaderLost(now: now) }
    }

    mutating func networkTrouble(now: Duration) {
        guard state != .inNetworkTrouble else { return }
        if state == .leader { stepDown(now: now, rehear: false) }
        election = nil
        standAt = nil
        leaderID = nil
        rehearing = nil
        state = .inNetworkTrouble
        if !others.isEmpty { send(.networkTrouble, to: others, now: now) }
    }

    /// A leader resigns: it steps down (VIP down first); a member that does not lead has nothing to give up.
    mutating func resign(now: Duration) {
        guard state == .leader else { return }
        let wasEscalated = escalated
        resigned = true
        stepDown(now: now, rehear: false)
        if wasEscalated {
            awaitingResignation = true
        } else {
            finishResignation(now: now)
        }
    }

    /// The VIP is down: the followers are released from their promise (they may elect at once), and so is this
    /// member — it may vote, and stands after every better member had its turn.
    mutating func finishResignation(now: Duration) {
        awaitingResignation = false
        guard state != .leader, state != .shutdown else { return }
        if !others.isEmpty {
            var m = message(.goingDown, now: now)
            m.flags = .resigned
            out.append(.send(m, to: others))
        }
        noVoteBefore = now
        if state == .initializing || state == .participatingInElection { waitForTurn(now: now, extra: 1) }
    }

    mutating func shutdown() {
        let wasEscalated = escalated
        leadership = nil
        leaseExpiry = nil
        election = nil
        state = .shutdown
        if wasEscalated {
            escalated = false
            awaitingDeEscalation = true
            out.append(.deEscalate(term: term))
        } else {
            finishShutdown()
        }
    }

    /// After the VIP is down: tell the others (a leader's goingDown lets them elect at once) and stop.
    mutating func finishShutdown() {
        awaitingDeEscalation = false
        if !others.isEmpty { send(.goingDown, to: others, now: lastEventAt ?? .zero) }
        out.append(.stop)
    }

    // MARK: - Helpers

    /// Every state change goes to every member (Pgpool-II's nodes tell each other too): followers otherwise
    /// never hear from each other after start-up, and would show each other's LOADING for ever.
    mutating func announceState(now: Duration) {
        switch state {
        case .dead, .shutdown, .inNetworkTrouble: return
        default: break
        }
        let all = Set(others)
        guard !all.isEmpty else { return }
        // A message to everyone that already says the new state (a hello, a vote request, a beacon) is enough.
        let told = out.contains { action in
            if case .send(let m, let to) = action { return m.state == state && all.isSubset(of: to) }
            return false
        }
        if !told { send(.info, to: others, now: now) }
    }

    /// The priority this member stands with: −1 after resigning, until a leader is established.
    public var effectivePriority: Int { resigned ? -1 : configuration.priority }

    func message(_ kind: WatchdogMessage.Kind, now: Duration) -> WatchdogMessage {
        WatchdogMessage(kind: kind, term: term, state: state, priority: effectivePriority,
                        uptime: now - startedAt, leader: leaderName ?? "")
    }

    mutating func send(_ kind: WatchdogMessage.Kind, to ids: [Int], now: Duration) {
        out.append(.send(message(kind, now: now), to: ids))
    }

    mutating func persist(term: UInt64? = nil, votedFor: String?? = nil, followedLeader: String?? = nil) {
        var p = persistent
        if let term { p.term = term }
        if let votedFor { p.votedFor = votedFor }
        if let followedLeader { p.followedLeader = followedLeader }
        guard p != persistent else { return }
        persistent = p
        out.append(.persist(p))
    }

    /// Peers heard (within the deadtime, with heartbeats) and able to take part in an election.
    func alivePeers(now: Duration) -> [Int] {
        others.filter { id in
            guard let p = peers[id], let heard = p.lastHeard else { return false }
            return (!configuration.heartbeats || now - heard < timings.deadtime) && p.state.isActive
        }
    }
}
