#!/usr/bin/env python3
"""poold's hot path, per transaction: user and system CPU microseconds (from /proc/PID/stat) and syscalls
(strace -c -f) of poold binaries and PgBouncer under the same pgbench workload, interleaved in one run, on a
loopback cluster of its own (primary + 2 standbys). Each proxy runs with one event loop (io_threads = 1)
so that its CPU is one thread's work.

    python3 bench/hotpath.py [--binary NAME=PATH ...] [--workload "-S -c16 -j2"] [--seconds 6] [--rounds 3]
                             [--conf "load_balance_mode = off"] [--pgbouncer-mode session|transaction]
                             [--strace-transactions 16000]

Instruction counts would be steadier than CPU time on a shared VM, but this machine has neither hardware
counters (perf: instructions <not supported>) nor a valgrind that runs a Swift/NIO binary (3.19 and 3.25 both
die in libdispatch's thread start), so medians of interleaved rounds it is. Run as root.
"""
import argparse, os, shutil, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "/tmp/poold-hotpath"
PG, PROXY = 45432, 46432
HZ = os.sysconf("SC_CLK_TCK")


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        sys.exit(f"hotpath: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return r


def as_pg(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


def psql(port, sql, db="postgres", check=True):
    return run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-c", sql], check=check)


def wait_port(port, db):
    for _ in range(150):
        if psql(port, "select 1", db, check=False).returncode == 0:
            return
        time.sleep(0.2)
    sys.exit(f"hotpath: nothing answers on port {port}")


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])  # utime, stime (ticks)


