/// The `num_init_children` limit: how many client sessions run at once, who waits, who is refused.
/// Pgpool-II parks extra clients in the listen queue unless `reserved_connections` ≥ 1, in which case
/// clients beyond `num_init_children − reserved_connections` are refused with 53300.
public struct AdmissionControl: Sendable {
    public enum Decision: Equatable, Sendable {
        case admitted
        case queued
        case refused
    }

    public let limit: Int
    public let reserved: Int
    public private(set) var active = 0
    public private(set) var waiting: [Int] = []

    public init(limit: Int, reserved: Int) {
        self.limit = limit
        self.reserved = reserved
    }

    public mutating func arrive(_ id: Int) -> Decision {
        if reserved > 0 {
            guard active < limit - reserved else { return .refused }
            active += 1
            return .admitted
        }
        if active < limit {
            active += 1
            return .admitted
        }
        waiting.append(id)
        return .queued
    }

    /// Clients handed a slot by `leave()` that have not taken it yet (`claim`): a client that goes away
    /// before taking it gives it back in `abandon`, so a slot is never lost between the hand-over and the
    /// waiter's own event loop.
    public private(set) var granted: Set<Int> = []

    /// A session ended; returns the waiting client admitted in its place, if any.
    public mutating func leave() -> Int? {
        if !waiting.isEmpty {
            let next = waiting.removeFirst()
            granted.insert(next)
            return next
        }
        active = max(0, active - 1)
        return nil
    }

    /// The waiter handed a slot starts its session. False when it was not handed one.
    public mutating func claim(_ id: Int) -> Bool { granted.remove(id) != nil }

    /// A client that was not admitted (still waiting, or handed a slot it never took) went away. Returns the
    /// next waiter to admit when it gives a slot back.
    public mutating func abandon(_ id: Int) -> Int? {
        waiting.removeAll { $0 == id }
        guard granted.remove(id) != nil else { return nil }
        return leave()
    }
}
