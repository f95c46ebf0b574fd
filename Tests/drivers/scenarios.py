#!/usr/bin/env python3
"""Scenarios that drive poold with real Python drivers (psycopg 3, psycopg2, asyncpg), for issue 9.

    .build/driver-venv/bin/python Tests/drivers/scenarios.py SCENARIO --port P --direct-port P0 [--standby-ports P1,P2]

--port is poold's SQL port, --direct-port the PostgreSQL primary's (out-of-band checks and reference runs go there
directly), --standby-ports the standbys' (default P0+1,P0+2). Database `bench`, user postgres over TCP 127.0.0.1.
Exit 0 and one line saying what was checked on success; otherwise exit 1 and one line on stderr naming every
failed check (exit 2: a step did not finish within its bound, so something hangs). Every wait is bounded.
Scenarios: see SCENARIOS at the bottom; `list` prints them.
"""
import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import asyncpg
import psycopg
import psycopg2
import psycopg2.extensions
from psycopg import pq

BOUND = 10.0  # seconds: the bound of every single step that could hang

ARGS = None
SCENARIO = "?"
APP = "drv"  # application_name of every connection this run makes: drv-<scenario>-<pid>
FAILURES = []
CHECKED = []


# ---------------------------------------------------------------- watchdog: every step is bounded

class _Watchdog:
    """A thread that ends the process with a clear message when the current step overruns its bound. It works
    whatever the main thread blocks in (libpq C calls, asyncio, a lock wait on the server)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.deadline = None
        self.name = None
        self.cleanups = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            time.sleep(0.1)
            with self.lock:
                expired = self.deadline is not None and time.monotonic() > self.deadline
                name = self.name
            if expired:
                for fn in reversed(self.cleanups):
                    try:
                        fn()
                    except Exception:
                        pass
                extra = "; earlier failures: " + "; ".join(FAILURES) if FAILURES else ""
                sys.stderr.write(f"FAIL {SCENARIO}: step '{name}' did not finish within its bound (hangs){extra}\n")
                sys.stderr.flush()
                os._exit(2)


WATCHDOG = None


class step:
    """`with step("what", 10):` — the block must finish within the bound, or the process exits 2 naming it."""

    def __init__(self, name, seconds=BOUND):
        self.name, self.seconds = name, seconds

    def __enter__(self):
        with WATCHDOG.lock:
            self.saved = (WATCHDOG.deadline, WATCHDOG.name)
            WATCHDOG.deadline = time.monotonic() + self.seconds
            WATCHDOG.name = self.name
        return self

    def __exit__(self, *exc):
        with WATCHDOG.lock:
            WATCHDOG.deadline, WATCHDOG.name = self.saved
        return False


def on_timeout_cleanup(fn):
    """Registers an out-of-band cleanup (e.g. resume WAL replay) that runs even when the watchdog fires."""
    WATCHDOG.cleanups.append(fn)


# ---------------------------------------------------------------- helpers

def fail(msg):
    FAILURES.append(msg)


def check(cond, what, detail="", quiet=False):
    if not quiet:
        CHECKED.append(what)
    if not cond:
        fail(f"{what}" + (f" ({detail})" if detail else ""))
    return cond


def dsn(port, db="bench"):
    return f"host=127.0.0.1 port={port} dbname={db} user=postgres connect_timeout=10 application_name={APP}"


def apg_connect(port, db="bench"):
    return asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=db,
                           server_settings={"application_name": APP})


def pg3(port, db="bench", autocommit=True):
    """A psycopg 3 connection (its waits are bounded by the enclosing step)."""
    return psycopg.connect(dsn(port, db), autocommit=autocommit)


def direct(sql, params=None, node_port=None, db="bench"):
    """Runs SQL straight on PostgreSQL (the primary unless node_port), bounded by statement/lock timeouts."""
    port = node_port or ARGS.direct_port
    with psycopg.connect(dsn(port, db), autocommit=True) as c:
        c.execute("set statement_timeout = '10s'")
        cur = c.execute(sql, params)
        return cur.fetchall() if cur.description else None


def direct_lock_check(table, what, timeout="5s"):
    """On the primary: `lock table` with lock_timeout must succeed (no backend poold holds keeps a lock on it)."""
    t0 = time.monotonic()
    with step(f"direct lock on {table}", 15):
        try:
            with psycopg.connect(dsn(ARGS.direct_port), autocommit=True) as c:
                c.execute(f"set lock_timeout = '{timeout}'")
                with c.transaction():
                    c.execute(f"lock table {table} in access exclusive mode")
            ok, detail = True, ""
        except psycopg.errors.LockNotAvailable as e:
            ok, detail = False, f"lock_timeout {timeout}: {first_line(e)}; holders: {holders(table)}"
    check(ok, what, detail)
    return time.monotonic() - t0


def holders(table):
    """Backends on the primary holding a lock on `table`, for failure messages."""
    try:
        rows = direct("""select a.pid, a.state, l.mode, left(a.query, 60), a.client_port
                           from pg_locks l join pg_stat_activity a using (pid)
                          where l.relation = %s::regclass and a.pid <> pg_backend_pid()""", (table,))
        return "; ".join(f"pid {r[0]} {r[1]} {r[2]} client_port {r[4]} query {r[3]!r}" for r in rows) or "none"
    except Exception as e:
        return f"(could not list: {first_line(e)})"


def activity(where="true", node_port=None):
    """This run's backends (by application_name) on a node, other than the asking one."""
    rows = direct(f"""select pid, state, left(query, 60), client_port from pg_stat_activity
                       where backend_type = 'client backend' and pid <> pg_backend_pid()
                         and application_name = %s and {where}""", (APP,), node_port=node_port)
    return rows


