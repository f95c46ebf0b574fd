/// Standing for leader and voting.
///
/// Preference order (Pgpool-II `watchdog.c`, `watchdog_state_machine_standForCord`: a STAND FOR COORDINATOR
/// request is rejected by a member with a higher `wd_priority`, or with the same priority and an older
/// `startup_time`): higher priority, then the member that started earlier (compared on one clock through the
/// uptime every message carries, within a second counting as equal), then — ours, so that the order is total —
/// the lower member name. The order decides who stands first (each member waits one reply timeout per better
/// live member) and lets a better member refuse a pre-vote and stand instead; safety never depends on it.
extension WatchdogStateMachine {
    /// Start-up times closer than this count as equal (Pgpool-II compares whole seconds).
    static let seniorityTolerance: Duration = .seconds(1)

    enum Verdict: Equatable {
        case grant, abstain
        /// The request's term is not newer than ours (or we voted for someone else in it).
        case refuseStale
        /// A leader is alive for us: we are it, or we answered its beacon less than a deadtime ago.
        case refuseLeaderAlive
        /// We are preferred and able to stand: we stand instead.
        case refuseBetter
        /// The lifecheck finds the candidate dead (its pgpool_port does not answer, or an agent said so).
        case refuseLost
    }

    /// INITIALIZING's decision (Pgpool-II's `watchdog_state_machine_initializing`, without its shortcut to
    /// LEADER for a lone member: a lone member leads only if it is a quorum by itself).
    mutating func decide(now: Duration) {
        loadingUntil = nil
        rehearing = nil
        election = nil
        waitForTurn(now: now, extra: 0)
    }

    /// Wait for this member's turn to stand: one reply timeout per better live member (plus `extra`), longer
    /// when someone else is standing or reported leading, and never before `noVoteBefore`.
    mutating func waitForTurn(now: Duration, extra: Int) {
        let alive = alivePeers(now: now)
        let someoneStanding = alive.contains { peers[$0]?.reported == .standingForLeader }
        let leaderReported = alive.contains { id in peers[id].map { $0.reported == .leader && $0.term >= term } ?? false }
        state = someoneStanding ? .participatingInElection : .initializing
        var turn = now + timings.replyTimeout * (rank(now: now) + extra)
        if someoneStanding || leaderReported { turn = max(turn, now + timings.replyTimeout * 2) }
        let at = max(turn, noVoteBefore)
        standAt = at
        if now >= at { stand(now: now) }
    }

    /// Better live members than this one.
    func rank(now: Duration) -> Int {
        alivePeers(now: now).filter { prefers(peer: $0, now: now) }.count
    }

    /// True when member `id` comes before this member in the preference order.
    func prefers(peer id: Int, now: Duration) -> Bool {
        guard let p = peers[id] else { return false }
        if p.priority != effectivePriority { return p.priority > effectivePriority }
        if let theirs = p.startedAt {
            if startedAt - theirs > Self.seniorityTolerance { return true }
            if theirs - startedAt > Self.seniorityTolerance { return false }
        }
        return p.name < localName
    }

    func canStand(now: Duration) -> Bool {
        guard now >= noVoteBefore, rehearing == nil else { return false }
        switch state {
        case .loading, .initializing, .participatingInElection, .standingForLeader: return true
        case .dead, .joining, .leader, .standby, .lost, .inNetworkTrouble, .shutdown, .addMessageSent, .networkIsolation:
            return false
        }
    }

    // MARK: - Candidate

    /// STANDING FOR LEADER, pre-vote round: ask whether a quorum would vote for us in term + 1, changing nothing.
    mutating func stand(now: Duration) {
        guard canStand(now: now) else {
            standAt = max(noVoteBefore, now + timings.replyTimeout)
            return
        }
        state = .standingForLeader
        standAt = nil
        election = Election(term: term + 1, preVote: true, deadline: now + timings.replyTimeout)
        if !others.isEmpty { out.append(.send(voteRequest(term + 1, preVote: true, now: now), to: others)) }
        checkElection(now: now)
    }

    func voteRequest(_ t: UInt64, preVote: Bool, now: Duration) -> WatchdogMessage {
        var m = message(.voteRequest, now: now)
        m.term = t
        m.flags = preVote ? .preVote : []
        return m
    }

