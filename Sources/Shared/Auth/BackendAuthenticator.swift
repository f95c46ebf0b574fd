import NIOCore

/// The client side of authentication towards a backend: answers trust, clear-text, md5 and
/// SCRAM-SHA-256 requests with what pool_passwd (or the client) gave. The client nonce is a parameter.
public struct BackendAuthenticator: Sendable {
    public enum Action: Equatable, Sendable {
        /// Send this 'p' message to the backend.
        case send(FrontendMessage)
        /// AuthenticationOk arrived; `method` is what the backend asked for (poold mirrors it to the client).
        case authenticated(method: AuthMethod)
        /// The backend wants a password poold does not have.
        case passwordRequired(method: AuthMethod)
        case fail(ProxyError)
        case wait
    }

    private enum State: Sendable {
        case awaitingRequest
        case awaitingSASLContinue(clientFirstBare: String)
        case awaitingSASLFinal(expectedServerSignature: [UInt8])
        case awaitingOk
        case done
    }

    private var state: State = .awaitingRequest
    private var method: AuthMethod = .trust
    public let user: String
    public let secret: PasswordSecret?
    private let clientNonce: String
    private let deriveKey: @Sendable (String, [UInt8], Int) -> [UInt8]

    /// - Parameter deriveKey: SCRAM's salted-password derivation; the executor passes a cached one.
    public init(user: String, secret: PasswordSecret?, clientNonce: String,
                deriveKey: @escaping @Sendable (String, [UInt8], Int) -> [UInt8] = SCRAM.saltedPassword) {
        self.user = user
        self.secret = secret
        self.clientNonce = clientNonce
        self.deriveKey = deriveKey
    }

    /// The backend wants the password of an `AES…` entry poold could not decrypt: Pgpool-II's error, not a
    /// clear-text prompt to the client.
    private mutating func undecryptable() -> Action {
        state = .done
        return .fail(.undecryptable(method: method.undecryptableName ?? method.rawValue))
    }

    public mutating func authenticationReceived(_ request: AuthenticationRequest) -> Action {
        switch (state, request) {
        case (.awaitingRequest, .ok), (.awaitingOk, .ok):
            state = .done
            return .authenticated(method: method)
        case (.awaitingRequest, .cleartextPassword):
            method = .password
            if secret == .undecryptable { return undecryptable() }
            guard let secret, let clear = secret.clearText else { return .passwordRequired(method: .password) }
            state = .awaitingOk
            return .send(.password(PasswordBody.encodePassword(clear)))
        case (.awaitingRequest, .md5Password(let salt)):
            method = .md5
            guard let secret else { return .passwordRequired(method: .md5) }
            let stored: String
            switch secret {
            case .md5(let s): stored = s
            case .clear(let p): stored = MD5Password.secret(user: user, password: p)
            case .undecryptable: return undecryptable()
            }
            state = .awaitingOk
            return .send(.password(PasswordBody.encodePassword(MD5Password.response(secret: stored, salt: salt))))
        case (.awaitingRequest, .sasl(let mechanisms)):
            method = .scramSHA256
            guard mechanisms.contains(SCRAM.mechanism) else {
                state = .done
                return .fail(ProxyError(.featureNotSupported, "backend offers no supported SASL mechanism"))
            }
            if secret == .undecryptable { return undecryptable() }
            guard secret?.clearText != nil else { return .passwordRequired(method: .scramSHA256) }
            let bare = "n=,r=\(clientNonce)"
            state = .awaitingSASLContinue(clientFirstBare: bare)
            return .send(.password(PasswordBody.encodeSASLInitial(mechanism: SCRAM.mechanism, data: Array("n,,\(bare)".utf8))))
        case (.awaitingSASLContinue(let bare), .saslContinue(let data)):
            let serverFirst = String(decoding: data, as: UTF8.self)
            let a = SCRAM.attributes(serverFirst)
            guard let nonce = a["r"], nonce.hasPrefix(clientNonce), let salt = a["s"].flatMap(Base64.decode),
                  let iterations = a["i"].flatMap({ Int($0) }), iterations > 0, let password = secret?.clearText
            else {
                state = .done
                return .fail(ProxyError(.protocolViolation, "invalid SCRAM server-first-message from backend"))
            }
            let salted = deriveKey(password, salt, iterations)
            let withoutProof = "c=biws,r=\(nonce)"
            let authMessage = Array("\(bare),\(serverFirst),\(withoutProof)".utf8)
            let clientKey = SCRAM.hmac(salted, Array("Client Key".utf8))
            let storedKey = SCRAM.sha256(clientKey)
            let signature = SCRAM.hmac(storedKey, authMessage)
            let proof = zip(clientKey, signature).map { $0 ^ $1 }
            let serverKey = SCRAM.hmac(salted, Array("Server Key".utf8))
            state = .awaitingSASLFinal(expectedServerSignature: SCRAM.hmac(serverKey, authMessage))
            var body = ByteBuffer()
            body.writeString("\(withoutProof),p=\(Base64.encode(proof))")
            return .send(.password(body))
        case (.awaitingSASLFinal(let expected), .saslFinal(let data)):
            let v = SCRAM.attributes(String(decoding: data, as: UTF8.self))["v"].flatMap(Base64.decode)
            guard let v, ConstantTime.equal(v, expected) else {
                state = .done
                return .fail(ProxyError(.invalidPassword, "backend's SCRAM server signature is invalid"))
            }
            state = .awaitingOk
            return .wait
        case (_, .unsupported(let code)):
            state = .done
            return .fail(ProxyError(.featureNotSupported, "authentication method \(code) requested by the backend is not supported"))
        default:
            state = .done
            return .fail(ProxyError(.protocolViolation, "unexpected authentication request from backend"))
        }
    }
}
