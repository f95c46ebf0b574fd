import Foundation
import XCTest

/// Read/write splitting and load balancing through poold, observed on a real primary and 2 streaming standbys.
final class RoutingIntegrationTests: XCTestCase {
    nonisolated(unsafe) static var prepared = false

    override func setUpWithError() throws {
        let cluster = try SharedCluster.get()
        guard !Self.prepared else { return }
        try cluster.sql("""
            drop table if exists rt_items cascade; drop sequence if exists rt_seq;
            create table rt_items (id serial primary key, v text);
            insert into rt_items (v) select 'row ' || g from generate_series(1, 100) g;
            create sequence rt_seq;
            create or replace function rt_bump() returns int language sql volatile
              as 'insert into rt_items (v) values (''bumped'') returning id';
            create unlogged table if not exists rt_unlogged (x int);
            """, database: "bench")
        // Wait until both standbys have replayed the setup.
        let lsn = try cluster.sql("select pg_current_wal_lsn()")
        for node in 1...2 {
            for _ in 0..<100 where try cluster.sql("select pg_last_wal_replay_lsn() >= '\(lsn)'::pg_lsn", node: node) != "t" {
                usleep(50_000)
            }
        }
        Self.prepared = true
    }

    private func start(_ extra: String) throws -> PooldProcess {
        try PooldProcess(cluster: SharedCluster.get(), extra: extra)
    }

    /// select_cnt per node from SHOW pool_nodes.
    private func selectCounts(_ p: PooldProcess) throws -> [Int] {
        let r = try p.psql("SHOW pool_nodes")
        XCTAssertEqual(r.status, 0, r.output)
        return r.stdout.split(separator: "\n").map { Int($0.split(separator: "|", omittingEmptySubsequences: false)[8]) ?? -1 }
    }

