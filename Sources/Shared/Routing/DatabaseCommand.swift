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

    /// The first word is drop, alter or create (a leading comment, which only the lexer handles, is lexed):
    /// COMMIT, DELETE, ANALYZE… are turned away without lexing or allocating.
    private static func startsWithCandidateWord(_ text: String) -> Bool {
        var word: UInt64 = 0  // up to 7 lower-case letters, packed
        var letters = 0
        loop: for b in text.utf8 {
            switch b {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                if letters > 0 { break loop }
            case UInt8(ascii: "-"), UInt8(ascii: "/"):
                if letters == 0 { return true }
                break loop
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
                guard letters < 7 else { return false }
                word = word << 8 | UInt64(b | 0x20)
                letters += 1
            default:
                break loop
            }
        }
        return word == packed("drop") || word == packed("alter") || word == packed("create")
    }

    private static func packed(_ w: StaticString) -> UInt64 {
        var v: UInt64 = 0
        w.withUTF8Buffer { for b in $0 { v = v << 8 | UInt64(b) } }
        return v
    }
}
