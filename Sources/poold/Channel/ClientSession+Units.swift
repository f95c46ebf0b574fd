import NIOCore
import Shared

/// A catalog lookup sent to the primary after a unit that named unknown functions or relations.
struct CatalogLookup {
    var functions: [String]
    var relations: [String]
}

/// Cutting the client's stream into units and carrying out `SessionRouter`'s plans.
extension ClientSession {
    /// Every link has answered everything sent to it.
    var isQuiet: Bool { links.allSatisfy { ($0?.inFlight ?? 0) == 0 } }

    func flushLinks() {
        for i in 0..<2 where linkNeedsFlush[i] {
            linkNeedsFlush[i] = false
            links[i]?.flush()
        }
    }

    private func write(_ buffer: ByteBuffer, to link: Link) {
        links[link.rawValue]?.write(buffer)
        linkNeedsFlush[link.rawValue] = true
    }

    /// Sends every complete unit it may send now; stops at a unit that must wait for quiet links.
    func processInput() {
        while case .relaying = phase, !holding, input.readableBytes > 0 {
            if copyStreamRemaining > 0 {
                let n = min(copyStreamRemaining, input.readableBytes)
                write(input.readSlice(length: n)!, to: copyStreamLink)
                copyStreamRemaining -= n
                continue
            }
            let pending: ClientPiece?
            do { pending = try nextPending() } catch {
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
                let link = links[router.lastForward.rawValue] != nil ? router.lastForward : .primary
                let id = input.getInteger(at: input.readerIndex, as: UInt8.self)
                if id == UInt8(ascii: "c") || id == UInt8(ascii: "f") { links[link.rawValue]?.clientEndedCopy() }
                write(input.getSlice(at: input.readerIndex, length: end - input.readerIndex)!, to: link)
                input.moveReaderIndex(to: end)
            case .copyDataStart(let end, let remaining):
                copyStreamLink = links[router.lastForward.rawValue] != nil ? router.lastForward : .primary
                write(input.getSlice(at: input.readerIndex, length: end - input.readerIndex)!, to: copyStreamLink)
                input.moveReaderIndex(to: end)
                copyStreamRemaining = remaining
            case .show(let command, let end):
                guard isQuiet else { hold(); return }
                input.moveReaderIndex(to: end)
                answer(command)
                return
            case .unit(let unit, let end, let terminators, let parses, let categories):
                guard send(unit, end: end, terminators: terminators, parses: parses, categories: categories) else {
                    hold()
                    return
                }
            }
        }
        if input.readableBytes == 0 {
            input = ByteBuffer()
        } else if input.readerIndex > 65_536 {
            input.discardReadBytes()
        }
    }

    private func hold() {
        holding = true
        pendingRead = true
    }

    /// The next piece of the client's unsent bytes (pure: `ClientStreamCutter`).
    private func nextPending() throws -> ClientPiece? {
        try ClientStreamCutter.next(in: input, classify: classify, knownCategory: { [parseFrames] in parseFrames[$0]?.category })
    }

    private func classify(_ text: String) -> Classification {
        var c = routing.allowSQLComments ? StatementClassifier.classify(text, allowSQLComments: true) : pool.classify(text)
        if !routing.primaryPatterns.isEmpty, c.destination != .primary,
           RoutingSettings.matchesPrimaryPattern(text, patterns: routing.primaryPatterns) {
            c.destination = .primary
        }
        return c
    }

