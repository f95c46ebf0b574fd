/// pgpool's node status words: what poold believes about a backend, independent of what the backend says.
public enum NodeStatus: String, Equatable, Sendable, Codable {
    /// Serving (pgpool's "up"; pgpool also says "waiting" for up-but-not-yet-used, which poold shows for
    /// nodes that were never seen since start).
    case up
    case waiting
    /// Detached: no session uses it until it is attached again.
    case down
    /// Detached on this poold only (watchdog without quorum); kept for the vocabulary.
    case quarantine
    /// Not configured.
    case unused

    public var isUsable: Bool { self == .up || self == .waiting }
}

/// One backend as poold's cluster view holds it.
public struct NodeState: Equatable, Sendable {
    public var id: Int
    public var status: NodeStatus
    /// Seconds since the epoch of the last status or role change.
    public var lastStatusChange: Double

    public init(id: Int, status: NodeStatus, lastStatusChange: Double) {
        self.id = id
        self.status = status
        self.lastStatusChange = lastStatusChange
    }
}

/// The cluster as poold sees it: each node's status and which node is the primary. Only the cluster
/// service changes it; sessions read snapshots. Pure: time is passed in.
public struct ClusterState: Equatable, Sendable {
    public private(set) var nodes: [NodeState]
    public private(set) var primary: Int?
    /// Bumped on every change, so cached backend connections of an older topology are not reused.
    public private(set) var epoch: Int = 0

    public init(nodeIDs: [Int], now: Double, statusFile: [NodeStatus]? = nil) {
        nodes = nodeIDs.enumerated().map { i, id in
            let saved = statusFile.flatMap { i < $0.count ? $0[i] : nil }
            return NodeState(id: id, status: saved == .down ? .down : .up, lastStatusChange: now)
        }
    }

    public func node(_ id: Int) -> NodeState? { nodes.first { $0.id == id } }
    public func status(of id: Int) -> NodeStatus { node(id)?.status ?? .unused }
    public var usableNodes: [Int] { nodes.filter { $0.status.isUsable }.map(\.id) }

    /// A login's backends, leased from an earlier view, still fit this one: `primary` is still the primary
    /// and both nodes are still usable. False after a detach, failover or switchover overlapped the login,
    /// which then leases again instead of relaying to the old primary.
    public func stillServes(primary: Int, loadBalance: Int?) -> Bool {
        guard self.primary == primary, status(of: primary).isUsable else { return false }
        if let loadBalance, !status(of: loadBalance).isUsable { return false }
        return true
    }

    public mutating func set(_ id: Int, _ status: NodeStatus, now: Double) {
        guard let i = nodes.firstIndex(where: { $0.id == id }), nodes[i].status != status else { return }
        nodes[i].status = status
        nodes[i].lastStatusChange = now
        if status == .down, primary == id { primary = nil }
        epoch += 1
    }

    public mutating func setPrimary(_ id: Int?, now: Double) {
        guard primary != id else { return }
        for i in nodes.indices where nodes[i].id == primary || nodes[i].id == id { nodes[i].lastStatusChange = now }
        primary = id
        epoch += 1
    }

    /// `pgpool_status`: one line per node, `up`, `down` or `unused`.
    public var statusFileText: String {
        nodes.map { $0.status == .down || $0.status == .quarantine ? "down" : $0.status == .unused ? "unused" : "up" }
            .joined(separator: "\n") + "\n"
    }

    /// Reads `pgpool_status`. When no node would be up the file is treated as bogus (as Pgpool-II does).
    public static func parseStatusFile(_ text: String) -> [NodeStatus]? {
        let words = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: " \t").lowercased() }
            .filter { !$0.isEmpty }
        var out: [NodeStatus] = []
        for w in words {
            switch w {
            case "up", "waiting": out.append(.up)
            case "down": out.append(.down)
            case "unused": out.append(.unused)
            default: return nil
            }
        }
        return out.contains(.up) ? out : nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
