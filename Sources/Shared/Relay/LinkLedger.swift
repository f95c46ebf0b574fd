import NIOCore

/// What happens to the reply of one unit sent to a backend.
public enum ReplySink: Equatable, Sendable {
    /// The client reads it.
    case forward
    /// poold reads and drops it (the standby's copy of a BOTH statement, a Parse poold added…).
    case discard
    /// poold keeps its rows (a catalog lookup).
    case capture
    /// poold keeps its one value, a WAL position (read-your-writes).
    case position
}

/// What one backend link of a session still owes, as a pure value: one expectation per unit sent (a Query,
/// a FunctionCall or an extended batch through its Sync) whose ReadyForQuery has not come back, with what to
/// do with its reply; the link's protocol mode (COPY FROM STDIN waiting for the client); its last
/// transaction status. The connection handler reports what it sends and the few reply types it looks at
/// (ErrorResponse, CopyInResponse/CopyBothResponse, ReadyForQuery); the ledger says where each reply goes
/// and what the link needs when the client leaves.
///
/// The protocol facts it encodes:
/// - every unit is answered by exactly one ReadyForQuery — except that a backend in COPY FROM STDIN ignores
///   Sync and Flush, so an extended batch that starts COPY FROM STDIN shares its one ReadyForQuery with the
///   lone Sync libpq sends after CopyDone/CopyFail;
/// - after an error inside an extended batch the backend discards messages until Sync, and still answers
///   that Sync with one ReadyForQuery (the batch stays one expectation);
/// - a backend in COPY FROM STDIN waits for the client; nothing else ends it.
public struct LinkLedger: Sendable {
    private struct Expectation: Sendable {
        var sink: ReplySink
        /// An extended batch ended by Sync (or that Sync alone).
        var extended: Bool
    }

    private var pending = CircularBuffer<Expectation>(initialCapacity: 4)
    /// How many pending units are `.forward`.
    public private(set) var forwardsInFlight = 0
    /// COPY FROM STDIN (or copy-both) is running and the client has not sent CopyDone/CopyFail yet.
    public private(set) var copyInWaitingForClient = false
    /// An extended COPY FROM STDIN swallowed its batch's Sync: the next lone Sync shares its ReadyForQuery.
    public private(set) var syncAbsorbedByCopy = false
    /// The unit being answered has carried an ErrorResponse.
    public private(set) var currentUnitFailed = false
    /// The status of the last ReadyForQuery.
    public private(set) var transactionStatus: TransactionStatus = .idle

    public init(transactionStatus: TransactionStatus = .idle) { self.transactionStatus = transactionStatus }

    /// Units sent and not answered yet.
    public var inFlight: Int { pending.count }
    /// The sink of the unit being answered (nil: nothing pending, so a message is asynchronous).
    public var head: ReplySink? { pending.first?.sink }

    /// A unit was sent. `extended`: an extended batch ended by Sync; `syncOnly`: that Sync alone. Returns
    /// false when the unit needs no ReadyForQuery of its own (the Sync after an extended COPY).
    @discardableResult
    public mutating func sent(_ sink: ReplySink, extended: Bool = false, syncOnly: Bool = false) -> Bool {
        if syncOnly, syncAbsorbedByCopy {
            syncAbsorbedByCopy = false
            return false
        }
        pending.append(Expectation(sink: sink, extended: extended || syncOnly))
        if sink == .forward { forwardsInFlight += 1 }
        return true
    }

    /// The client sent CopyDone or CopyFail.
    public mutating func clientEndedCopy() { copyInWaitingForClient = false }

    /// CopyInResponse or CopyBothResponse arrived for the unit being answered.
    public mutating func copyInStarted() {
        guard let head = pending.first else { return }
        copyInWaitingForClient = true
        if head.extended { syncAbsorbedByCopy = true }
    }

    /// An ErrorResponse arrived.
    public mutating func errorSeen() { currentUnitFailed = true }

    /// The outcome of one unit, at its ReadyForQuery.
    public struct Finished: Equatable, Sendable {
        public var sink: ReplySink?
        public var failed: Bool
        public var status: TransactionStatus
        public init(sink: ReplySink?, failed: Bool, status: TransactionStatus) {
            self.sink = sink
            self.failed = failed
            self.status = status
        }
    }

    /// ReadyForQuery: the unit being answered is finished.
    public mutating func readyForQuery(_ status: TransactionStatus) -> Finished {
        transactionStatus = status
        copyInWaitingForClient = false
        let sink = pending.popFirst()?.sink
        if sink == .forward { forwardsInFlight -= 1 }
        let failed = currentUnitFailed
        currentUnitFailed = false
        return Finished(sink: sink, failed: failed, status: status)
    }

    /// What the link needs when its client goes away.
    public enum Exit: Equatable, Sendable {
        /// Quiet: reset it (reset_query_list) and pool it if the reset comes back clean.
        case reset
        /// Replies are still due and will come: wait for them, then reset.
        case waitThenReset
        /// It would wait forever (COPY FROM STDIN, a batch without its Sync) or the client vanished without
        /// Terminate: close it; PostgreSQL aborts whatever it was doing.
        case close
    }

    /// `clean`: the client sent Terminate; `batchOpen`: an extended batch was sent without its Sync.
    public func exit(clean: Bool, batchOpen: Bool) -> Exit {
        guard clean, !copyInWaitingForClient, !batchOpen else { return .close }
        return pending.isEmpty ? .reset : .waitThenReset
    }

    /// A new lease: nothing is owed.
    public mutating func reset(transactionStatus: TransactionStatus) {
        self = LinkLedger(transactionStatus: transactionStatus)
    }
}
