import NIOCore
import Shared
import Testing

/// What the world tells the relay in these transcripts: nothing lags, no catalog facts, a fixed clock.
struct StillWorld: RelayWorld {
    var lagging = false
    var replay: LSN? = nil
    var time: UInt64 = 1_000_000_000
    func standbyLagging() -> Bool { lagging }
    func knownReplay() -> LSN? { replay }
    func now() -> UInt64 { time }
    func catalogFacts(_ c: Classification) -> CatalogFacts { .none }
}

/// Transcripts of `RelayStateMachine`: units in, dispatches and holds out, replies in, and what every link
/// gets when the client leaves, a backend closes or a node is detached — each case of issue 9.
@Suite struct RelayStateMachineTests {
    typealias M = RelayStateMachine
    func q(_ sql: String) -> ClientUnit { ClientUnit(parts: [.query(StatementClassifier.classify(sql), text: sql)]) }
    func parse(_ name: String, _ sql: String) -> ClientUnit.Part { .parse(name: name, StatementClassifier.classify(sql), text: sql) }
    /// A primary (node 0) and a load-balance link (node 2), or the primary alone.
    func relay(balanced: Bool = true, ryw: Bool = false) -> M {
        M(primaryNode: 0, loadBalanceNode: balanced ? 2 : nil, policy: .transaction, readYourWrites: ryw)
    }

    /// Sends `unit`: the dispatch, or nil when it holds (or fails).
    func send(_ m: inout M, _ unit: ClientUnit, terminators: Int = 1, world: StillWorld = StillWorld()) -> M.Dispatch? {
        if case .send(let d) = m.unit(unit, terminators: terminators, parses: [], world: world) { return d }
        return nil
    }
    func rfq(_ m: inout M, _ link: Link, _ s: TransactionStatus = .idle, position: LSN? = nil) -> M.UnitEnd {
        m.readyForQuery(on: link, s, position: position)
    }
    func terminate(_ m: inout M) -> [M.Action] { m.clientTerminated() }
    func vanish(_ m: inout M) -> [M.Action] { m.clientVanished() }
    func closed(_ m: inout M, _ l: Link) -> [M.Action] { m.backendClosed(l) }
    func detached(_ m: inout M, _ l: Link) -> [M.Action] { m.nodeDetached(l) }
    func async(_ m: inout M, _ l: Link) -> Bool { m.asyncReceived(on: l) }
    func resume(_ m: inout M) -> Bool { m.resume() }
    func show(_ m: inout M) -> Bool { m.show() }

    @Test func readsPipelineOnOneLinkAndWaitForTheOtherLinkToBeQuiet() {
        var m = relay()
        let a = send(&m, q("SELECT 1"))
        #expect(a?.forward == .loadBalance)
        // A second read follows on the busy standby, behind the first reply.
        #expect(send(&m, q("SELECT 2"))?.forward == .loadBalance)
        #expect(m.inFlight(.loadBalance) == 2 && m.state == .relaying)
        // A write needs the primary while the standby still answers: the client's order is kept by holding.
        #expect(send(&m, q("INSERT INTO t VALUES (1)")) == nil)
        #expect(m.state == .holding && !resume(&m))
        #expect(rfq(&m, .loadBalance).actions.isEmpty)
        #expect(rfq(&m, .loadBalance).actions == [.quiet])
        #expect(resume(&m) && m.state == .relaying)
        #expect(send(&m, q("INSERT INTO t VALUES (1)"))?.forward == .primary)
        // Writes pipeline on the primary, too.
        #expect(send(&m, q("INSERT INTO t VALUES (2)"))?.forward == .primary)
        #expect(m.inFlight(.primary) == 2)
    }

