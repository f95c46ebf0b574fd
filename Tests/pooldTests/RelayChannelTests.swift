import Logging
import NIOCore
import NIOEmbedded
import Shared
import Testing
@testable import poold

/// Sits between a channel's head and its handler: counts the reads that handler passes on.
final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// A client session and its backend connection on EmbeddedChannels sharing one loop: the relay after login,
/// and what the backend is sent when the client leaves in the middle of things.
@Suite struct RelayChannelTests {
    /// A logged-in client with its pooled backend (pid 4242), both on `loop`.
    struct Fixture {
        let loop = EmbeddedEventLoop()
        let client: EmbeddedChannel
        let backend: EmbeddedChannel
        let connection: BackendConnection
        let runtime: Runtime
        /// Counts the reads the backend connection lets through to its channel.
        let backendReads = ReadCounter()
        let clientReads = ReadCounter()

        init() throws {
            var config = PoolConfiguration.defaults()
            config.values["num_init_children"] = .integer(4)
            let node = BackendConfig(id: 0, hostname: "127.0.0.1", port: 1, weight: 1, dataDirectory: "", flags: [], applicationName: "")
            config.backends = [node]
            let logger = Logger(label: "test")
            runtime = Runtime(config: config, auth: .init(passwd: PoolPasswd(), hba: nil), logger: logger)
            let pool = BackendPool(capacity: 4, lifeTime: nil)
            backend = EmbeddedChannel(handler: backendReads, loop: loop)
            (connection, _) = try BackendConnection.attached(to: backend, node: node, poolKey: "0|user=bob\u{1}database=db",
                                                              user: "bob", database: "db", logger: logger)
            try backend.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            var login = ByteBuffer()
            BackendMessage.authentication(.ok).encode(into: &login)
            BackendMessage.parameterStatus(name: "server_version", value: "15.0").encode(into: &login)
            BackendMessage.backendKeyData(BackendKey(processID: 4242, secretKey: 7)).encode(into: &login)
            BackendMessage.readyForQuery(.idle).encode(into: &login)
            try backend.writeInbound(login)
            pool.put(connection)
            let session = ClientSession(runtime: runtime, pool: pool, config: ConfigSnapshot(config), clientAddress: .unixSocket, logger: logger)
            client = EmbeddedChannel(loop: loop)
            try client.pipeline.syncOperations.addHandler(clientReads)
            try client.pipeline.syncOperations.addHandler(session)
            try client.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/poold-test.sock")).wait()
            var startup = ByteBuffer()
            FrontendMessage.startup(StartupMessage(parameters: [("user", "bob"), ("database", "db")])).encode(into: &startup)
            try client.writeInbound(startup)
            loop.run()
        }

