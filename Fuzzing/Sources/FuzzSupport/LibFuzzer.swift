import CLibFuzzer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs libFuzzer with the process's arguments (`-runs=N`, corpus directories…) and exits with its status.
/// `testOneInput` is the harness (`LLVMFuzzerTestOneInput`); it must not capture anything.
public func runLibFuzzer(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}

/// The fuzzer's input as a source of decisions (where to split a stream, which reply to give) and of payload.
/// Reading past the end yields zeros, so every input is a valid script.
public struct FuzzInput {
    public let bytes: [UInt8]
    public private(set) var position = 0

    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { position >= bytes.count }
    public var remaining: Int { max(0, bytes.count - position) }

    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    /// A value in `0..<count` (count ≥ 1).
    public mutating func choose(_ count: Int) -> Int { Int(byte()) % count }

    public mutating func take(_ n: Int) -> [UInt8] {
        let n = min(n, remaining)
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    public mutating func rest() -> [UInt8] { take(remaining) }
}

/// Where a byte stream is cut into reads, as a socket might deliver it: sizes of 1…`maxRead` bytes drawn from a
/// SplitMix64 sequence seeded by the input, so a few control bytes give every possible split.
public struct Splitter {
    private var state: UInt64
    public let maxRead: Int

    public init(seed: UInt64, maxRead: Int = 16) {
        state = seed
        self.maxRead = maxRead
    }

    public mutating func nextSize() -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(maxRead)) + 1
    }

    /// `bytes` as consecutive reads.
    public mutating func reads(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            let n = min(bytes.count - i, nextSize())
            out.append(Array(bytes[i..<(i + n)]))
            i += n
        }
        return out
    }
}

extension FuzzInput {
    /// Eight bytes as a seed (zeros past the end).
    public mutating func seed() -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(byte()) }
        return v
    }
}

/// Fails the run: libFuzzer reports the input that broke the invariant (a crash, for the summary).
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("invariant violated: \(message())", file: file, line: line) }
}
