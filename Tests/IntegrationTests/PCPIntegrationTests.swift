import Foundation
import XCTest

/// Debian's real Pgpool-II 4.3.5 `pcp_*` programs against poold's PCP port, over TCP and the Unix socket, the
/// password from a pcppass file (PCPPASSFILE, and `~/.pcppass` of an OS user the test makes: the 4.3.5 client
/// takes `~` from getpwuid, not from $HOME), compared with what Pgpool-II prints
/// (reference §6.9). One poold on the shared cluster; the tests run in order and the last one stops it with
/// `pcp_stop_pgpool -m fast`. Topology changes are poold's view only (detach/attach, promote without -s).
final class PCPIntegrationTests: XCTestCase {
    nonisolated(unsafe) static var cluster: TestCluster!
    nonisolated(unsafe) static var poold: PooldProcess!
    nonisolated(unsafe) static var setupError: Error?
    nonisolated(unsafe) static var pcpPort = 0
    nonisolated(unsafe) static var socketDir = ""

    static let password = "pcp-secret"

    override class func setUp() {
        super.setUp()
        do {
            for tool in ["pcp_node_count", "pcp_node_info", "pcp_stop_pgpool"]
            where !FileManager.default.isExecutableFile(atPath: "/usr/sbin/\(tool)") {
                throw HarnessError("/usr/sbin/\(tool) not found: install Debian's pgpool2 package (scripts/install-deps.sh)")
            }
            cluster = try SharedCluster.get()
            pcpPort = Shell.freePort()
            socketDir = cluster.base + "/pcp-\(pcpPort)"
            try FileManager.default.createDirectory(atPath: socketDir, withIntermediateDirectories: true)
            for (name, line) in ["tcp.pass": "127.0.0.1:\(pcpPort):pcpadmin:\(password)", "any.pass": "*:*:pcpadmin:\(password)",
                                 "wrong.pass": "*:*:pcpadmin:not-it",
                                 "nobody.pass": "*:*:nobody:\(password)", "second.pass": "*:*:second:two"] {
                try (line + "\n").write(toFile: socketDir + "/" + name, atomically: true, encoding: .utf8)
                chmod(socketDir + "/" + name, 0o600)
            }
            let extra = """
                pcp_listen_addresses = '127.0.0.1'
                pcp_port = \(pcpPort)
                pcp_socket_dir = '\(socketDir)'
                health_check_period = 1
                health_check_user = 'postgres'
                sr_check_period = 1
                sr_check_user = 'postgres'
                """
            poold = try PooldProcess(cluster: cluster, extra: extra, files: ["pcp.conf": "# PCP users\npcpadmin:\(md5(password))\n"])
        } catch {
            setupError = error
        }
    }

    override class func tearDown() {
        poold?.stop(checkLeaks: false)
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let e = Self.setupError { throw e }
    }

    override func tearDownWithError() throws {
        if let p = Self.poold { assertNoLeakedBackends(p, cluster: Self.cluster) }
    }

    var poold: PooldProcess { Self.poold }

