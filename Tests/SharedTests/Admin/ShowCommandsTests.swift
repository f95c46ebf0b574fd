import NIOCore
import Testing
@testable import Shared

@Suite struct ShowCommandsTests {
    @Test(arguments: [
        ("SHOW pool_nodes", ShowCommand.poolNodes), ("show POOL_NODES;", .poolNodes), ("  show pool_version ", .poolVersion),
    ])
    func recognised(sql: String, expected: ShowCommand) {
        #expect(ShowCommand.parse(sql) == expected)
        #expect(ShowCommand.mightBeShowPool(Array(sql.utf8)))
    }

    @Test(arguments: ["show pool_cache_x", "show server_version", "show pool_nodes; select 1", "select 'show pool_nodes'"])
    func notOurs(sql: String) {
        #expect(ShowCommand.parse(sql) == nil)
    }

    @Test func poolNodesRowsUsePgpoolFormats() {
        let row = PoolNodeRow(nodeID: 1, hostname: "127.0.0.1", port: 5433, status: "up", pgStatus: "up",
                              weight: 1.0 / 3.0, role: "standby", pgRole: "standby", selectCount: 57856,
                              isLoadBalanceNode: true, replicationDelay: "0", replicationState: "streaming",
                              replicationSyncState: "async", lastStatusChange: "2026-11-26 20:34:40")
        #expect(ShowResult.poolNodes([row]) == [["1", "127.0.0.1", "5433", "up", "up", "0.333333", "standby", "standby",
                                                  "57856", "true", "0", "streaming", "async", "2026-11-26 20:34:40"]])
        #expect(ShowResult.poolNodesColumns.count == 14)
        #expect(ShowResult.fixed6(0.5) == "0.500000")
        #expect(ShowResult.fixed6(1) == "1.000000")
        #expect(ShowResult.normalisedWeights([1, 1, 2]) == [0.25, 0.25, 0.5])
        #expect(ShowResult.lsnDistance(primary: "0/3000148", standby: "0/3000000") == 0x148)
        #expect(ShowResult.lsnDistance(primary: "1/0", standby: "0/FFFFFFFF") == 1)
        #expect(ShowResult.lsnDistance(primary: "x", standby: "0/0") == nil)
    }

    @Test func resultSetWireShape() {
        let msgs = ShowResult.messages(columns: ["a", "b"], rows: [["1", ""]])
        #expect(msgs.count == 3)
        guard case .rowDescription(let fields) = msgs[0] else { Issue.record(); return }
        #expect(fields.map(\.columnAttribute) == [0, 1])
        #expect(fields.allSatisfy { $0.typeOID == 0 && $0.typeSize == -1 && $0.tableOID == 0 && $0.format == 0 })
        #expect(msgs[1] == .dataRow([ByteBuffer(string: "1"), ByteBuffer(string: "")]))
        #expect(msgs[2] == .commandComplete("SELECT 1"))
    }
}

@Suite struct ConfigTablesTests {
    static let config: PoolConfiguration = {
        ConfigLoader.load(text: """
            port = 9999
            num_init_children = 7
            backend_hostname0 = 'db0'
            backend_port0 = 5432
            backend_flag0 = 'ALWAYS_PRIMARY'
            backend_hostname1 = 'db1'
            backend_weight1 = 2
            health_check_period = 5
            """, file: "/etc/pgpool.conf", loader: { _, _ in nil }).configuration
    }()

    @Test func parsesPgpoolShow() {
        #expect(ShowCommand.parse("PGPOOL SHOW port") == .pgpoolShow("port"))
        #expect(ShowCommand.parse("pgpool show \"delegate_IP\"") == .pgpoolShow("delegate_IP"))
        #expect(ShowCommand.parse("show pool_status") == .poolStatus)
        #expect(ShowCommand.parse("SHOW pool_health_check_stats;") == .poolHealthCheckStats)
        #expect(ShowCommand.mightBeShowPool(Array("PGPOOL SHOW ALL".utf8)))
    }

