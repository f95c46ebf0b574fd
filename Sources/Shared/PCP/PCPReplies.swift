import Foundation

/// The reply packets of each PCP command, byte for byte as Pgpool-II's pcp_worker.c writes them (reference
/// §6.5–6.8). Pure: the executor gathers the data (node rows, sessions, health counters, the watchdog view) and
/// these functions only lay it out, so a layout can be compared with captured bytes in a unit test.
public enum PCPReplies {
    /// Which `NodeInfo` field order to send (reference §6.6): clients parse positionally, without negotiation.
    public enum NodeInfoLayout: String, Equatable, Sendable, CaseIterable {
        /// Pgpool-II 4.3 (Debian bookworm's 4.3.5 `pcp_node_info`): 12 fields, no standby_delay_by_time.
        case v43 = "4.3"
        /// Pgpool-II 4.4 and later: 13 fields, standby_delay_by_time before standby_delay.
        case v44 = "4.4"
    }

    /// What one `NodeInfo` packet carries.
    public struct Node: Equatable, Sendable {
        public var hostname: String
        public var port: Int
        /// BACKEND_STATUS digit: 0 unused, 1 waiting (connect wait), 2 up, 3 down.
        public var status: Int
        public var quarantine: Bool
        /// Live pg_status: up / down / unknown.
        public var pgStatus: String
        /// Normalised weight, 0…1 (sent × RAND_MAX).
        public var weight: Double
        /// SERVER_ROLE digit: 2 primary, 3 standby.
        public var role: Int
        public var pgRole: String
        /// Bytes behind, or microseconds when `delayByTime`.
        public var standbyDelay: UInt64
        public var delayByTime: Bool
        public var replicationState: String
        public var replicationSyncState: String
        /// Epoch seconds.
        public var statusChangedTime: UInt64

        public init(hostname: String, port: Int, status: Int, quarantine: Bool, pgStatus: String, weight: Double, role: Int,
                    pgRole: String, standbyDelay: UInt64, delayByTime: Bool, replicationState: String,
                    replicationSyncState: String, statusChangedTime: UInt64) {
            self.hostname = hostname
            self.port = port
            self.status = status
            self.quarantine = quarantine
            self.pgStatus = pgStatus
            self.weight = weight
            self.role = role
            self.pgRole = pgRole
            self.standbyDelay = standbyDelay
            self.delayByTime = delayByTime
            self.replicationState = replicationState
            self.replicationSyncState = replicationSyncState
            self.statusChangedTime = statusChangedTime
        }

        /// poold's node status words as Pgpool-II's BACKEND_STATUS digit and quarantine flag.
        public static func statusDigit(_ status: NodeStatus) -> (Int, Bool) {
            switch status {
            case .unused: return (0, false)
            case .waiting: return (1, false)
            case .up: return (2, false)
            case .down: return (3, false)
            case .quarantine: return (3, true)
            }
        }
    }

    static let randMax = 2147483647.0

    /// `%f`.
    static func f6(_ v: Double) -> String { String(format: "%f", v) }

    public static func nodeCount(_ n: Int) -> [UInt8] { PCPProtocol.commandComplete("l", [String(n)]) }

    /// `ArraySize`, one `NodeInfo` per node, `CommandComplete`, each its own `i` packet.
    public static func nodeInfo(_ nodes: [Node], arraySize: Int, layout: NodeInfoLayout) -> [UInt8] {
        var out = PCPProtocol.packet("i", PCPProtocol.strings(["ArraySize", String(arraySize)]))
        for n in nodes {
            var fields = [n.hostname, String(n.port), String(n.status), n.quarantine ? "1" : "0", n.pgStatus,
                          f6(n.weight * randMax), String(n.role), n.pgRole]
            switch layout {
            case .v43: fields += [String(n.standbyDelay)]
            case .v44: fields += [n.delayByTime ? "1" : "0", String(n.standbyDelay)]
            }
            fields += [n.replicationState, n.replicationSyncState, String(n.statusChangedTime)]
            out += PCPProtocol.packet("i", PCPProtocol.strings(["NodeInfo"] + fields))
        }
        return out + PCPProtocol.commandComplete("i")
    }

