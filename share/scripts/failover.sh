#!/bin/bash
# failover.sh — poold / Pgpool-II failover_command for streaming replication.
#   failover_command = '/path/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S'
# A standby failed: lower synchronous_standby_names on the primary to the standbys still alive.
# The primary failed: promote the new main node (%m, the standby poold chose), and clear
# synchronous_standby_names there until follow_primary.sh has re-attached the other standbys.
# MODE=local runs commands on this host; MODE=ssh runs them on the node's host as SSH_USER.
set -u
MODE=${MODE:-local}                      # local | ssh
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PG_OS_USER=${PG_OS_USER:-postgres}       # OS user owning the data directories
SSH_USER=${SSH_USER:-postgres}
DB_USER=${DB_USER:-postgres}             # superuser for ALTER SYSTEM

FAILED_ID=${1:-} FAILED_HOST=${2:-} FAILED_PORT=${3:-} FAILED_PGDATA=${4:-}
NEW_MAIN_ID=${5:-} NEW_MAIN_HOST=${6:-} OLD_MAIN_ID=${7:-} OLD_PRIMARY_ID=${8:-} NEW_MAIN_PORT=${9:-} NEW_MAIN_PGDATA=${10:-}
OLD_PRIMARY_HOST=${11:-} OLD_PRIMARY_PORT=${12:-}

log() { echo "failover.sh: $*" >&2; }
# An empty placeholder (%D or %R with backend_data_directoryN unset, %H/%r with no new main) drops a word
# and shifts every later argument: refuse to act on an argument list that does not parse.
is_int() { [[ $1 =~ ^-?[0-9]+$ ]]; }
if [ $# -lt 8 ] || ! is_int "$FAILED_ID" || ! is_int "$FAILED_PORT" || ! is_int "$NEW_MAIN_ID" || ! is_int "$OLD_MAIN_ID" \
   || ! is_int "$OLD_PRIMARY_ID"; then
  log "refusing to act: arguments do not parse as '%d %h %p %D %m %H %M %P %r %R %N %S' ($*); is backend_data_directoryN set?"
  exit 1
fi
if [ "$NEW_MAIN_ID" -ge 0 ] && { ! is_int "$NEW_MAIN_PORT" || [ "${NEW_MAIN_PGDATA:0:1}" != / ]; }; then
  log "refusing to act: new main node $NEW_MAIN_ID has no port or data directory in the arguments ($*); set backend_data_directory$NEW_MAIN_ID"
  exit 1
fi
run_on() {  # run_on HOST command… (as the PostgreSQL OS user)
  local host=$1; shift
  if [ "$MODE" = ssh ]; then ssh -o StrictHostKeyChecking=no "$SSH_USER@$host" "$(printf '%q ' "$@")"
  elif [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"
  else "$@"; fi
}
sql() { "$PGBIN/psql" -X -At -h "$1" -p "$2" -U "$DB_USER" -d postgres -c "$3"; }

log "node $FAILED_ID ($FAILED_HOST:$FAILED_PORT) failed; old primary $OLD_PRIMARY_ID; new main $NEW_MAIN_ID"
if [ "$NEW_MAIN_ID" -lt 0 ]; then log "no node left to promote"; exit 0; fi

if [ "$FAILED_ID" != "$OLD_PRIMARY_ID" ]; then
  # A standby failed: keep ANY n ≤ the standbys still streaming, so commits do not wait for the dead one.
  n=$(sql "$OLD_PRIMARY_HOST" "$OLD_PRIMARY_PORT" "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null || echo 0)
  names=$(sql "$OLD_PRIMARY_HOST" "$OLD_PRIMARY_PORT" "select string_agg(application_name, ',') from pg_stat_replication where state = 'streaming'" 2>/dev/null)
  if [ "${n:-0}" -gt 0 ]; then ssn="ANY 1 ($names)"; else ssn=""; fi
  sql "$OLD_PRIMARY_HOST" "$OLD_PRIMARY_PORT" "alter system set synchronous_standby_names = '$ssn'" >/dev/null \
    && sql "$OLD_PRIMARY_HOST" "$OLD_PRIMARY_PORT" "select pg_reload_conf()" >/dev/null \
    && log "synchronous_standby_names = '$ssn' on the primary"
  exit 0
fi

# The primary failed: promote the new main node.
if ! run_on "$NEW_MAIN_HOST" "$PGBIN/pg_ctl" -D "$NEW_MAIN_PGDATA" -w -t 60 promote; then
  log "promote of node $NEW_MAIN_ID failed"; exit 1
fi
# No standby follows the new primary yet: commits must not wait for one.
sql "$NEW_MAIN_HOST" "$NEW_MAIN_PORT" "alter system set synchronous_standby_names = ''" >/dev/null \
  && sql "$NEW_MAIN_HOST" "$NEW_MAIN_PORT" "select pg_reload_conf()" >/dev/null
log "node $NEW_MAIN_ID promoted"
exit 0
