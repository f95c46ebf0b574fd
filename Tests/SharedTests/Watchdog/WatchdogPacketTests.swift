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

    @Test(arguments: WatchdogMessage.Kind.allCases)
    func everyKindRoundTrips(kind: WatchdogMessage.Kind) throws {
        var m = Self.beacon
        m.kind = kind
        m.flags = [.preVote, .granted]
        let p = Self.packet(.message(m))
        #expect(try WatchdogPacket.decode(p.encode(key: Self.key), key: Self.key) == p)
        #expect(try WatchdogPacket.decode(p.encode(key: nil), key: nil) == p)
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
