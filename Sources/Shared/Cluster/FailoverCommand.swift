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

    /// Primaries other than the chosen one (for detach_false_primary).
    public static func falsePrimaries(chosen: Int?, usable: [Int], answers: [Int: Bool]) -> [Int] {
        usable.filter { $0 != chosen && answers[$0] == false }.sorted()
    }
}
