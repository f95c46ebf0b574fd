import Logging
import NIOCore
import NIOPosix
import Shared

/// One connection from poold to a backend node, and the NIO handler of its channel. It lives in one of
/// four places: starting (authenticating), leased to a session (relaying bytes), resetting, or idle in its
/// event loop's `BackendPool`. All of it runs on that single event loop (hence `@unchecked Sendable`:
/// it crosses futures of that loop only).
final class BackendConnection: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is.
    private enum Mode {
        /// Startup and authentication → leased / closed.
        case starting(BackendStartupStateMachine, EventLoopPromise<BackendGreeting>)
        /// A session owns it; bytes flow through untouched → resetting / closed.
        case leased(ClientSession)
        /// reset_query_list running → idle (pool) / closed.
        case resetting(BackendResetStateMachine, (Bool) -> Void)
        /// Cached in the pool → leased / closed.
        case idle
        case closed
    }

    let node: BackendConfig
    let poolKey: String
    let createdAt: NIODeadline
    private(set) var greeting = BackendGreeting(authMethod: .trust, parameters: []) {
        didSet { encodedParameters = nil }
    }
    /// The ParameterStatus messages of `greeting`, encoded once and replayed to every client it serves.
    private var encodedParameters: ByteBuffer?

    var parameterStatusMessages: ByteBuffer {
        if let encodedParameters { return encodedParameters }
        var out = ByteBuffer()
        for (n, v) in greeting.parameters { BackendMessage.parameterStatus(name: n, value: v).encode(into: &out) }
        encodedParameters = out
        return out
    }
    private(set) var key: BackendKey?
    private(set) var transactionStatus: TransactionStatus = .idle
    /// Queries and Syncs sent whose ReadyForQuery has not come back yet.
    var inFlight = 0
    private var mode: Mode
    private var context: ChannelHandlerContext?
    private var decoder = FrameDecoder(mode: .typed, maxLength: Int(Int32.max))
    private var cumulation = ByteBuffer()
    private var scanner = FrameScanner(maxLength: Int(Int32.max))
    private var pendingRead = false
    private let logger: Logger

    var channel: Channel? { context?.channel }

    private init(node: BackendConfig, poolKey: String, startup: BackendStartupStateMachine,
                 promise: EventLoopPromise<BackendGreeting>, logger: Logger) {
        self.node = node
        self.poolKey = poolKey
        self.createdAt = .now()
        self.mode = .starting(startup, promise)
        self.logger = logger
    }

    /// Opens a connection on `eventLoop`, sends the client's startup packet and authenticates.
    static func connect(node: BackendConfig, poolKey: String, startup: StartupMessage, secret: PasswordSecret?,
                        runtime: Runtime, eventLoop: EventLoop, connectTimeout: TimeAmount,
                        logger: Logger) -> EventLoopFuture<BackendConnection> {
        let promise = eventLoop.makePromise(of: BackendGreeting.self)
        let nonce = Base64.encode(SecureRandom.bytes(18))
        let authenticator = BackendAuthenticator(user: startup.user, secret: secret, clientNonce: nonce,
            deriveKey: { [runtime] pw, salt, it in runtime.backendSaltedPassword(password: pw, salt: salt, iterations: it) })
        let connection = BackendConnection(node: node, poolKey: poolKey,
                                           startup: BackendStartupStateMachine(authenticator: authenticator),
                                           promise: promise, logger: logger)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        return bootstrap.connect(backendHost: node.hostname, port: node.port).flatMap { channel in
            var out = channel.allocator.buffer(capacity: 256)
            FrontendMessage.startup(startup).encode(into: &out)
            channel.writeAndFlush(out, promise: nil)
            return promise.futureResult.map { _ in connection }
        }.flatMapErrorThrowing { error in
            promise.fail(error)
            throw error
        }
    }

    // MARK: - Ownership

    func lease(to session: ClientSession) {
        mode = .leased(session)
        inFlight = 0
        if pendingRead, let context { pendingRead = false; context.read() }
    }

    /// Runs `reset_query_list`; `done(true)` when the connection is clean and may be cached.
    func reset(queries: [String], done: @escaping (Bool) -> Void) {
        guard let context, context.channel.isActive, inFlight == 0 else { done(false); return }
        let machine = BackendResetStateMachine(resetQueries: queries, transactionStatus: transactionStatus)
        if machine.isFinished { mode = .idle; done(true); return }
        mode = .resetting(machine, done)
        cumulation.clear()
        var out = context.channel.allocator.buffer(capacity: 64)
        for q in machine.queries { FrontendMessage.query(q).encode(into: &out) }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func parkIdle() { mode = .idle }

    func write(_ buffer: ByteBuffer) { context?.write(wrapOutboundOut(buffer), promise: nil) }
    func flush() { context?.flush() }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Sends Terminate and closes (unclean client exit, pool eviction, expiry).
    func terminate() {
        guard let context else { return }
        if case .closed = mode { return }
        mode = .closed
        var out = context.channel.allocator.buffer(capacity: 5)
        FrontendMessage.terminate.encode(into: &out)
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { [channel = context.channel] _ in
            channel.close(promise: nil)
        }
    }

    /// Resumes reading after the session's client drained its write buffer.
    func resumeRead() {
        if pendingRead, let context { pendingRead = false; context.read() }
    }

    // MARK: - ChannelHandler

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func read(context: ChannelHandlerContext) {
        if case .leased(let session) = mode, !session.clientIsWritable {
            pendingRead = true
            return
        }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch mode {
        case .leased(let session):
            relay(buffer, to: session)
        case .starting, .resetting, .idle:
            cumulation.writeImmutableBuffer(buffer)
            decodeControlMessages(context: context)
        case .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .leased(let session) = mode { session.flushClient() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .leased(let session) = mode, context.channel.isWritable { session.resumeRead() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let old = mode
        mode = .closed
        switch old {
        case .starting(_, let promise):
            promise.fail(ChannelError.eof)
        case .leased(let session):
            session.backendClosed()
        case .resetting(_, let done):
            done(false)
        case .idle, .closed:
            break
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("backend connection error", metadata: ["node_id": "\(node.id)", "error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: - Hot path

    private func relay(_ buffer: ByteBuffer, to session: ClientSession) {
        do {
            try scanner.scan(buffer, wants: { $0 == UInt8(ascii: "Z") }) { _, body, _, _ in
                if let raw = body.getInteger(at: body.readerIndex, as: UInt8.self), let s = TransactionStatus(rawValue: raw) {
                    transactionStatus = s
                }
                inFlight = max(0, inFlight - 1)
                return true
            }
        } catch {
            session.backendProtocolError("\(error)")
            return
        }
        session.writeToClient(buffer)
        if inFlight == 0 { session.backendBecameIdle() }
    }

    // MARK: - Control messages (startup, reset, idle)

    private func decodeControlMessages(context: ChannelHandlerContext) {
        do {
            while let frame = try decoder.next(from: &cumulation) {
                let message = try BackendMessage.decode(frame)
                handleControl(message, context: context)
                if case .closed = mode { return }
                if case .leased = mode {
                    // Startup finished; anything left belongs to the session.
                    return
                }
            }
            cumulation.discardReadBytes()
        } catch {
            logger.warning("invalid data from backend", metadata: ["node_id": "\(node.id)", "error": "\(error)"])
            failAndClose(context: context, error: error)
        }
    }

    private func handleControl(_ message: BackendMessage, context: ChannelHandlerContext) {
        switch mode {
        case .starting(var machine, let promise):
            let action = machine.messageReceived(message)
            mode = .starting(machine, promise)
            switch action {
            case .wait: break
            case .send(let m):
                context.send(m)
            case .ready(let greeting, let key):
                self.greeting = greeting
                self.key = key
                mode = .idle
                promise.succeed(greeting)
            case .fail(let failure):
                mode = .closed
                promise.fail(failure)
                context.close(promise: nil)
            }
        case .resetting(var machine, let done):
            if case .parameterStatus(let n, let v) = message { updateParameter(n, v) }
            switch machine.messageReceived(message) {
            case .wait: mode = .resetting(machine, done)
            case .clean:
                transactionStatus = .idle
                mode = .idle
                done(true)
            case .discard:
                mode = .closed
                done(false)
                context.close(promise: nil)
            }
        case .idle:
            switch message {
            case .parameterStatus(let n, let v): updateParameter(n, v)
            case .noticeResponse, .notificationResponse: break
            default:
                // An idle backend speaking up (FATAL on shutdown, …) is not reusable.
                mode = .closed
                context.close(promise: nil)
            }
        case .leased, .closed:
            break
        }
    }

    private func updateParameter(_ name: String, _ value: String) {
        if let i = greeting.parameters.firstIndex(where: { $0.0 == name }) { greeting.parameters[i].1 = value } else {
            greeting.parameters.append((name, value))
        }
    }

    private func failAndClose(context: ChannelHandlerContext, error: Error) {
        let old = mode
        mode = .closed
        if case .starting(_, let promise) = old { promise.fail(error) }
        if case .resetting(_, let done) = old { done(false) }
        if case .leased(let session) = old { session.backendClosed() }
        context.close(promise: nil)
    }
}
