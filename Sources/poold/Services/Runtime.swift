import Foundation
import Logging
import NIOCore
import Shared
import Synchronization

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
    }

    let logger: Logger
    private let configState: Mutex<PoolConfiguration>
    private let authState: Mutex<AuthFiles>
    private let admission: Mutex<AdmissionControl>
    private let cancelKeys = Mutex<[BackendKey: CancelTarget]>([:])
    private let scramCache = Mutex<[String: ClientAuthStateMachine.ScramKeys]>([:])
    private let backendKeyCache = Mutex<[String: [UInt8]]>([:])
    private let waiters = Mutex<[Int: @Sendable () -> Void]>([:])
    private let replicationState = Mutex<[Int: StandbyReplication]>([:])
    private let nextID = Atomic<Int>(1)
    let startTime = Date()
    /// Per-process salt for SCRAM challenges to clients (PostgreSQL keeps one per role; so do we, per run).
    private let scramSalt: [UInt8]

    init(config: PoolConfiguration, auth: AuthFiles, logger: Logger) {
        self.configState = Mutex(config)
        self.authState = Mutex(auth)
        self.admission = Mutex(AdmissionControl(limit: config.numInitChildren, reserved: config.reservedConnections))
        self.logger = logger
        self.scramSalt = SecureRandom.bytes(16)
    }

    var config: PoolConfiguration { configState.withLock { $0 } }

    /// The last streaming-replication check's result per standby node.
    var replication: [Int: StandbyReplication] {
        get { replicationState.withLock { $0 } }
        set { replicationState.withLock { $0 = newValue } }
    }
    var auth: AuthFiles { authState.withLock { $0 } }

    func replace(config: PoolConfiguration, auth: AuthFiles) {
        configState.withLock { $0 = config }
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

    func leave() {
        guard let next = admission.withLock({ $0.leave() }) else { return }
        let resume = waiters.withLock { $0.removeValue(forKey: next) }
        resume?()
    }

    func abandon(id: Int) {
        admission.withLock { $0.abandon(id) }
        waiters.withLock { _ = $0.removeValue(forKey: id) }
    }

    // MARK: - Cancel keys

    func register(_ key: BackendKey, target: CancelTarget) { cancelKeys.withLock { $0[key] = target } }
    func unregister(_ key: BackendKey) { cancelKeys.withLock { _ = $0.removeValue(forKey: key) } }
    func cancelTarget(for key: BackendKey) -> CancelTarget? { cancelKeys.withLock { $0[key] } }

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
    /// The node writes go to: an ALWAYS_PRIMARY node, else the lowest node id. (Primary detection by
    /// pg_is_in_recovery() arrives with health checks.)
    var primaryNode: BackendConfig? {
        let backends = config.backends
        return backends.first(where: { $0.flags.contains(.alwaysPrimary) }) ?? backends.first
    }
}
