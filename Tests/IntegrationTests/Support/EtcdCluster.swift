import EtcdClient
import Foundation

/// A real etcd cluster (Debian's `etcd-server`, 3.4) of 1–3 members on loopback, data in a temp dir, started
/// with a static `--initial-cluster` and stopped by the test. Ports are 23790 + 10k (client 2i, peer 2i + 1 for
/// member i), the first block whose ports are all free. Only the PIDs it started are ever signalled; a
/// directory left by a crashed test process is cleaned up by the next one. A missing `etcd` is a failure.
final class EtcdCluster: @unchecked Sendable {
    let dir: String
    let base: Int
    let size: Int
    private(set) var members: [Spawned?]
    let extraArguments: [String]

    static let firstPort = 23790

    init(members size: Int = 3, extraArguments: [String] = []) throws {
        guard let etcd = Self.findEtcd() else {
            throw HarnessError("etcd not found on PATH or in /usr/bin. Install Debian's etcd-server (apt-get install etcd-server, or scripts/install-deps.sh) — the etcd client's integration tests need a real etcd.")
        }
        Self.removeStale()
        self.size = size
        self.extraArguments = extraArguments
        dir = "/tmp/poold-etcd-\(getpid())-\(Int.random(in: 1000...9999))"
        members = Array(repeating: nil, count: size)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard let base = (0..<100).lazy.map({ Self.firstPort + 10 * $0 })
                .first(where: { b in (0..<(2 * size)).allSatisfy { Shell.isFree(b + $0) } }) else {
            throw HarnessError("no free block of \(2 * size) loopback ports from \(Self.firstPort) on")
        }
        self.base = base
        do {
            for i in 0..<size { try start(i, etcd: etcd, state: "new") }
            try waitHealthy(timeout: 20)
        } catch {
            let logs = (0..<size).map { "e\($0): " + tail(log(of: $0)) }.joined(separator: "\n")
            stop()
            throw HarnessError("etcd cluster did not come up: \(error)\n\(logs)")
        }
    }

    func clientPort(_ i: Int) -> Int { base + 2 * i }
    func peerPort(_ i: Int) -> Int { base + 2 * i + 1 }
    func endpoint(_ i: Int) -> EtcdEndpoint { EtcdEndpoint(host: "127.0.0.1", port: clientPort(i)) }
    var endpoints: [EtcdEndpoint] { (0..<size).map(endpoint) }
    func log(of i: Int) -> String { (try? String(contentsOfFile: "\(dir)/e\(i).log", encoding: .utf8)) ?? "" }
    func pid(of i: Int) -> pid_t? { members[i]?.pid }

    private func start(_ i: Int, etcd: String, state: String) throws {
        let cluster = (0..<size).map { "e\($0)=http://127.0.0.1:\(peerPort($0))" }.joined(separator: ",")
        let args = ["--name", "e\(i)", "--data-dir", "\(dir)/e\(i).data",
                    "--listen-client-urls", "http://127.0.0.1:\(clientPort(i))",
                    "--advertise-client-urls", "http://127.0.0.1:\(clientPort(i))",
                    "--listen-peer-urls", "http://127.0.0.1:\(peerPort(i))",
                    "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort(i))",
                    "--initial-cluster", cluster, "--initial-cluster-state", state,
                    "--initial-cluster-token", "poold-it-\(base)", "--bcrypt-cost", "4"] + extraArguments
        let logPath = "\(dir)/e\(i).log"
        let member = try Spawned(etcd, args, stdoutPath: logPath, stderrPath: logPath)
        members[i] = member
        try "\(member.pid)\n".write(toFile: "\(dir)/e\(i).pid", atomically: true, encoding: .utf8)
    }

    /// Every running member answers `GET /health` with `"health":"true"` (which needs a raft leader).
    func waitHealthy(timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let running = (0..<size).filter { members[$0] != nil }
            for i in running where members[i]?.isRunning == false {
                throw HarnessError("etcd member e\(i) exited")
            }
            if running.allSatisfy({ Self.get(port: clientPort($0), path: "/health")?.contains("\"health\":\"true\"") == true }) {
                return
            }
            if Date() > deadline { throw HarnessError("not healthy after \(timeout) s") }
            usleep(50_000)
        }
    }

    /// Sends `signal` to member i (the PID this cluster started); SIGKILL also reaps it.
    func signal(_ i: Int, _ signal: Int32) {
        guard let member = members[i] else { return }
        kill(member.pid, signal)
        if signal == SIGKILL {
            member.wait(timeout: 10)
            members[i] = nil
        }
    }

    /// Starts member i again on its data dir (after a kill): it rejoins the cluster.
    func restart(_ i: Int) throws {
        guard members[i] == nil, let etcd = Self.findEtcd() else { return }
        try start(i, etcd: etcd, state: "existing")
    }

    /// SIGKILL to every member started (the data is thrown away: a clean stop would only spend seconds on
    /// leadership transfers between members that are all stopping), then the directory is removed.
    func stop() {
        for m in members.compactMap({ $0 }) {
            kill(m.pid, SIGKILL)
            m.wait(timeout: 10)
        }
        members = Array(repeating: nil, count: size)
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { if members.contains(where: { $0 != nil }) { stop() } }

    private func tail(_ text: String) -> String { text.split(separator: "\n").suffix(8).joined(separator: "\n") }

    static func findEtcd() -> String? {
        if let path = try? Shell.which("etcd") { return path }
        return FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") ? "/usr/bin/etcd" : nil
    }

    /// Directories of earlier test processes that are gone: their etcd members (only PIDs whose command line
    /// names that directory) are killed and the directory removed.
    private static func removeStale() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] where name.hasPrefix("poold-etcd-") {
            let parts = name.split(separator: "-")
            guard parts.count == 4, let owner = Int32(parts[2]), kill(owner, 0) != 0 else { continue }
            let path = "/tmp/\(name)"
            for file in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where file.hasSuffix(".pid") {
                if let text = try? String(contentsOfFile: "\(path)/\(file)", encoding: .utf8),
                   let p = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                   let cmd = try? String(contentsOfFile: "/proc/\(p)/cmdline", encoding: .utf8), cmd.contains(path) {
                    kill(p, SIGKILL)
                }
            }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// A plain HTTP/1.0 GET on a loopback port without the client under test; nil when nothing answers in 1 s.
    static func get(port: Int, path: String) -> String? { http(port: port, "GET", path) }

    /// A plain HTTP/1.0 POST of a JSON body to member i (for what the client does not cover, e.g. enabling
    /// auth); the whole answer, headers included.
    func post(_ i: Int, _ path: String, _ json: String, token: String? = nil) -> String {
        Self.http(port: clientPort(i), "POST", path, body: json, headers: token.map { ["Authorization: \($0)"] } ?? []) ?? ""
    }

    static func http(port: Int, _ method: String, _ path: String, body: String = "", headers: [String] = []) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
        guard connected else { return nil }
        let head = ["\(method) \(path) HTTP/1.0", "Host: 127.0.0.1", "Content-Length: \(body.utf8.count)"] + headers
        let request = Array((head.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
        guard send(fd, request, request.count, 0) == request.count else { return nil }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        return answer.isEmpty ? nil : String(decoding: answer, as: UTF8.self)
    }
}
