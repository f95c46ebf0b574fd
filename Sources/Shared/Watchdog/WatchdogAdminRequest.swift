/// An operator's request about one backend node, made on any watchdog member (admin socket, poolconsole) and
/// executed by the leader: a follower forwards it in an `adminRequest` message and relays the leader's
/// `adminReply`; the leader runs it through its cluster service (share/doc/watchdog.md, "Cluster-wide backend
/// state"). Operators' requests are confirmed ones: they bypass quorum and consensus, as Pgpool-II's PCP requests
/// (`REQ_DETAIL_CONFIRMED`) do, but they still need a leader that may act.
public enum WatchdogAdminRequest: Equatable, Hashable, Sendable {
    /// Attach (fail back) the node.
    case attach(Int)
    /// Detach the node; `waitForClients`: first wait until no session uses it (pcp_detach_node -g).
    case detach(Int, waitForClients: Bool)
    /// Make poold treat the node as the primary (poold's view only).
    case promote(Int)
    /// A real switchover to the node: detach the primary, promote the node, the others follow.
    case switchover(Int)
    /// Online recovery of the node.
    case recover(Int)

    public var node: Int {
        switch self {
        case .attach(let n), .detach(let n, _), .promote(let n), .switchover(let n), .recover(let n): return n
        }
    }

    /// The admin socket's command name.
    public var name: String {
        switch self {
        case .attach: return "attach"
        case .detach: return "detach"
        case .promote: return "promote"
        case .switchover: return "switchover"
        case .recover: return "recover"
        }
    }

    /// The operation byte of an `adminRequest` frame.
    var wireCode: UInt8 {
        switch self {
        case .attach: return 1
        case .detach(_, let wait): return wait ? 3 : 2
        case .promote: return 4
        case .switchover: return 5
        case .recover: return 6
        }
    }

    init?(wireCode: UInt8, node: Int) {
        switch wireCode {
        case 1: self = .attach(node)
        case 2: self = .detach(node, waitForClients: false)
        case 3: self = .detach(node, waitForClients: true)
        case 4: self = .promote(node)
        case 5: self = .switchover(node)
        case 6: self = .recover(node)
        default: return nil
        }
    }
}
