/// A token of PostgreSQL's lexical grammar, reduced to what routing needs.
public enum SQLToken: Equatable, Sendable {
    /// A keyword or unquoted identifier, lower-cased.
    case word(String)
    /// A "quoted identifier", case kept.
    case quotedIdentifier(String)
    /// A string constant of any form ('…', E'…', U&'…', B'…', X'…', $tag$…$tag$), with its value.
    case string(String)
    case number(String)
    /// `$1`, `$2`…
    case parameter(Int)
    /// Punctuation: ( ) [ ] , ; . :
    case punctuation(Character)
    /// An operator such as `=`, `::`, `<>`, `->>`.
    case op(String)

    public var word: String? { if case .word(let w) = self { return w } else { return nil } }
    /// A word or a quoted identifier: a name as PostgreSQL resolves it.
    public var name: String? {
        switch self {
        case .word(let w): return w
        case .quotedIdentifier(let q): return q
        default: return nil
        }
    }
    public func isPunctuation(_ c: Character) -> Bool { self == .punctuation(c) }
}

/// The lexed form of one query string: tokens split into statements at top-level semicolons.
public struct LexedQuery: Equatable, Sendable {
    public var statements: [[SQLToken]]
    /// The text starts with a comment (after white space): Pgpool-II then does not load balance it
    /// unless `allow_sql_comments` is on.
    public var startsWithComment: Bool
    /// First non-blank, non-comment character was one of s S w W t T ( — Pgpool-II's cheap SELECT test.
    public var firstCharacter: Character?
    /// The lexer reached the end inside a string, quoted identifier or comment.
    public var unterminated: Bool
}

