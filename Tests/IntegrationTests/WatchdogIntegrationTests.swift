import Foundation
import XCTest

/// Three poold members in network namespaces (Support/WatchdogNet.swift) in front of one real primary + 2
/// standbys in the db namespace, electing a leader that holds the VIP through scripts/vip-recorder.sh. Faults:
/// kill -9 of the leader, SIGSTOP past the deadtime, a partition. After every scenario the recorder's log must
/// show at most one VIP holder at every instant (scripts/vip-check.py). Timings: poold's recommended
/// wd_heartbeat_keepalive = 1, wd_heartbeat_deadtime = 4. Needs root; fails (never skips) without.
final class WatchdogIntegrationTests: XCTestCase {
    /// A running 3-member watchdog cluster.
    final class Cluster {
        let net: WatchdogNet
        let db: TestCluster
        let count: Int
        /// The seed's Pgpool-II 4.1 form (wd_hostname, other_pgpool_*, heartbeat_destination*) instead of 4.2's.
        let form41: Bool
        let halfVotes: Bool
        var members: [Spawned?]
        let pgpoolPort = 9999

        /// More pgpool.conf lines for member i (health checks, failover_command…).
        let extra: (Int) -> String

        init(members count: Int = 3, form41: Bool = false, halfVotes: Bool = false, extra: @escaping (Int) -> String = { _ in "" }) throws {
            self.count = count
            self.extra = extra
            self.form41 = form41
            self.halfVotes = halfVotes
            members = Array(repeating: nil, count: count)
            net = try WatchdogNet(members: count)
            do {
                db = try net.startCluster()
                for i in 0..<count { try start(i) }
            } catch {
                net.stop()
                throw error
            }
        }

        func dir(_ i: Int) -> String { "\(net.dir)/poold-m\(i)" }
        func adminSocket(_ i: Int) -> String { dir(i) + "/poold_admin.sock" }

        func start(_ i: Int) throws {
            try FileManager.default.createDirectory(atPath: dir(i), withIntermediateDirectories: true)
            try "\(i)\n".write(toFile: dir(i) + "/pgpool_node_id", atomically: true, encoding: .utf8)
            var conf = """
                listen_addresses = '*'
                port = \(pgpoolPort)
                unix_socket_directories = '\(dir(i))'
                pcp_socket_dir = '\(dir(i))'
                pid_file_name = '\(dir(i))/poold.pid'
                logdir = '\(dir(i))'
                log_min_messages = info
                sr_check_period = 0
                health_check_period = 0
                use_watchdog = on
                wd_authkey = 'integration-test-key'
                wd_heartbeat_keepalive = 1
                wd_heartbeat_deadtime = 4
                \(net.vipConfig(member: i))

                """
            for n in 0..<db.nodes {
                conf += "backend_hostname\(n) = '\(net.dbAddress)'\nbackend_port\(n) = \(db.port(of: n))\n"
                    + "backend_data_directory\(n) = '\(db.base)/n\(n)'\n"
            }
            conf += extra(i) + "\n"
            if halfVotes { conf += "enable_consensus_with_half_votes = on\n" }
            if form41 {
                // This host names itself and the others, as in the seed.
                conf += "wd_hostname = '\(net.address(ofMember: i))'\nwd_port = 9000\nwd_heartbeat_port = 9694\n"
                for (k, j) in (0..<count).filter({ $0 != i }).enumerated() {
                    conf += "other_pgpool_hostname\(k) = '\(net.address(ofMember: j))'\nother_pgpool_port\(k) = \(pgpoolPort)\n"
                        + "other_wd_port\(k) = 9000\nheartbeat_destination\(k) = '\(net.address(ofMember: j))'\n"
                        + "heartbeat_destination_port\(k) = 9694\n"
                }
            } else {
                for j in 0..<count {
                    conf += "hostname\(j) = '\(net.address(ofMember: j))'\nwd_port\(j) = 9000\npgpool_port\(j) = \(pgpoolPort)\n"
                        + "heartbeat_hostname\(j) = '\(net.address(ofMember: j))'\nheartbeat_port\(j) = 9694\n"
                }
            }
            try conf.write(toFile: dir(i) + "/pgpool.conf", atomically: true, encoding: .utf8)
            members[i] = try net.spawn(in: net.member(i), PooldProcess.binary, ["-n", "-f", dir(i) + "/pgpool.conf"])
        }

