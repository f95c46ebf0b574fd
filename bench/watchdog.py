#!/usr/bin/env python3
"""The watchdog on a private LAN of network namespaces (scripts/wdnet.sh): 3 poold members in front of a
PostgreSQL primary + 2 standbys in the db namespace, the VIP moved by scripts/vip-recorder.sh.

  move:  VIP move time after a leader kill -9 and after a partition of the leader, at Pgpool-II's default
         timings (wd_heartbeat_keepalive 2, wd_heartbeat_deadtime 30) and at poold's recommended ones (1, 4),
         with the client errors seen by a writer looping through the VIP during the move.
  soak:  N randomized faults (kill -9 a member, partition one, SIGSTOP one past the deadtime, kill the primary's
         backend process, the leader resigns) with repairs in between; after each: one leader holding the VIP within a bound, and
         over the whole run never two VIP holders at once (scripts/vip-check.py). Prints "N passed, M failed".

With --coordination etcd the members take leadership from etcd instead (watchdog_coordination = etcd; one
etcd member inside the db namespace at NET.50:2379; lease TTL 3 s, renew every 500 ms, margin 1 s).

Run as root:  python3 bench/watchdog.py move      python3 bench/watchdog.py soak --faults 100 [--coordination etcd]
Everything runs inside namespaces this script creates (prefix pdwdb<pid>) and deletes by name at the end.
"""
import argparse, json, os, random, signal, socket, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WDNET = f"{ROOT}/scripts/wdnet.sh"
RECORDER = f"{ROOT}/scripts/vip-recorder.sh"
NET = "10.77.0"
VIP = f"{NET}.200"
POOLD = os.environ.get("POOLD_BIN", f"{ROOT}/.build/debug/poold")
PG_PORT = 45432


