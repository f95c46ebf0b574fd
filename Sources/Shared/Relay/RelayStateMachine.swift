import NIOCore

/// What the relay asks of the world when it plans a unit (the shell answers from shared state; tests from
/// a fixed value). Asked only when needed: `knownReplay` and `now` only for a read read-your-writes must judge.
public protocol RelayWorld {
    /// The load-balance node is beyond delay_threshold.
    func standbyLagging() -> Bool
    /// The standby's replay position as any session learned it.
    func knownReplay() -> LSN?
    /// Monotonic time in nanoseconds.
    func now() -> UInt64
    func catalogFacts(_ c: Classification) -> CatalogFacts
}

/// One session's relay after login, as a pure value: which link each unit goes to and whether it may go now
/// or must wait for quiet links, what each link still owes (`LinkLedger`), read-your-writes, the BOTH
/// reconciliation (`SessionRouter`), async messages held while another link answers, and what happens to
/// each link when the client leaves, a backend closes or a node is detached. `ClientSession` cuts the
/// client's bytes (`ClientStreamCutter`), feeds events here and carries out the answers; `BackendConnection`
/// reports the few reply messages that matter (ErrorResponse, CopyIn/CopyBoth, ReadyForQuery) and asks
/// where each reply goes (`head`). No I/O, no clock: time is passed in.
///
/// The rules it keeps:
/// - units go out in the client's order, and the client's replies come back in that order: a unit may follow
///   a busy link only when it goes to that link alone and no other link is busy (pipelining on one link);
///   anything else waits until every link is quiet (`holding`, the client is not read meanwhile);
/// - an async message (NOTIFY, notice) from a link reaches the client only between forwarded replies;
/// - a client that sent Terminate has its links reset once their replies are in, except a link that would
///   wait forever (COPY FROM STDIN, a batch without its Sync), which is closed; a client that vanished
///   has its links closed;
/// - a lost or detached load-balance link that owes the client nothing leaves the session on the primary;
///   one that owes it a reply, or a lost primary, ends the session with an error.
public struct RelayStateMachine: Sendable {
    /// Where the relay is.
    public enum State: Equatable, Sendable {
        /// Units go out as the client's bytes are cut.
        case relaying
        /// A unit or a SHOW waits until every link is quiet (it needs both links, or a link it does not go
        /// to is busy); the client is not read until it has gone.
        case holding
        /// poold answers a SHOW pool_* itself; the client's next bytes wait.
        case answering
        /// The client sent Terminate: replies still due are awaited, then the links are reset.
        case terminating
        /// The relay is over: every link was released or closed.
        case closed
    }

    /// Why the session must end with an error.
    public enum Failure: Equatable, Sendable {
        /// The backend of `node` closed while it owed the client a reply (or it was the primary).
        case backendLost(node: Int)
        /// The load-balance node was detached while it was answering.
        case loadBalanceDetached(node: Int)
        /// The primary was detached (failover, switchover, detach).
        case primaryDetached(node: Int)
    }

    /// What the executor does.
    public enum Action: Equatable, Sendable {
        /// Reset the link's backend and pool it (its replies are all in).
        case release(Link)
        /// Close the link's backend without reuse.
        case close(Link)
        /// Write the async messages held back on this link to the client.
        case deliverHeldAsync(Link)
        /// Fail the primary's transaction (a read failed on the standby inside it), reply discarded.
        case failPrimaryTransaction
        /// The session's links changed (cancel targets, SHOW pool_pools).
        case linksChanged
        /// Every link is quiet and the session relays: send poold's own due queries, held input, read on.
        case quiet
        /// End the session with this error (its links are closed already).
        case fail(Failure)
    }

    private static let bothLinks: [Link] = [.primary, .loadBalance]
    private static let quietOnly: [Action] = [.quiet]

    public private(set) var state: State = .relaying
    public private(set) var router: SessionRouter
    public private(set) var ryw: ReadYourWrites
    // Per-link values inline (InlineArray): an array each would be one more heap block per idle session.
    private var ledgers: InlineArray<2, LinkLedger?>
    /// Node id per link, for failures.
    private let nodes: InlineArray<2, Int?>
    private var asyncHeld: InlineArray<2, Bool> = [false, false]
    /// Parse messages as the client sent them, by statement name, to prepare them on another link later.
    private var parseFrames: [String: ParsedStatement] = [:]
    /// A large CopyData message being streamed: its bytes still to come, and their link.
    public private(set) var copyStreamRemaining = 0
    public private(set) var copyStreamLink: Link = .primary

