/// Why a client in pool_mode = transaction keeps its backend for the rest of its session: it created
/// session state that another backend would not have. poold pins rather than refuses, so nothing that works
/// against PostgreSQL fails through poold; the reason shows in `SHOW pool_pools` (column `pinned`).
/// Prepared statements are not a reason: poold defines them again where needed (`ClientStatements`).
public enum SessionPin: String, Equatable, Sendable {
    /// `SET` without LOCAL (also `SET SESSION …`, `SET ROLE`, `SET search_path`…).
    case set = "SET"
    case listen = "LISTEN"
    case temporaryObject = "temporary object"
    case advisoryLock = "advisory lock"
    case holdCursor = "WITH HOLD cursor"
    /// `LOAD`: a library loaded into one backend.
    case load = "LOAD"

    private static let advisoryLocks: Set<String> = ["pg_advisory_lock", "pg_advisory_lock_shared",
                                                      "pg_try_advisory_lock", "pg_try_advisory_lock_shared"]

    /// The first reason in one unit, if any. Cheap for the common statement: only texts whose first letter
    /// could start such a statement (s, l, c, d) or that hold several statements are lexed.
    public static func reason(in parts: [ClientUnit.Part]) -> SessionPin? {
        for part in parts {
            let c: Classification
            let text: String
            switch part {
            case .query(let cl, let t): c = cl; text = t
            case .parse(_, let cl, let t): c = cl; text = t
            default: continue
            }
            if let r = reason(c, text) { return r }
        }
        return nil
    }

    public static func reason(_ c: Classification, _ text: String) -> SessionPin? {
        for f in c.functions {
            let name = f.hasPrefix("pg_catalog.") ? String(f.dropFirst(11)) : f
            if advisoryLocks.contains(name) { return .advisoryLock }
        }
        switch c.kind {
        case .read, .begin, .commit, .rollback, .savepoint, .execute, .deallocate, .prepare, .twoPhase, .empty:
            if !c.multiStatement { return nil }
        case .set, .setReadWriteOrSerializable, .write, .other:
            break
        }
        guard c.multiStatement || mayStartPinning(text) else { return nil }
        for statement in SQLLexer.lex(text).statements {
            let words = statement.prefix(12).compactMap(\.word)
            guard let first = words.first else { continue }
            switch first {
            case "set":
                if words.count > 1, words[1] == "local" || words[1] == "transaction" { continue }
                return .set
            case "listen":
                return .listen
            case "load":
                return .load
            case "create":
                if words.dropFirst().prefix(4).contains(where: { $0 == "temp" || $0 == "temporary" }) { return .temporaryObject }
            case "declare":
                if zip(words, words.dropFirst()).contains(where: { $0 == "with" && $1 == "hold" }) { return .holdCursor }
            default:
                continue
            }
        }
        return nil
    }

    /// The first non-blank byte is s, l, c or d (either case), or a comment or parenthesis hides it.
    private static func mayStartPinning(_ text: String) -> Bool {
        for b in text.utf8 {
            switch b {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "s"), UInt8(ascii: "S"), UInt8(ascii: "l"), UInt8(ascii: "L"), UInt8(ascii: "c"),
                 UInt8(ascii: "C"), UInt8(ascii: "d"), UInt8(ascii: "D"), UInt8(ascii: "-"), UInt8(ascii: "/"),
                 UInt8(ascii: "("):
                return true
            default:
                return false
            }
        }
        return false
    }
}