def settled(what):
    """Once this run's clients are gone: within 10 s no backend of this run, on any node, is active or inside a
    transaction (a backend poold keeps must be idle in its pool)."""
    ports = [ARGS.direct_port] + standby_ports()
    bad = {}
    with step(f"backends settle ({what})", 15):
        deadline = time.monotonic() + BOUND
        while True:
            bad = {}
            for port in ports:
                try:
                    rows = activity("state <> 'idle'", node_port=port)
                except psycopg.OperationalError:
                    continue  # a node that is down does not count
                if rows:
                    bad[port] = rows
            if not bad or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    check(not bad, f"{what}: no backend active or in a transaction 10 s after the clients left",
          "; ".join(f"port {p}: " + ", ".join(f"pid {r[0]} {r[1]} {r[2]!r}" for r in rows) for p, rows in bad.items()))


def first_line(e):
    return str(e).strip().split("\n")[0]


def standby_ports():
    if ARGS.standby_ports:
        return [int(p) for p in ARGS.standby_ports.split(",") if p]
    return [ARGS.direct_port + 1, ARGS.direct_port + 2]


def wait_replayed(what="setup"):
    """Waits (bounded) until every standby has replayed the primary's current WAL position."""
    lsn = direct("select pg_current_wal_lsn()::text")[0][0]
    with step(f"standbys replay the {what}", 15):
        for port in standby_ports():
            while True:
                try:
                    done = direct("select pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,), node_port=port)[0][0]
                except psycopg.OperationalError:
                    done = True  # a standby that is down does not count
                if done:
                    break
                time.sleep(0.05)


def fresh_table(name, ddl):
    direct(f"drop table if exists {name} cascade")
    direct(f"create table {name} {ddl}")


def drop_quietly(table):
    """Cleanup: drop a scenario's table if it can within 5 s (a failure was already reported by a check)."""
    try:
        direct(f"set lock_timeout = '5s'; drop table if exists {table}")
    except psycopg.Error:
        pass


def uniq(base):
    return f"{base}_{os.getpid()}"


# ---------------------------------------------------------------- scenarios

def notify_pid():
    ch = uniq("drv_ch")
    with step("connect A and B through poold"):
        a, b = pg3(ARGS.port), pg3(ARGS.port)
    with step("LISTEN / NOTIFY"):
        a.execute(f"listen {ch}")
        b.execute(f"notify {ch}, 'hello'")
    with step("A receives the notification", 12):
        got = list(a.notifies(timeout=BOUND, stop_after=1))
    if check(len(got) == 1, "A received the notification", "none within 10 s"):
        check(got[0].pid == b.info.backend_pid, "Notify.pid == notifier B.info.backend_pid",
              f"notify pid {got[0].pid}, B.info.backend_pid {b.info.backend_pid}")
    primary_pids = {r[0] for r in direct("select pid from pg_stat_activity where backend_type = 'client backend'")}
    for name, c in (("A", a), ("B", b)):
        with step(f"{name}: select pg_backend_pid()"):
            server_pid = c.execute("select pg_backend_pid()").fetchone()[0]
        check(c.info.backend_pid == server_pid, f"{name}.info.backend_pid == select pg_backend_pid()",
              f"info.backend_pid {c.info.backend_pid}, pg_backend_pid() {server_pid}")
        check(c.info.backend_pid in primary_pids, f"{name}.info.backend_pid is a backend on the primary",
              f"{c.info.backend_pid} not among the primary's client backends")
    a.close()
    b.close()


def _terminate(port, busy):
    """A is terminated by B (idle, or busy in pg_sleep). Returns (terminated, exception class, message, broken)."""
    a, b = pg3(port), pg3(port)
    res = {}

    def run():
        try:
            a.execute("select pg_sleep(5)" if busy else "select 1")
            res["exc"] = None
        except Exception as e:  # noqa: BLE001 — we report whatever the driver raises
            res["exc"] = e

    if busy:
        t = threading.Thread(target=run, daemon=True)
        t.start()
        time.sleep(0.5)
    terminated = b.execute("select pg_terminate_backend(%s)", (a.info.backend_pid,)).fetchone()[0]
    if busy:
        t.join(BOUND)
        if t.is_alive():
            return terminated, "still running after 10 s", "", a.broken
    else:
        time.sleep(0.3)
        run()
    b.close()
    exc = res.get("exc")
    out = (terminated, type(exc).__name__ if exc else "no error", str(exc) if exc else "", a.broken)
    a.close()
    return out


def terminate_backend():
    for busy in (False, True):
        label = "busy" if busy else "idle"
        with step(f"reference run directly on PostgreSQL ({label})", 15):
            ref = _terminate(ARGS.direct_port, busy)
        with step(f"pg_terminate_backend(A.info.backend_pid) through poold ({label})", 15):
            got = _terminate(ARGS.port, busy)
        check(got[0] is True, f"{label}: pg_terminate_backend(A.info.backend_pid) returns true",
              f"returned {got[0]} — the pid is not a real backend")
        check(got[1] == ref[1], f"{label}: A's next statement raises {ref[1]} as it does directly",
              f"got {got[1]}: {first_line(got[2])!r}")
        check("terminating connection due to administrator command" in got[2],
              f"{label}: the error says 'terminating connection due to administrator command' (57P01)",
              f"got {got[1]}: {first_line(got[2])!r}")
        check(got[3] == ref[3], f"{label}: A.broken is {ref[3]} as directly", f"A.broken {got[3]}")


def copy_abandoned_execute():
    t = uniq("drv_copy_exec")
    fresh_table(t, "(a int)")
    wait_replayed()
    with step("cursor.execute('copy … from stdin') through poold, then close"):
        c = pg3(ARGS.port, autocommit=False)
        try:
            c.execute(f"copy {t} from stdin")
            fail("execute('copy from stdin') did not raise ProgrammingError")
        except psycopg.ProgrammingError:
            pass
        c.close()
    direct_lock_check(t, "after the client closed mid-COPY, the table is not locked (the backend left COPY)")
    with step("drop table on the primary"):
        drop_quietly(t)


def copy_abandoned_block():
    t = uniq("drv_copy_blk")
    fresh_table(t, "(a int)")
    wait_replayed()
    with step("an exception inside cursor.copy() through poold, then close"):
        c = pg3(ARGS.port, autocommit=False)
        try:
            with c.cursor() as cur:
                with cur.copy(f"copy {t} from stdin") as cp:
                    cp.write_row((1,))
                    raise RuntimeError("boom")
        except RuntimeError:
            pass
        except psycopg.Error as e:
            fail(f"the copy block raised {type(e).__name__} instead of the RuntimeError: {first_line(e)}")
        c.close()
    direct_lock_check(t, "after an exception in a copy() block and close, the table is not locked")
    with step("drop table on the primary"):
        drop_quietly(t)


def _results(pgconn):
    out = []
    while True:
        r = pgconn.get_result()
        if r is None:
            return out
        out.append(r.status)


def copy_extended():
    t = uniq("drv_copy_ext")
    fresh_table(t, "(a int)")
    wait_replayed()
    with step("COPY FROM STDIN via the extended protocol through poold (PQsendQueryParams)"):
        c = pg3(ARGS.port)
        pg = c.pgconn
        pg.send_query_params(f"copy {t} from stdin".encode(), None)
        r = pg.get_result()
        check(r is not None and r.status == pq.ExecStatus.COPY_IN, "the extended COPY starts (COPY_IN)",
              f"got {pq.ExecStatus(r.status).name if r else None}: {r.error_message.decode(errors='replace') if r else ''}")
        for i in range(3):
            pg.put_copy_data(f"{i}\n".encode())
        pg.put_copy_end()
        statuses = _results(pg)
        check(statuses == [pq.ExecStatus.COMMAND_OK], "the extended COPY completes with one COMMAND_OK",
              f"results {[pq.ExecStatus(s).name for s in statuses]}")
    with step("a normal query on the same connection after the extended COPY (reply accounting)"):
        v = c.execute(f"select count(*) from {t}").fetchone()[0]
        check(v == 3, "the next query on the connection answers", f"count {v}")
        v = c.execute("select 42").fetchone()[0]
        check(v == 42, "and the one after it")
    c.close()
    with step("extended COPY abandoned mid-copy (close without CopyDone) through poold"):
        c = pg3(ARGS.port)
        pg = c.pgconn
        pg.send_query_params(f"copy {t} from stdin".encode(), None)
        r = pg.get_result()
        check(r is not None and r.status == pq.ExecStatus.COPY_IN, "the second extended COPY starts")
        pg.put_copy_data(b"7\n")
        pg.flush()
        c.close()
    direct_lock_check(t, "after a client closed mid extended-COPY, the table is not locked")
    with step("drop table on the primary"):
        drop_quietly(t)


PIPELINE_KINDS = {
    "same": "5 executions of one prepared insert",
    "distinct": "5 distinct prepared inserts (a Parse each)",
    "executemany": "executemany (psycopg pipelines it)",
    "fetching": "each insert … returning fetched inside the pipeline (Flush requests)",
    "libpq": "libpq pipeline mode: PQsendPrepare, 5 PQsendQueryPrepared, PQpipelineSync",
    "libpq_late_sync": "libpq pipeline mode, Flush, the error read, then PQpipelineSync",
}


def _libpq_pipeline(c, table, late_sync):
    """Low-level libpq pipeline; returns the result statuses up to PIPELINE_SYNC, or raises on an error."""
    pg = c.pgconn
    pg.enter_pipeline_mode()
    pg.send_prepare(b"drv_ins", f"insert into {table} (k) values ($1)".encode())
    for v in (1, 2, 1, 3, 4):
        pg.send_query_prepared(b"drv_ins", [str(v).encode()])
    statuses = []

    def read_until(stop):
        while True:
            r = pg.get_result()
            if r is None:
                continue
            statuses.append(pq.ExecStatus(r.status).name)
            if r.status == stop:
                return

    if late_sync:
        pg.send_flush_request()
        pg.flush()
        read_until(pq.ExecStatus.FATAL_ERROR)
        time.sleep(0.2)
    pg.pipeline_sync()
    read_until(pq.ExecStatus.PIPELINE_SYNC)
    pg.exit_pipeline_mode()
    return statuses


def _pipeline(port, table, autocommit, kind):
    """Inserts 1, 2, 1, 3, 4 into a unique key in one pipeline (the 3rd violates it). Returns
    (error class, rows kept, result of select 1 afterwards)."""
    c = pg3(port, autocommit=autocommit)
    c.execute("set statement_timeout = '10s'")
    if not autocommit:
        c.commit()
    err = None
    values = (1, 2, 1, 3, 4)
    if kind.startswith("libpq"):
        err = ",".join(_libpq_pipeline(c, table, kind == "libpq_late_sync"))
        if not autocommit:
            c.rollback()
        after = c.execute("select 1").fetchone()[0]
        c.close()
        return err, [r[0] for r in direct(f"select k from {table} order by k")], after
    try:
        with c.pipeline():
            with c.cursor() as cur:
                if kind == "executemany":
                    cur.executemany(f"insert into {table} (k) values (%s)", [(v,) for v in values])
                for n, v in enumerate(values if kind != "executemany" else ()):
                    if kind == "same":
                        cur.execute(f"insert into {table} (k) values (%s)", (v,), prepare=True)
                    elif kind == "distinct":
                        cur.execute(f"insert into {table} (k) values (%s) /* {n} */", (v,), prepare=True)
                    else:
                        cur.execute(f"insert into {table} (k) values (%s) returning k", (v,), prepare=True)
                        cur.fetchone()
    except psycopg.Error as e:
        err = type(e).__name__
    if not autocommit:
        c.rollback()
    after = c.execute("select 1").fetchone()[0]
    c.close()
    rows = [r[0] for r in direct(f"select k from {table} order by k")]
    return err, rows, after


def pipeline_error():
    for kind, desc in PIPELINE_KINDS.items():
        for autocommit in (True, False):
            label = f"{kind}/{'autocommit' if autocommit else 'transaction'}"
            ref_t, t = uniq(f"drv_pipe_ref_{kind}_{int(autocommit)}"), uniq(f"drv_pipe_{kind}_{int(autocommit)}")
            for name in (ref_t, t):
                fresh_table(name, "(k int primary key)")
            wait_replayed()
            with step(f"reference pipeline directly on PostgreSQL ({label}: {desc})"):
                ref = _pipeline(ARGS.direct_port, ref_t, autocommit, kind)
            with step(f"pipeline with a mid-pipeline unique violation through poold ({label}: {desc}), then select 1"):
                got = _pipeline(ARGS.port, t, autocommit, kind)
            if kind.startswith("libpq"):
                check(got[0] == ref[0] and "FATAL_ERROR" in ref[0], f"{label}: the same results as directly",
                      f"through poold {got[0]}, directly {ref[0]}")
            else:
                check(got[0] == ref[0] == "UniqueViolation", f"{label}: the pipeline raises UniqueViolation",
                      f"through poold {got[0]}, directly {ref[0]}")
            check(got[2] == 1, f"{label}: select 1 on the same connection afterwards")
            check(got[1] == ref[1], f"{label}: the table keeps what PostgreSQL keeps directly",
                  f"through poold {got[1]}, directly {ref[1]}")
            for name in (ref_t, t):
                drop_quietly(name)


def asyncpg_prepared_drop():
    t1, t2 = uniq("drv_apg_tab"), uniq("drv_apg_tab2")

    async def bounded(coro, what):
        try:
            return await asyncio.wait_for(coro, BOUND)
        except asyncio.TimeoutError:
            fail(f"{what}: no answer within 10 s; primary activity: {activity()}")
            raise

    async def main():
        c1 = await bounded(apg_connect(ARGS.port),
                           "asyncpg connect")
        await bounded(c1.execute(f"drop table if exists {t1}; create table {t1} (v int)"), "create table")
        await bounded(c1.execute(f"insert into {t1} select g from generate_series(1, 5) g"), "insert")
        # The standbys replay the table first, so that this isolates the Flush-split batch (issue 9 item 5)
        # from read-your-writes (item 7, its own scenario).
        await asyncio.get_running_loop().run_in_executor(None, wait_replayed, "create table")
        for i in range(4):
            rows = await bounded(c1.fetch(f"select v from {t1}"), f"prepared fetch #{i + 1}")
            check(len(rows) == 5, f"prepared fetch #{i + 1} returns 5 rows", f"{len(rows)} rows")
            rows = await bounded(c1.fetch(f"select v from {t1} where v > $1", i), f"prepared fetch with a parameter #{i + 1}")
            check(len(rows) == 5 - i, f"prepared fetch with a parameter #{i + 1}", f"{len(rows)} rows", quiet=i > 0)
        # c1 is idle now (outside a transaction): it must hold no lock on the table, on the primary.
        await asyncio.get_running_loop().run_in_executor(
            None, direct_lock_check, t1, "an idle asyncpg connection after prepared fetches holds no lock on the table")
        await bounded(c1.execute(f"drop table {t1}"), "drop table from the same connection after prepared fetches")
        CHECKED.append("drop table from the same connection")
        # Again with a table dropped by another connection while the first one stays open.
        await bounded(c1.execute(f"create table {t1} (v int); insert into {t1} values (1)"), "create table again")
        await asyncio.get_running_loop().run_in_executor(None, wait_replayed, "create table")
        for i in range(3):
            await bounded(c1.fetch(f"select v from {t1}"), f"prepared fetch #{i + 1} (second table)")
        c3 = await bounded(apg_connect(ARGS.port), "asyncpg connect 3")
        await bounded(c3.execute(f"drop table {t1}"), "drop table from another connection while the first stays open")
        CHECKED.append("drop table from another connection")
        await bounded(c3.close(), "close 3")
        await bounded(c1.close(), "close")
        # A second connection: create, fetch at once, drop (the just-created-table pattern).
        c2 = await bounded(apg_connect(ARGS.port),
                           "asyncpg connect 2")
        await bounded(c2.execute(f"drop table if exists {t2}; create table {t2} (v int); "
                                 f"insert into {t2} values (1), (2)"), "create table 2")
        try:
            rows = await bounded(c2.fetch(f"select v from {t2}"), "fetch of a just-created table")
            check(len(rows) == 2, "fetch of a just-created table on a second connection", f"{len(rows)} rows")
        except asyncpg.PostgresError as e:
            fail(f"fetch of a just-created table on a second connection: {type(e).__name__}: {e}")
        await bounded(c2.execute(f"drop table {t2}"), "drop table 2")
        CHECKED.append("drop of the just-created table")
        await bounded(c2.close(), "close 2")

    with step("asyncpg create / prepared fetch / drop cycles", 60):
        try:
            asyncio.run(main())
        except asyncio.TimeoutError:
            pass
    for t in (t1, t2):
        drop_quietly(t)


def _child_lock():
    """Child of sigkill_in_transaction: lock a table in an open psycopg2 transaction, say so, sleep."""
    c = psycopg2.connect(dsn(ARGS.port))
    cur = c.cursor()
    cur.execute(f"select count(*) from {ARGS.table}")  # psycopg2 opened a transaction (BEGIN); a read
    cur.fetchone()
    cur.execute(f"lock table {ARGS.table} in access exclusive mode")
    print("locked", flush=True)
    time.sleep(60)


def sigkill_in_transaction():
    t = uniq("drv_kill_k")
    fresh_table(t, "(a int)")
    wait_replayed()
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_child_lock", "--port", str(ARGS.port),
                              "--direct-port", str(ARGS.direct_port), "--table", t, "--app", APP],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    on_timeout_cleanup(lambda: child.kill())
    try:
        with step("the child locks the table through poold"):
            line = child.stdout.readline().strip()
        if not check(line == "locked", "the child process took the lock through poold",
                     f"child said {line!r}: {child.stderr.read() if child.poll() is not None else ''}"):
            return
        os.kill(child.pid, signal.SIGKILL)  # only our own child, by its PID
        child.wait(5)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
    t0 = time.monotonic()
    direct_lock_check(t, "within 10 s of the client's SIGKILL the lock is gone", timeout="10s")
    CHECKED.append(f"lock released after {time.monotonic() - t0:.1f} s")
    drop_quietly(t)


