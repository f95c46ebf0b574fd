import FuzzSupport
import Shared

// PCP as a client speaks it, through PCPSession (framing, M/R authentication, PCPRequest.parse), before
// authentication or after a valid M + R the harness sends first. The executor's replies to commands come from
// control bytes.
//
// Input: flags byte (bit 0: authenticate first; bits 1–2: read size), eight reply bytes, an 8-byte split seed,
// then the stream.
//
// Invariants besides "no crash":
// - The session's actions do not depend on how the stream is cut into reads.
// - No command executes before the session has sent AuthenticationOK ('r'); the harness's valid M + R gets it.
// - `A` (set parameter) reads the name up to the first NUL and the value after it, as Pgpool-II does.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPCP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let replies = input.take(8)
    var splitter = Splitter(seed: input.seed(), maxRead: [1, 7, 64, 4096][Int(flags >> 1) & 3])
    let stream = input.rest()
    let authenticate = flags & 1 == 1

    let whole = PCPRun(replies: replies, authenticate: authenticate, reads: [stream])
    let split = PCPRun(replies: replies, authenticate: authenticate, reads: splitter.reads(stream))
    invariant(whole.actions == split.actions && whole.closeReason == split.closeReason,
              "PCPSession depends on read boundaries")

    var decoder = PCPProtocol.FrameDecoder()
    decoder.append(stream)
    while case .success(let frame)? = decoder.next() {
        checkParse(frame)
    }
    return 0
}

enum PCPFixture {
    static let user = "admin"
    static let salt: [UInt8] = [0x11, 0x22, 0x33, 0x44]
    static let users = PCPUsers.parse("# pcp.conf\n\(user):\(MD5Password.hex(Array("pass".utf8)))\noperator:x\n")

    /// M, then R with the right answer for `salt`.
    static let login: [UInt8] = {
        let inner = MD5Password.hex(Array(MD5Password.hex(Array("pass".utf8)).utf8) + Array(user.utf8))
        let response = MD5Password.hex(Array(inner.utf8) + salt)
        return PCPProtocol.packet("M", []) + PCPProtocol.packet("R", PCPProtocol.strings([user, response]))
    }()
}

struct PCPRun {
    var actions: [PCPSession.Action] = []
    var closeReason: PCPError?

    init(replies: [UInt8], authenticate: Bool, reads: [[UInt8]]) {
        var session = PCPSession(users: PCPFixture.users, makeSalt: { PCPFixture.salt })
        var replies = FuzzInput(bytes: replies)
        if authenticate {
            handle(session.received(PCPFixture.login), &session, &replies)
            invariant(session.user == PCPFixture.user, "the valid M + R did not authenticate")
        }
        for read in reads where !session.isClosed {
            handle(session.received(read), &session, &replies)
        }
        closeReason = session.closeReason
        invariant(session.isClosed == actions.contains { if case .sendAndClose = $0 { true } else { false } },
                  "closed without sendAndClose, or the reverse")
    }

    mutating func handle(_ first: [PCPSession.Action], _ session: inout PCPSession, _ replies: inout FuzzInput) {
        var pending = first[...]
        while let action = pending.popFirst() {
            actions.append(action)
            switch action {
            case .send(let bytes), .sendAndClose(let bytes):
                checkPacket(bytes)
            case .execute:
                invariant(actions.contains { if case .send(let b) = $0 { b.first == UInt8(ascii: "r") } else { false } },
                          "a command executes before AuthenticationOK")
                let reply = PCPProtocol.commandComplete("c")
                let more: [PCPSession.Action]
                switch replies.byte() % 4 {
                case 0: more = session.completed(reply)
                case 1: more = session.completed(reply, close: true)
                case 2: more = session.failed(.error("node id 9 is not valid", detail: "no such node"))
                default: more = session.failed(.fatal("shutting down"))
                }
                pending = more[...] + pending
            }
        }
    }
}

/// Every packet poold sends is `kind`, a length that counts itself, and the payload.
func checkPacket(_ bytes: [UInt8]) {
    if bytes.isEmpty { return }  // disconnect: nothing to send
    invariant(bytes.count >= 5, "a packet shorter than its header")
    let length = bytes[1..<5].reduce(0) { $0 << 8 | Int($1) }
    invariant(length == bytes.count - 1, "a packet's length does not match")
}

func checkParse(_ frame: PCPProtocol.Frame) {
    guard case .success(let request) = PCPRequest.parse(frame) else { return }
    if case .setParameter(let name, let value) = request {
        let p = frame.payload
        let nul = p.firstIndex(of: 0) ?? p.endIndex
        let expectedName = String(decoding: p[..<nul], as: UTF8.self)
        let rest = nul < p.endIndex ? p[(nul + 1)...] : []
        let expectedValue = String(decoding: rest.prefix { $0 != 0 }, as: UTF8.self)
        invariant(name == expectedName && value == expectedValue, "A: \(name)=\(value), not \(expectedName)=\(expectedValue)")
    }
}
