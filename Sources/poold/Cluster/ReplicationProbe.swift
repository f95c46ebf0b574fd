import NIOCore
import Shared

/// Runs the streaming-replication check's queries against the primary and every standby (as
/// sr_check_user) and returns what `ReplicationCheck` makes of them.
enum ReplicationProbe {
    static func measure(config: PoolConfiguration, passwd: PoolPasswd, primary: Int,
                        eventLoop: EventLoop, tls: TLSContexts) -> EventLoopFuture<[Int: StandbyReplication]> {
        let user = config.string("sr_check_user")
        let password = config.string("sr_check_password")
        let secret = passwd.secret(user: user, configured: password)
        let database = config.string("sr_check_database")
        let timeout = TimeAmount.milliseconds(Int64(max(1000, config.int("connect_timeout"))))
        let backends = config.backends
        guard let primaryNode = backends.first(where: { $0.id == primary }) else { return eventLoop.makeSucceededFuture([:]) }
        // Standbys first, so the byte delay is never negative by the time the primary is read.
        let standbyFutures = backends.filter { $0.id != primary }.map { node in
            BackendProbe.query(ReplicationCheck.standbyQuery, node: node, user: user, database: database, secret: secret,
                               eventLoop: eventLoop, timeout: timeout, tls: tls)
                .map { rows in (node.id, (rows.first?.first ?? nil)) }
                .recover { _ in (node.id, nil) }
        }
        return EventLoopFuture.whenAllSucceed(standbyFutures, on: eventLoop).flatMap { standby in
            BackendProbe.query(ReplicationCheck.primaryQuery, node: primaryNode, user: user, database: database,
                               secret: secret, eventLoop: eventLoop, timeout: timeout, tls: tls)
                .recover { _ in [] }
                .map { primaryRows in
                    var lsns: [Int: String] = [:]
                    for (id, lsn) in standby { if let lsn { lsns[id] = lsn } }
                    return ReplicationCheck.compute(backends: backends, primary: primary, primaryRows: primaryRows, standbyLSNs: lsns)
                }
        }
    }
}
