import Testing
@testable import Shared

/// Failover proposals counted by the leader, and the proposers' quarantine (reference §7.5).
@Suite struct FailoverConsensusTests {
    static let down0 = FailoverConsensus.Request(.nodeDown, nodes: [0])

    @Test func aMajorityOfMembersFailsTheNodeOver() {
        var c = FailoverConsensus(rules: .init(members: 3, halfVotes: false))
        let r1 = c.propose(Self.down0, from: 1, quorumHolds: true, now: .zero)
        #expect(r1 == .buildingConsensus(votes: 1, needed: 2))
        let r2 = c.propose(Self.down0, from: 2, quorumHolds: true, now: .seconds(1))
        #expect(r2 == .proceed)
        // done: the next proposal starts a new count
        #expect(c.votes(for: Self.down0) == 0)
    }

    @Test func repeatedProposalsCountOnlyWhenAllowed() {
        var strict = FailoverConsensus(rules: .init(members: 3, halfVotes: false))
        _ = strict.propose(Self.down0, from: 1, quorumHolds: true, now: .zero)
        let r3 = strict.propose(Self.down0, from: 1, quorumHolds: true, now: .seconds(1))
        #expect(r3 == .repeatedProposal(votes: 1, needed: 2))
        var lenient = FailoverConsensus(rules: .init(members: 3, halfVotes: false, allowMultipleRequestsFromMember: true))
        _ = lenient.propose(Self.down0, from: 1, quorumHolds: true, now: .zero)
        let r4 = lenient.propose(Self.down0, from: 1, quorumHolds: true, now: .seconds(1))
        #expect(r4 == .proceed)
    }

    @Test func noQuorumNoFailover() {
        var c = FailoverConsensus(rules: .init(members: 3, halfVotes: false))
        let r5 = c.propose(Self.down0, from: 0, quorumHolds: false, now: .zero)
        #expect(r5 == .noQuorum)
        // an operator's detach is not a health-check guess: it proceeds
        let r6 = c.propose(Self.down0, from: 0, confirmed: true, quorumHolds: false, now: .zero)
        #expect(r6 == .proceed)
        // failover_when_quorum_exists = off: Pgpool-II then asks for neither quorum nor consensus
        var off = FailoverConsensus(rules: .init(members: 3, halfVotes: false, failoverWhenQuorumExists: false))
        let r7 = off.propose(Self.down0, from: 0, quorumHolds: false, now: .zero)
        #expect(r7 == .proceed)
    }

    @Test func withoutRequiredConsensusOneReportIsEnough() {
        var c = FailoverConsensus(rules: .init(members: 5, halfVotes: false, requireConsensus: false))
        let r8 = c.propose(Self.down0, from: 3, quorumHolds: true, now: .zero)
        #expect(r8 == .proceed)
    }

    @Test(arguments: [(2, false, 2), (2, true, 1), (4, false, 3), (4, true, 2), (5, false, 3)])
    func votesNeededFollowPgpool(members: Int, halfVotes: Bool, needed: Int) {
        var c = FailoverConsensus(rules: .init(members: members, halfVotes: halfVotes))
        for m in 0..<(needed - 1) {
            let r9 = c.propose(Self.down0, from: m, quorumHolds: true, now: .zero)
            #expect(r9 == .buildingConsensus(votes: m + 1, needed: needed))
        }
        let r10 = c.propose(Self.down0, from: needed - 1, quorumHolds: true, now: .zero)
        #expect(r10 == .proceed)
    }

    @Test func proposalsExpire() {
        var c = FailoverConsensus(rules: .init(members: 3, halfVotes: false))
        _ = c.propose(Self.down0, from: 1, quorumHolds: true, now: .zero)
        let r11 = c.expire(now: .seconds(16))
        #expect(r11 == [Self.down0])
        let r12 = c.propose(Self.down0, from: 2, quorumHolds: true, now: .seconds(16))
        #expect(r12 == .buildingConsensus(votes: 1, needed: 2))
        // requests are about a kind and a set of nodes
        let r13 = c.propose(.init(.nodeUp, nodes: [0]), from: 1, quorumHolds: true, now: .seconds(17))
        #expect(r13 == .buildingConsensus(votes: 1, needed: 2))
        let r14 = c.propose(.init(.nodeDown, nodes: [1, 0]), from: 1, quorumHolds: true, now: .seconds(17))
        #expect(r14 == .buildingConsensus(votes: 1, needed: 2))
    }

    @Test func quarantineAndRelease() {
        var q = Quarantine()
        let r15 = q.apply(.buildingConsensus(votes: 1, needed: 2), node: 0, now: .seconds(1))
        #expect(r15)
        let again = q.apply(.repeatedProposal(votes: 1, needed: 2), node: 0, now: .seconds(2))
        #expect(!again)  // already in
        #expect(q.nodes == [0: .seconds(1)])
        // the node answers again: quarantine lifted, no failover ever ran
        let r16 = q.nodeAnswered(0)
        #expect(r16)
        let r17 = q.nodeAnswered(0)
        #expect(!r17)
        // no quorum: quarantined too; then the leader fails it over after all
        let r18 = q.apply(.noQuorum, node: 1, now: .seconds(3))
        #expect(r18)
        q.failedOver(1)
        #expect(!q.contains(1))
        let proceeded = q.apply(.proceed, node: 2, now: .seconds(4))
        #expect(!proceeded && q.nodes.isEmpty)
    }
}
