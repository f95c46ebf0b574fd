import NIOCore

/// Transaction status carried by ReadyForQuery.
public enum TransactionStatus: UInt8, Sendable {
    case idle = 73  // ascii: I
    case inTransaction = 84  // ascii: T
    case failed = 69  // ascii: E
}

/// Authentication request sub-messages ('R').
public enum AuthenticationRequest: Equatable, Sendable {
    case ok
    case cleartextPassword
    case md5Password(salt: [UInt8])
    case sasl(mechanisms: [String])
    case saslContinue([UInt8])
    case saslFinal([UInt8])
    /// Kerberos, GSS, SSPI: poold does not speak them and ends the exchange with an error.
    case unsupported(code: Int32)
}

/// One column of a RowDescription.
public struct FieldDescription: Equatable, Sendable {
    public var name: String
    public var tableOID: UInt32 = 0
    public var columnAttribute: Int16 = 0
    public var typeOID: UInt32 = 0
    public var typeSize: Int16 = -1
    public var typeModifier: Int32 = 0
    public var format: Int16 = 0
    public init(name: String, tableOID: UInt32 = 0, columnAttribute: Int16 = 0, typeOID: UInt32 = 0,
                typeSize: Int16 = -1, typeModifier: Int32 = 0, format: Int16 = 0) {
        self.name = name
        self.tableOID = tableOID
        self.columnAttribute = columnAttribute
        self.typeOID = typeOID
        self.typeSize = typeSize
        self.typeModifier = typeModifier
        self.format = format
    }
}

/// Every message a PostgreSQL server sends. poold decodes these from backends and encodes them for
/// clients (its own errors, SHOW results, authentication requests, replayed ParameterStatus).
public enum BackendMessage: Equatable, Sendable {
    case authentication(AuthenticationRequest)  // ascii: R
    case backendKeyData(BackendKey)  // ascii: K
    case parameterStatus(name: String, value: String)  // ascii: S
    case readyForQuery(TransactionStatus)  // ascii: Z
    case errorResponse(ErrorFields)  // ascii: E
    case noticeResponse(ErrorFields)  // ascii: N
    case rowDescription([FieldDescription])  // ascii: T
    case dataRow([ByteBuffer?])  // ascii: D
    case commandComplete(String)  // ascii: C
    case emptyQueryResponse  // ascii: I
    case parseComplete  // ascii: 1
    case bindComplete  // ascii: 2
    case closeComplete  // ascii: 3
    case noData  // ascii: n
    case portalSuspended  // ascii: s
    case parameterDescription([UInt32])  // ascii: t
    case copyInResponse(format: Int8, columnFormats: [Int16])  // ascii: G
    case copyOutResponse(format: Int8, columnFormats: [Int16])  // ascii: H
    case copyBothResponse(format: Int8, columnFormats: [Int16])  // ascii: W
    case copyData(ByteBuffer)  // ascii: d
    case copyDone  // ascii: c
    case notificationResponse(processID: Int32, channel: String, payload: String)  // ascii: A
    case functionCallResponse(ByteBuffer?)  // ascii: V
    case negotiateProtocolVersion(minor: Int32, unrecognized: [String])  // ascii: v

