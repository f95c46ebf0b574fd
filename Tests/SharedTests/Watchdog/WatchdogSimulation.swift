@testable import Shared

/// Several `WatchdogStateMachine`s wired together by the test: one simulated clock, messages delivered after a
/// latency unless the link is cut, SIGSTOP (a paused member processes nothing; what reaches it waits, as in a
/// socket buffer), kill -9 and restart with the persisted state. It also plays the executor: it runs each
/// member's actions in order and keeps the VIP guard, which brings a member's VIP down at its lease deadline or
/// when the member dies, whatever the member does. `vipLog` records every VIP up/down with time and member, and
/// `maxHolders` the most members ever holding the VIP at one instant.
struct WatchdogSimulation {
    struct Delivery {
        var at: Duration
        var to: Int
        var from: Int
        var message: WatchdogMessage
    }

    var configurations: [WatchdogStateMachine.Configuration]
    var machines: [WatchdogStateMachine]
    var now: Duration = .zero
    var step: Duration = .milliseconds(50)
    var latency: Duration = .milliseconds(1)
    var inFlight: [Delivery] = []
    var cut: Set<[Int]> = []
    /// Links cut in one direction only: [from, to].
    var oneWay: Set<[Int]> = []
    /// With a generator, each message takes `latency` plus up to `jitter` (so messages overtake each other).
    var rng: SplitMix?
    var jitter: Duration = .zero
    var paused: Set<Int> = []
    var running: Set<Int> = []
    var queued: [Int: [WatchdogStateMachine.Event]] = [:]
    var persisted: [Int: WatchdogStateMachine.PersistentState] = [:]
    /// The VIP is really configured on the member's interface.
    var vipUp: Set<Int> = []
    var guardUntil: [Int: Duration] = [:]
    var vipLog: [(at: Duration, member: Int, up: Bool)] = []
    var maxHolders = 0
    /// Guards that miss renewals (a stalled poold's hold arrives late) until their armed deadline fires.
    var deafGuards: Set<Int> = []
    /// Every action each member emitted, with its time.
    var actions: [Int: [(at: Duration, action: WatchdogStateMachine.Action)]] = [:]

    init(members n: Int, priorities: [Int]? = nil, halfVotes: Bool = false, keepalive: Int = 1, deadtime: Int = 4) {
        let members = (0..<n).map { WatchdogStateMachine.Member(id: $0, name: "host\($0):9000") }
        let timings = WatchdogTimings(keepalive: .seconds(keepalive), deadtime: .seconds(deadtime))
        configurations = (0..<n).map {
            WatchdogStateMachine.Configuration(members: members, localID: $0, priority: priorities?[$0] ?? 1,
                                               halfVotes: halfVotes, timings: timings)
        }
        machines = configurations.map { WatchdogStateMachine(configuration: $0) }
    }

    var timings: WatchdogTimings { configurations[0].timings }

    // MARK: - Faults

    mutating func start(_ ids: Int...) {
        for id in ids {
            machines[id] = WatchdogStateMachine(configuration: configurations[id])
            running.insert(id)
            deliver(.start(persisted[id] ?? .init()), to: id)
        }
    }

    /// kill -9: the member is gone; its guard sees it die and brings the VIP down.
    mutating func kill(_ id: Int) {
        running.remove(id)
        paused.remove(id)
        queued[id] = nil
        inFlight.removeAll { $0.to == id }
        vipDown(id)
    }

    mutating func pause(_ id: Int) { paused.insert(id) }

    mutating func resume(_ id: Int) {
        paused.remove(id)
        let pending = queued[id] ?? []
        queued[id] = nil
        for e in pending { deliver(e, to: id) }
        deliver(.tick, to: id)
    }

    mutating func partition(_ group: Set<Int>) {
        for a in group { for b in 0..<machines.count where !group.contains(b) { cut.insert([min(a, b), max(a, b)]) } }
    }

    mutating func heal() {
        cut = []
        oneWay = []
    }

    // MARK: - Running