        /// The member's `watchdog` admin result (nil while it does not answer).
        func report(_ i: Int) -> [String: Any]? {
            guard members[i]?.isRunning == true else { return nil }
            return (try? AdminSocket.request(adminSocket(i), "watchdog", timeout: 2)) as? [String: Any]
        }

        /// Member indexes that report themselves LEADER.
        func leaders(among given: [Int]? = nil) -> [Int] {
            let ids = given ?? Array(0..<count)
            return ids.filter { i in
                let nodes = report(i)?["WatchdogNodes"] as? [[String: Any]] ?? []
                return nodes.contains { ($0["Local"] as? Bool ?? false) && ($0["StateName"] as? String) == "LEADER" }
            }
        }

        /// Waits until exactly one of `ids` leads and holds the VIP (by the namespaces' addresses); its index.
        func waitForOneLeaderWithVIP(among given: [Int]? = nil, seconds: Double = 30) throws -> Int {
            let ids = given ?? Array(0..<count)
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let l = leaders(among: ids)
                if l.count == 1, (try? net.vipHolders()) == [net.member(l[0])] { return l[0] }
                usleep(100_000)
            }
            throw HarnessError("no single leader holding the VIP among \(ids) after \(seconds) s: leaders \(leaders(among: ids)), "
                               + "VIP on \((try? net.vipHolders()) ?? []); vip log:\n\((try? String(contentsOfFile: net.vipLog, encoding: .utf8)) ?? "")")
        }

        /// Every member sees every other one as LEADER or STANDBY (each heard the others' control messages, not
        /// only their heartbeats); the states seen, per member, when that does not happen within `seconds`.
        func waitForEveryMemberToSeeTheOthers(seconds: Double = 10) -> [Int: [String]]? {
            let deadline = Date().addingTimeInterval(seconds)
            var seen: [Int: [String]] = [:]
            repeat {
                for i in 0..<count {
                    seen[i] = (report(i)?["WatchdogNodes"] as? [[String: Any]] ?? [])
                        .filter { !($0["Local"] as? Bool ?? false) }.map { $0["StateName"] as? String ?? "?" }
                }
                if seen.values.allSatisfy({ $0.count == count - 1 && $0.allSatisfy { $0 == "LEADER" || $0 == "STANDBY" } }) {
                    return nil
                }
                usleep(200_000)
            } while Date() < deadline
            return seen
        }

        /// A write through the VIP from the client namespace, as an application would do it.
        func writeThroughVIP(_ value: Int) -> CommandResult? {
            try? net.exec(in: "client", "psql", ["-X", "-At", "-h", net.vip, "-p", String(pgpoolPort), "-U", "postgres",
                                                 "-d", "postgres", "-c", "insert into wd_probe values (\(value)) returning v"],
                          environment: ["PGCONNECT_TIMEOUT": "2"], timeout: 20)
        }

        func assertNeverTwoHolders(file: StaticString = #filePath, line: UInt = #line) {
            guard let r = try? net.vipCheck() else { return XCTFail("vip-check.py did not run", file: file, line: line) }
            XCTAssertEqual(r.status, 0, "two members held the VIP at once:\n\(r.output)", file: file, line: line)
            if r.status != 0 { keepLogs() }
        }

        /// The backend invariant for poold members in namespaces: once the clients are gone, no backend the members
        /// opened (client address on the test LAN) is active or inside a transaction.
        func assertNoLeakedBackends(file: StaticString = #filePath, line: UInt = #line) {
            let query = "select count(*) from pg_stat_activity where backend_type = 'client backend' "
                + "and client_addr <<= '\(net.cidr)' and state <> 'idle'"
            var left = "?"
            let deadline = Date().addingTimeInterval(10)
            repeat {
                // every node that answers (a test may have killed one)
                let counts = (0..<db.nodes).compactMap { try? db.sql(query, node: $0) }
                left = counts.joined(separator: ",")
                if !counts.isEmpty, counts.allSatisfy({ $0 == "0" }) { return }
                usleep(200_000)
            } while Date() < deadline
            XCTFail("backends of the watchdog members still busy with no client: \(left)", file: file, line: line)
        }

