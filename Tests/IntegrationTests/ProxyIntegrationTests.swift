import Foundation
import XCTest

/// poold in front of a real primary + 2 standbys, driven by psql, pgbench and raw sockets.
final class ProxyIntegrationTests: XCTestCase {
    nonisolated(unsafe) static var cluster: TestCluster!
    nonisolated(unsafe) static var poold: PooldProcess!
    nonisolated(unsafe) static var setupError: Error?

    override class func setUp() {
        super.setUp()
        do {
            cluster = try SharedCluster.get()
            poold = try PooldProcess(cluster: cluster, extra: "num_init_children = 50\nmax_pool = 2")
        } catch {
            setupError = error
        }
    }

    override class func tearDown() {
        // Checked after each test instead (tearDownWithError below): a class tearDown has no test to fail.
        poold?.stop(checkLeaks: false)
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let e = Self.setupError { throw e }
    }

    /// The class's poold serves every test: the leak invariant must hold after each one.
    override func tearDownWithError() throws {
        if let p = Self.poold { assertNoLeakedBackends(p, cluster: Self.cluster) }
    }

    var cluster: TestCluster { Self.cluster }
    var poold: PooldProcess { Self.poold }

    private func pgbench(_ args: [String], port: Int? = nil) throws -> CommandResult {
        try Shell.run("pgbench", args + ["-h", "127.0.0.1", "-p", String(port ?? poold.port), "-U", "postgres", "bench"])
    }

    // MARK: - psql and pgbench

    func testPsqlOverTCPAndUnixSocketReachesThePrimary() throws {
        let tcp = try poold.psql("select pg_is_in_recovery(), current_setting('port')")
        XCTAssertEqual(tcp.status, 0, tcp.output)
        XCTAssertEqual(tcp.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "f|\(cluster.port)")
        let unix = try poold.psql("select 40 + 2", host: poold.dir)
        XCTAssertEqual(unix.status, 0, unix.output)
        XCTAssertEqual(unix.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "42")
    }

