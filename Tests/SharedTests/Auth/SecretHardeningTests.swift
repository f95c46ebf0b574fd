import Testing
@testable import Shared

/// The shared helpers behind every secret check: constant-time comparison and the secret-file permission rule.
@Suite struct SecretHardeningTests {
    @Test func constantTimeEqualIsEquality() {
        #expect(ConstantTime.equal("md5abc", "md5abc"))
        #expect(!ConstantTime.equal("md5abc", "md5abd"))
        #expect(!ConstantTime.equal("md5abc", "md5ab"))
        #expect(ConstantTime.equal([UInt8](), [UInt8]()))
        #expect(!ConstantTime.equal([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
    }

    @Test func secretFileModeIsPostgreSQLsKeyRule() {
        #expect(SecretFileMode.problem(what: "f", path: "/p", mode: 0o100600, ownerIsRoot: false) == nil)
        #expect(SecretFileMode.problem(what: "f", path: "/p", mode: 0o400, ownerIsRoot: false) == nil)
        #expect(SecretFileMode.problem(what: "f", path: "/p", mode: 0o640, ownerIsRoot: true) == nil, "root may share with its group")
        #expect(SecretFileMode.problem(what: "f", path: "/p", mode: 0o640, ownerIsRoot: false) != nil)
        #expect(SecretFileMode.problem(what: "f", path: "/p", mode: 0o660, ownerIsRoot: true) != nil)
        #expect(SecretFileMode.problem(what: "f", path: "/p", mode: 0o604, ownerIsRoot: true) != nil)
        #expect(SecretFileMode.problem(what: "pcp.conf file", path: "/etc/pcp.conf", mode: 0o100644, ownerIsRoot: false)
                == "pcp.conf file \"/etc/pcp.conf\" has group or world access (mode 0644); permissions should be u=rw (0600) "
                + "or less, or u=rw,g=r (0640) or less when owned by root")
    }

    @Test func passwordSettingsShowAsStars() {
        let parsed = ConfigLoader.load(text: """
            backend_hostname0 = 'h'
            sr_check_password = 'AES+HWOi8JDj1YvXcIKwpisRw=='
            health_check_password = 'hc-secret'
            health_check_password0 = 'hc0-secret'
            wd_authkey = 'wd-secret'
            sr_check_user = 'visible'
            """, file: "pgpool.conf") { _, _ in nil }
        let config = parsed.configuration
        #expect(ConfigTables.pgpoolShow("sr_check_password", config: config)! == (["sr_check_password"], [["*****"]]))
        #expect(ConfigTables.pgpoolShow("health_check_password0", config: config)!.rows == [["*****"]])
        #expect(ConfigTables.pgpoolShow("sr_check_user", config: config)!.rows == [["visible"]])
        let shown = ConfigTables.poolStatus(config).map { $0.joined(separator: "|") }.joined(separator: "\n")
            + ConfigTables.pgpoolShow("all", config: config)!.rows.map { $0.joined(separator: "|") }.joined(separator: "\n")
            + config.effectiveSettingsText()
        for secret in ["HWOi8", "hc-secret", "hc0-secret", "wd-secret"] { #expect(!shown.contains(secret), "\(secret)") }
        #expect(shown.contains("sr_check_password|*****"))
        #expect(config.effectiveSettingsText().contains("health_check_password0 = '*****'"))
    }
}
