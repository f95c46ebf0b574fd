/// The body of a member message about backends, or a command for every member (kinds 9–15), carried after the common header
/// (share/doc/watchdog.md, "Wire format"): the leader's cluster view, failover proposals and the leader's answers,
/// operators' requests forwarded to the leader and its replies, and the backend settings digest. Election messages
/// (kinds 1–8) have none. Driven by `WatchdogClusterSync`.
public enum WatchdogClusterPayload: Equatable, Sendable {
    /// Leader → all: the cluster-wide status (on each change, to a member that says hello, and every
    /// republish interval so a lost frame heals).
    case view(WatchdogClusterView)
    /// Member → leader: its own checks call for this failover (node down, node up, promote).
    case proposal(FailoverConsensus.Request)
    /// Leader → proposer: what the leader made of the proposal.
    case answer(FailoverConsensus.Request, FailoverConsensus.Decision)
    /// Member → leader: an operator's request on that member; `id` is the member's, echoed in the reply.
    case adminRequest(id: UInt64, WatchdogAdminRequest)
    /// Leader → member: the outcome of that request.
    case adminReply(id: UInt64, ok: Bool, message: String)
    /// Any → any: the sender's backend settings digest (at join, in answer to hello, after a reload).
    case settingsDigest(WatchdogSettingsDigest)
    /// Any → all: a command every member runs on itself.
    case clusterCommand(WatchdogClusterCommand)

    /// The message kind that carries this payload.
    public var kind: WatchdogMessage.Kind {
        switch self {
        case .view: return .clusterView
        case .proposal: return .failoverProposal
        case .answer: return .failoverAnswer
        case .adminRequest: return .adminRequest
        case .adminReply: return .adminReply
        case .settingsDigest: return .settingsDigest
        case .clusterCommand: return .clusterCommand
        }
    }

    /// An admin reply's text is cut to this many bytes (a control frame stays well under 4 KiB).
    static let maxMessageBytes = 1000
    static let noPrimary: UInt64 = 0xFFFF

    // MARK: - Encoding

    func encode() -> [UInt8] {
        var b: [UInt8] = []
        switch self {
        case .view(let v):
            WatchdogPacket.put(v.version, into: &b)
            WatchdogPacket.put(v.primary.map { Self.nodeID($0) } ?? Self.noPrimary, into: &b, width: 2)
            let ids = v.nodeIDs.prefix(Int(UInt16.max))
            WatchdogPacket.put(UInt64(ids.count), into: &b, width: 2)
            for id in ids {
                WatchdogPacket.put(Self.nodeID(id), into: &b, width: 2)
                b.append(v.status(of: id).wireCode)
            }
        case .proposal(let r):
            Self.put(r, into: &b)
        case .answer(let r, let d):
            Self.put(r, into: &b)
            let (code, votes, needed): (UInt8, Int, Int)
            switch d {
            case .proceed: (code, votes, needed) = (0, 0, 0)
            case .noQuorum: (code, votes, needed) = (1, 0, 0)
            case .buildingConsensus(let v, let n): (code, votes, needed) = (2, v, n)
            case .repeatedProposal(let v, let n): (code, votes, needed) = (3, v, n)
            }
            b.append(code)
            WatchdogPacket.put(UInt64(UInt16(clamping: max(votes, 0))), into: &b, width: 2)
            WatchdogPacket.put(UInt64(UInt16(clamping: max(needed, 0))), into: &b, width: 2)
        case .adminRequest(let id, let r):
            WatchdogPacket.put(id, into: &b)
            b.append(r.wireCode)
            WatchdogPacket.put(Self.nodeID(r.node), into: &b, width: 2)
        case .adminReply(let id, let ok, let message):
            WatchdogPacket.put(id, into: &b)
            b.append(ok ? 1 : 0)
            let text = Self.truncated(message)
            WatchdogPacket.put(UInt64(text.count), into: &b, width: 2)
            b += text
        case .settingsDigest(let d):
            WatchdogPacket.put(UInt64(UInt16(clamping: max(d.backends, 0))), into: &b, width: 2)
            b += d.bytes.prefix(WatchdogSettingsDigest.length)
            b += [UInt8](repeating: 0, count: max(0, WatchdogSettingsDigest.length - d.bytes.count))
        case .clusterCommand(let c):
            b.append(c.wireCode)
        }
        return b
    }

    static func nodeID(_ id: Int) -> UInt64 { UInt64(UInt16(clamping: max(id, 0))) }

