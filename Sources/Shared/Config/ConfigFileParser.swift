/// A problem found in a configuration file. Errors stop poold from starting; warnings are logged.
public struct Diagnostic: Equatable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error = "ERROR", warning = "WARNING" }
    public var severity: Severity
    public var file: String
    public var line: Int
    public var parameter: String?
    public var message: String

    public init(_ severity: Severity, file: String, line: Int, parameter: String? = nil, _ message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.parameter = parameter
        self.message = message
    }

    public var description: String {
        let p = parameter.map { " parameter \"\($0)\":" } ?? ""
        return "\(severity.rawValue): \(file):\(line):\(p) \(message)"
    }
}

/// One `name = value` line as written, before validation.
public struct RawSetting: Equatable, Sendable {
    public var name: String
    public var value: String
    public var file: String
    public var line: Int
}

/// Reads pgpool.conf syntax: `name = value` (the `=` optional), `#` comments, single-quoted strings with
/// `''` and backslash escapes, unquoted words and numbers with units, and `include = 'file'` (≤ 10 deep).
public struct ConfigFileParser {
    /// Reads an included file; gets the path as written and the including file's path. Returns
    /// (resolved path, text) or nil when it cannot be read.
    public typealias Loader = (_ path: String, _ from: String) -> (String, String)?

    public var loader: Loader

    public init(loader: @escaping Loader) { self.loader = loader }

    public func parse(text: String, file: String) -> (settings: [RawSetting], diagnostics: [Diagnostic]) {
        var settings: [RawSetting] = []
        var diagnostics: [Diagnostic] = []
        parse(text: text, file: file, depth: 0, into: &settings, &diagnostics)
        return (settings, diagnostics)
    }

    private func parse(text: String, file: String, depth: Int, into settings: inout [RawSetting],
                       _ diagnostics: inout [Diagnostic]) {
        var lineNumber = 0
        for rawLine in text.lines {
            lineNumber += 1
            switch Self.parseLine(Substring(rawLine)) {
            case .empty:
                continue
            case .failure(let message, let name):
                diagnostics.append(Diagnostic(.error, file: file, line: lineNumber, parameter: name, message))
            case .setting(let name, let value):
                if name.lowercased() == "include" {
                    guard depth < 10 else {
                        diagnostics.append(Diagnostic(.error, file: file, line: lineNumber, parameter: name,
                                                      "include nesting is deeper than 10"))
                        continue
                    }
                    guard let (path, included) = loader(value, file) else {
                        diagnostics.append(Diagnostic(.error, file: file, line: lineNumber, parameter: name,
                                                      "could not open included file \"\(value)\""))
                        continue
                    }
                    parse(text: included, file: path, depth: depth + 1, into: &settings, &diagnostics)
                } else {
                    settings.append(RawSetting(name: name, value: value, file: file, line: lineNumber))
                }
            }
        }
    }

    enum LineResult: Equatable {
        case empty
        case setting(name: String, value: String)
        case failure(String, name: String?)
    }

    static func parseLine(_ line: Substring) -> LineResult {
        var s = line.drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" })
        if s.isEmpty || s.first == "#" { return .empty }
        let name = s.prefix(while: { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" })
        guard !name.isEmpty else { return .failure("syntax error: expected a parameter name", name: nil) }
        s = s.dropFirst(name.count).drop(while: { $0 == " " || $0 == "\t" })
        if s.first == "=" { s = s.dropFirst().drop(while: { $0 == " " || $0 == "\t" }) }
        let value: String
        if s.first == "'" {
            var out = ""
            var rest = s.dropFirst()
            var closed = false
            while let c = rest.first {
                rest = rest.dropFirst()
                if c == "'" {
                    if rest.first == "'" { out.append("'"); rest = rest.dropFirst(); continue }
                    closed = true
                    break
                }
                if c == "\\", let next = rest.first {
                    rest = rest.dropFirst()
                    switch next {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    default: out.append(next)
                    }
                    continue
                }
                out.append(c)
            }
            guard closed else { return .failure("syntax error: unterminated quoted string", name: String(name)) }
            let trailing = rest.drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard trailing.isEmpty || trailing.first == "#" else {
                return .failure("syntax error: unexpected text after the value", name: String(name))
            }
            value = out
        } else {
            let raw = s.prefix(while: { $0 != "#" })
            var v = Substring(raw)
            while let last = v.last, last == " " || last == "\t" || last == "\r" { v = v.dropLast() }
            guard !v.isEmpty else { return .failure("syntax error: missing value", name: String(name)) }
            guard !v.contains("'") else { return .failure("syntax error: stray quote in value", name: String(name)) }
            value = String(v)
        }
        return .setting(name: String(name), value: value)
    }
}
