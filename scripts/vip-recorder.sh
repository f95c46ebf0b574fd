#!/usr/bin/env bash
# scripts/vip-recorder.sh — the watchdog tests' if_up_cmd / if_down_cmd / arping_cmd: does the real thing in the
# caller's network namespace and appends one line per call to a log shared by every member:
#
#   vip-recorder.sh up|down|arping IP LOGFILE [MEMBER]
#
#     up      ip addr add IP/24 dev eth0        (WDNET_DEV, WDNET_PREFIXLEN override eth0 and 24)
#     down    ip addr del IP/24 dev eth0
#     arping  arping -U -c 1 -I eth0 IP         (iputils-arping; a gratuitous ARP, no answer expected)
#
#   log line: <CLOCK_BOOTTIME ns> <MEMBER> up|down|arping <IP> <exit status of the real command>
#
# In pgpool.conf: if_up_cmd = '/abs/scripts/vip-recorder.sh up $_IP_$ /tmp/…/vip.log m0' (an absolute first
# word, so if_cmd_path / arping_path are not prepended). MEMBER defaults to the caller's namespace name
# (`ip netns identify`). CLOCK_BOOTTIME is one clock for every network namespace of the host, so lines from
# all members order correctly (scripts/vip-check.py replays them). To keep that check sound, an `up` is stamped
# just before the address is added and a `down` just after it is removed: a hold is never logged shorter than
# it was. An `arping` is stamped before it starts: its one gratuitous ARP leaves at once, but arping itself
# exits about 1 s later. Lines are appended under flock(LOGFILE). The command's own output goes to
# stdout/stderr (poold logs it) and its exit status is ours.
set -uo pipefail
PATH="$PATH:/usr/sbin:/sbin"   # ip and arping, for callers whose PATH lacks the sbin directories

die() { echo "vip-recorder.sh: $*" >&2; exit 2; }
[ $# -ge 3 ] || die "usage: vip-recorder.sh up|down|arping IP LOGFILE [MEMBER]"
action=$1; ip=$2; log=$3
member=${4:-$(ip netns identify $$ 2>/dev/null)}
member=${member:-$(hostname)}
dev=${WDNET_DEV:-eth0}; len=${WDNET_PREFIXLEN:-24}
[[ "$ip" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "bad IP '$ip'"
[[ "$member" =~ ^[^[:space:]]+$ ]] || die "bad MEMBER '$member'"

# the distro's python3 without site (12 ms, where a pyenv shim takes 200 ms before the clock is read)
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
now() { "$PY" -S -E -c 'import time; print(time.clock_gettime_ns(time.CLOCK_BOOTTIME))'; }
record() {  # TIME STATUS
  { flock 9; printf '%s %s %s %s %s\n' "$1" "$member" "$action" "$ip" "$2" >&9; } 9>>"$log"
}

case "$action" in
  up)
    t=$(now)
    ip addr add "$ip/$len" dev "$dev"; status=$?
    ;;
  down)
    ip addr del "$ip/$len" dev "$dev"; status=$?
    t=$(now)
    ;;
  arping)
    t=$(now)
    arping -U -c 1 -I "$dev" "$ip"; status=$?
    ;;
  *) die "unknown action '$action' (up, down or arping)" ;;
esac
record "$t" "$status" || die "could not append to $log"
exit "$status"