def _use_database(db):
    """psycopg 3 and asyncpg each connect to db through poold, run a query, close."""
    with step(f"psycopg 3 uses {db} through poold"):
        c = pg3(ARGS.port, db=db)
        c.execute("select 1")
        c.close()

    async def apg():
        c = await apg_connect(ARGS.port, db)
        await c.fetch("select 1")
        await c.close()

    with step(f"asyncpg uses {db} through poold"):
        asyncio.run(asyncio.wait_for(apg(), BOUND))


def _wait_database_on_standbys(db, present=True):
    with step(f"standbys see database {db}", 15):
        for port in standby_ports():
            while True:
                try:
                    n = direct("select count(*) from pg_database where datname = %s", (db,), node_port=port)[0][0]
                except psycopg.OperationalError:
                    break
                if (n == 1) == present:
                    break
                time.sleep(0.05)


def drop_database():
    x, y, y2, z = (uniq(n) for n in ("d_drv_x", "d_drv_y", "d_drv_y2", "d_drv_z"))

    def cleanup():
        for db in (x, y, y2, z):
            try:
                direct(f"drop database if exists {db} with (force)", db="postgres")
            except Exception:
                pass

    on_timeout_cleanup(cleanup)
    cleanup()
    ctl = pg3(ARGS.port)
    ctl.execute("set statement_timeout = '10s'")

    def through_poold(sql, what):
        with step(what):
            try:
                ctl.execute(sql)
                return check(True, what)
            except psycopg.Error as e:
                users = direct("select datname, client_port, state from pg_stat_activity where datname in (%s, %s, %s)",
                               (x, y, y2), db="postgres")
                return check(False, what, f"{type(e).__name__}: {first_line(e)}; primary sessions {users}")

    try:
        through_poold(f"create database {x}", f"create database {x}")
        _wait_database_on_standbys(x)
        _use_database(x)
        through_poold(f"drop database {x}", "drop database after psycopg 3 and asyncpg sessions used it")
        through_poold(f"create database {y}", f"create database {y}")
        _wait_database_on_standbys(y)
        _use_database(y)
        if through_poold(f"alter database {y} rename to {y2}", "alter database … rename after sessions used it"):
            _wait_database_on_standbys(y2)
            _use_database(y2)
            through_poold(f"create database {z} template {y2}", "create database … template (a used database)")
    finally:
        ctl.close()
        cleanup()


