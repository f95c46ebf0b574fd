import FuzzSupport
import Shared

// Watchdog frames (WatchdogPacket.decode, with the cluster payloads of kinds 9–15) on arbitrary bytes, without a
// key (any HMAC passes, so the fields are reached) and with one.
//
// Invariants besides "no crash":
// - A frame that decodes encodes to one that decodes to the same packet (unless a name or text was not UTF-8:
//   it then comes back repaired), with and without a key.
// - A frame encoded with one key is refused with another.

let key = WatchdogAuthKey("fuzz-authkey")
let otherKey = WatchdogAuthKey("another-key")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWatchdog(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzInput(data, size).bytes
    _ = try? WatchdogPacket.decode(bytes, key: key)
    guard let packet = try? WatchdogPacket.decode(bytes, key: nil) else { return 0 }

    let plain: WatchdogPacket
    do { plain = try WatchdogPacket.decode(packet.encode(key: nil), key: nil) } catch {
        fatalError("an encoded watchdog packet does not decode: \(error)")
    }
    if !packet.hasRepairedText {
        invariant(plain == packet, "watchdog round trip: \(packet) became \(plain)")
    }
    let signed = packet.encode(key: key)
    let checked: WatchdogPacket
    do { checked = try WatchdogPacket.decode(signed, key: key) } catch {
        fatalError("a signed watchdog packet does not decode with its key: \(error)")
    }
    invariant(checked == plain, "the signed round trip differs")
    invariant((try? WatchdogPacket.decode(signed, key: otherKey)) == nil, "a packet passed with the wrong key")
    let framed = packet.framed(key: key)
    invariant(framed.count == signed.count + 4 && Array(framed.dropFirst(4)) == signed, "framing is not length + frame")
    return 0
}

extension WatchdogPacket {
    /// Decoding replaced bytes that were not UTF-8 by U+FFFD (3 bytes), which re-encoding may have to cut.
    var hasRepairedText: Bool {
        var texts = [sender, receiver]
        if case .message(let m) = body {
            texts.append(m.leader)
            if case .adminReply(_, _, let message)? = m.cluster { texts.append(message) }
        }
        return texts.contains { $0.unicodeScalars.contains("\u{FFFD}") }
    }
}
