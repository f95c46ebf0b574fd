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

    static func destroy() {
        cluster?.destroy()
        cluster = nil
    }
}
