import Foundation
import Testing
@testable import Shared

/// PCP transcripts without sockets: the bytes the real 4.3.5 `pcp_*` programs send, and the exact bytes Pgpool-II
/// answers (reference §6.3–6.6).
@Suite struct PCPSessionTests {
    static let salt: [UInt8] = [0xe2, 0xe8, 0x05, 0xac]
    static let users = PCPUsers.parse("# pcp.conf\npcpadmin:\(MD5Password.hex(Array("secret".utf8)))\n\nbroken line\n")

    /// What libpcp sends for `R`: md5hex(md5hex(md5hex(password) ++ user) ++ salt).
    static func answer(user: String, password: String, salt: [UInt8] = salt) -> [UInt8] {
        let stored = MD5Password.hex(Array(password.utf8))
        let inner = MD5Password.hex(Array(stored.utf8) + Array(user.utf8))
        let hex = MD5Password.hex(Array(inner.utf8) + salt)
        return PCPProtocol.packet("R", PCPProtocol.strings([user, hex]))
    }

    static func bytes(_ kind: Character, _ payload: [UInt8] = []) -> [UInt8] { PCPProtocol.packet(kind, payload) }

    func makeSession() -> PCPSession { PCPSession(users: Self.users, makeSalt: { PCPSessionTests.salt }) }

    /// A session that answered M and R for pcpadmin.
    func authenticated() -> PCPSession {
        var s = makeSession()
        _ = s.received(Self.bytes("M") + Self.answer(user: "pcpadmin", password: "secret"))
        return s
    }

    func fatal(_ m: String, _ d: String) -> [UInt8] {
        [UInt8(ascii: "E")] + be(4 + 7 + 7 + m.utf8.count + 2 + d.utf8.count + 2 + 14 + 3 + 1)
            + Array("SFATAL\0CXX000\0M\(m)\0D\(d)\0Fpcp_worker.c\0L0\0\0".utf8)
    }

    func be(_ n: Int) -> [UInt8] { [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] }

    @Test func nodeCountExchangeAsCaptured() {
        var s = makeSession()
        #expect(s.received([0x4d, 0, 0, 0, 4]) == [.send([0x6d, 0, 0, 0, 8, 0xe2, 0xe8, 0x05, 0xac])])
        let r = Self.answer(user: "pcpadmin", password: "secret")
        #expect(r.count == 1 + 46 && Array(r[1..<5]) == [0, 0, 0, 0x2e])
        #expect(s.received(r) == [.send([0x72, 0, 0, 0, 0x15] + Array("AuthenticationOK\0".utf8))])
        #expect(s.user == "pcpadmin")
        #expect(s.received([0x4c, 0, 0, 0, 4]) == [.execute(.nodeCount)])
        #expect(PCPReplies.nodeCount(2) == [0x6c, 0, 0, 0, 0x16] + Array("CommandComplete\u{0}2\u{0}".utf8))
        #expect(s.completed(PCPReplies.nodeCount(2)) == [.send(PCPReplies.nodeCount(2))])
        #expect(s.received([0x58, 0, 0, 0, 4]) == [.sendAndClose([])])
        #expect(s.isClosed)
    }

    @Test func framesSplitAnywhereAndCoalesced() {
        var s = makeSession()
        let all = Self.bytes("M") + Self.answer(user: "pcpadmin", password: "secret") + Self.bytes("L") + Self.bytes("I", Array("-1\0".utf8))
        var actions: [PCPSession.Action] = []
        for b in all { actions += s.received([b]) }
        #expect(actions.count == 3)
        #expect(actions.last == .execute(.nodeCount))
        // The second command waits in the buffer until the first has its reply.
        #expect(s.completed([1]) == [.send([1]), .execute(.nodeInfo(node: -1))])
    }

