/// How a cell range is drawn; the terminal adapter maps these to colours (or to bold/reverse in monochrome).
public enum Style: Equatable, Sendable {
    case header, selected, good, bad, warn, dim, button
}

/// A styled range of one screen row (columns in characters).
public struct Span: Equatable, Sendable {
    public var row: Int
    public var column: Int
    public var length: Int
    public var style: Style
}

/// The console drawn as text: exactly `height` lines of exactly `width` characters, plus style spans.
public struct Frame: Equatable, Sendable {
    public var lines: [String]
    public var spans: [Span]
    public var text: String { lines.joined(separator: "\n") }
}

/// Where things are on a screen of a given size (shared by rendering and mouse hit-testing).
struct Layout {
    let width: Int
    let height: Int
    var tableTop: Int { 2 }
    var buttonRow: Int { height - 1 }
    var statusRow: Int { height - 2 }

    /// The button row: each command's label and the columns it occupies.
    static func buttons(width: Int, screen: ConsoleState.Screen) -> [(NodeCommand, Range<Int>)] {
        var x = 0
        var out: [(NodeCommand, Range<Int>)] = []
        for c in NodeCommand.commands(on: screen) {
            let label = "[\(c.key)]\(c.label)"
            guard x + label.count <= width else { break }
            out.append((c, x..<(x + label.count)))
            x += label.count + 1
        }
        return out
    }
}

extension String {
    /// Cut or padded to exactly `n` characters.
    func fit(_ n: Int) -> String {
        guard n > 0 else { return "" }
        if count >= n { return String(prefix(n)) }
        return self + String(repeating: " ", count: n - count)
    }
}

extension ConsoleState {
    /// ▁▂▃▄▅▆▇█ of recent lag values.
    static func sparkline(_ values: [Int]) -> String {
        let bars = Array("▁▂▃▄▅▆▇█")
        guard let top = values.max(), top > 0 else { return String(repeating: "▁", count: values.count) }
        return String(values.map { bars[min(7, $0 * 7 / top)] })
    }

    /// A lag bar of `width` cells, full at twice the threshold (or at 1 MB without one).
    static func lagBar(_ delay: Int, threshold: Int, width: Int) -> String {
        let full = threshold > 0 ? threshold * 2 : 1 << 20
        let n = min(width, delay * width / max(1, full) + (delay > 0 ? 1 : 0))
        return String(repeating: "█", count: n) + String(repeating: "·", count: width - n)
    }

    public func render(width: Int, height: Int) -> Frame {
        let layout = Layout(width: width, height: height)
        var lines = Array(repeating: String(repeating: " ", count: width), count: height)
        var spans: [Span] = []
        func put(_ row: Int, _ text: String, _ style: Style? = nil) {
            guard row >= 0, row < height else { return }
            lines[row] = text.fit(width)
            if let style { spans.append(Span(row: row, column: 0, length: min(width, text.count), style: style)) }
        }
        func mark(_ row: Int, _ column: Int, _ length: Int, _ style: Style) {
            guard row < height, column < width else { return }
            spans.append(Span(row: row, column: column, length: min(length, width - column), style: style))
        }

        // Header: version, primary, cluster health, uptime, screens.
        let primary = nodes.first { $0.role == "primary" }.map { "node \($0.id)" } ?? "none"
        let up = nodes.filter { $0.status == "up" }.count
        let clusterHealth = !connected ? "poold unreachable" : up == nodes.count ? "healthy" : "degraded"
        put(0, " poold \(version)  primary: \(primary)  cluster: \(clusterHealth) (\(up)/\(nodes.count) up)  uptime \(uptime)",
            .header)
        if !connected || up != nodes.count { mark(0, 0, width, .bad) }
        // Screen tabs on the rule below the header.
        var tabs = "─"
        for (i, sc) in Screen.allCases.enumerated() {
            let label = " \(i + 1) \(sc.rawValue) "
            if sc == screen { mark(1, tabs.count, label.count + 2, .selected) }
            tabs += sc == screen ? "[\(label)]" : " \(label) "
        }
        put(1, tabs + String(repeating: "─", count: max(0, width - tabs.count)), .dim)

        let bodyTop = layout.tableTop
        let eventsRows = max(0, min(5, (height - 8) / 3))
        let bodyBottom = layout.statusRow - eventsRows - 1  // exclusive

        if showHelp {
            put(bodyTop, " Keys", .header)
            for (i, k) in Self.keyTable.enumerated() where bodyTop + 1 + i < bodyBottom {
                put(bodyTop + 1 + i, "  " + k.keys.fit(12) + k.help)
            }
        } else {
            switch screen {
            case .nodes: renderNodes(width: width, top: bodyTop, bottom: bodyBottom, put: put, mark: mark)
            case .sessions: renderTable(sessions, columns: ["pool_pid", "database", "username", "start_time", "pool_counter", "status"],
                                        top: bodyTop, bottom: bodyBottom, empty: "no client sessions", put: put)
            case .health: renderTable(health, columns: ["node_id", "status", "total_count", "success_count", "fail_count",
                                                        "retry_count", "max_duration", "average_duration", "last_failed_health_check"],
                                      top: bodyTop, bottom: bodyBottom, empty: "no health-check data (health_check_period = 0?)", put: put)
            case .watchdog:
                if let w = watchdog {
                    for (i, line) in w.summary.enumerated() { put(bodyTop + i, " " + line, i == 0 ? .header : nil) }
                    renderTable(w.members, columns: WatchdogView.columns, top: bodyTop + w.summary.count + 1, bottom: bodyBottom,
                                empty: "no members", put: put)
                    for (i, m) in w.members.enumerated() where m["state"] != "LEADER" && m["state"] != "STANDBY" {
                        mark(bodyTop + w.summary.count + 2 + i, 0, width, .bad)
                    }
                } else {
                    put(bodyTop, " Watchdog", .header)
                    put(bodyTop + 1, "  The watchdog is disabled: this poold runs without other poold members (no use_watchdog),")
                    put(bodyTop + 2, "  so there is no membership, leader, virtual IP or quorum to show.")
                }
            }
        }

        // Events pane.
        if eventsRows > 0 {
            put(bodyBottom, " events " + String(repeating: "─", count: max(0, width - 8)), .dim)
            for (i, e) in events.suffix(eventsRows).enumerated() { put(bodyBottom + 1 + i, "  " + e) }
        }
        // Status line: confirmation, filter, busy or the last result.
        if editingFilter {
            put(layout.statusRow, " filter: \(filter)▏", .warn)
        } else if pending != nil {
            put(layout.statusRow, " " + statusLine, .warn)
        } else {
            let prefix = busy.map { "⟳ \($0)  " } ?? ""
            let filterNote = filter.isEmpty ? "" : "  [filter: \(filter)]"
            put(layout.statusRow, " " + prefix + statusLine + filterNote, connected ? nil : .bad)
        }
        // Button row (clickable) with the help hint.
        var buttons = ""
        for (c, range) in Layout.buttons(width: width, screen: screen) {
            buttons = buttons.fit(range.lowerBound) + "[\(c.key)]\(c.label)"
            mark(layout.buttonRow, range.lowerBound, range.count, .button)
        }
        let hint = " ? help  / filter  q quit"
        if buttons.count + hint.count <= width { buttons = buttons.fit(width - hint.count) + hint }
        lines[layout.buttonRow] = buttons.fit(width)
        return Frame(lines: lines, spans: spans)
    }

