import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// The local admin socket (share/doc/admin-socket.md): a Unix socket, mode 0600, speaking JSON lines.
/// Each request line is `{"version":1,"command":"…", …}`; each answer is one line
/// `{"ok":true,"version":1,"result":…}` or `{"ok":false,"version":1,"error":"…"}`. `subscribe` turns the
/// connection into a stream of event lines.
struct AdminServer: Service {
    static let protocolVersion = 1
    let runtime: Runtime
    let server: ProxyServer
    let eventLoop: EventLoop
    let logger: Logger

    static func path(_ config: PoolConfiguration) -> String {
        let configured = config.string("admin_socket")
        if !configured.isEmpty { return config.path(configured) }
        let dir = config.string("logdir").isEmpty ? "/tmp" : config.string("logdir")
        return dir + "/poold_admin.sock"
    }

    func run() async throws {
        let path = Self.path(runtime.config)
        try? FileManager.default.removeItem(atPath: path)
        let old = umask(0o077)
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: eventLoop)
                .childChannelInitializer { [runtime, server, logger] ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(AdminConnection(runtime: runtime, server: server, logger: logger))
                    }
                }
                .bind(unixDomainSocketPath: path).get()
        } catch {
            umask(old)
            logger.error("cannot open the admin socket", metadata: ["path": "\(path)", "error": "\(error)"])
            return
        }
        umask(old)
        chmod(path, 0o600)
        logger.info("admin socket listening", metadata: ["path": "\(path)"])
        try? await gracefulShutdown()
        try? await channel.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// One admin connection: reads request lines, answers each with one line.
