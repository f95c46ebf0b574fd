import Logging
import NIOCore
import Shared

/// pool_mode = transaction: between transactions the session holds no backend. At each quiet, idle point it
/// gives its links back to its loop's `TransactionPool`; when its next unit arrives it borrows the links that
/// unit needs (the primary, the load-balance node, or both) from the current cluster view — so a failover
/// between two transactions is invisible to the client — and defines again the prepared statements the unit
/// uses (`ClientStatements`). A statement that leaves session state on its backend pins the session
/// (`SessionPin`): from then on it keeps its backends as in session mode.
extension ClientSession {
    /// Some link the relay may route to is not held now.
    var linksMissing: Bool { links[0] == nil || (relay.has(.loadBalance) && links[1] == nil) }

    /// The pool key of this session's connections to `node`: the node and the startup packet. The startup
    /// part is built once per session (transaction pooling asks for a key at every transaction).
    func poolKey(_ node: BackendConfig, startup: StartupMessage? = nil) -> String {
        if poolKeyParameters == nil, let s = startup ?? self.startup {
            poolKeyParameters = s.parameters.map { "\($0.0)=\($0.1)" }.joined(separator: "\u{1}")
        }
        return "\(node.id)|" + (poolKeyParameters ?? "")
    }

    /// A connection to `node` for one transaction: idle in the pool, new (within transaction_pool_size), or
    /// the next one given back when the limit is reached.
    func borrow(_ node: BackendConfig, on loop: EventLoop) -> EventLoopFuture<BackendConnection> {
        let key = poolKey(node)
        let transactions = pool.transactions
        if let c = transactions.take(key) { return loop.makeSucceededFuture(c) }
        let promise = loop.makePromise(of: BackendConnection.self)
        func open() {
            let connectTimeout = TimeAmount.milliseconds(Int64(max(1000, config.int("connect_timeout"))))
            let startup = self.startup ?? StartupMessage(parameters: [])
            BackendConnection.connect(node: node, poolKey: key, startup: startup, secret: leaseSecret, runtime: runtime,
                                      eventLoop: loop, connectTimeout: connectTimeout, logger: logger)
                .assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let c):
                        c.onClose = { transactions.gone(key, on: loop) }
                        promise.succeed(c)
                    case .failure(let error):
                        transactions.gone(key, on: loop)
                        promise.fail(error)
                    }
                }
        }
        func attempt() {
            if let c = transactions.take(key) { promise.succeed(c); return }
            if transactions.reserve(key) { open(); return }
            transactions.wait(key) { [self] c in
                guard waitsForBackend else { return false }
                if let c, c.channel?.isActive == true { promise.succeed(c) } else if c == nil { open() } else { attempt() }
                return true
            }
        }
        attempt()
        return promise.futureResult
    }

    /// The session is between transactions and waits for a backend (login or its next unit).
    var waitsForBackend: Bool {
        switch phase {
        case .negotiating: return true
        case .relaying: return acquiring
        case .queued, .closed: return false
        }
    }

    /// Gives the links back when the session is between transactions and nothing ties it to them.
    func detachIfIdle() {
        guard transactionPooling, pin == nil, case .relaying = phase, !acquiring, relay.state == .relaying,
              relay.betweenTransactions, lookupsToSend.isEmpty, pendingCaptures.isEmpty,
              links[0] != nil || links[1] != nil else { return }
        // The backend's channelReadComplete flushes the client only while it is leased: flush now.
        flushClient()
        for i in 0..<2 {
            guard let c = links[i] else { continue }
            links[i] = nil
            linkNeedsFlush[i] = false
            pool.transactions.giveBack(c)
        }
        linksChanged()
    }

    /// Before a unit that may need a link the session does not hold (transaction pooling; in session mode the
    /// load-balance link before its first use): true when every link it needs is there; otherwise borrowing
    /// has started and `processInput` runs again once it is done.
    func ensureLinks(_ unit: ClientUnit, terminators: Int, parses: [(String, ParsedStatement)],
                     world: FrozenWorld) -> Bool {
        if acquiring { return false }
        var missing: [Link] = []
        if !relay.has(.loadBalance) {
            // No load-balance link: every unit goes to the primary, no trial plan needed.
            if links[0] == nil { missing.append(.primary) }
        } else {
            var trial = relay
            guard case .send(let d) = trial.unit(unit, terminators: terminators, parses: parses, world: world) else { return true }
            if links[d.forward.rawValue] == nil { missing.append(d.forward) }
            if d.copyToLoadBalance, links[1] == nil, !missing.contains(.loadBalance) { missing.append(.loadBalance) }
        }
        guard !missing.isEmpty, let context else { return true }
        acquiring = true
        let loop = context.eventLoop
        // One link at a time, the primary first: a session never waits for the primary while it holds a
        // standby's connection, so two sessions cannot each hold what the other waits for.
        var inline = true
        func next(_ rest: ArraySlice<Link>) {
            guard let link = rest.first else {
                acquiring = false
                if !inline, case .relaying = phase {
                    processInput()
                    flushLinks()
                }
                return
            }
            borrowLink(link, on: loop) { [self] ok in
                guard ok else { acquiring = false; return }
                next(rest.dropFirst())
            }
        }
        next(missing.sorted { $0.rawValue < $1.rawValue }[...])
        inline = false
        guard !acquiring, case .relaying = phase else { return false }
        return true
    }

    /// Borrows one link from the current cluster view (session mode: opens the load-balance link, from the
    /// connection cache or new); `done(false)` when the session ended instead.
    private func borrowLink(_ link: Link, on loop: EventLoop, waitedMS: Int = 0, done: @escaping (Bool) -> Void) {
        let chosen: BackendConfig
        switch link {
        case .primary:
            guard let node = primary.flatMap({ runtime.cluster.status(of: $0.id).isUsable ? $0 : nil }) else {
                // A failover between transactions: wait for the new primary, as a new session would.
                let limit = 1000 * min(60, max(1, config.int("search_primary_node_timeout")))
                guard waitedMS < limit else {
                    dropLinks()
                    sendAndClose(ProxyError(.cannotConnectNow, "no primary node is available",
                                            detail: "a failover may be in progress; retry shortly").fields)
                    return done(false)
                }
                loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { [self] in
                    guard case .relaying = phase else { return done(false) }
                    borrowLink(link, on: loop, waitedMS: waitedMS + 100, done: done)
                }
                return
            }
            chosen = node
        case .loadBalance:
            let id = loadBalanceNodeID
            guard let node = config.backends.first(where: { $0.id == id && $0.id != primary?.id && runtime.cluster.status(of: $0.id).isUsable }) else {
                // The load-balance node is down or became the primary: reads stay on the primary.
                execute(relay.nodeDetached(.loadBalance))
                return done(true)
            }
            chosen = node
        }
        // Session mode opens the load-balance link once, from the connection cache or new.
        let future = transactionPooling ? borrow(chosen, on: loop)
            : obtain(chosen, startup: startup ?? StartupMessage(parameters: []), secret: leaseSecret, on: loop)
        future.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let c):
                guard case .relaying = phase, links[link.rawValue] == nil else {
                    if transactionPooling { pool.transactions.giveBack(c) } else { release(c) }
                    return done(false)
                }
                links[link.rawValue] = c
                c.lease(to: self, as: link)
                linksChanged()
                done(true)
            case .failure(let error):
                logger.warning("cannot connect to backend", metadata: ["node_id": "\(chosen.id)", "error": "\(error)"])
                guard case .relaying = phase else { return done(false) }
                if link == .loadBalance {
                    execute(relay.nodeDetached(.loadBalance))
                    return done(true)
                }
                runtime.submit(.backendError(chosen.id))
                dropLinks()
                sendAndClose(ProxyError(.connectionFailure,
                                          "unable to connect to DB node \(chosen.id) (\(chosen.hostname):\(chosen.port))").fields)
                done(false)
            }
        }
    }

    /// The statements poold defines first on `link` for this unit.
    func restoreStatements(_ unit: ClientUnit, parses: [(String, ParsedStatement)], on link: Link) -> [ByteBuffer] {
        guard let c = links[link.rawValue] else { return [] }
        return statementBook.restore(unit.parts, parses: parses, on: &c.statements, limit: maxPreparedStatements)
    }

    /// A unit left session state on its backend: keep the backends from now on.
    func pinIfNeeded(_ unit: ClientUnit) {
        guard pin == nil, let reason = SessionPin.reason(in: unit.parts) else { return }
        pin = reason
        logger.debug("session pinned to its backend", metadata: ["client_id": "\(id)", "reason": "\(reason.rawValue)"])
        activity?.update(pin: reason.rawValue)
    }

    /// A backend the session leaves: back to the transaction pool, after ABORT when a transaction is open,
    /// or after reset_query_list when the session was pinned (its session state must not reach others).
    func releaseTransactional(_ c: BackendConnection) {
        let pinned = pin != nil
        guard pinned || c.transactionStatus != .idle else { pool.transactions.giveBack(c); return }
        let transactions = pool.transactions
        c.reset(queries: pinned ? resetQueries : ["ABORT"]) { clean in
            guard clean else { c.terminate(); return }
            if pinned { c.statements.closedAll() }
            transactions.giveBack(c)
        }
    }
}
