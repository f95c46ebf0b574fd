"""pool_mode = transaction scenarios (issue 13), run through scenarios.py: poold is started with a
transaction_pool_size smaller than the number of clients, so every client's transactions land on backends
other clients used before, with other clients' prepared statements of the same names on them."""
import asyncio
import threading

import asyncpg
import psycopg

import scenarios as s

CLIENTS = 6
ROUNDS = 40


def _poold_backends():
    """This run's backend connections on every node (poold passes the client's application_name on)."""
    n = 0
    for port in [s.ARGS.direct_port] + s.standby_ports():
        n += len(s.activity(node_port=port))
    return n


def txn_psycopg3_prepared():
    t = s.uniq("drv_txn_pg3")
    s.fresh_table(t, "(id int primary key, v text)")
    s.direct(f"insert into {t} select g, 'v' || g from generate_series(1, 100) g")
    s.wait_replayed("table")
    errors, peak = [], [0]
    lock = threading.Lock()

    def client(k):
        try:
            c = psycopg.connect(s.dsn(s.ARGS.port), autocommit=True, prepare_threshold=0)
            # SQL-level PREPARE, once; every client uses the same name for a different text, so a backend that
            # served another client holds "another" drv_sql_stmt.
            c.execute(f"prepare drv_sql_stmt (int) as select {k} * 1000 + $1")
            for r in range(ROUNDS):
                got = c.execute(f"execute drv_sql_stmt ({r})").fetchone()[0]
                if got != k * 1000 + r:
                    errors.append(f"client {k}: EXECUTE of its own PREPARE gave {got}")
                # Four statements, each prepared by psycopg as _pg3_N on whatever backend serves it; the
                # numbering differs per client, so the same name means other texts on other clients.
                order = [0, 1, 2, 3] if k % 2 == 0 else [3, 2, 1, 0]
                for q in order:
                    if q == 0:
                        got = c.execute(f"select v from {t} where id = %s", ((k + r) % 100 + 1,)).fetchone()[0]
                        if got != f"v{(k + r) % 100 + 1}":
                            errors.append(f"client {k}: wrong row {got}")
                    elif q == 1:
                        got = c.execute(f"select count(*)::int from {t} where id <= %s", (k + 1,)).fetchone()[0]
                        if got != k + 1:
                            errors.append(f"client {k}: count {got}")
                    elif q == 2:
                        got = c.execute("select %s::text || %s::int", (f"c{k}", r)).fetchone()[0]
                        if got != f"c{k}{r}":
                            errors.append(f"client {k}: concat {got}")
                    else:
                        with c.transaction():
                            c.execute(f"update {t} set v = v where id = %s", (k + 1,))
                            got = c.execute(f"select v from {t} where id = %s", (k + 1,)).fetchone()[0]
                            if got != f"v{k + 1}":
                                errors.append(f"client {k}: in transaction {got}")
                if r % 10 == 0:
                    with lock:
                        peak[0] = max(peak[0], _poold_backends())
            c.execute("deallocate drv_sql_stmt")
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(f"client {k}: {type(e).__name__}: {s.first_line(e)}")

    with s.step(f"{CLIENTS} psycopg 3 clients, prepare_threshold=0, {ROUNDS} rounds each", 60):
        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    s.check(not errors, f"{CLIENTS} psycopg 3 clients with prepare_threshold=0 and SQL PREPARE/EXECUTE/DEALLOCATE "
            "sharing fewer backends: 0 errors",
            "; ".join(errors[:5]))
    s.check(0 < peak[0] < 3 * CLIENTS, f"backends in use stay below the clients' count × nodes (peak {peak[0]})",
            f"peak {peak[0]}")
    s.drop_quietly(t)


