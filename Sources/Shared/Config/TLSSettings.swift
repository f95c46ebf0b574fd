/// libpq's `sslmode` values, as poold uses them towards backends (`backend_sslmode`).
public enum BackendSSLMode: String, Sendable, CaseIterable {
    /// Never TLS.
    case disable
    /// Plain first; TLS only when the backend refuses the plain login (a `hostssl`-only pg_hba).
    case allow
    /// TLS when the backend offers it (SSLRequest answered 'S'), else plain.
    case prefer
    /// TLS or no connection; the certificate is not checked.
    case require
    /// TLS with a certificate that chains to `backend_sslrootcert` / `ssl_ca_cert`.
    case verifyCA = "verify-ca"
    /// As verify-ca, and the certificate names the backend's host (`backend_hostnameN`).
    case verifyFull = "verify-full"

    /// Whether poold sends SSLRequest on the first attempt.
    public var triesTLSFirst: Bool {
        switch self {
        case .disable, .allow: return false
        case .prefer, .require, .verifyCA, .verifyFull: return true
        }
    }

    /// Whether a backend answering SSLRequest with 'N' is acceptable (the login goes on in plain).
    public var acceptsPlain: Bool { self == .prefer || self == .disable || self == .allow }

    /// Whether the backend's certificate is checked against a CA.
    public var verifiesCertificate: Bool { self == .verifyCA || self == .verifyFull }
}

/// The typed TLS settings of one load (`ssl*`, `backend_ssl*`): paths resolved against the config directory,
/// values checked once so `poold --check` names the file, line and parameter of every problem, and the
/// executor never reads raw settings. The certificate files themselves are read by the executor, at start
/// and on every reload (a reload with unreadable files keeps the previous certificates).
public struct TLSSettings: Equatable, Sendable {
    /// TLS protocol versions, oldest first.
    public enum ProtocolVersion: String, Sendable, Comparable, CaseIterable {
        case tls1 = "TLSv1", tls11 = "TLSv1.1", tls12 = "TLSv1.2", tls13 = "TLSv1.3"
        public static func < (l: Self, r: Self) -> Bool {
            allCases.firstIndex(of: l)! < allCases.firstIndex(of: r)!
        }
    }

    /// Key-exchange groups BoringSSL offers.
    public enum Curve: String, Sendable, Equatable {
        case secp256r1, secp384r1, secp521r1, x25519

        /// OpenSSL's names (PostgreSQL's `ssl_ecdh_curve` values) → a group.
        public static func parse(_ name: String) -> Curve? {
            switch name.lowercased() {
            case "prime256v1", "secp256r1", "p-256": return .secp256r1
            case "secp384r1", "p-384": return .secp384r1
            case "secp521r1", "p-521": return .secp521r1
            case "x25519": return .x25519
            default: return nil
            }
        }
    }

    /// What poold offers clients when `ssl = on`.
    public struct Server: Equatable, Sendable {
        public var certificateFile: String
        public var keyFile: String
        /// Client certificates are requested (and must verify when presented) only with a CA.
        public var caFile: String?
        public var caDirectory: String?
        public var crlFile: String?
        public var ciphers: String
        public var curves: [Curve]
        public var passphraseCommand: String?
        public var minimumVersion: ProtocolVersion
        public var maximumVersion: ProtocolVersion?

        public var verifiesClientCertificates: Bool { caFile != nil || caDirectory != nil }
    }

    /// What poold does towards backends.
    public struct Backend: Equatable, Sendable {
        public var mode: BackendSSLMode
        public var caFile: String?
        public var caDirectory: String?
        public var minimumVersion: ProtocolVersion
        public var maximumVersion: ProtocolVersion?
    }

    /// nil when `ssl = off`, or when its settings have errors.
    public var server: Server?
    public var backend: Backend

    public init(server: Server?, backend: Backend) {
        self.server = server
        self.backend = backend
    }

    public static let disabled = TLSSettings(server: nil, backend: Backend(
        mode: .allow, caFile: nil, caDirectory: nil, minimumVersion: .tls12, maximumVersion: nil))

