import Testing
@testable import Shared

/// The watchdog block of pgpool.conf in both of Pgpool-II's forms, and each validation diagnostic with its file,
/// line and parameter.
@Suite struct WatchdogConfigurationTests {
    static func load(_ text: String, nodeID: String? = nil) -> ConfigLoader.Result {
        ConfigLoader.load(text: text, file: "/etc/pgpool/pgpool.conf") { path, from in
            let resolved = path.hasPrefix("/") ? path : "/etc/pgpool/" + path
            return resolved == "/etc/pgpool/pgpool_node_id" ? nodeID.map { (resolved, $0) } : nil
        }
    }

    static func errors(_ r: ConfigLoader.Result) -> [Diagnostic] { r.diagnostics.filter { $0.severity == .error } }
    static func warnings(_ r: ConfigLoader.Result) -> [Diagnostic] { r.diagnostics.filter { $0.severity == .warning } }

    /// The seed's own block (poolhost1's file), verbatim.
    static let seed = """
        use_watchdog = on
        wd_hostname = 'poolhost1'
        delegate_IP = '10.10.10.155'
        if_up_cmd = '/usr/bin/sudo /sbin/ip addr add $_IP$/24 dev eth0 label eth0:0'
        if_down_cmd = '/usr/bin/sudo /sbin/ip addr del $_IP$/24 dev eth0'
        arping_cmd = '/usr/bin/sudo /usr/sbin/arping -U $_IP_$ -w 1 -I eth0'
        heartbeat_destination0 = 'poolhost2'
        other_pgpool_hostname0 = 'poolhost2'
        other_pgpool_port0 = 9999
        enable_consensus_with_half_votes = on
        backend_hostname0 = '127.0.0.1'
        backend_port0 = 5432
        """

    static let memberList = """
        use_watchdog = on
        hostname0 = 'server1'
        wd_port0 = 9000
        pgpool_port0 = 9999
        hostname1 = 'server2'
        wd_port1 = 9000
        pgpool_port1 = 9999
        hostname2 = 'server3'
        wd_port2 = 9000
        pgpool_port2 = 9999
        heartbeat_hostname0 = 'server1'
        heartbeat_port0 = 9694
        heartbeat_hostname1 = 'server2;192.168.2.2'
        heartbeat_device1 = 'eth0;eth1'
        heartbeat_port1 = 9694
        heartbeat_hostname2 = 'server3'
        heartbeat_port2 = 9695
        wd_priority = 3
        wd_authkey = 'secret'
        delegate_ip = '10.0.0.10'
        """

    @Test func seedBlockLoadsWithTwoMembersAndThisHostFirst() throws {
        let r = Self.load(Self.seed)
        #expect(Self.errors(r).isEmpty, "\(Self.errors(r))")
        let w = try #require(r.configuration.watchdog)
        #expect(w.form == .perHost)
        #expect(w.members.map(\.name) == ["poolhost1:9000", "poolhost2:9000"])
        #expect(w.localID == 0 && w.local.hostname == "poolhost1" && w.local.pgpoolPort == 9999)
        #expect(w.local.heartbeatPort == 9694)
        #expect(w.others.map(\.heartbeatDestinations) == [[HeartbeatDestination(address: "poolhost2", port: 9694)]])
        #expect(w.others[0].pgpoolPort == 9999 && w.others[0].wdPort == 9000)
        #expect(w.consensus.enableConsensusWithHalfVotes)
        #expect(WatchdogQuorum.votesNeeded(members: w.members.count, halfVotes: true) == 1)
        let vip = try #require(w.virtualIP)
        #expect(vip.address == "10.10.10.155")
        #expect(vip.expandedArping == "/usr/bin/sudo /usr/sbin/arping -U 10.10.10.155 -w 1 -I eth0")
        // $_IP$ is not replaced (as in Pgpool-II), and each of the two commands gets a loud warning at its line.
        #expect(vip.expandedUp.contains("$_IP$/24"))
        let ipWarnings = Self.warnings(r).filter { $0.message.contains("$_IP$") }
        #expect(ipWarnings.map(\.line) == [4, 5])
        #expect(ipWarnings.allSatisfy { $0.file == "/etc/pgpool/pgpool.conf" })
        #expect(Self.warnings(r).contains { $0.line == 2 && $0.message.contains("4.1 watchdog names") })
    }

