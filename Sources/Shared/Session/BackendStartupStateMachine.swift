/// A new backend connection from StartupMessage to its first ReadyForQuery: authentication on the
/// client's behalf, then collecting ParameterStatus and BackendKeyData.
public struct BackendStartupStateMachine: Sendable {
    public enum Action: Equatable, Sendable {
        case send(FrontendMessage)
        case ready(BackendGreeting, key: BackendKey?)
        case fail(LeaseFailure)
        case wait
    }

    private enum State: Sendable {
        /// Authentication exchange → collecting / failed.
        case authenticating
        /// AuthenticationOk seen; ParameterStatus and BackendKeyData until ReadyForQuery → ready.
        case collecting
        case done
    }

    private var state: State = .authenticating
    private var authenticator: BackendAuthenticator
    private var method: AuthMethod = .trust
    private var parameters: [(String, String)] = []
    private var key: BackendKey?

    public init(authenticator: BackendAuthenticator) {
        self.authenticator = authenticator
    }

    public mutating func messageReceived(_ message: BackendMessage) -> Action {
        switch (state, message) {
        case (.authenticating, .authentication(let request)):
            switch authenticator.authenticationReceived(request) {
            case .send(let m): return .send(m)
            case .wait: return .wait
            case .authenticated(let m):
                method = m
                state = .collecting
                return .wait
            case .passwordRequired(let m):
                state = .done
                return .fail(.passwordRequired(m))
            case .fail(let e):
                state = .done
                return .fail(.proxy(e))
            }
        case (_, .errorResponse(let fields)):
            state = .done
            return .fail(.backendError(fields))
        case (.collecting, .parameterStatus(let name, let value)):
            if let i = parameters.firstIndex(where: { $0.0 == name }) { parameters[i].1 = value } else {
                parameters.append((name, value))
            }
            return .wait
        case (.collecting, .backendKeyData(let k)):
            key = k
            return .wait
        case (.collecting, .noticeResponse), (.authenticating, .noticeResponse), (.collecting, .negotiateProtocolVersion):
            return .wait
        case (.collecting, .readyForQuery):
            state = .done
            return .ready(BackendGreeting(authMethod: method, parameters: parameters), key: key)
        default:
            state = .done
            return .fail(.proxy(.protocolViolation("unexpected message from backend during startup")))
        }
    }
}

/// Cleaning a backend connection when its client leaves (`reset_query_list`), before it is cached.
/// `ABORT` is skipped when the connection is not in a transaction, as Pgpool-II does.
public struct BackendResetStateMachine: Sendable {
    public enum Outcome: Equatable, Sendable {
        case wait
        /// Every reset query succeeded: the connection may be cached.
        case clean
        /// A reset query failed: close the connection.
        case discard
    }

    public let queries: [String]
    private var pending: Int
    private var failed = false

    public init(resetQueries: [String], transactionStatus: TransactionStatus) {
        let q = resetQueries.filter { transactionStatus != .idle || $0.uppercased() != "ABORT" }
        self.queries = q
        self.pending = q.count
    }

    public var isFinished: Bool { pending == 0 }

    public mutating func messageReceived(_ message: BackendMessage) -> Outcome {
        switch message {
        case .errorResponse: failed = true
        case .readyForQuery:
            pending -= 1
            if pending == 0 { return failed ? .discard : .clean }
        default: break
        }
        return .wait
    }
}
