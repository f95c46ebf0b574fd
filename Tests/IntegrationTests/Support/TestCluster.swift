import Foundation
import XCTest

/// A real PostgreSQL primary plus two streaming standbys on free loopback ports in a temp dir, built by
/// scripts/pgcluster.sh (initdb, pg_basebackup -R, application_name node<i>), run as a non-root OS user.
final class TestCluster: @unchecked Sendable {
    let base: String
    let port: Int
    let nodes: Int
    var socketDir: String { base + "/sock" }

    init(nodes: Int = 3, sync: Bool = false) throws {
        _ = try Shell.which("psql")
        _ = try Shell.which("pgbench")
        base = "/tmp/poold-it-\(getpid())-\(Int.random(in: 1000...9999))"
        port = Shell.freePortRange(count: nodes)
        self.nodes = nodes
        var args = ["up", base, String(port), "--nodes", String(nodes)]
        if sync { args.append("--sync") }
        let r = try Shell.run("/bin/bash", [Shell.repoRoot + "/scripts/pgcluster.sh"] + args, timeout: 180)
        guard r.status == 0 else {
            throw HarnessError("could not start the PostgreSQL test cluster (scripts/pgcluster.sh up): \(r.output)")
        }
    }

    func port(of node: Int) -> Int { port + node }

    /// psql straight to a node as postgres; returns unaligned tuples-only output.
    @discardableResult
    func sql(_ query: String, node: Int = 0, database: String = "postgres") throws -> String {
        let r = try Shell.run("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port(of: node)),
                                       "-U", "postgres", "-d", database, "-c", query])
        guard r.status == 0 else { throw HarnessError("psql on node \(node) failed: \(r.output)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func destroy() {
        _ = try? Shell.run("/bin/bash", [Shell.repoRoot + "/scripts/pgcluster.sh", "destroy", base], timeout: 120)
    }
}
