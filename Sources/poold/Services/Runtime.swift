import Foundation
import Logging
import NIOCore
import Shared
import Synchronization

/// Statement and error counters per node (select_cnt, SHOW pool_backend_stats), one shard per event loop so
/// that counting a statement takes a lock no other core touches (uncontended); a read sums the shards.
final class NodeStatistics: Sendable {
    /// One heap object per shard, padded, so two loops' locks never share a cache line.
    private final class Shard: Sendable {
        let counters = Mutex<[Int: NodeCounters]>([:])
        let padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    }
    private let shards: [Shard]

    init(shards: Int = 1) { self.shards = (0..<max(1, shards)).map { _ in Shard() } }

    func count(shard: Int = 0, node: Int, _ category: StatementCategory, _ n: Int = 1) {
        shards[shard % shards.count].counters.withLock { $0[node, default: NodeCounters()].count(category, n) }
    }
    func countError(node: Int, severity: String) {
        shards[0].counters.withLock { $0[node, default: NodeCounters()].countError(severity: severity) }
    }
    var snapshot: [Int: NodeCounters] {
        var sum: [Int: NodeCounters] = [:]
        for shard in shards { for (node, c) in shard.counters.withLock({ $0 }) { sum[node, default: NodeCounters()].add(c) } }
        return sum
    }
}

/// A session's entry for SHOW pool_processes / pool_pools; `status` is updated by the session's loop only
/// when it changes, and read by whichever loop answers the SHOW.
final class SessionActivity: Sendable {
    /// SHOW pool_processes' status words.
    enum Status: UInt8 {
        case idle, idleInTransaction, executing
        var text: String { ["Idle", "Idle in transaction", "Execute command"][Int(rawValue)] }
    }

    let id: Int
    let startTime: Date
    let database: String
    let user: String
    /// Changes twice per statement: an atomic store, not a lock, on the hot path.
    private let status = Atomic<UInt8>(Status.idle.rawValue)
    private let state = Mutex<(loadBalanceNode: Int?, backends: [SessionRow.Backend], pin: String)>((nil, [], ""))

    init(id: Int, database: String, user: String) {
        self.id = id
        self.startTime = Date()
        self.database = database
        self.user = user
    }

    func set(_ s: Status) { status.store(s.rawValue, ordering: .relaxed) }

    func update(loadBalanceNode: Int?? = nil, backends: [SessionRow.Backend]? = nil, pin: String? = nil) {
        state.withLock { s in
            if let loadBalanceNode { s.loadBalanceNode = loadBalanceNode }
            if let backends { s.backends = backends }
            if let pin { s.pin = pin }
        }
    }

    func row(_ format: (Date) -> String) -> SessionRow {
        let s = state.withLock { $0 }
        let current = Status(rawValue: status.load(ordering: .relaxed)) ?? .idle
        return SessionRow(id: id, startTime: format(startTime), database: database, user: user, status: current.text,
                          loadBalanceNode: s.loadBalanceNode, backends: s.backends, pin: s.pin)
    }
}

/// Where a cancel must go: the backend's address and its own key.
struct CancelTarget: Sendable {
    var host: String
    var port: Int
    var key: BackendKey
}

/// State shared by every session, across event loops: the current configuration and auth files,
/// the session limit, the cancel-key registry and the SCRAM key cache. Each piece sits behind a Mutex;
/// decisions are made under the lock and carried out after it.
final class Runtime: Sendable {
    struct AuthFiles: Sendable {
        var passwd: PoolPasswd
        var hba: PoolHBA?
        /// pcp.conf's users (empty when the file is missing: every PCP login fails).
        var pcp = PCPUsers()
    }

    let logger: Logger
    private let configState: Mutex<ConfigSnapshot>
    private let authState: Mutex<AuthFiles>
    private let admission: Mutex<AdmissionControl>
    private let cancelKeys = Mutex<[BackendKey: CancelTargets]>([:])
    /// Shard 0 for errors and the control plane, 1… for the event loops (`BackendPool.shard`).
    let statistics = NodeStatistics(shards: 65)
    private let catalogState: Mutex<CatalogCache>
    private let routingState: Mutex<RoutingSettings>
    /// Standbys beyond delay_threshold at the last replication check.
    private let laggingState = Mutex<Set<Int>>([])
    /// The highest replay position seen per standby (read-your-writes probes), shared by all sessions.
    private let replayState = Mutex<[Int: LSN]>([:])