def read_your_writes():
    t = uniq("drv_ryw")
    fresh_table(t, "(id int)")
    wait_replayed("create table")
    paused = []

    def resume():
        for port in paused:
            try:
                direct("select pg_wal_replay_resume()", node_port=port)
            except Exception:
                pass

    on_timeout_cleanup(resume)
    with step("warm-up reads of the table through poold"):
        c = pg3(ARGS.port)
        for _ in range(3):  # poold may ask the primary's catalog on a table's first read; later ones balance
            c.execute(f"select count(*) from {t}").fetchone()
            c.execute(f"select count(*) from {t} where id > %s", (0,), prepare=True).fetchone()
    try:
        for port in standby_ports():
            direct("select pg_wal_replay_pause()", node_port=port)
            paused.append(port)
        with step("insert 100 rows then count them on one autocommit connection through poold"):
            c.execute(f"insert into {t} select g from generate_series(1, 100) g")
            n = c.execute(f"select count(*) from {t}").fetchone()[0]
            check(n == 100, "select count(*) right after the session's own autocommit insert sees 100 rows",
                  f"saw {n}: the read went to a standby that had not replayed the insert")
            n2 = c.execute(f"select count(*) from {t} where id > %s", (0,), prepare=True).fetchone()[0]
            check(n2 == 100, "the same read as a prepared statement sees 100 rows", f"saw {n2}")
            with c.transaction():
                c.execute(f"insert into {t} values (0)")
            n3 = c.execute(f"select count(*) from {t}").fetchone()[0]
            check(n3 == 101, "a read after the session's committed write transaction sees it", f"saw {n3}")
            c.close()
    finally:
        resume()
    drop_quietly(t)


