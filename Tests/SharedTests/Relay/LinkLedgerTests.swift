import Shared
import Testing

/// Transcripts of `LinkLedger`: what a backend link owes for each unit, COPY, errors in batches, pipelines,
/// and what it needs when its client leaves in each state.
@Suite struct LinkLedgerTests {
    func rfq(_ l: inout LinkLedger, _ s: TransactionStatus) -> LinkLedger.Finished { l.readyForQuery(s) }
    @discardableResult
    func sent(_ l: inout LinkLedger, _ sink: ReplySink, extended: Bool = false, syncOnly: Bool = false) -> Bool {
        l.sent(sink, extended: extended, syncOnly: syncOnly)
    }

    @Test func eachUnitIsAnsweredByOneReadyForQuery() {
        var l = LinkLedger()
        sent(&l, .forward)                                  // Query
        sent(&l, .discard, extended: true)                  // a Parse poold added, with its Sync
        sent(&l, .forward, extended: true)                  // the client's batch
        #expect(l.inFlight == 3 && l.forwardsInFlight == 2 && l.head == .forward)
        #expect(l.exit(clean: true, batchOpen: false) == .waitThenReset)
        #expect(rfq(&l, .inTransaction) == .init(sink: .forward, failed: false, status: .inTransaction))
        #expect(l.head == .discard)
        _ = rfq(&l, .inTransaction)
        l.errorSeen()
        #expect(rfq(&l, .failed) == .init(sink: .forward, failed: true, status: .failed))
        #expect(l.inFlight == 0 && l.forwardsInFlight == 0 && l.transactionStatus == .failed && l.head == nil)
        #expect(l.exit(clean: true, batchOpen: false) == .reset)
        #expect(l.exit(clean: false, batchOpen: false) == .close, "a client gone without Terminate: never reused")
    }

    /// psycopg: `cur.execute("copy t from stdin")` raises client-side, then `conn.close()` sends Terminate.
    @Test func aClientLeavingDuringCopyFromStdinClosesTheLink() {
        var l = LinkLedger()
        sent(&l, .forward)
        l.copyInStarted()                                 // CopyInResponse
        #expect(l.copyInWaitingForClient)
        #expect(l.exit(clean: true, batchOpen: false) == .close, "the backend would wait for CopyData forever")
        l.clientEndedCopy()                               // CopyDone (or CopyFail)
        #expect(l.exit(clean: true, batchOpen: false) == .waitThenReset, "the COPY ends by itself now")
        #expect(rfq(&l, .idle).sink == .forward)
        #expect(!l.copyInWaitingForClient && l.inFlight == 0)
    }

    /// libpq: Parse/Bind/Describe/Execute/Sync, CopyData…, CopyDone, Sync — one ReadyForQuery for both Syncs.
    @Test func anExtendedCopyShareItsReadyForQueryWithTheSyncAfterCopyDone() {
        var l = LinkLedger()
        sent(&l, .forward, extended: true)
        l.copyInStarted()
        #expect(l.syncAbsorbedByCopy)
        l.clientEndedCopy()
        #expect(!sent(&l, .forward, syncOnly: true), "that Sync needs no ReadyForQuery of its own")
        #expect(l.inFlight == 1)
        _ = rfq(&l, .idle)
        #expect(l.inFlight == 0 && l.forwardsInFlight == 0)
        // The next lone Sync is answered as usual.
        #expect(sent(&l, .forward, syncOnly: true) && l.inFlight == 1)
    }

    /// An error in an extended COPY (bad data, CopyFail): the backend discards until the Sync, then answers once.
    @Test func anErrorInAnExtendedCopyIsStillOneUnit() {
        var l = LinkLedger()
        sent(&l, .forward, extended: true)
        l.copyInStarted()
        l.errorSeen()                                     // ERROR: invalid input syntax…
        l.clientEndedCopy()                               // the client's CopyDone, discarded by the backend
        #expect(!sent(&l, .forward, syncOnly: true))
        #expect(rfq(&l, .idle) == .init(sink: .forward, failed: true, status: .idle))
        #expect(l.inFlight == 0)
    }

    /// A simple-query COPY does not absorb a Sync.
    @Test func aSimpleCopyAbsorbsNoSync() {
        var l = LinkLedger()
        sent(&l, .forward)
        l.copyInStarted()
        l.clientEndedCopy()
        _ = rfq(&l, .idle)
        #expect(sent(&l, .forward, syncOnly: true) && l.inFlight == 1)
    }

    /// libpq pipeline: five Executes and one Sync; the third fails, the rest are discarded by the backend
    /// until the Sync: one unit, one ReadyForQuery.
    @Test func aPipelineWithAnErrorMidwayIsOneUnitAnsweredOnce() {
        var l = LinkLedger()
        sent(&l, .forward, extended: true)
        l.errorSeen()
        #expect(rfq(&l, .idle) == .init(sink: .forward, failed: true, status: .idle))
        #expect(l.inFlight == 0)
        // The same pipeline while the client leaves before its Sync was sent: the batch is open.
        #expect(l.exit(clean: true, batchOpen: true) == .close)
    }

    @Test func aNewLeaseOwesNothing() {
        var l = LinkLedger()
        sent(&l, .forward)
        l.copyInStarted()
        l.reset(transactionStatus: .idle)
        #expect(l.inFlight == 0 && !l.copyInWaitingForClient && l.exit(clean: true, batchOpen: false) == .reset)
    }
}
