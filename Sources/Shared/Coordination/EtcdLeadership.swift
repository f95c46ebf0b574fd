/// Leadership of a poold cluster taken from etcd, as a pure value: the executor feeds it etcd's answers and
/// ticks with the time (the boot-time monotonic clock, as the watchdog's), and runs the actions it returns.
/// Pure so that every rule below is a transcript test, without sockets or clocks.
///
/// A member holds a lease and binds its member key to it. It becomes leader by Patroni's transaction: create
/// `<prefix>/leader` (value: its name, bound to its lease) only if it does not exist, else read the holder. The
/// leader key's create revision is the **term**: it goes with every leader action, and cluster-state writes
/// compare it, so a deposed leader's write fails.
///
/// Safety does not rest on what etcd says later: an etcd lease lives at least TTL after etcd received the
/// last keepalive, so at least TTL after this member *sent* it. The leader therefore acts (VIP, failover)
/// only until `last renewal sent + TTL − margin` on its own clock, and steps down there by itself; a new leader
/// can only take the key once the lease has expired in etcd, which is later. The VIP guard holds the same
/// deadline outside the process. After a pause (a gap between events longer than `pauseThreshold`) the leader
/// reads the leader key before it acts again.
public struct EtcdLeadership: Equatable, Sendable {
    /// The time rules, from `etcd_lease_ttl`, `etcd_renew_interval`, `etcd_lease_margin` and `etcd_request_timeout`.
    public struct Timings: Equatable, Sendable {
        public var leaseTTL: Duration
        public var renewInterval: Duration
        /// How long before the earliest possible lease end the leader stops acting.
        public var margin: Duration
        /// One try on one endpoint.
        public var requestTimeout: Duration

        public init(leaseTTL: Duration, renewInterval: Duration, margin: Duration, requestTimeout: Duration) {
            self.leaseTTL = leaseTTL
            self.renewInterval = renewInterval
            self.margin = margin
            self.requestTimeout = requestTimeout
        }

        /// A gap between two events longer than this means the process did not run (SIGSTOP, a frozen loop).
        public var pauseThreshold: Duration { min(renewInterval, (leaseTTL - margin) / 2) }
        /// How often the executor ticks the machine.
        public var tickInterval: Duration { min(renewInterval / 4, .milliseconds(250)) }
        /// Between retries of a failed grant or campaign.
        public var retryInterval: Duration { renewInterval }
    }

    /// Who holds the leader key: its value (a member name), the lease it is bound to, its create revision.
    public struct Holder: Equatable, Sendable {
        public var name: String
        public var lease: Int64
        public var createRevision: Int64
        public init(name: String, lease: Int64, createRevision: Int64) {
            self.name = name
            self.lease = lease
            self.createRevision = createRevision
        }
    }

    /// This member's lease: its id, granted TTL, and when the newest keepalive etcd answered was sent.
    public struct Lease: Equatable, Sendable {
        public var id: Int64
        public var ttl: Duration
        public var lastRenewalSent: Duration
    }

    /// Where this member is.
    public enum Role: Equatable, Sendable {
        /// No lease (not yet, or it ended): a grant is asked for, or will be at `retryAt`. Next: candidate.
        case idle
        /// Lease held, no leader known: a campaign is in flight or due at `campaignAt`. Next: leading,
        /// following, idle (lease gone).
        case candidate
        /// Another member (or a dead incarnation of this one, which is being deleted) holds the key. Next:
        /// candidate when the key goes, idle when the lease goes.
        case following(Holder)
        /// This member holds the leader key; `term` is its create revision. `verified` is false after a pause
        /// until a read shows the key still ours: meanwhile no leader action and no VIP renewal. Next:
        /// idle (deadline passed, lease gone, resigned), candidate (key deleted), following (deposed).
        case leading(term: Int64, verified: Bool)
        /// Shut down. Final.
        case stopped
    }

    public enum Campaign: Equatable, Sendable {
        /// The txn created the key: this is its create revision.
        case won(createRevision: Int64)
        /// The key exists: its holder (maybe this member, when an earlier try of the same txn was applied).
        case lost(Holder)
    }

