/// The routing parameters of one configuration, parsed once (at load and reload) so sessions do not look
/// settings up or compile patterns per statement.
public struct RoutingSettings: Sendable {
    public var loadBalanceMode: Bool
    public var policy: WritePolicy
    public var balancer: LoadBalancer
    public var allowSQLComments: Bool
    /// check_temp_table is trace or catalog (or on): follow the session's CREATE/DROP TEMP.
    public var traceTempTables: Bool
    public var lookUpRelations: Bool
    public var writeFunctions: [String]
    public var readOnlyFunctions: [String]
    /// primary_routing_query_pattern_list, `;`-separated, case-insensitive, anchored.
    public var primaryPatterns: [String]
    public var preferLowerDelayStandby: Bool
    /// read_your_writes (poold): see `ReadYourWrites`.
    public var readYourWrites: Bool

    public init(_ config: PoolConfiguration) {
        loadBalanceMode = config.bool("load_balance_mode")
        policy = WritePolicy(rawValue: config.string("disable_load_balance_on_write")) ?? .transaction
        func rules(_ name: String) -> [RedirectRule] {
            (try? RedirectRule.parseList(config.list(name).joined(separator: ",")).get()) ?? []
        }
        balancer = LoadBalancer(appNameRules: rules("app_name_redirect_preference_list"),
                                databaseRules: rules("database_redirect_preference_list"),
                                userRules: rules("user_redirect_preference_list"))
        allowSQLComments = config.bool("allow_sql_comments")
        let temp = config.string("check_temp_table")
        traceTempTables = temp != "none" && temp != "off"
        lookUpRelations = temp == "catalog" || temp == "on" || config.bool("check_unlogged_table")
        writeFunctions = config.list("write_function_list")
        readOnlyFunctions = config.list("read_only_function_list")
        primaryPatterns = config.string("primary_routing_query_pattern_list").split(separator: ";")
            .map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        preferLowerDelayStandby = config.bool("prefer_lower_delay_standby")
        readYourWrites = config.bool("read_your_writes")
    }

    /// A value that parses but cannot be used (bad regex, bad redirect entry), as a config diagnostic.
    public static func problem(_ name: String, _ value: SettingValue) -> String? {
        switch name {
        case "app_name_redirect_preference_list", "database_redirect_preference_list", "user_redirect_preference_list":
            if case .failure(let e) = RedirectRule.parseList(value.description) { return e.message }
        case "write_function_list", "read_only_function_list":
            if case .list(let l) = value, case .failure(let e) = WritingFunctions.make(writeList: l, readOnlyList: []) { return e.message }
        case "primary_routing_query_pattern_list":
            for p in value.description.split(separator: ";") where (try? Regex("^(?:\(p.trimmingSpaces))$")) == nil {
                return "invalid regular expression \"\(p.trimmingSpaces)\""
            }
        default: break
        }
        return nil
    }

    /// The statement text matches primary_routing_query_pattern_list (case-insensitive, whole text less a
    /// trailing semicolon).
    public static func matchesPrimaryPattern(_ text: String, patterns: [String]) -> Bool {
        var t = text.trimmingSpaces
        if t.hasSuffix(";") { t.removeLast() }
        return patterns.contains { p in
            (try? Regex("^(?:\(p))$").ignoresCase().wholeMatch(in: t)) != nil
        }
    }
}
