import Logging
import NIOCore
import NIOHTTP1

extension EtcdClient {
    /// Changes to `key` (or every key starting with it when `prefix`) from `startRevision` on (0: from now).
    /// Nothing is sent until iteration starts; see `EtcdWatch`.
    public func watch(key: String, prefix: Bool = false, startRevision: Int64 = 0, prevKV: Bool = true) -> EtcdWatch {
        let k = Array(key.utf8)
        return EtcdWatch(client: self, key: k, rangeEnd: prefix ? KeyRange.prefixEnd(k) : nil,
                         startRevision: startRevision, prevKV: prevKV)
    }
}

/// A watch as an AsyncSequence of events, over one streamed HTTP answer (`POST /v3/watch`, newline-delimited
/// `{"result":…}` messages).
///
/// Why it resumes by itself: the stream breaks whenever its member goes away or loses its raft leader (the
/// client asks for `hasleader`), which is exactly when a coordinator most needs the events. The iterator then
/// opens the watch again, with failover, from the revision after the last one it delivered, so no event is lost
/// or repeated. It ends — throws — only when no endpoint answers within the client's deadline, or etcd cancels
/// the watch (`.watchCanceled`, e.g. the revision was compacted). Cancelling the iterating task ends it
/// (`next()` returns nil) and closes the connection; so does dropping the iterator.
public struct EtcdWatch: AsyncSequence, Sendable {
    public typealias Element = WatchEvent

    let client: EtcdClient
    let key: [UInt8]
    let rangeEnd: [UInt8]?
    let startRevision: Int64
    let prevKV: Bool

    public func makeAsyncIterator() -> Iterator {
        Iterator(session: WatchSession(watch: self))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let session: WatchSession

        public mutating func next() async throws -> WatchEvent? {
            try await session.next()
        }
    }
}

/// The state of one iterated watch: its current stream, the bytes not yet cut into messages, the events not
/// yet handed out, and the revision to resume from. Owned by one iterator, used by one task at a time.
final class WatchSession {
    private let watch: EtcdWatch
    /// The revision the next (re)opened stream starts at; 0 until the first stream said where "now" was.
    private(set) var nextRevision: Int64
    private var connection: HTTPConnection?
    private var body: AsyncThrowingStream<ByteBuffer, Error>.AsyncIterator?
    private var splitter = JSONStreamSplitter()
    private var pending: [WatchEvent] = []
    private var pendingIndex = 0
    private var finished = false

    init(watch: EtcdWatch) {
        self.watch = watch
        nextRevision = watch.startRevision
    }

    deinit { connection?.close() }

    func next() async throws -> WatchEvent? {
        while true {
            if Task.isCancelled || finished {
                close()
                return nil
            }
            if pendingIndex < pending.count {
                defer { pendingIndex += 1 }
                return pending[pendingIndex]
            }
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            do {
                if body == nil { try await open() }
                if let object = try splitter.next() {
                    try handle(try JSON.parse(object))
                } else if let chunk = try await body!.next() {
                    splitter.append(chunk.readableBytesView)
                } else {
                    throw EtcdError.connectionClosed
                }
            } catch let error as EtcdError where error.failsOver && !Task.isCancelled {
                // the stream broke: open it again (with failover) from nextRevision
                watch.client.logger.debug("etcd watch stream broken, resuming", metadata: [
                    "etcd.endpoint": "\(connection?.endpoint.description ?? "-")", "etcd.error": "\(error)",
                    "etcd.revision": "\(nextRevision)"])
                close()
            } catch {
                close()
                finished = true
                if Task.isCancelled { return nil }
                throw error is JSONStreamSplitter.Failure ? EtcdError.decoding("watch stream: \(error)") : error
            }
        }
    }

