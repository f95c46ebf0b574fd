/// The cache key under which a statement text's classification is kept: the text with each run of digits
/// in its numeric literals made one `0`, so `SELECT … WHERE aid = 12345` and `… = 678` (pgbench, ORMs that inline
/// constants) are lexed once and then found by one hash lookup.
///
/// Why this is safe: `StatementClassifier` never looks at a number's value except in SET statements
/// (`SET transaction_read_only = 0`), which keep their text. Only digits before the first quote, dollar,
/// backslash, comment or semicolon are touched, where a digit that does not follow an identifier character
/// can only start a numeric literal; string literals, quoted identifiers, dollar quotes and comments keep
/// every byte. Two texts with one key therefore differ only in the digits of numeric literals, and
/// classify alike.
public enum StatementShape {
    /// The key for `text` as a string (tests and diagnostics; the cache reads a `Cursor`'s bytes).
    public static func key(_ text: String) -> String {
        String(decoding: keyBytes(text), as: UTF8.self)
    }

    /// The key's bytes, as the cache stores them.
    public static func keyBytes(_ text: String) -> [UInt8] {
        var text = text
        return text.withUTF8 { Array(IteratorSequence(Cursor($0))) }
    }

    /// The key's bytes one by one, computed from a text's bytes in place (no copy): a tight loop for the
    /// cache's hash and comparison.
    public struct Cursor: IteratorProtocol {
        private let bytes: UnsafeBufferPointer<UInt8>
        private var k = 0
        private var previous: UInt8 = 32
        private var inNumber = false
        /// From here on every byte is kept: a SET statement, or past a quote, dollar, backslash, comment or `;`.
        private var verbatim = false

        public init(_ bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
            var i = 0
            while i < bytes.count, bytes[i] == 32 || (bytes[i] >= 9 && bytes[i] <= 13) { i += 1 }
            if i + 3 <= bytes.count, bytes[i] | 0x20 == 115, bytes[i + 1] | 0x20 == 101, bytes[i + 2] | 0x20 == 116,
               i + 3 == bytes.count || !StatementShape.isIdentifier(bytes[i + 3]) {
                verbatim = true  // SET …
            }
        }

        @inline(__always)
        public mutating func next() -> UInt8? {
            while k < bytes.count {
                let b = bytes[k]
                k += 1
                if verbatim { return b }
                switch b {
                case 39, 34, 36, 92, 59:  // ' " $ \ ;
                    verbatim = true
                    return b
                case 45 where k < bytes.count && bytes[k] == 45,  // --
                     47 where k < bytes.count && bytes[k] == 42:  // /*
                    verbatim = true
                    return b
                case 48...57 where inNumber || !StatementShape.isIdentifier(previous):
                    // A run of digits is one 0: its later digits are dropped.
                    let later = inNumber && previous &- 48 < 10
                    previous = b
                    if later { continue }
                    inNumber = true
                    return 48
                case 46, 69, 101:  // . e E continue a number
                    previous = b
                    return b
                default:
                    inNumber = false
                    previous = b
                    return b
                }
            }
            return nil
        }
    }

    /// A byte that continues an unquoted identifier (so a digit after it is part of the name).
    @inline(__always)
    static func isIdentifier(_ b: UInt8) -> Bool {
        (b | 0x20) &- 97 < 26 || b &- 48 < 10 || b == 95 || b >= 0x80
    }
}
