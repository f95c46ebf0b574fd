/// A member as it announces itself under `<prefix>/members/<name>` (bound to its own lease, so it disappears
/// when the member stops renewing): what the others show of it in their `watchdog` report.
public struct EtcdMemberRecord: Equatable, Sendable, Codable {
    public var name: String
    public var hostname: String
    public var pgpoolPort: Int

    public init(name: String, hostname: String, pgpoolPort: Int) {
        self.name = name
        self.hostname = hostname
        self.pgpoolPort = pgpoolPort
    }
}

/// The etcd backend's view in the watchdog's report shape, so the admin socket's `watchdog`, `poolconsole
/// watchdog` and the console show it unchanged: members are the live member keys (ids by name order), the
/// term is the leader key's create revision, the lease left is the local leader's time until its deadline.
extension WatchdogReport {
    public init(etcd machine: EtcdLeadership, local: EtcdMemberRecord, members: [EtcdMemberRecord],
                delegateIP: String, now: Duration) {
        var all = members.filter { $0.name != local.name }
        all.append(local)
        all.sort { $0.name < $1.name }
        let leaderName = machine.leader?.name
        let localState: WatchdogState
        switch machine.role {
        case .idle: localState = machine.leader == nil ? .loading : .joining
        case .candidate: localState = .standingForLeader
        case .following: localState = .standby
        case .leading(_, let verified): localState = verified ? .leader : .joining
        case .stopped: localState = .shutdown
        }
        let nodes = all.enumerated().map { i, m in
            let isLocal = m.name == local.name
            return Node(id: i, name: m.name, hostname: m.hostname, wdPort: 0, pgpoolPort: m.pgpoolPort,
                        state: isLocal ? localState : (m.name == leaderName ? .leader : .standby), priority: 1,
                        isLocal: isLocal, lastHeardSecondsAgo: nil)
        }
        self.nodes = nodes
        term = UInt64(max(0, machine.term ?? 0))
        leaderID = leaderName.flatMap { n in nodes.first { $0.name == n }?.id }
        quorum = leaderID == nil ? .noLeader : .exists
        escalated = machine.escalated
        votesNeeded = WatchdogQuorum.votesNeeded(members: nodes.count, halfVotes: false)
        leaseLeftSeconds = machine.actingTerm(now: now) != nil ? machine.deadline.map { d -> Double in
            let (s, a) = (d - now).components
            return max(0, Double(s) + Double(a) / 1e18)
        } : nil
        self.delegateIP = delegateIP
        cluster = nil
    }
}

extension WatchdogReport.Cluster {
    /// The etcd backend's view: the term and version of the leader's record in etcd.
    public init(viewTerm: UInt64, viewVersion: UInt64, primary: Int?, quarantined: [Int]) {
        self.viewTerm = viewTerm
        self.viewVersion = viewVersion
        self.primary = primary
        self.quarantined = quarantined
    }
}

extension WatchdogReport {
    /// Where leadership comes from, for operators: the backend, its key prefix and each endpoint's health.
    public struct Coordination: Equatable, Sendable {
        public struct Endpoint: Equatable, Sendable {
            public var url: String
            /// It answered last time it was asked.
            public var healthy: Bool
            /// Failures since its last answer.
            public var failures: Int
            public var lastError: String

            public init(url: String, healthy: Bool, failures: Int, lastError: String) {
                self.url = url
                self.healthy = healthy
                self.failures = failures
                self.lastError = lastError
            }
        }

        public var backend: String
        public var prefix: String
        public var endpoints: [Endpoint]

        public init(backend: String, prefix: String, endpoints: [Endpoint]) {
            self.backend = backend
            self.prefix = prefix
            self.endpoints = endpoints
        }

        /// One line: `etcd /poold/main: http://a:2379 ok, http://b:2379 down (3 failures: …), http://c:2379 not asked yet`.
        public var summary: String {
            "\(backend) \(prefix): " + endpoints.map { e in
                if e.healthy { return "\(e.url) ok" }
                if e.failures == 0 { return "\(e.url) not asked yet" }
                return "\(e.url) down (\(e.failures) failure\(e.failures == 1 ? "" : "s")\(e.lastError.isEmpty ? "" : ": " + e.lastError))"
            }.joined(separator: ", ")
        }
    }
}