    func knownReplay(node: Int) -> LSN? { replayState.withLock { $0[node] } }
    func noteReplay(node: Int, _ lsn: LSN) { replayState.withLock { $0[node] = max($0[node] ?? lsn, lsn) } }
    private let activities = Mutex<[Int: SessionActivity]>([:])
    let clusterState: Mutex<ClusterState>
    let healthState = Mutex<[Int: HealthCheckStats]>([:])
    let subscribers = Mutex<[Int: AsyncStream<String>.Continuation]>([:])
    /// The watchdog member's latest view of its cluster (nil without `use_watchdog`).
    let watchdogReport = Mutex<WatchdogReport?>(nil)
    let watchdogHooks = Mutex<WatchdogHooks?>(nil)
    /// Set by the watchdog's lifecheck while it runs: an external agent's report that member N is alive (true) or
    /// dead (the admin socket's `watchdog_lifecheck`).
    let watchdogLifecheck = Mutex<(@Sendable (Int, Bool, @escaping @Sendable (AdminResult) -> Void) -> Void)?>(nil)
    /// Set by the proxy server: tells every session that a node was detached.
    let detachHandler = Mutex<(@Sendable (Int) -> Void)?>(nil)
    /// Set when the primary search found only standbys among the nodes that are up: what new sessions are told.
    let primaryAbsence = Mutex<ProxyError?>(nil)
    private let standbyPrimaryLogged = Mutex<Set<Int>>([])

    /// A session found that the node used as the primary is a standby (in_hot_standby): logged loudly once
    /// per node.
    func primaryIsStandby(_ node: Int) {
        let first = standbyPrimaryLogged.withLock { $0.insert(node).inserted }
        if first {
            logger.error("the node used as the primary is a standby; sessions get an error until a primary is found",
                         metadata: ["event": "primary.none", "node_id": "\(node)",
                                    "hint": "attach the real primary (poolconsole attach N), or restart poold with -D if pgpool_status is stale"])
        }
    }
    /// Set by the proxy server: closes the idle cached connections to a database on every loop.
    let databaseReleaser = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// DROP DATABASE / ALTER DATABASE … RENAME / CREATE DATABASE … TEMPLATE of `name` is about to run:
    /// poold's idle connections to it must not be the "other users" that make it fail.
    func releaseDatabase(_ name: String) {
        releasedDatabases.withLock { $0[name] = NIODeadline.now() + .seconds(10) }
        databaseReleaser.withLock { $0 }?(name)
    }

    /// Databases released in the last 10 s: a connection to one of them that finishes its reset now is
    /// closed instead of pooled (it was still leased or resetting when the pools were swept, and PostgreSQL
    /// waits a few seconds for it to go).
    private let releasedDatabases = Mutex<[String: NIODeadline]>([:])

    func isBeingReleased(_ database: String) -> Bool {
        releasedDatabases.withLock { marks in
            guard !marks.isEmpty else { return false }
            let now = NIODeadline.now()
            marks = marks.filter { $0.value > now }
            return marks[database] != nil
        }
    }
    /// Cluster requests (failover, attach, detach, promote, recover), executed one at a time by ClusterService.
    let requests: AsyncStream<ClusterRequest>
    let requestSink: AsyncStream<ClusterRequest>.Continuation
    private let scramCache = Mutex<[String: ClientAuthStateMachine.ScramKeys]>([:])
    private let backendKeyCache = Mutex<[String: [UInt8]]>([:])
    private let waiters = Mutex<[Int: @Sendable () -> Void]>([:])
    private let replicationState = Mutex<[Int: StandbyReplication]>([:])
    private let nextID = Atomic<Int>(1)
    let startTime = Date()
    /// Per-process salt for SCRAM challenges to clients (PostgreSQL keeps one per role; so do we, per run).
    private let scramSalt: [UInt8]

    private let tlsState: Mutex<TLSContexts>
    /// The TLS contexts of the last load that had readable certificates.
    var tls: TLSContexts { tlsState.withLock { $0 } }

    init(config: PoolConfiguration, auth: AuthFiles, logger: Logger, statusFile: [NodeStatus]? = nil,
         tls: TLSContexts = .disabled) {
        self.tlsState = Mutex(tls)
        (requests, requestSink) = AsyncStream.makeStream(of: ClusterRequest.self)
        var cluster = ClusterState(nodeIDs: config.backends.map(\.id), now: Date().timeIntervalSince1970, statusFile: statusFile)
        // Until the primary search answers: an ALWAYS_PRIMARY node, else the lowest usable id.
        let initial = config.backends.first(where: { $0.flags.contains(.alwaysPrimary) })?.id ?? cluster.usableNodes.min()
        cluster.setPrimary(initial, now: Date().timeIntervalSince1970)
        self.clusterState = Mutex(cluster)
        self.configState = Mutex(ConfigSnapshot(config))
        self.authState = Mutex(auth)
        self.admission = Mutex(AdmissionControl(limit: config.numInitChildren, reserved: config.reservedConnections))
        let routing = RoutingSettings(config)
        self.routingState = Mutex(routing)
        self.catalogState = Mutex(Runtime.catalog(for: routing))
        self.logger = logger
        self.scramSalt = SecureRandom.bytes(16)
    }

    var config: PoolConfiguration { configState.withLock { $0.value } }
    /// The current configuration by reference, for sessions to keep.
    var configSnapshot: ConfigSnapshot { configState.withLock { $0 } }

    /// The last streaming-replication check's result per standby node.
    var replication: [Int: StandbyReplication] {
        get { replicationState.withLock { $0 } }
        set { replicationState.withLock { $0 = newValue } }
    }
    var auth: AuthFiles { authState.withLock { $0 } }

