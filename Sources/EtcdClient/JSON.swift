import Foundation

/// A JSON value as the etcd gateway sends and takes it.
///
/// Why not Codable structs: the gateway writes int64/uint64 fields as strings but must be read as numbers too
/// (other gateways, proxies, hand-written fixtures), lease and member IDs do not fit in a Double, and proto3 JSON
/// leaves out every field at its zero value (`succeeded: false`, `version: 0`, the PUT event type). One small
/// value type with lenient accessors says all that once, instead of a custom `init(from:)` per message.
enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    /// An integral number that fits in Int64 (kept exact: IDs are 64-bit).
    case int(Int64)
    /// An integral number above Int64.max (member and cluster IDs are uint64).
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    // MARK: - Reading

    subscript(key: String) -> JSON? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    /// A bool, also from "true"/"false" strings; nil for anything else.
    var boolValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .string("true"): return true
        case .string("false"): return false
        default: return nil
        }
    }

    /// An int64 written as a number or, as the gateway does, as a decimal string.
    var int64Value: Int64? {
        switch self {
        case .int(let i): return i
        case .uint(let u): return Int64(exactly: u)
        case .double(let d): return Int64(exactly: d)
        case .string(let s): return Int64(s)
        default: return nil
        }
    }

    /// A uint64 written as a number or a decimal string.
    var uint64Value: UInt64? {
        switch self {
        case .int(let i): return UInt64(exactly: i)
        case .uint(let u): return u
        case .double(let d): return UInt64(exactly: d)
        case .string(let s): return UInt64(s)
        default: return nil
        }
    }

    /// Bytes sent base64-encoded (keys, values, range ends).
    var base64Bytes: [UInt8]? {
        guard case .string(let s) = self, let data = Data(base64Encoded: s) else { return nil }
        return Array(data)
    }

    // MARK: - Writing

    /// An int64 the way proto3 JSON writes it: a decimal string.
    static func int64(_ value: Int64) -> JSON { .string(String(value)) }

    static func base64(_ bytes: [UInt8]) -> JSON { .string(Data(bytes).base64EncodedString()) }

    /// Compact JSON with sorted keys, so that equal values encode to equal bytes (tests compare them).
    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a JSON value cannot fail: it holds only encodable leaves (a non-finite double aside).
        return Array((try? encoder.encode(self)) ?? Data("null".utf8))
    }

    static func parse(_ bytes: some Collection<UInt8>) throws -> JSON {
        do {
            return try JSONDecoder().decode(JSON.self, from: Data(bytes))
        } catch {
            throw EtcdError.decoding("not JSON (\(error)): \(String(decoding: bytes.prefix(200), as: UTF8.self))")
        }
    }
}

extension JSON: Codable {
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let u = try? c.decode(UInt64.self) {
            self = .uint(u)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSON].self))
        }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .uint(let u): try c.encode(u)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByDictionaryLiteral,
    ExpressibleByArrayLiteral
{
    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
}
