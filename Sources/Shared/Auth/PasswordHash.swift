import Crypto

/// PostgreSQL's md5 password scheme: stored secret `md5` + md5(password ‖ user), wire answer
/// `md5` + md5(hex(md5(password ‖ user)) ‖ salt).
public enum MD5Password {
    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(Insecure.MD5.hash(data: bytes)) }

    /// The `md5…` secret stored in pg_authid and pool_passwd.
    public static func secret(user: String, password: String) -> String {
        "md5" + hex(Array(password.utf8) + Array(user.utf8))
    }

    /// The client's answer to an md5 challenge, from the stored secret (with or without the `md5` prefix).
    public static func response(secret: String, salt: [UInt8]) -> String {
        let inner = secret.hasPrefix("md5") ? String(secret.dropFirst(3)) : secret
        return "md5" + hex(Array(inner.utf8) + salt)
    }
}

/// SCRAM-SHA-256 primitives (RFC 5802 / RFC 7677), as PostgreSQL uses them.
public enum SCRAM {
    public static let mechanism = "SCRAM-SHA-256"
    public static let defaultIterations = 4096

    public static func hmac(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }

    public static func sha256(_ data: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: data)) }

    /// PBKDF2-HMAC-SHA-256 for one 32-byte block (Hi() in RFC 5802).
    public static func saltedPassword(password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: Array(password.utf8))
        var u = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = u
        if iterations > 1 {
            for _ in 1..<iterations {
                u = Array(HMAC<SHA256>.authenticationCode(for: u, using: key))
                for j in 0..<result.count { result[j] ^= u[j] }
            }
        }
        return result
    }

    /// Splits `a=1,b=2` attribute lists.
    public static func attributes(_ s: String) -> [Character: String] {
        var out: [Character: String] = [:]
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard let first = part.first, part.dropFirst().first == "=" else { continue }
            out[first] = String(part.dropFirst(2))
        }
        return out
    }
}
