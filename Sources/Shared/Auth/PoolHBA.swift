/// Client authentication methods of pool_hba.conf.
public enum AuthMethod: String, Sendable, Equatable {
    case trust
    case reject
    case md5
    case scramSHA256 = "scram-sha-256"
    case password
    /// pool_hba only: the client's TLS certificate (verified against ssl_ca_cert) has CN = the user name.
    case cert
}

/// How a client reached poold.
public enum ClientAddress: Equatable, Sendable {
    case unixSocket
    case ipv4(UInt32)
    case ipv6([UInt8])

    public static func parse(_ s: String) -> ClientAddress? {
        if let v4 = parseIPv4(s) { return .ipv4(v4) }
        if let v6 = parseIPv6(s) { return .ipv6(v6) }
        return nil
    }

    static func parseIPv4(_ s: String) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p) else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        guard s.contains(":") else { return nil }
        let halves = splitDoubleColon(s)
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        let tail = halves.count == 2 ? groups(halves[1]) : []
        guard let tail else { return nil }
        let missing = 8 - head.count - tail.count
        guard missing >= 0, halves.count == 2 || missing == 0 else { return nil }
        let all = head + [UInt16](repeating: 0, count: missing) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

/// Splits an IPv6 text at its "::" (at most one is valid).
private func splitDoubleColon(_ s: String) -> [String] {
    let c = Array(s)
    var out: [String] = []
    var cur = ""
    var i = 0
    while i < c.count {
        if c[i] == ":", i + 1 < c.count, c[i + 1] == ":" {
            out.append(cur)
            cur = ""
            i += 2
            continue
        }
        cur.append(c[i])
        i += 1
    }
    out.append(cur)
    return out
}

/// pool_hba.conf: `local|host|hostssl|hostnossl database user [address [mask]] method`.
/// First match wins; no match rejects.
public struct PoolHBA: Equatable, Sendable {
    public struct Rule: Equatable, Sendable {
        public enum ConnectionType: String, Sendable { case local, host, hostssl, hostnossl }
        public enum Address: Equatable, Sendable {
            case any
            case v4(network: UInt32, mask: UInt32)
            case v6(network: [UInt8], prefix: Int)
        }
        public var type: ConnectionType
        public var databases: [String]
        public var users: [String]
        public var address: Address
        public var method: AuthMethod
        public var line: Int
        /// `clientcert=verify-ca|verify-full`: a verified client certificate is required besides the method
        /// (verify-full: its CN must be the user name). The `cert` method implies verify-full.
        public var clientCertificate: ClientCertificateCheck? = nil
    }

    /// pg_hba's `clientcert` option.
    public enum ClientCertificateCheck: String, Sendable { case verifyCA = "verify-ca", verifyFull = "verify-full" }

    public var rules: [Rule]
    public var diagnostics: [Diagnostic] = []

    public init(rules: [Rule]) { self.rules = rules }

    public static func parse(_ text: String, file: String) -> PoolHBA {
        var hba = PoolHBA(rules: [])
        var n = 0
        for rawLine in text.lines {
            n += 1
            let line = rawLine.prefix(while: { $0 != "#" })
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            if f.isEmpty { continue }
            func fail(_ m: String) { hba.diagnostics.append(Diagnostic(.error, file: file, line: n, m)) }
            guard let type = Rule.ConnectionType(rawValue: f[0]) else { fail("unknown connection type \"\(f[0])\""); continue }
            let needsAddress = type != .local
            guard f.count >= (needsAddress ? 5 : 4) else { fail("missing fields"); continue }
            var address = Rule.Address.any
            var methodIndex = 3
            if needsAddress {
                let a = f[3]
                methodIndex = 4
                if a == "all" || a == "samehost" || a == "samenet" {
                    address = .any
                } else if let slash = a.firstIndex(of: "/") {
                    let ip = String(a[..<slash]), bits = Int(a[a.index(after: slash)...]) ?? -1
                    if let v4 = ClientAddress.parseIPv4(ip), (0...32).contains(bits) {
                        let mask: UInt32 = bits == 0 ? 0 : UInt32.max << UInt32(32 - bits)
                        address = .v4(network: v4 & mask, mask: mask)
                    } else if let v6 = ClientAddress.parseIPv6(ip), (0...128).contains(bits) {
                        address = .v6(network: v6, prefix: bits)
                    } else { fail("invalid address \"\(a)\""); continue }
                } else if let v4 = ClientAddress.parseIPv4(a), f.count >= 6, let mask = ClientAddress.parseIPv4(f[4]) {
                    address = .v4(network: v4 & mask, mask: mask)
                    methodIndex = 5
                } else { fail("invalid address \"\(a)\""); continue }
            }
            guard let method = AuthMethod(rawValue: f[methodIndex]) else {
                fail("unsupported authentication method \"\(f[methodIndex])\""); continue
            }
            var rule = Rule(type: type, databases: f[1].split(separator: ",").map(String.init),
                            users: f[2].split(separator: ",").map(String.init), address: address,
                            method: method, line: n)
            var bad = false
            for option in f.dropFirst(methodIndex + 1) {
                let kv = option.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, kv[0] == "clientcert" else {
                    hba.diagnostics.append(Diagnostic(.warning, file: file, line: n,
                        "option \"\(option)\" is ignored (poold knows clientcert=verify-ca|verify-full)"))
                    continue
                }
                guard let check = ClientCertificateCheck(rawValue: kv[1]) else {
                    fail("invalid value for clientcert: \"\(kv[1])\" (verify-ca or verify-full)"); bad = true; break
                }
                rule.clientCertificate = check
            }
            if bad { continue }
            if method == .cert { rule.clientCertificate = .verifyFull }
            if rule.clientCertificate != nil, type != .hostssl {
                fail("clientcert and the cert method need a hostssl line (a client certificate comes only with TLS)"); continue
            }
            hba.rules.append(rule)
        }
        return hba
    }

    /// The method of the first rule matching the connection, or nil when nothing matches (reject).
    public func method(database: String, user: String, address: ClientAddress, encrypted: Bool = false) -> AuthMethod? {
        rule(database: database, user: user, address: address, encrypted: encrypted)?.method
    }

    /// The first rule matching the connection (`encrypted`: the client speaks TLS), or nil (reject).
    public func rule(database: String, user: String, address: ClientAddress, encrypted: Bool) -> Rule? {
        rules.first { matches($0, database: database, user: user, address: address, encrypted: encrypted) }
    }

    private func matches(_ r: Rule, database: String, user: String, address: ClientAddress, encrypted: Bool) -> Bool {
        switch (r.type, address) {
        case (.local, .unixSocket): break
        case (.local, _), (_, .unixSocket): return false
        case (.hostssl, _) where !encrypted: return false
        case (.hostnossl, _) where encrypted: return false
        default: break
        }
        let dbOK = r.databases.contains { $0 == "all" || $0 == database || ($0 == "sameuser" && database == user) }
        let userOK = r.users.contains { $0 == "all" || $0 == user }
        guard dbOK, userOK else { return false }
        switch (r.address, address) {
        case (.any, _): return true
        case (.v4(let net, let mask), .ipv4(let ip)): return ip & mask == net
        case (.v6(let net, let prefix), .ipv6(let ip)):
            for bit in 0..<prefix where (net[bit / 8] >> (7 - bit % 8)) & 1 != (ip[bit / 8] >> (7 - bit % 8)) & 1 {
                return false
            }
            return true
        default: return false
        }
    }
}
