/// A PCP command after authentication (reference §6.4), parsed from one frame. Node and process ids are
/// read as C's `atoi` reads them (leading digits, 0 when none), because that is what Pgpool-II does.
public enum PCPRequest: Equatable, Sendable {
    /// The scope byte of reload / log rotate and the stop request: this poold only, or every watchdog member.
    public enum Scope: Equatable, Sendable { case local, cluster }
    public enum StopMode: Character, Equatable, Sendable { case smart = "s", fast = "f", immediate = "i" }

    case nodeCount                                   // L
    case nodeInfo(node: Int)                         // I, −1 = all
    case healthCheckStats(node: Int)                 // H
    case processCount                                // N
    case processInfo(pid: Int)                       // P, 0 = all
    case poolStatus                                  // B
    case watchdogInfo(node: Int)                     // W, −1 = all
    case attach(node: Int)                           // C
    case detach(node: Int, gracefully: Bool)         // D, d
    case promote(node: Int, switchover: Bool, gracefully: Bool)  // J, j
    case recover(node: Int)                          // O
    case reload(Scope)                               // Z
    case logRotate(Scope)                            // V
    case invalidateQueryCache                        // G
    case stop(mode: Character, scope: Scope)         // T, t (mode checked by the executor: ERROR, not FATAL)
    case setParameter(name: String, value: String)   // A
    case noop                                        // F
    case disconnect                                  // X

    /// Parses a command frame; an unknown kind is Pgpool-II's FATAL.
    public static func parse(_ frame: PCPProtocol.Frame) -> Result<PCPRequest, PCPError> {
        let p = frame.payload
        let text = PCPProtocol.cString(p[...])
        let id = atoi(text)
        let scope: Scope = p.first == UInt8(ascii: "c") ? .cluster : .local
        switch Character(Unicode.Scalar(frame.kind)) {
        case "L": return .success(.nodeCount)
        case "I": return .success(.nodeInfo(node: id))
        case "H": return .success(.healthCheckStats(node: id))
        case "N": return .success(.processCount)
        case "P": return .success(.processInfo(pid: id))
        case "B": return .success(.poolStatus)
        case "W": return .success(.watchdogInfo(node: id))
        case "C": return .success(.attach(node: id))
        case "D": return .success(.detach(node: id, gracefully: false))
        case "d": return .success(.detach(node: id, gracefully: true))
        case "J", "j":
            // "<id> " then the option byte, no NUL after it (Pgpool-II skips the id, then two bytes).
            let idBytes = p.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }
            let option = p.count > idBytes.count + 2 ? p[idBytes.count + 2] : 0
            return .success(.promote(node: atoi(String(decoding: idBytes, as: UTF8.self)),
                                     switchover: option == UInt8(ascii: "s"), gracefully: frame.kind == UInt8(ascii: "j")))
        case "O": return .success(.recover(node: id))
        case "Z": return .success(.reload(scope))
        case "V": return .success(.logRotate(scope))
        case "G": return .success(.invalidateQueryCache)
        case "T", "t":
            let mode = p.first.map { Character(Unicode.Scalar($0)) } ?? "\0"
            return .success(.stop(mode: mode, scope: frame.kind == UInt8(ascii: "t") ? .cluster : .local))
        case "A":
            // The value starts after the name's NUL: counted in bytes, not in the (repaired) UTF-8 of the name.
            let nul = p.firstIndex(of: 0) ?? p.endIndex
            let rest = nul < p.endIndex ? p[(nul + 1)...] : []
            return .success(.setParameter(name: text, value: PCPProtocol.cString(rest)))
        case "F": return .success(.noop)
        case "X": return .success(.disconnect)
        default:
            let shown = String(decoding: [frame.kind], as: UTF8.self)
            return .failure(.fatal("PCP processing request", detail: "unknown PCP packet type \"\(shown)\""))
        }
    }

    /// C's atoi: optional spaces and sign, then digits.
    static func atoi(_ s: String) -> Int {
        var it = s.unicodeScalars.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        var sign = 1
        if let f = it.first, f == "-" || f == "+" {
            if f == "-" { sign = -1 }
            it = it.dropFirst()
        }
        var v = 0
        for c in it {
            guard c.value >= 48, c.value <= 57 else { break }
            v = v &* 10 &+ Int(c.value - 48)
            if v > Int(Int32.max) { break }
        }
        return sign * v
    }
}