def isolation():
    from psycopg import IsolationLevel as IL
    cases = [(IL.REPEATABLE_READ, True), (IL.REPEATABLE_READ, False), (IL.SERIALIZABLE, True),
             (IL.SERIALIZABLE, False), (IL.READ_COMMITTED, True)]
    names = {IL.REPEATABLE_READ: "repeatable read", IL.SERIALIZABLE: "serializable",
             IL.READ_COMMITTED: "read committed"}
    for level, ro in cases:
        label = f"{names[level]}{' read only' if ro else ''}"
        with step(f"transaction {label} through poold"):
            c = pg3(ARGS.port, autocommit=False)
            c.isolation_level = level
            c.read_only = ro
            try:
                with c.transaction():
                    got = c.execute("select current_setting('transaction_isolation'), "
                                    "current_setting('transaction_read_only')").fetchone()
                    c.execute("select count(*) from pg_class").fetchone()
                    got2 = c.execute("select current_setting('transaction_isolation')").fetchone()[0]
                want = (names[level], "on" if ro else "off")
                check(got == want, f"{label}: transaction_isolation / transaction_read_only", f"saw {got}, want {want}")
                check(got2 == names[level], f"{label}: still {names[level]} later in the transaction", f"saw {got2}")
            except psycopg.Error as e:
                fail(f"{label}: {type(e).__name__}: {first_line(e)}")
            c.close()
    with step("server-side prepared statement listed in pg_prepared_statements"):
        c = pg3(ARGS.port)
        for _ in range(2):
            c.execute("select %s::int + 1", (1,), prepare=True)
        names_ = [r[0] for r in c.execute("select name from pg_prepared_statements").fetchall()]
        check(any(n.startswith("_pg3_") for n in names_),
              "select name from pg_prepared_statements lists psycopg's prepared statement", f"saw {names_}")
        c.close()


