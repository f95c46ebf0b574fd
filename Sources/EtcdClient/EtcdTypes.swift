import Foundation

/// One etcd member's client URL. Why a type and not a string: the client rotates over these, records which one
/// answered and keeps connections per endpoint; `https` is parsed so a configuration naming it fails clearly
/// (TLS is not built yet) instead of silently talking plain HTTP.
public struct EtcdEndpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Scheme: String, Sendable { case http, https }

    public var scheme: Scheme
    public var host: String
    public var port: Int

    public init(host: String, port: Int, scheme: Scheme = .http) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// `http://host:port`, `https://host:port`, `host:port`, `[v6]:port` or `host` (port 2379); a trailing `/` is
    /// allowed. Nil when it is none of these.
    public init?(_ text: String) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var scheme = Scheme.http
        if let range = rest.range(of: "://") {
            guard let s = Scheme(rawValue: rest[..<range.lowerBound].lowercased()) else { return nil }
            scheme = s
            rest = rest[range.upperBound...]
        }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        var host: Substring
        var port = 2379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = p
        } else {
            host = rest
        }
        guard !host.isEmpty, !host.contains("/"), (1...65535).contains(port) else { return nil }
        self.init(host: String(host), port: port, scheme: scheme)
    }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(scheme.rawValue)://\(h):\(port)"
    }
}

/// The header etcd puts on every answer. `revision` is the store's revision when the request was served (the
/// fencing and CAS token); `raftTerm` changes with each etcd leader election; `endpoint` is which member the
/// client got this answer from (set by the client, not sent by etcd; nil on headers nested in a txn).
public struct ResponseHeader: Sendable, Hashable {
    public var clusterID: UInt64
    public var memberID: UInt64
    public var revision: Int64
    public var raftTerm: UInt64
    public var endpoint: EtcdEndpoint?

    public init(clusterID: UInt64 = 0, memberID: UInt64 = 0, revision: Int64 = 0, raftTerm: UInt64 = 0,
                endpoint: EtcdEndpoint? = nil) {
        self.clusterID = clusterID
        self.memberID = memberID
        self.revision = revision
        self.raftTerm = raftTerm
        self.endpoint = endpoint
    }
}

/// A key with its value and revisions. Keys and values are bytes in etcd; `keyString`/`valueString` read them
/// as UTF-8, which is all poold writes. `createRevision` 0 never appears on a stored key: it is how a compare
/// says "absent". A DELETE event's `kv` carries only the key and the deleting `modRevision`.
public struct KeyValue: Sendable, Hashable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    /// How many times the key was written since its creation (1 after the create).
    public var version: Int64
    /// The lease the key is bound to, 0 for none.
    public var lease: Int64

    public init(key: [UInt8], value: [UInt8] = [], createRevision: Int64 = 0, modRevision: Int64 = 0,
                version: Int64 = 0, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    public var keyString: String { String(decoding: key, as: UTF8.self) }
    public var valueString: String { String(decoding: value, as: UTF8.self) }
}

// MARK: - Requests

/// A condition of a transaction: the key's create or mod revision, version, value or lease compared with a
/// constant. Patroni's leader-key pattern is `.createRevision(key, .equal, 0)` (the key does not exist) and
/// fencing is `.modRevision(key, .equal, r)` (nobody wrote since revision r).
public struct Compare: Sendable, Hashable {
    public enum Result: String, Sendable {
        case equal = "EQUAL", greater = "GREATER", less = "LESS", notEqual = "NOT_EQUAL"
    }

    public enum Target: Sendable, Hashable {
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
        case lease(Int64)
    }

    public var key: [UInt8]
    public var result: Result
    public var target: Target
    /// Compare every key in [key, rangeEnd) instead of one; nil for one key.
    public var rangeEnd: [UInt8]?

    public init(key: [UInt8], _ result: Result, _ target: Target, rangeEnd: [UInt8]? = nil) {
        self.key = key
        self.result = result
        self.target = target
        self.rangeEnd = rangeEnd
    }

    public static func createRevision(_ key: String, _ result: Result = .equal, _ revision: Int64) -> Compare {
        Compare(key: Array(key.utf8), result, .createRevision(revision))
    }
    public static func modRevision(_ key: String, _ result: Result = .equal, _ revision: Int64) -> Compare {
        Compare(key: Array(key.utf8), result, .modRevision(revision))
    }
    public static func version(_ key: String, _ result: Result = .equal, _ version: Int64) -> Compare {
        Compare(key: Array(key.utf8), result, .version(version))
    }
    public static func value(_ key: String, _ result: Result = .equal, _ value: String) -> Compare {
        Compare(key: Array(key.utf8), result, .value(Array(value.utf8)))
    }
    public static func lease(_ key: String, _ result: Result = .equal, _ lease: Int64) -> Compare {
        Compare(key: Array(key.utf8), result, .lease(lease))
    }
}

/// A put, as a call of its own or inside a transaction.
struct PutRequest: Sendable, Hashable {
    var key: [UInt8]
    var value: [UInt8]
    var lease: Int64 = 0
    var prevKV = false
}

