#!/usr/bin/env python3
"""What TLS from clients costs poold and PgBouncer, measured in one run (issue 12's Measure).

One PostgreSQL 15 server on loopback (plain towards the proxies), one poold (release build, ssl = on,
load_balance_mode off: one node) and one PgBouncer (Debian's, client_tls_sslmode = allow, session pool), both with
the same test certificate made by openssl. Each workload runs through each proxy twice, with PGSSLMODE=disable and
PGSSLMODE=require, interleaved over the rounds; also straight to PostgreSQL (ssl on there too) as a reference.
Prints TPS and proxy CPU per 10,000 transactions for each, and the TLS cost per proxy: TPS with TLS / TPS without,
and the extra CPU per transaction. Run as root (servers run as `postgres`); all traffic on 127.0.0.1.

    python3 bench/tls.py [--duration 10] [--rounds 3] [--only S16p,C16] [--key rsa|ec]
"""
import argparse, os, shutil, signal, statistics, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (run, psql, tree_cpu, as_pg)

ROOT = bench.ROOT
BASE = "/tmp/poold-bench-tls"
PG, POOLD, PGB = 37432, 37433, 37434
started = []
WORKLOADS = {"S16p": (["-S", "-M", "prepared"], 16), "C16": (["-S", "-C", "-M", "simple"], 16)}


def certificates(d, key="rsa"):
    newkey = ["-newkey", "rsa:2048"] if key == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    os.makedirs(d, exist_ok=True)
    run = bench.run
    run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt",
         "-days", "30", "-subj", "/CN=bench CA"])
    run(["openssl", "req", *newkey, "-nodes", "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr",
         "-subj", "/CN=localhost"])
    with open(f"{d}/san.ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(["openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
         "-CAcreateserial", "-out", f"{d}/server.crt", "-days", "30", "-extfile", f"{d}/san.ext"])
    os.chmod(f"{d}/server.key", 0o600)
    # PgBouncer and PostgreSQL run as postgres and read their own copy of the key.
    shutil.copy(f"{d}/server.key", f"{d}/pg.key")
    os.chmod(f"{d}/pg.key", 0o600)
    if os.geteuid() == 0:
        shutil.chown(f"{d}/pg.key", "postgres")
    os.chmod(d, 0o755)


