import Foundation
import XCTest

/// TLS on both sides of poold, with real clients and a real server: a one-node PostgreSQL 15 cluster of this class's
/// own whose pg_hba accepts TCP logins only over TLS (`hostssl`), certificates made by openssl (TLSFixtures), psql and
/// pgbench (libpq 15), psycopg2-binary's libpq 17 for direct TLS, and raw sockets for what no client sends on purpose.
final class TLSIntegrationTests: XCTestCase {
    nonisolated(unsafe) static var cluster: TestCluster!
    nonisolated(unsafe) static var certs: TLSFixtures!
    nonisolated(unsafe) static var setupError: Error?
    static let python = Shell.repoRoot + "/.build/driver-venv/bin/python"

    override class func setUp() {
        super.setUp()
        do {
            let c = try TestCluster(nodes: 1)
            cluster = c
            let f = try TLSFixtures(dir: c.base + "/tls")
            certs = f
            try f.makeCertificate("certuser", cn: "certuser")
            try f.makeCertificate("pguser", cn: "postgres")
            try f.makeCertificate("revoked", cn: "certuser")
            try f.makeCertificate("stranger", cn: "certuser", ca: "otherca")
            try f.revoke("revoked")
            // The server's own copy of the key, owned by the OS user PostgreSQL runs as (it refuses others).
            let key = c.base + "/pgserver.key"
            try FileManager.default.copyItem(atPath: f.path("server.key"), toPath: key)
            chmod(key, 0o600)
            if getuid() == 0 { try Shell.run("chown", ["postgres", key]) }
            chmod(f.dir, 0o755)
            chmod(f.path("server.crt"), 0o644)
            try c.sql("alter system set ssl = on")
            try c.sql("alter system set ssl_cert_file = '\(f.path("server.crt"))'")
            try c.sql("alter system set ssl_key_file = '\(key)'")
            // TCP logins only with TLS: what `backend_sslmode` must cope with.
            let hba = c.base + "/n0/pg_hba.conf"
            var text = try String(contentsOfFile: hba, encoding: .utf8)
            text = text.replacingOccurrences(of: "host    all          all          127.0.0.1/32   trust",
                                             with: "hostssl all          all          127.0.0.1/32   trust")
            try text.write(toFile: hba, atomically: false, encoding: .utf8)
            try c.sql("select pg_reload_conf()")
            usleep(300_000)
            for user in ["certuser", "sslonly", "plainonly", "verifyca"] { try c.sql("create user \(user)") }
            try c.sql("create database bench")
        } catch {
            setupError = error
        }
    }

    override class func tearDown() {
        cluster?.destroy()
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let e = Self.setupError { throw e }
    }

    private var cluster: TestCluster { Self.cluster }
    private var certs: TLSFixtures { Self.certs }

    private func startPoold(_ extra: String = "", hba: String? = nil, loginWorks: Bool = true) throws -> PooldProcess {
        var conf = """
            ssl = on
            ssl_cert = '\(certs.path("server.crt"))'
            ssl_key = '\(certs.path("server.key"))'
            ssl_ca_cert = '\(certs.path("ca.crt"))'

            """
        conf += extra
        var files: [String: String] = [:]
        if let hba {
            conf += "\nenable_pool_hba = on\npool_hba_file = 'pool_hba.conf'\n"
            files["pool_hba.conf"] = hba
        }
        return try PooldProcess(cluster: cluster, extra: conf, files: files, loginWorks: loginWorks)
    }