    /// pool_mode = transaction: statements are defined again per backend by the shell (`ClientStatements`),
    /// not per link, so the router's Parse-on-the-other-link and Close-elsewhere orders are not sent.
    public let transactionPooling: Bool

    /// `loadBalanceNode` nil: the session has no load-balance link.
    public init(primaryNode: Int, loadBalanceNode: Int?, policy: WritePolicy, traceTempTables: Bool = true,
                readYourWrites: Bool = false, transactionPooling: Bool = false) {
        self.transactionPooling = transactionPooling
        router = SessionRouter(primary: primaryNode, loadBalanceNode: loadBalanceNode, policy: policy,
                               traceTempTables: traceTempTables)
        ryw = ReadYourWrites(enabled: readYourWrites && loadBalanceNode != nil)
        ledgers = [LinkLedger(), loadBalanceNode.map { _ in LinkLedger() }]
        nodes = [primaryNode, loadBalanceNode]
    }

    // MARK: - What the links owe

    public func has(_ link: Link) -> Bool { ledgers[link.rawValue] != nil }
    /// Every link has answered everything sent to it.
    public var isQuiet: Bool { (ledgers[0]?.inFlight ?? 0) == 0 && (ledgers[1]?.inFlight ?? 0) == 0 }
    /// Where the reply now arriving on `link` goes (nil: nothing is pending, so it is asynchronous).
    @inline(__always)
    public func head(_ link: Link) -> ReplySink? { ledgers[link.rawValue]?.head }
    public func inFlight(_ link: Link) -> Int { ledgers[link.rawValue]?.inFlight ?? 0 }
    public func forwardsInFlight(_ link: Link) -> Int { ledgers[link.rawValue]?.forwardsInFlight ?? 0 }
    public func copyInWaitingForClient(_ link: Link) -> Bool { ledgers[link.rawValue]?.copyInWaitingForClient ?? false }
    /// Transaction pooling: nothing is owed, no transaction, batch or COPY is open on any link — the links
    /// may go back to the pool.
    public var betweenTransactions: Bool {
        state == .relaying && isQuiet && router.openBatch == nil && copyStreamRemaining == 0
            && router.status[0] == .idle && (ledgers[1] == nil || router.status[1] == .idle)
    }
    /// No link is forwarding a reply: an async message may go to the client now.
    public var acceptsAsync: Bool { forwardsInFlight(.primary) == 0 && forwardsInFlight(.loadBalance) == 0 }

    // MARK: - Client units

    /// What to send for one unit.
    public struct Dispatch: Sendable {
        /// Messages poold sends first, replies dropped: Parse+Sync to prepare a statement the unit binds on
        /// that link, Close+Sync of a statement the unit closes elsewhere.
        public var before: [(Link, ByteBuffer)]
        /// The link that gets the unit's bytes and whose reply the client reads.
        public var forward: Link
        /// The load-balance link gets a copy (reply dropped): the unit's bytes, or `loadBalanceQuery`.
        public var copyToLoadBalance: Bool
        public var loadBalanceQuery: ByteBuffer?
        public var plan: UnitPlan
    }

    /// What to do with a unit.
    public enum Decision: Sendable {
        case send(Dispatch)
        /// It must wait for quiet links: the state is `holding`; after `.quiet`, `resume()` says when to cut
        /// it again.
        case hold
        /// The router picked a link the session lacks: a bug in poold, not the client's fault.
        case routingError
    }

