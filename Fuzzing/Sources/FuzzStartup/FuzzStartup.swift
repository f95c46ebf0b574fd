import FuzzSupport
import NIOCore
import Shared

// A client's first bytes through the session's negotiation, as ClientSession.negotiate runs it: FrameDecoder in
// startup mode, direct TLS on a 0x16 first byte, FrontendMessage.decode of the startup family, then typed frames
// ('p' to the auth exchange, anything else unexpected) until the session relays or closes. The executor's part
// (TLS handshakes, backend leases) answers from control bytes.
//
// Input: environment byte, TLS byte, four lease-outcome bytes, an 8-byte split seed, then the stream.
//
// Invariants besides "no crash":
// - Every message the machine sends encodes and frames.
// - With pool_hba, a lease is reached only through the rule's method: never for `reject`, and for md5 and
//   password only after the client sent the right answer; the mirrored backend method is checked the same way
//   before a greeting.
// - Once closed, the machine never leases or greets.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStartup(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let envByte = input.byte()
    let tlsByte = input.byte()
    let outcomes = input.take(4)
    var splitter = Splitter(seed: input.seed(), maxRead: [1, 8, 64, 4096][Int(envByte >> 5) & 3])
    var driver = Driver(environment: Fixture.environment(envByte), tls: Fixture.tlsInfo(tlsByte), outcomes: outcomes)
    for read in splitter.reads(input.rest()) {
        guard driver.received(read) else { break }
    }
    driver.checkClosedStaysClosed()
    return 0
}

enum Fixture {
    static let password = "secret"
    static let md5Salt: [UInt8] = [1, 2, 3, 4]

    static let hba = PoolHBA.parse("""
        local     all       all            trust
        hostssl   all       certuser       0.0.0.0/0       cert
        hostssl   all       ccuser         0.0.0.0/0       md5        clientcert=verify-ca
        hostnossl all       nossl          0.0.0.0/0       md5
        host      all       trustuser      0.0.0.0/0       trust
        host      all       md5user,md5clear 0.0.0.0/0     md5
        host      all       scramuser      ::/0            scram-sha-256
        host      all       scramuser      0.0.0.0/0       scram-sha-256
        host      all       pwuser,pwmd5   0.0.0.0/0       password
        host      rejected  all            0.0.0.0/0       reject
        host      sameuser  all            10.0.0.0        255.0.0.0   md5
        host      all       all            10.0.0.0/8      scram-sha-256
        """, file: "pool_hba.conf")

    static let passwd = PoolPasswd.parse("""
        md5user:\(MD5Password.secret(user: "md5user", password: password))
        pwmd5:\(MD5Password.secret(user: "pwmd5", password: password))
        md5clear:TEXT\(password)
        scramuser:TEXT\(password)
        pwuser:\(password)
        trustuser:TEXT\(password)
        certuser:TEXT\(password)
        ccuser:TEXT\(password)
        nossl:TEXT\(password)
        alice:TEXT\(password)
        """, file: "pool_passwd")

    /// PBKDF2 with 4096 rounds once, not per input.
    static let keys = ClientAuthStateMachine.ScramKeys(
        salt: Array("fuzz-salt".utf8), iterations: SCRAM.defaultIterations,
        saltedPassword: SCRAM.saltedPassword(password: password, salt: Array("fuzz-salt".utf8), iterations: SCRAM.defaultIterations))

    /// Built per input: LeakSanitizer does not see the array inside a static enum payload and calls it a leak.
    static func address(_ i: Int) -> ClientAddress {
        [.ipv4(0x7F00_0001), .ipv4(0x0A01_0203), .unixSocket, .ipv6([UInt8](repeating: 0, count: 15) + [1])][i]
    }

    static func environment(_ b: UInt8) -> SessionEnvironment {
        SessionEnvironment(
            hba: b & 1 == 1 ? hba : nil, passwd: passwd, allowClearTextFrontendAuth: b & 2 != 0,
            clientAddress: address(Int(b >> 2) & 3), tlsAvailable: b & 16 != 0,
            scramKeys: { _, p in
                p == password ? keys : ClientAuthStateMachine.ScramKeys(
                    salt: keys.salt, iterations: 1, saltedPassword: SCRAM.saltedPassword(password: p, salt: keys.salt, iterations: 1))
            })
    }

