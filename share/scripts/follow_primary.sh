#!/bin/bash
# follow_primary.sh — poold / Pgpool-II follow_primary_command (4.1 name: follow_master_command).
#   follow_primary_command = '/path/follow_primary.sh %d %h %p %D %m %H %M %P %r %R'
# Re-points node %d at the new primary %m: stop it, pg_rewind from the new primary (falling back to
# pg_basebackup), write its standby settings, start it, attach it through poold's admin socket, and raise
# synchronous_standby_names on the primary to the standbys that stream again.
set -u
MODE=${MODE:-local}                      # local | ssh
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PG_OS_USER=${PG_OS_USER:-postgres}
SSH_USER=${SSH_USER:-postgres}
REPL_USER=${REPL_USER:-postgres}         # user in primary_conninfo and for pg_rewind/pg_basebackup
APP_PREFIX=${APP_PREFIX:-node}           # application_name = APP_PREFIX<node id> (= backend_application_nameN)
SYNC_ANY=${SYNC_ANY:-1}                  # ANY n once standbys stream again ('' to leave it asynchronous)
POOLCONSOLE=${POOLCONSOLE:-poolconsole}  # poold sets POOLCONSOLE and POOLD_ADMIN_SOCKET for its scripts
# Under Pgpool-II (no POOLD_ADMIN_SOCKET) the node is attached with pcp_attach_node instead:
PCP_HOST=${PCP_HOST:-localhost} PCP_PORT=${PCP_PORT:-9898} PCP_USER=${PCP_USER:-pgpool}  # password from PCPPASSFILE

NODE_ID=${1:-} NODE_HOST=${2:-} NODE_PORT=${3:-} NODE_PGDATA=${4:-}
NEW_PRIMARY_ID=${5:-} NEW_PRIMARY_HOST=${6:-} OLD_MAIN_ID=${7:-} OLD_PRIMARY_ID=${8:-} NEW_PRIMARY_PORT=${9:-} NEW_PRIMARY_PGDATA=${10:-}

log() { echo "follow_primary.sh: node $NODE_ID: $*" >&2; }
# An empty %D or %R (backend_data_directoryN unset) drops a word and shifts every later argument: refuse to
# act (pg_ctl on a host name, pg_rewind into the wrong directory) on an argument list that does not parse.
is_int() { [[ $1 =~ ^-?[0-9]+$ ]]; }
if [ $# -lt 10 ] || ! is_int "$NODE_ID" || ! is_int "$NODE_PORT" || [ "${NODE_PGDATA:0:1}" != / ] || ! is_int "$NEW_PRIMARY_ID" \
   || ! is_int "$OLD_MAIN_ID" || ! is_int "$OLD_PRIMARY_ID" || ! is_int "$NEW_PRIMARY_PORT"; then
  log "refusing to act: arguments do not parse as '%d %h %p %D %m %H %M %P %r %R' ($*); is backend_data_directoryN set?"
  exit 1
fi
run_on() {
  local host=$1; shift
  if [ "$MODE" = ssh ]; then ssh -o StrictHostKeyChecking=no "$SSH_USER@$host" "$(printf '%q ' "$@")"
  elif [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"
  else "$@"; fi
}
sql() { "$PGBIN/psql" -X -At -h "$NEW_PRIMARY_HOST" -p "$NEW_PRIMARY_PORT" -U "$REPL_USER" -d postgres -c "$1"; }

log "following node $NEW_PRIMARY_ID ($NEW_PRIMARY_HOST:$NEW_PRIMARY_PORT)"
# A promoted server records its new timeline at its next checkpoint; pg_rewind must see it.
sql "checkpoint" >/dev/null 2>&1 || true
source="host=$NEW_PRIMARY_HOST port=$NEW_PRIMARY_PORT user=$REPL_USER dbname=postgres"

streaming() {
  for _ in $(seq 1 150); do
    [ "$(sql "select count(*) from pg_stat_replication where application_name = '$APP_PREFIX$NODE_ID' and state = 'streaming'")" = 1 ] && return 0
    sleep 0.2
  done
  return 1
}
start_standby() {
  bash "$(dirname "$0")/standby_settings.sh" "$NODE_HOST" "$NODE_PGDATA" "$NODE_PORT" "$NODE_ID" "$NEW_PRIMARY_HOST" "$NEW_PRIMARY_PORT" \
    || { log "cannot write standby settings"; return 1; }
  run_on "$NODE_HOST" "$PGBIN/pg_ctl" -D "$NODE_PGDATA" -l "$NODE_PGDATA/../n$NODE_ID-follow.log" -w -t 120 start >/dev/null \
    || { log "the standby did not start"; return 1; }
  streaming
}
basebackup() {
  run_on "$NODE_HOST" "$PGBIN/pg_ctl" -D "$NODE_PGDATA" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
  run_on "$NODE_HOST" bash -c "rm -rf '$NODE_PGDATA' && '$PGBIN/pg_basebackup' -h '$NEW_PRIMARY_HOST' -p '$NEW_PRIMARY_PORT' -U '$REPL_USER' -D '$NODE_PGDATA' -X stream -c fast" >&2
}

run_on "$NODE_HOST" "$PGBIN/pg_ctl" -D "$NODE_PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
if run_on "$NODE_HOST" "$PGBIN/pg_rewind" -D "$NODE_PGDATA" --source-server="$source" >&2 && start_standby; then
  log "pg_rewind done; streaming"
else
  log "pg_rewind did not give a streaming standby; taking a new base backup"
  basebackup || { log "pg_basebackup failed"; exit 1; }
  start_standby || { log "the standby does not stream after a base backup"; exit 1; }
  log "base backup done; streaming"
fi
if [ -n "${POOLD_ADMIN_SOCKET:-}" ]; then
  "$POOLCONSOLE" attach "$NODE_ID" -s "$POOLD_ADMIN_SOCKET" >&2 || { log "attach through poold failed"; exit 1; }
else
  pcp_attach_node -h "$PCP_HOST" -p "$PCP_PORT" -U "$PCP_USER" -w -n "$NODE_ID" >&2 || { log "pcp_attach_node failed"; exit 1; }
fi
if [ -n "$SYNC_ANY" ]; then
  names=$(sql "select string_agg(application_name, ',') from pg_stat_replication where state = 'streaming'")
  [ -n "$names" ] && sql "alter system set synchronous_standby_names = 'ANY $SYNC_ANY ($names)'" >/dev/null \
    && sql "select pg_reload_conf()" >/dev/null \
    && log "synchronous_standby_names = 'ANY $SYNC_ANY ($names)'"
fi
log "streaming from node $NEW_PRIMARY_ID and attached"
