import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small etcd v3 client over the JSON gRPC gateway on HTTP/1.1: leases, reads, puts, transactions, watches,
/// membership and status — what a coordinator needs, as Patroni uses it.
///
/// Why over the gateway and not gRPC: no maintained Swift or C etcd v3 client covers leases plus transactions,
/// and the gateway needs neither HTTP/2 nor protobuf — a handful of JSON POSTs and one streamed answer.
///
/// Every call goes to the endpoint that answered last and, when that one cannot answer (no connection, no
/// answer within `requestTimeout`, a 5xx, "no leader", "leader changed"), to the next, round and round with a
/// short backoff until `deadline`; then it throws `.unavailable` with each endpoint's failure. etcd's verdicts on
/// the request itself (a missing lease, a bad argument) are thrown at once. A write that failed over may have
/// been applied by the member that did not answer: make writes safe to repeat (compare `VALUE == me`).
public final class EtcdClient: Sendable {
    /// How the client reaches etcd.
    public struct Configuration: Sendable {
        /// The members' client URLs; at least one.
        public var endpoints: [EtcdEndpoint]
        /// How long one try on one endpoint may take, connecting included. Default 1 s.
        public var requestTimeout: Duration
        /// How long one call may take across every try and endpoint. Default 5 s.
        public var deadline: Duration
        /// With both set, the client authenticates (`/v3/auth/authenticate`) and sends the token on every request.
        public var user: String?
        public var password: String?
        /// Ask members to refuse requests (and end watches) while they have no raft leader
        /// (`Grpc-Metadata-hasleader: true`), so a cut-off member fails fast instead of timing out. Default true.
        public var requireLeader: Bool
        /// Idle keep-alive connections kept per endpoint. Default 4.
        public var maxIdleConnectionsPerEndpoint: Int
        /// The pause after a round in which every endpoint failed; doubles per round up to `maxBackoff`.
        public var backoff: Duration
        public var maxBackoff: Duration

        public init(endpoints: [EtcdEndpoint], requestTimeout: Duration = .seconds(1), deadline: Duration = .seconds(5),
                    user: String? = nil, password: String? = nil, requireLeader: Bool = true,
                    maxIdleConnectionsPerEndpoint: Int = 4, backoff: Duration = .milliseconds(50),
                    maxBackoff: Duration = .milliseconds(500)) {
            self.endpoints = endpoints
            self.requestTimeout = requestTimeout
            self.deadline = deadline
            self.user = user
            self.password = password
            self.requireLeader = requireLeader
            self.maxIdleConnectionsPerEndpoint = maxIdleConnectionsPerEndpoint
            self.backoff = backoff
            self.maxBackoff = maxBackoff
        }
    }

    /// A call's own timeouts, overriding the configuration's (e.g. a lease renewal that must be done before
    /// the leader's TTL-minus-margin, whatever the default deadline).
    public struct Timeouts: Sendable, Hashable {
        /// One try on one endpoint, connecting included.
        public var request: Duration
        /// The whole call, across tries and endpoints.
        public var deadline: Duration

        public init(request: Duration, deadline: Duration) {
            self.request = request
            self.deadline = deadline
        }
    }

    private struct State {
        var book: EndpointBook
        /// `/v3` or `/v3beta`, from the first `GET /version`.
        var apiPrefix: String?
        var token: String?
    }

    public let configuration: Configuration
    let group: EventLoopGroup
    let logger: Logger
    let pool: ConnectionPool
    private let state: Mutex<State>
    private let clock = ContinuousClock()