    static func tlsInfo(_ b: UInt8) -> ClientTLSInfo {
        ClientTLSInfo(applicationProtocol: [nil, SessionStateMachine.alpn, "http/1.1", ""][Int(b) & 3],
                      certificateCommonName: [nil, "certuser", "ccuser", "md5user"][Int(b >> 2) & 3])
    }

    static let methods: [AuthMethod] = [.trust, .md5, .scramSHA256, .password, .reject, .cert]
}

struct Driver {
    var machine: SessionStateMachine
    let environment: SessionEnvironment
    let tls: ClientTLSInfo
    var outcomes: FuzzInput
    var decoder = FrameDecoder(mode: .startup)
    var cumulation = ByteBuffer()
    var startup: StartupMessage?
    /// The auth exchange as the client saw it: the last challenge and the 'p' bodies sent since.
    var challenge: AuthenticationRequest?
    var answers: [ByteBuffer] = []
    var sawSASLContinue = false
    var clearTextAsked = false
    /// A backend was leased and its method is being mirrored to the client.
    var mirroring = false
    /// The machine itself ended the session (not the executor, on a framing error or Terminate).
    var closed = false

    init(environment: SessionEnvironment, tls: ClientTLSInfo, outcomes: [UInt8]) {
        self.environment = environment
        self.tls = tls
        self.outcomes = FuzzInput(bytes: outcomes)
        machine = SessionStateMachine(environment: environment,
                                      randomness: SessionRandomness(md5Salt: Fixture.md5Salt, serverNonce: "fuzz-nonce"))
    }

    /// One read; false once the session relays or closes.
    mutating func received(_ read: [UInt8]) -> Bool {
        cumulation.writeBytes(read)
        if decoder.mode == .startup, !machine.encrypted, cumulation.readableBytesView.first == 0x16 {
            // The ClientHello goes to the TLS handler; what follows is the decrypted stream.
            cumulation.clear()
            return run(machine.directTLSRequested())
        }
        do {
            while let frame = try decoder.next(from: &cumulation) {
                let action: SessionStateMachine.Action
                if frame.id == 0 {
                    let message = try FrontendMessage.decode(frame)
                    if case .startup(let s) = message {
                        startup = s
                        decoder.mode = .typed
                    }
                    action = machine.startupPacketReceived(message)
                } else if frame.id == UInt8(ascii: "p") {
                    answers.append(frame.body)
                    action = machine.passwordReceived(frame.body)
                } else if frame.id == UInt8(ascii: "X") {
                    return false
                } else {
                    action = machine.unexpectedMessageReceived(id: frame.id)
                }
                guard run(action) else { return false }
            }
            cumulation.discardReadBytes()
            return true
        } catch {
            return false  // protocolViolation: the executor sends 08P01 and closes
        }
    }

    /// Performs an action as the executor would; false when the negotiation is over.
    mutating func run(_ action: SessionStateMachine.Action) -> Bool {
        switch action {
        case .wait, .refuseEncryption:
            return true
        case .acceptEncryption, .startDirectTLS:
            return run(machine.tlsEstablished(tls))
        case .drop, .forwardCancel, .closeWithError:
            if case .closeWithError(let f) = action { _ = encoded(.errorResponse(f)) }
            closed = true
            return false
        case .sendToClient(let m):
            _ = encoded(m)
            if case .authentication(let request) = m {
                switch request {
                case .saslContinue:
                    sawSASLContinue = true
                case .md5Password, .sasl, .cleartextPassword:
                    challenge = request
                    answers = []
                    sawSASLContinue = false
                    // allow_clear_text_frontend_auth: the password goes to the backend, which checks it.
                    if case .cleartextPassword = request, environment.hba == nil, !mirroring { clearTextAsked = true }
                default:
                    break
                }
            }
            return true
        case .lease(let s, _):
            invariant(s == startup, "lease for another startup packet")
            if let hba = environment.hba {
                let rule = hba.rule(database: s.database, user: s.user, address: environment.clientAddress,
                                    encrypted: machine.encrypted)
                invariant(rule != nil, "lease without a pool_hba rule")
                checkProof(rule!.method, user: s.user)
                if rule!.method == .cert || rule!.clientCertificate != nil {
                    invariant(tls.certificateCommonName != nil && machine.encrypted, "cert rule without a certificate")
                }
            }
            return lease()
        case .greet(let greeting, _):
            if environment.hba == nil, !clearTextAsked, greeting.authMethod != .trust, let s = startup {
                checkProof(greeting.authMethod, user: s.user)
            }
            return false
        }
    }

