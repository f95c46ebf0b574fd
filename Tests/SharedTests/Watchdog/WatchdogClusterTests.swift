import Testing
@testable import Shared

/// Whole-cluster transcripts: several members wired by `WatchdogSimulation`, with kills, partitions and pauses.
/// Timings are poold's recommended ones (keepalive 1 s, deadtime 4 s: lease 2 s, beacons every 0.5 s) unless a
/// test says otherwise. Every test also checks that no two members ever hold the VIP at once.
@Suite struct WatchdogClusterTests {
    @Test func aLoneMemberLeadsAtOnce() {
        var sim = WatchdogSimulation(members: 1)
        sim.start(0)
        #expect(sim.state(0) == .leader)
        #expect(sim.vipUp == [0])
        #expect(sim.persisted[0] == .init(term: 1, votedFor: "host0:9000", followedLeader: "host0:9000"))
    }

    @Test(arguments: [2, 3, 5])
    func membersStartingTogetherElectOneLeader(n: Int) {
        var sim = WatchdogSimulation(members: n)
        for i in 0..<n { sim.start(i) }
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        // all equal: the lowest name wins
        #expect(sim.leaders == [0])
        #expect(sim.maxHolders == 1)
        #expect(sim.machines.allSatisfy { $0.term == 1 })
    }

    @Test func theHighestPriorityWinsWhenAllStartTogether() {
        var sim = WatchdogSimulation(members: 3, priorities: [1, 5, 3])
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        #expect(sim.leaders == [1])
    }

    @Test(arguments: [[0, 1, 2], [2, 1, 0], [1, 2, 0]])
    func staggeredStartsKeepTheFirstLeader(order: [Int]) {
        // Started apart: the first member alone is no quorum of 3 and does not lead; the second joins it and they
        // elect; the third follows the leader they chose, whatever its priority. No leader is ever replaced.
        var sim = WatchdogSimulation(members: 3, priorities: [3, 2, 1])
        sim.start(order[0])
        sim.run(for: .seconds(2))
        #expect(sim.leaders.isEmpty)
        #expect(sim.vipUp.isEmpty)
        sim.start(order[1])
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        let first = sim.leaders
        sim.start(order[2])
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        #expect(sim.leaders == first)
        #expect(sim.vipLog.filter(\.up).count == 1)
        #expect(sim.maxHolders == 1)
    }

