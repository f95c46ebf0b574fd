/// The watchdog's lifechecks other than heartbeats, as a pure value: events in (with the time), actions out.
/// It decides *when* to check and *what a result means*; the executor (`WatchdogLifecheckRunner`) runs the
/// checks and feeds the verdicts to `WatchdogStateMachine`. Pgpool-II's `wd_lifecheck.c` does the same work in a
/// process of its own, with sleeps; here the time comes in with every event, so the rules are transcript-tested.
///
/// - **query** (`wd_lifecheck_method = query`): every `wd_interval` each other member's `pgpool_port` is asked
///   `wd_lifecheck_query`; `wd_life_point` failures in a row make it silent (`.memberSilent` → LOST in the
///   machine), any success makes it alive (`.memberAlive` → `.heartbeat(from:)`). A check still running is not
///   started again. Failures count only once the member has answered once: members start one after another,
///   and one not started yet is not "lost" (Pgpool-II's lifecheck too waits until every pgpool has started).
/// - **external**: no check of its own; an agent reports a member dead or alive (Pgpool-II's
///   `wd_cli -I DEAD|ALIVE -n id`; here the admin socket's `watchdog_lifecheck`).
/// - **trusted servers** (any method): every `wd_interval` `trusted_server_command` runs for each server;
///   when none answers, this member's network is in trouble; when one answers again, it is restored.
/// - **monitored interfaces** (`wd_monitoring_interfaces_list`): the executor reports the links' state; when
///   none of them is up, the network is in trouble; when one is up again, restored. (Pgpool-II shuts itself
///   down here; poold goes IN NETWORK TROUBLE — VIP down, no votes — and rejoins when the link is back.)
///
/// The network is in trouble while either source says so, and restored when neither does. While it is in
/// trouble the query checks pause (every peer would look dead); when it is restored every peer is checked at
/// once, so members it marked silent are found alive without waiting an interval.
public struct WatchdogLifecheck: Sendable {
    public struct Configuration: Equatable, Sendable {
        public var method: WatchdogConfiguration.Lifecheck.Method
        /// The members to check: every configured member but this one.
        public var members: [Int]
        /// `wd_interval`, at least one second.
        public var interval: Duration
        /// `wd_life_point`, at least one.
        public var lifePoint: Int
        public var trustedServers: [String]

        public init(method: WatchdogConfiguration.Lifecheck.Method, members: [Int], interval: Duration, lifePoint: Int,
                    trustedServers: [String]) {
            self.method = method
            self.members = members
            self.interval = max(interval, .seconds(1))
            self.lifePoint = max(1, lifePoint)
            self.trustedServers = trustedServers
        }

        public init(_ w: WatchdogConfiguration) {
            self.init(method: w.lifecheck.method, members: w.others.map(\.id), interval: w.timings.lifecheckInterval,
                      lifePoint: w.timings.lifePoint, trustedServers: w.lifecheck.trustedServers)
        }
    }

    public enum Event: Equatable, Sendable {
        /// The member starts: query checks begin one interval later (members start together), the trusted
        /// servers are checked at once.
        case start
        /// Time passes: the executor ticks at least every quarter of a second.
        case tick
        /// A query check of `member` ended (`ok`: it answered `wd_lifecheck_query` in time).
        case queryFinished(member: Int, ok: Bool)
        /// An external agent's report (ignored unless the method is `external`).
        case reported(member: Int, alive: Bool)
        /// `trusted_server_command` for one server ended (`ok`: exit status 0).
        case trustedServerFinished(String, ok: Bool)
        /// The monitored links now, by interface name (a listed one that does not exist is down).
        case links([String: Bool])
    }

    public enum TroubleReason: Equatable, Sendable {
        /// No trusted server answered in the last round (the servers tried).
        case trustedServersUnreachable([String])
        /// Every monitored interface is down (their names).
        case interfacesDown([String])
    }

    public enum Action: Equatable, Sendable {
        /// Connect to the member's `pgpool_port` and run `wd_lifecheck_query`; report `.queryFinished`.
        case query(member: Int)
        /// Run `trusted_server_command` with `%h` = the server; report `.trustedServerFinished`.
        case checkTrustedServer(String)
        /// The member is dead for the lifecheck: feed `.memberSilent` (`failures`: checks failed in a row, 0 for
        /// an external report).
        case memberSilent(Int, failures: Int)
        /// The member answered: feed `.heartbeat(from:)`. `wasSilent`: it had been declared dead (log it).
        case memberAlive(Int, wasSilent: Bool)
        /// Feed `.networkTrouble`.
        case networkTrouble(TroubleReason)
        /// Feed `.networkRestored`.
        case networkRestored
    }

    struct Peer: Equatable, Sendable {
        var nextCheck: Duration = .zero
        var checking = false
        var failures = 0
        var silent = false
        /// It answered a check at least once.
        var answered = false
    }

