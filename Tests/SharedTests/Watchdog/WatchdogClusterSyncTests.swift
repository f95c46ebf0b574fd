import Testing
@testable import Shared

/// Cluster-wide backend state as transcripts: views, failover consensus and quarantine, operators' requests and
/// settings digests, between members wired by `WatchdogClusterSyncHarness` (member 0 leads term 3 unless a test
/// says otherwise; 3 members, so 2 votes decide).
@Suite struct WatchdogClusterSyncTests {
    typealias H = WatchdogClusterSyncHarness
    typealias Sync = WatchdogClusterSync
    static let down1 = FailoverConsensus.Request(.nodeDown, nodes: [1])

    /// A harness whose leader has published its first view (version 1) and every member applied it.
    static func started(rules: FailoverConsensus.Rules? = nil) -> H {
        var h = H(rules: rules)
        let first = h.run(0, .tick)
        #expect(first.sent.map(\.payload) == [.view(.init(version: 1, primary: 0, nodes: H.cluster.nodes))])
        #expect(first.of(1).applied == [.init(version: 1, primary: 0, nodes: H.cluster.nodes)])
        #expect(h.syncs.allSatisfy { $0.view.version == 1 && $0.viewTerm == 3 })
        return h
    }

    // MARK: - Consensus

    @Test func twoOfThreeFailTheNodeOverExactlyOnce() {
        var h = Self.started()
        // member 1's health check fails node 1: quarantined there at once, proposed to the leader
        let a = h.run(1, .detected(Self.down1))
        #expect(a.of(1).notices.first == .quarantined(node: 1))
        #expect(a.of(1).applied.last?.status(of: 1) == .quarantine)
        #expect(a.of(0).notices == [.consensus(Self.down1, .buildingConsensus(votes: 1, needed: 2), from: 1)])
        #expect(a.of(1).notices.last == .answered(Self.down1, .buildingConsensus(votes: 1, needed: 2)))
        #expect(a.failovers.isEmpty)
        // member 2 sees it too: the second vote decides, the leader executes in its term
        let b = h.run(2, .detected(Self.down1))
        #expect(b.failovers.map { [$0.member, Int($0.term)] } == [[0, 3]])
        #expect(b.of(2).notices.last == .answered(Self.down1, .proceed))
        // more reports of the same failure (health-check rounds, the leader's own check) run nothing more
        let c = h.run(1, .detected(Self.down1)) + h.run(0, .detected(Self.down1)) + h.run(2, .detected(Self.down1))
        #expect(c.failovers.isEmpty)
        #expect(!h.syncs[0].quarantine.contains(1))
        // the leader's cluster service failed node 1 over: published as version 2; members apply it and the
        // quarantine is over — node 1 is down everywhere
        var after = H.cluster
        after.nodes[1] = .down
        let d = h.run(0, .clusterChanged(after))
        #expect(d.sent.map(\.payload) == [.view(.init(version: 2, primary: 0, nodes: after.nodes))])
        for id in [1, 2] {
            #expect(d.of(id).applied == [.init(version: 2, primary: 0, nodes: after.nodes)])
            #expect(h.syncs[id].quarantine.nodes.isEmpty)
        }
        #expect(d.of(1).notices == [.quarantineLifted(node: 1, failedOver: true)])
        // once down in the view, a late report changes nothing
        #expect(h.run(2, .detected(Self.down1)).isEmpty)
        #expect(h.log.failovers.count == 1)
    }

