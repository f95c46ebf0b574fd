import Testing
@testable import Shared

/// The member wire format: round trips, the HMAC (never the key on the wire), malformed frames, replays.
@Suite struct WatchdogPacketTests {
    static let key = WatchdogAuthKey("s3cret-key")
    static let beacon = WatchdogMessage(kind: .beacon, term: 42, state: .leader, priority: 7, uptime: .milliseconds(123_456),
                                        leader: "host0:9000", sentAt: .nanoseconds(9_876_543_210), askedTerm: 0,
                                        flags: .escalated, followers: 2, leaderFor: .milliseconds(5_000))
    static func packet(_ body: WatchdogPacket.Body = .message(beacon), sequence: UInt64 = 1) -> WatchdogPacket {
        WatchdogPacket(sender: "host0:9000", receiver: "[::1]:9001", session: 0xDEAD_BEEF, sequence: sequence, body: body)
    }

    @Test(arguments: WatchdogMessage.Kind.allCases.filter { !$0.carriesPayload })
    func everyElectionKindRoundTrips(kind: WatchdogMessage.Kind) throws {
        var m = Self.beacon
        m.kind = kind
        m.flags = [.preVote, .granted]
        let p = Self.packet(.message(m))
        #expect(try WatchdogPacket.decode(p.encode(key: Self.key), key: Self.key) == p)
        #expect(try WatchdogPacket.decode(p.encode(key: nil), key: nil) == p)
    }

    /// One payload of each backend kind (9–14), edge values included.
    static let payloads: [WatchdogClusterPayload] = [
        .view(WatchdogClusterView(version: 7, primary: 1, nodes: [0: .down, 1: .up, 2: .waiting, 3: .unused, 4: .quarantine])),
        .view(WatchdogClusterView(version: .max, primary: nil, nodes: [:])),
        .proposal(.init(.nodeDown, nodes: [2, 0])),
        .proposal(.init(.promote, nodes: [1])),
        .answer(.init(.nodeUp, nodes: [3]), .buildingConsensus(votes: 1, needed: 2)),
        .answer(.init(.nodeDown, nodes: [0]), .repeatedProposal(votes: 1, needed: 3)),
        .answer(.init(.nodeDown, nodes: [0]), .proceed),
        .answer(.init(.nodeDown, nodes: [0]), .noQuorum),
        .adminRequest(id: 0xFEED_0000_0001, .detach(2, waitForClients: true)),
        .adminRequest(id: 1, .attach(0)), .adminRequest(id: 2, .detach(1, waitForClients: false)),
        .adminRequest(id: 3, .promote(1)), .adminRequest(id: 4, .switchover(2)), .adminRequest(id: 5, .recover(0)),
        .adminReply(id: 9, ok: true, message: "node 2 detached"),
        .adminReply(id: 10, ok: false, message: "nœud déjà détaché"),
        .adminReply(id: 11, ok: false, message: ""),
        .settingsDigest(WatchdogSettingsDigest(backends: [
            BackendConfig(id: 0, hostname: "db0", port: 5432, weight: 1, dataDirectory: "", flags: [], applicationName: "")])),
        .clusterCommand(.reload), .clusterCommand(.stop(.smart)), .clusterCommand(.stop(.fast)), .clusterCommand(.stop(.immediate)),
    ]

    static func clusterMessage(_ p: WatchdogClusterPayload) -> WatchdogMessage {
        WatchdogMessage(p, term: 42, state: .standby, priority: 3, uptime: .milliseconds(77), leader: "host0:9000")
    }

    @Test(arguments: payloads)
    func everyBackendPayloadRoundTrips(payload: WatchdogClusterPayload) throws {
        let m = Self.clusterMessage(payload)
        #expect(m.kind == payload.kind && m.kind.carriesPayload)
        let p = Self.packet(.message(m))
        #expect(try WatchdogPacket.decode(p.encode(key: Self.key), key: Self.key) == p)
        #expect(try WatchdogPacket.decode(p.encode(key: nil), key: nil) == p)
    }

