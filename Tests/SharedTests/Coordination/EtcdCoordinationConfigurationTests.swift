import Testing
@testable import Shared

/// `watchdog_coordination = etcd`: the typed configuration, its defaults, and each diagnostic with file, line and
/// parameter.
@Suite struct EtcdCoordinationConfigurationTests {
    static func load(_ text: String) -> ConfigLoader.Result {
        ConfigLoader.load(text: text, file: "/etc/pgpool/pgpool.conf") { _, _ in nil }
    }

    static func diagnostics(_ r: ConfigLoader.Result, _ severity: Diagnostic.Severity) -> [Diagnostic] {
        r.diagnostics.filter { $0.severity == severity }
    }

    @Test func defaultsWithoutAMemberListOrNodeIDFile() throws {
        let r = Self.load("use_watchdog = on\nwatchdog_coordination = etcd\ndelegate_ip = '10.0.0.100'\n")
        #expect(r.diagnostics == [])
        #expect(r.configuration.watchdog == nil)
        let e = try #require(r.configuration.etcdCoordination)
        #expect(e.endpoints == ["http://127.0.0.1:2379"])
        #expect(e.leaderKey == "/poold/default/leader")
        #expect(e.memberKey("x") == "/poold/default/members/x")
        #expect(e.memberName == nil)
        #expect(e.timings.leaseTTL == .seconds(10))
        #expect(e.timings.renewInterval == .seconds(2))
        #expect(e.timings.margin == .milliseconds(2500))  // a quarter of the TTL
        #expect(e.timings.requestTimeout == .seconds(1))
        #expect(e.virtualIP?.address == "10.0.0.100")
        #expect(e.consensus.failoverRequireConsensus)
    }

    @Test func explicitSettings() throws {
        let r = Self.load("""
            use_watchdog = on
            watchdog_coordination = 'etcd'
            etcd_endpoints = 'http://10.0.0.5:2379, http://10.0.0.6:2379/'
            etcd_prefix = '/service/pg1/'
            etcd_member_name = 'pool1'
            etcd_lease_ttl = 3
            etcd_renew_interval = 500ms
            etcd_lease_margin = 1s
            etcd_request_timeout = 300
            etcd_user = 'poold'
            etcd_password = 'secret'
            """)
        #expect(Self.diagnostics(r, .error) == [])
        // TTL 3 s − margin 1 s: shorter than an etcd election may take.
        #expect(Self.diagnostics(r, .warning).map(\.parameter) == ["etcd_lease_ttl"])
        let e = try #require(r.configuration.etcdCoordination)
        #expect(e.endpoints == ["http://10.0.0.5:2379", "http://10.0.0.6:2379/"])
        #expect(e.prefix == "/service/pg1")
        #expect(e.memberName == "pool1")
        #expect(e.timings == .init(leaseTTL: .seconds(3), renewInterval: .milliseconds(500), margin: .seconds(1),
                                   requestTimeout: .milliseconds(300)))
        #expect(e.user == "poold")
        #expect("\(e)".contains("secret") == false)
    }

    @Test func errorsNameFileLineAndParameter() {
        let r = Self.load("""
            use_watchdog = on
            watchdog_coordination = etcd
            etcd_endpoints = 'https://10.0.0.5:2379,10.0.0.6'
            etcd_prefix = 'poold'
            etcd_lease_ttl = 3
            etcd_renew_interval = 1500
            etcd_user = 'x'
            """)
        let errors = Self.diagnostics(r, .error)
        #expect(errors.map(\.parameter) == ["etcd_endpoints", "etcd_endpoints", "etcd_prefix", "etcd_renew_interval", "etcd_user"])
        #expect(errors.map(\.line) == [3, 3, 4, 6, 7])
        #expect(errors.allSatisfy { $0.file == "/etc/pgpool/pgpool.conf" })
        #expect(errors[0].message.contains("TLS"))
        #expect(r.configuration.etcdCoordination == nil)
    }

    @Test func marginAtLeastTheTTLIsAnError() {
        let r = Self.load("use_watchdog = on\nwatchdog_coordination = etcd\netcd_lease_ttl = 2\netcd_lease_margin = 2s\n")
        #expect(Self.diagnostics(r, .error).map(\.parameter) == ["etcd_lease_margin"])
    }

    @Test func membershipParametersAreUnusedWithAWarning() {
        let r = Self.load("""
            use_watchdog = on
            watchdog_coordination = etcd
            hostname0 = 'server1'
            wd_port0 = 9000
            wd_heartbeat_deadtime = 4
            """)
        #expect(Self.diagnostics(r, .error) == [])
        let warnings = Self.diagnostics(r, .warning)
        #expect(warnings.count == 1)
        #expect(warnings.first?.line == 3)
        #expect(warnings.first?.message.contains("hostname, wd_port, wd_heartbeat_deadtime") == true)
        #expect(r.configuration.etcdCoordination != nil)
    }

    @Test func tlsFilesAreAcceptedWithAWarning() {
        let r = Self.load("use_watchdog = on\nwatchdog_coordination = etcd\netcd_ca_file = '/etc/ssl/ca.pem'\n")
        #expect(Self.diagnostics(r, .error) == [])
        #expect(Self.diagnostics(r, .warning).map(\.parameter) == ["etcd_ca_file"])
    }

    @Test func withoutUseWatchdogNothingRuns() {
        let r = Self.load("watchdog_coordination = etcd\n")
        #expect(r.configuration.etcdCoordination == nil)
        #expect(Self.diagnostics(r, .warning).map(\.parameter) == ["watchdog_coordination"])
    }

    @Test func theWatchdogStaysTheDefault() {
        let r = Self.load("use_watchdog = on\nhostname0 = 'a'\n")
        #expect(r.configuration.etcdCoordination == nil)
        #expect(Self.diagnostics(r, .error).map(\.parameter) == ["pgpool_node_id"])
    }
}