    static func md5(_ s: String) -> String {
        (try? Shell.run(PooldProcess.binary, ["md5", s]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
    }

    /// `/usr/sbin/<tool> ARGS -h 127.0.0.1 -p PORT -U user -w`, the password from a host- and port-specific line.
    func pcp(_ tool: String, _ args: [String] = [], user: String = "pcpadmin") throws -> CommandResult {
        try Shell.run("/usr/sbin/" + tool, args + ["-h", "127.0.0.1", "-p", String(Self.pcpPort), "-U", user, "-w"],
                      environment: ["PCPPASSFILE": Self.socketDir + "/tcp.pass"], timeout: 60)
    }

    /// The same over the Unix socket, the password from PCPPASSFILE.
    func pcpSocket(_ tool: String, _ args: [String] = [], passFile: String = "any.pass", user: String = "pcpadmin") throws -> CommandResult {
        try Shell.run("/usr/sbin/" + tool, args + ["-h", Self.socketDir, "-p", String(Self.pcpPort), "-U", user, "-w"],
                      environment: ["PCPPASSFILE": Self.socketDir + "/" + passFile], timeout: 60)
    }

    func nodeStatus(_ node: Int) throws -> [String] {
        let r = try poold.psql("show pool_nodes", database: "postgres")
        let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("\(node)|") } ?? ""
        let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 14 else { throw HarnessError("SHOW pool_nodes: \(r.output)") }
        return fields
    }

    func waitFor(_ what: String, seconds: Double = 10, _ condition: () throws -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? condition()) == true { return }
            usleep(100_000)
        }
        XCTFail("timed out waiting for \(what)")
    }

    let dateTime = #"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"#

    func test1_NodeCountAndNodeInfoOverTCPAndTheSocket() throws {
        var r = try pcp("pcp_node_count")
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.stdout, "3\n")
        r = try pcpSocket("pcp_node_count")
        XCTAssertEqual(r.stdout, "3\n", r.output)
        let mode = (try FileManager.default.attributesOfItem(atPath: Self.socketDir + "/.s.PGSQL.\(Self.pcpPort)")[.posixPermissions] as? Int) ?? 0
        XCTAssertEqual(mode & 0o777, 0o600, "owner only (Pgpool-II's is 0777): other users go through TCP")

        // Live pg_status and replication state come with the health and replication checks' first rounds.
        waitFor("pcp_node_info with streaming standbys") {
            try pcp("pcp_node_info").stdout.components(separatedBy: "streaming").count == 3
        }
        r = try pcp("pcp_node_info")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        guard lines.count == 3 else { return XCTFail("three nodes: \(r.output)") }
        let c = Self.cluster!
        // 4.3.5's format: hostname port status weight status_name pg_status role pg_role delay state sync_state last_change.
        assertMatches(lines[0], #"^127\.0\.0\.1 \#(c.port(of: 0)) 2 0\.333333 up up primary primary 0 none none \#(dateTime)$"#)
        for n in 1...2 {
            assertMatches(lines[n], #"^127\.0\.0\.1 \#(c.port(of: n)) 2 0\.333333 up up standby standby \d+ streaming async \#(dateTime)$"#)
        }
        r = try pcpSocket("pcp_node_info", ["-n", "1"])
        assertMatches(r.stdout, #"^127\.0\.0\.1 \#(c.port(of: 1)) 2 0\.333333 up up standby standby \d+ streaming async \#(dateTime)\n$"#)
        print("pcp_node_info -v (4.3.5) against poold:\n" + (try pcp("pcp_node_info", ["-v"])).stdout)
        r = try pcp("pcp_node_info", ["-v", "-n", "2"])
        for label in ["Hostname               : 127.0.0.1", "Port                   : \(c.port(of: 2))", "Status                 : 2",
                      "Weight                 : 0.333333", "Status Name            : up", "Backend Status Name    : up",
                      "Role                   : standby", "Backend Role           : standby", "Replication State      : streaming",
                      "Replication Sync State : async"] {
            XCTAssertTrue(r.stdout.contains(label + "\n"), "\(label) in \(r.output)")
        }
        // A node that does not exist: Pgpool-II's ERROR, exit status 0 as Pgpool-II's tools have it.
        r = try pcp("pcp_node_info", ["-n", "7"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("ERROR:  informing node info failed\nDETAIL:  invalid node ID : 7"), r.output)
    }

    /// `~/.pcppass` itself, as operators use it: the 4.3.5 client finds `~` with getpwuid, so the test makes an OS
    /// user of its own (home in a temp dir, deleted by name afterwards) and runs the real programs as that user,
    /// without PCPPASSFILE: the password comes from the home's .pcppass or the login fails.
    func test1b_PcppassInTheHomeDirectory() throws {
        guard getuid() == 0 else { throw HarnessError("test1b_PcppassInTheHomeDirectory needs root (useradd, runuser) as CI runs it") }
        let name = "pooldpcp\(getpid() % 100_000)"
        let home = NSTemporaryDirectory() + "poold-pcphome-\(getpid())"
        _ = try? Shell.run("/usr/sbin/userdel", [name])
        try? FileManager.default.removeItem(atPath: home)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        chmod(home, 0o755)
        let add = try Shell.run("/usr/sbin/useradd", ["-M", "-d", home, "-s", "/bin/sh", name])
        XCTAssertEqual(add.status, 0, add.output)
        defer {
            _ = try? Shell.run("/usr/sbin/userdel", [name])
            try? FileManager.default.removeItem(atPath: home)
        }
        func asUser(_ tool: String, _ args: [String] = []) throws -> CommandResult {
            try Shell.run("/usr/sbin/runuser", ["-u", name, "--", "/usr/bin/env", "-u", "PCPPASSFILE", "HOME=" + home,
                                                "/usr/sbin/" + tool] + args + ["-h", "127.0.0.1", "-p", String(Self.pcpPort), "-U", "pcpadmin", "-w"],
                          timeout: 60)
        }
        // No .pcppass yet: -w means no prompt, so the login fails with Pgpool-II's message.
        var r = try asUser("pcp_node_count")
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertFalse(r.stdout.hasPrefix("3"), r.output)
        let pass = home + "/.pcppass"
        try "127.0.0.1:\(Self.pcpPort):pcpadmin:\(Self.password)\n".write(toFile: pass, atomically: true, encoding: .utf8)
        chmod(pass, 0o600)
        XCTAssertEqual(try Shell.run("/bin/chown", [name, pass, home]).status, 0)
        r = try asUser("pcp_node_count")
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.stdout, "3\n", r.output)
        r = try asUser("pcp_node_info", ["-n", "0"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.hasPrefix("127.0.0.1 \(Self.cluster.port(of: 0)) "), r.output)
        // A wrong password in ~/.pcppass is refused as Pgpool-II refuses it.
        try "*:*:pcpadmin:not-it\n".write(toFile: pass, atomically: true, encoding: .utf8)
        chmod(pass, 0o600)
        _ = try Shell.run("/bin/chown", [name, pass])
        r = try asUser("pcp_node_count")
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("authentication failed"), r.output)
    }

    func test2_HealthCheckStatsProcessesPoolStatusAndWatchdog() throws {
        // 20 fields; durations in ms, averages %f; never skipped nor failed: those two times are empty.
        let stats = #"^0 127\.0\.0\.1 \#(Self.cluster.port(of: 0)) up primary \#(dateTime) [1-9]\d* [1-9]\d* 0 0 0 "#
            + #"\d+\.\d{6} \d+ \d+ \d+ \d+\.\d{6} \#(dateTime) \#(dateTime)  \n$"#
        waitFor("a health check of node 0") {
            try pcp("pcp_health_check_stats", ["-n", "0"]).stdout.range(of: stats, options: .regularExpression) != nil
        }
        var r = try pcp("pcp_health_check_stats", ["-n", "0"])
        XCTAssertEqual(r.status, 0, r.output)
        assertMatches(r.stdout, stats)

        // One client session open through poold while the process commands run.
        let client = try Spawned("/usr/bin/env", ["psql", "-X", "-h", "127.0.0.1", "-p", String(poold.port), "-U", "postgres",
                                                  "-d", "bench", "-c", "select pg_sleep(3)"])
        defer { _ = client.wait(timeout: 10) }
        waitFor("the session in pcp_proc_count") { try pcp("pcp_proc_count").stdout.hasSuffix(" \n") }
        r = try pcp("pcp_proc_count")
        assertMatches(r.stdout, #"^(\d+ )+\n$"#)
        let pid = r.stdout.split(separator: " ").first.map(String.init) ?? ""
        r = try pcp("pcp_proc_info")
        // database username start_time count major minor backend_time client_time idle disconnect counter pid connected id node status.
        XCTAssertTrue(r.stdout.split(separator: "\n").contains { $0.hasPrefix("bench postgres ") && $0.hasSuffix(" Execute command") }, r.output)
        r = try pcp("pcp_proc_info", ["-a"])
        let rows = r.stdout.split(separator: "\n").filter { $0.hasPrefix("bench postgres ") }
        XCTAssertEqual(rows.count % 3, 0, "one row per session and node: \(r.output)")
        r = try pcp("pcp_proc_info", ["-P", pid, "-v"])
        XCTAssertTrue(r.stdout.contains("Database                  : bench\nUsername                  : postgres\n"), r.output)
        XCTAssertTrue(r.stdout.contains("PID                       : \(pid)\n"), r.output)

        r = try pcp("pcp_pool_status")
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.contains("name : listen_addresses\nvalue: 127.0.0.1\ndesc : "), r.output)
        XCTAssertTrue(r.stdout.contains("name : backend_port2\nvalue: \(Self.cluster.port(of: 2))\ndesc : backend #2 port number\n\n"),
                      r.output)

        r = try pcp("pcp_watchdog_info")
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.contains("ERROR:  PCP: informing watchdog info failed\nDETAIL:  watchdog is not enabled"), r.output)
    }

    func test3_DetachAttachAndPromoteGoThroughTheRequestLayer() throws {
        var r = try pcp("pcp_detach_node", ["-n", "2"])
        XCTAssertEqual(r.stdout, "pcp_detach_node -- Command Successful\n", r.output)
        XCTAssertEqual(try nodeStatus(2)[3], "down")
        assertMatches(try pcp("pcp_node_info", ["-n", "2"]).stdout, #"^127\.0\.0\.1 \d+ 3 0\.333333 down "#)
        r = try pcp("pcp_detach_node", ["-n", "2"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("ERROR:  degenerate backend request failed\nDETAIL:  "), r.output)
        r = try pcpSocket("pcp_attach_node", ["-n", "2"])
        XCTAssertEqual(r.stdout, "pcp_attach_node -- Command Successful\n", r.output)
        waitFor("node 2 back") { ["up", "waiting"].contains(try nodeStatus(2)[3]) }
        // -g: once no session uses the node (none here).
        r = try pcp("pcp_detach_node", ["-g", "-n", "2"])
        XCTAssertEqual(r.stdout, "pcp_detach_node -- Command Successful\n", r.output)
        XCTAssertEqual(try nodeStatus(2)[3], "down")
        XCTAssertEqual(try pcp("pcp_attach_node", ["-n", "2"]).stdout, "pcp_attach_node -- Command Successful\n")
        waitFor("node 2 back") { ["up", "waiting"].contains(try nodeStatus(2)[3]) }

        // Without -s: poold's view only, as Pgpool-II's pcp_promote_node (PostgreSQL is not promoted).
        r = try pcp("pcp_promote_node", ["-n", "1"])
        XCTAssertEqual(r.stdout, "pcp_promote_node -- Command Successful\n", r.output)
        // (SQL sessions are refused while the node poold calls primary is a standby: pcp_node_info shows the role.)
        assertMatches(try pcp("pcp_node_info", ["-n", "1"]).stdout, #"^127\.0\.0\.1 \d+ 2 0\.333333 up up primary standby "#)
        r = try pcp("pcp_promote_node", ["-n", "1"])
        XCTAssertTrue(r.stderr.contains("FATAL:  invalid promote request\nDETAIL:  specified node is already primary node, can't promote node id 1"),
                      r.output)
        // -g: once no session uses the current primary (none here).
        r = try pcp("pcp_promote_node", ["-g", "-n", "0"])
        XCTAssertEqual(r.stdout, "pcp_promote_node -- Command Successful\n", r.output)
        XCTAssertEqual(try nodeStatus(0)[6], "primary")

        r = try pcp("pcp_recovery_node", ["-n", "0"])
        XCTAssertTrue(r.stderr.contains("ERROR:  process recovery request failed\nDETAIL:  primary server cannot be recovered by online recovery."),
                      r.output)
    }

    func test4_WrongPasswordUnknownUserAndBadPackets() throws {
        var r = try pcpSocket("pcp_node_count", passFile: "wrong.pass")
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.contains("FATAL:  authentication failed for user \"pcpadmin\"\nDETAIL:  username and/or password does not match"),
                      r.output)
        r = try pcpSocket("pcp_node_count", passFile: "nobody.pass", user: "nobody")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("FATAL:  authentication failed for user \"nobody\"\nDETAIL:  username and/or password does not match"),
                      r.output)
        // Raw bytes: a length of 300, a command before authentication, an unknown kind after it. Each connection gets
        // Pgpool-II's FATAL and is closed; the port keeps serving.
        let script = """
            import hashlib, socket, struct
            def frame(kind, payload=b""): return kind + struct.pack(">i", 4 + len(payload)) + payload
            def md5(b): return hashlib.md5(b).hexdigest()
            def talk(data, login=False):
                s = socket.create_connection(("127.0.0.1", \(Self.pcpPort)))
                if login:
                    s.sendall(frame(b"M")); salt = b""
                    while len(salt) < 9: salt += s.recv(9 - len(salt))
                    answer = md5(md5(md5(b"\(Self.password)").encode() + b"pcpadmin").encode() + salt[5:9])
                    s.sendall(frame(b"R", b"pcpadmin\\0" + answer.encode() + b"\\0")); ok = b""
                    while len(ok) < 22: ok += s.recv(22 - len(ok))
                s.sendall(data); out = b""
                while True:
                    b = s.recv(4096)
                    if not b: break
                    out += b
                return out
            for data, login in [(b"L" + struct.pack(">i", 300), False), (frame(b"L"), False), (frame(b"Q"), True)]:
                print(talk(data, login).split(b"\\0M")[1].split(b"\\0F")[0].decode().replace("\\0D", " / "))
            # Commands the 4.3.5 tools lack: pcp_log_rotate (V), pcp_invalidate_query_cache (G), set parameter (A);
            # the connection stays open after an ERROR, so X ends each.
            for data in [frame(b"V", b"l"), frame(b"G"), frame(b"A", b"client_min_messages\\0debug1\\0"), frame(b"A", b"x\\0y\\0")]:
                out = talk(data + frame(b"X"), True)
                print(out[:1].decode(), out[5:].split(b"\\0F")[0].replace(b"\\0", b" ").decode().strip())
            """
        // As logrotate would: move the log away; pcp_log_rotate makes poold write to a new file at the old path.
        try FileManager.default.moveItem(atPath: poold.logFile, toPath: poold.logFile + ".1")
        r = try Shell.run("/usr/bin/python3", ["-c", script], timeout: 30)
        XCTAssertEqual(r.stdout, """
            invalid PCP packet / incorrect packet length (300)
            authentication failed for new PCP connection / connection not authorized
            PCP processing request / unknown PCP packet type "Q"
            v CommandComplete
            E SERROR CXX000 Mquery cache is not enabled Dpoold has no query cache
            a CommandComplete
            E SERROR CXX000 MPCP: set configuration parameter failed Dinvalid parameter "x"

            """, r.output)
        XCTAssertEqual(try pcp("pcp_node_count").stdout, "3\n")
        XCTAssertEqual(try pcp("pcp_detach_node", ["-n", "7"]).status, 0)
        XCTAssertTrue(poold.log.contains("PCP request"), "the new log file has the lines after the rotation: \(poold.log)")
        let old = (try? String(contentsOfFile: poold.logFile + ".1", encoding: .utf8)) ?? ""
        XCTAssertTrue(old.contains("request=pcp_log_rotate"), old)
        // Failed logins and bad packets are logged with the peer (never with a password).
        XCTAssertTrue(old.contains("PCP connection closed: authentication failed for user \"nobody\""), old)
        XCTAssertFalse(old.contains(Self.password) || old.contains("not-it"), "no password in the log")
    }

    func test5_ReloadRereadsPcpConf() throws {
        XCTAssertEqual(try pcpSocket("pcp_node_count", passFile: "second.pass", user: "second").status, 1)
        try "pcpadmin:\(Self.md5(Self.password))\nsecond:\(Self.md5("two"))\n"
            .write(toFile: poold.dir + "/pcp.conf", atomically: true, encoding: .utf8)
        chmod(poold.dir + "/pcp.conf", 0o600)
        let r = try pcp("pcp_reload_config")
        XCTAssertEqual(r.stdout, "pcp_reload_config -- Command Successful\n", r.output)
        waitFor("the new pcp.conf user") { try pcpSocket("pcp_node_count", passFile: "second.pass", user: "second").stdout == "3\n" }
    }

    /// pcp_node_info_layout is reloadable; the 4.4 layout shown to the 4.3.5 client is the garbage the reference
    /// describes (the by-time flag as the delay, the delay as the state, the sync state's place holds the state,
    /// the time is 0), which is why 4.3 is the default here.
    func test5b_NodeInfoLayoutSwitch() throws {
        let conf = try String(contentsOfFile: poold.configFile, encoding: .utf8)
        defer {
            try? conf.write(toFile: poold.configFile, atomically: true, encoding: .utf8)
            _ = try? pcp("pcp_reload_config")
        }
        try (conf + "\npcp_node_info_layout = '4.4'\n").write(toFile: poold.configFile, atomically: true, encoding: .utf8)
        XCTAssertEqual(try pcp("pcp_reload_config").status, 0)
        let garbled = #"^127\.0\.0\.1 \d+ 2 0\.333333 up up standby standby 0 \d+ streaming 19(69-12-31|70-01-01) \d\d:\d\d:00\n$"#
        waitFor("the 4.4 layout") { try pcp("pcp_node_info", ["-n", "1"]).stdout.range(of: garbled, options: .regularExpression) != nil }
        try conf.write(toFile: poold.configFile, atomically: true, encoding: .utf8)
        XCTAssertEqual(try pcp("pcp_reload_config").status, 0)
        waitFor("the 4.3 layout again") { try pcp("pcp_node_info", ["-n", "1"]).stdout.contains(" streaming async ") }
    }

    /// A one-member watchdog (no VIP) on loopback: pcp_watchdog_info's plain and -v output from poold's view.
    func test6_WatchdogInfoWithTheWatchdogOn() throws {
        // pgpool_port0 is what the member announces; the harness picks poold's own port.
        let pcpPort = Shell.freePort(), wdPort = Shell.freePort(), hbPort = Shell.freePort(), port = 9999
        let extra = """
            pcp_listen_addresses = '127.0.0.1'
            pcp_port = \(pcpPort)
            use_watchdog = on
            wd_authkey = 'pcp-test'
            hostname0 = '127.0.0.1'
            wd_port0 = \(wdPort)
            pgpool_port0 = \(port)
            heartbeat_hostname0 = '127.0.0.1'
            heartbeat_port0 = \(hbPort)
            """
        let p = try PooldProcess(cluster: Self.cluster, extra: extra,
                                 files: ["pcp.conf": "pcpadmin:\(Self.md5(Self.password))\n", "pgpool_node_id": "0\n"])
        defer { p.stop() }
        func info(_ args: [String]) throws -> CommandResult {
            try Shell.run("/usr/sbin/pcp_watchdog_info", args + ["-h", "127.0.0.1", "-p", String(pcpPort), "-U", "pcpadmin", "-w"],
                          environment: ["PCPPASSFILE": Self.socketDir + "/any.pass"], timeout: 60)
        }
        let name = "127.0.0.1:\(wdPort)"
        waitFor("the member to lead", seconds: 20) { try info([]).stdout.contains(" LEADER ") }
        var r = try info([])
        // <total> <alive+1> <escalated> <leader name> <leader host>, a blank line, then per node
        // name host pgpool_port wd_port state state_name membership membership_string.
        XCTAssertEqual(r.stdout, "1 1 YES \(name) 127.0.0.1\n\n\(name) 127.0.0.1 \(port) \(wdPort) 4 LEADER 0 MEMBER\n", r.output)
        print("pcp_watchdog_info -v (4.3.5) against poold:\n" + (try info(["-v"])).stdout)
        r = try info(["-v", "-n", "0"])
        for line in ["Total Nodes              : 1", "Quorum state             : QUORUM EXIST", "Local node escalation    : YES",
                     "Leader Node Name         : \(name)", "Node Name         : \(name)", "Delegate IP       : Not_Set",
                     "Pgpool port       : \(port)", "Watchdog port     : \(wdPort)", "Status Name       : LEADER",
                     "Membership Status : MEMBER"] {
            XCTAssertTrue(r.stdout.contains(line + "\n"), "\(line) in \(r.output)")
        }
        r = try info(["-n", "3"])
        XCTAssertTrue(r.stderr.contains("ERROR:  PCP: informing watchdog info failed\nDETAIL:  invalid watchdog index"), r.output)
    }

    /// Two watchdog members on loopback: `-s c` reaches the other member (Pgpool-II's wd_execute_cluster_command).
    func test6b_ClusterScopeReloadAndStopReachTheOtherMember() throws {
        let wd = [Shell.freePort(), Shell.freePort()], hb = [Shell.freePort(), Shell.freePort()], pcpPorts = [Shell.freePort(), Shell.freePort()]
        var members = ""
        for i in 0..<2 {
            members += "hostname\(i) = '127.0.0.1'\nwd_port\(i) = \(wd[i])\npgpool_port\(i) = \(9990 + i)\n"
                + "heartbeat_hostname\(i) = '127.0.0.1'\nheartbeat_port\(i) = \(hb[i])\n"
        }
        let p = try (0..<2).map { i in
            try PooldProcess(cluster: Self.cluster, extra: """
                pcp_listen_addresses = '127.0.0.1'
                pcp_port = \(pcpPorts[i])
                use_watchdog = on
                wd_authkey = 'pcp-test'
                wd_heartbeat_keepalive = 1
                wd_heartbeat_deadtime = 4
                \(members)
                """, files: ["pcp.conf": "pcpadmin:\(Self.md5(Self.password))\n", "pgpool_node_id": "\(i)\n"])
        }
        defer { p.forEach { $0.stop() } }
        func pcp0(_ tool: String, _ args: [String]) throws -> CommandResult {
            try Shell.run("/usr/sbin/" + tool, args + ["-h", "127.0.0.1", "-p", String(pcpPorts[0]), "-U", "pcpadmin", "-w"],
                          environment: ["PCPPASSFILE": Self.socketDir + "/any.pass"], timeout: 60)
        }
        waitFor("a leader of two", seconds: 30) {
            let lines = try pcp0("pcp_watchdog_info", []).stdout.split(separator: "\n")
            return lines.first?.hasPrefix("2 2 ") == true && lines.contains { $0.contains(" LEADER ") } && lines.contains { $0.contains(" STANDBY ") }
        }
        var r = try pcp0("pcp_reload_config", ["-s", "c"])
        XCTAssertEqual(r.stdout, "pcp_reload_config -- Command Successful\n", r.output)
        waitFor("member 1 reloaded") { p[1].log.contains("configuration reloaded") }
        XCTAssertTrue(p[1].log.contains("a member asks every member to reload"), p[1].log)
        // The member that got the PCP command reloads after it answers (as Pgpool-II's SIGHUP to its main process).
        waitFor("member 0 reloaded") { p[0].log.contains("configuration reloaded") }

        r = try pcp0("pcp_stop_pgpool", ["-s", "c", "-m", "fast"])
        XCTAssertEqual(r.stdout, "pcp_stop_pgpool -- Command Successful\n", r.output)
        for m in p { XCTAssertEqual(m.process.wait(timeout: 15), 0, m.log) }
        XCTAssertTrue(p[1].log.contains("a member asks every member to stop"), p[1].log)
    }

    func test7_StopFast() throws {
        let r = try pcp("pcp_stop_pgpool", ["-m", "fast"])
        XCTAssertEqual(r.stdout, "pcp_stop_pgpool -- Command Successful\n", r.output)
        XCTAssertEqual(poold.process.wait(timeout: 10), 0, poold.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.socketDir + "/.s.PGSQL.\(Self.pcpPort)"))
    }

    func assertMatches(_ s: String, _ pattern: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotNil(s.range(of: pattern, options: .regularExpression), "\(s.debugDescription) !~ \(pattern)", file: file, line: line)
    }
}

