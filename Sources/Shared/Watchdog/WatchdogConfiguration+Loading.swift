/// Building `WatchdogConfiguration` from the loaded settings, with diagnostics that name file, line and parameter.
///
/// Pgpool-II 4.2 replaced 4.1's per-host names (`wd_hostname`, `wd_port`, `wd_heartbeat_port`,
/// `other_pgpool_hostnameN`, `other_pgpool_portN`, `other_wd_portN`, `heartbeat_destinationN`,
/// `heartbeat_destination_portN`) by one member list identical on every host, and 4.2+ simply does not know the
/// old names (an INFO "unrecognized configuration parameter", so a 4.1 file silently loses its watchdog and then
/// fails for want of `pgpool_node_id`). poold reads both forms into the same list:
/// - 4.1: this host is member 0 (`wd_hostname`, `wd_port`, `port`, `wd_heartbeat_port`); `other_pgpool_*N` are
///   members 1, 2… in the order of N. `heartbeat_destinationJ` belongs to the member whose host it names, else to
///   the only other member, else to other member J.
/// - 4.2+: member N is `hostnameN`/`wd_portN`/`pgpool_portN`/`heartbeat_*N`; the `pgpool_node_id` file next to
///   pgpool.conf says which one this host is.
/// Mixing the two forms is an error.
extension WatchdogConfiguration {
    /// `nodeIDFile`: the path of `pgpool_node_id` next to pgpool.conf and its text (nil when it cannot be read).
    /// Returns nil when `use_watchdog` is off, or when the watchdog settings have errors.
    public static func load(_ config: PoolConfiguration, raw: [RawSetting],
                            nodeIDFile: (path: String, text: String?)) -> (WatchdogConfiguration?, [Diagnostic]) {
        guard config.bool("use_watchdog") else { return (nil, []) }
        var loader = Loader(config: config, raw: raw)
        let result = loader.build(nodeIDFile: nodeIDFile)
        return (loader.hasErrors ? nil : result, loader.diagnostics)
    }

    /// The names only the 4.1 form uses (`wd_port` without a number is one of them).
    static let perHostNames: Set<String> = ["wd_hostname", "wd_heartbeat_port"]
    static let perHostIndexedNames: Set<String> = ["other_pgpool_hostname", "other_pgpool_port", "other_wd_port",
                                                   "heartbeat_destination", "heartbeat_destination_port"]
    static let memberListIndexedNames: Set<String> = ["hostname", "wd_port", "pgpool_port", "heartbeat_hostname",
                                                      "heartbeat_port"]
}

private struct Loader {
    let config: PoolConfiguration
    let raw: [RawSetting]
    var diagnostics: [Diagnostic] = []
    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    init(config: PoolConfiguration, raw: [RawSetting]) {
        self.config = config
        self.raw = raw
    }

    /// The last line that set `name` (with `index` for numbered parameters).
    func line(_ name: String, _ index: Int? = nil) -> RawSetting? {
        raw.last { r in
            guard let (d, i, _) = Settings.lookup(r.name) else { return false }
            return d.name == name && i == index
        }
    }

    mutating func report(_ severity: Diagnostic.Severity, _ name: String, _ index: Int? = nil, _ message: String) {
        report(at: line(name, index) ?? line("use_watchdog"), severity, message, parameter: name)
    }

    mutating func report(at r: RawSetting?, _ severity: Diagnostic.Severity, _ message: String, parameter: String = "") {
        diagnostics.append(Diagnostic(severity, file: r?.file ?? "", line: r?.line ?? 0,
                                      parameter: r?.name ?? parameter, message))
    }

    func indices(_ names: Set<String>) -> [Int] {
        Set(names.flatMap { config.indexed[$0]?.keys.map { $0 } ?? [] }).sorted()
    }

    func string(_ name: String, _ index: Int) -> String? {
        config.indexed[name]?[index].map { $0.description }
    }

    func int(_ name: String, _ index: Int) -> Int? {
        if case .integer(let v)? = config.indexed[name]?[index] { return v }
        return nil
    }

    func defaultInt(_ name: String) -> Int {
        Int(Settings.lookup(name + "0")?.descriptor.defaultValue ?? "") ?? 0
    }

