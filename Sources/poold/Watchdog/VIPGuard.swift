import Foundation
import Logging

/// The boot-time monotonic clock (CLOCK_BOOTTIME: it keeps counting while the host sleeps, and every process
/// and network namespace reads the same one), as the watchdog's time.
func watchdogNow() -> Duration {
    var ts = timespec()
    clock_gettime(CLOCK_BOOTTIME, &ts)
    return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
}

/// The VIP guard: a child process (`poold vip-guard`) that holds the leader's lease deadline outside poold's
/// own process, so the VIP comes down at the deadline even when poold is stopped (SIGSTOP, a frozen event
/// loop) or killed. poold tells it `hold <deadline ns>` (absolute, CLOCK_BOOTTIME) before escalating and at
/// every renewal, and `release` after its own de-escalation. The guard runs `if_down_cmd` when the deadline
/// passes without renewal, or at once when its stdin closes while it holds (poold died). When it drops the VIP
/// by itself it says `dropped` on its stdout, so a leader whose lease still holds (its renewal came too late)
/// raises the VIP again instead of leaving it on nobody.
final class VIPGuard: @unchecked Sendable {
    private let pid: pid_t
    private let fd: Int32
    private let logger: Logger

    /// Starts the guard with the expanded `if_down_cmd`; `dropped` is called (on a thread of the guard's) each
    /// time the guard brings the VIP down by itself. Nil when it cannot be started.
    init?(downCommand: String, logger: Logger, dropped: @escaping @Sendable () -> Void = {}) {
        self.logger = logger
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { return nil }
        var backFDs: [Int32] = [0, 0]
        guard pipe(&backFDs) == 0 else {
            close(pipeFDs[0])
            close(pipeFDs[1])
            return nil
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[0], 0)
        posix_spawn_file_actions_adddup2(&actions, backFDs[1], 1)
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap(Int32.init) ?? []
        for f in open where f > 2 { posix_spawn_file_actions_addclose(&actions, f) }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(exe), strdup("vip-guard"), strdup(downCommand), nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, exe, &actions, nil, argv, environ)
        close(pipeFDs[0])
        close(backFDs[1])
        guard rc == 0 else {
            close(pipeFDs[1])
            close(backFDs[0])
            logger.error("cannot start the VIP guard", metadata: ["errno": "\(rc)"])
            return nil
        }
        pid = child
        fd = pipeFDs[1]
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        logger.info("VIP guard started", metadata: ["pid": "\(child)"])
        // Reap it whenever it ends, on a thread of its own; another reads its reports until it exits.
        let reaped = child
        Thread.detachNewThread {
            var s: Int32 = 0
            while waitpid(reaped, &s, 0) < 0 && errno == EINTR {}
        }
        let back = backFDs[0]
        _ = fcntl(back, F_SETFD, FD_CLOEXEC)
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 256)
            var line = [UInt8]()
            while true {
                let n = buffer.withUnsafeMutableBytes { read(back, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                for byte in buffer[0..<n] {
                    if byte != UInt8(ascii: "\n") { line.append(byte); continue }
                    if line == Array("dropped".utf8) { dropped() }
                    line.removeAll()
                }
            }
            close(back)
        }
    }

    /// The VIP may stay up until `deadline` (watchdogNow's clock).
    func hold(until deadline: Duration) {
        let (s, a) = deadline.components
        let ns = Int64(s) * 1_000_000_000 + a / 1_000_000_000
        send("hold \(ns)\n")
    }

    /// The VIP is down (poold ran if_down_cmd itself); nothing to guard.
    func release() { send("release\n") }

    private func send(_ line: String) {
        let bytes = Array(line.utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n != bytes.count { logger.error("cannot reach the VIP guard", metadata: ["errno": "\(errno)"]) }
    }

    /// Closing the pipe makes a guard that still holds bring the VIP down, then exit.
    func stop() { close(fd) }

    // MARK: - The guard process

    /// `poold vip-guard DOWN_COMMAND`: reads `hold NS` / `release` lines on stdin.
    static func runGuard(downCommand: String) -> Never {
        var deadline: Int64? = nil
        var line = [UInt8]()
        func now() -> Int64 {
            var ts = timespec()
            clock_gettime(CLOCK_BOOTTIME, &ts)
            return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
        }
        func drop(_ why: String) {
            FileHandle.standardError.write(Data("poold vip-guard: \(why): running if_down_cmd\n".utf8))
            _ = downCommand.withCString { system($0) }
            deadline = nil
            _ = write(1, "dropped\n", 8)
        }
        signal(SIGINT, SIG_IGN)  // a terminal's ^C reaches poold, which releases; the guard follows its pipe
        signal(SIGPIPE, SIG_IGN)  // poold gone: its report pipe is closed
        while true {
            var timeout: Int32 = -1
            if let d = deadline {
                let left = d - now()
                if left <= 0 { drop("lease deadline passed without renewal"); continue }
                timeout = Int32(min(left / 1_000_000 + 1, 60_000))
            }
            var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, timeout)
            if r < 0 { if errno == EINTR { continue }; break }
            if r == 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            for byte in buffer[0..<n] {
                if byte != UInt8(ascii: "\n") { line.append(byte); continue }
                let words = String(decoding: line, as: UTF8.self).split(separator: " ")
                line.removeAll()
                if words.first == "hold", words.count == 2, let ns = Int64(words[1]) { deadline = ns }
                if words.first == "release" { deadline = nil }
            }
        }
        if deadline != nil { drop("poold is gone while holding the VIP") }
        exit(0)
    }
}
