#!/bin/bash
# standby_settings.sh HOST PGDATA PORT NODE_ID PRIMARY_HOST PRIMARY_PORT
# Makes a copied data directory (pg_rewind, pg_basebackup) a standby of the given primary: its own port and
# cluster_name in node.conf (included by postgresql.conf), primary_conninfo with application_name, and
# standby.signal. Settings copied from the primary's postgresql.auto.conf that would override them go.
set -eu
MODE=${MODE:-local}
PG_OS_USER=${PG_OS_USER:-postgres}
SSH_USER=${SSH_USER:-postgres}
REPL_USER=${REPL_USER:-postgres}
APP_PREFIX=${APP_PREFIX:-node}
HOST=$1 PGDATA=$2 PORT=$3 ID=$4 PHOST=$5 PPORT=$6
script="
printf \"port = $PORT\ncluster_name = '$APP_PREFIX$ID'\nprimary_conninfo = 'host=$PHOST port=$PPORT user=$REPL_USER application_name=$APP_PREFIX$ID'\n\" > '$PGDATA/node.conf'
grep -q \"include_if_exists = 'node.conf'\" '$PGDATA/postgresql.conf' || echo \"include_if_exists = 'node.conf'\" >> '$PGDATA/postgresql.conf'
if [ -f '$PGDATA/postgresql.auto.conf' ]; then grep -v -E '^(primary_conninfo|port|cluster_name|synchronous_standby_names) ' '$PGDATA/postgresql.auto.conf' > '$PGDATA/auto.tmp' || true; mv '$PGDATA/auto.tmp' '$PGDATA/postgresql.auto.conf'; fi
touch '$PGDATA/standby.signal'
rm -f '$PGDATA/postmaster.pid'
"
if [ "$MODE" = ssh ]; then ssh -o StrictHostKeyChecking=no "$SSH_USER@$HOST" "$script"
elif [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- bash -c "$script"
else bash -c "$script"; fi
