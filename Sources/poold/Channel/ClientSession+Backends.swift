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

    /// An async message (NOTIFY, notice) may go to the client only between replies.
    func acceptsAsync(from backend: BackendConnection) -> Bool {
        links.allSatisfy { ($0?.forwardsInFlight ?? 0) == 0 }
    }

    /// One unit's ReadyForQuery arrived on `backend`.
    func unitFinished(on backend: BackendConnection, sink: ReplySink?, status: TransactionStatus, failed: Bool,
                      rows: [[String?]]) {
        guard let link = link(of: backend) else { return }
        switch sink {
        case .forward?:
            router.readyForQuery(link, status, forwarded: true)
            if link == .primary { ryw.primaryUnitFinished(status: status) }
            if failed { router.unitFailed(on: link) }
            if link == .loadBalance, router.primaryMustAbort(), let p = links[0] {
                // The read failed on the standby inside a transaction: fail the primary's transaction too, so
                // the client sees the same transaction it would see on one server.
                var out = ByteBuffer()
                FrontendMessage.query("DO $$BEGIN RAISE EXCEPTION 'poold: statement failed on the load-balance node'; END$$")
                    .encode(into: &out)
                p.write(out)
                p.expect(.discard)
                p.flush()
            }
            showStatus(status == .idle ? .idle : .idleInTransaction)
        case .discard?:
            router.readyForQuery(link, status, forwarded: false)
            if failed { router.unitFailed(on: link) }
        case .position?:
            let lsn = rows.first?.first.flatMap { $0.flatMap(LSN.init) }
            if link == .primary {
                ryw.positionLearned(failed ? nil : lsn)
            } else {
                ryw.standbyReplayLearned(failed ? nil : lsn)
                if !failed, let lsn { runtime.noteReplay(node: backend.node.id, lsn) }
            }
        case .capture?:
            if let lookup = pendingCaptures.popFirst() {
                logger.debug("catalog lookup answered", metadata: ["functions": "\(lookup.functions)", "relations": "\(lookup.relations)",
                                                                   "rows": "\(rows)", "failed": "\(failed)"])
                runtime.learn(functions: lookup.functions, relations: lookup.relations, rows: rows, failed: failed)
            }
        case nil:
            break
        }
        if links.allSatisfy({ ($0?.forwardsInFlight ?? 0) == 0 }) {
            for case let l? in links { l.releaseHeldAsync(to: self) }
        }
        if isQuiet { becameQuiet() }
    }

    /// Nothing is in flight on any link: settle BOTH outcomes, drop an unneeded standby, send held units.
    private func becameQuiet() {
        router.linksQuiet()
        if router.pinned, let standby = links[1] {
            logger.debug("session pinned to the primary", metadata: ["client_id": "\(id)"])
            links[1] = nil
            release(standby)
            linksChanged()
        }
        switch phase {
        case .terminating:
            releaseLinks()
        case .relaying:
            sendLookups()
            if holding, isQuiet {
                holding = false
                processInput()
                flushLinks()
            }
            if !holding { resumeRead() }
            if clientIdleLimit > 0, isQuiet { armIdleTimer() }
        default:
            break
        }
    }

    func backendClosed(_ backend: BackendConnection) {
        guard let link = link(of: backend) else { return }
        links[link.rawValue] = nil
        if case .relaying = phase { runtime.submit(.backendError(backend.node.id)) }
        switch phase {
        case .relaying, .answering:
            if link == .loadBalance, backend.forwardsInFlight == 0 {
                // The standby went away between its replies: keep the session on the primary.
                logger.warning("load-balance node closed; session continues on the primary",
                               metadata: ["client_id": "\(id)", "node_id": "\(backend.node.id)"])
                router.pin()
                linksChanged()
                if isQuiet { becameQuiet() }
                return
            }
            dropLinks()
            sendAndClose(ProxyError(.connectionFailure, "unable to read data from DB node \(backend.node.id)",
                                    detail: "the backend connection was closed; the transaction, if any, was not completed").fields)
        case .negotiating:
            dropLinks()
            sendAndClose(ProxyError(.connectionFailure, "unable to read data from DB node \(backend.node.id)").fields)
        case .terminating:
            if isQuiet { releaseLinks() }
        case .queued, .closed:
            break
        }
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
