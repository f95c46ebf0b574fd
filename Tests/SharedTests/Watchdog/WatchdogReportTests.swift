import Testing
@testable import Shared

/// `WatchdogReport`: what the admin socket's `watchdog` and `pcp_watchdog_info` show, from a leader's machine.
@Suite struct WatchdogReportTests {
    @Test func aLeadersReportHasPcpWatchdogInfosFieldsLocalMemberFirst() throws {
        let text = """
            use_watchdog = on
            delegate_ip = '10.77.0.200'
            hostname0 = 'host0'
            wd_port0 = 9000
            hostname1 = 'host1'
            wd_port1 = 9000
            hostname2 = 'host2'
            wd_port2 = 9000
            wd_heartbeat_keepalive = 1
            wd_heartbeat_deadtime = 4
            backend_hostname0 = '127.0.0.1'
            """
        let r = WatchdogConfigurationTests.load(text, nodeID: "0\n")
        let config = try #require(r.configuration.watchdog)
        var (sm, t) = WatchdogTranscriptTests.makeLeader()
        let report = WatchdogReport(machine: sm, configuration: config, now: t)
        let fields = Dictionary(uniqueKeysWithValues: report.pcpFields)
        #expect(fields["QuorumStatus"] == "1" && fields["Escalated"] == "1" && fields["NodeCount"] == "3")
        #expect(fields["LeaderNodeName"] == "host0:9000" && fields["LeaderHostName"] == "host0")
        #expect(fields["NodesRequireForQuorum"] == "2" && fields["RemoteNodeCount"] == "2")
        #expect(report.pcpNodes.first?.isLocal == true && report.pcpNodes.first?.state == .leader)
        #expect(report.term == 1 && report.delegateIP == "10.77.0.200")
        #expect(report.leaseLeftSeconds.map { $0 > 1.9 && $0 <= 2 } == true, "lease of deadtime/2 from the acked beacon")
        // Past the lease without answers: stepped down, no leader, no lease.
        t += .seconds(3)
        _ = sm.event(.tick, now: t)
        let later = WatchdogReport(machine: sm, configuration: config, now: t)
        #expect(!later.escalated && later.leaseLeftSeconds == nil)
        #expect(Dictionary(uniqueKeysWithValues: later.pcpFields)["Escalated"] == "0")
    }
}
