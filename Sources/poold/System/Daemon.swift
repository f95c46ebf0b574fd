import Foundation
import Logging

/// Process-level chores: detaching into the background, the pid file, log levels.
enum Daemon {
    /// Starts this program again with -n in a new session, output to logdir/poold.log, and returns.
    static func detach(arguments: [String], logdir: String) throws {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var args = arguments
        args[0] = exe
        args.append("-n")
        let log = (logdir.isEmpty ? "/tmp" : logdir) + "/poold.log"
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&fa, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        posix_spawnattr_setflags(&attr, Int16(0x80))  // POSIX_SPAWN_SETSID (glibc)
        var pid: pid_t = 0
        let cargs = args.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let rc = posix_spawn(&pid, exe, &fa, &attr, cargs, environ)
        posix_spawn_file_actions_destroy(&fa)
        posix_spawnattr_destroy(&attr)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        print("poold started in the background (pid \(pid)); log: \(log)")
    }

    /// Raises the open-file limit to its hard maximum: every client and every backend is a descriptor.
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    static func writePIDFile(_ path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "\(getpid())\n".write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// pgpool's log_min_messages words as swift-log levels.
    static func logLevel(_ word: String) -> Logger.Level {
        switch word {
        case "debug5", "debug4", "debug3": return .trace
        case "debug2", "debug1": return .debug
        case "info", "log": return .info
        case "notice": return .notice
        case "warning": return .warning
        case "error": return .error
        default: return .critical
        }
    }
}
