import CNcurses
import ConsoleCore
import Foundation

/// Things the background threads hand to the curses loop.
fileprivate enum Incoming {
    case nodes([NodeInfo])
    case sessions([[String: String]])
    case health([[String: String]])
    case watchdog(WatchdogView?)
    case status(version: String, uptime: Int, delayThreshold: Int)
    case event(String)
    case finished(NodeCommand, Int?, Bool, String)
    case unreachable(String)
}

/// A lock-protected inbox: background threads post, the curses thread drains.
fileprivate final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Incoming] = []
    func post(_ i: Incoming) { lock.lock(); items.append(i); lock.unlock() }
    func drain() -> [Incoming] { lock.lock(); defer { lock.unlock() }; let out = items; items = []; return out }
}

/// The interactive console: the pure `ConsoleState` draws into ncurses; the admin socket's event stream
/// (with a periodic refresh as a fallback) keeps it live. Requests run on threads so the screen never freezes.
struct TUI {
    let socketPath: String

    func run() {
        let inbox = Inbox()
        startSubscriber(inbox)
        startRefresher(inbox)
        setlocale(LC_ALL, "")
        let utf8 = (ProcessInfo.processInfo.environment["LANG"] ?? "").uppercased().contains("UTF")
            || (ProcessInfo.processInfo.environment["LC_ALL"] ?? "").uppercased().contains("UTF")
        guard let win = initscr() else { return }
        defer { endwin() }
        cbreak()
        noecho()
        keypad(win, true)
        curs_set(0)
        wtimeout(win, 150)
        mousemask(cn_all_mouse_events(), nil)
        mouseinterval(0)
        let colour = has_colors()
        if colour {
            start_color()
            use_default_colors()
            init_pair(1, Int16(COLOR_WHITE), Int16(COLOR_BLUE))
            init_pair(2, Int16(COLOR_GREEN), -1)
            init_pair(3, Int16(COLOR_RED), -1)
            init_pair(4, Int16(COLOR_YELLOW), -1)
            init_pair(5, Int16(COLOR_BLACK), Int16(COLOR_CYAN))
            init_pair(6, Int16(COLOR_BLUE), -1)
        }
        var state = ConsoleState()
        state.statusLine = "connecting to \(socketPath)…"
        var dirty = true
        while true {
            for item in inbox.drain() {
                dirty = true
                apply(item, to: &state)
            }
            let height = Int(getmaxy(win)), width = Int(getmaxx(win))
            if dirty {
                draw(state.render(width: width, height: height), win: win, colour: colour, utf8: utf8)
                dirty = false
            }
            var ch: wint_t = 0
            let r = wget_wch(win, &ch)
            guard r != ERR else { continue }
            dirty = true
            guard let key = decode(r, ch) else { continue }
            switch state.handle(key, width: width, height: height) {
            case .none: break
            case .quit: return
            case .request(let command, let node):
                if command == .recover { state.busy = "recovering node \(node ?? -1) (this takes a while)" }
                perform(command, node: node, inbox: inbox)
            }
        }
    }

    private func apply(_ item: Incoming, to state: inout ConsoleState) {
        switch item {
        case .nodes(let n):
            state.update(nodes: n)
            if state.statusLine.hasPrefix("connecting") || state.statusLine.hasPrefix("poold unreachable") {
                state.statusLine = "connected to \(socketPath)"
            }
        case .sessions(let s): state.sessions = s
        case .health(let h): state.health = h
        case .watchdog(let w): state.watchdog = w
        case .status(let v, let up, let t):
            state.version = v
            state.uptime = up >= 3600 ? "\(up / 3600)h\(String(format: "%02d", up % 3600 / 60))m" : "\(up / 60)m\(String(format: "%02d", up % 60))s"
            state.delayThreshold = t
        case .event(let e): state.note(e)
        case .finished(let c, let n, let ok, let m): state.finished(c, node: n, ok: ok, message: m)
        case .unreachable(let why): state.disconnected(why)
        }
    }

