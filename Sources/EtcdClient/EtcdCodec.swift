/// The gateway's JSON for every request and response the client uses, as pure functions.
///
/// Why here and not in the client: this is where the protocol's quirks live — base64 keys and values, int64 as
/// strings, zero values left out, `{"result":…}` around streamed answers, errors as `{"error","code","message"}`
/// or `{"error":{"grpc_code",…}}` — and all of it is tested against captured answers without a socket.
enum EtcdCodec {
    // MARK: - Requests

    static func put(_ r: PutRequest) -> JSON {
        var o: [String: JSON] = ["key": .base64(r.key), "value": .base64(r.value)]
        if r.lease != 0 { o["lease"] = .int64(r.lease) }
        if r.prevKV { o["prev_kv"] = true }
        return .object(o)
    }

    static func range(_ r: RangeRequest) -> JSON {
        var o: [String: JSON] = ["key": .base64(r.key)]
        if let end = r.rangeEnd { o["range_end"] = .base64(end) }
        if r.limit != 0 { o["limit"] = .int64(r.limit) }
        if r.serializable { o["serializable"] = true }
        if r.countOnly { o["count_only"] = true }
        return .object(o)
    }

    static func deleteRange(_ r: DeleteRangeRequest) -> JSON {
        var o: [String: JSON] = ["key": .base64(r.key)]
        if let end = r.rangeEnd { o["range_end"] = .base64(end) }
        if r.prevKV { o["prev_kv"] = true }
        return .object(o)
    }

    static func compare(_ c: Compare) -> JSON {
        var o: [String: JSON] = ["key": .base64(c.key), "result": .string(c.result.rawValue)]
        switch c.target {
        case .version(let v): o["target"] = "VERSION"; o["version"] = .int64(v)
        case .createRevision(let r): o["target"] = "CREATE"; o["create_revision"] = .int64(r)
        case .modRevision(let r): o["target"] = "MOD"; o["mod_revision"] = .int64(r)
        case .value(let v): o["target"] = "VALUE"; o["value"] = .base64(v)
        case .lease(let l): o["target"] = "LEASE"; o["lease"] = .int64(l)
        }
        if let end = c.rangeEnd { o["range_end"] = .base64(end) }
        return .object(o)
    }

    static func requestOp(_ op: RequestOp) -> JSON {
        switch op.kind {
        case .put(let p): return ["request_put": put(p)]
        case .range(let r): return ["request_range": range(r)]
        case .deleteRange(let d): return ["request_delete_range": deleteRange(d)]
        }
    }

    static func txn(compare: [Compare], success: [RequestOp], failure: [RequestOp]) -> JSON {
        var o: [String: JSON] = [:]
        if !compare.isEmpty { o["compare"] = .array(compare.map(Self.compare)) }
        if !success.isEmpty { o["success"] = .array(success.map(requestOp)) }
        if !failure.isEmpty { o["failure"] = .array(failure.map(requestOp)) }
        return .object(o)
    }

    static func leaseGrant(ttl: Int64, id: Int64) -> JSON {
        var o: [String: JSON] = ["TTL": .int64(ttl)]
        if id != 0 { o["ID"] = .int64(id) }
        return .object(o)
    }

    static func leaseID(_ id: Int64, keys: Bool = false) -> JSON {
        keys ? ["ID": .int64(id), "keys": true] : ["ID": .int64(id)]
    }

    static func watchCreate(key: [UInt8], rangeEnd: [UInt8]?, startRevision: Int64, prevKV: Bool) -> JSON {
        var o: [String: JSON] = ["key": .base64(key)]
        if let end = rangeEnd { o["range_end"] = .base64(end) }
        if startRevision != 0 { o["start_revision"] = .int64(startRevision) }
        if prevKV { o["prev_kv"] = true }
        return ["create_request": .object(o)]
    }

    static func authenticate(name: String, password: String) -> JSON {
        ["name": .string(name), "password": .string(password)]
    }

    // MARK: - Responses

    static func header(_ j: JSON?) -> ResponseHeader {
        ResponseHeader(clusterID: j?["cluster_id"]?.uint64Value ?? 0, memberID: j?["member_id"]?.uint64Value ?? 0,
                       revision: j?["revision"]?.int64Value ?? 0, raftTerm: j?["raft_term"]?.uint64Value ?? 0)
    }

    static func bytes(_ j: JSON?, _ field: String) throws -> [UInt8] {
        guard let v = j?[field] else { return [] }
        guard let b = v.base64Bytes else { throw EtcdError.decoding("\(field) is not base64: \(v)") }
        return b
    }

