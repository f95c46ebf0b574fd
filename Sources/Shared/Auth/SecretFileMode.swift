/// The permission rule for files that hold secrets (pcp.conf, pool_passwd, the pool key file, the TLS key),
/// PostgreSQL's rule for its server key: no group or world access, except that a root-owned file may be
/// group-readable (u=rw,g=r, 0640), so a root-managed key can be shared with the service's group. poold refuses
/// such a file instead of warning, because anyone who can read it can log in as every user it lists.
/// Pure: the shell passes the mode and owner from fstat().
public enum SecretFileMode {
    /// The mode bits allowed for a file with this owner.
    public static func allowed(ownerIsRoot: Bool) -> UInt32 { ownerIsRoot ? 0o640 : 0o600 }

    /// nil when `mode` is acceptable, else the reason, naming the file and its mode.
    /// - Parameter what: how the file is called in the message ("pool key file", "pcp.conf file").
    public static func problem(what: String, path: String, mode: UInt32, ownerIsRoot: Bool) -> String? {
        let perm = mode & 0o777
        guard perm & ~allowed(ownerIsRoot: ownerIsRoot) != 0 else { return nil }
        return "\(what) \"\(path)\" has group or world access (mode \(octal(perm))); permissions should be u=rw (0600) "
            + "or less, or u=rw,g=r (0640) or less when owned by root"
    }

    /// `0644`-style text.
    public static func octal(_ mode: UInt32) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