    /// A whole unit was cut. `terminators`: the ReadyForQuery messages it is owed. `restore` (transaction
    /// pooling): the messages to send first on a link the unit goes to, each answered by one ReadyForQuery
    /// that is dropped.
    public mutating func unit<World: RelayWorld>(_ unit: ClientUnit, terminators: Int, parses: [(String, ParsedStatement)],
                                                 world: World, restore: (Link) -> [ByteBuffer] = { _ in [] }) -> Decision {
        guard state == .relaying else { return .hold }
        var plan: UnitPlan
        if isQuiet {
            // Read-your-writes is asked only about a unit that would go to the standby.
            var ryw = self.ryw
            let hasStandby = ledgers[1] != nil
            plan = router.plan(unit, standbyLagging: world.standbyLagging(), mayUseStandby: {
                guard ryw.state != .clean, hasStandby else { return true }
                return ryw.standbyMayServe(knownReplay: world.knownReplay(), now: world.now())
            }, facts: { world.catalogFacts($0) })
            self.ryw = ryw
        } else {
            // Busy links: the unit may follow only on the one link already answering, behind its replies,
            // when that link owes the client everything it is doing (no poold query of its own in between).
            var trial = router
            let p = trial.plan(unit, standbyLagging: world.standbyLagging(), facts: { world.catalogFacts($0) })
            let other: Link = p.forward == .primary ? .loadBalance : .primary
            // A read that read-your-writes might keep off the standby waits for quiet links to decide.
            guard p.occupiesForwardOnly, inFlight(other) == 0, inFlight(p.forward) > 0,
                  p.forward == .primary || ryw.state == .clean,
                  forwardsInFlight(p.forward) == inFlight(p.forward) else {
                state = .holding
                return .hold
            }
            router = trial
            plan = p
        }
        guard ledgers[plan.forward.rawValue] != nil else { return .routingError }
        for (name, parsed) in parses { parseFrames[name] = parsed }
        var before: [(Link, ByteBuffer)] = []
        if transactionPooling {
            plan.prepareFirst.removeAll()
            plan.closeElsewhere.removeAll()
        }
        if transactionPooling {
            for link in Self.bothLinks where link == plan.forward || (link == .loadBalance && plan.copyToLoadBalance && ledgers[1] != nil) {
                for frame in restore(link) {
                    before.append((link, frame))
                    ledgers[link.rawValue]!.sent(.discard)
                }
            }
        }
        for order in plan.prepareFirst {
            guard let parsed = parseFrames[order.statement], ledgers[order.link.rawValue] != nil else {
                router.forget(statement: order.statement)
                continue
            }
            var out = parsed.frame
            FrontendMessage.sync.encode(into: &out)
            before.append((order.link, out))
            ledgers[order.link.rawValue]!.sent(.discard)
        }
        for order in plan.closeElsewhere where ledgers[order.link.rawValue] != nil {
            var out = ByteBuffer()
            out.writeMessage(UInt8(ascii: "C")) { b in
                b.writeInteger(UInt8(ascii: "S"))
                _ = b.writeCString(order.statement)
            }
            FrontendMessage.sync.encode(into: &out)
            before.append((order.link, out))
            ledgers[order.link.rawValue]!.sent(.discard)
            parseFrames[order.statement] = nil
        }
        if parseFrames.count > router.statements.count {
            parseFrames = parseFrames.filter { router.statements[$0.key] != nil }
        }
        var extended = false
        if unit.complete, let first = unit.parts.first {
            switch first {
            case .query, .functionCall: break
            default: extended = true
            }
        }
        let syncOnly = unit.complete && unit.parts.isEmpty
        for _ in 0..<terminators { ledgers[plan.forward.rawValue]!.sent(.forward, extended: extended || syncOnly, syncOnly: syncOnly) }
        var copy = false
        var query: ByteBuffer? = nil
        if plan.copyToLoadBalance, ledgers[1] != nil {
            copy = true
            if let text = plan.loadBalanceText {
                var out = ByteBuffer()
                FrontendMessage.query(text).encode(into: &out)
                query = out
            }
            for _ in 0..<terminators { ledgers[1]!.sent(.discard, extended: extended || syncOnly, syncOnly: syncOnly) }
            router.bothSent()
        }
        if plan.writes, plan.forward == .primary { ryw.writeSent() }
        return .send(Dispatch(before: before, forward: plan.forward, copyToLoadBalance: copy, loadBalanceQuery: query, plan: plan))
    }

    /// The category of a statement the client prepared earlier (for the stream cutter).
    public func category(ofStatement name: String) -> StatementCategory? { parseFrames[name]?.category }

    /// The link COPY data from the client goes to: the link of the statement that asked for it.
    public var copyLink: Link { ledgers[router.lastForward.rawValue] != nil ? router.lastForward : .primary }

    /// The client sent a whole COPY message (`id`: d, c or f); returns its link.
    public mutating func copyMessage(_ id: UInt8) -> Link {
        let link = copyLink
        if id == UInt8(ascii: "c") || id == UInt8(ascii: "f") { ledgers[link.rawValue]?.clientEndedCopy() }
        return link
    }

    /// The client's bytes of a large CopyData message: the first `bytes` of them (or the start of one with
    /// `remaining` still to come) go to the returned link.
    public mutating func copyStream(started remaining: Int) -> Link {
        copyStreamLink = copyLink
        copyStreamRemaining = remaining
        return copyStreamLink
    }

    public mutating func copyStreamed(_ bytes: Int) { copyStreamRemaining -= bytes }

    /// poold sends its own query on `link` (catalog lookup, WAL position), reply handled by `sink`.
    public mutating func sentByPoold(_ sink: ReplySink, on link: Link) {
        ledgers[link.rawValue]?.sent(sink)
    }

