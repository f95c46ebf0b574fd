/// Messages from other members: every one refreshes the view of its sender; then terms are compared (a newer one
/// is adopted, an older one changes nothing) and the message is handled by kind. Messages about backends (kinds
/// 9–14) count like `info` here — liveness and term — and are handled by `WatchdogClusterSync`.
extension WatchdogStateMachine {
    mutating func received(_ m: WatchdogMessage, from id: Int, now: Duration) {
        guard peers[id] != nil else { return }
        refresh(id, with: m, now: now)
        defer {
            if state == .loading, others.allSatisfy({ peers[$0]?.state != .addMessageSent }) { decide(now: now) }
        }
        switch m.kind {
        case .voteRequest:
            return voteRequested(m, from: id, now: now)
        case .hello:
            // Always answered, whatever the term: the newcomer learns ours (and a leader's beacon at once).
            adoptTerm(m.term, now: now)
            send(.info, to: [id], now: now)
            if state == .leader { sendBeacon(now: now, to: [id]) }
            return
        case .voteReply:
            // A lagging voter's pre-vote grant is still a grant; a newer term ends our candidacy.
            adoptTerm(m.term, now: now)
            return voteReplied(m, from: id, now: now)
        case .info, .beacon, .beaconAck, .goingDown, .networkTrouble, .clusterView, .failoverProposal, .failoverAnswer,
             .adminRequest, .adminReply, .settingsDigest:
            break
        }
        if m.term > term { adoptTerm(m.term, now: now) }
        guard m.term == term else {
            // Stale: nothing changes. A stale leader is told the current term, so it steps down.
            if m.kind == .beacon { send(.info, to: [id], now: now) }
            return
        }
        switch m.kind {
        case .beacon: beaconReceived(m, from: id, now: now)
        case .beaconAck: ackReceived(m, from: id, now: now)
        case .goingDown:
            // The leader brought the VIP down before saying so: its followers are released from their promise.
            // One that resigned stays a member (not lost): it votes, and stands last.
            if id == leaderID, state == .standby {
                noVoteBefore = now
                if m.flags.contains(.resigned) {
                    leaderID = nil
                    leaderFollowers = 0
                    waitForTurn(now: now, extra: 0)
                } else {
                    leaderLost(now: now)
                }
            }
        case .info, .networkTrouble, .hello, .voteRequest, .voteReply, .clusterView, .failoverProposal, .failoverAnswer,
             .adminRequest, .adminReply, .settingsDigest:
            break
        }
    }

    mutating func refresh(_ id: Int, with m: WatchdogMessage, now: Duration) {
        guard var p = peers[id] else { return }
        p.lastHeard = now
        p.reported = m.state
        switch m.kind {
        case .goingDown: p.state = m.flags.contains(.resigned) ? m.state : .shutdown
        case .networkTrouble: p.state = .networkIsolation
        case .hello, .info, .beacon, .beaconAck, .voteRequest, .voteReply, .clusterView, .failoverProposal,
             .failoverAnswer, .adminRequest, .adminReply, .settingsDigest:
            p.state = m.state == .inNetworkTrouble ? .networkIsolation : m.state
        }
        // Its messages prove its watchdog runs, not that the lifecheck finds it alive.
        if p.lostByLifecheck, p.state != .shutdown { p.state = .lost }
        if m.kind != .voteRequest { p.term = m.term }
        p.priority = m.priority
        p.startedAt = now - m.uptime
        p.leader = m.leader
        peers[id] = p
        rehearing?.heard.insert(id)
    }

    mutating func beaconReceived(_ m: WatchdogMessage, from id: Int, now: Duration) {
        switch state {
        case .leader:
            if winsSplit(against: m, from: id, now: now) {
                sendBeacon(now: now, to: [id])
            } else {
                stepDown(now: now, rehear: false)
                follow(m, from: id, now: now)
            }
        case .dead, .inNetworkTrouble, .shutdown, .lost, .addMessageSent, .networkIsolation:
            return
        case .loading, .joining, .initializing, .participatingInElection, .standingForLeader, .standby:
            // A leader the lifecheck finds dead is not followed (and not answered: no promise is given).
            guard peers[id]?.lostByLifecheck != true else { return }
            follow(m, from: id, now: now)
        }
    }

    /// STANDBY: persist who we follow, then answer the beacon — which promises no vote for a deadtime.
    mutating func follow(_ m: WatchdogMessage, from id: Int, now: Duration) {
        leaderID = id
        resigned = false
        election = nil
        standAt = nil
        rehearing = nil
        loadingUntil = nil
        state = .standby
        leaderFollowers = m.followers
        if let name = peers[id]?.name { persist(followedLeader: .some(name)) }
        noVoteBefore = max(noVoteBefore, now + timings.deadtime)
        var ack = message(.beaconAck, now: now)
        ack.sentAt = m.sentAt
        out.append(.send(ack, to: [id]))
    }

    mutating func voteReplied(_ m: WatchdogMessage, from id: Int, now: Duration) {
        // A member the lifecheck finds dead takes no part: neither its vote nor its refusal counts (it may not
        // know, and refuse every pre-vote as the better candidate).
        guard state == .standingForLeader, var e = election, m.askedTerm == e.term,
              m.flags.contains(.preVote) == e.preVote, peers[id]?.lostByLifecheck != true else { return }
        e.answered.insert(id)
        if m.flags.contains(.granted) {
            e.granted.insert(id)
        } else if !m.flags.contains(.abstain) {
            e.refused = true
        }
        election = e
        checkElection(now: now)
    }
}
