import ArgumentParser
import Foundation
import Shared

/// `poolconsole`: operator commands over poold's admin socket. Exit status: 0 done, 1 poold refused or
/// failed the request, 3 poold unreachable (unlike pcp_* tools, a server-side failure is never exit 0).
@main
struct PoolConsole: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poolconsole",
        abstract: "Operate poold: node list, attach, detach, promote, switchover, recover, reload, stop.",
        subcommands: [Console.self, Nodes.self, Health.self, Sessions.self, Attach.self, Detach.self, Promote.self,
                      Switchover.self, Recover.self, Reload.self, Stop.self, Watch.self, Watchdog.self, Resign.self],
        defaultSubcommand: Console.self)
}

struct Connection: ParsableArguments {
    /// Includes are resolved against the including file's directory.
    static func readFile(_ path: String, _ from: String) -> (String, String)? {
        let dir = from.contains("/") ? String(from[..<from.lastIndex(of: "/")!]) : "."
        let resolved = path.hasPrefix("/") ? path : dir + "/" + path
        return (try? String(contentsOfFile: resolved, encoding: .utf8)).map { (resolved, $0) }
    }

    @Option(name: [.customShort("s"), .long], help: "Admin socket path (default: from -f, else /tmp/poold_admin.sock).")
    var socket: String?
    @Option(name: [.customShort("f"), .long], help: "pgpool.conf, to find admin_socket / logdir.")
    var config: String?
    @Flag(help: "Print the raw JSON result.")
    var json = false

    var path: String {
        if let socket { return socket }
        if let config, let text = try? String(contentsOfFile: config, encoding: .utf8) {
            let dir = config.contains("/") ? String(config[..<config.lastIndex(of: "/")!]) : "."
            let c = ConfigLoader.load(text: text, file: config, loader: Connection.readFile).configuration
            let configured = c.string("admin_socket")
            if !configured.isEmpty { return configured.hasPrefix("/") ? configured : dir + "/" + configured }
            return (c.string("logdir").isEmpty ? "/tmp" : c.string("logdir")) + "/poold_admin.sock"
        }
        return ProcessInfo.processInfo.environment["POOLD_ADMIN_SOCKET"] ?? "/tmp/poold_admin.sock"
    }

    /// Runs one request; prints the result; maps failures to exit codes.
    func run(_ command: String, _ args: [String: Any] = [:], print render: (Any) -> String = { "\($0)" }) throws {
        let client: AdminClient
        do { client = try AdminClient(path: path) } catch {
            FileHandle.standardError.write(Data("poolconsole: \(error)\n".utf8))
            throw ExitCode(3)
        }
        do {
            let result = try client.request(command, args)
            if json, let data = try? JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed]) {
                Swift.print(String(decoding: data, as: UTF8.self))
            } else {
                Swift.print(render(result))
            }
        } catch let f as AdminClient.Failure {
            FileHandle.standardError.write(Data("poolconsole: \(f.description)\n".utf8))
            throw ExitCode(f.fromServer ? 1 : 3)
        }
    }
}

/// Rows of dictionaries as an aligned table in the given column order (psql's look).
func table(_ result: Any, columns: [String]) -> String {
    let rows = (result as? [[String: Any]] ?? []).map { r in columns.map { c -> String in
        switch r[c] {
        // JSON true/false only: a decoded 0 or 1 is an NSNumber that `as? Bool` would also match
        case let n as NSNumber: return String(cString: n.objCType) == "c" ? (n.boolValue ? "true" : "false") : "\(n)"
        case let v?: return "\(v)"
        case nil: return ""
        }
    } }
    let widths = columns.indices.map { i in max(columns[i].count, rows.map { $0[i].count }.max() ?? 0) }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in " " + c.padding(toLength: widths[i], withPad: " ", startingAt: 0) + " " }.joined(separator: "|")
    }
    var out = [line(columns), widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+")]
    out += rows.map(line)
    out.append("(\(rows.count) row\(rows.count == 1 ? "" : "s"))")
    return out.joined(separator: "\n")
}

struct Watchdog: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The watchdog cluster as this member sees it (the fields of pcp_watchdog_info, plus term and lease).",
        subcommands: [WatchdogShow.self, WatchdogLifecheck.self], defaultSubcommand: WatchdogShow.self)
}

/// `poolconsole watchdog lifecheck N dead|alive`: an external agent's report (Pgpool-II's `wd_cli -I DEAD|ALIVE -n N`),
/// for `wd_lifecheck_method = external`.
struct WatchdogLifecheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifecheck",
        abstract: "Report watchdog member N dead or alive to this member (wd_lifecheck_method = external).")
    enum State: String, ExpressibleByArgument, CaseIterable { case dead, alive }
    @OptionGroup var connection: Connection
    @Argument(help: "The member's id (pgpool_node_id numbering).") var member: Int
    @Argument(help: "dead | alive") var state: State
    func run() throws { try connection.run("watchdog_lifecheck", ["member": member, "state": state.rawValue]) }
}

