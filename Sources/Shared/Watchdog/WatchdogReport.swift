/// What one member knows of the watchdog cluster at an instant, for the admin socket's `watchdog`, the console
/// and PCP's `pcp_watchdog_info` (reference §6.8: the same fields, Pgpool-II's names in `pcpFields`). Pure:
/// built from the state machine, the configuration and the time.
public struct WatchdogReport: Equatable, Sendable {
    public struct Node: Equatable, Sendable {
        public var id: Int
        /// `host:wd_port`, the member's name on the wire.
        public var name: String
        public var hostname: String
        public var wdPort: Int
        public var pgpoolPort: Int
        public var state: WatchdogState
        public var priority: Int
        public var isLocal: Bool
        /// Seconds since this member last heard from it (nil: never, or the local member).
        public var lastHeardSecondsAgo: Double?
    }

    public var nodes: [Node]
    public var term: UInt64
    public var quorum: WatchdogQuorum.Status
    public var escalated: Bool
    /// The leader's member id, if one is known.
    public var leaderID: Int?
    public var votesNeeded: Int
    /// Seconds of the local leader's lease left (nil when it holds none).
    public var leaseLeftSeconds: Double?
    public var delegateIP: String
    /// The cluster-wide backend state this member uses (set by the executor from `WatchdogClusterSync`).
    public var cluster: Cluster?
    /// The coordination backend when it is not the built-in vote (etcd: its endpoints and their health).
    public var coordination: Coordination? = nil

    /// Which leader's view of the backends this member applies, and what it keeps apart by itself.
    public struct Cluster: Equatable, Sendable {
        /// The term and version of the view (0/0: this member's own state, no leader's view applied yet).
        public var viewTerm: UInt64
        public var viewVersion: UInt64
        public var primary: Int?
        /// Backend nodes this member's own checks fail and the cluster has not failed over.
        public var quarantined: [Int]

        public init(_ sync: WatchdogClusterSync) {
            viewTerm = sync.viewTerm
            viewVersion = sync.view.version
            primary = sync.view.primary
            quarantined = sync.quarantine.nodes.keys.sorted()
        }
    }

    public init(machine: WatchdogStateMachine, configuration: WatchdogConfiguration, now: Duration) {
        func seconds(_ d: Duration) -> Double {
            let (s, a) = d.components
            return Double(s) + Double(a) / 1e18
        }
        nodes = configuration.members.map { m in
            let local = m.id == configuration.localID
            let peer = machine.peers[m.id]
            return Node(id: m.id, name: m.name, hostname: m.hostname, wdPort: m.wdPort, pgpoolPort: m.pgpoolPort,
                        state: local ? machine.state : peer?.state ?? .dead,
                        priority: local ? machine.effectivePriority : peer?.priority ?? 0, isLocal: local,
                        lastHeardSecondsAgo: local ? nil : peer?.lastHeard.map { seconds(now - $0) })
        }
        term = machine.term
        quorum = machine.quorumStatus(now: now)
        escalated = machine.escalated
        leaderID = machine.leaderID
        votesNeeded = machine.configuration.votesNeeded
        leaseLeftSeconds = machine.leaseExpiry.map { max(0, seconds($0 - now)) }
        delegateIP = configuration.virtualIP?.address ?? ""
    }

    public var leader: Node? { leaderID.flatMap { id in nodes.first { $0.id == id } } }
    /// Members this one sees alive (itself included).
    public var aliveCount: Int { nodes.filter { $0.isLocal || $0.state.isActive }.count }

    /// `pcp_watchdog_info`'s top-level fields, local member first (Pgpool-II's order for id −1).
    public var pcpFields: [(String, String)] {
        [("RemoteNodeCount", "\(nodes.count - 1)"), ("MemberRemoteNodeCount", "\(nodes.count - 1)"),
         ("NodesRequireForQuorum", "\(votesNeeded)"), ("QuorumStatus", "\(quorum.rawValue)"),
         ("AliveNodeCount", "\(max(0, aliveCount - 1))"), ("Escalated", escalated ? "1" : "0"),
         ("LeaderNodeName", leader?.name ?? "Not Set"), ("LeaderHostName", leader?.hostname ?? "Not Set"),
         ("NodeCount", "\(nodes.count)")]
    }

    /// Nodes in `pcp_watchdog_info` order: the local member first, then the others by id.
    public var pcpNodes: [Node] { nodes.filter(\.isLocal) + nodes.filter { !$0.isLocal } }
}