    public enum Event: Equatable, Sendable {
        case start
        /// `sentAt`: when the grant request was sent (the lease lives at least `ttl` from then).
        case leaseGranted(id: Int64, ttl: Duration, sentAt: Duration)
        case leaseGrantFailed
        /// The campaign txn's answer; `lease`: the lease it was made with (an answer for a lease this member has
        /// since given up is ignored).
        case campaigned(Campaign, lease: Int64)
        /// The txn failed (no answer in time; it may or may not have been applied). `leaseGone`: etcd said the
        /// lease does not exist.
        case campaignFailed(leaseGone: Bool, lease: Int64)
        /// A keepalive answered; `ttl` 0 means the lease is gone.
        case renewed(lease: Int64, ttl: Duration, sentAt: Duration)
        case renewFailed(leaseGone: Bool, lease: Int64)
        /// The watch on the leader key: its new holder, or nil when it was deleted.
        case leaderChanged(Holder?)
        /// The answer to `.readLeader` (asked after a pause).
        case leaderRead(Holder?)
        /// The read did not answer: it is asked again at the next tick.
        case leaderReadFailed
        /// An operator asks the leader to hand over.
        case resign
        case tick
        case shutdown
    }

    public enum Action: Equatable, Sendable {
        case grantLease(ttl: Duration)
        /// Put `<prefix>/members/<name>` bound to the lease.
        case putMember(lease: Int64)
        /// The txn: compare CREATE(`<prefix>/leader`) == 0 → put(name, lease); else range the key.
        case campaign(lease: Int64)
        case keepAlive(lease: Int64)
        /// Range the leader key (answer: `.leaderRead`).
        case readLeader
        /// A dead incarnation of this member (same name, another lease) holds the key: delete it if its create
        /// revision is still this one.
        case deleteStaleLeader(createRevision: Int64)
        /// Keep the VIP guard's deadline there.
        case holdVIP(until: Duration)
        /// Became leader of `term`: escalation commands, VIP up (each only while `mayAct(inTerm:now:)`).
        case escalate(term: Int64)
        /// Leadership of `term` ended: de-escalation commands, VIP down.
        case deEscalate(term: Int64)
        case revoke(lease: Int64)
        case stop
    }

    public let name: String
    public let timings: Timings
    public private(set) var role: Role = .idle
    public private(set) var lease: Lease?
    /// The holder of the leader key as last seen (this member while it leads).
    public private(set) var leader: Holder?
    /// The escalation ran and its de-escalation did not yet.
    public private(set) var escalated = false
    private var grantInFlight = false
    private var renewInFlight = false
    private var campaignInFlight = false
    private var readInFlight = false
    private var retryAt: Duration = .zero
    private var campaignAt: Duration = .zero
    private var nextRenewAt: Duration = .zero
    /// A member that resigned does not campaign before this (others take over first).
    private var resignedUntil: Duration = .zero
    private var lastEvent: Duration?
    /// The VIP guard's deadline as last sent (nil when not leading).
    private var heldUntil: Duration?
    /// Leases this process was granted before the current one (the newest few): a leader key under this
    /// member's name on one of them is its own, going away with that lease's revoke (which waits until the VIP
    /// is down) or expiry — not a dead incarnation's to delete.
    private var formerLeases: [Int64] = []

    public init(name: String, timings: Timings) {
        self.name = name
        self.timings = timings
    }

    // MARK: - Queries

    /// The term this member leads, if it may act as leader now (verified, before its deadline).
    public func actingTerm(now: Duration) -> Int64? {
        guard case .leading(let term, true) = role, let d = actingDeadline, now < d else { return nil }
        return term
    }

    /// The leader stops at its deadline, or earlier when the VIP guard's deadline (the last `holdVIP`) comes
    /// first: after a pause, renewals move `deadline` on but the guard is not told until the key is confirmed,
    /// and a guard that has dropped the VIP must not leave a leader that thinks it holds it.
    var actingDeadline: Duration? {
        guard let d = deadline else { return nil }
        return heldUntil.map { min($0, d) } ?? d
    }

    public func mayAct(inTerm term: Int64, now: Duration) -> Bool { actingTerm(now: now) == term }

    /// When the leader must have stopped acting: last renewal sent + TTL − margin.
    public var deadline: Duration? { lease.map { $0.lastRenewalSent + $0.ttl - timings.margin } }

