/// One member's share of the cluster-wide backend state, as a pure value beside the election machine: events in
/// (with the time and a snapshot of the election, `Membership`), actions out. No sockets, no clocks.
/// share/doc/watchdog.md, "Cluster-wide backend state".
///
/// - **The leader owns node status.** Only a leader that may act (`mayActAsLeader`: LEADER with a valid lease)
///   decides failovers and publishes the cluster view; each change its cluster service makes is published with
///   version + 1, again to a member that says hello, and every `republishInterval`.
/// - **Members follow it.** A view is applied only when it comes from the leader this member follows, in the
///   current term, and is newer (term, then version) than the one applied last; the executor writes it into the
///   member's cluster state and `pgpool_status`.
/// - **Failover by consensus.** A member whose own check fails a node quarantines it locally (its sessions avoid
///   it; no `failover_command` runs here) and proposes the failover to the leader; the leader counts proposals,
///   its own included, in `FailoverConsensus` and executes a decided failover exactly once, in its term. The
///   quarantine ends when the node answers again or the leader's view says it is down. Without a leader that
///   may act nothing fails over (Pgpool-II drops a request made while the cluster is in transition, too).
/// - **Operators' requests run on the leader.** Attach, detach, promote, switchover and recover made on a
///   follower are forwarded and the leader's reply routed back; on the leader they run locally.
/// - **Backend settings are compared** at join (digests), and a member with different ones is named.
public struct WatchdogClusterSync: Sendable {
    /// What the sync needs from `WatchdogConfiguration`.
    public struct Configuration: Equatable, Sendable {
        public var members: [WatchdogStateMachine.Member]
        public var localID: Int
        public var consensus: FailoverConsensus.Rules
        /// The leader sends its view to every member again this often: a frame lost while a connection reopened
        /// is made up for (a member ignores a view it has).
        public var republishInterval: Duration
        /// A request forwarded to the leader that it has not answered by then fails (online recovery is slow).
        public var adminTimeout: Duration

        public init(members: [WatchdogStateMachine.Member], localID: Int, consensus: FailoverConsensus.Rules,
                    republishInterval: Duration = .seconds(1), adminTimeout: Duration = .seconds(300)) {
            self.members = members
            self.localID = localID
            self.consensus = consensus
            self.republishInterval = republishInterval
            self.adminTimeout = adminTimeout
        }

        public init(_ w: WatchdogConfiguration) {
            self.init(members: w.members.map { .init(id: $0.id, name: $0.name) }, localID: w.localID,
                      consensus: FailoverConsensus.Rules(w), republishInterval: w.timings.keepalive)
        }

        func name(of id: Int) -> String { members.first { $0.id == id }?.name ?? "member \(id)" }
    }

    /// The election as it stands at this event: taken from `WatchdogStateMachine` after it handled the same
    /// event (`init(_:now:)`), so a newer term it adopted or a lease it lost counts at once.
    public struct Membership: Equatable, Sendable {
        public var term: UInt64
        /// The leader this member follows (itself when leader), if any.
        public var leaderID: Int?
        /// `mayActAsLeader(now:)`: LEADER with a valid lease. Nothing is decided or published without it.
        public var mayActAsLeader: Bool
        /// The leader's quorum (`quorumStatus(now:).holds`), for `failover_when_quorum_exists`.
        public var quorumHolds: Bool
        /// The sender fields of this member's messages.
        public var state: WatchdogState
        public var priority: Int
        public var uptime: Duration
        public var leaderName: String

        public init(term: UInt64, leaderID: Int?, mayActAsLeader: Bool, quorumHolds: Bool, state: WatchdogState,
                    priority: Int = 1, uptime: Duration = .zero, leaderName: String = "") {
            self.term = term
            self.leaderID = leaderID
            self.mayActAsLeader = mayActAsLeader
            self.quorumHolds = quorumHolds
            self.state = state
            self.priority = priority
            self.uptime = uptime
            self.leaderName = leaderName
        }

        public init(_ machine: WatchdogStateMachine, now: Duration) {
            let header = machine.message(.info, now: now)
            self.init(term: machine.term, leaderID: machine.leaderID, mayActAsLeader: machine.mayActAsLeader(now: now),
                      quorumHolds: machine.quorumStatus(now: now).holds, state: header.state, priority: header.priority,
                      uptime: header.uptime, leaderName: header.leader)
        }
    }

