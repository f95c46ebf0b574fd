import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Shared

/// Every `sr_check_period` seconds measures each standby's delay (bytes and replay_lag) and its
/// pg_stat_replication state, keeps the result in `Runtime` for routing and SHOW, and logs per
/// `log_standby_delay`. Sessions stop reading from a standby beyond delay_threshold.
struct ReplicationCheckService: Service {
    let runtime: Runtime
    let eventLoop: EventLoop
    let logger: Logger

    func run() async throws {
        var failback = AutoFailback()
        while !Task.isCancelled {
            let config = runtime.config
            let period = config.int("sr_check_period")
            if period > 0, let primary = runtime.primaryNode?.id {
                let statuses = try? await ReplicationProbe.measure(config: config, passwd: runtime.auth.passwd,
                                                                    primary: primary, eventLoop: eventLoop, tls: runtime.tls).get()
                if let statuses {
                    runtime.replication = statuses
                    runtime.laggingNodes = ReplicationCheck.laggingNodes(Array(statuses.values),
                                                                         thresholdBytes: config.int("delay_threshold"),
                                                                         thresholdMilliseconds: config.int("delay_threshold_by_time"))
                    // auto_failback (reference §4.4): a down standby streaming again is attached, at most once
                    // per auto_failback_interval.
                    if config.bool("auto_failback") {
                        for id in failback.due(statuses, cluster: runtime.cluster, now: Date().timeIntervalSince1970,
                                               interval: Double(config.int("auto_failback_interval"))) {
                            logger.warning("auto_failback: node streams again; attaching", metadata: ["node_id": "\(id)"])
                            runtime.submit(.attach(id, reply: { [logger] r in logger.info("auto_failback", metadata: ["result": "\(r.message)"]) }))
                        }
                    }
                    for line in ReplicationCheck.logLines(Array(statuses.values), primary: primary,
                                                          policy: config.string("log_standby_delay"),
                                                          thresholdBytes: config.int("delay_threshold"),
                                                          thresholdMilliseconds: config.int("delay_threshold_by_time")) {
                        logger.warning("\(line)", metadata: ["event": "replication.delay"])
                    }
                }
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(max(1, period))) }
            } catch {
                return
            }
        }
    }
}
