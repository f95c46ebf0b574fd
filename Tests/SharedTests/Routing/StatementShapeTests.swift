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

    /// The byte cursor gives the same key as the string builder it replaced (bafbeb3's `shape`, kept here as the
    /// oracle), over texts drawn from the characters that matter to it.
    @Test func cursorMatchesTheStringKeyItReplaced() {
        let alphabet = Array("sSeEtT0123456789 .'\"$\\;-/*(a_é\n".utf8)
        var seed: UInt64 = 0x9e37_79b9_7f4a_7c15
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let count = Int(seed >> 59)
            var bytes: [UInt8] = []
            for _ in 0..<count {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(alphabet[Int(seed >> 33) % alphabet.count])
            }
            let text = String(decoding: bytes, as: UTF8.self)
            var copy = text
            let expected = copy.withUTF8 { Self.oldShape($0) } ?? text
            #expect(StatementShape.key(text) == expected, "\(text)")
        }
    }

    static func oldShape(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var i = 0
        while i < bytes.count, bytes[i] == 32 || (bytes[i] >= 9 && bytes[i] <= 13) { i += 1 }
        if i + 3 <= bytes.count, bytes[i] | 0x20 == 115, bytes[i + 1] | 0x20 == 101, bytes[i + 2] | 0x20 == 116,
           i + 3 == bytes.count || !StatementShape.isIdentifier(bytes[i + 3]) {
            return nil  // SET …
        }
        // Built only once a byte changes: the bytes so far, then each byte kept or a run of digits as one 0.
        var out: [UInt8]? = nil
        var previous: UInt8 = 32
        var inNumber = false
        var k = 0
        scan: while k < bytes.count {
            let b = bytes[k]
            switch b {
            case 39, 34, 36, 92, 59:  // ' " $ \ ;
                break scan
            case 45 where k + 1 < bytes.count && bytes[k + 1] == 45:  // --
                break scan
            case 47 where k + 1 < bytes.count && bytes[k + 1] == 42:  // /*
                break scan
            case 48...57 where inNumber || !StatementShape.isIdentifier(previous):
                if inNumber, previous &- 48 < 10 {
                    if out == nil { out = Array(bytes[0..<k]) }  // the run's later digits are dropped
                } else {
                    inNumber = true
                    if b != 48, out == nil { out = Array(bytes[0..<k]) }
                    out?.append(48)
                }
            case 46, 69, 101:  // . e E continue a number
                out?.append(b)
            default:
                inNumber = false
                out?.append(b)
            }
            previous = b
            k += 1
        }
        guard var result = out else { return nil }
        result.append(contentsOf: bytes[k...])
        return String(decoding: result, as: UTF8.self)
    }
}
