import Foundation
import XCTest

/// High availability on a real synchronous cluster (`ANY 1`, primary + 2 standbys) with the sample scripts
/// of share/scripts as the configured commands. The tests run in order on one cluster whose topology they
/// change: failover, standby loss and recovery, switchover, flags and the status file, a hanging node.
final class FailoverIntegrationTests: XCTestCase {
    nonisolated(unsafe) static var cluster: TestCluster?
    nonisolated(unsafe) static var setupError: Error?

    override class func setUp() {
        super.setUp()
        do {
            let c = try TestCluster(sync: true)
            try c.sql("create database bench")
            try c.sql("create table ledger (id bigint primary key)", database: "bench")
            cluster = c
        } catch {
            setupError = error
        }
    }

    override class func tearDown() {
        cluster?.destroy()
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let e = Self.setupError { throw e }
    }

    var cluster: TestCluster { Self.cluster! }
    let scripts = Shell.repoRoot + "/share/scripts"

    var haConfig: String {
        """
        num_init_children = 64
        health_check_period = 1
        health_check_timeout = 2
        health_check_max_retries = 1
        health_check_retry_delay = 1
        health_check_user = 'postgres'
        sr_check_period = 1
        sr_check_user = 'postgres'
        search_primary_node_timeout = 30
        failover_command = '\(scripts)/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S'
        follow_primary_command = '\(scripts)/follow_primary.sh %d %h %p %D %m %H %M %P %r %R'
        recovery_1st_stage_command = '\(scripts)/recovery_1st_stage.sh'
        recovery_user = 'postgres'
        recovery_timeout = 60
        """
    }

    /// The node PostgreSQL itself says is the primary.
    func actualPrimary() throws -> Int {
        for n in 0..<cluster.nodes where (try? cluster.sql("select pg_is_in_recovery()", node: n)) == "f" { return n }
        throw HarnessError("no primary answers")
    }

    func postmasterPID(_ node: Int) throws -> Int32 {
        let text = try String(contentsOfFile: cluster.base + "/n\(node)/postmaster.pid", encoding: .utf8)
        guard let pid = Int32(text.split(separator: "\n").first ?? "") else { throw HarnessError("no postmaster.pid for node \(node)") }
        return pid
    }