        func toClient() throws -> [BackendMessage] {
            var all = ByteBuffer()
            while var b = try client.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&b) }
            var d = FrameDecoder(mode: .typed)
            var out: [BackendMessage] = []
            while let f = try d.next(from: &all) { out.append(try BackendMessage.decode(f)) }
            return out
        }

        /// Frame types and simple-query texts the backend was sent.
        func toBackend() throws -> [String] {
            var all = ByteBuffer()
            while var b = try backend.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&b) }
            var d = FrameDecoder(mode: .typed)
            var out: [String] = []
            while let f = try d.next(from: &all) {
                var body = f.body
                out.append(f.id == UInt8(ascii: "Q") ? "Q " + (body.readCString() ?? "") : String(UnicodeScalar(f.id)))
            }
            return out
        }

        func clientSends(_ messages: [FrontendMessage]) throws {
            var b = ByteBuffer()
            for m in messages { m.encode(into: &b) }
            try client.writeInbound(b)
            loop.run()
        }

        /// CopyInResponse (text, no columns): the backend now waits for CopyData.
        func backendEntersCopyIn() throws {
            var copyIn = ByteBuffer()
            copyIn.writeMessage(UInt8(ascii: "G")) { b in b.writeInteger(UInt8(0)); b.writeInteger(Int16(0)) }
            try backend.writeInbound(copyIn)
            loop.run()
        }

        func backendSends(_ messages: [BackendMessage]) throws {
            var b = ByteBuffer()
            for m in messages { m.encode(into: &b) }
            try backend.writeInbound(b)
            loop.run()
        }
    }

    @Test func theClientGetsTheRealBackendPid() throws {
        let f = try Fixture()
        let greeting = try f.toClient()
        #expect(greeting.contains { if case .authentication(.ok) = $0 { true } else { false } })
        let key = greeting.compactMap { if case .backendKeyData(let k) = $0 { k } else { nil } }.first
        #expect(key?.processID == 4242, "BackendKeyData carries the primary backend's pid, not an invented one")
        #expect(key?.secretKey != 7, "the secret stays poold's own")
    }

    /// psycopg: execute("copy t from stdin") raises client-side, then close() sends Terminate.
    @Test func terminateDuringCopyFromStdinClosesTheBackend() throws {
        let f = try Fixture()
        _ = try f.toClient()
        try f.clientSends([.query("copy t from stdin")])
        #expect(try f.toBackend() == ["Q copy t from stdin"])
        try f.backendEntersCopyIn()
        try f.clientSends([.terminate])
        _ = try? f.client.close().wait()
        f.loop.run()
        #expect(try f.toBackend() == ["X"], "the backend is told to go, not left waiting for CopyData")
        #expect(!f.backend.isActive)
    }

    /// psycopg2: a read fails inside a transaction, then close(): Terminate arrives while replies are due and
    /// the socket closes before they come. The backend must be reset, not left "idle in transaction".
    @Test func terminateWithRepliesDueResetsTheBackendWhenTheyCome() throws {
        let f = try Fixture()
        _ = try f.toClient()
        try f.clientSends([.query("BEGIN")])
        try f.backendSends([.commandComplete("BEGIN"), .readyForQuery(.inTransaction)])
        try f.clientSends([.query("select pg_sleep(1)")])
        try f.clientSends([.terminate])
        _ = try? f.client.close().wait()
        f.loop.run()
        #expect(try f.toBackend() == ["Q BEGIN", "Q select pg_sleep(1)"], "nothing else while the reply is due")
        try f.backendSends([.commandComplete("SELECT 1"), .readyForQuery(.inTransaction)])
        #expect(try f.toBackend() == ["Q ABORT", "Q DISCARD ALL"], "reset_query_list once the reply is in")
        #expect(f.backend.isActive)
    }

    /// A client that vanishes (no Terminate) mid-unit: its backend is never reused.
    @Test func aClientGoneMidUnitClosesTheBackend() throws {
        let f = try Fixture()
        _ = try f.toClient()
        try f.clientSends([.query("select pg_sleep(10)")])
        _ = try? f.client.close().wait()
        f.loop.run()
        #expect(try f.toBackend() == ["Q select pg_sleep(10)", "X"])
        #expect(!f.backend.isActive)
    }

    /// libpq pipeline mode: Parse/Bind/Execute without Sync, Flush, then Terminate. The backend holds the
    /// batch's implicit transaction (and its locks) until a Sync that will never come: it is closed.
    @Test func terminateMidPipelineClosesTheBackend() throws {
        let f = try Fixture()
        _ = try f.toClient()
        try f.clientSends([.parse(name: "", query: "insert into t values (1)", parameterTypes: []),
                           .bind(.init(portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [])),
                           .execute(portal: "", maxRows: 0), .flush])
        #expect(try f.toBackend() == ["P", "B", "E", "H"])
        try f.backendSends([.parseComplete, .bindComplete, .commandComplete("INSERT 0 1")])
        try f.clientSends([.terminate])
        _ = try? f.client.close().wait()
        f.loop.run()
        #expect(try f.toBackend() == ["X"], "not reset with DISCARD ALL inside the open batch, not left holding it")
        #expect(!f.backend.isActive)
    }

    /// A client killed (socket gone, no Terminate) during COPY FROM STDIN: its backend is closed too.
    @Test func aClientKilledDuringCopyClosesTheBackend() throws {
        let f = try Fixture()
        _ = try f.toClient()
        try f.clientSends([.query("copy t from stdin")])
        try f.backendEntersCopyIn()
        _ = try? f.client.close().wait()
        f.loop.run()
        #expect(try f.toBackend() == ["Q copy t from stdin", "X"])
        #expect(!f.backend.isActive)
    }

    /// `poold -m fast stop` mid-query: the client gets 57P01 and is closed, its backend is told to go.
    @Test func fastShutdownEndsARelayingSessionWithAdminShutdown() throws {
        let f = try Fixture()
        _ = try f.toClient()
        try f.clientSends([.query("select pg_sleep(10)")])
        f.client.pipeline.fireUserInboundEventTriggered(ShutdownRequested())
        f.loop.run()
        let answer = try f.toClient()
        guard case .errorResponse(let e)? = answer.first else { Issue.record("no ErrorResponse: \(answer)"); return }
        #expect(e.sqlState == "57P01", "PostgreSQL's admin_shutdown, as a client library expects it")
        #expect(!f.client.isActive)
        #expect(try f.toBackend() == ["Q select pg_sleep(10)", "X"])
        #expect(!f.backend.isActive)
    }

    /// A client that does not read its results (a full socket) stops poold reading from the backend, and a
    /// backend that does not take its input stops poold reading from the client; both resume when drained.
    @Test func backpressureStopsReadsInBothDirectionsAndResumes() throws {
        let f = try Fixture()
        _ = try f.toClient()
        try f.clientSends([.query("select * from big")])
        f.client.isWritable = false
        f.client.pipeline.fireChannelWritabilityChanged()
        let before = f.backendReads.reads
        f.backend.read()
        #expect(f.backendReads.reads == before, "no backend read while the client's socket is full")
        f.client.isWritable = true
        f.client.pipeline.fireChannelWritabilityChanged()
        #expect(f.backendReads.reads == before + 1, "the read held back is done once the client drained")

        f.backend.isWritable = false
        f.backend.pipeline.fireChannelWritabilityChanged()
        let clientBefore = f.clientReads.reads
        f.client.read()
        #expect(f.clientReads.reads == clientBefore, "no client read while the backend's socket is full")
        f.backend.isWritable = true
        f.backend.pipeline.fireChannelWritabilityChanged()
        #expect(f.clientReads.reads == clientBefore + 1)
    }

    /// Replies split at every byte still reach the client whole and in order, and the unit ends once.
    @Test func repliesSplitIntoSingleBytesArriveWhole() throws {
        let f = try Fixture()
        _ = try f.toClient()
        try f.clientSends([.query("select 1")])
        var reply = ByteBuffer()
        for m: BackendMessage in [.rowDescription([FieldDescription(name: "x", typeOID: 23, typeSize: 4)]),
                                  .dataRow([ByteBuffer(string: "1")]), .commandComplete("SELECT 1"), .readyForQuery(.idle)] {
            m.encode(into: &reply)
        }
        while let byte = reply.readSlice(length: 1) { try f.backend.writeInbound(byte) }
        f.loop.run()
        let got = try f.toClient()
        #expect(got.count == 4)
        if case .readyForQuery(.idle)? = got.last {} else { Issue.record("expected ReadyForQuery last: \(got)") }
        // The unit is finished: a Terminate now resets the backend at once.
        try f.clientSends([.terminate])
        #expect(try f.toBackend() == ["Q select 1", "Q DISCARD ALL"])
    }
}
