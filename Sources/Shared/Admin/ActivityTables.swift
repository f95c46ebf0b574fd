/// Statements and backend errors counted per node since start, for `SHOW pool_nodes`' select_cnt and
/// `SHOW pool_backend_stats`.
public struct NodeCounters: Equatable, Sendable {
    public var select = 0, insert = 0, update = 0, delete = 0, ddl = 0, other = 0
    public var panic = 0, fatal = 0, error = 0
    public init() {}

    public mutating func count(_ category: StatementCategory, _ n: Int = 1) {
        switch category {
        case .select: select += n
        case .insert: insert += n
        case .update: update += n
        case .delete: delete += n
        case .ddl: ddl += n
        case .other: other += n
        }
    }

    /// Adds another shard's counts (poold counts per event loop and sums on read).
    public mutating func add(_ o: NodeCounters) {
        select += o.select; insert += o.insert; update += o.update; delete += o.delete; ddl += o.ddl; other += o.other
        panic += o.panic; fatal += o.fatal; error += o.error
    }

    public mutating func countError(severity: String) {
        switch severity {
        case "PANIC": panic += 1
        case "FATAL": fatal += 1
        case "ERROR": error += 1
        default: break
        }
    }
}

/// The columns of `SHOW pool_backend_stats` a statement counts in.
public enum StatementCategory: Sendable {
    case select, insert, update, delete, ddl, other

    public static func of(_ c: Classification, text: String) -> StatementCategory {
        if c.kind == .read { return .select }
        // The first word, lower-cased, packed into an integer (every word below has at most 8 letters).
        var word: UInt64 = 0
        var letters = 0
        for ch in text.utf8 {
            if ch == 32 || ch == 9 || ch == 10 || ch == 13 { if letters == 0 { continue } else { break } }
            guard ch >= 65 && ch <= 90 || ch >= 97 && ch <= 122 else { break }
            letters += 1
            if letters > 8 { return .other }
            word = word << 8 | UInt64(ch | 0x20)
        }
        switch word {
        case Words.select, Words.with, Words.table, Words.values, Words.show: return c.kind == .write ? .other : .select
        case Words.insert: return .insert
        case Words.update: return .update
        case Words.delete: return .delete
        case Words.create, Words.alter, Words.drop, Words.truncate, Words.comment, Words.grant, Words.revoke: return .ddl
        default: return .other
        }
    }

    /// Statement words packed as `of` packs the first word of a text.
    private enum Words {
        static func pack(_ s: StaticString) -> UInt64 {
            s.withUTF8Buffer { $0.reduce(0) { $0 << 8 | UInt64($1) } }
        }
        static let select = pack("select"), with = pack("with"), table = pack("table"), values = pack("values")
        static let show = pack("show"), insert = pack("insert"), update = pack("update"), delete = pack("delete")
        static let create = pack("create"), alter = pack("alter"), drop = pack("drop"), truncate = pack("truncate")
        static let comment = pack("comment"), grant = pack("grant"), revoke = pack("revoke")
    }
}

/// One client session as `SHOW pool_processes` / `SHOW pool_pools` see it. poold has no process per
/// client, so a "process" row is a client session: `pool_pid` is the session id.
public struct SessionRow: Equatable, Sendable {
    public struct Backend: Equatable, Sendable {
        public var node: Int
        public var backendPID: Int32
        public var connectedAt: String
        public var leaseCount: Int
        public init(node: Int, backendPID: Int32, connectedAt: String, leaseCount: Int) {
            self.node = node
            self.backendPID = backendPID
            self.connectedAt = connectedAt
            self.leaseCount = leaseCount
        }
    }
    public var id: Int
    public var startTime: String
    public var database: String
    public var user: String
    /// `Idle`, `Idle in transaction` or `Execute command`.
    public var status: String
    public var loadBalanceNode: Int?
    public var backends: [Backend]
    /// pool_mode = transaction: why the session keeps its backends ("" when it does not).
    public var pin: String

    public init(id: Int, startTime: String, database: String, user: String, status: String, loadBalanceNode: Int?,
                backends: [Backend], pin: String = "") {
        self.pin = pin
        self.id = id
        self.startTime = startTime
        self.database = database
        self.user = user
        self.status = status
        self.loadBalanceNode = loadBalanceNode
        self.backends = backends
    }
}

/// `SHOW pool_processes`, `SHOW pool_pools` and `SHOW pool_backend_stats` in Pgpool-II 4.6's columns.
public enum ActivityTables {
    public static let processColumns = ["pool_pid", "start_time", "client_connection_count", "database", "username",
                                        "backend_connection_time", "pool_counter", "status"]

    public static func processes(_ sessions: [SessionRow]) -> [[String]] {
        sessions.sorted { $0.id < $1.id }.map { s in
            let first = s.backends.first
            return [String(s.id), s.startTime, "1", s.database, s.user, first?.connectedAt ?? "", String(first?.leaseCount ?? 0),
                    s.status]
        }
    }

    public static let poolColumns = ["pool_pid", "start_time", "client_connection_count", "pool_id", "backend_id", "database",
                                     "username", "backend_connection_time", "client_connection_time",
                                     "client_disconnection_time", "client_idle_duration", "majorversion", "minorversion",
                                     "pool_counter", "pool_backendpid", "pool_connected", "status", "load_balance_node",
                                     "pinned"]

    /// One row per session and configured node (Pgpool-II prints every backend slot of a pool), plus poold's
/// `pinned` column: why a session in pool_mode = transaction keeps its backends.
    public static func pools(_ sessions: [SessionRow], nodes: [Int]) -> [[String]] {
        var rows: [[String]] = []
        for s in sessions.sorted(by: { $0.id < $1.id }) {
            for node in nodes {
                let b = s.backends.first { $0.node == node }
                rows.append([String(s.id), s.startTime, "1", "0", String(node), s.database, s.user, b?.connectedAt ?? "",
                             s.startTime, "", "0", b == nil ? "0" : "3", "0", String(b?.leaseCount ?? 0),
                             String(b?.backendPID ?? 0), b == nil ? "0" : "1", s.status, s.loadBalanceNode == node ? "1" : "0",
                             s.pin])
            }
        }
        return rows
    }

    public static let backendStatsColumns = ["node_id", "hostname", "port", "status", "role", "select_cnt", "insert_cnt",
                                             "update_cnt", "delete_cnt", "ddl_cnt", "other_cnt", "panic_cnt", "fatal_cnt",
                                             "error_cnt"]

    public static func backendStats(_ backends: [BackendConfig], primary: Int?, counters: [Int: NodeCounters]) -> [[String]] {
        backends.map { b in
            let c = counters[b.id] ?? NodeCounters()
            return [String(b.id), b.hostname, String(b.port), "up", b.id == primary ? "primary" : "standby",
                    String(c.select), String(c.insert), String(c.update), String(c.delete), String(c.ddl), String(c.other),
                    String(c.panic), String(c.fatal), String(c.error)]
        }
    }
}
