import NIOCore

/// The key a backend (or poold, on its own behalf) hands a client for CancelRequest.
public struct BackendKey: Hashable, Sendable {
    public var processID: Int32
    public var secretKey: Int32
    public init(processID: Int32, secretKey: Int32) {
        self.processID = processID
        self.secretKey = secretKey
    }
}

/// A StartupMessage: protocol version and the ordered parameters (user, database, application_name, GUCs…).
public struct StartupMessage: Equatable, Sendable {
    public var protocolVersion: Int32
    public var parameters: [(String, String)]

    public init(protocolVersion: Int32 = ProtocolCode.protocol3, parameters: [(String, String)]) {
        self.protocolVersion = protocolVersion
        self.parameters = parameters
    }

    public subscript(name: String) -> String? {
        parameters.first(where: { $0.0 == name })?.1
    }

    public var user: String { self["user"] ?? "" }
    /// PostgreSQL defaults the database to the user name.
    public var database: String { self["database"].flatMap { $0.isEmpty ? nil : $0 } ?? user }

    public static func == (lhs: StartupMessage, rhs: StartupMessage) -> Bool {
        lhs.protocolVersion == rhs.protocolVersion && lhs.parameters.elementsEqual(rhs.parameters, by: { $0 == $1 })
    }
}

/// Every message a client (frontend) sends. The poold session is a server for these and, towards the
/// backends, a client that sends them again.
public enum FrontendMessage: Equatable, Sendable {
    case startup(StartupMessage)
    case sslRequest
    case gssEncRequest
    case cancelRequest(BackendKey)
    case query(String)  // ascii: Q
    case parse(name: String, query: String, parameterTypes: [UInt32])  // ascii: P
    case bind(Bind)  // ascii: B
    case describe(kind: UInt8, name: String)  // ascii: D ('S' statement / 'P' portal)
    case execute(portal: String, maxRows: Int32)  // ascii: E
    case close(kind: UInt8, name: String)  // ascii: C
    case sync  // ascii: S
    case flush  // ascii: H
    case copyData(ByteBuffer)  // ascii: d
    case copyDone  // ascii: c
    case copyFail(String)  // ascii: f
    case functionCall(ByteBuffer)  // ascii: F (body kept raw; forwarded untouched)
    /// ascii: p. PasswordMessage, SASLInitialResponse and SASLResponse share the id; the auth exchange
    /// that expects it interprets the body (see `PasswordBody`).
    case password(ByteBuffer)
    case terminate  // ascii: X

    /// The Bind message, parameters kept as raw bytes (nil = SQL NULL).
    public struct Bind: Equatable, Sendable {
        public var portal: String
        public var statement: String
        public var parameterFormats: [Int16]
        public var parameters: [ByteBuffer?]
        public var resultFormats: [Int16]
        public init(portal: String, statement: String, parameterFormats: [Int16], parameters: [ByteBuffer?],
                    resultFormats: [Int16]) {
            self.portal = portal
            self.statement = statement
            self.parameterFormats = parameterFormats
            self.parameters = parameters
            self.resultFormats = resultFormats
        }
    }

    /// Decodes one frame from a client. `frame.id == 0` means an untyped startup-family packet.
    public static func decode(_ frame: Frame) throws -> FrontendMessage {
        var b = frame.body
        func cstring() throws -> String { try b.readRequiredCString() }
        func int16() throws -> Int16 { try b.readRequiredInteger() }
        func int32() throws -> Int32 { try b.readRequiredInteger() }
        let message: FrontendMessage
        switch frame.id {
        case 0:
            let code = try int32()
            switch code {
            case ProtocolCode.sslRequest: message = .sslRequest
            case ProtocolCode.gssEncRequest: message = .gssEncRequest
            case ProtocolCode.cancelRequest: message = .cancelRequest(BackendKey(processID: try int32(), secretKey: try int32()))
            default:
                guard code >> 16 == 3 else { throw WireError.unsupportedProtocol(code) }
                var params: [(String, String)] = []
                while true {
                    let name = try cstring()
                    if name.isEmpty { break }
                    params.append((name, try cstring()))
                }
                message = .startup(StartupMessage(protocolVersion: code, parameters: params))
            }
        case UInt8(ascii: "Q"): message = .query(try cstring())
        case UInt8(ascii: "P"):
            let name = try cstring(), query = try cstring()
            let n = try int16()
            guard n >= 0 else { throw WireError.malformed("negative parameter count") }
            var types: [UInt32] = []
            types.reserveCapacity(Int(n))
            for _ in 0..<n { types.append(UInt32(bitPattern: try int32())) }
            message = .parse(name: name, query: query, parameterTypes: types)
        case UInt8(ascii: "B"):
            let portal = try cstring(), statement = try cstring()
            let nf = try int16()
            guard nf >= 0 else { throw WireError.malformed("negative format count") }
            var formats: [Int16] = []
            for _ in 0..<nf { formats.append(try int16()) }
            let np = try int16()
            guard np >= 0 else { throw WireError.malformed("negative parameter count") }
            var params: [ByteBuffer?] = []
            for _ in 0..<np {
                let len = try int32()
                if len == -1 { params.append(nil); continue }
                guard len >= 0, let v = b.readSlice(length: Int(len)) else { throw WireError.malformed("bad parameter length") }
                params.append(v)
            }
            let nr = try int16()
            guard nr >= 0 else { throw WireError.malformed("negative result format count") }
            var results: [Int16] = []
            for _ in 0..<nr { results.append(try int16()) }
            message = .bind(Bind(portal: portal, statement: statement, parameterFormats: formats,
                                 parameters: params, resultFormats: results))
        case UInt8(ascii: "D"):
            guard let kind = b.readInteger(as: UInt8.self) else { throw WireError.malformed("truncated Describe") }
            message = .describe(kind: kind, name: try cstring())
        case UInt8(ascii: "E"): message = .execute(portal: try cstring(), maxRows: try int32())
        case UInt8(ascii: "C"):
            guard let kind = b.readInteger(as: UInt8.self) else { throw WireError.malformed("truncated Close") }
            message = .close(kind: kind, name: try cstring())
        case UInt8(ascii: "S"): message = .sync
        case UInt8(ascii: "H"): message = .flush
        case UInt8(ascii: "d"): message = .copyData(b); b.moveReaderIndex(to: b.writerIndex)
        case UInt8(ascii: "c"): message = .copyDone
        case UInt8(ascii: "f"): message = .copyFail(try cstring())
        case UInt8(ascii: "F"): message = .functionCall(b); b.moveReaderIndex(to: b.writerIndex)
        case UInt8(ascii: "p"): message = .password(b); b.moveReaderIndex(to: b.writerIndex)
        case UInt8(ascii: "X"): message = .terminate
        default: throw WireError.unknownMessage(id: frame.id)
        }
        return message
    }

