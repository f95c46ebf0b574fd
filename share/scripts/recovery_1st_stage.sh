#!/bin/bash
# recovery_1st_stage.sh — online recovery, first stage (recovery_1st_stage_command). poold runs it itself
# with Pgpool-II's seven arguments (no pgpool_recovery extension needed):
#   $1 primary PGDATA  $2 target host  $3 target PGDATA  $4 primary port  $5 target node id
#   $6 target port     $7 primary host
# Takes a fresh base backup of the primary into the target's data directory and makes it a standby.
set -u
MODE=${MODE:-local}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PG_OS_USER=${PG_OS_USER:-postgres}
SSH_USER=${SSH_USER:-postgres}
REPL_USER=${REPL_USER:-postgres}
PRIMARY_PGDATA=$1 TARGET_HOST=$2 TARGET_PGDATA=$3 PRIMARY_PORT=$4 TARGET_ID=$5 TARGET_PORT=$6 PRIMARY_HOST=${7:-localhost}
[ "$PRIMARY_HOST" = localhost ] && PRIMARY_HOST=127.0.0.1
log() { echo "recovery_1st_stage.sh: node $TARGET_ID: $*" >&2; }
run_on() {
  local host=$1; shift
  if [ "$MODE" = ssh ]; then ssh -o StrictHostKeyChecking=no "$SSH_USER@$host" "$(printf '%q ' "$@")"
  elif [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"
  else "$@"; fi
}
run_on "$TARGET_HOST" "$PGBIN/pg_ctl" -D "$TARGET_PGDATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
run_on "$TARGET_HOST" bash -c "rm -rf '$TARGET_PGDATA' && '$PGBIN/pg_basebackup' -h '$PRIMARY_HOST' -p '$PRIMARY_PORT' -U '$REPL_USER' -D '$TARGET_PGDATA' -X stream -c fast" >&2 \
  || { log "pg_basebackup failed"; exit 1; }
bash "$(dirname "$0")/standby_settings.sh" "$TARGET_HOST" "$TARGET_PGDATA" "$TARGET_PORT" "$TARGET_ID" "$PRIMARY_HOST" "$PRIMARY_PORT" \
  || { log "cannot write standby settings"; exit 1; }
log "base backup taken from $PRIMARY_HOST:$PRIMARY_PORT"