    /// The leader key's create revision as far as this member knows.
    public var term: Int64? { leader?.createRevision }

    // MARK: - Events

    public mutating func event(_ event: Event, now: Duration) -> [Action] {
        guard role != .stopped else {
            // A grant that answers after shutdown must not leave a lease behind.
            if case .leaseGranted(let id, _, _) = event { return [.revoke(lease: id)] }
            return []
        }
        // Answers about a lease this member no longer holds say nothing about the current one.
        switch event {
        case .campaigned(_, let id), .campaignFailed(_, let id), .renewed(let id, _, _), .renewFailed(_, let id):
            guard id == lease?.id else { return [] }
        default:
            break
        }
        var actions: [Action] = []
        let paused = lastEvent.map { now - $0 > timings.pauseThreshold } ?? false
        lastEvent = now
        if paused, case .leading(let term, _) = role {
            role = .leading(term: term, verified: false)
            nextRenewAt = now
        }
        if case .leading = role, let d = actingDeadline, now >= d {
            actions += stepDown(revoke: true, now: now)
        }
        switch event {
        case .start:
            actions += grant()
        case .leaseGranted(let id, let ttl, let sentAt):
            grantInFlight = false
            if let old = lease?.id { retire(old) }
            lease = Lease(id: id, ttl: ttl, lastRenewalSent: sentAt)
            nextRenewAt = now + timings.renewInterval
            role = .candidate
            campaignAt = max(now, resignedUntil)
            actions.append(.putMember(lease: id))
            actions += campaignIfDue(now)
        case .leaseGrantFailed:
            grantInFlight = false
            retryAt = now + timings.retryInterval
        case .campaigned(let result, _):
            campaignInFlight = false
            actions += campaigned(result, now: now)
        case .campaignFailed(let leaseGone, _):
            campaignInFlight = false
            if leaseGone { actions += leaseEnded(now: now) } else { campaignAt = now + timings.retryInterval }
        case .renewed(_, let ttl, let sentAt):
            renewInFlight = false
            guard ttl > .zero else { actions += leaseEnded(now: now); break }
            guard var l = lease else { break }
            if sentAt > l.lastRenewalSent {
                l.lastRenewalSent = sentAt
                l.ttl = ttl
                lease = l
            }
            if case .leading(_, true) = role, let d = deadline, now < d { actions.append(hold(d)) }
        case .renewFailed(let leaseGone, _):
            renewInFlight = false
            if leaseGone { actions += leaseEnded(now: now) }
        case .leaderChanged(let holder):
            actions += leaderSeen(holder, now: now)
        case .leaderRead(let holder):
            readInFlight = false
            if case .leading(let term, false) = role, let holder, let l = lease,
               holder == Holder(name: name, lease: l.id, createRevision: term) {
                role = .leading(term: term, verified: true)
                if let d = deadline, now < d { actions.append(hold(d)) }
            } else {
                actions += leaderSeen(holder, now: now)
            }
        case .leaderReadFailed:
            readInFlight = false
        case .resign:
            guard case .leading = role else { break }
            resignedUntil = now + timings.leaseTTL
            actions += stepDown(revoke: true, now: now)
        case .tick:
            break
        case .shutdown:
            if case .leading = role { actions += stepDown(revoke: false, now: now) }
            if let l = lease { actions.append(.revoke(lease: l.id)) }
            lease = nil
            role = .stopped
            return actions + [.stop]
        }
        return actions + due(now)
    }

    // MARK: - Steps

    /// What is due at `now`: a grant to retry, a keepalive, a campaign, a read after a pause.
    private mutating func due(_ now: Duration) -> [Action] {
        var actions: [Action] = []
        if role == .idle, !grantInFlight, now >= retryAt { actions += grant() }
        if let l = lease, !renewInFlight, now >= nextRenewAt {
            renewInFlight = true
            nextRenewAt = now + timings.renewInterval
            actions.append(.keepAlive(lease: l.id))
        }
        actions += campaignIfDue(now)
        if case .leading(_, false) = role, !readInFlight {
            readInFlight = true
            actions.append(.readLeader)
        }
        return actions
    }

