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
        // A live probe is bounded by health_check_timeout as well, so one hanging node cannot stall the table.
        let hc = config.int("health_check_timeout")
        let ms = min(max(1000, config.int("connect_timeout")), hc > 0 ? hc * 1000 : Int.max)
        let timeout = TimeAmount.milliseconds(Int64(ms))
        func secret(_ user: String, _ password: String) -> PasswordSecret? {
            passwd.secret(user: user, configured: password)
        }
        func string(_ name: String, _ node: Int, _ fallback: String) -> String {
            let v = config.value(name, node: node)?.description ?? ""
            return v.isEmpty ? fallback : v
        }
        let srPeriod = config.int("sr_check_period")
        let srUser = config.string("sr_check_user")
        let srDatabase = config.string("sr_check_database")
        let srSecret = secret(srUser, config.string("sr_check_password"))

        let statusFutures: [EventLoopFuture<(String, String)>] = backends.map { node in
            let period = Int(config.value("health_check_period", node: node.id)?.description ?? "0") ?? 0
            let pgStatus: EventLoopFuture<String>
            if period == 0 {
                pgStatus = eventLoop.makeSucceededFuture("unknown")
            } else {
                let user = string("health_check_user", node.id, "nobody")
                pgStatus = BackendProbe.query("SELECT 1", node: node, user: user,
                                              database: string("health_check_database", node.id, "postgres"),
                                              secret: secret(user, string("health_check_password", node.id, "")),
                                              eventLoop: eventLoop, timeout: timeout, tls: runtime.tls)
                    .map { _ in "up" }.recover { _ in "down" }
            }
            return pgStatus.flatMap { status -> EventLoopFuture<(String, String)> in
                guard srPeriod > 0, status == "up" else { return eventLoop.makeSucceededFuture((status, "unknown")) }
                return BackendProbe.query("SELECT pg_catalog.pg_is_in_recovery()", node: node, user: srUser,
                                          database: srDatabase, secret: srSecret, eventLoop: eventLoop, timeout: timeout, tls: runtime.tls)
                    .map { rows in
                        let r = rows.first?.first ?? nil
                        return (status, r == "t" ? "standby" : r == "f" ? "primary" : "unknown")
                    }
                    .recover { _ in (status, "unknown") }
            }
        }
        let replication: EventLoopFuture<[Int: StandbyReplication]>
        if srPeriod > 0, let primary {
            replication = ReplicationProbe.measure(config: config, passwd: passwd, primary: primary, eventLoop: eventLoop, tls: runtime.tls)
        } else {
            replication = eventLoop.makeSucceededFuture(runtime.replication)
        }
        let byTime = config.int("delay_threshold_by_time") > 0
        let counters = runtime.statistics.snapshot
        let cluster = runtime.cluster
        return EventLoopFuture.whenAllSucceed(statusFutures, on: eventLoop).and(replication).map { statuses, standbys in
            backends.enumerated().map { index, node in
                let (pgStatus, pgRole) = statuses[index]
                let isPrimary = node.id == primary
                let standby = standbys[node.id]
                return PoolNodeRow(
                    nodeID: node.id, hostname: node.hostname, port: node.port, status: cluster.status(of: node.id).rawValue,
                    pgStatus: pgStatus,
                    weight: weights[index], role: isPrimary ? "primary" : "standby", pgRole: pgRole,
                    selectCount: UInt64(counters[node.id]?.select ?? 0),
                    isLoadBalanceNode: node.id == sessionNode,
                    replicationDelay: isPrimary ? "0" : ReplicationCheck.delayText(standby, byTime: byTime),
                    replicationState: isPrimary ? "" : standby?.state ?? "",
                    replicationSyncState: isPrimary ? "" : standby?.syncState ?? "",
                    lastStatusChange: formatted(Date(timeIntervalSince1970: cluster.node(node.id)?.lastStatusChange ?? 0)))
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
