/// A validated setting value.
public enum SettingValue: Equatable, Sendable, CustomStringConvertible {
    case bool(Bool)
    case integer(Int)
    case real(Double)
    case string(String)
    case list([String])

    public var description: String {
        switch self {
        case .bool(let b): return b ? "on" : "off"
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .string(let s): return s
        case .list(let l): return l.joined(separator: ",")
        }
    }

    /// Parses `text` as the descriptor's kind; returns an error message on failure.
    public static func parse(_ text: String, as kind: SettingDescriptor.Kind) -> Result<SettingValue, ValueError> {
        let t = text.trimmingSpaces
        switch kind {
        case .bool:
            let l = t.lowercased()
            if l.isEmpty { return .failure(ValueError("invalid boolean \"\(text)\"")) }
            if "on".hasPrefix(l) && l.count >= 2 || "true".hasPrefix(l) || "yes".hasPrefix(l) || l == "1" { return .success(.bool(true)) }
            if "off".hasPrefix(l) && l.count >= 2 || "false".hasPrefix(l) || "no".hasPrefix(l) || l == "0" { return .success(.bool(false)) }
            return .failure(ValueError("invalid boolean \"\(text)\" (use on/off, true/false, yes/no, 1/0)"))
        case .integer(let min, let max, let unit):
            guard let v = parseInteger(t, unit: unit) else {
                return .failure(ValueError("invalid value \"\(text)\": expected an integer\(unit.hint)"))
            }
            guard v >= min, v <= max else { return .failure(ValueError("value \(v) is outside \(min)…\(max)")) }
            return .success(.integer(v))
        case .real(let min, let max):
            guard let d = Double(t) else { return .failure(ValueError("invalid value \"\(text)\": expected a number")) }
            guard d >= min, d <= max else { return .failure(ValueError("value \(d) is outside \(min)…\(max)")) }
            return .success(.real(d))
        case .string:
            return .success(.string(text))
        case .enumeration(let words):
            let l = t.lowercased()
            guard let w = words.first(where: { $0.lowercased() == l }) else {
                return .failure(ValueError("invalid value \"\(text)\" (expected one of: \(words.joined(separator: ", ")))"))
            }
            return .success(.string(w))
        case .list:
            let items = t.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
            return .success(.list(items))
        }
    }

    /// Integers with PostgreSQL-style unit suffixes: `10s`, `6 min`, `500ms`, `64MB`, `0777` (octal).
    static func parseInteger(_ t: String, unit: SettingDescriptor.Unit) -> Int? {
        let digits = t.prefix(while: { $0.isNumber || $0 == "-" })
        let suffix = t.dropFirst(digits.count).trimmingSpaces
        guard !digits.isEmpty else { return nil }
        let n: Int?
        if digits.count > 1, digits.hasPrefix("0"), suffix.isEmpty { n = Int(digits, radix: 8) } else { n = Int(digits) }
        guard let n else { return nil }
        if suffix.isEmpty { return n }
        let factor: Double  // to base unit
        switch (unit, suffix) {
        case (.milliseconds, "ms"): factor = 1
        case (.milliseconds, "s"): factor = 1000
        case (.milliseconds, "min"): factor = 60_000
        case (.milliseconds, "h"): factor = 3_600_000
        case (.milliseconds, "d"): factor = 86_400_000
        case (.seconds, "ms"): factor = 0.001
        case (.seconds, "s"): factor = 1
        case (.seconds, "min"): factor = 60
        case (.seconds, "h"): factor = 3600
        case (.seconds, "d"): factor = 86_400
        case (.minutes, "min"): factor = 1
        case (.minutes, "h"): factor = 60
        case (.minutes, "d"): factor = 1440
        case (.bytes, "B"): factor = 1
        case (.bytes, "kB"): factor = 1024
        case (.bytes, "MB"): factor = 1024 * 1024
        case (.bytes, "GB"): factor = 1024 * 1024 * 1024
        case (.bytes, "TB"): factor = 1024 * 1024 * 1024 * 1024
        case (.kilobytes, "kB"): factor = 1
        case (.kilobytes, "MB"): factor = 1024
        case (.kilobytes, "GB"): factor = 1024 * 1024
        default: return nil
        }
        let v = Double(n) * factor
        guard v == v.rounded() else { return nil }
        return Int(v)
    }
}

public struct ValueError: Error, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

extension SettingDescriptor.Unit {
    var hint: String {
        switch self {
        case .none: return ""
        case .milliseconds: return " (milliseconds, or with unit ms/s/min/h/d)"
        case .seconds: return " (seconds, or with unit ms/s/min/h/d)"
        case .minutes: return " (minutes, or with unit min/h/d)"
        case .bytes: return " (bytes, or with unit kB/MB/GB/TB)"
        case .kilobytes: return " (kB, or with unit kB/MB/GB)"
        }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" || f == "\r\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" || l == "\r\n" { s = s.dropLast() }
        return String(s)
    }

    /// The lines of a configuration file, ended by LF or CRLF. `split(separator: "\n")` alone would not split a
    /// CRLF file at all: "\r\n" is one Character, not "\r" then "\n".
    var lines: [SubSequence] {
        split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }
}