    /// Where an operator's request came from, so its outcome goes back there.
    public enum AdminOrigin: Equatable, Hashable, Sendable {
        /// This member's admin socket; `id` is the executor's.
        case local(id: UInt64)
        /// Forwarded by member `member`; `id` is that member's.
        case member(Int, id: UInt64)
    }

    public enum Event: Equatable, Sendable {
        /// Once, after the election machine started: this member's settings digest goes to every member.
        case start
        /// A message from member `from`, after the election machine handled it (every kind: hello is answered
        /// with the digest, and by the leader with its view).
        case received(WatchdogMessage, from: Int)
        /// Time passes: with the election machine's ticks.
        case tick
        /// This member's own checks call for a failover: the health check fails a node (`nodeDown`), or
        /// `auto_failback` finds a down node healthy (`nodeUp`).
        case detected(FailoverConsensus.Request)
        /// This member's health check reaches the node again.
        case nodeAnswered(Int)
        /// This member's cluster state changed (the cluster service failed over, attached, promoted or found
        /// the primary, or it applied a view); the view's version is ignored.
        case clusterChanged(WatchdogClusterView)
        /// An operator's request on this member; `id` is chosen by the executor, unique in this process.
        case adminRequested(WatchdogAdminRequest, id: UInt64)
        /// The executor finished an `.executeAdmin`.
        case adminFinished(AdminOrigin, ok: Bool, message: String)
        /// The backend settings were reloaded: the new digest goes to every member.
        case settingsChanged(WatchdogSettingsDigest)
        /// An operator asked for a cluster-wide command here: it goes to every other member (this one runs it itself).
        case clusterCommandRequested(WatchdogClusterCommand)
    }

    public enum Action: Equatable, Sendable {
        /// Send to these members over the control channel (as the election machine's `.send`).
        case send(WatchdogMessage, to: [Int])
        /// Leader: run this failover now (nodeDown: fail the nodes over, `failover_command`; nodeUp: attach;
        /// promote), once. Check `WatchdogStateMachine.mayAct(inTerm:now:)` again right before the command runs;
        /// a node this member quarantined is failed over all the same.
        case executeFailover(FailoverConsensus.Request, term: UInt64)
        /// Leader: run an operator's request through the cluster service, then report `.adminFinished(origin…)`.
        /// The same term check applies.
        case executeAdmin(WatchdogAdminRequest, origin: AdminOrigin, term: UInt64)
        /// The outcome of this member's operator request `id` (from the leader, or why nothing was done).
        case replyAdmin(id: UInt64, ok: Bool, message: String)
        /// Make this member's cluster state this view: each node's status (nodes quarantined here say
        /// `quarantine`) and the primary; rewrite `pgpool_status`.
        case apply(WatchdogClusterView)
        /// Leader: give up leadership (`WatchdogStateMachine.Event.resign`). Its own check failed the primary and
        /// no consensus came within the timeout: the others still reach the primary, so this member is likely
        /// the one cut off from it and a member that reaches it should hold the VIP (Pgpool-II resigns too).
        case resign(reason: String)
        /// Something to log (named events, share/doc/watchdog.md).
        case notice(Notice)
        /// Member `from` asked every member to run this command: run it here.
        case executeClusterCommand(WatchdogClusterCommand, from: Int)
    }

    /// Log events.
    public enum Notice: Equatable, Sendable {
        /// This member's check fails the node and the cluster has not failed it over: its sessions avoid it here.
        case quarantined(node: Int)
        /// Quarantine over: the node answered again, or (`failedOver`) the leader's view says it is down.
        case quarantineLifted(node: Int, failedOver: Bool)
        /// Leader: a proposal from member `from` (this one included) and the decision on it.
        case consensus(FailoverConsensus.Request, FailoverConsensus.Decision, from: Int)
        /// Proposer: the leader's answer to this member's proposal.
        case answered(FailoverConsensus.Request, FailoverConsensus.Decision)
        /// No leader that may act: nothing fails over; the node stays quarantined here.
        case noLeader(FailoverConsensus.Request)
        /// Member `member` has other backend settings than this one (warning).
        case settingsDiffer(member: Int, name: String, ours: WatchdogSettingsDigest, theirs: WatchdogSettingsDigest)
    }

