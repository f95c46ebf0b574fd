import NIOCore
import Testing
@testable import Shared

/// `AES…` pool_passwd entries against vectors from the real tools: Debian's pgpool2 4.3.5 `pg_enc -K KEY PASSWORD`
/// and OpenSSL's `openssl enc -aes-256-cbc -md sha1 -nosalt -P` (its EVP_BytesToKey), recorded when written.
@Suite struct AESPasswordTests {
    /// (key, password, what pg_enc printed after "pool_passwd string: ")
    static let pgEncVectors: [(String, String, String)] = [
        ("secret", "mypassword", "AES+HWOi8JDj1YvXcIKwpisRw=="),
        ("k3y with spaces", "a-longer-password-of-32-bytes!!!", "AESDZhCDFYTKLkrgKlvVJA+TMb5FAsPZ0JxsXZoGr+gfnm94kabROZjtgwa0/p4X1uF"),
        ("secret", "pässwörd", "AESHXza+VicLeNP+qZIelAOlw=="),
    ]

    @Test func bytesToKeyMatchesOpenSSL() {
        // echo -n | openssl enc -aes-256-cbc -md sha1 -nosalt -pass pass:secret -P
        let (key, iv) = PoolKey("secret").derived
        #expect(Hex.encode(key) == "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f412028f81da65d26ee56424b2")
        #expect(Hex.encode(iv) == "e93da465b309c53fec5ff93c9637da58")
        // D1 is SHA1(key) itself: the first 20 bytes.
        #expect(Hex.encode(key.prefix(20)) == "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4")
    }

    @Test func encryptMatchesPgEnc() {
        for (key, password, aes) in Self.pgEncVectors {
            #expect(AESPassword.encrypt(password, key: PoolKey(key)) == aes, "\(key) / \(password)")
        }
    }

    @Test func decryptReadsPgEncOutput() {
        for (key, password, aes) in Self.pgEncVectors {
            #expect(AESPassword.decrypt(aes, key: PoolKey(key)) == password)
        }
        #expect(AESPassword.decrypt(AESPassword.encrypt("", key: PoolKey("k")), key: PoolKey("k")) == "")
    }

    @Test func wrongKeyOrBrokenTextDecryptsToNothing() {
        #expect(AESPassword.decrypt("AES+HWOi8JDj1YvXcIKwpisRw==", key: PoolKey("not-the-key")) == nil)
        #expect(AESPassword.decrypt("AESxyz", key: PoolKey("secret")) == nil)
        #expect(AESPassword.decrypt("AES", key: PoolKey("secret")) == nil)
        #expect(AESPassword.decrypt("AES!!!!", key: PoolKey("secret")) == nil)
        #expect(AESPassword.decrypt("TEXTmypassword", key: PoolKey("secret")) == nil)
    }

    @Test func keyFileFirstLine() {
        #expect(PoolKey(keyFileText: "secret\n")?.passphrase == "secret")
        #expect(PoolKey(keyFileText: "secret")?.passphrase == "secret")
        #expect(PoolKey(keyFileText: "first line\nsecond\n")?.passphrase == "first line")
        #expect(PoolKey(keyFileText: "") == nil)
        #expect(PoolKey(keyFileText: "\nsecret\n") == nil)
    }

    @Test func poolPasswdDecryptsWithTheKeyAndWarnsWithout() {
        let text = "alice:AES+HWOi8JDj1YvXcIKwpisRw==\nbob:TEXTbobpw\n"
        let good = PoolPasswd.parse(text, file: "pool_passwd", key: PoolKey("secret"))
        #expect(good.entries["alice"] == .clear("mypassword"))
        #expect(good.diagnostics.isEmpty)

        let none = PoolPasswd.parse(text, file: "pool_passwd")
        #expect(none.entries["alice"] == .undecryptable)
        #expect(none.entries["bob"] == .clear("bobpw"), "others are unaffected")
        #expect(none.diagnostics.count == 1)
        let d = none.diagnostics[0]
        #expect(d.severity == .warning && d.line == 1)
        #expect(d.message.contains("user \"alice\"") && d.message.contains("unable to decrypt password from pool_passwd")
                && d.message.contains("no pool key file was read") && d.message.contains("verify the valid pool_key exists"))
        #expect(!d.description.contains("HWOi8"), "the AES text is not repeated")