    /// Operators run pgpool as an unprivileged user: no socket option poold sets may need root. (Until
    /// 2026-12 it set SO_DEBUG, meaning TCP_NODELAY, on every socket, which without CAP_NET_ADMIN failed
    /// and closed every client connection.) Two event loops: one SO_REUSEPORT listener each.
    func testUnprivilegedUserServesClientsOverTCPAndUnixSocket() throws {
        let p = try PooldProcess(cluster: cluster, extra: "num_init_children = 10\nio_threads = 2", runAs: "postgres")
        defer { p.stop() }
        let status = try String(contentsOfFile: "/proc/\(p.pid)/status", encoding: .utf8)
        let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().first
        XCTAssertNotEqual(uid.map(String.init), "0", "poold runs as postgres, not root")
        for i in 0..<4 {
            let tcp = try p.psql("select pg_is_in_recovery(), \(i)")
            XCTAssertEqual(tcp.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "f|\(i)", tcp.output)
        }
        let unix = try p.psql("select 40 + 2", host: p.dir)
        XCTAssertEqual(unix.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "42", unix.output)
        let listeners = try Shell.run("ss", ["-Hltn", "sport = :\(p.port)"])
        XCTAssertEqual(listeners.stdout.split(separator: "\n").count, 2, "one TCP listener per event loop: \(listeners.output)")
        // SO_REUSEPORT must not let a second poold share the port: it fails as a plain bind would.
        let dup = p.dir + "-dup"
        try FileManager.default.createDirectory(atPath: dup, withIntermediateDirectories: true)
        let conf = try String(contentsOfFile: p.configFile, encoding: .utf8).replacingOccurrences(of: p.dir, with: dup)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("pcp_port") ? "pcp_port = \(Shell.freePort())" : String($0) }.joined(separator: "\n")
        try conf.write(toFile: dup + "/pgpool.conf", atomically: true, encoding: .utf8)
        let second = try Spawned(PooldProcess.binary, ["-f", dup + "/pgpool.conf", "-n"], stdoutPath: dup + "/log", stderrPath: dup + "/log")
        let code = second.wait(timeout: 20)
        if second.isRunning { kill(second.pid, SIGKILL); _ = second.wait(timeout: 5) }
        let log = (try? String(contentsOfFile: dup + "/log", encoding: .utf8)) ?? ""
        XCTAssertNotEqual(code, 0, "a second poold on the same port exits non-zero: \(log)")
        XCTAssertTrue(log.contains("Address already in use"), log)
    }

    func testPgbenchAllProtocolModes() throws {
        let initialise = try pgbench(["-i", "-s", "1", "-q"])
        XCTAssertEqual(initialise.status, 0, initialise.output)
        for mode in ["simple", "extended", "prepared"] {
            for workload in ["-S", "-N"] {
                let r = try pgbench(["-n", workload, "-M", mode, "-c", "4", "-j", "2", "-t", "200"])
                XCTAssertEqual(r.status, 0, "\(mode) \(workload): \(r.output)")
                XCTAssertTrue(r.stdout.contains("number of transactions actually processed: 800/800"), "\(mode) \(workload): \(r.stdout)")
                XCTAssertTrue(r.stdout.contains("number of failed transactions: 0 "), r.stdout)
            }
        }
        // A new connection per transaction goes through pooled backends.
        let c = try pgbench(["-n", "-S", "-C", "-c", "4", "-j", "2", "-t", "100"])
        XCTAssertEqual(c.status, 0, c.output)
        XCTAssertTrue(c.stdout.contains("actually processed: 400/400"), c.stdout)
    }

    // MARK: - COPY, LISTEN/NOTIFY, cancel, large results

    func testCopyInAndOutOfOneMillionRows() throws {
        XCTAssertEqual(try poold.psql("drop table if exists copy_t; create table copy_t(a int, b text)").status, 0)
        var rows = ""
        rows.reserveCapacity(12_000_000)
        for i in 1...1_000_000 { rows += "\(i)\tv\(i)\n" }
        let copyIn = try Shell.run("psql", ["-X", "-h", "127.0.0.1", "-p", String(poold.port), "-U", "postgres", "-d", "bench",
                                            "-c", "\\copy copy_t from stdin"], input: rows)
        XCTAssertEqual(copyIn.status, 0, copyIn.output)
        XCTAssertTrue(copyIn.stdout.contains("COPY 1000000"), copyIn.output)
        XCTAssertEqual(try cluster.sql("select count(*), sum(a) from copy_t", database: "bench"), "1000000|500000500000")
        let out = cluster.base + "/copy_out.tsv"
        let copyOut = try poold.psql("\\copy copy_t to '\(out)'")
        XCTAssertEqual(copyOut.status, 0, copyOut.output)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").count, 1_000_000)
        XCTAssertTrue(text.hasPrefix("1\tv1\n"))
    }

    func testListenNotifyInOneSession() throws {
        let r = try poold.psql("listen poold_ch; notify poold_ch, 'payload-42'; select 1")
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("Asynchronous notification \"poold_ch\" with payload \"payload-42\""), r.output)
    }

    func testCancelledSleepReturnsWithinTwoSeconds() throws {
        let p = try Spawned("psql", ["-X", "-h", "127.0.0.1", "-p", String(poold.port), "-U", "postgres", "-d", "bench",
                                     "-c", "select pg_sleep(30)"])
        // psql sends CancelRequest on SIGINT, using the key poold handed it.
        Thread.sleep(forTimeInterval: 1.0)
        let sent = Date()
        kill(p.pid, SIGINT)
        p.wait(timeout: 30)
        let elapsed = Date().timeIntervalSince(sent)
        let stderr = p.stderr
        XCTAssertLessThan(elapsed, 2.0, "cancel took \(elapsed) s")
        XCTAssertTrue(stderr.contains("canceling statement due to user request"), stderr)
    }

    func testTwoHundredMegabyteResultStreamsInBoundedMemory() throws {
        let before = poold.rssKB
        let done = Atomic(false)
        let peakBox = Atomic(before)
        let sampler = Thread {
            while !done.value {
                peakBox.value = max(peakBox.value, Self.poold.rssKB)
                usleep(20_000)
            }
        }
        sampler.start()
        // 200,000 rows × 1,000 bytes = 200 MB through poold: once with psql reading as fast as it can, once
        // with a client that stops reading for 3 s, so poold must stop reading the backend (backpressure).
        let r = try Shell.run("/bin/sh", ["-c", "psql -X -At -h 127.0.0.1 -p \(poold.port) -U postgres -d bench -c \"select repeat('x', 1000) from generate_series(1, 200000)\" | wc -c"])
        let slow = """
            import socket, sys, time
            startup = b"\\x00\\x03\\x00\\x00user\\x00postgres\\x00database\\x00bench\\x00\\x00"
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall((len(startup) + 4).to_bytes(4, "big") + startup)
            buf = b""
            while b"Z\\x00\\x00\\x00\\x05" not in buf: buf += s.recv(65536)
            q = b"select repeat('x', 1000) from generate_series(1, 200000)\\x00"
            s.sendall(b"Q" + (len(q) + 4).to_bytes(4, "big") + q)
            time.sleep(3)
            total, tail = 0, b""
            while True:
                chunk = s.recv(1 << 20)
                if not chunk: break
                total += len(chunk)
                tail = (tail + chunk)[-6:]
                if tail == b"Z\\x00\\x00\\x00\\x05I": break
            print(total)
            """
        let s = try Shell.run("python3", ["-c", slow, String(poold.port)])
        done.value = true
        usleep(50_000)
        let peak = peakBox.value
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), 200_000 * 1001)
        XCTAssertEqual(s.status, 0, s.output)
        XCTAssertGreaterThan(Int(s.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 200_000_000, s.output)
        XCTAssertLessThan(peak, 100 * 1024, "poold RSS peaked at \(peak) kB (before: \(before) kB)")
    }

    // MARK: - Authentication

    func testMd5AndScramUsersThroughPoolPasswdWithAndWithoutPoolHBA() throws {
        let passwd = "md5user:md5\(md5Hex("md5secret" + "md5user"))\nscramuser:TEXTscramsecret\n"
        let hba = """
            local all all trust
            host  all md5user   127.0.0.1/32 md5
            host  all scramuser 127.0.0.1/32 scram-sha-256
            host  all rejected  127.0.0.1/32 reject
            host  all all       127.0.0.1/32 trust
            """
        for hbaOn in [false, true] {
            let p = try PooldProcess(cluster: cluster, extra: "enable_pool_hba = \(hbaOn ? "on" : "off")",
                                     files: ["pool_passwd": passwd, "pool_hba.conf": hba])
            defer { p.stop() }
            let md5 = try p.psql("select current_user", user: "md5user", password: "md5secret")
            XCTAssertEqual(md5.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "md5user", "hba=\(hbaOn): \(md5.output)")
            let scram = try p.psql("select current_user", user: "scramuser", password: "scramsecret")
            XCTAssertEqual(scram.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "scramuser", "hba=\(hbaOn): \(scram.output)")
            for (user, pw) in [("md5user", "wrong"), ("scramuser", "wrong")] {
                let bad = try p.psql("select 1", user: user, password: pw)
                XCTAssertNotEqual(bad.status, 0)
                XCTAssertTrue(bad.stderr.contains("password authentication failed for user \"\(user)\""), bad.output)
            }
            // An unknown user: the backend (trust for others) would accept, so the error comes from PostgreSQL.
            let unknown = try p.psql("select 1", user: "nosuchuser", password: "x")
            XCTAssertNotEqual(unknown.status, 0)
            XCTAssertTrue(unknown.stderr.contains("nosuchuser"), unknown.output)
            if hbaOn {
                let rejected = try p.psql("select 1", user: "rejected")
                XCTAssertNotEqual(rejected.status, 0)
                XCTAssertTrue(rejected.stderr.contains("pool_hba.conf rejects connection for host \"127.0.0.1\", user \"rejected\""),
                              rejected.output)
            }
        }
    }

    // MARK: - Limits and bad input

    func testTwoHundredConcurrentClientsWithFiftySlotsAllFinish() throws {
        let script = """
            pids=""; fails=0
            for i in $(seq 1 200); do
              psql -X -At -h 127.0.0.1 -p \(poold.port) -U postgres -d bench -c 'select pg_sleep(0.05), 1' >/dev/null 2>&1 &
              pids="$pids $!"
            done
            for p in $pids; do wait $p || fails=$((fails+1)); done
            echo "fails=$fails"
            """
        let r = try Shell.run("/bin/bash", ["-c", script], timeout: 240)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "fails=0", r.output)
    }

    func testReservedConnectionsRefuseWithTooManyClients() throws {
        let p = try PooldProcess(cluster: cluster, extra: "num_init_children = 2\nreserved_connections = 1")
        defer { p.stop() }
        let holder = try Spawned("psql", ["-X", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres", "-d", "bench",
                                          "-c", "select pg_sleep(3)"])
        Thread.sleep(forTimeInterval: 0.7)
        let refused = try p.psql("select 1")
        holder.wait(timeout: 30)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("Sorry, too many clients already"), refused.output)
    }

    func testGarbageAndImpossibleLengthsGetProtocolErrorsAndOthersContinue() throws {
        let script = """
            import socket, sys
            port = int(sys.argv[1])
            def probe(payload):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(payload)
                data = b""
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk: break
                        data += chunk
                except socket.timeout:
                    data += b"<timeout>"
                s.close()
                return data
            startup = b"\\x00\\x03\\x00\\x00user\\x00postgres\\x00database\\x00bench\\x00\\x00"
            startup = (len(startup) + 4).to_bytes(4, "big") + startup
            cases = {
              "garbage": b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * 3,
              "huge_startup": (2**31 - 1).to_bytes(4, "big") + b"\\x00" * 8,
              "bad_length_after_login": startup + b"Q" + (2).to_bytes(4, "big"),
              "unknown_type": startup + b"\\x01" + (4).to_bytes(4, "big"),
            }
            for name, payload in cases.items():
                d = probe(payload)
                print(name, "08P01" if b"C08P01" in d else "NO-ERROR:" + repr(d[-80:]))
            """
        let r = try Shell.run("python3", ["-c", script, String(poold.port)])
        XCTAssertEqual(r.status, 0, r.output)
        for name in ["garbage", "huge_startup", "bad_length_after_login", "unknown_type"] {
            XCTAssertTrue(r.stdout.contains("\(name) 08P01"), r.output)
        }
        let still = try poold.psql("select 'alive'")
        XCTAssertEqual(still.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "alive")
    }

    func testBackendDeathGivesClientAnErrorAndDaemonSurvives() throws {
        let p = try Spawned("psql", ["-X", "-h", "127.0.0.1", "-p", String(poold.port), "-U", "postgres", "-d", "bench",
                                     "-c", "select pg_sleep(20)"])
        Thread.sleep(forTimeInterval: 1.0)
        // Kill that backend process (only the one running our sleep), as a crash would.
        let pid = try cluster.sql("select pid from pg_stat_activity where query = 'select pg_sleep(20)'")
        XCTAssertFalse(pid.isEmpty)
        kill(Int32(pid)!, SIGKILL)
        let start = Date()
        let status = p.wait(timeout: 30)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertNotEqual(status, 0)
        let stderr = p.stderr
        XCTAssertTrue(stderr.contains("unable to read data from DB node 0"), stderr)
        // PostgreSQL restarts after a backend crash; poold keeps serving once it is back.
        var ok = false
        let deadline = Date().addingTimeInterval(30)  // bounded by time: one attempt may wait for a failover
        while !ok, Date() < deadline {
            ok = (try? poold.psql("select 'alive'"))?.stdout.contains("alive") ?? false
            if !ok { usleep(100_000) }
        }
        XCTAssertTrue(ok, poold.log)
    }

    // MARK: - Configuration errors

    func testConfigErrorNamesFileLineAndParameterAndExitsNonZero() throws {
        let dir = cluster.base + "/badconf"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/pgpool.conf"
        try "port = 9999\nnum_init_children = lots\nbackend_hostname0 = '127.0.0.1'\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try Shell.run(PooldProcess.binary, ["-f", file, "-n"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(file):2: parameter \"num_init_children\""), r.stderr)
        let check = try Shell.run(PooldProcess.binary, ["-f", poold.configFile, "--check"])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.stdout.contains("backend_port0 = \(cluster.port)"), check.stdout)
    }

    func testSampleConfigurationParsesWithoutDiagnostics() throws {
        let r = try Shell.run(PooldProcess.binary, ["-f", Shell.repoRoot + "/share/pgpool.conf.sample", "--check"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.stderr, "", "the sample must parse without a diagnostic")
    }
}

