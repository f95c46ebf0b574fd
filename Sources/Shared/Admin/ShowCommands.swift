import NIOCore

/// The SQL-level admin commands poold answers itself on the client port, as Pgpool-II does.
public enum ShowCommand: Equatable, Sendable {
    case poolNodes
    case poolVersion
    /// SHOW pool_status: the configuration as item | value | description.
    case poolStatus
    case poolHealthCheckStats
    case poolProcesses
    case poolPools
    case poolBackendStats
    /// PGPOOL SHOW name | ALL | backend | watchdog | heartbeat | health_check.
    case pgpoolShow(String)
    /// PGPOOL SET name {TO|=} value | DEFAULT (nil).
    case pgpoolSet(String, String?)
    /// PGPOOL RESET name | ALL.
    case pgpoolReset(String)

    /// Recognises `SHOW pool_nodes` / `show POOL_VERSION;` (one statement, simple protocol).
    public static func parse(_ sql: String) -> ShowCommand? {
        let lexed = SQLLexer.lex(sql)
        guard lexed.statements.count == 1, !lexed.unterminated else { return nil }
        let t = lexed.statements[0]
        if t.count == 3, t[0].word == "pgpool", t[1].word == "show", let name = t[2].name {
            return .pgpoolShow(name)
        }
        if t.count == 3, t[0].word == "pgpool", t[1].word == "reset", let name = t[2].name {
            return .pgpoolReset(name)
        }
        if t.count == 5, t[0].word == "pgpool", t[1].word == "set", let name = t[2].name,
           t[3].word == "to" || t[3] == .op("=") {
            switch t[4] {
            case .word("default"): return .pgpoolSet(name, nil)
            case .word(let w): return .pgpoolSet(name, w)
            case .string(let v), .number(let v): return .pgpoolSet(name, v)
            default: return nil
            }
        }
        guard t.count == 2, t[0].word == "show", let name = t[1].word else { return nil }
        switch name {
        case "pool_nodes": return .poolNodes
        case "pool_version": return .poolVersion
        case "pool_status": return .poolStatus
        case "pool_health_check_stats": return .poolHealthCheckStats
        case "pool_processes": return .poolProcesses
        case "pool_pools": return .poolPools
        case "pool_backend_stats": return .poolBackendStats
        default: return nil
        }
    }

    /// Cheap pre-check on a Query body before lexing: does it start (after blanks) with "show pool_" or "pgpool "?
    public static func mightBeShowPool(_ body: some Collection<UInt8>) -> Bool {
        // Almost every statement fails on its first letter: only s/S and p/P need the full test.
        var i = body.startIndex
        while i != body.endIndex, body[i] == 0x20 || body[i] == 0x09 || body[i] == 0x0A || body[i] == 0x0D { i = body.index(after: i) }
        guard i != body.endIndex else { return false }
        switch body[i] | 0x20 {
        case UInt8(ascii: "s"): return startsWith(body, "show pool_")
        case UInt8(ascii: "p"): return startsWith(body, "pgpool ")
        default: return false
        }
    }

    /// `text` is a literal: its bytes are read in place (a `SELECT …` reaches here on every statement).
    private static func startsWith(_ body: some Collection<UInt8>, _ text: StaticString) -> Bool {
        text.withUTF8Buffer { prefix in
            var i = body.startIndex
            while i != body.endIndex, body[i] == 0x20 || body[i] == 0x09 || body[i] == 0x0A || body[i] == 0x0D { i = body.index(after: i) }
            for p in prefix {
                guard i != body.endIndex else { return false }
                let c = body[i]
                guard c == p || (c >= 65 && c <= 90 && c + 32 == p) else { return false }
                i = body.index(after: i)
            }
            return true
        }
    }
}