/// A read of one key or of [key, rangeEnd).
struct RangeRequest: Sendable, Hashable {
    var key: [UInt8]
    var rangeEnd: [UInt8]? = nil
    var limit: Int64 = 0
    /// Served by the member alone, without a round through the raft leader: may be stale, works without quorum.
    var serializable = false
    var countOnly = false
}

/// A delete of one key or of [key, rangeEnd).
struct DeleteRangeRequest: Sendable, Hashable {
    var key: [UInt8]
    var rangeEnd: [UInt8]? = nil
    var prevKV = false
}

/// One operation of a transaction branch (`success` or `failure`).
public struct RequestOp: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case put(PutRequest)
        case range(RangeRequest)
        case deleteRange(DeleteRangeRequest)
    }

    let kind: Kind

    /// `request_put`; `lease` 0 for none.
    public static func put(_ key: String, _ value: String, lease: Int64 = 0, prevKV: Bool = false) -> RequestOp {
        RequestOp(kind: .put(PutRequest(key: Array(key.utf8), value: Array(value.utf8), lease: lease, prevKV: prevKV)))
    }

    /// `request_range` of one key, or of every key starting with `key` when `prefix`.
    public static func range(_ key: String, prefix: Bool = false) -> RequestOp {
        let k = Array(key.utf8)
        return RequestOp(kind: .range(RangeRequest(key: k, rangeEnd: prefix ? KeyRange.prefixEnd(k) : nil)))
    }

    /// `request_delete_range` of one key, or of every key starting with `key` when `prefix`.
    public static func deleteRange(_ key: String, prefix: Bool = false, prevKV: Bool = false) -> RequestOp {
        let k = Array(key.utf8)
        return RequestOp(kind: .deleteRange(DeleteRangeRequest(key: k, rangeEnd: prefix ? KeyRange.prefixEnd(k) : nil,
                                                               prevKV: prevKV)))
    }
}

/// Range ends for prefixes, as etcd's clientv3 `GetPrefixRangeEnd` computes them.
enum KeyRange {
    /// The first key after every key starting with `prefix`: the prefix with its last byte below 0xff
    /// incremented (0xff bytes at the end dropped); `[0]` (every key ≥ prefix) when no such byte exists.
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }
}

// MARK: - Responses

public struct LeaseGrantResponse: Sendable, Hashable {
    public var header: ResponseHeader
    public var id: Int64
    /// The TTL etcd granted, in seconds (it may raise a TTL below its minimum).
    public var ttl: Int64
}

public struct LeaseKeepAliveResponse: Sendable, Hashable {
    public var header: ResponseHeader
    public var id: Int64
    /// The TTL the lease was renewed to, in seconds. Always > 0: a lease that is gone throws instead.
    public var ttl: Int64
}

public struct LeaseTimeToLiveResponse: Sendable, Hashable {
    public var header: ResponseHeader
    public var id: Int64
    /// Seconds left; -1 when the lease does not exist (expired or revoked).
    public var ttl: Int64
    public var grantedTTL: Int64
    public var keys: [[UInt8]]
}

public struct RangeResponse: Sendable, Hashable {
    public var header: ResponseHeader
    public var kvs: [KeyValue]
    /// How many keys are in the range (may exceed `kvs.count` with a limit).
    public var count: Int64
    public var more: Bool
}

public struct PutResponse: Sendable, Hashable {
    public var header: ResponseHeader
    public var prevKV: KeyValue?
}

public struct DeleteRangeResponse: Sendable, Hashable {
    public var header: ResponseHeader
    public var deleted: Int64
    public var prevKVs: [KeyValue]
}

/// The answer of one operation of the branch a transaction ran.
public enum ResponseOp: Sendable, Hashable {
    case range(RangeResponse)
    case put(PutResponse)
    case deleteRange(DeleteRangeResponse)

    public var range: RangeResponse? {
        if case .range(let r) = self { return r }
        return nil
    }
}

public struct TxnResponse: Sendable, Hashable {
    public var header: ResponseHeader
    /// True when every compare held and the `success` branch ran; false: the `failure` branch ran.
    public var succeeded: Bool
    public var responses: [ResponseOp]
}

/// A change seen by a watch. `kv` is the key after a PUT, or the key and deleting revision after a DELETE;
/// `prevKV` is the key before the change when the watch asked for it (and etcd still had it).
public struct WatchEvent: Sendable, Hashable {
    public enum EventType: String, Sendable { case put = "PUT", delete = "DELETE" }

    public var type: EventType
    public var kv: KeyValue
    public var prevKV: KeyValue?
    /// The header of the watch response that carried the event.
    public var header: ResponseHeader
}

public struct Member: Sendable, Hashable {
    public var id: UInt64
    public var name: String
    public var peerURLs: [String]
    public var clientURLs: [String]
    public var isLearner: Bool
}

public struct MemberListResponse: Sendable, Hashable {
    public var header: ResponseHeader
    public var members: [Member]
}

/// One member's view of itself (`/v3/maintenance/status`), for health display.
public struct StatusResponse: Sendable, Hashable {
    public var header: ResponseHeader
    public var version: String
    public var dbSize: Int64
    /// The member ID of the raft leader as this member knows it; 0 when it knows none.
    public var leader: UInt64
    public var raftIndex: UInt64
    public var raftTerm: UInt64
    public var raftAppliedIndex: UInt64
    public var errors: [String]
    public var isLearner: Bool
}
