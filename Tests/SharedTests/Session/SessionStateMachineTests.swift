import NIOCore
import Testing
@testable import Shared

/// The session's negotiation as transcripts: SSL refusal, startup, pool_hba, mirrored backend auth,
/// clear-text fallback, backend errors, and the backend-side startup and reset machines.
@Suite struct SessionStateMachineTests {
    static let startup = StartupMessage(parameters: [("user", "alice"), ("database", "app")])
    static let greeting = BackendGreeting(authMethod: .trust, parameters: [("server_version", "15.18")])

    static func make(hba: String? = nil, passwd: [String: PasswordSecret] = [:], clearText: Bool = false,
                     address: ClientAddress = .ipv4(0x7F00_0001)) -> SessionStateMachine {
        let env = SessionEnvironment(
            hba: hba.map { PoolHBA.parse($0, file: "pool_hba.conf") }, passwd: PoolPasswd(entries: passwd),
            allowClearTextFrontendAuth: clearText, clientAddress: address,
            scramKeys: { _, p in AuthTests.keys(p) })
        return SessionStateMachine(environment: env, randomness: SessionRandomness(md5Salt: [1, 2, 3, 4], serverNonce: "N"))
    }

    @Test func sslIsRefusedThenTrustStartupLeasesAndGreets() {
        var s = Self.make()
        #expect(s.startupPacketReceived(.sslRequest) == .refuseEncryption)
        #expect(s.startupPacketReceived(.gssEncRequest) == .refuseEncryption)
        #expect(s.startupPacketReceived(.startup(Self.startup)) == .lease(Self.startup, secret: nil))
        #expect(s.backendLeased(Self.greeting) == .greet(Self.greeting, saslFinal: nil))
        #expect(s.isRelaying)
    }

    @Test func cancelRequestIsForwarded() {
        var s = Self.make()
        let key = BackendKey(processID: 5, secretKey: 6)
        #expect(s.startupPacketReceived(.cancelRequest(key)) == .forwardCancel(key))
    }

    @Test func missingUserAndNonStartupFirstMessageAreRejected() {
        var s = Self.make()
        guard case .closeWithError(let f) = s.startupPacketReceived(.startup(StartupMessage(parameters: [("database", "x")]))) else {
            Issue.record(); return
        }
        #expect(f.sqlState == "28000")
        var t = Self.make()
        guard case .closeWithError(let g) = t.startupPacketReceived(.query("select 1")) else { Issue.record(); return }
        #expect(g.sqlState == "08P01")
    }

    @Test func mirrorsTheBackendsMd5Request() {
        let secret = PasswordSecret.clear("pw")
        var s = Self.make(passwd: ["alice": secret])
        #expect(s.startupPacketReceived(.startup(Self.startup)) == .lease(Self.startup, secret: secret))
        let md5Greeting = BackendGreeting(authMethod: .md5, parameters: [])
        #expect(s.backendLeased(md5Greeting) == .sendToClient(.authentication(.md5Password(salt: [1, 2, 3, 4]))))
        let answer = MD5Password.response(secret: MD5Password.secret(user: "alice", password: "pw"), salt: [1, 2, 3, 4])
        #expect(s.passwordReceived(PasswordBody.encodePassword(answer)) == .greet(md5Greeting, saslFinal: nil))
    }

    @Test func mirroredWrongPasswordClosesWith28P01() {
        var s = Self.make(passwd: ["alice": .clear("pw")])
        _ = s.startupPacketReceived(.startup(Self.startup))
        _ = s.backendLeased(BackendGreeting(authMethod: .password, parameters: []))
        guard case .closeWithError(let f) = s.passwordReceived(PasswordBody.encodePassword("nope")) else { Issue.record(); return }
        #expect(f.sqlState == "28P01")
        #expect(f.message == "password authentication failed for user \"alice\"")
    }