final class AdminConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let runtime: Runtime
    private let server: ProxyServer
    private let logger: Logger
    private var buffer = ByteBuffer()
    private var subscription: Int?

    init(runtime: Runtime, server: ProxyServer, logger: Logger) {
        self.runtime = runtime
        self.server = server
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer.writeImmutableBuffer(unwrapInboundIn(data))
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let line = buffer.readString(length: newline - buffer.readerIndex) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            handle(line, context: context)
        }
        if buffer.readableBytes > 1 << 20 { context.close(promise: nil) }
        buffer.discardReadBytes()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let subscription { runtime.unsubscribe(subscription) }
        context.fireChannelInactive()
    }

    private func reply(_ context: ChannelHandlerContext, _ object: [String: Any]) {
        var o = object
        o["version"] = AdminServer.protocolVersion
        guard let data = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else { return }
        var out = context.channel.allocator.buffer(capacity: data.count + 1)
        out.writeBytes(data)
        out.writeInteger(UInt8(ascii: "\n"))
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    private func handle(_ line: String, context: ChannelHandlerContext) {
        guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return }
        guard let data = line.data(using: .utf8), let request = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let command = request["command"] as? String else {
            reply(context, ["ok": false, "error": "invalid request: expected one JSON object per line with a \"command\""])
            return
        }
        if let v = request["version"] as? Int, v > AdminServer.protocolVersion {
            reply(context, ["ok": false, "error": "unsupported protocol version \(v) (this poold speaks \(AdminServer.protocolVersion))"])
            return
        }
        let node = request["node"] as? Int
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let respond: @Sendable (AdminResult) -> Void = { result in
            loopBound.eventLoop.execute {
                let (me, ctx) = loopBound.value
                me.reply(ctx, result.ok ? ["ok": true, "result": result.message] : ["ok": false, "error": result.message])
            }
        }
        func needNode() -> Int? {
            guard let node, runtime.config.backends.contains(where: { $0.id == node }) else {
                reply(context, ["ok": false, "error": "\"node\" must be a configured node id"])
                return nil
            }
            return node
        }
        switch command {
        case "nodes":
            let config = runtime.config
            PoolNodesReporter.report(runtime: runtime, config: config, primary: runtime.cluster.primary, sessionNode: nil,
                                     eventLoop: context.eventLoop).whenComplete { result in
                let (me, ctx) = loopBound.value
                switch result {
                case .success(let rows):
                    me.reply(ctx, ["ok": true, "result": rows.map(AdminConnection.json)])
                case .failure(let e):
                    me.reply(ctx, ["ok": false, "error": "\(e)"])
                }
            }
        case "health":
            let stats = runtime.healthStats
            let rows = ConfigTables.healthCheckStats(runtime.config, cluster: runtime.cluster, stats: stats,
                                                     format: { PoolNodesReporter.formatted(Date(timeIntervalSince1970: $0)) })
            reply(context, ["ok": true, "result": rows.map { Dictionary(uniqueKeysWithValues: zip(ConfigTables.healthCheckStatsColumns, $0)) }])
        case "sessions":
            let rows = ActivityTables.processes(runtime.sessionActivities.map { $0.row(PoolNodesReporter.formatted) })
            reply(context, ["ok": true, "result": rows.map { Dictionary(uniqueKeysWithValues: zip(ActivityTables.processColumns, $0)) }])
        case "pools":
            let rows = ActivityTables.pools(runtime.sessionActivities.map { $0.row(PoolNodesReporter.formatted) },
                                            nodes: runtime.config.backends.map(\.id))
            reply(context, ["ok": true, "result": rows.map { Dictionary(uniqueKeysWithValues: zip(ActivityTables.poolColumns, $0)) }])
        case "attach":
            guard let n = needNode() else { return }
            runtime.submit(.attach(n, reply: respond))
        case "detach":
            guard let n = needNode() else { return }
            runtime.submit(.detach(n, waitForClients: request["wait"] as? Bool ?? false, reply: respond))
        case "promote", "switchover":
            guard let n = needNode() else { return }
            runtime.submit(.promote(n, switchover: command == "switchover" || (request["switchover"] as? Bool ?? false), reply: respond))
        case "recover":
            guard let n = needNode() else { return }
            runtime.submit(.recover(n, reply: respond))
        case "reload":
            kill(getpid(), SIGHUP)
            reply(context, ["ok": true, "result": "reload requested"])
        case "stop":
            let mode = request["mode"] as? String ?? "smart"
            reply(context, ["ok": true, "result": "\(mode) stop requested"])
            kill(getpid(), mode == "immediate" ? SIGQUIT : mode == "fast" ? SIGINT : SIGTERM)
        case "subscribe":
            let (id, stream) = runtime.subscribe()
            subscription = id
            reply(context, ["ok": true, "result": "subscribed"])
            let channel = context.channel
            Task {
                for await line in stream {
                    var out = channel.allocator.buffer(capacity: line.utf8.count + 1)
                    out.writeString(line)
                    out.writeInteger(UInt8(ascii: "\n"))
                    try? await channel.writeAndFlush(out)
                }
            }
        case "watchdog":
            guard let report = runtime.watchdogReport.withLock({ $0 }) else {
                reply(context, ["ok": false, "error": "the watchdog is not enabled (use_watchdog = off)"])
                return
            }
            reply(context, ["ok": true, "result": AdminConnection.json(report)])
        case "watchdog_resign":
            guard let hooks = runtime.watchdogHooks.withLock({ $0 }) else {
                reply(context, ["ok": false, "error": "the watchdog is not enabled (use_watchdog = off)"])
                return
            }
            hooks.resign(respond)
        case "watchdog_lifecheck":
            // An external agent's report (wd_lifecheck_method = external; Pgpool-II's wd_cli -I DEAD|ALIVE -n id).
            guard runtime.watchdogReport.withLock({ $0 }) != nil else {
                reply(context, ["ok": false, "error": "the watchdog is not enabled (use_watchdog = off)"])
                return
            }
            guard let member = request["member"] as? Int, let state = request["state"] as? String, state == "alive" || state == "dead" else {
                reply(context, ["ok": false, "error": "\"member\" (a watchdog member id) and \"state\" (\"alive\" or \"dead\") are required"])
                return
            }
            guard let report = runtime.watchdogLifecheck.withLock({ $0 }) else {
                let method = runtime.config.string("wd_lifecheck_method")
                reply(context, ["ok": false, "error": "wd_lifecheck_method is \(method), not external: this member checks the others itself"])
                return
            }
            report(member, state == "alive", respond)
        case "version":
            reply(context, ["ok": true, "result": PooldVersion.version])
        case "status":
            let config = runtime.config
            reply(context, ["ok": true, "result": [
                "version": PooldVersion.version, "uptime_seconds": Int(Date().timeIntervalSince(runtime.startTime)),
                "delay_threshold": config.int("delay_threshold"), "primary": runtime.cluster.primary ?? -1,
                "watchdog": config.bool("use_watchdog"),
            ] as [String: Any]])
        default:
            reply(context, ["ok": false, "error": "unknown command \"\(command)\""])
        }
    }

    /// `pcp_watchdog_info`'s fields (Pgpool-II's names), plus poold's term, lease and last-heard times.
    static func json(_ r: WatchdogReport) -> [String: Any] {
        var out: [String: Any] = Dictionary(uniqueKeysWithValues: r.pcpFields)
        out["Term"] = Int(r.term)
        out["QuorumStatusName"] = r.quorum.name
        out["LeaseLeftSeconds"] = r.leaseLeftSeconds ?? -1
        out["DelegateIP"] = r.delegateIP.isEmpty ? "Not_Set" : r.delegateIP
        if let c = r.cluster {
            out["ClusterViewTerm"] = Int(c.viewTerm)
            out["ClusterViewVersion"] = Int(c.viewVersion)
            out["ClusterPrimary"] = c.primary ?? -1
            out["QuarantinedNodes"] = c.quarantined
        }
        if let c = r.coordination {
            out["Coordination"] = ["Backend": c.backend, "Prefix": c.prefix, "Summary": c.summary,
                                   "Endpoints": c.endpoints.map { ["URL": $0.url, "Healthy": $0.healthy, "Failures": $0.failures,
                                                                   "LastError": $0.lastError] as [String: Any] }] as [String: Any]
        }
        out["WatchdogNodes"] = r.pcpNodes.map { n -> [String: Any] in
            ["ID": n.id, "NodeName": n.name, "HostName": n.hostname, "WdPort": n.wdPort, "PgpoolPort": n.pgpoolPort,
             "State": n.state.rawValue, "StateName": n.state.name, "Priority": n.priority, "Local": n.isLocal,
             "Membership": 0, "MembershipString": "MEMBER",
             "DelegateIP": r.delegateIP.isEmpty ? "Not_Set" : r.delegateIP,
             "LastHeardSecondsAgo": n.lastHeardSecondsAgo ?? -1]
        }
        return out
    }

    /// A node row with SHOW pool_nodes' column names and text values.
    static func json(_ r: PoolNodeRow) -> [String: Any] {
        Dictionary(uniqueKeysWithValues: zip(ShowResult.poolNodesColumns, ShowResult.poolNodes([r])[0]))
    }
}
