import NIOCore
import Testing
@testable import Shared

/// md5 and SCRAM-SHA-256 exchanges as transcripts: poold's server side against its own client side
/// and against the RFC 7677 test vector; pool_passwd and pool_hba parsing.
@Suite struct AuthTests {
    static func keys(_ password: String, salt: [UInt8] = Array("0123456789abcdef".utf8)) -> ClientAuthStateMachine.ScramKeys {
        .init(salt: salt, iterations: 4096, saltedPassword: SCRAM.saltedPassword(password: password, salt: salt, iterations: 4096))
    }

    @Test func md5MatchesPostgreSQL() {
        // SELECT 'md5' || md5('secret' || 'alice') in PostgreSQL
        #expect(MD5Password.secret(user: "alice", password: "secret") == "md5" + MD5Password.hex(Array("secretalice".utf8)))
        #expect(MD5Password.hex(Array("abc".utf8)) == "900150983cd24fb0d6963f7d28e17f72")
    }

    @Test func rfc7677SaltedPasswordVector() {
        // RFC 7677: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        let salt = Base64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")!
        let salted = SCRAM.saltedPassword(password: "pencil", salt: salt, iterations: 4096)
        let clientKey = SCRAM.hmac(salted, Array("Client Key".utf8))
        let bare = "n=user,r=rOprNGfwEbeRWgbNEkqO"
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        let withoutProof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        let auth = Array("\(bare),\(serverFirst),\(withoutProof)".utf8)
        let proof = zip(clientKey, SCRAM.hmac(SCRAM.sha256(clientKey), auth)).map { $0 ^ $1 }
        #expect(Base64.encode(proof) == "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        let serverSig = SCRAM.hmac(SCRAM.hmac(salted, Array("Server Key".utf8)), auth)
        #expect(Base64.encode(serverSig) == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    }

    /// Runs poold's client side (towards a backend) against poold's server side (towards a client).
    static func exchange(method: AuthMethod, stored: PasswordSecret?, clientSecret: PasswordSecret?) -> ClientAuthStateMachine.Action {
        var server = ClientAuthStateMachine(method: method, user: "alice", secret: stored, md5Salt: [9, 8, 7, 6],
                                            serverNonce: "SERVERNONCE", scram: stored?.clearText.map { keys($0) })
        var client = BackendAuthenticator(user: "alice", secret: clientSecret, clientNonce: "CLIENTNONCE")
        var action = server.start()
        for _ in 0..<5 {
            guard case .send(.authentication(let request)) = action else { return action }
            switch client.authenticationReceived(request) {
            case .send(.password(let body)): action = server.passwordMessageReceived(body)
            case let other: Issue.record("client said \(other)"); return action
            }
        }
        return action
    }

    @Test(arguments: [AuthMethod.md5, .scramSHA256, .password])
    func rightPasswordAuthenticates(method: AuthMethod) {
        let action = Self.exchange(method: method, stored: .clear("s3cret"), clientSecret: .clear("s3cret"))
        guard case .authenticated = action else { Issue.record("\(action)"); return }
    }

    @Test(arguments: [AuthMethod.md5, .scramSHA256, .password])
    func wrongPasswordFailsWith28P01(method: AuthMethod) {
        let action = Self.exchange(method: method, stored: .clear("s3cret"), clientSecret: .clear("guess"))
        #expect(action == .fail(ProxyError(.invalidPassword, "password authentication failed for user \"alice\"")))
    }

    @Test func md5StoredSecretChecksMd5AndClearTextAnswers() {
        let stored = PasswordSecret.md5(MD5Password.secret(user: "alice", password: "pw"))
        guard case .authenticated = Self.exchange(method: .md5, stored: stored, clientSecret: .clear("pw")) else {
            Issue.record("md5 with md5 secret"); return
        }
        guard case .authenticated(let clear) = Self.exchange(method: .password, stored: stored, clientSecret: .clear("pw")) else {
            Issue.record("password with md5 secret"); return
        }
        #expect(clear == "pw")
        // SCRAM cannot be served from an md5 secret.
        guard case .fail = Self.exchange(method: .scramSHA256, stored: stored, clientSecret: .clear("pw")) else {
            Issue.record("scram with md5 secret must fail"); return
        }
    }

    @Test func unknownUserFailsAndTrustAndRejectAreImmediate() {
        guard case .fail(let e) = Self.exchange(method: .md5, stored: nil, clientSecret: .clear("x")) else { Issue.record(); return }
        #expect(e.code == .invalidPassword)
        var trust = ClientAuthStateMachine(method: .trust, user: "u", secret: nil, md5Salt: [], serverNonce: "", scram: nil)
        #expect(trust.start() == .authenticated(clearPassword: nil))
        var reject = ClientAuthStateMachine(method: .reject, user: "u", secret: nil, md5Salt: [], serverNonce: "", scram: nil)
        guard case .fail(let r) = reject.start() else { Issue.record(); return }
        #expect(r.code == .invalidAuthorization)
    }

    @Test func backendAuthenticatorReportsMissingPassword() {
        var a = BackendAuthenticator(user: "u", secret: nil, clientNonce: "n")
        #expect(a.authenticationReceived(.md5Password(salt: [1, 2, 3, 4])) == .passwordRequired(method: .md5))
        var s = BackendAuthenticator(user: "u", secret: .md5("md5" + String(repeating: "0", count: 32)), clientNonce: "n")
        #expect(s.authenticationReceived(.sasl(mechanisms: ["SCRAM-SHA-256"])) == .passwordRequired(method: .scramSHA256))
        var t = BackendAuthenticator(user: "u", secret: nil, clientNonce: "n")
        #expect(t.authenticationReceived(.ok) == .authenticated(method: .trust))
    }

    @Test func poolPasswdFormats() {
        let p = PoolPasswd.parse("alice:md5" + String(repeating: "a", count: 32) + "\nbob:TEXTpw:with:colons\ncarol:plain\n# c\ndave:AESxyz\nbroken\n", file: "pool_passwd")
        #expect(p.entries["alice"] == .md5("md5" + String(repeating: "a", count: 32)))
        #expect(p.entries["bob"] == .clear("pw:with:colons"))
        #expect(p.entries["carol"] == .clear("plain"))
        #expect(p.entries["dave"] == .undecryptable)
        #expect(p.diagnostics.map(\.line) == [5, 6])
        #expect(PoolPasswd.line(user: "u", password: "p", clearText: false) == "u:" + MD5Password.secret(user: "u", password: "p"))
    }

    @Test func poolHBAFirstMatchWinsAndNoMatchRejects() {
        let hba = PoolHBA.parse("""
            local all      all                    trust
            host  sales    alice  10.0.0.0/8      md5
            host  all      alice  127.0.0.1/32    scram-sha-256
            host  all      bob    192.168.1.0 255.255.255.0 reject
            host  all      all    ::1/128         trust
            hostssl all    all    0.0.0.0/0       trust
            """, file: "pool_hba.conf")
        #expect(hba.diagnostics.isEmpty)
        #expect(hba.method(database: "x", user: "y", address: .unixSocket) == .trust)
        #expect(hba.method(database: "sales", user: "alice", address: .parse("10.1.2.3")!) == .md5)
        #expect(hba.method(database: "other", user: "alice", address: .parse("10.1.2.3")!) == nil)
        #expect(hba.method(database: "sales", user: "alice", address: .parse("127.0.0.1")!) == .scramSHA256)
        #expect(hba.method(database: "d", user: "bob", address: .parse("192.168.1.77")!) == .reject)
        #expect(hba.method(database: "d", user: "bob", address: .parse("::1")!) == .trust)
        #expect(hba.method(database: "d", user: "carol", address: .parse("127.0.0.2")!) == nil)
        let bad = PoolHBA.parse("host all all 1.2.3.4/40 trust\nhost all all 127.0.0.1/32 ident\n", file: "f")
        #expect(bad.diagnostics.map(\.line) == [1, 2])
    }
}

@Suite struct SecretRedactionTests {
    @Test func secretsNeverPrint() {
        let action = SessionStateMachine.Action.lease(StartupMessage(parameters: [("user", "u")]), secret: .clear("hunter2"))
        #expect(!"\(action)".contains("hunter2"))
        #expect(!String(reflecting: action).contains("hunter2"))
        #expect(!String(describing: PasswordSecret.md5("md5abcdef")).contains("abcdef"))
    }
}
