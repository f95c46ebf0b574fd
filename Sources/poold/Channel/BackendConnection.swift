import Foundation
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
    /// The database of the startup packet.
    let database: String
    let createdAt: NIODeadline
    /// Wall-clock connection time for SHOW pool_pools.
    let connectedAt = Date()
    /// `connectedAt` as SHOW pool_pools prints it, formatted once (transaction pooling reports links per transaction).
    private(set) lazy var connectedAtText = PoolNodesReporter.formatted(connectedAt)
    /// How many sessions have used this connection (pool_counter).
    private(set) var leaseCount = 0
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
    /// The status of the last ReadyForQuery (what the link owes is its session's `RelayStateMachine`'s).
    private(set) var transactionStatus: TransactionStatus = .idle
    /// Which of its session's links this connection is.
    private(set) var link: Link = .primary
    /// The reply stream is walked by `scanner` (every pending reply is forwarded) or frame by frame from
    /// `replies` (some are dropped or captured, or async messages may need holding back).
    private var fastPath = true
    private var replies = ByteBuffer()
    private var capturedRows: [[String?]] = []
    /// Async messages (NOTIFY, notices) that arrived while another link's reply was being forwarded.
    private var heldAsync = ByteBuffer()
    private let stats: NodeStatistics?
    private var mode: Mode {
        didSet {
            if case .leased(let session) = mode { leased = session } else { leased = nil }
        }
    }
    /// The session while `mode` is `.leased`: read per message without copying `mode` (an enum with
    /// reference payloads, copied through its value witnesses).
    private var leased: ClientSession?
    private var context: ChannelHandlerContext?
    private var decoder = FrameDecoder(mode: .typed, maxLength: Int(Int32.max))
    private var cumulation = ByteBuffer()
    private var scanner = FrameScanner(maxLength: Int(Int32.max))
    private var pendingRead = false
    private let logger: Logger
    /// pool_mode = transaction: the prepared statements that exist on this backend, whoever defined them.
    var statements = BackendStatements()
    /// Called once when the connection is gone (transaction pooling counts its connections).
    var onClose: (() -> Void)?

    var channel: Channel? { context?.channel }

    private init(node: BackendConfig, poolKey: String, database: String, startup: BackendStartupStateMachine,
                 promise: EventLoopPromise<BackendGreeting>, stats: NodeStatistics?, logger: Logger) {
        self.node = node
        self.database = database
        self.stats = stats
        self.poolKey = poolKey
        self.createdAt = .now()
        self.mode = .starting(startup, promise)
        self.logger = logger
    }

    /// A connection on an existing channel, starting (the peer is expected to answer a startup packet that
    /// the caller sends, or pretends to have sent): for tests on EmbeddedChannel.
    static func attached(to channel: Channel, node: BackendConfig, poolKey: String, user: String, database: String,
                         logger: Logger) throws -> (BackendConnection, EventLoopFuture<BackendGreeting>) {
        let promise = channel.eventLoop.makePromise(of: BackendGreeting.self)
        let authenticator = BackendAuthenticator(user: user, secret: nil, clientNonce: "nonce", deriveKey: { _, _, _ in [] })
        let connection = BackendConnection(node: node, poolKey: poolKey, database: database,
                                           startup: BackendStartupStateMachine(authenticator: authenticator),
                                           promise: promise, stats: nil, logger: logger)
        try channel.pipeline.syncOperations.addHandler(connection)
        return (connection, promise.futureResult)
    }

    /// Opens a connection on `eventLoop` (with TLS as `backend_sslmode` says), sends the client's startup packet
    /// and authenticates. With `allow`, a plain login the backend refuses (a `hostssl`-only pg_hba) is tried
    /// once more over TLS.
    static func connect(node: BackendConfig, poolKey: String, startup: StartupMessage, secret: PasswordSecret?,
                        runtime: Runtime, eventLoop: EventLoop, connectTimeout: TimeAmount,
                        logger: Logger) -> EventLoopFuture<BackendConnection> {
        let tls = runtime.tls
        let mode = tls.settings.backend.mode
        let first = BackendTLSNegotiation.firstAttempt(mode, host: node.hostname)
        return connect(node: node, poolKey: poolKey, startup: startup, secret: secret, runtime: runtime, eventLoop: eventLoop,
                       connectTimeout: connectTimeout, attempt: first, tls: tls, logger: logger)
            .flatMapError { error in
                guard case LeaseFailure.backendError? = error as? LeaseFailure,
                      BackendTLSNegotiation.retriesWithTLS(mode, host: node.hostname, after: first) else {
                    return eventLoop.makeFailedFuture(error)
                }
                return connect(node: node, poolKey: poolKey, startup: startup, secret: secret, runtime: runtime,
                               eventLoop: eventLoop, connectTimeout: connectTimeout, attempt: .tls, tls: tls, logger: logger)
            }
    }

    private static func connect(node: BackendConfig, poolKey: String, startup: StartupMessage, secret: PasswordSecret?,
                                runtime: Runtime, eventLoop: EventLoop, connectTimeout: TimeAmount,
                                attempt: BackendTLSNegotiation.Attempt, tls: TLSContexts,
                                logger: Logger) -> EventLoopFuture<BackendConnection> {
        let promise = eventLoop.makePromise(of: BackendGreeting.self)
        let nonce = Base64.encode(SecureRandom.bytes(18))
        let authenticator = BackendAuthenticator(user: startup.user, secret: secret, clientNonce: nonce,
            deriveKey: { [runtime] pw, salt, it in runtime.backendSaltedPassword(password: pw, salt: salt, iterations: it) })
        let connection = BackendConnection(node: node, poolKey: poolKey, database: startup.database,
                                           startup: BackendStartupStateMachine(authenticator: authenticator),
                                           promise: promise, stats: runtime.statistics, logger: logger)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        return BackendTLSNegotiation.connect(bootstrap, host: node.hostname, port: node.port, attempt: attempt, tls: tls)
            .flatMap { channel in
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

    func lease(to session: ClientSession, as link: Link) {
        mode = .leased(session)
        self.link = link
        leaseCount += 1
        fastPath = true
        replies.clear()
        heldAsync.clear()
        if pendingRead, let context { pendingRead = false; context.read() }
    }

    /// Writes async messages held back while another link was answering.
    func releaseHeldAsync(to session: ClientSession) {
        guard heldAsync.readableBytes > 0 else { return }
        session.writeToClient(heldAsync)
        heldAsync = ByteBuffer()
        session.flushClient()
    }

    /// Runs `reset_query_list` (its session has every reply in); `done(true)` when the connection is clean
    /// and may be cached.
    func reset(queries: [String], done: @escaping (Bool) -> Void) {
        guard let context, context.channel.isActive else { done(false); return }
        let machine = BackendResetStateMachine(resetQueries: queries, transactionStatus: transactionStatus)
        if machine.isFinished { mode = .idle; done(true); return }
        mode = .resetting(machine, done)
        cumulation.clear()
        // A reset that does not finish in time (a backend stuck in a lock wait…) closes the connection.
        resets += 1
        let generation = resets
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.resetLimit) {
            let c = loopBound.value
            guard c.resets == generation, case .resetting(_, let done) = c.mode else { return }
            c.logger.info("reset_query_list did not finish in time; closing the backend connection", metadata: ["node_id": "\(c.node.id)"])
            c.mode = .closed
            done(false)
            c.context?.close(promise: nil)
        }
        var out = context.channel.allocator.buffer(capacity: 64)
        for q in machine.queries { FrontendMessage.query(q).encode(into: &out) }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func parkIdle() { mode = .idle }

    /// How long `reset_query_list` may take before the connection is closed instead of pooled.
    static let resetLimit: TimeAmount = .seconds(10)
    /// Resets started, so a timer knows whether the reset it bounds is still the current one.
    private var resets = 0

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
        if let session = leased, !session.clientIsWritable {
            pendingRead = true
            return
        }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let session = leased {
            relay(buffer, to: session)
            return
        }
        switch mode {
        case .leased:
            break
        case .starting, .resetting, .idle:
            cumulation.writeImmutableBuffer(buffer)
            decodeControlMessages(context: context)
        case .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let session = leased { session.flushClient() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let session = leased, context.channel.isWritable { session.resumeRead() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let old = mode
        mode = .closed
        if let onClose { self.onClose = nil; onClose() }
        switch old {
        case .starting(_, let promise):
            promise.fail(ChannelError.eof)
        case .leased(let session):
            session.backendClosed(self)
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

    private func relay(_ incoming: ByteBuffer, to session: ClientSession) {
        var buffer = incoming
        // Fast path: every pending reply goes to the client; only ErrorResponse and ReadyForQuery are looked at.
        while fastPath, session.relay.head(link) == .forward, buffer.readableBytes > 0 {
            var ready: (TransactionStatus, Int)? = nil
            do {
                try scanner.scan(buffer, wants: { $0 == UInt8(ascii: "Z") || $0 == UInt8(ascii: "E") || $0 == UInt8(ascii: "G")
                                                  || $0 == UInt8(ascii: "W") }) { id, body, _, end in
                    if id == UInt8(ascii: "E") {
                        noteError(body, session: session)
                        return true
                    }
                    if id == UInt8(ascii: "G") || id == UInt8(ascii: "W") {
                        session.relay.copyInReceived(on: link)
                        return true
                    }
                    ready = (Self.status(body), end)
                    return false
                }
            } catch {
                session.backendProtocolError("\(error)")
                return
            }
            guard let (status, end) = ready else {
                session.writeToClient(buffer)
                return
            }
            session.writeToClient(buffer.getSlice(at: buffer.readerIndex, length: end - buffer.readerIndex)!)
            buffer.moveReaderIndex(to: end)
            finishUnit(status, session: session)
            if leased == nil { return }
        }
        guard buffer.readableBytes > 0 else { return }
        fastPath = false
        if replies.readableBytes == 0 { replies = buffer } else { replies.writeImmutableBuffer(buffer) }
        relayFrames(to: session)
    }

    /// The slow path: whole frames from `replies`, each forwarded, dropped or captured by its unit's sink.
    private func relayFrames(to session: ClientSession) {
        var i = replies.readerIndex
        let end = replies.writerIndex
        var forwardStart: Int? = nil
        func flushForwarded(upTo stop: Int) {
            if let start = forwardStart, stop > start { session.writeToClient(replies.getSlice(at: start, length: stop - start)!) }
            forwardStart = nil
        }
        while end - i >= 5 {
            let start = i
            let id = replies.getInteger(at: start, as: UInt8.self)!
            let length = Int(replies.getInteger(at: start + 1, as: Int32.self)!)
            guard length >= 4 else { session.backendProtocolError("invalid message length \(length)"); return }
            guard end - start >= 1 + length else { break }
            let frameEnd = start + 1 + length
            let body = replies.getSlice(at: start + 5, length: length - 4)!
            if id == UInt8(ascii: "E") { noteError(body, session: session) }
            if id == UInt8(ascii: "G") || id == UInt8(ascii: "W") { session.relay.copyInReceived(on: link) }
            switch session.relay.head(link) {
            case .forward:
                if forwardStart == nil { forwardStart = start }
            case .capture, .position:
                flushForwarded(upTo: start)
                if id == UInt8(ascii: "D"), case .dataRow(let cells)? = try? BackendMessage.decode(Frame(id: id, body: body)) {
                    capturedRows.append(cells.map { $0.map { String(decoding: $0.readableBytesView, as: UTF8.self) } })
                }
            case .discard:
                flushForwarded(upTo: start)
            case nil:
                flushForwarded(upTo: start)
                // Nothing pending: NOTIFY, a notice, a ParameterStatus or a FATAL before closing.
                if id == UInt8(ascii: "S"), case .parameterStatus(let n, let v)? = try? BackendMessage.decode(Frame(id: id, body: body)) {
                    updateParameter(n, v)
                }
                let frame = replies.getSlice(at: start, length: 1 + length)!
                if session.relay.asyncReceived(on: link) { session.writeToClient(frame) } else { heldAsync.writeImmutableBuffer(frame) }
            }
            i = frameEnd
            if id == UInt8(ascii: "Z") {
                flushForwarded(upTo: frameEnd)
                let rest = replies.getSlice(at: frameEnd, length: end - frameEnd)!
                replies = ByteBuffer()
                finishUnit(Self.status(body), session: session)
                guard leased != nil else { return }
                if session.relay.head(link) == .forward {
                    // Back to the fast path with whatever is left.
                    fastPath = true
                    if rest.readableBytes > 0 { relay(rest, to: session) }
                    return
                }
                if rest.readableBytes > 0 {
                    replies = rest
                    relayFrames(to: session)
                }
                return
            }
        }
        flushForwarded(upTo: i)
        if i == end {
            replies = ByteBuffer()
            if session.relay.head(link) == .forward { fastPath = true }
        } else {
            replies.moveReaderIndex(to: i)
            replies.discardReadBytes()
        }
    }

    private func finishUnit(_ status: TransactionStatus, session: ClientSession) {
        transactionStatus = status
        var rows: [[String?]] = []
        if !capturedRows.isEmpty { swap(&rows, &capturedRows) }
        session.unitFinished(on: self, status: status, rows: rows)
        if statements.count > 0, let s = leased, s.relay.inFlight(link) == 0 { statements.quiet() }
    }

    private func noteError(_ body: ByteBuffer, session: ClientSession) {
        session.relay.errorReceived(on: link)
        statements.errorSeen()
        let severity = ErrorFields.severity(in: body)
        stats?.countError(node: node.id, severity: severity)
        if severity == "FATAL", case .leased(let session) = mode, let code = ErrorFields.code(in: body), code == "57P01" || code == "57P02" {
            session.backendShutdownSeen(self)
        }
    }

    private static func status(_ body: ByteBuffer) -> TransactionStatus {
        body.getInteger(at: body.readerIndex, as: UInt8.self).flatMap(TransactionStatus.init(rawValue:)) ?? .idle
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
        if case .leased(let session) = old { session.backendClosed(self) }
        context.close(promise: nil)
    }
}
