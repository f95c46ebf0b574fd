import Testing
@testable import Shared

/// One member's machine driven message by message, with the other members played by the test. Timings: keepalive
/// 1 s, deadtime 4 s, so lease 2 s, beacons and reply timeout 0.5 s, pause threshold 1 s.
@Suite struct WatchdogTranscriptTests {
    typealias SM = WatchdogStateMachine

    static func make(members n: Int, local: Int = 0, priority: Int = 1, halfVotes: Bool = false) -> SM {
        let members = (0..<n).map { SM.Member(id: $0, name: "host\($0):9000") }
        return SM(configuration: .init(members: members, localID: local, priority: priority, halfVotes: halfVotes,
                                       timings: WatchdogTimings(keepalive: .seconds(1), deadtime: .seconds(4))))
    }

    static func msg(_ kind: WatchdogMessage.Kind, term: UInt64, state: WatchdogState, priority: Int = 1,
                    sentAt: Duration = .zero, askedTerm: UInt64 = 0, flags: WatchdogMessage.Flags = [],
                    leader: String = "") -> WatchdogMessage {
        WatchdogMessage(kind: kind, term: term, state: state, priority: priority, uptime: .zero, leader: leader,
                        sentAt: sentAt, askedTerm: askedTerm, flags: flags)
    }

    static func ms(_ v: Int) -> Duration { .milliseconds(v) }

    static func sends(_ actions: [SM.Action]) -> [(WatchdogMessage, [Int])] {
        actions.compactMap { if case .send(let m, let to) = $0 { return (m, to) } else { return nil } }
    }

    /// A standby of member 1 in `term`, having answered a beacon at 100 ms.
    static func makeStandby(members n: Int = 3, term: UInt64 = 3) -> SM {
        var sm = make(members: n)
        _ = sm.event(.start(.init()), now: .zero)
        _ = sm.event(.received(msg(.beacon, term: term, state: .leader, sentAt: ms(50)), from: 1), now: ms(100))
        return sm
    }

    /// The leader of term 1 in a 3-member cluster, escalated (member 1 answered its first beacon).
    static func makeLeader() -> (SM, Duration) {
        var sm = make(members: 3)
        _ = sm.event(.start(.init()), now: .zero)
        for id in [1, 2] { _ = sm.event(.received(msg(.info, term: 0, state: .loading), from: id), now: ms(10)) }
        // all answered: member 0 is preferred (lowest name) and stands at once
        #expect(sm.state == .standingForLeader)
        for id in [1, 2] {
            _ = sm.event(.received(msg(.voteReply, term: 0, state: .initializing, askedTerm: 1, flags: [.preVote, .granted]),
                                   from: id), now: ms(20))
        }
        #expect(sm.term == 1 && sm.persistent.votedFor == "host0:9000")
        let out = sm.event(.received(msg(.voteReply, term: 1, state: .initializing, askedTerm: 1, flags: .granted), from: 1),
                           now: ms(30))
        #expect(sm.state == .leader)
        let beacon = Self.sends(out).first { $0.0.kind == .beacon }!.0
        let acked = sm.event(.received(msg(.beaconAck, term: 1, state: .standby, sentAt: beacon.sentAt), from: 1), now: ms(40))
        #expect(acked == [.holdVIP(until: ms(30) + .seconds(2) + .milliseconds(250), term: 1), .escalate(term: 1)])
        return (sm, ms(40))
    }

    // MARK: - Terms

