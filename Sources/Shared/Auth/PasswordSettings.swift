/// The pgpool.conf settings that hold a password poold logs in with (its own checks and online recovery). Each
/// may be written clear, `TEXT…`, `md5…` or `AES…` (pg_enc), like a pool_passwd secret; `PoolPasswd.secret`
/// reads them. Checked at load so an `AES…` value the pool key cannot decrypt is reported once, by name, instead
/// of as a failed login at every check.
public enum PasswordSettings {
    public static let names = ["health_check_password", "sr_check_password", "recovery_password", "wd_lifecheck_password"]

    /// A warning for each `AES…` value (the per-node `health_check_passwordN` included) that `key` cannot decrypt.
    public static func diagnostics(_ config: PoolConfiguration, key: PoolKey?, file: String) -> [Diagnostic] {
        var values: [(String, String)] = names.map { ($0, config.string($0)) }
        for (node, v) in (config.indexed["health_check_password"] ?? [:]).sorted(by: { $0.key < $1.key }) {
            if case .string(let s) = v { values.append(("health_check_password\(node)", s)) }
        }
        return values.compactMap { name, value in
            guard value.hasPrefix(AESPassword.prefix), PasswordSecret.stored(value, key: key) == .undecryptable else { return nil }
            return Diagnostic(.warning, file: file, line: 0, parameter: name,
                              "unable to decrypt the AES password ("
                              + (key == nil ? "no pool key file was read" : "the pool key does not decrypt it")
                              + "); \(PasswordSecret.undecryptableHint)")
        }
    }
}