    /// The 20 fields of SHOW pool_health_check_stats for one node.
    public static func healthCheckStats(_ row: [String]) -> [UInt8] { PCPProtocol.commandComplete("h", row) }

    /// The children's "pids": poold's session ids.
    public static func processCount(_ pids: [Int]) -> [UInt8] {
        PCPProtocol.commandComplete("n", [String(pids.count)] + pids.map(String.init))
    }

    /// `ArraySize`, `ProcessInfo` rows (21 fields, Pgpool-II 4.7's order; older clients ignore the tail), `CommandComplete`.
    public static func processInfo(_ rows: [[String]], arraySize: Int) -> [UInt8] {
        var out = PCPProtocol.packet("p", PCPProtocol.strings(["ArraySize", String(arraySize)]))
        for r in rows { out += PCPProtocol.packet("p", PCPProtocol.strings(["ProcessInfo"] + r)) }
        return out + PCPProtocol.commandComplete("p")
    }

    /// SHOW pool_pools' 18 columns → ProcessInfo's 21 fields (client_host, client_port, statement appended).
    public static func processInfoRow(poolRow r: [String], clientHost: String = "", clientPort: String = "") -> [String] {
        Array(r.prefix(18)) + [clientHost, clientPort, ""]
    }

    /// `ArraySize` with a binary int32 count, `ProcessConfig` name / value / description rows, `CommandComplete`.
    public static func poolStatus(_ rows: [[String]]) -> [UInt8] {
        let n = UInt32(rows.count)
        var out = PCPProtocol.packet("b", PCPProtocol.strings(["ArraySize"]) + [UInt8(n >> 24), UInt8(n >> 16 & 0xff),
                                                                             UInt8(n >> 8 & 0xff), UInt8(n & 0xff)])
        for r in rows { out += PCPProtocol.packet("b", PCPProtocol.strings(["ProcessConfig"] + Array(r.prefix(3)))) }
        return out + PCPProtocol.commandComplete("b")
    }

    /// `CommandComplete` plus the watchdog JSON of `get_node_list_json()`; `node` −1 = every member (local first),
    /// else only the member with that id (nil when there is none: Pgpool-II's `invalid watchdog index`).
    public static func watchdogInfo(_ report: WatchdogReport, node: Int) -> [UInt8]? {
        let nodes = node == -1 ? report.pcpNodes : report.pcpNodes.filter { $0.id == node }
        guard !nodes.isEmpty else { return nil }
        return PCPProtocol.commandComplete("w", [watchdogJSON(report, nodes: nodes)])
    }

    static func json(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    static func watchdogJSON(_ r: WatchdogReport, nodes: [WatchdogReport.Node]) -> String {
        let strings: Set = ["LeaderNodeName", "LeaderHostName"]
        var parts = r.pcpFields.map { k, v in "\(json(k)):\(strings.contains(k) ? json(v) : v)" }
        if let i = parts.firstIndex(where: { $0.hasPrefix("\"NodeCount\"") }) { parts[i] = "\"NodeCount\":\(nodes.count)" }
        let delegate = r.delegateIP.isEmpty ? "Not_Set" : r.delegateIP
        let list = nodes.map { n in
            "{\"ID\":\(n.id),\"State\":\(n.state.rawValue),\"Membership\":0,\"MembershipString\":\"MEMBER\","
                + "\"NodeName\":\(json(n.name)),\"HostName\":\(json(n.hostname)),\"StateName\":\(json(n.state.name)),"
                + "\"DelegateIP\":\(json(delegate)),\"WdPort\":\(n.wdPort),\"PgpoolPort\":\(n.pgpoolPort),"
                + "\"Priority\":\(n.priority)}"
        }
        return "{" + parts.joined(separator: ",") + ",\"WatchdogNodes\":[" + list.joined(separator: ",") + "]}"
    }

    /// The reply of a command with no data: `c` (attach, recovery), `d` (detach, promote), `z`, `v`, `g`, `a`, `t`.
    public static func done(_ kind: Character) -> [UInt8] { PCPProtocol.commandComplete(kind) }
}
