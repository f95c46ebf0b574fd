/// Where Pgpool-II sends a statement in streaming-replication mode.
public enum Destination: String, Equatable, Sendable {
    /// The primary only.
    case primary
    /// The primary and the session's load-balance node, so session state matches on both.
    case both
    /// Eligible for load balancing (further conditions apply: transaction state, functions, delay…).
    case either
}

/// What a statement is, as far as routing cares.
public enum StatementKind: Equatable, Sendable {
    case read
    case write
    case begin(readWrite: Bool, serializable: Bool)
    case commit
    case rollback
    case savepoint
    case set
    /// SET that makes the session or transaction read-write or serializable: primary only.
    case setReadWriteOrSerializable
    case prepare(name: String, inner: StatementKindBox)
    case execute(name: String)
    case deallocate(name: String?)
    case twoPhase
    case other
    case empty
}

/// Indirection so `StatementKind` can nest (PREPARE name AS stmt).
public final class StatementKindBox: Equatable, Sendable {
    public let kind: StatementKind
    public let destination: Destination
    public init(_ kind: StatementKind, _ destination: Destination) {
        self.kind = kind
        self.destination = destination
    }
    public static func == (l: StatementKindBox, r: StatementKindBox) -> Bool { l.kind == r.kind && l.destination == r.destination }
}

/// The routing-relevant facts of one query string.
public struct Classification: Equatable, Sendable {
    public var destination: Destination
    public var kind: StatementKind
    /// Function names called (lower-case, schema-qualified when written so): checked against
    /// write_function_list / read_only_function_list or pg_proc volatility.
    public var functions: [String]
    /// Relations named after FROM/JOIN/INTO/UPDATE/TABLE (for temp/unlogged/catalog checks).
    public var relations: [String]
    /// The string held more than one statement: Pgpool-II sends it to the primary.
    public var multiStatement: Bool
    /// Pgpool-II's textual pre-check (first character, leading comment) allows load balancing.
    public var passesTextCheck: Bool

    /// True when the statement may go to a standby at all (before session and function conditions).
    public var isLoadBalanceable: Bool { destination == .either && passesTextCheck && !multiStatement }
}

/// Classifies SQL text by Pgpool-II 4.6's routing table. Anything it does not understand goes to the primary.
public enum StatementClassifier {
    private static let writers: Set<String> = ["insert", "update", "delete", "merge"]
    private static let introducers: Set<String> = ["from", "join", "into", "update", "table"]

    public static func classify(_ text: String, allowSQLComments: Bool = false, standardConformingStrings: Bool = true) -> Classification {
        let lexed = SQLLexer.lex(text, standardConformingStrings: standardConformingStrings)
        let textOK: Bool
        if allowSQLComments {
            textOK = true
        } else {
            textOK = !lexed.startsWithComment && "sSwWtT(".contains(lexed.firstCharacter ?? "x")
        }
        guard !lexed.unterminated else {
            return Classification(destination: .primary, kind: .other, functions: [], relations: [], multiStatement: false,
                                  passesTextCheck: textOK)
        }
        switch lexed.statements.count {
        case 0:
            return Classification(destination: .primary, kind: .empty, functions: [], relations: [], multiStatement: false,
                                  passesTextCheck: textOK)
        case 1:
            var c = classify(tokens: lexed.statements[0])
            c.passesTextCheck = textOK || isPrepare(c.kind)
            return c
        default:
            var functions: [String] = [], relations: [String] = []
            var kinds: [StatementKind] = []
            for st in lexed.statements {
                let c = classify(tokens: st)
                functions += c.functions
                relations += c.relations
                kinds.append(c.kind)
            }
            let onlyReads = kinds.allSatisfy { $0 == .read }
            return Classification(destination: .primary, kind: onlyReads ? .read : (kinds.contains(.write) ? .write : .other),
                                  functions: functions, relations: relations, multiStatement: true, passesTextCheck: false)
        }
    }

    private static func isPrepare(_ k: StatementKind) -> Bool {
        if case .prepare = k { return true } else { return false }
    }

