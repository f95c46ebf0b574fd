import NIOCore
import NIOPosix
import NIOSSL
import Shared

/// TLS towards a backend, the way libpq does it: SSLRequest, one byte back ('S' or 'N'), then either a TLS
/// client handler in front of the channel or plain text, as `backend_sslmode` allows. Sessions' connections,
/// health checks, replication checks and every other probe connect through `connectBackend`, so they all
/// obey the same setting. Unix sockets never use TLS (PostgreSQL answers 'N' there; libpq does not ask).
enum BackendTLSNegotiation {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Whether the attempt sends SSLRequest.
    enum Attempt: Sendable {
        case plain
        case tls
    }

    /// The first attempt `mode` makes; `allow` retries with `.tls` when the plain login is refused.
    static func firstAttempt(_ mode: BackendSSLMode, host: String) -> Attempt {
        isUnixSocket(host) || !mode.triesTLSFirst ? .plain : .tls
    }

    /// Whether a refused plain login should be tried again with TLS (`allow`, over TCP).
    static func retriesWithTLS(_ mode: BackendSSLMode, host: String, after attempt: Attempt) -> Bool {
        mode == .allow && attempt == .plain && !isUnixSocket(host)
    }

    static func isUnixSocket(_ host: String) -> Bool { host.isEmpty || host.hasPrefix("/") }

    /// Connects and, for a `.tls` attempt, negotiates TLS; the channel is then ready for the startup packet.
    static func connect(_ bootstrap: ClientBootstrap, host: String, port: Int, attempt: Attempt,
                        tls: TLSContexts) -> EventLoopFuture<Channel> {
        bootstrap.connect(backendHost: host, port: port).flatMap { channel in
            guard attempt == .tls, let context = tls.backend else { return channel.eventLoop.makeSucceededFuture(channel) }
            return negotiate(channel: channel, host: host, mode: tls.settings.backend.mode, context: context)
                .map { channel }
                .flatMapError { error in
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(error)
                }
        }
    }

    private static func negotiate(channel: Channel, host: String, mode: BackendSSLMode,
                                  context: NIOSSLContext) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Bool.self)
        do {
            // First: the session's handler, already in the pipeline, must not see the answer byte.
            try channel.pipeline.syncOperations.addHandler(SSLResponseHandler(promise: promise), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        var out = channel.allocator.buffer(capacity: 8)
        FrontendMessage.sslRequest.encode(into: &out)
        channel.writeAndFlush(out, promise: nil)
        return promise.futureResult.flatMapThrowing { accepted in
            if accepted {
                // SNI and verify-full need a name; an IP address is checked against the certificate's IP SANs.
                let name = ClientAddress.parse(host) == nil ? host : nil
                let handler = try NIOSSLClientHandler(context: context, serverHostname: name)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
            } else if !mode.acceptsPlain {
                throw Failure(description: "server does not support SSL, but SSL was required (backend_sslmode = \(mode.rawValue))")
            }
        }
    }
}

/// Reads the one-byte answer to SSLRequest, then leaves the pipeline.
private final class SSLResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Bool>
    private var done = false

    init(promise: EventLoopPromise<Bool>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var buffer = unwrapInboundIn(data)
        done = true
        let answer: UInt8? = buffer.readInteger()
        switch answer {
        case UInt8(ascii: "S"):
            // Anything after 'S' came before the handshake, in plain text: not the server's (CVE-2021-23222).
            guard buffer.readableBytes == 0 else {
                return fail(context, "received unencrypted data after SSL response")
            }
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
            promise.succeed(true)
        case UInt8(ascii: "N"):
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
            promise.succeed(false)
            if buffer.readableBytes > 0 { context.fireChannelRead(NIOAny(buffer)) }
        default:
            fail(context, "the server answered SSLRequest with \(answer.map { "\(Character(Unicode.Scalar($0)))" } ?? "nothing")")
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ message: String) {
        done = true
        promise.fail(BackendTLSNegotiation.Failure(description: message))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done { done = true; promise.fail(BackendTLSNegotiation.Failure(description: "connection closed during SSL negotiation")) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !done { done = true; promise.fail(error) }
        context.close(promise: nil)
    }
}
