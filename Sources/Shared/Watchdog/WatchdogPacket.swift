import Crypto

/// A watchdog message or heartbeat as it travels between poold members (share/doc/watchdog.md, "Wire format"):
/// one frame per UDP datagram, or per 4-byte big-endian length prefix on the TCP channel. The frame ends with an
/// HMAC-SHA256 of everything before it, keyed with `wd_authkey` (all zero without a key); the key itself is never
/// sent. `session` (random per process start) and `sequence` (growing per session) let the receiver drop replays
/// (`WatchdogReplayWindow`). Messages about backends (kinds 9–14) add a payload (`WatchdogClusterPayload`) after
/// the common header. Only poold speaks it; Pgpool-II's watchdog packets are not understood.
public struct WatchdogPacket: Equatable, Sendable {
    public enum Body: Equatable, Sendable {
        case message(WatchdogMessage)
        /// UDP liveness only: the machine's `.heartbeat(from:)`.
        case heartbeat
    }

    public enum DecodeError: Error, Equatable, Sendable {
        case truncated, badMagic, unsupportedVersion(UInt8), unknownKind(UInt8), unknownState(UInt8)
        /// The payload does not fit the kind (given): malformed, missing, or present on an election message.
        case badPayload(UInt8)
        /// The HMAC does not match: wrong `wd_authkey`, a changed frame, or a sender without a key.
        case badAuthentication
    }

    public static let magic: [UInt8] = Array("PDWD".utf8)
    /// 2: the payload of kinds 9–14 (cluster-wide backend state). Nothing older is accepted.
    public static let version: UInt8 = 2
    static let heartbeatKind: UInt8 = 0x10
    static let macLength = 32

    /// Sender and receiver member names (`host:wd_port`): a frame is only valid for the member it names.
    public var sender: String
    public var receiver: String
    public var session: UInt64
    public var sequence: UInt64
    public var body: Body

    public init(sender: String, receiver: String, session: UInt64, sequence: UInt64, body: Body) {
        self.sender = sender
        self.receiver = receiver
        self.session = session
        self.sequence = sequence
        self.body = body
    }

    // MARK: - Encoding

    public func encode(key: WatchdogAuthKey?) -> [UInt8] {
        var b = Self.magic
        b.append(Self.version)
        let m: WatchdogMessage
        switch body {
        case .message(let message):
            m = message
            b.append(message.kind.rawValue)
        case .heartbeat:
            m = WatchdogMessage(kind: .info, term: 0, state: .dead, priority: 0, uptime: .zero)
            b.append(Self.heartbeatKind)
        }
        b.append(m.flags.rawValue)
        b.append(UInt8(m.state.rawValue))
        for v in [session, sequence, m.term] { Self.put(v, into: &b) }
        Self.put(UInt64(UInt32(bitPattern: Int32(clamping: m.priority))), into: &b, width: 4)
        Self.put(Self.milliseconds(m.uptime), into: &b)
        Self.put(Self.nanoseconds(m.sentAt), into: &b)
        Self.put(m.askedTerm, into: &b)
        Self.put(UInt64(UInt16(clamping: max(m.followers, 0))), into: &b, width: 2)
        Self.put(Self.milliseconds(m.leaderFor), into: &b)
        for s in [sender, receiver, m.leader] {
            let bytes = Array(s.utf8.prefix(255))
            b.append(UInt8(bytes.count))
            b += bytes
        }
        let payload = m.cluster?.encode() ?? []
        Self.put(UInt64(payload.count), into: &b, width: 2)
        b += payload
        b += Self.mac(b, key: key)
        return b
    }

    /// The TCP channel's framing: a 4-byte big-endian length, then the frame.
    public func framed(key: WatchdogAuthKey?) -> [UInt8] {
        let frame = encode(key: key)
        var out: [UInt8] = []
        Self.put(UInt64(frame.count), into: &out, width: 4)
        return out + frame
    }

    // MARK: - Decoding

