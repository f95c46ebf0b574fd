/// Leading: beacons, the lease that entitles the leader to the VIP, stepping down, and two leaders meeting.
///
/// The lease is renewed from answers, never from the leader's own belief: with `needed` = the quorum size, the
/// leader sorts the send times of the latest beacon each member answered (its own latest beacon counting as its
/// answer) and takes the `needed`-th newest; the lease runs until that time + `lease`. Each member that answered
/// promised (`noVoteBefore`) to vote for nobody until it received that beacon + the deadtime, which is later.
extension WatchdogStateMachine {
    /// Leadership gaps closer than this count as equal when two leaders of one term meet.
    static let leaderAgeTolerance: Duration = .seconds(1)

    /// LEADER, not yet escalated: the first beacon goes out now; the VIP comes with the first quorum of answers.
    mutating func becomeLeader(now: Duration) {
        state = .leader
        resigned = false
        leaderID = configuration.localID
        election = nil
        standAt = nil
        leaderFollowers = 0
        persist(followedLeader: .some(localName))
        leadership = Leadership(since: now, latestBeacon: now, nextBeacon: now)
        leaseExpiry = nil
        sendBeacon(now: now)
    }

    mutating func leaderTick(now: Duration) {
        guard let l = leadership else { return }
        if leaseExpiry == nil, now >= l.since + timings.lease { return stepDown(now: now, rehear: true) }
        if now >= l.nextBeacon { sendBeacon(now: now) }
    }

    func beacon(now: Duration) -> WatchdogMessage {
        var m = message(.beacon, now: now)
        m.sentAt = now
        m.followers = recentFollowers(now: now)
        m.leaderFor = now - (leadership?.since ?? now)
        m.flags = escalated ? .escalated : []
        return m
    }

    /// A beacon to every member (or only to `ids`, answering a hello). The leader keeps the same promise as the
    /// members that answer it: no vote for anyone for a deadtime after its last beacon.
    mutating func sendBeacon(now: Duration, to ids: [Int]? = nil) {
        guard var l = leadership else { return }
        if ids == nil {
            l.latestBeacon = now
            l.nextBeacon = now + timings.beaconInterval
            leadership = l
        }
        noVoteBefore = max(noVoteBefore, now + timings.deadtime)
        let targets = ids ?? others
        if !targets.isEmpty { out.append(.send(beacon(now: now), to: targets)) }
        renewLease(now: now)
    }

    mutating func ackReceived(_ m: WatchdogMessage, from id: Int, now: Duration) {
        // A member the lifecheck finds dead does not count toward the lease (nor as a follower).
        guard state == .leader, var l = leadership, m.sentAt >= l.since, m.sentAt <= now,
              peers[id]?.lostByLifecheck != true else { return }
        l.acks[id] = max(l.acks[id] ?? .zero, m.sentAt)
        leadership = l
        renewLease(now: now)
    }

    /// Extends the lease when a quorum answered a newer beacon; the first lease escalates (guard first).
    mutating func renewLease(now: Duration) {
        guard let l = leadership else { return }
        let needed = configuration.votesNeeded
        let stamps = ([l.latestBeacon] + Array(l.acks.values)).sorted(by: >)
        guard stamps.count >= needed else { return }
        let expiry = stamps[needed - 1] + timings.lease
        guard expiry > now, expiry > (leaseExpiry ?? .zero) else { return }
        leaseExpiry = expiry
        out.append(.holdVIP(until: expiry + timings.guardGrace, term: term))
        if !escalated {
            escalated = true
            out.append(.escalate(term: term))
        }
    }

    /// The VIP guard brought the VIP down by itself (a renewal reached it too late, e.g. poold stalled between
    /// renewing and telling it). A leader whose lease still holds raises it again rather than leave the VIP on
    /// nobody (Pgpool-II's "VIP held by no node"); otherwise the VIP simply stays down.
    mutating func vipDropped(now: Duration) {
        guard escalated else { return }
        escalated = false
        guard state == .leader, let expiry = leaseExpiry, now < expiry else { return }
        escalated = true
        out.append(.holdVIP(until: expiry + timings.guardGrace, term: term))
        out.append(.escalate(term: term))
    }

    /// Members whose answer is to a beacon sent within the lease.
    func recentFollowers(now: Duration) -> Int {
        guard let l = leadership else { return 0 }
        return l.acks.values.filter { $0 + timings.lease > now }.count
    }

    /// Leadership ends: the VIP goes down first. Then JOINING (re-hear; after a lost lease or a pause) or
    /// INITIALIZING (a newer term or a better leader is known).
    mutating func stepDown(now: Duration, rehear: Bool) {
        if escalated {
            escalated = false
            out.append(.deEscalate(term: term))
        }
        leadership = nil
        leaseExpiry = nil
        leaderID = nil
        leaderFollowers = 0
        if rehear {
            self.rehear(now: now)
        } else {
            state = .initializing
            standAt = max(noVoteBefore, now + timings.replyTimeout)
        }
    }

    /// Two leaders of the same term (only possible when half the members are a quorum): Pgpool-II's order
    /// (`I_am_leader_and_cluster_in_split_brain`): escalated beats not escalated, then the better quorum / more
    /// followers, then the older leadership; ours last: the lower name. True when this member stays.
    func winsSplit(against m: WatchdogMessage, from id: Int, now: Duration) -> Bool {
        let theirsEscalated = m.flags.contains(.escalated)
        if escalated != theirsEscalated { return escalated }
        let mine = recentFollowers(now: now)
        if mine != m.followers { return mine > m.followers }
        let age = now - (leadership?.since ?? now)
        if age - m.leaderFor > Self.leaderAgeTolerance { return true }
        if m.leaderFor - age > Self.leaderAgeTolerance { return false }
        return localName < (peers[id]?.name ?? "")
    }
}
