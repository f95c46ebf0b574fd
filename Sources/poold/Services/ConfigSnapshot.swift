import Shared

/// One loaded configuration, shared by reference: every session keeps the configuration it started with,
/// and a copy of `PoolConfiguration` inline in each session would cost every idle client 850 bytes.
final class ConfigSnapshot: Sendable {
    let value: PoolConfiguration
    /// `reset_query_list`, split once for every session.
    let resetQueries: [String]

    init(_ value: PoolConfiguration) {
        self.value = value
        self.resetQueries = value.resetQueries
    }
}
