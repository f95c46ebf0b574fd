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
    /// The key for `text`: `text` itself when nothing was changed (no copy).
    public static func key(_ text: String) -> String {
        // Cheap exit: no digit at all.
        guard text.utf8.contains(where: { $0 &- 48 < 10 }) else { return text }
        // Native Swift strings are contiguous; anything else keeps its text (a cache miss, never a wrong hit).
        return text.utf8.withContiguousStorageIfAvailable({ shape($0) }).flatMap { $0 } ?? text
    }

    /// The shaped text, or nil when it equals the input.
    private static func shape(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var i = 0
        while i < bytes.count, bytes[i] == 32 || (bytes[i] >= 9 && bytes[i] <= 13) { i += 1 }
        if i + 3 <= bytes.count, bytes[i] | 0x20 == 115, bytes[i + 1] | 0x20 == 101, bytes[i + 2] | 0x20 == 116,
           i + 3 == bytes.count || !isIdentifier(bytes[i + 3]) {
            return nil  // SET …
        }
        // Built only once a byte changes: the bytes so far, then each byte kept or a run of digits as one 0.
        var out: [UInt8]? = nil
        var previous: UInt8 = 32
        var inNumber = false
        var k = 0
        scan: while k < bytes.count {
            let b = bytes[k]
            switch b {
            case 39, 34, 36, 92, 59:  // ' " $ \ ;
                break scan
            case 45 where k + 1 < bytes.count && bytes[k + 1] == 45:  // --
                break scan
            case 47 where k + 1 < bytes.count && bytes[k + 1] == 42:  // /*
                break scan
            case 48...57 where inNumber || !isIdentifier(previous):
                if inNumber, previous &- 48 < 10 {
                    if out == nil { out = Array(bytes[0..<k]) }  // the run's later digits are dropped
                } else {
                    inNumber = true
                    if b != 48, out == nil { out = Array(bytes[0..<k]) }
                    out?.append(48)
                }
            case 46, 69, 101:  // . e E continue a number
                out?.append(b)
            default:
                inNumber = false
                out?.append(b)
            }
            previous = b
            k += 1
        }
        guard var result = out else { return nil }
        result.append(contentsOf: bytes[k...])
        return String(decoding: result, as: UTF8.self)
    }

    /// A byte that continues an unquoted identifier (so a digit after it is part of the name).
    @inline(__always)
    private static func isIdentifier(_ b: UInt8) -> Bool {
        (b | 0x20) &- 97 < 26 || b &- 48 < 10 || b == 95 || b >= 0x80
    }
}
