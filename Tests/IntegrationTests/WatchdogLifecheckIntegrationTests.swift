import Foundation
import XCTest

/// The watchdog's lifechecks other than heartbeats, on the 3-member cluster of `WatchdogIntegrationTests`
/// (network namespaces, one real primary + 2 standbys): the monitored interface (`wd_monitoring_interfaces_list`
/// = the member's own eth0 inside its namespace) and the query lifecheck (`wd_lifecheck_method = query`). Needs
/// root; fails (never skips) without.
final class WatchdogLifecheckIntegrationTests: XCTestCase {
    typealias Cluster = WatchdogIntegrationTests.Cluster

    /// The member's own state (StateName), nil while it does not answer.
    func state(_ c: Cluster, _ i: Int) -> String? {
        let nodes = c.report(i)?["WatchdogNodes"] as? [[String: Any]] ?? []
        return nodes.first { $0["Local"] as? Bool ?? false }?["StateName"] as? String
    }

    /// How member i sees member j: StateName and seconds since it heard it.
    func view(_ c: Cluster, _ i: Int, of j: Int) -> (state: String, heard: Double)? {
        let nodes = c.report(i)?["WatchdogNodes"] as? [[String: Any]] ?? []
        guard let n = nodes.first(where: { ($0["ID"] as? Int) == j }), let s = n["StateName"] as? String else { return nil }
        return (s, n["LastHeardSecondsAgo"] as? Double ?? -1)
    }

