import NIOCore
import Testing
@testable import Shared

/// The hot-path scanner must find the same frames whatever the read boundaries are.
@Suite struct FrameScannerTests {
    static func stream() -> ByteBuffer {
        var b = ByteBuffer()
        BackendMessage.rowDescription([FieldDescription(name: "a")]).encode(into: &b)
        for i in 0..<50 { BackendMessage.dataRow([ByteBuffer(string: String(repeating: "x", count: i * 7))]).encode(into: &b) }
        BackendMessage.commandComplete("SELECT 50").encode(into: &b)
        BackendMessage.readyForQuery(.inTransaction).encode(into: &b)
        BackendMessage.parameterStatus(name: "TimeZone", value: "UTC").encode(into: &b)
        BackendMessage.readyForQuery(.failed).encode(into: &b)
        return b
    }

    @Test(arguments: [1, 2, 4, 5, 6, 13, 100, 100_000])
    func wantedFramesAcrossAnySplit(chunk: Int) throws {
        var scanner = FrameScanner()
        var input = Self.stream()
        var seen: [(UInt8, [UInt8])] = []
        while input.readableBytes > 0 {
            let piece = input.readSlice(length: min(chunk, input.readableBytes))!
            try scanner.scan(piece, wants: { $0 == UInt8(ascii: "Z") || $0 == UInt8(ascii: "S") }) { id, body, _, _ in
                seen.append((id, Array(body.readableBytesView)))
                return true
            }
        }
        #expect(scanner.atBoundary)
        #expect(seen.count == 3)
        #expect(seen[0].0 == UInt8(ascii: "Z") && seen[0].1 == [UInt8(ascii: "T")])
        #expect(seen[1].0 == UInt8(ascii: "S"))
        #expect(seen[2].1 == [UInt8(ascii: "E")])
    }

    @Test func reportsWhereAFrameStartsSoTerminateCanBeCut() throws {
        var b = ByteBuffer()
        FrontendMessage.query("select 1").encode(into: &b)
        let xAt = b.writerIndex
        FrontendMessage.terminate.encode(into: &b)
        var scanner = FrameScanner()
        var found: Int?
        try scanner.scan(b, wants: { $0 == UInt8(ascii: "X") }) { _, _, start, _ in found = start; return false }
        #expect(found == xAt)
    }

    @Test func impossibleLengthThrows() {
        var scanner = FrameScanner()
        let b = ByteBuffer(bytes: [UInt8(ascii: "Q"), 0, 0, 0, 1])
        #expect(throws: WireError.self) { try scanner.scan(b, wants: { _ in true }) { _, _, _, _ in true } }
    }

    /// Found by fuzzing (Fuzzing/FuzzFrames): a wanted frame's header alone made the scanner reserve the whole
    /// length it claims, 2 GB for a backend's `E` of length Int32.max, before a byte of the body came.
    @Test func aClaimedLengthIsNotReservedAhead() throws {
        var scanner = FrameScanner(maxLength: Int(Int32.max))
        var header = ByteBuffer(bytes: [UInt8(ascii: "E")])
        header.writeInteger(Int32.max)
        header.writeBytes([UInt8(ascii: "S")])
        try scanner.scan(header, wants: { _ in true }) { _, _, _, _ in Issue.record("no frame is complete"); return true }
        #expect(!scanner.atBoundary)
        #expect(scanner.captured.capacity <= FrameScanner.captureReserveLimit * 2)
    }

    /// Found by fuzzing: id 0 doubled as "not capturing", so a wanted frame of type 0 split across reads was lost and
    /// the scanner claimed a message boundary in the middle of it.
    @Test func aSplitFrameOfTypeZeroIsCaptured() throws {
        var scanner = FrameScanner()
        var seen: [[UInt8]] = []
        for piece in [[0, 0, 0, 0, 6], [7], [8]] as [[UInt8]] {
            try scanner.scan(ByteBuffer(bytes: piece), wants: { $0 == 0 }) { id, body, _, _ in
                #expect(id == 0)
                seen.append(Array(body.readableBytesView))
                return true
            }
            #expect(scanner.atBoundary == (piece == [8]))
        }
        #expect(seen == [[7, 8]])
    }

    /// A capture longer than what is reserved ahead still comes out whole across reads.
    @Test func aLongCaptureGrowsAsItsBytesArrive() throws {
        var b = ByteBuffer()
        let text = String(repeating: "é", count: FrameScanner.captureReserveLimit)
        BackendMessage.errorResponse(ErrorFields(severity: "ERROR", code: "XX000", message: text)).encode(into: &b)
        var scanner = FrameScanner()
        var seen: [ErrorFields] = []
        while b.readableBytes > 0 {
            let piece = b.readSlice(length: min(1000, b.readableBytes))!
            try scanner.scan(piece, wants: { $0 == UInt8(ascii: "E") }) { id, body, _, _ in
                seen.append(try BackendMessage.decode(Frame(id: id, body: body)).errorFields)
                return true
            }
        }
        #expect(seen.map(\.message) == [text])
    }
}

private extension BackendMessage {
    var errorFields: ErrorFields {
        if case .errorResponse(let f) = self { return f }
        return ErrorFields(fields: [])
    }
}
