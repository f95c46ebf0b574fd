import NIOCore
import Shared
import Testing

/// Transcripts of transaction pooling's pure parts: `ClientStatements.restore` against `BackendStatements`
/// (what poold sends before a unit so a client's prepared statements exist on whichever backend serves it),
/// and `SessionPin` (which statements keep a client on its backend).
@Suite struct TransactionStatementsTests {
    func parse(_ name: String, _ text: String, types: [UInt32] = []) -> (ClientUnit.Part, (String, ParsedStatement)) {
        var frame = ByteBuffer()
        FrontendMessage.parse(name: name, query: text, parameterTypes: types).encode(into: &frame)
        let c = StatementClassifier.classify(text)
        return (.parse(name: name, c, text: text), (name, ParsedStatement(frame: frame, category: .of(c, text: text))))
    }

    func query(_ text: String) -> ClientUnit.Part { .query(StatementClassifier.classify(text), text: text) }

    /// The message types of what poold sends first, one string per ReadyForQuery-terminated piece.
    func types(_ out: [ByteBuffer]) -> [String] {
        out.map { b in
            var b = b
            var s = ""
            while b.readableBytes >= 5, let id = b.readInteger(as: UInt8.self), let len = b.readInteger(as: Int32.self) {
                s.append(Character(UnicodeScalar(id)))
                b.moveReaderIndex(forwardBy: Int(len) - 4)
            }
            return s
        }
    }