    @Test func staleTermMessagesChangeNothing() {
        var sm = Self.makeStandby(term: 3)
        #expect(sm.state == .standby && sm.leaderID == 1 && sm.term == 3)
        // a beacon from a deposed leader of term 2: no state change, it is told term 3
        let a = sm.event(.received(Self.msg(.beacon, term: 2, state: .leader, sentAt: Self.ms(500)), from: 2), now: Self.ms(200))
        #expect(Self.sends(a).map { [$0.0.kind.rawValue, UInt8($0.0.term), UInt8($0.1[0])] } == [[WatchdogMessage.Kind.info.rawValue, 3, 2]])
        #expect(sm.state == .standby && sm.leaderID == 1 && sm.term == 3)
        // its vote request for term 2 is refused, and its stale ack and goingDown are ignored
        let v = sm.event(.received(Self.msg(.voteRequest, term: 2, state: .standingForLeader), from: 2), now: Self.ms(300))
        #expect(Self.sends(v).count == 1 && !Self.sends(v)[0].0.flags.contains(.granted) && Self.sends(v)[0].0.term == 3)
        #expect(sm.event(.received(Self.msg(.beaconAck, term: 2, state: .standby), from: 2), now: Self.ms(350)).isEmpty)
        #expect(sm.event(.received(Self.msg(.goingDown, term: 2, state: .shutdown), from: 1), now: Self.ms(360)).isEmpty)
        #expect(sm.state == .standby && sm.leaderID == 1 && sm.persistent == .init(term: 3, followedLeader: "host1:9000"))
    }

    @Test func aNewerTermMakesTheLeaderDropTheVIPFirst() {
        var (sm, t) = Self.makeLeader()
        let out = sm.event(.received(Self.msg(.info, term: 5, state: .standby), from: 2), now: t + Self.ms(10))
        #expect(out.first == .deEscalate(term: 1))
        #expect(out.dropFirst().first == .persist(.init(term: 5)))
        #expect(sm.state != .leader && !sm.escalated && sm.term == 5)
        #expect(!sm.mayActAsLeader(now: t + Self.ms(10)))
    }

    // MARK: - Votes

    @Test func oneVotePerTermAndNoneWhileALeaderIsAlive() {
        var sm = Self.makeStandby(term: 3)
        // within a deadtime of the beacon: refused, and the term is not taken
        var r = sm.event(.received(Self.msg(.voteRequest, term: 4, state: .standingForLeader), from: 2), now: Self.ms(1000))
        #expect(!Self.sends(r)[0].0.flags.contains(.granted) && sm.term == 3)
        // after the deadtime (and a leader that fell silent): granted once, persisted before the answer
        _ = sm.event(.tick, now: Self.ms(1500))
        for t in stride(from: 2000, through: 4100, by: 300) { _ = sm.event(.tick, now: Self.ms(t)) }
        r = sm.event(.received(Self.msg(.voteRequest, term: 4, state: .standingForLeader), from: 2), now: Self.ms(4200))
        #expect(r.first == .persist(.init(term: 4)))
        #expect(r.dropFirst().first == .persist(.init(term: 4, votedFor: "host2:9000")))
        #expect(Self.sends(r)[0].0.flags.contains(.granted))
        // another candidate in the same term: refused; the same one again: granted again
        r = sm.event(.received(Self.msg(.voteRequest, term: 4, state: .standingForLeader), from: 1), now: Self.ms(4300))
        #expect(!Self.sends(r)[0].0.flags.contains(.granted))
        r = sm.event(.received(Self.msg(.voteRequest, term: 4, state: .standingForLeader), from: 2), now: Self.ms(4400))
        #expect(Self.sends(r)[0].0.flags.contains(.granted))
    }

    @Test func aLeaderRefusesVotes() {
        var (sm, t) = Self.makeLeader()
        let r = sm.event(.received(Self.msg(.voteRequest, term: 2, state: .standingForLeader, flags: .preVote), from: 2),
                         now: t + Self.ms(10))
        #expect(!Self.sends(r)[0].0.flags.contains(.granted))
        #expect(sm.state == .leader && sm.term == 1)
    }