/// One row of `SHOW pool_nodes`, already in Pgpool-II's text formats.
public struct PoolNodeRow: Equatable, Sendable {
    public var nodeID: Int
    public var hostname: String
    public var port: Int
    /// poold's view: up / waiting / down / quarantine / unused.
    public var status: String
    /// Live probe: up / down / unknown (health_check_period = 0).
    public var pgStatus: String
    public var weight: Double
    public var role: String
    /// Live pg_is_in_recovery(): primary / standby / unknown.
    public var pgRole: String
    public var selectCount: UInt64
    public var isLoadBalanceNode: Bool
    /// Bytes behind the primary, or `%.6f second(s)` when measured by time; `0` for the primary.
    public var replicationDelay: String
    public var replicationState: String
    public var replicationSyncState: String
    /// `YYYY-MM-DD HH:MM:SS`.
    public var lastStatusChange: String

    public init(nodeID: Int, hostname: String, port: Int, status: String, pgStatus: String, weight: Double, role: String,
                pgRole: String, selectCount: UInt64, isLoadBalanceNode: Bool, replicationDelay: String,
                replicationState: String, replicationSyncState: String, lastStatusChange: String) {
        self.nodeID = nodeID
        self.hostname = hostname
        self.port = port
        self.status = status
        self.pgStatus = pgStatus
        self.weight = weight
        self.role = role
        self.pgRole = pgRole
        self.selectCount = selectCount
        self.isLoadBalanceNode = isLoadBalanceNode
        self.replicationDelay = replicationDelay
        self.replicationState = replicationState
        self.replicationSyncState = replicationSyncState
        self.lastStatusChange = lastStatusChange
    }
}

/// Result sets in Pgpool-II's wire shape: every column text, type OID 0, typlen −1, attnum = column index.
public enum ShowResult {
    public static let poolNodesColumns = [
        "node_id", "hostname", "port", "status", "pg_status", "lb_weight", "role", "pg_role", "select_cnt",
        "load_balance_node", "replication_delay", "replication_state", "replication_sync_state", "last_status_change",
    ]

    public static func poolNodes(_ rows: [PoolNodeRow]) -> [[String]] {
        rows.map { r in
            [String(r.nodeID), r.hostname, String(r.port), r.status, r.pgStatus, fixed6(r.weight), r.role, r.pgRole,
             String(r.selectCount), r.isLoadBalanceNode ? "true" : "false", r.replicationDelay,
             r.replicationState, r.replicationSyncState, r.lastStatusChange]
        }
    }

    public static func poolVersion(_ version: String) -> (columns: [String], rows: [[String]]) {
        (["pool_version"], [["\(version) (poold)"]])
    }

    /// RowDescription, DataRows and CommandComplete `SELECT n`; the executor adds ReadyForQuery.
    public static func messages(columns: [String], rows: [[String]]) -> [BackendMessage] {
        var out: [BackendMessage] = [.rowDescription(columns.enumerated().map { i, name in
            FieldDescription(name: name, tableOID: 0, columnAttribute: Int16(i), typeOID: 0, typeSize: -1, typeModifier: 0, format: 0)
        })]
        for row in rows { out.append(.dataRow(row.map { ByteBuffer(string: $0) })) }
        out.append(.commandComplete("SELECT \(rows.count)"))
        return out
    }

    /// `%f`: six decimals, without Foundation.
    public static func fixed6(_ x: Double) -> String {
        let scaled = (x * 1_000_000).rounded()
        let whole = Int(scaled) / 1_000_000
        let frac = Int(scaled) % 1_000_000
        let f = String(frac)
        return "\(whole)." + String(repeating: "0", count: 6 - f.count) + f
    }

    /// Weights normalised as Pgpool-II shows them (weight / sum of weights).
    public static func normalisedWeights(_ weights: [Double]) -> [Double] {
        let total = weights.reduce(0, +)
        return weights.map { total > 0 ? $0 / total : 0 }
    }

    /// Bytes between two LSNs written as `X/Y` (hex), or nil when one does not parse.
    public static func lsnDistance(primary: String, standby: String) -> UInt64? {
        func value(_ s: String) -> UInt64? {
            let parts = s.split(separator: "/")
            guard parts.count == 2, let hi = UInt64(parts[0], radix: 16), let lo = UInt64(parts[1], radix: 16) else { return nil }
            return hi << 32 | lo
        }
        guard let p = value(primary), let s = value(standby) else { return nil }
        return p > s ? p - s : 0
    }
}