    static func keyValue(_ j: JSON) throws -> KeyValue {
        guard j.isObject else { throw EtcdError.decoding("a key-value is not an object: \(j)") }
        return KeyValue(key: try bytes(j, "key"), value: try bytes(j, "value"),
                        createRevision: j["create_revision"]?.int64Value ?? 0,
                        modRevision: j["mod_revision"]?.int64Value ?? 0, version: j["version"]?.int64Value ?? 0,
                        lease: j["lease"]?.int64Value ?? 0)
    }

    static func keyValues(_ j: JSON?) throws -> [KeyValue] {
        try (j?.arrayValue ?? []).map(keyValue)
    }

    static func rangeResponse(_ j: JSON) throws -> RangeResponse {
        RangeResponse(header: header(j["header"]), kvs: try keyValues(j["kvs"]), count: j["count"]?.int64Value ?? 0,
                      more: j["more"]?.boolValue ?? false)
    }

    static func putResponse(_ j: JSON) throws -> PutResponse {
        PutResponse(header: header(j["header"]), prevKV: try j["prev_kv"].map(keyValue))
    }

    static func deleteRangeResponse(_ j: JSON) throws -> DeleteRangeResponse {
        DeleteRangeResponse(header: header(j["header"]), deleted: j["deleted"]?.int64Value ?? 0,
                            prevKVs: try keyValues(j["prev_kvs"]))
    }

    static func txnResponse(_ j: JSON) throws -> TxnResponse {
        let ops = try (j["responses"]?.arrayValue ?? []).map { op -> ResponseOp in
            if let r = op["response_range"] { return .range(try rangeResponse(r)) }
            if let p = op["response_put"] { return .put(try putResponse(p)) }
            if let d = op["response_delete_range"] { return .deleteRange(try deleteRangeResponse(d)) }
            throw EtcdError.decoding("unknown txn response op: \(op)")
        }
        return TxnResponse(header: header(j["header"]), succeeded: j["succeeded"]?.boolValue ?? false, responses: ops)
    }

    static func leaseGrantResponse(_ j: JSON) throws -> LeaseGrantResponse {
        if let e = j["error"]?.stringValue, !e.isEmpty { throw EtcdError.server(code: 0, message: e) }
        guard let id = j["ID"]?.int64Value else { throw EtcdError.decoding("lease grant without ID: \(j)") }
        return LeaseGrantResponse(header: header(j["header"]), id: id, ttl: j["TTL"]?.int64Value ?? 0)
    }

    /// The unary keepalive answers `{"result":{…}}`; a TTL of 0 (left out) means the lease is gone, which
    /// clientv3 reports as ErrLeaseNotFound and so does this.
    static func keepAliveResponse(_ j: JSON, lease: Int64) throws -> LeaseKeepAliveResponse {
        let r = try streamResult(j)
        let ttl = r["TTL"]?.int64Value ?? 0
        guard ttl > 0 else { throw EtcdError.server(code: GRPCCode.notFound, message: EtcdError.leaseNotFoundMessage) }
        return LeaseKeepAliveResponse(header: header(r["header"]), id: r["ID"]?.int64Value ?? lease, ttl: ttl)
    }

    static func timeToLiveResponse(_ j: JSON) throws -> LeaseTimeToLiveResponse {
        LeaseTimeToLiveResponse(header: header(j["header"]), id: j["ID"]?.int64Value ?? 0,
                                ttl: j["TTL"]?.int64Value ?? 0, grantedTTL: j["grantedTTL"]?.int64Value ?? 0,
                                keys: try (j["keys"]?.arrayValue ?? []).map {
                                    guard let b = $0.base64Bytes else { throw EtcdError.decoding("lease key: \($0)") }
                                    return b
                                })
    }

    static func memberListResponse(_ j: JSON) throws -> MemberListResponse {
        let members = (j["members"]?.arrayValue ?? []).map { m in
            Member(id: m["ID"]?.uint64Value ?? 0, name: m["name"]?.stringValue ?? "",
                   peerURLs: (m["peerURLs"]?.arrayValue ?? []).compactMap(\.stringValue),
                   clientURLs: (m["clientURLs"]?.arrayValue ?? []).compactMap(\.stringValue),
                   isLearner: m["isLearner"]?.boolValue ?? false)
        }
        return MemberListResponse(header: header(j["header"]), members: members)
    }

