/// A pool_passwd secret: what poold knows of a user's password.
public enum PasswordSecret: Equatable, Sendable {
    /// `md5` + md5(password ‖ user): enough for md5 auth on both sides, not for SCRAM.
    case md5(String)
    /// Clear text (`TEXT…` or unprefixed): enough for every method.
    case clear(String)

    public var clearText: String? {
        if case .clear(let s) = self { return s }
        return nil
    }
}

/// Secrets never reach logs: every way of printing one says `<redacted>`.
extension PasswordSecret: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .enum) }
}

/// The pool_passwd file: `username:secret` lines.
public struct PoolPasswd: Equatable, Sendable {
    public var entries: [String: PasswordSecret]
    public var diagnostics: [Diagnostic]

    public init(entries: [String: PasswordSecret] = [:]) {
        self.entries = entries
        self.diagnostics = []
    }

    public static func parse(_ text: String, file: String) -> PoolPasswd {
        var out = PoolPasswd()
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
            let secret = String(l[l.index(after: colon)...])
            if secret.hasPrefix("md5"), secret.count == 35 {
                out.entries[user] = .md5(secret)
            } else if secret.hasPrefix("TEXT") {
                out.entries[user] = .clear(String(secret.dropFirst(4)))
            } else if secret.hasPrefix("AES") {
                out.diagnostics.append(Diagnostic(.warning, file: file, line: n,
                    "AES-encrypted entry for user \"\(user)\" is not supported yet; use TEXT or md5"))
            } else {
                out.entries[user] = .clear(secret)
            }
        }
        return out
    }

    /// The line `poold passwd` writes (pg_md5 -m style, or TEXT for SCRAM users).
    public static func line(user: String, password: String, clearText: Bool) -> String {
        clearText ? "\(user):TEXT\(password)" : "\(user):\(MD5Password.secret(user: user, password: password))"
    }
}