    /// poold's recommended timings and Pgpool-II's defaults (keepalive 2 s, deadtime 30 s).
    @Test(arguments: [(1, 4), (2, 30)])
    func leaderKilledIsReplacedAfterTheDeadtime(keepalive: Int, deadtime: Int) throws {
        var sim = WatchdogSimulation(members: 3, keepalive: keepalive, deadtime: deadtime)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(10)) { $0.settled })
        let killedAt = sim.now
        sim.kill(0)
        #expect(sim.run(until: .seconds(Int64(deadtime) + 5)) { $0.settled })
        let up = try #require(sim.firstVIPUp(after: killedAt))
        #expect(up.member == 1)
        // nobody elects before the deadtime; the move takes deadtime + an election (≤ 1 s here)
        #expect(up.at - killedAt >= sim.timings.deadtime - sim.timings.beaconInterval)
        #expect(up.at - killedAt <= sim.timings.deadtime + .seconds(1))
        #expect(sim.machines[1].term == 2)
        #expect(sim.maxHolders == 1)
        // the old leader comes back and follows
        sim.start(0)
        #expect(sim.run(until: .seconds(Int64(deadtime) + 5)) { $0.settled })
        #expect(sim.leaders == [1])
    }

    @Test func aGracefulLeaderShutdownLetsTheOthersElectAtOnce() throws {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        let at = sim.now
        sim.deliver(.shutdown, to: 0)
        // the VIP went down before goingDown was sent
        let sent = sim.actions(of: 0, since: at)
        let down = try #require(sent.firstIndex { $0.isDeEscalate })
        let bye = try #require(sent.firstIndex { $0.sentKinds == [.goingDown] })
        #expect(down < bye)
        #expect(sim.run(until: .seconds(2)) { $0.settled })
        #expect(sim.now - at < sim.timings.deadtime)
        #expect(sim.maxHolders == 1)
    }

    @Test func aResigningLeaderDropsTheVIPFirstAndAnotherMemberLeadsWithinADeadtime() throws {
        var sim = WatchdogSimulation(members: 3, priorities: [5, 1, 1])
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        #expect(sim.leaders == [0])
        let at = sim.now
        sim.deliver(.resign, to: 0)
        let sent = sim.actions(of: 0, since: at)
        let down = try #require(sent.firstIndex { $0.isDeEscalate })
        let bye = try #require(sent.firstIndex { action in
            if case .send(let m, _) = action { return m.kind == .goingDown && m.flags.contains(.resigned) }
            return false
        })
        #expect(down < bye)
        #expect(sim.machines[0].effectivePriority == -1)
        // the best member resigned: another one leads, at once rather than after a deadtime
        #expect(sim.run(until: .seconds(3)) { $0.settled && $0.leaders != [0] })
        #expect(sim.now - at < sim.timings.deadtime)
        #expect(sim.state(0) == .standby)
        // the resigned member stays a member (not SHUTDOWN or LOST for the others) and gets its priority back
        let leader = try #require(sim.leaders.first)
        #expect(sim.machines[leader].peers[0]?.state == .standby)
        #expect(sim.machines[0].effectivePriority == 5)
        #expect(sim.maxHolders == 1)
    }

    @Test func aResigningLoneLeaderLeadsAgain() {
        // two members with half votes, one of them gone: the resignation finds no better member
        var sim = WatchdogSimulation(members: 2, halfVotes: true)
        sim.start(0, 1)
        #expect(sim.run(until: .seconds(6)) { $0.settled })
        let l = sim.leaders[0]
        sim.kill(1 - l)
        sim.run(for: .seconds(5))
        sim.deliver(.resign, to: l)
        #expect(sim.leaders.isEmpty)
        #expect(sim.run(until: .seconds(3)) { $0.leaders == [l] && $0.vipUp == [l] })
        #expect(sim.machines[l].effectivePriority == 1)
        #expect(sim.maxHolders == 1)
    }

    /// The guard's deadline passes before a renewal reaches it: it drops the VIP; the leader, whose lease still
    /// holds, raises it again at once instead of leaving the VIP on nobody.
    @Test func aVIPDroppedByALateGuardIsRaisedAgainByTheLeaderThatStillHoldsItsLease() throws {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        let leader = try #require(sim.leaders.first)
        let term = sim.machines[leader].term
        let at = sim.now
        sim.deafGuards.insert(leader)
        #expect(sim.run(until: .seconds(3)) { s in s.vipLog.contains { $0.at > at && !$0.up } })
        let down = try #require(sim.vipLog.last { !$0.up })
        #expect(sim.run(until: .milliseconds(200)) { $0.vipUp == [leader] })
        let up = try #require(sim.firstVIPUp(after: down.at - .milliseconds(1)))
        #expect(up.member == leader && up.at - down.at <= .milliseconds(100))
        #expect(sim.machines[leader].term == term && sim.settled)
        #expect(sim.maxHolders == 1)
    }

    @Test func aStandbyIgnoresResign() {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        let at = sim.now
        sim.deliver(.resign, to: 1)
        #expect(sim.actions(of: 1, since: at).isEmpty)
        #expect(sim.settled)
    }

    @Test func isolatedLeaderStepsDownBeforeTheOthersElect() throws {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        let cutAt = sim.now
        sim.partition([0])
        #expect(sim.run(until: .seconds(8)) { $0.leaders == [1] && $0.vipUp == [1] })
        let down = try #require(sim.vipLog.first { $0.member == 0 && !$0.up })
        let up = try #require(sim.firstVIPUp(after: cutAt))
        #expect(up.member == 1)
        // the old leader's VIP was down a good margin before the new one came up
        #expect(down.at - cutAt <= sim.timings.lease)
        #expect(up.at - down.at >= sim.timings.deadtime - sim.timings.lease - sim.timings.beaconInterval)
        // and its machine stepped down by itself (deEscalate), not only its guard
        #expect(sim.actions(of: 0, since: cutAt).contains { $0.isDeEscalate })
        #expect(sim.state(0) == .joining || sim.state(0) == .initializing || sim.state(0) == .standingForLeader)
        sim.heal()
        #expect(sim.run(until: .seconds(8)) { $0.settled })
        #expect(sim.leaders == [1])
        #expect(sim.maxHolders == 1)
    }

    @Test func aMinorityCannotElectAndAMajorityCan() {
        var sim = WatchdogSimulation(members: 5)
        sim.start(0, 1, 2, 3, 4)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        sim.partition([0, 1])  // the leader's side is a minority
        #expect(sim.run(until: .seconds(10)) { $0.leaders.count == 1 && $0.leaders[0] >= 2 && $0.vipUp == Set($0.leaders) })
        sim.run(for: .seconds(5))
        #expect(sim.machines[0].state != .leader && sim.machines[1].state != .leader)
        #expect(sim.maxHolders == 1)
    }

    @Test func pausedLeaderResumesWithoutActingAsLeader() throws {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        let pausedAt = sim.now
        sim.pause(0)
        // its guard drops the VIP at the end of the lease; the others elect after the deadtime
        #expect(sim.run(until: .seconds(8)) { $0.leaders.contains(1) && $0.vipUp == [1] })
        sim.run(for: .seconds(2))
        let resumedAt = sim.now
        #expect(resumedAt - pausedAt > sim.timings.deadtime)
        sim.resume(0)
        let after = sim.actions(of: 0, since: resumedAt)
        #expect(!after.contains { $0.isEscalate })
        #expect(!after.contains { $0.sentKinds == [.beacon] })
        #expect(!after.contains { $0.sentKinds == [.voteRequest] })
        #expect(sim.state(0) == .joining || sim.state(0) == .standby)
        #expect(!sim.machines[0].mayActAsLeader(now: sim.now))
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        #expect(sim.leaders == [1])
        #expect(sim.maxHolders == 1)
        let vipOfZero = sim.vipLog.filter { $0.member == 0 }
        #expect(vipOfZero.map(\.up) == [true, false])
        // the guard's deadline: the lease's end plus its grace
        #expect(vipOfZero[1].at <= pausedAt + sim.timings.lease + sim.timings.guardGrace + sim.step)
    }

    @Test func pausedFollowerReHearsBeforeStanding() {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        sim.pause(2)
        sim.run(for: .seconds(10))
        let resumedAt = sim.now
        sim.resume(2)
        // its leader has been silent (to it) for 10 s, yet it asks for no vote: it re-hears (here the beacons
        // that waited in its socket) and follows
        #expect(sim.state(2) == .joining || sim.state(2) == .standby)
        #expect(sim.run(until: .seconds(2)) { $0.settled })
        #expect(!sim.actions(of: 2, since: resumedAt).contains { $0.sentKinds == [.voteRequest] })
        #expect(sim.leaders == [0] && sim.machines[0].term == 1)
    }

    @Test func aFollowerCutOffFromTheLeaderDoesNotDisruptIt() {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        sim.cut.insert([0, 2])  // 2 no longer hears 0, but still hears 1
        sim.run(for: .seconds(10))
        // 2's pre-votes are refused by 1, which hears the leader: no term is spent, the leader stays
        #expect(sim.leaders == [0])
        #expect(sim.machines[0].term == 1 && sim.machines[1].term == 1)
        #expect(sim.maxHolders == 1)
        sim.heal()
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        #expect(sim.leaders == [0])
    }

    @Test func twoMembersWithHalfVotesSurviveTheLossOfEither() throws {
        // The seed: two poolhosts, enable_consensus_with_half_votes = on.
        var sim = WatchdogSimulation(members: 2, halfVotes: true)
        sim.start(0, 1)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        #expect(sim.leaders == [0])
        sim.run(for: .seconds(1))
        #expect(sim.machines[0].quorumStatus(now: sim.now) == .exists)
        let at = sim.now
        sim.kill(0)
        #expect(sim.run(until: .seconds(8)) { $0.settled })
        #expect(sim.leaders == [1])
        #expect(sim.machines[1].quorumStatus(now: sim.now) == .onTheEdge)
        #expect(try #require(sim.firstVIPUp(after: at)).at - at >= sim.timings.deadtime - sim.timings.beaconInterval)
        #expect(sim.maxHolders == 1)
    }

    @Test func twoMembersWithoutHalfVotesHoldNoVIPAlone() {
        var sim = WatchdogSimulation(members: 2)
        sim.start(0, 1)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        sim.kill(0)
        sim.run(for: .seconds(15))
        #expect(sim.leaders.isEmpty)
        #expect(sim.vipUp.isEmpty)
        #expect(sim.machines[1].quorumStatus(now: sim.now) == .noLeader)
    }

    @Test func halfVotesSplitBrainIsResolvedWhenThePartitionHeals() {
        // Half votes let each half lead (that is their cost); when they meet again one steps down.
        var sim = WatchdogSimulation(members: 2, halfVotes: true)
        sim.start(0, 1)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        sim.partition([0])
        #expect(sim.run(until: .seconds(8)) { $0.leaders == [0, 1] })
        sim.heal()
        #expect(sim.run(until: .seconds(5)) { $0.settled })
        #expect(sim.leaders.count == 1)
    }

    @Test func networkTroubleGivesUpLeadership() {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        sim.deliver(.networkTrouble, to: 0)
        #expect(sim.state(0) == .inNetworkTrouble)
        #expect(sim.vipUp.isEmpty)
        #expect(sim.run(until: .seconds(8)) { $0.leaders == [1] && $0.vipUp == [1] })
        #expect(sim.machines[1].peers[0]?.state == .networkIsolation)
        sim.deliver(.networkRestored, to: 0)
        #expect(sim.run(until: .seconds(6)) { $0.settled })
        #expect(sim.leaders == [1])
    }

    @Test func aRestartedFollowerKeepsItsPromise() throws {
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        #expect(sim.persisted[2]?.followedLeader == "host0:9000")
        // 1 loses the leader and is free to stand; 2 still answers the leader, whose lease rests on 2's answers.
        sim.cut.insert([0, 1])
        sim.run(for: .seconds(5))
        #expect(sim.leaders == [0] && sim.vipUp == [0])
        // 2 restarts at once, cut off from the leader: it forgot its promise but not its persisted state, so it
        // votes for nobody for a deadtime, and 1 is elected only once 0's lease is over.
        sim.kill(2)
        sim.cut.insert([0, 2])
        let restartedAt = sim.now
        sim.start(2)
        #expect(sim.run(until: .seconds(10)) { $0.vipUp == [1] })
        let up = try #require(sim.firstVIPUp(after: restartedAt))
        #expect(up.member == 1 && up.at - restartedAt >= sim.timings.deadtime)
        #expect(sim.maxHolders == 1)
    }

    /// Random faults, deterministic seed: whatever happens, never two VIP holders at once.
    @Test(arguments: Array(UInt64(1)...UInt64(40)))
    func randomFaultsNeverGiveTwoVIPHolders(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        let n = [3, 4, 5][Int(seed % 3)]
        var sim = WatchdogSimulation(members: n)
        sim.rng = SplitMix(seed: seed &* 31)
        sim.jitter = .milliseconds(300)
        for i in 0..<n { sim.start(i) }
        for _ in 0..<40 {
            let target = Int(rng.next() % UInt64(n))
            switch rng.next() % 9 {
            case 0: sim.kill(target)
            case 1: if !sim.running.contains(target) { sim.start(target) }
            case 2: sim.pause(target)
            case 3: if sim.paused.contains(target) { sim.resume(target) }
            case 4: sim.partition([target])
            case 5: sim.heal()
            case 6: sim.oneWay.insert([target, (target + 1) % n])
            case 7: for l in sim.leaders { sim.deliver(.resign, to: l) }
            default: sim.cut.insert([min(target, (target + 1) % n), max(target, (target + 1) % n)])
            }
            sim.run(for: .milliseconds(Int64(rng.next() % 6000)))
        }
        #expect(sim.maxHolders <= 1, "\(sim.vipLog)")
        // and once the faults stop, the cluster settles
        for i in 0..<n where sim.paused.contains(i) { sim.resume(i) }
        for i in 0..<n where !sim.running.contains(i) { sim.start(i) }
        sim.heal()
        #expect(sim.run(until: .seconds(20)) { $0.settled })
        #expect(sim.maxHolders <= 1)
    }
}

/// A small deterministic generator for the fault schedule.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
