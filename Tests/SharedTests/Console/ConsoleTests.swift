import ConsoleCore
import Foundation
import Testing

/// The console's pure part: key handling transcripts and rendering compared with text fixtures
/// (regenerate with UPDATE_FIXTURES=1 after an intended change, and review the diff).
@Suite struct ConsoleTests {
    static func node(_ id: Int, _ status: String, _ role: String, pgRole: String? = nil, pgStatus: String = "up",
                     delay: String = "0") -> NodeInfo {
        NodeInfo(id: id, host: "10.0.0.\(id + 1)", port: "5432", status: status, pgStatus: pgStatus, weight: "0.333333",
                 role: role, pgRole: pgRole ?? role, selectCount: String(100 * id), delay: delay,
                 replicationState: role == "primary" ? "" : "streaming", syncState: role == "primary" ? "" : "quorum",
                 lastChange: "2026-11-27 01:00:0\(id)")
    }

    static func sample() -> ConsoleState {
        var s = ConsoleState()
        s.version = "0.1.0"
        s.uptime = "1h02m"
        s.delayThreshold = 10000
        for d in [0, 2000, 8000] {
            s.update(nodes: [node(0, "up", "primary"), node(1, "up", "standby", delay: String(d)),
                             node(2, "down", "standby", pgStatus: "up", delay: String(d * 3))])
        }
        s.statusLine = "connected to /tmp/poold_admin.sock"
        s.note("01:00:02 node 2 is down")
        return s
    }

    func fixture(_ name: String, _ frame: Frame) throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let file = dir.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["UPDATE_FIXTURES"] != nil {
            try frame.text.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(frame.text == expected, "render differs from \(name)")
    }

    @Test func nodesScreenAt80x24And160x50() throws {
        let s = Self.sample()
        let small = s.render(width: 80, height: 24)
        #expect(small.lines.count == 24 && small.lines.allSatisfy { $0.count == 80 })
        try fixture("nodes-80x24.txt", small)
        let large = s.render(width: 160, height: 50)
        #expect(large.lines.count == 50 && large.lines.allSatisfy { $0.count == 160 })
        try fixture("nodes-160x50.txt", large)
        // The down node is marked and coloured; the wide screen has every column and the lag history.
        #expect(large.text.contains("repl_state") && large.text.contains("last_change") && large.text.contains("history"))
        #expect(small.spans.contains { $0.style == .bad && $0.row == 5 })
        let medium = s.render(width: 120, height: 35).lines
        #expect(medium[2].contains("repl") && medium[2].contains("sync") && medium[2].contains("lag") && medium[2].contains("history"))
        #expect(small.spans.contains { $0.style == .selected && $0.row == 3 }, "the first node is selected")
    }

    @Test func mismatchesStandOut() {
        var s = Self.sample()
        s.update(nodes: [Self.node(0, "up", "primary", pgRole: "standby"), Self.node(1, "up", "standby", pgStatus: "down"),
                         Self.node(2, "up", "standby", delay: "50000")])
        let text = s.render(width: 160, height: 50).text
        #expect(text.contains("! role primary, server says standby"))
        #expect(text.contains("! up but not answering"))
        #expect(text.contains("! lag over delay_threshold"))
        let narrow = s.render(width: 80, height: 24).text
        #expect(narrow.contains("! role≠pg_role") && narrow.contains("! no answer") && narrow.contains("! lag!"))
    }

    @Test func destructiveActionsAskFirstNamingNodeAndRole() {
        var s = Self.sample()
        #expect(s.handle(.down, width: 80, height: 24) == .none)
        #expect(s.handle(.char("d"), width: 80, height: 24) == .none)
        #expect(s.statusLine.contains("detach node 1 (standby, 10.0.0.2:5432)?"))
        #expect(s.render(width: 80, height: 24).lines[22].contains("press y to confirm"))
        #expect(s.handle(.char("y"), width: 80, height: 24) == .request(.detach, node: 1))
        #expect(s.handle(.char("s"), width: 80, height: 24) == .none)
        #expect(s.handle(.char("n"), width: 80, height: 24) == .none, "anything but y cancels")
        #expect(s.statusLine == "switchover cancelled")
        #expect(s.handle(.char("a"), width: 80, height: 24) == .request(.attach, node: 1), "attach needs no confirmation")
        #expect(s.handle(.char("R"), width: 80, height: 24) == .request(.reload, node: nil))
        s.finished(.detach, node: 1, ok: false, message: "node 1 is already down")
        #expect(s.statusLine == "detach node 1 FAILED: node 1 is already down" && s.events.last == s.statusLine)
    }

