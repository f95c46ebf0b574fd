import Testing
@testable import Shared

/// The `ssl*` and `backend_ssl*` settings: what ssl = on needs, paths against the config directory, the default
/// backend_sslmode, and BoringSSL's limits reported with file, line and parameter.
@Suite struct TLSSettingsTests {
    static func load(_ text: String) -> ConfigLoader.Result {
        ConfigLoader.load(text: "backend_hostname0 = 'h'\n" + text, file: "/etc/pgpool/pgpool.conf") { _, _ in nil }
    }

    @Test func offByDefaultWithAllowTowardsBackends() {
        let r = Self.load("")
        #expect(r.diagnostics.isEmpty)
        #expect(r.configuration.tls.server == nil)
        #expect(r.configuration.tls.backend.mode == .allow)
    }

    @Test func onNeedsCertAndKeyResolvedAgainstTheConfigDirectory() {
        let missing = Self.load("ssl = on\n")
        #expect(missing.hasErrors)
        #expect(missing.diagnostics.contains { $0.parameter == "ssl_cert" && $0.message.contains("ssl = on needs ssl_cert") })
        #expect(missing.diagnostics.contains { $0.parameter == "ssl_key" })
        let r = Self.load("ssl = on\nssl_cert = 'server.crt'\nssl_key = '/keys/server.key'\nssl_ca_cert = 'ca.crt'\n")
        #expect(!r.hasErrors)
        let s = r.configuration.tls.server
        #expect(s?.certificateFile == "/etc/pgpool/server.crt")
        #expect(s?.keyFile == "/keys/server.key")
        #expect(s?.verifiesClientCertificates == true)
        #expect(s?.curves == [.secp256r1])
        #expect(s?.minimumVersion == .tls12)
        // As Pgpool-II: ssl = on also tries TLS towards backends, and checks them with ssl_ca_cert when asked to.
        #expect(r.configuration.tls.backend.mode == .prefer)
        #expect(r.configuration.tls.backend.caFile == "/etc/pgpool/ca.crt")
    }

    @Test func backendModesAndTheirCA() {
        let full = Self.load("backend_sslmode = 'verify-full'\n")
        #expect(full.diagnostics.contains { $0.parameter == "backend_sslmode" && $0.severity == .error && $0.line == 2 })
        let r = Self.load("backend_sslmode = 'verify-full'\nbackend_sslrootcert = 'pg-ca.crt'\nssl_ca_cert = 'clients.crt'\n")
        #expect(!r.hasErrors)
        #expect(r.configuration.tls.backend.mode == .verifyFull)
        #expect(r.configuration.tls.backend.caFile == "/etc/pgpool/pg-ca.crt")
        #expect(Self.load("backend_sslmode = 'sometimes'\n").hasErrors)
        #expect(BackendSSLMode.allow.triesTLSFirst == false && BackendSSLMode.prefer.triesTLSFirst)
        #expect(BackendSSLMode.require.acceptsPlain == false && BackendSSLMode.prefer.acceptsPlain)
    }

    @Test func versionsCurvesAndBoringSSLsLimits() {
        let order = Self.load("ssl_min_protocol_version = 'TLSv1.3'\nssl_max_protocol_version = 'TLSv1.2'\n")
        #expect(order.diagnostics.contains { $0.parameter == "ssl_max_protocol_version" && $0.severity == .error })
        let curves = Self.load("ssl_ecdh_curve = 'X25519:secp384r1'\n")
        #expect(!curves.hasErrors)
        #expect(Self.load("ssl_ecdh_curve = 'brainpoolP256r1'\n").diagnostics.contains { $0.parameter == "ssl_ecdh_curve" })
        #expect(!Self.load("ssl_ciphersuites = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256'\n").hasErrors)
        #expect(Self.load("ssl_ciphersuites = 'TLS_AES_128_CCM_SHA256'\n").hasErrors)
        let on = "ssl = on\nssl_cert = 'c'\nssl_key = 'k'\n"
        let ignored = Self.load(on + "ssl_prefer_server_ciphers = on\nssl_dh_params_file = 'dh.pem'\n")
        #expect(!ignored.hasErrors)
        #expect(ignored.diagnostics.filter { $0.severity == .warning }.map(\.parameter) == ["ssl_prefer_server_ciphers", "ssl_dh_params_file"])
    }
}
