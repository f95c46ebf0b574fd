import NIOCore
import Testing
@testable import Shared

/// TLS negotiation as transcripts: 'S' only with TLS available and never twice, direct TLS and its ALPN rule,
/// hostssl / hostnossl, the cert method and clientcert=.
@Suite struct SessionTLSTests {
    static let startup = StartupMessage(parameters: [("user", "alice"), ("database", "app")])

    static func make(hba: String? = nil, tls: Bool = true, address: ClientAddress = .ipv4(0x7F00_0001)) -> SessionStateMachine {
        let env = SessionEnvironment(
            hba: hba.map { PoolHBA.parse($0, file: "pool_hba.conf") }, passwd: PoolPasswd(), allowClearTextFrontendAuth: false,
            clientAddress: address, tlsAvailable: tls, scramKeys: { _, p in AuthTests.keys(p) })
        return SessionStateMachine(environment: env, randomness: SessionRandomness(md5Salt: [1, 2, 3, 4], serverNonce: "N"))
    }

    static let info = ClientTLSInfo(applicationProtocol: "postgresql", certificateCommonName: nil)

    private func error(_ a: SessionStateMachine.Action) -> ErrorFields? {
        if case .closeWithError(let f) = a { return f }
        return nil
    }

    @Test func sslRequestIsAcceptedOnceThenStartupGoesOn() {
        var s = Self.make()
        #expect(s.startupPacketReceived(.sslRequest) == .acceptEncryption)
        // A startup packet before the handshake finished is not read as if it were encrypted.
        var early = Self.make()
        _ = early.startupPacketReceived(.sslRequest)
        #expect(error(early.startupPacketReceived(.startup(Self.startup)))?.sqlState == "08P01")

        #expect(s.tlsEstablished(ClientTLSInfo(applicationProtocol: nil, certificateCommonName: nil)) == .wait)
        #expect(s.encrypted)
        #expect(error(s.startupPacketReceived(.sslRequest))?.message == "SSLRequest inside a TLS connection")
        var t = Self.make()
        _ = t.startupPacketReceived(.sslRequest)
        _ = t.tlsEstablished(Self.info)
        #expect(t.startupPacketReceived(.gssEncRequest) == .refuseEncryption)
        #expect(t.startupPacketReceived(.startup(Self.startup)) == .lease(Self.startup, secret: nil))
    }

    @Test func withoutTLSSSLRequestGetsNAndAClientHelloIsDropped() {
        var s = Self.make(tls: false)
        #expect(s.startupPacketReceived(.sslRequest) == .refuseEncryption)
        #expect(s.directTLSRequested() == .drop)
        var u = Self.make(tls: true)
        #expect(u.startupPacketReceived(.gssEncRequest) == .refuseEncryption)
    }

    @Test func directTLSNeedsALPNPostgresqlAndNegotiatedTLSMustNotNameAnother() {
        var d = Self.make()
        #expect(d.directTLSRequested() == .startDirectTLS)
        #expect(error(d.tlsEstablished(ClientTLSInfo(applicationProtocol: nil, certificateCommonName: nil)))?.message ==
                "received direct SSL connection request without ALPN protocol negotiation extension")
        var ok = Self.make()
        _ = ok.directTLSRequested()
        #expect(ok.tlsEstablished(Self.info) == .wait)
        #expect(ok.startupPacketReceived(.startup(Self.startup)) == .lease(Self.startup, secret: nil))
        var other = Self.make()
        _ = other.startupPacketReceived(.sslRequest)
        #expect(error(other.tlsEstablished(ClientTLSInfo(applicationProtocol: "http/1.1", certificateCommonName: nil))) != nil)
        // A handshake report nobody asked for.
        var stray = Self.make()
        #expect(error(stray.tlsEstablished(Self.info))?.sqlState == "08P01")
    }

    private func encrypted(hba: String, cn: String? = nil) -> SessionStateMachine {
        var s = Self.make(hba: hba)
        _ = s.startupPacketReceived(.sslRequest)
        _ = s.tlsEstablished(ClientTLSInfo(applicationProtocol: "postgresql", certificateCommonName: cn))
        return s
    }

    @Test func hostsslMatchesOnlyTLSAndHostnosslOnlyPlain() {
        let hba = "hostssl all all 127.0.0.1/32 trust"
        var plain = Self.make(hba: hba)
        #expect(error(plain.startupPacketReceived(.startup(Self.startup)))?.message ==
                "no pool_hba.conf entry for host \"127.0.0.1\", user \"alice\", database \"app\", SSL off")
        var tls = encrypted(hba: hba)
        #expect(tls.startupPacketReceived(.startup(Self.startup)) == .lease(Self.startup, secret: nil))
        var no = encrypted(hba: "hostnossl all all 127.0.0.1/32 trust")
        #expect(error(no.startupPacketReceived(.startup(Self.startup)))?.message.hasSuffix("SSL on") == true)
        var host = encrypted(hba: "host all all 127.0.0.1/32 trust")
        #expect(host.startupPacketReceived(.startup(Self.startup)) == .lease(Self.startup, secret: nil))
    }

    @Test func certMethodNeedsAVerifiedCertificateNamingTheUser() {
        let hba = "hostssl all all 127.0.0.1/32 cert"
        var good = encrypted(hba: hba, cn: "alice")
        #expect(good.startupPacketReceived(.startup(Self.startup)) == .lease(Self.startup, secret: nil))
        var none = encrypted(hba: hba)
        #expect(error(none.startupPacketReceived(.startup(Self.startup)))?.message == "connection requires a valid client certificate")
        var bob = encrypted(hba: hba, cn: "bob")
        let f = error(bob.startupPacketReceived(.startup(Self.startup)))
        #expect(f?.message == "certificate authentication failed for user \"alice\"")
        #expect(f?.sqlState == "28000")
    }

    @Test func clientcertOptionAddsACertificateCheckToAnotherMethod() {
        var ca = encrypted(hba: "hostssl all all 127.0.0.1/32 md5 clientcert=verify-ca", cn: "bob")
        #expect(ca.startupPacketReceived(.startup(Self.startup)) == .sendToClient(.authentication(.md5Password(salt: [1, 2, 3, 4]))))
        var full = encrypted(hba: "hostssl all all 127.0.0.1/32 trust clientcert=verify-full", cn: "bob")
        #expect(error(full.startupPacketReceived(.startup(Self.startup)))?.message ==
                "certificate validation (clientcert=verify-full) failed for user \"alice\"")
    }

    @Test func poolHBAOptionsAreParsedAndCheckedAgainstTheLineType() {
        let hba = PoolHBA.parse("""
            hostssl all all 127.0.0.1/32 md5 clientcert=verify-full
            host all all 127.0.0.1/32 cert
            hostssl all all 127.0.0.1/32 trust clientcert=maybe
            hostssl all all 127.0.0.1/32 trust pamservice=x
            """, file: "pool_hba.conf")
        #expect(hba.rules.count == 2)
        #expect(hba.rules[0].clientCertificate == .verifyFull)
        #expect(hba.rules[1].clientCertificate == nil)
        #expect(hba.diagnostics.contains { $0.line == 2 && $0.severity == .error && $0.message.contains("need a hostssl line") })
        #expect(hba.diagnostics.contains { $0.line == 3 && $0.severity == .error && $0.message.contains("invalid value for clientcert") })
        #expect(hba.diagnostics.filter { $0.severity == .warning }.count == 1)
    }
}
