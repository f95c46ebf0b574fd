import Foundation
import XCTest

/// poold driven by the real Python drivers (psycopg 3, psycopg2, asyncpg; pinned, in .build/driver-venv made by
/// scripts/driver-venv.sh), the scenarios of issue 9 in Tests/drivers/scenarios.py, each against the shared
/// primary + 2 standbys with load balancing on and off. Each test starts its own poold; stop() then checks the
/// leak invariant (LeakCheck.swift).
final class DriverIntegrationTests: XCTestCase {
    static let python = Shell.repoRoot + "/.build/driver-venv/bin/python"
    static let script = Shell.repoRoot + "/Tests/drivers/scenarios.py"

    enum Balancing: String {
        /// Load balancing on, with the primary's weight 0 so every read a session balances goes to a standby
        /// (the session always has a primary link and a standby link: the case that exposes routing bugs).
        /// sr_check_period = 0: no lag check moves reads back to the primary.
        case on
        /// Plain session pooling: everything on the primary.
        case off

        var config: String {
            switch self {
            case .on: return "load_balance_mode = on\nbackend_weight0 = 0\nsr_check_period = 0"
            case .off: return "load_balance_mode = off\nsr_check_period = 0"
            }
        }
    }

    private func run(_ scenario: String, _ balancing: Balancing, timeout: TimeInterval = 120,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        try Self.runScenario(scenario, config: balancing.config, label: "load_balance_mode \(balancing.rawValue)",
                             timeout: timeout, file: file, line: line)
    }

    /// Runs one scenario of Tests/drivers against a poold of its own with `config`; `label` names the setup in
    /// what it prints and in failures. stop() checks the leak invariant.
    static func runScenario(_ scenario: String, config: String, label: String, timeout: TimeInterval = 120,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            return XCTFail("the driver venv is missing (\(Self.python)): run `bash scripts/driver-venv.sh` "
                           + "(scripts/test.sh does) to install psycopg, psycopg2-binary and asyncpg", file: file, line: line)
        }
        let cluster = try SharedCluster.get()
        let p = try PooldProcess(cluster: cluster, extra: config)
        defer { p.stop(file: file, line: line) }
        let standbys = (1..<cluster.nodes).map { String(cluster.port(of: $0)) }.joined(separator: ",")
        let started = Date()
        let r = try Shell.run(Self.python, [Self.script, scenario, "--port", String(p.port), "--direct-port", String(cluster.port),
                                            "--standby-ports", standbys], timeout: timeout)
        let took = Date().timeIntervalSince(started)
        let output = r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        if r.status == 0 {
            print("driver \(scenario) [\(label)]: \(output)")
            return
        }
        let why = r.status == 137 || took >= timeout ? "killed after \(Int(timeout)) s (hangs): " : ""
        let log = p.log.split(separator: "\n").suffix(12).joined(separator: "\n    ")
        XCTFail("\(scenario) with \(label): exit \(r.status): \(why)\(output)\n"
                + "  poold log tail:\n    \(log)", file: file, line: line)
    }

    // Issue 9 item 1: the client gets the real pid of its primary-link backend.
    func testNotifyPid_LBOn() throws { try run("notify_pid", .on) }
    func testNotifyPid_LBOff() throws { try run("notify_pid", .off) }
    func testTerminateBackend_LBOn() throws { try run("terminate_backend", .on) }
    func testTerminateBackend_LBOff() throws { try run("terminate_backend", .off) }

    // Item 2: a client that leaves during COPY; COPY through the extended protocol.
    func testCopyAbandonedExecute_LBOn() throws { try run("copy_abandoned_execute", .on) }
    func testCopyAbandonedExecute_LBOff() throws { try run("copy_abandoned_execute", .off) }
    func testCopyAbandonedBlock_LBOn() throws { try run("copy_abandoned_block", .on) }
    func testCopyAbandonedBlock_LBOff() throws { try run("copy_abandoned_block", .off) }
    func testCopyExtended_LBOn() throws { try run("copy_extended", .on) }
    func testCopyExtended_LBOff() throws { try run("copy_extended", .off) }

    // Item 3: backends left idle in transaction after a psycopg2 workload; a client killed inside a transaction.
    func testPsycopg2Workload_LBOn() throws { try run("psycopg2_workload", .on) }
    func testPsycopg2Workload_LBOff() throws { try run("psycopg2_workload", .off) }
    func testSigkillInTransaction_LBOn() throws { try run("sigkill_in_transaction", .on) }
    func testSigkillInTransaction_LBOff() throws { try run("sigkill_in_transaction", .off) }

    // Item 4: libpq pipeline mode with an error mid-pipeline.
    func testPipelineError_LBOn() throws { try run("pipeline_error", .on) }
    func testPipelineError_LBOff() throws { try run("pipeline_error", .off) }

    // Item 5: asyncpg's Parse/Describe/Flush … Bind/Execute/Sync batch stays on one link.
    func testAsyncpgPreparedDrop_LBOn() throws { try run("asyncpg_prepared_drop", .on) }
    func testAsyncpgPreparedDrop_LBOff() throws { try run("asyncpg_prepared_drop", .off) }

    // Item 6: DROP DATABASE (and RENAME, TEMPLATE) after pooled sessions used the database.
    func testDropDatabase_LBOn() throws { try run("drop_database", .on) }
    func testDropDatabase_LBOff() throws { try run("drop_database", .off) }

    // Item 7: read-your-writes with paused standbys; session-local state and transaction settings.
    func testReadYourWrites_LBOn() throws { try run("read_your_writes", .on) }
    func testReadYourWrites_LBOff() throws { try run("read_your_writes", .off) }
    func testIsolation_LBOn() throws { try run("isolation", .on) }
    func testIsolation_LBOff() throws { try run("isolation", .off) }
}
