#!/usr/bin/env python3
"""poold benchmark: pgbench against direct PostgreSQL, poold, PgBouncer (session and transaction mode) and
Pgpool-II (Debian packages), interleaved in one run on one loopback cluster (primary + 2 standbys).

Prints per workload and target: TPS, average latency, ratio to direct, and proxy CPU seconds per 10,000
transactions (utime+stime of the proxy's process tree from /proc); then poold's RSS per idle client; then the
same run as issue 13's table (TPS with CPU µs per transaction, one column per proxy) and its targets, met or
missed (bench/summary.py).
Everything runs on 127.0.0.1 and is stopped by PID at the end. Run as root (servers run as `postgres`).

    python3 bench/bench.py [--duration 10] [--rounds 1] [--idle 2000] [--only S16s,S16p]
"""
import argparse, asyncio, os, re, shutil, signal, statistics, struct, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import summary  # noqa: E402  (bench/summary.py: the issue-shaped table and the targets)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "/tmp/poold-bench"
PG, POOLD, PGB, PGPOOL, PCP, POOLD_NOLB = 35432, 36432, 36433, 36434, 36435, 36436
POOLD_RYW_OFF, POOLD_BASE, POOLD_TX = 36437, 36438, 36439
HZ = os.sysconf("SC_CLK_TCK")
started = []  # Popen objects we own


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return r