    private mutating func retire(_ id: Int64) {
        formerLeases.append(id)
        if formerLeases.count > 8 { formerLeases.removeFirst() }
    }

    private mutating func hold(_ d: Duration) -> Action {
        heldUntil = d
        return .holdVIP(until: d)
    }

    private mutating func grant() -> [Action] {
        grantInFlight = true
        return [.grantLease(ttl: timings.leaseTTL)]
    }

    private mutating func campaignIfDue(_ now: Duration) -> [Action] {
        guard role == .candidate, !campaignInFlight, now >= campaignAt, now >= resignedUntil, let l = lease else { return [] }
        campaignInFlight = true
        return [.campaign(lease: l.id)]
    }

    private mutating func campaigned(_ result: Campaign, now: Duration) -> [Action] {
        guard role == .candidate, let l = lease else {
            if case .won = result, case .idle = role {
                // Won with a lease this member has meanwhile given up (revoked): the key goes with it.
                return []
            }
            if case .lost(let h) = result { return leaderSeen(h, now: now) }
            return []
        }
        switch result {
        case .won(let revision):
            return becomeLeader(term: revision, lease: l, now: now)
        case .lost(let holder) where holder.name == name && holder.lease == l.id:
            // An earlier try of this same txn was applied: the key is ours.
            return becomeLeader(term: holder.createRevision, lease: l, now: now)
        case .lost(let holder):
            return leaderSeen(holder, now: now)
        }
    }

    private mutating func becomeLeader(term: Int64, lease l: Lease, now: Duration) -> [Action] {
        leader = Holder(name: name, lease: l.id, createRevision: term)
        guard let d = deadline, now < d else {
            // The lease may be gone by now: do not lead on it.
            return stepDown(revoke: true, now: now)
        }
        role = .leading(term: term, verified: true)
        escalated = true
        return [hold(d), .escalate(term: term)]
    }

    /// The leader key as the watch, a campaign's failure branch or a read shows it.
    private mutating func leaderSeen(_ holder: Holder?, now: Duration) -> [Action] {
        var actions: [Action] = []
        if case .leading(let term, _) = role {
            guard let holder, holder.createRevision == term, holder.name == name else {
                actions += stepDown(revoke: false, now: now)
                return actions + leaderSeen(holder, now: now)
            }
            return []
        }
        leader = holder
        guard role != .idle else { return actions }
        guard let holder else {
            role = .candidate
            campaignAt = max(now, resignedUntil)
            return actions
        }
        if holder.name == name, holder.lease == lease?.id {
            // Our campaign was applied but its answer is not here yet: confirm with the txn.
            role = .candidate
            campaignAt = now
            return actions
        }
        role = .following(holder)
        if holder.name == name, !formerLeases.contains(holder.lease) {
            // A dead incarnation of this member (same name, another lease): its lease will expire, but
            // nobody else may lead until then. Delete its key, compared on its create revision.
            actions.append(.deleteStaleLeader(createRevision: holder.createRevision))
        }
        return actions
    }

    /// Leadership ends: VIP down (if it was up); `revoke`: give up the lease too (its key, the member key).
    private mutating func stepDown(revoke: Bool, now: Duration) -> [Action] {
        var actions: [Action] = []
        if escalated, case .leading(let term, _) = role {
            actions.append(.deEscalate(term: term))
        }
        escalated = false
        heldUntil = nil
        if case .leading = role { leader = nil }
        role = .candidate
        campaignAt = now + timings.retryInterval
        if revoke, let l = lease {
            actions.append(.revoke(lease: l.id))
            retire(l.id)
            if leader?.lease == l.id { leader = nil }
            lease = nil
            role = .idle
            retryAt = now
            renewInFlight = false
            campaignInFlight = false
        }
        return actions
    }

    /// etcd says the lease is gone: no member key, no leader key of ours. Start over with a new lease.
    private mutating func leaseEnded(now: Duration) -> [Action] {
        var actions: [Action] = []
        if case .leading = role { actions += stepDown(revoke: false, now: now) }
        if leader?.lease == lease?.id { leader = nil }
        if let id = lease?.id { retire(id) }
        lease = nil
        role = .idle
        retryAt = now
        renewInFlight = false
        campaignInFlight = false
        return actions
    }
}
