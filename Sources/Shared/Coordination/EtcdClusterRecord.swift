/// The leader's view of the backends as it is kept in etcd under `<prefix>/cluster` (JSON): written only by the
/// leader, in a txn that compares the leader key's create revision with the writer's term, so a deposed
/// leader's write fails; read by every member (a restarted one too) and applied as the watchdog's view is.
/// Quarantine is local to a member and never written: a quarantined node is written as up.
public struct EtcdClusterRecord: Codable, Equatable, Sendable {
    /// The leader key's create revision when it was written.
    public var term: Int64
    /// Grows by one per write; a new leader continues from the version it last applied.
    public var version: UInt64
    public var primary: Int?
    /// Status by node id (JSON object keys are strings).
    public var nodes: [String: NodeStatus]

    public init(term: Int64, version: UInt64, view: WatchdogClusterView) {
        self.term = term
        self.version = version
        primary = view.primary
        nodes = Dictionary(uniqueKeysWithValues: view.nodes.map { (String($0.key), $0.value == .quarantine ? .up : $0.value) })
    }

    public var view: WatchdogClusterView {
        WatchdogClusterView(version: version, primary: primary,
                            nodes: Dictionary(nodes.compactMap { k, v in Int(k).map { ($0, v) } }, uniquingKeysWith: { a, _ in a }))
    }
}

/// A failover proposal's key below `<prefix>/proposals/`: `<kind>:<node>,<node>…`, with one key per proposing
/// member under it (`…/<member name>`, bound to that member's lease), so the leader counts distinct members and
/// a dead member's proposal goes with its lease.
extension FailoverConsensus.Request {
    public var etcdKeyName: String { "\(kind.rawValue):" + nodes.map(String.init).joined(separator: ",") }

    public init?(etcdKeyName text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let kind = FailoverConsensus.Kind(rawValue: String(parts[0])) else { return nil }
        let nodes = parts[1].split(separator: ",").map { Int($0) }
        guard !nodes.isEmpty, !nodes.contains(nil) else { return nil }
        self.init(kind, nodes: nodes.compactMap { $0 })
    }
}

/// An operator's request forwarded by a follower through etcd: `<prefix>/requests/<member>/<id>` holds
/// `<name> <node>` (`detach-wait` for a detach after the clients left), bound to the follower's lease; the
/// leader claims it (deletes it in a txn fenced on its term), runs it, and answers under
/// `<prefix>/replies/<member>/<id>` with `EtcdAdminReply`, bound to the same lease.
extension WatchdogAdminRequest {
    public var etcdValue: String {
        if case .detach(_, true) = self { return "detach-wait \(node)" }
        return "\(name) \(node)"
    }

    public init?(etcdValue text: String) {
        let parts = text.split(separator: " ")
        guard parts.count == 2, let node = Int(parts[1]), node >= 0 else { return nil }
        switch parts[0] {
        case "attach": self = .attach(node)
        case "detach": self = .detach(node, waitForClients: false)
        case "detach-wait": self = .detach(node, waitForClients: true)
        case "promote": self = .promote(node)
        case "switchover": self = .switchover(node)
        case "recover": self = .recover(node)
        default: return nil
        }
    }
}

/// The leader's answer to a forwarded request: `ok <text>` or `error <text>`.
public struct EtcdAdminReply: Equatable, Sendable {
    public var ok: Bool
    public var message: String

    public init(ok: Bool, message: String) {
        self.ok = ok
        self.message = message
    }

    public var etcdValue: String { (ok ? "ok " : "error ") + message }

    public init?(etcdValue text: String) {
        if text.hasPrefix("ok ") || text == "ok" {
            self.init(ok: true, message: String(text.dropFirst(3)))
        } else if text.hasPrefix("error ") || text == "error" {
            self.init(ok: false, message: String(text.dropFirst(6)))
        } else {
            return nil
        }
    }
}
