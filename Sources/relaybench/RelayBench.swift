#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Shared

/// The per-statement work of poold's pure core, timed in one thread without sockets: cut a client's frames
/// into a unit (`ClientStreamCutter`, with the per-loop `ClassificationCache`), plan and dispatch it
/// (`RelayStateMachine.unit`), then take the backend's ReadyForQuery. What this leaves out is SwiftNIO's
/// channel pipeline and the kernel, which `bench/hotpath.py` measures together with it.
///
/// Thread CPU time, not wall time, so another process on the machine adds little noise; the best of
/// several runs is printed. Build and run: `swift run -c release relaybench`.
@main
struct RelayBench {
    /// What the relay asks of the world: nothing lags, catalog facts are known.
    struct World: RelayWorld {
        func standbyLagging() -> Bool { false }
        func knownReplay() -> LSN? { nil }
        func now() -> UInt64 { 1_000_000_000 }
        func catalogFacts(_ c: Classification) -> CatalogFacts { .none }
    }

    struct Workload {
        var name: String
        var loadBalance: Bool
        /// The client's bytes for the i-th transaction.
        var frames: (Int) -> ByteBuffer
    }

    static func query(_ text: String) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(UInt8(ascii: "Q"))
        b.writeInteger(Int32(4 + text.utf8.count + 1))
        b.writeString(text)
        b.writeInteger(UInt8(0))
        return b
    }

    /// Bind (unnamed portal, statement `P0_1`, one text parameter), Execute, Sync: pgbench -M prepared.
    static func bindExecuteSync(_ value: String) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(UInt8(ascii: "B"))
        let lengthAt = b.writerIndex
        b.writeInteger(Int32(0))
        b.writeString("\0P0_1\0")
        b.writeInteger(Int16(0))
        b.writeInteger(Int16(1))
        b.writeInteger(Int32(value.utf8.count))
        b.writeString(value)
        b.writeInteger(Int16(0))
        b.setInteger(Int32(b.writerIndex - lengthAt), at: lengthAt)
        b.writeBytes([UInt8(ascii: "E"), 0, 0, 0, 9, 0, 0, 0, 0, 0])
        b.writeBytes([UInt8(ascii: "S"), 0, 0, 0, 4])
        return b
    }

    static func main() {
        let select = "SELECT abalance FROM pgbench_accounts WHERE aid = "
        let workloads = [
            Workload(name: "-S simple, LB off", loadBalance: false) { query(select + "\($0 % 1_000_000 + 1);") },
            Workload(name: "-S simple, LB on", loadBalance: true) { query(select + "\($0 % 1_000_000 + 1);") },
            Workload(name: "-S prepared, LB off", loadBalance: false) { bindExecuteSync("\($0 % 1_000_000 + 1)") },
            Workload(name: "-S prepared, LB on", loadBalance: true) { bindExecuteSync("\($0 % 1_000_000 + 1)") },
            Workload(name: "UPDATE simple, LB on", loadBalance: true) {
                query("UPDATE pgbench_accounts SET abalance = abalance + \($0 % 5000 - 2500) WHERE aid = \($0 % 1_000_000 + 1);")
            },
        ]
        let transactions = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 200_000
        print("| workload | ns per statement (best of 5) |")
        print("|---|---:|")
        for w in workloads {
            var best = Double.infinity
            for _ in 0..<5 { best = min(best, run(w, transactions)) }
            print("| \(w.name) | \(Int(best.rounded())) |")
        }
    }

    static func cpuNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// ns per statement: the frames are built before the clock starts.
    static func run(_ w: Workload, _ n: Int) -> Double {
        var relay = RelayStateMachine(primaryNode: 0, loadBalanceNode: w.loadBalance ? 1 : nil, policy: .transaction)
        var cache = ClassificationCache()
        let world = World()
        // The prepared statement exists, as after pgbench's first Parse.
        var prepare = ByteBuffer()
        prepare.writeInteger(UInt8(ascii: "P"))
        let text = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"
        prepare.writeInteger(Int32(4 + 5 + text.utf8.count + 1 + 2))
        prepare.writeString("P0_1\0" + text + "\0")
        prepare.writeInteger(Int16(0))
        prepare.writeBytes([UInt8(ascii: "S"), 0, 0, 0, 4])
        let inputs = (0..<n).map { w.frames($0) }
        var sink = 0
        func step(_ input: ByteBuffer) {
            let piece = try! ClientStreamCutter.next(in: input, classify: { cache.classification(of: $0) { StatementClassifier.classify($0) } },
                                                     knownCategory: { relay.category(ofStatement: $0) })
            guard case .unit(let unit, let end, let terminators, let parses, _)? = piece else { fatalError("no unit") }
            guard case .send(let d) = relay.unit(unit, terminators: terminators, parses: parses, world: world) else { fatalError("held") }
            sink &+= end &+ d.forward.rawValue
            // Every link answers what it was sent (a statement prepared on another link first, too).
            for link in [Link.primary, .loadBalance] {
                while relay.inFlight(link) > 0 { _ = relay.readyForQuery(on: link, .idle) }
            }
        }
        step(prepare)
        let start = cpuNanoseconds()
        for input in inputs { step(input) }
        let elapsed = cpuNanoseconds() - start
        if sink == 42 { print("") }
        return Double(elapsed) / Double(n)
    }
}