    /// Classifies one statement's tokens.
    public static func classify(tokens t: [SQLToken]) -> Classification {
        var c = Classification(destination: .primary, kind: .other, functions: functionCalls(t), relations: relations(t),
                               multiStatement: false, passesTextCheck: true)
        let words = t.compactMap(\.word)
        var first = t.first?.word ?? ""
        var start = 0
        // Parenthesised SELECT: (SELECT …) UNION (SELECT …)
        while start < t.count, t[start].isPunctuation("(") { start += 1 }
        if start > 0 { first = t.count > start ? (t[start].word ?? "") : "" }
        func has(_ w: String) -> Bool { words.contains(w) }
        func seq(_ ws: [String]) -> Bool {
            guard ws.count <= words.count else { return false }
            for k in 0...(words.count - ws.count) where Array(words[k..<(k + ws.count)]) == ws { return true }
            return false
        }
        /// A reading statement unless `writes`: then it is a write for the primary.
        func read(unless writes: Bool) {
            (c.destination, c.kind) = writes ? (.primary, .write) : (.either, .read)
        }
        switch first {
        case "select", "values", "table":
            read(unless: lockingClause(t) || topLevelInto(t))
        case "with":
            read(unless: writingCTE(t) || lockingClause(t) || topLevelInto(t))
        case "show":
            read(unless: false)
        case "copy":
            read(unless: !copyDirectionIsTo(t))
        case "begin", "start":
            c.destination = .both
            c.kind = .begin(readWrite: seq(["read", "write"]), serializable: seq(["isolation", "level", "serializable"]))
        case "commit", "end":
            if words.count > 1, words[1] == "prepared" {
                c.kind = .twoPhase
            } else {
                c.destination = .both
                c.kind = .commit
            }
        case "abort":
            c.destination = .both
            c.kind = .rollback
        case "rollback":
            if words.count > 1, words[1] == "prepared" {
                c.kind = .twoPhase
            } else if has("to") {
                c.destination = .both
                c.kind = .savepoint
            } else {
                c.destination = .both
                c.kind = .rollback
            }
        case "savepoint", "release":
            c.destination = .both
            c.kind = .savepoint
        case "prepare":
            if words.count > 1, words[1] == "transaction" {
                c.kind = .twoPhase
            } else if let asIndex = t.firstIndex(of: .word("as")), words.count > 1 {
                let inner = classify(tokens: Array(t[(asIndex + 1)...]))
                c.destination = inner.destination
                c.kind = .prepare(name: t[1].name ?? "", inner: StatementKindBox(inner.kind, inner.destination))
            }
        case "execute":
            c.kind = .execute(name: t.count > 1 ? (t[1].name ?? "") : "")
            c.destination = .primary
        case "deallocate":
            var rest = Array(t.dropFirst())
            if rest.first == .word("prepare") { rest.removeFirst() }
            if rest.first == .word("all") || rest.isEmpty {
                c.destination = .both
                c.kind = .deallocate(name: nil)
            } else {
                c.destination = .both
                c.kind = .deallocate(name: rest.first?.name)
            }
        case "set":
            c.destination = .both
            c.kind = .set
            if setMakesReadWriteOrSerializable(t) {
                c.destination = .primary
                c.kind = .setReadWriteOrSerializable
            }
        case "reset", "discard":
            c.destination = .both
            c.kind = .set
        case "lock":
            c.kind = .write
            c.destination = lockIsWeak(words) ? .both : .primary
        case "explain":
            // Pgpool-II 4.6 sends EXPLAIN to the primary in streaming-replication mode.
            c.destination = .primary
            c.kind = has("analyze") ? .write : .read
        case "":
            c.destination = .primary
            c.kind = .other
        default:
            c.destination = .primary
            c.kind = .write
        }
        if c.destination == .either, readsSessionLocalState(t) { c.destination = .primary }
        return c
    }

    /// Functions whose answer belongs to the session's own backend: on a standby they would describe
    /// another backend (`pg_backend_pid()`), or a transaction that differs from the primary's.
    private static let sessionLocalFunctions: Set<String> = [
        "pg_backend_pid", "pg_catalog.pg_backend_pid", "pg_my_temp_schema", "pg_catalog.pg_my_temp_schema",
        "pg_current_xact_id_if_assigned", "txid_current_if_assigned", "pg_trigger_depth", "inet_client_port",
        "inet_client_addr", "pg_blocking_pids", "pg_catalog.pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
    ]
    /// Settings whose value is the current transaction's (`current_setting('transaction_isolation')`, SHOW).
    private static let transactionSettings: Set<String> = [
        "transaction_isolation", "transaction_read_only", "transaction_deferrable",
    ]

