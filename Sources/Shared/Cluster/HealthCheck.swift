/// One node's health-check parameters, with the per-node suffix overrides already applied.
public struct HealthCheckSettings: Equatable, Sendable {
    public var period: Int
    public var timeout: Int
    public var user: String
    public var password: String
    public var database: String
    public var maxRetries: Int
    public var retryDelay: Int

    public init(period: Int, timeout: Int, user: String, password: String, database: String, maxRetries: Int, retryDelay: Int) {
        self.period = period
        self.timeout = timeout
        self.user = user
        self.password = password
        self.database = database
        self.maxRetries = maxRetries
        self.retryDelay = retryDelay
    }

    public init(_ config: PoolConfiguration, node: Int) {
        func int(_ n: String) -> Int {
            if case .integer(let v)? = config.value(n, node: node) { return v }
            return config.int(n)
        }
        func string(_ n: String) -> String { config.value(n, node: node)?.description ?? config.string(n) }
        let db = string("health_check_database")
        self.init(period: int("health_check_period"), timeout: int("health_check_timeout"), user: string("health_check_user"),
                  password: string("health_check_password"), database: db.isEmpty ? "postgres" : db,
                  maxRetries: int("health_check_max_retries"), retryDelay: int("health_check_retry_delay"))
    }
}

/// Counters of `SHOW pool_health_check_stats` for one node. Durations in milliseconds, times in seconds
/// since the epoch (0 = never).
public struct HealthCheckStats: Equatable, Sendable {
    public var total = 0, success = 0, fail = 0, skip = 0, retry = 0
    public var maxRetry = 0
    public var maxDuration = 0.0, minDuration = 0.0, totalDuration = 0.0
    public var lastCheck = 0.0, lastSuccess = 0.0, lastSkip = 0.0, lastFailure = 0.0
    public init() {}

    public var averageRetry: Double { total - skip > 0 ? Double(retry) / Double(total - skip) : 0 }
    public var averageDuration: Double { total - skip > 0 ? totalDuration / Double(total - skip) : 0 }
}

/// One node's health check as a pure machine (reference §4.1): a round is one probe plus up to
/// `maxRetries` retries `retryDelay` apart; a round that fails entirely reports the node down, a success
/// after a failure reports it up. The service runs the probes and sleeps; time comes in as parameters.
public struct HealthCheckMachine: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        /// Probe again after this many seconds (the next round, or a retry).
        case probe(after: Double)
        /// Every attempt of the round failed.
        case reportDown(after: Double)
        /// The node answers again.
        case reportUp(after: Double)
    }

    public private(set) var settings: HealthCheckSettings
    public private(set) var stats = HealthCheckStats()
    /// Failed attempts in the current round.
    public private(set) var failures = 0
    /// The last round ended in failure (the node is believed down by this check).
    public private(set) var believesDown = false

    public init(settings: HealthCheckSettings) { self.settings = settings }

    public mutating func update(_ s: HealthCheckSettings) { settings = s }

    /// The node is detached (down/unused) and is not checked this period.
    public mutating func skipped(at now: Double) -> Action {
        stats.total += 1
        stats.skip += 1
        stats.lastSkip = now
        stats.lastCheck = now
        return .probe(after: Double(max(1, settings.period)))
    }

    public mutating func probeFinished(success: Bool, at now: Double, durationMS: Double) -> Action {
        let first = stats.success + stats.fail + stats.retry == 0 && failures == 0
        if failures == 0 { stats.total += 1 } else { stats.retry += 1 }
        stats.lastCheck = now
        stats.totalDuration += durationMS
        stats.maxDuration = max(stats.maxDuration, durationMS)
        stats.minDuration = first ? durationMS : min(stats.minDuration, durationMS)
        let period = Double(max(1, settings.period))
        if success {
            stats.success += 1
            stats.lastSuccess = now
            stats.maxRetry = max(stats.maxRetry, failures)
            failures = 0
            if believesDown {
                believesDown = false
                return .reportUp(after: period)
            }
            return .probe(after: period)
        }
        failures += 1
        if failures <= settings.maxRetries { return .probe(after: Double(settings.retryDelay)) }
        stats.fail += 1
        stats.lastFailure = now
        stats.maxRetry = max(stats.maxRetry, failures - 1)
        failures = 0
        if believesDown { return .probe(after: period) }
        believesDown = true
        return .reportDown(after: period)
    }
}
