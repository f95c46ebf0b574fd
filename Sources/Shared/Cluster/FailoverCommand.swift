/// The `%` placeholders of failover_command, failback_command and follow_primary_command (reference §5.2),
/// byte for byte: `%d`, `%p` and `%m` are substituted with a leading space as Pgpool-II does, unknown
/// sequences are dropped, `%%` is a literal `%`.
public struct FailoverPlaceholders: Equatable, Sendable {
    public struct Node: Equatable, Sendable {
        public var id: Int
        public var host: String
        public var port: Int
        public var dataDirectory: String
        public init(id: Int, host: String, port: Int, dataDirectory: String) {
            self.id = id
            self.host = host
            self.port = port
            self.dataDirectory = dataDirectory
        }
        public init(_ b: BackendConfig) { self.init(id: b.id, host: b.hostname, port: b.port, dataDirectory: b.dataDirectory) }
    }

    /// %d %h %p %D: the detached / attached / following node.
    public var node: Node
    /// %m %H %r %R: the new main node (failover: the node to promote; follow: the new primary), nil = none.
    public var newMain: Node?
    /// %M: old main node id.
    public var oldMainID: Int
    /// %P %N %S: the old primary.
    public var oldPrimary: Node?

    public init(node: Node, newMain: Node?, oldMainID: Int, oldPrimary: Node?) {
        self.node = node
        self.newMain = newMain
        self.oldMainID = oldMainID
        self.oldPrimary = oldPrimary
    }

    /// `%D` / `%R` in `template` that would expand to nothing because a backend has no
    /// backend_data_directoryN: the shell then drops the empty word and every later argument of the script
    /// moves one place. Returns a warning naming the nodes, or nil.
    public static func emptyDirectoryWarning(_ template: String, backends: [BackendConfig]) -> String? {
        let used = ["%D", "%R"].filter { template.contains($0) }
        let missing = backends.filter { $0.dataDirectory.isEmpty }.map(\.id)
        guard !used.isEmpty, !missing.isEmpty else { return nil }
        return "\(used.joined(separator: " and ")) expand to nothing for node \(missing.map(String.init).joined(separator: ", ")) "
            + "(backend_data_directoryN is not set): the script's later arguments would shift; set backend_data_directoryN"
    }

    public func expand(_ template: String) -> String {
        var out = ""
        var it = template.makeIterator()
        while let c = it.next() {
            guard c == "%" else { out.append(c); continue }
            guard let k = it.next() else { break }
            switch k {
            case "d": out += " \(node.id)"
            case "h": out += node.host
            case "p": out += " \(node.port)"
            case "D": out += node.dataDirectory
            case "m": out += " \(newMain?.id ?? -1)"
            case "H": out += newMain?.host ?? ""
            case "r": out += newMain.map { String($0.port) } ?? ""
            case "R": out += newMain?.dataDirectory ?? ""
            case "M": out += String(oldMainID)
            case "P": out += String(oldPrimary?.id ?? -1)
            case "N": out += oldPrimary?.host ?? ""
            case "S": out += oldPrimary.map { String($0.port) } ?? ""
            case "%": out += "%"
            default: break
            }
        }
        return out
    }
}

/// Choosing the primary from `pg_is_in_recovery()` answers (reference §4.3): an ALWAYS_PRIMARY node wins
/// without asking; otherwise the usable node answering `f`. Several: the lowest id (poold's choice where
/// Pgpool-II takes the last one found without detach_false_primary).
public enum PrimarySearch {
    /// `answers`: node id → true when in recovery (standby), false when primary; absent = no answer.
    public static func choose(backends: [BackendConfig], usable: [Int], answers: [Int: Bool]) -> Int? {
        if let fixed = backends.first(where: { $0.flags.contains(.alwaysPrimary) }) { return fixed.id }
        return usable.sorted().first { answers[$0] == false }
    }

    /// Every node that is up answered, and each is a standby: the cluster has no primary poold may use (a
    /// stale pgpool_status marking the real primary down, or a failover that promoted nothing).
    public static func noPrimaryAmongUpNodes(usable: [Int], answers: [Int: Bool]) -> Bool {
        !usable.isEmpty && usable.allSatisfy { answers[$0] == true }
    }

    /// What a client is told when no node that is up is a primary; `downPrimaries`: nodes marked down that
    /// answer as a primary.
    public static func noPrimaryMessage(downPrimaries: [Int]) -> (message: String, detail: String) {
        let message = "no primary node is available: every node that is up is a standby"
        guard !downPrimaries.isEmpty else {
            return (message, "writes cannot be served until a primary is attached or promoted")
        }
        let nodes = downPrimaries.map(String.init).joined(separator: ", ")
        return (message, "node \(nodes) answers as a primary but is marked down (pgpool_status); attach it "
                + "(poolconsole attach \(downPrimaries[0])) or restart poold with -D to discard pgpool_status")
    }

    /// Primaries other than the chosen one (for detach_false_primary).
    public static func falsePrimaries(chosen: Int?, usable: [Int], answers: [Int: Bool]) -> [Int] {
        usable.filter { $0 != chosen && answers[$0] == false }.sorted()
    }
}