    mutating func run(for d: Duration) {
        let end = now + d
        while now < end { advance() }
    }

    /// Runs until `condition` holds (checked after each step) or `limit` passes; returns whether it held.
    @discardableResult
    mutating func run(until limit: Duration, _ condition: (WatchdogSimulation) -> Bool) -> Bool {
        let end = now + limit
        while now < end {
            advance()
            if condition(self) { return true }
        }
        return false
    }

    mutating func advance() {
        now += step
        let due = inFlight.filter { $0.at <= now }
        inFlight.removeAll { $0.at <= now }
        for d in due where running.contains(d.to) { deliver(.received(d.message, from: d.from), to: d.to) }
        for id in running.sorted() { deliver(.tick, to: id) }
        for (id, until) in guardUntil where until <= now {
            let held = vipUp.contains(id)
            vipDown(id)
            deafGuards.remove(id)
            // the guard tells poold it dropped the VIP (a leader still holding its lease raises it again)
            if held, running.contains(id) { deliver(.vipDropped, to: id) }
        }
        maxHolders = max(maxHolders, vipUp.count)
    }

    mutating func deliver(_ event: WatchdogStateMachine.Event, to id: Int) {
        guard running.contains(id) else { return }
        if paused.contains(id) {
            if event != .tick { queued[id, default: []].append(event) }
            return
        }
        let out = machines[id].event(event, now: now)
        for a in out { execute(a, by: id) }
    }

    mutating func execute(_ action: WatchdogStateMachine.Action, by id: Int) {
        actions[id, default: []].append((now, action))
        switch action {
        case .send(let m, let to):
            for target in to where !cut.contains([min(id, target), max(id, target)]) && !oneWay.contains([id, target]) {
                var delay = latency
                if var r = rng, jitter > .zero {
                    delay += jitter * (Double(r.next() % 1000) / 1000)
                    rng = r
                }
                inFlight.append(Delivery(at: now + delay, to: target, from: id, message: m))
            }
        case .persist(let p):
            persisted[id] = p
        case .holdVIP(let until, _):
            if deafGuards.contains(id), guardUntil[id] != nil { break }
            guardUntil[id] = until
        case .escalate:
            if let until = guardUntil[id], until > now, !vipUp.contains(id) {
                vipUp.insert(id)
                vipLog.append((now, id, true))
                maxHolders = max(maxHolders, vipUp.count)
            }
        case .deEscalate:
            vipDown(id)
            deliver(.deEscalated, to: id)
        case .stop:
            running.remove(id)
        }
    }

    mutating func vipDown(_ id: Int) {
        guardUntil[id] = nil
        if vipUp.remove(id) != nil { vipLog.append((now, id, false)) }
    }

    // MARK: - Looking

    var leaders: [Int] { running.sorted().filter { machines[$0].state == .leader } }
    func state(_ id: Int) -> WatchdogState { machines[id].state }

    /// One leader holding the VIP, every other running member its standby, all in one term.
    var settled: Bool {
        guard leaders.count == 1, let l = leaders.first, vipUp == [l] else { return false }
        let others = running.subtracting([l])
        return others.allSatisfy { machines[$0].state == .standby && machines[$0].leaderID == l }
            && Set(running.map { machines[$0].term }).count == 1
    }

    /// Actions of `id` at or after `time`.
    func actions(of id: Int, since time: Duration) -> [WatchdogStateMachine.Action] {
        (actions[id] ?? []).filter { $0.at >= time }.map(\.action)
    }

    func firstVIPUp(after time: Duration) -> (at: Duration, member: Int)? {
        vipLog.first { $0.up && $0.at > time }.map { ($0.at, $0.member) }
    }
}

extension WatchdogStateMachine.Action {
    var isEscalate: Bool { if case .escalate = self { return true } else { return false } }
    var isDeEscalate: Bool { if case .deEscalate = self { return true } else { return false } }
    var sentKinds: [WatchdogMessage.Kind] { if case .send(let m, _) = self { return [m.kind] } else { return [] } }
}
