import Foundation

/// A test CA and certificates made with the openssl program in `dir`: a server certificate for `localhost` and
/// 127.0.0.1, client certificates with chosen CNs, a second CA for "someone else's" certificates, and CRLs.
/// Keys are mode 0600.
struct TLSFixtures {
    let dir: String

    init(dir: String) throws {
        self.dir = dir
        _ = try Shell.which("openssl")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try makeCA("ca", subject: "poold test CA")
        try makeCA("otherca", subject: "another CA")
        try makeCertificate("server", cn: "localhost", ca: "ca", san: "DNS:localhost,IP:127.0.0.1")
    }

    func path(_ name: String) -> String { dir + "/" + name }

    private func openssl(_ args: [String]) throws {
        let r = try Shell.run("openssl", args, timeout: 60)
        guard r.status == 0 else { throw HarnessError("openssl \(args.prefix(2).joined(separator: " ")) failed: \(r.output)") }
    }

    /// `<name>.crt` / `<name>.key`, self-signed, with the files `openssl ca` needs to revoke and make CRLs.
    func makeCA(_ name: String, subject: String) throws {
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(name).key"), "-out", path("\(name).crt"),
                     "-days", "30", "-subj", "/CN=\(subject)", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        chmod(path("\(name).key"), 0o600)
        try "".write(toFile: path("\(name).index"), atomically: true, encoding: .utf8)
        try "01\n".write(toFile: path("\(name).crlnumber"), atomically: true, encoding: .utf8)
        let conf = """
            [ ca ]
            default_ca = this
            [ this ]
            database = \(path("\(name).index"))
            crlnumber = \(path("\(name).crlnumber"))
            certificate = \(path("\(name).crt"))
            private_key = \(path("\(name).key"))
            default_md = sha256
            default_crl_days = 30

            """
        try conf.write(toFile: path("\(name).cnf"), atomically: true, encoding: .utf8)
    }

    /// `<name>.crt` / `<name>.key` signed by `ca`.
    func makeCertificate(_ name: String, cn: String, ca: String = "ca", san: String? = nil) throws {
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(name).key"), "-out", path("\(name).csr"),
                     "-subj", "/CN=\(cn)"])
        chmod(path("\(name).key"), 0o600)
        var args = ["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).crt"), "-CAkey", path("\(ca).key"),
                    "-CAcreateserial", "-out", path("\(name).crt"), "-days", "30"]
        if let san {
            try "subjectAltName=\(san)\n".write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            args += ["-extfile", path("\(name).ext")]
        }
        try openssl(args)
    }

    /// Revokes `name`'s certificate in `ca`'s database and writes `<ca>.crl` (PEM).
    func revoke(_ name: String, ca: String = "ca") throws {
        try openssl(["ca", "-config", path("\(ca).cnf"), "-revoke", path("\(name).crt")])
        try openssl(["ca", "-config", path("\(ca).cnf"), "-gencrl", "-out", path("\(ca).crl")])
    }
}
