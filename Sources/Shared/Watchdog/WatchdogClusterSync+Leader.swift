/// The leader's side: it leads only while the election says it may act, in one term at a time; it counts
/// failover proposals (its own health check's included) and hands a decided failover to the executor once; it
/// publishes its cluster state as the view, version + 1 on each change; it runs operators' requests.
extension WatchdogClusterSync {
    /// Starts or stops leading as the election says: leading begins (consensus reset, the view published with
    /// version + 1) when this member may act in a term it did not lead yet, and ends as soon as it may not.
    /// Requests forwarded to a leader that is no longer followed fail: their outcome is unknown.
    mutating func followElection(now: Duration) {
        let leads = membership.mayActAsLeader && membership.leaderID == localID
        if leads, leadingTerm != membership.term {
            leadingTerm = membership.term
            consensus.reset()
            executing = [:]
            publish(local, now: now)
        } else if !leads, leadingTerm != nil {
            leadingTerm = nil
            consensus.reset()
            executing = [:]
        }
        for (id, f) in forwarded.sorted(by: { $0.key < $1.key })
        where f.leader != membership.leaderID || f.term != membership.term {
            forwarded[id] = nil
            out.append(.replyAdmin(id: id, ok: false, message:
                "the watchdog leader \(configuration.name(of: f.leader)) was lost before it answered; the request may or may not have run: check the node status"))
        }
    }

    /// Leader: `state` becomes the view with the next version (nothing when it is the same state), then goes to
    /// every member; without a state, the current view is sent again.
    mutating func publish(_ state: WatchdogClusterView? = nil, now: Duration) {
        if let state {
            let fresh = viewTerm != membership.term
            guard fresh || !state.sameState(as: view) else { return }
            view = WatchdogClusterView(version: view.version + 1, primary: state.primary, nodes: state.nodes)
            viewTerm = membership.term
            executing = executing.filter { !Self.satisfied($0.key, by: view) }
            if liftFailedOver() { out.append(.apply(effectiveView)) }
        }
        send(.view(view), to: others)
        nextPublish = now + configuration.republishInterval
    }

    /// Leader: counts one proposal and decides. A failover that the view already shows, or that was decided and
    /// is running, is not decided again: it answers proceed and nothing more runs.
    mutating func decide(_ request: FailoverConsensus.Request, from member: Int, now: Duration) -> FailoverConsensus.Decision {
        guard let term = leadingTerm else { return .noQuorum }
        if Self.satisfied(request, by: view) || executing[request] != nil { return .proceed }
        let decision = consensus.propose(request, from: member, quorumHolds: membership.quorumHolds, now: now)
        out.append(.notice(.consensus(request, decision, from: member)))
        if decision == .proceed {
            executing[request] = now
            out.append(.executeFailover(request, term: term))
        }
        return decision
    }

    /// Leader: a member's proposal in this term is counted and answered; one from an older term, or reaching a
    /// member that does not lead, is ignored (its proposer keeps its quarantine and proposes again).
    mutating func proposalReceived(_ request: FailoverConsensus.Request, term: UInt64, from id: Int, now: Duration) {
        guard let leading = leadingTerm, term == leading, !request.nodes.isEmpty else { return }
        let decision = decide(request, from: id, now: now)
        send(.answer(request, decision), to: [id])
    }

    /// This member's cluster state changed. The leader publishes it (version + 1); a member keeps it for the day
    /// it leads.
    mutating func clusterChanged(_ state: WatchdogClusterView, now: Duration) {
        local = withoutQuarantine(state)
        if isLeading { publish(local, now: now) }
    }

    /// Leader: a member forwards an operator's request. Run in this term only; otherwise the member is told so.
    mutating func adminRequestReceived(_ request: WatchdogAdminRequest, id requestID: UInt64, term: UInt64, from id: Int) {
        if let leading = leadingTerm, term == leading {
            out.append(.executeAdmin(request, origin: .member(id, id: requestID), term: leading))
            return
        }
        let why = isLeading ? "it was sent in term \(term), the current term is \(membership.term)"
            : "\(configuration.name(of: localID)) is not the watchdog leader"
        send(.adminReply(id: requestID, ok: false, message: "\(request.name) of node \(request.node) not done: \(why); try again"),
             to: [id])
    }
}