    mutating func lease() -> Bool {
        let o = Int(outcomes.byte())
        let method = Fixture.methods[(o >> 3) % Fixture.methods.count]
        switch o & 7 {
        case 0, 1, 2:
            mirroring = true
            let greeting = BackendGreeting(authMethod: o & 7 == 0 ? .trust : method,
                                           parameters: [("server_version", "17.0"), ("client_encoding", "UTF8")])
            return run(machine.backendLeased(greeting))
        case 3, 4:
            return run(machine.backendLeaseFailed(.passwordRequired(method)))
        case 5:
            return run(machine.backendLeaseFailed(.backendError(ErrorFields(severity: "FATAL", code: "3D000", message: "no db"))))
        default:
            return run(machine.backendLeaseFailed(.proxy(ProxyError(.connectionFailure, "all backends down"))))
        }
    }

    /// The client must have proved it knows the password for `method` in the exchange just finished.
    func checkProof(_ method: AuthMethod, user: String) {
        let secret = environment.passwd.entries[user]
        switch method {
        case .reject:
            invariant(false, "authenticated through a reject rule")
        case .trust, .cert:
            break
        case .md5:
            guard case .md5Password(let salt) = challenge, let given = answers.last.flatMap(PasswordBody.password),
                  let secret else { return invariant(false, "md5 passed without a challenge, an answer or a secret") }
            let stored: String
            switch secret {
            case .md5(let s): stored = s
            case .clear(let p): stored = MD5Password.secret(user: user, password: p)
            }
            invariant(given == MD5Password.response(secret: stored, salt: salt), "md5 passed with a wrong answer")
        case .password:
            guard case .cleartextPassword = challenge, let given = answers.last.flatMap(PasswordBody.password),
                  let secret else { return invariant(false, "password passed without a challenge, an answer or a secret") }
            switch secret {
            case .clear(let p): invariant(given == p, "password passed with a wrong password")
            case .md5(let s): invariant(MD5Password.secret(user: user, password: given) == s, "password passed with a wrong password")
            }
        case .scramSHA256:
            guard case .sasl = challenge else { return invariant(false, "SCRAM passed without AuthenticationSASL") }
            invariant(sawSASLContinue && answers.count >= 2 && secret?.clearText != nil, "SCRAM passed without an exchange")
        }
    }

    /// After the end, nothing the client or a late backend says may lease or greet.
    mutating func checkClosedStaysClosed() {
        guard closed else { return }
        for action in [machine.passwordReceived(ByteBuffer(string: "x\0")),
                       machine.backendLeased(BackendGreeting(authMethod: .trust, parameters: [])),
                       machine.startupPacketReceived(.startup(StartupMessage(parameters: [("user", "trustuser")])))] {
            switch action {
            case .lease, .greet, .acceptEncryption, .startDirectTLS: invariant(false, "a closed session went on: \(action)")
            default: break
            }
        }
    }

    func encoded(_ m: BackendMessage) -> ByteBuffer {
        var out = ByteBuffer()
        m.encode(into: &out)
        var copy = out
        var d = FrameDecoder(mode: .typed, maxLength: Int(Int32.max))
        invariant((try? d.next(from: &copy)) != nil && copy.readableBytes == 0, "a message to the client does not frame")
        return out
    }
}
