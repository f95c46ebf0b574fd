#!/usr/bin/env bash
# scripts/pgcluster.sh — a real PostgreSQL streaming-replication cluster on loopback, for poold's tests,
# demo and benchmarks: node 0 is the primary, nodes 1..N-1 are standbys cloned with pg_basebackup -R.
#
#   pgcluster.sh up     BASE PORT [--sync] [--nodes N]   create (if missing) and start every node
#   pgcluster.sh down   BASE                             stop every node (fast), keep the data
#   pgcluster.sh destroy BASE                            stop and remove BASE
#   pgcluster.sh psql   BASE NODE [psql args…]           psql to node NODE as postgres
#
# Node i listens on 127.0.0.1:PORT+i and a Unix socket in BASE/sock; application_name / cluster_name is
# node<i>. With --sync, synchronous_standby_names = 'ANY 1 (standbys…)'. Servers run as the OS user
# PG_OS_USER (default postgres) when invoked as root, because PostgreSQL refuses to run as root.
# pg_hba: trust for local and 127.0.0.1, except users md5user (md5) and scramuser (scram-sha-256) on TCP.
# Inside a network namespace (the watchdog tests: `wdnet.sh exec PREFIX db pgcluster.sh up …`), PG_LISTEN adds
# an address to listen on (e.g. 10.77.0.50) and PG_TRUST_NET a CIDR (e.g. 10.77.0.0/24) that pg_hba treats as
# it treats 127.0.0.1.
set -euo pipefail

die() { echo "pgcluster.sh: $*" >&2; exit 1; }
cmd=${1:-}; BASE=${2:-}
[ -n "$cmd" ] && [ -n "$BASE" ] || die "usage: pgcluster.sh up|down|destroy|psql BASE [PORT] [--sync] [--nodes N]"
shift 2
PG_OS_USER=${PG_OS_USER:-postgres}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || die "PostgreSQL server binaries not found (install postgresql-15 or set PGBIN)"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi; }
node_dir() { echo "$BASE/n$1"; }

if [ "$cmd" = up ]; then
  PORT=${1:?port}; shift
  SYNC=off; NODES=3
  while [ $# -gt 0 ]; do
    case "$1" in --sync) SYNC=on; shift ;; --nodes) NODES=$2; shift 2 ;; *) die "unknown option $1" ;; esac
  done
  if [ "$(id -u)" = 0 ]; then
    id "$PG_OS_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$PG_OS_USER"
  fi
  mkdir -p "$BASE/sock" "$BASE/log"
  chmod 0777 "$BASE" "$BASE/sock" "$BASE/log"
  [ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$BASE/log"
  echo "$PORT" > "$BASE/port"; echo "$NODES" > "$BASE/nodes"
  standbys=""; for i in $(seq 1 $((NODES - 1))); do standbys="${standbys:+$standbys,}node$i"; done
  if [ ! -f "$(node_dir 0)/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$(node_dir 0)" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust \
      --auth-host=trust >"$BASE/log/initdb.log" 2>&1 || { cat "$BASE/log/initdb.log" >&2; die "initdb failed"; }
    as_pg tee "$(node_dir 0)/pg_hba.conf" >/dev/null <<HBA
local   all          all                         trust
host    all          md5user      127.0.0.1/32   md5
host    all          scramuser    127.0.0.1/32   scram-sha-256
host    all          all          127.0.0.1/32   trust
local   replication  all                         trust
host    replication  all          127.0.0.1/32   trust
HBA
    [ -z "${PG_TRUST_NET:-}" ] || as_pg tee -a "$(node_dir 0)/pg_hba.conf" >/dev/null <<HBA
host    all          md5user      $PG_TRUST_NET   md5
host    all          scramuser    $PG_TRUST_NET   scram-sha-256
host    all          all          $PG_TRUST_NET   trust
host    replication  all          $PG_TRUST_NET   trust
HBA
    as_pg tee -a "$(node_dir 0)/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1${PG_LISTEN:+,$PG_LISTEN}'
unix_socket_directories = '$BASE/sock'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
hot_standby_feedback = on
max_connections = ${MAX_CONNECTIONS:-300}
shared_buffers = ${SHARED_BUFFERS:-128MB}
fsync = ${FSYNC:-off}
wal_keep_size = 256MB
wal_log_hints = on
logging_collector = off
include_if_exists = 'node.conf'
CONF
    as_pg bash -c "printf \"port = $PORT\ncluster_name = 'node0'\n\" > '$(node_dir 0)/node.conf'"
    as_pg "$PGBIN/pg_ctl" -D "$(node_dir 0)" -l "$BASE/log/n0.log" -w -t 60 start >/dev/null
    for i in $(seq 1 $((NODES - 1))); do
      as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U postgres -D "$(node_dir "$i")" -R -X stream \
        --no-sync >"$BASE/log/basebackup$i.log" 2>&1 || { cat "$BASE/log/basebackup$i.log" >&2; die "pg_basebackup $i failed"; }
      as_pg bash -c "printf \"port = $((PORT + i))\ncluster_name = 'node$i'\nprimary_conninfo = 'host=127.0.0.1 port=$PORT user=postgres application_name=node$i'\n\" > '$(node_dir "$i")/node.conf'"
    done
  fi
  ssn=""; [ "$SYNC" = on ] && [ "$NODES" -gt 1 ] && ssn="ANY 1 ($standbys)"
  as_pg bash -c "grep -v '^synchronous_standby_names' '$(node_dir 0)/node.conf' > '$(node_dir 0)/node.conf.new'; echo \"synchronous_standby_names = '$ssn'\" >> '$(node_dir 0)/node.conf.new'; mv '$(node_dir 0)/node.conf.new' '$(node_dir 0)/node.conf'"
  for i in $(seq 0 $((NODES - 1))); do
    if ! as_pg "$PGBIN/pg_ctl" -D "$(node_dir "$i")" status >/dev/null 2>&1; then
      as_pg "$PGBIN/pg_ctl" -D "$(node_dir "$i")" -l "$BASE/log/n$i.log" -w -t 60 start >/dev/null \
        || { tail -20 "$BASE/log/n$i.log" >&2; die "node $i did not start"; }
    else
      as_pg "$PGBIN/pg_ctl" -D "$(node_dir "$i")" reload >/dev/null
    fi
  done
  # wait until every standby streams
  for _ in $(seq 1 100); do
    n=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
        -c "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null || echo 0)
    [ "$n" -ge $((NODES - 1)) ] && break
    sleep 0.1
  done
  echo "pgcluster: primary 127.0.0.1:$PORT, standbys on $((PORT + 1))..$((PORT + NODES - 1)); sockets in $BASE/sock"
elif [ "$cmd" = down ] || [ "$cmd" = destroy ]; then
  for d in "$BASE"/n*; do
    [ -f "$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  done
  if [ "$cmd" = destroy ]; then
    case "$BASE" in /tmp/*|/var/tmp/*) rm -rf "$BASE" ;; *) die "refusing to remove $BASE (not under /tmp)";; esac
  fi
elif [ "$cmd" = psql ]; then
  node=${1:?node}; shift
  port=$(( $(cat "$BASE/port") + node ))
  exec "$PGBIN/psql" -X -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
else
  die "unknown command $cmd"
fi