    @Test func aPreferredMemberRefusesAPreVoteAndStandsInstead() {
        var sm = Self.make(members: 3, priority: 5)
        _ = sm.event(.start(.init()), now: .zero)
        let r = sm.event(.received(Self.msg(.voteRequest, term: 1, state: .standingForLeader, flags: .preVote), from: 2),
                         now: Self.ms(10))
        let sent = Self.sends(r)
        #expect(sent[0].0.kind == .voteReply && !sent[0].0.flags.contains(.granted) && !sent[0].0.flags.contains(.abstain))
        #expect(sent[1].0.kind == .voteRequest && sent[1].0.flags.contains(.preVote) && sent[1].0.term == 1)
        #expect(sm.state == .standingForLeader && sm.term == 0)
    }

    @Test func splitVotesAreRetriedInALaterTerm() {
        // 4 members need 3 votes. Member 0 stands; 2 and 3 voted for member 3 in term 1: nobody wins term 1.
        var sm = Self.make(members: 4)
        _ = sm.event(.start(.init()), now: .zero)
        for id in 1...3 { _ = sm.event(.received(Self.msg(.info, term: 0, state: .loading), from: id), now: Self.ms(10)) }
        for id in 1...3 {
            _ = sm.event(.received(Self.msg(.voteReply, term: 0, state: .loading, askedTerm: 1, flags: [.preVote, .granted]),
                                   from: id), now: Self.ms(20))
        }
        #expect(sm.term == 1 && sm.state == .standingForLeader)
        _ = sm.event(.received(Self.msg(.voteReply, term: 1, state: .initializing, askedTerm: 1, flags: .granted), from: 1), now: Self.ms(30))
        for id in [2, 3] {
            _ = sm.event(.received(Self.msg(.voteReply, term: 1, state: .standingForLeader, askedTerm: 1), from: id), now: Self.ms(30))
        }
        #expect(sm.state == .standingForLeader)  // 2 votes of 3
        _ = sm.event(.tick, now: Self.ms(600))  // the round times out
        #expect(sm.state == .initializing || sm.state == .participatingInElection)
        #expect(sm.term == 1)
        // its next turn comes one reply timeout later than its rank (two, as others were seen standing):
        // a pre-vote for term 2, then the vote
        var next: [SM.Action] = []
        var at = 0
        for t in stride(from: 650, through: 2500, by: 50) where next.isEmpty {
            next = sm.event(.tick, now: Self.ms(t)).filter { !Self.sends([$0]).isEmpty }
            at = t
        }
        #expect(at == 1600)
        #expect(Self.sends(next).first?.0.kind == .voteRequest && Self.sends(next).first?.0.term == 2)
        for id in 1...3 {
            _ = sm.event(.received(Self.msg(.voteReply, term: 1, state: .initializing, askedTerm: 2, flags: [.preVote, .granted]),
                                   from: id), now: Self.ms(1650))
        }
        for id in [1, 2] {
            _ = sm.event(.received(Self.msg(.voteReply, term: 2, state: .initializing, askedTerm: 2, flags: .granted), from: id),
                         now: Self.ms(1700))
        }
        #expect(sm.state == .leader && sm.term == 2)
    }

    /// Two hosts started together: the first hello went to a member not listening yet. LOADING asks again, once per
    /// reply timeout, only the members that have not answered.
    @Test func loadingResendsHelloToMembersThatDidNotAnswer() {
        var sm = Self.make(members: 3, halfVotes: true)
        let first = Self.sends(sm.event(.start(.init()), now: .zero))
        #expect(first.map { [$0.0.kind.rawValue] + $0.1.map(UInt8.init) } == [[WatchdogMessage.Kind.hello.rawValue, 1, 2]])
        _ = sm.event(.received(Self.msg(.info, term: 0, state: .loading), from: 1), now: Self.ms(100))
        #expect(Self.sends(sm.event(.tick, now: Self.ms(300))).isEmpty, "not before a reply timeout")
        let again = Self.sends(sm.event(.tick, now: Self.ms(600)))
        #expect(again.filter { $0.0.kind == .hello }.map(\.1) == [[2]], "only member 2 is asked again")
    }