    @Test func theOtherSeedHostSeesTheSameTwoMembers() throws {
        // poolhost2's file (the seed's second block): it names itself and poolhost1.
        let other = Self.seed.replacing("'poolhost2'", with: "'POOLHOST1'").replacing("'poolhost1'", with: "'poolhost2'")
            .replacing("POOLHOST1", with: "poolhost1")
        let w = try #require(Self.load(other).configuration.watchdog)
        #expect(Set(w.members.map(\.name)) == ["poolhost1:9000", "poolhost2:9000"])
        #expect(w.local.name == "poolhost2:9000")
    }

    @Test func memberListWithNodeIDFile() throws {
        let r = Self.load(Self.memberList, nodeID: "1\n")
        #expect(Self.errors(r).isEmpty, "\(Self.errors(r))")
        let w = try #require(r.configuration.watchdog)
        #expect(w.form == .memberList)
        #expect(w.members.map(\.id) == [0, 1, 2])
        #expect(w.localID == 1 && w.local.name == "server2:9000")
        #expect(w.members[1].heartbeatDestinations == [HeartbeatDestination(address: "server2", port: 9694, device: "eth0"),
                                                       HeartbeatDestination(address: "192.168.2.2", port: 9694, device: "eth1")])
        #expect(w.members[2].heartbeatPort == 9695)
        #expect(w.priority == 3)
        #expect(w.authKey == WatchdogAuthKey("secret") && "\(w.authKey!)" == "<redacted>")
        #expect(w.virtualIP?.expandedUp == "/usr/bin/sudo /sbin/ip addr add 10.0.0.10/24 dev eth0 label eth0:0")
        #expect(w.timings.deadtime == .seconds(30) && w.timings.lease == .seconds(15))
        #expect(WatchdogQuorum.votesNeeded(members: 3, halfVotes: false) == 2)
        #expect(r.configuration.effectiveSettingsText().contains("#   member 1 server2:9000 pgpool_port 9999"))
    }

    @Test func heartbeatHostnameDefaultsToTheMembersHost() throws {
        let r = Self.load("use_watchdog = on\nhostname0 = 'a'\nhostname1 = 'b'\n", nodeID: "0")
        let w = try #require(r.configuration.watchdog)
        #expect(w.members[1].heartbeatDestinations == [HeartbeatDestination(address: "b", port: 9694)])
        #expect(w.members[1].wdPort == 9000 && w.members[1].pgpoolPort == 9999)
    }

    @Test(arguments: [
        (nil, 0, "cannot read /etc/pgpool/pgpool_node_id"),
        ("", 1, "is empty"),
        ("one\n", 1, "holds \"one\", not a member number"),
        ("-1", 1, "not a member number"),
        ("3\n", 1, "pgpool_node_id is 3 but the configured members are 0, 1, 2"),
    ] as [(String?, Int, String)])
    func nodeIDFileProblemsNameTheFile(text: String?, line: Int, message: String) {
        let r = Self.load(Self.memberList, nodeID: text)
        let e = Self.errors(r)
        #expect(e.count == 1, "\(e)")
        #expect(e.first?.file == "/etc/pgpool/pgpool_node_id" && e.first?.line == line)
        #expect(e.first?.message.contains(message) == true, "\(e)")
        #expect(r.configuration.watchdog == nil)
    }

    @Test func watchdogOnWithoutMembers() {
        let r = Self.load("port = 9999\nuse_watchdog = on\n")
        let e = Self.errors(r)
        #expect(e.count == 1 && e[0].line == 2 && e[0].parameter == "use_watchdog")
        #expect(e[0].message.contains("no watchdog member is configured"))
    }

    @Test func watchdogOffChecksNothing() {
        let r = Self.load("hostname0 = 'a'\nwd_hostname = 'b'\n")
        #expect(Self.errors(r).isEmpty)
        #expect(r.configuration.watchdog == nil)
    }

    @Test func duplicateMembers() {
        let r = Self.load("use_watchdog = on\nhostname0 = 'a'\nhostname1 = 'b'\nhostname2 = 'A'\n", nodeID: "0")
        let e = Self.errors(r)
        #expect(e.count == 1 && e[0].line == 4 && e[0].parameter == "hostname2", "\(e)")
        #expect(e[0].message.contains("is member 0 again"))
        // a different wd_port on the same host is a different member
        #expect(Self.errors(Self.load("use_watchdog = on\nhostname0 = 'a'\nhostname1 = 'a'\nwd_port1 = 9001\n",
                                      nodeID: "0")).isEmpty)
        let old = Self.load("use_watchdog = on\nwd_hostname = 'a'\nother_pgpool_hostname0 = 'b'\nother_pgpool_hostname1 = 'a'\n")
        let e2 = Self.errors(old)
        #expect(e2.count == 1 && e2[0].line == 4 && e2[0].message.contains("is this host"), "\(e2)")
    }

    @Test func mixingTheFormsIsAnError() {
        let r = Self.load("use_watchdog = on\nhostname0 = 'a'\nhostname1 = 'b'\nother_pgpool_hostname0 = 'b'\n", nodeID: "0")
        let e = Self.errors(r)
        #expect(e.count == 1 && e[0].line == 4 && e[0].message.contains("use one form"), "\(e)")
    }

    @Test func fourOneHeartbeatDestinationsFindTheirMember() throws {
        let r = Self.load("""
            use_watchdog = on
            wd_hostname = 'a'
            wd_port = 9100
            wd_heartbeat_port = 9700
            other_pgpool_hostname0 = 'b'
            other_wd_port0 = 9100
            other_pgpool_hostname1 = 'c'
            heartbeat_destination0 = '10.0.0.3'
            heartbeat_destination_port0 = 9800
            heartbeat_device0 = 'eth1'
            heartbeat_destination1 = 'b'
            """)
        #expect(Self.errors(r).isEmpty, "\(Self.errors(r))")
        let w = try #require(r.configuration.watchdog)
        #expect(w.members.map(\.name) == ["a:9100", "b:9100", "c:9000"])
        #expect(w.local.heartbeatPort == 9700)
        // destination 0 names no member's host, so it is other member 0's (b); destination 1 names b.
        #expect(w.members[1].heartbeatDestinations.map(\.address) == ["10.0.0.3", "b"])
        #expect(w.members[1].heartbeatDestinations[0].device == "eth1")
        #expect(w.members[2].heartbeatDestinations == [HeartbeatDestination(address: "c", port: 9694)])
        let bad = Self.load("use_watchdog = on\nwd_hostname = 'a'\nother_pgpool_hostname0 = 'b'\n"
                            + "other_pgpool_hostname1 = 'c'\nheartbeat_destination5 = 'x'\n")
        #expect(Self.errors(bad).map(\.line) == [5])
    }

    @Test func emptyDelegateIPMeansNoVirtualIP() throws {
        let r = Self.load("use_watchdog = on\nhostname0 = 'a'\nif_up_cmd = 'ip addr add $_IP_$ dev lo'\n", nodeID: "0")
        #expect(Self.errors(r).isEmpty)
        #expect(try #require(r.configuration.watchdog).virtualIP == nil)
        #expect(Self.warnings(r).contains { $0.line == 3 && $0.message.contains("delegate_ip is empty") })
        // relative commands get if_cmd_path in front
        #expect(WatchdogConfiguration.VirtualIP.expand("ip addr add $_IP_$/24 dev lo", address: "1.2.3.4", path: "/sbin")
                == "/sbin/ip addr add 1.2.3.4/24 dev lo")
    }

    @Test func deadtimeShorterThanTwoHeartbeatsIsAnError() {
        let r = Self.load("use_watchdog = on\nhostname0 = 'a'\nwd_heartbeat_keepalive = 5\nwd_heartbeat_deadtime = 8\n",
                          nodeID: "0")
        let e = Self.errors(r)
        #expect(e.count == 1 && e[0].line == 4 && e[0].parameter == "wd_heartbeat_deadtime", "\(e)")
    }

    @Test func fourOneWdPortAndFourTwoWdPortNAreDifferentParameters() {
        #expect(Settings.lookup("wd_port")?.index == nil)
        #expect(Settings.lookup("wd_port")?.descriptor.doc.hasPrefix("4.1 form") == true)
        #expect(Settings.lookup("wd_port2")?.index == 2)
        #expect(Settings.lookup("wd_port2")?.descriptor.indexed == .required)
        #expect(Settings.lookup("wd_hostname")?.descriptor.name == "wd_hostname")
        #expect(Settings.lookup("delegate_IP")?.descriptor.name == "delegate_ip")
    }
}