    /// Pre-vote: go on with a quorum of grants once every live member answered (or the round timed out), give up
    /// on any refusal. Real vote: a quorum of votes makes us leader.
    mutating func checkElection(now: Duration) {
        guard state == .standingForLeader, let e = election else { return }
        let votes = e.granted.count + 1
        let needed = configuration.votesNeeded
        if e.preVote {
            if e.refused { return electionFailed(now: now) }
            let waiting = alivePeers(now: now).contains { !e.answered.contains($0) }
            if votes >= needed, !waiting || now >= e.deadline { return startVote(now: now) }
        } else if votes >= needed {
            return becomeLeader(now: now)
        }
        if now >= e.deadline { electionFailed(now: now) }
    }

    /// The real vote: term + 1 and our own vote are persisted before anyone is asked.
    mutating func startVote(now: Duration) {
        guard let e = election else { return }
        persist(term: e.term, votedFor: .some(localName), followedLeader: .some(nil))
        leaderID = nil
        leaderFollowers = 0
        election = Election(term: e.term, preVote: false, deadline: now + timings.replyTimeout)
        if !others.isEmpty { out.append(.send(voteRequest(e.term, preVote: false, now: now), to: others)) }
        checkElection(now: now)
    }

    /// The round failed (refused, split, timed out): wait one more turn than our rank before trying again.
    mutating func electionFailed(now: Duration) {
        election = nil
        waitForTurn(now: now, extra: 1)
    }

    /// STANDBY's leader has been silent for the deadtime (or said it stops).
    mutating func leaderLost(now: Duration) {
        if let id = leaderID, var p = peers[id], p.state != .shutdown {
            p.state = .lost
            peers[id] = p
        }
        leaderID = nil
        leaderFollowers = 0
        waitForTurn(now: now, extra: 0)
    }

    /// A newer term: a leader steps down first (VIP down), then the term is persisted with no vote in it.
    mutating func adoptTerm(_ t: UInt64, now: Duration) {
        guard t > term else { return }
        let wasLeader = state == .leader
        if wasLeader { stepDown(now: now, rehear: false) }
        persist(term: t, votedFor: .some(nil), followedLeader: .some(nil))
        leaderID = nil
        leaderFollowers = 0
        if state == .standingForLeader || state == .standby || wasLeader {
            election = nil
            waitForTurn(now: now, extra: 1)
        }
    }

    // MARK: - Voter

    mutating func voteRequested(_ m: WatchdogMessage, from id: Int, now: Duration) {
        let preVote = m.flags.contains(.preVote)
        let verdict = verdict(for: id, term: m.term, preVote: preVote, now: now)
        // A refusal because a leader is alive, or because the lifecheck finds the candidate dead, does not take
        // the newer term (the candidate is the one cut off); a pre-vote never changes anything.
        if !preVote, m.term > term, verdict != .refuseLeaderAlive, verdict != .refuseLost { adoptTerm(m.term, now: now) }
        if !preVote, verdict == .grant, let name = peers[id]?.name { persist(votedFor: .some(name)) }
        var reply = message(.voteReply, now: now)
        reply.askedTerm = m.term
        reply.flags = preVote ? .preVote : []
        switch verdict {
        case .grant: reply.flags.insert(.granted)
        case .abstain: reply.flags.insert(.abstain)
        case .refuseStale, .refuseLeaderAlive, .refuseBetter, .refuseLost: break
        }
        out.append(.send(reply, to: [id]))
        switch verdict {
        case .refuseBetter:
            if state != .standingForLeader { stand(now: now) }
        case .grant:
            // Give the candidate we just answered its round before taking our own turn.
            if state == .initializing || state == .participatingInElection {
                state = .participatingInElection
                standAt = max(standAt ?? now, now + timings.replyTimeout * 2)
            }
        case .abstain, .refuseStale, .refuseLeaderAlive, .refuseLost:
            break
        }
    }

    func verdict(for id: Int, term asked: UInt64, preVote: Bool, now: Duration) -> Verdict {
        switch state {
        case .dead, .joining, .inNetworkTrouble, .shutdown, .lost, .addMessageSent, .networkIsolation: return .abstain
        case .loading, .initializing, .leader, .participatingInElection, .standingForLeader, .standby: break
        }
        if rehearing != nil { return .abstain }
        let candidate = peers[id]?.name
        if preVote {
            if asked <= term { return .refuseStale }
        } else {
            if asked < term { return .refuseStale }
            if asked == term, let voted = persistent.votedFor { return voted == candidate ? .grant : .refuseStale }
        }
        if peers[id]?.lostByLifecheck == true { return .refuseLost }
        if state == .leader || now < noVoteBefore { return .refuseLeaderAlive }
        if preVote, canStand(now: now), !prefers(peer: id, now: now) { return .refuseBetter }
        return .grant
    }
}
