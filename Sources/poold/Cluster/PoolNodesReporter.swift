import Foundation
import NIOCore
import Shared

/// Gathers `SHOW pool_nodes` the way Pgpool-II does: pg_status by a live login as health_check_user
/// (`unknown` when health_check_period is 0), pg_role by pg_is_in_recovery() as sr_check_user (`unknown`
/// when sr_check_period is 0 or the node is not up), replication delay and state from the primary's
/// pg_stat_replication matched by backend_application_nameN.
enum PoolNodesReporter {
    static func report(runtime: Runtime, config: PoolConfiguration, primary: Int?, sessionNode: Int?,
                       eventLoop: EventLoop) -> EventLoopFuture<[PoolNodeRow]> {
        let backends = config.backends
        let weights = ShowResult.normalisedWeights(backends.map(\.weight))
        let passwd = runtime.auth.passwd
        let timeout = TimeAmount.milliseconds(Int64(max(1000, config.int("connect_timeout"))))
        func secret(_ user: String, _ password: String) -> PasswordSecret? {
            password.isEmpty ? passwd.entries[user] : .clear(password)
        }
        func string(_ name: String, _ node: Int, _ fallback: String) -> String {
            let v = config.value(name, node: node)?.description ?? ""
            return v.isEmpty ? fallback : v
        }
        let srPeriod = config.int("sr_check_period")
        let srUser = config.string("sr_check_user")
        let srDatabase = config.string("sr_check_database")
        let srSecret = secret(srUser, config.string("sr_check_password"))

        let statusFutures: [EventLoopFuture<(String, String, String?)>] = backends.map { node in
            let period = Int(config.value("health_check_period", node: node.id)?.description ?? "0") ?? 0
            let pgStatus: EventLoopFuture<String>
            if period == 0 {
                pgStatus = eventLoop.makeSucceededFuture("unknown")
            } else {
                let user = string("health_check_user", node.id, "nobody")
                pgStatus = BackendProbe.query("SELECT 1", node: node, user: user,
                                              database: string("health_check_database", node.id, "postgres"),
                                              secret: secret(user, string("health_check_password", node.id, "")),
                                              eventLoop: eventLoop, timeout: timeout)
                    .map { _ in "up" }.recover { _ in "down" }
            }
            return pgStatus.flatMap { status -> EventLoopFuture<(String, String, String?)> in
                guard srPeriod > 0 else { return eventLoop.makeSucceededFuture((status, "unknown", nil)) }
                let sql = "SELECT pg_catalog.pg_is_in_recovery(), " +
                    "CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END::text"
                return BackendProbe.query(sql, node: node, user: srUser, database: srDatabase, secret: srSecret,
                                          eventLoop: eventLoop, timeout: timeout)
                    .map { rows -> (String, String, String?) in
                        let inRecovery = rows.first?.first ?? nil
                        let role = status == "up" ? (inRecovery == "t" ? "standby" : inRecovery == "f" ? "primary" : "unknown") : "unknown"
                        return (status, role, rows.first?.dropFirst().first ?? nil)
                    }
                    .recover { _ in (status, "unknown", nil) }
            }
        }
        let replication: EventLoopFuture<[[String?]]>
        if srPeriod > 0, let p = primary, let node = backends.first(where: { $0.id == p }) {
            replication = BackendProbe.query("SELECT application_name, state, sync_state FROM pg_catalog.pg_stat_replication",
                                             node: node, user: srUser, database: srDatabase, secret: srSecret,
                                             eventLoop: eventLoop, timeout: timeout)
                .recover { _ in [] }
        } else {
            replication = eventLoop.makeSucceededFuture([])
        }
        let since = formatted(runtime.startTime)
        return EventLoopFuture.whenAllSucceed(statusFutures, on: eventLoop).and(replication).map { statuses, replicas in
            let primaryLSN = zip(backends, statuses).first(where: { $0.0.id == primary })?.1.2
            return backends.enumerated().map { index, node in
                let (pgStatus, pgRole, lsn) = statuses[index]
                let isPrimary = node.id == primary
                let replica = replicas.first { !node.applicationName.isEmpty && ($0.first ?? nil) == node.applicationName }
                var delay: UInt64 = 0
                if !isPrimary, let primaryLSN, let lsn, let d = ShowResult.lsnDistance(primary: primaryLSN, standby: lsn) { delay = d }
                return PoolNodeRow(
                    nodeID: node.id, hostname: node.hostname, port: node.port, status: "up", pgStatus: pgStatus,
                    weight: weights[index], role: isPrimary ? "primary" : "standby", pgRole: pgRole, selectCount: 0,
                    isLoadBalanceNode: node.id == sessionNode, replicationDelay: delay,
                    replicationState: isPrimary ? "" : ((replica?.dropFirst().first ?? nil) ?? ""),
                    replicationSyncState: isPrimary ? "" : ((replica?.dropFirst(2).first ?? nil) ?? ""),
                    lastStatusChange: since)
            }
        }
    }

    /// `%F %T` in local time.
    static func formatted(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tmv = tm()
        localtime_r(&t, &tmv)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tmv.tm_year + 1900)-\(two(tmv.tm_mon + 1))-\(two(tmv.tm_mday)) \(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec))"
    }
}
