/// Result tables built from the configuration: SHOW pool_status, PGPOOL SHOW, SHOW pool_health_check_stats.
public enum ConfigTables {
    public static let itemColumns = ["item", "value", "description"]

    /// Every setting as item | value | description, then eight rows per backend, as Pgpool-II's SHOW pool_status.
    public static func poolStatus(_ config: PoolConfiguration, backendStatus: (Int) -> String = { _ in "up" },
                                  standbyDelay: (Int) -> UInt64 = { _ in 0 }) -> [[String]] {
        var rows = Settings.all.filter { $0.indexed == .no }.map { [$0.name, $0.shown(config.values[$0.name]), $0.doc] }
        for b in config.backends {
            rows += backendRows(b, status: backendStatus(b.id), delay: standbyDelay(b.id))
        }
        return rows
    }

    static func backendRows(_ b: BackendConfig, status: String, delay: UInt64 = 0) -> [[String]] {
        var flags = [b.flags.contains(.disallowToFailover) ? "DISALLOW_TO_FAILOVER" : "ALLOW_TO_FAILOVER"]
        if b.flags.contains(.alwaysPrimary) { flags.append("ALWAYS_PRIMARY") }
        return [
            ["backend_hostname\(b.id)", b.hostname, "backend #\(b.id) hostname"],
            ["backend_port\(b.id)", String(b.port), "backend #\(b.id) port number"],
            ["backend_weight\(b.id)", ShowResult.fixed6(b.weight), "weight of backend #\(b.id)"],
            ["backend_data_directory\(b.id)", b.dataDirectory, "data directory for backend #\(b.id)"],
            ["backend_status\(b.id)", status, "status of backend #\(b.id)"],
            ["standby_delay\(b.id)", String(delay), "standby delay of backend #\(b.id)"],
            ["backend_flag\(b.id)", flags.joined(separator: "|"), "backend #\(b.id) flag"],
            ["backend_application_name\(b.id)", b.applicationName, "application_name for backend #\(b.id)"],
        ]
    }

    /// PGPOOL SHOW: one parameter (column named after it), or ALL / a group as item | value | description.
    /// Returns nil for an unknown parameter.
    public static func pgpoolShow(_ name: String, config: PoolConfiguration,
                                  status: (Int) -> String = { _ in "up" }) -> (columns: [String], rows: [[String]])? {
        let lower = name.lowercased()
        let groups = ["all": nil, "backend": "backends", "watchdog": "watchdog", "heartbeat": "watchdog",
                      "health_check": "health_check"] as [String: String?]
        if let group = groups[lower] {
            var rows: [[String]] = []
            for d in Settings.all where d.indexed == .no && (group == nil || d.category == group!) {
                if lower == "heartbeat", !d.name.contains("heartbeat") { continue }
                rows.append([d.name, d.shown(config.values[d.name]), d.doc])
            }
            if lower == "all" || lower == "backend" {
                for b in config.backends { rows += backendRows(b, status: status(b.id)) }
            }
            return (itemColumns, rows)
        }
        if let (d, index, _) = Settings.lookup(lower) {
            if let index, d.category == "backends" {
                guard let b = config.backends.first(where: { $0.id == index }),
                      let row = backendRows(b, status: status(b.id)).first(where: { $0[0] == "\(d.name)\(index)" }) else { return nil }
                return ([lower], [[row[1]]])
            }
            let v = index.map { config.value(d.name, node: $0) } ?? config.values[d.name]
            return ([lower], [[d.shown(v)]])
        }
        return nil
    }

    public static let healthCheckStatsColumns = [
        "node_id", "hostname", "port", "status", "role", "last_status_change", "total_count", "success_count",
        "fail_count", "skip_count", "retry_count", "average_retry_count", "max_retry_count", "max_duration",
        "min_duration", "average_duration", "last_health_check", "last_successful_health_check",
        "last_skip_health_check", "last_failed_health_check",
    ]

    /// SHOW pool_health_check_stats: counters since start, durations in milliseconds, times by `format`
    /// (`%F %T`), empty when never.
    public static func healthCheckStats(_ config: PoolConfiguration, cluster: ClusterState, stats: [Int: HealthCheckStats],
                                        format: (Double) -> String) -> [[String]] {
        config.backends.map { b in
            let s = stats[b.id] ?? HealthCheckStats()
            func time(_ t: Double) -> String { t > 0 ? format(t) : "" }
            return [String(b.id), b.hostname, String(b.port), cluster.status(of: b.id).rawValue,
                    b.id == cluster.primary ? "primary" : "standby", format(cluster.node(b.id)?.lastStatusChange ?? 0),
                    String(s.total), String(s.success), String(s.fail), String(s.skip), String(s.retry),
                    ShowResult.fixed6(s.averageRetry), String(s.maxRetry), String(Int(s.maxDuration.rounded())),
                    String(Int(s.minDuration.rounded())), ShowResult.fixed6(s.averageDuration), time(s.lastCheck),
                    time(s.lastSuccess), time(s.lastSkip), time(s.lastFailure)]
        }
    }
}
