import Shared
import Testing

/// Transcripts of `ReadYourWrites`: when reads may go to the standby after the session's own writes.
@Suite struct ReadYourWritesTests {
    func may(_ r: inout ReadYourWrites, _ known: LSN?, _ now: UInt64) -> Bool { r.standbyMayServe(knownReplay: known, now: now) }

    @Test func lsnParsesAndOrders() {
        #expect(LSN("16/B374D848")?.value == 0x16_B374_D848)
        #expect(LSN("0/0") == LSN(0))
        #expect(LSN("16/B374D848")!.description == "16/B374D848")
        #expect(LSN("1/0")! > LSN("0/FFFFFFFF")!)
        #expect(LSN("x") == nil && LSN("1/") == nil && LSN("100000000/0") == nil)
    }

    @Test func anAutocommitWriteKeepsReadsOnThePrimaryUntilTheStandbyHasReplayedIt() {
        var r = ReadYourWrites(enabled: true, probeInterval: 100)
        #expect(may(&r, nil, 0))
        r.writeSent()                                   // INSERT … (autocommit)
        r.primaryUnitFinished(status: .idle)
        #expect(r.state == .dirty && !r.positionQueryDue, "nothing is asked until the session reads")
        #expect(!may(&r, LSN(100), 1) && r.positionQueryDue && r.state == .positionPending)
        #expect(!may(&r, LSN(100), 2), "position not known yet")
        r.positionQuerySent()
        r.positionLearned(LSN(500))
        #expect(r.state == .mustSee(LSN(500)))
        #expect(!may(&r, LSN(400), 3) && r.probeDue, "a refused read asks the standby")
        r.probeSent(now: 3)
        #expect(!may(&r, LSN(400), 4) && !r.probeDue, "no probe while one is out")
        r.standbyReplayLearned(LSN(450))
        #expect(!may(&r, nil, 50) && !r.probeDue, "no second probe within the interval")
        #expect(!may(&r, nil, 103) && r.probeDue, "one again after it")
        r.probeSent(now: 103)
        r.standbyReplayLearned(LSN(500))
        #expect(r.state == .clean && may(&r, nil, 104))
    }

    @Test func aWriteTransactionMakesTheSessionDirtyAtItsEndOnly() {
        var r = ReadYourWrites(enabled: true)
        r.primaryUnitFinished(status: .inTransaction)   // BEGIN
        r.writeSent()                                   // UPDATE
        r.primaryUnitFinished(status: .inTransaction)
        #expect(r.state == .clean && may(&r, nil, 0), "inside the transaction the router's own rules apply")
        r.primaryUnitFinished(status: .idle)            // COMMIT
        #expect(r.state == .dirty)
        #expect(!may(&r, nil, 0))
        r.positionQuerySent()
        r.positionLearned(LSN(7))
        // Shared knowledge (another session's probe) is enough.
        #expect(may(&r, LSN(9), 1) && r.state == .clean)
        // A read-only transaction changes nothing.
        r.primaryUnitFinished(status: .inTransaction)
        r.primaryUnitFinished(status: .idle)
        #expect(r.state == .clean)
        // A new write while a position is awaited starts again from dirty.
        r.writeSent()
        r.primaryUnitFinished(status: .idle)
        #expect(!may(&r, nil, 2))
        r.writeSent()
        r.primaryUnitFinished(status: .idle)
        #expect(r.state == .dirty && !r.positionQueryDue)
        r.positionLearned(LSN(8))
        #expect(r.state == .dirty, "an answer for an older position is not taken")
    }

    @Test func aFailedPositionQueryKeepsReadsOnThePrimaryAndOffChangesNothing() {
        var r = ReadYourWrites(enabled: true)
        r.writeSent()
        r.primaryUnitFinished(status: .idle)
        _ = may(&r, nil, 0)
        r.positionQuerySent()
        r.positionLearned(nil)
        #expect(r.state == .dirty && !may(&r, LSN(UInt64.max), 1) && r.positionQueryDue)
        var off = ReadYourWrites(enabled: false)
        off.writeSent()
        off.primaryUnitFinished(status: .idle)
        #expect(off.state == .clean && may(&off, nil, 0))
    }
}