    public static func decode(_ frame: Frame) throws -> BackendMessage {
        var b = frame.body
        func cstring() throws -> String { try b.readRequiredCString() }
        func int16() throws -> Int16 { try b.readRequiredInteger() }
        func int32() throws -> Int32 { try b.readRequiredInteger() }
        func copyResponse() throws -> (Int8, [Int16]) {
            guard let f = b.readInteger(as: Int8.self) else { throw WireError.malformed("truncated copy response") }
            let n = try int16()
            var cols: [Int16] = []
            for _ in 0..<max(0, n) { cols.append(try int16()) }
            return (f, cols)
        }
        switch frame.id {
        case UInt8(ascii: "R"):
            let code = try int32()
            switch code {
            case 0: return .authentication(.ok)
            case 3: return .authentication(.cleartextPassword)
            case 5:
                guard let salt = b.readBytes(length: 4) else { throw WireError.malformed("md5 salt") }
                return .authentication(.md5Password(salt: salt))
            case 10:
                var mechs: [String] = []
                while let m = b.readCString(), !m.isEmpty { mechs.append(m) }
                return .authentication(.sasl(mechanisms: mechs))
            case 11: return .authentication(.saslContinue(b.readBytes(length: b.readableBytes) ?? []))
            case 12: return .authentication(.saslFinal(b.readBytes(length: b.readableBytes) ?? []))
            default: return .authentication(.unsupported(code: code))
            }
        case UInt8(ascii: "K"): return .backendKeyData(BackendKey(processID: try int32(), secretKey: try int32()))
        case UInt8(ascii: "S"): return .parameterStatus(name: try cstring(), value: try cstring())
        case UInt8(ascii: "Z"):
            guard let raw = b.readInteger(as: UInt8.self), let s = TransactionStatus(rawValue: raw) else {
                throw WireError.malformed("ReadyForQuery status")
            }
            return .readyForQuery(s)
        case UInt8(ascii: "E"): return .errorResponse(try ErrorFields.decode(&b))
        case UInt8(ascii: "N"): return .noticeResponse(try ErrorFields.decode(&b))
        case UInt8(ascii: "T"):
            let n = try int16()
            var fields: [FieldDescription] = []
            for _ in 0..<max(0, n) {
                let name = try cstring()
                let table = UInt32(bitPattern: try int32())
                let attr = try int16()
                let type = UInt32(bitPattern: try int32())
                fields.append(FieldDescription(name: name, tableOID: table, columnAttribute: attr, typeOID: type,
                                               typeSize: try int16(), typeModifier: try int32(), format: try int16()))
            }
            return .rowDescription(fields)
        case UInt8(ascii: "D"):
            let n = try int16()
            var cols: [ByteBuffer?] = []
            cols.reserveCapacity(Int(max(0, n)))
            for _ in 0..<max(0, n) {
                let len = try int32()
                if len < 0 { cols.append(nil) } else {
                    guard let v = b.readSlice(length: Int(len)) else { throw WireError.malformed("DataRow column") }
                    cols.append(v)
                }
            }
            return .dataRow(cols)
        case UInt8(ascii: "C"): return .commandComplete(try cstring())
        case UInt8(ascii: "I"): return .emptyQueryResponse
        case UInt8(ascii: "1"): return .parseComplete
        case UInt8(ascii: "2"): return .bindComplete
        case UInt8(ascii: "3"): return .closeComplete
        case UInt8(ascii: "n"): return .noData
        case UInt8(ascii: "s"): return .portalSuspended
        case UInt8(ascii: "t"):
            let n = try int16()
            var types: [UInt32] = []
            for _ in 0..<max(0, n) { types.append(UInt32(bitPattern: try int32())) }
            return .parameterDescription(types)
        case UInt8(ascii: "G"): let (f, c) = try copyResponse(); return .copyInResponse(format: f, columnFormats: c)
        case UInt8(ascii: "H"): let (f, c) = try copyResponse(); return .copyOutResponse(format: f, columnFormats: c)
        case UInt8(ascii: "W"): let (f, c) = try copyResponse(); return .copyBothResponse(format: f, columnFormats: c)
        case UInt8(ascii: "d"): return .copyData(b)
        case UInt8(ascii: "c"): return .copyDone
        case UInt8(ascii: "A"):
            return .notificationResponse(processID: try int32(), channel: try cstring(), payload: try cstring())
        case UInt8(ascii: "V"):
            let len = try int32()
            return .functionCallResponse(len < 0 ? nil : b.readSlice(length: Int(len)))
        case UInt8(ascii: "v"):
            let minor = try int32()
            let n = try int32()
            var names: [String] = []
            for _ in 0..<max(0, n) { names.append(try cstring()) }
            return .negotiateProtocolVersion(minor: minor, unrecognized: names)
        default:
            throw WireError.unknownMessage(id: frame.id)
        }
    }