    private func decode(_ r: Int32, _ ch: wint_t) -> Key? {
        if r == KEY_CODE_YES {
            switch Int32(ch) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_ENTER: return .enter
            case KEY_BACKSPACE: return .backspace
            case KEY_RESIZE: return nil
            case KEY_MOUSE:
                var e = MEVENT()
                guard getmouse(&e) == OK,
                      e.bstate & (cn_button1_pressed() | cn_button1_clicked() | cn_button1_released()) != 0 else { return nil }
                // A press and its release arrive separately: act on the press (or a click).
                if e.bstate & cn_button1_released() != 0 && e.bstate & cn_button1_pressed() == 0 { return nil }
                return .click(x: Int(e.x), y: Int(e.y))
            default: return nil
            }
        }
        switch ch {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 127, 8: return .backspace
        default: return Unicode.Scalar(UInt32(ch)).map { .char(Character($0)) }
        }
    }

    private func draw(_ frame: Frame, win: UnsafeMutablePointer<WINDOW>, colour: Bool, utf8: Bool) {
        werase(win)
        for (row, line) in frame.lines.enumerated() {
            let text = utf8 ? line : Self.ascii(line)
            let wide = text.unicodeScalars.map { wchar_t(bitPattern: $0.value) } + [0]
            _ = mvwaddwstr(win, Int32(row), 0, wide)
        }
        for s in frame.spans {
            let (attr, pair): (attr_t, Int16)
            switch s.style {
            case .header: (attr, pair) = colour ? (cn_a_bold(), 1) : (cn_a_reverse(), 0)
            case .selected: (attr, pair) = (cn_a_reverse(), 0)
            case .good: (attr, pair) = colour ? (0, 2) : (0, 0)
            case .bad: (attr, pair) = colour ? (cn_a_bold(), 3) : (cn_a_bold(), 0)
            case .warn: (attr, pair) = colour ? (cn_a_bold(), 4) : (cn_a_underline(), 0)
            case .dim: (attr, pair) = colour ? (0, 6) : (cn_a_dim(), 0)
            case .button: (attr, pair) = colour ? (0, 5) : (cn_a_reverse(), 0)
            }
            _ = mvwchgat(win, Int32(s.row), Int32(s.column), Int32(s.length), attr, pair, nil)
        }
        wrefresh(win)
    }

    /// A plain ASCII frame for terminals without UTF-8.
    static func ascii(_ s: String) -> String {
        String(s.map { c -> Character in
            switch c {
            case "─": "-"
            case "█": "#"
            case "·": "."
            case "▁", "▂", "▃": "_"
            case "▄", "▅": "-"
            case "▆", "▇": "="
            case "⟳": "*"
            case "▏": "|"
            case "…": "."
            case "↑", "↓": "^"
            default: c.isASCII ? c : "?"
            }
        })
    }

    // MARK: - Background work

    private func startSubscriber(_ inbox: Inbox) {
        let path = socketPath
        Thread.detachNewThread {
            while true {
                do {
                    let client = try AdminClient(path: path)
                    _ = try client.request("subscribe")
                    Self.refresh(path, inbox)
                    while let line = try client.readLine() {
                        inbox.post(.event(Self.describe(line)))
                        Self.refresh(path, inbox)
                    }
                    inbox.post(.unreachable("the event stream ended"))
                } catch {
                    inbox.post(.unreachable("\(error)"))
                }
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    private func startRefresher(_ inbox: Inbox) {
        let path = socketPath
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: 3)
                Self.refresh(path, inbox)
            }
        }
    }

    fileprivate static func refresh(_ path: String, _ inbox: Inbox) {
        guard let client = try? AdminClient(path: path) else { return }
        if let rows = try? client.request("nodes") as? [[String: Any]] {
            inbox.post(.nodes(rows.compactMap { NodeInfo($0.mapValues { "\($0)" }) }))
        }
        if let rows = try? client.request("sessions") as? [[String: Any]] { inbox.post(.sessions(rows.map { $0.mapValues { "\($0)" } })) }
        if let rows = try? client.request("health") as? [[String: Any]] { inbox.post(.health(rows.map { $0.mapValues { "\($0)" } })) }
        inbox.post(.watchdog((try? client.request("watchdog") as? [String: Any]).map(WatchdogView.init)))
        if let s = try? client.request("status") as? [String: Any] {
            inbox.post(.status(version: "\(s["version"] ?? "")", uptime: (s["uptime_seconds"] as? Int) ?? 0,
                               delayThreshold: (s["delay_threshold"] as? Int) ?? 0))
        }
    }

    /// An event line as a short sentence for the events pane.
    static func describe(_ line: String) -> String {
        guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return line }
        let node = o["node_id"].map { "\($0)" } ?? "?"
        let when = (o["time"] as? Double).map { t -> String in
            var tt = time_t(t)
            var tmv = tm()
            localtime_r(&tt, &tmv)
            return String(format: "%02d:%02d:%02d", tmv.tm_hour, tmv.tm_min, tmv.tm_sec)
        } ?? ""
        switch o["event"] as? String {
        case "node_status": return "\(when) node \(node) is \(o["status"] ?? "?")"
        case "primary": return node == "-1" ? "\(when) no primary: failover in progress" : "\(when) primary is now node \(node)"
        case "recovery": return "\(when) recovery of node \(node): \(o["stage"] ?? "?")"
        case "watchdog":
            let leader = (o["leader"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "none"
            return "\(when) watchdog: this member is \(o["state"] ?? "?") (term \(o["term"] ?? "?"), leader \(leader))"
        case "watchdog_lifecheck":
            let who = "member \(o["member"] ?? "?") (\(o["name"] ?? "?"))"
            return "\(when) watchdog: \(who) " + ((o["alive"] as? Bool ?? false) ? "is alive again" : "is LOST (lifecheck)")
        case "watchdog_network":
            return (o["trouble"] as? Bool ?? false) ? "\(when) watchdog: network trouble: \(o["reason"] ?? "?")"
                : "\(when) watchdog: network restored"
        default: return "\(when) \(line)"
        }
    }

    private func perform(_ command: NodeCommand, node: Int?, inbox: Inbox) {
        let path = socketPath
        Thread.detachNewThread {
            var args: [String: Any] = [:]
            if let node { args["node"] = node }
            let name = command.adminCommand
            if command == .detachWait { args["wait"] = true }
            do {
                let client = try AdminClient(path: path)
                let r = try client.request(name, args)
                inbox.post(.finished(command, node, true, "\(r)"))
            } catch let f as AdminClient.Failure {
                inbox.post(.finished(command, node, false, f.description))
            } catch {
                inbox.post(.finished(command, node, false, "\(error)"))
            }
            Self.refresh(path, inbox)
        }
    }
}