/// A hand-written lexer for PostgreSQL SQL text: comments (nested block comments too), quoted identifiers,
/// string constants with E'' escapes and standard_conforming_strings, dollar quoting, and statement splitting.
public enum SQLLexer {
    public static func lex(_ text: String, standardConformingStrings: Bool = true) -> LexedQuery {
        let s = Array(text.unicodeScalars)
        var i = 0
        var statements: [[SQLToken]] = []
        var current: [SQLToken] = []
        var startsWithComment = false
        var firstCharacter: Character?
        var unterminated = false
        var sawToken = false

        func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }
        func isIdentStart(_ c: Unicode.Scalar) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || c.value >= 0x80
        }
        func isIdentChar(_ c: Unicode.Scalar) -> Bool { isIdentStart(c) || (c >= "0" && c <= "9") || c == "$" }
        func lowered(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
            var out = String.UnicodeScalarView()
            for c in scalars { out.append(c >= "A" && c <= "Z" ? Unicode.Scalar(c.value + 32)! : c) }
            return String(out)
        }
        /// Reads a quoted string starting at the opening quote; `backslash` enables C-style escapes.
        func readQuoted(quote: Unicode.Scalar, backslash: Bool) -> String {
            i += 1
            var out = String.UnicodeScalarView()
            while i < s.count {
                let c = s[i]
                if backslash, c == "\\", i + 1 < s.count {
                    let n = s[i + 1]
                    switch n {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    default: out.append(n)
                    }
                    i += 2
                    continue
                }
                if c == quote {
                    if peek(1) == quote { out.append(quote); i += 2; continue }
                    i += 1
                    return String(out)
                }
                out.append(c)
                i += 1
            }
            unterminated = true
            return String(out)
        }

        while i < s.count {
            let c = s[i]
            if c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" { i += 1; continue }
            if c == "-", peek(1) == "-" {
                if !sawToken && statements.isEmpty { startsWithComment = true }
                while i < s.count, s[i] != "\n" { i += 1 }
                continue
            }
            if c == "/", peek(1) == "*" {
                if !sawToken && statements.isEmpty { startsWithComment = true }
                var depth = 0
                while i < s.count {
                    if s[i] == "/", peek(1) == "*" { depth += 1; i += 2; continue }
                    if s[i] == "*", peek(1) == "/" { depth -= 1; i += 2; if depth == 0 { break }; continue }
                    i += 1
                }
                if depth != 0 { unterminated = true }
                continue
            }
            if !sawToken && statements.isEmpty && firstCharacter == nil { firstCharacter = Character(c) }
            sawToken = true
            if c == ";" {
                if !current.isEmpty { statements.append(current) }
                current = []
                i += 1
                continue
            }
            // String constants with prefixes: E'…', U&'…', B'…', X'…', N'…'
            if (c == "e" || c == "E"), peek(1) == "'" {
                i += 1
                current.append(.string(readQuoted(quote: "'", backslash: true)))
                continue
            }
            if (c == "u" || c == "U"), peek(1) == "&", peek(2) == "'" {
                i += 2
                current.append(.string(readQuoted(quote: "'", backslash: false)))
                continue
            }
            if (c == "u" || c == "U"), peek(1) == "&", peek(2) == "\"" {
                i += 2
                current.append(.quotedIdentifier(readQuoted(quote: "\"", backslash: false)))
                continue
            }
            if (c == "b" || c == "B" || c == "x" || c == "X" || c == "n" || c == "N"), peek(1) == "'" {
                i += 1
                current.append(.string(readQuoted(quote: "'", backslash: false)))
                continue
            }
            if c == "'" {
                current.append(.string(readQuoted(quote: "'", backslash: !standardConformingStrings)))
                continue
            }
            if c == "\"" {
                current.append(.quotedIdentifier(readQuoted(quote: "\"", backslash: false)))
                continue
            }
            if c == "$" {
                // $1 parameter, or $tag$ … $tag$ dollar quoting
                if let d = peek(1), d >= "0" && d <= "9" {
                    var j = i + 1
                    while j < s.count, s[j] >= "0" && s[j] <= "9" { j += 1 }
                    current.append(.parameter(Int(String(String.UnicodeScalarView(s[(i + 1)..<j]))) ?? 0))
                    i = j
                    continue
                }
                var j = i + 1
                while j < s.count, s[j] != "$", isIdentChar(s[j]) { j += 1 }
                if j < s.count, s[j] == "$" {
                    let tag = Array(s[i...j])
                    var k = j + 1
                    var found = -1
                    while k + tag.count <= s.count {
                        if s[k] == "$", Array(s[k..<(k + tag.count)]) == tag { found = k; break }
                        k += 1
                    }
                    if found < 0 {
                        unterminated = true
                        current.append(.string(String(String.UnicodeScalarView(s[(j + 1)...]))))
                        i = s.count
                    } else {
                        current.append(.string(String(String.UnicodeScalarView(s[(j + 1)..<found]))))
                        i = found + tag.count
                    }
                    continue
                }
                current.append(.op("$"))
                i += 1
                continue
            }
            if isIdentStart(c) {
                var j = i
                while j < s.count, isIdentChar(s[j]) { j += 1 }
                current.append(.word(lowered(s[i..<j])))
                i = j
                continue
            }
            if c >= "0" && c <= "9" || (c == "." && (peek(1).map { $0 >= "0" && $0 <= "9" } ?? false)) {
                var j = i
                while j < s.count, (s[j] >= "0" && s[j] <= "9") || s[j] == "." || s[j] == "e" || s[j] == "E" || s[j] == "_" {
                    if (s[j] == "e" || s[j] == "E"), j + 1 < s.count, s[j + 1] == "-" || s[j + 1] == "+" { j += 1 }
                    j += 1
                }
                current.append(.number(String(String.UnicodeScalarView(s[i..<j]))))
                i = j
                continue
            }
            if "()[],.:".unicodeScalars.contains(c) {
                if c == ":", peek(1) == ":" { current.append(.op("::")); i += 2; continue }
                current.append(.punctuation(Character(c)))
                i += 1
                continue
            }
            // operators: a run of operator characters
            let opChars = "+-*/<>=~!@#%^&|`?".unicodeScalars
            var j = i
            while j < s.count, opChars.contains(s[j]) {
                if s[j] == "-", j + 1 < s.count, s[j + 1] == "-", j > i { break }
                if s[j] == "/", j + 1 < s.count, s[j + 1] == "*", j > i { break }
                j += 1
            }
            if j == i { j = i + 1 }
            current.append(.op(String(String.UnicodeScalarView(s[i..<j]))))
            i = j
        }
        if !current.isEmpty { statements.append(current) }
        return LexedQuery(statements: statements, startsWithComment: startsWithComment,
                          firstCharacter: firstCharacter, unterminated: unterminated)
    }
}
