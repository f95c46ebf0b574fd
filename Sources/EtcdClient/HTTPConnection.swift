import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A whole HTTP answer.
struct HTTPResponse: Sendable {
    var status: Int
    var body: [UInt8]
    /// The server keeps the connection open: it can carry the next request.
    var keepAlive: Bool
}

/// One request handed to a connection's `HTTPTaskHandler`, and where its answer goes.
struct HTTPTask: Sendable {
    enum Sink: Sendable {
        /// Collect the whole answer (unary calls).
        case collect(EventLoopPromise<HTTPResponse>)
        /// The answer's head, then its body as it comes; the stream finishes at the end or throws (the watch).
        case stream(head: EventLoopPromise<HTTPResponseHead>, body: AsyncThrowingStream<ByteBuffer, Error>.Continuation)
    }

    var head: HTTPRequestHead
    var body: ByteBuffer
    /// For `.collect`, until the end of the answer; for `.stream`, until its first body bytes.
    var timeout: TimeAmount
    var sink: Sink
}

/// Runs one `HTTPTask` at a time on its channel: writes the request, feeds the answer to the task's sink, and
/// fails it on timeout (closing the connection: a late answer must not be read as the next request's), on error
/// or when the connection goes away. Why a handler with promises and not NIOAsyncChannel: connections outlive
/// a request in the keep-alive pool, which scoped `executeThenClose` does not allow.
final class HTTPTaskHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPTask
    typealias OutboundOut = HTTPClientRequestPart

    private var sink: HTTPTask.Sink?
    private var responseHead: HTTPResponseHead?
    private var body: [UInt8] = []
    private var timer: Scheduled<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let task = unwrapOutboundIn(data)
        guard sink == nil else {
            Self.fail(task.sink, EtcdError.unsupported("a second request on a busy connection"))
            promise?.fail(EtcdError.unsupported("a second request on a busy connection"))
            return
        }
        sink = task.sink
        responseHead = nil
        body.removeAll(keepingCapacity: true)
        let timeout = task.timeout
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            self.failCurrent(EtcdError.timeout(.nanoseconds(timeout.nanoseconds)))
            context.close(promise: nil)
        }
        context.write(wrapOutboundOut(.head(task.head)), promise: nil)
        if task.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(task.body))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            responseHead = head
            if case .stream(let headPromise, _) = sink { headPromise.succeed(head) }
        case .body(let bytes):
            switch sink {
            case .collect: body.append(contentsOf: bytes.readableBytesView)
            case .stream(_, let continuation):
                timer?.cancel()
                continuation.yield(bytes)
            case nil: break
            }
        case .end:
            timer?.cancel()
            let finished = sink
            sink = nil
            switch finished {
            case .collect(let promise):
                promise.succeed(HTTPResponse(status: Int(responseHead?.status.code ?? 0), body: body,
                                             keepAlive: responseHead?.isKeepAlive ?? false))
            case .stream(let headPromise, let continuation):
                headPromise.fail(EtcdError.connectionClosed)  // a no-op once the head came
                continuation.finish()
            case nil: break
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failCurrent(EtcdError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failCurrent(error is EtcdError ? error : EtcdError.connectionClosed)
        context.close(promise: nil)
    }

    private func failCurrent(_ error: Error) {
        timer?.cancel()
        if let current = sink {
            sink = nil
            Self.fail(current, error)
        }
    }

    private static func fail(_ sink: HTTPTask.Sink, _ error: Error) {
        switch sink {
        case .collect(let promise): promise.fail(error)
        case .stream(let headPromise, let continuation):
            headPromise.fail(error)
            continuation.finish(throwing: error)
        }
    }
}

/// One HTTP/1.1 connection to one endpoint. Unary requests reuse it through the keep-alive pool; a watch has
/// one to itself. TLS would be one more handler in `connect`'s initializer (NIOSSLClientHandler before the
/// HTTP codec, with the endpoint's host as server name); nothing else here depends on the transport.
final class HTTPConnection: Sendable {
    let channel: Channel
    let endpoint: EtcdEndpoint

    private init(channel: Channel, endpoint: EtcdEndpoint) {
        self.channel = channel
        self.endpoint = endpoint
    }

