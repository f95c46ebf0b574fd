#!/usr/bin/env bash
# The demo: installs dependencies, builds poold, starts a local PostgreSQL 15 primary + 2 streaming standbys
# on 127.0.0.1:15432-15434 and poold on 127.0.0.1:9999 (and /tmp/.s.PGSQL.9999), then prints how to connect.
#   bash scripts/demo.sh          start (idempotent)
#   bash scripts/demo.sh stop     stop poold and the cluster (data kept in /tmp/poold-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
BASE=${DEMO_DIR:-/tmp/poold-demo}
PGPORT=${DEMO_PG_PORT:-15432}
PORT=${DEMO_PORT:-9999}
if [ "${1:-}" = stop ]; then
  [ -f "$BASE/poold/poold.pid" ] && .build/debug/poold -f "$BASE/poold/pgpool.conf" -m fast stop || true
  bash scripts/pgcluster.sh down "$BASE/pg"
  exit 0
fi
bash scripts/install-deps.sh
swift build
bash scripts/pgcluster.sh up "$BASE/pg" "$PGPORT" --sync
mkdir -p "$BASE/poold"
cat > "$BASE/poold/pgpool.conf" <<CONF
# demo configuration: three local nodes, node 0 is the primary
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '/tmp'
pid_file_name = '$BASE/poold/poold.pid'
logdir = '$BASE/poold'
num_init_children = 32
max_pool = 4
log_min_messages = info
# health checks, replication checks and automatic failover with the sample scripts
health_check_period = 2
health_check_timeout = 5
health_check_max_retries = 2
health_check_retry_delay = 1
health_check_user = 'postgres'
sr_check_period = 5
sr_check_user = 'postgres'
failover_command = '$PWD/share/scripts/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S'
follow_primary_command = '$PWD/share/scripts/follow_primary.sh %d %h %p %D %m %H %M %P %r %R'
recovery_1st_stage_command = '$PWD/share/scripts/recovery_1st_stage.sh'
recovery_user = 'postgres'
backend_hostname0 = '127.0.0.1'
backend_port0 = $PGPORT
backend_weight0 = 1
backend_data_directory0 = '$BASE/pg/n0'
backend_application_name0 = 'node0'
backend_hostname1 = '127.0.0.1'
backend_port1 = $((PGPORT + 1))
backend_weight1 = 1
backend_data_directory1 = '$BASE/pg/n1'
backend_application_name1 = 'node1'
backend_hostname2 = '127.0.0.1'
backend_port2 = $((PGPORT + 2))
backend_weight2 = 1
backend_data_directory2 = '$BASE/pg/n2'
backend_application_name2 = 'node2'
CONF
if [ -f "$BASE/poold/poold.pid" ] && kill -0 "$(cat "$BASE/poold/poold.pid")" 2>/dev/null; then
  echo "demo: poold already running (pid $(cat "$BASE/poold/poold.pid"))"
else
  .build/debug/poold -f "$BASE/poold/pgpool.conf"
  for _ in $(seq 1 50); do psql -X -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
fi
psql -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "select 'connected through poold' as demo, current_setting('port') as backend_port, pg_is_in_recovery()"
cat <<MSG

poold is running on 127.0.0.1:$PORT in front of a primary (127.0.0.1:$PGPORT) and two standbys.
  connect:   psql -h 127.0.0.1 -p $PORT -U postgres postgres      (or: psql -h /tmp -p $PORT -U postgres)
  nodes:     psql -h 127.0.0.1 -p $PORT -U postgres -c 'SHOW pool_nodes'
  console:   .build/debug/poolconsole -f $BASE/poold/pgpool.conf           (live ncurses console; ? for keys, q to quit)
  commands:  .build/debug/poolconsole nodes -f $BASE/poold/pgpool.conf     (detach N, recover N, switchover N, watch …)
  benchmark: createdb -h 127.0.0.1 -p $PGPORT -U postgres bench && pgbench -i -h 127.0.0.1 -p $PORT -U postgres bench
  log:       $BASE/poold/poold.log
  stop:      bash scripts/demo.sh stop
MSG
