import Testing
@testable import Shared

@Suite struct ReplicationCheckTests {
    static let backends = [
        BackendConfig(id: 0, hostname: "h", port: 1, weight: 1, dataDirectory: "", flags: [], applicationName: "node0"),
        BackendConfig(id: 1, hostname: "h", port: 2, weight: 1, dataDirectory: "", flags: [], applicationName: "node1"),
        BackendConfig(id: 2, hostname: "h", port: 3, weight: 1, dataDirectory: "", flags: [], applicationName: "node2"),
    ]

    @Test func delaysAndStatesByApplicationName() {
        let rows: [[String?]] = [["0/3000200", "node2", "streaming", "async", "1500000"],
                                 ["0/3000200", "node1", "streaming", "quorum", nil]]
        let r = ReplicationCheck.compute(backends: Self.backends, primary: 0, primaryRows: rows,
                                         standbyLSNs: [1: "0/3000200", 2: "0/3000000"])
        #expect(r[0] == nil)
        #expect(r[1] == StandbyReplication(nodeID: 1, delayBytes: 0, delaySeconds: nil, state: "streaming", syncState: "quorum"))
        #expect(r[2] == StandbyReplication(nodeID: 2, delayBytes: 0x200, delaySeconds: 1.5, state: "streaming", syncState: "async"))
        #expect(ReplicationCheck.delayText(r[2], byTime: false) == "512")
        #expect(ReplicationCheck.delayText(r[2], byTime: true) == "1.500000 second")
        #expect(ReplicationCheck.delayText(StandbyReplication(nodeID: 1, delayBytes: 0, delaySeconds: 2.25, state: "", syncState: ""),
                                           byTime: true) == "2.250000 seconds")
    }

    @Test func unreachableStandbyAndNoWalSender() {
        let r = ReplicationCheck.compute(backends: Self.backends, primary: 0, primaryRows: [["0/5", nil, nil, nil, nil]],
                                         standbyLSNs: [1: "0/1"])
        #expect(r[1] == StandbyReplication(nodeID: 1, delayBytes: 4, delaySeconds: nil, state: "", syncState: ""))
        #expect(r[2]?.delayBytes == nil)
    }

    @Test func logStandbyDelayPolicies() {
        let s = [StandbyReplication(nodeID: 1, delayBytes: 0, delaySeconds: 0, state: "streaming", syncState: "async"),
                 StandbyReplication(nodeID: 2, delayBytes: 4096, delaySeconds: 0.5, state: "streaming", syncState: "async")]
        #expect(ReplicationCheck.logLines(s, primary: 0, policy: "none", thresholdBytes: 0, thresholdMilliseconds: 0).isEmpty)
        #expect(ReplicationCheck.logLines(s, primary: 0, policy: "always", thresholdBytes: 0, thresholdMilliseconds: 0)
                == ["Replication of node: 2 is behind 4096 bytes from the primary server (node: 0)"])
        #expect(ReplicationCheck.logLines(s, primary: 0, policy: "if_over_threshold", thresholdBytes: 5000, thresholdMilliseconds: 0).isEmpty)
        #expect(ReplicationCheck.logLines(s, primary: 0, policy: "if_over_threshold", thresholdBytes: 4000, thresholdMilliseconds: 0).count == 1)
        #expect(ReplicationCheck.logLines(s, primary: 0, policy: "if_over_threshold", thresholdBytes: 0, thresholdMilliseconds: 100)
                == ["Replication of node: 2 is behind 0.500000 second(s) from the primary server (node: 0)"])
    }
}
