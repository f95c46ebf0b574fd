import Shared
import Testing

/// Transcripts of `SessionRouter`: units in, plans out, with the ReadyForQuery statuses the links would send.
@Suite struct SessionRouterTests {
    func q(_ sql: String) -> ClientUnit { ClientUnit(parts: [.query(StatementClassifier.classify(sql), text: sql)]) }
    func parse(_ name: String, _ sql: String) -> ClientUnit.Part { .parse(name: name, StatementClassifier.classify(sql), text: sql) }
    func router() -> SessionRouter { SessionRouter(primary: 0, loadBalanceNode: 2, policy: .transaction) }

    /// Feeds the statuses the client would see after a unit.
    func finish(_ r: inout SessionRouter, _ plan: UnitPlan, _ s: TransactionStatus) {
        r.readyForQuery(plan.forward, s, forwarded: true)
        if plan.copyToLoadBalance { r.readyForQuery(.loadBalance, s, forwarded: false) }
    }

    @Test func readsGoToTheStandbyAndWritesToThePrimary() {
        var r = router()
        let read = r.plan(q("SELECT abalance FROM pgbench_accounts WHERE aid = 1"))
        #expect(read.forward == .loadBalance && !read.copyToLoadBalance && read.selects == 1)
        finish(&r, read, .idle)
        let write = r.plan(q("UPDATE pgbench_accounts SET abalance = 1 WHERE aid = 1"))
        #expect(write.forward == .primary && !write.copyToLoadBalance && write.selects == 0)
        finish(&r, write, .idle)
        #expect(r.plan(q("SELECT nextval('s')"), facts: { _ in CatalogFacts(writesByFunction: true) }).forward == .primary)
        #expect(r.plan(q("/*NO LOAD BALANCE*/ SELECT 1")).forward == .primary)
        #expect(r.plan(q("SELECT 1; SELECT 2")).forward == .primary)
    }

    @Test func transactionControlGoesToBothAndReadsAfterAWriteStayOnThePrimary() {
        var r = router()
        let begin = r.plan(q("BEGIN"))
        #expect(begin.forward == .primary && begin.copyToLoadBalance)
        finish(&r, begin, .inTransaction)
        let read = r.plan(q("SELECT * FROM t"))
        #expect(read.forward == .loadBalance)
        finish(&r, read, .inTransaction)
        #expect(r.plan(q("INSERT INTO t VALUES (1)")).forward == .primary)
        r.readyForQuery(.primary, .inTransaction, forwarded: true)
        #expect(r.plan(q("SELECT * FROM t")).forward == .primary, "read your own write")
        r.readyForQuery(.primary, .inTransaction, forwarded: true)
        let commit = r.plan(q("COMMIT"))
        #expect(commit.forward == .primary && commit.copyToLoadBalance)
        finish(&r, commit, .idle)
        #expect(r.plan(q("SELECT * FROM t")).forward == .loadBalance, "a new transaction may balance again")
    }

    @Test func aStandbyWhoseStatusDiffersGetsNothing() {
        var r = router()
        // BEGIN reached the primary only (inside a multi-statement string).
        let p = r.plan(q("BEGIN; SELECT 1"))
        #expect(p.forward == .primary && !p.copyToLoadBalance)
        r.readyForQuery(.primary, .inTransaction, forwarded: true)
        #expect(r.plan(q("SELECT 2")).forward == .primary)
        // COMMIT is not sent to a standby that is idle.
        let commit = r.plan(q("COMMIT"))
        #expect(commit.forward == .primary && !commit.copyToLoadBalance)
        r.readyForQuery(.primary, .idle, forwarded: true)
        #expect(r.plan(q("SELECT 2")).forward == .loadBalance)
    }

    @Test func beginReadWriteReachesTheStandbyAsPlainBegin() {
        var r = router()
        let plan = r.plan(q("BEGIN READ WRITE"))
        #expect(plan.copyToLoadBalance && plan.loadBalanceText == "BEGIN")
        #expect(r.plan(q("SET search_path TO public")).loadBalanceText == nil)
    }

