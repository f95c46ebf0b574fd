/// One row of the node table, as the admin socket's `nodes` command gives it (SHOW pool_nodes' text values).
public struct NodeInfo: Equatable, Sendable {
    public var id: Int
    public var host: String
    public var port: String
    public var status: String
    public var pgStatus: String
    public var weight: String
    public var role: String
    public var pgRole: String
    public var selectCount: String
    public var delay: String
    public var replicationState: String
    public var syncState: String
    public var lastChange: String

    public init(id: Int, host: String, port: String, status: String, pgStatus: String, weight: String, role: String,
                pgRole: String, selectCount: String, delay: String, replicationState: String, syncState: String,
                lastChange: String) {
        self.id = id
        self.host = host
        self.port = port
        self.status = status
        self.pgStatus = pgStatus
        self.weight = weight
        self.role = role
        self.pgRole = pgRole
        self.selectCount = selectCount
        self.delay = delay
        self.replicationState = replicationState
        self.syncState = syncState
        self.lastChange = lastChange
    }

    /// From one `nodes` row (column name → text).
    public init?(_ row: [String: String]) {
        guard let id = Int(row["node_id"] ?? "") else { return nil }
        self.init(id: id, host: row["hostname"] ?? "", port: row["port"] ?? "", status: row["status"] ?? "",
                  pgStatus: row["pg_status"] ?? "", weight: row["lb_weight"] ?? "", role: row["role"] ?? "",
                  pgRole: row["pg_role"] ?? "", selectCount: row["select_cnt"] ?? "", delay: row["replication_delay"] ?? "",
                  replicationState: row["replication_state"] ?? "", syncState: row["replication_sync_state"] ?? "",
                  lastChange: row["last_status_change"] ?? "")
    }

    /// What an operator must notice on this row, if anything.
    public func mismatch(delayThreshold: Int) -> String? {
        if status == "up" && pgStatus == "down" { return "up but not answering" }
        if pgRole != "unknown" && !pgRole.isEmpty && role != pgRole { return "role \(role), server says \(pgRole)" }
        if delayThreshold > 0, let d = Int(delay), d > delayThreshold { return "lag over delay_threshold" }
        return nil
    }
}

/// Actions on the selected node (and reload, and the watchdog's resign), with the key and the button label
/// that trigger them.
public enum NodeCommand: String, CaseIterable, Sendable {
    case attach, detach, detachWait, recover, promote, switchover, reload, resign

    public var key: Character {
        switch self {
        case .attach: "a"
        case .detach: "d"
        case .detachWait: "D"
        case .recover: "r"
        case .promote: "p"
        case .switchover: "s"
        case .reload: "R"
        case .resign: "L"
        }
    }
    public var label: String {
        switch self {
        case .attach: "attach"
        case .detach: "detach"
        case .detachWait: "detach-wait"
        case .recover: "recover"
        case .promote: "promote"
        case .switchover: "switchover"
        case .reload: "reload"
        case .resign: "resign"
        }
    }
    /// Changes the cluster: asks for confirmation first.
    public var isDestructive: Bool { self != .attach && self != .reload }
    public var needsNode: Bool { self != .reload && self != .resign }
    /// The admin-socket command.
    public var adminCommand: String {
        switch self {
        case .detachWait: "detach"
        case .resign: "watchdog_resign"
        default: rawValue
        }
    }

    /// The buttons (and keys) of a screen: the watchdog's own actions there, the node actions elsewhere.
    public static func commands(on screen: ConsoleState.Screen) -> [NodeCommand] {
        screen == .watchdog ? [.resign, .reload] : allCases.filter { $0 != .resign }
    }
}

/// What the console asks its shell to do.
public enum ConsoleAction: Equatable, Sendable {
    case none
    case quit
    /// Send `command` for `node` (nil: none) to the admin socket.
    case request(NodeCommand, node: Int?)
}

/// A key or mouse event, already decoded by the terminal adapter.
public enum Key: Equatable, Sendable {
    case char(Character)
    case up, down, enter, escape, backspace, tab
    /// A click at a screen cell.
    case click(x: Int, y: Int)
}

/// The console's whole state, pure: the shell feeds it admin-socket data and keys and draws `render`.
public struct ConsoleState: Sendable {
    public enum Screen: String, CaseIterable, Sendable { case nodes, sessions, health, watchdog }

    public var screen: Screen = .nodes
    public var nodes: [NodeInfo] = []
    public var sessions: [[String: String]] = []
    public var health: [[String: String]] = []
    /// The watchdog member's view; nil when the watchdog is off.
    public var watchdog: WatchdogView? = nil
    public var connected = false
    public var version = ""
    public var uptime = ""
    public var delayThreshold = 0
    /// Last delays per standby (bytes), oldest first, for the sparkline.
    public var lagHistory: [Int: [Int]] = [:]
    public var events: [String] = []
    public var statusLine = "connecting to poold…"
    public var filter = ""
    public var editingFilter = false
    public var showHelp = false
    /// A destructive action waiting for y/n.
    public var pending: (command: NodeCommand, node: Int?)? = nil
    /// A long action (recovery) in progress: shown, the screen keeps updating.
    public var busy: String? = nil
    public private(set) var selectedID: Int? = nil

    public init() {}

    public var visibleNodes: [NodeInfo] {
        guard !filter.isEmpty else { return nodes }
        let f = filter.lowercased()
        return nodes.filter { n in
            [String(n.id), n.host, n.status, n.role, n.pgRole, n.replicationState].contains { $0.lowercased().contains(f) }
        }
    }

    public var selected: NodeInfo? {
        let v = visibleNodes
        return v.first { $0.id == selectedID } ?? v.first
    }

