/// The cluster-wide backend state the watchdog leader owns: every backend node's status and the primary, with a
/// version the leader bumps on each change (share/doc/watchdog.md, "Cluster-wide backend state"). The leader
/// publishes it in `clusterView` messages; a member applies a view only from the leader it follows, in the current
/// term, and only when (term, version) is newer than the view it applied last. A published view never says
/// `quarantine`: quarantine is one member's local matter (`Quarantine`), laid over the view by that member.
public struct WatchdogClusterView: Equatable, Sendable {
    /// Grows by one with each change the leader publishes; a new leader continues from the version it knew.
    public var version: UInt64
    /// The primary node id, nil when there is none.
    public var primary: Int?
    /// Status by backend node id.
    public var nodes: [Int: NodeStatus]

    public init(version: UInt64 = 0, primary: Int?, nodes: [Int: NodeStatus]) {
        self.version = version
        self.primary = primary
        self.nodes = nodes
    }

    /// This member's cluster state as a view (the executor reports it after its cluster service changed it).
    public init(_ cluster: ClusterState, version: UInt64 = 0) {
        self.init(version: version, primary: cluster.primary,
                  nodes: Dictionary(cluster.nodes.map { ($0.id, $0.status) }, uniquingKeysWith: { a, _ in a }))
    }

    public func status(of node: Int) -> NodeStatus { nodes[node] ?? .unused }

    /// Same statuses and primary, whatever the versions.
    public func sameState(as other: WatchdogClusterView) -> Bool { primary == other.primary && nodes == other.nodes }

    /// Node ids in order.
    public var nodeIDs: [Int] { nodes.keys.sorted() }
}

extension NodeStatus {
    /// The status byte of a `clusterView` frame: Pgpool-II's `BACKEND_STATUS` numbers (CON_UNUSED 0,
    /// CON_CONNECT_WAIT 1, CON_UP 2, CON_DOWN 3), and 4 for quarantine.
    var wireCode: UInt8 {
        switch self {
        case .unused: return 0
        case .waiting: return 1
        case .up: return 2
        case .down: return 3
        case .quarantine: return 4
        }
    }

    init?(wireCode: UInt8) {
        switch wireCode {
        case 0: self = .unused
        case 1: self = .waiting
        case 2: self = .up
        case 3: self = .down
        case 4: self = .quarantine
        default: return nil
        }
    }
}
