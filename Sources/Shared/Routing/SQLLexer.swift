#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// Works on the UTF-8 bytes: every byte PostgreSQL's lexer treats specially is ASCII, and bytes ≥ 0x80
    /// only occur inside identifiers, strings and comments.
    public static func lex(_ text: String, standardConformingStrings: Bool = true) -> LexedQuery {
        var utf8 = text.utf8.withContiguousStorageIfAvailable { Array($0) } ?? Array(text.utf8)
        utf8.append(0)  // a sentinel, so peeking one past the end needs no bounds check
        let n = utf8.count - 1
        return utf8.withUnsafeBufferPointer { s in
            lex(s, count: n, standardConformingStrings: standardConformingStrings)
        }
    }

    private static func text(_ s: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: s[from..<to]), as: UTF8.self)
    }

    private static func lex(_ s: UnsafeBufferPointer<UInt8>, count: Int, standardConformingStrings: Bool) -> LexedQuery {
        var i = 0
        var statements: [[SQLToken]] = []
        var current: [SQLToken] = []
        var startsWithComment = false
        var firstCharacter: Character?
        var unterminated = false
        var sawToken = false

        @inline(__always) func peek(_ k: Int) -> UInt8 { i + k < count ? s[i + k] : 0 }
        @inline(__always) func isIdentStart(_ c: UInt8) -> Bool {
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c == 95 || c >= 0x80
        }
        @inline(__always) func isIdentChar(_ c: UInt8) -> Bool { isIdentStart(c) || (c >= 48 && c <= 57) || c == 36 }
        /// Reads a quoted string starting at the opening quote; `backslash` enables C-style escapes.
        func readQuoted(quote: UInt8, backslash: Bool) -> String {
            i += 1
            let start = i
            var out: [UInt8]? = nil  // only built when the value differs from the raw bytes
            while i < count {
                let c = s[i]
                if backslash, c == 92, i + 1 < count {
                    if out == nil { out = Array(s[start..<i]) }
                    switch s[i + 1] {
                    case 110: out!.append(10)
                    case 116: out!.append(9)
                    case 114: out!.append(13)
                    default: out!.append(s[i + 1])
                    }
                    i += 2
                    continue
                }
                if c == quote {
                    if peek(1) == quote {
                        if out == nil { out = Array(s[start..<i]) }
                        out!.append(quote)
                        i += 2
                        continue
                    }
                    let value = out.map { String(decoding: $0, as: UTF8.self) } ?? text(s, start, i)
                    i += 1
                    return value
                }
                out?.append(c)
                i += 1
            }
            unterminated = true
            return out.map { String(decoding: $0, as: UTF8.self) } ?? text(s, start, count)
        }

        while i < count {
            let c = s[i]
            if c == 32 || c == 9 || c == 10 || c == 13 || c == 12 { i += 1; continue }
            if c == 45, peek(1) == 45 {  // --
                if !sawToken && statements.isEmpty { startsWithComment = true }
                while i < count, s[i] != 10 { i += 1 }
                continue
            }
            if c == 47, peek(1) == 42 {  // /*
                if !sawToken && statements.isEmpty { startsWithComment = true }
                var depth = 0
                while i < count {
                    if s[i] == 47, peek(1) == 42 { depth += 1; i += 2; continue }
                    if s[i] == 42, peek(1) == 47 { depth -= 1; i += 2; if depth == 0 { break }; continue }
                    i += 1
                }
                if depth != 0 { unterminated = true }
                continue
            }
            if !sawToken && statements.isEmpty && firstCharacter == nil {
                firstCharacter = c < 0x80 ? Character(Unicode.Scalar(c)) : "\u{FFFD}"
            }
            sawToken = true
            if c == 59 {  // ;
                if !current.isEmpty { statements.append(current) }
                current = []
                i += 1
                continue
            }
            let next = peek(1)
            // String constants with prefixes: E'…', U&'…', B'…', X'…', N'…'
            if c == 101 || c == 69, next == 39 {
                i += 1
                current.append(.string(readQuoted(quote: 39, backslash: true)))
                continue
            }
            if c == 117 || c == 85, next == 38, peek(2) == 39 || peek(2) == 34 {
                let q = peek(2)
                i += 2
                current.append(q == 39 ? .string(readQuoted(quote: 39, backslash: false))
                                       : .quotedIdentifier(readQuoted(quote: 34, backslash: false)))
                continue
            }
            if c == 98 || c == 66 || c == 120 || c == 88 || c == 110 || c == 78, next == 39 {
                i += 1
                current.append(.string(readQuoted(quote: 39, backslash: false)))
                continue
            }
            if c == 39 {
                current.append(.string(readQuoted(quote: 39, backslash: !standardConformingStrings)))
                continue
            }
            if c == 34 {
                current.append(.quotedIdentifier(readQuoted(quote: 34, backslash: false)))
                continue
            }
            if c == 36 {  // $1 parameter, or $tag$ … $tag$ dollar quoting
                if next >= 48 && next <= 57 {
                    var j = i + 1
                    var v = 0
                    while j < count, s[j] >= 48 && s[j] <= 57 { v = v &* 10 &+ Int(s[j] - 48); j += 1 }
                    current.append(.parameter(v))
                    i = j
                    continue
                }
                var j = i + 1
                while j < count, s[j] != 36, isIdentChar(s[j]) { j += 1 }
                if j < count, s[j] == 36 {
                    let tagLength = j - i + 1
                    var k = j + 1
                    var found = -1
                    while k + tagLength <= count {
                        if s[k] == 36, memcmp(s.baseAddress! + k, s.baseAddress! + i, tagLength) == 0 { found = k; break }
                        k += 1
                    }
                    if found < 0 {
                        unterminated = true
                        current.append(.string(text(s, j + 1, count)))
                        i = count
                    } else {
                        current.append(.string(text(s, j + 1, found)))
                        i = found + tagLength
                    }
                    continue
                }
                current.append(.op("$"))
                i += 1
                continue
            }
            if isIdentStart(c) {
                var j = i
                var upper = false
                while j < count, isIdentChar(s[j]) {
                    if s[j] >= 65 && s[j] <= 90 { upper = true }
                    j += 1
                }
                if upper {
                    let lowered = s[i..<j].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
                    current.append(.word(String(decoding: lowered, as: UTF8.self)))
                } else {
                    current.append(.word(text(s, i, j)))
                }
                i = j
                continue
            }
            if c >= 48 && c <= 57 || (c == 46 && next >= 48 && next <= 57) {
                var j = i
                while j < count, (s[j] >= 48 && s[j] <= 57) || s[j] == 46 || s[j] == 101 || s[j] == 69 || s[j] == 95 {
                    if s[j] == 101 || s[j] == 69, j + 1 < count, s[j + 1] == 45 || s[j + 1] == 43 { j += 1 }
                    j += 1
                }
                current.append(.number(text(s, i, j)))
                i = j
                continue
            }
            switch c {
            case 40, 41, 91, 93, 44, 46:  // ( ) [ ] , .
                current.append(.punctuation(Character(Unicode.Scalar(c))))
                i += 1
                continue
            case 58:  // : or ::
                if next == 58 { current.append(.op("::")); i += 2 } else { current.append(.punctuation(":")); i += 1 }
                continue
            default:
                break
            }
            // operators: a run of operator characters
            var j = i
            while j < count, isOperatorChar(s[j]) {
                if s[j] == 45, j + 1 < count, s[j + 1] == 45, j > i { break }
                if s[j] == 47, j + 1 < count, s[j + 1] == 42, j > i { break }
                j += 1
            }
            if j == i { j = i + 1 }
            current.append(.op(text(s, i, j)))
            i = j
        }
        if !current.isEmpty { statements.append(current) }
        return LexedQuery(statements: statements, startsWithComment: startsWithComment,
                          firstCharacter: firstCharacter, unterminated: unterminated)
    }

    /// + - * / < > = ~ ! @ # % ^ & | ` ?
    @inline(__always) private static func isOperatorChar(_ c: UInt8) -> Bool {
        switch c {
        case 43, 45, 42, 47, 60, 62, 61, 126, 33, 64, 35, 37, 94, 38, 124, 96, 63: return true
        default: return false
        }
    }
}
