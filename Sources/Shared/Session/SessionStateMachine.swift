import NIOCore

/// What a backend connection reports when it is ready for a session: how it authenticated (so poold
/// can demand the same of the client) and the ParameterStatus values to replay to the client.
public struct BackendGreeting: Equatable, Sendable {
    public var authMethod: AuthMethod
    public var parameters: [(String, String)]
    public init(authMethod: AuthMethod, parameters: [(String, String)]) {
        self.authMethod = authMethod
        self.parameters = parameters
    }
    public static func == (l: BackendGreeting, r: BackendGreeting) -> Bool {
        l.authMethod == r.authMethod && l.parameters.elementsEqual(r.parameters, by: { $0 == $1 })
    }
}

/// Why poold could not get a backend connection for a session.
public enum LeaseFailure: Error, Equatable, Sendable {
    /// The backend asked for a password pool_passwd does not hold.
    case passwordRequired(AuthMethod)
    /// The backend refused (wrong database, too many connections…): its ErrorResponse goes to the client.
    case backendError(ErrorFields)
    case proxy(ProxyError)
}

/// The fixed inputs of one client session: auth configuration and the client's address.
public struct SessionEnvironment: Sendable {
    public var hba: PoolHBA?
    public var passwd: PoolPasswd
    public var allowClearTextFrontendAuth: Bool
    public var clientAddress: ClientAddress
    /// Derives (or fetches from a cache) the SCRAM keys for a clear-text password.
    public var scramKeys: @Sendable (_ user: String, _ password: String) -> ClientAuthStateMachine.ScramKeys

    public init(hba: PoolHBA?, passwd: PoolPasswd, allowClearTextFrontendAuth: Bool, clientAddress: ClientAddress,
                scramKeys: @escaping @Sendable (String, String) -> ClientAuthStateMachine.ScramKeys) {
        self.hba = hba
        self.passwd = passwd
        self.allowClearTextFrontendAuth = allowClearTextFrontendAuth
        self.clientAddress = clientAddress
        self.scramKeys = scramKeys
    }
}

/// Random material one session may need, drawn by the executor.
public struct SessionRandomness: Equatable, Sendable {
    public var md5Salt: [UInt8]
    public var serverNonce: String
    public init(md5Salt: [UInt8], serverNonce: String) {
        self.md5Salt = md5Salt
        self.serverNonce = serverNonce
    }
}

/// One client connection from its first byte until it relays freely: SSL negotiation, startup, pool_hba,
/// client authentication, leasing a backend, and the greeting. The steady state (relaying bytes) is the
/// executor's hot path; this machine decides everything before it.
public struct SessionStateMachine: Sendable {
    public enum Action: Equatable, Sendable {
        /// Answer SSLRequest/GSSENCRequest with 'N' (no TLS yet) and keep reading startup packets.
        case refuseEncryption
        case sendToClient(BackendMessage)
        /// Get a backend connection for this startup packet, logging in with `secret` when asked.
        case lease(StartupMessage, secret: PasswordSecret?)
        /// Send AuthenticationOk (after the SASL final message, if any), the ParameterStatus values,
        /// poold's own BackendKeyData and ReadyForQuery; then relay.
        case greet(BackendGreeting, saslFinal: [UInt8]?)
        /// Forward a CancelRequest with poold's key; the connection ends after it.
        case forwardCancel(BackendKey)
        /// Send the error and close the client. A leased backend (if any) is released cleanly.
        case closeWithError(ErrorFields)
        case wait
    }

    /// Where the session is.
    private enum State: Sendable {
        /// Reading SSLRequest/StartupMessage/CancelRequest → authenticatingClient / leasing / closed.
        case awaitingStartup
        /// poold is checking the client's password → leasing (pool_hba path) / greeting (mirror path) / closed.
        case authenticatingClient(ClientAuthStateMachine, StartupMessage, then: AfterAuth)
        /// A clear-text password is requested to log in to a backend (allow_clear_text_frontend_auth).
        case awaitingClearText(StartupMessage)
        /// Waiting for the executor's backend → authenticatingClient (mirror) / relaying / closed.
        case leasing(StartupMessage, clientAuthenticated: Bool, askedClearText: Bool)
        /// Greeting sent; the executor relays bytes.
        case relaying
        case closed
    }

    private enum AfterAuth: Sendable {
        case lease(secret: PasswordSecret?)
        case greet(BackendGreeting)
    }

    private var state: State = .awaitingStartup
    private let environment: SessionEnvironment
    private let randomness: SessionRandomness

    public init(environment: SessionEnvironment, randomness: SessionRandomness) {
        self.environment = environment
        self.randomness = randomness
    }

    public var isRelaying: Bool { if case .relaying = state { return true } else { return false } }

    // MARK: - Events

    public mutating func startupPacketReceived(_ message: FrontendMessage) -> Action {
        guard case .awaitingStartup = state else { return fail(.protocolViolation("unexpected startup packet")) }
        switch message {
        case .sslRequest, .gssEncRequest:
            return .refuseEncryption
        case .cancelRequest(let key):
            state = .closed
            return .forwardCancel(key)
        case .startup(let startup):
            return startupReceived(startup)
        default:
            return fail(.protocolViolation("expected a startup packet"))
        }
    }

