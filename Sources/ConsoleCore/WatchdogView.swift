import Foundation

/// The watchdog screen's data: the admin socket's `watchdog` result (pcp_watchdog_info's fields plus term and
/// lease) as text, ready to render. Nil in `ConsoleState` when the watchdog is off.
public struct WatchdogView: Equatable, Sendable {
    public var leader: String
    public var term: String
    public var quorum: String
    public var needed: String
    public var escalated: Bool
    public var delegateIP: String
    public var leaseLeft: String
    /// The leader's backend view applied here ("term 3 v7") and nodes quarantined by this member ("1, 2").
    public var view: String = ""
    public var quarantined: String = ""
    /// The coordination backend's line when it is etcd ("etcd /poold/main: http://a:2379 ok, …").
    public var coordination: String = ""
    /// One row per member, local first: id, local mark, name, state, priority, last heard.
    public var members: [[String: String]]

    public static let columns = ["id", "", "member", "pgpool_port", "state", "priority", "last heard"]

    public init(leader: String, term: String, quorum: String, needed: String, escalated: Bool, delegateIP: String,
                leaseLeft: String, members: [[String: String]]) {
        self.leader = leader
        self.term = term
        self.quorum = quorum
        self.needed = needed
        self.escalated = escalated
        self.delegateIP = delegateIP
        self.leaseLeft = leaseLeft
        self.members = members
    }

    /// From the decoded JSON object of the `watchdog` command.
    public init(_ o: [String: Any]) {
        func s(_ v: Any?) -> String { v.map { "\($0)" } ?? "" }
        let lease = o["LeaseLeftSeconds"] as? Double ?? -1
        self.init(leader: s(o["LeaderNodeName"]), term: s(o["Term"]), quorum: s(o["QuorumStatusName"]),
                  needed: "\(s(o["NodesRequireForQuorum"])) of \(s(o["NodeCount"]))", escalated: s(o["Escalated"]) == "1",
                  delegateIP: s(o["DelegateIP"]), leaseLeft: lease < 0 ? "" : String(format: "%.1f s", lease),
                  members: (o["WatchdogNodes"] as? [[String: Any]] ?? []).map { n in
                      let heard = n["LastHeardSecondsAgo"] as? Double ?? -1
                      return ["id": s(n["ID"]), "": (n["Local"] as? Bool ?? false) ? "*" : "", "member": s(n["NodeName"]),
                              "pgpool_port": s(n["PgpoolPort"]), "state": s(n["StateName"]), "priority": s(n["Priority"]),
                              "last heard": heard < 0 ? "" : String(format: "%.1f s ago", heard)]
                  })
        if let v = o["ClusterViewVersion"] as? Int, let t = o["ClusterViewTerm"] as? Int {
            view = v == 0 ? "own state (no leader's view yet)" : "term \(t) v\(v)"
        }
        quarantined = (o["QuarantinedNodes"] as? [Int] ?? []).map(String.init).joined(separator: ", ")
        coordination = (o["Coordination"] as? [String: Any])?["Summary"] as? String ?? ""
    }

    /// The summary lines above the member table.
    public var summary: [String] {
        let local = members.first { $0[""] == "*" }?["member"] ?? "?"
        let vip = delegateIP == "Not_Set" || delegateIP.isEmpty ? "no delegate_ip"
            : escalated ? "\(delegateIP) held here (\(local))" : "\(delegateIP) held by the leader"
        var lines = ["leader: \(leader.isEmpty || leader == "Not Set" ? "none" : leader)   term \(term)   quorum: \(quorum) (\(needed) needed)",
                     "VIP: \(vip)" + (leaseLeft.isEmpty ? "" : "   lease left \(leaseLeft)")]
        if !view.isEmpty || !quarantined.isEmpty {
            lines.append("backends: \(view.isEmpty ? "?" : view)" + (quarantined.isEmpty ? "" : "   quarantined here: node \(quarantined)"))
        }
        if !coordination.isEmpty { lines.append(coordination) }
        return lines
    }
}
