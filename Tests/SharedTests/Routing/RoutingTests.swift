import Testing
@testable import Shared

/// A deterministic generator for routing tests (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct LoadBalancerTests {
    static let nodes = [NodeCandidate(id: 0, weight: 0, isPrimary: true), NodeCandidate(id: 1, weight: 1, isPrimary: false),
                        NodeCandidate(id: 2, weight: 2, isPrimary: false)]

    @Test func weightsGiveTheExpectedSplit() {
        var rng = SeededGenerator(state: 42)
        var counts = [0, 0, 0]
        for _ in 0..<3000 { counts[LoadBalancer().select(Self.nodes, applicationName: "", database: "d", user: "u", using: &rng)!] += 1 }
        #expect(counts[0] == 0)
        // expected 1000 / 2000; 5 standard deviations is about ±130
        #expect(abs(counts[1] - 1000) < 130 && abs(counts[2] - 2000) < 130, "\(counts)")
    }

    @Test func downNodesAreSkipped() {
        var rng = SeededGenerator(state: 1)
        var nodes = Self.nodes
        nodes[2].isUp = false
        for _ in 0..<50 { #expect(LoadBalancer().select(nodes, applicationName: "", database: "d", user: "u", using: &rng) == 1) }
        #expect(LoadBalancer().select(nodes.map { var n = $0; n.isUp = false; return n }, applicationName: "", database: "d", user: "u", using: &rng) == nil)
    }

    @Test func redirectListsParseAndTakePrecedence() throws {
        let db = try RedirectRule.parseList("postgres:primary,mydb[01]:1(0.3),mydb2:standby").get()
        #expect(db == [RedirectRule(pattern: "postgres", target: .primary, ratio: 1),
                       RedirectRule(pattern: "mydb[01]", target: .node(1), ratio: 0.3),
                       RedirectRule(pattern: "mydb2", target: .standby, ratio: 1)])
        let app = try RedirectRule.parseList("psql:2").get()
        let lb = LoadBalancer(appNameRules: app, databaseRules: db)
        var rng = SeededGenerator(state: 7)
        #expect(lb.select(Self.nodes, applicationName: "psql", database: "postgres", user: "u", using: &rng) == 2)
        #expect(lb.select(Self.nodes, applicationName: "x", database: "postgres", user: "u", using: &rng) == 0)
        for _ in 0..<20 {
            let n = lb.select(Self.nodes, applicationName: "x", database: "mydb2", user: "u", using: &rng)
            #expect(n == 1 || n == 2)
        }
        var hits = 0
        for _ in 0..<1000 where lb.select(Self.nodes, applicationName: "x", database: "mydb1", user: "u", using: &rng) == 1 { hits += 1 }
        // ratio 0.3 picks node 1; otherwise node 1 is excluded and the weighted choice runs: about 300 hits.
        #expect(abs(hits - 300) < 75, "\(hits)")
        #expect(throws: ValueError.self) { try RedirectRule.parseList("x:nowhere").get() }
        #expect(throws: ValueError.self) { try RedirectRule.parseList("x:1(2)").get() }
    }
}

@Suite struct QueryRouterTests {
    static func route(_ r: inout QueryRouter, _ sql: String, fn: Bool = false) -> RouteDecision {
        r.route(StatementClassifier.classify(sql), writesByFunction: fn)
    }

    @Test func readsGoToTheLoadBalanceNodeAndWritesToThePrimary() {
        var r = QueryRouter(primary: 0, loadBalanceNode: 2, policy: .transaction)
        #expect(Self.route(&r, "select 1") == .loadBalanceNode(2))
        #expect(Self.route(&r, "insert into t values (1)") == .primary)
        #expect(Self.route(&r, "select 1") == .loadBalanceNode(2), "outside a transaction a write does not latch")
        #expect(Self.route(&r, "set search_path = x") == .both(loadBalanceNode: 2))
        #expect(Self.route(&r, "select nextval('s')", fn: true) == .primary)
    }