def start(name, binary, args):
    """Starts one proxy on PROXY; returns (Popen, pid of the proxy itself, database name)."""
    d = f"{BASE}/{name}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o777)
    if name == "pgbouncer":
        with open(f"{d}/pgbouncer.ini", "w") as f:
            f.write(f"[databases]\nbench = host=127.0.0.1 port={PG} dbname=bench pool_mode={args.pgbouncer_mode} pool_size=80\n"
                    f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {PROXY}\nunix_socket_dir =\nauth_type = trust\n"
                    f"auth_file = {d}/userlist.txt\nlogfile = {d}/pgbouncer.log\nmax_client_conn = 500\n")
        with open(f"{d}/userlist.txt", "w") as f:
            f.write('"postgres" ""\n')
        p = subprocess.Popen(as_pg(["pgbouncer", f"{d}/pgbouncer.ini"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        with open(f"{d}/pgpool.conf", "w") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {PROXY}\nunix_socket_directories = '{d}'\n"
                    f"pcp_listen_addresses = ''\npcp_socket_dir = '{d}'\npid_file_name = '{d}/poold.pid'\nlogdir = '{d}'\n"
                    "num_init_children = 200\nmax_pool = 1\nio_threads = 1\nlog_min_messages = warning\n"
                    "sr_check_period = 5\nsr_check_user = 'postgres'\n"
                    + "".join(f"backend_hostname{i} = '127.0.0.1'\nbackend_port{i} = {PG + i}\n"
                              f"backend_application_name{i} = 'node{i}'\n" for i in range(3))
                    + args.conf.replace(";", "\n") + "\n")
        p = subprocess.Popen([binary, "-f", f"{d}/pgpool.conf", "-n"], stdout=open(f"{d}/poold.log", "w"),
                             stderr=subprocess.STDOUT)
    wait_port(PROXY, "bench")
    pid = p.pid
    if name == "pgbouncer" and os.geteuid() == 0:
        kids = run(["pgrep", "-P", str(p.pid)], check=False).stdout.split()
        pid = int(kids[0]) if kids else p.pid
    return p, pid


def stop(p, pid):
    os.kill(pid, 2)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(pid, 9)
        p.wait()


def pgbench(workload, extra):
    r = run(["pgbench", "-n", *workload.split(), *extra, "-h", "127.0.0.1", "-p", str(PROXY), "-U", "postgres", "bench"],
            check=False)
    for line in r.stdout.splitlines():
        if "actually processed" in line:
            return int(line.split(":")[1].split("/")[0])
    sys.exit(f"hotpath: pgbench failed:\n{r.stdout}{r.stderr}")


def measure(name, binary, args):
    p, pid = start(name, binary, args)
    try:
        pgbench(args.workload, ["-T", "2"])  # warm-up: connections cached, texts classified
        u0, s0 = cpu(pid)
        n = pgbench(args.workload, ["-T", str(args.seconds)])
        u1, s1 = cpu(pid)
        return (u1 - u0) / HZ * 1e6 / n, (s1 - s0) / HZ * 1e6 / n
    finally:
        stop(p, pid)


def syscalls(name, binary, args):
    """Syscalls per transaction by kind, from strace -c -f attached for a fixed number of transactions."""
    p, pid = start(name, binary, args)
    try:
        pgbench(args.workload, ["-T", "2"])
        out = f"{BASE}/{name}.strace"
        s = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        clients = int(args.workload.split("-c")[1].split()[0]) if "-c" in args.workload else 1
        n = pgbench(args.workload, ["-t", str(max(1, args.strace_transactions // clients))])
        time.sleep(0.3)
        s.send_signal(2)
        s.wait(timeout=15)
        counts = {}
        for line in open(out):
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                counts[f[-1]] = int(f[3])
        return {k: v / n for k, v in counts.items()}
    finally:
        stop(p, pid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", action="append", default=[], help="NAME=PATH of a poold binary (repeatable)")
    ap.add_argument("--workload", default="-S -c16 -j2")
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conf", default="load_balance_mode = off", help="extra poold settings, ';'-separated")
    ap.add_argument("--pgbouncer-mode", default="session", choices=["session", "transaction"])
    ap.add_argument("--strace-transactions", type=int, default=16000, help="0: no syscall counts")
    args = ap.parse_args()
    binaries = [b.split("=", 1) for b in args.binary] or [["poold", f"{ROOT}/.build/release/poold"]]
    targets = binaries + [["pgbouncer", None]]
    os.makedirs(BASE, exist_ok=True)
    os.chmod(BASE, 0o777)
    run(["bash", f"{ROOT}/scripts/pgcluster.sh", "up", f"{BASE}/pg", str(PG)])
    try:
        if psql(PG, "select count(*) from pg_database where datname = 'bench'").stdout.strip() == "0":
            psql(PG, "create database bench")
            run(["pgbench", "-i", "-s", "10", "-q", "-h", "127.0.0.1", "-p", str(PG), "-U", "postgres", "bench"])
        time.sleep(1)
        results = {name: [] for name, _ in targets}
        for rnd in range(args.rounds):
            for name, binary in targets[rnd % len(targets):] + targets[:rnd % len(targets)]:
                u, s = measure(name, binary, args)
                results[name].append((u, s))
                print(f"  round {rnd + 1} {name:12} user {u:5.1f} µs  system {s:5.1f} µs per transaction", flush=True)
        print(f"\npgbench {args.workload}, poold settings: {args.conf or '(defaults)'}; PgBouncer pool_mode {args.pgbouncer_mode}; medians of {args.rounds} rounds\n")
        print("| proxy | user µs/txn | system µs/txn | total µs/txn |")
        print("|---|---:|---:|---:|")
        for name, _ in targets:
            u = statistics.median(r[0] for r in results[name])
            s = statistics.median(r[1] for r in results[name])
            print(f"| {name} | {u:.1f} | {s:.1f} | {u + s:.1f} |")
        if args.strace_transactions > 0 and shutil.which("strace"):
            print("\n| proxy | syscalls per transaction |")
            print("|---|---|")
            for name, binary in targets:
                c = syscalls(name, binary, args)
                top = sorted(c.items(), key=lambda kv: -kv[1])
                print(f"| {name} | " + ", ".join(f"{k} {v:.2f}" for k, v in top if v >= 0.01) + " |")
    finally:
        run(["bash", f"{ROOT}/scripts/pgcluster.sh", "down", f"{BASE}/pg"], check=False)


if __name__ == "__main__":
    main()