    /// Plans and sends one unit; false when it must wait until the links are quiet.
    private func send(_ unit: ClientUnit, end: Int, terminators: Int, parses: [(String, ParsedStatement)],
                      categories: [StatementCategory]) -> Bool {
        let quiet = isQuiet
        let runtime = self.runtime
        let lagging = links[1].map { runtime.isLagging($0.node.id) } ?? false
        var plan: UnitPlan
        if quiet {
            // Read-your-writes is asked only about a unit that would go to the standby.
            plan = router.plan(unit, standbyLagging: lagging, mayUseStandby: { [self] in
                guard ryw.state != .clean, let standby = links[1] else { return true }
                return ryw.standbyMayServe(knownReplay: runtime.knownReplay(node: standby.node.id),
                                           now: NIODeadline.now().uptimeNanoseconds)
            }, facts: { runtime.catalogFacts($0) })
        } else {
            // Busy links: the unit may follow only on the one link already answering, behind its replies.
            var trial = router
            let p = trial.plan(unit, standbyLagging: lagging, facts: { runtime.catalogFacts($0) })
            let busy = (0..<2).filter { (links[$0]?.inFlight ?? 0) > 0 }
            // A read that read-your-writes might keep off the standby waits for quiet links to decide.
            guard p.links == [p.forward], busy == [p.forward.rawValue], p.forward == .primary || ryw.state == .clean,
                  let l = links[p.forward.rawValue], l.forwardsInFlight == l.inFlight else { return false }
            router = trial
            plan = p
        }
        guard let forward = links[plan.forward.rawValue] else {
            // The router never picks a link the session lacks; this is a bug, not a client error.
            protocolViolation("internal routing error")
            return false
        }
        for (name, parsed) in parses { parseFrames[name] = parsed }
        for order in plan.prepareFirst {
            guard let parsed = parseFrames[order.statement] else { router.forget(statement: order.statement); continue }
            var out = parsed.frame
            FrontendMessage.sync.encode(into: &out)
            write(out, to: order.link)
            links[order.link.rawValue]?.expect(.discard)
        }
        for order in plan.closeElsewhere {
            var out = ByteBuffer()
            out.writeMessage(UInt8(ascii: "C")) { b in
                b.writeInteger(UInt8(ascii: "S"))
                _ = b.writeCString(order.statement)
            }
            FrontendMessage.sync.encode(into: &out)
            write(out, to: order.link)
            links[order.link.rawValue]?.expect(.discard)
            parseFrames[order.statement] = nil
        }
        if parseFrames.count > router.statements.count {
            parseFrames = parseFrames.filter { router.statements[$0.key] != nil }
        }
        releaseDatabases(named: unit)
        let slice = input.getSlice(at: input.readerIndex, length: end - input.readerIndex)!
        input.moveReaderIndex(to: end)
        write(slice, to: plan.forward)
        var extended = false
        if unit.complete, let first = unit.parts.first {
            switch first {
            case .query, .functionCall: break
            default: extended = true
            }
        }
        let syncOnly = unit.complete && unit.parts.isEmpty
        for _ in 0..<terminators { forward.expect(.forward, extended: extended || syncOnly, syncOnly: syncOnly) }
        if plan.copyToLoadBalance, let standby = links[1] {
            if let text = plan.loadBalanceText {
                var out = ByteBuffer()
                FrontendMessage.query(text).encode(into: &out)
                write(out, to: .loadBalance)
            } else {
                write(slice, to: .loadBalance)
            }
            for _ in 0..<terminators { standby.expect(.discard, extended: extended || syncOnly, syncOnly: syncOnly) }
            router.bothSent()
        }
        if plan.writes, plan.forward == .primary { ryw.writeSent() }
        for c in categories { runtime.statistics.count(node: forward.node.id, c) }
        if !plan.learnFunctions.isEmpty || !plan.learnRelations.isEmpty {
            let claimed = runtime.claimLookups(functions: plan.learnFunctions, relations: plan.learnRelations)
            if !claimed.functions.isEmpty || !claimed.relations.isEmpty {
                lookupsToSend.append(CatalogLookup(functions: claimed.functions, relations: claimed.relations))
            }
        }
        if terminators > 0 { showStatus(.executing) }
        return true
    }

    /// Sends the catalog lookups that are due, when the primary is quiet and outside a transaction: a lookup
    /// then runs as its own implicit transaction and cannot disturb one of the client's.
    func sendLookups() {
        sendPositionQueries()
        guard !lookupsToSend.isEmpty else { return }
        logger.debug("catalog lookups due", metadata: ["count": "\(lookupsToSend.count)", "status": "\(router.status)",
                                                       "inFlight": "\(links[0]?.inFlight ?? -1)"])
        guard let p = links[0], p.inFlight == 0, router.status[0] == .idle else { return }
        for lookup in lookupsToSend {
            for (names, query, functions) in [(lookup.functions, CatalogCache.functionQuery, true),
                                              (lookup.relations, CatalogCache.relationQuery, false)] where !names.isEmpty {
                var out = ByteBuffer()
                FrontendMessage.query(query(names)).encode(into: &out)
                write(out, to: .primary)
                p.expect(.capture)
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
        if ryw.positionQueryDue, let p = links[0], p.inFlight == 0, router.status[0] == .idle, router.openBatch == nil {
            var out = ByteBuffer()
            FrontendMessage.query("SELECT pg_catalog.pg_current_wal_lsn()::text").encode(into: &out)
            write(out, to: .primary)
            p.expect(.position)
            ryw.positionQuerySent()
        }
        if ryw.probeDue, let s = links[1], s.inFlight == 0, router.status[1] == .idle, router.openBatch == nil {
            var out = ByteBuffer()
            FrontendMessage.query("SELECT pg_catalog.pg_last_wal_replay_lsn()::text").encode(into: &out)
            write(out, to: .loadBalance)
            s.expect(.position)
            ryw.probeSent(now: NIODeadline.now().uptimeNanoseconds)
        }
        flushLinks()
    }

    /// SHOW pool_processes' status column.
    func showStatus(_ status: SessionActivity.Status) { activity?.set(status) }
}