    /// The statement reads state that lives in the session's backend on the primary: a session-local
    /// function, or the current transaction's settings (pg_prepared_statements, pg_stat_activity and other
    /// pg_* views already go to the primary as system catalogs).
    static func readsSessionLocalState(_ t: [SQLToken]) -> Bool {
        if t.first?.word == "show", t.count > 1, let name = t[1].word, transactionSettings.contains(name) { return true }
        for k in 0..<t.count where k + 1 < t.count && t[k + 1].isPunctuation("(") {
            guard let name = t[k].name else { continue }
            let qualified = k > 1 && t[k - 1].isPunctuation(".") ? (t[k - 2].name ?? "") + "." + name : name
            if sessionLocalFunctions.contains(qualified) { return true }
            if name == "current_setting", k + 2 < t.count, case .string(let setting) = t[k + 2],
               transactionSettings.contains(setting.lowercased()) {
                return true
            }
        }
        return false
    }

    /// What a standby runs for a BEGIN it cannot run as written (READ WRITE, SERIALIZABLE): the same
    /// isolation level, so both links' transactions see the same kind of snapshot (SERIALIZABLE becomes
    /// REPEATABLE READ, the strongest a hot standby has); read-only-ness is the standby's own.
    public static func standbyBegin(_ text: String) -> String {
        let words = SQLLexer.lex(text).statements.first?.compactMap(\.word) ?? []
        guard let i = words.firstIndex(of: "isolation"), i + 2 < words.count, words[i + 1] == "level" else { return "BEGIN" }
        switch (words[i + 2], i + 3 < words.count ? words[i + 3] : "") {
        case ("serializable", _), ("repeatable", "read"): return "BEGIN ISOLATION LEVEL REPEATABLE READ"
        case ("read", "committed"): return "BEGIN ISOLATION LEVEL READ COMMITTED"
        case ("read", "uncommitted"): return "BEGIN ISOLATION LEVEL READ UNCOMMITTED"
        default: return "BEGIN"
        }
    }

    // MARK: - Grammar fragments

    /// FOR UPDATE / FOR NO KEY UPDATE / FOR SHARE / FOR KEY SHARE anywhere.
    static func lockingClause(_ t: [SQLToken]) -> Bool {
        for (k, tok) in t.enumerated() where tok.word == "for" && k + 1 < t.count {
            let next = t[k + 1].word
            if next == "update" || next == "share" { return true }
            if next == "no" || next == "key", k + 2 < t.count, let w = t[k + 2].word, ["key", "update", "share"].contains(w) {
                return true
            }
        }
        return false
    }

    /// SELECT … INTO newtable at parenthesis depth 0 (INSERT INTO never starts a SELECT).
    static func topLevelInto(_ t: [SQLToken]) -> Bool {
        var depth = 0
        for tok in t {
            if tok.isPunctuation("(") { depth += 1 } else if tok.isPunctuation(")") { depth -= 1 }
            if depth == 0, tok.word == "into" { return true }
        }
        return false
    }

    /// A data-modifying statement inside WITH, or as WITH's main statement.
    static func writingCTE(_ t: [SQLToken]) -> Bool {
        let writers = Self.writers
        for k in 1..<max(1, t.count) {
            guard let w = t[k].word, writers.contains(w) else { continue }
            let prev = t[k - 1]
            if prev.isPunctuation("(") || prev.isPunctuation(")") { return true }
        }
        return false
    }

    /// COPY … TO (STDOUT/file) vs COPY … FROM: the first TO/FROM at depth 0 after the table or query.
    static func copyDirectionIsTo(_ t: [SQLToken]) -> Bool {
        var depth = 0
        for tok in t.dropFirst() {
            if tok.isPunctuation("(") { depth += 1 } else if tok.isPunctuation(")") { depth -= 1 }
            if depth == 0, let w = tok.word {
                if w == "to" { return true }
                if w == "from" { return false }
            }
        }
        return false
    }

