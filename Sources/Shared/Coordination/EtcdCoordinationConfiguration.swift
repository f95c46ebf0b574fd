/// The settings of the etcd coordination backend (`use_watchdog = on` with `watchdog_coordination = etcd`),
/// typed and validated once per load, so the executor never reads raw settings and `poold --check` names the
/// file, line and parameter of every problem. With etcd the members find each other through keys under
/// `prefix`, so Pgpool-II's member list and heartbeat parameters are unused (a warning says so); the VIP,
/// escalation commands and failover-consensus switches keep their watchdog meaning and are read here too.
public struct EtcdCoordinationConfiguration: Equatable, Sendable {
    /// etcd client URLs, `http://host:port`, in the order they are tried.
    public var endpoints: [String]
    /// Key prefix without a trailing '/': `<prefix>/leader`, `<prefix>/members/<name>`, `<prefix>/cluster`.
    public var prefix: String
    /// `etcd_member_name`; nil = the executor uses `<host name>:<port>`.
    public var memberName: String?
    /// Lease TTL, renewal interval, margin and request timeout.
    public var timings: EtcdLeadership.Timings
    public var user: String?
    public var password: WatchdogAuthKey?
    /// The same as the watchdog's: nil when `delegate_ip` is empty.
    public var virtualIP: WatchdogConfiguration.VirtualIP?
    public var escalationCommand: String
    public var deEscalationCommand: String
    public var consensus: WatchdogConfiguration.ConsensusRules

    public init(endpoints: [String], prefix: String, memberName: String?, timings: EtcdLeadership.Timings,
                user: String?, password: WatchdogAuthKey?,
                virtualIP: WatchdogConfiguration.VirtualIP?, escalationCommand: String, deEscalationCommand: String,
                consensus: WatchdogConfiguration.ConsensusRules) {
        self.endpoints = endpoints
        self.prefix = prefix
        self.memberName = memberName
        self.timings = timings
        self.user = user
        self.password = password
        self.virtualIP = virtualIP
        self.escalationCommand = escalationCommand
        self.deEscalationCommand = deEscalationCommand
        self.consensus = consensus
    }

    public var leaderKey: String { prefix + "/leader" }
    public var membersPrefix: String { prefix + "/members/" }
    public var clusterKey: String { prefix + "/cluster" }
    public var proposalsPrefix: String { prefix + "/proposals/" }
    public func memberKey(_ name: String) -> String { membersPrefix + name }

    /// Watchdog parameters that mean nothing with etcd (members, heartbeats, lifecheck, the vote's key).
    static let unusedNames: [String] = [
        "hostname", "wd_port", "pgpool_port", "heartbeat_hostname", "heartbeat_port", "heartbeat_device",
        "wd_heartbeat_keepalive", "wd_heartbeat_deadtime", "wd_authkey", "wd_priority", "wd_lifecheck_method",
        "wd_interval", "wd_life_point", "wd_lifecheck_query", "trusted_servers", "wd_monitoring_interfaces_list",
        "wd_hostname", "wd_heartbeat_port", "other_pgpool_hostname", "other_pgpool_port", "other_wd_port",
        "heartbeat_destination", "heartbeat_destination_port",
    ]