    public init(configuration: Configuration, eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "poold.etcd")) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
        pool = ConnectionPool(maxIdlePerEndpoint: configuration.maxIdleConnectionsPerEndpoint)
        state = Mutex(State(book: EndpointBook(endpoints: configuration.endpoints)))
    }

    /// Closes every connection; watches end with an error, later calls throw `.shutDown`.
    public func shutdown() {
        pool.closeAll()
    }

    /// Each endpoint's last answer and last failure, for health display.
    public var endpointStates: [EndpointState] { state.withLock { $0.book.states } }

    /// The endpoint the next call starts at: the one that answered last.
    public var preferredEndpoint: EtcdEndpoint? {
        state.withLock { s in s.book.states.isEmpty ? nil : s.book.states[s.book.preferred].endpoint }
    }

    // MARK: - Leases

    /// Grants a lease of `ttl` seconds (`id` 0: etcd picks the ID).
    public func grantLease(ttl: Int64, id: Int64 = 0, timeouts: Timeouts? = nil) async throws -> LeaseGrantResponse {
        try await call("/lease/grant", EtcdCodec.leaseGrant(ttl: ttl, id: id), timeouts, EtcdCodec.leaseGrantResponse)
    }

    /// Renews a lease once (a unary POST, not a stream); throws `.server` with `isLeaseNotFound` when it is gone.
    public func keepAlive(lease: Int64, timeouts: Timeouts? = nil) async throws -> LeaseKeepAliveResponse {
        try await call("/lease/keepalive", EtcdCodec.leaseID(lease), timeouts) { try EtcdCodec.keepAliveResponse($0, lease: lease) }
    }

    /// Revokes a lease, deleting the keys bound to it.
    public func revoke(lease: Int64, timeouts: Timeouts? = nil) async throws -> ResponseHeader {
        try await call("/lease/revoke", EtcdCodec.leaseID(lease), timeouts) { EtcdCodec.header($0["header"]) }
    }

    /// A lease's time left and, with `keys`, the keys bound to it.
    public func timeToLive(lease: Int64, keys: Bool = false, timeouts: Timeouts? = nil) async throws -> LeaseTimeToLiveResponse {
        try await call("/lease/timetolive", EtcdCodec.leaseID(lease, keys: keys), timeouts, EtcdCodec.timeToLiveResponse)
    }

    // MARK: - Keys

    /// Reads one key, or every key starting with `key` when `prefix`. `serializable`: the member answers alone
    /// (possibly stale, but without a quorum).
    public func range(key: String, prefix: Bool = false, limit: Int64 = 0, serializable: Bool = false,
                      timeouts: Timeouts? = nil) async throws
        -> RangeResponse
    {
        let k = Array(key.utf8)
        let request = RangeRequest(key: k, rangeEnd: prefix ? KeyRange.prefixEnd(k) : nil, limit: limit,
                                   serializable: serializable)
        return try await call("/kv/range", EtcdCodec.range(request), timeouts, EtcdCodec.rangeResponse)
    }

    /// Writes a key, bound to `lease` unless it is 0.
    public func put(key: String, value: String, lease: Int64 = 0, prevKV: Bool = false,
                    timeouts: Timeouts? = nil) async throws -> PutResponse {
        let request = PutRequest(key: Array(key.utf8), value: Array(value.utf8), lease: lease, prevKV: prevKV)
        return try await call("/kv/put", EtcdCodec.put(request), timeouts, EtcdCodec.putResponse)
    }

    /// Deletes one key, or every key starting with `key` when `prefix`.
    public func delete(key: String, prefix: Bool = false, prevKV: Bool = false,
                       timeouts: Timeouts? = nil) async throws -> DeleteRangeResponse {
        let k = Array(key.utf8)
        let request = DeleteRangeRequest(key: k, rangeEnd: prefix ? KeyRange.prefixEnd(k) : nil, prevKV: prevKV)
        return try await call("/kv/deleterange", EtcdCodec.deleteRange(request), timeouts, EtcdCodec.deleteRangeResponse)
    }

    /// Runs `success` if every compare holds, else `failure`, atomically.
    public func txn(compare: [Compare], success: [RequestOp], failure: [RequestOp] = [],
                    timeouts: Timeouts? = nil) async throws -> TxnResponse {
        try await call("/kv/txn", EtcdCodec.txn(compare: compare, success: success, failure: failure), timeouts,
                       EtcdCodec.txnResponse)
    }

    // MARK: - Cluster

    public func memberList(timeouts: Timeouts? = nil) async throws -> MemberListResponse {
        try await call("/cluster/member/list", [:], timeouts, EtcdCodec.memberListResponse)
    }

    /// One member's status, asked of that member only (no failover, no leader required): a member without a
    /// leader still says so (`leader` 0). Throws the member's own failure (`.connect`, `.timeout`, …).
    public func status(endpoint: EtcdEndpoint, timeout: Duration? = nil) async throws -> StatusResponse {
        let index = configuration.endpoints.firstIndex(of: endpoint)
        let end = clock.now + (timeout ?? configuration.requestTimeout)
        let prefix = try await apiPrefix()
        let started = clock.now
        do {
            let response = try await send(.POST, prefix + "/maintenance/status", body: JSON.object([:]).encoded(),
                                          to: endpoint, poolIndex: index, until: end, leaderRequired: false)
            if let index { state.withLock { $0.book.answered(index, at: started, prefer: false) } }
            guard response.status == 200 else { throw EtcdCodec.errorResponse(status: response.status, body: response.body) }
            var status = try EtcdCodec.statusResponse(try JSON.parse(response.body))
            status.header.endpoint = endpoint
            return status
        } catch let error as EtcdError where error.failsOver {
            if let index { state.withLock { $0.book.failed(index, error, at: clock.now) } }
            throw error
        }
    }

    // MARK: - Calls with failover

    /// POSTs `body` to `path` under the API prefix, with failover, and decodes the answer; the header says
    /// which endpoint answered.
    func call<R: HasHeader>(_ path: String, _ body: JSON, _ timeouts: Timeouts?, _ decode: (JSON) throws -> R)
        async throws -> R
    {
        let prefix = try await apiPrefix(timeouts)
        let bytes = body.encoded()
        let (json, endpoint) = try await withFailover(timeouts) { index, end in
            (try await self.post(prefix + path, bytes, at: index, until: end), self.configuration.endpoints[index])
        }
        var response = try decode(json)
        response.header.endpoint = endpoint
        return response
    }

    /// Runs `attempt` on one endpoint after another (see `FailoverPlan`) until it returns, fails with an error
    /// that another endpoint cannot fix, or the deadline passes. `attempt` gets the endpoint's index and when
    /// its try must end.
    func withFailover<T>(_ timeouts: Timeouts?, _ attempt: (Int, ContinuousClock.Instant) async throws -> T)
        async throws -> T
    {
        let endpoints = configuration.endpoints
        guard !endpoints.isEmpty else { throw EtcdError.unsupported("no etcd endpoints configured") }
        let requestTimeout = timeouts?.request ?? configuration.requestTimeout
        let end = clock.now + (timeouts?.deadline ?? configuration.deadline)
        var plan = FailoverPlan(endpoints: endpoints.count, startingAt: state.withLock { $0.book.preferred },
                                backoff: configuration.backoff, maxBackoff: configuration.maxBackoff)
        var failures: [EndpointFailure] = []
        var index = plan.current
        while clock.now < end {
            try Task.checkCancellation()
            if pool.isClosed { throw EtcdError.shutDown }
            let started = clock.now
            do {
                let result = try await attempt(index, min(started + requestTimeout, end))
                state.withLock { $0.book.answered(index, at: started) }
                return result
            } catch let error as EtcdError where error.failsOver {
                try Task.checkCancellation()
                state.withLock { $0.book.failed(index, error, at: clock.now) }
                failures.removeAll { $0.endpoint == endpoints[index] }
                failures.append(EndpointFailure(endpoint: endpoints[index], error: error))
                let (next, pause) = plan.next()
                logger.debug("etcd endpoint failed, trying the next", metadata: [
                    "etcd.endpoint": "\(endpoints[index])", "etcd.error": "\(error)", "etcd.next": "\(endpoints[next])"])
                if pause > .zero {
                    guard clock.now + pause < end else { break }
                    try await Task.sleep(for: pause)
                }
                index = next
            } catch let error as EtcdError {
                state.withLock { $0.book.answered(index, at: started) }
                throw error
            }
        }
        if pool.isClosed { throw EtcdError.shutDown }
        throw EtcdError.unavailable(failures)
    }

    /// One POST on one endpoint, authenticating first when configured (and again once when etcd no longer
    /// takes the token). Returns the answer's JSON, or throws what the answer says.
    func post(_ uri: String, _ body: [UInt8], at index: Int, until end: ContinuousClock.Instant,
              reauthenticated: Bool = false) async throws -> JSON {
        let token = try await token(at: index, until: end)
        let response = try await send(.POST, uri, body: body, token: token, to: configuration.endpoints[index],
                                      poolIndex: index, until: end, leaderRequired: configuration.requireLeader)
        if response.status == 200 { return try JSON.parse(response.body) }
        let error = EtcdCodec.errorResponse(status: response.status, body: response.body)
        if error.needsAuthentication, configuration.user != nil, !reauthenticated {
            dropToken(token, at: index)
            return try await post(uri, body, at: index, until: end, reauthenticated: true)
        }
        throw error
    }

    /// The auth token to send: nil without a user, else the one held, else a new one from endpoint `index`.
    func token(at index: Int, until end: ContinuousClock.Instant) async throws -> String? {
        if let token = state.withLock({ $0.token }) { return token }
        guard configuration.user != nil else { return nil }
        return try await authenticate(at: index, until: end)
    }

    /// etcd refused `token` ("invalid auth token": it expired, or the member restarted): forget it.
    func dropToken(_ token: String?, at index: Int) {
        logger.debug("etcd auth token refused, authenticating again", metadata: ["etcd.endpoint": "\(configuration.endpoints[index])"])
        state.withLock { if $0.token == token { $0.token = nil } }
    }

    private func authenticate(at index: Int, until end: ContinuousClock.Instant) async throws -> String {
        let prefix = try await apiPrefix()
        let body = EtcdCodec.authenticate(name: configuration.user ?? "", password: configuration.password ?? "").encoded()
        let response = try await send(.POST, prefix + "/auth/authenticate", body: body, to: configuration.endpoints[index],
                                      poolIndex: index, until: end, leaderRequired: configuration.requireLeader)
        guard response.status == 200 else { throw EtcdCodec.errorResponse(status: response.status, body: response.body) }
        let token = try EtcdCodec.authenticateResponse(try JSON.parse(response.body))
        state.withLock { $0.token = token }
        return token
    }

    /// The API prefix, found once with `GET /version` as Patroni does.
    func apiPrefix(_ timeouts: Timeouts? = nil) async throws -> String {
        if let prefix = state.withLock({ $0.apiPrefix }) { return prefix }
        let version = try await withFailover(timeouts) { index, end -> String in
            let r = try await self.send(.GET, "/version", body: [], to: self.configuration.endpoints[index],
                                        poolIndex: index, until: end, leaderRequired: false)
            if r.status == 200 { return EtcdCodec.serverVersion(try JSON.parse(r.body)) }
            let error = EtcdCodec.errorResponse(status: r.status, body: r.body)
            if error.failsOver { throw error }
            return ""  // no /version (a proxy in front?): assume a current etcd
        }
        let prefix = EtcdCodec.apiPrefix(forServerVersion: version)
        logger.debug("etcd API prefix", metadata: ["etcd.version": "\(version)", "etcd.prefix": "\(prefix)"])
        state.withLock { $0.apiPrefix = prefix }
        return prefix
    }

    /// Request headers every call carries: the auth token and the leader requirement.
    func extraHeaders(token: String?, leaderRequired: Bool) -> [(String, String)] {
        var headers: [(String, String)] = []
        if let token { headers.append(("Authorization", token)) }
        if leaderRequired { headers.append(("Grpc-Metadata-hasleader", "true")) }
        return headers
    }

    /// One HTTP request on one endpoint: on a pooled connection when one is idle, else a new one. A pooled
    /// connection the server had closed is replaced once; the answer must come by `end`.
    func send(_ method: HTTPMethod, _ uri: String, body: [UInt8], token: String? = nil, to endpoint: EtcdEndpoint,
              poolIndex: Int?, until end: ContinuousClock.Instant, leaderRequired: Bool) async throws -> HTTPResponse {
        if pool.isClosed { throw EtcdError.shutDown }
        let headers = extraHeaders(token: token, leaderRequired: leaderRequired)
        let budget = end - clock.now
        var pooled = poolIndex.flatMap { pool.take($0) }
        while true {
            let remaining = end - clock.now
            guard remaining > .zero else { throw EtcdError.timeout(max(budget, .zero)) }
            let reused = pooled != nil
            let connection: HTTPConnection
            if let pooled { connection = pooled } else {
                connection = try await HTTPConnection.connect(to: endpoint, group: group, timeout: remaining)
            }
            pooled = nil
            do {
                let head = connection.head(method, uri, bodyLength: body.count, headers: headers)
                let response = try await connection.request(head, body: body, timeout: end - clock.now)
                if response.keepAlive, let poolIndex { pool.giveBack(connection, poolIndex) } else { connection.close() }
                return response
            } catch EtcdError.connectionClosed where reused && !Task.isCancelled {
                continue  // a stale keep-alive connection: once more on a new one
            } catch {
                connection.close()
                throw error
            }
        }
    }
}

extension EtcdClient.Configuration: CustomStringConvertible, CustomDebugStringConvertible {
    /// For logs: everything but the password.
    public var description: String {
        "endpoints=\(endpoints.map(\.description).joined(separator: ",")) requestTimeout=\(requestTimeout) "
            + "deadline=\(deadline) user=\(user ?? "-") password=\(password == nil ? "-" : "<redacted>") "
            + "requireLeader=\(requireLeader)"
    }

    public var debugDescription: String { description }
}

/// Responses whose header the client stamps with the endpoint that answered.
protocol HasHeader {
    var header: ResponseHeader { get set }
}

extension ResponseHeader: HasHeader {
    var header: ResponseHeader {
        get { self }
        set { self = newValue }
    }
}

extension LeaseGrantResponse: HasHeader {}
extension LeaseKeepAliveResponse: HasHeader {}
extension LeaseTimeToLiveResponse: HasHeader {}
extension RangeResponse: HasHeader {}
extension PutResponse: HasHeader {}
extension DeleteRangeResponse: HasHeader {}
extension TxnResponse: HasHeader {}
extension MemberListResponse: HasHeader {}
