/// The order in which one request tries the endpoints, and the pause between rounds.
///
/// Why this shape: a request starts where the last answer came from (its keep-alive connection is warm, and it
/// was healthy a moment ago) and moves on at once when that member fails; once every endpoint failed in a round
/// — typically an etcd election, where every survivor says "no leader" for a second or two — it waits a little
/// before the next round, doubling up to a cap, instead of spinning. The overall deadline is the caller's.
struct FailoverPlan: Sendable, Hashable {
    let count: Int
    let backoff: Duration
    let maxBackoff: Duration
    /// The endpoint to try now.
    private(set) var current: Int
    /// Completed rounds (every endpoint tried once per round).
    private(set) var rounds = 0
    private var triedThisRound = 1
    private(set) var tried: Set<Int>

    init(endpoints: Int, startingAt start: Int, backoff: Duration = .milliseconds(50),
         maxBackoff: Duration = .milliseconds(500)) {
        precondition(endpoints > 0, "a failover plan needs an endpoint")
        count = endpoints
        self.backoff = backoff
        self.maxBackoff = maxBackoff
        current = ((start % endpoints) + endpoints) % endpoints
        tried = [current]
    }

    /// Every endpoint has been tried at least once.
    var allTried: Bool { tried.count == count }

    /// The current endpoint failed: the next one to try and how long to wait first (zero within a round).
    mutating func next() -> (endpoint: Int, pause: Duration) {
        current = (current + 1) % count
        tried.insert(current)
        var pause = Duration.zero
        if triedThisRound == count {
            rounds += 1
            triedThisRound = 0
            pause = backoff
            for _ in 1..<min(rounds, 16) { pause = min(pause * 2, maxBackoff) }
            pause = min(pause, maxBackoff)
        }
        triedThisRound += 1
        return (current, pause)
    }
}

/// How one endpoint has been doing, for health display and for choosing where requests start.
public struct EndpointState: Sendable, Hashable {
    public var endpoint: EtcdEndpoint
    /// When it last gave an answer (etcd's verdicts, errors included, count: the member was there).
    public var lastAnswer: ContinuousClock.Instant?
    public var lastFailure: EtcdError?
    public var lastFailureAt: ContinuousClock.Instant?
    /// Failures since its last answer.
    public var consecutiveFailures = 0

    public init(endpoint: EtcdEndpoint) { self.endpoint = endpoint }
}

/// What the client knows of its endpoints: each one's state and the one the next request starts at (the last
/// that answered; after it fails, the one after it). Pure: time is passed in.
struct EndpointBook: Sendable, Hashable {
    private(set) var states: [EndpointState]
    private(set) var preferred = 0

    init(endpoints: [EtcdEndpoint]) {
        states = endpoints.map(EndpointState.init)
    }

    /// `prefer`: start the next requests there (false for health probes, which go to every endpoint in turn).
    mutating func answered(_ index: Int, at now: ContinuousClock.Instant, prefer: Bool = true) {
        states[index].lastAnswer = now
        states[index].consecutiveFailures = 0
        if prefer { preferred = index }
    }

    mutating func failed(_ index: Int, _ error: EtcdError, at now: ContinuousClock.Instant) {
        states[index].lastFailure = error
        states[index].lastFailureAt = now
        states[index].consecutiveFailures += 1
        if preferred == index { preferred = (index + 1) % states.count }
    }
}
