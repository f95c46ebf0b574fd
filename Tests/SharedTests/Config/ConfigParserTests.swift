import Testing
@testable import Shared

/// pgpool.conf syntax, values, units, includes, aliases and diagnostics with file, line and parameter.
@Suite struct ConfigParserTests {
    static func load(_ text: String, files: [String: String] = [:]) -> ConfigLoader.Result {
        ConfigLoader.load(text: text, file: "/etc/pgpool.conf") { path, from in
            let resolved = path.hasPrefix("/") ? path : "/etc/" + path
            return files[resolved].map { (resolved, $0) }
        }
    }

    @Test func quotedUnquotedCommentsAndOptionalEquals() {
        let r = Self.load("""
            # comment
            port = 9999   # trailing comment
            listen_addresses = 'localhost,127.0.0.1'
            reset_query_list 'ABORT; DISCARD ALL'
            log_min_messages = DEBUG1
            connection_cache = off
            backend_hostname0 = 'it''s # not a comment'
            """)
        #expect(r.diagnostics.isEmpty)
        #expect(r.configuration.port == 9999)
        #expect(r.configuration.listenAddresses == ["localhost", "127.0.0.1"])
        #expect(r.configuration.resetQueries == ["ABORT", "DISCARD ALL"])
        #expect(r.configuration.string("log_min_messages") == "debug1")
        #expect(r.configuration.connectionCache == false)
        #expect(r.configuration.backends.first?.hostname == "it's # not a comment")
    }

    @Test(arguments: [
        ("search_primary_node_timeout = 6min", "search_primary_node_timeout", 360),
        ("search_primary_node_timeout = 10s", "search_primary_node_timeout", 10),
        ("connect_timeout = 2s", "connect_timeout", 2000),
        ("connect_timeout = 1500", "connect_timeout", 1500),
        ("memqcache_total_size = 64MB", "memqcache_total_size", 64 * 1024 * 1024),
        ("unix_socket_permissions = 0770", "unix_socket_permissions", 0o770),
        ("client_idle_limit = 1h", "client_idle_limit", 3600),
    ])
    func unitsAreConverted(line: String, name: String, expected: Int) {
        let r = Self.load(line)
        #expect(!r.hasErrors, "\(r.diagnostics)")
        #expect(r.configuration.int(name) == expected)
    }

    @Test func badValueNamesFileLineAndParameter() {
        let r = Self.load("port = 9999\nnum_init_children = lots\nconnection_cache = maybe\nport = 70000\n")
        let errors = r.diagnostics.filter { $0.severity == .error }
        #expect(errors.count == 3)
        #expect(errors[0].description.hasPrefix("ERROR: /etc/pgpool.conf:2: parameter \"num_init_children\":"))
        #expect(errors[1].line == 3 && errors[1].parameter == "connection_cache")
        #expect(errors[2].line == 4 && errors[2].message.contains("outside"))
    }

    @Test func unusableRoutingValuesAreErrorsAtTheirLine() {
        let r = Self.load("""
            database_redirect_preference_list = 'bench:nowhere'
            write_function_list = 'nextval'
            read_only_function_list = 'lower'
            primary_routing_query_pattern_list = 'select (;'
            app_name_redirect_preference_list = 'psql:standby(0.5)'
            """)
        let errors = r.diagnostics.filter { $0.severity == .error }
        #expect(errors.map(\.line).sorted() == [1, 3, 4], "\(errors)")
        #expect(errors.contains { $0.parameter == "read_only_function_list" && $0.message.contains("cannot both be set") })
    }

    @Test func syntaxErrorsAndUnknownParameters() {
        let r = Self.load("port = '9999\nno_such_parameter = 1\n= 5\nport = 1 'x'\n")
        #expect(r.diagnostics.map(\.line) == [1, 3, 4, 2])
        #expect(r.diagnostics.allSatisfy { $0.severity == .error })
        #expect(r.diagnostics.contains { $0.message == "unrecognized configuration parameter" && $0.parameter == "no_such_parameter" })
    }

    @Test func aliasesAndPlannedParametersWarn() {
        let r = Self.load("""
            follow_master_command = '/etc/follow.sh %d'
            backend_hostname0 = 'h'
            backend_flag0 = 'ALWAYS_MASTER|DISALLOW_TO_FAILOVER'
            """)
        #expect(!r.hasErrors)
        #expect(r.diagnostics.contains { $0.severity == .warning && $0.message.contains("\"follow_master_command\" is deprecated") })
        #expect(r.configuration.string("follow_primary_command") == "/etc/follow.sh %d")
        #expect(r.configuration.backends[0].flags == [.alwaysPrimary, .disallowToFailover])
    }

    @Test func backendsAndIndexedHealthCheckSettings() {
        let r = Self.load("""
            backend_hostname0 = '127.0.0.1'
            backend_port0 = 5432
            backend_weight0 = 0.5
            backend_hostname2 = '/tmp'
            backend_port2 = 5434
            backend_application_name2 = 'node2'
            health_check_period = 10
            health_check_period2 = 3
            backend_flag2 = 'NOPE'
            """)
        #expect(r.configuration.backends.map(\.id) == [0, 2])
        #expect(r.configuration.backends[0].weight == 0.5)
        #expect(r.configuration.backends[1].applicationName == "node2")
        #expect(r.configuration.value("health_check_period", node: 2) == .integer(3))
        #expect(r.configuration.value("health_check_period", node: 0) == .integer(10))
        #expect(r.diagnostics.contains { $0.severity == .error && $0.parameter == "backend_flag2" && $0.line == 9 })
    }

    @Test func includeIsFollowedAndMissingIncludeIsAnError() {
        let r = Self.load("include = 'extra.conf'\nport = 1\ninclude '/missing.conf'\n",
                          files: ["/etc/extra.conf": "num_init_children = 7\nmax_pool = x\n"])
        #expect(r.configuration.numInitChildren == 7)
        #expect(r.diagnostics.contains { $0.file == "/etc/extra.conf" && $0.line == 2 && $0.parameter == "max_pool" })
        #expect(r.diagnostics.contains { $0.file == "/etc/pgpool.conf" && $0.line == 3 && $0.message.contains("could not open") })
    }

    @Test func generatedSampleNamesEverySettingAndParsesCleanly() {
        let sample = SettingsDocumentation.sampleFile()
        for d in Settings.all { #expect(sample.contains("#\(d.name)")) }
        // Uncommenting every line of the sample must give a file that only warns (planned parameters).
        let uncommented = sample.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("#"), line.contains(" = "), !line.hasPrefix("#-"), !line.hasPrefix("# ") else { return nil }
            return String(line.dropFirst())
        }.joined(separator: "\n")
        let r = Self.load(uncommented)
        #expect(!r.hasErrors, "\(r.diagnostics.filter { $0.severity == .error })")
        #expect(r.configuration.port == 9999)
        #expect(Self.load(sample).diagnostics.isEmpty)
    }
}