struct WatchdogShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "The watchdog cluster as this member sees it (the default).")
    @OptionGroup var connection: Connection
    func run() throws {
        try connection.run("watchdog") { result in
            let r = result as? [String: Any] ?? [:]
            func s(_ k: String) -> String { r[k].map { "\($0)" } ?? "" }
            let lease = (r["LeaseLeftSeconds"] as? Double).map { $0 < 0 ? "none" : String(format: "%.1f s", $0) } ?? "none"
            var out = ["leader: \(s("LeaderNodeName"))   term: \(s("Term"))   quorum: \(s("QuorumStatusName")) "
                       + "(\(s("NodesRequireForQuorum")) of \(s("NodeCount")) needed)   escalated: \(s("Escalated") == "1" ? "yes" : "no")"
                       + "   VIP: \(s("DelegateIP"))   lease left: \(lease)"]
            if let v = r["ClusterViewVersion"] as? Int {
                let q = (r["QuarantinedNodes"] as? [Int] ?? []).map(String.init).joined(separator: ", ")
                out.append("backends: " + (v == 0 ? "own state (no leader's view yet)" : "leader's view term \(s("ClusterViewTerm")) v\(v)")
                           + "   primary: node \(s("ClusterPrimary"))" + (q.isEmpty ? "" : "   quarantined here: node \(q)"))
            }
            if let c = r["Coordination"] as? [String: Any], let summary = c["Summary"] as? String { out.append(summary) }
            out.append("")
            let nodes = (r["WatchdogNodes"] as? [[String: Any]] ?? []).map { n -> [String: Any] in
                var n = n
                n["Local"] = (n["Local"] as? Bool ?? false) ? "*" : ""
                if let h = n["LastHeardSecondsAgo"] as? Double { n["LastHeardSecondsAgo"] = h < 0 ? "" : String(format: "%.1f s", h) }
                return n
            }
            out.append(table(nodes, columns: ["ID", "Local", "NodeName", "HostName", "PgpoolPort", "WdPort", "State", "StateName",
                                              "Priority", "LastHeardSecondsAgo"]))
            return out.joined(separator: "\n")
        }
    }
}

struct Resign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watchdog: this member gives up leadership (VIP down here first); another member is elected.")
    @OptionGroup var connection: Connection
    func run() throws { try connection.run("watchdog_resign") }
}

struct Nodes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The node table (as SHOW pool_nodes).")
    @OptionGroup var connection: Connection
    func run() throws {
        try connection.run("nodes") { table($0, columns: ShowResult.poolNodesColumns) }
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Health-check statistics (as SHOW pool_health_check_stats).")
    @OptionGroup var connection: Connection
    func run() throws { try connection.run("health") { table($0, columns: ConfigTables.healthCheckStatsColumns) } }
}

struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Client sessions (as SHOW pool_processes).")
    @OptionGroup var connection: Connection
    func run() throws { try connection.run("sessions") { table($0, columns: ActivityTables.processColumns) } }
}

struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Attach a node (runs failback_command).")
    @OptionGroup var connection: Connection
    @Argument var node: Int
    func run() throws { try connection.run("attach", ["node": node]) }
}

struct Detach: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Detach a node (runs failover_command; a primary fails over).")
    @OptionGroup var connection: Connection
    @Flag(name: [.customShort("g"), .long], help: "Wait until no session uses the node (pcp_detach_node -g).")
    var wait = false
    @Argument var node: Int
    func run() throws { try connection.run("detach", ["node": node, "wait": wait]) }
}

struct Promote: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make poold treat a standby as the primary (--switchover: a real switchover).")
    @OptionGroup var connection: Connection
    @Flag(name: .long, help: "Switchover: detach the current primary, promote this node, others follow.")
    var switchover = false
    @Argument var node: Int
    func run() throws { try connection.run("promote", ["node": node, "switchover": switchover]) }
}

struct Switchover: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Switch the primary role to a standby; the others follow it.")
    @OptionGroup var connection: Connection
    @Argument var node: Int
    func run() throws { try connection.run("switchover", ["node": node]) }
}

struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Online recovery of a down node (recovery_1st_stage_command, start, attach).")
    @OptionGroup var connection: Connection
    @Argument var node: Int
    func run() throws { try connection.run("recover", ["node": node]) }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reload pgpool.conf, pool_hba.conf and pool_passwd.")
    @OptionGroup var connection: Connection
    func run() throws { try connection.run("reload") }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop poold.")
    @OptionGroup var connection: Connection
    @Option(name: [.customShort("m"), .long], help: "smart | fast | immediate")
    var mode = "smart"
    func run() throws { try connection.run("stop", ["mode": mode]) }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print node and failover events as they happen (JSON lines).")
    @OptionGroup var connection: Connection
    func run() throws {
        let client: AdminClient
        do { client = try AdminClient(path: connection.path) } catch {
            FileHandle.standardError.write(Data("poolconsole: \(error)\n".utf8))
            throw ExitCode(3)
        }
        _ = try client.request("subscribe")
        while let line = try client.readLine() {
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }
}

struct Console: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The live ncurses console (the default).")
    @OptionGroup var connection: Connection
    func run() throws { TUI(socketPath: connection.path).run() }
}