    /// A request sent to the leader and not answered yet.
    struct Forwarded: Equatable, Sendable {
        var leader: Int
        var term: UInt64
        var since: Duration
    }

    public let configuration: Configuration
    /// The cluster-wide view: the leader's latest (a member), or the one this member published (the leader).
    public internal(set) var view: WatchdogClusterView
    /// The term `view` was published in (0: this member's own state at start, never published).
    public internal(set) var viewTerm: UInt64 = 0
    /// Nodes this member's own checks fail and the cluster has not failed over.
    public internal(set) var quarantine = Quarantine()
    public internal(set) var digest: WatchdogSettingsDigest
    /// This member's latest cluster state as reported, quarantine taken out: what it publishes when it leads.
    var local: WatchdogClusterView
    var consensus: FailoverConsensus
    /// The term this member leads (and publishes) in, while it may act.
    var leadingTerm: UInt64?
    var nextPublish: Duration = .zero
    /// Leader: failovers decided and handed to the executor, not yet seen in the view (none runs twice).
    var executing: [FailoverConsensus.Request: Duration] = [:]
    var forwarded: [UInt64: Forwarded] = [:]
    /// The last differing digest reported per member (each difference is reported once).
    var differing: [Int: WatchdogSettingsDigest] = [:]
    var membership = Membership(term: 0, leaderID: nil, mayActAsLeader: false, quorumHolds: false, state: .dead)
    var out: [Action] = []

    /// `cluster`: this member's cluster state at start (after `pgpool_status`); `digest`: its backend settings.
    public init(configuration: Configuration, cluster: WatchdogClusterView, digest: WatchdogSettingsDigest) {
        self.configuration = configuration
        var start = cluster
        start.version = 0
        for (id, s) in start.nodes where s == .quarantine { start.nodes[id] = .up }
        view = start
        local = start
        self.digest = digest
        consensus = FailoverConsensus(rules: configuration.consensus)
    }

    /// True while this member leads and may act: it decides failovers and publishes the view.
    public var isLeading: Bool { leadingTerm != nil }

    /// The view as this member uses it: the cluster-wide statuses with its own quarantined nodes as `quarantine`.
    public var effectiveView: WatchdogClusterView {
        var v = view
        for id in quarantine.nodes.keys where v.status(of: id).isUsable { v.nodes[id] = .quarantine }
        return v
    }

    var localID: Int { configuration.localID }
    var others: [Int] { configuration.members.map(\.id).filter { $0 != localID }.sorted() }

    // MARK: - Events

    public mutating func event(_ event: Event, membership: Membership, now: Duration) -> [Action] {
        defer { out = [] }
        self.membership = membership
        followElection(now: now)
        switch event {
        case .start:
            sendDigest(to: others)
        case .settingsChanged(let d):
            digest = d
            differing = [:]
            sendDigest(to: others)
        case .clusterCommandRequested(let command):
            send(.clusterCommand(command), to: others)
        case .received(let m, let from):
            guard from != localID, configuration.members.contains(where: { $0.id == from }) else { break }
            received(m, from: from, now: now)
        case .tick:
            tick(now: now)
        case .detected(let request):
            detected(request, now: now)
        case .nodeAnswered(let node):
            if quarantine.nodeAnswered(node) {
                out.append(.notice(.quarantineLifted(node: node, failedOver: false)))
                out.append(.apply(effectiveView))
            }
        case .clusterChanged(let state):
            clusterChanged(state, now: now)
        case .adminRequested(let request, let id):
            adminRequested(request, id: id, now: now)
        case .adminFinished(let origin, let ok, let message):
            switch origin {
            case .local(let id): out.append(.replyAdmin(id: id, ok: ok, message: message))
            case .member(let member, let id): send(.adminReply(id: id, ok: ok, message: message), to: [member])
            }
        }
        return out
    }