    /// The primary's WAL position is due and may be asked now (quiet, outside transactions and batches).
    public var positionQueryMayGo: Bool {
        ryw.positionQueryDue && has(.primary) && inFlight(.primary) == 0 && router.status[0] == .idle && router.openBatch == nil
    }
    /// The standby probe is due and may go now.
    public var probeMayGo: Bool {
        ryw.probeDue && has(.loadBalance) && inFlight(.loadBalance) == 0 && router.status[1] == .idle && router.openBatch == nil
    }
    /// Both of the above in one call. Mutating only so the shell calls it in place: reading the relay through
    /// a class property copies the whole value (and retains its parts) on every ReadyForQuery.
    public mutating func positionQueriesDue() -> (primary: Bool, standby: Bool) {
        guard ryw.positionQueryDue || ryw.probeDue else { return (false, false) }
        return (positionQueryMayGo, probeMayGo)
    }
    /// Catalog lookups may run on the primary: quiet and idle, so a lookup is its own implicit transaction.
    /// Not inside the client's open extended batch: the lookup's replies would take the batch's place.
    public var lookupsMayGo: Bool {
        has(.primary) && inFlight(.primary) == 0 && router.status[0] == .idle && router.openBatch == nil
    }

    public mutating func positionQuerySent() {
        ryw.positionQuerySent()
        sentByPoold(.position, on: .primary)
    }

    public mutating func probeSent(now: UInt64) {
        ryw.probeSent(now: now)
        sentByPoold(.position, on: .loadBalance)
    }

    /// A SHOW pool_* was cut: true when poold may answer it now (quiet links), else the relay holds.
    public mutating func show() -> Bool {
        guard state == .relaying else { return false }
        guard isQuiet else { state = .holding; return false }
        state = .answering
        return true
    }

    /// poold's answer to a SHOW went out.
    public mutating func showAnswered() { if state == .answering { state = .relaying } }

    /// After `.quiet`: a held unit may be cut again.
    public mutating func resume() -> Bool {
        guard state == .holding, isQuiet else { return false }
        state = .relaying
        return true
    }

    // MARK: - Replies

    /// An ErrorResponse arrived on `link`.
    public mutating func errorReceived(on link: Link) { ledgers[link.rawValue]?.errorSeen() }

    /// CopyInResponse or CopyBothResponse arrived on `link`.
    public mutating func copyInReceived(on link: Link) { ledgers[link.rawValue]?.copyInStarted() }

    /// An async message arrived on `link`: true to deliver it now, false to hold it until no link forwards.
    public mutating func asyncReceived(on link: Link) -> Bool {
        if acceptsAsync { return true }
        asyncHeld[link.rawValue] = true
        return false
    }

    /// How one unit ended, at its ReadyForQuery.
    public struct UnitEnd: Equatable, Sendable {
        public var sink: ReplySink?
        public var failed: Bool
        public var actions: [Action]
    }

    /// ReadyForQuery arrived on `link`. `position`: the value of a position query's one row.
    public mutating func readyForQuery(on link: Link, _ status: TransactionStatus, position: LSN? = nil) -> UnitEnd {
        guard let finished = ledgers[link.rawValue]?.readyForQuery(status) else {
            return UnitEnd(sink: nil, failed: false, actions: [])
        }
        var actions: [Action] = []
        switch finished.sink {
        case .forward?:
            router.readyForQuery(link, status, forwarded: true)
            if link == .primary { ryw.primaryUnitFinished(status: status) }
            if finished.failed { router.unitFailed(on: link) }
            if link == .loadBalance, router.primaryMustAbort(), ledgers[0] != nil {
                ledgers[0]!.sent(.discard)
                actions.append(.failPrimaryTransaction)
            }
        case .discard?:
            router.readyForQuery(link, status, forwarded: false)
            if finished.failed { router.unitFailed(on: link) }
        case .position?:
            if link == .primary { ryw.positionLearned(finished.failed ? nil : position) } else {
                ryw.standbyReplayLearned(finished.failed ? nil : position)
            }
        case .capture?, nil:
            break
        }
        if asyncHeld[0] || asyncHeld[1], acceptsAsync {
            for l in Self.bothLinks where asyncHeld[l.rawValue] {
                asyncHeld[l.rawValue] = false
                actions.append(.deliverHeldAsync(l))
            }
        }
        if isQuiet { becameQuiet(&actions) }
        return UnitEnd(sink: finished.sink, failed: finished.failed, actions: actions)
    }

