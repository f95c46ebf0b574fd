import Testing
@testable import Shared

/// One member's etcd leadership driven by etcd's answers, played by the test. Timings: lease TTL 3 s, renew every
/// 500 ms, margin 1 s (so a leader acts until its last renewal sent + 2 s), request timeout 300 ms, pause
/// threshold 500 ms. The member is "a"; its lease is 7; the key it creates gets create revision 42.
@Suite struct EtcdLeadershipTests {
    typealias SM = EtcdLeadership

    static let timings = SM.Timings(leaseTTL: .seconds(3), renewInterval: .milliseconds(500), margin: .seconds(1),
                                    requestTimeout: .milliseconds(300))
    static func ms(_ v: Int) -> Duration { .milliseconds(v) }
    static let me = SM.Holder(name: "a", lease: 7, createRevision: 42)
    static let other = SM.Holder(name: "b", lease: 9, createRevision: 50)

    /// Granted at 10 ms (asked at 0), campaign sent.
    static func makeCandidate() -> SM {
        var sm = SM(name: "a", timings: timings)
        #expect(sm.event(.start, now: .zero) == [.grantLease(ttl: .seconds(3))])
        #expect(sm.event(.leaseGranted(id: 7, ttl: .seconds(3), sentAt: .zero), now: ms(10))
                == [.putMember(lease: 7), .campaign(lease: 7)])
        #expect(sm.role == .candidate)
        return sm
    }

    /// Leader of term 42 since 20 ms; deadline 2 s (grant sent at 0).
    static func makeLeader() -> SM {
        var sm = makeCandidate()
        #expect(sm.event(.campaigned(.won(createRevision: 42), lease: 7), now: ms(20)) == [.holdVIP(until: .seconds(2)), .escalate(term: 42)])
        #expect(sm.role == .leading(term: 42, verified: true))
        return sm
    }

    @Test func winsTheKeyEscalatesAndRenews() {
        var sm = Self.makeLeader()
        #expect(sm.actingTerm(now: Self.ms(30)) == 42)
        #expect(sm.leader == Self.me)
        #expect(sm.event(.tick, now: Self.ms(300)) == [])
        #expect(sm.event(.tick, now: Self.ms(510)) == [.keepAlive(lease: 7)])
        // The VIP deadline moves with the renewal's send time, not its answer's.
        #expect(sm.event(.renewed(lease: 7, ttl: .seconds(3), sentAt: Self.ms(510)), now: Self.ms(600)) == [.holdVIP(until: Self.ms(2510))])
        #expect(sm.event(.tick, now: Self.ms(1010)) == [.keepAlive(lease: 7)])
    }

    @Test func stopsActingOnItsOwnClockWhenRenewalsFail() {
        var sm = Self.makeLeader()
        #expect(sm.event(.tick, now: Self.ms(510)) == [.keepAlive(lease: 7)])
        #expect(sm.event(.renewFailed(leaseGone: false, lease: 7), now: Self.ms(800)) == [])
        #expect(sm.event(.tick, now: Self.ms(1010)) == [.keepAlive(lease: 7)])
        #expect(sm.event(.renewFailed(leaseGone: false, lease: 7), now: Self.ms(1300)) == [])
        #expect(sm.event(.tick, now: Self.ms(1510)) == [.keepAlive(lease: 7)])
        #expect(sm.event(.tick, now: Self.ms(1900)) == [])
        #expect(sm.actingTerm(now: Self.ms(1999)) == 42)
        // Deadline: grant sent at 0 + TTL 3 s − margin 1 s. VIP down, lease given up, a new one asked for.
        #expect(sm.event(.tick, now: Self.ms(2000)) == [.deEscalate(term: 42), .revoke(lease: 7), .grantLease(ttl: .seconds(3))])
        #expect(sm.actingTerm(now: Self.ms(2000)) == nil)
        #expect(sm.role == .idle)
        // etcd answers the late keepalive: it changes nothing, whatever it says.
        #expect(sm.event(.renewed(lease: 7, ttl: .seconds(3), sentAt: Self.ms(1510)), now: Self.ms(2100)) == [])
        #expect(sm.actingTerm(now: Self.ms(2100)) == nil)
    }

    @Test func losesTheCampaignFollowsThenTakesOverWhenTheKeyGoes() {
        var sm = Self.makeCandidate()
        #expect(sm.event(.campaigned(.lost(Self.other), lease: 7), now: Self.ms(20)) == [])
        #expect(sm.role == .following(Self.other))
        #expect(sm.term == 50)
        #expect(sm.event(.tick, now: Self.ms(510)) == [.keepAlive(lease: 7)])
        #expect(sm.event(.renewed(lease: 7, ttl: .seconds(3), sentAt: Self.ms(510)), now: Self.ms(520)) == [])
        #expect(sm.event(.leaderChanged(nil), now: Self.ms(700)) == [.campaign(lease: 7)])
        #expect(sm.event(.campaigned(.won(createRevision: 61), lease: 7), now: Self.ms(710))
                == [.holdVIP(until: Self.ms(2510)), .escalate(term: 61)])
    }

    @Test func aRepeatedCampaignThatWasAppliedIsAWin() {
        var sm = Self.makeCandidate()
        #expect(sm.event(.campaignFailed(leaseGone: false, lease: 7), now: Self.ms(320)) == [])
        #expect(sm.event(.tick, now: Self.ms(510)) == [.keepAlive(lease: 7)])
        #expect(sm.event(.tick, now: Self.ms(820)) == [.campaign(lease: 7)])
        // The first try had been applied: the failure branch shows this member with this lease.
        #expect(sm.event(.campaigned(.lost(Self.me), lease: 7), now: Self.ms(830)) == [.holdVIP(until: .seconds(2)), .escalate(term: 42)])
        #expect(sm.actingTerm(now: Self.ms(840)) == 42)
    }

    @Test func aWinAnsweredAfterTheDeadlineIsNotLed() {
        var sm = Self.makeCandidate()
        for t in stride(from: 400, through: 2000, by: 400) { _ = sm.event(.tick, now: Self.ms(t)) }
        #expect(sm.event(.campaigned(.won(createRevision: 42), lease: 7), now: Self.ms(2100)).contains(.revoke(lease: 7)))
        #expect(sm.actingTerm(now: Self.ms(2100)) == nil)
        #expect(sm.escalated == false)
    }

    @Test func aPausedLeaderChecksTheKeyBeforeActing() {
        var sm = Self.makeLeader()
        // 700 ms without an event (> 500 ms): not an acting leader until a read confirms the key.
        #expect(sm.event(.tick, now: Self.ms(720)) == [.keepAlive(lease: 7), .readLeader])
        #expect(sm.role == .leading(term: 42, verified: false))
        #expect(sm.actingTerm(now: Self.ms(720)) == nil)
        // An unverified leader does not extend the VIP.
        #expect(sm.event(.renewed(lease: 7, ttl: .seconds(3), sentAt: Self.ms(720)), now: Self.ms(730)) == [])
        #expect(sm.event(.leaderRead(Self.me), now: Self.ms(740)) == [.holdVIP(until: Self.ms(2720))])
        #expect(sm.actingTerm(now: Self.ms(750)) == 42)
    }

    @Test func aFailedReadAfterAPauseIsAskedAgain() {
        var sm = Self.makeLeader()
        #expect(sm.event(.tick, now: Self.ms(720)) == [.keepAlive(lease: 7), .readLeader])
        #expect(sm.event(.tick, now: Self.ms(800)) == [])
        #expect(sm.event(.leaderReadFailed, now: Self.ms(1000)) == [.readLeader])
        #expect(sm.actingTerm(now: Self.ms(1000)) == nil)
    }

    @Test func aLeaderWhoseGuardDeadlinePassesWhileItReChecksStepsDown() {
        var sm = Self.makeLeader()
        // Pause detected at 720 ms; the renewal sent then moves the lease deadline to 2.72 s, but the guard
        // still holds until 2 s (no holdVIP while unverified). The read is slow: at 2 s the guard drops the VIP,
        // so the leader steps down rather than go on believing it holds it.
        #expect(sm.event(.tick, now: Self.ms(720)) == [.keepAlive(lease: 7), .readLeader])
        #expect(sm.event(.renewed(lease: 7, ttl: .seconds(3), sentAt: Self.ms(720)), now: Self.ms(730)) == [])
        #expect(sm.deadline == Self.ms(2720))
        for t in stride(from: 1100, through: 1900, by: 400) { _ = sm.event(.tick, now: Self.ms(t)) }
        #expect(sm.event(.tick, now: Self.ms(2000)).starts(with: [.deEscalate(term: 42), .revoke(lease: 7)]))
        #expect(sm.event(.leaderRead(Self.me), now: Self.ms(2010)) == [])
        #expect(sm.actingTerm(now: Self.ms(2010)) == nil)
    }

    @Test func aPausedLeaderWhoseKeyWasTakenStepsDown() {
        var sm = Self.makeLeader()
        #expect(sm.event(.tick, now: Self.ms(900)) == [.keepAlive(lease: 7), .readLeader])
        #expect(sm.event(.leaderRead(Self.other), now: Self.ms(910)) == [.deEscalate(term: 42)])
        #expect(sm.role == .following(Self.other))
    }

    @Test func aLeaderPausedPastItsDeadlineStepsDownAtOnce() {
        var sm = Self.makeLeader()
        // SIGSTOP at 20 ms, SIGCONT at 2.5 s: the first event steps down before anything else.
        #expect(sm.event(.tick, now: Self.ms(2500)) == [.deEscalate(term: 42), .revoke(lease: 7), .grantLease(ttl: .seconds(3))])
        // Answers that waited in the socket decide nothing.
        #expect(sm.event(.renewed(lease: 7, ttl: .seconds(3), sentAt: Self.ms(10)), now: Self.ms(2510)) == [])
        #expect(sm.event(.leaderRead(Self.me), now: Self.ms(2520)) == [])
        #expect(sm.actingTerm(now: Self.ms(2520)) == nil)
    }

    @Test func deposedByTheWatch() {
        var sm = Self.makeLeader()
        #expect(sm.event(.leaderChanged(Self.other), now: Self.ms(300)) == [.deEscalate(term: 42)])
        #expect(sm.role == .following(Self.other))
        #expect(sm.actingTerm(now: Self.ms(300)) == nil)
    }

    @Test func leaderKeyDeletedUnderTheLeader() {
        var sm = Self.makeLeader()
        #expect(sm.event(.leaderChanged(nil), now: Self.ms(300)) == [.deEscalate(term: 42), .campaign(lease: 7)])
        #expect(sm.role == .candidate)
    }

    @Test func leaseGoneOnRenewal() {
        var sm = Self.makeLeader()
        #expect(sm.event(.tick, now: Self.ms(510)) == [.keepAlive(lease: 7)])
        #expect(sm.event(.renewed(lease: 7, ttl: .zero, sentAt: Self.ms(510)), now: Self.ms(520))
                == [.deEscalate(term: 42), .grantLease(ttl: .seconds(3))])
        #expect(sm.lease == nil)
    }

    @Test func resignHandsOverAndWaitsATTLBeforeCampaigning() {
        var sm = Self.makeLeader()
        #expect(sm.event(.resign, now: Self.ms(300)) == [.deEscalate(term: 42), .revoke(lease: 7), .grantLease(ttl: .seconds(3))])
        #expect(sm.event(.leaseGranted(id: 8, ttl: .seconds(3), sentAt: Self.ms(300)), now: Self.ms(310)) == [.putMember(lease: 8)])
        #expect(sm.event(.tick, now: Self.ms(600)) == [])
        #expect(sm.event(.tick, now: Self.ms(810)) == [.keepAlive(lease: 8)])
        _ = sm.event(.renewed(lease: 8, ttl: .seconds(3), sentAt: Self.ms(810)), now: Self.ms(820))
        for t in stride(from: 1200, through: 3200, by: 400) { _ = sm.event(.tick, now: Self.ms(t)) }
        #expect(sm.event(.tick, now: Self.ms(3300)).contains(.campaign(lease: 8)))
    }

    @Test func aResignedLeadersOwnKeyIsNotTakenForADeadIncarnation() {
        var sm = Self.makeLeader()
        _ = sm.event(.resign, now: Self.ms(300))
        _ = sm.event(.leaseGranted(id: 8, ttl: .seconds(3), sentAt: Self.ms(300)), now: Self.ms(310))
        // Its key (lease 7) is still there: the revoke waits for if_down_cmd. It must not delete it itself, or
        // another member could raise the VIP while it is still up here.
        #expect(sm.event(.leaderChanged(Self.me), now: Self.ms(320)) == [])
        #expect(sm.role == .following(Self.me))
        #expect(sm.actingTerm(now: Self.ms(320)) == nil)
        // Gone: a candidate again, campaigning once its TTL after resigning is over.
        #expect(sm.event(.leaderChanged(nil), now: Self.ms(900)) == [.keepAlive(lease: 8)])
        #expect(sm.role == .candidate)
    }

    @Test func resignedMemberFollowsTheNewLeader() {
        var sm = Self.makeLeader()
        _ = sm.event(.resign, now: Self.ms(300))
        _ = sm.event(.leaseGranted(id: 8, ttl: .seconds(3), sentAt: Self.ms(300)), now: Self.ms(310))
        #expect(sm.event(.leaderChanged(Self.other), now: Self.ms(400)) == [])
        #expect(sm.role == .following(Self.other))
    }

    @Test func shutdownStepsDownAndRevokes() {
        var sm = Self.makeLeader()
        #expect(sm.event(.shutdown, now: Self.ms(300)) == [.deEscalate(term: 42), .revoke(lease: 7), .stop])
        #expect(sm.role == .stopped)
        #expect(sm.event(.leaseGranted(id: 11, ttl: .seconds(3), sentAt: Self.ms(300)), now: Self.ms(310)) == [.revoke(lease: 11)])
        #expect(sm.event(.tick, now: Self.ms(400)) == [])
    }

    @Test func aDeadIncarnationsKeyIsDeletedByRevision() {
        var sm = Self.makeCandidate()
        let stale = SM.Holder(name: "a", lease: 5, createRevision: 30)
        #expect(sm.event(.campaigned(.lost(stale), lease: 7), now: Self.ms(20)) == [.deleteStaleLeader(createRevision: 30)])
        #expect(sm.actingTerm(now: Self.ms(20)) == nil)
        #expect(sm.event(.leaderChanged(nil), now: Self.ms(40)) == [.campaign(lease: 7)])
    }

    @Test func ourOwnKeySeenOnTheWatchIsConfirmedByTheTxn() {
        var sm = Self.makeCandidate()
        #expect(sm.event(.campaignFailed(leaseGone: false, lease: 7), now: Self.ms(320)) == [])
        #expect(sm.event(.leaderChanged(Self.me), now: Self.ms(330)) == [.campaign(lease: 7)])
        #expect(sm.actingTerm(now: Self.ms(330)) == nil)
    }

    @Test func answersAboutAGivenUpLeaseAreIgnored() {
        var sm = Self.makeLeader()
        #expect(sm.event(.resign, now: Self.ms(300)) == [.deEscalate(term: 42), .revoke(lease: 7), .grantLease(ttl: .seconds(3))])
        #expect(sm.event(.leaseGranted(id: 8, ttl: .seconds(3), sentAt: Self.ms(300)), now: Self.ms(310)) == [.putMember(lease: 8)])
        // The revoked lease's late answers: not found, a renewal, a campaign. None touches lease 8.
        #expect(sm.event(.renewFailed(leaseGone: true, lease: 7), now: Self.ms(320)) == [])
        #expect(sm.event(.renewed(lease: 7, ttl: .seconds(3), sentAt: Self.ms(290)), now: Self.ms(330)) == [])
        #expect(sm.event(.campaigned(.won(createRevision: 60), lease: 7), now: Self.ms(340)) == [])
        #expect(sm.lease?.id == 8)
        #expect(sm.actingTerm(now: Self.ms(340)) == nil)
    }

    @Test func grantFailuresAreRetried() {
        var sm = SM(name: "a", timings: Self.timings)
        _ = sm.event(.start, now: .zero)
        #expect(sm.event(.leaseGrantFailed, now: Self.ms(300)) == [])
        #expect(sm.event(.tick, now: Self.ms(600)) == [])
        #expect(sm.event(.tick, now: Self.ms(800)) == [.grantLease(ttl: .seconds(3))])
    }

    @Test func campaignWithAGoneLeaseStartsOver() {
        var sm = Self.makeCandidate()
        #expect(sm.event(.campaignFailed(leaseGone: true, lease: 7), now: Self.ms(20)) == [.grantLease(ttl: .seconds(3))])
        #expect(sm.role == .idle)
    }

    @Test func reportInTheWatchdogShape() {
        let sm = Self.makeLeader()
        let local = EtcdMemberRecord(name: "a", hostname: "10.0.0.1", pgpoolPort: 9999)
        let r = WatchdogReport(etcd: sm, local: local,
                               members: [EtcdMemberRecord(name: "c", hostname: "10.0.0.3", pgpoolPort: 9999), local,
                                         EtcdMemberRecord(name: "b", hostname: "10.0.0.2", pgpoolPort: 9999)],
                               delegateIP: "10.0.0.100", now: Self.ms(500))
        #expect(r.nodes.map(\.name) == ["a", "b", "c"])
        #expect(r.nodes.map(\.state) == [.leader, .standby, .standby])
        #expect(r.leader?.name == "a")
        #expect(r.term == 42)
        #expect(r.escalated)
        #expect(r.quorum == .exists)
        #expect(r.leaseLeftSeconds == 1.5)
        #expect(r.pcpNodes.first?.isLocal == true)
        #expect(r.coordination == nil, "the executor fills in the endpoints")
        let c = WatchdogReport.Coordination(backend: "etcd", prefix: "/poold/it", endpoints: [
            .init(url: "http://10.0.0.5:2379", healthy: true, failures: 0, lastError: ""),
            .init(url: "http://10.0.0.6:2379", healthy: false, failures: 3, lastError: "connection refused"),
            .init(url: "http://10.0.0.7:2379", healthy: false, failures: 0, lastError: "")])
        #expect(c.summary == "etcd /poold/it: http://10.0.0.5:2379 ok, http://10.0.0.6:2379 down (3 failures: connection refused), "
                + "http://10.0.0.7:2379 not asked yet")
    }
}
