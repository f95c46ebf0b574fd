import Foundation
import XCTest

/// The backend invariant of issue 9, checked after every integration test that ran poold (PooldProcess.stop()
/// calls it before stopping poold): once the test's clients are gone, every backend connection poold holds is
/// idle in its pool — on every node none is `active`, `idle in transaction` or `idle in transaction (aborted)` —
/// and poold leases none (the admin socket's `pools` lists no backend pid), so poold's count of leased backends
/// (zero) matches pg_stat_activity. poold's backends are found from its sockets: `ss -tnpH` lines of poold's pid
/// whose peer is a node's port; the local port is that backend's `client_port` in the node's pg_stat_activity.
/// Nodes that do not answer are skipped; a poold that is no longer running is not checked.
enum LeakCheck {
    struct Backend {
        var node: Int
        var pid: String
        var state: String
        var backendStart: String
        var query: String
        var description: String { "node \(node) pid \(pid) state '\(state)' backend_start \(backendStart) query '\(query)'" }
    }

    /// What violates the invariant now; empty when it holds.
    static func violations(_ p: PooldProcess, cluster: TestCluster) -> [String] {
        // poold's connections to each node, by the local port (= the backend's client_port).
        var ports: [Int: [Int]] = [:]
        let nodePorts = Dictionary(uniqueKeysWithValues: (0..<cluster.nodes).map { (cluster.port(of: $0), $0) })
        let ss = (try? Shell.run("ss", ["-tnpH"], timeout: 20))?.stdout ?? ""
        for line in ss.split(separator: "\n") where line.contains("pid=\(p.pid),") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 5, f[0] == "ESTAB",
                  let local = f[3].split(separator: ":").last.flatMap({ Int($0) }),
                  let peer = f[4].split(separator: ":").last.flatMap({ Int($0) }),
                  let node = nodePorts[peer], local != p.port else { continue }
            ports[node, default: []].append(local)
        }
        var problems: [String] = []
        var backends: [Int: [String: Backend]] = [:]  // node → pid → backend
        for (node, locals) in ports.sorted(by: { $0.key < $1.key }) {
            let query = """
                select pid, coalesce(state, ''), backend_start::timestamp(0), \
                left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), 100) \
                from pg_stat_activity where client_addr = '127.0.0.1' and client_port = any('{\(locals.map(String.init).joined(separator: ","))}')
                """
            guard let r = try? Shell.run("psql", ["-X", "-At", "-F", "\t", "-h", "127.0.0.1", "-p", String(cluster.port(of: node)),
                                                  "-U", "postgres", "-d", "postgres", "-c", query],
                                         environment: ["PGCONNECT_TIMEOUT": "3"], timeout: 15),
                  r.status == 0 else { continue }  // a node that is down or does not answer is skipped
            for row in r.stdout.split(separator: "\n") {
                let c = row.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard c.count == 4 else { continue }
                let b = Backend(node: node, pid: c[0], state: c[1], backendStart: c[2], query: c[3])
                backends[node, default: [:]][b.pid] = b
                // "" (starting), idle, and nothing else: active / idle in transaction (aborted) / fastpath are leaks.
                if !(b.state.isEmpty || b.state == "idle") {
                    problems.append("a backend of poold's with no client is not idle: \(b.description)")
                }
            }
        }
        // poold's own view: no client session is left, so no backend may be leased.
        guard p.process.isRunning else { return [] }
        switch adminRows(p.adminSocket, "pools") {
        case .failure(let error):
            problems.append("could not read poold's pools over the admin socket: \(error)")
        case .success(let rows):
            for row in rows {
                let pid = row["pool_backendpid"] ?? "", node = Int(row["backend_id"] ?? "") ?? -1
                guard !pid.isEmpty, pid != "0" else { continue }
                let seen = backends[node]?[pid].map { "; pg_stat_activity: \($0.description)" }
                    ?? "; PostgreSQL shows no such backend of poold's"
                problems.append("poold still leases backend pid \(pid) on node \(node) to session \(row["pool_pid"] ?? "?") "
                                + "(database \(row["database"] ?? "?"), status '\(row["status"] ?? "?")')\(seen)")
            }
        }
        return problems
    }

    /// One admin-socket request; the `result` array of objects with string values.
    static func adminRows(_ socketPath: String, _ command: String, timeout: Int = 5) -> Result<[[String: String]], HarnessError> {
        do {
            let result = try AdminSocket.request(socketPath, command, timeout: timeout)
            guard let rows = result as? [[String: Any]] else { throw HarnessError("\(command) did not return rows: \(result)") }
            return .success(rows.map { $0.mapValues { "\($0)" } })
        } catch let e as HarnessError {
            return .failure(e)
        } catch {
            return .failure(HarnessError("\(error)"))
        }
    }
}

/// Fails the current test unless the invariant holds within `timeout` seconds (clients just closed may still be
/// resetting). Call it only after every client of the test has exited.
func assertNoLeakedBackends(_ p: PooldProcess, cluster: TestCluster, timeout: TimeInterval = 10,
                            file: StaticString = #filePath, line: UInt = #line) {
    guard p.process.isRunning else { return }
    let start = Date(), deadline = start.addingTimeInterval(timeout)
    var problems: [String] = []
    repeat {
        problems = LeakCheck.violations(p, cluster: cluster)
        if problems.isEmpty {
            let waited = Date().timeIntervalSince(start)
            if waited > 2 { print("leak invariant held after \(String(format: "%.1f", waited)) s (poold port \(p.port))") }
            return
        }
        usleep(200_000)
    } while Date() < deadline && p.process.isRunning
    guard p.process.isRunning else { return }
    XCTFail("leak invariant (issue 9): \(Int(timeout)) s after the test's clients left, poold (pid \(p.pid), port \(p.port)) "
            + "still has:\n  " + problems.joined(separator: "\n  "), file: file, line: line)
}
