import Foundation
import XCTest

/// pool_mode = transaction (issue 13) on the shared primary + 2 standbys, with transaction_pool_size 2
/// (one connection per node and user/database on each of the two event loops) and more clients than that:
/// the real drivers' prepared statements (psycopg 3 with prepare_threshold=0, asyncpg's statement cache) and
/// pgbench -M prepared must see 0 errors while their transactions move between backends; pinned sessions show
/// their reason; cancels reach the running statement. stop() checks the leak invariant after each test.
final class TransactionPoolingIntegrationTests: XCTestCase {
    static func config(_ balancing: DriverIntegrationTests.Balancing, poolSize: Int = 2) -> String {
        "pool_mode = transaction\ntransaction_pool_size = \(poolSize)\nmax_prepared_statements = 3\nnum_init_children = 64\n"
            + balancing.config
    }

    private func run(_ scenario: String, _ balancing: DriverIntegrationTests.Balancing, poolSize: Int = 2,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        try DriverIntegrationTests.runScenario(scenario, config: Self.config(balancing, poolSize: poolSize),
                                               label: "pool_mode = transaction, load_balance_mode \(balancing.rawValue)",
                                               timeout: 150, file: file, line: line)
    }

    func testPsycopg3PrepareThresholdZero_LBOn() throws { try run("txn_psycopg3_prepared", .on) }
    func testPsycopg3PrepareThresholdZero_LBOff() throws { try run("txn_psycopg3_prepared", .off) }
    func testAsyncpgStatementCache_LBOn() throws { try run("txn_asyncpg_cache", .on) }
    func testAsyncpgStatementCache_LBOff() throws { try run("txn_asyncpg_cache", .off) }
    /// Pinned sessions keep their backends, so this pool has room for the five sessions the scenario opens.
    func testPinnedSessionsShowTheirReason() throws { try run("txn_pinning", .on, poolSize: 16) }
    func testCancelReachesTheRunningStatement() throws { try run("txn_cancel", .off) }

    /// pgbench -M prepared with 12 clients over at most 2 backends per node: every transaction runs, none fails,
    /// and poold never had more backends on the primary than transaction_pool_size allows. -N runs one client
    /// per pgbench thread: pgbench prepares a client's statements with the blocking PQprepare, which would wait
    /// for a backend that another client of the same thread holds inside its transaction (so would it through
    /// any transaction pooler with fewer backends than clients per thread; share/doc/transaction-pooling.md).
    func testPgbenchPreparedWithMoreClientsThanBackends() throws {
        let cluster = try SharedCluster.get()
        _ = try Shell.run("pgbench", ["-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", String(cluster.port), "-U", "postgres", "bench"])
        for balancing in [DriverIntegrationTests.Balancing.off, .on] {
            let p = try PooldProcess(cluster: cluster, extra: Self.config(balancing))
            defer { p.stop() }
            for (mode, threads) in [("-N", "12"), ("-S", "2")] {
                let r = try Shell.run("pgbench", ["-n", mode, "-M", "prepared", "-c", "12", "-j", threads, "-t", "150", "-h", "127.0.0.1",
                                                  "-p", String(p.port), "-U", "postgres", "bench"], timeout: 120)
                XCTAssertEqual(r.status, 0, "pgbench \(mode) -M prepared (load_balance_mode \(balancing.rawValue)): \(r.output)\n\(p.log.suffix(2000))")
                XCTAssertTrue(r.output.contains("number of transactions actually processed: 1800/1800"), r.output)
                XCTAssertTrue(r.output.contains("number of failed transactions: 0") || !r.output.contains("failed"), r.output)
            }
            let backends = try cluster.sql("select count(*) from pg_stat_activity where backend_type = 'client backend' "
                                           + "and application_name = 'pgbench'", database: "bench")
            XCTAssertLessThanOrEqual(Int(backends) ?? 99, 2, "pgbench's backends on the primary stay within transaction_pool_size")
        }
    }
}
