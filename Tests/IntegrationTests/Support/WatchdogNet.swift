import Foundation
import XCTest

/// The watchdog tests' private LAN, made by scripts/wdnet.sh (its header has the layout): a hub namespace with
/// a bridge, `members` member namespaces (`m0`…, eth0 = 10.77.0.(10+i)), a `client` (10.77.0.100) and a `db`
/// (10.77.0.50) namespace, all named `<prefix>-<name>` with a prefix unique to this test process
/// (`pdwd<pid>_<n>`). The VIP (`vip`) is raised and dropped on a member's eth0 by scripts/vip-recorder.sh,
/// which logs every change to `vipLog` with CLOCK_BOOTTIME (`WatchdogNet.monotonicNanoseconds()` reads the
/// same clock). `stop()` (also run by deinit) kills what `spawn` started, destroys the clusters of
/// `startCluster`, and deletes every namespace of the prefix; `init` first removes what a crashed earlier test
/// process left (prefixes `pdwd<pid>_…` whose pid is gone). Root only: a missing environment is an error with
/// the reason, never a skip.
final class WatchdogNet: @unchecked Sendable {
    static let prefixRoot = "pdwd"
    static let subnet = "10.77.0"  // wdnet.sh's default NET
    static let script = Shell.repoRoot + "/scripts/wdnet.sh"
    static let recorder = Shell.repoRoot + "/scripts/vip-recorder.sh"

    let prefix: String
    let members: Int
    /// Where the VIP log, the spawned programs' output and anything else of this network's tests go.
    let dir: String
    let vip = "\(WatchdogNet.subnet).200"
    let vipLog: String
    let hubAddress = "\(WatchdogNet.subnet).1"
    let clientAddress = "\(WatchdogNet.subnet).100"
    let dbAddress = "\(WatchdogNet.subnet).50"
    let cidr = "\(WatchdogNet.subnet).0/24"
    func address(ofMember i: Int) -> String { "\(Self.subnet).\(10 + i)" }
    /// `m<i>`, the short name wdnet.sh, `spawn` and `exec` take for member i.
    func member(_ i: Int) -> String { "m\(i)" }
    /// The full namespace name of `hub`, `m<i>`, `client` or `db`.
    func namespace(_ name: String) -> String { "\(prefix)-\(name)" }

    private var spawned: [Spawned] = []
    private var clusters: [TestCluster] = []
    private var stopped = false
    private let lock = NSLock()
    nonisolated(unsafe) private static var counter = 0
    private static let counterLock = NSLock()

