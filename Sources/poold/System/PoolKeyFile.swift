import Foundation
import Shared

/// Where the pool key comes from, as Pgpool-II's `pgpool -k` and `pg_enc`: the `-k` file, else
/// `$PGPOOLKEYFILE`, else `~/.pgpoolkey` (home from `$HOME`, then the password database). Read once at start,
/// as Pgpool-II does; a reload decrypts the re-read pool_passwd with the same key. A key file that group or
/// others can read is refused (Pgpool-II only warns).
enum PoolKeyFile {
    static let fileName = ".pgpoolkey"
    static let environmentVariable = "PGPOOLKEYFILE"

    /// The file to read: the option, else the environment's, else the home directory's (nil: no home).
    static func path(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let option, !option.isEmpty { return option }
        if let env = environment[environmentVariable], !env.isEmpty { return env }
        return home(environment).map { $0 + "/" + fileName }
    }

    static func home(_ environment: [String: String]) -> String? {
        if let h = environment["HOME"], !h.isEmpty { return h }
        guard let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir else { return nil }
        return String(cString: dir)
    }

    struct Loaded {
        var key: PoolKey?
        /// The file that was tried.
        var path: String?
        /// An error when the file exists but is refused (too open, unreadable); a warning when the `-k` file is
        /// missing or its first line is empty.
        var diagnostics: [Diagnostic]
    }

    static func load(option: String?) -> Loaded {
        guard let path = path(option: option) else { return Loaded(key: nil, path: nil, diagnostics: []) }
        switch SecretFile.read(path, what: "pool key file") {
        case .missing:
            // As pgpool -k: a missing file is no key (AES entries then fail, each with its warning), not a refusal.
            let d = option == nil ? [] : [Diagnostic(.warning, file: path, line: 0, "pool key file does not exist")]
            return Loaded(key: nil, path: path, diagnostics: d)
        case .refused(let reason):
            return Loaded(key: nil, path: path, diagnostics: [Diagnostic(.error, file: path, line: 0, reason)])
        case .text(let text):
            guard let key = PoolKey(keyFileText: text) else {
                return Loaded(key: nil, path: path, diagnostics: [
                    Diagnostic(.warning, file: path, line: 1, "pool key file has no key on its first line")])
            }
            return Loaded(key: key, path: path, diagnostics: [])
        }
    }
}
