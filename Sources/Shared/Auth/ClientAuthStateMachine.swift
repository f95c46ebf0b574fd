import NIOCore

/// The server side of client authentication: poold challenges the client with md5, SCRAM-SHA-256 or a
/// clear-text password request and checks the answer against pool_passwd. Randomness (salt, nonce) and
/// the costly SCRAM key derivation come in as parameters, so transcripts are deterministic.
public struct ClientAuthStateMachine: Sendable {
    /// What the executor does next.
    public enum Action: Equatable, Sendable {
        /// Send this to the client and wait for its 'p' message.
        case send(BackendMessage)
        /// The client proved it knows the password. `clearPassword` is set when the exchange revealed it
        /// (the `password` method), so poold can log in to backends with it.
        case authenticated(clearPassword: String?)
        case fail(ProxyError)
    }

    /// SCRAM material for the user: salt, iterations and the salted password derived from the clear text.
    public struct ScramKeys: Equatable, Sendable {
        public var salt: [UInt8]
        public var iterations: Int
        public var saltedPassword: [UInt8]
        public init(salt: [UInt8], iterations: Int, saltedPassword: [UInt8]) {
            self.salt = salt
            self.iterations = iterations
            self.saltedPassword = saltedPassword
        }
    }

    private enum State: Sendable {
        /// Nothing sent yet → awaitingPassword / awaitingSASLInitial / done.
        case initial
        /// md5 salt or clear-text request sent → done / failed.
        case awaitingPassword(md5Salt: [UInt8]?)
        /// AuthenticationSASL sent → awaitingSASLFinal / failed.
        case awaitingSASLInitial
        /// server-first sent → done / failed.
        case awaitingSASLFinal(clientFirstBare: String, serverFirst: String, nonce: String)
        case done
    }

    private var state: State = .initial
    public let method: AuthMethod
    public let user: String
    private let secret: PasswordSecret?
    private let md5Salt: [UInt8]
    private let serverNonce: String
    private let scram: ScramKeys?

    /// - Parameters:
    ///   - md5Salt: 4 random bytes; `serverNonce`: random printable text (SCRAM); `scram`: the user's keys
    ///     (nil when pool_passwd has no clear-text password for the user).
    public init(method: AuthMethod, user: String, secret: PasswordSecret?, md5Salt: [UInt8], serverNonce: String,
                scram: ScramKeys?) {
        self.method = method
        self.user = user
        self.secret = secret
        self.md5Salt = md5Salt
        self.serverNonce = serverNonce
        self.scram = scram
    }

    private var failure: ProxyError {
        ProxyError(.invalidPassword, "password authentication failed for user \"\(user)\"")
    }

    public mutating func start() -> Action {
        if secret == .undecryptable, let name = method.undecryptableName {
            state = .done
            return .fail(.undecryptable(method: name))
        }
        switch method {
        case .trust, .cert:
            // cert: SessionStateMachine checked the TLS certificate before starting this exchange.
            state = .done
            return .authenticated(clearPassword: nil)
        case .reject:
            state = .done
            return .fail(ProxyError(.invalidAuthorization, "authentication rejected for user \"\(user)\""))
        case .md5:
            state = .awaitingPassword(md5Salt: md5Salt)
            return .send(.authentication(.md5Password(salt: md5Salt)))
        case .password:
            state = .awaitingPassword(md5Salt: nil)
            return .send(.authentication(.cleartextPassword))
        case .scramSHA256:
            state = .awaitingSASLInitial
            return .send(.authentication(.sasl(mechanisms: [SCRAM.mechanism])))
        }
    }