    @Test func everyKindIsCovered() {
        let covered = Set(Self.payloads.map(\.kind))
        #expect(covered == Set(WatchdogMessage.Kind.allCases.filter(\.carriesPayload)))
    }

    @Test func aLongReplyIsCutAtACharacterBoundary() throws {
        let text = String(repeating: "é", count: 700)  // 1400 bytes
        let p = Self.packet(.message(Self.clusterMessage(.adminReply(id: 1, ok: false, message: text))))
        let decoded = try WatchdogPacket.decode(p.encode(key: Self.key), key: Self.key)
        guard case .message(let m) = decoded.body, case .adminReply(_, _, let cut) = m.cluster else {
            Issue.record("not an admin reply")
            return
        }
        #expect(cut == String(repeating: "é", count: 500))
    }

    @Test func aChangedPayloadIsDetected() throws {
        let view = WatchdogClusterPayload.view(WatchdogClusterView(version: 3, primary: 0, nodes: [0: .up, 1: .up]))
        let bytes = Self.packet(.message(Self.clusterMessage(view))).encode(key: Self.key)
        // the last payload byte is node 1's status: "up" → "down" is exactly what an attacker would want
        var tampered = bytes
        tampered[bytes.count - 33] = NodeStatus.down.wireCode
        #expect(throws: WatchdogPacket.DecodeError.badAuthentication) { try WatchdogPacket.decode(tampered, key: Self.key) }
        // the payload cut short under the old HMAC, or a frame made with another key
        #expect(throws: WatchdogPacket.DecodeError.badAuthentication) {
            try WatchdogPacket.decode(Array(bytes.dropLast(34)) + Array(bytes.suffix(32)), key: Self.key)
        }
        let other = Self.packet(.message(Self.clusterMessage(view))).encode(key: WatchdogAuthKey("other"))
        #expect(throws: WatchdogPacket.DecodeError.badAuthentication) { try WatchdogPacket.decode(other, key: Self.key) }
    }

    @Test func malformedPayloads() {
        let view = WatchdogClusterPayload.view(WatchdogClusterView(version: 3, primary: 0, nodes: [0: .up]))
        let bytes = Self.packet(.message(Self.clusterMessage(view))).encode(key: nil)
        let kind = WatchdogMessage.Kind.clusterView.rawValue
        var status = bytes
        status[bytes.count - 33] = 9  // no such status
        #expect(throws: WatchdogPacket.DecodeError.badPayload(kind)) { try WatchdogPacket.decode(status, key: nil) }
        // the length says one byte more than there is
        var length = bytes
        let at = bytes.count - 32 - 15 - 2  // payload: version 8, primary 2, count 2, one node 3
        length[at + 1] += 1
        #expect(throws: WatchdogPacket.DecodeError.truncated) { try WatchdogPacket.decode(length, key: nil) }
        // a view whose kind byte says "proposal": the bytes do not fit
        var relabelled = bytes
        relabelled[5] = WatchdogMessage.Kind.failoverProposal.rawValue
        #expect(throws: WatchdogPacket.DecodeError.badPayload(10)) { try WatchdogPacket.decode(relabelled, key: nil) }
        // a payload on an election message, and a backend kind without one
        var info = Self.clusterMessage(view)
        info.kind = .info
        #expect(throws: WatchdogPacket.DecodeError.badPayload(2)) {
            try WatchdogPacket.decode(Self.packet(.message(info)).encode(key: nil), key: nil)
        }
        var bare = Self.beacon
        bare.kind = .clusterView
        #expect(throws: WatchdogPacket.DecodeError.badPayload(kind)) {
            try WatchdogPacket.decode(Self.packet(.message(bare)).encode(key: nil), key: nil)
        }
        // a frame of version 1 (before backend kinds) is not read
        var old = bytes
        old[4] = 1
        #expect(throws: WatchdogPacket.DecodeError.unsupportedVersion(1)) { try WatchdogPacket.decode(old, key: nil) }
    }

    @Test func theSettingsDigestSeesHostPortAndFlags() {
        func backend(_ id: Int, _ host: String, _ port: Int, _ flags: BackendFlags = [], weight: Double = 1) -> BackendConfig {
            BackendConfig(id: id, hostname: host, port: port, weight: weight, dataDirectory: "/d", flags: flags, applicationName: "")
        }
        let base = WatchdogSettingsDigest(backends: [backend(0, "db0", 5432), backend(1, "db1", 5432)])
        #expect(base.bytes.count == 32 && base.backends == 2 && base.short.count == 16)
        // the order of the file does not matter; weights are a member's own business
        #expect(WatchdogSettingsDigest(backends: [backend(1, "db1", 5432), backend(0, "db0", 5432, weight: 0.1)]) == base)
        for changed in [[backend(0, "db0", 5432), backend(1, "db2", 5432)], [backend(0, "db0", 5432), backend(1, "db1", 5433)],
                        [backend(0, "db0", 5432), backend(1, "db1", 5432, .disallowToFailover)], [backend(0, "db0", 5432)]] {
            #expect(WatchdogSettingsDigest(backends: changed) != base)
        }
    }

    @Test func heartbeatRoundTrips() throws {
        let p = Self.packet(.heartbeat)
        #expect(try WatchdogPacket.decode(p.encode(key: Self.key), key: Self.key) == p)
    }

    @Test func theKeyIsNeverOnTheWireAndAnyChangeIsDetected() throws {
        let bytes = Self.packet().encode(key: Self.key)
        let keyBytes = Self.key.bytes
        #expect(!(0...(bytes.count - keyBytes.count)).contains { Array(bytes[$0..<($0 + keyBytes.count)]) == keyBytes })
        #expect(throws: WatchdogPacket.DecodeError.badAuthentication) {
            try WatchdogPacket.decode(bytes, key: WatchdogAuthKey("other"))
        }
        #expect(throws: WatchdogPacket.DecodeError.badAuthentication) {
            try WatchdogPacket.decode(Self.packet().encode(key: nil), key: Self.key)
        }
        for i in [5, 30, bytes.count - 40, bytes.count - 1] {
            var tampered = bytes
            tampered[i] ^= 0x01
            #expect(throws: WatchdogPacket.DecodeError.badAuthentication) { try WatchdogPacket.decode(tampered, key: Self.key) }
        }
    }

    @Test func malformedFrames() {
        let bytes = Self.packet().encode(key: nil)
        #expect(throws: WatchdogPacket.DecodeError.truncated) { try WatchdogPacket.decode(Array(bytes.prefix(20)), key: nil) }
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        #expect(throws: WatchdogPacket.DecodeError.badMagic) { try WatchdogPacket.decode(magic, key: nil) }
        var version = bytes
        version[4] = 9
        #expect(throws: WatchdogPacket.DecodeError.unsupportedVersion(9)) { try WatchdogPacket.decode(version, key: nil) }
        var kind = bytes
        kind[5] = 0x7F
        #expect(throws: WatchdogPacket.DecodeError.unknownKind(0x7F)) { try WatchdogPacket.decode(kind, key: nil) }
        #expect(throws: WatchdogPacket.DecodeError.truncated) {
            try WatchdogPacket.decode(Array(bytes.dropLast(33)) + [UInt8](repeating: 0, count: 32), key: nil)
        }
    }

    @Test func tcpFramingPrefixesTheLength() {
        let framed = Self.packet().framed(key: Self.key)
        let n = framed.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        #expect(n == framed.count - 4)
    }

    @Test func replaysAreDropped() {
        var w = WatchdogReplayWindow()
        var restarted = Self.packet(sequence: 1)
        restarted.session = 7
        let accepted = [Self.packet(sequence: 1), Self.packet(sequence: 2), Self.packet(sequence: 2),
                        Self.packet(sequence: 1), restarted].map { w.accept($0) }
        #expect(accepted == [true, true, false, false, true])
    }
}
