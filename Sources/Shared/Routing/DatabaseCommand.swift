/// Statements that PostgreSQL refuses while other sessions are connected to a database ("database … is
/// being accessed by other users"): DROP DATABASE, ALTER DATABASE … RENAME / SET TABLESPACE, and CREATE
/// DATABASE … TEMPLATE. poold's own idle cached connections must not be those other users, so the shell
/// closes them before it forwards such a statement; a real client still connected gets PostgreSQL's error.
public enum DatabaseCommand {
    /// The databases whose idle pooled connections must be closed before `text` runs (usually none).
    /// Cheap on everything else: a statement that does not start with DROP, ALTER or CREATE is not lexed.
    public static func databasesToRelease(in text: String) -> [String] {
        guard startsWithCandidateWord(text) else { return [] }
        var names: [String] = []
        for statement in SQLLexer.lex(text).statements {
            if let name = released(by: statement) { names.append(name) }
        }
        return names
    }

    private static func released(by t: [SQLToken]) -> String? {
        guard t.count >= 3, t[1].word == "database" else { return nil }
        switch t[0].word {
        case "drop":
            var i = 2
            if t.count > 4, t[2].word == "if", t[3].word == "exists" { i = 4 }
            return i < t.count ? t[i].name : nil
        case "alter":
            guard t.count >= 4, let name = t[2].name else { return nil }
            if t[3].word == "rename" { return name }
            if t.count >= 5, t[3].word == "set", t[4].word == "tablespace" { return name }
            return nil
        case "create":
            guard let at = t.firstIndex(where: { $0.word == "template" }) else { return nil }
            var i = at + 1
            if i < t.count, t[i] == .op("=") { i += 1 }
            return i < t.count ? t[i].name : nil
        default:
            return nil
        }
    }

    /// The first word (after blanks and comments, which only the lexer handles: a leading comment is lexed)
    /// is drop, alter or create.
    private static func startsWithCandidateWord(_ text: String) -> Bool {
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "("): continue
            case UInt8(ascii: "-"), UInt8(ascii: "/"): return true
            case UInt8(ascii: "d"), UInt8(ascii: "D"), UInt8(ascii: "a"), UInt8(ascii: "A"), UInt8(ascii: "c"), UInt8(ascii: "C"):
                return true
            default: return false
            }
        }
        return false
    }
}
