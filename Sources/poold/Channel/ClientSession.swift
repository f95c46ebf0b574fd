import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared

/// The executor of one client connection: feeds `SessionStateMachine` until the session relays, then cuts
/// the client's stream into units, has `SessionRouter` place each on the primary link, the load-balance
/// link or both, and relays the replies — all on one event loop. Unit handling is in
/// `ClientSession+Units.swift`, backend callbacks in `ClientSession+Backends.swift`.
final class ClientSession: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the session is, as the executor sees it.
    enum Phase {
        /// Over num_init_children: not reading until admitted.
        case queued
        /// Startup, authentication, leasing: the state machine decides.
        case negotiating
        /// Bytes flow to and from the backend.
        case relaying
        /// poold is answering a SHOW pool_* itself; client bytes wait in `input`.
        case answering
        /// The client sent Terminate; waiting for in-flight results before the reset.
        case terminating
        case closed
    }

    let runtime: Runtime
    let pool: BackendPool
    let config: PoolConfiguration
    /// Routing parameters as of the session's start.
    let routing: RoutingSettings
    /// `client_idle_limit` in seconds, read once (and on PGPOOL SET): the hot path must not look settings up per read.
    var clientIdleLimit: Int
    /// PGPOOL SET values of this session.
    var sessionSettings = SessionSettings()
    /// `reset_query_list`, split once.
    private let resetQueries: [String]
    let id: Int
    let logger: Logger
    var machine: SessionStateMachine
    var phase: Phase = .queued
    var context: ChannelHandlerContext?
    private var decoder = FrameDecoder(mode: .startup)
    /// Startup and authentication bytes.
    private var cumulation = ByteBuffer()
    /// Client bytes after authentication that are not sent yet (an incomplete unit, or a held one).
    var input = ByteBuffer()
    /// The primary link and the load-balance link (nil when the session has none, or no longer uses it).
    var links: [BackendConnection?] = [nil, nil]
    var router = SessionRouter(primary: 0, loadBalanceNode: nil, policy: .transaction)
    /// A unit waits until every link is quiet (it needs both links, or another link is busy).
    var holding = false
    /// Parse messages as the client sent them, by statement name, to prepare them on another link later.
    var parseFrames: [String: ParsedStatement] = [:]
    /// Catalog lookups sent to the primary, in order, and those waiting for the primary to be idle.
    var pendingCaptures = CircularBuffer<CatalogLookup>()
    var lookupsToSend: [CatalogLookup] = []
    /// A large CopyData message being streamed: bytes of it still to come, and the link they go to.
    var copyStreamRemaining = 0
    var copyStreamLink: Link = .primary
    /// Read-your-writes positions (read_your_writes).
    var ryw = ReadYourWrites(enabled: false)
    var linkNeedsFlush = [false, false]
    var activity: SessionActivity?
    private var startup: StartupMessage?
    /// The key the client gets in BackendKeyData: the real pid of the primary-link backend (as Pgpool-II
    /// hands out the main backend's pid, so `pg_backend_pid()`, NOTIFY pids and `pg_terminate_backend` agree)
    /// with poold's own secret; a CancelRequest with both maps to this session's backends.
    private var ownKey: BackendKey
    var pendingRead = false
    private var admitted = false
    private var authTimer: Scheduled<Void>?
    var idleTimer: Scheduled<Void>?
    /// Set when num_init_children − reserved_connections is reached: answered after the startup packet,
    /// as PostgreSQL answers "too many clients".
    private var refusal: ProxyError?

    init(runtime: Runtime, pool: BackendPool, config: PoolConfiguration, clientAddress: ClientAddress, logger: Logger) {
        self.runtime = runtime
        self.pool = pool
        self.config = config
        self.routing = runtime.routing
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
        runtime.claimAdmission(id: id)
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
        // A session that saw Terminate stays `terminating` until its backends' replies are in: only then are
        // they reset and pooled (setting `closed` here left them leased to nobody, "idle in transaction").
        if case .terminating = old {} else { phase = .closed }
        authTimer?.cancel()
        idleTimer?.cancel()
        switch old {
        case .relaying, .negotiating, .answering:
            // The client vanished without Terminate: its backends are not reused.
            dropLinks()
        case .terminating:
            break  // the backends are released when their results are in
        case .queued, .closed:
            break
        }
        runtime.unregister(ownKey)
        runtime.unregister(activity: id)
        if admitted { admitted = false; runtime.leave() } else { runtime.abandon(id: id) }
        if config.bool("log_disconnections") { logger.info("client disconnected", metadata: ["client_id": "\(id)"]) }
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if case .queued = phase { pendingRead = true; return }
        if holding || links.contains(where: { $0.map { !$0.isWritable } ?? false }) { pendingRead = true; return }
        context.read()
    }

    /// The client drained its socket: let the backends deliver more (backpressure).
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { for l in links { l?.resumeRead() } }
        context.fireChannelWritabilityChanged()
    }

    func resumeRead() {
        if pendingRead, !holding, let context, case .relaying = phase { pendingRead = false; context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ShutdownRequested {
            if case .closed = phase { return }
            dropLinks()
            sendAndClose(ProxyError(.adminShutdown, "terminating connection due to administrator command").fields)
            return
        }
        guard let detached = event as? NodeDetached else { return context.fireUserInboundEventTriggered(event) }
        nodeDetached(detached.nodeID)
    }

    /// A node was detached: a session reading from it as load-balance node goes on with the primary alone;
    /// a session whose primary it was ends with an error (its transaction, if any, is lost with the node).
    private func nodeDetached(_ id: Int) {
        switch phase {
        case .relaying, .answering, .terminating:
            break
        default:
            return
        }
        if let standby = links[1], standby.node.id == id {
            if standby.forwardsInFlight == 0 {
                links[1] = nil
                standby.terminate()
                router.pin()
                linksChanged()
                if isQuiet, case .relaying = phase, holding { holding = false; processInput(); flushLinks(); resumeRead() }
                return
            }
            dropLinks()
            sendAndClose(ProxyError(.connectionFailure, "node \(id) was detached while it was answering").fields)
            return
        }
        if let p = links[0], p.node.id == id {
            if case .terminating = phase { dropLinks(); return }
            dropLinks()
            sendAndClose(ProxyError(.adminShutdown, "terminating connection because backend node \(id) was detached",
                                    detail: "the primary failed or was detached; reconnect to reach the new primary").fields)
        }
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
            if input.readableBytes == 0 { input = buffer } else { input.writeImmutableBuffer(buffer) }
            if idleTimer != nil { idleTimer?.cancel(); idleTimer = nil }
            processInput()
        case .negotiating:
            cumulation.writeImmutableBuffer(buffer)
            negotiate()
        case .answering:
            input.writeImmutableBuffer(buffer)
        case .queued, .terminating, .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushLinks()
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

    func run(_ action: SessionStateMachine.Action) {
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
            for case let l? in links { release(l) }
            links = [nil, nil]
            sendAndClose(fields)
        }
    }

    private func greet(_ greeting: BackendGreeting, saslFinal: [UInt8]?) {
        guard let context, let backend = links[0] else { return }
        authTimer?.cancel()
        authTimer = nil
        if let pid = backend.key?.processID { ownKey = BackendKey(processID: pid, secretKey: ownKey.secretKey) }
        var out = context.channel.allocator.buffer(capacity: 512)
        if let saslFinal { BackendMessage.authentication(.saslFinal(saslFinal)).encode(into: &out) }
        BackendMessage.authentication(.ok).encode(into: &out)
        out.writeImmutableBuffer(backend.parameterStatusMessages)
        BackendMessage.backendKeyData(ownKey).encode(into: &out)
        BackendMessage.readyForQuery(.idle).encode(into: &out)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        phase = .relaying
        router = SessionRouter(primary: backend.node.id, loadBalanceNode: links[1]?.node.id, policy: routing.policy,
                               traceTempTables: routing.traceTempTables)
        ryw = ReadYourWrites(enabled: routing.readYourWrites && links[1] != nil)
        backend.lease(to: self, as: .primary)
        links[1]?.lease(to: self, as: .loadBalance)
        let activity = SessionActivity(id: id, database: startup?.database ?? "", user: startup?.user ?? "")
        self.activity = activity
        runtime.register(activity)
        linksChanged()
        if clientIdleLimit > 0 { armIdleTimer() }
        if cumulation.readableBytes > 0 {
            input = cumulation
            cumulation = ByteBuffer()
            processInput()
            flushLinks()
        }
    }

    /// Cancel targets and SHOW pool_pools follow the links the session holds.
    func linksChanged() {
        if links[1] == nil { ryw.reset() }  // no standby link: nothing to wait for
        let targets = links.compactMap { l in
            l.flatMap { c in c.key.map { CancelTarget(host: c.node.hostname, port: c.node.port, key: $0) } }
        }
        runtime.register(ownKey, targets: targets)
        activity?.update(loadBalanceNode: .some(links[1]?.node.id ?? links[0]?.node.id),
                         backends: links.compactMap { $0.map {
                             SessionRow.Backend(node: $0.node.id, backendPID: $0.key?.processID ?? 0,
                                                connectedAt: PoolNodesReporter.formatted($0.connectedAt), leaseCount: $0.leaseCount)
                         } })
    }

    // MARK: - Ending

    /// The client sent Terminate: backends are released once their replies are in.
    func clientTerminated() {
        phase = .terminating
        armTerminatingTimer()
        // A backend in COPY FROM STDIN waits for data that will never come, and one inside an extended batch
        // without its Sync holds that batch's implicit transaction: close them (PostgreSQL then aborts what
        // they were doing, as it does when the client itself leaves) instead of waiting for them forever.
        for i in 0..<2 {
            guard let l = links[i] else { continue }
            if l.exit(clean: true, batchOpen: router.openBatch == Link(rawValue: i)) == .close {
                logger.debug("backend closed: client left mid-COPY or mid-batch", metadata: ["client_id": "\(id)", "node_id": "\(l.node.id)"])
                links[i] = nil
                l.terminate()
            }
        }
        if isQuiet { releaseLinks() }
        context?.close(promise: nil)
    }

    func releaseLinks() {
        for case let l? in links { release(l) }
        links = [nil, nil]
        abandonLookups()
        if case .terminating = phase { phase = .closed }
    }

    /// How long a session that sent Terminate waits for replies still due (a long query, a COPY TO
    /// STDOUT) before its backends are closed instead of reset.
    static let terminatingLimit: TimeAmount = .seconds(30)

    private func armTerminatingTimer() {
        guard let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.terminatingLimit) {
            let s = loopBound.value
            guard case .terminating = s.phase else { return }
            s.logger.info("replies to a client that left did not come; closing its backends", metadata: ["client_id": "\(s.id)"])
            s.dropLinks()
            s.phase = .closed
        }
    }

    /// Closes every backend without reuse (unclean end).
    func dropLinks() {
        for case let l? in links { l.terminate() }
        links = [nil, nil]
        abandonLookups()
    }

    /// Lookups this session will not finish: other sessions may ask again.
    private func abandonLookups() {
        for lookup in lookupsToSend + Array(pendingCaptures) {
            logger.debug("catalog lookup abandoned", metadata: ["functions": "\(lookup.functions)", "relations": "\(lookup.relations)"])
            runtime.learn(functions: lookup.functions, relations: lookup.relations, rows: [], failed: true)
        }
        lookupsToSend.removeAll()
        pendingCaptures.removeAll()
    }

    /// Resets and caches the backend, or closes it when it must not be reused.
    func release(_ connection: BackendConnection) {
        let db = startup?.database ?? ""
        let cacheable = config.connectionCache && !["template0", "template1", "postgres", "regression"].contains(db)
        guard cacheable else { connection.terminate(); return }
        let pool = self.pool
        let runtime = self.runtime
        connection.reset(queries: resetQueries) { clean in
            if clean, !runtime.isBeingReleased(db) { pool.put(connection) } else { connection.terminate() }
        }
    }

    func protocolViolation(_ what: String) {
        logger.info("protocol violation from client", metadata: ["client_id": "\(id)", "error": "\(what)"])
        dropLinks()
        sendAndClose(ProxyError.protocolViolation(what).fields)
    }

    func sendAndClose(_ fields: ErrorFields) {
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
        dropLinks()
        sendAndClose(ProxyError(.connectionFailure, "authentication timeout").fields)
    }

    func armIdleTimer() {
        idleTimer?.cancel()
        guard let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: .seconds(Int64(clientIdleLimit))) {
            let s = loopBound.value
            guard case .relaying = s.phase, s.isQuiet else { return }
            s.logger.info("client idle limit exceeded", metadata: ["client_id": "\(s.id)"])
            s.dropLinks()
            s.sendAndClose(ProxyError(.idleTimeout, "terminating connection due to client_idle_limit (\(s.clientIdleLimit) seconds)").fields)
        }
    }

    private func forwardCancel(_ key: BackendKey) {
        guard let context else { return }
        for target in runtime.cancelTargets(for: key) {
        ClientBootstrap(group: context.eventLoop).connect(backendHost: target.host, port: target.port).whenSuccess { channel in
            var out = channel.allocator.buffer(capacity: 16)
            FrontendMessage.cancelRequest(target.key).encode(into: &out)
            channel.writeAndFlush(out).whenComplete { _ in channel.close(promise: nil) }
        }
        }
    }
}
