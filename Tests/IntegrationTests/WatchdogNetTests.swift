import Foundation
import XCTest

/// The watchdog tests' harness itself (Support/WatchdogNet.swift, scripts/wdnet.sh, vip-recorder.sh,
/// vip-check.py), without poold: namespaces come up on one bridge, the VIP moved by the recorder reaches a
/// listener in the member that holds it, a partition cuts that member off, PostgreSQL in the db namespace
/// answers the members, and nothing is left behind. Needs root; fails (not skips) without.
final class WatchdogNetTests: XCTestCase {
    /// Accepts on 0.0.0.0:PORT (so on an address added later, the VIP) and answers each connection with TEXT.
    let listener = """
        import socket, sys
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16); print("listening", flush=True)
        while True:
            c, _ = s.accept(); c.sendall(sys.argv[2].encode()); c.close()
        """
    /// Connects to HOST:PORT and prints what it is sent; exits non-zero (a traceback) on a timeout or refusal.
    let client = """
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
        print(s.recv(100).decode(), end="")
        """
    let port = "7000"

    func fetch(_ net: WatchdogNet, _ host: String, timeout: Double = 2) throws -> CommandResult {
        try net.exec(in: "client", WatchdogNet.python, ["-c", client, host, port, String(timeout)], timeout: timeout + 30)
    }

