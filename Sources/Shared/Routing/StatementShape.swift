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
    /// The key for `text` as a string (tests and diagnostics; the cache works on `visit`'s bytes).
    public static func key(_ text: String) -> String {
        var text = text
        return text.withUTF8 { bytes in
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            visit(bytes) { out.append($0); return true }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Hands the key's bytes to `body` in order, computed from `bytes` in place (no copy), until `body`
    /// returns false.
    @inline(__always)
    public static func visit(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (UInt8) -> Bool) {
        var i = 0
        while i < bytes.count, bytes[i] == 32 || (bytes[i] >= 9 && bytes[i] <= 13) { i += 1 }
        if i + 3 <= bytes.count, bytes[i] | 0x20 == 115, bytes[i + 1] | 0x20 == 101, bytes[i + 2] | 0x20 == 116,
           i + 3 == bytes.count || !isIdentifier(bytes[i + 3]) {
            verbatim(bytes, from: 0, body)  // SET …
            return
        }
        var previous: UInt8 = 32
        var inNumber = false
        var k = 0
        while k < bytes.count {
            let b = bytes[k]
            switch b {
            case 39, 34, 36, 92, 59:  // ' " $ \ ;
                verbatim(bytes, from: k, body)
                return
            case 45 where k + 1 < bytes.count && bytes[k + 1] == 45,  // --
                 47 where k + 1 < bytes.count && bytes[k + 1] == 42:  // /*
                verbatim(bytes, from: k, body)
                return
            case 48...57 where inNumber || !isIdentifier(previous):
                // A run of digits is one 0: its later digits are dropped.
                if !(inNumber && previous &- 48 < 10) {
                    inNumber = true
                    guard body(48) else { return }
                }
            case 46, 69, 101:  // . e E continue a number
                guard body(b) else { return }
            default:
                inNumber = false
                guard body(b) else { return }
            }
            previous = b
            k += 1
        }
    }

    @inline(__always)
    private static func verbatim(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (UInt8) -> Bool) {
        var k = start
        while k < bytes.count {
            guard body(bytes[k]) else { return }
            k += 1
        }
    }

    /// A byte that continues an unquoted identifier (so a digit after it is part of the name).
    @inline(__always)
    private static func isIdentifier(_ b: UInt8) -> Bool {
        (b | 0x20) &- 97 < 26 || b &- 48 < 10 || b == 95 || b >= 0x80
    }
}
