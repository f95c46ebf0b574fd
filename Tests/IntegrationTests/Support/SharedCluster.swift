import Foundation

/// One cluster for the whole integration run, created on first use and destroyed when the test process exits.
enum SharedCluster {
    nonisolated(unsafe) private static var cluster: TestCluster?
    nonisolated(unsafe) private static var failure: Error?
    private static let lock = NSLock()

    static func get() throws -> TestCluster {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        if let cluster { return cluster }
        removeStaleClusters()
        do {
            let c = try TestCluster()
            try c.sql("create database bench")
            try c.sql("""
                set password_encryption = 'md5'; create user md5user password 'md5secret';
                set password_encryption = 'scram-sha-256'; create user scramuser password 'scramsecret';
                grant all on database bench to md5user, scramuser; alter database bench owner to md5user
                """)
            cluster = c
            atexit { SharedCluster.destroy() }
            return c
        } catch {
            failure = error
            throw error
        }
    }

    /// Clusters left by an earlier test process that crashed (its pid is gone) are stopped and removed.
    private static func removeStaleClusters() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for name in names where name.hasPrefix("poold-it-") {
            let parts = name.split(separator: "-")
            guard parts.count == 4, let pid = Int32(parts[2]), kill(pid, 0) != 0 else { continue }
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp/\(name)")) ?? [] where entry.hasPrefix("poold-") {
                if let text = try? String(contentsOfFile: "/tmp/\(name)/\(entry)/poold.pid", encoding: .utf8),
                   let p = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                   let cmd = try? String(contentsOfFile: "/proc/\(p)/cmdline", encoding: .utf8),
                   cmd.contains("/tmp/\(name)/") {
                    kill(p, SIGKILL)  // only the poold that this directory's earlier run started
                }
            }
            _ = try? Shell.run("/bin/bash", [Shell.repoRoot + "/scripts/pgcluster.sh", "destroy", "/tmp/\(name)"], timeout: 120)
        }
    }

    static func destroy() {
        cluster?.destroy()
        cluster = nil
    }
}
