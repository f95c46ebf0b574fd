#!/usr/bin/env bash
# The demo: installs dependencies, builds poold (release), starts a local PostgreSQL 15 primary + 2 streaming
# standbys on 127.0.0.1:15432-15434 and poold on 127.0.0.1:9999 (and /tmp/.s.PGSQL.9999), prints how to connect,
# then opens the console (poolconsole) when run on a terminal.
#   bash scripts/demo.sh              start (idempotent), then the console
#   bash scripts/demo.sh --watchdog   the same cluster behind 3 poold watchdog members with a virtual IP, each
#                                     in its own network namespace on a private bridge (needs root)
#   bash scripts/demo.sh [--watchdog] stop     stop poold and the cluster (data kept in /tmp/poold-demo)
# DEMO_NO_CONSOLE=1 skips the console; DEMO_DIR, DEMO_PG_PORT, DEMO_PORT, DEMO_WD_NET change the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin:/usr/sbin:/sbin"
BASE=${DEMO_DIR:-/tmp/poold-demo}
PGPORT=${DEMO_PG_PORT:-15432}
PORT=${DEMO_PORT:-9999}
BIN=$PWD/.build/release
WATCHDOG=0
ACTION=start
for a in "$@"; do
  case "$a" in
    --watchdog) WATCHDOG=1 ;;
    stop) ACTION=stop ;;
    *) echo "usage: bash scripts/demo.sh [--watchdog] [stop]" >&2; exit 2 ;;
  esac
done
# The watchdog demo's LAN: namespaces pdemo-hub (bridge), pdemo-m0..m2 (members), pdemo-db (PostgreSQL),
# pdemo-client (for you); see scripts/wdnet.sh. Nothing in the root namespace is changed.
NS=pdemo
NET=${DEMO_WD_NET:-10.77.99}
VIP=$NET.200
WD=$BASE/watchdog

stop_poold() {  # CONF
  local conf=$1 pid
  pid=$(dirname "$conf")/poold.pid
  if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then "$BIN/poold" -f "$conf" -m fast stop || true; fi
}

if [ "$ACTION" = stop ]; then
  if [ "$WATCHDOG" = 1 ]; then
    for i in 0 1 2; do [ -f "$WD/m$i/pgpool.conf" ] && stop_poold "$WD/m$i/pgpool.conf"; done
    bash scripts/wdnet.sh exec "$NS" db bash scripts/pgcluster.sh down "$WD/pg" 2>/dev/null || true
    WDNET_NET=$NET bash scripts/wdnet.sh down "$NS"
  else
    [ -f "$BASE/poold/pgpool.conf" ] && stop_poold "$BASE/poold/pgpool.conf"
    bash scripts/pgcluster.sh down "$BASE/pg"
  fi
  exit 0
fi

bash scripts/install-deps.sh
swift build -c release
mkdir -p "$BASE"

# Health checks, replication checks and automatic failover with the sample scripts; HOST is where members
# reach PostgreSQL, DATA the cluster's directory.
common_conf() {  # HOST DATA
  cat <<CONF
num_init_children = 32
max_pool = 4
log_min_messages = info
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
CONF
  for n in 0 1 2; do
    cat <<CONF
backend_hostname$n = '$1'
backend_port$n = $((PGPORT + n))
backend_weight$n = 1
backend_data_directory$n = '$2/n$n'
backend_application_name$n = 'node$n'
CONF
  done
}