    init(members: Int = 3) throws {
        try Self.checkEnvironment()
        Self.removeStale()
        Self.counterLock.lock()
        Self.counter += 1
        prefix = "\(Self.prefixRoot)\(getpid())_\(Self.counter)"
        Self.counterLock.unlock()
        self.members = members
        dir = "/tmp/poold-wd-\(prefix)"
        vipLog = dir + "/vip.log"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: vipLog, contents: nil)
        let r = try Self.wdnet(["up", prefix, String(members)], timeout: 120)
        guard r.status == 0 else {
            stop()
            throw HarnessError("could not create the watchdog test network (scripts/wdnet.sh up \(prefix) \(members)): \(r.output)")
        }
    }

    deinit { stop() }

    /// Kills (SIGCONT, then SIGKILL, by pid) every process `spawn` started and reaps it, destroys the clusters
    /// of `startCluster`, deletes every `<prefix>-*` namespace (wdnet.sh down also ends anything else still
    /// running inside them) and removes `dir`. Safe to call more than once.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        for p in spawned where p.isRunning {
            kill(p.pid, SIGCONT)
            kill(p.pid, SIGKILL)
            p.wait(timeout: 10)
        }
        spawned = []
        for c in clusters { c.destroy() }
        clusters = []
        if let r = try? Self.wdnet(["down", prefix], timeout: 120), r.status != 0 {
            print("WatchdogNet: wdnet.sh down \(prefix) failed: \(r.output)")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: running things inside the namespaces

    /// Starts `executable` inside namespace `name` (`hub`, `m<i>`, `client`, `db`) through `ip netns exec`, which
    /// execs it: the returned process's pid is the program's own, for kill -9, SIGSTOP and SIGCONT. Its output
    /// goes to `<dir>/<name>-<program>-<n>.log` unless paths are given. `stop()` kills it if it still runs.
    func spawn(in name: String, _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
               stdoutPath: String? = nil, stderrPath: String? = nil) throws -> Spawned {
        let path = executable.hasPrefix("/") ? executable : try Shell.which(executable)
        lock.lock()
        defer { lock.unlock() }
        let log = "\(dir)/\(name)-\(URL(fileURLWithPath: path).lastPathComponent)-\(spawned.count).log"
        let p = try Spawned(try Self.ip(), ["netns", "exec", namespace(name), path] + arguments, environment: environment,
                            stdoutPath: stdoutPath ?? log, stderrPath: stderrPath ?? log)
        spawned.append(p)
        return p
    }

    /// Runs a command inside namespace `name` to its end and returns what it printed.
    @discardableResult
    func exec(in name: String, _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
              timeout: TimeInterval = 60) throws -> CommandResult {
        let path = executable.hasPrefix("/") ? executable : try Shell.which(executable)
        return try Shell.run(try Self.ip(), ["netns", "exec", namespace(name), path] + arguments, environment: environment,
                             timeout: timeout)
    }

    /// A primary + standbys inside the db namespace, listening on 127.0.0.1 there and on `dbAddress` (members use
    /// `backend_hostnameN = dbAddress`, `backend_portN = cluster.port(of: N)`); pg_hba trusts this LAN as it trusts
    /// 127.0.0.1. `cluster.sql` goes through the Unix sockets. Destroyed by `stop()`.
    func startCluster(nodes: Int = 3, sync: Bool = false) throws -> TestCluster {
        let c = try TestCluster(nodes: nodes, sync: sync, netns: namespace("db"), listen: dbAddress, trustNet: cidr)
        lock.lock()
        clusters.append(c)
        lock.unlock()
        return c
    }

    // MARK: faults

    enum PartitionMode: String {
        /// the hub's end of the veth goes down: the member's eth0 shows NO-CARRIER
        case link
        /// the veth stays up but leaves the bridge: carrier up, every frame lost
        case bridge
    }

    /// Cuts member `i` off the LAN (its VIP, if any, stays on its eth0 until it drops it itself).
    func partition(member i: Int, mode: PartitionMode = .link) throws { try partition(port: member(i), mode: mode) }
    func heal(member i: Int) throws { try heal(port: member(i)) }
    /// `port`: `m<i>`, `client` or `db`.
    func partition(port: String, mode: PartitionMode = .link) throws {
        try check(["partition", prefix, port, mode.rawValue])
    }
    func heal(port: String) throws { try check(["heal", prefix, port]) }

    // MARK: the VIP

    /// The namespaces (short names: `m1`, …) that have `ip` (default: the VIP) on an interface now.
    func vipHolders(_ ip: String? = nil) throws -> [String] {
        let r = try Self.wdnet(["vip-holders", prefix, ip ?? vip])
        guard r.status == 0 else { throw HarnessError("wdnet.sh vip-holders failed: \(r.output)") }
        return r.stdout.split(separator: "\n").map { String($0.dropFirst(prefix.count + 1)) }.sorted()
    }

    /// The pgpool.conf value for member `i`'s `if_up_cmd` / `if_down_cmd` / `arping_cmd`: scripts/vip-recorder.sh,
    /// absolute (so `if_cmd_path` / `arping_path` are not prepended), logging to `vipLog` as `m<i>`.
    func vipCommand(_ action: String, member i: Int) -> String {
        "\(Self.recorder) \(action) $_IP_$ \(vipLog) \(member(i))"
    }

    /// The pgpool.conf lines that make member `i` move the VIP through the recorder.
    func vipConfig(member i: Int) -> String {
        """
        delegate_ip = '\(vip)'
        if_up_cmd = '\(vipCommand("up", member: i))'
        if_down_cmd = '\(vipCommand("down", member: i))'
        arping_cmd = '\(vipCommand("arping", member: i))'
        """
    }

    /// Runs the recorder in member `i`'s namespace as poold would (`up`, `down` or `arping`); its exit status.
    @discardableResult
    func record(_ action: String, member i: Int, ip: String? = nil) throws -> Int32 {
        try exec(in: member(i), "/bin/bash", [Self.recorder, action, ip ?? vip, vipLog, member(i)]).status
    }

    struct VipEvent: Equatable {
        var time: UInt64  // CLOCK_BOOTTIME ns
        var member: String
        var action: String  // up, down, arping
        var ip: String
        var status: Int32
    }

    /// The recorder's log, in order of time.
    func vipEvents() throws -> [VipEvent] {
        let text = (try? String(contentsOfFile: vipLog, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            let f = line.split(separator: " ")
            guard f.count == 5, let t = UInt64(f[0]), let s = Int32(f[4]) else {
                throw HarnessError("malformed line in \(vipLog): \(line)")
            }
            return VipEvent(time: t, member: String(f[1]), action: String(f[2]), ip: String(f[3]), status: s)
        }.sorted { $0.time < $1.time }
    }

    /// scripts/vip-check.py on `vipLog`: status 0 if at no instant two members held an IP, 1 if they did (the
    /// output names the intervals).
    func vipCheck() throws -> CommandResult {
        try Shell.run(Self.python, [Shell.repoRoot + "/scripts/vip-check.py", vipLog])
    }

    // MARK: environment

    /// CLOCK_BOOTTIME in ns, the recorder's clock (one clock for every network namespace).
    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The distro's python3 when there is one (no shim in front of it), else python3 from PATH.
    static var python: String {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
    }

    /// iproute2's `ip` (in /usr/sbin, which a test's PATH may lack).
    static func ip() throws -> String {
        for path in ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        return try Shell.which("ip")
    }

    static func checkEnvironment() throws {
        guard geteuid() == 0 else {
            throw HarnessError("""
                the watchdog tests need root: they create network namespaces, veth pairs and a bridge (running as \
                uid \(geteuid())). Run the tests as root (sudo bash scripts/test.sh), as CI does.
                """)
        }
        // wdnet.sh installs iproute2 / iputils when they are missing and reports an `ip netns` that does not work.
    }

    /// Every namespace whose name starts with `prefix-`, from `ip netns list`.
    static func namespaces(prefix: String) -> [String] {
        allNamespaces().filter { $0.hasPrefix(prefix + "-") }
    }

    private static func allNamespaces() -> [String] {
        guard let ip = try? ip(), let r = try? Shell.run(ip, ["netns", "list"], timeout: 30), r.status == 0 else { return [] }
        return r.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    /// The prefix `pdwd<pid>_<n>` of a namespace or directory name made by a WatchdogNet, and its pid.
    static func parsePrefix(_ name: String) -> (prefix: String, pid: pid_t)? {
        guard name.hasPrefix(prefixRoot) else { return nil }
        let prefix = String(name.prefix { $0 != "-" })
        let parts = prefix.dropFirst(prefixRoot.count).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, let pid = pid_t(parts[0]), Int(parts[1]) != nil else { return nil }
        return (prefix, pid)
    }

    /// Namespaces and directories of WatchdogNets whose test process is gone (a crashed run): deleted by name.
    static func removeStale() {
        let dirs = ((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [])
            .filter { $0.hasPrefix("poold-wd-") }.map { String($0.dropFirst("poold-wd-".count)) }
        let stale = Set((allNamespaces() + dirs).compactMap(parsePrefix).filter { kill($0.pid, 0) != 0 && errno == ESRCH }
            .map(\.prefix))
        for prefix in stale.sorted() {
            print("WatchdogNet: removing the namespaces of a test process that is gone: \(prefix)-*")
            _ = try? wdnet(["down", prefix], timeout: 120)
            try? FileManager.default.removeItem(atPath: "/tmp/poold-wd-\(prefix)")
        }
    }

    private func check(_ args: [String]) throws {
        let r = try Self.wdnet(args)
        guard r.status == 0 else { throw HarnessError("wdnet.sh \(args.joined(separator: " ")) failed: \(r.output)") }
    }

    @discardableResult
    static func wdnet(_ args: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        try Shell.run("/bin/bash", [script] + args, timeout: timeout)
    }
}