    @Test func readYourWritesInsideATransaction() {
        var r = QueryRouter(primary: 0, loadBalanceNode: 1, policy: .transaction)
        #expect(Self.route(&r, "begin") == .both(loadBalanceNode: 1))
        r.readyForQueryReceived(.inTransaction)
        #expect(Self.route(&r, "select * from t") == .loadBalanceNode(1))
        #expect(Self.route(&r, "update t set a = 1") == .primary)
        #expect(Self.route(&r, "select * from t") == .primary)
        #expect(Self.route(&r, "commit") == .both(loadBalanceNode: 1))
        r.readyForQueryReceived(.idle)
        #expect(Self.route(&r, "select * from t") == .loadBalanceNode(1))
    }

    @Test func failedAndSerializableTransactionsStayOnThePrimary() {
        var r = QueryRouter(primary: 0, loadBalanceNode: 1, policy: .off)
        _ = Self.route(&r, "begin isolation level serializable")
        #expect(Self.route(&r, "select 1") == .primary)
        r.readyForQueryReceived(.idle)
        _ = Self.route(&r, "begin")
        r.readyForQueryReceived(.failed)
        #expect(Self.route(&r, "select 1") == .primary)
    }

    @Test func policies() {
        var always = QueryRouter(primary: 0, loadBalanceNode: 1, policy: .always)
        _ = Self.route(&always, "delete from t")
        #expect(Self.route(&always, "select 1") == .primary)

        var trans = QueryRouter(primary: 0, loadBalanceNode: 1, policy: .transTransaction)
        _ = Self.route(&trans, "begin"); trans.readyForQueryReceived(.inTransaction)
        _ = Self.route(&trans, "delete from t")
        _ = Self.route(&trans, "commit"); trans.readyForQueryReceived(.idle)
        #expect(Self.route(&trans, "select 1") == .loadBalanceNode(1), "outside transactions reads still balance")
        _ = Self.route(&trans, "begin"); trans.readyForQueryReceived(.inTransaction)
        #expect(Self.route(&trans, "select 1") == .primary, "every later transaction reads from the primary")

        var adaptive = QueryRouter(primary: 0, loadBalanceNode: 1, policy: .dmlAdaptive)
        _ = Self.route(&adaptive, "begin"); adaptive.readyForQueryReceived(.inTransaction)
        _ = Self.route(&adaptive, "update a set x = 1")
        #expect(Self.route(&adaptive, "select * from a") == .primary)
        #expect(Self.route(&adaptive, "select * from b") == .loadBalanceNode(1))

        var off = QueryRouter(primary: 0, loadBalanceNode: 1, policy: .off)
        _ = Self.route(&off, "begin"); off.readyForQueryReceived(.inTransaction)
        _ = Self.route(&off, "update a set x = 1")
        #expect(Self.route(&off, "select * from a") == .loadBalanceNode(1))
    }

    @Test func primaryAsLoadBalanceNodeNeverDoublesStatements() {
        var r = QueryRouter(primary: 0, loadBalanceNode: 0, policy: .transaction)
        #expect(Self.route(&r, "begin") == .primary)
        #expect(Self.route(&r, "select 1") == .loadBalanceNode(0))
    }

    @Test func commentsTempTablesAndDelayKeepReadsOnThePrimary() {
        var r = QueryRouter(primary: 0, loadBalanceNode: 1, policy: .transaction)
        #expect(Self.route(&r, "/*NO LOAD BALANCE*/ select 1") == .primary)
        #expect(r.route(StatementClassifier.classify("select * from tmp"), touchesPrimaryOnlyRelation: true) == .primary)
        #expect(r.route(StatementClassifier.classify("select 1"), standbyTooFarBehind: true) == .primary)
        #expect(Self.route(&r, "select 1; select 2") == .primary)
    }

    @Test func multiStatementStringThatOpensATransactionPinsItToThePrimary() {
        var r = QueryRouter(primary: 0, loadBalanceNode: 1, policy: .transaction)
        #expect(Self.route(&r, "BEGIN; DELETE FROM t") == .primary)
        r.readyForQueryReceived(.inTransaction)
        #expect(Self.route(&r, "select * from t") == .primary)
        _ = Self.route(&r, "commit")
        r.readyForQueryReceived(.idle)
        #expect(Self.route(&r, "select * from t") == .loadBalanceNode(1))
    }
}
