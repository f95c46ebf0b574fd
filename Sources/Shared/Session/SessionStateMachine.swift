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
    /// Whether this connection may switch to TLS (`ssl = on` with its certificates loaded, and a TCP client:
    /// as PostgreSQL, never over the Unix socket).
    public var tlsAvailable: Bool
    /// Derives (or fetches from a cache) the SCRAM keys for a clear-text password.
    public var scramKeys: @Sendable (_ user: String, _ password: String) -> ClientAuthStateMachine.ScramKeys

    public init(hba: PoolHBA?, passwd: PoolPasswd, allowClearTextFrontendAuth: Bool, clientAddress: ClientAddress,
                tlsAvailable: Bool = false,
                scramKeys: @escaping @Sendable (String, String) -> ClientAuthStateMachine.ScramKeys) {
        self.hba = hba
        self.passwd = passwd
        self.allowClearTextFrontendAuth = allowClearTextFrontendAuth
        self.clientAddress = clientAddress
        self.tlsAvailable = tlsAvailable
        self.scramKeys = scramKeys
    }
}

/// What the TLS layer reports once a client's handshake is done.
public struct ClientTLSInfo: Equatable, Sendable {
    /// The ALPN protocol agreed on (`postgresql`), if any.
    public var applicationProtocol: String?
    /// The CN of the client's certificate: present only when a certificate was sent and verified against
    /// ssl_ca_cert (an unverifiable one fails the handshake itself).
    public var certificateCommonName: String?
    public init(applicationProtocol: String?, certificateCommonName: String?) {
        self.applicationProtocol = applicationProtocol
        self.certificateCommonName = certificateCommonName
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
        /// Answer SSLRequest/GSSENCRequest with 'N' and keep reading startup packets.
        case refuseEncryption
        /// Answer SSLRequest with 'S', then run the TLS handshake (server side); `tlsEstablished` follows.
        case acceptEncryption
        /// The client opened with a TLS ClientHello (PostgreSQL 17's `sslnegotiation=direct`): hand the bytes
        /// read so far to a TLS server handler; `tlsEstablished` follows.
        case startDirectTLS
        /// Close without a word: a TLS ClientHello poold cannot answer (no TLS here) gets no plain-text reply.
        case drop
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
        /// Reading SSLRequest/StartupMessage/CancelRequest → negotiatingTLS / authenticatingClient / leasing / closed.
        case awaitingStartup
        /// The TLS handshake runs (`direct`: no SSLRequest came first) → awaitingStartup (encrypted) / closed.
        case negotiatingTLS(direct: Bool)
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
    /// The client speaks TLS (for hostssl/hostnossl and SHOW); set once the handshake is done.
    public private(set) var encrypted = false
    /// The verified client certificate's CN (pool_hba `cert`, `clientcert=`).
    private var certificateCommonName: String?
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
        case .sslRequest:
            if encrypted { return fail(.protocolViolation("SSLRequest inside a TLS connection")) }
            guard environment.tlsAvailable else { return .refuseEncryption }
            state = .negotiatingTLS(direct: false)
            return .acceptEncryption
        case .gssEncRequest:
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

    /// The first bytes of the connection are a TLS handshake record, not a startup packet.
    public mutating func directTLSRequested() -> Action {
        guard case .awaitingStartup = state, !encrypted, environment.tlsAvailable else {
            state = .closed
            return .drop
        }
        state = .negotiatingTLS(direct: true)
        return .startDirectTLS
    }

    public mutating func tlsEstablished(_ info: ClientTLSInfo) -> Action {
        guard case .negotiatingTLS(let direct) = state else { return fail(.protocolViolation("unexpected TLS handshake")) }
        // As PostgreSQL 17: direct TLS must say which protocol follows; negotiated TLS may say nothing, but not
        // something else.
        if direct ? info.applicationProtocol != Self.alpn : (info.applicationProtocol.map { $0 != Self.alpn } ?? false) {
            return fail(ProxyError(.protocolViolation,
                "received direct SSL connection request without ALPN protocol negotiation extension"))
        }
        encrypted = true
        certificateCommonName = info.certificateCommonName
        state = .awaitingStartup
        return .wait
    }

    /// The ALPN protocol name PostgreSQL registered.
    public static let alpn = "postgresql"

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
        guard let rule = hba.rule(database: db, user: user, address: environment.clientAddress, encrypted: encrypted) else {
            return fail(ProxyError(.invalidAuthorization,
                "no pool_hba.conf entry for host \"\(hostText)\", user \"\(user)\", database \"\(db)\", \(encrypted ? "SSL on" : "SSL off")"))
        }
        if rule.method == .reject {
            return fail(ProxyError(.invalidAuthorization,
                "pool_hba.conf rejects connection for host \"\(hostText)\", user \"\(user)\", database \"\(db)\""))
        }
        if let check = rule.clientCertificate {
            guard let cn = certificateCommonName else {
                return fail(ProxyError(.invalidAuthorization, "connection requires a valid client certificate"))
            }
            if check == .verifyFull, cn != user {
                return fail(ProxyError(.invalidAuthorization, rule.method == .cert
                    ? "certificate authentication failed for user \"\(user)\""
                    : "certificate validation (clientcert=verify-full) failed for user \"\(user)\""))
            }
        }
        return beginClientAuth(method: rule.method, startup: startup, then: .lease(secret: secret))
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
        case .awaitingStartup, .negotiatingTLS, .leasing, .relaying, .closed:
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
