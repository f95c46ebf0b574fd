/// Pgpool-II's PCP wire format (reference §6.2–6.5): every packet is one kind byte, a big-endian int32 length
/// that counts itself but not the kind, and a payload of mostly NUL-terminated ASCII strings. Pure: bytes in,
/// typed requests and encoded replies out, so the real `pcp_*` programs' bytes can be checked without a socket.
public enum PCPProtocol {
    /// Pgpool-II's `MAX_PCP_PACKET_LENGTH`: a client packet's length must be > 0 and < this.
    public static let maxPacketLength = 260

    /// One client packet: its kind byte and payload (the length is gone once framed).
    public struct Frame: Equatable, Sendable {
        public var kind: UInt8
        public var payload: [UInt8]
        public init(kind: UInt8, payload: [UInt8]) {
            self.kind = kind
            self.payload = payload
        }
    }

    /// Splits a byte stream into frames. A bad length is Pgpool-II's FATAL `invalid PCP packet`.
    public struct FrameDecoder: Sendable {
        private var buffer: [UInt8] = []
        private var start = 0
        public init() {}

        public mutating func append(_ bytes: [UInt8]) {
            if start > 4096, start * 2 > buffer.count {
                buffer.removeFirst(start)
                start = 0
            }
            buffer += bytes
        }

        /// The next complete frame, nil when more bytes are needed, or the FATAL error for a bad length.
        public mutating func next() -> Result<Frame, PCPError>? {
            guard buffer.count - start >= 5 else { return nil }
            let kind = buffer[start]
            let b = buffer[(start + 1)..<(start + 5)].map(UInt32.init)
            let length = Int32(bitPattern: b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3])
            guard length > 0, length < Int32(PCPProtocol.maxPacketLength) else {
                return .failure(.fatal("invalid PCP packet", detail: "incorrect packet length (\(length))"))
            }
            // A length below 4 is not rejected by Pgpool-II either: it reads no payload.
            let payloadLength = max(0, Int(length) - 4)
            guard buffer.count - start >= 5 + payloadLength else { return nil }
            let payload = Array(buffer[(start + 5)..<(start + 5 + payloadLength)])
            start += 5 + payloadLength
            return .success(Frame(kind: kind, payload: payload))
        }
    }

    // MARK: - Encoding

    /// `kind` + length + payload.
    public static func packet(_ kind: Character, _ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count + 4)
        return [kind.asciiValue!, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + payload
    }

    /// NUL-terminated strings, one after the other.
    public static func strings(_ values: [String]) -> [UInt8] {
        var out: [UInt8] = []
        for v in values { out += Array(v.utf8) + [0] }
        return out
    }

    /// A packet whose payload is `CommandComplete\0` followed by `values`.
    public static func commandComplete(_ kind: Character, _ values: [String] = []) -> [UInt8] {
        packet(kind, strings(["CommandComplete"] + values))
    }

    static func cString(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// A PCP error or notice as Pgpool-II's elog sends it: `S`, `C` (XX000), `M`, optional `D`, `F`, `L`. ERROR
/// leaves the connection usable; FATAL closes it.
public struct PCPError: Error, Equatable, Sendable {
    public enum Severity: String, Sendable { case error = "ERROR", fatal = "FATAL", warning = "WARNING" }
    public var severity: Severity
    public var message: String
    public var detail: String?

    public init(_ severity: Severity, _ message: String, detail: String? = nil) {
        self.severity = severity
        self.message = message
        self.detail = detail
    }

    public static func error(_ m: String, detail: String? = nil) -> PCPError { PCPError(.error, m, detail: detail) }
    public static func fatal(_ m: String, detail: String? = nil) -> PCPError { PCPError(.fatal, m, detail: detail) }

    /// The `E` (or `N` for a warning) packet; each field is cut at 255 bytes as Pgpool-II's MAXMSGBUF does.
    public var packet: [UInt8] {
        func field(_ tag: Character, _ value: String) -> [UInt8] {
            Array((String(tag) + value).utf8.prefix(255)) + [0]
        }
        var payload = field("S", severity.rawValue) + field("C", "XX000") + field("M", message)
        if let detail { payload += field("D", detail) }
        payload += field("F", "pcp_worker.c") + field("L", "0") + [0]
        return PCPProtocol.packet(severity == .warning ? "N" : "E", payload)
    }
}