    @Test func sessionStateOnThePrimaryAlonePinsTheSession() {
        var r = router()
        let unit = ClientUnit(parts: [parse("", "SET search_path TO x"), .bind(portal: "", statement: ""), .execute(portal: ""),
                                      parse("", "SELECT 1"), .bind(portal: "", statement: ""), .execute(portal: "")])
        #expect(r.plan(unit).forward == .primary)
        #expect(r.pinned)
        r.readyForQuery(.primary, .idle, forwarded: true)
        #expect(r.plan(q("SELECT 1")).forward == .primary)
    }

    @Test func aBothStatementFailingOnlyOnTheStandbyPins() {
        var r = router()
        _ = r.plan(q("SET work_mem = '64kB'"))
        r.bothFinished(primaryFailed: true, loadBalanceFailed: true)
        #expect(!r.pinned)
        r.bothFinished(primaryFailed: false, loadBalanceFailed: true)
        #expect(r.pinned)
    }

    @Test func namedStatementsArePreparedWhereTheyRun() {
        var r = router()
        let first = r.plan(ClientUnit(parts: [parse("s1", "SELECT * FROM t WHERE id = $1"), .bind(portal: "", statement: "s1"),
                                              .execute(portal: "")]))
        #expect(first.forward == .loadBalance && first.prepareFirst == [.init(.primary, "s1")], "listed on the primary too")
        finish(&r, first, .idle)
        let again = r.plan(ClientUnit(parts: [.bind(portal: "", statement: "s1"), .execute(portal: "")]))
        #expect(again.forward == .loadBalance && again.prepareFirst.isEmpty)
        finish(&r, again, .idle)
        // In a transaction that wrote, the same statement runs on the primary, where it exists already.
        let begin = r.plan(q("BEGIN"))
        finish(&r, begin, .inTransaction)
        finish(&r, r.plan(q("DELETE FROM t")), .inTransaction)
        r.readyForQuery(.loadBalance, .inTransaction, forwarded: false)
        let onPrimary = r.plan(ClientUnit(parts: [.bind(portal: "", statement: "s1"), .execute(portal: "")]))
        #expect(onPrimary.forward == .primary && onPrimary.prepareFirst.isEmpty)
        r.readyForQuery(.primary, .inTransaction, forwarded: true)
        #expect(r.plan(ClientUnit(parts: [.bind(portal: "", statement: "s1"), .execute(portal: "")])).prepareFirst.isEmpty)
        // Closing it on one link closes it on the other as well.
        let close = r.plan(ClientUnit(parts: [.closeStatement("s1")]))
        #expect(close.forward == .primary && close.closeElsewhere == [.init(.loadBalance, "s1")])
        #expect(r.statements["s1"] == nil)
    }

    @Test func anUnknownStatementOrAFunctionCallGoesToThePrimary() {
        var r = router()
        #expect(r.plan(ClientUnit(parts: [.bind(portal: "", statement: "nope"), .execute(portal: "")])).forward == .primary)
        #expect(r.plan(ClientUnit(parts: [.functionCall])).forward == .primary)
        #expect(r.plan(ClientUnit(parts: [parse("", "SELECT 1")], complete: false)).forward == .primary)
    }

    @Test func aPortalIsExecutedWhereItWasBound() {
        var r = router()
        let bind = r.plan(ClientUnit(parts: [parse("", "SELECT * FROM big"), .bind(portal: "c1", statement: ""),
                                             .execute(portal: "c1")]))
        #expect(bind.forward == .loadBalance)
        finish(&r, bind, .idle)
        #expect(r.plan(ClientUnit(parts: [.execute(portal: "c1")])).forward == .loadBalance)
    }

    @Test func unknownCatalogFactsSendToThePrimaryAndAskToLearn() {
        var r = router()
        let plan = r.plan(q("SELECT f(x) FROM t"), facts: { _ in CatalogFacts(unknownFunctions: ["f"], unknownRelations: ["t"]) })
        #expect(plan.forward == .primary && plan.learnFunctions == ["f"] && plan.learnRelations == ["t"])
        let known = r.plan(q("SELECT f(x) FROM t"), facts: { _ in .none })
        #expect(known.forward == .loadBalance)
        #expect(r.plan(q("SELECT * FROM u"), facts: { _ in CatalogFacts(primaryOnlyRelation: true) }).forward == .primary)
        #expect(r.plan(q("SELECT * FROM u"), standbyLagging: true).forward == .primary)
    }

