import Foundation
import XCTest

/// A real PostgreSQL primary plus two streaming standbys on free loopback ports in a temp dir, built by
/// scripts/pgcluster.sh (initdb, pg_basebackup -R, application_name node<i>), run as a non-root OS user.
final class TestCluster: @unchecked Sendable {
    let base: String
    let port: Int
    let nodes: Int
    /// The network namespace the servers run in (WatchdogNet's db namespace); nil: the test process's own.
    let netns: String?
    var socketDir: String { base + "/sock" }

    /// `netns`: start the servers inside that namespace (`ip netns exec`), listening on 127.0.0.1 there and on
    /// `listen`, with `trustNet` (a CIDR) treated by pg_hba as 127.0.0.1 is. `sql` then goes through the Unix
    /// sockets, which every namespace sees.
    init(nodes: Int = 3, sync: Bool = false, netns: String? = nil, listen: String? = nil, trustNet: String? = nil) throws {
        _ = try Shell.which("psql")
        _ = try Shell.which("pgbench")
        base = "/tmp/poold-it-\(getpid())-\(Int.random(in: 1000...9999))"
        port = Shell.freePortRange(count: nodes)
        self.nodes = nodes
        self.netns = netns
        var args = ["up", base, String(port), "--nodes", String(nodes)]
        if sync { args.append("--sync") }
        var environment: [String: String] = [:]
        if let listen { environment["PG_LISTEN"] = listen }
        if let trustNet { environment["PG_TRUST_NET"] = trustNet }
        var command = ["/bin/bash", Shell.repoRoot + "/scripts/pgcluster.sh"] + args
        if let netns { command = [try WatchdogNet.ip(), "netns", "exec", netns] + command }
        let r = try Shell.run(command[0], Array(command.dropFirst()), environment: environment, timeout: 180)
        guard r.status == 0 else {
            throw HarnessError("could not start the PostgreSQL test cluster (scripts/pgcluster.sh up): \(r.output)")
        }
    }

    func port(of node: Int) -> Int { port + node }

    /// psql straight to a node as postgres; returns unaligned tuples-only output.
    @discardableResult
    func sql(_ query: String, node: Int = 0, database: String = "postgres") throws -> String {
        let r = try Shell.run("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", netns == nil ? "127.0.0.1" : socketDir,
                                       "-p", String(port(of: node)),
                                       "-U", "postgres", "-d", database, "-c", query])
        guard r.status == 0 else { throw HarnessError("psql on node \(node) failed: \(r.output)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func destroy() {
        _ = try? Shell.run("/bin/bash", [Shell.repoRoot + "/scripts/pgcluster.sh", "destroy", base], timeout: 120)
    }
}
