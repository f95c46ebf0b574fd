import Foundation
import Shared

/// `poold enc`: Pgpool-II's `pg_enc` (src/tools/pgenc/pg_enc.c) — the same options, the same output, the same
/// `AES…` text — so scripts written for pg_enc work with poold. Unlike pg_enc it reads the password or key from
/// a pipe as well as a terminal, refuses a key file others can read, and creates pool_passwd with mode 0600.
enum EncCommand {
    /// pg_enc's command line (getopt_long "hPpmf:i:u:k:K:", options and the password in any order).
    struct Options: Equatable {
        var help = false
        var promptPassword = false
        var promptKey = false
        var updatePasswd = false
        var configFile = "/etc/pgpool2/pgpool.conf"
        var inputFile: String?
        var user: String?
        var key: String?
        var keyFile: String?
        var password: String?

        struct UsageError: Error, Equatable, CustomStringConvertible { var description: String }

        private static let long: [String: Character] = [
            "help": "h", "prompt": "p", "prompt-for-key": "P", "update-pass": "m", "username": "u",
            "enc-key": "K", "key-file": "k", "config-file": "f", "input-file": "i",
        ]
        private static let takesValue: Set<Character> = ["f", "i", "u", "k", "K"]

        static func parse(_ arguments: [String]) throws(UsageError) -> Options {
            var o = Options()
            var positional: [String] = []
            var i = 0
            func set(_ c: Character, _ value: String?) throws(UsageError) {
                switch c {
                case "h": o.help = true
                case "p": o.promptPassword = true
                case "P": o.promptKey = true
                case "m": o.updatePasswd = true
                case "f": o.configFile = value!
                case "i": o.inputFile = value!
                case "u": o.user = value!
                case "k": o.keyFile = value!
                case "K": o.key = value!
                default: throw UsageError(description: "invalid option -- '\(c)'")
                }
            }
            while i < arguments.count {
                let a = arguments[i]
                i += 1
                if a == "--" { positional += arguments[i...]; break }
                if a.hasPrefix("--") {
                    let body = a.dropFirst(2)
                    let name = String(body.prefix { $0 != "=" })
                    guard let c = long[name] else { throw UsageError(description: "unrecognized option '\(a)'") }
                    var value: String? = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
                    if takesValue.contains(c), value == nil {
                        guard i < arguments.count else { throw UsageError(description: "option '--\(name)' requires an argument") }
                        value = arguments[i]
                        i += 1
                    }
                    try set(c, value)
                } else if a.hasPrefix("-"), a.count > 1 {
                    var rest = Substring(a.dropFirst())
                    while let c = rest.first {
                        rest = rest.dropFirst()
                        guard takesValue.contains(c) else { try set(c, nil); continue }
                        if rest.isEmpty {
                            guard i < arguments.count else { throw UsageError(description: "option requires an argument -- '\(c)'") }
                            try set(c, arguments[i])
                            i += 1
                        } else {
                            try set(c, String(rest))
                        }
                        break
                    }
                } else {
                    positional.append(a)
                }
            }
            o.password = positional.first
            return o
        }
    }

    /// Runs the command; the exit status.
    static func run(_ arguments: [String]) -> Int32 {
        let options: Options
        do { options = try Options.parse(arguments) } catch {
            FileHandle.standardError.write(Data("poold enc: \(error)\n\n\(usage)".utf8))
            return 1
        }
        if options.help { print(usage, terminator: ""); return 0 }
        do {
            try execute(options)
            return 0
        } catch let e as Failure {
            FileHandle.standardError.write(Data("\(e.message)\n".utf8))
            return 1
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            return 1
        }
    }

    struct Failure: Error { var message: String }

