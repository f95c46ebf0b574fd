import Foundation

/// A child process started with posix_spawn, its output going to files (no pipes to block on), reaped with
/// waitpid. Foundation's Process can miss a child's exit on Linux, so the harness does not use it.
final class Spawned: @unchecked Sendable {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private var status: Int32?

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdinPath: String? = nil,
         stdoutPath: String? = nil, stderrPath: String? = nil) throws {
        let tmp = NSTemporaryDirectory() + "poold-spawn-\(UUID().uuidString)"
        self.stdoutPath = stdoutPath ?? tmp + ".out"
        self.stderrPath = stderrPath ?? tmp + ".err"
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, stdinPath ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, self.stdoutPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&fa, 2, self.stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let path = executable.hasPrefix("/") ? executable : try Shell.which(executable)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &fa, nil, argv, envp)
        guard rc == 0 else { throw HarnessError("could not start \(path): errno \(rc)") }
        self.pid = pid
    }

    var isRunning: Bool {
        if status != nil { return false }
        var s: Int32 = 0
        let r = waitpid(pid, &s, WNOHANG)
        if r == pid { status = Self.exitCode(s); return false }
        return r == 0
    }

    /// Waits for exit (killing the child after `timeout` seconds) and returns its exit code.
    @discardableResult
    func wait(timeout: TimeInterval = 600) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() > deadline { kill(pid, SIGKILL) }
            usleep(5_000)
        }
        return status ?? -1
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    private static func exitCode(_ s: Int32) -> Int32 {
        let sig = s & 0x7F
        return sig == 0 ? (s >> 8) & 0xFF : 128 + sig
    }
}
