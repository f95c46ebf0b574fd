import Foundation
import NIOCore
import Shared

/// SHOW pool_* and PGPOOL SHOW/SET/RESET, answered by poold itself on the SQL port.
extension ClientSession {
    func answer(_ command: ShowCommand) {
        guard let context else { return }
        showStatus(.executing)
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
                                              sessionNode: sessionLoadBalanceNode, eventLoop: loop)
                .map { ShowResult.messages(columns: ShowResult.poolNodesColumns, rows: ShowResult.poolNodes($0)) }
        case .poolStatus:
            let replication = runtime.replication
            let cluster = runtime.cluster
            result = table(ConfigTables.itemColumns,
                           ConfigTables.poolStatus(effective, backendStatus: { cluster.status(of: $0).rawValue }, standbyDelay: { replication[$0]?.delayBytes ?? 0 }))
        case .poolHealthCheckStats:
            result = table(ConfigTables.healthCheckStatsColumns,
                           ConfigTables.healthCheckStats(effective, cluster: runtime.cluster, stats: runtime.healthStats,
                                                         format: { PoolNodesReporter.formatted(Date(timeIntervalSince1970: $0)) }))
        case .poolProcesses:
            let rows = runtime.sessionActivities.map { $0.row(PoolNodesReporter.formatted) }
            result = table(ActivityTables.processColumns, ActivityTables.processes(rows))
        case .poolPools:
            let rows = runtime.sessionActivities.map { $0.row(PoolNodesReporter.formatted) }
            result = table(ActivityTables.poolColumns, ActivityTables.pools(rows, nodes: config.backends.map(\.id)))
        case .poolBackendStats:
            result = table(ActivityTables.backendStatsColumns,
                           ActivityTables.backendStats(config.backends, primary: primary?.id, counters: runtime.statistics.snapshot))
        case .pgpoolShow(let name):
            let cluster = runtime.cluster
            if let t = ConfigTables.pgpoolShow(name, config: effective, status: { cluster.status(of: $0).rawValue }) {
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
            guard case .relaying = session.phase, session.relay.state == .answering, let context = session.context else { return }
            var out = context.channel.allocator.buffer(capacity: 1024)
            switch outcome {
            case .success(let messages):
                for m in messages { m.encode(into: &out) }
            case .failure(let error as ProxyError):
                error.backendMessage.encode(into: &out)
            case .failure(let error):
                ProxyError(.internalError, "could not collect node information: \(error)").backendMessage.encode(into: &out)
            }
            let status = session.relay.router.status[0]
            BackendMessage.readyForQuery(status).encode(into: &out)
            session.showStatus(status == .idle ? .idle : .idleInTransaction)
            context.writeAndFlush(session.wrapOutboundOut(out), promise: nil)
            session.relay.showAnswered()
            if session.clientIdleLimit > 0 { session.armIdleTimer() }
            session.processInput()
            session.flushLinks()
            session.resumeRead()
        }
    }

    func sessionSettingChanged(_ error: ProxyError?, tag: String, loop: EventLoop) -> EventLoopFuture<[BackendMessage]> {
        if let error { return loop.makeFailedFuture(error) }
        let limit = sessionSettings.applied(to: config).clientIdleLimit
        if limit != clientIdleLimit {
            clientIdleLimit = limit
            idleTimer?.cancel()
            idleTimer = nil
        }
        return loop.makeSucceededFuture([.commandComplete(tag)])
    }

}
