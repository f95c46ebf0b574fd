/// Flags of `backend_flagN`.
public struct BackendFlags: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let disallowToFailover = BackendFlags(rawValue: 1)
    public static let alwaysPrimary = BackendFlags(rawValue: 2)

    /// Parses `ALLOW_TO_FAILOVER|ALWAYS_PRIMARY`; 4.1's ALWAYS_MASTER is accepted.
    public static func parse(_ text: String) -> Result<BackendFlags, ValueError> {
        var flags: BackendFlags = []
        for word in text.split(separator: "|").map({ $0.trimmingSpaces.uppercased() }) where !word.isEmpty {
            switch word {
            case "ALLOW_TO_FAILOVER": break
            case "DISALLOW_TO_FAILOVER": flags.insert(.disallowToFailover)
            case "ALWAYS_PRIMARY", "ALWAYS_MASTER": flags.insert(.alwaysPrimary)
            default: return .failure(ValueError("unknown flag \"\(word)\""))
            }
        }
        return .success(flags)
    }
}

/// One `backend_*N` group.
public struct BackendConfig: Equatable, Sendable {
    public var id: Int
    public var hostname: String
    public var port: Int
    public var weight: Double
    public var dataDirectory: String
    public var flags: BackendFlags
    public var applicationName: String

    public init(id: Int, hostname: String, port: Int, weight: Double, dataDirectory: String, flags: BackendFlags,
                applicationName: String) {
        self.id = id
        self.hostname = hostname
        self.port = port
        self.weight = weight
        self.dataDirectory = dataDirectory
        self.flags = flags
        self.applicationName = applicationName
    }
}

/// The validated configuration: every setting in the table with its effective value, plus the backends.
/// Built once per load or reload; immutable afterwards.
public struct PoolConfiguration: Equatable, Sendable {
    /// Effective values of non-indexed settings (defaults included), by canonical name.
    public var values: [String: SettingValue]
    /// Settings written in the file (canonical names; indexed ones as name + index).
    public var explicitlySet: Set<String>
    /// Indexed values by canonical name then node index (`health_check_period1`, `hostname0`…).
    public var indexed: [String: [Int: SettingValue]]
    public var backends: [BackendConfig]
    /// The typed watchdog settings; nil when `use_watchdog` is off (or its settings have errors).
    public var watchdog: WatchdogConfiguration?
    /// The etcd coordination settings; nil unless `use_watchdog` is on with `watchdog_coordination = etcd`.
    public var etcdCoordination: EtcdCoordinationConfiguration? = nil
    /// TLS towards clients and backends (`ssl*`, `backend_ssl*`).
    public var tls: TLSSettings = .disabled
    /// Directory of the main configuration file; relative paths are resolved against it.
    public var configDirectory: String

    public static func defaults(configDirectory: String = ".") -> PoolConfiguration {
        var values: [String: SettingValue] = [:]
        for d in Settings.all where d.indexed != .required {
            if case .success(let v) = SettingValue.parse(d.defaultValue, as: d.kind) { values[d.name] = v }
        }
        return PoolConfiguration(values: values, explicitlySet: [], indexed: [:], backends: [], watchdog: nil,
                                 configDirectory: configDirectory)
    }

    public func bool(_ name: String) -> Bool {
        if case .bool(let b)? = values[name] { return b }
        preconditionFailure("setting \(name) is not a bool")
    }

    public func int(_ name: String) -> Int {
        if case .integer(let i)? = values[name] { return i }
        preconditionFailure("setting \(name) is not an integer")
    }

    public func string(_ name: String) -> String {
        switch values[name] {
        case .string(let s)?: return s
        case .list(let l)?: return l.joined(separator: ",")
        case let v?: return v.description
        case nil: return ""
        }
    }

    public func list(_ name: String) -> [String] {
        if case .list(let l)? = values[name] { return l }
        return string(name).isEmpty ? [] : [string(name)]
    }

    /// A per-node value (`health_check_period1`), falling back to the suffix-less value.
    public func value(_ name: String, node: Int) -> SettingValue? {
        indexed[name]?[node] ?? values[name]
    }

    /// Resolves a path from the configuration relative to the config file's directory.
    public func path(_ p: String) -> String {
        p.hasPrefix("/") || p.isEmpty ? p : configDirectory + "/" + p
    }

    // MARK: - Typed accessors for the settings poold acts on

    public var port: Int { int("port") }
    public var listenAddresses: [String] { list("listen_addresses") }
    public var unixSocketDirectories: [String] { list("unix_socket_directories") }
    public var numInitChildren: Int { int("num_init_children") }
    public var maxPool: Int { int("max_pool") }
    public var reservedConnections: Int { int("reserved_connections") }
    public var connectionCache: Bool { bool("connection_cache") }
    public var connectionLifeTime: Int { int("connection_life_time") }
    /// pool_mode = transaction: backends go back to the pool at the end of each transaction.
    public var transactionPooling: Bool { string("pool_mode") == "transaction" }
    public var transactionPoolSize: Int { int("transaction_pool_size") }
    public var maxPreparedStatements: Int { int("max_prepared_statements") }

    public var clientIdleLimit: Int { int("client_idle_limit") }
    public var authenticationTimeout: Int { int("authentication_timeout") }
    public var enablePoolHBA: Bool { bool("enable_pool_hba") }
    public var allowClearTextFrontendAuth: Bool { bool("allow_clear_text_frontend_auth") }
    /// `reset_query_list` is written with ';' separators: `ABORT; DISCARD ALL`.
    public var resetQueries: [String] {
        string("reset_query_list").split(separator: ";").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
    }
}