    @Test func withoutConsensusTheProposerQuarantinesThenLiftsIt() {
        var h = Self.started()
        let a = h.run(1, .detected(.init(.nodeDown, nodes: [2])))
        #expect(a.of(1).notices == [.quarantined(node: 2), .answered(.init(.nodeDown, nodes: [2]), .buildingConsensus(votes: 1, needed: 2))])
        // the leader's own view is untouched, and so is what it publishes
        #expect(h.syncs[0].view.status(of: 2) == .up)
        // sessions on member 1 avoid node 2: its cluster state (reported back) says quarantine; nothing is published
        #expect(h.run(1, .clusterChanged(h.syncs[1].effectiveView)).isEmpty)
        #expect(h.syncs[1].effectiveView.status(of: 2) == .quarantine)
        // nobody else agrees; the proposal expires on the leader after 15 s
        h.now = .seconds(16)
        h.tick()
        #expect(h.syncs[0].consensus.votes(for: .init(.nodeDown, nodes: [2])) == 0)
        #expect(h.log.failovers.isEmpty)
        // node 2 answers member 1's health check again: the quarantine is lifted, no failover ever ran
        let b = h.run(1, .nodeAnswered(2))
        #expect(b.of(1).notices == [.quarantineLifted(node: 2, failedOver: false)])
        #expect(b.of(1).applied.last?.status(of: 2) == .up)
        #expect(h.run(1, .nodeAnswered(2)).isEmpty)
    }

