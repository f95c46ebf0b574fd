/// A pool_passwd secret: what poold knows of a user's password.
public enum PasswordSecret: Equatable, Sendable {
    /// `md5` + md5(password ‖ user): enough for md5 auth on both sides, not for SCRAM.
    case md5(String)
    /// Clear text (`TEXT…`, unprefixed, or a decrypted `AES…`): enough for every method.
    case clear(String)
    /// An `AES…` secret poold could not decrypt (no pool key, or not the key it was written with). Every login
    /// that needs it fails with "unable to decrypt password from pool_passwd", as in Pgpool-II; other users are
    /// unaffected.
    case undecryptable

    public var clearText: String? {
        if case .clear(let s) = self { return s }
        return nil
    }

    /// A secret as pool_passwd and the password settings (`health_check_password`, …) write it: `md5…` (35
    /// characters), `TEXT…`, `AES…` (decrypted with `key`), else clear text — Pgpool-II's get_password_type.
    public static func stored(_ s: String, key: PoolKey?) -> PasswordSecret {
        if s.hasPrefix("md5"), s.count == 35 { return .md5(s) }
        if s.hasPrefix("TEXT") { return .clear(String(s.dropFirst(4))) }
        if s.hasPrefix(AESPassword.prefix) {
            guard let key, let clear = AESPassword.decrypt(s, key: key) else { return .undecryptable }
            return .clear(clear)
        }
        return .clear(s)
    }

    /// Pgpool-II's wording when an `AES…` secret cannot be used, for the log and the client's error.
    public static let undecryptableDetail = "unable to decrypt password from pool_passwd"
    public static let undecryptableHint = "verify the valid pool_key exists"
}

/// Secrets never reach logs: every way of printing one says `<redacted>`.
extension PasswordSecret: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .enum) }
}

/// The pool_passwd file: `username:secret` lines, plus the pool key its `AES…` lines (and `AES…` password
/// settings) are decrypted with. Entries are decrypted once, when the file is read.
public struct PoolPasswd: Equatable, Sendable {
    public var entries: [String: PasswordSecret]
    public var diagnostics: [Diagnostic]
    /// The pool key poold started with (nil: none was found).
    public var key: PoolKey?

    public init(entries: [String: PasswordSecret] = [:], key: PoolKey? = nil) {
        self.entries = entries
        self.diagnostics = []
        self.key = key
    }

    public static func parse(_ text: String, file: String, key: PoolKey? = nil) -> PoolPasswd {
        var out = PoolPasswd(key: key)
        var n = 0
        for line in text.lines {
            n += 1
            let l = line.trimmingSpaces
            if l.isEmpty || l.hasPrefix("#") { continue }
            guard let colon = l.firstIndex(of: ":") else {
                out.diagnostics.append(Diagnostic(.error, file: file, line: n, "expected user:secret"))
                continue
            }
            let user = String(l[..<colon])
            let secret = PasswordSecret.stored(String(l[l.index(after: colon)...]), key: key)
            if secret == .undecryptable {
                out.diagnostics.append(Diagnostic(.warning, file: file, line: n,
                    "could not get the password for user \"\(user)\": \(PasswordSecret.undecryptableDetail) ("
                    + (key == nil ? "no pool key file was read" : "the pool key does not decrypt it")
                    + "); \(PasswordSecret.undecryptableHint)"))
            }
            out.entries[user] = secret
        }
        return out
    }

    /// What poold logs in with as `user` for its own checks (health check, streaming replication check, online
    /// recovery, watchdog lifecheck): the setting's password when set (md5, TEXT, AES or clear, as Pgpool-II's
    /// get_pgpool_config_user_password), else the user's pool_passwd entry.
    public func secret(user: String, configured: String) -> PasswordSecret? {
        configured.isEmpty ? entries[user] : PasswordSecret.stored(configured, key: key)
    }

    /// The line `poold passwd` writes (pg_md5 -m style, or TEXT for SCRAM users).
    public static func line(user: String, password: String, clearText: Bool) -> String {
        "\(user):" + storedSecret(user: user, password: password, clearText: clearText)
    }

    /// The secret part of that line: `TEXT…`, or `md5…`.
    public static func storedSecret(user: String, password: String, clearText: Bool) -> String {
        clearText ? "TEXT\(password)" : MD5Password.secret(user: user, password: password)
    }

    /// pool_passwd's text with `user`'s line replaced by `user:secret` where it stood (as pg_enc -m and pg_md5 -m
    /// rewrite it), or appended when the user has no line yet. Other lines are kept as written.
    public static func updating(_ text: String, user: String, secret: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let entry = "\(user):\(secret)"
        if let i = lines.firstIndex(where: { $0.hasPrefix(user + ":") }) {
            lines[i] = entry
        } else {
            lines.append(entry)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
