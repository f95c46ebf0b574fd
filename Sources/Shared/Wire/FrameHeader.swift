import NIOCore

/// Protocol constants from the PostgreSQL v3 frontend/backend protocol.
public enum ProtocolCode {
    /// Protocol 3.0 as sent in a StartupMessage.
    public static let protocol3: Int32 = 196_608
    public static let sslRequest: Int32 = 80_877_103
    public static let gssEncRequest: Int32 = 80_877_104
    public static let cancelRequest: Int32 = 80_877_102
    /// PostgreSQL refuses startup packets longer than this (MAX_STARTUP_PACKET_LENGTH).
    public static let maxStartupLength = 10_000
    /// PostgreSQL's PQ_LARGE_MESSAGE_LIMIT: anything longer is a protocol violation.
    public static let maxMessageLength = 0x3FFF_FFFF
}

/// Why a byte stream is not valid protocol. Each case becomes an 08P01 ErrorResponse for the client.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidLength(id: UInt8?, length: Int)
    case unknownMessage(id: UInt8)
    case malformed(String)
    case unsupportedProtocol(Int32)

    public var description: String {
        switch self {
        case .invalidLength(let id, let length):
            if let id { return "invalid message length \(length) for message type \"\(Character(Unicode.Scalar(id)))\"" }
            return "invalid length of startup packet (\(length))"
        case .unknownMessage(let id):
            return "invalid frontend message type \(id)"
        case .malformed(let what):
            return "malformed message: \(what)"
        case .unsupportedProtocol(let version):
            return "unsupported frontend protocol \(version >> 16).\(version & 0xFFFF)"
        }
    }
}

/// One framed message: its type byte (0 for the untyped startup family) and its body, without the header.
public struct Frame: Equatable, Sendable {
    public var id: UInt8
    public var body: ByteBuffer
    public init(id: UInt8, body: ByteBuffer) {
        self.id = id
        self.body = body
    }
}

/// Splits a byte stream into frames. Handles split and coalesced reads: call `next` until it returns nil,
/// then feed more bytes. `startup` mode reads untyped packets (StartupMessage, SSLRequest, CancelRequest).
public struct FrameDecoder: Sendable {
    public enum Mode: Sendable { case startup, typed }
    public var mode: Mode
    /// Limit on typed messages; the client side uses PostgreSQL's limit, a backend may send anything up to 1 GB.
    public var maxLength: Int

    public init(mode: Mode, maxLength: Int = ProtocolCode.maxMessageLength) {
        self.mode = mode
        self.maxLength = maxLength
    }

    public mutating func next(from buffer: inout ByteBuffer) throws -> Frame? {
        switch mode {
        case .startup:
            guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
            guard length >= 8, length <= ProtocolCode.maxStartupLength else {
                throw WireError.invalidLength(id: nil, length: Int(length))
            }
            guard buffer.readableBytes >= Int(length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 4)
            let body = buffer.readSlice(length: Int(length) - 4)!
            return Frame(id: 0, body: body)
        case .typed:
            guard buffer.readableBytes >= 5,
                let id = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
                let length = buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self)
            else { return nil }
            guard length >= 4, Int(length) <= maxLength else {
                throw WireError.invalidLength(id: id, length: Int(length))
            }
            guard buffer.readableBytes >= Int(length) + 1 else { return nil }
            buffer.moveReaderIndex(forwardBy: 5)
            let body = buffer.readSlice(length: Int(length) - 4)!
            return Frame(id: id, body: body)
        }
    }
}

extension ByteBuffer {
    /// Reads a NUL-terminated string (PostgreSQL's "String" type).
    public mutating func readCString() -> String? {
        guard let nul = readableBytesView.firstIndex(of: 0) else { return nil }
        let length = nul - readableBytesView.startIndex
        let s = readString(length: length)
        moveReaderIndex(forwardBy: 1)
        return s
    }

    /// A NUL-terminated string, or a malformed-message error.
    mutating func readRequiredCString() throws -> String {
        guard let s = readCString() else { throw WireError.malformed("missing string terminator") }
        return s
    }

    /// A big-endian integer, or a truncated-message error.
    mutating func readRequiredInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws -> T {
        guard let v = readInteger(as: T.self) else { throw WireError.malformed("truncated message") }
        return v
    }

    @discardableResult
    public mutating func writeCString(_ s: String) -> Int {
        writeString(s) + writeInteger(UInt8(0))
    }

    /// Writes a typed message: id, a length placeholder, the body written by `body`, then patches the length.
    public mutating func writeMessage(_ id: UInt8, _ body: (inout ByteBuffer) -> Void) {
        writeInteger(id)
        let lengthIndex = writerIndex
        writeInteger(Int32(0))
        body(&self)
        setInteger(Int32(writerIndex - lengthIndex), at: lengthIndex)
    }

    /// Writes an untyped (startup-family) message: length placeholder, body, patched length.
    public mutating func writeUntypedMessage(_ body: (inout ByteBuffer) -> Void) {
        let lengthIndex = writerIndex
        writeInteger(Int32(0))
        body(&self)
        setInteger(Int32(writerIndex - lengthIndex), at: lengthIndex)
    }
}
