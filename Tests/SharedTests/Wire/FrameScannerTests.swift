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
}