    func waitForOutput(_ p: Spawned, _ text: String, seconds: Double = 20) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !p.stdout.contains(text) {
            guard p.isRunning, Date() < deadline else { throw HarnessError("no '\(text)' from pid \(p.pid): \(p.stdout)\(p.stderr)") }
            usleep(20_000)
        }
    }

    func testVipMovesToAMemberAndAPartitionCutsIt() throws {
        let net = try WatchdogNet(members: 3)
        defer { net.stop() }
        XCTAssertEqual(WatchdogNet.namespaces(prefix: net.prefix).sorted(),
                       ["client", "db", "hub", "m0", "m1", "m2"].map(net.namespace))

        // one listener per member, each answering with its name
        let listeners = try (0..<3).map { i in
            try net.spawn(in: net.member(i), WatchdogNet.python, ["-c", listener, port, net.member(i)])
        }
        for l in listeners { try waitForOutput(l, "listening") }
        for i in 0..<3 {
            XCTAssertEqual(try fetch(net, net.address(ofMember: i)).stdout, net.member(i), "member \(i) by its own address")
        }
        // the pid is the program's own, not a wrapper's: a stopped listener accepts (the kernel does) but says nothing
        kill(listeners[1].pid, SIGSTOP)
        XCTAssertNotEqual(try fetch(net, net.address(ofMember: 1), timeout: 1).status, 0, "SIGSTOP reached the listener")
        kill(listeners[1].pid, SIGCONT)
        XCTAssertEqual(try fetch(net, net.address(ofMember: 1)).stdout, "m1")

        // the VIP on m0, then moved to m1 as a new leader would: down on the old, up + gratuitous ARP on the new
        XCTAssertEqual(try net.vipHolders(), [])
        let before = WatchdogNet.monotonicNanoseconds()
        XCTAssertEqual(try net.record("up", member: 0), 0)
        XCTAssertEqual(try net.record("arping", member: 0), 0)
        XCTAssertEqual(try net.vipHolders(), ["m0"])
        XCTAssertEqual(try fetch(net, net.vip).stdout, "m0")
        XCTAssertEqual(try net.record("down", member: 0), 0)
        XCTAssertEqual(try net.record("up", member: 1), 0)
        XCTAssertEqual(try net.record("arping", member: 1), 0)
        XCTAssertEqual(try net.vipHolders(), ["m1"])
        let moved = try fetch(net, net.vip)
        XCTAssertEqual(moved.stdout, "m1", "the client reaches the VIP's new holder: \(moved.output)")

        let events = try net.vipEvents()
        XCTAssertEqual(events.map { "\($0.member) \($0.action) \($0.status)" },
                       ["m0 up 0", "m0 arping 0", "m0 down 0", "m1 up 0", "m1 arping 0"])
        let after = WatchdogNet.monotonicNanoseconds()
        XCTAssertTrue(events.allSatisfy { $0.ip == net.vip && (before...after).contains($0.time) },
                      "the recorder's clock is not this process's CLOCK_MONOTONIC: \(before) \(events) \(after)")
        let check = try net.vipCheck()
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.stdout.contains("at most 1 simultaneous holder"), check.output)

        // partition m1: the VIP stays on its eth0, but nobody reaches it; heal: reached again
        try net.partition(member: 1)
        XCTAssertEqual(try net.vipHolders(), ["m1"])
        XCTAssertNotEqual(try fetch(net, net.vip, timeout: 1).status, 0, "the partitioned member still answered")
        let m1sees = try net.exec(in: "m1", "ping", ["-n", "-c", "1", "-W", "1", net.address(ofMember: 0)])
        XCTAssertNotEqual(m1sees.status, 0, "the partitioned member still reached m0: \(m1sees.output)")
        XCTAssertEqual(try fetch(net, net.address(ofMember: 2)).stdout, "m2", "the rest of the LAN works")
        try net.heal(member: 1)
        XCTAssertEqual(try fetch(net, net.vip, timeout: 5).stdout, "m1")
        // the silent kind: carrier stays up, frames are lost
        try net.partition(member: 1, mode: .bridge)
        XCTAssertTrue(try net.exec(in: "m1", try WatchdogNet.ip(), ["-br", "link", "show", "eth0"]).stdout.contains("LOWER_UP"))
        XCTAssertNotEqual(try fetch(net, net.vip, timeout: 1).status, 0, "the member off the bridge still answered")
        try net.heal(member: 1)
        XCTAssertEqual(try fetch(net, net.vip, timeout: 5).stdout, "m1")

        // two holders at once are what vip-check.py reports
        XCTAssertEqual(try net.record("up", member: 2), 0)
        XCTAssertEqual(try net.vipHolders(), ["m1", "m2"])
        XCTAssertEqual(try net.record("down", member: 2), 0)
        let dual = try net.vipCheck()
        XCTAssertEqual(dual.status, 1, dual.output)
        XCTAssertTrue(dual.stdout.contains("MORE THAN ONE HOLDER: m1, m2"), dual.output)

        // down: every namespace of the prefix and every process in them is gone
        kill(listeners[2].pid, SIGSTOP)  // stop() gets a stopped process too
        net.stop()
        XCTAssertEqual(WatchdogNet.namespaces(prefix: net.prefix), [], "namespaces left after stop()")
        for l in listeners { XCTAssertFalse(l.isRunning, "pid \(l.pid) still runs after stop()") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: net.dir))
        net.stop()  // twice is fine
    }

    func testPostgresInTheDbNamespaceAnswersTheMembers() throws {
        let net = try WatchdogNet(members: 2)
        defer { net.stop() }
        let cluster = try net.startCluster()
        XCTAssertEqual(try cluster.sql("select count(*) from pg_stat_replication where state = 'streaming'"), "2")
        // a member reaches every node over the bridge, as poold's backend_hostnameN = dbAddress will
        for node in 0..<cluster.nodes {
            let r = try net.exec(in: "m1", "psql", ["-X", "-At", "-h", net.dbAddress, "-p", String(cluster.port(of: node)),
                                                    "-U", "postgres", "-d", "postgres",
                                                    "-c", "select pg_is_in_recovery(), inet_client_addr()"])
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                           "\(node == 0 ? "f" : "t")|\(net.address(ofMember: 1))", r.output)
        }
        // inside db over its loopback too; from the test process only through the sockets
        let local = try net.exec(in: "db", "psql", ["-X", "-At", "-h", "127.0.0.1", "-p", String(cluster.port),
                                                    "-U", "postgres", "-d", "postgres", "-c", "select 1"])
        XCTAssertEqual(local.stdout, "1\n", local.output)
        let postmaster = try XCTUnwrap(pid_t(try String(contentsOfFile: cluster.base + "/n0/postmaster.pid", encoding: .utf8)
            .split(separator: "\n")[0]))
        net.stop()
        XCTAssertEqual(WatchdogNet.namespaces(prefix: net.prefix), [])
        // pg_ctl stop returns once postmaster.pid is gone, a moment before the process is (and is reaped by init)
        let deadline = Date().addingTimeInterval(10)
        while kill(postmaster, 0) == 0, Date() < deadline { usleep(20_000) }
        XCTAssertNotEqual(kill(postmaster, 0), 0, "the primary still runs 10 s after stop()")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cluster.base))
    }

    /// What a crashed test process left (its pid is gone) is removed by the next WatchdogNet.
    func testNamespacesOfADeadTestProcessAreRemoved() throws {
        try WatchdogNet.checkEnvironment()
        let gone = try Spawned("/bin/true", [])
        gone.wait()
        let stale = "\(WatchdogNet.prefixRoot)\(gone.pid)_1"
        let up = try WatchdogNet.wdnet(["up", stale, "1"])
        XCTAssertEqual(up.status, 0, up.output)
        defer { _ = try? WatchdogNet.wdnet(["down", stale]) }
        XCTAssertEqual(WatchdogNet.namespaces(prefix: stale).count, 4)
        let net = try WatchdogNet(members: 1)
        defer { net.stop() }
        XCTAssertEqual(WatchdogNet.namespaces(prefix: stale), [], "the dead process's namespaces are left")
        XCTAssertEqual(WatchdogNet.namespaces(prefix: net.prefix).count, 4, "a live prefix was removed")
    }

    /// wdnet.sh refuses clearly without root or without the capabilities namespaces need, and its argument
    /// checks fail loudly.
    func testWdnetFailsClearly() throws {
        try WatchdogNet.checkEnvironment()
        let asNobody = try Shell.run("/usr/sbin/runuser", ["-u", "nobody", "--", "/bin/bash", WatchdogNet.script, "up", "pdwdnobody", "1"])
        XCTAssertEqual(asNobody.status, 1, asNobody.output)
        XCTAssertTrue(asNobody.stderr.contains("network namespaces need root"), asNobody.output)
        XCTAssertEqual(WatchdogNet.namespaces(prefix: "pdwdnobody"), [])
        // root without CAP_SYS_ADMIN (an unprivileged container): `ip netns add` cannot mount
        let noCaps = try Shell.run("/usr/bin/setpriv", ["--inh-caps=-sys_admin", "--bounding-set=-sys_admin", "/bin/bash",
                                                        WatchdogNet.script, "up", "pdwdnocaps", "1"])
        XCTAssertEqual(noCaps.status, 1, noCaps.output)
        XCTAssertTrue(noCaps.stderr.contains("cannot create network namespaces"), noCaps.output)
        XCTAssertEqual(WatchdogNet.namespaces(prefix: "pdwdnocaps"), [])
        let badPrefix = try WatchdogNet.wdnet(["up", "pd-wd", "1"])
        XCTAssertEqual(badPrefix.status, 1)
        XCTAssertTrue(badPrefix.stderr.contains("bad PREFIX"), badPrefix.output)
        let noNet = try WatchdogNet.wdnet(["partition", "pdwdnone", "0"])
        XCTAssertEqual(noNet.status, 1)
        XCTAssertTrue(noNet.stderr.contains("does not exist"), noNet.output)
        XCTAssertEqual(try WatchdogNet.wdnet(["down", "pdwdnone"]).status, 0, "down of nothing is fine")
    }
}