def setup(args):
    os.makedirs(BASE, exist_ok=True)
    os.chmod(BASE, 0o777)
    bench.run(["bash", f"{ROOT}/scripts/pgcluster.sh", "destroy", f"{BASE}/pg"], check=False)
    bench.run(["bash", f"{ROOT}/scripts/pgcluster.sh", "up", f"{BASE}/pg", str(PG), "--nodes", "1"],
              env=dict(os.environ, SHARED_BUFFERS="256MB"))
    tls = f"{BASE}/tls"
    certificates(tls, args.key)
    bench.psql(PG, f"alter system set ssl = on")
    bench.psql(PG, f"alter system set ssl_cert_file = '{tls}/server.crt'")
    bench.psql(PG, f"alter system set ssl_key_file = '{tls}/pg.key'")
    bench.psql(PG, "select pg_reload_conf()")
    bench.psql(PG, "create database bench")
    bench.run(["pgbench", "-i", "-s", str(args.scale), "-q", "-h", "127.0.0.1", "-p", str(PG), "-U", "postgres", "bench"])

    binary = f"{ROOT}/.build/release/poold"
    if not os.path.exists(binary):
        print("bench: building poold (release)", flush=True)
        bench.run(["swift", "build", "-c", "release", "--product", "poold"], cwd=ROOT)
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
num_init_children = 100
max_pool = 1
log_min_messages = warning
load_balance_mode = off
backend_sslmode = 'disable'
ssl = on
ssl_cert = '{tls}/server.crt'
ssl_key = '{tls}/server.key'
backend_hostname0 = '127.0.0.1'
backend_port0 = {PG}
""" + "".join(line + "\n" for line in args.poold_conf))
    started.append(("poold", subprocess.Popen([binary, "-f", f"{d}/pgpool.conf", "-n"],
                                              stdout=open(f"{d}/poold.log", "w"), stderr=subprocess.STDOUT)))
    started.append(("pgbouncer", bench.start_pgbouncer(f"{BASE}/pgbouncer", PGB, [
        f"bench = host=127.0.0.1 port={PG} dbname=bench pool_mode=session pool_size=40"], [
        "max_client_conn = 500", "default_pool_size = 40", "server_reset_query = DISCARD ALL",
        "server_tls_sslmode = disable", "client_tls_sslmode = allow", f"client_tls_cert_file = {tls}/server.crt",
        f"client_tls_key_file = {tls}/pg.key", *args.pgbouncer_conf])))
    bench.started.extend(started)
    for port in (POOLD, PGB):
        bench.wait_port(port)


def one(target, port, workload, sslmode, duration):
    wargs, clients = WORKLOADS[workload]
    pid = bench.proxy_pid(target) if target != "direct" else None
    cpu0 = bench.tree_cpu(pid) if pid else 0
    r = bench.run(["pgbench", "-n", *wargs, "-c", str(clients), "-j", "2", "-T", str(duration), "-h", "127.0.0.1",
                   "-p", str(port), "-U", "postgres", "bench"], check=False, env=dict(os.environ, PGSSLMODE=sslmode))
    cpu = (bench.tree_cpu(pid) - cpu0) if pid else 0
    import re
    tps = re.search(r"tps = ([\d.]+)", r.stdout)
    txns = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    if r.returncode != 0 or not tps:
        return None, (r.stderr.strip().splitlines() or ["?"])[-1][:100]
    n = int(txns.group(1)) if txns else 0
    return {"tps": float(tps.group(1)), "cpu": cpu / max(1, n) * 10000}, ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--only", default="S16p,C16")
    ap.add_argument("--key", choices=["rsa", "ec"], default="rsa", help="the certificates' key: RSA 2048 or ECDSA P-256")
    ap.add_argument("--poold-conf", action="append", default=[], help="an extra pgpool.conf line, e.g. \"ssl_ecdh_curve = 'X25519'\"")
    ap.add_argument("--pgbouncer-conf", action="append", default=[], help="an extra [pgbouncer] line")
    args = ap.parse_args()
    targets = [("direct", PG), ("poold", POOLD), ("pgbouncer", PGB)]
    results = {}
    try:
        setup(args)
        workloads = [w for w in args.only.split(",") if w]
        for rnd in range(args.rounds):
            for workload in workloads:
                runs = [(t, p, m) for t, p in targets for m in ("disable", "require")]
                k = rnd % len(runs)
                for target, port, mode in runs[k:] + runs[:k]:
                    r, err = one(target, port, workload, mode, args.duration)
                    print(f"  {workload:5} {target:10} {mode:8} " + (f"tps {r['tps']:9.1f}  cpu/10k {r['cpu']:6.3f}s" if r else f"FAILED {err}"),
                          flush=True)
                    if r:
                        results.setdefault((workload, target, mode), []).append(r)
        print(f"\nmedians of {args.rounds} rounds, {args.duration} s each")
        print("\n| workload | target | TPS plain | TPS TLS | TLS/plain | proxy CPU s/10k plain | TLS | extra CPU s/10k for TLS |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for workload in workloads:
            for target, _ in targets:
                p, t = results.get((workload, target, "disable")), results.get((workload, target, "require"))
                if not p or not t:
                    print(f"| {workload} | {target} | failed | | | | | |")
                    continue
                tp, tt = statistics.median(x["tps"] for x in p), statistics.median(x["tps"] for x in t)
                cp, ct = statistics.median(x["cpu"] for x in p), statistics.median(x["cpu"] for x in t)
                cpu = (f"{cp:.3f} | {ct:.3f} | {ct - cp:+.3f}") if target != "direct" else "- | - | -"
                print(f"| {workload} | {target} | {tp:.0f} | {tt:.0f} | {tt / tp:.2f}x | {cpu} |")
    finally:
        for name, p in reversed(started):
            if p.poll() is None:
                pid = bench.proxy_pid(name)
                os.kill(pid, signal.SIGINT if name == "poold" else signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(pid, signal.SIGKILL)
        bench.run(["bash", f"{ROOT}/scripts/pgcluster.sh", "down", f"{BASE}/pg"], check=False)


if __name__ == "__main__":
    main()