def txn_asyncpg_cache():
    t = s.uniq("drv_txn_apg")
    s.fresh_table(t, "(id int primary key, v int)")
    s.direct(f"insert into {t} select g, g * 10 from generate_series(1, 50) g")
    s.wait_replayed("table")
    errors = []

    async def client(k):
        c = await s.apg_connect(s.ARGS.port)
        try:
            for r in range(ROUNDS):
                v = await c.fetchval(f"select v from {t} where id = $1", (k + r) % 50 + 1)
                if v != ((k + r) % 50 + 1) * 10:
                    errors.append(f"client {k}: v {v}")
                n = await c.fetchval(f"select count(*) from {t} where v > $1", 100 * k)
                if n != max(0, 50 - 10 * k):
                    errors.append(f"client {k}: n {n}")
                async with c.transaction():
                    await c.execute(f"update {t} set v = v where id = $1", k + 1)
                    w = await c.fetchval(f"select v + $2 from {t} where id = $1", k + 1, r)
                    if w != (k + 1) * 10 + r:
                        errors.append(f"client {k}: w {w}")
        except Exception as e:  # noqa: BLE001
            errors.append(f"client {k}: {type(e).__name__}: {s.first_line(e)}")
        finally:
            await c.close()

    async def all_clients():
        await asyncio.gather(*(client(k) for k in range(CLIENTS)))

    with s.step(f"{CLIENTS} asyncpg clients with their statement caches, {ROUNDS} rounds each", 60):
        asyncio.run(all_clients())
    s.check(not errors, f"{CLIENTS} asyncpg clients (statement cache on) sharing fewer backends: 0 errors",
            "; ".join(errors[:5]))
    s.drop_quietly(t)


def _pool_pools(c):
    """SHOW pool_pools rows as dicts."""
    cur = c.execute("show pool_pools")
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def txn_pinning():
    t = s.uniq("drv_txn_pin")
    with s.step("pinning statements through poold", 30):
        plain = psycopg.connect(s.dsn(s.ARGS.port), autocommit=True)
        plain.execute("select 1")
        cases = {}
        for reason, sql in (("SET", "set search_path = public, pg_catalog"), ("LISTEN", "listen drv_txn_channel"),
                            ("temporary object", f"create temp table {t} (id int)"),
                            ("advisory lock", "select pg_advisory_lock(4242)")):
            c = psycopg.connect(s.dsn(s.ARGS.port), autocommit=True)
            c.execute(sql)
            cases[reason] = c
        local = psycopg.connect(s.dsn(s.ARGS.port), autocommit=True)
        with local.transaction():
            local.execute("set local work_mem = '8MB'")
        rows = _pool_pools(plain)
        pins = {}
        for r in rows:
            if r.get("pinned"):
                pins.setdefault(r["pool_pid"], r["pinned"])
        shown = sorted(set(pins.values()))
        s.check(shown == sorted(cases), "SHOW pool_pools shows each pinned session with its reason, and only those",
                f"pinned column values {shown}")
        # A pinned session keeps its backend: its temp table and its SET live across transactions.
        n = cases["temporary object"].execute(f"select count(*) from {t}").fetchone()[0]
        s.check(n == 0, "a session pinned by its temp table still sees the table in a later transaction")
        sp = cases["SET"].execute("show search_path").fetchone()[0]
        s.check(sp == "public, pg_catalog", "a session pinned by SET keeps its setting", f"search_path {sp}")
        cases["advisory lock"].execute("select pg_advisory_unlock(4242)")
        for c in list(cases.values()) + [plain, local]:
            c.close()


def txn_cancel():
    """A cancel reaches the backend running the client's statement, not one it used before."""
    with s.step("cancel a pg_sleep in transaction mode", 30):
        c = psycopg.connect(s.dsn(s.ARGS.port), autocommit=True)
        c.execute("select 1")
        timer = threading.Timer(1.0, c.cancel)
        timer.start()
        try:
            c.execute("select pg_sleep(8)")
            s.check(False, "a cancel stops the client's pg_sleep", "the statement ran to its end")
        except psycopg.errors.QueryCanceled:
            s.check(True, "a cancel stops the client's pg_sleep")
        got = c.execute("select 42").fetchone()[0]
        s.check(got == 42, "the session works after its cancel")
        c.close()


SCENARIOS = [txn_psycopg3_prepared, txn_asyncpg_cache, txn_pinning, txn_cancel]
