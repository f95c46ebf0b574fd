import Testing
@testable import Shared

/// Files written with CRLF line endings read as their LF twins. Found while writing the fuzzing invariants
/// (Fuzzing/FuzzConfig): "\r\n" is one Character, so `split(separator: "\n")` left a CRLF file as a single line, and
/// pgpool.conf failed with "invalid value" for its first setting.
@Suite struct LineEndingTests {
    static func crlf(_ s: String) -> String { s.replacingOccurrences("\n", "\r\n") }

    @Test func pgpoolConfWithCRLF() {
        let text = "port = 9999\nlisten_addresses = 'localhost'   # comment\nbackend_hostname0 = 'db0'\nbackend_port0 = 5433\n"
        let r = ConfigLoader.load(text: Self.crlf(text), file: "/etc/pgpool.conf") { _, _ in nil }
        #expect(r.diagnostics.isEmpty, "\(r.diagnostics)")
        #expect(r.configuration.port == 9999)
        #expect(r.configuration.listenAddresses == ["localhost"])
        #expect(r.configuration.backends.map(\.port) == [5433])
        let (settings, _) = ConfigFileParser(loader: { _, _ in nil }).parse(text: Self.crlf(text), file: "f")
        #expect(settings.map(\.line) == [1, 2, 3, 4])
    }

    @Test func poolHBAAndPoolPasswdWithCRLF() {
        let hba = PoolHBA.parse(Self.crlf("local all all trust\nhost all alice 127.0.0.1/32 md5\n"), file: "pool_hba.conf")
        #expect(hba.diagnostics.isEmpty)
        #expect(hba.rules.map(\.method) == [.trust, .md5])
        #expect(hba.rules.map(\.line) == [1, 2])
        let passwd = PoolPasswd.parse(Self.crlf("alice:TEXTpw\nbob:plain\n"), file: "pool_passwd")
        #expect(passwd.entries == ["alice": .clear("pw"), "bob": .clear("plain")])
    }

    @Test func pcpConfAndNodeIDWithCRLF() {
        let users = PCPUsers.parse(Self.crlf("# pcp.conf\nadmin:abc\noperator:def\n"))
        #expect(users.entries.map(\.user) == ["admin", "operator"])
        #expect(users.entries.map(\.md5) == ["abc", "def"])
        let r = ConfigLoader.load(text: "use_watchdog = on\nhostname0 = 'a'\nhostname1 = 'b'\n", file: "/etc/pgpool/pgpool.conf") { path, _ in
            path.hasSuffix("pgpool_node_id") ? ("/etc/pgpool/pgpool_node_id", "1\r\n") : nil
        }
        #expect(r.configuration.watchdog?.localID == 1, "\(r.diagnostics)")
    }
}

private extension String {
    func replacingOccurrences(_ a: Character, _ b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}
