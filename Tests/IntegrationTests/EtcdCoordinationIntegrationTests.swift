import Foundation
import XCTest

/// Three poold members with `watchdog_coordination = etcd` in network namespaces (Support/WatchdogNet.swift),
/// with a single etcd member (Debian's etcd-server) running inside the LAN's db namespace at 10.77.0.50:2379 —
/// the namespaces cannot reach the root namespace's loopback. The VIP moves through scripts/vip-recorder.sh and
/// scripts/vip-check.py checks that no two members ever held it. Timings: lease TTL 3 s, renew every 500 ms,
/// margin 1 s (the leader acts until its last renewal sent + 2 s). No PostgreSQL: the backend is never used.
/// Needs root; fails (never skips) without.
final class EtcdCoordinationIntegrationTests: XCTestCase {
    final class Cluster {
        let net: WatchdogNet
        let etcd: Spawned
        var members: [Spawned?]
        let count: Int

        init(members count: Int = 3) throws {
            self.count = count
            members = Array(repeating: nil, count: count)
            net = try WatchdogNet(members: count)
            do {
                let url = "http://\(net.dbAddress):2379"
                etcd = try net.spawn(in: "db", "/usr/bin/etcd", [
                    "--name", "e0", "--data-dir", net.dir + "/etcd.data",
                    "--listen-client-urls", url, "--advertise-client-urls", url,
                    "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                    "--initial-cluster", "e0=http://127.0.0.1:2380", "--initial-cluster-state", "new"])
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
            let conf = """
                listen_addresses = '*'
                port = 9999
                unix_socket_directories = '\(dir(i))'
                pid_file_name = '\(dir(i))/poold.pid'
                logdir = '\(dir(i))'
                log_min_messages = info
                sr_check_period = 0
                health_check_period = 0
                backend_hostname0 = '\(net.dbAddress)'
                backend_port0 = 5432
                use_watchdog = on
                watchdog_coordination = etcd
                etcd_endpoints = 'http://\(net.dbAddress):2379'
                etcd_prefix = '/poold/it'
                etcd_member_name = 'm\(i)'
                etcd_lease_ttl = 3
                etcd_renew_interval = 500ms
                etcd_request_timeout = 300ms
                \(net.vipConfig(member: i))

                """
            try conf.write(toFile: dir(i) + "/pgpool.conf", atomically: true, encoding: .utf8)
            members[i] = try net.spawn(in: net.member(i), PooldProcess.binary, ["-n", "-f", dir(i) + "/pgpool.conf"])
        }

        func report(_ i: Int) -> [String: Any]? {
            guard members[i]?.isRunning == true else { return nil }
            return (try? AdminSocket.request(adminSocket(i), "watchdog", timeout: 2)) as? [String: Any]
        }

        func leaders(among ids: [Int]) -> [Int] {
            ids.filter { i in
                let nodes = report(i)?["WatchdogNodes"] as? [[String: Any]] ?? []
                return nodes.contains { ($0["Local"] as? Bool ?? false) && ($0["StateName"] as? String) == "LEADER" }
            }
        }

        func waitForOneLeaderWithVIP(among given: [Int]? = nil, seconds: Double = 30) throws -> Int {
            let ids = given ?? Array(0..<count)
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let l = leaders(among: ids)
                if l.count == 1, (try? net.vipHolders()) == [net.member(l[0])] { return l[0] }
                usleep(50_000)
            }
            let logs = ids.map { "m\($0): " + (members[$0]?.stdout.split(separator: "\n").suffix(15).joined(separator: "\n") ?? "") }
            throw HarnessError("no single leader holding the VIP among \(ids) after \(seconds) s: leaders \(leaders(among: ids)), "
                               + "VIP on \((try? net.vipHolders()) ?? []); etcd: \(etcd.isRunning ? "running" : "gone")\n"
                               + logs.joined(separator: "\n"))
        }
    }

    func testLeaderKilledAnotherTakesTheKeyAndTheVIP() throws {
        let started = Date()
        let c = try Cluster()
        defer { c.net.stop() }
        let first = try c.waitForOneLeaderWithVIP(seconds: 30)
        let term = c.report(first)?["Term"] as? Int ?? 0
        print("etcd coordination: m\(first) leads term \(term) with the VIP \(String(format: "%.1f", Date().timeIntervalSince(started))) s after start")
        // Every member shows the same leader and the three members (member keys are read at each renewal).
        let agreeBy = Date().addingTimeInterval(5)
        func views() -> [String] {
            (0..<c.count).map { i in
                let r = c.report(i)
                return "m\(i): leader \(r?["LeaderNodeName"] as? String ?? "?"), \((r?["WatchdogNodes"] as? [Any])?.count ?? 0) members"
            }
        }
        while views() != (0..<c.count).map({ "m\($0): leader m\(first), 3 members" }), Date() < agreeBy { usleep(100_000) }
        XCTAssertEqual(views(), (0..<c.count).map { "m\($0): leader m\(first), 3 members" })

        let t0 = WatchdogNet.monotonicNanoseconds()
        kill(try XCTUnwrap(c.members[first]).pid, SIGKILL)
        let others = (0..<c.count).filter { $0 != first }
        let next = try c.waitForOneLeaderWithVIP(among: others, seconds: 15)
        let took = Double(WatchdogNet.monotonicNanoseconds() - t0) / 1e9
        let newTerm = c.report(next)?["Term"] as? Int ?? 0
        print("etcd coordination: kill -9 of the leader m\(first) → m\(next) leads term \(newTerm) with the VIP after \(String(format: "%.2f", took)) s")
        XCTAssertGreaterThan(newTerm, term)
        XCTAssertLessThan(took, 8)
        let check = try c.net.vipCheck()
        XCTAssertEqual(check.status, 0, "two VIP holders at once: \(check.output)")
    }
}