    @Test func mouseSelectsRowsAndPressesButtons() {
        var s = Self.sample()
        #expect(s.handle(.click(x: 5, y: 5), width: 80, height: 24) == .none)
        #expect(s.selected?.id == 2, "row 5 is node 2")
        let frame = s.render(width: 80, height: 24)
        let recover = frame.lines[23].range(of: "[r]recover")!
        let x = frame.lines[23].distance(from: frame.lines[23].startIndex, to: recover.lowerBound) + 2
        #expect(s.handle(.click(x: x, y: 23), width: 80, height: 24) == .none)
        #expect(s.statusLine.hasPrefix("recover node 2 (standby"))
        #expect(s.handle(.char("y"), width: 80, height: 24) == .request(.recover, node: 2))
    }

    @Test func screensFilterHelpAndQuit() {
        var s = Self.sample()
        _ = s.handle(.char("/"), width: 80, height: 24)
        for c in "down" { _ = s.handle(.char(c), width: 80, height: 24) }
        #expect(s.render(width: 80, height: 24).lines[22].contains("filter: down"))
        _ = s.handle(.enter, width: 80, height: 24)
        #expect(s.visibleNodes.map(\.id) == [2] && s.selected?.id == 2)
        _ = s.handle(.escape, width: 80, height: 24)
        #expect(s.visibleNodes.count == 3)
        _ = s.handle(.char("4"), width: 80, height: 24)
        #expect(s.render(width: 80, height: 24).text.contains("The watchdog is disabled"))
        #expect(s.handle(.char("d"), width: 80, height: 24) == .none && s.statusLine.contains("nodes screen"))
        _ = s.handle(.tab, width: 80, height: 24)
        #expect(s.screen == .nodes)
        _ = s.handle(.char("?"), width: 80, height: 24)
        let help = s.render(width: 80, height: 24).text
        for entry in ConsoleState.keyTable { #expect(help.contains(entry.help)) }
        _ = s.handle(.char("x"), width: 80, height: 24)
        #expect(!s.showHelp)
        #expect(s.handle(.char("q"), width: 80, height: 24) == .quit)
        var gone = Self.sample()
        gone.disconnected("connection refused")
        #expect(gone.render(width: 80, height: 24).lines[0].contains("poold unreachable"))
    }

    /// The watchdog screen from the admin socket's `watchdog` result: leader, term, quorum, VIP, members.
    @Test func watchdogScreenShowsLeaderTermQuorumVIPAndMembers() throws {
        var s = Self.sample()
        let json = """
            {"LeaderNodeName": "10.77.0.11:9000", "Term": 3, "QuorumStatusName": "QUORUM EXIST", "NodesRequireForQuorum": "2",
             "NodeCount": "3", "Escalated": "1", "DelegateIP": "10.77.0.200", "LeaseLeftSeconds": 1.75,
             "ClusterViewTerm": 3, "ClusterViewVersion": 7, "QuarantinedNodes": [2],
             "WatchdogNodes": [
              {"ID": 1, "Local": true, "NodeName": "10.77.0.11:9000", "PgpoolPort": 9999, "StateName": "LEADER", "Priority": 1, "LastHeardSecondsAgo": -1},
              {"ID": 0, "Local": false, "NodeName": "10.77.0.10:9000", "PgpoolPort": 9999, "StateName": "LOST", "Priority": 1, "LastHeardSecondsAgo": 12.5},
              {"ID": 2, "Local": false, "NodeName": "10.77.0.12:9000", "PgpoolPort": 9999, "StateName": "STANDBY", "Priority": 1, "LastHeardSecondsAgo": 0.3}]}
            """
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        s.watchdog = WatchdogView(object)
        s.screen = .watchdog
        let text = s.render(width: 100, height: 24).text
        #expect(text.contains("leader: 10.77.0.11:9000   term 3   quorum: QUORUM EXIST (2 of 3 needed)"))
        #expect(text.contains("VIP: 10.77.0.200 held here (10.77.0.11:9000)   lease left 1.8 s"))
        #expect(text.contains("10.77.0.10:9000") && text.contains("LOST") && text.contains("12.5 s ago"))
        #expect(text.contains("backends: term 3 v7   quarantined here: node 2"))
        let lines = text.split(separator: "\n")
        #expect(lines.firstIndex { $0.contains("LEADER") }! < lines.firstIndex { $0.contains("LOST") }!, "local member first")
        #expect(!text.contains("etcd"))
        // With the etcd backend, its endpoints' health.
        var etcd = object
        etcd["Coordination"] = ["Backend": "etcd", "Summary": "etcd /poold/it: http://10.77.0.50:2379 ok, http://10.77.0.50:2381 down (2 failures)"]
        s.watchdog = WatchdogView(etcd)
        #expect(s.render(width: 100, height: 24).text.contains("etcd /poold/it: http://10.77.0.50:2379 ok, http://10.77.0.50:2381 down (2 failures)"))
        s.watchdog = nil
        #expect(s.render(width: 100, height: 24).text.contains("The watchdog is disabled"))
    }

    static func watchdog(localState: String) throws -> WatchdogView {
        let json = """
            {"LeaderNodeName": "10.77.0.11:9000", "Term": 3, "QuorumStatusName": "QUORUM EXIST", "NodesRequireForQuorum": "2",
             "NodeCount": "3", "Escalated": "1", "DelegateIP": "10.77.0.200", "LeaseLeftSeconds": 1.75,
             "WatchdogNodes": [
              {"ID": 1, "Local": true, "NodeName": "10.77.0.11:9000", "PgpoolPort": 9999, "StateName": "\(localState)", "Priority": 1},
              {"ID": 2, "Local": false, "NodeName": "10.77.0.12:9000", "PgpoolPort": 9999, "StateName": "STANDBY", "Priority": 1}]}
            """
        return WatchdogView(try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]))
    }

    /// The watchdog screen's own action: resign, asked first, only on the leader; node keys do nothing there.
    @Test func resignOnTheWatchdogScreenAsksFirstAndOnlyOnTheLeader() throws {
        var s = Self.sample()
        s.watchdog = try Self.watchdog(localState: "LEADER")
        #expect(s.handle(.char("L"), width: 100, height: 24) == .none, "L is the watchdog screen's key")
        #expect(s.pending == nil)
        _ = s.handle(.char("4"), width: 100, height: 24)
        #expect(s.render(width: 100, height: 24).lines[23].contains("[L]resign"))
        #expect(!s.render(width: 100, height: 24).lines[23].contains("[d]detach"))
        #expect(s.handle(.char("d"), width: 100, height: 24) == .none)
        #expect(s.pending == nil && s.statusLine.contains("nodes screen"), "node actions are not on the watchdog screen")
        #expect(s.handle(.char("L"), width: 100, height: 24) == .none)
        #expect(s.statusLine.contains("resign leadership of 10.77.0.11:9000 (term 3)?"))
        #expect(s.handle(.char("n"), width: 100, height: 24) == .none)
        #expect(s.statusLine == "resign cancelled")
        // by mouse: the button asks too
        let line = s.render(width: 100, height: 24).lines[23]
        let x = line.distance(from: line.startIndex, to: line.range(of: "[L]resign")!.lowerBound) + 1
        #expect(s.handle(.click(x: x, y: 23), width: 100, height: 24) == .none)
        #expect(s.handle(.char("y"), width: 100, height: 24) == .request(.resign, node: nil))
        #expect(NodeCommand.resign.adminCommand == "watchdog_resign")
        // a standby has nothing to resign
        s.watchdog = try Self.watchdog(localState: "STANDBY")
        #expect(s.handle(.char("L"), width: 100, height: 24) == .none)
        #expect(s.pending == nil && s.statusLine.contains("is not the leader"))
    }
}
