import NIOCore
import Shared

/// What the session's backend connections report (same event loop).
extension ClientSession {
    func writeToClient(_ buffer: ByteBuffer) { context?.write(wrapOutboundOut(buffer), promise: nil) }
    func flushClient() { context?.flush() }

    private func link(of backend: BackendConnection) -> Link? {
        if links[0] === backend { return .primary }
        if links[1] === backend { return .loadBalance }
        return nil
    }

    /// One unit's ReadyForQuery arrived on `backend`; `rows`: what a capture or position query returned.
    func unitFinished(on backend: BackendConnection, status: TransactionStatus, rows: [[String?]]) {
        guard let link = link(of: backend) else { return }
        let lsn = relay.head(link) == .position ? rows.first?.first.flatMap { $0.flatMap(LSN.init) } : nil
        let end = relay.readyForQuery(on: link, status, position: lsn)
        switch end.sink {
        case .forward?:
            showStatus(status == .idle ? .idle : .idleInTransaction)
        case .position?:
            if link == .loadBalance, !end.failed, let lsn { runtime.noteReplay(node: backend.node.id, lsn) }
        case .capture?:
            if !pendingCaptures.isEmpty {
                let lookup = pendingCaptures.removeFirst()
                logger.debug("catalog lookup answered", metadata: ["functions": "\(lookup.functions)", "relations": "\(lookup.relations)",
                                                                   "rows": "\(rows)", "failed": "\(end.failed)"])
                runtime.learn(functions: lookup.functions, relations: lookup.relations, rows: rows, failed: end.failed)
            }
        case .discard?, nil:
            break
        }
        execute(end.actions)
    }

    /// Carries out what the relay decided.
    func execute(_ actions: [RelayStateMachine.Action]) {
        for action in actions {
            switch action {
            case .release(let link):
                if let c = links[link.rawValue] {
                    links[link.rawValue] = nil
                    if link == .loadBalance { logger.debug("session pinned to the primary", metadata: ["client_id": "\(id)"]) }
                    release(c)
                }
            case .close(let link):
                if let c = links[link.rawValue] {
                    links[link.rawValue] = nil
                    c.terminate()
                }
            case .deliverHeldAsync(let link):
                links[link.rawValue]?.releaseHeldAsync(to: self)
            case .failPrimaryTransaction:
                // The read failed on the standby inside a transaction: fail the primary's transaction too, so
                // the client sees the same transaction it would see on one server.
                var out = ByteBuffer()
                FrontendMessage.query("DO $$BEGIN RAISE EXCEPTION 'poold: statement failed on the load-balance node'; END$$")
                    .encode(into: &out)
                links[0]?.write(out)
                links[0]?.flush()
            case .linksChanged:
                linksChanged()
            case .quiet:
                sendLookups()
                if relay.resume() {
                    processInput()
                    flushLinks()
                }
                if relay.state == .relaying { resumeRead() }
                if clientIdleLimit > 0, relay.state == .relaying, relay.isQuiet { armIdleTimer() }
                if transactionPooling { detachIfIdle() }
            case .fail(let failure):
                sendAndClose(Self.error(for: failure).fields)
            }
        }
        if relay.state == .closed { abandonLookups() }
    }

    private static func error(for failure: RelayStateMachine.Failure) -> ProxyError {
        switch failure {
        case .backendLost(let node):
            return ProxyError(.connectionFailure, "unable to read data from DB node \(node)",
                              detail: "the backend connection was closed; the transaction, if any, was not completed")
        case .loadBalanceDetached(let node):
            return ProxyError(.connectionFailure, "node \(node) was detached while it was answering")
        case .primaryDetached(let node):
            return ProxyError(.adminShutdown, "terminating connection because backend node \(node) was detached",
                              detail: "the primary failed or was detached; reconnect to reach the new primary")
        }
    }

    func backendClosed(_ backend: BackendConnection) {
        guard let link = link(of: backend) else { return }
        switch phase {
        case .negotiating:
            dropLinks()
            sendAndClose(ProxyError(.connectionFailure, "unable to read data from DB node \(backend.node.id)").fields)
            return
        case .relaying:
            runtime.submit(.backendError(backend.node.id))
            if link == .loadBalance, relay.forwardsInFlight(.loadBalance) == 0, relay.state != .terminating {
                logger.warning("load-balance node closed; session continues on the primary",
                               metadata: ["client_id": "\(id)", "node_id": "\(backend.node.id)"])
            }
        case .queued, .closed:
            break
        }
        links[link.rawValue] = nil
        execute(relay.backendClosed(link))
    }

    /// A backend said it is shutting down (57P01/57P02): with failover_on_backend_shutdown the node is
    /// failed over (reference §5.1 item 3).
    func backendShutdownSeen(_ backend: BackendConnection) {
        guard config.bool("failover_on_backend_shutdown") else { return }
        runtime.submit(.nodeDown(backend.node.id, reason: "backend shutdown (57P01/57P02) seen by a session"))
    }

    func backendProtocolError(_ what: String) {
        dropLinks()
        sendAndClose(ProxyError(.protocolViolation, "invalid data from backend: \(what)").fields)
    }
}