/// md5 hex for building pool_passwd lines in tests (via the system's md5sum, an independent implementation).
func md5Hex(_ s: String) -> String {
    let r = try? Shell.run("/bin/sh", ["-c", "printf '%s' \"$1\" | md5sum | cut -d' ' -f1", "sh", s])
    return r?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
}

/// A value shared with the RSS sampler thread, behind a lock.
final class Atomic<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return v }
        set { lock.lock(); v = newValue; lock.unlock() }
    }
}

/// Pool reuse, session limits and the daemon's control commands.
final class PoolingAndDaemonTests: XCTestCase {
    var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try SharedCluster.get()
    }

    func testBackendIsReusedAfterResetAndNotCachedForPostgresDatabase() throws {
        let p = try PooldProcess(cluster: cluster, extra: "num_init_children = 4\nmax_pool = 1")
        defer { p.stop() }
        // Pools are per event loop (one per core), so sequential sessions reuse at most that many backends.
        var pids = Set<String>()
        for _ in 0..<6 {
            let r = try p.psql("select pg_backend_pid(), current_setting('work_mem'), " +
                               "(select count(*) from pg_class where relname = 'scratch'); " +
                               "set work_mem = '7MB'; create temp table scratch(a int)")
            XCTAssertEqual(r.status, 0, r.output)
            let cols = r.stdout.split(separator: "\n").first.map { $0.split(separator: "|").map(String.init) } ?? []
            XCTAssertEqual(cols.count, 3, r.output)
            XCTAssertEqual(cols.dropFirst().first, "4MB", "DISCARD ALL reset the session")
            XCTAssertEqual(cols.last, "0", "the temp table is gone")
            pids.insert(cols.first ?? "")
            usleep(200_000)  // let the reset finish before the next client arrives
        }
        XCTAssertLessThanOrEqual(pids.count, ProcessInfo.processInfo.activeProcessorCount, "cached backends are reused: \(pids)")
        let a = try p.psql("select pg_backend_pid()", database: "postgres").stdout
        let b = try p.psql("select pg_backend_pid()", database: "postgres").stdout
        XCTAssertNotEqual(a, b, "connections to the postgres database are not cached")
    }

    func testConnectionLifeTimeClosesCachedBackends() throws {
        let p = try PooldProcess(cluster: cluster, extra: "connection_life_time = 1")
        defer { p.stop() }
        let count = "select count(*) from pg_stat_activity where datname = 'bench' and application_name = 'poold-life'"
        let r = try Shell.run("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres", "-d", "bench",
                                       "-c", "select 1"], environment: ["PGAPPNAME": "poold-life"])
        XCTAssertEqual(r.status, 0, r.output)
        usleep(300_000)
        XCTAssertEqual(try cluster.sql(count), "1", "the backend is cached after the client left")
        var gone = false
        for _ in 0..<30 where !gone {
            usleep(100_000)
            gone = try cluster.sql(count) == "0"
        }
        XCTAssertTrue(gone, "connection_life_time closed the cached backend")
    }

    func testClientIdleLimitAndAuthenticationTimeout() throws {
        let p = try PooldProcess(cluster: cluster, extra: "client_idle_limit = 1\nauthentication_timeout = 1")
        defer { p.stop() }
        let script = """
            import socket, sys, time
            port = int(sys.argv[1])
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            t = time.time()
            data = s.recv(4096)          # say nothing: poold must give up after authentication_timeout
            print("auth_timeout", round(time.time() - t, 1), b"authentication timeout" in data)
            startup = b"\\x00\\x03\\x00\\x00user\\x00postgres\\x00database\\x00bench\\x00\\x00"
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall((len(startup) + 4).to_bytes(4, "big") + startup)
            buf = b""
            while b"Z\\x00\\x00\\x00\\x05" not in buf: buf += s.recv(4096)
            t = time.time()
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk: break
                data += chunk
            print("idle_limit", round(time.time() - t, 1), b"client_idle_limit" in data)
            """
        let r = try Shell.run("python3", ["-c", script, String(p.port)])
        XCTAssertEqual(r.status, 0, r.output)
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        guard lines.count == 2, lines.allSatisfy({ $0.count == 3 }) else { return XCTFail(r.output) }
        XCTAssertEqual(lines[0].last, "True", r.output)
        XCTAssertLessThan(Double(lines[0][1]) ?? 99, 3)
        XCTAssertEqual(lines[1].last, "True", r.output)
        XCTAssertLessThan(Double(lines[1][1]) ?? 99, 3)
        XCTAssertGreaterThanOrEqual(Double(lines[1][1]) ?? 0, 0.9)
    }

    func testSmartShutdownWaitsForClientsAndImmediateDoesNot() throws {
        let p = try PooldProcess(cluster: cluster)
        let running = try Spawned("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres", "-d", "bench",
                                           "-c", "select pg_sleep(2), 'finished'"])
        Thread.sleep(forTimeInterval: 0.5)
        kill(p.pid, SIGTERM)  // smart: stop accepting, let sessions finish
        Thread.sleep(forTimeInterval: 0.3)
        let late = try p.psql("select 1")
        XCTAssertNotEqual(late.status, 0, "no new sessions during a smart shutdown")
        XCTAssertTrue(p.process.isRunning, "poold waits for the running session")
        XCTAssertEqual(running.wait(timeout: 20), 0, running.stderr)
        XCTAssertTrue(running.stdout.contains("finished"))
        XCTAssertEqual(p.process.wait(timeout: 10), 0, p.log)

        let q = try PooldProcess(cluster: cluster)
        let held = try Spawned("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", String(q.port), "-U", "postgres", "-d", "bench",
                                        "-c", "select pg_sleep(5)"])
        Thread.sleep(forTimeInterval: 0.5)
        let start = Date()
        kill(q.pid, SIGQUIT)  // immediate: do not wait
        q.process.wait(timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3, q.log)
        XCTAssertNotEqual(held.wait(timeout: 20), 0, "the held session was cut")
    }

    func testDaemonModePidFileReloadAndFastStop() throws {
        // Start detached (no -n), as an operator would.
        let conf = cluster.base + "/daemon"
        try FileManager.default.createDirectory(atPath: conf, withIntermediateDirectories: true)
        let port = Shell.freePort()
        var text = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(conf)'
            pid_file_name = '\(conf)/poold.pid'
            logdir = '\(conf)'
            log_min_messages = info
            backend_hostname0 = '127.0.0.1'
            backend_port0 = \(cluster.port)

            """
        try text.write(toFile: conf + "/pgpool.conf", atomically: true, encoding: .utf8)
        let start = try Shell.run(PooldProcess.binary, ["-f", conf + "/pgpool.conf"])
        XCTAssertEqual(start.status, 0, start.output)
        var pid: Int32 = 0
        for _ in 0..<100 where pid == 0 {
            pid = Int32((try? String(contentsOfFile: conf + "/poold.pid", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            usleep(50_000)
        }
        XCTAssertGreaterThan(pid, 0, "pid file written")
        defer { if pid > 0, kill(pid, 0) == 0 { kill(pid, SIGKILL) } }
        XCTAssertEqual(try Shell.run("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "bench",
                                              "-c", "select 7"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines), "7")
        // A restart-only change is reported, a reloadable one applied.
        text += "num_init_children = 5\nclient_idle_limit = 30\n"
        try text.write(toFile: conf + "/pgpool.conf", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Shell.run(PooldProcess.binary, ["-f", conf + "/pgpool.conf", "reload"]).status, 0)
        var log = ""
        for _ in 0..<50 where !log.contains("configuration reloaded") {
            usleep(100_000)
            log = (try? String(contentsOfFile: conf + "/poold.log", encoding: .utf8)) ?? ""
        }
        XCTAssertTrue(log.contains("\"num_init_children\" changed; the change takes effect after a restart"), log)
        XCTAssertTrue(log.contains("configuration reloaded"), log)
        let stop = try Shell.run(PooldProcess.binary, ["-f", conf + "/pgpool.conf", "-m", "fast", "stop"], timeout: 30)
        XCTAssertEqual(stop.status, 0, stop.output)
        XCTAssertNotEqual(kill(pid, 0), 0, "poold exited")
        XCTAssertFalse(FileManager.default.fileExists(atPath: conf + "/poold.pid"), "pid file removed")
    }
}

enum PooldVersionText {
    /// The version poold reports (kept in Sources/Shared/Version.swift).
    static var expected: String {
        let text = (try? String(contentsOfFile: Shell.repoRoot + "/Sources/Shared/Version.swift", encoding: .utf8)) ?? ""
        return text.split(separator: "\"").dropFirst().first.map(String.init) ?? "?"
    }
}

/// SHOW commands answered by poold itself, with live values.
final class ShowCommandIntegrationTests: XCTestCase {
    func testShowPoolNodesHasFourteenColumnsWithLiveValues() throws {
        let cluster = try SharedCluster.get()
        let p = try PooldProcess(cluster: cluster, extra: """
            health_check_period = 5
            health_check_user = 'postgres'
            sr_check_period = 5
            sr_check_user = 'postgres'
            backend_weight0 = 1
            backend_weight1 = 1
            backend_weight2 = 2
            app_name_redirect_preference_list = 'psql:2'
            """)
        defer { p.stop() }
        let r = try Shell.run("psql", ["-X", "-A", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres", "-d", "bench",
                                       "-c", "SHOW pool_nodes"])
        XCTAssertEqual(r.status, 0, r.output)
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(lines.first, ["node_id", "hostname", "port", "status", "pg_status", "lb_weight", "role", "pg_role",
                                     "select_cnt", "load_balance_node", "replication_delay", "replication_state",
                                     "replication_sync_state", "last_status_change"], r.stdout)
        guard lines.count >= 4 else { return XCTFail(r.stdout) }
        XCTAssertEqual(Array(lines[1][0...7]), ["0", "127.0.0.1", String(cluster.port), "up", "up", "0.250000", "primary", "primary"])
        XCTAssertEqual(lines[1][11], "")
        for n in 1...2 {
            XCTAssertEqual(Array(lines[n + 1][0...7]), [String(n), "127.0.0.1", String(cluster.port(of: n)), "up", "up",
                                                        n == 2 ? "0.500000" : "0.250000", "standby", "standby"], r.stdout)
            XCTAssertEqual(lines[n + 1][11], "streaming", r.stdout)
            XCTAssertEqual(lines[n + 1][12], "async", r.stdout)
            XCTAssertNotNil(UInt64(lines[n + 1][10]), r.stdout)
        }
        XCTAssertEqual([lines[1][9], lines[2][9], lines[3][9]], ["false", "false", "true"],
                       "psql's load-balance node is node 2 (app_name_redirect_preference_list)")
        XCTAssertEqual(lines[3].count, 14)
        XCTAssertEqual(lines.last, ["(3 rows)"])
        XCTAssertTrue(lines[1][13].range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"#, options: .regularExpression) != nil, lines[1][13])
        // Same session: poold answers SHOW pool_version itself, then the session goes on to the backend.
        let both = try p.psql("select 40 + 2", extra: ["-c", "show pool_version"])
        XCTAssertEqual(both.status, 0, both.output)
        XCTAssertEqual(both.stdout.split(separator: "\n").map(String.init), ["\(PooldVersionText.expected) (poold)", "42"], both.output)
    }

    func testPgpoolShowAndOtherShowCommands() throws {
        let cluster = try SharedCluster.get()
        let p = try PooldProcess(cluster: cluster, extra: "num_init_children = 11")
        defer { p.stop() }
        XCTAssertEqual(try p.psql("PGPOOL SHOW num_init_children").stdout, "11\n")
        XCTAssertEqual(try p.psql("pgpool show backend_port1").stdout, "\(cluster.port(of: 1))\n")
        let all = try p.psql("PGPOOL SHOW ALL")
        XCTAssertTrue(all.stdout.contains("backend_hostname2|127.0.0.1|"), all.output)
        let unknown = try p.psql("PGPOOL SHOW nope")
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("unrecognized configuration parameter \"nope\""), unknown.output)
        let status = try p.psql("SHOW pool_status")
        XCTAssertTrue(status.stdout.contains("num_init_children|11|"), status.output)
        let hc = try p.psql("SHOW pool_health_check_stats")
        XCTAssertEqual(hc.stdout.split(separator: "\n").count, 3, hc.output)
        XCTAssertEqual(hc.stdout.split(separator: "\n").first?.split(separator: "|", omittingEmptySubsequences: false).count, 20)
        // After an error answered by poold the session still works.
        let after = try p.psql("select 5", extra: ["-c", "PGPOOL SHOW port"])
        XCTAssertEqual(after.stdout, "\(p.port)\n5\n", after.output)
    }

    func testReplicationCheckSeesAPausedStandbyFallBehind() throws {
        let cluster = try SharedCluster.get()
        let p = try PooldProcess(cluster: cluster, extra: """
            sr_check_period = 1
            sr_check_user = 'postgres'
            log_standby_delay = 'if_over_threshold'
            delay_threshold = 1000
            """)
        defer { p.stop() }
        try cluster.sql("select pg_wal_replay_pause()", node: 2)
        defer { _ = try? cluster.sql("select pg_wal_replay_resume()", node: 2) }
        try cluster.sql("drop table if exists lag_t; create table lag_t as select g from generate_series(1, 20000) g", database: "bench")
        var log = ""
        for _ in 0..<50 where !log.contains("Replication of node: 2 is behind") {
            usleep(100_000)
            log = p.log
        }
        XCTAssertTrue(log.contains("Replication of node: 2 is behind"), log)
        XCTAssertFalse(log.contains("Replication of node: 1 is behind"), "node 1 keeps replaying")
        let rows = try p.psql("SHOW pool_nodes").stdout.split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        XCTAssertGreaterThan(UInt64(rows[2][10]) ?? 0, 1000, "\(rows)")
        try cluster.sql("select pg_wal_replay_resume()", node: 2)
        var caughtUp = false
        for _ in 0..<50 where !caughtUp {
            usleep(100_000)
            let r = try p.psql("SHOW pool_nodes").stdout.split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
            caughtUp = r.count == 3 && r[2][10] == "0"
        }
        XCTAssertTrue(caughtUp, "the standby caught up after replay resumed")
    }

    func testPgpoolSetAndResetAreSessionLocal() throws {
        let cluster = try SharedCluster.get()
        let p = try PooldProcess(cluster: cluster)
        defer { p.stop() }
        let r = try p.psql("PGPOOL SHOW client_idle_limit", extra: [
            "-c", "PGPOOL SET client_idle_limit = 30", "-c", "PGPOOL SHOW client_idle_limit",
            "-c", "PGPOOL RESET client_idle_limit"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.stdout, "SET\n30\nRESET\n0\n", "SET applies to the session; RESET restores the configured value")
        XCTAssertEqual(try p.psql("PGPOOL SHOW client_idle_limit").stdout, "0\n", "another session never saw it")
        let refused = try p.psql("PGPOOL SET num_init_children = 5")
        XCTAssertTrue(refused.stderr.contains("cannot be changed in a session"), refused.output)
        // The session value takes effect: idle for 2 s with a 1 s limit ends the session.
        let idle = try p.psql("select 'not reached'", extra: ["-c", "PGPOOL SET client_idle_limit = 1", "-c", "\\! sleep 2"])
        XCTAssertNotEqual(idle.status, 0, idle.output)
        XCTAssertFalse(idle.stdout.contains("not reached"), idle.output)
    }

    func testShowPoolNodesWithoutChecksSaysUnknown() throws {
        let cluster = try SharedCluster.get()
        let p = try PooldProcess(cluster: cluster)
        defer { p.stop() }
        let r = try p.psql("SHOW pool_nodes")
        XCTAssertEqual(r.status, 0, r.output)
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(rows.count, 3, r.stdout)
        for row in rows {
            XCTAssertEqual(row[4], "unknown", "health_check_period = 0")
            XCTAssertEqual(row[7], "unknown", "sr_check_user 'nobody' cannot log in")
        }
    }
}