    @Test func wrongPasswordAndUnknownUserAreFatal() {
        var s = makeSession()
        _ = s.received(Self.bytes("M"))
        #expect(s.received(Self.answer(user: "pcpadmin", password: "nope"))
            == [.sendAndClose(fatal("authentication failed for user \"pcpadmin\"", "username and/or password does not match"))])
        #expect(s.isClosed)
        #expect(s.closeReason == .fatal("authentication failed for user \"pcpadmin\"", detail: "username and/or password does not match"))
        #expect(s.received(Self.bytes("L")) == [])
        var t = makeSession()
        _ = t.received(Self.bytes("M"))
        #expect(t.received(Self.answer(user: "nobody", password: "secret"))
            == [.sendAndClose(fatal("authentication failed for user \"nobody\"", "username and/or password does not match"))])
    }

    @Test func answerWithoutSaltCommandBeforeAuthAndBadLengths() {
        var s = makeSession()
        #expect(s.received(Self.answer(user: "pcpadmin", password: "secret"))
            == [.sendAndClose(fatal("authentication failed", "username and/or password does not match"))])
        var t = makeSession()
        #expect(t.received(Self.bytes("L"))
            == [.sendAndClose(fatal("authentication failed for new PCP connection", "connection not authorized"))])
        for length in [0, -1, 260, 1 << 20] {
            var u = makeSession()
            #expect(u.received([UInt8(ascii: "M")] + be(length) + [0, 0])
                == [.sendAndClose(fatal("invalid PCP packet", "incorrect packet length (\(Int32(truncatingIfNeeded: length)))"))])
        }
        var v = makeSession()
        #expect(v.received([UInt8(ascii: "M")] + be(259)) == [])  // 259 is allowed: waits for its payload
    }

    @Test func unknownKindIsFatalAfterAuthAndErrorsKeepTheConnection() {
        var s = authenticated()
        #expect(s.received(Self.bytes("Q")) == [.sendAndClose(fatal("PCP processing request", "unknown PCP packet type \"Q\""))])
        var t = authenticated()
        #expect(t.received(Self.bytes("W", Array("-1\0".utf8))) == [.execute(.watchdogInfo(node: -1))])
        let error = PCPError.error("PCP: informing watchdog info failed", detail: "watchdog is not enabled")
        #expect(t.failed(error) == [.send(error.packet)])
        #expect(Array(error.packet.prefix(1)) == [UInt8(ascii: "E")])
        #expect(t.received(Self.bytes("L")) == [.execute(.nodeCount)])
        #expect(t.failed(.fatal("invalid promote request")) == [.sendAndClose(PCPError.fatal("invalid promote request").packet)])
    }

    @Test func everyRequestKindParses() {
        func parse(_ kind: Character, _ payload: [UInt8] = []) -> PCPRequest? {
            try? PCPRequest.parse(.init(kind: kind.asciiValue!, payload: payload)).get()
        }
        let id = Array("2\0".utf8)
        #expect(parse("I", Array("-1\0".utf8)) == .nodeInfo(node: -1))
        #expect(parse("H", id) == .healthCheckStats(node: 2))
        #expect(parse("N") == .processCount)
        #expect(parse("P", Array("0\0".utf8)) == .processInfo(pid: 0))
        #expect(parse("B") == .poolStatus)
        #expect(parse("C", id) == .attach(node: 2))
        #expect(parse("D", id) == .detach(node: 2, gracefully: false))
        #expect(parse("d", id) == .detach(node: 2, gracefully: true))
        // "<id> " + option byte, no NUL after it.
        #expect(parse("J", Array("1 \0s".utf8)) == .promote(node: 1, switchover: true, gracefully: false))
        #expect(parse("j", Array("1 \0n".utf8)) == .promote(node: 1, switchover: false, gracefully: true))
        #expect(parse("O", id) == .recover(node: 2))
        #expect(parse("Z", [UInt8(ascii: "c")]) == .reload(.cluster))
        #expect(parse("V", [UInt8(ascii: "l")]) == .logRotate(.local))
        #expect(parse("G") == .invalidateQueryCache)
        #expect(parse("T", [UInt8(ascii: "f")]) == .stop(mode: "f", scope: .local))
        #expect(parse("t", [UInt8(ascii: "s")]) == .stop(mode: "s", scope: .cluster))
        #expect(parse("A", Array("client_min_messages\0debug1\0".utf8)) == .setParameter(name: "client_min_messages", value: "debug1"))
        #expect(parse("I", Array("x\0".utf8)) == .nodeInfo(node: 0))  // atoi
    }

    /// Found by fuzzing (Fuzzing/FuzzPCP): `A` found the value by the name's length in repaired UTF-8, so a name
    /// with a byte that is not UTF-8 (1 byte on the wire, 3 once repaired) cut the value short.
    @Test func setParameterValueStartsAfterTheNamesNul() {
        let payload: [UInt8] = [UInt8(ascii: "x"), 0xFF, 0] + Array("debug1\0".utf8)
        let request = try? PCPRequest.parse(.init(kind: UInt8(ascii: "A"), payload: payload)).get()
        #expect(request == .setParameter(name: "x\u{FFFD}", value: "debug1"))
    }

    static let standby = PCPReplies.Node(hostname: "127.0.0.1", port: 47433, status: 2, quarantine: false, pgStatus: "up",
                                         weight: 0.5, role: 3, pgRole: "standby", standbyDelay: 0, delayByTime: false,
                                         replicationState: "streaming", replicationSyncState: "async",
                                         statusChangedTime: 1795724628)

    @Test func nodeInfoInBothLayouts() {
        let v43 = PCPReplies.nodeInfo([Self.standby], arraySize: 1, layout: .v43)
        let array = Self.bytes("i", Array("ArraySize\u{0}1\u{0}".utf8))
        // The real 4.3.5 bytes of a standby (reference §6.6).
        let node43 = Self.bytes("i", Array(("NodeInfo\u{0}127.0.0.1\u{0}47433\u{0}2\u{0}0\u{0}up\u{0}1073741823.500000\u{0}3\u{0}standby\u{0}0\u{0}"
                                            + "streaming\u{0}async\u{0}1795724628\u{0}").utf8))
        let done = Self.bytes("i", Array("CommandComplete\u{0}".utf8))
        #expect(v43 == array + node43 + done)
        let v44 = PCPReplies.nodeInfo([Self.standby], arraySize: 1, layout: .v44)
        let node44 = Self.bytes("i", Array(("NodeInfo\u{0}127.0.0.1\u{0}47433\u{0}2\u{0}0\u{0}up\u{0}1073741823.500000\u{0}3\u{0}standby\u{0}"
                                            + "0\u{0}0\u{0}"
                                            + "streaming\u{0}async\u{0}1795724628\u{0}").utf8))
        #expect(v44 == array + node44 + done)
        #expect(PCPReplies.Node.statusDigit(.quarantine) == (3, true))
        #expect(PCPReplies.Node.statusDigit(.waiting) == (1, false))
    }

    @Test func poolStatusCountIsBinaryAndProcessInfoHas21Fields() {
        let b = PCPReplies.poolStatus([["port", "9999", "TCP port"]])
        let array = [UInt8(ascii: "b")] + be(4 + 10 + 4) + Array("ArraySize\0".utf8) + be(1)
        let row = Self.bytes("b", Array("ProcessConfig\0port\u{0}9999\0TCP port\0".utf8))
        #expect(b == array + row + Self.bytes("b", Array("CommandComplete\0".utf8)))

        let pool = ["7", "2026-12-02 06:51:06", "1", "0", "1", "bench", "postgres", "", "2026-12-02 06:51:06", "", "0", "3", "0",
                    "1", "4242", "1", "Idle", "0"]
        let fields = PCPReplies.processInfoRow(poolRow: pool)
        #expect(fields.count == 21)
        let p = PCPReplies.processInfo([fields], arraySize: 3)
        #expect(p.starts(with: Self.bytes("p", Array("ArraySize\u{0}3\u{0}".utf8)) + [UInt8(ascii: "p")]))
        #expect(PCPReplies.processCount([3, 11]) == Self.bytes("n", Array("CommandComplete\u{0}2\u{0}3\u{0}11\u{0}".utf8)))
    }

    @Test func errorPacketFieldsAsElogSendsThem() {
        let e = PCPError.error("informing node info failed", detail: "invalid node ID : 7")
        let payload = Array("SERROR\0CXX000\0Minforming node info failed\0Dinvalid node ID : 7\0Fpcp_worker.c\0L0\0\0".utf8)
        #expect(e.packet == [UInt8(ascii: "E")] + be(payload.count + 4) + payload)
        #expect(PCPError(.warning, "w").packet.first == UInt8(ascii: "N"))
        let long = PCPError.error(String(repeating: "x", count: 400)).packet
        #expect(long.count == 5 + 7 + 7 + 256 + 14 + 3 + 1)
    }

    @Test func pcpConfLinesAndCheck() {
        #expect(Self.users.entries.map(\.user) == ["pcpadmin"])
        #expect(Self.users.verify(user: "pcpadmin", response: String(decoding: Self.answer(user: "pcpadmin", password: "secret")
            .dropFirst(5 + 9).dropLast(), as: UTF8.self), salt: Self.salt))
        #expect(!Self.users.verify(user: "pcpadmin", response: "0", salt: Self.salt))
    }
}

