#!/usr/bin/env python3
"""Failover timing: poold vs Pgpool-II on the same synchronous cluster (ANY 1, primary + 2 standbys), with the
same settings (health_check_period = 1, health_check_max_retries = 2, health_check_retry_delay = 1,
failover_on_backend_error as given) and the same scripts (share/scripts/failover.sh, follow_primary.sh).

For each proxy: a fresh cluster; 4 clients insert increasing ids through the proxy (a new psql per insert)
and log every id whose COMMIT succeeded; after 3 s the primary's postmaster is killed with SIGKILL. Prints the
time from the kill to the first successful write, the failed attempts after the kill, when every node was up
again, and whether every committed id is on the new primary. Loopback only; everything stopped by PID.

    python3 bench/failover.py [--backend-error off|on] [--targets poold,pgpool]
"""
import argparse, os, shutil, signal, subprocess, threading, time

from bench import as_pg, run  # same directory: the throughput benchmark's helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "/tmp/poold-failover-bench"
PG, PROXY, PCP = 37432, 38432, 38898
SCRIPTS = f"{ROOT}/share/scripts"


def psql(port, sql, db="postgres"):
    """psql that returns the result instead of raising (bench.psql raises on failure)."""
    return run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-c", sql],
               check=False)


def common_conf(backend_error):
    return f"""listen_addresses = '127.0.0.1'
port = {PROXY}
num_init_children = 32
health_check_period = 1
health_check_timeout = 5
health_check_max_retries = 2
health_check_retry_delay = 1
health_check_user = 'postgres'
sr_check_period = 1
sr_check_user = 'postgres'
search_primary_node_timeout = 60
failover_on_backend_error = {backend_error}
failover_command = '{SCRIPTS}/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S'
follow_primary_command = '{SCRIPTS}/follow_primary.sh %d %h %p %D %m %H %M %P %r %R'
""" + "".join(f"backend_hostname{i} = '127.0.0.1'\nbackend_port{i} = {PG + i}\nbackend_weight{i} = 1\n"
              f"backend_data_directory{i} = '{BASE}/pg/n{i}'\nbackend_application_name{i} = 'node{i}'\n" for i in range(3))


def start_poold(d, backend_error):
    binary = f"{ROOT}/.build/release/poold"
    if not os.path.exists(binary) or not os.path.exists(f"{ROOT}/.build/release/poolconsole"):
        run(["swift", "build", "-c", "release"], cwd=ROOT)
    with open(f"{d}/pgpool.conf", "w") as f:
        f.write(common_conf(backend_error) + f"unix_socket_directories = '{d}'\nlogdir = '{d}'\npid_file_name = '{d}/poold.pid'\n")
    p = subprocess.Popen([binary, "-f", f"{d}/pgpool.conf", "-n"], stdout=open(f"{d}/proxy.log", "w"), stderr=subprocess.STDOUT)
    return p, p.pid


