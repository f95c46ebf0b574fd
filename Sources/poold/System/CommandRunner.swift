import Foundation
import Logging

/// Runs operator scripts (failover_command, follow_primary_command, recovery stages) through `/bin/sh -c`,
/// with poold's stdout/stderr, and waits for them on a thread of their own so no event loop or cooperative
/// thread blocks. (Foundation's Process is avoided: its waitUntilExit does not return on this platform.)
enum CommandRunner {
    struct Result: Sendable {
        var status: Int32
        var seconds: Double
    }

    /// `level`: of the "running" / "finished" lines (a check run every few seconds logs at debug).
    /// `discardOutput`: the command's stdout goes to /dev/null (ping's statistics), its stderr stays poold's.
    static func run(_ command: String, environment: [String: String] = [:], logger: Logger, level: Logger.Level = .info,
                    discardOutput: Bool = false) async -> Result {
        let start = Date()
        logger.log(level: level, "running command", metadata: ["command": "\(command)"])
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer {
            envp.forEach { free($0) }
            argv.forEach { free($0) }
        }
        var pid: pid_t = 0
        // The script must not inherit poold's sockets: a PostgreSQL it starts would otherwise keep poold's
        // listening port open after poold exits.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap(Int32.init) ?? []
        for fd in open where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        if discardOutput { posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0) }
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, envp)
        guard rc == 0 else {
            logger.error("cannot run command", metadata: ["command": "\(command)", "errno": "\(rc)"])
            return Result(status: -1, seconds: 0)
        }
        let child = pid
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var s: Int32 = 0
                while waitpid(child, &s, 0) < 0 && errno == EINTR {}
                // WIFEXITED / WEXITSTATUS by hand: the macros are not imported.
                let exited = s & 0x7f == 0
                continuation.resume(returning: exited ? (s >> 8) & 0xff : 128 + (s & 0x7f))
            }
        }
        let result = Result(status: status, seconds: Date().timeIntervalSince(start))
        logger.log(level: level, "command finished", metadata: ["command": "\(command)", "status": "\(status)",
                                                   "seconds": "\(String(format: "%.2f", result.seconds))"])
        return result
    }
}