    @Test func pgpoolShowOneParameterAllAndGroups() {
        #expect(ConfigTables.pgpoolShow("num_init_children", config: Self.config)! == (["num_init_children"], [["7"]]))
        #expect(ConfigTables.pgpoolShow("backend_hostname1", config: Self.config)! == (["backend_hostname1"], [["db1"]]))
        #expect(ConfigTables.pgpoolShow("backend_flag0", config: Self.config)!.rows == [["ALLOW_TO_FAILOVER|ALWAYS_PRIMARY"]])
        #expect(ConfigTables.pgpoolShow("no_such_thing", config: Self.config) == nil)
        let all = ConfigTables.pgpoolShow("ALL", config: Self.config)!
        #expect(all.columns == ["item", "value", "description"])
        #expect(all.rows.contains(["backend_weight1", "2.000000", "weight of backend #1"]))
        #expect(all.rows.contains { $0[0] == "port" && $0[1] == "9999" })
        let hc = ConfigTables.pgpoolShow("health_check", config: Self.config)!
        #expect(!hc.rows.isEmpty && hc.rows.allSatisfy { $0[0].hasPrefix("health_check") || $0[0] == "connect_timeout" })
    }

    @Test func poolStatusAndHealthCheckStats() {
        let rows = ConfigTables.poolStatus(Self.config)
        #expect(rows.contains { $0[0] == "num_init_children" && $0[1] == "7" })
        #expect(rows.filter { $0[0].hasSuffix("0") && $0[0].hasPrefix("backend_") }.count == 7)
        #expect(rows.contains(["backend_status1", "up", "status of backend #1"]))
        var cluster = ClusterState(nodeIDs: [0, 1], now: 100)
        cluster.setPrimary(0, now: 100)
        cluster.set(1, .down, now: 200)
        var machine = HealthCheckMachine(settings: HealthCheckSettings(period: 5, timeout: 2, user: "u", password: "", database: "postgres",
                                                                       maxRetries: 1, retryDelay: 1))
        _ = machine.probeFinished(success: true, at: 110, durationMS: 4)
        _ = machine.probeFinished(success: false, at: 115, durationMS: 2000)
        _ = machine.probeFinished(success: false, at: 116, durationMS: 2000)
        let stats = ConfigTables.healthCheckStats(Self.config, cluster: cluster, stats: [0: machine.stats], format: { "t\(Int($0))" })
        #expect(stats.count == 2 && stats.allSatisfy { $0.count == ConfigTables.healthCheckStatsColumns.count })
        #expect(stats[0][3] == "up" && stats[0][4] == "primary" && stats[1][3] == "down" && stats[1][4] == "standby")
        // total 2 rounds, 1 success, 1 failure, 1 retry; durations 4 … 2000 ms; last failure at 116.
        #expect(Array(stats[0][6...11]) == ["2", "1", "1", "0", "1", "0.500000"])
        #expect(stats[0][13] == "2000" && stats[0][14] == "4" && stats[0][19] == "t116" && stats[1][5] == "t200")
    }
}

@Suite struct SessionSettingsTests {
    @Test func parsesSetAndReset() {
        #expect(ShowCommand.parse("PGPOOL SET client_idle_limit = 5") == .pgpoolSet("client_idle_limit", "5"))
        #expect(ShowCommand.parse("pgpool set log_min_messages to 'debug1'") == .pgpoolSet("log_min_messages", "debug1"))
        #expect(ShowCommand.parse("pgpool set allow_sql_comments to on") == .pgpoolSet("allow_sql_comments", "on"))
        #expect(ShowCommand.parse("PGPOOL SET client_idle_limit TO DEFAULT") == .pgpoolSet("client_idle_limit", nil))
        #expect(ShowCommand.parse("PGPOOL RESET ALL") == .pgpoolReset("all"))
        #expect(ShowCommand.parse("pgpool set x") == nil)
    }

    @Test func onlySessionParametersChangeAndResetRestores() {
        let config = PoolConfiguration.defaults()
        var s = SessionSettings()
        #expect(s.set("client_idle_limit", to: "30") == nil)
        #expect(s.applied(to: config).clientIdleLimit == 30)
        #expect(s.set("num_init_children", to: "5")?.code == .cantChangeRuntimeParameter)
        #expect(s.set("client_idle_limit", to: "soon")?.code == .invalidParameterValue)
        #expect(s.set("nope", to: "1")?.code == .undefinedObject)
        #expect(s.reset("client_idle_limit") == nil)
        #expect(s.applied(to: config).clientIdleLimit == 0)
        _ = s.set("client_idle_limit", to: "9")
        #expect(s.reset("ALL") == nil && s.overrides.isEmpty)
    }
}