    /// New node rows from poold; keeps the selection and a short lag history.
    public mutating func update(nodes new: [NodeInfo]) {
        nodes = new
        connected = true
        for n in new where n.role != "primary" {
            var h = lagHistory[n.id] ?? []
            h.append(Int(n.delay) ?? 0)
            if h.count > 20 { h.removeFirst(h.count - 20) }
            lagHistory[n.id] = h
        }
        if selectedID == nil || !new.contains(where: { $0.id == selectedID }) { selectedID = new.first?.id }
    }

    public mutating func note(_ event: String) {
        events.append(event)
        if events.count > 50 { events.removeFirst(events.count - 50) }
    }

    public mutating func disconnected(_ reason: String) {
        connected = false
        statusLine = "poold unreachable: \(reason) — retrying"
    }

    /// The key table: one source for key handling, the footer and the help screen.
    public static let keyTable: [(keys: String, help: String)] = [
        ("↑/↓ k/j", "select a node"), ("Tab / 1-4", "next screen / nodes, sessions, health, watchdog"),
        ("a", "attach the node"), ("d", "detach the node"), ("D", "detach after its sessions leave"),
        ("r", "online recovery of the node"), ("p", "promote (poold's view)"), ("s", "switchover to the node"),
        ("R", "reload configuration"), ("L", "watchdog screen: resign leadership (the VIP moves)"),
        ("/", "filter nodes (Enter keeps, Esc clears)"), ("? / q", "this help / quit"), ("mouse", "click a row to select it, a button to act"),
    ]

    public mutating func handle(_ key: Key, width: Int, height: Int) -> ConsoleAction {
        if editingFilter {
            switch key {
            case .enter: editingFilter = false
            case .escape: editingFilter = false; filter = ""
            case .backspace: if !filter.isEmpty { filter.removeLast() }
            case .char(let c): filter.append(c)
            default: break
            }
            return .none
        }
        if let p = pending {
            pending = nil
            if key == .char("y") || key == .char("Y") {
                statusLine = "\(p.command.label)\(p.node.map { " node \($0)" } ?? "")…"
                return .request(p.command, node: p.node)
            }
            statusLine = "\(p.command.label) cancelled"
            return .none
        }
        if showHelp { showHelp = false; return .none }
        switch key {
        case .char("q"): return .quit
        case .char("?"): showHelp = true
        case .char("/"): editingFilter = true
        case .tab:
            let all = Screen.allCases
            screen = all[(all.firstIndex(of: screen)! + 1) % all.count]
        case .char("1"): screen = .nodes
        case .char("2"): screen = .sessions
        case .char("3"): screen = .health
        case .char("4"): screen = .watchdog
        case .up, .char("k"): move(-1)
        case .down, .char("j"): move(1)
        case .escape: filter = ""
        case .char(let c):
            if let command = NodeCommand.allCases.first(where: { $0.key == c && ($0 != .resign || screen == .watchdog) }) {
                return act(command)
            }
        case .click(let x, let y):
            return click(x: x, y: y, width: width, height: height)
        default: break
        }
        return .none
    }

    private mutating func move(_ delta: Int) {
        let v = visibleNodes
        guard !v.isEmpty else { return }
        let i = v.firstIndex { $0.id == selected?.id } ?? 0
        selectedID = v[max(0, min(v.count - 1, i + delta))].id
    }

    /// Starts a command on the selected node: destructive ones ask first, naming the node and its role.
    public mutating func act(_ command: NodeCommand) -> ConsoleAction {
        if command == .resign { return resign() }
        guard command.needsNode else { return .request(command, node: nil) }
        guard screen == .nodes, let node = selected else {
            statusLine = "select a node on the nodes screen first"
            return .none
        }
        if command.isDestructive {
            pending = (command, node.id)
            statusLine = "\(command.label) node \(node.id) (\(node.role), \(node.host):\(node.port))? press y to confirm, any other key cancels"
            return .none
        }
        statusLine = "\(command.label) node \(node.id)…"
        return .request(command, node: node.id)
    }

    /// Resign asks first, naming this member and its term; only a leader has leadership to give up.
    private mutating func resign() -> ConsoleAction {
        guard let w = watchdog else {
            statusLine = "the watchdog is disabled: no leadership to resign"
            return .none
        }
        let local = w.members.first { $0[""] == "*" }
        guard let me = local, me["state"] == "LEADER" else {
            statusLine = "this member (\(local?["member"] ?? "?")) is not the leader (leader: \(w.leader.isEmpty ? "none" : w.leader)): open the console on the leader to resign"
            return .none
        }
        pending = (.resign, nil)
        statusLine = "resign leadership of \(me["member"] ?? "?") (term \(w.term))? the VIP goes down here and another member is elected; press y to confirm, any other key cancels"
        return .none
    }

    private mutating func click(x: Int, y: Int, width: Int, height: Int) -> ConsoleAction {
        let layout = Layout(width: width, height: height)
        if y == layout.buttonRow {
            for (command, range) in Layout.buttons(width: width, screen: screen) where range.contains(x) {
                return act(command)
            }
            return .none
        }
        if screen == .nodes, y >= layout.tableTop + 1 {
            let v = visibleNodes
            let i = y - layout.tableTop - 1
            if i < v.count { selectedID = v[i].id }
        }
        return .none
    }

    /// The answer to a request: shown in the status line and the events pane.
    public mutating func finished(_ command: NodeCommand, node: Int?, ok: Bool, message: String) {
        let what = "\(command.label)\(node.map { " node \($0)" } ?? "")"
        statusLine = ok ? "\(what): \(message)" : "\(what) FAILED: \(message)"
        note(statusLine)
        busy = nil
    }
}
