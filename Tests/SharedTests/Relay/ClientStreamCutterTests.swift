import NIOCore
import Shared
import Testing

/// Transcripts of `ClientStreamCutter`: client bytes in, units (or COPY data, Terminate, SHOW) out.
@Suite struct ClientStreamCutterTests {
    func bytes(_ messages: [FrontendMessage]) -> ByteBuffer {
        var b = ByteBuffer()
        for m in messages { m.encode(into: &b) }
        return b
    }

    func next(_ b: ByteBuffer, known: [String: StatementCategory] = [:]) throws -> ClientPiece? {
        try ClientStreamCutter.next(in: b, classify: { StatementClassifier.classify($0) }, knownCategory: { known[$0] })
    }

    func bind(_ statement: String) -> FrontendMessage {
        .bind(.init(portal: "", statement: statement, parameterFormats: [], parameters: [], resultFormats: []))
    }

    @Test func aQueryIsOneUnitAndAPartialFrameWaits() throws {
        let q = bytes([.query("select 1"), .query("select 2")])
        guard case .unit(let u, let end, let terminators, _, _)? = try next(q) else { Issue.record("no unit"); return }
        #expect(u.complete && u.parts.count == 1 && terminators == 1 && end == 14)
        #expect(try next(q.getSlice(at: 0, length: 10)!) == nil, "half a frame: wait for more bytes")
    }

    @Test func anExtendedBatchRunsThroughItsSync() throws {
        let b = bytes([.parse(name: "s1", query: "select $1", parameterTypes: []), bind("s1"),
                       .execute(portal: "", maxRows: 0), .sync])
        guard case .unit(let u, let end, let terminators, let parses, let categories)? = try next(b) else {
            Issue.record("no unit"); return
        }
        #expect(u.complete && u.parts.count == 3 && terminators == 1 && end == b.writerIndex)
        #expect(parses.map(\.0) == ["s1"] && categories.count == 1)
        // Without its Sync (and without Flush) the batch waits for more bytes.
        #expect(try next(bytes([.parse(name: "s1", query: "select 1", parameterTypes: []), bind("s1")])) == nil)
    }

    /// asyncpg: Parse/Describe/Flush — cut there, incomplete, owed no ReadyForQuery.
    @Test func flushCutsAnIncompleteBatch() throws {
        let b = bytes([.parse(name: "a", query: "select v from tab", parameterTypes: []), .describe(kind: UInt8(ascii: "S"), name: "a"),
                       .flush])
        guard case .unit(let u, let end, let terminators, _, _)? = try next(b) else { Issue.record("no unit"); return }
        #expect(!u.complete && terminators == 0 && end == b.writerIndex)
        // The rest: Bind/Execute/Sync of a statement prepared earlier takes its known category.
        let rest = bytes([bind("a"), .execute(portal: "", maxRows: 0), .sync])
        guard case .unit(let r, _, let t, _, let categories)? = try next(rest, known: ["a": .select]) else { Issue.record("no unit"); return }
        #expect(r.complete && t == 1 && categories == [.select])
    }

    @Test func terminateAfterAnUnsyncedBatchCutsTheBatchFirst() throws {
        let b = bytes([.parse(name: "", query: "insert into t values (1)", parameterTypes: []), bind(""), .terminate])
        guard case .unit(let u, let end, let terminators, _, _)? = try next(b) else { Issue.record("no unit"); return }
        #expect(!u.complete && terminators == 0 && end == b.writerIndex - 5)
        guard case .terminate? = try next(b.getSlice(at: end, length: 5)!) else { Issue.record("no terminate"); return }
    }

    @Test func copyDataFollowsAndALargeMessageIsStreamed() throws {
        var small = ByteBuffer()
        small.writeString("1\n")
        guard case .copyData(let end)? = try next(bytes([.copyData(small)])) else { Issue.record("no copy data"); return }
        #expect(end == 7)
        var large = ByteBuffer()
        large.writeRepeatingByte(UInt8(ascii: "x"), count: 200_000)
        let whole = bytes([.copyData(large)])
        let firstRead = whole.getSlice(at: 0, length: 70_000)!
        guard case .copyDataStart(let e, let remaining)? = try next(firstRead) else { Issue.record("not streamed"); return }
        #expect(e == 70_000 && remaining == whole.readableBytes - 70_000, "forwarded as it arrives, never buffered whole")
    }

    @Test func showPoolIsAnsweredByPooldAndGarbageIsAnError() throws {
        guard case .show? = try next(bytes([.query("SHOW pool_nodes")])) else { Issue.record("no show"); return }
        var bad = ByteBuffer()
        bad.writeInteger(UInt8(ascii: "Q"))
        bad.writeInteger(Int32(2))
        #expect(throws: (any Error).self) { try next(bad) }
    }
}