    private mutating func startupReceived(_ startup: StartupMessage) -> Action {
        guard startup.protocolVersion == ProtocolCode.protocol3 || startup.protocolVersion >> 16 == 3 else {
            return fail(ProxyError(.protocolViolation, "unsupported frontend protocol"))
        }
        let user = startup.user
        guard !user.isEmpty else {
            return fail(ProxyError(.invalidAuthorization, "no PostgreSQL user name specified in startup packet"))
        }
        let secret = environment.passwd.entries[user]
        guard let hba = environment.hba else {
            state = .leasing(startup, clientAuthenticated: false, askedClearText: false)
            return .lease(startup, secret: secret)
        }
        let db = startup.database
        guard let method = hba.method(database: db, user: user, address: environment.clientAddress) else {
            return fail(ProxyError(.invalidAuthorization,
                "no pool_hba.conf entry for host \"\(hostText)\", user \"\(user)\", database \"\(db)\""))
        }
        if method == .reject {
            return fail(ProxyError(.invalidAuthorization,
                "pool_hba.conf rejects connection for host \"\(hostText)\", user \"\(user)\", database \"\(db)\""))
        }
        return beginClientAuth(method: method, startup: startup, then: .lease(secret: secret))
    }

    private var hostText: String {
        switch environment.clientAddress {
        case .unixSocket: return "[local]"
        case .ipv4(let v): return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)"
        case .ipv6: return "::"
        }
    }

    private mutating func beginClientAuth(method: AuthMethod, startup: StartupMessage, then: AfterAuth) -> Action {
        let user = startup.user
        let secret = environment.passwd.entries[user]
        let keys = secret?.clearText.map { environment.scramKeys(user, $0) }
        var auth = ClientAuthStateMachine(method: method, user: user, secret: secret, md5Salt: randomness.md5Salt,
                                          serverNonce: randomness.serverNonce, scram: keys)
        let action = auth.start()
        state = .authenticatingClient(auth, startup, then: then)
        return clientAuthAction(action, auth: auth, startup: startup, then: then)
    }

    private mutating func clientAuthAction(_ action: ClientAuthStateMachine.Action, auth: ClientAuthStateMachine,
                                           startup: StartupMessage, then: AfterAuth) -> Action {
        switch action {
        case .send(let m):
            return .sendToClient(m)
        case .fail(let e):
            return fail(e)
        case .authenticated(let clear):
            switch then {
            case .lease(let secret):
                state = .leasing(startup, clientAuthenticated: true, askedClearText: false)
                return .lease(startup, secret: secret ?? clear.map { .clear($0) })
            case .greet(let greeting):
                state = .relaying
                return .greet(greeting, saslFinal: auth.pendingFinal)
            }
        }
    }

    /// A 'p' message (password, SASLInitialResponse, SASLResponse) from the client.
    public mutating func passwordReceived(_ body: ByteBuffer) -> Action {
        switch state {
        case .authenticatingClient(var auth, let startup, let then):
            let action = auth.passwordMessageReceived(body)
            state = .authenticatingClient(auth, startup, then: then)
            return clientAuthAction(action, auth: auth, startup: startup, then: then)
        case .awaitingClearText(let startup):
            guard let pw = PasswordBody.password(body) else { return fail(.protocolViolation("malformed password message")) }
            state = .leasing(startup, clientAuthenticated: true, askedClearText: true)
            return .lease(startup, secret: .clear(pw))
        case .awaitingStartup, .leasing, .relaying, .closed:
            return fail(.protocolViolation("unexpected password message"))
        }
    }

    /// Any other message before the session relays is a protocol violation.
    public mutating func unexpectedMessageReceived(id: UInt8) -> Action {
        fail(.protocolViolation("unexpected message type \"\(Character(Unicode.Scalar(id)))\" during authentication"))
    }

    public mutating func backendLeased(_ greeting: BackendGreeting) -> Action {
        guard case .leasing(let startup, let authenticated, _) = state else { return .wait }
        if authenticated || greeting.authMethod == .trust {
            state = .relaying
            return .greet(greeting, saslFinal: nil)
        }
        // Mirror the backend's method: the client must prove the password poold used for it.
        return beginClientAuth(method: greeting.authMethod, startup: startup, then: .greet(greeting))
    }

    public mutating func backendLeaseFailed(_ failure: LeaseFailure) -> Action {
        guard case .leasing(let startup, _, let asked) = state else { return .wait }
        switch failure {
        case .passwordRequired(let method):
            if environment.hba == nil, environment.allowClearTextFrontendAuth, !asked {
                state = .awaitingClearText(startup)
                return .sendToClient(.authentication(.cleartextPassword))
            }
            let what = method == .scramSHA256 ? "SCRAM" : method.rawValue
            return fail(ProxyError(.invalidPassword, "failed to authenticate with backend using \(what)",
                                   detail: "valid password not found for user \"\(startup.user)\" in pool_passwd"))
        case .backendError(let fields):
            state = .closed
            return .closeWithError(fields)
        case .proxy(let e):
            return fail(e)
        }
    }

    private mutating func fail(_ error: ProxyError) -> Action {
        state = .closed
        return .closeWithError(error.fields)
    }
}