    @Test func transactionControlGoesToBothLinksOnlyWhenBothAreQuiet() {
        var m = relay()
        _ = send(&m, q("SELECT 1"))
        #expect(send(&m, q("BEGIN")) == nil, "BEGIN needs both links")
        #expect(rfq(&m, .loadBalance).actions == [.quiet] && resume(&m))
        let begin = send(&m, q("BEGIN"))
        #expect(begin?.forward == .primary && begin?.copyToLoadBalance == true)
        #expect(m.forwardsInFlight(.primary) == 1 && m.inFlight(.loadBalance) == 1 && m.forwardsInFlight(.loadBalance) == 0)
        #expect(m.head(.loadBalance) == .discard)
        _ = rfq(&m, .primary, .inTransaction)
        #expect(rfq(&m, .loadBalance, .inTransaction).actions == [.quiet])
        #expect(m.router.status == [.inTransaction, .inTransaction])
    }

    /// A NOTIFY from one link while the other forwards a reply would land inside that reply.
    @Test func asyncMessagesWaitUntilNoLinkForwards() {
        var m = relay()
        #expect(async(&m, .primary), "nothing is forwarded: deliver now")
        _ = send(&m, q("SELECT 1"))                       // to the standby
        #expect(!async(&m, .primary))
        #expect(rfq(&m, .loadBalance).actions == [.deliverHeldAsync(.primary), .quiet])
        #expect(async(&m, .primary))
    }

    /// psycopg: `cur.execute("copy t from stdin")` raises client-side, then `conn.close()` sends Terminate.
    @Test func terminateDuringCopyFromStdinClosesThatLinkAndResetsTheOther() {
        var m = relay()
        _ = send(&m, q("COPY t FROM STDIN"))
        m.copyInReceived(on: .primary)
        #expect(m.copyInWaitingForClient(.primary))
        #expect(terminate(&m) == [.close(.primary), .release(.loadBalance)])
        #expect(m.state == .closed && !m.has(.primary) && !m.has(.loadBalance))
    }

    @Test func aCopyEndedByTheClientIsWaitedFor() {
        var m = relay(balanced: false)
        _ = send(&m, q("COPY t FROM STDIN"))
        m.copyInReceived(on: .primary)
        #expect(m.copyMessage(UInt8(ascii: "d")) == .primary)
        #expect(m.copyMessage(UInt8(ascii: "c")) == .primary)
        #expect(terminate(&m).isEmpty && m.state == .terminating, "the COPY ends by itself: wait for its reply")
        #expect(rfq(&m, .primary).actions == [.release(.primary)])
        #expect(m.state == .closed)
    }

    /// libpq: Parse/Bind/Execute/Sync, CopyData, CopyDone, Sync: one ReadyForQuery for both Syncs.
    @Test func anExtendedCopysTwoSyncsShareOneReadyForQuery() {
        var m = relay(balanced: false)
        let batch = ClientUnit(parts: [parse("", "COPY t FROM STDIN"), .bind(portal: "", statement: ""), .execute(portal: "")])
        _ = send(&m, batch)
        m.copyInReceived(on: .primary)
        _ = m.copyMessage(UInt8(ascii: "c"))
        _ = send(&m, ClientUnit(parts: []))                // the lone Sync
        #expect(m.inFlight(.primary) == 1)
        #expect(rfq(&m, .primary).actions == [.quiet] && m.isQuiet)
    }

    @Test func terminateWithRepliesDueWaitsThenResetsEveryLink() {
        var m = relay()
        _ = send(&m, q("SELECT pg_sleep(1)"))
        #expect(terminate(&m).isEmpty && m.state == .terminating)
        #expect(vanish(&m).isEmpty, "the client's socket closing after Terminate changes nothing")
        #expect(rfq(&m, .loadBalance).actions == [.release(.primary), .release(.loadBalance)])
        #expect(m.state == .closed)
    }

    @Test func terminateWhoseRepliesNeverComeClosesTheLinks() {
        var m = relay()
        _ = send(&m, q("SELECT pg_sleep(100)"))
        _ = terminate(&m)
        #expect(m.terminatingTimedOut() == [.close(.primary), .close(.loadBalance)])
        #expect(m.state == .closed)
    }