    mutating func received(_ m: WatchdogMessage, from id: Int, now: Duration) {
        switch (m.kind, m.cluster) {
        case (.hello, _):
            // A member joins or re-hears the cluster: our settings, and the leader's view at once.
            sendDigest(to: [id])
            if isLeading { send(.view(view), to: [id]) }
        case (.clusterView, .view(let v)?):
            viewReceived(v, term: m.term, from: id)
        case (.failoverProposal, .proposal(let request)?):
            proposalReceived(request, term: m.term, from: id, now: now)
        case (.failoverAnswer, .answer(let request, let decision)?):
            if id == membership.leaderID { out.append(.notice(.answered(request, decision))) }
        case (.adminRequest, .adminRequest(let requestID, let request)?):
            adminRequestReceived(request, id: requestID, term: m.term, from: id)
        case (.adminReply, .adminReply(let requestID, let ok, let message)?):
            guard let f = forwarded[requestID], f.leader == id else { break }
            forwarded[requestID] = nil
            out.append(.replyAdmin(id: requestID, ok: ok, message: message))
        case (.clusterCommand, .clusterCommand(let command)?):
            out.append(.executeClusterCommand(command, from: id))
        case (.settingsDigest, .settingsDigest(let theirs)?):
            if theirs == digest {
                differing[id] = nil
            } else if differing[id] != theirs {
                differing[id] = theirs
                out.append(.notice(.settingsDiffer(member: id, name: configuration.name(of: id), ours: digest,
                                                   theirs: theirs)))
            }
        default:
            break
        }
    }

    mutating func tick(now: Duration) {
        for (request, proposers) in consensus.expireWithProposers(now: now)
        where isLeading && request.kind == .nodeDown && proposers.contains(localID)
            && view.primary.map(request.nodes.contains) == true {
            out.append(.resign(reason: "no consensus within \(configuration.consensus.timeout) to fail over the primary (node \(view.primary!)) that only this member's check fails; \(proposers.count) of \(configuration.consensus.votesNeeded) votes"))
        }
        executing = executing.filter { now - $0.value < configuration.consensus.timeout }
        if isLeading, now >= nextPublish { publish(now: now) }
        for (id, f) in forwarded.sorted(by: { $0.key < $1.key }) where now - f.since >= configuration.adminTimeout {
            forwarded[id] = nil
            out.append(.replyAdmin(id: id, ok: false, message:
                "the watchdog leader \(configuration.name(of: f.leader)) did not answer within \(configuration.adminTimeout); the request may or may not have run: check the node status"))
        }
    }

    // MARK: - Helpers

    func message(_ payload: WatchdogClusterPayload) -> WatchdogMessage {
        WatchdogMessage(payload, term: membership.term, state: membership.state, priority: membership.priority,
                        uptime: membership.uptime, leader: membership.leaderName)
    }

    mutating func send(_ payload: WatchdogClusterPayload, to ids: [Int]) {
        guard !ids.isEmpty else { return }
        out.append(.send(message(payload), to: ids))
    }

    mutating func sendDigest(to ids: [Int]) { send(.settingsDigest(digest), to: ids) }

    /// A reported state without quarantine (a member's own matter): a quarantined node keeps its status in the
    /// cluster-wide view.
    func withoutQuarantine(_ state: WatchdogClusterView) -> WatchdogClusterView {
        var s = state
        for (id, status) in s.nodes where status == .quarantine {
            let before = view.status(of: id)
            s.nodes[id] = before == .quarantine || before == .unused ? .up : before
        }
        return s
    }

    /// The request is what the view already says: nothing to fail over.
    static func satisfied(_ r: FailoverConsensus.Request, by v: WatchdogClusterView) -> Bool {
        switch r.kind {
        case .nodeDown: return r.nodes.allSatisfy { !v.status(of: $0).isUsable }
        case .nodeUp: return r.nodes.allSatisfy { v.status(of: $0).isUsable }
        case .promote: return r.nodes.first == v.primary
        }
    }

    /// Quarantined nodes the view says are down (or gone) are the cluster's matter now.
    mutating func liftFailedOver() -> Bool {
        var lifted = false
        for id in quarantine.nodes.keys.sorted() where !view.status(of: id).isUsable {
            quarantine.failedOver(id)
            out.append(.notice(.quarantineLifted(node: id, failedOver: true)))
            lifted = true
        }
        return lifted
    }
}

extension WatchdogStateMachine {
    /// True while this member may act as leader in `term`: the check to make right before running what an
    /// action of that term asked for (failover_command, a status write), in case the lease ran out or a newer
    /// term came meanwhile.
    public func mayAct(inTerm term: UInt64, now: Duration) -> Bool { self.term == term && mayActAsLeader(now: now) }
}
