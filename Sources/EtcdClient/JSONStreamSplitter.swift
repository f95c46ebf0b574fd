/// Cuts the body of a streamed gateway answer (the watch) into its JSON messages.
///
/// Why not split on newlines: 3.4's gateway ends each message with "\n", but older ones sent them back to back
/// (etcd-io/etcd#8240, which Patroni works around with `raw_decode`), and a chunk can end anywhere — inside a
/// string, a number, a UTF-8 sequence. Tracking brace depth outside strings finds each top-level object's end
/// whatever the delimiter, and never needs to look at a byte twice.
struct JSONStreamSplitter: Sendable {
    /// A message bigger than this is garbage, not a watch response (etcd's default request limit is 1.5 MiB).
    static let maximumMessageSize = 16 << 20

    enum Failure: Error, Hashable {
        /// A byte outside any object that is neither whitespace nor `{`.
        case unexpectedByte(UInt8)
        case messageTooLarge
    }

    private var buffer: [UInt8] = []
    /// Where scanning resumes in `buffer`.
    private var scanned = 0
    /// Where the object being scanned starts; nil between objects.
    private var start: Int?
    private var depth = 0
    private var inString = false
    private var escaped = false

    mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// The next whole object's bytes, or nil until more bytes arrive.
    mutating func next() throws -> [UInt8]? {
        while scanned < buffer.count {
            let byte = buffer[scanned]
            defer { scanned += 1 }
            guard let begin = start else {
                switch byte {
                case UInt8(ascii: "{"):
                    start = scanned
                    depth = 1
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                    continue
                default:
                    throw Failure.unexpectedByte(byte)
                }
                continue
            }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    let object = Array(buffer[begin...scanned])
                    buffer.removeFirst(scanned + 1)
                    scanned = -1  // the deferred += 1 makes it 0
                    start = nil
                    return object
                }
            default: break
            }
        }
        if let begin = start, buffer.count - begin > Self.maximumMessageSize { throw Failure.messageTooLarge }
        if start == nil {
            buffer.removeAll(keepingCapacity: true)
            scanned = 0
        }
        return nil
    }
}
