import Foundation
import XCTest

/// `AES…` pool_passwd entries against the real tools: entries written by Debian's `pg_enc` serve md5 and SCRAM
/// logins through poold to a real PostgreSQL; entries written by `poold enc` decrypt with `openssl enc` and serve a
/// SCRAM login through Debian's `pgpool`. Also the hardening around them: missing key, refused open files,
/// owner-only sockets, and no secret in a debug5 log.
final class AESPoolPasswdIntegrationTests: XCTestCase {
    nonisolated(unsafe) static var cluster: TestCluster!
    nonisolated(unsafe) static var setupError: Error?
    static let poolKey = "it-pool-key with spaces"

    override class func setUp() {
        super.setUp()
        do {
            for tool in ["/usr/sbin/pg_enc", "/usr/sbin/pgpool", "/usr/bin/openssl"] where !FileManager.default.isExecutableFile(atPath: tool) {
                throw HarnessError("\(tool) not found: install Debian's pgpool2 package and openssl (scripts/install-deps.sh)")
            }
            cluster = try SharedCluster.get()
        } catch {
            setupError = error
        }
    }

    override func setUpWithError() throws {
        if let e = Self.setupError { throw e }
    }

    var cluster: TestCluster { Self.cluster }

    /// A fresh directory with the pool key file (mode 0600) in it.
    private func workDirectory() throws -> (dir: String, keyFile: String) {
        let dir = cluster.base + "/aes-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let key = dir + "/pgpoolkey"
        try (Self.poolKey + "\n").write(toFile: key, atomically: true, encoding: .utf8)
        chmod(key, 0o600)
        return (dir, key)
    }

