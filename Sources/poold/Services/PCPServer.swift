import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// Pgpool-II's PCP port (share/doc/pcp.md), so the real `pcp_*` programs work against poold: TCP on
/// `pcp_listen_addresses:pcp_port` and the Unix socket `<pcp_socket_dir>/.s.PGSQL.<pcp_port>`. Each connection
/// runs a pure `PCPSession`; its commands go through the same request layer as the admin socket.
struct PCPServer: Service {
    let runtime: Runtime
    let group: EventLoopGroup
    let logger: Logger

    func run() async throws {
        let config = runtime.config
        let port = config.int("pcp_port")
        // Taken now: after a logrotate moved the file, /proc would name the moved file.
        let logPath = PCPConnection.outputFile()
        var channels: [Channel] = []
        func bootstrap() -> ServerBootstrap {
            ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { [runtime, logger] ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(PCPConnection(runtime: runtime, logger: logger, logPath: logPath))
                    }
                }
        }
        for address in config.list("pcp_listen_addresses") where !address.isEmpty {
            for host in address == "*" ? ["0.0.0.0", "::"] : [address] {
                do {
                    channels.append(try await bootstrap().bind(host: host, port: port).get())
                    logger.info("PCP listening", metadata: ["address": "\(host):\(port)"])
                } catch {
                    if host != "::" { logger.error("cannot open the PCP port", metadata: ["address": "\(host):\(port)", "error": "\(error)"]) }
                }
            }
        }
        var paths: [String] = []
        for dir in config.list("pcp_socket_dir") where !dir.isEmpty {
            let path = "\(dir)/.s.PGSQL.\(port)"
            // Owner only (Pgpool-II makes it 0777): PCP can stop, detach and promote nodes, so other local users go
            // through pcp_listen_addresses. No umask here: it is process-wide and the admin socket's bind sets it
            // at the same time; connecting needs write permission, which a usual umask (022) never grants others.
            do {
                channels.append(try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get())
                chmod(path, 0o600)
                paths.append(path)
                logger.info("PCP listening", metadata: ["address": "\(path)"])
            } catch {
                logger.error("cannot open the PCP socket", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
        if runtime.auth.pcp.entries.isEmpty {
            logger.warning("pcp.conf is missing or empty: every PCP login fails",
                           metadata: ["file": "\(ConfigFiles.pcpPath(config))"])
        }
        try? await gracefulShutdown()
        for ch in channels { try? await ch.close() }
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
    }
}

/// One PCP connection: bytes into its `PCPSession`, the session's actions out as writes, commands and a close.
final class PCPConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let runtime: Runtime
    private let logger: Logger
    /// The file poold's output went to at start (nil: a terminal or pipe).
    private let logPath: String?
    private var session: PCPSession
    private var context: ChannelHandlerContext?

    init(runtime: Runtime, logger: Logger, logPath: String?) {
        self.runtime = runtime
        self.logger = logger
        self.logPath = logPath
        self.session = PCPSession(users: runtime.auth.pcp, makeSalt: { SecureRandom.bytes(4) })
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(unwrapInboundIn(data).readableBytesView)
        run(session.received(bytes))
    }

    private func run(_ actions: [PCPSession.Action]) {
        guard let context else { return }
        for action in actions {
            switch action {
            case .send(let bytes):
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
            case .sendAndClose(let bytes):
                let done = context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)))
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
                if let e = session.closeReason {
                    logger.warning("PCP connection closed: \(e.message)", metadata: [
                        "detail": "\(e.detail ?? "")", "peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "")"])
                }
            case .execute(let request):
                // Monitoring polls the read-only commands: those at debug, the ones that change something louder.
                logger.log(level: request.changesSomething ? .notice : .debug, "PCP request",
                           metadata: ["request": "\(request.logText)", "user": "\(session.user ?? "")"])
                execute(request, on: context.eventLoop)
            }
        }
    }

    /// Called on this connection's loop once a command has its reply.
    private func finish(_ reply: Result<[UInt8], PCPError>, close: Bool = false) {
        switch reply {
        case .success(let bytes): run(session.completed(bytes, close: close))
        case .failure(let e): run(session.failed(e))
        }
    }

    private func execute(_ request: PCPRequest, on loop: EventLoop) {
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        /// A request-layer answer (any thread) as the reply `kind`, or Pgpool-II's ERROR with our message as DETAIL.
        func respond(_ kind: Character, failure: String) -> @Sendable (AdminResult) -> Void {
            { result in
                loop.execute {
                    loopBound.value.finish(result.ok ? .success(PCPReplies.done(kind)) : .failure(.error(failure, detail: result.message)))
                }
            }
        }
        let config = runtime.config
        let ids = config.backends.map(\.id)
        switch request {
        case .nodeCount:
            finish(.success(PCPReplies.nodeCount(ids.count)))
        case .nodeInfo(let node):
            guard node == -1 || ids.contains(node) else {
                return finish(.failure(.error("informing node info failed", detail: "invalid node ID : \(node)")))
            }
            nodeInfo(node, config: config, loop: loop) { reply in loopBound.value.finish(.success(reply)) }
        case .healthCheckStats(let node):
            let rows = ConfigTables.healthCheckStats(config, cluster: runtime.cluster, stats: runtime.healthStats,
                                                     format: { PoolNodesReporter.formatted(Date(timeIntervalSince1970: $0)) })
            guard node >= 0, node <= ids.count else {
                return finish(.failure(.error("informing health check stats info failed", detail: "invalid node ID \(node)")))
            }
            guard let row = rows.first(where: { $0.first == String(node) }) else {
                return finish(.failure(.error("informing health check stats info failed",
                                              detail: "stats data for node ID \(node) does not exist")))
            }
            finish(.success(PCPReplies.healthCheckStats(row)))
        case .processCount:
            finish(.success(PCPReplies.processCount(runtime.sessionActivities.map(\.id).sorted())))
        case .processInfo(let pid):
            let sessions = runtime.sessionActivities.map { $0.row(PoolNodesReporter.formatted) }
            guard pid == 0 || sessions.contains(where: { $0.id == pid }) else {
                return finish(.failure(.error("informing process info failed", detail: "invalid process ID : \(pid)")))
            }
            let rows = ActivityTables.pools(sessions.filter { pid == 0 || $0.id == pid }, nodes: ids)
                .map { PCPReplies.processInfoRow(poolRow: $0) }
            let size = pid == 0 ? rows.count : max(rows.count, config.maxPool * ids.count)
            finish(.success(PCPReplies.processInfo(rows, arraySize: size)))
        case .poolStatus:
            let cluster = runtime.cluster, replication = runtime.replication
            finish(.success(PCPReplies.poolStatus(ConfigTables.poolStatus(
                config, backendStatus: { cluster.status(of: $0).rawValue }, standbyDelay: { replication[$0]?.delayBytes ?? 0 }))))
        case .watchdogInfo(let node):
            guard let report = runtime.watchdogReport.withLock({ $0 }) else {
                return finish(.failure(.error("PCP: informing watchdog info failed", detail: "watchdog is not enabled")))
            }
            guard let reply = PCPReplies.watchdogInfo(report, node: node) else {
                return finish(.failure(.error("PCP: informing watchdog info failed", detail: "invalid watchdog index")))
            }
            finish(.success(reply))
        case .attach(let node):
            guard ids.contains(node) else {
                return finish(.failure(.error("invalid failback request", detail: "node id : \(node) is not valid")))
            }
            runtime.submit(.attach(node, reply: respond("c", failure: "failback request failed")))
        case .detach(let node, let gracefully):
            guard ids.contains(node) else {
                return finish(.failure(.error("invalid degenerate backend request", detail: "node id : \(node) is not valid")))
            }
            runtime.submit(.detach(node, waitForClients: gracefully, reply: respond("d", failure: "degenerate backend request failed")))
        case .promote(let node, let switchover, let gracefully):
            guard ids.contains(node) else {
                return finish(.failure(.error("could not process promote request", detail: "node id \(node) is not valid")))
            }
            guard node != runtime.cluster.primary else {
                return finish(.failure(.fatal("invalid promote request",
                                              detail: "specified node is already primary node, can't promote node id \(node)")))
            }
            runtime.submit(.promote(node, switchover: switchover, waitForClients: gracefully,
                                    reply: respond("d", failure: "promote request failed")))
        case .recover(let node):
            guard ids.contains(node) else {
                return finish(.failure(.error("process recovery request failed", detail: "node id \(node) is not valid")))
            }
            guard node != runtime.cluster.primary else {
                return finish(.failure(.error("process recovery request failed",
                                              detail: "primary server cannot be recovered by online recovery.")))
            }
            runtime.submit(.recover(node, reply: respond("c", failure: "node recovery failed")))
        case .reload(let scope):
            // Scope 'c' with a watchdog: every other member is told to reload too, as Pgpool-II does.
            if scope == .cluster, let hooks = runtime.watchdogHooks.withLock({ $0 }) { hooks.clusterCommand(.reload) }
            kill(getpid(), SIGHUP)
            finish(.success(PCPReplies.done("z")))
        case .logRotate:
            finish(Self.reopenLog(logPath).map { PCPReplies.done("v") })
        case .invalidateQueryCache:
            finish(.failure(.error("query cache is not enabled", detail: "poold has no query cache")))
        case .stop(let mode, let scope):
            let command: WatchdogClusterCommand
            switch PCPRequest.StopMode(rawValue: mode) {
            case .smart?: command = .stop(.smart)
            case .fast?: command = .stop(.fast)
            case .immediate?: command = .stop(.immediate)
            case nil:
                return finish(.failure(.error("PCP: error while processing shutdown request", detail: "invalid shutdown mode \"\(mode)\"")))
            }
            // `t` with a watchdog: every other member stops too; this one waits a moment so the message leaves first.
            let hooks = scope == .cluster ? runtime.watchdogHooks.withLock({ $0 }) : nil
            hooks?.clusterCommand(command)
            finish(.success(PCPReplies.done("t")), close: true)
            loop.scheduleTask(in: .milliseconds(hooks == nil ? 50 : 500)) { kill(getpid(), command.signal) }
        case .setParameter(let name, let value):
            let valid = ["debug5", "debug4", "debug3", "debug2", "debug1", "log", "commerror", "info", "notice", "warning", "error"]
            guard name.lowercased() == "client_min_messages" else {
                return finish(.failure(.error("PCP: set configuration parameter failed", detail: "invalid parameter \"\(name)\"")))
            }
            guard valid.contains(value.lowercased()) else {
                return finish(.failure(.error("PCP: set configuration parameter failed",
                                              detail: "invalid value \"\(value)\" for parameter \"\(name)\"")))
            }
            finish(.success(PCPReplies.done("a")))
        case .noop, .disconnect:
            finish(.success([]))
        }
    }

    /// `pcp_node_info`: SHOW pool_nodes' live rows (PoolNodesReporter) laid out as NodeInfo packets.
    private func nodeInfo(_ node: Int, config: PoolConfiguration, loop: EventLoop, done: @escaping @Sendable ([UInt8]) -> Void) {
        let runtime = runtime
        let cluster = runtime.cluster
        let layout = PCPReplies.NodeInfoLayout(rawValue: config.string("pcp_node_info_layout")) ?? .v43
        let byTime = config.int("delay_threshold_by_time") > 0
        PoolNodesReporter.report(runtime: runtime, config: config, primary: cluster.primary, sessionNode: nil, eventLoop: loop)
            .whenComplete { result in
                let rows = (try? result.get()) ?? []
                let replication = runtime.replication
                let nodes = rows.filter { node == -1 || $0.nodeID == node }.map { r -> PCPReplies.Node in
                    let (digit, quarantined) = PCPReplies.Node.statusDigit(cluster.status(of: r.nodeID))
                    let standby = replication[r.nodeID]
                    let isPrimary = r.nodeID == cluster.primary
                    let delay: UInt64 = isPrimary ? 0 : byTime ? UInt64(max(0, (standby?.delaySeconds ?? 0) * 1e6))
                        : standby?.delayBytes ?? 0
                    return PCPReplies.Node(
                        hostname: r.hostname, port: r.port, status: digit, quarantine: quarantined, pgStatus: r.pgStatus,
                        weight: r.weight, role: isPrimary ? 2 : 3, pgRole: r.pgRole, standbyDelay: delay, delayByTime: byTime,
                        replicationState: r.replicationState, replicationSyncState: r.replicationSyncState,
                        statusChangedTime: UInt64(max(0, cluster.node(r.nodeID)?.lastStatusChange ?? 0)))
                }
                done(PCPReplies.nodeInfo(nodes, arraySize: node == -1 ? config.backends.count : 1, layout: layout))
            }
    }

    /// The regular file stdout is (logdir/poold.log when poold runs in the background), or nil.
    static func outputFile() -> String? {
        var st = stat()
        guard fstat(1, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/1")
    }

    /// `pcp_log_rotate`: open the log file's path again (an external rotation moved the old file away) and point
    /// stdout and stderr at it.
    static func reopenLog(_ path: String?) -> Result<Void, PCPError> {
        guard let file = path else {
            return .failure(.error("PCP: log rotate failed", detail: "poold writes its log to a terminal or pipe, not to a file"))
        }
        let fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        guard fd >= 0 else {
            return .failure(.error("PCP: log rotate failed", detail: "cannot open \(file): \(String(cString: strerror(errno)))"))
        }
        dup2(fd, 1)
        dup2(fd, 2)
        close(fd)
        return .success(())
    }
}