def start_pgpool(d, backend_error):
    with open(f"{d}/pgpool.conf", "w") as f:
        f.write(common_conf(backend_error) + f"""backend_clustering_mode = 'streaming_replication'
unix_socket_directories = '{d}'
pcp_listen_addresses = '127.0.0.1'
pcp_port = {PCP}
pcp_socket_dir = '{d}'
pid_file_name = '{d}/pgpool.pid'
logdir = '{d}'
load_balance_mode = on
enable_pool_hba = on
pool_passwd = 'pool_passwd'
""")
    with open(f"{d}/pool_hba.conf", "w") as f:
        f.write("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    with open(f"{d}/pool_passwd", "w") as f:
        f.write("postgres:TEXTpostgres\n")
    with open(f"{d}/pcp.conf", "w") as f:
        f.write("pcpadmin:" + run(["pg_md5", "pcpadmin"]).stdout.strip() + "\n")
    with open(f"{d}/pcppass", "w") as f:
        f.write(f"localhost:{PCP}:pcpadmin:pcpadmin\n127.0.0.1:{PCP}:pcpadmin:pcpadmin\n*:*:pcpadmin:pcpadmin\n")
    os.chmod(f"{d}/pcppass", 0o600)
    for n in os.listdir(d):
        shutil.chown(f"{d}/{n}", "postgres") if os.geteuid() == 0 else None
    env = dict(os.environ, PCP_HOST="127.0.0.1", PCP_PORT=str(PCP), PCP_USER="pcpadmin", PCPPASSFILE=f"{d}/pcppass")
    env.pop("POOLD_ADMIN_SOCKET", None)
    p = subprocess.Popen(as_pg(["env", f"PCP_HOST=127.0.0.1", f"PCP_PORT={PCP}", "PCP_USER=pcpadmin", f"PCPPASSFILE={d}/pcppass",
                                "pgpool", "-n", "-D", "-f", f"{d}/pgpool.conf", "-F", f"{d}/pcp.conf", "-a", f"{d}/pool_hba.conf"]),
                         stdout=open(f"{d}/proxy.log", "w"), stderr=subprocess.STDOUT, env=env)
    time.sleep(0.5)
    kids = run(["pgrep", "-P", str(p.pid)], check=False).stdout.split()
    return p, int(kids[0]) if kids else p.pid


def measure(target, backend_error):
    run(["bash", f"{ROOT}/scripts/pgcluster.sh", "destroy", f"{BASE}/pg"], check=False)
    os.makedirs(BASE, exist_ok=True)
    os.chmod(BASE, 0o777)
    run(["bash", f"{ROOT}/scripts/pgcluster.sh", "up", f"{BASE}/pg", str(PG), "--sync"], env=dict(os.environ, FSYNC="on"))
    psql(PG, "create table ledger (id bigint primary key)")
    d = f"{BASE}/{target}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o777)
    proc, pid = (start_poold if target == "poold" else start_pgpool)(d, backend_error)
    for _ in range(100):
        if psql(PROXY, "select 1").returncode == 0:
            break
        time.sleep(0.2)
    ok, failed, stop = [], [], threading.Event()

    def writer(c):
        i = 0
        while not stop.is_set():
            i += 1
            wid = c * 1_000_000 + i
            started = time.time()
            r = psql(PROXY, f"insert into ledger values ({wid})")
            (ok if r.returncode == 0 else failed).append((started, time.time(), wid))
            time.sleep(0.01)
    threads = [threading.Thread(target=writer, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    primary_pid = int(open(f"{BASE}/pg/n0/postmaster.pid").readline())
    t0 = time.time()
    os.kill(primary_pid, signal.SIGKILL)
    all_up = None
    while time.time() - t0 < 60:
        r = psql(PROXY, "show pool_nodes")
        rows = [l.split("|") for l in r.stdout.splitlines()]
        if r.returncode == 0 and len(rows) == 3 and all(x[3] == "up" for x in rows) and time.time() - t0 > 2:
            all_up = time.time() - t0
            break
        time.sleep(0.5)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    # Completion of the first write that was started after the kill (earlier ones may have been in flight).
    first = min((end for start, end, _ in ok if start > t0), default=None)
    errors = len([1 for start, _, _ in failed if start > t0 - 1])
    primary = next((i for i in range(3) if psql(PG + i, "select pg_is_in_recovery()").stdout.strip() == "f"), None)
    ids = [w for _, _, w in ok]
    found = psql(PG + primary, f"select count(*) from ledger where id = any('{{{','.join(map(str, ids))}}}'::bigint[])").stdout.strip() \
        if primary is not None else "?"
    os.kill(pid, signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
    run(["bash", f"{ROOT}/scripts/pgcluster.sh", "destroy", f"{BASE}/pg"], check=False)
    return {"first": first - t0 if first else None, "errors": errors, "all_up": all_up, "committed": len(ids),
            "found": found, "primary": primary}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend-error", default="off")
    ap.add_argument("--targets", default="poold,pgpool")
    args = ap.parse_args()
    print("| proxy | failover_on_backend_error | kill → first write (s) | failed writes | all nodes up again (s) | committed ids | found on new primary |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for target in args.targets.split(","):
        r = measure(target, args.backend_error)
        first = f"{r['first']:.1f}" if r["first"] is not None else "never"
        up = f"{r['all_up']:.1f}" if r["all_up"] is not None else "not within 60"
        print(f"| {target} | {args.backend_error} | {first} | {r['errors']} | {up} | {r['committed']} | {r['found']} |", flush=True)


if __name__ == "__main__":
    main()
