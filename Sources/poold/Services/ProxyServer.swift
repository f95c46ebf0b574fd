#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared
import Synchronization

/// The client listener: TCP on listen_addresses:port and the Unix socket `.s.PGSQL.<port>` in every
/// unix_socket_directories entry. On graceful shutdown it stops accepting and waits for sessions to end
/// (pgpool's smart mode); `closeAllSessions` is the fast mode.
final class ProxyServer: Service, Sendable {
    private let runtime: Runtime
    private let group: MultiThreadedEventLoopGroup
    private let pools: [ObjectIdentifier: PoolBox]
    private let listeners = Mutex<[Channel]>([])
    private let sessions = Mutex<[ObjectIdentifier: Channel]>([:])
    private let logger: Logger

    /// A loop's pool, touched only on that loop.
    final class PoolBox: @unchecked Sendable {
        let pool: BackendPool
        init(_ pool: BackendPool) { self.pool = pool }
    }

    init(runtime: Runtime, group: MultiThreadedEventLoopGroup, logger: Logger) {
        self.runtime = runtime
        self.group = group
        self.logger = logger
        let config = runtime.config
        let loops = Array(group.makeIterator())
        let capacity = max(1, config.numInitChildren * config.maxPool / max(1, loops.count))
        let life: TimeAmount? = config.connectionLifeTime > 0 ? .seconds(Int64(config.connectionLifeTime)) : nil
        var pools: [ObjectIdentifier: PoolBox] = [:]
        // transaction_pool_size is per node and user/database pair; each loop gets its share.
        let share = (config.transactionPoolSize + loops.count - 1) / max(1, loops.count)
        for (i, loop) in loops.enumerated() {
            pools[ObjectIdentifier(loop)] = PoolBox(BackendPool(capacity: capacity, lifeTime: life, transactionLimit: share,
                                                                shard: 1 + i % 64))
        }
        self.pools = pools
    }

    /// Binds every listener; throws (and poold exits non-zero) when one cannot be bound.
    func bind() async throws {
        let config = runtime.config
        var bound: [Channel] = []
        let backlog = Int32(min(Int(Int32.max), config.numInitChildren * config.int("listen_backlog_multiplier")))
        let loops = Array(group.makeIterator())
        for address in config.listenAddresses {
            let hosts: [String] = address == "*" ? ["0.0.0.0", "::"] : [address]
            for host in hosts {
                do {
                    if loops.count == 1 {
                        bound.append(try await bootstrap(backlog: backlog).bind(host: host, port: config.port).get())
                    } else {
                        // One listener per event loop (SO_REUSEPORT): the kernel spreads new connections over
                        // the loops and each is served where it was accepted, with no hand-over between
                        // threads (four wake-ups per connection otherwise). A plain bind first, closed at
                        // once, keeps "address already in use" when another process holds the port.
                        try Self.checkPortIsFree(host: host, port: config.port)
                        for loop in loops {
                            bound.append(try await bootstrap(backlog: backlog, on: loop).bind(host: host, port: config.port).get())
                        }
                    }
                    logger.info("listening", metadata: ["address": "\(host):\(config.port)"])
                } catch where host == "::" {
                    logger.debug("no IPv6 listener", metadata: ["error": "\(error)"])
                }
            }
        }
        for dir in config.unixSocketDirectories {
            let path = "\(dir)/.s.PGSQL.\(config.port)"
            let ch = try await bootstrap(backlog: backlog).bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            chmod(path, mode_t(config.int("unix_socket_permissions")))
            bound.append(ch)
            logger.info("listening", metadata: ["address": "\(path)"])
        }
        listeners.withLock { $0 = bound }
    }

