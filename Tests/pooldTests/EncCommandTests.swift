import Testing
@testable import poold

/// `poold enc`'s command line is pg_enc's (getopt_long "hPpmf:i:u:k:K:"), and the pool key file is looked for
/// where pgpool and pg_enc look.
@Suite struct EncCommandTests {
    typealias O = EncCommand.Options

    @Test func pgEncOptionsInAnyOrder() throws {
        var want = O()
        want.key = "secret"
        want.user = "alice"
        want.password = "mypassword"
        #expect(try O.parse(["-K", "secret", "-u", "alice", "mypassword"]) == want)
        #expect(try O.parse(["mypassword", "-Ksecret", "--username=alice"]) == want)
        #expect(try O.parse(["--enc-key", "secret", "--username", "alice", "--", "mypassword"]) == want)
    }

    @Test func clusteredFlagsAndValues() throws {
        let o = try O.parse(["-mu", "bob", "-f", "/etc/pgpool.conf", "-k", "/k", "pw"])
        #expect(o.updatePasswd && o.user == "bob" && o.configFile == "/etc/pgpool.conf" && o.keyFile == "/k" && o.password == "pw")
        let p = try O.parse(["-pPm", "-i", "pairs.txt"])
        #expect(p.promptPassword && p.promptKey && p.updatePasswd && p.inputFile == "pairs.txt" && p.password == nil)
        #expect(try O.parse([]).configFile == "/etc/pgpool2/pgpool.conf")
        #expect(try O.parse(["-h"]).help)
    }

    @Test func badOptionsAreUsageErrors() {
        #expect(throws: O.UsageError.self) { try O.parse(["-z"]) }
        #expect(throws: O.UsageError.self) { try O.parse(["-u"]) }
        #expect(throws: O.UsageError.self) { try O.parse(["--nope"]) }
        #expect(throws: O.UsageError.self) { try O.parse(["--key-file"]) }
    }

    @Test func keyFileOptionThenEnvironmentThenHome() {
        #expect(PoolKeyFile.path(option: "/a", environment: ["PGPOOLKEYFILE": "/b", "HOME": "/h"]) == "/a")
        #expect(PoolKeyFile.path(option: nil, environment: ["PGPOOLKEYFILE": "/b", "HOME": "/h"]) == "/b")
        #expect(PoolKeyFile.path(option: nil, environment: ["HOME": "/h"]) == "/h/.pgpoolkey")
        #expect(PoolKeyFile.path(option: nil, environment: [:])?.hasSuffix("/.pgpoolkey") == true, "home from the password database")
    }
}