def as_pg(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


def start_pgbouncer(d, port, databases, settings, open_files=None):
    """Writes pgbouncer.ini (trust auth, loopback, the log in `d`) and starts Debian's PgBouncer as postgres."""
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    lines = ["[databases]", *databases, "[pgbouncer]", "listen_addr = 127.0.0.1", f"listen_port = {port}",
             "unix_socket_dir =", "auth_type = trust", f"auth_file = {d}/userlist.txt", f"logfile = {d}/pgbouncer.log",
             *settings]
    with open(f"{d}/pgbouncer.ini", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(f"{d}/userlist.txt", "w") as f:
        f.write('"postgres" ""\n')
    limit = f"ulimit -n {open_files}; " if open_files else ""
    return subprocess.Popen(as_pg(["sh", "-c", f"{limit}exec pgbouncer {d}/pgbouncer.ini"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def psql(port, sql, db="postgres"):
    return run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-c", sql]).stdout.strip()


def wait_port(port, db="bench", timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-c", "select 1"], check=False)
        if r.returncode == 0:
            return
        time.sleep(0.2)
    sys.exit(f"bench: nothing answers on port {port}")


def tree_cpu(pid):
    """utime+stime (+ reaped children) of pid and all its live descendants, in seconds."""
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
                fields = s[s.rindex(")") + 2:].split()
                stats[int(d)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
            except (OSError, ValueError):
                pass
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen or p not in stats:
            continue
        seen.add(p)
        total += stats[p][1]
        todo += [c for c, (pp, _) in stats.items() if pp == p]
    return total / HZ


def steal_ticks():
    """(steal, total) jiffies of all CPUs from /proc/stat: the hypervisor's share a run lost."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[7], sum(fields[:8])


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def setup(args):
    os.makedirs(BASE, exist_ok=True)
    os.chmod(BASE, 0o777)
    # Session-mode poold's idle clients each hold a primary backend (and a standby's), on top of what the other
    # proxies still cache from the workloads: room for all of them.
    env = dict(os.environ, MAX_CONNECTIONS=str(max(400, args.idle + 1000)), SHARED_BUFFERS="256MB")
    print("bench: starting cluster", flush=True)
    # a fresh cluster each run: max_connections is fixed at initdb time by the script
    run(["bash", f"{ROOT}/scripts/pgcluster.sh", "destroy", f"{BASE}/pg"], check=False)
    run(["bash", f"{ROOT}/scripts/pgcluster.sh", "up", f"{BASE}/pg", str(PG)], env=env)
    if psql(PG, "select count(*) from pg_database where datname = 'bench'") == "0":
        psql(PG, "create database bench")
        run(["pgbench", "-i", "-s", str(args.scale), "-q", "-h", "127.0.0.1", "-p", str(PG), "-U", "postgres", "bench"])
    for i in range(3):
        psql(PG + i, "create extension if not exists pg_prewarm", db="bench") if i == 0 else None
        psql(PG + i, "select pg_prewarm('pgbench_accounts'), pg_prewarm('pgbench_accounts_pkey')", db="bench")

    binary = f"{ROOT}/.build/release/poold"
    if not os.path.exists(binary):
        print("bench: building poold (release)", flush=True)
        run(["swift", "build", "-c", "release", "--product", "poold"], cwd=ROOT)
    d = f"{BASE}/poold"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/pgpool.conf", "w") as f:
        f.write(f"""listen_addresses = '127.0.0.1'
port = {POOLD}
unix_socket_directories = '{d}'
pcp_listen_addresses = ''
pcp_socket_dir = '{d}'
pid_file_name = '{d}/poold.pid'
logdir = '{d}'
num_init_children = {max(250, args.idle + 50)}
max_pool = 1
io_threads = {args.io_threads}
log_min_messages = warning
sr_check_period = 5
sr_check_user = 'postgres'
""" + "".join(f"backend_hostname{i} = '127.0.0.1'\nbackend_port{i} = {PG + i}\nbackend_application_name{i} = 'node{i}'\n"
              for i in range(3)))
    started.append(("poold", subprocess.Popen([binary, "-f", f"{d}/pgpool.conf", "-n"],
                                              stdout=open(f"{d}/poold.log", "w"), stderr=subprocess.STDOUT)))
    def variant(name, port, extra="", exe=binary):
        """Another poold with `poold`'s settings on `port`, plus `extra` lines, from binary `exe`."""
        dv = f"{BASE}/{name}"
        os.makedirs(dv, exist_ok=True)
        with open(f"{d}/pgpool.conf") as src, open(f"{dv}/pgpool.conf", "w") as f:
            f.write(src.read().replace(f"port = {POOLD}", f"port = {port}").replace(d, dv) + extra)
        started.append((name, subprocess.Popen([exe, "-f", f"{dv}/pgpool.conf", "-n"],
                                               stdout=open(f"{dv}/poold.log", "w"), stderr=subprocess.STDOUT)))
    # Load balancing off: every statement is still classified, all go to the primary.
    variant("poold-nolb", POOLD_NOLB, "load_balance_mode = off\n")
    # read_your_writes = off (Pgpool-II's routing): what read-your-writes costs.
    variant("poold-ryw-off", POOLD_RYW_OFF, "read_your_writes = off\n")
    # pool_mode = transaction with PgBouncer's transaction pool size (16 backends on the primary), load
    # balancing off so both pools serve from the same one server.
    variant("poold-tx", POOLD_TX, "pool_mode = transaction\ntransaction_pool_size = 16\nload_balance_mode = off\n")
    # An earlier poold build (--baseline), same settings as `poold`: before/after in one run.
    if args.baseline:
        variant("poold-base", POOLD_BASE, exe=args.baseline)

    started.append(("pgbouncer", start_pgbouncer(f"{BASE}/pgbouncer", PGB, [
        f"bench_sess = host=127.0.0.1 port={PG} dbname=bench pool_mode=session pool_size=80",
        f"bench_tx = host=127.0.0.1 port={PG} dbname=bench pool_mode=transaction pool_size=16"], [
        f"max_client_conn = {args.idle + 500}", "default_pool_size = 80", "server_reset_query = DISCARD ALL",
        "admin_users = postgres"], open_files=args.idle + 1024)))

    d = f"{BASE}/pgpool"
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    with open(f"{d}/pgpool.conf", "w") as f:
        f.write(f"""backend_clustering_mode = 'streaming_replication'
listen_addresses = '127.0.0.1'
port = {PGPOOL}
unix_socket_directories = '{d}'
pcp_listen_addresses = '127.0.0.1'
pcp_port = {PCP}
pcp_socket_dir = '{d}'
pid_file_name = '{d}/pgpool.pid'
logdir = '{d}'
num_init_children = 68
max_pool = 1
load_balance_mode = on
sr_check_period = 5
sr_check_user = 'postgres'
health_check_period = 5
health_check_user = 'postgres'
health_check_max_retries = 2
enable_pool_hba = on
pool_passwd = 'pool_passwd'
log_min_messages = warning
""" + "".join(f"backend_hostname{i} = '127.0.0.1'\nbackend_port{i} = {PG + i}\nbackend_weight{i} = 1\n"
              f"backend_application_name{i} = 'node{i}'\n" for i in range(3)))
    with open(f"{d}/pool_hba.conf", "w") as f:
        f.write("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    with open(f"{d}/pool_passwd", "w") as f:
        f.write("postgres:TEXTpostgres\n")
    with open(f"{d}/pcp.conf", "w") as f:
        f.write("pcpadmin:" + run(["pg_md5", "pcpadmin"]).stdout.strip() + "\n")
    for n in os.listdir(d):
        shutil.chown(f"{d}/{n}", "postgres") if os.geteuid() == 0 else None
    started.append(("pgpool", subprocess.Popen(as_pg(["pgpool", "-n", "-D", "-f", f"{d}/pgpool.conf", "-F", f"{d}/pcp.conf",
                                                      "-a", f"{d}/pool_hba.conf"]),
                                               stdout=open(f"{d}/pgpool.log", "w"), stderr=subprocess.STDOUT)))
    wait_port(POOLD)
    wait_port(POOLD_NOLB)
    wait_port(POOLD_RYW_OFF)
    wait_port(POOLD_TX)
    if args.baseline:
        wait_port(POOLD_BASE)
    wait_port(PGB, db="bench_sess")
    wait_port(PGPOOL)


def proxy_pid(name):
    for n, p in started:
        if n == name:
            if name.startswith("poold"):
                return p.pid
            # runuser's child is the proxy itself
            kids = [int(x) for x in run(["pgrep", "-P", str(p.pid)], check=False).stdout.split()]
            return kids[0] if kids else p.pid
    return None


TARGETS = {
    "direct": (PG, "bench", None),
    "poold": (POOLD, "bench", "poold"),
    "poold-nolb": (POOLD_NOLB, "bench", "poold-nolb"),
    "poold-ryw-off": (POOLD_RYW_OFF, "bench", "poold-ryw-off"),
    "poold-base": (POOLD_BASE, "bench", "poold-base"),
    "poold-tx": (POOLD_TX, "bench", "poold-tx"),
    "pgbouncer-session": (PGB, "bench_sess", "pgbouncer"),
    "pgbouncer-tx": (PGB, "bench_tx", "pgbouncer"),
    "pgpool": (PGPOOL, "bench", "pgpool"),
}
WORKLOADS = {  # name: (pgbench args, clients)
    "S1s": (["-S", "-M", "simple"], 1), "S1p": (["-S", "-M", "prepared"], 1),
    "S16s": (["-S", "-M", "simple"], 16), "S16p": (["-S", "-M", "prepared"], 16),
    "S64s": (["-S", "-M", "simple"], 64), "S64p": (["-S", "-M", "prepared"], 64),
    "N16": (["-N", "-M", "simple"], 16), "C16": (["-S", "-C", "-M", "simple"], 16),
    # More clients than the transaction pools have backends (16): only transaction pooling serves them all at once.
    "S200s": (["-S", "-M", "simple"], 200), "S200p": (["-S", "-M", "prepared"], 200),
}


def bench_one(target, workload, duration):
    port, db, proxy = TARGETS[target]
    wargs, clients = WORKLOADS[workload]
    if workload.startswith("N"):
        psql(PG, "truncate pgbench_history; checkpoint", db="bench")
    pid = proxy_pid(proxy) if proxy else None
    cpu0 = tree_cpu(pid) if pid else 0
    st0 = steal_ticks()
    t0 = time.time()
    r = run(["pgbench", "-n", *wargs, "-c", str(clients), "-j", str(min(2, clients)), "-T", str(duration),
             "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", db], check=False)
    wall = time.time() - t0
    cpu = (tree_cpu(pid) - cpu0) if pid else 0
    st1 = steal_ticks()
    steal = (st1[0] - st0[0]) / max(1, st1[1] - st0[1])
    tps = re.search(r"tps = ([\d.]+)", r.stdout)
    lat = re.search(r"latency average = ([\d.]+) ms", r.stdout)
    txns = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    failed = r.returncode != 0 or not tps
    return {"tps": float(tps.group(1)) if tps else 0.0, "lat": float(lat.group(1)) if lat else 0.0,
            "txns": int(txns.group(1)) if txns else 0, "cpu": cpu, "wall": wall, "steal": steal, "failed": failed,
            "err": "" if not failed else (r.stderr.strip().splitlines() or ["?"])[-1][:80]}


async def idle_clients(port, db, n):
    """Opens n client sessions that log in and then sit idle; returns the writers to close later."""
    startup = b"\x00\x03\x00\x00user\x00postgres\x00database\x00" + db.encode() + b"\x00\x00"
    startup = struct.pack("!I", len(startup) + 4) + startup
    conns, sem = [], asyncio.Semaphore(32)

    async def one():
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(startup)
            buf = b""
            while True:
                chunk = await r.read(4096)
                if not chunk:
                    raise RuntimeError("closed during login")
                buf += chunk
                if b"Z\x00\x00\x00\x05" in buf:
                    break
            conns.append(w)
    await asyncio.gather(*[one() for _ in range(n)])
    return conns


def idle_rss(name, port, db, n):
    pid = proxy_pid(name)
    before = rss_kb(pid)
    loop = asyncio.new_event_loop()
    conns = loop.run_until_complete(idle_clients(port, db, n))
    time.sleep(2)
    after = rss_kb(pid)
    for w in conns:
        w.write(b"X\x00\x00\x00\x04")
        w.close()
    loop.run_until_complete(asyncio.sleep(1))
    loop.close()
    return before, after, (after - before) * 1024 / n


def stop_all():
    for name, p in reversed(started):
        if p.poll() is None:
            pid = proxy_pid(name)
            os.kill(pid, signal.SIGINT if name != "pgbouncer" else signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
    run(["bash", f"{ROOT}/scripts/pgcluster.sh", "down", f"{BASE}/pg"], check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--only", default="S1s,S1p,S16s,S16p,S64s,S64p,N16,C16")
    ap.add_argument("--targets", default=",".join(t for t in TARGETS if t != "poold-base"))
    ap.add_argument("--baseline", default="", help="an earlier poold binary, benchmarked as target poold-base")
    ap.add_argument("--io-threads", type=int, default=0, help="poold io_threads (0 = one per core)")
    args = ap.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        setup(args)
        targets = args.targets.split(",")
        results = {}
        workloads = [w for w in args.only.split(",") if w]
        for rnd in range(args.rounds):
            for wi, workload in enumerate(workloads):
                order = targets[(wi + rnd) % len(targets):] + targets[:(wi + rnd) % len(targets)]
                for target in order:
                    if target == "pgbouncer-tx" and workload.endswith("p"):
                        continue  # pgbouncer 1.18 transaction mode cannot run protocol-level prepared statements
                    if workload.startswith("S200") and target in ("pgpool", "poold-nolb", "poold-ryw-off", "poold-base"):
                        continue  # 200 clients exceed Pgpool-II's num_init_children (68): pgbench would wait forever
                    r = bench_one(target, workload, args.duration)
                    results.setdefault((workload, target), []).append(r)
                    print(f"  {workload:5} {target:18} tps {r['tps']:9.1f}  cpu {r['cpu']:6.2f}s  steal {100 * r['steal']:3.0f}%"
                          + (f"  FAILED {r['err']}" if r["failed"] else ""), flush=True)
        printed = []
        def emit(line):
            print(line, flush=True)
            printed.extend(line.splitlines())
        emit("\n| workload | target | TPS | avg latency ms | ratio to direct | proxy CPU s / 10k txn |")
        emit("|---|---|---:|---:|---:|---:|")
        for workload in workloads:
            direct = statistics.median([r["tps"] for r in results.get((workload, "direct"), [{"tps": 0}])])
            for target in targets:
                rs = [r for r in results.get((workload, target), []) if not r["failed"]]
                if not rs:
                    if (workload, target) in results:
                        emit(f"| {workload} | {target} | failed | | | |")
                    continue
                tps = statistics.median([r["tps"] for r in rs])
                lat = statistics.median([r["lat"] for r in rs])
                cpu = statistics.median([r["cpu"] / max(1, r["txns"]) * 10000 for r in rs])
                ratio = f"{tps / direct:.2f}x" if direct else "-"
                emit(f"| {workload} | {target} | {tps:.0f} | {lat:.2f} | {ratio} | "
                      + (f"{cpu:.3f}" if target != "direct" else "-") + " |")
        steals = sorted(r["steal"] for rs in results.values() for r in rs)
        if steals:
            # CPU the hypervisor gave to other guests during the pgbench runs: above a few percent, TPS and CPU
            # per transaction of this run are not comparable with a quiet run's (ratios within it still are).
            emit(f"\nsteal time during the runs: median {100 * statistics.median(steals):.0f} %, max {100 * steals[-1]:.0f} %")
        if args.idle > 0:
            before, after, per = idle_rss("poold", POOLD, "bench", args.idle)
            emit(f"\npoold RSS with {args.idle} idle clients: {before} kB -> {after} kB = {per / 1024:.1f} KB per idle client")
            before, after, per = idle_rss("poold-tx", POOLD_TX, "bench", args.idle)
            emit(f"poold pool_mode = transaction RSS with {args.idle} idle clients: {before} kB -> {after} kB = {per / 1024:.1f} KB per idle client")
            before, after, per = idle_rss("pgbouncer", PGB, "bench_tx", args.idle)
            emit(f"pgbouncer (transaction pool) RSS with {args.idle} idle clients: {before} kB -> {after} kB = {per / 1024:.1f} KB per idle client")
        print("\n## Issue 13's view of this run (bench/summary.py)\n")
        print(summary.render(*summary.parse(printed)))
    finally:
        stop_all()


if __name__ == "__main__":
    main()
