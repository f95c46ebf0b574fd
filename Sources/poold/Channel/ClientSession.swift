import Logging
import NIOCore
import NIOPosix
import Shared

/// The executor of one client connection: feeds `SessionStateMachine` until the session relays, then
/// forwards bytes between the client and its backend on one event loop, scanning only frame headers.
final class ClientSession: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the session is, as the executor sees it.
    private enum Phase {
        /// Over num_init_children: not reading until admitted.
        case queued
        /// Startup, authentication, leasing: the state machine decides.
        case negotiating
        /// Bytes flow to and from the backend.
        case relaying
        /// poold is answering a SHOW pool_* itself; client bytes wait in `cumulation`.
        case answering
        /// The client sent Terminate; waiting for in-flight results before the reset.
        case terminating
        case closed
    }

    private let runtime: Runtime
    private let pool: BackendPool
    private let config: PoolConfiguration
    /// `client_idle_limit` in seconds, read once (and on PGPOOL SET): the hot path must not look settings up per read.
    private var clientIdleLimit: Int
    /// PGPOOL SET values of this session.
    private var sessionSettings = SessionSettings()
    /// `reset_query_list`, split once.
    private let resetQueries: [String]
    private let id: Int
    private let logger: Logger
    private var machine: SessionStateMachine
    private var phase: Phase = .queued
    private var context: ChannelHandlerContext?
    private var decoder = FrameDecoder(mode: .startup)
    private var cumulation = ByteBuffer()
    private var scanner = FrameScanner()
    private var backend: BackendConnection?
    private var startup: StartupMessage?
    private let ownKey: BackendKey
    private var pendingRead = false
    private var backendNeedsFlush = false
    private var admitted = false
    private var authTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    /// Set when num_init_children − reserved_connections is reached: answered after the startup packet,
    /// as PostgreSQL answers "too many clients".
    private var refusal: ProxyError?

    init(runtime: Runtime, pool: BackendPool, config: PoolConfiguration, clientAddress: ClientAddress, logger: Logger) {
        self.runtime = runtime
        self.pool = pool
        self.config = config
        self.clientIdleLimit = config.clientIdleLimit
        self.resetQueries = config.resetQueries
        self.id = runtime.makeID()
        self.logger = logger
        let auth = runtime.auth
        let environment = SessionEnvironment(
            hba: config.enablePoolHBA ? (auth.hba ?? PoolHBA(rules: [])) : nil, passwd: auth.passwd,
            allowClearTextFrontendAuth: config.allowClearTextFrontendAuth, clientAddress: clientAddress,
            scramKeys: { [runtime] u, p in runtime.scramKeys(user: u, password: p) })
        // Four draws from the system generator cover salt, nonce and cancel key.
        let bytes = SecureRandom.bytes(32)
        let randomness = SessionRandomness(md5Salt: Array(bytes[0..<4]), serverNonce: Base64.encode(bytes[4..<22]))
        self.machine = SessionStateMachine(environment: environment, randomness: randomness)
        let pid = Int32(bitPattern: UInt32(bytes[22]) << 24 | UInt32(bytes[23]) << 16 | UInt32(bytes[24]) << 8 | UInt32(bytes[25]))
        let secret = Int32(bitPattern: UInt32(bytes[26]) << 24 | UInt32(bytes[27]) << 16 | UInt32(bytes[28]) << 8 | UInt32(bytes[29]))
        self.ownKey = BackendKey(processID: pid & Int32.max | 1, secretKey: secret)
    }

    var clientIsWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        switch runtime.arrive(id: id, resume: { loop.execute { loopBound.value.admit() } }) {
        case .admitted: admit()
        case .queued: logger.debug("session queued: num_init_children reached", metadata: ["client_id": "\(id)"])
        case .refused:
            refusal = ProxyError(.tooManyConnections, "Sorry, too many clients already")
            phase = .negotiating
        }
        context.fireChannelActive()
    }

    private func admit() {
        guard case .queued = phase, let context else { return }
        admitted = true
        phase = .negotiating
        if config.authenticationTimeout > 0 {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            authTimer = context.eventLoop.scheduleTask(in: .seconds(Int64(config.authenticationTimeout))) {
                loopBound.value.authenticationTimedOut()
            }
        }
        if config.bool("log_connections") { logger.info("new connection received", metadata: ["client_id": "\(id)"]) }
        if pendingRead { pendingRead = false; context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let old = phase
        phase = .closed
        authTimer?.cancel()
        idleTimer?.cancel()
        switch old {
        case .relaying, .negotiating, .answering:
            // The client vanished without Terminate: its backend is not reused.
            backend?.terminate()
            backend = nil
        case .terminating:
            break  // the backend is released when its results are in
        case .queued, .closed:
            break
        }
        runtime.unregister(ownKey)
        if admitted { admitted = false; runtime.leave() } else { runtime.abandon(id: id) }
        if config.bool("log_disconnections") { logger.info("client disconnected", metadata: ["client_id": "\(id)"]) }
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if case .queued = phase { pendingRead = true; return }
        if let backend, !backend.isWritable { pendingRead = true; return }
        context.read()
    }

    /// The client drained its socket: let the backend deliver more (backpressure).
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { backend?.resumeRead() }
        context.fireChannelWritabilityChanged()
    }

    func resumeRead() {
        if pendingRead, let context, case .relaying = phase { pendingRead = false; context.read() }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("client connection error", metadata: ["client_id": "\(id)", "error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch phase {
        case .relaying:
            relay(buffer)
        case .negotiating:
            cumulation.writeImmutableBuffer(buffer)
            negotiate()
        case .answering:
            cumulation.writeImmutableBuffer(buffer)
        case .queued, .terminating, .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if backendNeedsFlush {
            backendNeedsFlush = false
            backend?.flush()
        }
    }

    /// The hot path: count queries and syncs, stop at Terminate, forward the read as one buffer.
    private func relay(_ buffer: ByteBuffer) {
        guard let backend else { return }
        if idleTimer != nil { idleTimer?.cancel(); idleTimer = nil }
        var terminateAt: Int? = nil
        /// Terminate's header began in an earlier read, so part of it already went to the backend.
        var terminateSplit = false
        var show: ShowCommand? = nil
        do {
            try scanner.scan(buffer, wants: { $0 == UInt8(ascii: "Q") || $0 == UInt8(ascii: "S") || $0 == UInt8(ascii: "X") }) {
                id, body, start, end in
                if id == UInt8(ascii: "X") {
                    terminateAt = start ?? buffer.readerIndex
                    terminateSplit = start == nil
                    return false
                }
                // SHOW pool_* sent alone while nothing is in flight is answered by poold itself.
                if id == UInt8(ascii: "Q"), backend.inFlight == 0, start == buffer.readerIndex, end == buffer.writerIndex,
                   ShowCommand.mightBeShowPool(body.readableBytesView) {
                    show = ShowCommand.parse(String(decoding: body.readableBytesView.prefix(while: { $0 != 0 }), as: UTF8.self))
                    if show != nil { return false }
                }
                backend.inFlight += 1
                return true
            }
        } catch {
            protocolViolation("\(error)")
            return
        }
        if let show {
            answer(show, backend: backend)
            return
        }
        if let terminateAt {
            let before = terminateAt - buffer.readerIndex
            if before > 0 { backend.write(buffer.getSlice(at: buffer.readerIndex, length: before)!) }
            backend.flush()
            if terminateSplit {
                // The backend holds a partial header: it cannot be reset and reused.
                self.backend = nil
                backend.terminate()
            }
            clientTerminated()
            return
        }
        backend.write(buffer)
        backendNeedsFlush = true
    }

    private func negotiate() {
        do {
            while case .negotiating = phase, let frame = try decoder.next(from: &cumulation) {
                let action: SessionStateMachine.Action
                if frame.id == 0 {
                    let message = try FrontendMessage.decode(frame)
                    if case .startup(let s) = message {
                        if let refusal {
                            sendAndClose(refusal.fields)
                            return
                        }
                        startup = s
                        decoder.mode = .typed
                    }
                    action = machine.startupPacketReceived(message)
                } else if frame.id == UInt8(ascii: "p") {
                    action = machine.passwordReceived(frame.body)
                } else if frame.id == UInt8(ascii: "X") {
                    context?.close(promise: nil)
                    return
                } else {
                    action = machine.unexpectedMessageReceived(id: frame.id)
                }
                run(action)
            }
            cumulation.discardReadBytes()
        } catch let e as WireError {
            protocolViolation(e.description)
        } catch {
            protocolViolation("\(error)")
        }
    }

    // MARK: - Actions

    private func run(_ action: SessionStateMachine.Action) {
        logger.trace("run action", metadata: ["client_id": "\(id)", "action": "\(action)"])
        switch action {
        case .wait:
            break
        case .refuseEncryption:
            var out = ByteBuffer()
            out.writeInteger(UInt8(ascii: "N"))
            context?.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .sendToClient(let m):
            var out = ByteBuffer()
            m.encode(into: &out)
            context?.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .lease(let startup, let secret):
            lease(startup, secret: secret)
        case .greet(let greeting, let saslFinal):
            greet(greeting, saslFinal: saslFinal)
        case .forwardCancel(let key):
            forwardCancel(key)
            context?.close(promise: nil)
        case .closeWithError(let fields):
            if let backend {
                self.backend = nil
                release(backend)
            }
            sendAndClose(fields)
        }
    }

    private var primary: BackendConfig? { runtime.primaryNode }

    private func lease(_ startup: StartupMessage, secret: PasswordSecret?) {
        guard let node = primary, let context else {
            run(machine.backendLeaseFailed(.proxy(ProxyError(.connectionFailure, "no backend node is available"))))
            return
        }
        let key = "\(node.id)|" + startup.parameters.map { "\($0.0)=\($0.1)" }.joined(separator: "\u{1}")
        if config.connectionCache, let pooled = pool.take(key) {
            backend = pooled
            run(machine.backendLeased(pooled.greeting))
            return
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        BackendConnection.connect(node: node, poolKey: key, startup: startup, secret: secret, runtime: runtime,
                                  eventLoop: context.eventLoop,
                                  connectTimeout: .milliseconds(Int64(max(1000, config.int("connect_timeout")))),
                                  logger: logger)
            .whenComplete { result in
                let session = loopBound.value
                switch result {
                case .success(let connection):
                    guard case .negotiating = session.phase else { connection.terminate(); return }
                    session.backend = connection
                    session.run(session.machine.backendLeased(connection.greeting))
                case .failure(let failure as LeaseFailure):
                    session.run(session.machine.backendLeaseFailed(failure))
                case .failure(let error):
                    session.logger.warning("cannot connect to backend", metadata: [
                        "node_id": "\(node.id)", "error": "\(error)"])
                    session.run(session.machine.backendLeaseFailed(.proxy(ProxyError(.connectionFailure,
                        "unable to connect to DB node \(node.id) (\(node.hostname):\(node.port))"))))
                }
            }
    }

    private func greet(_ greeting: BackendGreeting, saslFinal: [UInt8]?) {
        guard let context, let backend else { return }
        authTimer?.cancel()
        authTimer = nil
        var out = context.channel.allocator.buffer(capacity: 512)
        if let saslFinal { BackendMessage.authentication(.saslFinal(saslFinal)).encode(into: &out) }
        BackendMessage.authentication(.ok).encode(into: &out)
        out.writeImmutableBuffer(backend.parameterStatusMessages)
        BackendMessage.backendKeyData(ownKey).encode(into: &out)
        BackendMessage.readyForQuery(.idle).encode(into: &out)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if let key = backend.key {
            runtime.register(ownKey, target: CancelTarget(host: backend.node.hostname, port: backend.node.port, key: key))
        }
        phase = .relaying
        backend.lease(to: self)
        if clientIdleLimit > 0 { armIdleTimer() }
        if cumulation.readableBytes > 0 {
            let rest = cumulation
            cumulation = ByteBuffer()
            relay(rest)
            backend.flush()
        }
    }

    // MARK: - Commands poold answers itself

    private func answer(_ command: ShowCommand, backend: BackendConnection) {
        guard let context else { return }
        phase = .answering
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        func table(_ columns: [String], _ rows: [[String]]) -> EventLoopFuture<[BackendMessage]> {
            loop.makeSucceededFuture(ShowResult.messages(columns: columns, rows: rows))
        }
        let effective = sessionSettings.applied(to: runtime.config)
        let result: EventLoopFuture<[BackendMessage]>
        switch command {
        case .poolVersion:
            let v = ShowResult.poolVersion(PooldVersion.version)
            result = table(v.columns, v.rows)
        case .poolNodes:
            result = PoolNodesReporter.report(runtime: runtime, config: config, primary: primary?.id,
                                              sessionNode: backend.node.id, eventLoop: loop)
                .map { ShowResult.messages(columns: ShowResult.poolNodesColumns, rows: ShowResult.poolNodes($0)) }
        case .poolStatus:
            let replication = runtime.replication
            result = table(ConfigTables.itemColumns,
                           ConfigTables.poolStatus(effective, standbyDelay: { replication[$0]?.delayBytes ?? 0 }))
        case .poolHealthCheckStats:
            let since = PoolNodesReporter.formatted(runtime.startTime)
            result = table(ConfigTables.healthCheckStatsColumns,
                           ConfigTables.healthCheckStats(effective, primary: primary?.id, since: since))
        case .pgpoolShow(let name):
            if let t = ConfigTables.pgpoolShow(name, config: effective) {
                result = table(t.columns, t.rows)
            } else {
                result = loop.makeFailedFuture(ProxyError(.undefinedObject, "unrecognized configuration parameter \"\(name)\""))
            }
        case .pgpoolSet(let name, let value):
            result = sessionSettingChanged(sessionSettings.set(name, to: value), tag: "SET", loop: loop)
        case .pgpoolReset(let name):
            result = sessionSettingChanged(sessionSettings.reset(name), tag: "RESET", loop: loop)
        }
        result.whenComplete { outcome in
            let session = loopBound.value
            guard case .answering = session.phase, let context = session.context else { return }
            var out = context.channel.allocator.buffer(capacity: 1024)
            switch outcome {
            case .success(let messages):
                for m in messages { m.encode(into: &out) }
            case .failure(let error as ProxyError):
                error.backendMessage.encode(into: &out)
            case .failure(let error):
                ProxyError(.internalError, "could not collect node information: \(error)").backendMessage.encode(into: &out)
            }
            BackendMessage.readyForQuery(backend.transactionStatus).encode(into: &out)
            context.writeAndFlush(session.wrapOutboundOut(out), promise: nil)
            session.phase = .relaying
            if session.clientIdleLimit > 0 { session.armIdleTimer() }
            if session.cumulation.readableBytes > 0 {
                let rest = session.cumulation
                session.cumulation = ByteBuffer()
                session.relay(rest)
                session.backend?.flush()
            }
        }
    }

    private func sessionSettingChanged(_ error: ProxyError?, tag: String, loop: EventLoop) -> EventLoopFuture<[BackendMessage]> {
        if let error { return loop.makeFailedFuture(error) }
        let limit = sessionSettings.applied(to: config).clientIdleLimit
        if limit != clientIdleLimit {
            clientIdleLimit = limit
            idleTimer?.cancel()
            idleTimer = nil
        }
        return loop.makeSucceededFuture([.commandComplete(tag)])
    }

    // MARK: - Called by the backend connection (same event loop)

    func writeToClient(_ buffer: ByteBuffer) { context?.write(wrapOutboundOut(buffer), promise: nil) }
    func flushClient() { context?.flush() }

    func backendBecameIdle() {
        if clientIdleLimit > 0, case .relaying = phase { armIdleTimer() }
        if case .terminating = phase, let backend {
            self.backend = nil
            release(backend)
        }
    }

    func backendClosed() {
        let b = backend
        backend = nil
        switch phase {
        case .relaying, .negotiating, .answering:
            let node = b?.node.id ?? primary?.id ?? 0
            sendAndClose(ProxyError(.connectionFailure, "unable to read data from DB node \(node)",
                                    detail: "the backend connection was closed; the transaction, if any, was not completed").fields)
        case .terminating:
            context?.close(promise: nil)
        case .queued, .closed:
            break
        }
    }

    func backendProtocolError(_ what: String) {
        backend?.terminate()
        backend = nil
        sendAndClose(ProxyError(.protocolViolation, "invalid data from backend: \(what)").fields)
    }

    // MARK: - Ending

    private func clientTerminated() {
        phase = .terminating
        if let backend, backend.inFlight == 0 {
            self.backend = nil
            release(backend)
        }
        context?.close(promise: nil)
    }

    /// Resets and caches the backend, or closes it when it must not be reused.
    private func release(_ connection: BackendConnection) {
        let db = startup?.database ?? ""
        let cacheable = config.connectionCache && !["template0", "template1", "postgres", "regression"].contains(db)
        guard cacheable else { connection.terminate(); return }
        let pool = self.pool
        connection.reset(queries: resetQueries) { clean in
            if clean { pool.put(connection) } else { connection.terminate() }
        }
    }

    private func protocolViolation(_ what: String) {
        logger.info("protocol violation from client", metadata: ["client_id": "\(id)", "error": "\(what)"])
        backend?.terminate()
        backend = nil
        sendAndClose(ProxyError.protocolViolation(what).fields)
    }

    private func sendAndClose(_ fields: ErrorFields) {
        guard let context else { return }
        phase = .closed
        var out = context.channel.allocator.buffer(capacity: 128)
        BackendMessage.errorResponse(fields).encode(into: &out)
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { [channel = context.channel] _ in
            channel.close(promise: nil)
        }
    }

    private func authenticationTimedOut() {
        guard case .negotiating = phase else { return }
        backend?.terminate()
        backend = nil
        sendAndClose(ProxyError(.connectionFailure, "authentication timeout").fields)
    }

    private func armIdleTimer() {
        idleTimer?.cancel()
        guard let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: .seconds(Int64(clientIdleLimit))) {
            let s = loopBound.value
            guard case .relaying = s.phase, (s.backend?.inFlight ?? 0) == 0 else { return }
            s.logger.info("client idle limit exceeded", metadata: ["client_id": "\(s.id)"])
            s.backend?.terminate()
            s.backend = nil
            s.sendAndClose(ProxyError(.idleTimeout, "terminating connection due to client_idle_limit (\(s.clientIdleLimit) seconds)").fields)
        }
    }

    private func forwardCancel(_ key: BackendKey) {
        guard let target = runtime.cancelTarget(for: key), let context else { return }
        ClientBootstrap(group: context.eventLoop).connect(backendHost: target.host, port: target.port).whenSuccess { channel in
            var out = channel.allocator.buffer(capacity: 16)
            FrontendMessage.cancelRequest(target.key).encode(into: &out)
            channel.writeAndFlush(out).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
