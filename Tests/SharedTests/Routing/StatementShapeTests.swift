import Testing
@testable import Shared

/// The classification cache key: each run of digits in a numeric literal becomes one 0; everything a digit could mean
/// something else in (names, strings, quoted names, comments, parameters, SET values) keeps its bytes.
@Suite struct StatementShapeTests {
    @Test func numericLiteralsShareOneKey() {
        let a = StatementShape.key("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;")
        let b = StatementShape.key("SELECT abalance FROM pgbench_accounts WHERE aid = 678;")
        #expect(a == b)
        #expect(a == "SELECT abalance FROM pgbench_accounts WHERE aid = 0;")
        #expect(StatementShape.key("select 10.25e30, -2, (7), 0") == "select 0.0e0, -0, (0), 0")
    }

    @Test func textWithoutLiteralDigitsIsItsOwnKey() {
        for text in ["select * from t", "select * from t1 join t_2 on x9 = y8", "select e1 from é5",
                     "SET transaction_read_only = 0", "  set default_transaction_read_only = 1",
                     "select 'a' || 1", "select \"2col\", 3", "select $1 + 4", "select /* 1 */ 1",
                     "select E'\\1', 5", "select $$ 1 $$, 2", "select x from t where y = ' 1 '"] {
            #expect(StatementShape.key(text) == text, "\(text)")
        }
    }

    @Test func onlyDigitsBeforeAQuoteOrCommentChange() {
        #expect(StatementShape.key("select 1, 'x 2'") == "select 0, 'x 2'")
        #expect(StatementShape.key("select 2 -- 3") == "select 0 -- 3")
        #expect(StatementShape.key("select 9 /* 8 */") == "select 0 /* 8 */")
        #expect(StatementShape.key("select 7; set transaction_read_only = 0") == "select 0; set transaction_read_only = 0")
        #expect(StatementShape.key("select 4, \"5x\"") == "select 0, \"5x\"")
        #expect(StatementShape.key("setting_value 1") == "setting_value 0")  // not SET: a name starting with "set"
    }

    /// What makes the key safe: a text and its key classify alike (the key is valid SQL of the same shape).
    @Test func keyClassifiesLikeItsText() {
        let texts = StatementClassifierTests.cases.map(\.sql) + [
            "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
            "UPDATE pgbench_accounts SET abalance = abalance + -4 WHERE aid = 77;",
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 52, 14, CURRENT_TIMESTAMP);",
            "select nextval('s1'), 3", "select pg_advisory_lock(42)", "begin isolation level serializable",
            "select * from t for update limit 5", "prepare p1 as select 2", "execute p1(3)", "deallocate p1",
        ]
        for text in texts {
            #expect(StatementClassifier.classify(StatementShape.key(text)) == StatementClassifier.classify(text), "\(text)")
        }
    }
}