        /// Copies the members' logs to /tmp/poold-wd-failed/<prefix> (the namespaces' directory is deleted by stop()).
        func keepLogs() {
            let target = "/tmp/poold-wd-failed/\(net.prefix)"
            try? FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            for f in (try? FileManager.default.subpathsOfDirectory(atPath: net.dir)) ?? [] where f.hasSuffix(".log") {
                try? FileManager.default.copyItem(atPath: net.dir + "/" + f, toPath: target + "/" + f.replacingOccurrences(of: "/", with: "_"))
            }
            print("watchdog test logs kept in \(target)")
        }

        func stop() {
            assertNoLeakedBackends()
            for case let m? in members where m.isRunning { kill(m.pid, SIGCONT); kill(m.pid, SIGTERM) }
            for case let m? in members { _ = m.wait(timeout: 15) }
            net.stop()
        }
    }

    static func seconds(since t: UInt64) -> Double { Double(WatchdogNet.monotonicNanoseconds() - t) / 1e9 }

    /// Scenario 1: kill -9 the leader; a new leader holds the VIP, and a client connecting to the VIP writes again.
    func testKillingTheLeaderMovesTheVIPAndWritesResume() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.db.sql("create table wd_probe (v int)")
        let first = try c.waitForOneLeaderWithVIP()
        // Standbys started together hear each other too (a heartbeat overtaking a queued control frame once made
        // the frame look like a replay, leaving the other standby in ADD MESSAGE SENT).
        let mesh = c.waitForEveryMemberToSeeTheOthers()
        XCTAssertNil(mesh, "members that did not hear each other: \(mesh ?? [:])")
        let before = c.writeThroughVIP(1)
        XCTAssertEqual(before?.stdout.split(separator: "\n").first, "1", "a write through the VIP before the fault: \(before?.output ?? "no psql")")
        let killedAt = WatchdogNet.monotonicNanoseconds()
        kill(c.members[first]!.pid, SIGKILL)
        let others = [0, 1, 2].filter { $0 != first }
        let second = try c.waitForOneLeaderWithVIP(among: others)
        let moved = Self.seconds(since: killedAt)
        // The killed leader's VIP guard brought its VIP down (poold itself could not).
        let events = try c.net.vipEvents()
        let guardDown = events.first { $0.member == c.net.member(first) && $0.action == "down" && $0.time >= killedAt }
        XCTAssertNotNil(guardDown, "the dead leader's VIP guard ran if_down_cmd: \(events)")
        var wrote = false
        let deadline = Date().addingTimeInterval(20)
        while !wrote && Date() < deadline {
            wrote = c.writeThroughVIP(2)?.stdout.split(separator: "\n").first == "2"
            if !wrote { usleep(200_000) }
        }
        let writable = Self.seconds(since: killedAt)
        XCTAssertTrue(wrote, "writes through the VIP resume on the new leader m\(second)")
        print("watchdog: leader m\(first) killed; m\(second) holds the VIP after \(String(format: "%.2f", moved)) s, "
              + "writes through the VIP after \(String(format: "%.2f", writable)) s")
        XCTAssertLessThan(moved, 15, "with deadtime 4 s the VIP moves within a few seconds")
        c.assertNeverTwoHolders()
    }

    /// Scenario 3: SIGSTOP the leader past wd_heartbeat_deadtime, then SIGCONT. At no instant do two members hold
    /// the VIP, and the resumed member raises nothing.
    func testAPausedLeaderLosesTheVIPBeforeAnotherTakesItAndRaisesNothingOnResume() throws {
        let c = try Cluster()
        defer { c.stop() }
        let first = try c.waitForOneLeaderWithVIP()
        let pid = c.members[first]!.pid
        let stoppedAt = WatchdogNet.monotonicNanoseconds()
        kill(pid, SIGSTOP)
        let second = try c.waitForOneLeaderWithVIP(among: [0, 1, 2].filter { $0 != first })
        sleep(2)
        let resumedAt = WatchdogNet.monotonicNanoseconds()
        kill(pid, SIGCONT)
        sleep(4)
        XCTAssertEqual(try c.waitForOneLeaderWithVIP(seconds: 10), second, "the resumed member does not take leadership back")
        let events = try c.net.vipEvents()
        let upsAfterResume = events.filter { $0.member == c.net.member(first) && $0.action == "up" && $0.time >= resumedAt }
        XCTAssertEqual(upsAfterResume.count, 0, "the resumed member ran if_up_cmd: \(events)")
        let guardDown = events.first { $0.member == c.net.member(first) && $0.action == "down" && $0.time >= stoppedAt }
        let newUp = events.first { $0.member == c.net.member(second) && $0.action == "up" && $0.time >= stoppedAt }
        XCTAssertNotNil(guardDown, "the paused leader's VIP guard dropped the VIP at its lease deadline")
        if let d = guardDown, let u = newUp {
            XCTAssertLessThan(d.time, u.time, "the old VIP was down before the new leader raised it")
            print("watchdog: leader m\(first) paused; its VIP down after \(String(format: "%.2f", Double(d.time - stoppedAt) / 1e9)) s, "
                  + "m\(second) raised it after \(String(format: "%.2f", Double(u.time - stoppedAt) / 1e9)) s")
        }
        c.assertNeverTwoHolders()
    }

    /// Scenario 2: partition the leader; it drops the VIP by itself, the majority elects a leader that raises it;
    /// after healing there is one leader.
    func testAPartitionedLeaderDropsTheVIPAndTheMajorityElectsAnother() throws {
        let c = try Cluster()
        defer { c.stop() }
        let first = try c.waitForOneLeaderWithVIP()
        let cutAt = WatchdogNet.monotonicNanoseconds()
        try c.net.partition(member: first)
        let second = try c.waitForOneLeaderWithVIP(among: [0, 1, 2].filter { $0 != first })
        let events = try c.net.vipEvents()
        let selfDown = events.first { $0.member == c.net.member(first) && $0.action == "down" && $0.time >= cutAt }
        XCTAssertNotNil(selfDown, "the cut-off leader ran if_down_cmd by itself")
        print("watchdog: leader m\(first) partitioned; m\(second) holds the VIP after \(String(format: "%.2f", Self.seconds(since: cutAt))) s")
        try c.net.heal(member: first)
        sleep(6)
        XCTAssertEqual(try c.waitForOneLeaderWithVIP(seconds: 15), second, "after healing: one leader, the new one")
        c.assertNeverTwoHolders()
    }
}

