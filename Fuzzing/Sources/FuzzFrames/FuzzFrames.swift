import FuzzSupport
import NIOCore
import Shared

// The wire codec on arbitrary bytes. Input: a flags byte, an 8-byte split seed, a byte choosing the ids the
// FrameScanner asks for, then the stream.
//
// Invariants besides "no crash":
// - FrameDecoder gives the same frames, error and leftover however the stream is cut into reads (and with the
//   session's switch from startup to typed mode after a StartupMessage).
// - FrameScanner, fed the same reads, visits exactly the decoder's frames whose id it wants, fails where the
//   decoder fails, and is at a message boundary exactly when the decoder has nothing left over.
// - Every frame that decodes (FrontendMessage, BackendMessage) encodes to one frame that decodes to the same message.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let startup = flags & 1 == 1
    let maxLength = [ProtocolCode.maxMessageLength, Int(Int32.max), 300, 4][Int(flags >> 1) & 3]
    let maxRead = [1, 16, 256, 4096][Int(flags >> 3) & 3]
    var splitter = Splitter(seed: input.seed(), maxRead: maxRead)
    let wanted = input.byte()
    let stream = input.rest()

    let whole = decodeStream([stream], startup: startup, maxLength: maxLength)
    let reads = splitter.reads(stream)
    let split = decodeStream(reads, startup: startup, maxLength: maxLength)
    invariant(whole == split, "FrameDecoder depends on read boundaries")

    if !startup {
        let wants: (UInt8) -> Bool = { (wanted >> ($0 % 8)) & 1 == 1 }
        let scanned = scanStream(reads, maxLength: maxLength, wants: wants)
        invariant(scanned.frames == whole.frames.filter { wants($0.id) }, "FrameScanner frames differ from FrameDecoder")
        invariant(scanned.error == whole.error, "FrameScanner error differs from FrameDecoder")
        if whole.error == nil {
            invariant(scanned.atBoundary == (whole.leftover == 0), "FrameScanner boundary differs from FrameDecoder")
        }
    }

    for frame in whole.frames {
        decodeFrontend(frame)
        decodeBackend(frame)
    }
    return 0
}

struct Decoded: Equatable {
    var frames: [Frame] = []
    var error: WireError?
    var leftover = 0
}

/// What ClientSession and BackendConnection do with their reads: cumulate, take frames, drop what was read.
func decodeStream(_ reads: [[UInt8]], startup: Bool, maxLength: Int) -> Decoded {
    var out = Decoded()
    var decoder = FrameDecoder(mode: startup ? .startup : .typed, maxLength: maxLength)
    var buffer = ByteBuffer()
    for read in reads {
        buffer.writeBytes(read)
        do {
            while let frame = try decoder.next(from: &buffer) {
                out.frames.append(frame)
                if decoder.mode == .startup, case .startup? = try? FrontendMessage.decode(frame) { decoder.mode = .typed }
            }
        } catch let e as WireError {
            out.error = e
            return out
        } catch {
            invariant(false, "FrameDecoder threw \(error)")
        }
        buffer.discardReadBytes()
    }
    out.leftover = buffer.readableBytes
    return out
}

struct Scanned {
    var frames: [Frame] = []
    var error: WireError?
    var atBoundary = true
}

/// The relay's hot path: each read is scanned as it is, untouched.
func scanStream(_ reads: [[UInt8]], maxLength: Int, wants: (UInt8) -> Bool) -> Scanned {
    var out = Scanned()
    var scanner = FrameScanner(maxLength: maxLength)
    for read in reads {
        // Reads arrive at any reader index (the executor may have consumed a prefix).
        var buffer = ByteBuffer(bytes: [0x55, 0x55] + read)
        buffer.moveReaderIndex(forwardBy: 2)
        do {
            try scanner.scan(buffer, wants: wants) { id, body, start, end in
                invariant(wants(id), "FrameScanner visited an unwanted id")
                invariant(end <= buffer.writerIndex && end >= buffer.readerIndex, "frame end outside the read")
                if let start {
                    invariant(start >= buffer.readerIndex, "frame start outside the read")
                    invariant(buffer.getInteger(at: start, as: UInt8.self) == id, "frame start is not its id")
                    invariant(buffer.getInteger(at: start + 1, as: Int32.self).map(Int.init) == body.readableBytes + 4,
                              "frame start is not its length")
                    invariant(end == start + 5 + body.readableBytes, "frame end does not match its start")
                }
                out.frames.append(Frame(id: id, body: body))
                return true
            }
        } catch let e as WireError {
            out.error = e
            return out
        } catch {
            invariant(false, "FrameScanner threw \(error)")
        }
    }
    out.atBoundary = scanner.atBoundary
    return out
}

/// The one frame `bytes` holds, for a round trip.
func reframe(_ bytes: ByteBuffer, startup: Bool) -> Frame {
    var buffer = bytes
    var decoder = FrameDecoder(mode: startup ? .startup : .typed, maxLength: Int(Int32.max))
    let frame: Frame?
    do { frame = try decoder.next(from: &buffer) } catch {
        fatalError("an encoded message does not frame: \(error)")
    }
    invariant(frame != nil && buffer.readableBytes == 0, "an encoded message is not exactly one frame")
    return frame!
}

func decodeFrontend(_ frame: Frame) {
    if frame.id == UInt8(ascii: "p") {
        _ = PasswordBody.password(frame.body)
        _ = PasswordBody.saslInitial(frame.body)
    }
    guard let message = try? FrontendMessage.decode(frame) else { return }
    var out = ByteBuffer()
    message.encode(into: &out)
    let untyped: Bool
    switch message {
    case .startup, .sslRequest, .gssEncRequest, .cancelRequest: untyped = true
    default: untyped = false
    }
    let again: FrontendMessage
    do { again = try FrontendMessage.decode(reframe(out, startup: untyped)) } catch {
        fatalError("an encoded FrontendMessage does not decode: \(error)")
    }
    invariant(again == message, "FrontendMessage round trip: \(message) became \(again)")
}

func decodeBackend(_ frame: Frame) {
    if frame.id == UInt8(ascii: "E") || frame.id == UInt8(ascii: "N") {
        _ = ErrorFields.severity(in: frame.body)
        _ = ErrorFields.code(in: frame.body)
    }
    guard let message = try? BackendMessage.decode(frame) else { return }
    var out = ByteBuffer()
    message.encode(into: &out)
    let again: BackendMessage
    do { again = try BackendMessage.decode(reframe(out, startup: false)) } catch {
        fatalError("an encoded BackendMessage does not decode: \(error)")
    }
    invariant(again == message, "BackendMessage round trip: \(message) became \(again)")
}
