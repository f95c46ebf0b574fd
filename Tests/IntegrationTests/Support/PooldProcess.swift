import Foundation
import XCTest

/// The built poold binary started in the foreground with a generated pgpool.conf; stopped by its PID.
final class PooldProcess: @unchecked Sendable {
    let dir: String
    let port: Int
    let process: Spawned
    let logFile: String
    let cluster: TestCluster
    var configFile: String { dir + "/pgpool.conf" }

    static var binary: String {
        ProcessInfo.processInfo.environment["POOLD_BIN"] ?? Shell.repoRoot + "/.build/debug/poold"
    }

    /// Writes pgpool.conf (backends of `cluster` plus `extra` lines) and starts poold; waits until it accepts.
    /// `dataDirectories`: also write backend_data_directoryN (for failover and recovery scripts).
    /// `reusing`: start again in an earlier instance's directory and port (its pgpool_status stays).
    /// `loginWorks: false`: poold is up once it answers at all (a configuration whose logins are meant to fail).
    /// `runAs`: an unprivileged OS user poold runs as (setpriv execs it: the PID stays poold's); its directory
    /// is handed to that user.
    init(cluster: TestCluster, extra: String = "", files: [String: String] = [:], dataDirectories: Bool = false,
         reusing: PooldProcess? = nil, arguments: [String] = [], loginWorks: Bool = true, runAs: String? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw HarnessError("poold binary not found at \(Self.binary); run `swift build` first")
        }
        self.cluster = cluster
        port = reusing?.port ?? Shell.freePort()
        dir = cluster.base + "/poold-\(port)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var conf = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(dir)'
            pcp_port = \(Shell.freePort())
            pcp_socket_dir = '\(dir)'
            pid_file_name = '\(dir)/poold.pid'
            logdir = '\(dir)'
            log_min_messages = info

            """
        for i in 0..<cluster.nodes {
            conf += "backend_hostname\(i) = '127.0.0.1'\nbackend_port\(i) = \(cluster.port(of: i))\n"
            conf += "backend_application_name\(i) = 'node\(i)'\n"
            if dataDirectories { conf += "backend_data_directory\(i) = '\(cluster.base)/n\(i)'\n" }
        }
        conf += extra + "\n"
        try conf.write(toFile: dir + "/pgpool.conf", atomically: true, encoding: .utf8)
        // 0600: poold refuses a pcp.conf or pool_passwd that group or others can read.
        for (name, text) in files {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            chmod(dir + "/" + name, 0o600)
        }
        logFile = dir + "/poold.log"
        if !FileManager.default.fileExists(atPath: logFile) { FileManager.default.createFile(atPath: logFile, contents: nil) }
        let command = [Self.binary, "-f", dir + "/pgpool.conf", "-n"] + arguments
        if let user = runAs {
            let owned = try Shell.run("chown", ["-R", user, dir])
            guard owned.status == 0 else { throw HarnessError("chown \(user) \(dir): \(owned.output)") }
            // HOME: its ~/.pgpoolkey, not root's.
            process = try Spawned("/usr/bin/setpriv", ["--reuid=\(user)", "--regid=\(user)", "--init-groups", "--"] + command,
                                  environment: ["HOME": dir], stdoutPath: logFile, stderrPath: logFile)
        } else {
            process = try Spawned(command[0], Array(command.dropFirst()), stdoutPath: logFile, stderrPath: logFile)
        }
        for _ in 0..<200 {
            let probe = try Shell.run("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "template1",
                                               "-c", "select 1"])
            if probe.stdout.contains("1") { return }
            if !loginWorks, probe.stderr.contains("FATAL") { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        // Not left running behind a failed test (it may be up but not answering on the expected port).
        if process.isRunning {
            kill(process.pid, SIGKILL)
            process.wait(timeout: 5)
        }
        throw HarnessError("poold did not start: \(log_())")
    }

    private func log_() -> String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }
    var log: String { log_() }

    var pid: Int32 { process.pid }

    /// Resident set size in kB, from /proc.
    var rssKB: Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return -1 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    func psql(_ query: String, user: String = "postgres", database: String = "bench", password: String? = nil,
              host: String = "127.0.0.1", extra: [String] = []) throws -> CommandResult {
        try Shell.run("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", String(port), "-U", user,
                               "-d", database] + extra + ["-c", query],
                      environment: password.map { ["PGPASSWORD": $0] } ?? ["PGPASSWORD": ""])
    }

    var adminSocket: String { dir + "/poold_admin.sock" }

    /// Runs `poolconsole ARGS -s <admin socket>`.
    func console(_ args: [String]) throws -> CommandResult {
        let bin = URL(fileURLWithPath: Self.binary).deletingLastPathComponent().path + "/poolconsole"
        return try Shell.run(bin, args + ["-s", adminSocket], timeout: 180)
    }

    /// Node statuses from `poolconsole nodes --json`, by node id.
    func nodeStatuses() throws -> [Int: (status: String, role: String)] {
        let r = try console(["nodes", "--json"])
        guard r.status == 0, let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] else {
            throw HarnessError("poolconsole nodes failed: \(r.output)")
        }
        var out: [Int: (String, String)] = [:]
        for row in rows {
            if let id = Int(row["node_id"] as? String ?? ""), let st = row["status"] as? String, let role = row["role"] as? String {
                out[id] = (st, role)
            }
        }
        return out
    }

    /// Checks the leak invariant (LeakCheck.swift: no backend of poold's busy or leased once the test's clients
    /// are gone; a failure is recorded on the running test), then stops poold with SIGINT. Pass
    /// `checkLeaks: false` only where a test cannot satisfy it, with a comment saying why.
    func stop(checkLeaks: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
        guard process.isRunning else { return }
        if checkLeaks { assertNoLeakedBackends(self, cluster: cluster, file: file, line: line) }
        kill(pid, SIGINT)
        process.wait(timeout: 5)
    }
}