    @Test func temporaryTablesAreReadOnThePrimary() {
        var r = router()
        finish(&r, r.plan(q("CREATE TEMP TABLE tmp1 (x int)")), .idle)
        #expect(r.plan(q("SELECT * FROM tmp1")).forward == .primary)
        #expect(r.plan(q("SELECT * FROM other")).forward == .loadBalance)
        finish(&r, r.plan(q("DISCARD ALL")), .idle)
        #expect(r.plan(q("SELECT * FROM tmp1")).forward == .loadBalance)
    }

    @Test func withoutALoadBalanceLinkEverythingGoesToThePrimary() {
        var r = SessionRouter(primary: 0, loadBalanceNode: 0, policy: .transaction)
        #expect(!r.hasLoadBalanceLink)
        #expect(r.plan(q("SELECT 1")).forward == .primary)
        let begin = r.plan(q("BEGIN"))
        #expect(begin.forward == .primary && !begin.copyToLoadBalance)
    }

    @Test func aFailedReadOnTheStandbyFailsThePrimaryTransaction() {
        var r = router()
        finish(&r, r.plan(q("BEGIN")), .inTransaction)
        let read = r.plan(q("SELECT 1/0"))
        #expect(read.forward == .loadBalance)
        r.readyForQuery(.loadBalance, .failed, forwarded: true)
        #expect(r.primaryMustAbort())
        r.readyForQuery(.primary, .failed, forwarded: false)
        #expect(!r.primaryMustAbort())
        #expect(r.plan(q("SELECT 1")).forward == .primary)
    }

    /// asyncpg: Parse/Describe/Flush, later Bind/Execute/Sync. Both pieces go to the link that got the first
    /// (the primary would otherwise hold its implicit transaction and locks, waiting for a Sync).
    @Test func anExtendedBatchSplitByFlushStaysOnOneLink() {
        var r = router()
        // The statement is known and load-balanceable: without the batch rule its Bind would go to the standby.
        let warm = r.plan(ClientUnit(parts: [parse("s1", "SELECT v FROM tab"), .bind(portal: "", statement: "s1"),
                                             .execute(portal: "")]))
        finish(&r, warm, .idle)
        let first = r.plan(ClientUnit(parts: [parse("s2", "SELECT v FROM tab"), .describeStatement("s2")], complete: false))
        #expect(first.forward == .primary && r.openBatch == .primary)
        let flushOnly = r.plan(ClientUnit(parts: [], complete: false))
        #expect(flushOnly.forward == .primary && r.openBatch == .primary)
        let rest = r.plan(ClientUnit(parts: [.bind(portal: "", statement: "s2"), .execute(portal: "")]))
        #expect(rest.forward == .primary && !rest.copyToLoadBalance && rest.prepareFirst.isEmpty && r.openBatch == nil)
        finish(&r, rest, .idle)
        // After its Sync, the statement balances again.
        let again = r.plan(ClientUnit(parts: [.bind(portal: "", statement: "s2"), .execute(portal: "")]))
        #expect(again.forward == .loadBalance && again.prepareFirst == [.init(.loadBalance, "s2")])
        finish(&r, again, .idle)
        // A lone Flush after a complete unit opens no batch.
        _ = r.plan(ClientUnit(parts: [], complete: false))
        #expect(r.openBatch == nil)
    }

