import Foundation
import XCTest

/// Runs real programs (psql, pgbench, the cluster script) and captures what they print.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

enum Shell {
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                    input: String? = nil, timeout: TimeInterval = 300) throws -> CommandResult {
        var stdinPath: String? = nil
        if let input {
            stdinPath = NSTemporaryDirectory() + "poold-stdin-\(UUID().uuidString)"
            try input.write(toFile: stdinPath!, atomically: false, encoding: .utf8)
        }
        defer { if let stdinPath { try? FileManager.default.removeItem(atPath: stdinPath) } }
        let child = try Spawned(executable, arguments, environment: environment, stdinPath: stdinPath)
        let status = child.wait(timeout: timeout)
        let result = CommandResult(status: status, stdout: child.stdout, stderr: child.stderr)
        try? FileManager.default.removeItem(atPath: child.stdoutPath)
        try? FileManager.default.removeItem(atPath: child.stderrPath)
        return result
    }

    static func which(_ name: String) throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw HarnessError("\(name) not found on PATH. Install PostgreSQL 15 (apt-get install postgresql-15 postgresql-client-15) — the integration tests need real servers and clients.")
    }

    /// `count` consecutive free ports; returns the first.
    static func freePortRange(count: Int) -> Int {
        while true {
            let first = freePort()
            if (1..<max(1, count)).allSatisfy({ isFree(first + $0) }) { return first }
        }
    }

    /// A TCP port nobody listens on now (checked by binding it).
    static func freePort() -> Int {
        while true {
            let candidate = Int.random(in: 20_000...50_000)
            if isFree(candidate) { return candidate }
        }
    }

    static func isFree(_ candidate: Int) -> Bool {
        do {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(candidate).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
            close(fd)
            return ok
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
