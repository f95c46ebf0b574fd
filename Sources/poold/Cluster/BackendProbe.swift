import NIOCore
import NIOPosix
import Shared

/// A short-lived control-plane connection: log in as a monitoring user, run one simple query, return its
/// rows as text, say Terminate. Used by SHOW pool_nodes, health checks, replication checks and primary search.
final class BackendProbe: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// The backend refused the login (its ErrorResponse): with backend_sslmode = allow, TLS is tried next.
        var refusedLogin = false
    }

    private enum State {
        case starting(BackendStartupStateMachine)
        case querying
        case done
    }

    private var state: State
    private let sql: String
    private let promise: EventLoopPromise<[[String?]]>
    private var rows: [[String?]] = []
    private var error: String?
    private var decoder = FrameDecoder(mode: .typed, maxLength: Int(Int32.max))
    private var cumulation = ByteBuffer()

    private init(sql: String, startup: BackendStartupStateMachine, promise: EventLoopPromise<[[String?]]>) {
        self.sql = sql
        self.state = .starting(startup)
        self.promise = promise
    }

    /// Runs `sql` on `node` as `user`; fails on connection, authentication or query errors, or after `timeout`.
    static func query(_ sql: String, node: BackendConfig, user: String, database: String, secret: PasswordSecret?,
                      eventLoop: EventLoop, timeout: TimeAmount, tls: TLSContexts) -> EventLoopFuture<[[String?]]> {
        query(sql, host: node.hostname, port: node.port, user: user, database: database, secret: secret,
              eventLoop: eventLoop, timeout: timeout, tls: tls)
    }

    /// The same against any PostgreSQL-speaking address: a backend, or another poold (the watchdog's query
    /// lifecheck asks a member's `pgpool_port`).
    /// TLS as `backend_sslmode` says (`tls.settings.backend`), with `allow`'s second attempt over TLS.
    static func query(_ sql: String, host: String, port: Int, user: String, database: String, secret: PasswordSecret?,
                      eventLoop: EventLoop, timeout: TimeAmount, tls: TLSContexts) -> EventLoopFuture<[[String?]]> {
        let mode = tls.settings.backend.mode
        let first = BackendTLSNegotiation.firstAttempt(mode, host: host)
        return query(sql, host: host, port: port, user: user, database: database, secret: secret, eventLoop: eventLoop,
                     timeout: timeout, attempt: first, tls: tls).flatMapError { error in
            guard (error as? Failure)?.refusedLogin == true,
                  BackendTLSNegotiation.retriesWithTLS(mode, host: host, after: first) else { return eventLoop.makeFailedFuture(error) }
            return query(sql, host: host, port: port, user: user, database: database, secret: secret, eventLoop: eventLoop,
                         timeout: timeout, attempt: .tls, tls: tls)
        }
    }

    private static func query(_ sql: String, host: String, port: Int, user: String, database: String, secret: PasswordSecret?,
                              eventLoop: EventLoop, timeout: TimeAmount, attempt: BackendTLSNegotiation.Attempt,
                              tls: TLSContexts) -> EventLoopFuture<[[String?]]> {
        let promise = eventLoop.makePromise(of: [[String?]].self)
        let startup = StartupMessage(parameters: [("user", user), ("database", database), ("application_name", "poold")])
        let machine = BackendStartupStateMachine(authenticator: BackendAuthenticator(
            user: user, secret: secret, clientNonce: Base64.encode(SecureRandom.bytes(18))))
        let probe = BackendProbe(sql: sql, startup: machine, promise: promise)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(probe) } }
        BackendTLSNegotiation.connect(bootstrap, host: host, port: port, attempt: attempt, tls: tls).whenComplete { result in
            switch result {
            case .failure(let e): promise.fail(e)
            case .success(let ch):
                var out = ch.allocator.buffer(capacity: 128)
                FrontendMessage.startup(startup).encode(into: &out)
                ch.writeAndFlush(out, promise: nil)
                let timer = eventLoop.scheduleTask(in: timeout) {
                    promise.fail(Failure(description: "timeout"))
                    ch.close(promise: nil)
                }
                promise.futureResult.whenComplete { _ in timer.cancel() }
            }
        }
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        cumulation.writeImmutableBuffer(unwrapInboundIn(data))
        do {
            while let frame = try decoder.next(from: &cumulation) {
                handle(try BackendMessage.decode(frame), context: context)
            }
            cumulation.discardReadBytes()
        } catch {
            finish(context: context, .failure(error))
        }
    }

    private func handle(_ message: BackendMessage, context: ChannelHandlerContext) {
        switch state {
        case .starting(var machine):
            let action = machine.messageReceived(message)
            state = .starting(machine)
            switch action {
            case .wait: break
            case .send(let m):
                context.send(m)
            case .ready:
                // An empty query is a login check (the health check: startup and authentication only).
                if sql.isEmpty {
                    finish(context: context, .success([]))
                    return
                }
                state = .querying
                context.send(.query(sql))
            case .fail(let f):
                var refused = false
                if case .backendError = f { refused = true }
                finish(context: context, .failure(Failure(description: "\(f)", refusedLogin: refused)))
            }
        case .querying:
            switch message {
            case .dataRow(let cols):
                rows.append(cols.map { $0.map { String(buffer: $0) } })
            case .errorResponse(let f):
                error = f.message
            case .readyForQuery:
                finish(context: context, error.map { .failure(Failure(description: $0)) } ?? .success(rows))
            default:
                break
            }
        case .done:
            break
        }
    }

    private func finish(context: ChannelHandlerContext, _ result: Result<[[String?]], Error>) {
        guard case .done = state else {
            state = .done
            promise.completeWith(result)
            var out = context.channel.allocator.buffer(capacity: 5)
            FrontendMessage.terminate.encode(into: &out)
            context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in context.close(promise: nil) }
            return
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .done = state { return }
        state = .done
        promise.fail(Failure(description: "connection closed"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(context: context, .failure(error))
    }
}
