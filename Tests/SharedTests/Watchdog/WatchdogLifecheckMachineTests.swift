import Testing
@testable import Shared

/// What the election machine does with the lifecheck's verdicts (`.memberSilent`, `.heartbeat(from:)`) and
/// without UDP heartbeats (`wd_lifecheck_method = query | external`). Timings as in `WatchdogTranscriptTests`:
/// keepalive 1 s, deadtime 4 s (lease 2 s, beacons every 0.5 s).
@Suite struct WatchdogLifecheckMachineTests {
    typealias T = WatchdogTranscriptTests
    typealias SM = WatchdogStateMachine

    @Test func aMemberLostByTheLifecheckStaysLostAndItsAnswersDoNotExtendTheLease() {
        var (sm, _) = T.makeLeader()
        _ = sm.event(.memberSilent(1), now: T.ms(50))
        #expect(sm.peers[1]?.state == .lost && sm.peers[1]?.lostByLifecheck == true)
        let out = sm.event(.tick, now: T.ms(530))
        let beacon = T.sends(out).first { $0.0.kind == .beacon }!.0
        // its watchdog still answers: it stays LOST and its answer is no promise the lease counts
        #expect(sm.event(.received(T.msg(.beaconAck, term: 1, state: .standby, sentAt: beacon.sentAt), from: 1), now: T.ms(540)) == [])
        #expect(sm.peers[1]?.state == .lost)
        _ = sm.event(.received(T.msg(.info, term: 1, state: .standby), from: 1), now: T.ms(550))
        #expect(sm.peers[1]?.state == .lost)
        #expect(sm.leaseExpiry == T.ms(30) + .seconds(2))
        // the lifecheck finds it alive: it is what it reports again, and its answers count
        _ = sm.event(.heartbeat(from: 1), now: T.ms(600))
        #expect(sm.peers[1]?.state == .standby && sm.peers[1]?.lostByLifecheck == false)
        #expect(sm.event(.received(T.msg(.beaconAck, term: 1, state: .standby, sentAt: beacon.sentAt), from: 1), now: T.ms(610))
                == [.holdVIP(until: beacon.sentAt + .seconds(2) + .milliseconds(250), term: 1)])
    }

    @Test func withoutAnswersCountedTheLeaderLosesItsLeaseAndStepsDown() {
        var (sm, _) = T.makeLeader()
        _ = sm.event(.memberSilent(1), now: T.ms(50))
        var actions: [SM.Action] = []
        for t in stride(from: 100, through: 2500, by: 100) {
            let out = sm.event(.tick, now: T.ms(t))
            for case .send(let m, _) in out where m.kind == .beacon {
                actions += sm.event(.received(T.msg(.beaconAck, term: 1, state: .standby, sentAt: m.sentAt), from: 1),
                                    now: T.ms(t + 5))
            }
            actions += out
        }
        #expect(actions.contains(.deEscalate(term: 1)))
        #expect(sm.state != .leader && !sm.mayActAsLeader(now: T.ms(2500)))
    }

    @Test func aStandbyStopsFollowingALeaderTheLifecheckFindsDeadButKeepsItsPromise() {
        var sm = T.make(members: 3, local: 2)
        _ = sm.event(.start(.init()), now: .zero)
        _ = sm.event(.received(T.msg(.beacon, term: 3, state: .leader, sentAt: T.ms(50)), from: 1), now: T.ms(100))
        #expect(sm.state == .standby && sm.leaderID == 1)
        _ = sm.event(.memberSilent(1), now: T.ms(200))
        #expect(sm.state == .initializing && sm.leaderID == nil && sm.peers[1]?.state == .lost)
        // its beacons are neither followed nor answered
        #expect(sm.event(.received(T.msg(.beacon, term: 3, state: .leader, sentAt: T.ms(550)), from: 1), now: T.ms(600)) == [])
        #expect(sm.state == .initializing)
        // the promise given with the answer at 100 ms holds: no vote before 4.1 s
        var r = sm.event(.received(T.msg(.voteRequest, term: 4, state: .standingForLeader, flags: .preVote), from: 0), now: T.ms(1000))
        #expect(!T.sends(r)[0].0.flags.contains(.granted))
        for t in stride(from: 1500, through: 4100, by: 400) { _ = sm.event(.tick, now: T.ms(t)) }
        // after it: member 0 (started with this one, and preferred) gets the vote, the member the lifecheck finds
        // dead does not
        var request = T.msg(.voteRequest, term: 4, state: .standingForLeader, flags: .preVote)
        request.uptime = T.ms(4200)
        r = sm.event(.received(request, from: 0), now: T.ms(4200))
        #expect(T.sends(r).first { $0.0.kind == .voteReply }!.0.flags.contains(.granted))
        r = sm.event(.received(T.msg(.voteRequest, term: 4, state: .standingForLeader, flags: .preVote), from: 1), now: T.ms(4250))
        let reply = T.sends(r).first { $0.0.kind == .voteReply }!.0
        #expect(!reply.flags.contains(.granted) && !reply.flags.contains(.abstain))
        // a real vote request from it is refused without taking its term
        r = sm.event(.received(T.msg(.voteRequest, term: 5, state: .standingForLeader), from: 1), now: T.ms(4300))
        #expect(!T.sends(r).first { $0.0.kind == .voteReply }!.0.flags.contains(.granted))
        #expect(sm.term == 3)
    }

    // MARK: - Whole clusters without heartbeats

    static func withoutHeartbeats(_ n: Int) -> WatchdogSimulation {
        var sim = WatchdogSimulation(members: n)
        sim.configurations = sim.configurations.map { var c = $0; c.heartbeats = false; return c }
        return sim
    }

    @Test func withoutHeartbeatsTwoStandbysThatNeverTalkDoNotSeeEachOtherLost() {
        var sim = Self.withoutHeartbeats(3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        sim.run(for: .seconds(20))
        #expect(sim.settled)
        for i in 0..<3 { for j in 0..<3 where i != j { #expect(sim.machines[i].peers[j]?.state != .lost, "\(i) sees \(j)") } }
        // with heartbeats expected but none arriving (the simulation sends none), they would
        var contrast = WatchdogSimulation(members: 3)
        contrast.start(0, 1, 2)
        #expect(contrast.run(until: .seconds(3)) { $0.settled })
        contrast.run(for: .seconds(20))
        #expect(contrast.machines[1].peers[2]?.state == .lost)
    }

    @Test func withoutHeartbeatsTheLeaderSeesAKilledStandbyLostAndAKilledLeaderIsReplaced() throws {
        var sim = Self.withoutHeartbeats(3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        sim.kill(2)
        #expect(sim.run(until: .seconds(5)) { $0.machines[0].peers[2]?.state == .lost })
        sim.start(2)
        #expect(sim.run(until: .seconds(5)) { $0.settled })
        let killedAt = sim.now
        sim.kill(0)
        #expect(sim.run(until: .seconds(10)) { $0.settled })
        let up = try #require(sim.firstVIPUp(after: killedAt))
        #expect(up.at - killedAt >= sim.timings.deadtime - sim.timings.beaconInterval)
        #expect(sim.maxHolders == 1)
    }

    /// An external agent reports the leader dead on both standbys: they stop answering it, it loses its lease,
    /// and the VIP moves; the old leader follows the new one, which does not count it until it is reported alive.
    @Test func aLeaderReportedDeadEverywhereLosesTheVIPToAnother() throws {
        var sim = Self.withoutHeartbeats(3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        #expect(sim.leaders == [0])
        let at = sim.now
        for id in [1, 2] { sim.deliver(.memberSilent(0), to: id) }
        #expect(sim.run(until: .seconds(10)) { $0.settled && $0.leaders != [0] })
        let down = try #require(sim.vipLog.first { !$0.up && $0.member == 0 && $0.at > at })
        let up = try #require(sim.firstVIPUp(after: at))
        #expect(down.at < up.at)
        #expect(sim.maxHolders == 1)
        let leader = sim.leaders[0]
        #expect(sim.machines[leader].recentFollowers(now: sim.now) == 1)
        sim.deliver(.heartbeat(from: 0), to: leader)
        sim.run(for: .seconds(1))
        #expect(sim.machines[leader].recentFollowers(now: sim.now) == 2)
    }
}
