import Testing
@testable import Shared

/// SQL text → destination, by Pgpool-II 4.6's routing table (reference §2.1–2.2). `lb` is whether the
/// statement may be load balanced at all (destination EITHER, text check passed, single statement).
@Suite struct StatementClassifierTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var sql: String
        var destination: Destination
        var lb: Bool
        var testDescription: String { sql }
        init(_ sql: String, _ destination: Destination, lb: Bool? = nil) {
            self.sql = sql
            self.destination = destination
            self.lb = lb ?? (destination == .either)
        }
    }

    static let cases: [Case] = [
        // session-local state: answered by the session's own backend on the primary
        Case("select pg_backend_pid()", .primary), Case("SELECT pg_catalog.pg_backend_pid(), 1", .primary),
        Case("select current_setting('transaction_isolation')", .primary),
        Case("select current_setting('TRANSACTION_READ_ONLY')", .primary), Case("show transaction_isolation", .primary),
        Case("select current_setting('cluster_name')", .either), Case("show cluster_name", .either),
        Case("select pg_blocking_pids(123)", .primary),
        // plain reads
        Case("SELECT 1", .either), Case("select * from t", .either), Case("  select 1", .either),
        Case("SELECT a, b FROM t WHERE c = 1 ORDER BY a LIMIT 10", .either),
        Case("select count(*) from pgbench_accounts", .either),
        Case("SELECT abalance FROM pgbench_accounts WHERE aid = $1", .either),
        Case("select * from t1 join t2 on t1.id = t2.id", .either),
        Case("select * from (select 1) s", .either),
        Case("(select 1) union (select 2)", .either), Case("select 1 union all select 2", .either),
        Case("select exists(select 1 from t)", .either), Case("select x from t where y in (select y from u)", .either),
        Case("SELECT 'insert into t values (1)'", .either), Case("SELECT 'for update'", .either),
        Case("select \"INTO\" from t", .either), Case("select $$ delete from t $$", .either),
        Case("select $tag$ ; drop table t; $tag$", .either), Case("select E'it\\'s; delete'", .either),
        Case("select 'a''b; c'", .either), Case("select 1 -- trailing comment", .either),
        Case("select /* inner comment */ 1", .either), Case("select 1;", .either), Case("select 1 ; ", .either),
        Case("SELECT * FROM t WHERE a = ANY($1)", .either), Case("select array[1,2]::int[]", .either),
        Case("select now()", .either), Case("select x::text from t", .either), Case("select t.* from t", .either),
        Case("Select lower('ABC')", .either), Case("sElEcT 1", .either), Case("select\n1", .either),
        Case("\tselect 1", .either), Case("select * from t tablesample system (10)", .either),
        Case("select * from t where a between 1 and 2", .either), Case("select case when a then 1 else 2 end from t", .either),
        Case("select row_number() over (partition by a order by b) from t", .either),
        Case("select count(*) filter (where a) from t", .either), Case("select * from t window w as (order by a)", .either),
        Case("select distinct on (a) a, b from t", .either), Case("select 1 intersect select 1", .either),
        Case("select 1 except select 2", .either), Case("select * from generate_series(1, 10)", .either),
        Case("select * from t, lateral (select 1) l", .either), Case("select pg_is_in_recovery()", .either),
        Case("select u&'\\0041'", .either), Case("select b'101', x'ff'", .either), Case("select 1.5e10, .5", .either),
        Case("select \"select\" from \"from\"", .either), Case("select * from s.t", .either),
        Case("select json_col->>'k' from t", .either), Case("select a <> b from t", .either),
        Case("TABLE t", .either), Case("table pgbench_branches", .either),
        Case("values (1), (2)", .either, lb: false),
        Case("WITH x AS (SELECT 1) SELECT * FROM x", .either),
        Case("with recursive r(n) as (select 1 union all select n+1 from r where n < 5) select * from r", .either),
        Case("with a as (select 1), b as (select 2) select * from a, b", .either),
        Case("with a as materialized (select 1) select * from a", .either),
        Case("SHOW pool_nodes", .either), Case("show server_version", .either), Case("SHOW ALL", .either),
        // COPY TO is EITHER in the table, but Pgpool-II's text pre-check (first character) keeps it on the primary.
        Case("copy t to stdout", .either, lb: false), Case("COPY (SELECT * FROM t) TO STDOUT WITH (FORMAT csv)", .either, lb: false),
        Case("copy t (a, b) to stdout", .either, lb: false), Case("copy t to '/tmp/x'", .either, lb: false),
        // reads that must go to the primary
        Case("SELECT * FROM t FOR UPDATE", .primary), Case("select * from t for share", .primary),
        Case("select * from t for no key update", .primary), Case("select * from t for key share", .primary),
        Case("select * from t for update nowait", .primary), Case("select * from t for update skip locked", .primary),
        Case("select * from t where a = 1 for update of t", .primary),
        Case("SELECT * INTO newt FROM t", .primary), Case("select a into temp x from t", .primary),
        Case("select a into unlogged x from t", .primary),
        Case("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", .primary),
        Case("with i as (insert into t values (1) returning id) select id from i", .primary),
        Case("with u as (update t set a = 1 returning *) select * from u", .primary),
        Case("with x as (select 1) delete from t", .primary), Case("with x as (select 1) insert into t select * from x", .primary),
        Case("with x as (select 1) update t set a = 1", .primary),
        Case("with m as (merge into t using s on t.id = s.id when matched then delete) select 1", .primary),
        Case("with x as (select * from t for update) select * from x", .primary),
        Case("EXPLAIN SELECT 1", .primary), Case("explain analyze select 1", .primary),
        Case("explain (analyze, buffers) delete from t", .primary),
        // writes
        Case("INSERT INTO t VALUES (1)", .primary), Case("insert into t select * from u", .primary),
        Case("insert into t (a) values (1) on conflict (a) do update set a = excluded.a", .primary),
        Case("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1", .primary),
        Case("DELETE FROM t", .primary), Case("delete from t where a in (select a from u)", .primary),
        Case("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", .primary),
        Case("TRUNCATE t", .primary), Case("truncate table t restart identity", .primary),
        Case("COPY t FROM STDIN", .primary), Case("copy t (a, b) from stdin with (format csv)", .primary),
        Case("copy t from '/tmp/x'", .primary),
        // DDL
        Case("CREATE TABLE t (a int)", .primary), Case("create temp table x (a int)", .primary),
        Case("create unlogged table x (a int)", .primary), Case("create table x as select 1", .primary),
        Case("ALTER TABLE t ADD COLUMN b int", .primary), Case("drop table t", .primary),
        Case("CREATE INDEX CONCURRENTLY i ON t (a)", .primary), Case("create function f() returns int as $$ select 1 $$ language sql", .primary),
        Case("create or replace view v as select 1", .primary), Case("create sequence s", .primary),
        Case("grant select on t to u", .primary), Case("revoke all on t from u", .primary),
        Case("comment on table t is 'x'", .primary), Case("create extension pg_prewarm", .primary),
        Case("alter system set work_mem = '8MB'", .primary), Case("create database d", .primary),
        Case("VACUUM t", .primary), Case("vacuum analyze", .primary), Case("analyze t", .primary), Case("reindex table t", .primary),
        Case("cluster t", .primary), Case("checkpoint", .primary), Case("refresh materialized view m", .primary),
        // LISTEN/NOTIFY, cursors, calls
        Case("LISTEN ch", .primary), Case("unlisten *", .primary), Case("NOTIFY ch, 'x'", .primary),
        Case("DECLARE c CURSOR FOR SELECT 1", .primary), Case("fetch 10 from c", .primary), Case("close c", .primary),
        Case("move next in c", .primary), Case("call p()", .primary), Case("do $$ begin perform 1; end $$", .primary),
        // transaction control
        Case("BEGIN", .both), Case("begin transaction", .both), Case("BEGIN ISOLATION LEVEL REPEATABLE READ", .both),
        Case("start transaction read only", .both), Case("begin read write", .both),
        Case("begin isolation level serializable", .both), Case("COMMIT", .both), Case("end", .both),
        Case("commit and chain", .both), Case("ROLLBACK", .both), Case("abort", .both),
        Case("SAVEPOINT s1", .both), Case("release savepoint s1", .both), Case("rollback to savepoint s1", .both),
        Case("rollback to s1", .both),
        Case("PREPARE TRANSACTION 'x'", .primary), Case("commit prepared 'x'", .primary), Case("rollback prepared 'x'", .primary),
        // SET and friends
        Case("SET search_path TO app", .both), Case("set work_mem = '64MB'", .both), Case("set local statement_timeout = 0", .both),
        Case("set session time zone 'UTC'", .both), Case("RESET ALL", .both), Case("reset work_mem", .both),
        Case("DISCARD ALL", .both), Case("discard temp", .both), Case("DEALLOCATE ALL", .both),
        Case("set transaction_read_only = off", .primary), Case("set transaction_read_only to false", .primary),
        Case("set transaction_read_only = on", .both), Case("SET TRANSACTION READ WRITE", .primary),
        Case("set transaction read only", .both), Case("set session characteristics as transaction read write", .primary),
        Case("set transaction isolation level serializable", .primary),
        Case("set transaction isolation level read committed", .both),
        Case("set default_transaction_isolation = 'serializable'", .primary),
        Case("set default_transaction_isolation to 'read committed'", .both),
        Case("set default_transaction_read_only = off", .primary),
        // LOCK
        Case("LOCK TABLE t", .primary), Case("lock t in access exclusive mode", .primary),
        Case("lock t in row exclusive mode", .primary), Case("lock t in share mode", .primary),
        Case("lock table t in access share mode", .both), Case("lock t in row share mode nowait", .both),
        // PREPARE / EXECUTE
        Case("PREPARE p AS SELECT 1", .either), Case("prepare p (int) as select $1", .either),
        Case("prepare w as insert into t values (1)", .primary), Case("EXECUTE p", .primary),
        // multi-statement strings
        Case("select 1; select 2", .primary, lb: false), Case("BEGIN; DELETE FROM t; END", .primary),
        Case("select 1; delete from t", .primary), Case("set a = 1; select 1", .primary, lb: false),
        // comments and the text pre-check
        Case("/*NO LOAD BALANCE*/ SELECT 1", .either, lb: false), Case("-- comment\nselect 1", .either, lb: false),
        Case("/* a /* nested */ comment */ select 1", .either, lb: false), Case("/*REPLICATION*/ select 1", .either, lb: false),
        // unknown or broken
        Case("", .primary), Case("   ", .primary), Case(";", .primary), Case("frobnicate the widgets", .primary),
        Case("select 'unterminated", .primary), Case("select $$ never closed", .primary), Case("select /* open", .primary),
        Case("select \"open", .primary), Case("42", .primary),
    ]

    @Test(arguments: Self.cases)
    func destination(_ c: Case) {
        let result = StatementClassifier.classify(c.sql)
        #expect(result.destination == c.destination, "\(c.sql)")
        #expect(result.isLoadBalanceable == c.lb, "\(c.sql)")
    }

    @Test func atLeast150Cases() { #expect(Self.cases.count >= 150) }

    @Test func allowSQLCommentsIgnoresLeadingComments() {
        #expect(StatementClassifier.classify("/*NO LOAD BALANCE*/ SELECT 1", allowSQLComments: true).isLoadBalanceable)
        #expect(StatementClassifier.classify("-- x\nselect 1", allowSQLComments: true).isLoadBalanceable)
    }

    @Test func standardConformingStringsOffMakesBackslashAnEscape() {
        // With standard_conforming_strings = off, 'a\'; delete from t; --' is one string constant.
        let text = "select 'a\\'; delete from t; --'"
        #expect(StatementClassifier.classify(text, standardConformingStrings: false).isLoadBalanceable)
        #expect(StatementClassifier.classify(text, standardConformingStrings: true).destination == .primary)
    }

    @Test func functionsAndRelationsAreCollected() {
        let c = StatementClassifier.classify("select nextval('s'), public.f(1), count(*) from app.t join u on true where x in (select 1)")
        #expect(c.functions == ["nextval", "public.f", "count"])
        #expect(c.relations == ["app.t", "u"])
        #expect(StatementClassifier.classify("insert into t (a) values (f(1))").functions == ["f"])
    }

    @Test func kinds() {
        #expect(StatementClassifier.classify("begin isolation level serializable").kind == .begin(readWrite: false, serializable: true))
        #expect(StatementClassifier.classify("start transaction read write").kind == .begin(readWrite: true, serializable: false))
        #expect(StatementClassifier.classify("deallocate p1").kind == .deallocate(name: "p1"))
        #expect(StatementClassifier.classify("deallocate prepare all").kind == .deallocate(name: nil))
        #expect(StatementClassifier.classify("execute p1 (1)").kind == .execute(name: "p1"))
        #expect(StatementClassifier.classify("select 1; select 2").kind == .read)
    }
}