    /// asyncpg: Parse/Describe/Flush, the client leaves before Bind/Execute/Sync.
    @Test func terminateInsideABatchCutByFlushClosesTheLinkHoldingIt() {
        var m = relay()
        let head = ClientUnit(parts: [parse("s1", "SELECT v FROM tab"), .describeStatement("s1")], complete: false)
        let d = send(&m, head, terminators: 0)
        #expect(d != nil && m.router.openBatch == d?.forward)
        #expect(terminate(&m) == [.close(d!.forward), .release(d!.forward == .primary ? .loadBalance : .primary)])
    }

    @Test func aClientThatVanishesHasEveryLinkClosed() {
        var m = relay()
        _ = send(&m, q("BEGIN"))
        #expect(vanish(&m) == [.close(.primary), .close(.loadBalance)])
        #expect(m.state == .closed)
        #expect(rfq(&m, .primary).actions.isEmpty, "a late reply for a closed link is ignored")
    }

    @Test func aStandbyLostBetweenRepliesLeavesTheSessionOnThePrimary() {
        var m = relay()
        #expect(closed(&m, .loadBalance) == [.linksChanged, .quiet])
        #expect(m.router.pinned && !m.has(.loadBalance))
        #expect(send(&m, q("SELECT 1"))?.forward == .primary)
    }

    @Test func aStandbyLostWhileAnsweringEndsTheSession() {
        var m = relay()
        _ = send(&m, q("SELECT 1"))
        #expect(closed(&m, .loadBalance) == [.close(.primary), .fail(.backendLost(node: 2))])
        #expect(m.state == .closed)
    }

    @Test func aLostPrimaryEndsTheSessionAndALostLinkAfterTerminateJustGoes() {
        var m = relay()
        #expect(closed(&m, .primary) == [.close(.loadBalance), .fail(.backendLost(node: 0))])
        var t = relay()
        _ = send(&t, q("SELECT 1"))
        _ = terminate(&t)
        #expect(closed(&t, .loadBalance) == [.release(.primary)], "nothing else is due: the primary is reset")
    }

    @Test func detachingTheStandbyOrThePrimary() {
        var m = relay()
        #expect(detached(&m, .loadBalance) == [.close(.loadBalance), .linksChanged, .quiet])
        #expect(send(&m, q("SELECT 1"))?.forward == .primary)
        var answering = relay()
        _ = send(&answering, q("SELECT 1"))
        #expect(detached(&answering, .loadBalance) == [.close(.primary), .close(.loadBalance), .fail(.loadBalanceDetached(node: 2))])
        var p = relay()
        #expect(detached(&p, .primary) == [.close(.primary), .close(.loadBalance), .fail(.primaryDetached(node: 0))])
        var t = relay()
        _ = send(&t, q("SELECT 1"))
        _ = terminate(&t)
        #expect(detached(&t, .primary) == [.close(.primary), .close(.loadBalance)], "no error for a client that left")
    }

    /// A read that fails on the standby inside a transaction fails the primary's transaction too.
    @Test func aReadFailingOnTheStandbyInATransactionFailsThePrimarysToo() {
        var m = relay()
        _ = send(&m, q("BEGIN"))
        _ = rfq(&m, .primary, .inTransaction)
        _ = rfq(&m, .loadBalance, .inTransaction)
        #expect(send(&m, q("SELECT 1/0"))?.forward == .loadBalance)
        m.errorReceived(on: .loadBalance)
        let end = rfq(&m, .loadBalance, .failed)
        #expect(end.failed && end.actions == [.failPrimaryTransaction])
        #expect(m.head(.primary) == .discard, "the primary's reply to that is poold's, not the client's")
        #expect(rfq(&m, .primary, .failed).actions == [.quiet])
        #expect(m.router.status == [.failed, .failed])
    }