    static func statusResponse(_ j: JSON) throws -> StatusResponse {
        StatusResponse(header: header(j["header"]), version: j["version"]?.stringValue ?? "",
                       dbSize: j["dbSize"]?.int64Value ?? 0, leader: j["leader"]?.uint64Value ?? 0,
                       raftIndex: j["raftIndex"]?.uint64Value ?? 0, raftTerm: j["raftTerm"]?.uint64Value ?? 0,
                       raftAppliedIndex: j["raftAppliedIndex"]?.uint64Value ?? 0,
                       errors: (j["errors"]?.arrayValue ?? []).compactMap(\.stringValue),
                       isLearner: j["isLearner"]?.boolValue ?? false)
    }

    static func authenticateResponse(_ j: JSON) throws -> String {
        guard let token = j["token"]?.stringValue, !token.isEmpty else {
            throw EtcdError.decoding("authenticate answered no token: \(j)")
        }
        return token
    }

    /// The `/v3` prefix for a server version, as Patroni chooses it: 3.4+ `/v3`, 3.3 `/v3beta`, older `/v3alpha`.
    /// An unreadable version gets `/v3` (what every supported etcd serves).
    static func apiPrefix(forServerVersion version: String) -> String {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return "/v3" }
        if parts[0] > 3 || (parts[0] == 3 && parts[1] >= 4) { return "/v3" }
        return parts[0] == 3 && parts[1] == 3 ? "/v3beta" : "/v3alpha"
    }

    static func serverVersion(_ j: JSON) -> String { j["etcdserver"]?.stringValue ?? "" }

    // MARK: - Streamed messages and errors

    /// What a streamed message (`{"result":…}` or `{"error":…}`) carries: the result, or a thrown `.server`.
    static func streamResult(_ j: JSON) throws -> JSON {
        if let r = j["result"] { return r }
        if let e = j["error"], e.isObject {
            throw EtcdError.server(code: Int(e["grpc_code"]?.int64Value ?? 0), message: e["message"]?.stringValue ?? "\(e)")
        }
        throw EtcdError.decoding("a streamed message without result or error: \(j)")
    }

    /// One message of a watch stream.
    struct WatchMessage: Sendable, Hashable {
        var header: ResponseHeader
        var created = false
        var canceled = false
        var cancelReason = ""
        /// > 0 when the requested start revision was compacted away (the watch is then canceled).
        var compactRevision: Int64 = 0
        var events: [WatchEvent] = []
    }

    static func watchMessage(_ j: JSON) throws -> WatchMessage {
        let r = try streamResult(j)
        let h = header(r["header"])
        let events = try (r["events"]?.arrayValue ?? []).map { e -> WatchEvent in
            let type: WatchEvent.EventType
            switch e["type"]?.stringValue {
            case nil, "PUT": type = .put
            case "DELETE": type = .delete
            case let other?: throw EtcdError.decoding("unknown watch event type \(other)")
            }
            guard let kv = e["kv"] else { throw EtcdError.decoding("watch event without kv: \(e)") }
            return WatchEvent(type: type, kv: try keyValue(kv), prevKV: try e["prev_kv"].map(keyValue), header: h)
        }
        return WatchMessage(header: h, created: r["created"]?.boolValue ?? false,
                            canceled: r["canceled"]?.boolValue ?? false,
                            cancelReason: r["cancel_reason"]?.stringValue ?? "",
                            compactRevision: r["compact_revision"]?.int64Value ?? 0, events: events)
    }

    /// The error an HTTP answer other than 200 stands for: the gateway's `{"error","message","code"}` as
    /// `.server(code, message)`, anything else as `.http(status, body)`.
    static func errorResponse(status: Int, body: [UInt8]) -> EtcdError {
        if let j = try? JSON.parse(body), j.isObject {
            let message = j["message"]?.stringValue ?? j["error"]?.stringValue
            if let message, let code = j["code"]?.int64Value { return .server(code: Int(code), message: message) }
            if let e = j["error"], e.isObject, let m = e["message"]?.stringValue {
                return .server(code: Int(e["grpc_code"]?.int64Value ?? 0), message: m)
            }
        }
        return .http(status: status, body: String(decoding: body.prefix(500), as: UTF8.self))
    }
}

/// The gRPC status codes the client tells apart (the gateway's `code` field).
enum GRPCCode {
    static let unknown = 2
    static let deadlineExceeded = 4
    static let notFound = 5
    static let internalError = 13
    static let unavailable = 14
    static let unauthenticated = 16
}