    @Test func theLeadersOwnCheckIsOneVoteAndItQuarantinesMeanwhile() {
        var h = Self.started()
        let a = h.run(0, .detected(Self.down1))
        #expect(a.of(0).notices == [.consensus(Self.down1, .buildingConsensus(votes: 1, needed: 2), from: 0),
                                    .quarantined(node: 1)])
        // the leader's sessions avoid node 1; reporting that back publishes nothing (quarantine is local)
        #expect(a.of(0).applied.last?.status(of: 1) == .quarantine)
        #expect(h.run(0, .clusterChanged(h.syncs[0].effectiveView)).sent.isEmpty)
        let b = h.run(2, .detected(Self.down1))
        #expect(b.failovers.count == 1 && b.failovers[0].member == 0)
    }

    /// Pgpool-II: a leader that cannot get consensus to fail its primary over resigns (it is likely the member
    /// cut off from the primary). Only for its own proposal of the primary, and only when the proposal expires.
    @Test func aLeaderWhoseOwnPrimaryFailoverGetsNoConsensusResigns() throws {
        var h = Self.started()
        let down0 = FailoverConsensus.Request(.nodeDown, nodes: [0])
        h.run(0, .detected(down0))
        h.run(0, .detected(Self.down1))
        h.now += .seconds(14)
        #expect(h.run(0, .tick).of(0).resignations.isEmpty, "not before the consensus timeout")
        h.now += .seconds(1)
        let r = try #require(h.run(0, .tick).of(0).resignations.first)
        #expect(r.contains("primary (node 0)") && r.contains("1 of 2 votes"))
        #expect(h.log.of(0).resignations.count == 1, "a standby's expired proposal makes no resignation")
        // a member's proposal of the primary that expires on the leader does not make it resign
        var g = Self.started()
        g.run(1, .detected(down0))
        g.now += .seconds(16)
        #expect(g.run(0, .tick).of(0).resignations.isEmpty)
        #expect(g.run(1, .tick).of(1).resignations.isEmpty)
    }

    @Test func noLeaderOrNoQuorumNothingFailsOver() {
        // no leader: the detecting member quarantines and proposes to nobody
        var h = Self.started()
        h.memberships[1] = H.leaderless()
        let a = h.run(1, .detected(Self.down1))
        #expect(a.of(1).notices == [.quarantined(node: 1), .noLeader(Self.down1)])
        #expect(a.sent.isEmpty && a.failovers.isEmpty)
        // a leader whose quorum is gone (failover_when_quorum_exists): no quorum, quarantine
        var q = Self.started()
        q.memberships[0] = H.leading(0, quorum: false)
        let b = q.run(0, .detected(Self.down1))
        #expect(b.of(0).notices == [.consensus(Self.down1, .noQuorum, from: 0), .quarantined(node: 1)])
        #expect(b.failovers.isEmpty)
        // failover_when_quorum_exists = off: the leader proceeds on one report
        var off = Self.started(rules: H.rules(members: 3, failoverWhenQuorumExists: false))
        off.memberships[0] = H.leading(0, quorum: false)
        #expect(off.run(1, .detected(Self.down1)).failovers.count == 1)
        // failover_require_consensus = off: one report is enough
        var one = Self.started(rules: H.rules(members: 3, requireConsensus: false))
        #expect(one.run(2, .detected(Self.down1)).failovers.count == 1)
    }

    @Test func nodeUpAndPromoteGoThroughConsensusToo() {
        var h = Self.started()
        var down = H.cluster
        down.nodes[2] = .down
        h.run(0, .clusterChanged(down))
        let up2 = FailoverConsensus.Request(.nodeUp, nodes: [2])
        #expect(h.run(1, .detected(up2)).failovers.isEmpty)
        #expect(h.run(2, .detected(up2)).failovers.map(\.request) == [up2])
        // no quarantine for these
        #expect(h.syncs.allSatisfy { $0.quarantine.nodes.isEmpty })
        // promoting the primary already in the view is nothing to do
        #expect(h.run(1, .detected(.init(.promote, nodes: [0]))).isEmpty)
    }

    @Test(arguments: [0, 1, 2])
    func anElectedClusterFailsThePrimaryOverOnceAndAllAgree(primary: Int) {
        // the election machines elect; their state at that instant is what the syncs see
        var sim = WatchdogSimulation(members: 3)
        sim.start(0, 1, 2)
        #expect(sim.run(until: .seconds(3)) { $0.settled })
        let leader = sim.leaders[0], term = sim.machines[leader].term
        var h = H()
        var start = H.cluster
        start.primary = primary
        h.syncs = (0..<3).map { H.make($0, cluster: start) }
        h.now = sim.now
        h.memberships = (0..<3).map { Sync.Membership(sim.machines[$0], now: sim.now) }
        #expect(h.memberships.map(\.leaderID) == [leader, leader, leader])
        h.tick()
        // every member's health check fails the primary; only the leader fails it over, once, in its term
        let down = FailoverConsensus.Request(.nodeDown, nodes: [primary])
        for id in [2, 1, 0] { h.run(id, .detected(down)) }
        #expect(h.log.failovers.map { [$0.member, Int($0.term)] } == [[leader, Int(term)]])
        // its cluster service fails the node over and promotes another: every member ends with the same view
        var after = start
        after.nodes[primary] = .down
        after.primary = (primary + 1) % 3
        h.run(leader, .clusterChanged(after))
        for s in h.syncs {
            #expect(s.effectiveView.sameState(as: after) && s.view.version == 2 && s.quarantine.nodes.isEmpty)
        }
    }

    // MARK: - Views

    @Test func staleTermViewsAreIgnored() {
        var sync = H.make(1)
        let m = H.following(0, term: 3)
        func view(_ version: UInt64, term: UInt64, primary: Int = 1) -> WatchdogMessage {
            WatchdogMessage(.view(.init(version: version, primary: primary, nodes: H.cluster.nodes)), term: term,
                            state: .leader, priority: 1, uptime: .zero, leader: "host0:9000")
        }
        // the leader this member follows, but a view of term 2 (sent before term 3 began): ignored
        #expect(sync.event(.received(view(9, term: 2), from: 0), membership: m, now: .zero).isEmpty)
        // term 3: applied
        let a = sync.event(.received(view(5, term: 3), from: 0), membership: m, now: .zero)
        #expect(a.applied == [.init(version: 5, primary: 1, nodes: H.cluster.nodes)])
        // an older or the same version of term 3: ignored (a resend, or frames overtaking each other)
        #expect(sync.event(.received(view(4, term: 3, primary: 2), from: 0), membership: m, now: .zero).isEmpty)
        #expect(sync.event(.received(view(5, term: 3, primary: 2), from: 0), membership: m, now: .zero).isEmpty)
        // a newer term than the election's (it adopts it first, and follows its leader only after a beacon)
        #expect(sync.event(.received(view(6, term: 4), from: 0), membership: m, now: .zero).isEmpty)
        // the new leader of term 4 starts its versions lower: the term comes first
        let a4 = sync.event(.received(view(1, term: 4, primary: 2), from: 2), membership: H.following(2, term: 4), now: .zero)
        #expect(a4.applied.map(\.primary) == [2])
        #expect(sync.view.version == 1 && sync.viewTerm == 4)
        // and the deposed leader of term 3 is not heard any more
        #expect(sync.event(.received(view(7, term: 3, primary: 0), from: 0), membership: H.following(2, term: 4), now: .zero).isEmpty)
        #expect(sync.view.primary == 2)
    }

    @Test func aViewFromAMemberThatIsNotTheLeaderIsIgnored() {
        var h = Self.started()
        let fake = WatchdogMessage(.view(.init(version: 50, primary: 2, nodes: [0: .down, 1: .up, 2: .up])), term: 3,
                                   state: .standby, priority: 1, uptime: .zero)
        // member 2 is a follower in term 3 like member 1: its view is nobody's
        #expect(h.run(1, .received(fake, from: 2)).isEmpty)
        // the leader never takes a view, not even a "newer" one of its own term
        #expect(h.run(0, .received(fake, from: 2)).isEmpty)
        #expect(h.syncs[0].view.version == 1 && h.syncs[1].view.primary == 0)
        // a member that follows no leader takes none
        h.memberships[1] = H.leaderless()
        var fromLeader = fake
        fromLeader.state = .leader
        #expect(h.run(1, .received(fromLeader, from: 0)).isEmpty)
    }

    @Test func aJoiningMemberGetsTheViewAndResendsHealLostFrames() {
        var h = Self.started()
        var after = H.cluster
        after.nodes[2] = .down
        // member 2 is cut off while the view changes; the next republish reaches it
        h.cut = [2]
        h.run(0, .clusterChanged(after))
        #expect(h.syncs[2].view.version == 1 && h.syncs[1].view.version == 2)
        h.cut = []
        h.now = .milliseconds(500)
        #expect(h.run(0, .tick).sent.isEmpty)  // not yet: every second
        h.now = .seconds(1)
        let a = h.run(0, .tick)
        #expect(a.of(2).applied.map(\.version) == [2])
        #expect(a.of(1).applied.isEmpty)  // it had version 2
        // a member that restarted says hello: the leader's digest and view at once
        h.syncs[1] = H.make(1)
        let hello = WatchdogMessage(kind: .hello, term: 3, state: .loading, priority: 1, uptime: .zero)
        let b = h.run(0, .received(hello, from: 1))
        #expect(b.of(1).applied == [.init(version: 2, primary: 0, nodes: after.nodes)])
        #expect(b.of(0).payloads.map(\.kind) == [.settingsDigest, .clusterView])
    }

    @Test func aNewLeaderPublishesItsOwnStateWithTheNextVersion() {
        var h = Self.started()
        // member 1's cluster service found node 2 down before it led (reported: kept for later)
        var own = H.cluster
        own.nodes[2] = .down
        #expect(h.run(1, .clusterChanged(own)).isEmpty)
        // member 0 is gone; member 1 leads term 4, member 2 follows it
        h.cut = [0]
        h.memberships[0] = H.leaderless(term: 3)
        h.memberships[1] = H.leading(1, term: 4)
        h.memberships[2] = H.following(1, term: 4)
        let a = h.run(1, .tick)
        #expect(a.sent.map(\.payload) == [.view(.init(version: 2, primary: 0, nodes: own.nodes))])
        #expect(a.of(2).applied.map(\.version) == [2] && h.syncs[2].viewTerm == 4)
        // it stops leading as soon as it may not act (lease lost): nothing published any more
        h.memberships[1] = H.following(2, term: 5)
        h.now = .seconds(5)
        #expect(h.run(1, .tick).sent.isEmpty && !h.syncs[1].isLeading)
    }

    // MARK: - Terms

    @Test func aPausedLeaderDoesNotExecute() {
        var (sm, t) = WatchdogTranscriptTests.makeLeader()
        var sync = H.make(0)
        let published = sync.event(.tick, membership: .init(sm, now: t), now: t)
        #expect(published.payloads.map(\.kind) == [.clusterView] && sync.isLeading)
        func proposal(_ term: UInt64) -> WatchdogMessage {
            WatchdogMessage(.proposal(Self.down1), term: term, state: .standby, priority: 1, uptime: .zero, leader: "host0:9000")
        }
        // member 1's vote, in time
        let a = sync.event(.received(proposal(1), from: 1), membership: .init(sm, now: t + .milliseconds(10)),
                           now: t + .milliseconds(10))
        #expect(a.notices == [.consensus(Self.down1, .buildingConsensus(votes: 1, needed: 2), from: 1)])
        // SIGSTOP for 3 s; on SIGCONT member 2's vote waits in the socket. The machine handles it first: its lease
        // ran out, it steps down; the sync, told so, executes nothing and stops leading.
        let resumed = t + .seconds(3)
        _ = sm.event(.received(proposal(1), from: 2), now: resumed)
        let b = sync.event(.received(proposal(1), from: 2), membership: .init(sm, now: resumed), now: resumed)
        #expect(b.isEmpty && !sync.isLeading)
        #expect(!sm.mayAct(inTerm: 1, now: resumed))
        // even asked before the machine saw the time jump, the lease is over: nothing runs
        var (sm2, t2) = WatchdogTranscriptTests.makeLeader()
        var sync2 = H.make(0)
        _ = sync2.event(.tick, membership: .init(sm2, now: t2), now: t2)
        _ = sync2.event(.received(proposal(1), from: 1), membership: .init(sm2, now: t2), now: t2)
        let late = t2 + .seconds(3)
        #expect(sync2.event(.detected(Self.down1), membership: .init(sm2, now: late), now: late).executed.isEmpty)
        #expect(sync2.event(.adminRequested(.detach(1, waitForClients: false), id: 1), membership: .init(sm2, now: late),
                            now: late).executed.isEmpty)
    }

    @Test func aDeposedLeaderDoesNotExecute() {
        var (sm, t) = WatchdogTranscriptTests.makeLeader()
        var sync = H.make(0)
        _ = sync.event(.tick, membership: .init(sm, now: t), now: t)
        let vote = WatchdogMessage(.proposal(Self.down1), term: 1, state: .standby, priority: 1, uptime: .zero)
        _ = sync.event(.received(vote, from: 1), membership: .init(sm, now: t), now: t)
        // a member tells it about term 5: the machine steps down (VIP first)
        let now = t + .milliseconds(20)
        let info = WatchdogMessage(kind: .info, term: 5, state: .standby, priority: 1, uptime: .zero)
        _ = sm.event(.received(info, from: 2), now: now)
        #expect(sm.state != .leader && !sm.mayAct(inTerm: 1, now: now))
        // the vote that would complete consensus, from term 1: ignored, nothing runs
        let a = sync.event(.received(vote, from: 2), membership: .init(sm, now: now), now: now)
        #expect(a.isEmpty && !sync.isLeading)
        // an operator's request forwarded in term 1 is refused, with the reason
        let admin = WatchdogMessage(.adminRequest(id: 4, .recover(1)), term: 1, state: .standby, priority: 1, uptime: .zero)
        let b = sync.event(.received(admin, from: 1), membership: .init(sm, now: now), now: now)
        guard case .adminReply(4, false, let why)? = b.payloads.first else {
            Issue.record("no refusal: \(b)")
            return
        }
        #expect(why.contains("not the watchdog leader"))
    }

    // MARK: - Operators

    @Test func adminRequestsRunOnTheLeaderAndTheReplyComesBack() {
        var h = Self.started()
        // on a follower: forwarded, run by the leader with the follower's id, the reply routed back
        let a = h.run(1, .adminRequested(.detach(2, waitForClients: true), id: 7))
        #expect(a.of(0) == [.executeAdmin(.detach(2, waitForClients: true), origin: .member(1, id: 7), term: 3)])
        #expect(a.of(1).count == 1)  // the forward; no reply yet
        let b = h.run(0, .adminFinished(.member(1, id: 7), ok: true, message: "node 2 detached"))
        #expect(b.of(1) == [.replyAdmin(id: 7, ok: true, message: "node 2 detached")])
        // on the leader: run locally
        let c = h.run(0, .adminRequested(.switchover(1), id: 8))
        #expect(c.of(0) == [.executeAdmin(.switchover(1), origin: .local(id: 8), term: 3)])
        #expect(h.run(0, .adminFinished(.local(id: 8), ok: false, message: "node 1 is down")).of(0)
                == [.replyAdmin(id: 8, ok: false, message: "node 1 is down")])
        // a reply from a member that was not asked is not taken
        h.cut = [0]
        h.run(1, .adminRequested(.attach(2), id: 9))
        let forged = WatchdogMessage(.adminReply(id: 9, ok: true, message: "done"), term: 3, state: .standby, priority: 1,
                                     uptime: .zero)
        #expect(h.run(1, .received(forged, from: 2)).isEmpty)
        // the leader is lost before it answers: the operator is told at once that the outcome is unknown
        h.memberships[1] = H.leaderless()
        let d = h.run(1, .tick)
        guard case .replyAdmin(9, false, let lost)? = d.of(1).first else {
            Issue.record("no failure: \(d)")
            return
        }
        #expect(lost.contains("host0:9000") && lost.contains("check the node status"))
        // no leader: refused at once, nothing sent
        let e = h.run(1, .adminRequested(.promote(2), id: 10))
        #expect(e.sent.isEmpty && e.of(1).count == 1)
        // a leader that never answers: the request times out
        h.memberships[1] = H.following(0)
        h.run(1, .adminRequested(.recover(2), id: 11))
        h.now = .seconds(299)
        #expect(h.run(1, .tick).of(1).isEmpty)
        h.now = .seconds(300)
        #expect(h.run(1, .tick).of(1).count == 1)
    }

    // MARK: - Settings

    @Test func differentBackendSettingsNameTheMember() {
        let theirs = WatchdogSettingsDigest(backends: 2, bytes: [UInt8](repeating: 2, count: 32))
        var h = H()
        h.syncs[2] = H.make(2, digest: theirs)
        // member 2 starts: its digest goes to everyone; both others name it
        let a = h.run(2, .start)
        for id in [0, 1] {
            #expect(a.of(id).notices == [.settingsDiffer(member: 2, name: "host2:9000", ours: H.digest, theirs: theirs)])
        }
        // once per difference: a second digest (another hello round) says nothing new
        #expect(h.run(2, .start).of(0).notices.isEmpty)
        // member 2 hears member 1's digest (answering its hello) and names member 1
        let hello = WatchdogMessage(kind: .hello, term: 3, state: .loading, priority: 1, uptime: .zero)
        let b = h.run(1, .received(hello, from: 2))
        #expect(b.of(2).notices == [.settingsDiffer(member: 1, name: "host1:9000", ours: theirs, theirs: H.digest)])
        // fixed and reloaded: no more warnings; equal digests say nothing
        let c = h.run(2, .settingsChanged(H.digest))
        #expect(c.of(0).notices.isEmpty && c.of(1).notices.isEmpty)
        #expect(h.syncs[0].differing.isEmpty)
    }

    /// PCP's `-s c`: the member asked sends the command to every other member, with or without a leader, and each
    /// of them runs it; the asking member runs it itself (the executor does), so it gets no action for it.
    @Test(arguments: [WatchdogClusterCommand.reload, .stop(.fast)])
    func aClusterCommandReachesEveryOtherMember(command: WatchdogClusterCommand) {
        var h = H()
        h.memberships = (0..<3).map { _ in H.leaderless() }
        let d = h.run(1, .clusterCommandRequested(command))
        #expect(d.sent.map(\.payload) == [.clusterCommand(command)] && d.sent.first?.to == [0, 2])
        #expect(d.of(0).executed == [.executeClusterCommand(command, from: 1)])
        #expect(d.of(2).executed == [.executeClusterCommand(command, from: 1)])
        #expect(d.of(1).executed.isEmpty)
    }
}
