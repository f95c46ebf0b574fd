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

    /// A session ended; returns the waiting client admitted in its place, if any.
    public mutating func leave() -> Int? {
        if !waiting.isEmpty {
            return waiting.removeFirst()
        }
        active = max(0, active - 1)
        return nil
    }

    /// A queued client went away before being admitted.
    public mutating func abandon(_ id: Int) {
        waiting.removeAll { $0 == id }
    }
}