    @Test func poolHBAAuthenticatesBeforeLeasingWithScram() {
        var s = Self.make(hba: "host all all 127.0.0.1/32 scram-sha-256", passwd: ["alice": .clear("pw")])
        #expect(s.startupPacketReceived(.startup(Self.startup)) == .sendToClient(.authentication(.sasl(mechanisms: ["SCRAM-SHA-256"]))))
        var client = BackendAuthenticator(user: "alice", secret: .clear("pw"), clientNonce: "C")
        guard case .send(.password(let first)) = client.authenticationReceived(.sasl(mechanisms: ["SCRAM-SHA-256"])) else { Issue.record(); return }
        guard case .sendToClient(.authentication(.saslContinue(let serverFirst))) = s.passwordReceived(first) else { Issue.record(); return }
        guard case .send(.password(let final)) = client.authenticationReceived(.saslContinue(serverFirst)) else { Issue.record(); return }
        #expect(s.passwordReceived(final) == .lease(Self.startup, secret: .clear("pw")))
        // Client already authenticated: a SCRAM backend's greeting is sent straight away.
        #expect(s.backendLeased(BackendGreeting(authMethod: .scramSHA256, parameters: [])) ==
                .greet(BackendGreeting(authMethod: .scramSHA256, parameters: []), saslFinal: nil))
    }

    @Test func poolHBARejectAndNoMatchUse28000() {
        var r = Self.make(hba: "host all alice 127.0.0.1/32 reject")
        guard case .closeWithError(let f) = r.startupPacketReceived(.startup(Self.startup)) else { Issue.record(); return }
        #expect(f.sqlState == "28000")
        #expect(f.message == "pool_hba.conf rejects connection for host \"127.0.0.1\", user \"alice\", database \"app\"")
        var n = Self.make(hba: "local all all trust")
        guard case .closeWithError(let g) = n.startupPacketReceived(.startup(Self.startup)) else { Issue.record(); return }
        #expect(g.message.hasPrefix("no pool_hba.conf entry for host \"127.0.0.1\""))
    }

    @Test func clearTextFallbackWhenPoolPasswdLacksTheUser() {
        var s = Self.make(clearText: true)
        _ = s.startupPacketReceived(.startup(Self.startup))
        #expect(s.backendLeaseFailed(.passwordRequired(.scramSHA256)) == .sendToClient(.authentication(.cleartextPassword)))
        #expect(s.passwordReceived(PasswordBody.encodePassword("typed")) == .lease(Self.startup, secret: .clear("typed")))
        // Asked once: a second failure ends the session.
        guard case .closeWithError(let f) = s.backendLeaseFailed(.passwordRequired(.scramSHA256)) else { Issue.record(); return }
        #expect(f.sqlState == "28P01")
    }

    @Test func backendErrorIsPassedToTheClient() {
        var s = Self.make()
        _ = s.startupPacketReceived(.startup(Self.startup))
        let fields = ErrorFields(severity: "FATAL", code: "3D000", message: "database \"app\" does not exist")
        #expect(s.backendLeaseFailed(.backendError(fields)) == .closeWithError(fields))
    }

    @Test func passwordBeforeStartupIsAProtocolViolation() {
        var s = Self.make()
        guard case .closeWithError(let f) = s.passwordReceived(PasswordBody.encodePassword("x")) else { Issue.record(); return }
        #expect(f.sqlState == "08P01")
    }

    // MARK: - Backend side

    @Test func backendStartupCollectsParametersAndKey() {
        var b = BackendStartupStateMachine(authenticator: BackendAuthenticator(user: "u", secret: .clear("pw"), clientNonce: "n"))
        let salt: [UInt8] = [1, 2, 3, 4]
        let expected = MD5Password.response(secret: MD5Password.secret(user: "u", password: "pw"), salt: salt)
        #expect(b.messageReceived(.authentication(.md5Password(salt: salt))) == .send(.password(PasswordBody.encodePassword(expected))))
        #expect(b.messageReceived(.authentication(.ok)) == .wait)
        #expect(b.messageReceived(.parameterStatus(name: "a", value: "1")) == .wait)
        #expect(b.messageReceived(.parameterStatus(name: "a", value: "2")) == .wait)
        #expect(b.messageReceived(.backendKeyData(BackendKey(processID: 1, secretKey: 2))) == .wait)
        #expect(b.messageReceived(.readyForQuery(.idle)) ==
                .ready(BackendGreeting(authMethod: .md5, parameters: [("a", "2")]), key: BackendKey(processID: 1, secretKey: 2)))
    }

    @Test func backendStartupErrorFails() {
        var b = BackendStartupStateMachine(authenticator: BackendAuthenticator(user: "u", secret: nil, clientNonce: "n"))
        let e = ErrorFields(severity: "FATAL", code: "53300", message: "too many")
        #expect(b.messageReceived(.errorResponse(e)) == .fail(.backendError(e)))
    }

    @Test func resetSkipsAbortWhenIdleAndDiscardsOnError() {
        var idle = BackendResetStateMachine(resetQueries: ["ABORT", "DISCARD ALL"], transactionStatus: .idle)
        #expect(idle.queries == ["DISCARD ALL"])
        #expect(idle.messageReceived(.commandComplete("DISCARD ALL")) == .wait)
        #expect(idle.messageReceived(.readyForQuery(.idle)) == .clean)
        var inTx = BackendResetStateMachine(resetQueries: ["ABORT", "DISCARD ALL"], transactionStatus: .failed)
        #expect(inTx.queries == ["ABORT", "DISCARD ALL"])
        #expect(inTx.messageReceived(.readyForQuery(.idle)) == .wait)
        #expect(inTx.messageReceived(.errorResponse(ErrorFields(severity: "ERROR", code: "XX000", message: "x"))) == .wait)
        #expect(inTx.messageReceived(.readyForQuery(.idle)) == .discard)
    }

    // MARK: - Admission

    @Test func admissionQueuesThenAdmitsInOrder() {
        var a = AdmissionControl(limit: 2, reserved: 0)
        #expect(a.arrive(1) == .admitted)
        #expect(a.arrive(2) == .admitted)
        #expect(a.arrive(3) == .queued)
        #expect(a.arrive(4) == .queued)
        #expect(a.abandon(3) == nil)
        #expect(a.leave() == 4)
        let claimed4 = a.claim(4)
        #expect(claimed4)
        #expect(a.active == 2)
        #expect(a.leave() == nil)
        #expect(a.active == 1)
    }

    @Test func reservedConnectionsRefuseInsteadOfQueueing() {
        var a = AdmissionControl(limit: 3, reserved: 1)
        #expect(a.arrive(1) == .admitted)
        #expect(a.arrive(2) == .admitted)
        #expect(a.arrive(3) == .refused)
        _ = a.leave()
        #expect(a.arrive(4) == .admitted)
    }

    /// A waiter handed a slot that closes before its loop admits it gives the slot back (it used to be lost
    /// for good: one num_init_children slot fewer each time).
    @Test func aWaiterThatLeavesAfterTheHandOverGivesItsSlotBack() {
        var a = AdmissionControl(limit: 1, reserved: 0)
        #expect(a.arrive(1) == .admitted)
        #expect(a.arrive(2) == .queued)
        #expect(a.arrive(3) == .queued)
        #expect(a.leave() == 2)          // 1 leaves: the slot goes to 2
        #expect(a.abandon(2) == 3)       // 2 closed before taking it: 3 gets it
        let claimed2 = a.claim(2), claimed3 = a.claim(3)
        #expect(!claimed2 && claimed3)
        #expect(a.active == 1)
        #expect(a.leave() == nil)
        #expect(a.active == 0)
        #expect(a.arrive(4) == .admitted, "no slot is lost")
        // Handed over with nobody else waiting: the slot is free again.
        #expect(a.arrive(5) == .queued)
        #expect(a.leave() == 5)
        #expect(a.abandon(5) == nil)
        #expect(a.active == 0)
    }
}