    func waitFor(_ seconds: Double, _ what: String, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { throw HarnessError("not within \(seconds) s: \(what)") }
            usleep(50_000)
        }
    }

    /// (a) The leader's link goes down (NO-CARRIER on its eth0): it reports IN NETWORK TROUBLE and drops the VIP
    /// well before wd_heartbeat_deadtime (4 s) — before its lease would have run out (2 s) — the others elect a
    /// leader; when the link is back it rejoins as a standby of that leader.
    func testALeaderWhoseMonitoredLinkGoesDownIsInNetworkTroubleAndRejoinsAsStandby() throws {
        let c = try Cluster(extra: { _ in "wd_monitoring_interfaces_list = 'eth0'" })
        var finished = false
        defer {
            // a thrown error is counted only after this runs
            if !finished || (testRun?.failureCount ?? 0) > 0 { c.keepLogs() }
            c.stop()
        }
        let first = try c.waitForOneLeaderWithVIP()
        // escalation commands run one after another, and so does if_down_cmd after them: let arping (-w 1) end
        try waitFor(5, "m\(first)'s arping") { (try? c.net.vipEvents())?.contains { $0.member == c.net.member(first) && $0.action == "arping" } ?? false }
        let cutAt = WatchdogNet.monotonicNanoseconds()
        try c.net.partition(member: first)
        try waitFor(3, "m\(first) IN NETWORK TROUBLE") { state(c, first) == "IN NETWORK TROUBLE" }
        let trouble = WatchdogIntegrationTests.seconds(since: cutAt)
        // the recorder logs a `down` just after the address is gone
        var down: WatchdogNet.VipEvent?
        try waitFor(3, "m\(first) ran if_down_cmd") {
            down = (try? c.net.vipEvents())?.first { $0.member == c.net.member(first) && $0.action == "down" && $0.time >= cutAt }
            return down != nil
        }
        XCTAssertEqual(try c.net.vipHolders(), [], "the VIP is on nobody")
        let downAfter = try Double(XCTUnwrap(down).time - cutAt) / 1e9
        XCTAssertLessThan(trouble, 1.5, "network trouble noticed at once, not after a lease (2 s) or a deadtime (4 s)")
        XCTAssertLessThan(downAfter, 1.5, "the VIP went down with the network trouble")
        print("watchdog: leader m\(first)'s link down; IN NETWORK TROUBLE after \(String(format: "%.2f", trouble)) s, "
              + "VIP down after \(String(format: "%.2f", downAfter)) s")

        let others = [0, 1, 2].filter { $0 != first }
        let second = try c.waitForOneLeaderWithVIP(among: others)
        XCTAssertEqual(state(c, first), "IN NETWORK TROUBLE", "still in trouble while the link is down")

        try c.net.heal(member: first)
        try waitFor(15, "m\(first) back as STANDBY") { state(c, first) == "STANDBY" }
        XCTAssertEqual(try c.waitForOneLeaderWithVIP(seconds: 10), second, "one leader after the link is back: the new one")
        XCTAssertEqual(c.leaders(), [second])
        c.assertNeverTwoHolders()
        finished = true
    }

    /// (b) `wd_lifecheck_method = query` with a deadtime (30 s) far longer than the lifecheck's verdict
    /// (wd_interval 1 s × wd_life_point 2): no UDP heartbeats, yet two standbys hear each other through the
    /// lifecheck; a standby killed with -9 is LOST on the leader within seconds; started again, it is found
    /// alive. External reports are refused in this mode.
    func testTheQueryLifecheckFindsAKilledStandbyLostLongBeforeTheDeadtime() throws {
        let c = try Cluster(extra: { _ in
            """
            wd_lifecheck_method = query
            wd_lifecheck_user = 'postgres'
            wd_lifecheck_dbname = 'postgres'
            wd_interval = 1
            wd_life_point = 2
            wd_heartbeat_deadtime = 30
            """
        })
        var finished = false
        defer {
            // a thrown error is counted only after this runs
            if !finished || (testRun?.failureCount ?? 0) > 0 { c.keepLogs() }
            c.stop()
        }
        let leader = try c.waitForOneLeaderWithVIP()
        let standbys = [0, 1, 2].filter { $0 != leader }
        // Once settled, standbys message each other only on a state change (and there are no heartbeats): 3 s
        // later, what they hear is the lifecheck's answers — which also means every member's lifecheck has found
        // the others once (failures count only after that).
        sleep(3)
        try waitFor(10, "the standbys see each other as STANDBY, heard within 1.5 s") {
            guard let a = view(c, standbys[0], of: standbys[1]), let b = view(c, standbys[1], of: standbys[0]) else { return false }
            return a.state == "STANDBY" && b.state == "STANDBY" && (0..<1.5).contains(a.heard) && (0..<1.5).contains(b.heard)
        }
        let victim = standbys[1]
        let killedAt = WatchdogNet.monotonicNanoseconds()
        kill(c.members[victim]!.pid, SIGKILL)
        _ = c.members[victim]!.wait(timeout: 10)
        try waitFor(15, "m\(victim) LOST on the leader m\(leader)") { view(c, leader, of: victim)?.state == "LOST" }
        let lost = WatchdogIntegrationTests.seconds(since: killedAt)
        XCTAssertLessThan(lost, 10, "the lifecheck, not the 30 s deadtime, found it")
        print("watchdog (query lifecheck): standby m\(victim) killed; LOST on the leader after \(String(format: "%.2f", lost)) s")
        try waitFor(10, "m\(victim) LOST on m\(standbys[0]) too") { view(c, standbys[0], of: victim)?.state == "LOST" }
        XCTAssertEqual(c.leaders(), [leader], "the leader keeps its quorum with the other standby")

        // poolconsole's external report is refused: this member checks the others itself
        let console = URL(fileURLWithPath: PooldProcess.binary).deletingLastPathComponent().path + "/poolconsole"
        let refused = try Shell.run(console, ["watchdog", "lifecheck", String(victim), "alive", "-s", c.adminSocket(leader)])
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.stderr.contains("not external"), refused.output)

        try c.start(victim)
        try waitFor(20, "m\(victim) found alive and following again") {
            view(c, leader, of: victim)?.state == "STANDBY" && state(c, victim) == "STANDBY"
        }
        XCTAssertEqual(try c.waitForOneLeaderWithVIP(seconds: 5), leader)
        c.assertNeverTwoHolders()
        finished = true
    }
}