    /// Binds a socket without SO_REUSEPORT to host:port and closes it: throws EADDRINUSE as a plain listener
    /// would when another process holds the port. It never listens, so no client can be queued on it (a
    /// probe that listened could accept a client nobody then serves).
    private static func checkPortIsFree(host: String, port: Int) throws {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let fd = Glibc.socket(address.protocolFamily, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        defer { Glibc.close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = address.withSockAddr { Glibc.bind(fd, $0, socklen_t($1)) }
        guard rc == 0 else { throw IOError(errnoCode: errno, reason: "bind(\(host):\(port))") }
    }

    /// A listener's bootstrap: on every loop (Unix sockets, one loop), or accepting on `loop` and serving
    /// its clients there (TCP with several loops, SO_REUSEPORT).
    private func bootstrap(backlog: Int32, on loop: EventLoop? = nil) -> ServerBootstrap {
        let reusePort = ChannelOptions.Types.SocketOption(level: .socket, name: .init(rawValue: SO_REUSEPORT))
        let listener = loop.map { ServerBootstrap(group: $0, childGroup: $0).serverChannelOption(reusePort, value: 1) }
        return (listener ?? ServerBootstrap(group: group))
            .serverChannelOption(.backlog, value: backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP_NODELAY: NIO sets it on the listener and accepted sockets inherit it (no setsockopt and
            // getsockname per connection).
            // Child options are set synchronously in the initializer: ServerBootstrap's childChannelOption
            // chains a future per option per accepted connection (6% of a connect-per-transaction login's CPU).
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let options = channel.syncOptions {
                        try options.setOption(.maxMessagesPerRead, value: 4)
                        // Each client channel keeps its receive buffer between reads: start it small (statements
                        // are short; it doubles after a read that fills it), so idle clients cost little memory.
                        try options.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 128, maximum: 65536))
                    }
                    let address: ClientAddress
                    switch channel.remoteAddress {
                    case .v4(let a)?: address = ClientAddress.parse(a.host) ?? .unixSocket
                    case .v6(let a)?: address = ClientAddress.parse(a.host) ?? .unixSocket
                    default: address = .unixSocket
                    }
                    let pool = self.pools[ObjectIdentifier(channel.eventLoop)]!.pool
                    let session = ClientSession(runtime: self.runtime, pool: pool, config: self.runtime.configSnapshot,
                                                clientAddress: address, logger: self.logger)
                    try channel.pipeline.syncOperations.addHandler(session)
                    let key = ObjectIdentifier(channel)
                    self.sessions.withLock { $0[key] = channel }
                    channel.closeFuture.whenComplete { _ in self.sessions.withLock { _ = $0.removeValue(forKey: key) } }
                }
            }
    }

    /// Every session drops its connections to a detached node (on its own event loop), and so does every pool.
    func nodeDetached(_ id: Int) {
        for ch in sessions.withLock({ Array($0.values) }) {
            ch.pipeline.fireUserInboundEventTriggered(NodeDetached(nodeID: id))
        }
        closeIdle { $0.node.id == id }
    }

    /// Closes matching idle connections in every loop's pool, on that loop.
    private func closeIdle(_ matching: @escaping @Sendable (BackendConnection) -> Bool) {
        for loop in group.makeIterator() {
            if let box = pools[ObjectIdentifier(loop)] { loop.execute { box.pool.closeIdle(matching: matching) } }
        }
    }

    func run() async throws {
        runtime.detachHandler.withLock { $0 = { [weak self] id in self?.nodeDetached(id) } }
        runtime.databaseReleaser.withLock { $0 = { [weak self] name in self?.closeIdle { $0.database == name } } }
        try await withGracefulShutdownHandler {
            try await gracefulShutdown()
        } onGracefulShutdown: {
            self.stopAccepting()
        }
        // Smart shutdown: wait for clients to leave.
        while sessions.withLock({ !$0.isEmpty }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        closePools()
    }

    func stopAccepting() {
        let ls = listeners.withLock { l in defer { l.removeAll() }; return l }
        for l in ls { l.close(promise: nil) }
    }

    /// Fast shutdown: every client gets 57P01 and is closed — by its own session, on its own loop, so the
    /// error never lands in the middle of a message the session is writing.
    func closeAllSessions() {
        for ch in sessions.withLock({ Array($0.values) }) {
            ch.pipeline.fireUserInboundEventTriggered(ShutdownRequested())
        }
    }

    /// Each pool belongs to one loop; it is closed there.
    private func closePools() {
        for loop in group.makeIterator() {
            if let box = pools[ObjectIdentifier(loop)] { loop.execute { box.pool.closeAll() } }
        }
    }
}

/// Sent through every session's pipeline on fast shutdown.
struct ShutdownRequested: Sendable {}

/// Sent through every session's pipeline when a node is detached.
struct NodeDetached: Sendable {
    var nodeID: Int
}