        let wrong = PoolPasswd.parse(text, file: "pool_passwd", key: PoolKey("other"))
        #expect(wrong.entries["alice"] == .undecryptable)
        #expect(wrong.diagnostics[0].message.contains("the pool key does not decrypt it"))
    }

    @Test func configuredPasswordsTakeEveryForm() {
        let passwd = PoolPasswd.parse("alice:TEXTfromfile\n", file: "pool_passwd", key: PoolKey("secret"))
        #expect(passwd.secret(user: "alice", configured: "") == .clear("fromfile"))
        #expect(passwd.secret(user: "nobody", configured: "") == nil)
        #expect(passwd.secret(user: "alice", configured: "plain") == .clear("plain"))
        #expect(passwd.secret(user: "alice", configured: "TEXTtext") == .clear("text"))
        let md5 = MD5Password.secret(user: "alice", password: "x")
        #expect(passwd.secret(user: "alice", configured: md5) == .md5(md5))
        #expect(passwd.secret(user: "alice", configured: "AES+HWOi8JDj1YvXcIKwpisRw==") == .clear("mypassword"))
        #expect(PoolPasswd().secret(user: "alice", configured: "AES+HWOi8JDj1YvXcIKwpisRw==") == .undecryptable)
    }

    @Test func undecryptablePasswordSettingsAreReportedByName() {
        let parsed = ConfigLoader.load(text: """
            backend_hostname0 = 'h'
            sr_check_password = 'AES+HWOi8JDj1YvXcIKwpisRw=='
            health_check_password1 = 'AES+HWOi8JDj1YvXcIKwpisRw=='
            recovery_password = 'plain'
            """, file: "pgpool.conf") { _, _ in nil }
        let withKey = PasswordSettings.diagnostics(parsed.configuration, key: PoolKey("secret"), file: "pgpool.conf")
        #expect(withKey.isEmpty)
        let without = PasswordSettings.diagnostics(parsed.configuration, key: nil, file: "pgpool.conf")
        #expect(without.map(\.parameter) == ["sr_check_password", "health_check_password1"])
        #expect(without.allSatisfy { $0.severity == .warning && !$0.description.contains("HWOi8") })
    }

    @Test func undecryptableSecretFailsLoginsAsPgpool() {
        for (method, name) in [(AuthMethod.md5, "md5"), (.scramSHA256, "SCRAM"), (.password, "clear text password")] {
            var server = ClientAuthStateMachine(method: method, user: "alice", secret: .undecryptable, md5Salt: [1, 2, 3, 4],
                                                serverNonce: "N", scram: nil)
            let e = ProxyError(.invalidPassword, "\(name) authentication failed",
                               detail: "unable to decrypt password from pool_passwd", hint: "verify the valid pool_key exists")
            #expect(server.start() == .fail(e))
            #expect(e.fields["H"] == "verify the valid pool_key exists")
        }
        var trust = ClientAuthStateMachine(method: .trust, user: "alice", secret: .undecryptable, md5Salt: [], serverNonce: "", scram: nil)
        #expect(trust.start() == .authenticated(clearPassword: nil), "a login that needs no password still works")

        var md5 = BackendAuthenticator(user: "alice", secret: .undecryptable, clientNonce: "n")
        #expect(md5.authenticationReceived(.md5Password(salt: [1, 2, 3, 4])) == .fail(.undecryptable(method: "md5")))
        var scram = BackendAuthenticator(user: "alice", secret: .undecryptable, clientNonce: "n")
        #expect(scram.authenticationReceived(.sasl(mechanisms: ["SCRAM-SHA-256"])) == .fail(.undecryptable(method: "SCRAM")))
        var clear = BackendAuthenticator(user: "alice", secret: .undecryptable, clientNonce: "n")
        #expect(clear.authenticationReceived(.cleartextPassword) == .fail(.undecryptable(method: "clear text password")))
        var ok = BackendAuthenticator(user: "alice", secret: .undecryptable, clientNonce: "n")
        #expect(ok.authenticationReceived(.ok) == .authenticated(method: .trust))
    }

    @Test func updatingRewritesInPlaceOrAppends() {
        let text = "# users\nalice:md5old\nbob:TEXTb\n"
        #expect(PoolPasswd.updating(text, user: "alice", secret: "AESx") == "# users\nalice:AESx\nbob:TEXTb\n")
        #expect(PoolPasswd.updating(text, user: "carol", secret: "AESy") == text + "carol:AESy\n")
        #expect(PoolPasswd.updating("", user: "carol", secret: "AESy") == "carol:AESy\n")
        #expect(PoolPasswd.updating("al:TEXTx", user: "a", secret: "AESz") == "al:TEXTx\na:AESz\n", "a prefix of a name is another user")
    }

    @Test func keyNeverPrints() {
        let key = PoolKey("hunter2")
        #expect(!"\(key)".contains("hunter2"))
        #expect(!String(reflecting: key).contains("hunter2"))
        #expect(!"\(PoolPasswd(key: key))".contains("hunter2"))
    }
}
