import NIOCore

/// The hot path's view of a byte stream: walks frame headers across reads without decoding or copying
/// bodies, and hands over only the bodies of the few message types the caller asks for (ReadyForQuery,
/// ParameterStatus, Terminate…). A read is then forwarded as one buffer, untouched.
public struct FrameScanner: Sendable {
    /// Body bytes of a frame nobody asked for, still to pass over.
    private var skip = 0
    /// A header split across reads: bytes seen so far (at most 5).
    private var header: UInt64 = 0
    private var headerCount = 0
    /// A wanted frame whose body is split across reads.
    private var capturing: UInt8? = nil
    private var captureRemaining = 0
    /// Readable from tests: its capacity must follow the bytes that came, not the length a header claims.
    private(set) var captured = ByteBuffer()
    public let maxLength: Int
    /// The most a split capture reserves ahead: a header alone must not make poold allocate its whole length
    /// (up to 2 GB); a really long body grows the buffer as its bytes arrive.
    static let captureReserveLimit = 64 * 1024

    public init(maxLength: Int = ProtocolCode.maxMessageLength) {
        self.maxLength = maxLength
    }

    /// True when the stream is at a message boundary (nothing half-read).
    public var atBoundary: Bool { skip == 0 && headerCount == 0 && capturing == nil }

    /// Scans `buffer`'s readable bytes. For every complete frame whose id `wants` accepts, calls `visit` with
    /// the id, the body, the index where the frame's header starts (nil if it began in an earlier buffer) and
    /// the index just past the frame. `visit` returns false to stop scanning at once.
    public mutating func scan(
        _ buffer: ByteBuffer,
        wants: (UInt8) -> Bool,
        visit: (UInt8, ByteBuffer, Int?, Int) throws -> Bool
    ) throws {
        var i = buffer.readerIndex
        let end = buffer.writerIndex
        var captureStart: Int? = nil
        while i < end {
            if skip > 0 {
                let n = min(skip, end - i)
                skip -= n
                i += n
                continue
            }
            if let id = capturing {
                let n = min(captureRemaining, end - i)
                captured.writeImmutableBuffer(buffer.getSlice(at: i, length: n)!)
                captureRemaining -= n
                i += n
                if captureRemaining == 0 {
                    capturing = nil
                    if try !visit(id, captured, captureStart, i) { return }
                }
                continue
            }
            let id: UInt8
            let length: Int32
            var start: Int? = nil
            if headerCount == 0, end - i >= 5 {
                id = buffer.getInteger(at: i, as: UInt8.self)!
                length = buffer.getInteger(at: i + 1, as: Int32.self)!
                start = i
                i += 5
            } else {
                while headerCount < 5, i < end {
                    header = header << 8 | UInt64(buffer.getInteger(at: i, as: UInt8.self)!)
                    headerCount += 1
                    i += 1
                }
                guard headerCount == 5 else { return }
                id = UInt8(truncatingIfNeeded: header >> 32)
                length = Int32(truncatingIfNeeded: header & 0xFFFF_FFFF)
                header = 0
                headerCount = 0
            }
            guard length >= 4, Int(length) <= maxLength else {
                throw WireError.invalidLength(id: id, length: Int(length))
            }
            let bodyLength = Int(length) - 4
            guard wants(id) else {
                skip = bodyLength
                continue
            }
            if end - i >= bodyLength {
                let body = buffer.getSlice(at: i, length: bodyLength)!
                i += bodyLength
                if try !visit(id, body, start, i) { return }
            } else {
                capturing = id
                captured.clear()
                captured.reserveCapacity(min(bodyLength, Self.captureReserveLimit))
                captureRemaining = bodyLength
                captureStart = start
                let n = end - i
                captured.writeImmutableBuffer(buffer.getSlice(at: i, length: n)!)
                captureRemaining -= n
                i += n
            }
        }
    }
}