    /// Nothing is in flight: settle a BOTH outcome, drop a standby the session no longer uses, and either
    /// finish a Terminate or let the session go on.
    private mutating func becameQuiet(_ actions: inout [Action]) {
        router.linksQuiet()
        if router.pinned, ledgers[1] != nil {
            drop(.loadBalance)
            actions.append(.release(.loadBalance))
            actions.append(.linksChanged)
        }
        switch state {
        case .terminating:
            releaseAll(&actions)
        case .relaying, .holding:
            // The common end of a statement: one shared array, no allocation per ReadyForQuery.
            if actions.isEmpty { actions = Self.quietOnly } else { actions.append(.quiet) }
        case .answering, .closed:
            break
        }
    }

    private mutating func drop(_ link: Link) {
        ledgers[link.rawValue] = nil
        asyncHeld[link.rawValue] = false
        if link == .loadBalance { ryw.reset() }
    }

    private mutating func releaseAll(_ actions: inout [Action]) {
        for l in Self.bothLinks where ledgers[l.rawValue] != nil {
            drop(l)
            actions.append(.release(l))
        }
        state = .closed
    }

    private mutating func closeAll(_ actions: inout [Action]) {
        for l in Self.bothLinks where ledgers[l.rawValue] != nil {
            drop(l)
            actions.append(.close(l))
        }
        state = .closed
    }

    // MARK: - Ends

    /// The client sent Terminate. A link in COPY FROM STDIN, or inside a batch sent without its Sync, would
    /// wait forever: it is closed (PostgreSQL aborts what it was doing, as when a client itself leaves).
    public mutating func clientTerminated() -> [Action] {
        guard state != .closed, state != .terminating else { return [] }
        state = .terminating
        var actions: [Action] = []
        for l in Self.bothLinks {
            guard let ledger = ledgers[l.rawValue] else { continue }
            if ledger.exit(clean: true, batchOpen: router.openBatch == l) == .close {
                drop(l)
                actions.append(.close(l))
            }
        }
        if isQuiet { releaseAll(&actions) }
        return actions
    }

    /// The client's connection closed without Terminate: its links are not reused. A session that sent
    /// Terminate keeps waiting for its replies.
    public mutating func clientVanished() -> [Action] {
        guard state != .terminating else { return [] }
        return abort()
    }

    /// poold ends the session (shutdown, client_idle_limit, a protocol violation): every link is closed.
    public mutating func abort() -> [Action] {
        var actions: [Action] = []
        closeAll(&actions)
        return actions
    }

    /// Before login: no relay yet (its events are ignored).
    public static var notStarted: RelayStateMachine {
        var m = RelayStateMachine(primaryNode: -1, loadBalanceNode: nil, policy: .transaction)
        m.ledgers = [nil, nil]
        m.state = .closed
        return m
    }

    /// The replies to a client that sent Terminate did not come in time.
    public mutating func terminatingTimedOut() -> [Action] {
        guard state == .terminating else { return [] }
        var actions: [Action] = []
        closeAll(&actions)
        return actions
    }

    /// The backend of `link` closed its connection.
    public mutating func backendClosed(_ link: Link) -> [Action] {
        guard ledgers[link.rawValue] != nil else { return [] }
        let owedClient = forwardsInFlight(link) > 0
        drop(link)
        var actions: [Action] = []
        switch state {
        case .relaying, .holding, .answering:
            if link == .loadBalance, !owedClient {
                // The standby went away between its replies: the session goes on with the primary.
                router.pin()
                actions.append(.linksChanged)
                if isQuiet { becameQuiet(&actions) }
                return actions
            }
            closeAll(&actions)
            actions.append(.fail(.backendLost(node: nodes[link.rawValue] ?? -1)))
        case .terminating:
            if isQuiet { releaseAll(&actions) }
        case .closed:
            break
        }
        return actions
    }

    /// The node of `link` was detached (failover, switchover, detach).
    public mutating func nodeDetached(_ link: Link) -> [Action] {
        guard ledgers[link.rawValue] != nil, state != .closed else { return [] }
        var actions: [Action] = []
        let node = nodes[link.rawValue] ?? -1
        if link == .loadBalance {
            if forwardsInFlight(.loadBalance) == 0 {
                drop(.loadBalance)
                actions.append(.close(.loadBalance))
                router.pin()
                actions.append(.linksChanged)
                if isQuiet { becameQuiet(&actions) }
                return actions
            }
            let terminating = state == .terminating
            closeAll(&actions)
            if !terminating { actions.append(.fail(.loadBalanceDetached(node: node))) }
            return actions
        }
        let terminating = state == .terminating
        closeAll(&actions)
        if !terminating { actions.append(.fail(.primaryDetached(node: node))) }
        return actions
    }
}