/// `pcp_watchdog_info`'s reply: CommandComplete and the JSON of Pgpool-II's `get_node_list_json()`, numbers as
/// numbers, for every member (local first) or one.
@Suite struct PCPWatchdogReplyTests {
    @Test func watchdogJSONFromALeadersReport() throws {
        let text = """
            use_watchdog = on
            hostname0 = 'host0'
            wd_port0 = 9000
            pgpool_port0 = 9999
            hostname1 = 'host1'
            wd_port1 = 9000
            pgpool_port1 = 9999
            hostname2 = 'host2'
            wd_port2 = 9000
            pgpool_port2 = 9999
            wd_heartbeat_keepalive = 1
            wd_heartbeat_deadtime = 4
            backend_hostname0 = '127.0.0.1'
            """
        let config = try #require(WatchdogConfigurationTests.load(text, nodeID: "0\n").configuration.watchdog)
        let (sm, t) = WatchdogTranscriptTests.makeLeader()
        let report = WatchdogReport(machine: sm, configuration: config, now: t)
        let one = try #require(PCPReplies.watchdogInfo(report, node: 0))
        let json = "{\"RemoteNodeCount\":2,\"MemberRemoteNodeCount\":2,\"NodesRequireForQuorum\":2,\"QuorumStatus\":1,"
            + "\"AliveNodeCount\":\(max(0, report.aliveCount - 1)),\"Escalated\":1,\"LeaderNodeName\":\"host0:9000\","
            + "\"LeaderHostName\":\"host0\",\"NodeCount\":1,\"WatchdogNodes\":[{\"ID\":0,\"State\":4,\"Membership\":0,"
            + "\"MembershipString\":\"MEMBER\",\"NodeName\":\"host0:9000\",\"HostName\":\"host0\",\"StateName\":\"LEADER\","
            + "\"DelegateIP\":\"Not_Set\",\"WdPort\":9000,\"PgpoolPort\":9999,\"Priority\":1}]}"
        #expect(one == PCPProtocol.packet("w", PCPProtocol.strings(["CommandComplete", json])))
        let all = try #require(PCPReplies.watchdogInfo(report, node: -1))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(all.dropFirst(5 + 16).dropLast())) as? [String: Any])
        #expect(parsed["NodeCount"] as? Int == 3)
        #expect((parsed["WatchdogNodes"] as? [[String: Any]])?.map { $0["ID"] as? Int } == [0, 1, 2])
        #expect(PCPReplies.watchdogInfo(report, node: 7) == nil)
    }
}