    static func connect(to endpoint: EtcdEndpoint, group: EventLoopGroup, timeout: Duration) async throws -> HTTPConnection {
        guard endpoint.scheme == .http else {
            throw EtcdError.unsupported("TLS endpoints (\(endpoint)) are not supported yet")
        }
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(max(1, timeout.nanoseconds)))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTPTaskHandler())
                }
            }
        do {
            let channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
            return HTTPConnection(channel: channel, endpoint: endpoint)
        } catch {
            throw EtcdError.connect("\(error)")
        }
    }

    var isActive: Bool { channel.isActive }

    func close() { channel.close(promise: nil) }

    func head(_ method: HTTPMethod, _ uri: String, bodyLength: Int, headers extra: [(String, String)]) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host):\(endpoint.port)")
        if method == .POST {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(bodyLength))
        }
        for (name, value) in extra { headers.add(name: name, value: value) }
        return HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
    }

    /// Sends one request and collects the whole answer; cancelling the calling task closes the connection.
    func request(_ head: HTTPRequestHead, body: [UInt8], timeout: Duration) async throws -> HTTPResponse {
        let promise = channel.eventLoop.makePromise(of: HTTPResponse.self)
        let task = HTTPTask(head: head, body: ByteBuffer(bytes: body), timeout: Self.amount(timeout), sink: .collect(promise))
        let channel = self.channel
        return try await withTaskCancellationHandler {
            channel.writeAndFlush(task).whenFailure { promise.fail(Self.writeError($0)) }
            return try await promise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Sends one request whose answer is a stream: returns the answer's head and its body. Ending the body's
    /// iteration (or dropping it) closes the connection, which is how a watch is cancelled.
    func stream(_ head: HTTPRequestHead, body: [UInt8], timeout: Duration) async throws
        -> (HTTPResponseHead, AsyncThrowingStream<ByteBuffer, Error>)
    {
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, Error>.makeStream()
        let channel = self.channel
        continuation.onTermination = { _ in channel.close(promise: nil) }
        let headPromise = channel.eventLoop.makePromise(of: HTTPResponseHead.self)
        let task = HTTPTask(head: head, body: ByteBuffer(bytes: body), timeout: Self.amount(timeout),
                            sink: .stream(head: headPromise, body: continuation))
        let responseHead = try await withTaskCancellationHandler {
            channel.writeAndFlush(task).whenFailure { error in
                headPromise.fail(Self.writeError(error))
                continuation.finish(throwing: Self.writeError(error))
            }
            return try await headPromise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
        return (responseHead, stream)
    }

    private static func amount(_ d: Duration) -> TimeAmount { .nanoseconds(max(1, d.nanoseconds)) }

    private static func writeError(_ error: Error) -> Error { error is EtcdError ? error : EtcdError.connectionClosed }
}

extension Duration {
    /// Whole nanoseconds, saturating at Int64's range.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = ns.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? (ns < 0 ? .min : .max) : sum
    }
}

/// Idle keep-alive connections per endpoint, and the streaming ones in use, so that `shutdown` closes all.
/// Why pool: a coordinator renews its lease every second or two on the same member; a fresh TCP connection
/// per request would cost a handshake each time and leave TIME_WAIT sockets behind.
final class ConnectionPool: Sendable {
    private struct State {
        var idle: [Int: [HTTPConnection]] = [:]
        var streams: [ObjectIdentifier: HTTPConnection] = [:]
        var closed = false
    }

    private let state = Mutex(State())
    let maxIdlePerEndpoint: Int

    init(maxIdlePerEndpoint: Int) { self.maxIdlePerEndpoint = maxIdlePerEndpoint }

    /// An idle connection to endpoint `index` that is still open, if any.
    func take(_ index: Int) -> HTTPConnection? {
        state.withLock { s in
            while let c = s.idle[index]?.popLast() {
                if c.isActive { return c }
            }
            return nil
        }
    }

    func giveBack(_ connection: HTTPConnection, _ index: Int) {
        let keep = state.withLock { s in
            guard !s.closed, connection.isActive, s.idle[index, default: []].count < maxIdlePerEndpoint else { return false }
            s.idle[index, default: []].append(connection)
            return true
        }
        if !keep { connection.close() }
    }

    /// Registers a watch's connection; false (and the caller closes it) once the pool is shut down.
    func track(_ connection: HTTPConnection) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            s.streams[ObjectIdentifier(connection)] = connection
            return true
        }
    }

    func untrack(_ connection: HTTPConnection) {
        _ = state.withLock { $0.streams.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    func closeAll() {
        let all = state.withLock { s -> [HTTPConnection] in
            s.closed = true
            let all = s.idle.values.flatMap { $0 } + Array(s.streams.values)
            s.idle = [:]
            s.streams = [:]
            return all
        }
        for c in all { c.close() }
    }
}
