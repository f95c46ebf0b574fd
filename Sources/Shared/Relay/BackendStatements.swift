import NIOCore

/// The prepared statements that exist on one backend connection, whoever defined them, bounded by
/// `max_prepared_statements` (least recently used first out). An entry is `known` when poold saw it defined
/// and nothing since could have undone that, `uncertain` after an error in a unit that touched it (the
/// Parse may or may not have happened): an uncertain statement is closed before it is defined again, so
/// neither "does not exist" nor "already exists" can reach a client.
public struct BackendStatements: Sendable {
    public enum Entry: Equatable, Sendable {
        case known(StatementDefinition)
        case uncertain
    }

    private var entries: [String: (entry: Entry, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    /// Names touched since the link was last quiet: an ErrorResponse makes them uncertain.
    private var touched: [String] = []

    public init() {}

    public var count: Int { entries.count }
    public func entry(_ name: String) -> Entry? { entries[name]?.entry }

    /// The statement is defined here as `definition`.
    public func has(_ name: String, _ definition: StatementDefinition) -> Bool {
        if case .known(let d)? = entries[name]?.entry { return d == definition }
        return false
    }

    /// Marks a use (LRU order).
    public mutating func used(_ name: String) {
        clock &+= 1
        entries[name]?.used = clock
    }

    public mutating func defined(_ name: String, _ definition: StatementDefinition) {
        clock &+= 1
        entries[name] = (.known(definition), clock)
        touched.append(name)
    }

    public mutating func closed(_ name: String) { entries[name] = nil }
    public mutating func closedAll() { entries.removeAll(); touched.removeAll() }

    /// An ErrorResponse arrived: what the failed units defined may not exist.
    public mutating func errorSeen() {
        for name in touched where entries[name] != nil { entries[name]!.entry = .uncertain }
        touched.removeAll()
    }

    /// Every reply is in without error: what was defined is.
    public mutating func quiet() { if !touched.isEmpty { touched.removeAll() } }

    /// The LRU clock now: what a unit uses from here on is newer than `since`.
    public var stamp: UInt64 { clock }

    /// Beyond `limit`: the least recently used names to close, never one used or defined after `since`
    /// (the unit being sent needs those).
    public mutating func evict(limit: Int, since: UInt64) -> [String] {
        guard entries.count > limit else { return [] }
        let victims = entries.filter { $0.value.used <= since }.sorted { $0.value.used < $1.value.used }
            .prefix(entries.count - limit).map(\.key)
        for v in victims { entries[v] = nil }
        return victims
    }
}
