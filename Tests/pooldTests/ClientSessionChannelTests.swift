import Logging
import NIOCore
import NIOEmbedded
import Shared
import Testing
@testable import poold

/// `ClientSession` on an EmbeddedChannel: the login phase with split reads, garbage and early exits. No
/// backend is involved: md5 authentication (pool_hba) answers before any backend is needed.
@Suite struct ClientSessionChannelTests {
    static func runtime() -> (Runtime, PoolConfiguration) {
        var config = PoolConfiguration.defaults()
        config.values["enable_pool_hba"] = .bool(true)
        config.values["num_init_children"] = .integer(2)
        config.backends = [BackendConfig(id: 0, hostname: "127.0.0.1", port: 1, weight: 1, dataDirectory: "", flags: [],
                                         applicationName: "")]
        let hba = PoolHBA.parse("host all all 0.0.0.0/0 md5\nlocal all all md5\n", file: "pool_hba.conf")
        let passwd = PoolPasswd.parse("alice:" + MD5Password.secret(user: "alice", password: "secret") + "\n", file: "pool_passwd")
        let runtime = Runtime(config: config, auth: .init(passwd: passwd, hba: hba), logger: Logger(label: "test"))
        return (runtime, config)
    }

    static func session(_ runtime: Runtime, _ config: PoolConfiguration) throws -> EmbeddedChannel {
        let pool = BackendPool(capacity: 4, lifeTime: nil)
        let session = ClientSession(runtime: runtime, pool: pool, config: ConfigSnapshot(config), clientAddress: .unixSocket,
                                    logger: Logger(label: "test"))
        let channel = EmbeddedChannel(handler: session)
        try channel.connect(to: try SocketAddress(unixDomainSocketPath: "/tmp/poold-test.sock")).wait()
        return channel
    }

    static func startup(user: String, database: String) -> ByteBuffer {
        var b = ByteBuffer()
        FrontendMessage.startup(StartupMessage(parameters: [("user", user), ("database", database)])).encode(into: &b)
        return b
    }

    /// Everything the client was sent, as frames.
    static func frames(_ channel: EmbeddedChannel) throws -> [Frame] {
        var all = ByteBuffer()
        while var b = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&b) }
        var decoder = FrameDecoder(mode: .typed)
        var out: [Frame] = []
        while let f = try decoder.next(from: &all) { out.append(f) }
        return out
    }

    /// Two new clients are both answered: with num_init_children = 2, no slot was lost.
    static func expectTwoClientsAdmitted(_ runtime: Runtime, _ config: PoolConfiguration) throws {
        let a = try Self.session(runtime, config), b = try Self.session(runtime, config)
        try a.writeInbound(Self.startup(user: "alice", database: "db"))
        try b.writeInbound(Self.startup(user: "alice", database: "db"))
        #expect(try Self.frames(a).first?.id == UInt8(ascii: "R") && Self.frames(b).first?.id == UInt8(ascii: "R"))
        _ = try? a.finish()
        _ = try? b.finish()
    }

    @Test func aStartupPacketSplitIntoSingleBytesIsAnswered() throws {
        let (runtime, config) = Self.runtime()
        let channel = try Self.session(runtime, config)
        var packet = Self.startup(user: "alice", database: "db")
        while let byte = packet.readSlice(length: 1) {
            #expect(try Self.frames(channel).isEmpty, "nothing is answered before the packet is whole")
            try channel.writeInbound(byte)
        }
        let answer = try Self.frames(channel)
        #expect(answer.count == 1 && answer.first?.id == UInt8(ascii: "R"))
        if case .authentication(.md5Password)? = try answer.first.map(BackendMessage.decode) {} else {
            Issue.record("expected an md5 password request, got \(answer)")
        }
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test func garbageFromAClientEndsThatClientWithAnErrorResponse() throws {
        let (runtime, config) = Self.runtime()
        let channel = try Self.session(runtime, config)
        var garbage = ByteBuffer()
        garbage.writeString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try channel.writeInbound(garbage)
        let answer = try Self.frames(channel)
        guard let first = answer.first, case .errorResponse(let e) = try BackendMessage.decode(first) else {
            Issue.record("expected an ErrorResponse, got \(answer)")
            return
        }
        #expect(e.sqlState == "08P01" || e.severity == "FATAL", "\(e)")
        #expect(!channel.isActive, "the client is closed")
        // The session slot it held is free again: two more clients are admitted (num_init_children = 2).
        try Self.expectTwoClientsAdmitted(runtime, config)
    }

    @Test func aWrongPasswordIsRefusedAndAClientLeavingMidLoginFreesItsSlot() throws {
        let (runtime, config) = Self.runtime()
        let channel = try Self.session(runtime, config)
        try channel.writeInbound(Self.startup(user: "alice", database: "db"))
        _ = try Self.frames(channel)
        var password = ByteBuffer()
        password.writeMessage(UInt8(ascii: "p")) { _ = $0.writeCString("md5" + String(repeating: "0", count: 32)) }
        try channel.writeInbound(password)
        let answer = try Self.frames(channel)
        guard let first = answer.first, case .errorResponse(let e) = try BackendMessage.decode(first) else {
            Issue.record("expected an ErrorResponse, got \(answer)")
            return
        }
        #expect(e.sqlState == "28P01", "\(e)")
        // Two clients that vanish during login leave both slots free for the next two.
        for _ in 0..<2 {
            let c = try Self.session(runtime, config)
            try c.writeInbound(Self.startup(user: "alice", database: "db"))
            _ = try? c.close().wait()
        }
        try Self.expectTwoClientsAdmitted(runtime, config)
    }
}