    /// One psql session running `commands` in order (unaligned, tuples only).
    private func session(_ p: PooldProcess, _ commands: [String]) throws -> CommandResult {
        try Shell.run("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres",
                               "-d", "bench"] + commands.flatMap { ["-c", $0] })
    }

    private func pgbench(_ p: PooldProcess, _ args: [String], script: String? = nil, env: [String: String] = [:]) throws -> CommandResult {
        var all = args
        if let script {
            let file = p.dir + "/script-\(UUID().uuidString).sql"
            try script.write(toFile: file, atomically: true, encoding: .utf8)
            all += ["-f", file]
        }
        return try Shell.run("pgbench", all + ["-n", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres", "bench"],
                             environment: env)
    }

    func testReadsGoToStandbysAndWritesToThePrimary() throws {
        let cluster = try SharedCluster.get()
        let p = try start("backend_weight0 = 0\nsr_check_period = 0")
        defer { p.stop() }
        // The first read of a table or function asks the primary's catalog; later ones are balanced.
        let warm = try session(p, ["select v from rt_items where id = 1", "select current_setting('cluster_name')"])
        XCTAssertEqual(warm.status, 0, warm.output)
        let before = try selectCounts(p)
        let reads = try session(p, ["select current_setting('cluster_name')"]
                                + Array(repeating: "select v from rt_items where id = 2", count: 49))
        XCTAssertEqual(reads.status, 0, reads.output)
        let names = Set(reads.stdout.split(separator: "\n").filter { $0.hasPrefix("node") })
        XCTAssertEqual(names.count, 1, reads.stdout)
        XCTAssertTrue(names == ["node1"] || names == ["node2"], "reads ran on a standby: \(names)")
        let after = try selectCounts(p)
        XCTAssertEqual(after[0] - before[0], 0, "no read reached the primary: \(before) → \(after)")
        XCTAssertEqual(after[1] + after[2] - before[1] - before[2], 50, "\(before) → \(after)")

        // Every write lands on the primary, from any session.
        let count0 = Int(try cluster.sql("select count(*) from rt_items", database: "bench"))!
        for i in 0..<10 {
            let w = try p.psql("insert into rt_items (v) values ('w\(i)') returning current_setting('cluster_name')")
            XCTAssertEqual(w.status, 0, w.output)
            XCTAssertEqual(w.stdout.split(separator: "\n").first, "node0", w.output)
        }
        XCTAssertEqual(Int(try cluster.sql("select count(*) from rt_items", database: "bench"))!, count0 + 10)

        // Read your writes inside a transaction: the read after the INSERT runs on the primary.
        let ryw = try session(p, ["begin", "select current_setting('cluster_name')", "insert into rt_items (v) values ('mine')",
                                  "select v, current_setting('cluster_name') from rt_items where v = 'mine'", "commit"])
        XCTAssertEqual(ryw.status, 0, ryw.output)
        let lines = ryw.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("mine|node0"), ryw.output)
        XCTAssertTrue(lines.contains("node1") || lines.contains("node2"), "the read before the write was balanced: \(ryw.output)")

        // nextval and a user-defined volatile function write: they must go to the primary (a standby refuses them).
        for _ in 0..<3 {
            let n = try session(p, ["select nextval('rt_seq')", "select rt_bump() > 0"])
            XCTAssertEqual(n.status, 0, n.output)
            XCTAssertTrue(n.stdout.hasSuffix("t\n"), n.output)
        }
        // Temporary and unlogged tables exist only on the primary.
        let temp = try session(p, ["create temp table rt_tmp (x int)", "insert into rt_tmp values (7)", "select x from rt_tmp",
                                   "select count(*) from rt_unlogged"])
        XCTAssertEqual(temp.status, 0, temp.output)
        XCTAssertTrue(temp.stdout.contains("7\n0"), temp.output)
        // A leading comment keeps a read on the primary (allow_sql_comments = off).
        let comment = try p.psql("/*NO LOAD BALANCE*/ select current_setting('cluster_name')")
        XCTAssertEqual(comment.stdout, "node0\n", comment.output)
    }

    func testReadOnlyFunctionListLetsPgIsInRecoveryBalance() throws {
        let p = try start("backend_weight0 = 0\nread_only_function_list = 'pg_is_in_recovery,current_setting'")
        defer { p.stop() }
        let r = try session(p, ["select pg_is_in_recovery()", "select nextval('rt_seq') > 0"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.stdout, "t\nt\n", "the read ran on a standby, nextval (not in the list) on the primary")
    }

    func testExtendedAndPreparedProtocolsBalanceReadsAndKeepTransactionsWhole() throws {
        let p = try start("backend_weight0 = 0\nsr_check_period = 0")
        defer { p.stop() }
        _ = try pgbench(p, ["-t", "1"], script: "select v from rt_items where id = 1;\n")
        for mode in ["extended", "prepared"] {
            let before = try selectCounts(p)
            let reads = try pgbench(p, ["-M", mode, "-c", "4", "-t", "100"], script: "\\set id random(1, 100)\nselect v from rt_items where id = :id;\n")
            XCTAssertEqual(reads.status, 0, reads.output)
            XCTAssertTrue(reads.stdout.contains("number of failed transactions: 0"), reads.output)
            let after = try selectCounts(p)
            XCTAssertEqual(after[0], before[0], "\(mode): no read on the primary")
            XCTAssertEqual(after[1] + after[2] - before[1] - before[2], 400, "\(mode): \(before) → \(after)")
            // A transaction that reads, writes and reads again, with named statements re-prepared where needed.
            let tx = try pgbench(p, ["-M", mode, "-c", "4", "-t", "50"], script: """
                \\set id random(1, 100)
                begin;
                select v from rt_items where id = :id;
                update rt_items set v = v where id = :id;
                select v from rt_items where id = :id;
                end;
                """)
            XCTAssertEqual(tx.status, 0, tx.output)
            XCTAssertTrue(tx.stdout.contains("number of failed transactions: 0"), tx.output)
        }
        // Pipelined extended queries (pgbench pipeline mode) work.
        let pipe = try pgbench(p, ["-M", "extended", "-c", "2", "-t", "50"], script: """
            \\set id random(1, 100)
            \\startpipeline
            select v from rt_items where id = :id;
            select v from rt_items where id = :id + 1;
            \\endpipeline
            """)
        XCTAssertEqual(pipe.status, 0, pipe.output)
        XCTAssertTrue(pipe.stdout.contains("number of failed transactions: 0"), pipe.output)
    }

    func testWeightsSplitSessionsAndZeroWeightGetsNone() throws {
        let p = try start("backend_weight0 = 0\nbackend_weight1 = 1\nbackend_weight2 = 2\nsr_check_period = 0")
        defer { p.stop() }
        _ = try pgbench(p, ["-t", "1"], script: "select v from rt_items where id = 1;\n")
        let before = try selectCounts(p)
        // One statement per connection (-C): 3,000 session-level choices.
        let r = try pgbench(p, ["-C", "-c", "4", "-t", "750"], script: "select v from rt_items where id = 3;\n")
        XCTAssertEqual(r.status, 0, r.output)
        let after = try selectCounts(p)
        let delta = zip(after, before).map { $0 - $1 }
        XCTAssertEqual(delta[0], 0, "weight 0 is never chosen: \(delta)")
        XCTAssertEqual(delta[1] + delta[2], 3000, "\(delta)")
        // Expected 1000 / 2000; σ ≈ 26, so ±150 is beyond five standard deviations.
        XCTAssertLessThan(abs(delta[1] - 1000), 150, "\(delta)")
    }

    func testRedirectPreferenceLists() throws {
        let p = try start("""
            database_redirect_preference_list = 'bench:1'
            app_name_redirect_preference_list = 'app_two:2,app_primary:primary'
            sr_check_period = 0
            """)
        defer { p.stop() }
        _ = try p.psql("select current_setting('cluster_name')")
        func node(app: String) throws -> String {
            let r = try Shell.run("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres", "-d", "bench",
                                           "-c", "select current_setting('cluster_name')"], environment: ["PGAPPNAME": app])
            XCTAssertEqual(r.status, 0, r.output)
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        for _ in 0..<5 {
            XCTAssertEqual(try node(app: "app_two"), "node2", "application name rule first")
            XCTAssertEqual(try node(app: "app_primary"), "node0")
            XCTAssertEqual(try node(app: "other"), "node1", "then the database rule")
        }
    }

    func testStandbyBeyondDelayThresholdLosesReadsUntilItCatchesUp() throws {
        let cluster = try SharedCluster.get()
        let p = try start("""
            backend_weight0 = 0
            backend_weight1 = 0
            backend_weight2 = 1
            sr_check_period = 1
            sr_check_user = 'postgres'
            delay_threshold = 10000
            """)
        defer { p.stop() }
        func where_() throws -> String { try p.psql("select current_setting('cluster_name')").stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        _ = try where_()
        XCTAssertEqual(try where_(), "node2")
        try cluster.sql("select pg_wal_replay_pause()", node: 2)
        defer { _ = try? cluster.sql("select pg_wal_replay_resume()", node: 2) }
        try cluster.sql("drop table if exists rt_lag; create table rt_lag as select g from generate_series(1, 50000) g", database: "bench")
        var node = ""
        for _ in 0..<60 where node != "node0" {
            usleep(100_000)
            node = try where_()
        }
        XCTAssertEqual(node, "node0", "a lagging standby gets no reads")
        try cluster.sql("select pg_wal_replay_resume()", node: 2)
        for _ in 0..<60 where node != "node2" {
            usleep(100_000)
            node = try where_()
        }
        XCTAssertEqual(node, "node2", "reads come back after it caught up")
    }

    /// The load-balance link opens at the first statement that goes there: a session that only writes never
    /// opens a standby backend. Seen on the servers: the connection cache keeps every backend a session used,
    /// with the session's application_name, after the session ends.
    func testWriteOnlySessionsOpenNoStandbyBackend() throws {
        let cluster = try SharedCluster.get()
        let p = try start("backend_weight0 = 0\nsr_check_period = 0")
        defer { p.stop() }
        func backends(_ app: String) throws -> [Int] {
            try (0...2).map { Int(try cluster.sql("select count(*) from pg_stat_activity where application_name = '\(app)'", node: $0)) ?? -1 }
        }
        func run(_ app: String, _ sql: [String]) throws {
            let r = try Shell.run("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres",
                                           "-d", "bench"] + sql.flatMap { ["-c", $0] }, environment: ["PGAPPNAME": app])
            XCTAssertEqual(r.status, 0, r.output)
        }
        // (Not BEGIN: it goes to both links, as in Pgpool-II, so it opens the standby's.)
        try run("lazy_writer", ["insert into rt_items (v) values ('lazy')", "update rt_items set v = v where id = 1",
                                "select count(*) from rt_items"])
        XCTAssertEqual(try backends("lazy_writer"), [1, 0, 0], "writes, and a read that must see them, use the primary alone")
        try run("lazy_reader", ["select 1", "insert into rt_items (v) values ('lazy')"])
        let reader = try backends("lazy_reader")
        XCTAssertEqual(reader[0], 1)
        XCTAssertEqual(reader[1] + reader[2], 1, "the first read opened the load-balance node's backend: \(reader)")
        try run("lazy_setter", ["set statement_timeout = '5s'", "insert into rt_items (v) values ('lazy')"])
        let setter = try backends("lazy_setter")
        XCTAssertEqual(setter[1] + setter[2], 1, "SET goes to both links, so it opens the standby's: \(setter)")
    }

    func testActivityShowCommands() throws {
        let p = try start("backend_weight0 = 0\nsr_check_period = 0")
        defer { p.stop() }
        let r = try Shell.run("psql", ["-X", "-A", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres", "-d", "bench",
                                       "-c", "select 1", "-c", "SHOW pool_processes", "-c", "SHOW pool_pools",
                                       "-c", "SHOW pool_backend_stats"])
        XCTAssertEqual(r.status, 0, r.output)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("pool_pid|start_time|client_connection_count|database|username|backend_connection_time|pool_counter|status"), r.stdout)
        let processRows = lines.filter { $0.split(separator: "|", omittingEmptySubsequences: false).count == 8 && $0.contains("|1|bench|postgres|") }
        XCTAssertEqual(processRows.count, 1, r.stdout)
        XCTAssertTrue(processRows.first?.hasSuffix("|Execute command") ?? false, "the asking session is executing: \(processRows)")
        XCTAssertTrue(lines.contains("pool_pid|start_time|client_connection_count|pool_id|backend_id|database|username|backend_connection_time|client_connection_time|client_disconnection_time|client_idle_duration|majorversion|minorversion|pool_counter|pool_backendpid|pool_connected|status|load_balance_node|pinned"), r.stdout)
        // Pgpool-II 4.6's columns, then poold's `pinned` (empty: session mode never pins).
        let poolRows = lines.filter { $0.split(separator: "|", omittingEmptySubsequences: false).count == 19 && $0.contains("|bench|postgres|") }
        XCTAssertEqual(poolRows.count, 3, "one row per node for this session: \(r.stdout)")
        XCTAssertEqual(poolRows.filter { $0.hasSuffix("|1|") }.count, 1, "exactly one load-balance node")
        XCTAssertTrue(lines.contains("node_id|hostname|port|status|role|select_cnt|insert_cnt|update_cnt|delete_cnt|ddl_cnt|other_cnt|panic_cnt|fatal_cnt|error_cnt"), r.stdout)
    }
}
