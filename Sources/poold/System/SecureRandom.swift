#if canImport(Glibc)
import Glibc
#endif

/// Cryptographically secure random bytes from the system generator: one getentropy(3) call (one getrandom
/// syscall) per 256 bytes — a login needs 32, which eight-byte draws cost four syscalls. Like the stdlib's
/// generator, it stops the process if the kernel has no getrandom (Linux < 3.17): no weak fallback.
enum SecureRandom {
    static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < count {
                let n = min(256, count - offset)
                precondition(getentropy(buffer.baseAddress! + offset, n) == 0, "getentropy failed: errno \(errno)")
                offset += n
            }
        }
        return out
    }
}