    /// SET in a unit that also reads: the session is pinned, and the standby is released once quiet.
    @Test func aPinnedSessionReleasesItsStandbyWhenQuiet() {
        var m = relay()
        let unit = ClientUnit(parts: [parse("", "SET search_path TO x"), .bind(portal: "", statement: ""), .execute(portal: ""),
                                      parse("", "SELECT 1"), .bind(portal: "", statement: ""), .execute(portal: "")])
        let d = send(&m, unit)
        #expect(d?.forward == .primary)
        #expect(rfq(&m, .primary).actions == [.release(.loadBalance), .linksChanged, .quiet])
        #expect(!m.has(.loadBalance))
    }

    @Test func showWaitsForQuietLinks() {
        var m = relay()
        _ = send(&m, q("SELECT 1"))
        #expect(!show(&m) && m.state == .holding)
        _ = rfq(&m, .loadBalance)
        #expect(resume(&m) && show(&m) && m.state == .answering)
        #expect(send(&m, q("SELECT 1")) == nil, "nothing goes out while poold answers")
        m.showAnswered()
        #expect(m.state == .relaying)
    }

    /// read_your_writes: after a write commits, a read stays on the primary until the standby has replayed it.
    @Test func readYourWritesKeepsReadsOnThePrimaryUntilTheStandbyReplayed() {
        var m = relay(ryw: true)
        _ = send(&m, q("INSERT INTO t VALUES (1)"))
        _ = rfq(&m, .primary)
        #expect(send(&m, q("SELECT count(*) FROM t"))?.forward == .primary)
        _ = rfq(&m, .primary)
        #expect(m.positionQueryMayGo)
        m.positionQuerySent()
        #expect(m.head(.primary) == .position)
        _ = rfq(&m, .primary, position: LSN(100))
        #expect(send(&m, q("SELECT count(*) FROM t"), world: StillWorld(replay: LSN(50)))?.forward == .primary)
        _ = rfq(&m, .primary)
        #expect(send(&m, q("SELECT count(*) FROM t"), world: StillWorld(replay: LSN(100)))?.forward == .loadBalance)
    }

    /// Statements prepared on one link and bound on the other exist there (reply dropped).
    @Test func aNamedStatementPreparedOnTheStandbyExistsOnThePrimaryToo() {
        var m = relay()
        var frame = ByteBuffer()
        frame.writeMessage(UInt8(ascii: "P")) { b in
            _ = b.writeCString("s1"); _ = b.writeCString("SELECT v FROM t"); b.writeInteger(Int16(0))
        }
        let prepare = ClientUnit(parts: [parse("s1", "SELECT v FROM t"), .describeStatement("s1")])
        guard case .send(let first) = m.unit(prepare, terminators: 1, parses: [("s1", ParsedStatement(frame: frame, category: .select))],
                                             world: StillWorld()) else { Issue.record("held"); return }
        // A named statement prepared on the standby is prepared on the primary too (reply dropped), so a
        // Bind inside a later write transaction finds it there.
        #expect(first.forward == .loadBalance && first.before.map(\.0) == [.primary])
        #expect(m.head(.primary) == .discard && m.forwardsInFlight(.primary) == 0)
        _ = rfq(&m, .primary)
        _ = rfq(&m, .loadBalance)
        #expect(send(&m, q("BEGIN")) != nil)
        _ = rfq(&m, .primary, .inTransaction)
        _ = rfq(&m, .loadBalance, .inTransaction)
        #expect(send(&m, q("INSERT INTO t VALUES (1)"))?.forward == .primary)
        _ = rfq(&m, .primary, .inTransaction)
        let bind = send(&m, ClientUnit(parts: [.bind(portal: "", statement: "s1"), .execute(portal: "")]))
        #expect(bind?.forward == .primary && bind?.before.isEmpty == true, "the transaction wrote: its reads stay on the primary")
        #expect(m.category(ofStatement: "s1") == .select)
    }
}
