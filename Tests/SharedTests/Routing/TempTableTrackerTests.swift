import Testing
@testable import Shared

@Suite struct TempTableTrackerTests {
    func refs(_ t: TempTableTracker, _ sql: String) -> Bool {
        t.references(StatementClassifier.classify(sql).relations)
    }

    @Test func createdTempTablesAreRecognisedAndDropped() {
        var t = TempTableTracker()
        t.statementSent("create temp table scratch (a int)", inTransaction: false)
        t.statementSent("CREATE TEMPORARY TABLE IF NOT EXISTS other AS SELECT 1", inTransaction: false)
        t.statementSent("select a into temp copied from t", inTransaction: false)
        #expect(refs(t, "select * from scratch"))
        #expect(refs(t, "select * from pg_temp.other"))
        #expect(refs(t, "select * from copied"))
        #expect(!refs(t, "select * from permanent"))
        t.statementSent("drop table if exists scratch, copied cascade", inTransaction: false)
        #expect(!refs(t, "select * from scratch") && !refs(t, "select * from copied"))
        #expect(refs(t, "select * from other"))
        t.statementSent("discard temp", inTransaction: false)
        #expect(t.tables.isEmpty)
    }

    @Test func transactionsDecide() {
        var t = TempTableTracker()
        t.statementSent("create temp table rolled (a int)", inTransaction: true)
        #expect(refs(t, "select * from rolled"), "visible inside its own transaction")
        t.transactionEnded(committed: false)
        #expect(!refs(t, "select * from rolled"))
        t.statementSent("create temp table kept (a int); create temp table gone (a int) on commit drop", inTransaction: true)
        t.transactionEnded(committed: true)
        #expect(refs(t, "select * from kept"))
        #expect(!refs(t, "select * from gone"))
        t.statementSent("drop table kept", inTransaction: true)
        #expect(refs(t, "select * from kept"), "a drop counts once it commits")
        t.transactionEnded(committed: true)
        #expect(!refs(t, "select * from kept"))
        t.statementSent("create table notemp (a int)", inTransaction: false)
        #expect(!refs(t, "select * from notemp"))
    }
}
