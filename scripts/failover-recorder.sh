#!/usr/bin/env bash
# The watchdog tests' failover_command: appends "<member> <arguments>" to LOG, then runs the sample failover.sh
# with the arguments, so a test can tell which member ran it and how often.
#   failover-recorder.sh MEMBER LOG %d %h %p %D %m %H %M %P %r %R %N %S
set -uo pipefail
member=$1 log=$2
shift 2
echo "$member $*" >> "$log"
exec bash "$(dirname "$0")/../share/scripts/failover.sh" "$@"