    private static func execute(_ o: Options) throws {
        var password = ""
        if o.inputFile == nil {
            if o.promptPassword || o.password == nil {
                password = try prompt("db password: ")
            } else {
                password = o.password!
            }
        }
        let key = try poolKey(o)
        if let input = o.inputFile {
            print("trying to read username:password pairs from file \(input)")
            guard let text = ConfigFiles.read(input) else { throw Failure(message: "failed to open input_file \"\(input)\"\n") }
            var n = 0
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                n += 1
                guard !line.isEmpty else { continue }
                guard let colon = line.firstIndex(of: ":"), line.index(after: colon) < line.endIndex else {
                    FileHandle.standardError.write(Data(String(format: "LINE#%02d: invalid username:password pair\n", n).utf8))
                    continue
                }
                let user = String(line[..<colon]), pw = String(line[line.index(after: colon)...])
                if o.updatePasswd { try update(o, user: user, password: pw, key: key) } else { printEncrypted(pw, key: key) }
            }
            return
        }
        if o.updatePasswd { try update(o, user: o.user, password: password, key: key) } else { printEncrypted(password, key: key) }
    }

    /// pg_enc's order: -P (prompt) over -K over the key file (-k, $PGPOOLKEYFILE, ~/.pgpoolkey).
    private static func poolKey(_ o: Options) throws -> PoolKey {
        if o.promptKey {
            let k = try prompt("encryption key: ")
            guard !k.isEmpty else { throw Failure(message: "encryption key not provided") }
            return PoolKey(k)
        }
        if let k = o.key, !k.isEmpty { return PoolKey(k) }
        guard let path = PoolKeyFile.path(option: o.keyFile) else { throw Failure(message: "encryption key not provided") }
        print("trying to read key from file \(path)")
        switch SecretFile.read(path, what: "pool key file") {
        case .text(let t):
            guard let key = PoolKey(keyFileText: t) else { throw Failure(message: "encryption key not provided") }
            return key
        case .refused(let reason): throw Failure(message: reason)
        case .missing: throw Failure(message: "encryption key not provided")
        }
    }

    /// pg_enc's output: a blank line, the base64, then the pool_passwd form.
    private static func printEncrypted(_ password: String, key: PoolKey) {
        let aes = AESPassword.encrypt(password, key: key)
        print("\n\(aes.dropFirst(AESPassword.prefix.count))")
        print("pool_passwd string: \(aes)")
    }

    /// `-m`: writes `user:AES…` into the pool_passwd that pgpool.conf names (relative to its directory); the user
    /// defaults to the one running the command, as in pg_enc.
    private static func update(_ o: Options, user: String?, password: String, key: PoolKey) throws {
        let (loaded, diagnostics) = ConfigFiles.loadConfiguration(configFile: o.configFile)
        guard let config = loaded, !diagnostics.contains(where: { $0.severity == .error }) else {
            throw Failure(message: diagnostics.map(\.description).joined(separator: "\n") + "\nUnable to get configuration. Exiting...")
        }
        let file = config.path(config.string("pool_passwd"))
        guard !file.isEmpty else { throw Failure(message: "pool_passwd is '' in \(o.configFile): there is no file to update") }
        guard !password.isEmpty else { throw Failure(message: "error updating password, invalid password length:0") }
        var name = user ?? ""
        if name.isEmpty {
            guard let pw = getpwuid(getuid()) else { throw Failure(message: "getpwuid() failed") }
            name = String(cString: pw.pointee.pw_name)
        }
        let old = ConfigFiles.read(file) ?? ""
        try SecretFile.write(file, text: PoolPasswd.updating(old, user: name, secret: AESPassword.encrypt(password, key: key)))
    }

    /// A line from standard input, with echo off on a terminal (pg_enc's prompt, which wants a terminal).
    private static func prompt(_ text: String) throws -> String {
        print(text, terminator: "")
        fflush(nil)  // every stream: `stdout` itself is not concurrency-safe to name
        let tty = isatty(0) == 1
        var saved = termios()
        if tty {
            tcgetattr(0, &saved)
            var t = saved
            t.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSANOW, &t)
        }
        defer {
            if tty { tcsetattr(0, TCSANOW, &saved) }
            print("")
        }
        guard let line = readLine(strippingNewline: true) else {
            throw Failure(message: "Couldn't read input from stdin.")
        }
        return line
    }

    static let usage = """
        poold enc \(PooldVersion.version): password encryption utility (Pgpool-II's pg_enc)

        Usage:
          poold enc [OPTIONS] <PASSWORD>
          -k, --key-file=KEY_FILE
                               Set the path to the encryption key file.
                               Default: ~/.pgpoolkey
                               Can be overridden by the PGPOOLKEYFILE environment variable.
          -K, --enc-key=ENCRYPTION_KEY
                               Encryption key to be used for encrypting database passwords.
          -f, --config-file=CONFIG_FILE
                               Specifies the pgpool.conf file.
          -i, --input-file=INPUT-FILE
                               Specify file containing username and password pairs.
          -p, --prompt         Prompt for database password using standard input.
          -P, --prompt-for-key Prompt for encryption key using standard input.
          -m, --update-pass    Create encrypted password entry in the pool_passwd file.
          -u, --username       The username for the pool_password entry.
          -h, --help           Print this help.

        """
}