wait_sql() {  # psql args… : up to 10 s for an answer
  for _ in $(seq 1 100); do "$@" -X -At -U postgres -d postgres -c 'select 1' >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

if [ "$WATCHDOG" = 0 ]; then
  bash scripts/pgcluster.sh up "$BASE/pg" "$PGPORT" --sync
  mkdir -p "$BASE/poold"
  CONF=$BASE/poold/pgpool.conf
  {
    cat <<CONF
# demo configuration: three local nodes, node 0 is the primary
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '/tmp'
pid_file_name = '$BASE/poold/poold.pid'
logdir = '$BASE/poold'
CONF
    common_conf 127.0.0.1 "$BASE/pg"
  } > "$CONF"
  if [ -f "$BASE/poold/poold.pid" ] && kill -0 "$(cat "$BASE/poold/poold.pid")" 2>/dev/null; then
    echo "demo: poold already running (pid $(cat "$BASE/poold/poold.pid"))"
  else
    "$BIN/poold" -f "$CONF"
    wait_sql psql -h 127.0.0.1 -p "$PORT" || true
  fi
  psql -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "select 'connected through poold' as demo, current_setting('port') as backend_port, pg_is_in_recovery()"
  cat <<MSG

poold is running on 127.0.0.1:$PORT in front of a primary (127.0.0.1:$PGPORT) and two standbys.
  connect:   psql -h 127.0.0.1 -p $PORT -U postgres postgres      (or: psql -h /tmp -p $PORT -U postgres)
  nodes:     psql -h 127.0.0.1 -p $PORT -U postgres -c 'SHOW pool_nodes'
  console:   $BIN/poolconsole -f $CONF           (live ncurses console; ? for keys, q to quit)
  commands:  $BIN/poolconsole nodes -f $CONF     (detach N, recover N, switchover N, watch …)
  benchmark: createdb -h 127.0.0.1 -p $PGPORT -U postgres bench && pgbench -i -h 127.0.0.1 -p $PORT -U postgres bench
  log:       $BASE/poold/poold.log
  stop:      bash scripts/demo.sh stop
MSG
else
  [ "$(id -u)" = 0 ] || { echo "demo: --watchdog creates network namespaces: run it as root (sudo)" >&2; exit 1; }
  WDNET_NET=$NET bash scripts/wdnet.sh up "$NS" 3
  mkdir -p "$WD"
  bash scripts/wdnet.sh exec "$NS" db env PG_LISTEN="$NET.50" PG_TRUST_NET="$NET.0/24" \
    bash scripts/pgcluster.sh up "$WD/pg" "$PGPORT" --sync
  IP=$(command -v ip); ARPING=$(command -v arping)
  for i in 0 1 2; do
    mkdir -p "$WD/m$i"
    echo "$i" > "$WD/m$i/pgpool_node_id"
    CONF=$WD/m$i/pgpool.conf
    {
      cat <<CONF
# watchdog demo, member $i of 3 (the same file on every member but for the paths; pgpool_node_id says $i)
listen_addresses = '*'
port = $PORT
unix_socket_directories = '$WD/m$i'
pcp_socket_dir = '$WD/m$i'
pid_file_name = '$WD/m$i/poold.pid'
logdir = '$WD/m$i'
use_watchdog = on
wd_authkey = 'poold-demo'
# poold's recommended timings: the VIP moves within about 5 s (Pgpool-II's defaults, 2/30, take 30+ s)
wd_heartbeat_keepalive = 1
wd_heartbeat_deadtime = 4
delegate_ip = '$VIP'
if_up_cmd = '$IP addr add \$_IP_\$/24 dev eth0'
if_down_cmd = '$IP addr del \$_IP_\$/24 dev eth0'
arping_cmd = '$ARPING -U -c 1 -I eth0 \$_IP_\$'
CONF
      for j in 0 1 2; do
        printf "hostname%d = '%s'\nwd_port%d = 9000\npgpool_port%d = %d\nheartbeat_hostname%d = '%s'\nheartbeat_port%d = 9694\n" \
          "$j" "$NET.$((10 + j))" "$j" "$j" "$PORT" "$j" "$NET.$((10 + j))" "$j"
      done
      common_conf "$NET.50" "$WD/pg"
    } > "$CONF"
    if [ -f "$WD/m$i/poold.pid" ] && kill -0 "$(cat "$WD/m$i/poold.pid")" 2>/dev/null; then
      echo "demo: member $i already running (pid $(cat "$WD/m$i/poold.pid"))"
    else
      bash scripts/wdnet.sh exec "$NS" "m$i" "$BIN/poold" -f "$CONF"
    fi
  done
  echo "demo: waiting for the members to elect a leader and raise $VIP…"
  for _ in $(seq 1 150); do [ -n "$(bash scripts/wdnet.sh vip-holders "$NS" "$VIP")" ] && break; sleep 0.1; done
  CLIENT="bash scripts/wdnet.sh exec $NS client"
  wait_sql $CLIENT psql -h "$VIP" -p "$PORT" || true
  $CLIENT psql -X -h "$VIP" -p "$PORT" -U postgres -d postgres -c "select 'connected through the VIP' as demo, pg_is_in_recovery()" || true
  "$BIN/poolconsole" watchdog -f "$WD/m0/pgpool.conf" || true
  CONF=$WD/m0/pgpool.conf
  cat <<MSG

Three poold members (namespaces $NS-m0..m2 at $NET.10-12) share the virtual IP $VIP, held by the leader,
in front of a primary and two standbys at $NET.50:$PGPORT-$((PGPORT + 2)) (namespace $NS-db).
  connect:   $CLIENT psql -h $VIP -p $PORT -U postgres postgres
  VIP:       bash scripts/wdnet.sh vip-holders $NS $VIP          (the namespace holding it)
  watchdog:  $BIN/poolconsole watchdog -f $WD/m<i>/pgpool.conf   (member i's view; console screen 4)
  console:   $BIN/poolconsole -f $WD/m<i>/pgpool.conf
  try:       kill -9 \$(cat $WD/m<i>/poold.pid)   (the leader: another member raises the VIP in ~5 s)
             bash scripts/wdnet.sh partition $NS <i>  /  heal $NS <i>   (cut a member off the LAN)
             $BIN/poolconsole resign -f $WD/m<i>/pgpool.conf   (the leader hands over)
  logs:      $WD/m<i>/poold.log
  stop:      bash scripts/demo.sh --watchdog stop
MSG
fi
if [ -t 0 ] && [ -t 1 ] && [ -z "${DEMO_NO_CONSOLE:-}" ]; then
  echo "opening the console (q quits; everything keeps running)…"
  sleep 2
  exec "$BIN/poolconsole" -f "$CONF"
fi