    @Test func halfVotesLetALoneMemberOfTwoLead() {
        var sm = Self.make(members: 2, halfVotes: true)
        _ = sm.event(.start(.init()), now: .zero)
        var all: [SM.Action] = []
        // it waits a whole deadtime (4 s) for the other member's hello before it leads alone
        for t in stride(from: 100, through: 3900, by: 100) { all += sm.event(.tick, now: Self.ms(t)) }
        #expect(sm.state == .loading && !all.contains(.escalate(term: 1)), "two hosts started together must hear each other first")
        for t in stride(from: 4000, through: 7000, by: 100) { all += sm.event(.tick, now: Self.ms(t)) }
        #expect(sm.state == .leader && sm.term == 1)
        #expect(all.contains(.escalate(term: 1)))
        #expect(sm.quorumStatus(now: Self.ms(7000)) == .onTheEdge)
        // without half votes the same member never leads alone
        var alone = Self.make(members: 2)
        _ = alone.event(.start(.init()), now: .zero)
        for t in stride(from: 100, through: 10000, by: 100) { _ = alone.event(.tick, now: Self.ms(t)) }
        #expect(alone.state != .leader && !alone.escalated)
    }

    @Test func halfVotesStillDeferToALiveMemberThatRefuses() {
        var sm = Self.make(members: 2, halfVotes: true)
        _ = sm.event(.start(.init()), now: .zero)
        _ = sm.event(.received(Self.msg(.info, term: 0, state: .loading), from: 1), now: Self.ms(10))
        #expect(sm.state == .standingForLeader)
        _ = sm.event(.received(Self.msg(.voteReply, term: 0, state: .standby, askedTerm: 1, flags: .preVote), from: 1), now: Self.ms(20))
        #expect(sm.state != .leader && sm.term == 0)
    }

    // MARK: - Pauses

    @Test func aPausedCandidateDoesNotLeadOnVotesFromBeforeThePause() {
        var sm = Self.make(members: 3)
        _ = sm.event(.start(.init()), now: .zero)
        for id in [1, 2] { _ = sm.event(.received(Self.msg(.info, term: 0, state: .loading), from: id), now: Self.ms(10)) }
        for id in [1, 2] {
            _ = sm.event(.received(Self.msg(.voteReply, term: 0, state: .initializing, askedTerm: 1, flags: [.preVote, .granted]),
                                   from: id), now: Self.ms(20))
        }
        #expect(sm.term == 1 && sm.state == .standingForLeader)
        // SIGSTOP for 10 s; the grant waited in the socket
        let out = sm.event(.received(Self.msg(.voteReply, term: 1, state: .initializing, askedTerm: 1, flags: .granted), from: 1),
                           now: .seconds(10))
        #expect(sm.state == .joining)
        #expect(!out.contains { if case .escalate = $0 { return true } else { return false } })
        #expect(Self.sends(out).allSatisfy { $0.0.kind == .hello })
    }

    @Test func aPausedFollowerReHearsInsteadOfStanding() {
        var sm = Self.makeStandby(term: 3)
        _ = sm.event(.tick, now: Self.ms(400))
        // 10 s without running: its leader looks silent, but it says hello and waits
        let out = sm.event(.tick, now: .seconds(10))
        #expect(sm.state == .joining)
        #expect(Self.sends(out).map(\.0.kind) == [.hello])
        let r = sm.event(.received(Self.msg(.voteRequest, term: 4, state: .standingForLeader, flags: .preVote), from: 2),
                         now: .seconds(10) + Self.ms(10))
        #expect(Self.sends(r)[0].0.flags.contains(.abstain))
        // the leader's next beacon: standby again, no term spent
        _ = sm.event(.received(Self.msg(.beacon, term: 3, state: .leader, sentAt: .seconds(20)), from: 1), now: .seconds(10) + Self.ms(50))
        #expect(sm.state == .standby && sm.term == 3)
    }