    /// One message of the stream: events to hand out, the creation, a progress notice or a cancel.
    private func handle(_ json: JSON) throws {
        let message = try EtcdCodec.watchMessage(json)
        if message.canceled {
            if message.compactRevision == 0, message.cancelReason.contains("no leader") {
                throw EtcdError.server(code: GRPCCode.unavailable, message: message.cancelReason)
            }
            throw EtcdError.watchCanceled(reason: message.cancelReason, compactRevision: message.compactRevision)
        }
        if message.created && nextRevision == 0 { nextRevision = message.header.revision + 1 }
        for event in message.events {
            pending.append(event)
            nextRevision = max(nextRevision, event.kv.modRevision + 1)
        }
        if message.events.isEmpty && !message.created {
            // a progress notice: every event up to the header's revision has been sent
            nextRevision = max(nextRevision, message.header.revision + 1)
        }
    }

    /// Opens the watch stream, trying endpoint after endpoint, and reads up to etcd's "created" message, so a
    /// member that takes the request but has no leader counts as a failed endpoint.
    private func open() async throws {
        let client = watch.client
        let request = EtcdCodec.watchCreate(key: watch.key, rangeEnd: watch.rangeEnd, startRevision: nextRevision,
                                            prevKV: watch.prevKV).encoded()
        let prefix = try await client.apiPrefix()
        let opened = try await client.withFailover(nil) { index, end -> OpenedStream in
            try await client.openWatchStream(prefix + "/watch", request, at: index, until: end)
        }
        connection = opened.connection
        body = opened.body
        splitter = opened.splitter
        try handle(opened.first)
    }

    private func close() {
        if let connection {
            connection.close()
            watch.client.pool.untrack(connection)
        }
        connection = nil
        body = nil
        splitter = JSONStreamSplitter()
    }
}

/// A watch stream whose first message has been read.
struct OpenedStream {
    var connection: HTTPConnection
    var body: AsyncThrowingStream<ByteBuffer, Error>.AsyncIterator
    var splitter: JSONStreamSplitter
    var first: JSON
}

extension EtcdClient {
    /// One try at opening a watch on one endpoint: connect, POST, a 200 head, and the first message, by `end`.
    func openWatchStream(_ uri: String, _ request: [UInt8], at index: Int, until end: ContinuousClock.Instant,
                         reauthenticated: Bool = false) async throws -> OpenedStream {
        let clock = ContinuousClock()
        let token = try await token(at: index, until: end)
        let endpoint = configuration.endpoints[index]
        let connection = try await HTTPConnection.connect(to: endpoint, group: group, timeout: end - clock.now)
        guard pool.track(connection) else {
            connection.close()
            throw EtcdError.shutDown
        }
        do {
            let head = connection.head(.POST, uri, bodyLength: request.count,
                                       headers: extraHeaders(token: token, leaderRequired: configuration.requireLeader))
            let (responseHead, stream) = try await connection.stream(head, body: request, timeout: end - clock.now)
            var body = stream.makeAsyncIterator()
            var splitter = JSONStreamSplitter()
            if responseHead.status != .ok {
                var bytes: [UInt8] = []
                while let chunk = try await body.next() { bytes.append(contentsOf: chunk.readableBytesView) }
                let error = EtcdCodec.errorResponse(status: Int(responseHead.status.code), body: bytes)
                if error.needsAuthentication, configuration.user != nil, !reauthenticated {
                    connection.close()
                    pool.untrack(connection)
                    dropToken(token, at: index)
                    return try await openWatchStream(uri, request, at: index, until: end, reauthenticated: true)
                }
                throw error
            }
            while true {
                if let object = try splitter.next() {
                    let first = try JSON.parse(object)
                    _ = try EtcdCodec.streamResult(first)  // an {"error":…} first message fails this endpoint
                    return OpenedStream(connection: connection, body: body, splitter: splitter, first: first)
                }
                guard let chunk = try await body.next() else { throw EtcdError.connectionClosed }
                splitter.append(chunk.readableBytesView)
            }
        } catch {
            connection.close()
            pool.untrack(connection)
            throw error is JSONStreamSplitter.Failure ? EtcdError.decoding("watch stream: \(error)") : error
        }
    }
}
