import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared
import UnixSignals

/// `poold`: the daemon and its pgpool-style control commands.
@main
struct PooldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poold",
        abstract: "PostgreSQL connection pooler and router that reads pgpool.conf.",
        discussion: """
            poold -f pgpool.conf [-n]         start (in the background unless -n)
            poold -f pgpool.conf -m fast stop stop (smart: wait for clients, fast: close them, immediate)
            poold -f pgpool.conf reload       re-read the configuration (like SIGHUP)
            poold -f pgpool.conf --check      validate and print the effective settings
            poold passwd -u USER -p PASS      add USER to pool_passwd (md5, or TEXT with --text for SCRAM)
            poold md5 PASSWORD                print the md5 hash for pcp.conf (like pg_md5)
            poold enc [-m] [-u USER] PASS     AES-encrypt a password with the pool key (like pg_enc; poold enc -h)
            """,
        version: PooldVersion.version)

    @Option(name: [.customShort("f"), .customLong("config-file")], help: "pgpool.conf to read.")
    var configFile = "/etc/pgpool2/pgpool.conf"

    @Option(name: [.customShort("a"), .customLong("hba-file")], help: "pool_hba.conf (default: pool_hba_file).")
    var hbaFile: String?

    @Option(name: [.customShort("k"), .customLong("key-file")],
            help: "Pool key file for AES pool_passwd entries (default: $PGPOOLKEYFILE, else ~/.pgpoolkey).")
    var keyFile: String?

    @Flag(name: [.customShort("n"), .customLong("dont-detach")], help: "Stay in the foreground.")
    var foreground = false

    @Flag(name: [.customShort("D"), .customLong("discard-status")], help: "Discard pgpool_status: every node starts up.")
    var discardStatus = false

    @Option(name: [.customShort("m"), .customLong("mode")], help: "Shutdown mode for 'stop': smart, fast or immediate.")
    var mode = "smart"

    @Flag(help: "Validate the configuration, print the effective settings and exit.")
    var check = false

    @Flag(help: "Print the settings reference (Markdown) generated from the settings table.")
    var describeConfig = false

    @Flag(help: "Print a sample pgpool.conf generated from the settings table.")
    var sample = false

    @Option(name: [.customShort("u"), .customLong("user")], help: "User name for 'passwd'.")
    var user: String?

    @Option(name: [.customShort("p"), .customLong("password")], help: "Password for 'passwd' (default: read stdin).")
    var password: String?

    @Flag(help: "With 'passwd': store the password as TEXT (needed for scram-sha-256).")
    var text = false

    @Argument(help: "start (default), stop, reload, passwd, md5, enc.")
    var command: [String] = []

    /// `poold enc` takes pg_enc's options, whose letters clash with the daemon's (-m, -p, -k), so it is parsed
    /// on its own before ArgumentParser sees the command line.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "enc" { Foundation.exit(EncCommand.run(Array(arguments.dropFirst()))) }
        await main(arguments)
    }

    func run() async throws {
        if describeConfig { print(SettingsDocumentation.reference(), terminator: ""); return }
        if sample { print(SettingsDocumentation.sampleFile(), terminator: ""); return }
        switch command.first ?? "start" {
        case "md5":
            guard command.count == 2 else { throw ValidationError("usage: poold md5 PASSWORD") }
            print(MD5Password.hex(Array(command[1].utf8)))
        case "passwd":
            try writePasswd()
        case "stop":
            try signalRunning(mode: mode)
        case "reload":
            try signalRunning(signal: SIGHUP)
        case "start":
            try await start()
        case "vip-guard":
            // Started by the watchdog itself (VIPGuard), not by operators.
            guard command.count == 2 else { throw ValidationError("usage: poold vip-guard IF_DOWN_COMMAND") }
            VIPGuard.runGuard(downCommand: command[1])
        default:
            throw ValidationError("unknown command \"\(command[0])\"")
        }
    }

    private func loadOrExit() throws -> (ConfigFiles.Loaded, PoolKeyFile.Loaded) {
        let key = PoolKeyFile.load(option: keyFile)
        let loaded = ConfigFiles.load(configFile: configFile, hbaFile: hbaFile, poolKey: key.key)
        let diagnostics = key.diagnostics + loaded.diagnostics
        for d in diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
        if diagnostics.contains(where: { $0.severity == .error }) {
            FileHandle.standardError.write(Data("poold: configuration has errors; not starting\n".utf8))
            throw ExitCode(2)
        }
        return (loaded, key)
    }

    /// pgpool.conf alone, for the commands that signal the daemon or edit pool_passwd.
    private func configurationOrExit() throws -> PoolConfiguration {
        let (config, diagnostics) = ConfigFiles.loadConfiguration(configFile: configFile)
        for d in diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
        guard let config, !diagnostics.contains(where: { $0.severity == .error }) else {
            FileHandle.standardError.write(Data("poold: configuration has errors\n".utf8))
            throw ExitCode(2)
        }
        return config
    }

    private func start() async throws {
        let (loaded, key) = try loadOrExit()
        let config = loaded.configuration
        let tls: TLSContexts
        do { tls = try TLSContexts(settings: config.tls) } catch {
            FileHandle.standardError.write(Data("poold: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if check {
            print(config.effectiveSettingsText(), terminator: "")
            return
        }
        guard !config.backends.isEmpty else {
            FileHandle.standardError.write(Data("poold: no backend_hostnameN is configured\n".utf8))
            throw ExitCode(2)
        }
        if !foreground { try Daemon.detach(arguments: CommandLine.arguments, logdir: config.string("logdir")); return }

        let level = Daemon.logLevel(config.string("log_min_messages"))
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "poold")
        if key.key != nil, let path = key.path { logger.info("pool key read", metadata: ["file": "\(path)"]) }
        Daemon.raiseFileLimit()
        let logdir = config.string("logdir").isEmpty ? "/tmp" : config.string("logdir")
        let statusPath = logdir + "/pgpool_status"
        if discardStatus { try? FileManager.default.removeItem(atPath: statusPath) }
        let saved = ConfigFiles.read(statusPath).flatMap(ClusterState.parseStatusFile)
        if let saved { logger.info("node status read from pgpool_status", metadata: ["status": "\(saved.map(\.rawValue))"]) }
        let runtime = Runtime(config: config, auth: loaded.auth, logger: logger, statusFile: saved, tls: tls)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.int("io_threads") > 0 ? config.int("io_threads") : System.coreCount)
        let server = ProxyServer(runtime: runtime, group: group, logger: logger)
        do {
            try await server.bind()
        } catch {
            logger.error("cannot listen", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        let pidFile = config.path(config.string("pid_file_name"))
        try Daemon.writePIDFile(pidFile)
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        logger.notice("poold \(PooldVersion.version) started", metadata: [
            "backends": "\(config.backends.count)", "pid": "\(getpid())"])

        let signals = SignalService(server: server, runtime: runtime, configFile: configFile, hbaFile: hbaFile,
                                    poolKey: key.key, logger: logger)
        // The watchdog starts first and stops last: its VIP comes down after the proxy stopped serving.
        let watchdog: [ServiceGroupConfiguration.ServiceConfiguration] = config.watchdog.map {
            [.init(service: WatchdogService(runtime: runtime, configuration: $0, eventLoop: group.next(), logger: logger))]
        } ?? config.etcdCoordination.map {
            [.init(service: EtcdCoordinatorService(runtime: runtime, configuration: $0, eventLoop: group.next(), logger: logger))]
        } ?? []
        let group2 = ServiceGroup(configuration: .init(
            services: watchdog + [
                .init(service: ClusterService(runtime: runtime, eventLoop: group.next(), logger: logger)),
                .init(service: HealthCheckService(runtime: runtime, eventLoop: group.next(), logger: logger)),
                .init(service: ReplicationCheckService(runtime: runtime, eventLoop: group.next(), logger: logger)),
                .init(service: server),
                .init(service: AdminServer(runtime: runtime, server: server, eventLoop: group.next(), logger: logger)),
                .init(service: PCPServer(runtime: runtime, group: group, logger: logger)),
                .init(service: signals, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm],
            cancellationSignals: [.sigquit],
            logger: logger))
        try await group2.run()
        logger.notice("poold stopped")
        try? await group.shutdownGracefully()
    }

    private func writePasswd() throws {
        guard let user, !user.isEmpty else { throw ValidationError("passwd needs -u USER") }
        let pw = password ?? readLine(strippingNewline: true) ?? ""
        let config = try configurationOrExit()
        let file = config.path(config.string("pool_passwd"))
        guard !file.isEmpty else { throw ValidationError("pool_passwd is '' in \(configFile): there is no file to write") }
        let secret = PoolPasswd.storedSecret(user: user, password: pw, clearText: text)
        try SecretFile.write(file, text: PoolPasswd.updating(ConfigFiles.read(file) ?? "", user: user, secret: secret))
        print("\(file): entry for \(user) written")
    }

    private func signalRunning(mode: String) throws {
        let sig: Int32
        switch mode {
        case "s", "smart": sig = SIGTERM
        case "f", "fast": sig = SIGINT
        case "i", "immediate": sig = SIGQUIT
        default: throw ValidationError("unknown shutdown mode \"\(mode)\" (smart, fast, immediate)")
        }
        try signalRunning(signal: sig, wait: true)
    }

    private func signalRunning(signal sig: Int32, wait: Bool = false) throws {
        let config = try configurationOrExit()
        let pidFile = config.path(config.string("pid_file_name"))
        guard let text = ConfigFiles.read(pidFile), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            FileHandle.standardError.write(Data("poold: could not read pid file \(pidFile)\n".utf8))
            throw ExitCode(1)
        }
        guard kill(pid, sig) == 0 else {
            FileHandle.standardError.write(Data("poold: could not signal process \(pid)\n".utf8))
            throw ExitCode(1)
        }
        guard wait else { return }
        FileHandle.standardError.write(Data("poold: waiting for process \(pid) to stop".utf8))
        while kill(pid, 0) == 0 { usleep(100_000) }
        FileHandle.standardError.write(Data(" done\n".utf8))
    }
}

/// SIGINT (fast shutdown: close every client, then stop) and SIGHUP (reload).
struct SignalService: Service {
    let server: ProxyServer
    let runtime: Runtime
    let configFile: String
    let hbaFile: String?
    /// The pool key read at start: a reload decrypts the re-read pool_passwd with it.
    let poolKey: PoolKey?
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sighup)
        for await signal in signals.cancelOnGracefulShutdown() {
            if signal == .sigint {
                logger.notice("fast shutdown requested")
                server.stopAccepting()
                server.closeAllSessions()
                return
            }
            reload()
        }
    }

    private func reload() {
        let loaded = ConfigFiles.load(configFile: configFile, hbaFile: hbaFile, poolKey: poolKey)
        for d in loaded.diagnostics { logger.warning("\(d.description)") }
        guard !loaded.hasErrors else {
            logger.warning("reload: configuration has errors; keeping the current settings")
            return
        }
        let old = runtime.config
        var new = loaded.configuration
        for d in Settings.all where d.context == .restart && d.indexed == .no {
            if old.values[d.name] != new.values[d.name] {
                logger.warning("reload: \"\(d.name)\" changed; the change takes effect after a restart")
                new.values[d.name] = old.values[d.name]
            }
        }
        var tls = runtime.tls
        do { tls = try TLSContexts(settings: new.tls) } catch {
            logger.warning("reload: TLS settings not applied; new connections keep the previous certificates",
                           metadata: ["error": "\(error)"])
        }
        runtime.replace(config: new, auth: loaded.auth, tls: tls)
        logger.info("configuration reloaded")
    }
}