    @Test func aLeaderWhoseLeaseRanOutStepsDownOnTheNextEvent() {
        var (sm, t) = Self.makeLeader()
        #expect(sm.mayActAsLeader(now: t))
        // member 1 stops answering; beacons go on, the lease from the 30 ms beacon ends at 2030 ms
        var out: [SM.Action] = []
        for ms in stride(from: 100, through: 2000, by: 100) { out += sm.event(.tick, now: Self.ms(ms)) }
        #expect(sm.state == .leader && !out.contains(.deEscalate(term: 1)))
        out = sm.event(.tick, now: Self.ms(2050))
        #expect(out.first == .deEscalate(term: 1))
        #expect(sm.state == .joining && !sm.mayActAsLeader(now: Self.ms(2050)))
    }

    @Test func shutdownOfTheLeaderDropsTheVIPBeforeSayingGoodbye() {
        var (sm, t) = Self.makeLeader()
        #expect(sm.event(.shutdown, now: t + Self.ms(10)) == [.deEscalate(term: 1)])
        let out = sm.event(.deEscalated, now: t + Self.ms(20))
        #expect(Self.sends(out).map(\.0.kind) == [.goingDown] && out.last == .stop)
        #expect(sm.state == .shutdown)
    }

    @Test func restartedMemberRemembersItsTermAndPromise() {
        var sm = Self.make(members: 3)
        let out = sm.event(.start(.init(term: 7, votedFor: "host1:9000", followedLeader: "host1:9000")), now: .zero)
        #expect(Self.sends(out).map(\.0.term) == [7])
        let r = sm.event(.received(Self.msg(.voteRequest, term: 8, state: .standingForLeader, flags: .preVote), from: 2),
                         now: Self.ms(100))
        #expect(!Self.sends(r)[0].0.flags.contains(.granted))
    }

    @Test func backendMessagesCountAsInfoForTheElection() {
        var (sm, t) = Self.makeLeader()
        let view = WatchdogMessage(.view(.init(version: 1, primary: 0, nodes: [0: .up])), term: 1, state: .standby,
                                   priority: 1, uptime: .seconds(1))
        // same term: the sender is heard, nothing else changes for the election
        #expect(sm.event(.received(view, from: 2), now: t + Self.ms(10)).isEmpty)
        #expect(sm.peers[2]?.lastHeard == t + Self.ms(10) && sm.state == .leader)
        // a newer term in a proposal is adopted like any other: the leader steps down, VIP first
        var proposal = WatchdogMessage(.proposal(.init(.nodeDown, nodes: [1])), term: 4, state: .standby, priority: 1,
                                       uptime: .seconds(1))
        proposal.leader = "host1:9000"
        let out = sm.event(.received(proposal, from: 1), now: t + Self.ms(20))
        #expect(out.first == .deEscalate(term: 1) && sm.term == 4 && sm.state != .leader)
    }
}

/// Pgpool-II's quorum and consensus formulas (reference §7.5).
@Suite struct WatchdogQuorumTests {
    @Test(arguments: [
        (1, false, 1), (2, false, 2), (2, true, 1), (3, false, 2), (3, true, 2), (4, false, 3), (4, true, 2),
        (5, false, 3), (6, true, 3), (6, false, 4),
    ])
    func votesNeeded(members: Int, halfVotes: Bool, needed: Int) {
        #expect(WatchdogQuorum.votesNeeded(members: members, halfVotes: halfVotes) == needed)
    }

    @Test(arguments: [
        (3, 1, false, WatchdogQuorum.Status.exists), (3, 0, false, .absent), (4, 1, false, .absent),
        (4, 1, true, .onTheEdge), (4, 2, false, .exists), (2, 0, true, .onTheEdge), (2, 0, false, .absent),
        (2, 1, false, .exists), (5, 2, false, .exists), (5, 1, true, .absent),
    ])
    func quorumStatus(members: Int, aliveRemote: Int, halfVotes: Bool, status: WatchdogQuorum.Status) {
        #expect(WatchdogQuorum.status(aliveRemote: aliveRemote, members: members, halfVotes: halfVotes) == status)
    }
}
