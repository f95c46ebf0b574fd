#if canImport(Glibc)
import Glibc
#endif

/// Cryptographically secure random bytes from the system generator: one getentropy(3) call (one getrandom
/// syscall) per 256 bytes — a login needs 32, which eight-byte draws cost four syscalls.
enum SecureRandom {
    static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBytes { buffer -> Bool in
            var offset = 0
            while offset < count {
                let n = min(256, count - offset)
                guard getentropy(buffer.baseAddress! + offset, n) == 0 else { return false }
                offset += n
            }
            return true
        }
        if !ok {
            // getentropy fails only without getrandom(2) (Linux < 3.17): the stdlib's generator.
            var rng = SystemRandomNumberGenerator()
            for i in 0..<count { out[i] = UInt8(truncatingIfNeeded: rng.next()) }
        }
        return out
    }
}
