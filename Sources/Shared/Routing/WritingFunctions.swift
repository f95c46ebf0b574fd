/// Decides whether a statement calls a function that writes (Pgpool-II reference §2.2 item 8):
/// with `write_function_list` and `read_only_function_list` both empty, a function writes when it is
/// volatile in `pg_proc`; otherwise a function writes when it matches write_function_list, or does not match
/// read_only_function_list. Patterns are regexes anchored at both ends; schema-qualified and bare names are
/// different entries.
public struct WritingFunctions: Sendable {
    public enum Verdict: Equatable, Sendable {
        case readOnly
        case writes
        /// Volatility of these functions is not known yet: route to the primary and look them up.
        case unknown([String])
    }

    private let writeList: [String]
    private let readOnlyList: [String]
    /// Known volatility by function name, as learned from pg_proc ('v' volatile, 's' stable, 'i' immutable).
    public private(set) var volatility: [String: Bool] = [:]

    public init(writeList: [String], readOnlyList: [String]) {
        self.writeList = writeList
        self.readOnlyList = readOnlyList
    }

    /// Parses the two settings; they are mutually exclusive, as in Pgpool-II.
    public static func make(writeList: [String], readOnlyList: [String]) -> Result<WritingFunctions, ValueError> {
        if !writeList.isEmpty && !readOnlyList.isEmpty {
            return .failure(ValueError("write_function_list and read_only_function_list cannot both be set"))
        }
        for p in writeList + readOnlyList where (try? Regex("^(?:\(p))$")) == nil {
            return .failure(ValueError("invalid regular expression \"\(p)\""))
        }
        return .success(WritingFunctions(writeList: writeList, readOnlyList: readOnlyList))
    }

    public func verdict(for functions: [String]) -> Verdict {
        guard !functions.isEmpty else { return .readOnly }
        if !writeList.isEmpty {
            return functions.contains { Self.matches($0, writeList) } ? .writes : .readOnly
        }
        if !readOnlyList.isEmpty {
            return functions.allSatisfy { Self.matches($0, readOnlyList) } ? .readOnly : .writes
        }
        if functions.contains(where: { volatility[$0] == true }) { return .writes }
        let missing = functions.filter { volatility[$0] == nil }
        return missing.isEmpty ? .readOnly : .unknown(Array(Set(missing)).sorted())
    }

    /// Drops what was learned (the cache reached its bound).
    public mutating func forgetVolatility() { volatility.removeAll() }

    /// A list is set: the lists decide and pg_proc is not asked.
    public var usesLists: Bool { !writeList.isEmpty || !readOnlyList.isEmpty }

    /// By the lists: whether one function writes (compiles the patterns; callers memoise).
    public func listSaysWrites(_ name: String) -> Bool {
        if !writeList.isEmpty { return Self.matches(name, writeList) }
        return !Self.matches(name, readOnlyList)
    }

    /// Records what pg_proc said: `isVolatile` per function name (unknown names count as volatile).
    public mutating func learn(_ name: String, isVolatile: Bool) {
        volatility[name] = isVolatile
    }

    /// The catalog query for one function name (schema-qualified or bare): true when any overload is volatile
    /// or when no such function exists.
    public static func volatilityQuery(_ name: String) -> String {
        let parts = name.split(separator: ".", maxSplits: 1).map { String($0).replacingSingleQuotes }
        if parts.count == 2 {
            return "SELECT coalesce(bool_or(p.provolatile = 'v'), true) FROM pg_catalog.pg_proc p " +
                "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = '\(parts[0])' AND p.proname = '\(parts[1])'"
        }
        return "SELECT coalesce(bool_or(p.provolatile = 'v'), true) FROM pg_catalog.pg_proc p " +
            "WHERE p.proname = '\(parts[0])' AND pg_catalog.pg_function_is_visible(p.oid)"
    }

    private static func matches(_ name: String, _ patterns: [String]) -> Bool {
        patterns.contains { p in (try? Regex("^(?:\(p))$")).map { (try? $0.wholeMatch(in: name)) != nil } ?? false }
    }
}

extension String {
    /// Doubles single quotes for a SQL string literal.
    var replacingSingleQuotes: String {
        var out = ""
        for c in self { if c == "'" { out += "''" } else { out.append(c) } }
        return out
    }
}
