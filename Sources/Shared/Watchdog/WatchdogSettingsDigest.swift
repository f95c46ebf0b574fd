import Crypto

/// A digest of this member's backend settings (`backend_hostnameN`, `backend_portN`, `backend_flagN`), sent to the
/// other members when it joins and after a reload, so members with different backend lists notice and say so
/// (Pgpool-II compares its backend configuration when a node joins the watchdog). Equal digests mean equal
/// settings; a difference is reported, not acted on.
public struct WatchdogSettingsDigest: Equatable, Hashable, Sendable {
    /// How many backends are configured (shown in the warning).
    public var backends: Int
    /// SHA-256 of one line per backend, in node id order: `id`, `hostname`, `port`, `flags` separated by tabs.
    public var bytes: [UInt8]

    public static let length = 32

    public init(backends: Int, bytes: [UInt8]) {
        self.backends = backends
        self.bytes = bytes
    }

    public init(backends: [BackendConfig]) {
        let text = backends.sorted { $0.id < $1.id }
            .map { "\($0.id)\t\($0.hostname)\t\($0.port)\t\($0.flags.rawValue)\n" }.joined()
        self.init(backends: backends.count, bytes: Array(SHA256.hash(data: Array(text.utf8))))
    }

    /// The first 8 bytes in hex, for logs.
    public var short: String {
        bytes.prefix(8).map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }
            .joined()
    }
}
