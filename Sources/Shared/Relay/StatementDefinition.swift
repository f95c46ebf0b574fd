import NIOCore

/// How a client defined one prepared statement, kept so poold can define it again on whichever backend
/// serves the client's next transaction (pool_mode = transaction): the Parse message as the client sent it
/// (name, text and parameter types), or the text of a SQL `PREPARE`. Two definitions are the same statement
/// when their bytes are: the hash is only a quick first comparison.
public struct StatementDefinition: Equatable, Sendable {
    /// A whole Parse message, or a whole Query message holding `PREPARE name AS …`.
    public let frame: ByteBuffer
    /// True for SQL `PREPARE` (re-prepared with a Query, which has its own ReadyForQuery).
    public let isSQL: Bool
    private let hash: Int

    public init(frame: ByteBuffer, isSQL: Bool) {
        self.frame = frame
        self.isSQL = isSQL
        var h = Hasher()
        frame.withUnsafeReadableBytes { h.combine(bytes: $0) }
        h.combine(isSQL)
        hash = h.finalize()
    }

    /// A SQL `PREPARE` text as the Query message that defines it.
    public static func sql(_ text: String) -> StatementDefinition {
        var out = ByteBuffer()
        FrontendMessage.query(text).encode(into: &out)
        return StatementDefinition(frame: out, isSQL: true)
    }

    public static func == (l: StatementDefinition, r: StatementDefinition) -> Bool {
        l.hash == r.hash && l.isSQL == r.isSQL && l.frame == r.frame
    }
}