extension WatchdogIntegrationTests {
    /// Health checks every second, and a failover_command that logs which member ran it, then runs the sample.
    func haConfig(_ c: @autoclosure () -> String, log: String) -> (Int) -> String {
        { i in
            """
            health_check_period = 1
            health_check_timeout = 2
            health_check_max_retries = 1
            health_check_retry_delay = 1
            health_check_user = 'postgres'
            sr_check_user = 'postgres'
            search_primary_node_timeout = 30
            failover_command = '\(Shell.repoRoot)/scripts/failover-recorder.sh m\(i) \(log) %d %h %p %D %m %H %M %P %r %R %N %S'
            """
        }
    }

    /// The member's `status` admin result: its primary.
    func primary(_ c: Cluster, _ i: Int) -> Int? {
        (((try? AdminSocket.request(c.adminSocket(i), "status", timeout: 2)) as? [String: Any])?["primary"] as? Int).flatMap { $0 < 0 ? nil : $0 }
    }

    /// Node statuses as member i sees them (admin `nodes`).
    func statuses(_ c: Cluster, _ i: Int) -> [String: String] {
        let rows: [[String: String]]
        switch LeakCheck.adminRows(c.adminSocket(i), "nodes") {
        case .success(let r): rows = r
        case .failure: return [:]
        }
        return Dictionary(rows.map { ($0["node_id"] ?? "?", $0["status"] ?? "?") }, uniquingKeysWith: { a, _ in a })
    }