    static func put(_ r: FailoverConsensus.Request, into b: inout [UInt8]) {
        switch r.kind {
        case .nodeDown: b.append(0)
        case .nodeUp: b.append(1)
        case .promote: b.append(2)
        }
        let nodes = r.nodes.prefix(255)
        b.append(UInt8(nodes.count))
        for n in nodes { WatchdogPacket.put(nodeID(n), into: &b, width: 2) }
    }

    /// UTF-8 of `s`, at most `maxMessageBytes`, cut at a character boundary.
    static func truncated(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        for c in s {
            let bytes = Array(String(c).utf8)
            guard out.count + bytes.count <= maxMessageBytes else { break }
            out += bytes
        }
        return out
    }

    // MARK: - Decoding

    /// The payload of a message of `kind`: nil for election kinds (whose payload must be empty); throws
    /// `.badPayload` when the bytes do not fit the kind exactly.
    static func decode(_ bytes: [UInt8], kind: WatchdogMessage.Kind) throws(WatchdogPacket.DecodeError) -> Self? {
        guard kind.carriesPayload else {
            guard bytes.isEmpty else { throw .badPayload(kind.rawValue) }
            return nil
        }
        var r = WatchdogPacket.Reader(bytes: bytes, at: 0)
        let payload: Self
        do {
            payload = try read(&r, kind: kind)
        } catch {
            throw .badPayload(kind.rawValue)
        }
        guard r.at == bytes.count else { throw .badPayload(kind.rawValue) }
        return payload
    }

    static func read(_ r: inout WatchdogPacket.Reader, kind: WatchdogMessage.Kind) throws(WatchdogPacket.DecodeError) -> Self {
        switch kind {
        case .clusterView:
            let version = try r.int(8)
            let primary = try r.int(2)
            let count = Int(try r.int(2))
            var nodes: [Int: NodeStatus] = [:]
            for _ in 0..<count {
                let id = Int(try r.int(2))
                guard let s = NodeStatus(wireCode: try r.byte()), nodes[id] == nil else { throw .badPayload(kind.rawValue) }
                nodes[id] = s
            }
            return .view(WatchdogClusterView(version: version, primary: primary == noPrimary ? nil : Int(primary),
                                             nodes: nodes))
        case .failoverProposal:
            return .proposal(try request(&r))
        case .failoverAnswer:
            let req = try request(&r)
            let code = try r.byte()
            let votes = Int(try r.int(2)), needed = Int(try r.int(2))
            let d: FailoverConsensus.Decision
            switch code {
            case 0: d = .proceed
            case 1: d = .noQuorum
            case 2: d = .buildingConsensus(votes: votes, needed: needed)
            case 3: d = .repeatedProposal(votes: votes, needed: needed)
            default: throw .badPayload(kind.rawValue)
            }
            return .answer(req, d)
        case .adminRequest:
            let id = try r.int(8)
            let op = try r.byte()
            guard let req = WatchdogAdminRequest(wireCode: op, node: Int(try r.int(2))) else { throw .badPayload(kind.rawValue) }
            return .adminRequest(id: id, req)
        case .adminReply:
            let id = try r.int(8)
            let ok = try r.byte()
            guard ok <= 1 else { throw .badPayload(kind.rawValue) }
            let n = Int(try r.int(2))
            guard n <= maxMessageBytes else { throw .badPayload(kind.rawValue) }
            return .adminReply(id: id, ok: ok == 1, message: try r.utf8(n))
        case .settingsDigest:
            let backends = Int(try r.int(2))
            var bytes: [UInt8] = []
            for _ in 0..<WatchdogSettingsDigest.length { bytes.append(try r.byte()) }
            return .settingsDigest(WatchdogSettingsDigest(backends: backends, bytes: bytes))
        case .clusterCommand:
            guard let c = WatchdogClusterCommand(wireCode: try r.byte()) else { throw .badPayload(kind.rawValue) }
            return .clusterCommand(c)
        case .hello, .info, .beacon, .beaconAck, .voteRequest, .voteReply, .goingDown, .networkTrouble:
            throw .badPayload(kind.rawValue)
        }
    }

    static func request(_ r: inout WatchdogPacket.Reader) throws(WatchdogPacket.DecodeError) -> FailoverConsensus.Request {
        let k: FailoverConsensus.Kind
        switch try r.byte() {
        case 0: k = .nodeDown
        case 1: k = .nodeUp
        case 2: k = .promote
        default: throw .truncated
        }
        let n = Int(try r.byte())
        var nodes: [Int] = []
        for _ in 0..<n { nodes.append(Int(try r.int(2))) }
        return FailoverConsensus.Request(k, nodes: nodes)
    }
}
