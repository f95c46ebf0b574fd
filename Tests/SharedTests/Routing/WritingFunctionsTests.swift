import Testing
@testable import Shared

@Suite struct WritingFunctionsTests {
    static func functions(_ sql: String) -> [String] { StatementClassifier.classify(sql).functions }

    @Test func emptyListsUseVolatility() {
        var w = WritingFunctions(writeList: [], readOnlyList: [])
        #expect(w.verdict(for: Self.functions("select 1")) == .readOnly)
        #expect(w.verdict(for: Self.functions("select nextval('s'), lower('X')")) == .unknown(["lower", "nextval"]))
        w.learn("nextval", isVolatile: true)
        w.learn("lower", isVolatile: false)
        #expect(w.verdict(for: Self.functions("select nextval('s')")) == .writes)
        #expect(w.verdict(for: Self.functions("select lower('X')")) == .readOnly)
        #expect(w.verdict(for: Self.functions("select lower(x), nextval('s') from t")) == .writes)
    }

    @Test func writeListMatchesAnchoredRegexes() throws {
        let w = try WritingFunctions.make(writeList: ["nextval", "setval", "lastval", "currval", "app\\.write_.*"],
                                          readOnlyList: []).get()
        #expect(w.verdict(for: ["nextval"]) == .writes)
        #expect(w.verdict(for: ["nextval2"]) == .readOnly, "anchored: nextval2 is another function")
        #expect(w.verdict(for: ["app.write_log"]) == .writes)
        #expect(w.verdict(for: ["write_log"]) == .readOnly, "schema-qualified and bare names differ")
    }

    @Test func readOnlyListMakesEverythingElseWriting() throws {
        let w = try WritingFunctions.make(writeList: [], readOnlyList: ["lower", "count", "now"]).get()
        #expect(w.verdict(for: ["lower", "count"]) == .readOnly)
        #expect(w.verdict(for: ["lower", "my_func"]) == .writes)
    }

    @Test func listsAreMutuallyExclusiveAndMustBeValid() {
        #expect(throws: ValueError.self) { try WritingFunctions.make(writeList: ["a"], readOnlyList: ["b"]).get() }
        #expect(throws: ValueError.self) { try WritingFunctions.make(writeList: ["(unclosed"], readOnlyList: []).get() }
    }

    @Test func catalogQueryQuotesNames() {
        #expect(WritingFunctions.volatilityQuery("app.f").contains("n.nspname = 'app' AND p.proname = 'f'"))
        #expect(WritingFunctions.volatilityQuery("o'brien").contains("p.proname = 'o''brien'"))
    }
}