    mutating func build(nodeIDFile: (path: String, text: String?)) -> WatchdogConfiguration? {
        let perHost = WatchdogConfiguration.perHostNames.filter { config.explicitlySet.contains($0) }
            + (config.explicitlySet.contains("wd_port") ? ["wd_port"] : [])
        let perHostIndexed = indices(WatchdogConfiguration.perHostIndexedNames)
        let listed = indices(WatchdogConfiguration.memberListIndexedNames)
        let usesPerHost = !perHost.isEmpty || !perHostIndexed.isEmpty

        let form: WatchdogConfiguration.Form
        var members: [WatchdogMember]
        let localID: Int
        let firstPerHost = raw.first { r in
            guard let (d, i, _) = Settings.lookup(r.name) else { return false }
            return WatchdogConfiguration.perHostNames.contains(d.name) || (d.name == "wd_port" && i == nil)
                || WatchdogConfiguration.perHostIndexedNames.contains(d.name)
        }
        if usesPerHost && !listed.isEmpty {
            report(at: firstPerHost, .error, "mixes Pgpool-II 4.1's watchdog names (wd_hostname, wd_port, "
                   + "other_pgpool_*N, heartbeat_destination*N) with 4.2's (hostnameN, wd_portN, pgpool_portN, "
                   + "heartbeat_hostnameN, heartbeat_portN); use one form")
            return nil
        } else if usesPerHost {
            form = .perHost
            localID = 0
            members = perHostMembers()
            report(at: firstPerHost, .warning, "Pgpool-II 4.1 watchdog names: poold reads this host as member 0 "
                   + "(\(members[0].name)) and other_pgpool_hostnameN as members 1…; Pgpool-II 4.2+ ignores these "
                   + "names (it wants hostnameN, wd_portN, pgpool_portN, heartbeat_hostnameN, heartbeat_portN and a "
                   + "pgpool_node_id file)")
        } else if !listed.isEmpty {
            form = .memberList
            members = memberListMembers(listed)
            guard let id = readNodeID(nodeIDFile, members: members) else { return nil }
            localID = id
            if let local = members.first(where: { $0.id == id }), local.pgpoolPort != config.port {
                report(.warning, "pgpool_port", id, "pgpool_port\(id) (\(local.pgpoolPort)) of this member "
                       + "(pgpool_node_id \(id)) is not its port (\(config.port)); the others will look for it there")
            }
        } else {
            report(.error, "use_watchdog", nil, "use_watchdog is on but no watchdog member is configured: set "
                   + "hostnameN, wd_portN, pgpool_portN (and a pgpool_node_id file), or 4.1's wd_hostname and "
                   + "other_pgpool_hostnameN")
            return nil
        }
        checkDuplicates(members, form: form)
        let timings = checkedTimings()
        checkCommands()
        checkLifecheck()
        guard !hasErrors else { return nil }

        let ip = config.string("delegate_ip")
        let vip = ip.isEmpty ? nil : WatchdogConfiguration.VirtualIP(
            address: ip, upCommand: config.string("if_up_cmd"), downCommand: config.string("if_down_cmd"),
            arpingCommand: config.string("arping_cmd"), interfaceCommandPath: config.string("if_cmd_path"),
            arpingPath: config.string("arping_path"), pingPath: config.string("ping_path"))
        let key = config.string("wd_authkey")
        let lifecheck = WatchdogConfiguration.Lifecheck(
            method: .init(rawValue: config.string("wd_lifecheck_method")) ?? .heartbeat,
            query: config.string("wd_lifecheck_query"), database: config.string("wd_lifecheck_dbname"),
            user: config.string("wd_lifecheck_user"), password: config.string("wd_lifecheck_password"),
            trustedServers: config.list("trusted_servers"), trustedServerCommand: config.string("trusted_server_command"),
            monitoringInterfaces: config.list("wd_monitoring_interfaces_list"))
        let consensus = WatchdogConfiguration.ConsensusRules(
            failoverWhenQuorumExists: config.bool("failover_when_quorum_exists"),
            failoverRequireConsensus: config.bool("failover_require_consensus"),
            allowMultipleFailoverRequestsFromNode: config.bool("allow_multiple_failover_requests_from_node"),
            enableConsensusWithHalfVotes: config.bool("enable_consensus_with_half_votes"))
        return WatchdogConfiguration(
            form: form, members: members, localID: localID, priority: config.int("wd_priority"),
            authKey: key.isEmpty ? nil : WatchdogAuthKey(key), virtualIP: vip,
            escalationCommand: config.string("wd_escalation_command"),
            deEscalationCommand: config.string("wd_de_escalation_command"), timings: timings, lifecheck: lifecheck,
            consensus: consensus)
    }

