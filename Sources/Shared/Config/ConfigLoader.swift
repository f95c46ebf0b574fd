/// Turns parsed lines into a `PoolConfiguration`, collecting every diagnostic (file, line, parameter)
/// instead of stopping at the first.
public enum ConfigLoader {
    public struct Result: Sendable {
        public var configuration: PoolConfiguration
        public var diagnostics: [Diagnostic]
        public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    }

    /// Parses `text` (the main file at `file`), following includes through `loader`.
    public static func load(text: String, file: String, loader: @escaping ConfigFileParser.Loader) -> Result {
        let (raw, syntax) = ConfigFileParser(loader: loader).parse(text: text, file: file)
        let dir = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
        var result = build(raw, configDirectory: dir.isEmpty ? "/" : dir) { loader($0, file)?.1 }
        result.diagnostics.insert(contentsOf: syntax, at: 0)
        return result
    }

    /// `readFile` reads a file next to pgpool.conf (`pgpool_node_id`); nil when it cannot be read.
    public static func build(_ raw: [RawSetting], configDirectory: String,
                             readFile: (String) -> String? = { _ in nil }) -> Result {
        var config = PoolConfiguration.defaults(configDirectory: configDirectory)
        var diagnostics: [Diagnostic] = []
        var backendRaw: [Int: [String: RawSetting]] = [:]

        for setting in raw {
            func diag(_ sev: Diagnostic.Severity, _ message: String) {
                diagnostics.append(Diagnostic(sev, file: setting.file, line: setting.line, parameter: setting.name, message))
            }
            guard let (d, index, alias) = Settings.lookup(setting.name) else {
                diag(.error, "unrecognized configuration parameter")
                continue
            }
            if let alias {
                diag(.warning, "\"\(alias)\" is deprecated; use \"\(d.name)\"")
            }
            if d.support == .planned {
                diag(.warning, "accepted but not implemented yet in poold; the value is ignored")
            }
            if d.category == "backends", let index {
                backendRaw[index, default: [:]][d.name] = setting
                continue
            }
            switch SettingValue.parse(setting.value, as: d.kind) {
            case .failure(let e):
                diag(.error, e.message)
            case .success(let v):
                if let problem = RoutingSettings.problem(d.name, v) { diag(.error, problem) }
                if let index {
                    config.indexed[d.name, default: [:]][index] = v
                    config.explicitlySet.insert("\(d.name)\(index)")
                } else {
                    config.values[d.name] = v
                    config.explicitlySet.insert(d.name)
                }
            }
        }

        if !config.list("write_function_list").isEmpty, !config.list("read_only_function_list").isEmpty,
           let s = raw.last(where: { $0.name == "write_function_list" || $0.name == "read_only_function_list" }) {
            diagnostics.append(Diagnostic(.error, file: s.file, line: s.line, parameter: s.name,
                                          "write_function_list and read_only_function_list cannot both be set"))
        }

        for (id, group) in backendRaw.sorted(by: { $0.key < $1.key }) {
            func diag(_ name: String, _ message: String) {
                let s = group[name] ?? group.values.first!
                diagnostics.append(Diagnostic(.error, file: s.file, line: s.line, parameter: s.name, message))
            }
            guard let host = group["backend_hostname"] else {
                diag("backend_port", "backend \(id) has no backend_hostname\(id)")
                continue
            }
            var backend = BackendConfig(id: id, hostname: host.value, port: 5432, weight: 1, dataDirectory: "",
                                        flags: [], applicationName: "")
            if let p = group["backend_port"] {
                switch SettingValue.parse(p.value, as: .integer(min: 1, max: 65535, unit: .none)) {
                case .success(.integer(let v)): backend.port = v
                default: diag("backend_port", "invalid port \"\(p.value)\"")
                }
            }
            if let w = group["backend_weight"] {
                if let v = Double(w.value.trimmingSpaces), v >= 0 { backend.weight = v } else {
                    diag("backend_weight", "invalid weight \"\(w.value)\" (expected a number ≥ 0)")
                }
            }
            if let f = group["backend_flag"] {
                switch BackendFlags.parse(f.value) {
                case .success(let flags): backend.flags = flags
                case .failure(let e): diag("backend_flag", e.message)
                }
            }
            backend.dataDirectory = group["backend_data_directory"]?.value ?? ""
            backend.applicationName = group["backend_application_name"]?.value ?? ""
            config.backends.append(backend)
        }
        for name in ["failover_command", "follow_primary_command", "failback_command"] {
            let template = config.string(name)
            guard !template.isEmpty,
                  let warning = FailoverPlaceholders.emptyDirectoryWarning(template, backends: config.backends) else { continue }
            let s = raw.last(where: { Settings.lookup($0.name)?.descriptor.name == name })
            diagnostics.append(Diagnostic(.warning, file: s?.file ?? "", line: s?.line ?? 0, parameter: name, warning))
        }
        let (tls, tlsProblems) = TLSSettings.load(config, raw: raw)
        config.tls = tls
        diagnostics += tlsProblems
        if config.string("watchdog_coordination") == "etcd" {
            // The members meet in etcd: no member list, no pgpool_node_id.
            let (etcd, problems) = EtcdCoordinationConfiguration.load(config, raw: raw)
            config.etcdCoordination = etcd
            diagnostics += problems
        } else {
            let (watchdog, problems) = WatchdogConfiguration.load(
                config, raw: raw, nodeIDFile: (config.path("pgpool_node_id"), readFile("pgpool_node_id")))
            config.watchdog = watchdog
            diagnostics += problems
        }
        return Result(configuration: config, diagnostics: diagnostics)
    }
}

