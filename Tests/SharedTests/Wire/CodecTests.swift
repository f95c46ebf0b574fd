import NIOCore
import Testing
@testable import Shared

/// Round trips of every message through encode → FrameDecoder → decode, fed whole, byte by byte and coalesced.
@Suite struct CodecTests {
    static let frontend: [FrontendMessage] = [
        .startup(StartupMessage(parameters: [("user", "alice"), ("database", "db"), ("application_name", "psql")])),
        .sslRequest, .gssEncRequest,
        .cancelRequest(BackendKey(processID: 1234, secretKey: -99)),
    ]
    static let frontendTyped: [FrontendMessage] = [
        .query("select 1; select 'ü'"),
        .parse(name: "s1", query: "select $1::int", parameterTypes: [23, 0]),
        .bind(.init(portal: "p", statement: "s1", parameterFormats: [0, 1],
                    parameters: [ByteBuffer(string: "42"), nil, ByteBuffer()], resultFormats: [1])),
        .describe(kind: UInt8(ascii: "S"), name: "s1"),
        .execute(portal: "p", maxRows: 100),
        .close(kind: UInt8(ascii: "P"), name: "p"),
        .sync, .flush,
        .copyData(ByteBuffer(string: "1\tx\n")), .copyDone, .copyFail("client gave up"),
        .functionCall(ByteBuffer(bytes: [0, 0, 4, 1, 0, 0])),
        .password(PasswordBody.encodePassword("md5abc")),
        .terminate,
    ]
    static let backend: [BackendMessage] = [
        .authentication(.ok), .authentication(.cleartextPassword), .authentication(.md5Password(salt: [1, 2, 3, 4])),
        .authentication(.sasl(mechanisms: ["SCRAM-SHA-256"])), .authentication(.saslContinue(Array("r=abc".utf8))),
        .authentication(.saslFinal(Array("v=xyz".utf8))),
        .backendKeyData(BackendKey(processID: 7, secretKey: 8)),
        .parameterStatus(name: "client_encoding", value: "UTF8"),
        .readyForQuery(.idle), .readyForQuery(.inTransaction), .readyForQuery(.failed),
        .errorResponse(ErrorFields(severity: "ERROR", code: "42P01", message: "relation does not exist")),
        .noticeResponse(ErrorFields(fields: [(UInt8(ascii: "S"), "NOTICE"), (UInt8(ascii: "M"), "hi")])),
        .rowDescription([FieldDescription(name: "node_id"), FieldDescription(name: "x", tableOID: 5, columnAttribute: 2,
                                                                             typeOID: 23, typeSize: 4, typeModifier: -1, format: 1)]),
        .dataRow([ByteBuffer(string: "0"), nil, ByteBuffer()]),
        .commandComplete("SELECT 1"), .emptyQueryResponse, .parseComplete, .bindComplete, .closeComplete, .noData,
        .portalSuspended, .parameterDescription([23, 25]),
        .copyInResponse(format: 0, columnFormats: [0, 0]), .copyOutResponse(format: 1, columnFormats: [1]),
        .copyBothResponse(format: 0, columnFormats: []), .copyData(ByteBuffer(string: "row")), .copyDone,
        .notificationResponse(processID: 9, channel: "ch", payload: "p"),
        .functionCallResponse(ByteBuffer(string: "r")), .functionCallResponse(nil),
        .negotiateProtocolVersion(minor: 0, unrecognized: ["_pq_.x"]),
    ]

    /// Feeds `bytes` to a decoder in chunks of `chunk` bytes, returning every frame.
    static func frames(_ bytes: ByteBuffer, mode: FrameDecoder.Mode, chunk: Int) throws -> [Frame] {
        var decoder = FrameDecoder(mode: mode)
        var cumulation = ByteBuffer()
        var out: [Frame] = []
        var input = bytes
        while input.readableBytes > 0 {
            var piece = input.readSlice(length: min(chunk, input.readableBytes))!
            cumulation.writeBuffer(&piece)
            while let f = try decoder.next(from: &cumulation) { out.append(f) }
        }
        #expect(cumulation.readableBytes == 0)
        return out
    }

    @Test(arguments: [1, 3, 7, 1 << 20])
    func frontendTypedRoundTrip(chunk: Int) throws {
        var all = ByteBuffer()
        for m in Self.frontendTyped { m.encode(into: &all) }
        let decoded = try Self.frames(all, mode: .typed, chunk: chunk).map(FrontendMessage.decode)
        #expect(decoded == Self.frontendTyped)
    }

    @Test(arguments: Self.frontend)
    func startupFamilyRoundTrip(message: FrontendMessage) throws {
        var b = ByteBuffer()
        message.encode(into: &b)
        let frames = try Self.frames(b, mode: .startup, chunk: 2)
        #expect(frames.count == 1)
        #expect(try FrontendMessage.decode(frames[0]) == message)
    }

    @Test(arguments: [1, 5, 64, 1 << 20])
    func backendRoundTrip(chunk: Int) throws {
        var all = ByteBuffer()
        for m in Self.backend { m.encode(into: &all) }
        var decoder = FrameDecoder(mode: .typed)
        _ = decoder
        let decoded = try Self.frames(all, mode: .typed, chunk: chunk).map(BackendMessage.decode)
        #expect(decoded == Self.backend)
    }

    @Test func impossibleLengthsAreRejected() {
        var d = FrameDecoder(mode: .typed)
        var b = ByteBuffer(bytes: [UInt8(ascii: "Q"), 0, 0, 0, 2])
        #expect(throws: WireError.invalidLength(id: UInt8(ascii: "Q"), length: 2)) { try d.next(from: &b) }
        var s = FrameDecoder(mode: .startup)
        var big = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        #expect(throws: WireError.self) { try s.next(from: &big) }
        var tooShort = ByteBuffer(bytes: [0, 0, 0, 4])
        #expect(throws: WireError.self) { try s.next(from: &tooShort) }
    }

    @Test func unknownFrontendTypeAndTruncatedBodiesThrow() {
        #expect(throws: WireError.unknownMessage(id: 1)) { try FrontendMessage.decode(Frame(id: 1, body: ByteBuffer())) }
        #expect(throws: WireError.self) { try FrontendMessage.decode(Frame(id: UInt8(ascii: "Q"), body: ByteBuffer(string: "no nul"))) }
        #expect(throws: WireError.self) { try FrontendMessage.decode(Frame(id: UInt8(ascii: "E"), body: ByteBuffer(bytes: [0]))) }
        #expect(throws: WireError.unsupportedProtocol(0x0002_0000)) {
            try FrontendMessage.decode(Frame(id: 0, body: ByteBuffer(bytes: [0, 2, 0, 0, 0])))
        }
    }
}