    public func encode(into out: inout ByteBuffer) {
        switch self {
        case .authentication(let req):
            out.writeMessage(UInt8(ascii: "R")) { b in
                switch req {
                case .ok: b.writeInteger(Int32(0))
                case .cleartextPassword: b.writeInteger(Int32(3))
                case .md5Password(let salt): b.writeInteger(Int32(5)); b.writeBytes(salt)
                case .sasl(let mechs):
                    b.writeInteger(Int32(10))
                    for m in mechs { b.writeCString(m) }
                    b.writeInteger(UInt8(0))
                case .saslContinue(let d): b.writeInteger(Int32(11)); b.writeBytes(d)
                case .saslFinal(let d): b.writeInteger(Int32(12)); b.writeBytes(d)
                case .unsupported(let code): b.writeInteger(code)
                }
            }
        case .backendKeyData(let k):
            out.writeMessage(UInt8(ascii: "K")) { $0.writeInteger(k.processID); $0.writeInteger(k.secretKey) }
        case .parameterStatus(let n, let v):
            out.writeMessage(UInt8(ascii: "S")) { $0.writeCString(n); $0.writeCString(v) }
        case .readyForQuery(let s): out.writeMessage(UInt8(ascii: "Z")) { $0.writeInteger(s.rawValue) }
        case .errorResponse(let f): out.writeMessage(UInt8(ascii: "E")) { f.encode(into: &$0) }
        case .noticeResponse(let f): out.writeMessage(UInt8(ascii: "N")) { f.encode(into: &$0) }
        case .rowDescription(let fields):
            out.writeMessage(UInt8(ascii: "T")) { b in
                b.writeInteger(Int16(fields.count))
                for f in fields {
                    b.writeCString(f.name)
                    b.writeInteger(f.tableOID); b.writeInteger(f.columnAttribute); b.writeInteger(f.typeOID)
                    b.writeInteger(f.typeSize); b.writeInteger(f.typeModifier); b.writeInteger(f.format)
                }
            }
        case .dataRow(let cols):
            out.writeMessage(UInt8(ascii: "D")) { b in
                b.writeInteger(Int16(cols.count))
                for c in cols {
                    if var c { b.writeInteger(Int32(c.readableBytes)); b.writeBuffer(&c) } else { b.writeInteger(Int32(-1)) }
                }
            }
        case .commandComplete(let tag): out.writeMessage(UInt8(ascii: "C")) { $0.writeCString(tag) }
        case .emptyQueryResponse: out.writeMessage(UInt8(ascii: "I")) { _ in }
        case .parseComplete: out.writeMessage(UInt8(ascii: "1")) { _ in }
        case .bindComplete: out.writeMessage(UInt8(ascii: "2")) { _ in }
        case .closeComplete: out.writeMessage(UInt8(ascii: "3")) { _ in }
        case .noData: out.writeMessage(UInt8(ascii: "n")) { _ in }
        case .portalSuspended: out.writeMessage(UInt8(ascii: "s")) { _ in }
        case .parameterDescription(let types):
            out.writeMessage(UInt8(ascii: "t")) { b in
                b.writeInteger(Int16(types.count))
                for t in types { b.writeInteger(t) }
            }
        case .copyInResponse(let f, let c): Self.encodeCopy(UInt8(ascii: "G"), f, c, &out)
        case .copyOutResponse(let f, let c): Self.encodeCopy(UInt8(ascii: "H"), f, c, &out)
        case .copyBothResponse(let f, let c): Self.encodeCopy(UInt8(ascii: "W"), f, c, &out)
        case .copyData(var d): out.writeMessage(UInt8(ascii: "d")) { $0.writeBuffer(&d) }
        case .copyDone: out.writeMessage(UInt8(ascii: "c")) { _ in }
        case .notificationResponse(let pid, let channel, let payload):
            out.writeMessage(UInt8(ascii: "A")) { $0.writeInteger(pid); $0.writeCString(channel); $0.writeCString(payload) }
        case .functionCallResponse(let v):
            out.writeMessage(UInt8(ascii: "V")) { b in
                if var v { b.writeInteger(Int32(v.readableBytes)); b.writeBuffer(&v) } else { b.writeInteger(Int32(-1)) }
            }
        case .negotiateProtocolVersion(let minor, let names):
            out.writeMessage(UInt8(ascii: "v")) { b in
                b.writeInteger(minor)
                b.writeInteger(Int32(names.count))
                for n in names { b.writeCString(n) }
            }
        }
    }

    private static func encodeCopy(_ id: UInt8, _ format: Int8, _ cols: [Int16], _ out: inout ByteBuffer) {
        out.writeMessage(id) { b in
            b.writeInteger(format)
            b.writeInteger(Int16(cols.count))
            for c in cols { b.writeInteger(c) }
        }
    }
}
