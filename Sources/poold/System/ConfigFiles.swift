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

    static func load(configFile: String, hbaFile: String?) -> Loaded {
        let file = absolute(configFile)
        guard let text = read(file) else {
            let d = Diagnostic(.error, file: file, line: 0, "could not open configuration file")
            return Loaded(configuration: .defaults(), auth: .init(passwd: PoolPasswd(), hba: nil), diagnostics: [d])
        }
        let result = ConfigLoader.load(text: text, file: file) { path, from in
            let dir = (from as NSString).deletingLastPathComponent
            let resolved = path.hasPrefix("/") ? path : dir + "/" + path
            return read(resolved).map { (resolved, $0) }
        }
        var diagnostics = result.diagnostics
        let config = result.configuration
        var passwd = PoolPasswd()
        let passwdName = config.string("pool_passwd")
        if !passwdName.isEmpty {
            let p = config.path(passwdName)
            if let t = read(p) {
                passwd = PoolPasswd.parse(t, file: p)
                diagnostics += passwd.diagnostics
            }
        }
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
        let pcp = read(pcpPath(config)).map(PCPUsers.parse) ?? PCPUsers()
        return Loaded(configuration: config, auth: .init(passwd: passwd, hba: hba, pcp: pcp), diagnostics: diagnostics)
    }
}
