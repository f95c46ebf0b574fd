import NIOCore

/// A Parse as the client sent it, kept to prepare the statement on another link later.
public struct ParsedStatement: Sendable {
    public var frame: ByteBuffer
    public var category: StatementCategory
    public init(frame: ByteBuffer, category: StatementCategory) {
        self.frame = frame
        self.category = category
    }
}

/// What the front of a client's unsent bytes holds, as `ClientStreamCutter` reads it.
public enum ClientPiece: Sendable {
    /// A whole unit from the reader index up to `end`, with what routing needs: `terminators` is how many
    /// ReadyForQuery it is owed (1, or 0 for a batch cut before its Sync).
    case unit(ClientUnit, end: Int, terminators: Int, parses: [(String, ParsedStatement)], categories: [StatementCategory])
    /// COPY data for the statement running now, up to `end`.
    case copyData(end: Int)
    /// The start of a large CopyData message, up to `end`; `remaining` bytes of it are still to come and
    /// are streamed as they arrive (a message is never buffered whole).
    case copyDataStart(end: Int, remaining: Int)
    case terminate
    case show(ShowCommand, end: Int)
}

/// Cuts the client's byte stream after login into units (reference: `ClientUnit`): a Query, a FunctionCall,
/// or an extended batch from the first message after a Sync through the next Sync. A batch is cut early —
/// and marked incomplete, so its rest follows the same link — when the client sends Flush and waits
/// (asyncpg), when a Query or Terminate arrives before its Sync, or when it grows past 1 MB. Pure: it reads
/// frame headers and only the bodies routing needs (query texts, statement and portal names).
public enum ClientStreamCutter {
    /// Reads the frames at the front of `input` without consuming them. Nil: more bytes are needed.
    /// `classify` decides a statement text; `knownCategory` gives the category of a statement the client
    /// prepared in an earlier unit.
    public static func next(in input: ByteBuffer, classify: (String) -> Classification,
                            knownCategory: (String) -> StatementCategory?) throws -> ClientPiece? {
        let start = input.readerIndex
        var i = start
        let end = input.writerIndex
        var parts: [ClientUnit.Part] = []
        var parses: [(String, ParsedStatement)] = []
        var categories: [StatementCategory] = []
        var flushAt: Int? = nil
        while end - i >= 5 {
            let id = input.getInteger(at: i, as: UInt8.self)!
            let length = Int(input.getInteger(at: i + 1, as: Int32.self)!)
            guard length >= 4, length <= ProtocolCode.maxMessageLength else {
                throw WireError.invalidLength(id: id, length: length)
            }
            let frameEnd = i + 1 + length
            if frameEnd > end, id == UInt8(ascii: "d"), parts.isEmpty, length > 1 << 16 {
                return .copyDataStart(end: end, remaining: frameEnd - end)
            }
            guard frameEnd <= end else { break }
            var body = input.getSlice(at: i + 5, length: length - 4)!
            switch id {
            case UInt8(ascii: "d"), UInt8(ascii: "c"), UInt8(ascii: "f"):
                // COPY data follows the statement that asked for it.
                if parts.isEmpty { return .copyData(end: frameEnd) }
            case UInt8(ascii: "X"):
                if parts.isEmpty { return .terminate }
                return .unit(ClientUnit(parts: parts, complete: false), end: i, terminators: 0, parses: parses,
                             categories: categories)
            case UInt8(ascii: "Q"), UInt8(ascii: "F"):
                if !parts.isEmpty {
                    // An extended sequence without its Sync: it goes first, as it is.
                    return .unit(ClientUnit(parts: parts, complete: false), end: i, terminators: 0, parses: parses,
                                 categories: categories)
                }
                if id == UInt8(ascii: "F") {
                    return .unit(ClientUnit(parts: [.functionCall]), end: frameEnd, terminators: 1, parses: [], categories: [.other])
                }
                let text = body.readCStringLossy()
                if ShowCommand.mightBeShowPool(text.utf8), let command = ShowCommand.parse(text) {
                    return .show(command, end: frameEnd)
                }
                let c = classify(text)
                return .unit(ClientUnit(parts: [.query(c, text: text)]), end: frameEnd, terminators: 1, parses: [],
                             categories: [StatementCategory.of(c, text: text)])
            case UInt8(ascii: "P"):
                let name = body.readCStringLossy()
                let text = body.readCStringLossy()
                let c = classify(text)
                parts.append(.parse(name: name, c, text: text))
                var frame = ByteBuffer()
                frame.writeImmutableBuffer(input.getSlice(at: i, length: frameEnd - i)!)
                parses.append((name, ParsedStatement(frame: frame, category: StatementCategory.of(c, text: text))))
            case UInt8(ascii: "B"):
                let portal = body.readCStringLossy()
                let statement = body.readCStringLossy()
                parts.append(.bind(portal: portal, statement: statement))
                let category = parses.last(where: { $0.0 == statement })?.1.category ?? knownCategory(statement) ?? .other
                categories.append(category)
            case UInt8(ascii: "D"):
                if body.readInteger(as: UInt8.self) == UInt8(ascii: "S") { parts.append(.describeStatement(body.readCStringLossy())) }
            case UInt8(ascii: "E"):
                parts.append(.execute(portal: body.readCStringLossy()))
            case UInt8(ascii: "C"):
                if body.readInteger(as: UInt8.self) == UInt8(ascii: "S") { parts.append(.closeStatement(body.readCStringLossy())) }
            case UInt8(ascii: "H"):
                flushAt = frameEnd
            case UInt8(ascii: "S"):
                return .unit(ClientUnit(parts: parts, complete: true), end: frameEnd, terminators: 1, parses: parses,
                             categories: categories)
            default:
                break
            }
            if parts.isEmpty, flushAt == nil, id != UInt8(ascii: "d"), id != UInt8(ascii: "c"), id != UInt8(ascii: "f") {
                // A frame that starts no statement (a stray Flush, an unknown type): it follows the last unit.
                flushAt = frameEnd
            }
            i = frameEnd
        }
        // No Sync yet. Send what there is if the client waits for it (Flush) or it grew large.
        if flushAt == i || i - start > 1 << 20 {
            return .unit(ClientUnit(parts: parts, complete: false), end: i, terminators: 0, parses: parses, categories: categories)
        }
        return nil
    }
}

extension ByteBuffer {
    /// A NUL-terminated string, or the rest of the buffer when the NUL is missing.
    public mutating func readCStringLossy() -> String {
        if let s = readCString() { return s }
        return readString(length: readableBytes) ?? ""
    }
}
