/// What went wrong talking to etcd. Why one enum: the caller (leadership, fencing) must tell "etcd said no"
/// (`.server`, e.g. a lease that is gone) from "no member could answer" (`.unavailable`), and the client itself
/// decides from the case whether another endpoint may do better (`failsOver`).
public enum EtcdError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every endpoint was tried, as often as the overall deadline allowed, and none gave an answer; the last
    /// failure of each endpoint tried, in the order tried.
    case unavailable([EndpointFailure])
    /// One endpoint gave no complete answer within the per-request timeout (the connection is closed).
    case timeout(Duration)
    /// The TCP connection could not be made (refused, unreachable, or the connect timed out).
    case connect(String)
    /// The connection closed before a whole answer arrived (a member killed, a stale keep-alive connection).
    case connectionClosed
    /// An HTTP answer other than 200 whose body is not the gateway's error JSON.
    case http(status: Int, body: String)
    /// etcd's own error: the gRPC status code and message, e.g. 5 "etcdserver: requested lease not found",
    /// 14 "etcdserver: no leader", 16 "etcdserver: invalid auth token".
    case server(code: Int, message: String)
    /// An answer that is not what the gateway sends.
    case decoding(String)
    /// The watch was canceled by etcd: `compactRevision` > 0 when its start revision was compacted away (read the
    /// keys again and watch from the answer's revision + 1).
    case watchCanceled(reason: String, compactRevision: Int64)
    /// A configuration the client cannot serve yet (an `https` endpoint before TLS is built), or no endpoints.
    case unsupported(String)
    /// The client was shut down.
    case shutDown

    static let leaseNotFoundMessage = "etcdserver: requested lease not found"

    /// The lease asked about is gone: expired or revoked.
    public var isLeaseNotFound: Bool {
        if case .server(GRPCCode.notFound, let m) = self { return m.contains("lease not found") }
        return false
    }

    /// Whether another endpoint may answer where this one did not: it was unreachable, slow, closed the
    /// connection, failed with a 5xx, or has no raft leader / lost it during the request. etcd's own verdicts
    /// on the request (a missing lease, a bad argument, permission) are final.
    var failsOver: Bool {
        switch self {
        case .timeout, .connect, .connectionClosed: return true
        case .http(let status, _): return status >= 500
        case .server(let code, let message):
            return [GRPCCode.unavailable, GRPCCode.deadlineExceeded, GRPCCode.internalError, GRPCCode.unknown]
                .contains(code) || message.contains("leader changed") || message.contains("no leader")
        case .unavailable, .decoding, .watchCanceled, .unsupported, .shutDown: return false
        }
    }

    /// An auth token etcd no longer takes (expired, or issued by a member that restarted): authenticate again.
    var needsAuthentication: Bool {
        if case .server(GRPCCode.unauthenticated, let m) = self { return m.contains("invalid auth token") }
        return false
    }

    public var description: String {
        switch self {
        case .unavailable(let failures):
            return "etcd unavailable: " + (failures.isEmpty ? "no endpoint tried" : failures.map(\.description).joined(separator: "; "))
        case .timeout(let d): return "no answer within \(d)"
        case .connect(let why): return "could not connect: \(why)"
        case .connectionClosed: return "connection closed before the answer"
        case .http(let status, let body): return "HTTP \(status): \(body)"
        case .server(let code, let message): return "\(message) (gRPC code \(code))"
        case .decoding(let why): return "unexpected answer: \(why)"
        case .watchCanceled(let reason, let compact):
            return "watch canceled" + (compact > 0 ? " (revision compacted up to \(compact))" : "") + (reason.isEmpty ? "" : ": \(reason)")
        case .unsupported(let what): return "unsupported: \(what)"
        case .shutDown: return "etcd client shut down"
        }
    }
}

/// One endpoint's failure within an `.unavailable`.
public struct EndpointFailure: Sendable, Hashable, CustomStringConvertible {
    public var endpoint: EtcdEndpoint
    public var error: EtcdError

    public init(endpoint: EtcdEndpoint, error: EtcdError) {
        self.endpoint = endpoint
        self.error = error
    }

    public var description: String { "\(endpoint): \(error)" }
}