extension PCPRequest {
    /// The request in a log line: the pcp_* program and its arguments.
    var logText: String {
        func scope(_ s: Scope) -> String { s == .cluster ? " -s c" : "" }
        switch self {
        case .nodeCount: return "pcp_node_count"
        case .nodeInfo(let n): return "pcp_node_info -n \(n)"
        case .healthCheckStats(let n): return "pcp_health_check_stats -n \(n)"
        case .processCount: return "pcp_proc_count"
        case .processInfo(let p): return "pcp_proc_info -P \(p)"
        case .poolStatus: return "pcp_pool_status"
        case .watchdogInfo(let n): return "pcp_watchdog_info -n \(n)"
        case .attach(let n): return "pcp_attach_node -n \(n)"
        case .detach(let n, let g): return "pcp_detach_node\(g ? " -g" : "") -n \(n)"
        case .promote(let n, let s, let g): return "pcp_promote_node\(s ? " -s" : "")\(g ? " -g" : "") -n \(n)"
        case .recover(let n): return "pcp_recovery_node -n \(n)"
        case .reload(let s): return "pcp_reload_config" + scope(s)
        case .logRotate(let s): return "pcp_log_rotate" + scope(s)
        case .invalidateQueryCache: return "pcp_invalidate_query_cache"
        case .stop(let m, let s): return "pcp_stop_pgpool -m \(m)" + scope(s)
        case .setParameter(let name, _): return "set \(name)"
        case .noop: return "noop"
        case .disconnect: return "disconnect"
        }
    }

    /// Attach, detach, promote, recovery, reload, log rotation, stop: logged at notice.
    var changesSomething: Bool {
        switch self {
        case .attach, .detach, .promote, .recover, .reload, .logRotate, .stop, .setParameter, .invalidateQueryCache: return true
        case .nodeCount, .nodeInfo, .healthCheckStats, .processCount, .processInfo, .poolStatus, .watchdogInfo, .noop, .disconnect:
            return false
        }
    }
}
