/// A WAL position as PostgreSQL prints it (`16/B374D848`).
public struct LSN: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let hi = UInt64(parts[0], radix: 16), let lo = UInt64(parts[1], radix: 16),
              hi <= UInt64(UInt32.max), lo <= UInt64(UInt32.max) else { return nil }
        value = hi << 32 | lo
    }

    public var description: String { String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true) }
    public static func < (l: LSN, r: LSN) -> Bool { l.value < r.value }
}

/// Read-your-writes for one session (`read_your_writes = on`, poold's own setting): after the session's
/// write commits, its reads go to the load-balance standby only once that standby has replayed past the
/// commit. Pgpool-II (and `off`) send the next read to a standby that may not have the write yet.
///
/// Positions are learned lazily, so a session that never reads after writing pays nothing:
/// - a write transaction's end marks the session `dirty` (no query);
/// - the first read that would go to the standby while dirty goes to the primary instead, and makes the
///   position query due: `pg_current_wal_lsn()` on the primary (≥ the commit record), sent when the
///   primary link is quiet — one round trip per write transaction at most;
/// - with the position known, a read the position keeps on the primary makes a standby probe due
///   (`pg_last_wal_replay_lsn()`), at most one per `probeInterval`, never one per read; what other sessions'
///   probes learned of the standby is passed in too. Once the standby is past the position, reads balance.
/// Pure: the shell reports units, answers, shared knowledge and the time; no clock, no I/O.
public struct ReadYourWrites: Sendable, Equatable {
    /// Where the session stands.
    public enum State: Equatable, Sendable {
        /// Nothing to wait for: the standby may serve reads.
        case clean
        /// A write transaction ended; its position has not been asked for yet.
        case dirty
        /// The position query is due or sent.
        case positionPending
        /// Reads need a standby that has replayed `LSN`.
        case mustSee(LSN)
    }

    public let enabled: Bool
    /// Least time between two standby probes of one session, in nanoseconds.
    public let probeInterval: UInt64
    public private(set) var state: State = .clean
    /// A unit that may write went to the primary and its transaction has not ended yet.
    public private(set) var wroteInTransaction = false
    /// The position query is due (the shell sends it when the primary link is quiet).
    public private(set) var positionQueryDue = false
    /// A standby probe is due (the shell sends it when the load-balance link is quiet).
    public private(set) var probeDue = false
    private var probeInFlight = false
    private var lastProbe: UInt64?

    public init(enabled: Bool, probeInterval: UInt64 = 200_000_000) {
        self.enabled = enabled
        self.probeInterval = probeInterval
    }

    /// A unit that may write was sent to the primary.
    public mutating func writeSent() { if enabled { wroteInTransaction = true } }

    /// A unit's ReadyForQuery on the primary: the end of a transaction that wrote makes the session dirty.
    public mutating func primaryUnitFinished(status: TransactionStatus) {
        guard enabled, status == .idle, wroteInTransaction else { return }
        wroteInTransaction = false
        state = .dirty
        positionQueryDue = false
    }

    /// May the standby serve a read now? `knownReplay`: the best replay position known for it (shared);
    /// `now`: monotonic nanoseconds. A refusal may make the position query or a probe due.
    public mutating func standbyMayServe(knownReplay: LSN?, now: UInt64) -> Bool {
        switch state {
        case .clean:
            return true
        case .dirty:
            state = .positionPending
            positionQueryDue = true
            return false
        case .positionPending:
            return false
        case .mustSee(let lsn):
            if let knownReplay, knownReplay >= lsn {
                state = .clean
                probeDue = false
                return true
            }
            if !probeInFlight, !probeDue, lastProbe.map({ now &- $0 >= probeInterval }) ?? true { probeDue = true }
            return false
        }
    }

    /// The shell sent the position query.
    public mutating func positionQuerySent() { positionQueryDue = false }

    /// The primary's answer (nil when the query failed: the session stays dirty and asks again at its next
    /// read, which is safe).
    public mutating func positionLearned(_ lsn: LSN?) {
        guard case .positionPending = state, !positionQueryDue else { return }
        guard let lsn else {
            state = .dirty
            return
        }
        state = .mustSee(lsn)
        lastProbe = nil
    }

    /// The shell sent the standby probe at `now`.
    public mutating func probeSent(now: UInt64) {
        probeDue = false
        probeInFlight = true
        lastProbe = now
    }

    /// The standby's replay position, from the probe (nil when it failed).
    public mutating func standbyReplayLearned(_ lsn: LSN?) {
        probeInFlight = false
        guard let lsn, case .mustSee(let target) = state, lsn >= target else { return }
        state = .clean
    }

    /// The session has no load-balance link any more (pinned, detached): nothing to wait for.
    public mutating func reset() {
        state = .clean
        positionQueryDue = false
        probeDue = false
        probeInFlight = false
        wroteInTransaction = false
    }
}