/// The values the etcd backend keeps: the leader's cluster record and the proposal key names.
@Suite struct EtcdClusterRecordTests {
    @Test func recordRoundTripsTheViewWithoutQuarantine() {
        let view = WatchdogClusterView(version: 4, primary: 0, nodes: [0: .up, 1: .down, 2: .quarantine])
        let record = EtcdClusterRecord(term: 42, version: 5, view: view)
        #expect(record.nodes == ["0": .up, "1": .down, "2": .up])
        #expect(record.view == WatchdogClusterView(version: 5, primary: 0, nodes: [0: .up, 1: .down, 2: .up]))
    }

    @Test(arguments: [
        (FailoverConsensus.Request(.nodeDown, nodes: [1]), "nodeDown:1"),
        (FailoverConsensus.Request(.promote, nodes: [2]), "promote:2"),
        (FailoverConsensus.Request(.nodeUp, nodes: [0, 3]), "nodeUp:0,3"),
    ])
    func proposalKeyNames(request: FailoverConsensus.Request, name: String) {
        #expect(request.etcdKeyName == name)
        #expect(FailoverConsensus.Request(etcdKeyName: name) == request)
    }

    @Test(arguments: ["", "nodeDown", "nodeDown:", "bogus:1", "nodeDown:1,x", "nodeDown:1:2"])
    func garbledProposalKeys(name: String) {
        #expect(FailoverConsensus.Request(etcdKeyName: name) == nil)
    }
}

/// Operators' requests forwarded through etcd, and the leader's answers.
@Suite struct EtcdAdminRequestTests {
    @Test(arguments: [
        (WatchdogAdminRequest.attach(1), "attach 1"), (.detach(2, waitForClients: false), "detach 2"),
        (.detach(2, waitForClients: true), "detach-wait 2"), (.promote(0), "promote 0"), (.switchover(1), "switchover 1"),
        (.recover(3), "recover 3"),
    ])
    func requestValues(request: WatchdogAdminRequest, value: String) {
        #expect(request.etcdValue == value)
        #expect(WatchdogAdminRequest(etcdValue: value) == request)
    }

    @Test(arguments: ["", "attach", "attach x", "attach -1", "reboot 1", "attach 1 2"])
    func garbledRequests(value: String) {
        #expect(WatchdogAdminRequest(etcdValue: value) == nil)
    }

    @Test func replies() {
        #expect(EtcdAdminReply(ok: true, message: "node 1 detached").etcdValue == "ok node 1 detached")
        #expect(EtcdAdminReply(etcdValue: "error no such node") == EtcdAdminReply(ok: false, message: "no such node"))
        #expect(EtcdAdminReply(etcdValue: "ok") == EtcdAdminReply(ok: true, message: ""))
        #expect(EtcdAdminReply(etcdValue: "maybe") == nil)
    }
}