    func replace(config: PoolConfiguration, auth: AuthFiles, tls: TLSContexts) {
        configState.withLock { $0 = ConfigSnapshot(config) }
        tlsState.withLock { $0 = tls }
        let routing = RoutingSettings(config)
        routingState.withLock { $0 = routing }
        catalogState.withLock { $0 = Runtime.catalog(for: routing) }
        authState.withLock { $0 = auth }
        scramCache.withLock { $0.removeAll() }
    }

    func makeID() -> Int { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    // MARK: - Admission (num_init_children)

    func arrive(id: Int, resume: @escaping @Sendable () -> Void) -> AdmissionControl.Decision {
        let d = admission.withLock { $0.arrive(id) }
        if d == .queued { waiters.withLock { $0[id] = resume } }
        return d
    }

    func leave() { resume(admission.withLock { $0.leave() }) }

    /// A queued session admitted by `leave` takes its slot (on its own loop).
    func claimAdmission(id: Int) { _ = admission.withLock { $0.claim(id) } }

    /// A session that never took a slot went away; a slot it was handed goes to the next waiter.
    func abandon(id: Int) {
        let next = admission.withLock { $0.abandon(id) }
        waiters.withLock { _ = $0.removeValue(forKey: id) }
        resume(next)
    }

    private func resume(_ next: Int?) {
        guard let next else { return }
        let resume = waiters.withLock { $0.removeValue(forKey: next) }
        resume?()
    }

    // MARK: - Cancel keys

    /// A cancel for `key` goes to every backend the session uses (the primary and its load-balance node).
    func register(_ key: BackendKey, targets: CancelTargets) { cancelKeys.withLock { $0[key] = targets } }
    func unregister(_ key: BackendKey) { cancelKeys.withLock { _ = $0.removeValue(forKey: key) } }
    func cancelTargets(for key: BackendKey) -> [CancelTarget] { cancelKeys.withLock { $0[key] }?.current ?? [] }

    // MARK: - Routing

    var routing: RoutingSettings { routingState.withLock { $0 } }

    private static func catalog(for r: RoutingSettings) -> CatalogCache {
        CatalogCache(functions: WritingFunctions(writeList: r.writeFunctions, readOnlyList: r.readOnlyFunctions),
                     lookUpRelations: r.lookUpRelations)
    }

    func catalogFacts(_ c: Classification) -> CatalogFacts { catalogState.withLock { $0.facts(c) } }
    func claimLookups(functions: [String], relations: [String]) -> (functions: [String], relations: [String]) {
        catalogState.withLock { $0.claim(functions: functions, relations: relations) }
    }
    func learn(functions: [String], relations: [String], rows: [[String?]], failed: Bool) {
        catalogState.withLock { cache in
            let fn = Set(functions)
            cache.learnFunctions(functions, rows: rows.filter { ($0.first ?? nil).map(fn.contains) ?? false }, failed: failed)
            let rel = Set(relations)
            cache.learnRelations(relations, rows: rows.filter { ($0.first ?? nil).map(rel.contains) ?? false }, failed: failed)
        }
    }

    var laggingNodes: Set<Int> {
        get { laggingState.withLock { $0 } }
        set { laggingState.withLock { $0 = newValue } }
    }
    func isLagging(_ node: Int) -> Bool { laggingState.withLock { $0.contains(node) } }

    // MARK: - Sessions (SHOW pool_processes / pool_pools)

    func register(_ activity: SessionActivity) { activities.withLock { $0[activity.id] = activity } }
    func unregister(activity id: Int) { activities.withLock { _ = $0.removeValue(forKey: id) } }
    var sessionActivities: [SessionActivity] { activities.withLock { Array($0.values) } }

    // MARK: - SCRAM keys

    func scramKeys(user: String, password: String) -> ClientAuthStateMachine.ScramKeys {
        let cacheKey = user + "\u{0}" + password
        if let k = scramCache.withLock({ $0[cacheKey] }) { return k }
        let salted = SCRAM.saltedPassword(password: password, salt: scramSalt, iterations: SCRAM.defaultIterations)
        let keys = ClientAuthStateMachine.ScramKeys(salt: scramSalt, iterations: SCRAM.defaultIterations, saltedPassword: salted)
        scramCache.withLock { $0[cacheKey] = keys }
        return keys
    }

    /// SCRAM derivation towards backends, cached by (password, salt, iterations): a backend's salt is fixed per role.
    func backendSaltedPassword(password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        let cacheKey = password + "\u{0}" + Base64.encode(salt) + "\u{0}\(iterations)"
        if let k = backendKeyCache.withLock({ $0[cacheKey] }) { return k }
        let v = SCRAM.saltedPassword(password: password, salt: salt, iterations: iterations)
        backendKeyCache.withLock { $0[cacheKey] = v }
        return v
    }
}

extension Runtime {
    /// The node writes go to, as the cluster service last decided (nil during a primary failover).
    var primaryNode: BackendConfig? {
        guard let p = cluster.primary else { return nil }
        return config.backends.first { $0.id == p }
    }
}
