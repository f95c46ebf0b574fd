import NIOCore
import Shared

/// A catalog lookup sent to the primary after a unit that named unknown functions or relations.
struct CatalogLookup {
    var functions: [String]
    var relations: [String]
}

/// Cutting the client's stream into units and carrying out `RelayStateMachine`'s dispatches.
extension ClientSession: RelayWorld {
    func flushLinks() {
        for i in 0..<2 where linkNeedsFlush[i] {
            linkNeedsFlush[i] = false
            links[i]?.flush()
        }
    }

    func write(_ buffer: ByteBuffer, to link: Link) {
        links[link.rawValue]?.write(buffer)
        linkNeedsFlush[link.rawValue] = true
    }

    /// Sends every complete unit it may send now; stops at a unit that must wait for quiet links.
    func processInput() {
        while case .relaying = phase, relay.state == .relaying, input.readableBytes > 0 {
            if relay.copyStreamRemaining > 0 {
                let n = min(relay.copyStreamRemaining, input.readableBytes)
                write(input.readSlice(length: n)!, to: relay.copyStreamLink)
                relay.copyStreamed(n)
                continue
            }
            let pending: ClientPiece?
            do {
                pending = try ClientStreamCutter.next(in: input, classify: classify, knownCategory: { self.relay.category(ofStatement: $0) })
            } catch {
                protocolViolation("\(error)")
                return
            }
            guard let pending else { break }
            switch pending {
            case .terminate:
                input.moveReaderIndex(forwardBy: 5)
                flushLinks()
                clientTerminated()
                return
            case .copyData(let end):
                let link = relay.copyMessage(input.getInteger(at: input.readerIndex, as: UInt8.self)!)
                write(input.getSlice(at: input.readerIndex, length: end - input.readerIndex)!, to: link)
                input.moveReaderIndex(to: end)
            case .copyDataStart(let end, let remaining):
                let link = relay.copyStream(started: remaining)
                write(input.getSlice(at: input.readerIndex, length: end - input.readerIndex)!, to: link)
                input.moveReaderIndex(to: end)
            case .show(let command, let end):
                guard relay.show() else { pendingRead = true; return }
                input.moveReaderIndex(to: end)
                answer(command)
                return
            case .unit(let unit, let end, let terminators, let parses, let categories):
                let decision: RelayStateMachine.Decision
                if transactionPooling {
                    // Non-escaping: no allocation per unit.
                    func restore(_ link: Link) -> [ByteBuffer] { restoreStatements(unit, parses: parses, on: link) }
                    if linksMissing {
                        let world = FrozenWorld(self)
                        guard ensureLinks(unit, terminators: terminators, parses: parses, world: world) else {
                            pendingRead = true
                            return
                        }
                        pinIfNeeded(unit)
                        world.replayAnswers()
                        decision = relay.unit(unit, terminators: terminators, parses: parses, world: world, restore: restore)
                    } else {
                        pinIfNeeded(unit)
                        decision = relay.unit(unit, terminators: terminators, parses: parses, world: self, restore: restore)
                    }
                } else if linksMissing {
                    // Session mode opens the load-balance link at the first unit that goes there.
                    let world = FrozenWorld(self)
                    guard ensureLinks(unit, terminators: terminators, parses: parses, world: world) else {
                        pendingRead = true
                        return
                    }
                    world.replayAnswers()
                    decision = relay.unit(unit, terminators: terminators, parses: parses, world: world)
                } else {
                    decision = relay.unit(unit, terminators: terminators, parses: parses, world: self)
                }
                switch decision {
                case .hold:
                    pendingRead = true
                    return
                case .routingError:
                    // The router never picks a link the session lacks; this is a bug, not a client error.
                    protocolViolation("internal routing error")
                    return
                case .send(let dispatch):
                    send(dispatch, unit: unit, end: end, terminators: terminators, categories: categories)
                }
            }
        }
        if input.readableBytes == 0 {
            input = ByteBuffer()
        } else if input.readerIndex > 65_536 {
            input.discardReadBytes()
        }
    }

    private func classify(_ text: String) -> Classification {
        var c = routing.allowSQLComments ? StatementClassifier.classify(text, allowSQLComments: true) : pool.classify(text)
        if !routing.primaryPatterns.isEmpty, c.destination != .primary,
           RoutingSettings.matchesPrimaryPattern(text, patterns: routing.primaryPatterns) {
            c.destination = .primary
        }
        return c
    }