    /// Encodes the message with its header, as a client would send it.
    public func encode(into out: inout ByteBuffer) {
        switch self {
        case .startup(let s):
            out.writeUntypedMessage { b in
                b.writeInteger(s.protocolVersion)
                for (k, v) in s.parameters { b.writeCString(k); b.writeCString(v) }
                b.writeInteger(UInt8(0))
            }
        case .sslRequest: out.writeUntypedMessage { $0.writeInteger(ProtocolCode.sslRequest) }
        case .gssEncRequest: out.writeUntypedMessage { $0.writeInteger(ProtocolCode.gssEncRequest) }
        case .cancelRequest(let key):
            out.writeUntypedMessage { b in
                b.writeInteger(ProtocolCode.cancelRequest)
                b.writeInteger(key.processID)
                b.writeInteger(key.secretKey)
            }
        case .query(let q): out.writeMessage(UInt8(ascii: "Q")) { $0.writeCString(q) }
        case .parse(let name, let query, let types):
            out.writeMessage(UInt8(ascii: "P")) { b in
                b.writeCString(name); b.writeCString(query)
                b.writeInteger(Int16(types.count))
                for t in types { b.writeInteger(t) }
            }
        case .bind(let bind):
            out.writeMessage(UInt8(ascii: "B")) { b in
                b.writeCString(bind.portal); b.writeCString(bind.statement)
                b.writeInteger(Int16(bind.parameterFormats.count))
                for f in bind.parameterFormats { b.writeInteger(f) }
                b.writeInteger(Int16(bind.parameters.count))
                for p in bind.parameters {
                    if var p { b.writeInteger(Int32(p.readableBytes)); b.writeBuffer(&p) } else { b.writeInteger(Int32(-1)) }
                }
                b.writeInteger(Int16(bind.resultFormats.count))
                for f in bind.resultFormats { b.writeInteger(f) }
            }
        case .describe(let kind, let name):
            out.writeMessage(UInt8(ascii: "D")) { $0.writeInteger(kind); $0.writeCString(name) }
        case .execute(let portal, let maxRows):
            out.writeMessage(UInt8(ascii: "E")) { $0.writeCString(portal); $0.writeInteger(maxRows) }
        case .close(let kind, let name):
            out.writeMessage(UInt8(ascii: "C")) { $0.writeInteger(kind); $0.writeCString(name) }
        case .sync: out.writeMessage(UInt8(ascii: "S")) { _ in }
        case .flush: out.writeMessage(UInt8(ascii: "H")) { _ in }
        case .copyData(var data): out.writeMessage(UInt8(ascii: "d")) { $0.writeBuffer(&data) }
        case .copyDone: out.writeMessage(UInt8(ascii: "c")) { _ in }
        case .copyFail(let m): out.writeMessage(UInt8(ascii: "f")) { $0.writeCString(m) }
        case .functionCall(var body): out.writeMessage(UInt8(ascii: "F")) { $0.writeBuffer(&body) }
        case .password(var body): out.writeMessage(UInt8(ascii: "p")) { $0.writeBuffer(&body) }
        case .terminate: out.writeMessage(UInt8(ascii: "X")) { _ in }
        }
    }
}

/// Interpretations of a 'p' message body, chosen by the authentication exchange in progress.
public enum PasswordBody {
    /// PasswordMessage: a NUL-terminated string (clear text or "md5…").
    public static func password(_ body: ByteBuffer) -> String? {
        var b = body
        return b.readCString()
    }

    /// SASLInitialResponse: mechanism name, then Int32 length and the initial client message.
    public static func saslInitial(_ body: ByteBuffer) -> (mechanism: String, data: [UInt8])? {
        var b = body
        guard let mech = b.readCString(), let len = b.readInteger(as: Int32.self) else { return nil }
        if len < 0 { return (mech, []) }
        guard let bytes = b.readBytes(length: Int(len)) else { return nil }
        return (mech, bytes)
    }

    public static func encodeSASLInitial(mechanism: String, data: [UInt8]) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeCString(mechanism)
        b.writeInteger(Int32(data.count))
        b.writeBytes(data)
        return b
    }

    public static func encodePassword(_ s: String) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeCString(s)
        return b
    }
}