/// pcp_promote_node -s and pcp_recovery_node on a cluster of their own (they change PostgreSQL's topology), with
/// share/scripts as failover, follow-primary and recovery commands: the same request layer as `poolconsole
/// switchover` / `recover`, reached through PCP.
final class PCPSwitchoverIntegrationTests: XCTestCase {
    func testSwitchoverAndOnlineRecoveryThroughPCP() throws {
        let cluster = try TestCluster()
        defer { cluster.destroy() }
        let scripts = Shell.repoRoot + "/share/scripts"
        let pcpPort = Shell.freePort()
        let passFile = cluster.base + "/pcppass"
        try "*:*:pcpadmin:pw\n".write(toFile: passFile, atomically: true, encoding: .utf8)
        chmod(passFile, 0o600)
        let md5 = try Shell.run(PooldProcess.binary, ["md5", "pw"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let p = try PooldProcess(cluster: cluster, extra: """
            pcp_listen_addresses = '127.0.0.1'
            pcp_port = \(pcpPort)
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
            """, files: ["pcp.conf": "pcpadmin:\(md5)\n"], dataDirectories: true)
        defer { p.stop() }
        func pcp(_ tool: String, _ args: [String]) throws -> CommandResult {
            try Shell.run("/usr/sbin/" + tool, args + ["-h", "127.0.0.1", "-p", String(pcpPort), "-U", "pcpadmin", "-w"],
                          environment: ["PCPPASSFILE": passFile], timeout: 180)
        }
        func roles() throws -> [String] {
            try p.psql("show pool_nodes", database: "postgres").stdout.split(separator: "\n").map { line in
                let f = line.split(separator: "|", omittingEmptySubsequences: false)
                return f.count == 14 ? "\(f[3])/\(f[6])" : String(line)
            }
        }
        func waitFor(_ what: String, seconds: Double, _ condition: () throws -> Bool) {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if (try? condition()) == true { return }
                usleep(200_000)
            }
            XCTFail("timed out waiting for \(what)")
        }

        // -s: the primary is detached, failover_command promotes node 1 (%m), follow_primary re-points the others
        // (poold's follow_primary.sh brings the old primary back as a standby too, share/doc/ha.md).
        var r = try pcp("pcp_promote_node", ["-s", "-n", "1"])
        XCTAssertEqual(r.stdout, "pcp_promote_node -- Command Successful\n", r.output + p.log)
        XCTAssertEqual(try cluster.sql("select pg_is_in_recovery()", node: 1), "f")
        waitFor("nodes 0 and 2 following node 1", seconds: 60) {
            try cluster.sql("select count(*) from pg_stat_replication where state = 'streaming'", node: 1) == "2"
        }
        waitFor("every node up, node 1 the primary", seconds: 30) { try roles() == ["up/standby", "up/primary", "up/standby"] }

        // A detached standby comes back by online recovery.
        r = try pcp("pcp_recovery_node", ["-n", "2"])
        XCTAssertTrue(r.stderr.contains("ERROR:  node recovery failed\nDETAIL:  node 2 is not down; detach it first"), r.output)
        XCTAssertEqual(try pcp("pcp_detach_node", ["-n", "2"]).stdout, "pcp_detach_node -- Command Successful\n")
        r = try pcp("pcp_recovery_node", ["-n", "2"])
        XCTAssertEqual(r.stdout, "pcp_recovery_node -- Command Successful\n", r.output + p.log)
        XCTAssertEqual(try roles()[2], "up/standby")
        waitFor("node 2 streaming from node 1", seconds: 30) {
            try cluster.sql("select count(*) from pg_stat_replication where application_name = 'node2' and state = 'streaming'", node: 1) == "1"
        }
    }
}