extension PoolConfiguration {
    /// The effective settings as `name = value` lines, for `poold --check`.
    public func effectiveSettingsText() -> String {
        var lines: [String] = []
        for d in Settings.all where d.indexed == .no {
            let v = d.shown(values[d.name])
            lines.append("\(d.name) = '\(v.replacingQuote)'\(explicitlySet.contains(d.name) ? "" : "  # default")")
        }
        for (name, byNode) in indexed.sorted(by: { $0.key < $1.key }) {
            let d = Settings.lookup(name)?.0
            for (i, v) in byNode.sorted(by: { $0.key < $1.key }) {
                lines.append("\(name)\(i) = '\((d?.shown(v) ?? v.description).replacingQuote)'")
            }
        }
        for b in backends {
            lines.append("backend_hostname\(b.id) = '\(b.hostname.replacingQuote)'")
            lines.append("backend_port\(b.id) = \(b.port)")
            lines.append("backend_weight\(b.id) = \(b.weight)")
            lines.append("backend_data_directory\(b.id) = '\(b.dataDirectory.replacingQuote)'")
            var flags = [b.flags.contains(.disallowToFailover) ? "DISALLOW_TO_FAILOVER" : "ALLOW_TO_FAILOVER"]
            if b.flags.contains(.alwaysPrimary) { flags.append("ALWAYS_PRIMARY") }
            lines.append("backend_flag\(b.id) = '\(flags.joined(separator: "|"))'")
            lines.append("backend_application_name\(b.id) = '\(b.applicationName.replacingQuote)'")
        }
        if let w = watchdog {
            lines.append("# watchdog (Pgpool-II \(w.form.rawValue) form): \(w.members.count) members, quorum \(WatchdogQuorum.votesNeeded(members: w.members.count, halfVotes: w.consensus.enableConsensusWithHalfVotes))")
            for m in w.members {
                let hb = m.heartbeatDestinations.map { "\($0.address):\($0.port)" }.joined(separator: ",")
                lines.append("#   member \(m.id) \(m.name) pgpool_port \(m.pgpoolPort) heartbeat \(hb.isEmpty ? "-" : hb)"
                             + (m.id == w.localID ? " (this poold, heartbeat port \(m.heartbeatPort))" : ""))
            }
        }
        if let e = etcdCoordination {
            lines.append("# watchdog on etcd: \(e.endpoints.joined(separator: ",")) prefix \(e.prefix), lease \(e.timings.leaseTTL), "
                         + "renew every \(e.timings.renewInterval), the leader stops \(e.timings.margin) before the lease could end")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    var replacingQuote: String {
        var out = ""
        for c in self { if c == "'" { out += "''" } else { out.append(c) } }
        return out
    }
}

/// Generates the sample file and the reference from the settings table.
public enum SettingsDocumentation {
    public static func sampleFile() -> String {
        var out = "# pgpool.conf for poold — generated from the settings table (poold --describe-config --sample).\n"
        out += "# Same syntax and parameter names as Pgpool-II. Uncomment to change a default.\n"
        var category = ""
        for d in Settings.all {
            if d.category != category {
                category = d.category
                out += "\n#------------------------------------------------------------------------------\n# \(category.uppercased())\n#------------------------------------------------------------------------------\n"
            }
            let name = d.indexed == .required ? "\(d.name)0" : d.name
            let quoted: String
            switch d.kind {
            case .string, .list, .enumeration: quoted = "'\(d.defaultValue.replacingQuote)'"
            default: quoted = d.defaultValue
            }
            let ctx = d.context == .restart ? "change requires restart" : d.context.rawValue
            let planned = d.support == .planned ? "; not implemented yet" : ""
            out += "#\(name) = \(quoted)\n#    \(d.doc) (\(ctx)\(planned))\n"
        }
        return out
    }

    public static func reference() -> String {
        var out = "# poold configuration reference\n\nGenerated from `Sources/Shared/Config/Settings.swift`.\n\n"
        out += "| parameter | type | default | context | status | description |\n|---|---|---|---|---|---|\n"
        for d in Settings.all {
            let name = d.indexed == .required ? "\(d.name)N" : (d.indexed == .optional ? "\(d.name)[N]" : d.name)
            let type: String
            switch d.kind {
            case .bool: type = "bool"
            case .integer(_, _, let u): type = u == .none ? "integer" : "integer (\(u))"
            case .real: type = "real"
            case .string: type = "string"
            case .enumeration(let w): type = w.joined(separator: " / ")
            case .list: type = "list"
            }
            let aliases = d.aliases.isEmpty ? "" : " Old name: " + d.aliases.map { "`\($0)`" }.joined(separator: ", ") + "."
            out += "| `\(name)` | \(type) | `\(d.defaultValue)` | \(d.context.rawValue) | "
                + "\(d.support == .implemented ? "implemented" : "accepted, not yet acted on") | \(d.doc)\(aliases) |\n"
        }
        return out
    }
}
