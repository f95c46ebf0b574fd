import Shared
import Testing

@Suite struct CatalogCacheTests {
    func cache(write: [String] = [], readOnly: [String] = [], relations: Bool = true) -> CatalogCache {
        CatalogCache(functions: WritingFunctions(writeList: write, readOnlyList: readOnly), lookUpRelations: relations)
    }

    @Test func unknownNamesAreLookedUpOnceAndThenDecide() {
        var c = cache()
        let q = StatementClassifier.classify("SELECT f(x), g(y) FROM t JOIN s.u ON true")
        let first = c.facts(q)
        #expect(first.primaryOnlyRelation)
        #expect(first.unknownFunctions == ["f", "g"] && first.unknownRelations == ["t", "s.u"])
        // The first session to send a lookup claims the names; another one does not ask again.
        let claimed = c.claim(functions: first.unknownFunctions, relations: first.unknownRelations)
        #expect(claimed.functions == ["f", "g"] && claimed.relations == ["s.u", "t"])
        #expect(c.claim(functions: ["f"], relations: ["t"]) == ([], []))
        c.learnFunctions(["f", "g"], rows: [["f", "f"], ["g", "f"]], failed: false)
        c.learnRelations(["t", "s.u"], rows: [["t", "f"], ["s.u", "t"]], failed: false)
        let later = c.facts(q)
        #expect(!later.writesByFunction)
        #expect(later.primaryOnlyRelation, "s.u is unlogged or temporary")
        #expect(later.unknownFunctions.isEmpty && later.unknownRelations.isEmpty)
        #expect(!c.facts(StatementClassifier.classify("SELECT f(1) FROM t")).primaryOnlyRelation)
    }

    @Test func aFailedLookupIsForgottenSoItCanBeAskedAgain() {
        var c = cache()
        _ = c.claim(functions: ["nextval"], relations: [])
        c.learnFunctions(["nextval"], rows: [], failed: true)
        #expect(c.claim(functions: ["nextval"], relations: []).functions == ["nextval"])
        c.learnFunctions(["nextval"], rows: [["nextval", "t"]], failed: false)
        #expect(c.facts(StatementClassifier.classify("SELECT nextval('s')")).writesByFunction)
    }

    @Test func listsDecideWithoutTheCatalog() {
        var w = cache(write: ["nextval", "set.*"])
        #expect(w.facts(StatementClassifier.classify("SELECT nextval('s')")).writesByFunction)
        #expect(w.facts(StatementClassifier.classify("SELECT setval('s', 1)")).writesByFunction)
        #expect(!w.facts(StatementClassifier.classify("SELECT lower('A')")).writesByFunction)
        var r = cache(readOnly: ["lower", "upper"])
        #expect(!r.facts(StatementClassifier.classify("SELECT lower('A'), upper('b')")).writesByFunction)
        #expect(r.facts(StatementClassifier.classify("SELECT lower('A'), nextval('s')")).writesByFunction)
    }

    @Test func systemCatalogsAlwaysGoToThePrimary() {
        var c = cache(relations: false)
        #expect(c.facts(StatementClassifier.classify("SELECT * FROM pg_class")).primaryOnlyRelation)
        #expect(c.facts(StatementClassifier.classify("SELECT * FROM information_schema.tables")).primaryOnlyRelation)
        #expect(!c.facts(StatementClassifier.classify("SELECT * FROM t")).primaryOnlyRelation, "no lookup when both checks are off")
    }

    @Test func lookupQueriesQuoteNamesAndSplitSchemas() {
        let q = CatalogCache.relationQuery(["o'brien", "s.t"])
        #expect(q.contains("ARRAY['o''brien','s.t']"))
        #expect(q.contains("ARRAY['','s']") && q.contains("ARRAY['o''brien','t']"))
        #expect(CatalogCache.functionQuery(["f"]).contains("pg_function_is_visible"))
    }

    @Test func statementCategoriesForBackendStats() {
        func cat(_ s: String) -> StatementCategory { StatementCategory.of(StatementClassifier.classify(s), text: s) }
        #expect(cat("SELECT 1") == .select)
        #expect(cat("  insert into t values (1)") == .insert)
        #expect(cat("UPDATE t SET x = 1") == .update)
        #expect(cat("delete from t") == .delete)
        #expect(cat("CREATE TABLE x (a int)") == .ddl)
        #expect(cat("BEGIN") == .other)
        #expect(cat("SELECT * FROM t FOR UPDATE") == .other)
        #expect(cat("TRUNCATE t") == .ddl && cat("comment on table t is 'x'") == .ddl && cat("Grant all on t to u") == .ddl)
        #expect(cat("truncates") == .other && cat("(select 1) union (select 2)") == .select)
        #expect(cat("with w as (delete from t returning *) select * from w") == .other)
        #expect(cat("") == .other && cat("(insert") == .other)
    }

    @Test func laggingNodesByBytesOrByTime() {
        let s = [StandbyReplication(nodeID: 1, delayBytes: 5000, delaySeconds: 0.2, state: "streaming", syncState: "async"),
                 StandbyReplication(nodeID: 2, delayBytes: 10, delaySeconds: 3, state: "streaming", syncState: "async"),
                 StandbyReplication(nodeID: 3, delayBytes: nil, delaySeconds: nil, state: "", syncState: "")]
        #expect(ReplicationCheck.laggingNodes(s, thresholdBytes: 1000, thresholdMilliseconds: 0) == [1])
        #expect(ReplicationCheck.laggingNodes(s, thresholdBytes: 1000, thresholdMilliseconds: 1000) == [2])
        #expect(ReplicationCheck.laggingNodes(s, thresholdBytes: 0, thresholdMilliseconds: 0).isEmpty)
    }

    @Test func routingSettingsRejectBadPatternsAndMatchPrimaryPatterns() {
        #expect(RoutingSettings.problem("database_redirect_preference_list", .list(["bench:x"])) != nil)
        #expect(RoutingSettings.problem("database_redirect_preference_list", .list(["bench:1(0.5)"])) == nil)
        #expect(RoutingSettings.problem("write_function_list", .list(["nextval("])) != nil)
        #expect(RoutingSettings.problem("primary_routing_query_pattern_list", .string("select .*;(")) != nil)
        #expect(RoutingSettings.matchesPrimaryPattern("SELECT * FROM audit;", patterns: ["select \\* from audit"]))
        #expect(!RoutingSettings.matchesPrimaryPattern("SELECT * FROM audit2", patterns: ["select \\* from audit"]))
    }
}