    func waitFor(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? condition()) == true { return }
            usleep(200_000)
        }
        XCTFail("timed out after \(seconds) s waiting for \(what)")
    }

    /// Client-side writers: each inserts increasing ids through poold with a new connection per insert and
    /// logs every id whose COMMIT succeeded, and the time of every failure.
    func startWriters(_ p: PooldProcess, clients: Int, seconds: Int, tag: Int) throws -> [(Spawned, String, String)] {
        let script = p.dir + "/writer.sh"
        try """
            #!/bin/bash
            end=$((SECONDS + $3)); i=0
            while [ $SECONDS -lt $end ]; do
              i=$((i + 1)); id=$(( $2 * 1000000 + i ))
              if psql -X -q -At -h 127.0.0.1 -p $1 -U postgres -d bench -c "insert into ledger values ($id)" >/dev/null 2>&1
              then echo $id >> $4; else date +%s.%N >> $5; fi
              sleep 0.02
            done
            """.write(toFile: script, atomically: true, encoding: .utf8)
        return try (0..<clients).map { c in
            let ok = p.dir + "/committed-\(tag)-\(c)", failed = p.dir + "/failed-\(tag)-\(c)"
            let s = try Spawned("/bin/bash", [script, String(p.port), String(tag * 100 + c), String(seconds), ok, failed])
            return (s, ok, failed)
        }
    }

    /// Every logged id is in the ledger of the primary.
    func assertNothingLost(_ writers: [(Spawned, String, String)], primary: Int) throws -> Int {
        var ids: [String] = []
        for (s, ok, _) in writers {
            _ = s.wait(timeout: 120)
            ids += ((try? String(contentsOfFile: ok, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        XCTAssertGreaterThan(ids.count, 20, "the writers committed something")
        let found = try cluster.sql("select count(*) from ledger where id = any('{\(ids.joined(separator: ","))}'::bigint[])",
                                    node: primary, database: "bench")
        XCTAssertEqual(found, String(ids.count), "every committed id is on the new primary")
        return ids.count
    }

    func failureTimes(_ writers: [(Spawned, String, String)]) -> [Double] {
        writers.flatMap { ((try? String(contentsOfFile: $0.2, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Double($0) } }
    }

    func test1_KilledPrimaryFailsOverAndTheStandbysFollow() throws {
        let p = try PooldProcess(cluster: cluster, extra: haConfig, dataDirectories: true)
        defer { p.stop() }
        _ = try Shell.run("pgbench", ["-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", String(cluster.port), "-U", "postgres", "bench"])
        let pgbench = try Spawned("/usr/bin/env", ["pgbench", "-n", "-N", "-c", "8", "-T", "15", "-h", "127.0.0.1",
                                                   "-p", String(p.port), "-U", "postgres", "bench"])
        let writers = try startWriters(p, clients: 4, seconds: 15, tag: 1)
        // A session in the middle of a statement on the primary (pg_sleep is volatile: it runs there).
        let bound = try Spawned("/usr/bin/env", ["psql", "-X", "-At", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres",
                                                 "-d", "bench", "-c", "select pg_sleep(30)"],
                                stdoutPath: p.dir + "/bound.out", stderrPath: p.dir + "/bound.err")
        sleep(3)
        let oldPrimary = try actualPrimary()
        kill(try postmasterPID(oldPrimary), SIGKILL)
        let killed = Date()
        var recovered: Date? = nil
        try waitFor("a write through poold after the primary was killed", seconds: 40) {
            let ok = try p.psql("insert into ledger values (\(Int(Date().timeIntervalSince1970 * 1000)))").status == 0
            if ok { recovered = Date() }
            return ok
        }
        if let recovered { print("failover: first successful write \(String(format: "%.1f", recovered.timeIntervalSince(killed))) s after the kill") }
        try waitFor("every node up again (follow_primary.sh)", seconds: 90) {
            try p.nodeStatuses().values.allSatisfy { $0.status == "up" }
        }
        let newPrimary = try actualPrimary()
        XCTAssertNotEqual(newPrimary, oldPrimary)
        XCTAssertEqual(try p.nodeStatuses()[newPrimary]?.role, "primary")
        XCTAssertEqual(try cluster.sql("select count(*) from pg_stat_replication where state = 'streaming'", node: newPrimary), "2",
                       "both other nodes stream from the new primary")
        try waitFor("synchronous replication restored on the new primary", seconds: 20) {
            try cluster.sql("show synchronous_standby_names", node: newPrimary).hasPrefix("ANY 1 (")
        }
        // The session bound to the dead primary got an error instead of hanging or being silently retried.
        XCTAssertNotEqual(bound.wait(timeout: 30), 0)
        let boundError = (try? String(contentsOfFile: p.dir + "/bound.err", encoding: .utf8)) ?? ""
        XCTAssertTrue(boundError.contains("FATAL") || boundError.contains("server closed the connection"), boundError)
        _ = pgbench.wait(timeout: 60)
        let n = try assertNothingLost(writers, primary: newPrimary)
        print("failover: \(n) committed ids checked, \(failureTimes(writers).count) failed attempts")
        XCTAssertTrue(p.log.contains("failover done"), p.log)
        // Servers started by the scripts must not have inherited poold's listening socket: once poold has
        // stopped, nothing listens on its port (connections in TIME_WAIT do not count).
        p.stop()
        let listeners = try Shell.run("ss", ["-ltnH", "sport = :\(p.port)"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(listeners, "", "nothing listens on poold's port after it stopped")
    }

    func test2_StoppedStandbyIsDetachedAndRecoveredOnline() throws {
        let primary = try actualPrimary()
        let standby = (0..<3).first { $0 != primary }!
        let other = (0..<3).first { $0 != primary && $0 != standby }!
        // Sessions never read from the standby that goes away, so none of them may fail.
        let p = try PooldProcess(cluster: cluster, extra: haConfig + "\nbackend_weight\(standby) = 0", dataDirectories: true)
        defer { p.stop() }
        let reads = try Spawned("/usr/bin/env", ["pgbench", "-n", "-S", "-c", "4", "-T", "8", "-h", "127.0.0.1",
                                                 "-p", String(p.port), "-U", "postgres", "bench"],
                                stdoutPath: p.dir + "/reads.out", stderrPath: p.dir + "/reads.err")
        sleep(2)
        _ = try Shell.run("runuser", ["-u", "postgres", "--", "/bin/bash", "-c",
                                      "$(ls -d /usr/lib/postgresql/*/bin | tail -1)/pg_ctl -D \(cluster.base)/n\(standby) -m immediate stop"])
        try waitFor("node \(standby) detached", seconds: 15) { try p.nodeStatuses()[standby]?.status == "down" }
        XCTAssertEqual(reads.wait(timeout: 60), 0)
        let out = (try? String(contentsOfFile: p.dir + "/reads.out", encoding: .utf8)) ?? ""
        XCTAssertTrue(out.contains("number of failed transactions: 0"), out)
        XCTAssertEqual(try p.nodeStatuses()[other]?.status, "up")
        // Online recovery brings it back as a streaming standby of the primary.
        let r = try p.console(["recover", String(standby)])
        XCTAssertEqual(r.status, 0, r.output + p.log)
        XCTAssertEqual(try p.nodeStatuses()[standby]?.status, "up")
        try waitFor("node \(standby) streaming", seconds: 30) {
            try cluster.sql("select count(*) from pg_stat_replication where application_name = 'node\(standby)' and state = 'streaming'",
                            node: primary) == "1"
        }
        // A refused request exits non-zero (unlike pcp_*).
        XCTAssertEqual(try p.console(["attach", String(standby)]).status, 1, "attaching an up node is refused")
        XCTAssertEqual(try p.console(["recover", "9"]).status, 1)
    }

    func test3_SwitchoverMakesAStandbyPrimaryAndTheOthersFollow() throws {
        let old = try actualPrimary()
        let target = (0..<3).first { $0 != old }!
        let p = try PooldProcess(cluster: cluster, extra: haConfig, dataDirectories: true)
        defer { p.stop() }
        let writers = try startWriters(p, clients: 2, seconds: 12, tag: 3)
        sleep(2)
        let start = Date().timeIntervalSince1970
        let r = try p.console(["switchover", String(target)])
        let end = Date().timeIntervalSince1970
        XCTAssertEqual(r.status, 0, r.output + p.log)
        // N is promoted when the command returns; the old primary may still run as a primary (detached) until
        // follow_primary_command has rewound it, so ask N itself rather than the first node that is not in recovery.
        XCTAssertEqual(try cluster.sql("select pg_is_in_recovery()", node: target), "f", "node \(target) was promoted")
        try waitFor("every node up after the switchover", seconds: 90) { try p.nodeStatuses().values.allSatisfy { $0.status == "up" } }
        XCTAssertEqual(try cluster.sql("select count(*) from pg_stat_replication where state = 'streaming'", node: target), "2")
        _ = try assertNothingLost(writers, primary: target)
        let outside = failureTimes(writers).filter { $0 < start - 0.5 || $0 > end + 3 }
        XCTAssertEqual(outside, [], "no write failed outside the switchover window (\(start)…\(end))")
    }

    func test4_FlagsAndTheStatusFile() throws {
        let primary = try actualPrimary()
        let standby = (0..<3).first { $0 != primary }!
        // DISALLOW_TO_FAILOVER: a failed node is only logged.
        do {
            let p = try PooldProcess(cluster: cluster, extra: haConfig + "\nbackend_flag\(standby) = 'DISALLOW_TO_FAILOVER'",
                                     dataDirectories: true)
            defer { p.stop() }
            let pgctl = "$(ls -d /usr/lib/postgresql/*/bin | tail -1)/pg_ctl -D \(cluster.base)/n\(standby)"
            _ = try Shell.run("runuser", ["-u", "postgres", "--", "/bin/bash", "-c", "\(pgctl) -m fast stop"])
            try waitFor("the failure to be logged", seconds: 15) { p.log.contains("DISALLOW_TO_FAILOVER") }
            XCTAssertEqual(try p.nodeStatuses()[standby]?.status, "up", "a DISALLOW_TO_FAILOVER node is never detached")
            _ = try Shell.run("runuser", ["-u", "postgres", "--", "/bin/bash", "-c", "\(pgctl) -l \(cluster.base)/log/n\(standby).log -w start"])
        }
        // ALWAYS_PRIMARY with the seed's managed-cluster settings: no checks, no pg_is_in_recovery() needed.
        do {
            let p = try PooldProcess(cluster: cluster, extra: """
                sr_check_period = 0
                health_check_period = 0
                failover_on_backend_error = off
                sr_check_user = 'nobody'
                backend_flag\(primary) = 'ALWAYS_PRIMARY|DISALLOW_TO_FAILOVER'
                """)
            defer { p.stop() }
            XCTAssertEqual(try p.nodeStatuses()[primary]?.role, "primary")
            XCTAssertEqual(try p.psql("insert into ledger values (-1) returning 1").stdout.split(separator: "\n").first, "1")
        }
        // pgpool_status: a detached node stays down across a restart; -D discards the file.
        let first = try PooldProcess(cluster: cluster, extra: haConfig.replacingOccurrences(of: "failover_command", with: "#"),
                                     dataDirectories: true)
        XCTAssertEqual(try first.console(["detach", String(standby)]).status, 0)
        first.stop()
        XCTAssertEqual(try String(contentsOfFile: first.dir + "/pgpool_status", encoding: .utf8).split(separator: "\n")[standby], "down")
        let second = try PooldProcess(cluster: cluster, extra: "", reusing: first)
        XCTAssertEqual(try second.nodeStatuses()[standby]?.status, "down", "the status file is honoured")
        second.stop()
        let third = try PooldProcess(cluster: cluster, extra: "", reusing: first, arguments: ["-D"])
        defer { third.stop() }
        XCTAssertEqual(try third.nodeStatuses()[standby]?.status, "up", "-D discards the status file")
    }

    func test5_AHangingNodeIsDetectedWithinTheTimeout() throws {
        // A listener that accepts connections and never answers.
        let port = Shell.freePort()
        let hang = try Spawned("/usr/bin/env", ["python3", "-c", """
            import socket, time
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('127.0.0.1', \(port))); s.listen(64); held = []
            while True:
                c, _ = s.accept(); held.append(c)
            """])
        defer { kill(hang.pid, SIGKILL); _ = hang.wait(timeout: 5) }
        usleep(300_000)
        let p = try PooldProcess(cluster: cluster, extra: """
            health_check_period = 1
            health_check_timeout = 2
            health_check_max_retries = 0
            health_check_user = 'postgres'
            backend_hostname3 = '127.0.0.1'
            backend_port3 = \(port)
            backend_weight3 = 0
            """)
        defer { p.stop() }
        try waitFor("the hanging node to be detached", seconds: 15) { try p.nodeStatuses()[3]?.status == "down" }
        // The failing check gave up at health_check_timeout (2 s), not at connect_timeout (10 s).
        let health = try p.console(["health", "--json"])
        let rows = try JSONSerialization.jsonObject(with: Data(health.stdout.utf8)) as? [[String: String]] ?? []
        let row = rows.first { $0["node_id"] == "3" } ?? [:]
        XCTAssertEqual(row["fail_count"], "1", health.stdout)
        let longest = Int(row["max_duration"] ?? "") ?? -1
        XCTAssertTrue((1900...2700).contains(longest), "max_duration \(longest) ms ≈ health_check_timeout")
    }

    func test6_BackendShutdownFailsOverAndAutoFailbackReattaches() throws {
        let primary = try actualPrimary()
        let standby = (0..<3).first { $0 != primary }!
        let p = try PooldProcess(cluster: cluster, extra: haConfig + """

            failover_on_backend_shutdown = on
            auto_failback = on
            auto_failback_interval = 1
            app_name_redirect_preference_list = 'shutdown_probe:\(standby)'
            """, dataDirectories: true)
        defer { p.stop() }
        // A detached standby that still streams comes back by itself.
        XCTAssertEqual(try p.console(["detach", String(standby)]).status, 0)
        XCTAssertEqual(try p.nodeStatuses()[standby]?.status, "down")
        try waitFor("auto_failback to re-attach node \(standby)", seconds: 15) { try p.nodeStatuses()[standby]?.status == "up" }
        XCTAssertTrue(p.log.contains("auto_failback"), p.log)
        // A session whose standby connection is terminated by an administrator (57P01) fails that node over.
        let session = try Spawned("/usr/bin/env", ["psql", "-X", "-At", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres",
                                                   "-d", "bench", "-c", "select 1", "-c", "select pg_sleep(3)"],
                                  environment: ["PGAPPNAME": "shutdown_probe"])
        try waitFor("the session's standby connection", seconds: 10) {
            try cluster.sql("select count(*) from pg_stat_activity where application_name = 'shutdown_probe'", node: standby) == "1"
        }
        try cluster.sql("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'shutdown_probe'", node: standby)
        try waitFor("the 57P01 to detach node \(standby)", seconds: 10) { p.log.contains("backend shutdown (57P01/57P02)") }
        _ = session.wait(timeout: 30)
        try waitFor("auto_failback again", seconds: 15) { try p.nodeStatuses()[standby]?.status == "up" }
    }

    /// poolconsole in tmux: detach a standby with keys, recover it with a mouse click, and check that the
    /// cluster agrees (SHOW pool_nodes through poold, pg_stat_replication on the primary).
    func test7_ConsoleInTmuxDetachesByKeysAndRecoversByMouse() throws {
        let tmux = try Shell.which("tmux")
        let primary = try actualPrimary()
        let standby = (0..<3).first { $0 != primary }!
        let p = try PooldProcess(cluster: cluster, extra: haConfig, dataDirectories: true)
        defer { p.stop() }
        let console = URL(fileURLWithPath: PooldProcess.binary).deletingLastPathComponent().path + "/poolconsole"
        let server = "poold-it-\(getpid())"
        func t(_ args: [String]) throws -> String { try Shell.run(tmux, ["-L", server] + args).stdout }
        _ = try t(["new-session", "-d", "-s", "con", "-x", "120", "-y", "35",
                   "env LANG=C.UTF-8 TERM=tmux-256color NCURSES_NO_UTF8_ACS=1 \(console) -s \(p.adminSocket)"])
        let tmuxPID = Int32(try t(["display-message", "-p", "-t", "con", "#{pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer { if tmuxPID > 0 { kill(tmuxPID, SIGTERM) } }
        func screen() throws -> String { try t(["capture-pane", "-p", "-t", "con"]) }
        func row(_ node: Int) throws -> String {
            try screen().split(separator: "\n").map(String.init).first { $0.hasPrefix(" \(node)   ") } ?? ""
        }
        try waitFor("the console to show 3/3 up", seconds: 20) { try screen().contains("(3/3 up)") }
        // Keys: select the standby, d, confirm with y.
        for _ in 0..<standby { _ = try t(["send-keys", "-t", "con", "Down"]) }
        _ = try t(["send-keys", "-t", "con", "d"])
        try waitFor("the confirmation naming the node", seconds: 5) { try screen().contains("detach node \(standby) (standby") }
        _ = try t(["send-keys", "-t", "con", "y"])
        try waitFor("node \(standby) down on the console", seconds: 20) { try row(standby).contains(" down ") }
        let show = try p.psql("SHOW pool_nodes").stdout.split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        XCTAssertEqual(show.first { $0.first == String(standby) }?[3], "down", "poold agrees")
        // Mouse: click [r]recover on the button row (an X10 mouse report, as a terminal sends it), confirm.
        let lines = try screen().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let buttons = lines.last(where: { $0.contains("[r]recover") }), let y = lines.lastIndex(of: buttons),
              let r = buttons.range(of: "[r]recover") else { return XCTFail("no button row: \(lines)") }
        /// X10 mouse reports of a left-button press and release at (x, y), as a terminal sends them.
        func click(_ x: Int, _ y: Int) throws {
            func report(_ button: UInt8) -> String {
                "\u{1B}[M" + String(UnicodeScalar(32 + button)) + String(UnicodeScalar(UInt8(32 + x + 1)))
                    + String(UnicodeScalar(UInt8(32 + y + 1)))
            }
            _ = try t(["send-keys", "-t", "con", "-l", report(0)])
            usleep(100_000)
            _ = try t(["send-keys", "-t", "con", "-l", report(3)])
            usleep(200_000)
        }
        try click(buttons.distance(from: buttons.startIndex, to: r.lowerBound) + 2, y)
        try waitFor("the recover confirmation", seconds: 5) { try screen().contains("recover node \(standby) (standby") }
        _ = try t(["send-keys", "-t", "con", "y"])
        try waitFor("node \(standby) up again after recovery", seconds: 90) {
            let s = try screen()
            return s.contains("recovered and attached") && s.contains("(3/3 up)")
        }
        let after = try p.psql("SHOW pool_nodes").stdout.split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        XCTAssertEqual(after.first { $0.first == String(standby) }?[3], "up")
        try waitFor("node \(standby) streaming", seconds: 30) {
            try cluster.sql("select count(*) from pg_stat_replication where application_name = 'node\(standby)' and state = 'streaming'",
                            node: primary) == "1"
        }
        // Once more by mouse only: click the node's row, then [d]detach, confirm; then attach with the a key.
        let rowY = try screen().split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix(" \(standby)   ") } ?? -1
        XCTAssertGreaterThan(rowY, 0)
        try click(3, rowY)
        let detachX = buttons.distance(from: buttons.startIndex, to: buttons.range(of: "[d]detach")!.lowerBound) + 2
        try click(detachX, y)
        try waitFor("the detach confirmation after clicks", seconds: 5) { try screen().contains("detach node \(standby) (standby") }
        _ = try t(["send-keys", "-t", "con", "y"])
        try waitFor("node \(standby) down after the click", seconds: 20) { try row(standby).contains(" down ") }
        _ = try t(["send-keys", "-t", "con", "a"])
        try waitFor("node \(standby) attached again", seconds: 20) { try row(standby).contains(" up ") && screen().contains("(3/3 up)") }
        // A resized terminal gets a frame of the new size.
        _ = try t(["resize-window", "-t", "con", "-x", "90", "-y", "28"])
        try waitFor("a 90-column frame", seconds: 10) {
            let lines = try screen().split(separator: "\n", omittingEmptySubsequences: false)
            return lines.count >= 28 && lines[1].count == 90 && lines[27].contains("[r]recover")
        }
        let size = try t(["display-message", "-p", "-t", "con", "#{window_width}x#{window_height}"])
        let shown = try screen()
        XCTAssertEqual(size.trimmingCharacters(in: .whitespacesAndNewlines), "90x28", shown)
        _ = try t(["send-keys", "-t", "con", "q"])
    }

    /// pool_mode = transaction: a client idle between transactions outlives a switchover. Its connection is
    /// never closed; its next transaction runs on the new primary, with its prepared statement defined there
    /// again (psycopg 3, prepare_threshold=0); a client inside a transaction on the old primary gets an error.
    func test8_TransactionModeSessionsSurviveASwitchover() throws {
        let python = DriverIntegrationTests.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return XCTFail("the driver venv is missing (\(python)): run `bash scripts/driver-venv.sh`")
        }
        let old = try actualPrimary()
        let target = (0..<3).first { $0 != old }!
        let p = try PooldProcess(cluster: cluster, extra: haConfig + "\npool_mode = transaction\ntransaction_pool_size = 4",
                                 dataDirectories: true)
        defer { p.stop() }
        let flag = p.dir + "/switched", script = p.dir + "/idle_client.py"
        try """
            import os, sys, time, psycopg
            c = psycopg.connect("host=127.0.0.1 port=\(p.port) dbname=bench user=postgres", autocommit=True, prepare_threshold=0)
            def write(i):
                with c.transaction():
                    c.execute("insert into ledger values (%s)", (i,))
                    return c.execute("select pg_is_in_recovery()::text || ' ' || inet_server_port()::text").fetchone()[0]
            before = write(880001)
            print("before", before, flush=True)
            deadline = time.time() + 120
            while not os.path.exists("\(flag)") and time.time() < deadline:
                time.sleep(0.1)
            after = write(880002)
            print("after", after, flush=True)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        // A second client is inside a transaction on the old primary when it is detached: its next statement
        // gets an error, and neither of its writes turns up on the new primary (nothing is retried there).
        let inside = p.dir + "/open_client.py"
        try """
            import os, time, psycopg
            c = psycopg.connect("host=127.0.0.1 port=\(p.port) dbname=bench user=postgres", prepare_threshold=0)
            c.execute("insert into ledger values (880003)")
            print("inside", flush=True)
            deadline = time.time() + 120
            while not os.path.exists("\(flag)") and time.time() < deadline:
                time.sleep(0.1)
            try:
                c.execute("insert into ledger values (880004)")
                c.commit()
                print("committed", flush=True)
            except psycopg.Error as e:
                print("error", type(e).__name__, flush=True)
            """.write(toFile: inside, atomically: true, encoding: .utf8)
        let client = try Spawned(python, [script], stdoutPath: p.dir + "/idle.out", stderrPath: p.dir + "/idle.err")
        let openClient = try Spawned(python, [inside], stdoutPath: p.dir + "/open.out", stderrPath: p.dir + "/open.err")
        try waitFor("the client's first transaction", seconds: 20) {
            ((try? String(contentsOfFile: p.dir + "/idle.out", encoding: .utf8)) ?? "").contains("before")
        }
        try waitFor("the other client inside its transaction", seconds: 20) {
            ((try? String(contentsOfFile: p.dir + "/open.out", encoding: .utf8)) ?? "").contains("inside")
        }
        let r = try p.console(["switchover", String(target)])
        XCTAssertEqual(r.status, 0, r.output + p.log)
        // N is promoted when the command returns; the old primary may still run as a primary (detached) until
        // follow_primary_command has rewound it, so ask N itself rather than the first node that is not in recovery.
        XCTAssertEqual(try cluster.sql("select pg_is_in_recovery()", node: target), "f", "node \(target) was promoted")
        FileManager.default.createFile(atPath: flag, contents: Data())
        XCTAssertEqual(client.wait(timeout: 60), 0, (try? String(contentsOfFile: p.dir + "/idle.err", encoding: .utf8)) ?? "")
        let out = (try? String(contentsOfFile: p.dir + "/idle.out", encoding: .utf8)) ?? ""
        XCTAssertTrue(out.contains("after false \(cluster.port(of: target))"),
                      "the same connection's next transaction ran on the new primary (node \(target)): \(out)")
        XCTAssertEqual(try cluster.sql("select count(*) from ledger where id in (880001, 880002)", node: target, database: "bench"), "2")
        XCTAssertEqual(openClient.wait(timeout: 60), 0, (try? String(contentsOfFile: p.dir + "/open.err", encoding: .utf8)) ?? "")
        let openOut = (try? String(contentsOfFile: p.dir + "/open.out", encoding: .utf8)) ?? ""
        XCTAssertTrue(openOut.contains("error") && !openOut.contains("committed"),
                      "the transaction on the detached primary ended with an error: \(openOut)")
        XCTAssertEqual(try cluster.sql("select count(*) from ledger where id in (880003, 880004)", node: target, database: "bench"), "0",
                       "no write of the broken transaction was retried on the new primary")
        try waitFor("every node up after the switchover", seconds: 90) { try p.nodeStatuses().values.allSatisfy { $0.status == "up" } }
    }
}