    /// psql through poold with a libpq connection string; returns (status, output).
    private func psql(_ p: PooldProcess, _ conninfo: String, _ query: String = "select 1") throws -> CommandResult {
        var r = try Shell.run("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", "port=\(p.port) dbname=postgres " + conninfo, "-c", query],
                              environment: ["PGPASSWORD": "", "PGSSLCERT": "/nonexistent", "PGSSLKEY": "/nonexistent"])
        r.stdout = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return r
    }

    /// Whether the backend serving this session talks TLS to PostgreSQL (pg_stat_ssl of its own pid).
    private let backendSSL = "select ssl from pg_stat_ssl where pid = pg_backend_pid()"

    func testSSLModesRequireVerifyCAAndVerifyFullAndBackendReachedOverTLS() throws {
        let p = try startPoold()
        defer { p.stop() }
        let root = "sslrootcert=\(certs.path("ca.crt"))"
        for conninfo in ["host=127.0.0.1 user=postgres sslmode=require", "host=127.0.0.1 user=postgres sslmode=verify-ca \(root)",
                         "host=localhost user=postgres sslmode=verify-full \(root)"] {
            let r = try psql(p, conninfo, "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()")
            XCTAssertEqual(r.status, 0, "\(conninfo): \(r.output)")
            // The backend side: the default backend_sslmode (prefer with ssl = on) reached the hostssl-only server.
            XCTAssertTrue(r.stdout.hasPrefix("t|TLSv1."), "\(conninfo): \(r.output)")
        }
        // The client side really is TLS: libpq reports it, and a wrong name fails verify-full.
        let info = try psql(p, "host=127.0.0.1 user=postgres sslmode=require", "\\conninfo")
        XCTAssertTrue(info.stdout.contains("SSL connection (protocol: TLSv1.3"), info.output)
        let wrongName = try psql(p, "host=wrong.example hostaddr=127.0.0.1 user=postgres sslmode=verify-full \(root)")
        XCTAssertNotEqual(wrongName.status, 0)
        XCTAssertTrue(wrongName.output.contains("does not match host name \"wrong.example\""), wrongName.output)
        let otherCA = try psql(p, "host=127.0.0.1 user=postgres sslmode=verify-ca sslrootcert=\(certs.path("otherca.crt"))")
        XCTAssertNotEqual(otherCA.status, 0, otherCA.output)
        // Plain clients still work (no pool_hba), over TCP and the Unix socket.
        XCTAssertEqual(try psql(p, "host=127.0.0.1 user=postgres sslmode=disable").stdout, "1")
        let unix = try psql(p, "host=\(p.dir) user=postgres sslmode=prefer", "\\conninfo")
        XCTAssertFalse(unix.stdout.contains("SSL connection"), unix.output)
    }

    func testDirectTLSWithALPNAndRawNegotiationRules() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            return XCTFail("the driver venv is missing (\(Self.python)): run `bash scripts/driver-venv.sh` (scripts/test.sh does)")
        }
        let p = try startPoold()
        defer { p.stop() }
        // psycopg2-binary bundles libpq 17: sslnegotiation=direct sends a ClientHello (ALPN postgresql) at once.
        let direct = try Shell.run(Self.python, ["-c", """
            import psycopg2
            assert psycopg2.__libpq_version__ >= 170000, psycopg2.__libpq_version__
            c = psycopg2.connect("host=localhost port=\(p.port) user=postgres dbname=postgres sslmode=verify-full "
                                 "sslrootcert=\(certs.path("ca.crt")) sslnegotiation=direct")
            cur = c.cursor(); cur.execute("select 42")
            print(cur.fetchone()[0], c.info.ssl_in_use, c.info.ssl_attribute("protocol"))
            """])
        XCTAssertEqual(direct.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "42 True TLSv1.3", direct.output)
        // Raw: direct TLS without ALPN is refused over TLS with PostgreSQL 17's message; GSSENCRequest gets 'N';
        // bytes sent after SSLRequest before 'S' (a man in the middle's injection) end the connection.
        let script = """
            import socket, ssl, struct
            def recv_all(sock):
                out = b""
                while True:
                    try:
                        d = sock.recv(4096)
                    except (ConnectionError, ssl.SSLError):
                        break
                    if not d: break
                    out += d
                return out
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", \(p.port)), timeout=5))
            startup = struct.pack("!ii", 196608, 0)[4:] + b"user\\0postgres\\0\\0"
            s.sendall(struct.pack("!i", len(startup) + 4) + startup)
            print("no-alpn", b"without ALPN protocol negotiation extension" in recv_all(s))
            g = socket.create_connection(("127.0.0.1", \(p.port)), timeout=5)
            g.sendall(struct.pack("!ii", 8, 80877104))
            print("gssenc", g.recv(1))
            m = socket.create_connection(("127.0.0.1", \(p.port)), timeout=5)
            m.sendall(struct.pack("!ii", 8, 80877103) + struct.pack("!i", 9) + b"Xgarbage")
            reply = recv_all(m)
            print("injected", reply[:1], b"received unencrypted data after SSL request" in reply)
            """
        let r = try Shell.run("python3", ["-c", script], timeout: 30)
        XCTAssertTrue(r.stdout.contains("no-alpn True"), r.output)
        XCTAssertTrue(r.stdout.contains("gssenc b'N'"), r.output)
        XCTAssertTrue(r.stdout.contains("injected b'E' True"), r.output)
        // poold survived all of it.
        XCTAssertEqual(try psql(p, "host=127.0.0.1 user=postgres sslmode=require").stdout, "1")
    }

    func testPoolHBAHostSSLHostNoSSLCertAndClientCert() throws {
        let hba = """
            hostssl   all  sslonly    127.0.0.1/32  trust
            hostnossl all  plainonly  127.0.0.1/32  trust
            hostssl   all  certuser   127.0.0.1/32  cert
            hostssl   all  verifyca   127.0.0.1/32  trust  clientcert=verify-ca
            host      all  postgres   127.0.0.1/32  trust
            """
        let p = try startPoold("ssl_crl_file = '\(certs.path("ca.crl"))'\n", hba: hba)
        defer { p.stop() }
        func login(_ user: String, _ options: String) throws -> CommandResult {
            try psql(p, "host=127.0.0.1 user=\(user) " + options)
        }
        func cert(_ name: String) -> String { "sslcert=\(certs.path("\(name).crt")) sslkey=\(certs.path("\(name).key"))" }

        let plainRefused = try login("sslonly", "sslmode=disable")
        XCTAssertTrue(plainRefused.output.contains(
            "no pool_hba.conf entry for host \"127.0.0.1\", user \"sslonly\", database \"postgres\", SSL off"), plainRefused.output)
        XCTAssertEqual(try login("sslonly", "sslmode=require").stdout, "1")
        let tlsRefused = try login("plainonly", "sslmode=require")
        XCTAssertTrue(tlsRefused.output.contains("user \"plainonly\", database \"postgres\", SSL on"), tlsRefused.output)
        XCTAssertEqual(try login("plainonly", "sslmode=disable").stdout, "1")

        // cert: a verified certificate whose CN is the user.
        let good = try login("certuser", "sslmode=require " + cert("certuser"))
        XCTAssertEqual(good.stdout, "1", good.output)
        let none = try login("certuser", "sslmode=require")
        XCTAssertTrue(none.output.contains("connection requires a valid client certificate"), none.output)
        let otherName = try login("certuser", "sslmode=require " + cert("pguser"))
        XCTAssertTrue(otherName.output.contains("certificate authentication failed for user \"certuser\""), otherName.output)
        let stranger = try login("certuser", "sslmode=require " + cert("stranger"))
        XCTAssertNotEqual(stranger.status, 0)
        XCTAssertFalse(stranger.stdout.contains("1"), stranger.output)
        let revoked = try login("certuser", "sslmode=require " + cert("revoked"))
        XCTAssertTrue(revoked.output.contains("certificate revoked"), revoked.output)
        // clientcert=verify-ca: any certificate of the CA, whatever its CN.
        XCTAssertEqual(try login("verifyca", "sslmode=require " + cert("pguser")).stdout, "1")
        let noCert = try login("verifyca", "sslmode=require")
        XCTAssertTrue(noCert.output.contains("connection requires a valid client certificate"), noCert.output)
    }

    func testBackendSSLModesAndHealthChecksOverTLS() throws {
        // verify-full against the backend's name, with health checks every second: the node stays up.
        let p = try startPoold("""
            backend_sslmode = 'verify-full'
            backend_sslrootcert = '\(certs.path("ca.crt"))'
            health_check_period = 1
            health_check_user = 'postgres'
            sr_check_period = 1
            sr_check_user = 'postgres'
            backend_hostname0 = 'localhost'
            """)
        defer { p.stop() }
        XCTAssertEqual(try psql(p, "host=127.0.0.1 user=postgres sslmode=disable", backendSSL).stdout, "t")
        sleep(3)
        XCTAssertEqual(try p.nodeStatuses()[0]?.status, "up", p.log)
        XCTAssertFalse(p.log.contains("health check failed"), p.log)
        p.stop()

        // disable: the hostssl-only backend refuses, and the client gets PostgreSQL's own error.
        let plain = try startPoold("backend_sslmode = 'disable'\n", loginWorks: false)
        defer { plain.stop() }
        let r = try psql(plain, "host=127.0.0.1 user=postgres sslmode=disable")
        XCTAssertTrue(r.output.contains("no encryption"), r.output)
        plain.stop()

        // allow (the default with ssl = off): plain first, TLS when refused.
        let allow = try PooldProcess(cluster: cluster, extra: "ssl = off\n")
        defer { allow.stop() }
        XCTAssertEqual(try psql(allow, "host=127.0.0.1 user=postgres sslmode=disable", backendSSL).stdout, "t")
        // verify-full with a CA that did not sign the backend's certificate: no backend connection.
        allow.stop()
        let wrongCA = try startPoold("backend_sslmode = 'verify-ca'\nbackend_sslrootcert = '\(certs.path("otherca.crt"))'\n",
                                     loginWorks: false)
        defer { wrongCA.stop() }
        let refused = try psql(wrongCA, "host=127.0.0.1 user=postgres sslmode=disable")
        XCTAssertNotEqual(refused.status, 0, refused.output)
    }

    func testPgbenchPreparedOverTLS() throws {
        let p = try startPoold()
        defer { p.stop() }
        let env = ["PGSSLMODE": "require", "PGPASSWORD": ""]
        let initialise = try Shell.run("pgbench", ["-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", String(p.port), "-U", "postgres", "bench"],
                                       environment: env)
        XCTAssertEqual(initialise.status, 0, initialise.output)
        let r = try Shell.run("pgbench", ["-S", "-M", "prepared", "-c", "4", "-j", "2", "-t", "250", "-h", "127.0.0.1",
                                          "-p", String(p.port), "-U", "postgres", "bench"], environment: env)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.contains("number of transactions actually processed: 1000/1000"), r.output)
    }

    func testReloadPicksUpNewCertificatesWithoutDroppingSessions() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            return XCTFail("the driver venv is missing (\(Self.python)): run `bash scripts/driver-venv.sh` (scripts/test.sh does)")
        }
        // poold's own copies of the files, so the test can replace them.
        let dir = cluster.base + "/reload-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for n in ["server.crt", "server.key"] { try FileManager.default.copyItem(atPath: certs.path(n), toPath: dir + "/" + n) }
        chmod(dir + "/server.key", 0o600)
        let p = try PooldProcess(cluster: cluster, extra: "ssl = on\nssl_cert = '\(dir)/server.crt'\nssl_key = '\(dir)/server.key'\n")
        defer { p.stop() }
        let gate = dir + "/go"
        // A TLS session that stays open across the reload, then queries again.
        let held = try Spawned(Self.python, ["-c", """
            import os, time, psycopg2
            c = psycopg2.connect("host=127.0.0.1 port=\(p.port) user=postgres dbname=postgres sslmode=require")
            cur = c.cursor(); cur.execute("select 1"); print("before", cur.fetchone()[0], flush=True)
            while not os.path.exists("\(gate)"): time.sleep(0.05)
            cur.execute("select 2"); print("after", cur.fetchone()[0], c.info.ssl_in_use, flush=True)
            """])
        for _ in 0..<100 where !held.stdout.contains("before 1") { usleep(50_000) }
        XCTAssertTrue(held.stdout.contains("before 1"), held.stdout + held.stderr)
        let oldRoot = "sslrootcert=\(certs.path("ca.crt"))", newRoot = "sslrootcert=\(certs.path("otherca.crt"))"
        XCTAssertEqual(try psql(p, "host=localhost user=postgres sslmode=verify-full \(oldRoot)").stdout, "1")

        // A certificate from another CA replaces the files; SIGHUP.
        try certs.makeCertificate("server2", cn: "localhost", ca: "otherca", san: "DNS:localhost,IP:127.0.0.1")
        for (from, to) in [("server2.crt", "server.crt"), ("server2.key", "server.key")] {
            try FileManager.default.removeItem(atPath: dir + "/" + to)
            try FileManager.default.copyItem(atPath: certs.path(from), toPath: dir + "/" + to)
        }
        chmod(dir + "/server.key", 0o600)
        kill(p.pid, SIGHUP)
        var switched = false
        for _ in 0..<100 {
            if try psql(p, "host=localhost user=postgres sslmode=verify-full \(newRoot)").stdout == "1" { switched = true; break }
            usleep(100_000)
        }
        XCTAssertTrue(switched, p.log)
        XCTAssertNotEqual(try psql(p, "host=localhost user=postgres sslmode=verify-full \(oldRoot)").status, 0)
        FileManager.default.createFile(atPath: gate, contents: nil)
        held.wait(timeout: 20)
        XCTAssertTrue(held.stdout.contains("after 2 True"), held.stdout + held.stderr)

        // A reload whose key is world-readable keeps the certificates it has, and says why.
        chmod(dir + "/server.key", 0o644)
        kill(p.pid, SIGHUP)
        var warned = false
        for _ in 0..<50 where !warned { usleep(100_000); warned = p.log.contains("group or world access") }
        XCTAssertTrue(warned, p.log)
        XCTAssertEqual(try psql(p, "host=localhost user=postgres sslmode=verify-full \(newRoot)").stdout, "1")
    }

    func testStartRefusesMissingOrExposedKeyNamingTheParameter() throws {
        let dir = cluster.base + "/badkey-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: certs.path("server.key"), toPath: dir + "/server.key")
        chmod(dir + "/server.key", 0o644)
        let conf = dir + "/pgpool.conf"
        try """
            backend_hostname0 = '127.0.0.1'
            backend_port0 = \(cluster.port)
            ssl = on
            ssl_cert = '\(certs.path("server.crt"))'
            ssl_key = 'server.key'
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        let exposed = try Shell.run(PooldProcess.binary, ["-f", conf, "--check"])
        XCTAssertNotEqual(exposed.status, 0)
        XCTAssertTrue(exposed.output.contains(
            "ssl_key (\(dir)/server.key): private key file \"\(dir)/server.key\" has group or world access (mode 0644)"), exposed.output)
        try "ssl = on\nbackend_hostname0 = 'x'\n".write(toFile: conf, atomically: true, encoding: .utf8)
        let missing = try Shell.run(PooldProcess.binary, ["-f", conf, "--check"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.contains("ssl_cert"), missing.output)
        XCTAssertTrue(missing.output.contains("ssl = on needs ssl_cert"), missing.output)
    }
}