    public mutating func passwordMessageReceived(_ body: ByteBuffer) -> Action {
        switch state {
        case .awaitingPassword(let salt):
            state = .done
            guard let given = PasswordBody.password(body), let secret else { return .fail(failure) }
            if let salt {
                let stored: String
                switch secret {
                case .md5(let s): stored = s
                case .clear(let p): stored = MD5Password.secret(user: user, password: p)
                case .undecryptable: return .fail(.undecryptable(method: "md5"))
                }
                return ConstantTime.equal(given, MD5Password.response(secret: stored, salt: salt))
                    ? .authenticated(clearPassword: nil) : .fail(failure)
            }
            switch secret {
            case .clear(let p):
                return ConstantTime.equal(given, p) ? .authenticated(clearPassword: given) : .fail(failure)
            case .md5(let s):
                return ConstantTime.equal(MD5Password.secret(user: user, password: given), s)
                    ? .authenticated(clearPassword: given) : .fail(failure)
            case .undecryptable:
                return .fail(.undecryptable(method: "clear text password"))
            }
        case .awaitingSASLInitial:
            guard let (mech, data) = PasswordBody.saslInitial(body) else {
                state = .done
                return .fail(.protocolViolation("malformed SASLInitialResponse"))
            }
            guard mech == SCRAM.mechanism else {
                state = .done
                return .fail(.protocolViolation("client selected an invalid SASL authentication mechanism"))
            }
            let clientFirst = String(decoding: data, as: UTF8.self)
            // gs2 header: "n,," or "y,,"; channel binding ("p=") is not offered.
            guard clientFirst.hasPrefix("n,,") || clientFirst.hasPrefix("y,,") else {
                state = .done
                return .fail(.protocolViolation("unsupported SCRAM channel binding"))
            }
            let bare = String(clientFirst.dropFirst(3))
            guard let clientNonce = SCRAM.attributes(bare)["r"], !clientNonce.isEmpty else {
                state = .done
                return .fail(.protocolViolation("malformed SCRAM client-first-message"))
            }
            guard let scram else {
                state = .done
                return .fail(failure)
            }
            let nonce = clientNonce + serverNonce
            let serverFirst = "r=\(nonce),s=\(Base64.encode(scram.salt)),i=\(scram.iterations)"
            state = .awaitingSASLFinal(clientFirstBare: bare, serverFirst: serverFirst, nonce: nonce)
            return .send(.authentication(.saslContinue(Array(serverFirst.utf8))))
        case .awaitingSASLFinal(let bare, let serverFirst, let nonce):
            state = .done
            let clientFinal = String(decoding: body.readableBytesView, as: UTF8.self)
            guard let proofRange = clientFinal.range(ofSuffixStart: ",p=") else {
                return .fail(.protocolViolation("malformed SCRAM client-final-message"))
            }
            let withoutProof = String(clientFinal[..<proofRange])
            let attrs = SCRAM.attributes(clientFinal)
            guard attrs["r"] == nonce, let proof = attrs["p"].flatMap(Base64.decode), proof.count == 32, let scram else {
                return .fail(failure)
            }
            let authMessage = Array("\(bare),\(serverFirst),\(withoutProof)".utf8)
            let clientKey = SCRAM.hmac(scram.saltedPassword, Array("Client Key".utf8))
            let storedKey = SCRAM.sha256(clientKey)
            let signature = SCRAM.hmac(storedKey, authMessage)
            let recovered = zip(proof, signature).map { $0 ^ $1 }
            guard ConstantTime.equal(SCRAM.sha256(recovered), storedKey) else { return .fail(failure) }
            let serverKey = SCRAM.hmac(scram.saltedPassword, Array("Server Key".utf8))
            let serverSignature = SCRAM.hmac(serverKey, authMessage)
            // The executor sends SASLFinal, then AuthenticationOk with the rest of the greeting.
            pendingFinal = Array("v=\(Base64.encode(serverSignature))".utf8)
            return .authenticated(clearPassword: nil)
        case .initial, .done:
            state = .done
            return .fail(.protocolViolation("unexpected password message"))
        }
    }

    /// After a successful SCRAM exchange: the AuthenticationSASLFinal message to send before AuthenticationOk.
    public private(set) var pendingFinal: [UInt8]? = nil
}

extension AuthMethod {
    /// How Pgpool-II names the method in "… authentication failed" when the secret cannot be decrypted; nil for
    /// the methods that need no password.
    var undecryptableName: String? {
        switch self {
        case .md5: return "md5"
        case .scramSHA256: return "SCRAM"
        case .password: return "clear text password"
        case .trust, .cert, .reject: return nil
        }
    }
}

extension String {
    /// Index where the last occurrence of `needle` starts.
    func range(ofSuffixStart needle: String) -> String.Index? {
        var idx = endIndex
        while idx > startIndex {
            idx = index(before: idx)
            if self[idx...].hasPrefix(needle) { return idx }
        }
        return nil
    }
}