    /// LOCK modes weaker than ROW EXCLUSIVE (ACCESS SHARE, ROW SHARE) need not go to the primary only.
    static func lockIsWeak(_ words: [String]) -> Bool {
        guard let inIndex = words.firstIndex(of: "in"), let modeIndex = words.lastIndex(of: "mode"), inIndex < modeIndex else {
            return false  // no mode: ACCESS EXCLUSIVE
        }
        let mode = words[(inIndex + 1)..<modeIndex].joined(separator: " ")
        return mode == "access share" || mode == "row share"
    }

    /// SET transaction_read_only = off, SET [SESSION CHARACTERISTICS AS] TRANSACTION … READ WRITE,
    /// ISOLATION LEVEL SERIALIZABLE, default_transaction_isolation / default_transaction_read_only.
    static func setMakesReadWriteOrSerializable(_ t: [SQLToken]) -> Bool {
        let words = t.compactMap { $0.word ?? ($0.name) }
        var values: [String] = []
        for tok in t {
            switch tok {
            case .word(let w): values.append(w)
            case .string(let s): values.append(s.lowercased())
            case .number(let n): values.append(n)
            default: break
            }
        }
        let joined = " " + values.joined(separator: " ") + " "
        if joined.contains(" read write ") { return true }
        if joined.contains(" isolation level serializable ") { return true }
        if let i = words.firstIndex(where: { $0 == "transaction_read_only" || $0 == "default_transaction_read_only" }) {
            let rest = values.drop(while: { $0 != words[i] }).dropFirst().filter { $0 != "to" }
            if let v = rest.first, ["off", "false", "0", "f", "n", "no"].contains(v) { return true }
        }
        if words.contains("default_transaction_isolation"), values.contains("serializable") { return true }
        return false
    }

    /// Words followed by "(" that are syntax, not function calls.
    private static let notFunctions: Set<String> = [
        "in", "exists", "any", "all", "some", "values", "as", "from", "join", "on", "using", "select", "where",
        "and", "or", "not", "over", "filter", "within", "into", "table", "with", "union", "intersect", "except",
        "returning", "set", "lateral", "by", "group", "order", "partition", "window", "when", "then", "else",
        "is", "like", "ilike", "between", "array", "row", "cast", "case", "distinct", "update", "insert", "delete",
        "default", "primary", "key", "references", "unique", "check", "constraint", "foreign", "conflict", "do",
        "limit", "offset", "having", "materialized", "recursive", "only", "cube", "rollup", "sets", "grouping",
        "to", "for", "of", "if", "analyze", "explain", "verbose", "copy", "format", "options", "language",
    ]

    /// Names followed by "(" that are not keywords introducing a parenthesised clause.
    static func functionCalls(_ t: [SQLToken]) -> [String] {
        var out: [String] = []
        for k in 0..<t.count where k + 1 < t.count && t[k + 1].isPunctuation("(") {
            guard let name = t[k].name else { continue }
            if case .word = t[k], notFunctions.contains(name) { continue }
            // CREATE TABLE t ( / INSERT INTO t ( are relations, not calls
            if k > 0, let prev = t[k - 1].word, ["table", "into", "exists", "index", "view", "on", "type"].contains(prev) { continue }
            if k > 1, t[k - 1].isPunctuation("."), let schema = t[k - 2].name {
                out.append(schema + "." + name)
            } else {
                out.append(name)
            }
        }
        return out
    }

    /// Relation names after FROM, JOIN, INTO, UPDATE, TABLE (schema-qualified when written so).
    static func relations(_ t: [SQLToken]) -> [String] {
        var out: [String] = []
        let introducers = Self.introducers
        var k = 0
        while k < t.count {
            if let w = t[k].word, introducers.contains(w), k + 1 < t.count {
                var j = k + 1
                if t[j].word == "only" { j += 1 }
                if j < t.count, let name = t[j].name, !(t[j].word.map { ["select", "lateral", "unnest"].contains($0) } ?? false) {
                    if j + 2 < t.count, t[j + 1].isPunctuation("."), let rel = t[j + 2].name {
                        out.append(name + "." + rel)
                        k = j + 3
                        continue
                    }
                    if !(j + 1 < t.count && t[j + 1].isPunctuation("(")) { out.append(name) }
                }
            }
            k += 1
        }
        return out
    }
}