    /// `pg_enc -k KEYFILE PASSWORD`'s `AES…` text.
    private func pgEnc(_ password: String, keyFile: String) throws -> String {
        let r = try Shell.run("/usr/sbin/pg_enc", ["-k", keyFile, password])
        XCTAssertEqual(r.status, 0, r.output)
        guard let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix("pool_passwd string: AES") }) else {
            throw HarnessError("pg_enc printed no pool_passwd string: \(r.output)")
        }
        return String(line.dropFirst("pool_passwd string: ".count))
    }

    private func trimmed(_ r: CommandResult) -> String { r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

    private static let hba = """
        local all all trust
        host  all md5user   127.0.0.1/32 md5
        host  all scramuser 127.0.0.1/32 scram-sha-256
        host  all all       127.0.0.1/32 trust
        """

    func test1_PgEncEntriesServeMd5AndScramLogins() throws {
        let (_, key) = try workDirectory()
        let passwd = "md5user:\(try pgEnc("md5secret", keyFile: key))\nscramuser:\(try pgEnc("scramsecret", keyFile: key))\n"
        for hbaOn in [false, true] {
            let p = try PooldProcess(cluster: cluster, extra: "enable_pool_hba = \(hbaOn ? "on" : "off")",
                                     files: ["pool_passwd": passwd, "pool_hba.conf": Self.hba], arguments: ["-k", key])
            defer { p.stop() }
            XCTAssertFalse(p.log.contains("unable to decrypt"), p.log)
            XCTAssertTrue(p.log.contains("pool key read"), p.log)
            // md5 and SCRAM towards PostgreSQL both need the decrypted clear text; with pool_hba, poold also checks the
            // client with md5 / SCRAM from it.
            let md5 = try p.psql("select current_user", user: "md5user", password: "md5secret")
            XCTAssertEqual(trimmed(md5), "md5user", "hba=\(hbaOn): \(md5.output)")
            let scram = try p.psql("select current_user", user: "scramuser", password: "scramsecret")
            XCTAssertEqual(trimmed(scram), "scramuser", "hba=\(hbaOn): \(scram.output)")
            for user in ["md5user", "scramuser"] {
                let bad = try p.psql("select 1", user: user, password: "wrong")
                XCTAssertNotEqual(bad.status, 0)
                XCTAssertTrue(bad.stderr.contains("password authentication failed for user \"\(user)\""), bad.output)
            }
        }
    }

    func test2_WithoutTheKeyOnlyThatUserFails() throws {
        let (dir, key) = try workDirectory()
        let passwd = "md5user:\(try pgEnc("md5secret", keyFile: key))\nscramuser:TEXTscramsecret\n"
        for hbaOn in [false, true] {
            // -k names a file that does not exist: as pgpool -k, poold starts without a key.
            let p = try PooldProcess(cluster: cluster, extra: "enable_pool_hba = \(hbaOn ? "on" : "off")",
                                     files: ["pool_passwd": passwd, "pool_hba.conf": Self.hba],
                                     arguments: ["-k", dir + "/no-such-key"])
            defer { p.stop() }
            XCTAssertTrue(p.log.contains("could not get the password for user \"md5user\": unable to decrypt password from pool_passwd"
                                         + " (no pool key file was read); verify the valid pool_key exists"), p.log)
            let md5 = try p.psql("select 1", user: "md5user", password: "md5secret")
            XCTAssertNotEqual(md5.status, 0)
            XCTAssertTrue(md5.stderr.contains("md5 authentication failed"), "hba=\(hbaOn): \(md5.output)")
            XCTAssertTrue(md5.stderr.contains("unable to decrypt password from pool_passwd"), md5.output)
            XCTAssertTrue(md5.stderr.contains("verify the valid pool_key exists"), md5.output)
            let scram = try p.psql("select current_user", user: "scramuser", password: "scramsecret")
            XCTAssertEqual(trimmed(scram), "scramuser", "others are unaffected, hba=\(hbaOn): \(scram.output)")
        }
    }

    func test3_PooldEncEntriesDecryptWithOpenSSLAndServePgpool() throws {
        let (dir, key) = try workDirectory()
        let pgpoolPort = Shell.freePort()
        let conf = dir + "/pgpool.conf"
        try """
            listen_addresses = '127.0.0.1'
            port = \(pgpoolPort)
            unix_socket_directories = '\(dir)'
            pcp_listen_addresses = ''
            pcp_port = \(Shell.freePort())
            pcp_socket_dir = '\(dir)'
            pid_file_name = '\(dir)/pgpool.pid'
            logdir = '\(dir)'
            backend_clustering_mode = 'streaming_replication'
            backend_hostname0 = '127.0.0.1'
            backend_port0 = \(cluster.port(of: 0))
            backend_flag0 = 'ALWAYS_PRIMARY'
            sr_check_period = 0
            health_check_period = 0
            num_init_children = 2
            enable_pool_hba = on
            pool_passwd = 'pool_passwd'
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        try "host all all 127.0.0.1/32 scram-sha-256\n".write(toFile: dir + "/pool_hba.conf", atomically: true, encoding: .utf8)
        try "".write(toFile: dir + "/pcp.conf", atomically: true, encoding: .utf8)

        // Printed form: pg_enc's two lines, the same text as pg_enc for the same key and password.
        let printed = try Shell.run(PooldProcess.binary, ["enc", "-k", key, "scramsecret"])
        XCTAssertEqual(printed.status, 0, printed.output)
        let aes = try pgEnc("scramsecret", keyFile: key)
        XCTAssertEqual(printed.stdout, "trying to read key from file \(key)\n\n\(aes.dropFirst(3))\npool_passwd string: \(aes)\n")

        // -m: written into the pool_passwd pgpool.conf names, created 0600.
        let m = try Shell.run(PooldProcess.binary, ["enc", "-k", key, "-m", "-u", "scramuser", "-f", conf, "scramsecret"])
        XCTAssertEqual(m.status, 0, m.output)
        let passwdFile = dir + "/pool_passwd"
        let mode = (try FileManager.default.attributesOfItem(atPath: passwdFile)[.posixPermissions] as? Int) ?? 0
        XCTAssertEqual(mode, 0o600)
        let line = try String(contentsOfFile: passwdFile, encoding: .utf8)
        XCTAssertTrue(line.hasPrefix("scramuser:AES") && line.hasSuffix("\n"), line)
        let b64 = String(line.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst("scramuser:AES".count))
        let openssl = try Shell.run("/usr/bin/openssl", ["enc", "-d", "-aes-256-cbc", "-md", "sha1", "-nosalt", "-pass",
                                                         "pass:\(Self.poolKey)", "-a", "-A"], input: b64)
        XCTAssertEqual(openssl.stdout, "scramsecret", openssl.output)

        // Debian's pgpool reads it with the same key and serves a SCRAM login from it.
        let pgpool = try Spawned("/usr/sbin/pgpool", ["-n", "-f", conf, "-F", dir + "/pcp.conf", "-a", dir + "/pool_hba.conf",
                                                      "-k", key], stdoutPath: dir + "/pgpool.log", stderrPath: dir + "/pgpool.log")
        defer {
            kill(pgpool.pid, SIGINT)
            pgpool.wait(timeout: 20)
        }
        var result = CommandResult(status: -1, stdout: "", stderr: "")
        for _ in 0..<100 {
            result = try Shell.run("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", String(pgpoolPort), "-U", "scramuser",
                                            "-d", "bench", "-c", "select current_user"], environment: ["PGPASSWORD": "scramsecret"])
            if result.status == 0 || !pgpool.isRunning { break }
            usleep(100_000)
        }
        XCTAssertEqual(trimmed(result), "scramuser",
                       result.output + ((try? String(contentsOfFile: dir + "/pgpool.log", encoding: .utf8)) ?? ""))
    }

    func test4_OpenSecretsAreRefusedAndSocketsAreOwnerOnly() throws {
        let (dir, key) = try workDirectory()
        let conf = dir + "/pgpool.conf"
        try """
            backend_hostname0 = '127.0.0.1'
            backend_port0 = \(cluster.port)
            pool_passwd = 'pool_passwd'
            pcp_file = 'pcp.conf'
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        for file in ["pool_passwd", "pcp.conf"] {
            try "".write(toFile: dir + "/" + file, atomically: true, encoding: .utf8)
            chmod(dir + "/" + file, 0o600)
        }
        func check() throws -> CommandResult { try Shell.run(PooldProcess.binary, ["-f", conf, "-k", key, "--check"]) }
        let clean = try check()
        XCTAssertEqual(clean.status, 0, clean.output)
        for (file, what) in [("pool_passwd", "pool_passwd file"), ("pcp.conf", "pcp.conf file"), ("pgpoolkey", "pool key file")] {
            let path = dir + "/" + file
            chmod(path, 0o644)
            let r = try check()
            XCTAssertNotEqual(r.status, 0, "\(file) 0644 must be refused")
            XCTAssertTrue(r.stderr.contains("\(what) \"\(path)\" has group or world access (mode 0644)"), r.output)
            XCTAssertTrue(r.stderr.contains("not starting"), r.output)
            // Group-readable is what PostgreSQL allows for a root-owned key file.
            chmod(path, 0o640)
            let group = try check()
            XCTAssertEqual(group.status == 0, getuid() == 0, group.output)
            chmod(path, 0o600)
        }

        // A running poold: its admin and PCP sockets are owner-only; a reload that finds pool_passwd opened up
        // keeps the settings it has, and says why.
        let p = try PooldProcess(cluster: cluster, files: ["pool_passwd": "scramuser:TEXTscramsecret\n"], arguments: ["-k", key])
        defer { p.stop() }
        for socket in [p.adminSocket, p.dir + "/.s.PGSQL.\(pcpPort(p))"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int) ?? 0
            XCTAssertEqual(mode & 0o777, 0o600, socket)
        }
        chmod(p.dir + "/pool_passwd", 0o644)
        kill(p.pid, SIGHUP)
        var kept = false
        for _ in 0..<50 where !kept { usleep(100_000); kept = p.log.contains("keeping the current settings") }
        XCTAssertTrue(kept, p.log)
        XCTAssertTrue(p.log.contains("pool_passwd file \"\(p.dir)/pool_passwd\" has group or world access (mode 0644)"), p.log)
        let scram = try p.psql("select current_user", user: "scramuser", password: "scramsecret")
        XCTAssertEqual(trimmed(scram), "scramuser", scram.output)
        chmod(p.dir + "/pool_passwd", 0o600)
    }

    private func pcpPort(_ p: PooldProcess) -> String {
        let conf = (try? String(contentsOfFile: p.configFile, encoding: .utf8)) ?? ""
        let line = conf.split(separator: "\n").first { $0.hasPrefix("pcp_port") } ?? ""
        return line.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }

    /// At debug5 (swift-log's trace: every session action), with every kind of secret in use, nothing secret is
    /// in poold's output: clear passwords (right and wrong), md5 hashes, AES texts, the key.
    func test5_NoSecretInADebug5Log() throws {
        let (_, key) = try workDirectory()
        let md5Hash = "md5" + md5Hex("md5secret" + "md5user")
        let scramAES = try pgEnc("scramsecret", keyFile: key)
        let healthAES = try pgEnc("scramsecret", keyFile: key)
        let passwd = "md5user:\(md5Hash)\nscramuser:\(scramAES)\npostgres:TEXTpg-clear-pw\n"
        let hba = """
            local all all trust
            host  template1 postgres 127.0.0.1/32 trust
            host  all md5user   127.0.0.1/32 md5
            host  all scramuser 127.0.0.1/32 scram-sha-256
            host  all postgres  127.0.0.1/32 password
            """
        let p = try PooldProcess(cluster: cluster, extra: """
            log_min_messages = debug5
            enable_pool_hba = on
            health_check_period = 1
            health_check_user = 'scramuser'
            health_check_password = '\(healthAES)'
            health_check_database = 'bench'
            sr_check_period = 1
            sr_check_user = 'md5user'
            sr_check_password = 'TEXTmd5secret'
            sr_check_database = 'bench'
            """, files: ["pool_passwd": passwd, "pool_hba.conf": hba], arguments: ["-k", key])
        defer { p.stop() }
        for (user, pw) in [("md5user", "md5secret"), ("scramuser", "scramsecret"), ("postgres", "pg-clear-pw")] {
            let ok = try p.psql("select current_user", user: user, password: pw)
            XCTAssertEqual(trimmed(ok), user, ok.output)
            let bad = try p.psql("select 1", user: user, password: "wrong-guess-pw")
            XCTAssertNotEqual(bad.status, 0, bad.output)
        }
        // The health check logs in as scramuser with the decrypted AES health_check_password.
        var healthy = false
        for _ in 0..<100 where !healthy {
            let rows = (try? AdminSocket.request(p.adminSocket, "health")) as? [[String: Any]] ?? []
            healthy = rows.contains { Int("\($0["success_count"] ?? "0")") ?? 0 >= 2 }
            if !healthy { usleep(100_000) }
        }
        XCTAssertTrue(healthy, "health checks with the AES health_check_password succeed: \(p.log.suffix(3000))")
        XCTAssertFalse(p.log.contains("health check failed"), p.log.suffix(3000).description)
        let log = p.log
        XCTAssertTrue(log.contains("run action"), "the log is at trace level")
        let secrets = ["md5secret", "scramsecret", "pg-clear-pw", "wrong-guess-pw", md5Hash, String(md5Hash.dropFirst(3)),
                       scramAES, String(scramAES.dropFirst(3)), healthAES, Self.poolKey, "TEXTmd5secret"]
        // Also as hex, the way a ByteBuffer describes its bytes.
        let hex = ["md5secret", "scramsecret", "pg-clear-pw", "wrong-guess-pw"].flatMap { word in
            let bytes = Array(word.utf8).map { String(format: "%02x", $0) }
            return [bytes.joined(), bytes.joined(separator: " ")]
        }
        for secret in secrets + hex {
            XCTAssertFalse(log.contains(secret), "\"\(secret)\" is in the log")
        }
    }
}