    /// Nil when the backend is not etcd (or `use_watchdog` is off), or when its settings have errors.
    public static func load(_ config: PoolConfiguration, raw: [RawSetting]) -> (EtcdCoordinationConfiguration?, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        func line(_ name: String) -> RawSetting? {
            raw.last { Settings.lookup($0.name)?.descriptor.name == name }
        }
        func report(_ severity: Diagnostic.Severity, _ name: String, _ message: String) {
            let r = line(name) ?? line("watchdog_coordination")
            diagnostics.append(Diagnostic(severity, file: r?.file ?? "", line: r?.line ?? 0, parameter: r?.name ?? name, message))
        }
        guard config.string("watchdog_coordination") == "etcd" else { return (nil, []) }
        guard config.bool("use_watchdog") else {
            report(.warning, "watchdog_coordination", "watchdog_coordination = etcd but use_watchdog is off: no coordination runs")
            return (nil, diagnostics)
        }

        var endpoints: [String] = []
        for e in config.list("etcd_endpoints") {
            let url = e.trimmingSpaces
            if url.lowercased().hasPrefix("https://") {
                report(.error, "etcd_endpoints", "\(url): TLS to etcd is not implemented yet; use http:// endpoints")
            } else if !Self.isHTTPEndpoint(url) {
                report(.error, "etcd_endpoints", "\(url) is not an etcd client URL (http://host:port)")
            } else {
                endpoints.append(url)
            }
        }
        if config.list("etcd_endpoints").isEmpty { report(.error, "etcd_endpoints", "no etcd endpoint: list at least one http://host:port") }

        var prefix = config.string("etcd_prefix").trimmingSpaces
        while prefix.hasSuffix("/") { prefix.removeLast() }
        if !prefix.hasPrefix("/") || prefix.count < 2 {
            report(.error, "etcd_prefix", "etcd_prefix must start with '/' and name something below the root (for example /poold/main)")
        }
        let name = config.string("etcd_member_name").trimmingSpaces
        if name.contains("/") { report(.error, "etcd_member_name", "etcd_member_name must not contain '/' (it is a key below \(prefix)/members/)") }

        let ttl = Duration.seconds(config.int("etcd_lease_ttl"))
        let renew = Duration.milliseconds(config.int("etcd_renew_interval"))
        let request = Duration.milliseconds(config.int("etcd_request_timeout"))
        let margin = config.int("etcd_lease_margin") == 0
            ? max(ttl / 4, .seconds(1)) : Duration.milliseconds(config.int("etcd_lease_margin"))
        if margin >= ttl {
            report(.error, "etcd_lease_margin", "etcd_lease_margin (\(margin)) must be shorter than etcd_lease_ttl (\(ttl))")
        } else if renew + request >= ttl - margin {
            report(.error, "etcd_renew_interval", "etcd_renew_interval (\(renew)) + etcd_request_timeout (\(request)) must be "
                   + "shorter than etcd_lease_ttl − etcd_lease_margin (\(ttl - margin)): otherwise one late renewal makes the leader step down")
        } else if ttl - margin < .seconds(4) {
            // etcd's own leader election (1.0–3.3 s measured with its default 1 s election timeout) stops
            // renewals; the leader must outlast it or it gives up the VIP although its lease survives.
            report(.warning, "etcd_lease_ttl", "the leader acts only \(ttl - margin) after its last renewal "
                   + "(etcd_lease_ttl − etcd_lease_margin): an etcd leader election (2–3.5 s) can make it step down; 4 s or more is safer")
        }

        let user = config.string("etcd_user"), password = config.string("etcd_password")
        if user.isEmpty != password.isEmpty {
            report(.error, user.isEmpty ? "etcd_password" : "etcd_user", "etcd_user and etcd_password go together")
        }
        let unused = unusedNames.filter { n in config.explicitlySet.contains { $0 == n || ($0.hasPrefix(n) && $0.dropFirst(n.count).allSatisfy(\.isNumber)) } }
        if let first = raw.first(where: { r in Settings.lookup(r.name).map { unused.contains($0.descriptor.name) } ?? false }) {
            diagnostics.append(Diagnostic(.warning, file: first.file, line: first.line, parameter: first.name,
                                          "unused with watchdog_coordination = etcd (members meet in etcd under \(prefix)): "
                                          + unused.joined(separator: ", ")))
        }
        guard !diagnostics.contains(where: { $0.severity == .error }) else { return (nil, diagnostics) }

        let ip = config.string("delegate_ip")
        let vip = ip.isEmpty ? nil : WatchdogConfiguration.VirtualIP(
            address: ip, upCommand: config.string("if_up_cmd"), downCommand: config.string("if_down_cmd"),
            arpingCommand: config.string("arping_cmd"), interfaceCommandPath: config.string("if_cmd_path"),
            arpingPath: config.string("arping_path"), pingPath: config.string("ping_path"))
        let consensus = WatchdogConfiguration.ConsensusRules(
            failoverWhenQuorumExists: config.bool("failover_when_quorum_exists"),
            failoverRequireConsensus: config.bool("failover_require_consensus"),
            allowMultipleFailoverRequestsFromNode: config.bool("allow_multiple_failover_requests_from_node"),
            enableConsensusWithHalfVotes: config.bool("enable_consensus_with_half_votes"))
        let result = EtcdCoordinationConfiguration(
            endpoints: endpoints, prefix: prefix, memberName: name.isEmpty ? nil : name,
            timings: .init(leaseTTL: ttl, renewInterval: renew, margin: margin, requestTimeout: request),
            user: user.isEmpty ? nil : user, password: password.isEmpty ? nil : WatchdogAuthKey(password),
            virtualIP: vip, escalationCommand: config.string("wd_escalation_command"),
            deEscalationCommand: config.string("wd_de_escalation_command"), consensus: consensus)
        return (result, diagnostics)
    }

    /// `http://host:port` (an IPv6 host in brackets), nothing after the port but an optional '/'.
    static func isHTTPEndpoint(_ url: String) -> Bool {
        guard url.lowercased().hasPrefix("http://") else { return false }
        var rest = Substring(url.dropFirst(7))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
              (1...65535).contains(port) else { return false }
        let host = rest[..<colon]
        return !host.isEmpty && !host.contains("/")
    }
}
