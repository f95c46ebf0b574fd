import NIOCore

/// The prepared statements one client has defined (pool_mode = transaction), by name: protocol-level Parse
/// (the unnamed statement too, so a Bind in a later unit still finds it) and SQL `PREPARE`. Before a unit
/// goes to a backend, `restore` compares what the unit uses with what that backend has (`BackendStatements`)
/// and returns the messages poold sends first, each answered by one ReadyForQuery whose reply is dropped:
/// - a statement the unit binds, describes or EXECUTEs that the backend lacks (or holds another client's
///   statement of that name): Close + Parse + Sync (a SQL `PREPARE` is Close + Sync, then its Query);
/// - a named statement the unit itself Parses or PREPAREs while the backend holds that name: Close + Sync,
///   so the client's definition never meets "already exists";
/// - a statement the unit DEALLOCATEs that the backend lacks: defined first, so DEALLOCATE finds it;
/// - the least recently used statements beyond `max_prepared_statements`: Close + Sync.
/// Pure; the client's Close, DEALLOCATE and DISCARD ALL update both books.
public struct ClientStatements: Sendable {
    public private(set) var definitions: [String: StatementDefinition] = [:]
    /// Protocol statements whose text is itself SQL `PREPARE`/`EXECUTE`/`DEALLOCATE`/`DISCARD ALL` (drivers
    /// such as psycopg 3 send every statement through Parse): their effect happens when they are bound.
    private var sqlStatements: [String: (Classification, String)] = [:]

    public init() {}

    public mutating func restore(_ parts: [ClientUnit.Part], parses: [(String, ParsedStatement)],
                                 on backend: inout BackendStatements, limit: Int) -> [ByteBuffer] {
        // The common unit binds what the backend has: no allocation beyond `out`'s (empty) array.
        var out: [ByteBuffer] = []
        var definedHere: [String] = []
        let since = backend.stamp
        var nextParse = 0
        func use(_ name: String) {
            guard let definition = definitions[name] else { return }
            if backend.has(name, definition) { backend.used(name); return }
            guard !definedHere.contains(name) else { return }
            out.append(contentsOf: Self.define(name, definition))
            backend.defined(name, definition)
            definedHere.append(name)
        }
        func define(_ name: String, _ definition: StatementDefinition) {
            if !name.isEmpty, !definedHere.contains(name), backend.entry(name) != nil { out.append(Self.close(name)) }
            definitions[name] = definition
            backend.defined(name, definition)
            definedHere.append(name)
        }
        /// A SQL statement that prepares, executes or drops a SQL-level prepared statement, as it runs.
        func run(_ c: Classification, _ text: String) {
            switch c.kind {
            case .prepare(let name, _) where !c.multiStatement && !name.isEmpty:
                define(name, .sql(text))
            case .execute(let name) where !c.multiStatement:
                use(name)
            case .deallocate(let name?) where !c.multiStatement:
                // DEALLOCATE of a statement the backend lacks fails: define it there first, then it goes.
                use(name)
                definitions[name] = nil
                backend.closed(name)
            case .deallocate(nil):
                definitions.removeAll()
                backend.closedAll()
            case .set where Self.isDiscardAll(text):
                definitions.removeAll()
                backend.closedAll()
            default:
                break
            }
        }
        for part in parts {
            switch part {
            case .parse(let name, let c, let text):
                guard nextParse < parses.count else { continue }
                let frame = parses[nextParse].1.frame
                nextParse += 1
                define(name, StatementDefinition(frame: frame, isSQL: false))
                if Self.hasSQLEffect(c, text) { sqlStatements[name] = (c, text) } else if !sqlStatements.isEmpty {
                    sqlStatements[name] = nil
                }
            case .bind(_, let statement):
                use(statement)
                if !sqlStatements.isEmpty, let (c, text) = sqlStatements[statement] { run(c, text) }
            case .describeStatement(let statement):
                use(statement)
            case .closeStatement(let name):
                definitions[name] = nil
                backend.closed(name)
                definedHere.removeAll { $0 == name }
            case .query(let c, let text):
                run(c, text)
            case .execute, .functionCall:
                break
            }
        }
        for victim in backend.evict(limit: limit, since: since) { out.append(Self.close(victim)) }
        return out
    }

    /// The messages that define `name` again on a backend.
    static func define(_ name: String, _ d: StatementDefinition) -> [ByteBuffer] {
        if d.isSQL { return [close(name), d.frame] }
        var out = ByteBuffer()
        writeClose(name, into: &out)
        out.writeImmutableBuffer(d.frame)
        FrontendMessage.sync.encode(into: &out)
        return [out]
    }

    static func close(_ name: String) -> ByteBuffer {
        var out = ByteBuffer()
        writeClose(name, into: &out)
        FrontendMessage.sync.encode(into: &out)
        return out
    }

    private static func writeClose(_ name: String, into out: inout ByteBuffer) {
        out.writeMessage(UInt8(ascii: "C")) { b in
            b.writeInteger(UInt8(ascii: "S"))
            _ = b.writeCString(name)
        }
    }

    static func hasSQLEffect(_ c: Classification, _ text: String) -> Bool {
        switch c.kind {
        case .prepare, .execute, .deallocate: return true
        case .set: return isDiscardAll(text)
        default: return false
        }
    }

    static func isDiscardAll(_ text: String) -> Bool {
        let words = SQLLexer.lex(text).statements.first?.compactMap(\.word) ?? []
        return words.count >= 2 && words[0] == "discard" && words[1] == "all"
    }
}
