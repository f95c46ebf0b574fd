/// Classifications of recent statement texts, by `StatementShape` key, so a repeated text is lexed once.
/// One per event loop (no lock). The key is never built as a string: a text is hashed (FNV-1a) through
/// `StatementShape.Cursor` in place, and a hit is confirmed by walking it again against the stored key bytes,
/// so a hash collision is a miss, never a wrong classification.
///
/// Why the admission rule: texts with inlined constants that are not numbers (strings, dates) never repeat,
/// and then caching them only costs time, so once misses outnumber hits eight to one, insertions become rare
/// (one miss in 32 still samples) until texts repeat again.
public struct ClassificationCache: Sendable {
    private struct Entry: Sendable {
        var key: [UInt8]
        var classification: Classification
    }

    private var entries: [UInt64: Entry] = [:]
    /// The entry of the last hit.
    private var last: Entry?
    private var hits = 0
    private var misses = 0
    /// Entries at most; the cache starts over when full.
    public let capacity: Int
    /// Longer keys are not kept.
    public static let longestKey = 2048

    public init(capacity: Int = 4096) { self.capacity = capacity }

    public var count: Int { entries.count }

    /// The classification of `text`, from the cache or from `classify` (then perhaps kept).
    public mutating func classification(of text: String, classify: (String) -> Classification) -> Classification {
        var text = text
        let (hash, length, cached) = text.withUTF8 { bytes -> (UInt64, Int, Classification?) in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            var length = 0
            // The last hit is compared while hashing: a session that repeats one statement needs one pass.
            var likeLast = last != nil
            (last?.key ?? []).withUnsafeBufferPointer { key in
                var cursor = StatementShape.Cursor(bytes)
                while let b = cursor.next() {
                    hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3
                    if likeLast { likeLast = length < key.count && key[length] == b }
                    length += 1
                }
                if likeLast { likeLast = length == key.count }
            }
            if let last, likeLast { return (hash, length, last.classification) }
            guard let entry = entries[hash], entry.key.count == length else { return (hash, length, nil) }
            let same = entry.key.withUnsafeBufferPointer { key in
                var cursor = StatementShape.Cursor(bytes)
                var k = 0
                while let b = cursor.next() {
                    guard key[k] == b else { return false }
                    k += 1
                }
                return true
            }
            guard same else { return (hash, length, nil) }
            last = entry
            return (hash, length, entry.classification)
        }
        if let cached {
            hits += 1
            return cached
        }
        misses += 1
        if hits + misses > 8192 { hits /= 2; misses /= 2 }
        let c = classify(text)
        if length <= Self.longestKey, (hits + 1) * 8 >= misses || misses % 32 == 0 {
            if entries.count >= capacity {
                entries.removeAll(keepingCapacity: true)
                last = nil
            }
            entries[hash] = Entry(key: StatementShape.keyBytes(text), classification: c)
        }
        return c
    }
}
