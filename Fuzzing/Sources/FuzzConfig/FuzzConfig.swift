import FuzzSupport
import Shared

// The configuration readers on arbitrary text: pgpool.conf through ConfigLoader.load (syntax, every setting's value,
// backends, TLS, watchdog or etcd, includes), pool_hba.conf (and matching against it), pool_passwd, pcp.conf and
// pgpool_status. The first byte picks the file (modulo 5, in that order); for pgpool.conf the rest is NUL-separated
// files: the first is pgpool.conf, the others are what its includes (and pgpool_node_id) read.
//
// Invariants besides "no crash":
// - A file with CRLF line endings reads as the same file with LF.
// - A quoted value written back as `name = '…'` (escaping ', \, CR, LF and tab) reads as the same value.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let kind = input.byte() % 5
    let bytes = input.rest()
    let text = String(decoding: bytes, as: UTF8.self)
    switch kind {
    case 0: checkPgpoolConf(bytes)
    case 1: checkPoolHBA(text)
    case 2: checkPoolPasswd(text)
    case 3: checkPCPUsers(text)
    default: _ = ClusterState.parseStatusFile(text)
    }
    return 0
}

func checkPgpoolConf(_ bytes: [UInt8]) {
    let files = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    let included = Array(files.dropFirst())
    // Includes resolve to the later files by a hash of the path; at most 16 reads, so a file including itself (or
    // two includes a level) cannot multiply the work up to 10 levels deep.
    var reads = 0
    let loader: ConfigFileParser.Loader = { path, _ in
        reads += 1
        guard !included.isEmpty, reads <= 16 else { return nil }
        let i = Int(path.utf8.reduce(UInt32(5381)) { $0 &* 33 &+ UInt32($1) } % UInt32(included.count))
        return ("/etc/pgpool/inc\(i).conf", included[i])
    }
    let result = ConfigLoader.load(text: files[0], file: "/etc/pgpool/pgpool.conf", loader: loader)
    // What `poold --check` prints for a file it accepts.
    if !result.hasErrors { _ = result.configuration.effectiveSettingsText() }
    for d in result.diagnostics { _ = d.description }
    checkConfigSyntax(files[0])
}

func crlf(_ text: String) -> String {
    var out = ""
    for c in text { if c == "\n" { out += "\r\n" } else { out.append(c) } }
    return out
}

func checkConfigSyntax(_ text: String) {
    let parser = ConfigFileParser(loader: { _, _ in nil })
    let lf = parser.parse(text: text, file: "f")
    let cr = parser.parse(text: crlf(text), file: "f")
    invariant(lf.settings == cr.settings && lf.diagnostics == cr.diagnostics, "pgpool.conf reads differently with CRLF")
    for s in lf.settings where s.value.unicodeScalars.allSatisfy(\.isASCII) {
        let line = "\(s.name) = '\(quoted(s.value))'"
        let again = parser.parse(text: line, file: "f")
        invariant(again.diagnostics.isEmpty && again.settings.map(\.value) == [s.value] && again.settings.map(\.name) == [s.name],
                  "\(s.name) = \(s.value.debugDescription) written as \(line.debugDescription) reads as \(again)")
    }
}

func quoted(_ value: String) -> String {
    var out = ""
    for c in value.unicodeScalars {
        switch c {
        case "'": out += "''"
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

func checkPoolHBA(_ text: String) {
    let hba = PoolHBA.parse(text, file: "pool_hba.conf")
    invariant(hba == PoolHBA.parse(crlf(text), file: "pool_hba.conf"), "pool_hba.conf reads differently with CRLF")
    var addresses: [ClientAddress] = [.unixSocket, .ipv4(0x7F00_0001), .ipv6([UInt8](repeating: 0, count: 15) + [1])]
    for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "/" }).prefix(16) {
        if let a = ClientAddress.parse(String(word)) { addresses.append(a) }
    }
    let users = ["alice"] + hba.rules.flatMap(\.users).prefix(2)
    let databases = ["postgres"] + hba.rules.flatMap(\.databases).prefix(2)
    for address in addresses.prefix(6) {
        for user in users {
            for database in databases {
                _ = hba.rule(database: database, user: user, address: address, encrypted: user.count % 2 == 0)
            }
        }
    }
}

func checkPoolPasswd(_ text: String) {
    let passwd = PoolPasswd.parse(text, file: "pool_passwd")
    invariant(passwd == PoolPasswd.parse(crlf(text), file: "pool_passwd"), "pool_passwd reads differently with CRLF")
}

func checkPCPUsers(_ text: String) {
    let users = PCPUsers.parse(text)
    invariant(users == PCPUsers.parse(crlf(text)), "pcp.conf reads differently with CRLF")
    if let first = users.entries.first { _ = users.verify(user: first.user, response: first.md5, salt: [1, 2, 3, 4]) }
}
