import Testing
@testable import Shared

/// The per-loop classification cache: one lexing per statement shape, and a hit only for the same key bytes.
@Suite struct ClassificationCacheTests {
    /// Counts the texts that were really classified.
    final class Counter {
        var texts: [String] = []
        func classify(_ text: String) -> Classification {
            texts.append(text)
            return StatementClassifier.classify(text)
        }
    }

    @Test func textsThatDifferInNumbersAreLexedOnce() {
        var cache = ClassificationCache()
        let counter = Counter()
        let a = cache.classification(of: "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;") { counter.classify($0) }
        let b = cache.classification(of: "SELECT abalance FROM pgbench_accounts WHERE aid = 7;") { counter.classify($0) }
        #expect(counter.texts.count == 1)
        #expect(a == b)
        #expect(a == StatementClassifier.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 7;"))
    }

    @Test func otherTextsAreNotHits() {
        var cache = ClassificationCache()
        let counter = Counter()
        // Same length, other bytes; a SET keeps its digits; a string literal keeps its digits.
        let texts = ["select a from t1", "select b from t1", "SET transaction_read_only = 0", "SET transaction_read_only = 1",
                     "select '1'", "select '2'", "update t set x = 1", "UPDATE t set x = 1"]
        var results: [Classification] = []
        for t in texts { results.append(cache.classification(of: t) { counter.classify($0) }) }
        #expect(counter.texts == texts)
        for (t, c) in zip(texts, results) { #expect(c == StatementClassifier.classify(t), "\(t)") }
        // Every one of them is a hit the second time.
        for t in texts { _ = cache.classification(of: t) { counter.classify($0) } }
        #expect(counter.texts.count == texts.count)
    }

    @Test func startsOverWhenFullAndSkipsLongKeys() {
        var cache = ClassificationCache(capacity: 4)
        let counter = Counter()
        for name in ["a", "b", "c", "d", "e"] { _ = cache.classification(of: "select * from \(name)") { counter.classify($0) } }
        #expect(cache.count == 1)  // the fifth insertion emptied it first
        let long = "select '" + String(repeating: "x", count: ClassificationCache.longestKey) + "'"
        _ = cache.classification(of: long) { counter.classify($0) }
        _ = cache.classification(of: long) { counter.classify($0) }
        #expect(counter.texts.filter { $0 == long }.count == 2)
    }

    /// The last hit is remembered: the next text is compared with it, and a different text is still looked up.
    @Test func theLastHitAndOthersAlternate() {
        var cache = ClassificationCache()
        let counter = Counter()
        let texts = ["select * from a where x = 1", "update a set x = 2", "select * from a where x = 3", "select * from a where y = 3",
                     "update a set x = 5", "select * from a where x = 44", "select * from a where x = 4", "select * from a where x"]
        for t in texts + texts {
            #expect(cache.classification(of: t) { counter.classify($0) } == StatementClassifier.classify(t), "\(t)")
        }
        #expect(counter.texts == ["select * from a where x = 1", "update a set x = 2", "select * from a where y = 3",
                                  "select * from a where x"])
    }
}