def _wait_async(conn):
    deadline = time.monotonic() + BOUND
    import select
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("async psycopg2 connection: no progress within 10 s")
        if state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], 1)
        else:
            select.select([conn.fileno()], [], [], 1)


def psycopg2_workload():
    t = uniq("drv_p2w")
    fresh_table(t, "(id int primary key, v text)")
    direct(f"insert into {t} select g, 'v' || g from generate_series(1, 200) g")
    wait_replayed()
    iterations = 20
    with step("psycopg2 workload through poold", 90):
        for i in range(iterations):
            # Named (server-side) cursor: DECLARE "foo" CURSOR …, FETCH FORWARD; closed or not.
            c = psycopg2.connect(dsn(ARGS.port))
            cur = c.cursor("foo")
            cur.itersize = 7
            cur.execute(f"select id, v from {t} order by id")
            cur.fetchone()
            cur.fetchmany(5)
            if i % 3 == 0:
                c.close()  # mid-cursor, inside the transaction
            elif i % 3 == 1:
                cur.close()
                c.commit()
                c.close()
            else:
                c.cursor().execute("select 1")
                c.close()  # idle in transaction
            # A transaction that fails, left without rollback.
            c = psycopg2.connect(dsn(ARGS.port))
            cur = c.cursor()
            cur.execute(f"select v from {t} where id = %s", (i + 1,))
            try:
                cur.execute(f"insert into {t} values (%s, 'dup')", (i + 1,))
            except psycopg2.errors.UniqueViolation:
                pass
            c.close()  # idle in transaction (aborted)
            # Async connection: a query answered, then one abandoned mid-flight.
            a = psycopg2.connect(dsn(ARGS.port), async_=1)
            _wait_async(a)
            acur = a.cursor()
            acur.execute(f"select count(*) from {t}")
            _wait_async(a)
            n = acur.fetchone()[0]
            if not check(n == 200, f"iteration {i}: async count", f"saw {n}", quiet=True):
                break
            acur.execute("select pg_sleep(0.2)")
            a.close()
            # A plain autocommit transaction with a write, then close inside the next BEGIN.
            c = psycopg2.connect(dsn(ARGS.port))
            cur = c.cursor()
            cur.execute(f"update {t} set v = v where id = %s", (i + 1,))
            c.commit()
            cur.execute("select 1")
            c.close()
    CHECKED.append(f"{iterations} iterations of named cursors, async connections, closes inside transactions")
    drop_quietly(t)


