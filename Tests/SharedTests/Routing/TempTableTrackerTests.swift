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

    /// Statements without TEMP, DROP or DISCARD are not lexed; every statement that changes the set has one.
    @Test func onlyStatementsNamingTheWordsAreLexed() {
        for sql in ["CREATE TEMP TABLE t (a int)", "create temporary table t (a int)", "SELECT 1 INTO TEMP t",
                    "drop table t", "DISCARD ALL", "discard temp", "update x set a = 1; Drop Table t"] {
            #expect(TempTableTracker.mayChangeTables(sql), "\(sql)")
        }
        for sql in ["UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 2;", "insert into t values (1)",
                    "create table t (a int)", "SET x = 1", "dro", ""] {
            #expect(!TempTableTracker.mayChangeTables(sql), "\(sql)")
        }
        var t = TempTableTracker()
        t.statementSent("Create Temp Table tt (a int)", inTransaction: false)
        t.statementSent("update tt set a = 1", inTransaction: false)
        #expect(t.tables == ["tt"])
        t.statementSent("DROP TABLE tt", inTransaction: false)
        #expect(t.tables.isEmpty)
    }
}