    /// psycopg's isolation_level / read_only: the standby's transaction gets the same isolation level, and
    /// what only the primary's transaction has keeps the transaction there.
    @Test func transactionSettingsReachTheStandbyOrKeepTheTransactionOnThePrimary() {
        var r = router()
        let rr = r.plan(q("BEGIN ISOLATION LEVEL REPEATABLE READ READ WRITE"))
        #expect(rr.copyToLoadBalance && rr.loadBalanceText == "BEGIN ISOLATION LEVEL REPEATABLE READ")
        finish(&r, rr, .inTransaction)
        #expect(r.plan(q("select current_setting('transaction_isolation')")).forward == .primary)
        r.readyForQuery(.primary, .inTransaction, forwarded: true)
        #expect(r.plan(q("SELECT * FROM t")).forward == .loadBalance)
        finish(&r, r.plan(q("COMMIT")), .idle)
        let ser = r.plan(q("begin isolation level serializable"))
        #expect(ser.loadBalanceText == "BEGIN ISOLATION LEVEL REPEATABLE READ")
        finish(&r, ser, .inTransaction)
        #expect(r.plan(q("SELECT * FROM t")).forward == .primary, "serializable reads stay on the primary")
        r.readyForQuery(.primary, .inTransaction, forwarded: true)
        finish(&r, r.plan(q("COMMIT")), .idle)
        // SET TRANSACTION … SERIALIZABLE inside a plain BEGIN: the rest of the transaction stays on the primary.
        finish(&r, r.plan(q("BEGIN")), .inTransaction)
        let set = r.plan(q("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
        #expect(set.forward == .primary && !set.copyToLoadBalance)
        r.readyForQuery(.primary, .inTransaction, forwarded: true)
        #expect(r.plan(q("SELECT * FROM t")).forward == .primary)
        r.readyForQuery(.primary, .inTransaction, forwarded: true)
        finish(&r, r.plan(q("COMMIT")), .idle)
        #expect(!r.pinned)
        // A session default that only the primary can hold pins the session.
        _ = r.plan(q("SET default_transaction_isolation = 'serializable'"))
        #expect(r.pinned)
    }

    /// psycopg prepare=True on the standby: the statement is prepared on the primary too, where
    /// pg_prepared_statements (a system view, read on the primary) must list it.
    @Test func aNamedStatementPreparedOnTheStandbyIsPreparedOnThePrimaryToo() {
        var r = router()
        let p = r.plan(ClientUnit(parts: [parse("_pg3_0", "SELECT v FROM t"), .bind(portal: "", statement: "_pg3_0"),
                                          .execute(portal: "")]))
        #expect(p.forward == .loadBalance && p.prepareFirst == [.init(.primary, "_pg3_0")])
        #expect(r.statements["_pg3_0"]?.links == LinkSet(.loadBalance).adding(.primary))
        finish(&r, p, .idle)
        let unnamed = r.plan(ClientUnit(parts: [parse("", "SELECT v FROM t"), .bind(portal: "", statement: ""), .execute(portal: "")]))
        #expect(unnamed.forward == .loadBalance && unnamed.prepareFirst.isEmpty)
        finish(&r, unnamed, .idle)
        // Read-your-writes can keep a unit on the primary.
        #expect(r.plan(q("SELECT v FROM t"), mayUseStandby: { false }).forward == .primary)
    }

    /// A BOTH unit (SET) is compared on both links once they are quiet: failing only on the standby pins the
    /// session; failing on both, or a lost standby, does not leave a comparison pending.
    @Test func bothUnitsAreReconciledWhenTheLinksAreQuiet() {
        var r = router()
        let set = r.plan(q("SET work_mem = '8MB'"))
        #expect(set.forward == .primary && set.copyToLoadBalance)
        r.bothSent()
        r.unitFailed(on: .primary)
        r.unitFailed(on: .loadBalance)
        finish(&r, set, .idle)
        r.linksQuiet()
        #expect(!r.pinned && !r.bothPending, "failed on both: the sessions still match")
        let again = r.plan(q("SET search_path TO app"))
        r.bothSent()
        r.unitFailed(on: .loadBalance)
        finish(&r, again, .idle)
        #expect(!r.pinned, "decided only once both links are quiet")
        r.linksQuiet()
        #expect(r.pinned && !r.bothPending)
        var lost = router()
        _ = lost.plan(q("SET work_mem = '8MB'"))
        lost.bothSent()
        lost.pin()                      // the standby link closed
        #expect(!lost.bothPending)
    }
}
