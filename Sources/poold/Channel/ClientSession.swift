import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Shared

/// The executor of one client connection: feeds `SessionStateMachine` until the session relays, then cuts
/// the client's stream into units and feeds them, and what the backends report, to `RelayStateMachine`,
/// carrying out what it decides — all on one event loop. Unit handling is in `ClientSession+Units.swift`,
/// backend callbacks and the relay's actions in `ClientSession+Backends.swift`.
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
        /// Logged in: `relay` is in charge (relaying, holding, answering a SHOW, terminating).
        case relaying
        /// The client connection is over (the relay may still wait for a Terminate's replies).
        case closed
    }

    let runtime: Runtime
    let pool: BackendPool
    /// The configuration this session started with (shared with every session started under it).
    private let configuration: ConfigSnapshot
    var config: PoolConfiguration { _read { yield configuration.value } }
    /// Routing parameters as of the session's start.
    let routing: RoutingSettings
    /// `client_idle_limit` in seconds, read once (and on PGPOOL SET): the hot path must not look settings up per read.
    var clientIdleLimit: Int
    /// PGPOOL SET values of this session.
    var sessionSettings = SessionSettings()
    /// `reset_query_list`, split once.
    var resetQueries: [String] { configuration.resetQueries }
    let id: Int
    let logger: Logger
    /// The login's state machine, boxed and dropped once the session relays: it holds the authentication
    /// environment, 320 bytes an idle client no longer needs.
    private final class Login {
        var machine: SessionStateMachine
        init(_ machine: SessionStateMachine) { self.machine = machine }
    }
    private var login: Login?
    var phase: Phase = .queued
    var context: ChannelHandlerContext?
    private var decoder = FrameDecoder(mode: .startup)
    /// Startup and authentication bytes.
    var cumulation = ByteBuffer()
    /// Client bytes after authentication that are not sent yet (an incomplete unit, or a held one).
    var input = ByteBuffer()
    /// The primary link and the load-balance link (nil when the session has none, or no longer uses it);
    /// after login they follow `relay`'s links.
    var links: InlineArray<2, BackendConnection?> = [nil, nil]
    /// Everything the relay decides after login (pure).
    var relay = RelayStateMachine.notStarted
    /// Catalog lookups sent to the primary, in order, and those waiting for the primary to be idle.
    var pendingCaptures: [CatalogLookup] = []  // rarely more than one: an array costs nothing while empty
    var lookupsToSend: [CatalogLookup] = []
    var linkNeedsFlush: InlineArray<2, Bool> = [false, false]
    var activity: SessionActivity?
    var startup: StartupMessage?
    /// pool_mode = transaction (read once): links go back to the pool between transactions.
    let transactionPooling: Bool
    let maxPreparedStatements: Int
    /// Transaction pooling: why the session keeps its backends (nil: it does not).
    var pin: SessionPin?
    /// Transaction pooling: the client's prepared statements, defined again on each backend that needs them.
    var statementBook = ClientStatements()
    /// Transaction pooling: links are being borrowed; input waits.
    var acquiring = false
    /// The session's load-balance node, chosen at login (its link may come and go in transaction mode).
    var loadBalanceNodeID: Int?
    /// The secret poold logs in to backends with, for connections opened after login.
    var leaseSecret: PasswordSecret?
    /// The startup-packet part of this session's pool keys (`poolKey`), built once.
    var poolKeyParameters: String?
    /// The key the client gets in BackendKeyData: the real pid of the primary-link backend (as Pgpool-II
    /// hands out the main backend's pid, so `pg_backend_pid()`, NOTIFY pids and `pg_terminate_backend` agree)
    /// with poold's own secret; a CancelRequest with both maps to this session's backends.
    private var ownKey: BackendKey
    /// This session's cancel targets, and the key they are registered under (nil: not yet).
    private let cancelTargets = CancelTargets()
    private var registeredKey: BackendKey?
    var pendingRead = false
    private var admitted = false
    private var authTimer: Scheduled<Void>?
    var idleTimer: Scheduled<Void>?
    /// Set when num_init_children − reserved_connections is reached: answered after the startup packet,
    /// as PostgreSQL answers "too many clients".
    private var refused = false
    /// The TLS contexts as of the session's start (a reload with new certificates reaches new sessions only).
    let tls: TLSContexts

    init(runtime: Runtime, pool: BackendPool, config snapshot: ConfigSnapshot, clientAddress: ClientAddress, logger: Logger) {
        let config = snapshot.value
        self.runtime = runtime
        self.pool = pool
        self.configuration = snapshot
        self.routing = runtime.routing
        self.clientIdleLimit = config.clientIdleLimit
        self.transactionPooling = config.transactionPooling
        self.maxPreparedStatements = config.maxPreparedStatements
        self.id = runtime.makeID()
        self.logger = logger
        let auth = runtime.auth
        tls = runtime.tls
        let environment = SessionEnvironment(
            hba: config.enablePoolHBA ? (auth.hba ?? PoolHBA(rules: [])) : nil, passwd: auth.passwd,
            allowClearTextFrontendAuth: config.allowClearTextFrontendAuth, clientAddress: clientAddress,
            tlsAvailable: tls.server != nil && clientAddress != .unixSocket,
            scramKeys: { [runtime] u, p in runtime.scramKeys(user: u, password: p) })
        // One draw from the system generator covers salt, nonce and cancel key.
        let bytes = SecureRandom.bytes(32)
        let randomness = SessionRandomness(md5Salt: Array(bytes[0..<4]), serverNonce: Base64.encode(bytes[4..<22]))
        self.login = Login(SessionStateMachine(environment: environment, randomness: randomness))
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
            refused = true
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

    private var isClosed: Bool { if case .closed = phase { return true } else { return false } }

    func channelInactive(context: ChannelHandlerContext) {
        let old = phase
        phase = .closed
        authTimer?.cancel()
        idleTimer?.cancel()
        switch old {
        case .relaying:
            // Vanished without Terminate: its backends are not reused. After Terminate the relay keeps
            // waiting for the replies due, then resets the backends.
            execute(relay.clientVanished())
        case .negotiating:
            dropLinks()
        case .queued, .closed:
            break
        }
        if let registeredKey { runtime.unregister(registeredKey) }
        registeredKey = nil
        runtime.unregister(activity: id)
        if admitted { admitted = false; runtime.leave() } else { runtime.abandon(id: id) }
        if config.bool("log_disconnections") { logger.info("client disconnected", metadata: ["client_id": "\(id)"]) }
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if case .queued = phase { pendingRead = true; return }
        if relay.state == .holding || !linksWritable { pendingRead = true; return }
        context.read()
    }

    /// The client drained its socket: let the backends deliver more (backpressure).
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { for i in links.indices { links[i]?.resumeRead() } }
        context.fireChannelWritabilityChanged()
    }

    func resumeRead() {
        if pendingRead, relay.state == .relaying, let context, case .relaying = phase { pendingRead = false; context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated)? = event as? TLSUserEvent {
            return tlsHandshakeCompleted(context: context, applicationProtocol: negotiated)
        }
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
        for link in [Link.primary, .loadBalance] where links[link.rawValue]?.node.id == id {
            execute(relay.nodeDetached(link))
            return
        }
        // A load-balance link not open now (transaction pooling between transactions, or a session that has
        // not read yet): reads stay on the primary. Transaction pooling replaces a lost primary at the next
        // transaction.
        if case .relaying = phase, loadBalanceNodeID == id, links[1] == nil, relay.has(.loadBalance) {
            execute(relay.nodeDetached(.loadBalance))
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
            // While poold answers a SHOW (or the relay holds), bytes wait in `input`.
            if input.readableBytes == 0 { input = buffer } else { input.writeImmutableBuffer(buffer) }
            if idleTimer != nil { idleTimer?.cancel(); idleTimer = nil }
            processInput()
        case .negotiating:
            cumulation.writeImmutableBuffer(buffer)
            negotiate()
        case .queued, .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushLinks()
    }

    private func negotiate() {
        // A startup packet's length never starts with 0x16: that byte opens a TLS handshake record.
        if decoder.mode == .startup, login?.machine.encrypted == false, cumulation.readableBytesView.first == 0x16 {
            loginEvent { $0.directTLSRequested() }
            return
        }
        do {
            while case .negotiating = phase, let frame = try decoder.next(from: &cumulation) {
                if frame.id == 0 {
                    let message = try FrontendMessage.decode(frame)
                    if case .startup(let s) = message {
                        if refused {
                            sendAndClose(ProxyError(.tooManyConnections, "Sorry, too many clients already").fields)
                            return
                        }
                        startup = s
                        decoder.mode = .typed
                    }
                    loginEvent { $0.startupPacketReceived(message) }
                } else if frame.id == UInt8(ascii: "p") {
                    loginEvent { $0.passwordReceived(frame.body) }
                } else if frame.id == UInt8(ascii: "X") {
                    context?.close(promise: nil)
                    return
                } else {
                    loginEvent { $0.unexpectedMessageReceived(id: frame.id) }
                }
            }
            cumulation.discardReadBytes()
        } catch let e as WireError {
            protocolViolation(e.description)
        } catch {
            protocolViolation("\(error)")
        }
    }

    // MARK: - Actions

    /// Feeds one event to the login state machine and runs its action; after the login there is none.
    func loginEvent(_ event: (inout SessionStateMachine) -> SessionStateMachine.Action) {
        guard let login else { return }
        run(event(&login.machine))
    }

    func run(_ action: SessionStateMachine.Action) {
        logger.trace("run action", metadata: ["client_id": "\(id)", "action": "\(action)"])
        switch action {
        case .wait:
            break
        case .refuseEncryption:
            var out = ByteBuffer()
            out.writeInteger(UInt8(ascii: "N"))
            context?.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .acceptEncryption:
            startTLS(direct: false)
        case .startDirectTLS:
            startTLS(direct: true)
        case .drop:
            phase = .closed
            context?.close(promise: nil)
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
            for l in heldLinks { release(l) }
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
        login = nil
        relay = RelayStateMachine(primaryNode: backend.node.id, loadBalanceNode: loadBalanceNodeID, policy: routing.policy,
                                  traceTempTables: routing.traceTempTables, readYourWrites: routing.readYourWrites,
                                  transactionPooling: transactionPooling)
        backend.lease(to: self, as: .primary)
        links[1]?.lease(to: self, as: .loadBalance)
        let activity = SessionActivity(id: id, database: startup?.database ?? "", user: startup?.user ?? "")
        self.activity = activity
        runtime.register(activity)
        linksChanged()
        if clientIdleLimit > 0 { armIdleTimer() }
        let early = cumulation
        cumulation = ByteBuffer()
        if early.readableBytes > 0 {
            input = early
            processInput()
            flushLinks()
        } else {
            // An idle client keeps nothing of its login (transaction pooling: a few KB per client).
            cumulation = ByteBuffer()
        }
        detachIfIdle()
    }

    /// Cancel targets and SHOW pool_pools follow the links the session holds.
    /// The session's load-balance node, its link open or not yet (the primary when reads stay there).
    var sessionLoadBalanceNode: Int? {
        links[1]?.node.id ?? (relay.has(.loadBalance) ? loadBalanceNodeID : nil) ?? links[0]?.node.id ?? primary?.id
    }

    /// The links the session holds now, primary first.
    var heldLinks: [BackendConnection] {
        var held: [BackendConnection] = []
        for i in links.indices { if let l = links[i] { held.append(l) } }
        return held
    }

    /// No held link's socket is full.
    private var linksWritable: Bool {
        for i in links.indices { if let l = links[i], !l.isWritable { return false } }
        return true
    }

    func linksChanged() {
        let held = heldLinks
        let targets = held.compactMap { c in c.key.map { CancelTarget(host: c.node.hostname, port: c.node.port, key: $0) } }
        cancelTargets.set(targets)
        if registeredKey != ownKey, !isClosed {
            if let registeredKey { runtime.unregister(registeredKey) }
            runtime.register(ownKey, targets: cancelTargets)
            registeredKey = ownKey
        }
        let balance = sessionLoadBalanceNode
        activity?.update(loadBalanceNode: .some(balance),
                         backends: held.map {
                             SessionRow.Backend(node: $0.node.id, backendPID: $0.key?.processID ?? 0,
                                                connectedAt: $0.connectedAtText, leaseCount: $0.leaseCount)
                         })
    }

    // MARK: - Ending

    /// How long a session that sent Terminate waits for replies still due (a long query, a COPY TO
    /// STDOUT) before its backends are closed instead of reset.
    static let terminatingLimit: TimeAmount = .seconds(30)

    /// The client sent Terminate: the relay closes what would wait forever and resets the rest once their
    /// replies are in (bounded by `terminatingLimit`).
    func clientTerminated() {
        execute(relay.clientTerminated())
        if relay.state == .terminating, let context {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: Self.terminatingLimit) {
                let s = loopBound.value
                guard s.relay.state == .terminating else { return }
                s.logger.info("replies to a client that left did not come; closing its backends", metadata: ["client_id": "\(s.id)"])
                s.execute(s.relay.terminatingTimedOut())
            }
        }
        context?.close(promise: nil)
    }

    /// Closes every backend without reuse (unclean end).
    func dropLinks() {
        if case .relaying = phase { execute(relay.abort()) }
        for l in heldLinks { l.terminate() }
        links = [nil, nil]
        abandonLookups()
    }

    /// Lookups this session will not finish: other sessions may ask again.
    func abandonLookups() {
        for lookup in lookupsToSend + pendingCaptures {
            logger.debug("catalog lookup abandoned", metadata: ["functions": "\(lookup.functions)", "relations": "\(lookup.relations)"])
            runtime.learn(functions: lookup.functions, relations: lookup.relations, rows: [], failed: true)
        }
        lookupsToSend.removeAll()
        pendingCaptures.removeAll()
    }

    /// Resets and caches the backend, or closes it when it must not be reused.
    func release(_ connection: BackendConnection) {
        if transactionPooling { return releaseTransactional(connection) }
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
            guard case .relaying = s.phase, s.relay.state == .relaying, s.relay.isQuiet else { return }
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