    // RelayWorld: what the relay asks of shared state when it plans a unit.
    func standbyLagging() -> Bool { loadBalanceNodeID.map { runtime.isLagging($0) } ?? false }
    func knownReplay() -> LSN? { loadBalanceNodeID.flatMap { runtime.knownReplay(node: $0) } }
    func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
    func catalogFacts(_ c: Classification) -> CatalogFacts { runtime.catalogFacts(c) }

    /// Writes one unit as the relay dispatched it.
    private func send(_ dispatch: RelayStateMachine.Dispatch, unit: ClientUnit, end: Int, terminators: Int,
                      categories: [StatementCategory]) {
        for (link, bytes) in dispatch.before { write(bytes, to: link) }
        releaseDatabases(named: unit)
        let slice = input.getSlice(at: input.readerIndex, length: end - input.readerIndex)!
        input.moveReaderIndex(to: end)
        write(slice, to: dispatch.forward)
        if dispatch.copyToLoadBalance { write(dispatch.loadBalanceQuery ?? slice, to: .loadBalance) }
        let plan = dispatch.plan
        if let node = links[dispatch.forward.rawValue]?.node.id {
            let shard = pool.shard
            for c in categories { runtime.statistics.count(shard: shard, node: node, c) }
        }
        if !plan.learnFunctions.isEmpty || !plan.learnRelations.isEmpty {
            let claimed = runtime.claimLookups(functions: plan.learnFunctions, relations: plan.learnRelations)
            if !claimed.functions.isEmpty || !claimed.relations.isEmpty {
                lookupsToSend.append(CatalogLookup(functions: claimed.functions, relations: claimed.relations))
            }
        }
        if terminators > 0 { showStatus(.executing) }
    }

    /// Sends the catalog lookups that are due, when the primary is quiet and outside a transaction: a lookup
    /// then runs as its own implicit transaction and cannot disturb one of the client's.
    func sendLookups() {
        sendPositionQueries()
        guard !lookupsToSend.isEmpty else { return }
        logger.debug("catalog lookups due", metadata: ["count": "\(lookupsToSend.count)", "status": "\(relay.router.status)",
                                                       "inFlight": "\(relay.inFlight(.primary))"])
        // Transaction pooling: only on a primary link the session holds now.
        guard relay.lookupsMayGo, links[0] != nil else { return }
        for lookup in lookupsToSend {
            for (names, query, functions) in [(lookup.functions, CatalogCache.functionQuery, true),
                                              (lookup.relations, CatalogCache.relationQuery, false)] where !names.isEmpty {
                var out = ByteBuffer()
                FrontendMessage.query(query(names)).encode(into: &out)
                write(out, to: .primary)
                relay.sentByPoold(.capture, on: .primary)
                pendingCaptures.append(CatalogLookup(functions: functions ? names : [], relations: functions ? [] : names))
            }
        }
        lookupsToSend.removeAll()
        flushLinks()
    }

    /// Before DROP DATABASE x (and the other statements of `DatabaseCommand`), every idle cached connection
    /// to x is closed on every node; PostgreSQL waits a few seconds for such backends to exit.
    private func releaseDatabases(named unit: ClientUnit) {
        for part in unit.parts {
            let text: String
            switch part {
            case .query(let c, let t) where c.kind != .read: text = t
            case .parse(_, let c, let t) where c.kind != .read: text = t
            default: continue
            }
            for name in DatabaseCommand.databasesToRelease(in: text) {
                logger.debug("closing idle connections to a database", metadata: ["client_id": "\(id)", "database": "\(name)"])
                runtime.releaseDatabase(name)
            }
        }
    }

    /// Read-your-writes: the primary's WAL position after a write transaction, the standby's replay position
    /// when a read waited for it — each on a quiet link outside a transaction (and outside a client's batch).
    private func sendPositionQueries() {
        // Transaction pooling: a link given back is not asked (its ledger would wait for a reply forever).
        let due = relay.positionQueriesDue()
        if due.primary, links[0] != nil {
            var out = ByteBuffer()
            FrontendMessage.query("SELECT pg_catalog.pg_current_wal_lsn()::text").encode(into: &out)
            write(out, to: .primary)
            relay.positionQuerySent()
        }
        if due.standby, links[1] != nil {
            var out = ByteBuffer()
            FrontendMessage.query("SELECT pg_catalog.pg_last_wal_replay_lsn()::text").encode(into: &out)
            write(out, to: .loadBalance)
            relay.probeSent(now: now())
        }
        flushLinks()
    }

    /// SHOW pool_processes' status column.
    func showStatus(_ status: SessionActivity.Status) { activity?.set(status) }
}
