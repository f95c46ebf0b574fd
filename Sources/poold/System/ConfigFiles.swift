import Foundation
import Shared

/// Reads pgpool.conf, pool_passwd and pool_hba.conf from disk into the pure parsers.
enum ConfigFiles {
    struct Loaded {
        var configuration: PoolConfiguration
        var auth: Runtime.AuthFiles
        var diagnostics: [Diagnostic]
        var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    }

    static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// pcp.conf (`pcp_file`, relative to pgpool.conf's directory).
    static func pcpPath(_ config: PoolConfiguration) -> String { config.path(config.string("pcp_file")) }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// pgpool.conf alone (and its includes): for the commands that only need settings (stop, reload, passwd, enc).
    /// The configuration is nil when the file cannot be read.
    static func loadConfiguration(configFile: String) -> (configuration: PoolConfiguration?, diagnostics: [Diagnostic]) {
        let file = absolute(configFile)
        guard let text = read(file) else {
            return (nil, [Diagnostic(.error, file: file, line: 0, "could not open configuration file")])
        }
        let result = ConfigLoader.load(text: text, file: file) { path, from in
            let dir = (from as NSString).deletingLastPathComponent
            let resolved = path.hasPrefix("/") ? path : dir + "/" + path
            return read(resolved).map { (resolved, $0) }
        }
        return (result.configuration, result.diagnostics)
    }

    /// Everything poold serves with: pgpool.conf, pool_passwd (its `AES…` entries decrypted with `poolKey`),
    /// pool_hba.conf and pcp.conf. pool_passwd and pcp.conf are refused (an error) when group or others can read them.
    static func load(configFile: String, hbaFile: String?, poolKey: PoolKey? = nil) -> Loaded {
        let file = absolute(configFile)
        let (loaded, configDiagnostics) = loadConfiguration(configFile: configFile)
        var diagnostics = configDiagnostics
        guard let config = loaded else {
            return Loaded(configuration: .defaults(), auth: .init(passwd: PoolPasswd(key: poolKey), hba: nil), diagnostics: diagnostics)
        }
        var passwd = PoolPasswd(key: poolKey)
        let passwdName = config.string("pool_passwd")
        if !passwdName.isEmpty {
            let p = config.path(passwdName)
            switch SecretFile.read(p, what: "pool_passwd file") {
            case .text(let t):
                passwd = PoolPasswd.parse(t, file: p, key: poolKey)
                diagnostics += passwd.diagnostics
            case .refused(let reason):
                diagnostics.append(Diagnostic(.error, file: p, line: 0, parameter: "pool_passwd", reason))
            case .missing:
                break
            }
        }
        diagnostics += PasswordSettings.diagnostics(config, key: poolKey, file: file)
        var hba: PoolHBA? = nil
        let hbaPath = hbaFile.map(absolute) ?? config.path(config.string("pool_hba_file"))
        if let t = read(hbaPath) {
            let parsed = PoolHBA.parse(t, file: hbaPath)
            diagnostics += parsed.diagnostics
            hba = parsed
        } else if config.enablePoolHBA {
            diagnostics.append(Diagnostic(.error, file: file, line: 0, parameter: "enable_pool_hba",
                                          "enable_pool_hba is on but \(hbaPath) cannot be read"))
        }
        var pcp = PCPUsers()
        switch SecretFile.read(pcpPath(config), what: "pcp.conf file") {
        case .text(let t): pcp = PCPUsers.parse(t)
        case .refused(let reason): diagnostics.append(Diagnostic(.error, file: pcpPath(config), line: 0, parameter: "pcp_file", reason))
        case .missing: break
        }
        return Loaded(configuration: config, auth: .init(passwd: passwd, hba: hba, pcp: pcp), diagnostics: diagnostics)
    }
}