    /// Scenario 6: the primary is killed. Exactly one member — the leader — runs failover_command, and every member
    /// agrees on the new primary.
    func testAKilledPrimaryIsFailedOverByTheLeaderAloneAndEveryMemberFollows() throws {
        let log = NSTemporaryDirectory() + "poold-wd-failover-\(getpid()).log"
        try? FileManager.default.removeItem(atPath: log)
        let c = try Cluster(extra: haConfig("", log: log))
        defer {
            if (testRun?.failureCount ?? 0) > 0 { c.keepLogs() }
            c.stop()
            try? FileManager.default.removeItem(atPath: log)
        }
        let leader = try c.waitForOneLeaderWithVIP()
        // every member knows node 0 as the primary before the fault
        let deadline0 = Date().addingTimeInterval(20)
        while (0..<3).contains(where: { primary(c, $0) != 0 }) && Date() < deadline0 { usleep(200_000) }
        XCTAssertEqual((0..<3).map { primary(c, $0) }, [0, 0, 0])
        let pidText = try String(contentsOfFile: c.db.base + "/n0/postmaster.pid", encoding: .utf8)
        let pid = try XCTUnwrap(Int32(pidText.split(separator: "\n").first ?? ""))
        kill(pid, SIGKILL)
        let deadline = Date().addingTimeInterval(60)
        var seen: [Int?] = []
        repeat {
            seen = (0..<3).map { primary(c, $0) }
            if seen.allSatisfy({ $0 != nil && $0 != 0 }) && Set(seen).count == 1 { break }
            usleep(300_000)
        } while Date() < deadline
        XCTAssertTrue(seen.allSatisfy { $0 != nil && $0 != 0 } && Set(seen).count == 1, "every member follows one new primary: \(seen)")
        let ran = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        XCTAssertEqual(ran.count, 1, "exactly one failover_command ran: \(ran)")
        XCTAssertEqual(ran.first?.split(separator: " ").first.map(String.init), c.net.member(leader), "the leader ran it")
        for i in 0..<3 { XCTAssertEqual(statuses(c, i)["0"], "down", "member m\(i) sees the old primary down") }
        c.assertNeverTwoHolders()
    }

    /// Scenario 5: a backend only one member sees down (its backend_port2 is wrong). With
    /// failover_require_consensus nothing fails over; that member quarantines the node, the others keep it up.
    func testABackendSeenDownByOneMemberOnlyIsQuarantinedThereAndNotFailedOver() throws {
        let log = NSTemporaryDirectory() + "poold-wd-quarantine-\(getpid()).log"
        try? FileManager.default.removeItem(atPath: log)
        let ha = haConfig("", log: log)
        let wrongPort = Shell.freePortRange(count: 1)
        let c = try Cluster(extra: { i in ha(i) + (i == 2 ? "\nbackend_port2 = \(wrongPort)\n" : "") })
        defer { c.stop(); try? FileManager.default.removeItem(atPath: log) }
        _ = try c.waitForOneLeaderWithVIP()
        let deadline = Date().addingTimeInterval(30)
        while statuses(c, 2)["2"] != "quarantine" && Date() < deadline { usleep(300_000) }
        XCTAssertEqual(statuses(c, 2)["2"], "quarantine", "the member that sees node 2 down quarantines it")
        sleep(3)
        XCTAssertEqual(statuses(c, 0)["2"], "up", "the others keep node 2 up")
        XCTAssertEqual(statuses(c, 1)["2"], "up")
        XCTAssertEqual(statuses(c, 2)["2"], "quarantine", "still quarantined: no consensus")
        XCTAssertEqual((try? String(contentsOfFile: log, encoding: .utf8)) ?? "", "", "no failover_command ran")
    }

    /// Scenario 4: the seed's own 2-host configuration (Pgpool-II 4.1 names, enable_consensus_with_half_votes):
    /// a leader is elected, and when it is killed the other host alone takes the VIP.
    func testTheSeedsTwoHostConfigurationWithHalfVotes() throws {
        let c = try Cluster(members: 2, form41: true, halfVotes: true)
        defer { c.stop() }
        let first = try c.waitForOneLeaderWithVIP()
        let killedAt = WatchdogNet.monotonicNanoseconds()
        kill(c.members[first]!.pid, SIGKILL)
        let second = try c.waitForOneLeaderWithVIP(among: [1 - first])
        print("watchdog (2 hosts, half votes): m\(first) killed; m\(second) holds the VIP after "
              + String(format: "%.2f", Self.seconds(since: killedAt)) + " s")
        c.assertNeverTwoHolders()
    }
}
