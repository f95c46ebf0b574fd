/// `check_temp_table = trace`: remembers the temporary tables a session creates so that statements naming
/// them go to the primary (a standby cannot see another session's temp tables). Creations inside an
/// explicit transaction count only once it commits; `ON COMMIT DROP` tables vanish at commit.
public struct TempTableTracker: Equatable, Sendable {
    public private(set) var tables: Set<String> = []
    private var createdInTransaction: Set<String> = []
    private var droppedAtCommit: Set<String> = []
    private var droppedInTransaction: Set<String> = []

    public init() {}

    /// True when any relation (bare or `pg_temp.`-qualified) is a tracked temporary table.
    public func references(_ relations: [String]) -> Bool {
        guard !tables.isEmpty || !createdInTransaction.isEmpty else { return false }
        return relations.contains { r in
            tables.contains(r) || createdInTransaction.contains(r)
                || (r.hasPrefix("pg_temp.") && (tables.contains(String(r.dropFirst(8))) || createdInTransaction.contains(String(r.dropFirst(8)))))
        }
    }

    /// Notes a statement that was sent; `inTransaction` is whether it runs inside an explicit transaction.
    public mutating func statementSent(_ sql: String, inTransaction: Bool) {
        // Lexing is the expensive part; a statement that can change the set names one of these words.
        guard Self.mayChangeTables(sql) else { return }
        for statement in SQLLexer.lex(sql).statements {
            apply(statement.compactMap { $0.name }, tokens: statement, inTransaction: inTransaction)
        }
    }

    /// False only when `sql` has none of the words every tracked statement needs: TEMP (CREATE TEMP TABLE,
    /// SELECT INTO TEMP, DISCARD TEMP), DROP, DISCARD (DISCARD ALL). Any case; a match inside a longer word
    /// or a string only means the statement is lexed.
    static func mayChangeTables(_ sql: String) -> Bool {
        var sql = sql
        return sql.withUTF8 { b in
            var i = 0
            while i + 4 <= b.count {
                switch b[i] | 0x20 {
                case UInt8(ascii: "t"):
                    if b[i + 1] | 0x20 == UInt8(ascii: "e"), b[i + 2] | 0x20 == UInt8(ascii: "m"), b[i + 3] | 0x20 == UInt8(ascii: "p") { return true }
                case UInt8(ascii: "d"):
                    if b[i + 1] | 0x20 == UInt8(ascii: "r"), b[i + 2] | 0x20 == UInt8(ascii: "o"), b[i + 3] | 0x20 == UInt8(ascii: "p") { return true }
                    if b[i + 1] | 0x20 == UInt8(ascii: "i"), b[i + 2] | 0x20 == UInt8(ascii: "s"), b[i + 3] | 0x20 == UInt8(ascii: "c") { return true }
                default:
                    break
                }
                i += 1
            }
            return false
        }
    }

    private mutating func apply(_ words: [String], tokens: [SQLToken], inTransaction: Bool) {
        guard let first = words.first?.lowercased() else { return }
        let lower = words.map { $0.lowercased() }
        switch first {
        case "create":
            guard let t = lower.firstIndex(of: "table"), lower[1..<t].contains(where: { $0 == "temp" || $0 == "temporary" }) else { return }
            var i = t + 1
            if lower.count > i + 2, lower[i] == "if", lower[i + 1] == "not", lower[i + 2] == "exists" { i += 3 }
            guard i < words.count else { return }
            let name = words[i]
            let onCommitDrop = zip(lower, lower.dropFirst()).contains { $0 == "commit" && $1 == "drop" }
            created(name, inTransaction: inTransaction, onCommitDrop: onCommitDrop)
        case "select":
            guard let into = lower.firstIndex(of: "into"), into + 1 < lower.count,
                  lower[into + 1] == "temp" || lower[into + 1] == "temporary" else { return }
            var i = into + 2
            if i < lower.count, lower[i] == "table" { i += 1 }
            if i < words.count { created(words[i], inTransaction: inTransaction, onCommitDrop: false) }
        case "drop":
            guard lower.count > 2, lower[1] == "table" else { return }
            var names = Array(tokens.dropFirst(2))
            if names.count > 2, names[0].word == "if", names[1].word == "exists" { names.removeFirst(2) }
            for n in names.compactMap(\.name) where !["cascade", "restrict"].contains(n) {
                if inTransaction, tables.contains(n) { droppedInTransaction.insert(n) } else { tables.remove(n) }
                createdInTransaction.remove(n)
            }
        case "discard":
            if lower.count > 1, lower[1] == "temp" || lower[1] == "temporary" || lower[1] == "all" {
                tables.removeAll()
                createdInTransaction.removeAll()
            }
        default:
            return
        }
    }

    private mutating func created(_ name: String, inTransaction: Bool, onCommitDrop: Bool) {
        if inTransaction {
            createdInTransaction.insert(name)
            if onCommitDrop { droppedAtCommit.insert(name) }
        } else if !onCommitDrop {
            tables.insert(name)
        }
    }

    /// The explicit transaction ended: commit keeps its creations (less ON COMMIT DROP) and drops.
    public mutating func transactionEnded(committed: Bool) {
        if committed {
            tables.formUnion(createdInTransaction.subtracting(droppedAtCommit))
            tables.subtract(droppedInTransaction)
        }
        createdInTransaction.removeAll()
        droppedAtCommit.removeAll()
        droppedInTransaction.removeAll()
    }
}