    private func renderNodes(width: Int, top: Int, bottom: Int, put: (Int, String, Style?) -> Void,
                             mark: (Int, Int, Int, Style) -> Void) {
        let wide = width >= 140
        var columns: [(String, Int, (NodeInfo) -> String)] = [
            ("id", 3, { String($0.id) }), ("host", wide ? 16 : 11, { $0.host }), ("port", 6, { $0.port }),
            ("status", 7, { $0.status }), ("pg_st", 7, { $0.pgStatus }), ("role", 8, { $0.role }), ("pg_role", 8, { $0.pgRole }),
            ("select", 7, { $0.selectCount }), ("delay", 8, { $0.delay }),
        ]
        if wide {
            columns.insert(("weight", 9, { $0.weight }), at: 5)
            columns += [("repl_state", 11, { $0.replicationState }), ("sync", 8, { $0.syncState }),
                        ("last_change", 20, { $0.lastChange })]
        } else if width >= 110 {
            // 110–139 columns: replication state and sync state too; weight and last change need 140.
            columns += [("repl", 9, { $0.replicationState }), ("sync", 7, { $0.syncState })]
        }
        let used = columns.reduce(0) { $0 + $1.1 + 1 }
        let lagWidth = max(0, min(wide ? 12 : 8, width - used - 2))
        let room = width - used - lagWidth - 4
        let sparkWidth = room >= 6 ? min(20, room) : 0
        var header = " " + columns.map { $0.0.fit($0.1) }.joined(separator: " ")
        if lagWidth > 0 { header += " " + "lag".fit(lagWidth) }
        if sparkWidth > 0 { header += " " + "history".fit(sparkWidth) }
        put(top, header, .header)
        let visible = visibleNodes
        if visible.isEmpty { put(top + 1, filter.isEmpty ? "  no nodes yet" : "  no node matches \"\(filter)\"", .dim) }
        for (i, n) in visible.enumerated() where top + 1 + i < bottom {
            let row = top + 1 + i
            var text = " " + columns.map { $0.2(n).fit($0.1) }.joined(separator: " ")
            let delay = Int(n.delay) ?? 0
            if lagWidth > 0 { text += " " + (n.role == "primary" ? String(repeating: " ", count: lagWidth)
                                                                  : Self.lagBar(delay, threshold: delayThreshold, width: lagWidth)) }
            if sparkWidth > 0 { text += " " + Self.sparkline(Array((lagHistory[n.id] ?? []).suffix(sparkWidth))) }
            // A mismatch replaces the end of the row, so it shows at any width.
            var problem = n.mismatch(delayThreshold: delayThreshold)
            if let p = problem, !wide { problem = p.hasPrefix("role") ? "role≠pg_role" : p.hasPrefix("up") ? "no answer" : "lag!" }
            if let problem { text = text.fit(min(text.count, width - problem.count - 3)) + " ! " + problem }
            put(row, text, n.id == selected?.id ? .selected : nil)
            // Status colour in the status column.
            let statusColumn = 1 + columns.prefix(3).reduce(0) { $0 + $1.1 + 1 }
            mark(row, statusColumn, 7, n.status == "up" ? .good : n.status == "down" ? .bad : .warn)
            if let problem { mark(row, min(text.count, width) - problem.count - 3, problem.count + 3, .bad) }
        }
    }

    private func renderTable(_ rows: [[String: String]], columns: [String], top: Int, bottom: Int, empty: String,
                             put: (Int, String, Style?) -> Void) {
        let widths = columns.map { c in max(c.count, rows.map { ($0[c] ?? "").count }.max() ?? 0) }
        put(top, " " + zip(columns, widths).map { $0.0.fit($0.1) }.joined(separator: "  "), .header)
        if rows.isEmpty { put(top + 1, "  " + empty, .dim) }
        for (i, r) in rows.enumerated() where top + 1 + i < bottom {
            put(top + 1 + i, " " + zip(columns, widths).map { (r[$0.0] ?? "").fit($0.1) }.joined(separator: "  "), nil)
        }
    }
}