    // MARK: - The two forms

    func memberListMembers(_ ids: [Int]) -> [WatchdogMember] {
        ids.map { id in
            let host = string("hostname", id) ?? "localhost"
            let port = int("heartbeat_port", id) ?? defaultInt("heartbeat_port")
            let listed = split(string("heartbeat_hostname", id) ?? "")
            let devices = split(string("heartbeat_device", id) ?? "")
            let addresses = listed.isEmpty ? [host] : listed
            return WatchdogMember(
                id: id, hostname: host, wdPort: int("wd_port", id) ?? defaultInt("wd_port"),
                pgpoolPort: int("pgpool_port", id) ?? defaultInt("pgpool_port"), heartbeatPort: port,
                heartbeatDestinations: addresses.enumerated().map { i, a in
                    HeartbeatDestination(address: a, port: port, device: i < devices.count ? devices[i] : "")
                })
        }
    }

    mutating func perHostMembers() -> [WatchdogMember] {
        let host = config.string("wd_hostname")
        if host.isEmpty {
            report(.error, "wd_hostname", nil, "wd_hostname is empty: in Pgpool-II 4.1's form it names this member")
        }
        var members = [WatchdogMember(id: 0, hostname: host, wdPort: config.int("wd_port"), pgpoolPort: config.port,
                                      heartbeatPort: config.int("wd_heartbeat_port"), heartbeatDestinations: [])]
        let others = indices(["other_pgpool_hostname", "other_pgpool_port", "other_wd_port"])
        for (n, i) in others.enumerated() {
            members.append(WatchdogMember(
                id: n + 1, hostname: string("other_pgpool_hostname", i) ?? "localhost",
                wdPort: int("other_wd_port", i) ?? defaultInt("other_wd_port"),
                pgpoolPort: int("other_pgpool_port", i) ?? defaultInt("other_pgpool_port"),
                heartbeatPort: defaultInt("heartbeat_destination_port"), heartbeatDestinations: []))
        }
        for j in indices(["heartbeat_destination", "heartbeat_destination_port"]) {
            let address = string("heartbeat_destination", j) ?? ""
            guard !address.isEmpty else {
                report(.error, "heartbeat_destination_port", j, "heartbeat_destination_port\(j) is set but "
                       + "heartbeat_destination\(j) is not")
                continue
            }
            let destination = HeartbeatDestination(address: address,
                                                    port: int("heartbeat_destination_port", j) ?? defaultInt("heartbeat_destination_port"),
                                                    device: string("heartbeat_device", j) ?? "")
            let remote = members.indices.dropFirst()
            let owner = remote.first { members[$0].hostname.lowercased() == address.lowercased() }
                ?? (remote.count == 1 ? remote.first : nil)
                ?? others.firstIndex(of: j).map { $0 + 1 }
            guard let owner else {
                report(.error, "heartbeat_destination", j, "heartbeat_destination\(j) ('\(address)') names no "
                       + "other_pgpool_hostnameN and there is no other_pgpool_hostname\(j): say which member it is")
                continue
            }
            members[owner].heartbeatDestinations.append(destination)
            members[owner].heartbeatPort = destination.port
        }
        for i in members.indices.dropFirst() where members[i].heartbeatDestinations.isEmpty {
            members[i].heartbeatDestinations = [HeartbeatDestination(address: members[i].hostname,
                                                                     port: members[i].heartbeatPort)]
        }
        return members
    }