SCENARIOS = {f.__name__: f for f in (notify_pid, terminate_backend, copy_abandoned_execute, copy_abandoned_block,
                                     copy_extended, pipeline_error, asyncpg_prepared_drop, sigkill_in_transaction,
                                     drop_database, read_your_writes, isolation, psycopg2_workload)}


def _transaction_scenarios():
    """pool_mode = transaction scenarios live in transaction_scenarios.py (they import this module)."""
    sys.modules.setdefault("scenarios", sys.modules[__name__])
    import transaction_scenarios
    return {f.__name__: f for f in transaction_scenarios.SCENARIOS}


SCENARIOS.update(_transaction_scenarios())


def main():
    global ARGS, SCENARIO, WATCHDOG, APP
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", choices=sorted(SCENARIOS) + ["list", "_child_lock"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--direct-port", type=int)
    ap.add_argument("--standby-ports", default="")
    ap.add_argument("--table", default="")
    ap.add_argument("--app", default="drv")
    ARGS = ap.parse_args()
    if ARGS.scenario == "list":
        print("\n".join(SCENARIOS))
        return 0
    if ARGS.scenario == "_child_lock":
        APP = ARGS.app
        _child_lock()
        return 0
    if ARGS.port is None or ARGS.direct_port is None:
        ap.error("--port and --direct-port are required")
    SCENARIO = ARGS.scenario
    APP = f"drv-{SCENARIO}-{os.getpid()}"
    WATCHDOG = _Watchdog()
    t0 = time.monotonic()
    try:
        SCENARIOS[SCENARIO]()
    except Exception as e:  # noqa: BLE001 — an unexpected error is a failure with its reason
        fail(f"unexpected {type(e).__name__}: {first_line(e)}")
    settled("at the end")
    took = time.monotonic() - t0
    if FAILURES:
        sys.stderr.write(f"FAIL {SCENARIO} ({took:.1f} s): " + "; ".join(FAILURES) + "\n")
        return 1
    print(f"ok {SCENARIO} ({took:.1f} s): " + "; ".join(CHECKED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
