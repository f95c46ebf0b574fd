/// `pcp.conf`: `user:md5hex` lines (md5hex = md5(password), as `pg_md5` / `poold md5` print it), `#` comments.
/// Parsed once at start and on reload, not per connection as Pgpool-II does; the check is the same.
public struct PCPUsers: Equatable, Sendable {
    public var entries: [(user: String, md5: String)]

    public static func == (a: PCPUsers, b: PCPUsers) -> Bool {
        a.entries.map(\.user) == b.entries.map(\.user) && a.entries.map(\.md5) == b.entries.map(\.md5)
    }

    public init(entries: [(user: String, md5: String)] = []) { self.entries = entries }

    /// Lines without a `:` are skipped, as Pgpool-II's reader would never match them.
    public static func parse(_ text: String) -> PCPUsers {
        var out: [(String, String)] = []
        for raw in text.lines where !raw.isEmpty {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { continue }
            out.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        return PCPUsers(entries: out)
    }

    /// Pgpool-II's check: md5hex(md5hex(stored ++ user) ++ salt) == what the client sent, for any line of that user.
    public func verify(user: String, response: String, salt: [UInt8]) -> Bool {
        var ok = false
        for e in entries where e.user == user {
            let inner = MD5Password.hex(Array(e.md5.utf8) + Array(user.utf8))
            let expected = MD5Password.hex(Array(inner.utf8) + salt)
            ok = ConstantTime.equal(expected, response) || ok
        }
        return ok
    }
}

/// One PCP connection as Pgpool-II's pcp_worker runs it (reference §6.3): `M` asks for a salt, `R` answers
/// it, then commands one at a time until `X`. A bad length, an unknown kind, a command before `R` succeeded, or
/// a failed `R` is FATAL: the error goes out and only this connection closes. An ERROR from a command keeps it.
/// Pure: the executor feeds bytes, runs `.execute`, and reports back with `completed(_:)`.
public struct PCPSession: Sendable {
    public enum Action: Equatable, Sendable {
        /// Write these bytes.
        case send([UInt8])
        /// Run this command through the request layer, then call `completed(_:)` with its reply.
        case execute(PCPRequest)
        /// Write these bytes (a FATAL error, or nothing), then close the connection.
        case sendAndClose([UInt8])
    }

    private enum State: Equatable {
        /// Before a successful `R`; `salt` is the last one sent by `M` (nil: none yet, or used by a failed `R`).
        case unauthenticated(salt: [UInt8]?)
        case authenticated(user: String)
        /// A command is running; frames that arrive meanwhile wait in the decoder.
        case executing(user: String)
        case closed
    }

    private var state: State = .unauthenticated(salt: nil)
    /// A salt handed out by `M` after authentication (kept apart so the authenticated user stays).
    private var pendingSalt: [UInt8]?
    private var decoder = PCPProtocol.FrameDecoder()
    /// Why the session closed, when it was an error (for the executor's log; the client got it as a packet).
    public private(set) var closeReason: PCPError?
    private let users: PCPUsers
    private let makeSalt: @Sendable () -> [UInt8]

    public init(users: PCPUsers, makeSalt: @escaping @Sendable () -> [UInt8]) {
        self.users = users
        self.makeSalt = makeSalt
    }

    public var user: String? {
        switch state {
        case .authenticated(let u), .executing(let u): return u
        case .unauthenticated, .closed: return nil
        }
    }

    public var isClosed: Bool { state == .closed }

    /// Bytes from the client: the actions for every complete frame up to the first command to execute.
    public mutating func received(_ bytes: [UInt8]) -> [Action] {
        decoder.append(bytes)
        return drain()
    }

    /// The running command's reply (its packets, or an error): sent, then buffered frames continue.
    /// `close`: the reply ends the connection (a FATAL error, or `t` before shutting down).
    public mutating func completed(_ reply: [UInt8], close: Bool = false) -> [Action] {
        guard case .executing(let user) = state else { return [] }
        if close {
            state = .closed
            return [.sendAndClose(reply)]
        }
        state = .authenticated(user: user)
        return [.send(reply)] + drain()
    }

    /// A command's failure: ERROR keeps the connection, FATAL closes it.
    public mutating func failed(_ error: PCPError) -> [Action] {
        if error.severity == .fatal { closeReason = error }
        return completed(error.packet, close: error.severity == .fatal)
    }

    private mutating func close(_ error: PCPError) -> Action {
        state = .closed
        closeReason = error
        return .sendAndClose(error.packet)
    }

    private mutating func drain() -> [Action] {
        var actions: [Action] = []
        while true {
            switch state {
            case .closed, .executing: return actions
            case .unauthenticated, .authenticated: break
            }
            guard let next = decoder.next() else { return actions }
            switch next {
            case .failure(let e):
                return actions + [close(e)]
            case .success(let frame):
                if let action = handle(frame) {
                    actions.append(action)
                    if case .sendAndClose = action { return actions }
                }
            }
        }
    }

    private mutating func handle(_ frame: PCPProtocol.Frame) -> Action? {
        switch frame.kind {
        case UInt8(ascii: "M"):
            let salt = makeSalt()
            if case .unauthenticated = state { state = .unauthenticated(salt: salt) }
            // Pgpool-II answers M again even after authentication (a new salt for a new R).
            if case .authenticated = state { pendingSalt = salt }
            return .send(PCPProtocol.packet("m", salt))
        case UInt8(ascii: "R"):
            return authenticate(frame.payload)
        default:
            guard case .authenticated(let user) = state else {
                return close(.fatal("authentication failed for new PCP connection", detail: "connection not authorized"))
            }
            switch PCPRequest.parse(frame) {
            case .failure(let e):
                return close(e)
            case .success(.disconnect):
                state = .closed
                return .sendAndClose([])
            case .success(.noop):
                return nil
            case .success(let request):
                state = .executing(user: user)
                return .execute(request)
            }
        }
    }

    private mutating func authenticate(_ payload: [UInt8]) -> Action {
        let salt: [UInt8]?
        switch state {
        case .unauthenticated(let s): salt = s
        case .authenticated: salt = pendingSalt
        case .executing, .closed: salt = nil
        }
        pendingSalt = nil
        guard let salt else {
            return close(.fatal("authentication failed", detail: "username and/or password does not match"))
        }
        guard let nul = payload.firstIndex(of: 0), nul < 128 else {
            return close(.fatal("failed to authenticate PCP user", detail: "error while reading authentication packet"))
        }
        let user = String(decoding: payload[..<nul], as: UTF8.self)
        let response = PCPProtocol.cString(payload[(nul + 1)...])
        guard users.verify(user: user, response: response, salt: salt) else {
            return close(.fatal("authentication failed for user \"\(user)\"", detail: "username and/or password does not match"))
        }
        state = .authenticated(user: user)
        return .send(PCPProtocol.packet("r", PCPProtocol.strings(["AuthenticationOK"])))
    }
}