    /// One round of trusted-server commands: who has not reported yet, and whether one answered.
    struct Round: Equatable, Sendable {
        var pending: Set<String>
        var answered = false
    }

    public let configuration: Configuration
    var peers: [Int: Peer]
    var started = false
    var round: Round?
    var nextRound: Duration = .zero
    /// The last verdict of each source (nil: none yet, or not configured).
    var trustedTrouble: [String]?
    var linksTrouble: [String]?
    /// The machine was told `.networkTrouble` and not yet `.networkRestored`.
    public private(set) var inTrouble = false
    var out: [Action] = []

    public init(configuration: Configuration) {
        self.configuration = configuration
        peers = Dictionary(uniqueKeysWithValues: configuration.members.map { ($0, Peer()) })
    }

    /// Members the lifecheck currently declares dead.
    public var silentMembers: [Int] { peers.filter(\.value.silent).map(\.key).sorted() }

    public mutating func event(_ event: Event, now: Duration) -> [Action] {
        defer { out = [] }
        if case .start = event {
            guard !started else { return [] }
            started = true
            for id in peers.keys { peers[id]?.nextCheck = now + configuration.interval }
            nextRound = now
            tick(now: now)
            return out
        }
        guard started else { return [] }
        switch event {
        case .start: break
        case .tick: tick(now: now)
        case .queryFinished(let id, let ok): queryFinished(id, ok: ok)
        case .reported(let id, let alive): reported(id, alive: alive)
        case .trustedServerFinished(let server, let ok): trustedServerFinished(server, ok: ok, now: now)
        case .links(let links): linksChanged(links, now: now)
        }
        return out
    }

    // MARK: - Query and external

    mutating func tick(now: Duration) {
        if configuration.method == .query, !inTrouble {
            for id in configuration.members {
                guard var p = peers[id], !p.checking, now >= p.nextCheck else { continue }
                p.checking = true
                p.nextCheck = now + configuration.interval
                peers[id] = p
                out.append(.query(member: id))
            }
        }
        if round == nil, now >= nextRound { startRound(now: now) }
    }

    mutating func queryFinished(_ id: Int, ok: Bool) {
        guard var p = peers[id], p.checking else { return }
        p.checking = false
        // A check that failed while this member's own network was down says nothing about the peer.
        if ok {
            p.answered = true
            p.failures = 0
            out.append(.memberAlive(id, wasSilent: p.silent))
            p.silent = false
        } else if !inTrouble, p.answered {
            p.failures += 1
            if p.failures >= configuration.lifePoint, !p.silent {
                p.silent = true
                out.append(.memberSilent(id, failures: p.failures))
            }
        }
        peers[id] = p
    }

    mutating func reported(_ id: Int, alive: Bool) {
        guard configuration.method == .external, var p = peers[id], p.silent == alive else { return }
        p.silent = !alive
        peers[id] = p
        out.append(alive ? .memberAlive(id, wasSilent: true) : .memberSilent(id, failures: 0))
    }

    // MARK: - This member's network

    mutating func startRound(now: Duration) {
        let servers = configuration.trustedServers
        guard !servers.isEmpty else { return }
        round = Round(pending: Set(servers))
        nextRound = now + configuration.interval
        for s in servers { out.append(.checkTrustedServer(s)) }
    }

    /// One answer is enough (restored at once); the round fails when the last server did not answer either.
    mutating func trustedServerFinished(_ server: String, ok: Bool, now: Duration) {
        guard var r = round, r.pending.remove(server) != nil else { return }
        if ok, !r.answered {
            r.answered = true
            trustedTrouble = nil
            evaluate(now: now)
        }
        if r.pending.isEmpty {
            round = nil
            if !r.answered {
                trustedTrouble = configuration.trustedServers
                evaluate(now: now)
            }
        } else {
            round = r
        }
    }

    mutating func linksChanged(_ links: [String: Bool], now: Duration) {
        let down = links.values.contains(true) ? nil : links.keys.sorted()
        guard down != linksTrouble else { return }
        linksTrouble = down
        // The link is back but the trusted servers last failed (they could not answer without it): ask them now
        // rather than an interval later.
        if down == nil, trustedTrouble != nil, round == nil { startRound(now: now) }
        evaluate(now: now)
    }

    mutating func evaluate(now: Duration) {
        let reason: TroubleReason? = linksTrouble.map { .interfacesDown($0) }
            ?? trustedTrouble.map { .trustedServersUnreachable($0) }
        if let reason, !inTrouble {
            inTrouble = true
            out.append(.networkTrouble(reason))
        } else if reason == nil, inTrouble {
            inTrouble = false
            out.append(.networkRestored)
            for id in peers.keys { peers[id]?.nextCheck = now }
            tick(now: now)
        }
    }
}