    /// Checks the HMAC first (with `key`; without one, any frame is accepted), then the fields.
    public static func decode(_ bytes: [UInt8], key: WatchdogAuthKey?) throws(DecodeError) -> WatchdogPacket {
        let fixed = 4 + 4 + 8 * 3 + 4 + 8 * 3 + 2 + 8
        guard bytes.count >= fixed + 3 + 2 + macLength else { throw .truncated }
        guard Array(bytes[0..<4]) == magic else { throw .badMagic }
        let body = Array(bytes[..<(bytes.count - macLength)])
        if let key {
            let code = Array(bytes[(bytes.count - macLength)...])
            guard HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: body, using: SymmetricKey(data: key.bytes))
            else { throw .badAuthentication }
        }
        var r = Reader(bytes: body, at: 4)
        let v = try r.byte()
        guard v == version else { throw .unsupportedVersion(v) }
        let kindByte = try r.byte()
        let flags = WatchdogMessage.Flags(rawValue: try r.byte())
        let stateByte = try r.byte()
        guard let state = WatchdogState(rawValue: Int(stateByte)) else { throw .unknownState(stateByte) }
        let session = try r.int(8), sequence = try r.int(8), term = try r.int(8)
        let priority = Int(Int32(bitPattern: UInt32(try r.int(4))))
        let uptime = Duration.milliseconds(Int64(clamping: try r.int(8)))
        let sentAt = Duration.nanoseconds(Int64(clamping: try r.int(8)))
        let askedTerm = try r.int(8)
        let followers = Int(try r.int(2))
        let leaderFor = Duration.milliseconds(Int64(clamping: try r.int(8)))
        let sender = try r.string(), receiver = try r.string(), leader = try r.string()
        let payloadLength = Int(try r.int(2))
        guard r.at + payloadLength == body.count else { throw .truncated }
        let payload = Array(body[r.at...])
        let packetBody: Body
        if kindByte == heartbeatKind {
            guard payload.isEmpty else { throw .badPayload(kindByte) }
            packetBody = .heartbeat
        } else if let kind = WatchdogMessage.Kind(rawValue: kindByte) {
            var m = WatchdogMessage(kind: kind, term: term, state: state, priority: priority, uptime: uptime,
                                    leader: leader, sentAt: sentAt, askedTerm: askedTerm, flags: flags,
                                    followers: followers, leaderFor: leaderFor)
            m.cluster = try WatchdogClusterPayload.decode(payload, kind: kind)
            packetBody = .message(m)
        } else {
            throw .unknownKind(kindByte)
        }
        return WatchdogPacket(sender: sender, receiver: receiver, session: session, sequence: sequence, body: packetBody)
    }

    // MARK: - Helpers

    static func mac(_ bytes: [UInt8], key: WatchdogAuthKey?) -> [UInt8] {
        guard let key else { return [UInt8](repeating: 0, count: macLength) }
        return Array(HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: key.bytes)))
    }

    static func put(_ v: UInt64, into b: inout [UInt8], width: Int = 8) {
        for i in stride(from: width - 1, through: 0, by: -1) { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    static func milliseconds(_ d: Duration) -> UInt64 {
        let (s, atto) = d.components
        return s < 0 ? 0 : UInt64(s) * 1000 + UInt64(atto / 1_000_000_000_000_000)
    }

    static func nanoseconds(_ d: Duration) -> UInt64 {
        let (s, atto) = d.components
        return s < 0 ? 0 : UInt64(s) * 1_000_000_000 + UInt64(atto / 1_000_000_000)
    }

    struct Reader {
        let bytes: [UInt8]
        var at: Int
        mutating func byte() throws(DecodeError) -> UInt8 {
            guard at < bytes.count else { throw .truncated }
            defer { at += 1 }
            return bytes[at]
        }
        mutating func int(_ width: Int) throws(DecodeError) -> UInt64 {
            var v: UInt64 = 0
            for _ in 0..<width { v = v << 8 | UInt64(try byte()) }
            return v
        }
        mutating func string() throws(DecodeError) -> String {
            let n = Int(try byte())
            guard at + n <= bytes.count else { throw .truncated }
            defer { at += n }
            return String(decoding: bytes[at..<(at + n)], as: UTF8.self)
        }
        /// `n` bytes of UTF-8 (the length was read before).
        mutating func utf8(_ n: Int) throws(DecodeError) -> String {
            guard n >= 0, at + n <= bytes.count else { throw .truncated }
            defer { at += n }
            return String(decoding: bytes[at..<(at + n)], as: UTF8.self)
        }
    }
}

/// Drops replayed frames: per sender, the current session and the highest sequence seen. A new session (the
/// sender restarted) replaces the old one; stale-term checks in the state machine cover frames of old sessions.
public struct WatchdogReplayWindow: Equatable, Sendable {
    var latest: [String: (session: UInt64, sequence: UInt64)] = [:]

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.latest.mapValues { [$0.session, $0.sequence] } == b.latest.mapValues { [$0.session, $0.sequence] }
    }

    /// True (and remembered) when the frame is newer than anything seen from its sender in its session.
    public mutating func accept(_ p: WatchdogPacket) -> Bool {
        if let seen = latest[p.sender], seen.session == p.session, p.sequence <= seen.sequence { return false }
        latest[p.sender] = (p.session, p.sequence)
        return true
    }
}
