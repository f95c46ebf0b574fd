/// Comparison of secrets (password hashes, md5 answers, SCRAM proofs and signatures, pcp.conf answers) whose
/// time does not depend on where the first difference is, so a client cannot learn a secret byte by byte from
/// how long a wrong answer takes to be refused. Only the lengths leak, and those are public (fixed-size hashes).
public enum ConstantTime {
    public static func equal<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool
    where A.Element == UInt8, B.Element == UInt8 {
        guard a.count == b.count else { return false }
        var d: UInt8 = 0
        for (x, y) in zip(a, b) { d |= x ^ y }
        return d == 0
    }

    public static func equal(_ a: String, _ b: String) -> Bool { equal(Array(a.utf8), Array(b.utf8)) }
}
