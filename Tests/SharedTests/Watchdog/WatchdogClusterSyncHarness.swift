@testable import Shared

/// Several `WatchdogClusterSync`s wired by the test: each member's election is a `Membership` the test sets
/// (or takes from real machines), messages are delivered at once and in order unless the receiver is cut off,
/// and every action is kept per member. The test plays the executor (cluster service, admin socket).
struct WatchdogClusterSyncHarness {
    typealias Sync = WatchdogClusterSync

    var syncs: [Sync]
    var memberships: [Sync.Membership]
    var now: Duration = .zero
    /// Members that receive nothing.
    var cut: Set<Int> = []
    /// Every action of every member, in order.
    var log: [(member: Int, action: Sync.Action)] = []

    static let names = (0..<5).map { WatchdogStateMachine.Member(id: $0, name: "host\($0):9000") }
    static let cluster = WatchdogClusterView(primary: 0, nodes: [0: .up, 1: .up, 2: .up])
    static let digest = WatchdogSettingsDigest(backends: 3, bytes: [UInt8](repeating: 1, count: 32))

    static func rules(members n: Int, failoverWhenQuorumExists: Bool = true, requireConsensus: Bool = true,
                      allowMultiple: Bool = false) -> FailoverConsensus.Rules {
        .init(members: n, halfVotes: false, failoverWhenQuorumExists: failoverWhenQuorumExists,
              requireConsensus: requireConsensus, allowMultipleRequestsFromMember: allowMultiple)
    }

    static func make(_ local: Int, members n: Int = 3, rules: FailoverConsensus.Rules? = nil,
                     cluster: WatchdogClusterView = cluster, digest: WatchdogSettingsDigest = digest) -> Sync {
        Sync(configuration: .init(members: Array(names.prefix(n)), localID: local, consensus: rules ?? Self.rules(members: n)),
             cluster: cluster, digest: digest)
    }

    static func leading(_ id: Int = 0, term: UInt64 = 3, quorum: Bool = true) -> Sync.Membership {
        .init(term: term, leaderID: id, mayActAsLeader: true, quorumHolds: quorum, state: .leader,
              leaderName: names[id].name)
    }

    static func following(_ leader: Int = 0, term: UInt64 = 3) -> Sync.Membership {
        .init(term: term, leaderID: leader, mayActAsLeader: false, quorumHolds: true, state: .standby,
              leaderName: names[leader].name)
    }

    static func leaderless(term: UInt64 = 3) -> Sync.Membership {
        .init(term: term, leaderID: nil, mayActAsLeader: false, quorumHolds: false, state: .initializing)
    }

    /// Member 0 leads term 3; the others follow it; all start from `cluster`.
    init(members n: Int = 3, rules: FailoverConsensus.Rules? = nil) {
        syncs = (0..<n).map { Self.make($0, members: n, rules: rules) }
        memberships = (0..<n).map { $0 == 0 ? Self.leading(0) : Self.following(0) }
    }

    /// Runs `event` on member `id`, then delivers every message it causes, breadth first. Returns the actions.
    @discardableResult
    mutating func run(_ id: Int, _ event: Sync.Event) -> [(member: Int, action: Sync.Action)] {
        var queue: [(Int, Sync.Event)] = [(id, event)]
        var done: [(member: Int, action: Sync.Action)] = []
        while !queue.isEmpty {
            let (m, e) = queue.removeFirst()
            let out = syncs[m].event(e, membership: memberships[m], now: now)
            for a in out {
                done.append((m, a))
                if case .send(let message, let to) = a {
                    for target in to where !cut.contains(target) { queue.append((target, .received(message, from: m))) }
                }
            }
        }
        log += done
        return done
    }

    /// Every member ticks once.
    mutating func tick() {
        for id in syncs.indices { run(id, .tick) }
    }
}

extension Array where Element == (member: Int, action: WatchdogClusterSync.Action) {
    func of(_ id: Int) -> [WatchdogClusterSync.Action] { filter { $0.member == id }.map(\.action) }

    var failovers: [(member: Int, request: FailoverConsensus.Request, term: UInt64)] {
        compactMap { if case .executeFailover(let r, let t) = $0.action { return ($0.member, r, t) } else { return nil } }
    }

    /// The payloads sent, with sender and receivers.
    var sent: [(from: Int, payload: WatchdogClusterPayload, to: [Int])] {
        compactMap { e in
            if case .send(let m, let to) = e.action, let p = m.cluster { return (e.member, p, to) } else { return nil }
        }
    }
}

extension Array where Element == WatchdogClusterSync.Action {
    /// What the member was told to run (failovers, operators' requests, cluster-wide commands).
    var executed: [WatchdogClusterSync.Action] {
        filter { a in
            switch a {
            case .executeFailover, .executeAdmin, .executeClusterCommand: return true
            case .send, .replyAdmin, .apply, .notice, .resign: return false
            }
        }
    }
    var applied: [WatchdogClusterView] { compactMap { if case .apply(let v) = $0 { return v } else { return nil } } }
    var notices: [WatchdogClusterSync.Notice] { compactMap { if case .notice(let n) = $0 { return n } else { return nil } } }
    var resignations: [String] { compactMap { if case .resign(let r) = $0 { return r } else { return nil } } }
    var payloads: [WatchdogClusterPayload] { compactMap { if case .send(let m, _) = $0 { return m.cluster } else { return nil } } }
}