def run(cmd, check=True, timeout=120, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        sys.exit(f"watchdog.py: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return r


def now():
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class Lab:
    def __init__(self, keepalive, deadtime, members=3, etcd=False):
        self.prefix = f"pdwdb{os.getpid()}"
        self.etcd = None
        self.dir = f"/tmp/{self.prefix}"
        self.n = members
        self.keepalive, self.deadtime = keepalive, deadtime
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.vip_log = f"{self.dir}/vip.log"
        if os.path.exists(self.vip_log):
            os.remove(self.vip_log)  # one log per lab: each run is checked on its own
        run(["bash", WDNET, "down", self.prefix], check=False)
        run(["bash", WDNET, "up", self.prefix, str(members)])
        self.procs = {}
        env = dict(os.environ, PG_LISTEN=f"{NET}.50", PG_TRUST_NET=f"{NET}.0/24")
        run(["ip", "netns", "exec", f"{self.prefix}-db", "bash", f"{ROOT}/scripts/pgcluster.sh", "up", f"{self.dir}/pg",
             str(PG_PORT)], env=env, timeout=300)
        self.sql("create table if not exists wd_probe (v int)")
        if etcd:
            url = f"http://{NET}.50:2379"
            self.etcd = subprocess.Popen(
                ["ip", "netns", "exec", f"{self.prefix}-db", "/usr/bin/etcd", "--name", "e0", "--data-dir",
                 f"{self.dir}/etcd.data", "--listen-client-urls", url, "--advertise-client-urls", url,
                 "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                 "--initial-cluster", "e0=http://127.0.0.1:2380"],
                stdout=open(f"{self.dir}/etcd.log", "a"), stderr=subprocess.STDOUT)
        for i in range(members):
            self.start(i)

    def sql(self, q, node=0):
        return run(["psql", "-X", "-At", "-h", f"{self.dir}/pg/sock", "-p", str(PG_PORT + node), "-U", "postgres",
                    "-c", q], check=False).stdout.strip()

    def conf(self, i):
        d = f"{self.dir}/m{i}"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/pgpool_node_id", "w") as f:
            f.write(f"{i}\n")
        lines = [f"listen_addresses = '*'", "port = 9999", f"unix_socket_directories = '{d}'", f"pcp_socket_dir = '{d}'",
                 f"pid_file_name = '{d}/poold.pid'", f"logdir = '{d}'", "log_min_messages = info",
                 "sr_check_period = 0", "health_check_period = 0", "use_watchdog = on", "wd_authkey = 'soak'",
                 f"wd_heartbeat_keepalive = {self.keepalive}", f"wd_heartbeat_deadtime = {self.deadtime}",
                 f"delegate_ip = '{VIP}'"]
        for a in ("up", "down", "arping"):
            lines.append(f"{'if_' + a if a != 'arping' else 'arping'}_cmd = '{RECORDER} {a} $_IP_$ {self.vip_log} m{i}'")
        for n in range(3):
            lines += [f"backend_hostname{n} = '{NET}.50'", f"backend_port{n} = {PG_PORT + n}"]
        if self.etcd is not None:
            lines = [l for l in lines if not l.startswith(("wd_authkey", "wd_heartbeat"))]
            lines += ["watchdog_coordination = etcd", f"etcd_endpoints = 'http://{NET}.50:2379'",
                      f"etcd_prefix = '/poold/{self.prefix}'", f"etcd_member_name = 'm{i}'", "etcd_lease_ttl = 3",
                      "etcd_renew_interval = 500ms", "etcd_request_timeout = 300ms"]
        else:
            for j in range(self.n):
                lines += [f"hostname{j} = '{NET}.{10 + j}'", f"wd_port{j} = 9000", f"pgpool_port{j} = 9999",
                          f"heartbeat_hostname{j} = '{NET}.{10 + j}'", f"heartbeat_port{j} = 9694"]
        with open(f"{d}/pgpool.conf", "w") as f:
            f.write("\n".join(lines) + "\n")
        return f"{d}/pgpool.conf"

    def start(self, i):
        conf = self.conf(i)
        log = open(f"{self.dir}/m{i}/poold.log", "a")
        self.procs[i] = subprocess.Popen(["ip", "netns", "exec", f"{self.prefix}-m{i}", POOLD, "-n", "-f", conf],
                                         stdout=log, stderr=subprocess.STDOUT)

    def alive(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def report(self, i, command="watchdog"):
        if not self.alive(i):
            return None
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(1)
            s.connect(f"{self.dir}/m{i}/poold_admin.sock")
            s.sendall(json.dumps({"command": command}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            return json.loads(data).get("result")
        except (OSError, ValueError):
            return None

    def leaders(self, ids):
        out = []
        for i in ids:
            r = self.report(i) or {}
            if any(n.get("Local") and n.get("StateName") == "LEADER" for n in r.get("WatchdogNodes", [])):
                out.append(i)
        return out

    def vip_holders(self):
        r = run(["bash", WDNET, "vip-holders", self.prefix, VIP], check=False)
        return sorted(l[len(self.prefix) + 1:] for l in r.stdout.split())

    def wait_leader(self, ids, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            l = self.leaders(ids)
            if len(l) == 1 and self.vip_holders() == [f"m{l[0]}"]:
                return l[0]
            time.sleep(0.1)
        return None

    def write(self, v, timeout=2):
        r = run(["ip", "netns", "exec", f"{self.prefix}-client", "psql", "-X", "-At", "-h", VIP, "-p", "9999", "-U",
                 "postgres", "-c", f"insert into wd_probe values ({v}) returning v"], check=False, timeout=30,
                env=dict(os.environ, PGCONNECT_TIMEOUT=str(timeout)))
        return r.returncode == 0 and r.stdout.split("\n")[0] == str(v)

    def vip_check(self):
        r = run([sys.executable, f"{ROOT}/scripts/vip-check.py", self.vip_log], check=False)
        return r.returncode, r.stdout + r.stderr

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                for s in (signal.SIGCONT, signal.SIGTERM):
                    try:
                        os.kill(p.pid, s)
                    except ProcessLookupError:
                        pass
        for p in self.procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.kill()
            self.etcd.wait(timeout=15)
        run(["ip", "netns", "exec", f"{self.prefix}-db", "bash", f"{ROOT}/scripts/pgcluster.sh", "destroy",
             f"{self.dir}/pg"], check=False)
        run(["bash", WDNET, "down", self.prefix], check=False)


def move(args):
    rows = []
    setups = [("pgpool defaults", (2, 30), False), ("poold recommended", (1, 4), False)]
    if args.coordination == "etcd":
        setups = [("etcd, TTL 3 s", (1, 4), True)]  # dt 4 s: the waits below, as at poold's recommended timings
    for name, (ka, dt), etcd in setups:
        lab = Lab(ka, dt, etcd=etcd)
        try:
            for fault in ("kill -9", "partition"):
                leader = lab.wait_leader(range(lab.n), 120)
                if leader is None:
                    sys.exit(f"watchdog.py: no leader at {name}")
                lab.write(0)
                t0 = now()
                if fault == "kill -9":
                    os.kill(lab.procs[leader].pid, signal.SIGKILL)
                else:
                    run(["bash", WDNET, "partition", lab.prefix, str(leader)])
                others = [i for i in range(lab.n) if i != leader]
                errors = writes = 0
                new = None
                deadline = time.time() + dt * 3 + 30
                while time.time() < deadline:
                    writes += 1
                    if lab.write(writes, timeout=1):
                        l = lab.leaders(others)
                        if len(l) == 1 and lab.vip_holders() == [f"m{l[0]}"]:
                            new = l[0]
                            break
                    else:
                        errors += 1
                    time.sleep(0.05)
                t = now() - t0
                rows.append((name, fault, t if new is not None else None, errors))
                print(f"  {name:18} {fault:9} VIP moved to m{new} after {t:.2f} s; {errors} failed client writes",
                      flush=True)
                if fault == "kill -9":
                    lab.start(leader)
                else:
                    run(["bash", WDNET, "heal", lab.prefix, str(leader)])
                time.sleep(dt + 2)
            status, out = lab.vip_check()
            print(f"  {name}: vip-check {'ok' if status == 0 else 'TWO HOLDERS'}", out.strip()[:300])
        finally:
            lab.stop()
    print("\n| timings | fault | VIP move (s) | failed client writes |\n|---|---|---:|---:|")
    for name, fault, t, e in rows:
        print(f"| {name} | {fault} | {'timeout' if t is None else f'{t:.2f}'} | {e} |")


def soak(args):
    rng = random.Random(args.seed)
    lab = Lab(1, 4, etcd=args.coordination == "etcd")
    passed = failed = 0
    try:
        if lab.wait_leader(range(lab.n), 60) is None:
            sys.exit("watchdog.py: no leader at start")
        for k in range(args.faults):
            leader = lab.wait_leader(range(lab.n), 30)
            fault = rng.choice(["kill", "partition", "pause", "backend", "resign"])
            victim = leader if leader is not None and rng.random() < 0.7 else rng.randrange(lab.n)
            if fault == "kill":
                os.kill(lab.procs[victim].pid, signal.SIGKILL)
                time.sleep(rng.uniform(0, 6))
                lab.start(victim)
            elif fault == "partition":
                run(["bash", WDNET, "partition", lab.prefix, str(victim)])
                time.sleep(rng.uniform(1, 8))
                run(["bash", WDNET, "heal", lab.prefix, str(victim)])
            elif fault == "pause":
                os.kill(lab.procs[victim].pid, signal.SIGSTOP)
                time.sleep(rng.uniform(1, 7))
                os.kill(lab.procs[victim].pid, signal.SIGCONT)
            elif fault == "resign":
                if leader is not None:
                    victim = leader
                    lab.report(leader, "watchdog_resign")
            else:
                pid = lab.sql("select pid from pg_stat_activity where backend_type = 'client backend' and "
                              f"client_addr <<= '{NET}.0/24' limit 1")
                if pid:
                    lab.sql(f"select pg_terminate_backend({pid})")
            ok = lab.wait_leader(range(lab.n), 30) is not None
            status, out = lab.vip_check()
            ok = ok and status == 0
            passed += ok
            failed += not ok
            print(f"  fault {k + 1:3} {fault:9} m{victim}: {'ok' if ok else 'FAILED ' + out.strip()[:200]}", flush=True)
    finally:
        status, out = lab.vip_check()
        lab.stop()
    backend = " (etcd coordination)" if args.coordination == "etcd" else ""
    print(f"{passed} passed, {failed} failed{backend}; dual VIP holders: {'none' if status == 0 else out.strip()}")
    sys.exit(0 if failed == 0 and status == 0 else 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["move", "soak"])
    ap.add_argument("--faults", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--coordination", choices=["watchdog", "etcd"], default="watchdog")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("watchdog.py: needs root (network namespaces)")
    if not os.path.exists(POOLD):
        run(["swift", "build", "--product", "poold"], cwd=ROOT, timeout=1800)
    move(args) if args.mode == "move" else soak(args)


if __name__ == "__main__":
    main()