    /// Pgpool-II reads the first line of `pgpool_node_id` next to pgpool.conf: digits only, a member's number.
    mutating func readNodeID(_ file: (path: String, text: String?), members: [WatchdogMember]) -> Int? {
        func fail(_ line: Int, _ message: String) -> Int? {
            diagnostics.append(Diagnostic(.error, file: file.path, line: line, parameter: "pgpool_node_id", message))
            return nil
        }
        let ids = members.map { String($0.id) }.joined(separator: ", ")
        guard let text = file.text else {
            return fail(0, "cannot read \(file.path): with use_watchdog = on and hostnameN, this file must hold this "
                        + "member's number (one of \(ids))")
        }
        let first = text.lines.first.map { String($0).trimmingSpaces } ?? ""
        guard !first.isEmpty, first.allSatisfy({ $0.isASCII && $0.isNumber }), let id = Int(first) else {
            return fail(1, first.isEmpty ? "\(file.path) is empty: it must hold this member's number (one of \(ids))"
                        : "\(file.path) holds \"\(first)\", not a member number (one of \(ids))")
        }
        guard members.contains(where: { $0.id == id }) else {
            return fail(1, "pgpool_node_id is \(id) but the configured members are \(ids) (hostnameN)")
        }
        return id
    }

    // MARK: - Checks

    mutating func checkDuplicates(_ members: [WatchdogMember], form: WatchdogConfiguration.Form) {
        var seen: [String: WatchdogMember] = [:]
        for m in members {
            let key = m.hostname.lowercased() + ":\(m.wdPort)"
            guard let earlier = seen[key] else { seen[key] = m; continue }
            switch form {
            case .memberList:
                report(.error, "hostname", m.id, "member \(m.id) (\(m.name)) is member \(earlier.id) again: "
                       + "each member needs its own hostname or wd_port")
            case .perHost:
                let othersIndices = indices(["other_pgpool_hostname", "other_pgpool_port", "other_wd_port"])
                let n = othersIndices[m.id - 1]
                report(.error, "other_pgpool_hostname", n, earlier.id == 0
                       ? "other_pgpool_hostname\(n)/other_wd_port\(n) (\(m.name)) is this host (wd_hostname, wd_port)"
                       : "other_pgpool_hostname\(n)/other_wd_port\(n) (\(m.name)) is listed twice")
            }
        }
    }

    mutating func checkedTimings() -> WatchdogTimings {
        let keepalive = config.int("wd_heartbeat_keepalive"), deadtime = config.int("wd_heartbeat_deadtime")
        if deadtime < 2 * keepalive {
            let name = config.explicitlySet.contains("wd_heartbeat_deadtime") ? "wd_heartbeat_deadtime" : "wd_heartbeat_keepalive"
            report(.error, name, nil, "wd_heartbeat_deadtime (\(deadtime) s) must be at least twice "
                   + "wd_heartbeat_keepalive (\(keepalive) s), or members are declared LOST between two heartbeats")
        }
        return WatchdogTimings(keepalive: .seconds(keepalive), deadtime: .seconds(deadtime),
                               lifecheckInterval: .seconds(config.int("wd_interval")), lifePoint: config.int("wd_life_point"))
    }

    mutating func checkCommands() {
        for name in ["if_up_cmd", "if_down_cmd", "arping_cmd"] where config.string(name).contains("$_IP$") {
            report(.warning, name, nil, "contains $_IP$, which neither Pgpool-II nor poold replaces (only $_IP_$ "
                   + "is replaced by delegate_ip): this command would run with a literal $_IP$ and fail; write $_IP_$")
        }
        if config.string("delegate_ip").isEmpty {
            for name in ["if_up_cmd", "arping_cmd"] where config.explicitlySet.contains(name) {
                report(.warning, name, nil, "\(name) is set but delegate_ip is empty: there is no virtual IP, so it never runs")
            }
        }
    }

    /// The query lifecheck logs in as `wd_lifecheck_user`: without one every member would be LOST. A
    /// `trusted_server_command` without `%h` checks the same thing for every server.
    mutating func checkLifecheck() {
        if config.string("wd_lifecheck_method") == "query", config.string("wd_lifecheck_user").isEmpty {
            report(.error, "wd_lifecheck_method", nil, "wd_lifecheck_method = query logs in to every other member's "
                   + "pgpool_port as wd_lifecheck_user, which is empty: set wd_lifecheck_user (and wd_lifecheck_password "
                   + "or a pool_passwd entry)")
        }
        if !config.list("trusted_servers").isEmpty, !config.string("trusted_server_command").contains("%h") {
            report(.warning, "trusted_server_command", nil, "trusted_server_command has no %h: every trusted server "
                   + "runs the same command")
        }
    }

    func split(_ s: String) -> [String] {
        s.split(separator: ";").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
    }
}
