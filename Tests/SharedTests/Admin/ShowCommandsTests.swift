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
                              isLoadBalanceNode: true, replicationDelay: 0, replicationState: "streaming",
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