    @Test func aStatementParsedOnOneBackendIsDefinedAgainOnAnother() {
        var client = ClientStatements()
        var first = BackendStatements(), second = BackendStatements()
        let (p, parsed) = parse("s1", "select $1::int")
        #expect(client.restore([p, .bind(portal: "", statement: "s1"), .execute(portal: "")], parses: [parsed],
                               on: &first, limit: 10).isEmpty, "the unit parses it itself: nothing to send first")
        #expect(client.restore([.bind(portal: "", statement: "s1"), .execute(portal: "")], parses: [], on: &first,
                               limit: 10).isEmpty, "the same backend has it")
        let out = client.restore([.bind(portal: "", statement: "s1"), .execute(portal: "")], parses: [], on: &second, limit: 10)
        #expect(types(out) == ["CPS"], "Close (in case), the client's own Parse, Sync")
        #expect(client.restore([.bind(portal: "", statement: "s1")], parses: [], on: &second, limit: 10).isEmpty)
    }

    @Test func anotherClientsStatementOfTheSameNameIsReplaced() {
        var a = ClientStatements(), b = ClientStatements()
        var backend = BackendStatements()
        let (pa, parsedA) = parse("s1", "select 1")
        _ = a.restore([pa], parses: [parsedA], on: &backend, limit: 10)
        let (pb, parsedB) = parse("s1", "select 2")
        #expect(types(b.restore([pb], parses: [parsedB], on: &backend, limit: 10)) == ["CS"],
                "b parses s1 where a's s1 exists: Close first, so b never sees 'already exists'")
        #expect(types(a.restore([.bind(portal: "", statement: "s1")], parses: [], on: &backend, limit: 10)) == ["CPS"],
                "a's s1 was replaced by b's: a's is defined again")
    }

    @Test func parameterTypesAreAPartOfTheDefinition() {
        var a = ClientStatements(), b = ClientStatements()
        var backend = BackendStatements()
        let (pa, parsedA) = parse("q", "select $1", types: [23])
        _ = a.restore([pa], parses: [parsedA], on: &backend, limit: 10)
        let (pb, parsedB) = parse("q", "select $1", types: [25])
        _ = b.restore([pb], parses: [parsedB], on: &backend, limit: 10)
        #expect(!backend.has("q", StatementDefinition(frame: parsedA.1.frame, isSQL: false)))
        #expect(backend.has("q", StatementDefinition(frame: parsedB.1.frame, isSQL: false)))
    }

    @Test func sqlPrepareIsRestoredWithItsText() {
        var client = ClientStatements()
        var first = BackendStatements(), second = BackendStatements()
        #expect(client.restore([query("prepare p1 as select 1")], parses: [], on: &first, limit: 10).isEmpty)
        #expect(types(client.restore([query("execute p1")], parses: [], on: &second, limit: 10)) == ["CS", "Q"])
        var other = BackendStatements()
        #expect(types(client.restore([query("deallocate p1")], parses: [], on: &other, limit: 10)) == ["CS", "Q"],
                "DEALLOCATE on a backend that lacks p1: p1 is prepared there first, so DEALLOCATE does not fail")
        var third = BackendStatements()
        #expect(client.restore([query("execute p1")], parses: [], on: &third, limit: 10).isEmpty,
                "deallocated: the client's EXECUTE fails as it would on PostgreSQL")
    }

    @Test func sqlPrepareSentThroughParseIsTrackedWhenItIsBound() {
        // psycopg 3 sends `PREPARE p1 AS …` itself as a protocol statement: Parse _pg3_0, Bind, Execute.
        var client = ClientStatements()
        var first = BackendStatements(), second = BackendStatements()
        let (p, parsed) = parse("_pg3_0", "prepare p1 (int) as select $1")
        _ = client.restore([p, .bind(portal: "", statement: "_pg3_0"), .execute(portal: "")], parses: [parsed], on: &first, limit: 10)
        #expect(first.entry("p1") != nil && client.definitions["p1"]?.isSQL == true)
        let (q, parsedQ) = parse("_pg3_1", "execute p1 (7)")
        #expect(types(client.restore([q, .bind(portal: "", statement: "_pg3_1"), .execute(portal: "")], parses: [parsedQ],
                                     on: &second, limit: 10)) == ["CS", "Q"], "EXECUTE on another backend: p1 is prepared there first")
        let (r, parsedR) = parse("_pg3_0", "prepare p1 (int) as select $1")
        #expect(types(client.restore([r, .bind(portal: "", statement: "_pg3_0")], parses: [parsedR], on: &second, limit: 10))
                .contains("CS"), "a second PREPARE of p1 on a backend that has it: closed first, no 'already exists'")
    }

    @Test func errorsMakeWhatTheUnitDefinedUncertainAndClosingFixesIt() {
        var client = ClientStatements()
        var backend = BackendStatements()
        let (p, parsed) = parse("s1", "select 1")
        _ = client.restore([p], parses: [parsed], on: &backend, limit: 10)
        backend.errorSeen()
        #expect(backend.entry("s1") == .uncertain)
        #expect(types(client.restore([.bind(portal: "", statement: "s1")], parses: [], on: &backend, limit: 10)) == ["CPS"])
        backend.quiet()
        backend.errorSeen()
        #expect(backend.entry("s1") != .uncertain, "an error after the link was quiet does not concern it")
    }

    @Test func theLeastRecentlyUsedStatementsBeyondTheLimitAreClosed() {
        var client = ClientStatements()
        var backend = BackendStatements()
        for i in 0..<3 {
            let (p, parsed) = parse("s\(i)", "select \(i)")
            _ = client.restore([p], parses: [parsed], on: &backend, limit: 3)
        }
        _ = client.restore([.bind(portal: "", statement: "s0")], parses: [], on: &backend, limit: 3)
        let (p, parsed) = parse("s3", "select 3")
        let out = client.restore([p], parses: [parsed], on: &backend, limit: 3)
        #expect(types(out) == ["CS"] && backend.count == 3 && backend.entry("s1") == nil, "s1 was least recently used")
    }

    @Test func discardAllAndDeallocateAllForgetEverything() {
        var client = ClientStatements()
        var backend = BackendStatements()
        let (p, parsed) = parse("s1", "select 1")
        _ = client.restore([p], parses: [parsed], on: &backend, limit: 10)
        _ = client.restore([query("DISCARD ALL")], parses: [], on: &backend, limit: 10)
        #expect(backend.count == 0 && client.definitions.isEmpty)
    }

    @Test func sessionStateThatPins() {
        func pin(_ sql: String) -> SessionPin? { SessionPin.reason(in: [query(sql)]) }
        #expect(pin("SET search_path = app") == .set)
        #expect(pin("set session timezone = 'UTC'") == .set)
        #expect(pin("SET LOCAL work_mem = '8MB'") == nil)
        #expect(pin("set transaction isolation level serializable") == nil)
        #expect(pin("LISTEN jobs") == .listen)
        #expect(pin("create temp table t (id int)") == .temporaryObject)
        #expect(pin("CREATE TEMPORARY VIEW v AS SELECT 1") == .temporaryObject)
        #expect(pin("create table t (id int)") == nil)
        #expect(pin("select pg_advisory_lock(1)") == .advisoryLock)
        #expect(pin("select pg_advisory_xact_lock(1)") == nil, "a transaction lock ends with the transaction")
        #expect(pin("declare c cursor with hold for select 1") == .holdCursor)
        #expect(pin("declare c cursor for select 1") == nil)
        #expect(pin("select 1; set statement_timeout = 0") == .set, "a SET inside a multi-statement query")
        #expect(pin("select * from settings") == nil)
        #expect(pin("RESET ALL") == nil)
    }
}
