/// Every member's side: views from the leader, its own checks' findings (proposals and quarantine), and
/// operators' requests forwarded to the leader.
extension WatchdogClusterSync {
    /// A view is applied only from the leader this member follows, in the current term, when newer than the
    /// applied one (term, then version): never from an older term, from another member, or by the leader.
    mutating func viewReceived(_ v: WatchdogClusterView, term: UInt64, from id: Int) {
        guard !isLeading, id == membership.leaderID, term == membership.term,
              (term, v.version) > (viewTerm, view.version) else { return }
        view = withoutQuarantine(v)
        view.version = v.version
        viewTerm = term
        local = view
        _ = liftFailedOver()
        out.append(.apply(effectiveView))
    }

    /// This member's own checks call for a failover. The leader decides at once (and quarantines a node it
    /// cannot fail over yet); a member quarantines the node and proposes to the leader; with no leader that may
    /// act, the node is only quarantined. Nodes the view already shows so are left out.
    mutating func detected(_ request: FailoverConsensus.Request, now: Duration) {
        let nodes = request.nodes.filter { !Self.satisfied(FailoverConsensus.Request(request.kind, nodes: [$0]), by: view) }
        guard !nodes.isEmpty else { return }
        let r = FailoverConsensus.Request(request.kind, nodes: nodes)
        if isLeading {
            if decide(r, from: localID, now: now) != .proceed { enterQuarantine(r, now: now) }
        } else if let leader = membership.leaderID, leader != localID {
            enterQuarantine(r, now: now)
            send(.proposal(r), to: [leader])
        } else {
            enterQuarantine(r, now: now)
            out.append(.notice(.noLeader(r)))
        }
    }

    /// The nodes of a node-down request leave this member's sessions until they answer again or are failed over.
    mutating func enterQuarantine(_ r: FailoverConsensus.Request, now: Duration) {
        guard r.kind == .nodeDown else { return }
        var entered = false
        for node in r.nodes where quarantine.enter(node, now: now) {
            out.append(.notice(.quarantined(node: node)))
            entered = true
        }
        if entered { out.append(.apply(effectiveView)) }
    }

    /// An operator's request on this member: run here when it leads, else forwarded to the leader (its reply
    /// comes back as `.replyAdmin`); refused when there is no leader that may act.
    mutating func adminRequested(_ request: WatchdogAdminRequest, id: UInt64, now: Duration) {
        if let term = leadingTerm {
            out.append(.executeAdmin(request, origin: .local(id: id), term: term))
        } else if let leader = membership.leaderID, leader != localID {
            forwarded[id] = Forwarded(leader: leader, term: membership.term, since: now)
            send(.adminRequest(id: id, request), to: [leader])
        } else {
            out.append(.replyAdmin(id: id, ok: false, message:
                "\(request.name) of node \(request.node) not done: no watchdog leader can act now (this member is \(membership.state.name)); try again when one is elected"))
        }
    }
}
