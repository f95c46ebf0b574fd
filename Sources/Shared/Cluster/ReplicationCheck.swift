/// What the streaming-replication check learned about one standby.
public struct StandbyReplication: Equatable, Sendable {
    public var nodeID: Int
    /// Primary's current WAL LSN minus the standby's replay LSN (nil when either was unavailable).
    public var delayBytes: UInt64?
    /// `pg_stat_replication.replay_lag` in seconds (nil when the primary reports none).
    public var delaySeconds: Double?
    /// `state` / `sync_state` of the primary's pg_stat_replication row for `backend_application_nameN`.
    public var state: String
    public var syncState: String

    public init(nodeID: Int, delayBytes: UInt64?, delaySeconds: Double?, state: String, syncState: String) {
        self.nodeID = nodeID
        self.delayBytes = delayBytes
        self.delaySeconds = delaySeconds
        self.state = state
        self.syncState = syncState
    }
}

/// Pure arithmetic of Pgpool-II's streaming-replication check (reference §4.2): byte delay from LSNs,
/// time delay from replay_lag, state matched by application name, and the log_standby_delay lines.
public enum ReplicationCheck {
    /// The query run on the primary: its LSN and every WAL sender's application name, state, sync state and
    /// replay lag in microseconds. One row per standby (or one row of NULLs when there is none).
    public static let primaryQuery = """
        SELECT pg_catalog.pg_current_wal_lsn()::text, r.application_name, r.state, r.sync_state, \
        (EXTRACT(EPOCH FROM r.replay_lag) * 1000000)::bigint::text \
        FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_stat_replication AS r ON true
        """
    public static let standbyQuery = "SELECT pg_catalog.pg_last_wal_replay_lsn()::text"

    /// Combines the primary's rows (from `primaryQuery`) and each standby's replay LSN.
    public static func compute(backends: [BackendConfig], primary: Int, primaryRows: [[String?]],
                               standbyLSNs: [Int: String]) -> [Int: StandbyReplication] {
        let primaryLSN = primaryRows.first?.first ?? nil
        var out: [Int: StandbyReplication] = [:]
        for node in backends where node.id != primary {
            let row = primaryRows.first { !node.applicationName.isEmpty && $0.count >= 5 && $0[1] == node.applicationName }
            var bytes: UInt64? = nil
            if let primaryLSN, let lsn = standbyLSNs[node.id] {
                bytes = ShowResult.lsnDistance(primary: primaryLSN, standby: lsn)
            }
            let lagMicros = row.flatMap { $0[4] }.flatMap { Double($0) }
            out[node.id] = StandbyReplication(nodeID: node.id, delayBytes: bytes, delaySeconds: lagMicros.map { $0 / 1_000_000 },
                                              state: row.flatMap { $0[2] } ?? "", syncState: row.flatMap { $0[3] } ?? "")
        }
        return out
    }

    /// `replication_delay` as SHOW pool_nodes prints it: bytes, or `%.6f second(s)` when measured by time.
    public static func delayText(_ s: StandbyReplication?, byTime: Bool) -> String {
        guard let s else { return "0" }
        if byTime {
            let secs = s.delaySeconds ?? 0
            return ShowResult.fixed6(secs) + (secs < 2 ? " second" : " seconds")
        }
        return String(s.delayBytes ?? 0)
    }

    /// Standbys beyond `delay_threshold` bytes, or beyond `delay_threshold_by_time` milliseconds of replay_lag
    /// when that is set (it replaces the byte threshold). A standby whose delay could not be measured is not
    /// counted as lagging (Pgpool-II does the same). 0 disables the check.
    public static func laggingNodes(_ statuses: [StandbyReplication], thresholdBytes: Int, thresholdMilliseconds: Int) -> Set<Int> {
        var out: Set<Int> = []
        for s in statuses {
            if thresholdMilliseconds > 0 {
                if let secs = s.delaySeconds, secs * 1000 > Double(thresholdMilliseconds) { out.insert(s.nodeID) }
            } else if thresholdBytes > 0, let bytes = s.delayBytes, bytes > UInt64(thresholdBytes) {
                out.insert(s.nodeID)
            }
        }
        return out
    }

    /// The lines Pgpool-II logs per check for `log_standby_delay` = none | always | if_over_threshold.
    public static func logLines(_ statuses: [StandbyReplication], primary: Int, policy: String, thresholdBytes: Int,
                                thresholdMilliseconds: Int) -> [String] {
        guard policy != "none" else { return [] }
        var lines: [String] = []
        for s in statuses.sorted(by: { $0.nodeID < $1.nodeID }) {
            if thresholdMilliseconds > 0 {
                let secs = s.delaySeconds ?? 0
                let over = secs * 1000 > Double(thresholdMilliseconds)
                if policy == "always" && secs > 0 || policy == "if_over_threshold" && over {
                    lines.append("Replication of node: \(s.nodeID) is behind \(ShowResult.fixed6(secs)) second(s) from the primary server (node: \(primary))")
                }
            } else {
                let bytes = s.delayBytes ?? 0
                let over = thresholdBytes > 0 && bytes > UInt64(thresholdBytes)
                if policy == "always" && bytes > 0 || policy == "if_over_threshold" && over {
                    lines.append("Replication of node: \(s.nodeID) is behind \(bytes) bytes from the primary server (node: \(primary))")
                }
            }
        }
        return lines
    }
}

/// auto_failback (reference §4.4) as a pure decision: a down (not quarantined) standby that streams from the
/// primary again is re-attached, at most once per `interval` seconds per node.
public struct AutoFailback: Sendable {
    /// When each node was last re-attached (seconds since the epoch).
    private var last: [Int: Double] = [:]

    public init() {}

    /// The nodes to attach now; they are remembered as attached at `now`.
    public mutating func due(_ statuses: [Int: StandbyReplication], cluster: ClusterState, now: Double, interval: Double) -> [Int] {
        var out: [Int] = []
        for (id, s) in statuses.sorted(by: { $0.key < $1.key }) where cluster.status(of: id) == .down && s.state == "streaming" {
            if let t = last[id], now - t < interval { continue }
            last[id] = now
            out.append(id)
        }
        return out
    }
}