    public static func load(_ config: PoolConfiguration, raw: [RawSetting]) -> (TLSSettings, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        func report(_ severity: Diagnostic.Severity, _ name: String, _ message: String) {
            let r = raw.last { Settings.lookup($0.name)?.descriptor.name == name }
            diagnostics.append(Diagnostic(severity, file: r?.file ?? "", line: r?.line ?? 0, parameter: r?.name ?? name, message))
        }
        func file(_ name: String) -> String? {
            let v = config.string(name).trimmingSpaces
            return v.isEmpty ? nil : config.path(v)
        }
        let on = config.bool("ssl")
        let minimum = ProtocolVersion(rawValue: config.string("ssl_min_protocol_version")) ?? .tls12
        let maximum = ProtocolVersion(rawValue: config.string("ssl_max_protocol_version"))
        if let maximum, maximum < minimum {
            report(.error, "ssl_max_protocol_version",
                   "ssl_max_protocol_version (\(maximum.rawValue)) is older than ssl_min_protocol_version (\(minimum.rawValue))")
        }
        var curves: [Curve] = []
        for name in config.string("ssl_ecdh_curve").split(separator: ":").map({ String($0).trimmingSpaces }) where !name.isEmpty {
            if let c = Curve.parse(name) { curves.append(c) } else {
                report(.error, "ssl_ecdh_curve", "unknown curve \"\(name)\" (prime256v1, secp384r1, secp521r1, X25519)")
            }
        }
        let suites = config.string("ssl_ciphersuites").trimmingSpaces
        if !suites.isEmpty, !Self.isBoringSSLSuiteList(suites) {
            report(.error, "ssl_ciphersuites", "BoringSSL's TLS 1.3 suites are fixed (TLS_AES_128_GCM_SHA256, "
                   + "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256); \"\(suites)\" names another")
        }
        if on, config.bool("ssl_prefer_server_ciphers") {
            report(.warning, "ssl_prefer_server_ciphers", "poold's TLS library follows the client's cipher order; ignored")
        }
        if on, file("ssl_dh_params_file") != nil {
            report(.warning, "ssl_dh_params_file", "BoringSSL has no DHE cipher suites (ECDHE is used); ignored")
        }
        var server: Server?
        if on {
            let cert = file("ssl_cert"), key = file("ssl_key")
            if cert == nil { report(.error, "ssl_cert", "ssl = on needs ssl_cert (the certificate poold presents)") }
            if key == nil { report(.error, "ssl_key", "ssl = on needs ssl_key (the private key of ssl_cert)") }
            if let cert, let key {
                let command = config.string("ssl_passphrase_command").trimmingSpaces
                server = Server(certificateFile: cert, keyFile: key, caFile: file("ssl_ca_cert"),
                                caDirectory: file("ssl_ca_cert_dir"), crlFile: file("ssl_crl_file"),
                                ciphers: config.string("ssl_ciphers"), curves: curves,
                                passphraseCommand: command.isEmpty ? nil : command,
                                minimumVersion: minimum, maximumVersion: maximum)
            }
        }
        var mode: BackendSSLMode
        if let m = BackendSSLMode(rawValue: config.string("backend_sslmode")) { mode = m } else { mode = on ? .prefer : .allow }
        let root = file("backend_sslrootcert")
        let backendCA = root ?? file("ssl_ca_cert")
        let backendCADir = root == nil ? file("ssl_ca_cert_dir") : nil
        if mode.verifiesCertificate, backendCA == nil, backendCADir == nil {
            report(.error, "backend_sslmode",
                   "backend_sslmode = \(mode.rawValue) needs a CA to check backends against: set backend_sslrootcert or ssl_ca_cert")
        }
        if diagnostics.contains(where: { $0.severity == .error }) { server = nil; mode = .disable }
        let backend = Backend(mode: mode, caFile: backendCA, caDirectory: backendCADir, minimumVersion: minimum, maximumVersion: maximum)
        return (TLSSettings(server: server, backend: backend), diagnostics)
    }

    /// A `ssl_ciphersuites` value that names only the suites BoringSSL always enables.
    static func isBoringSSLSuiteList(_ text: String) -> Bool {
        let fixed: Set<String> = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
        let names = text.split(separator: ":").map { String($0).trimmingSpaces }
        return !names.isEmpty && names.allSatisfy(fixed.contains)
    }
}
