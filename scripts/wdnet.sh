#!/usr/bin/env bash
# scripts/wdnet.sh — a private IPv4 LAN of network namespaces for the watchdog's integration tests: N poold
# members, a client and a database host on one Linux bridge, with a virtual IP that moves between members.
#
#   wdnet.sh up          PREFIX N              create (what is missing of) the layout below; idempotent
#   wdnet.sh down        PREFIX                kill what runs inside PREFIX-* and delete every PREFIX-* namespace
#   wdnet.sh partition   PREFIX I [link|bridge] cut member I (or client/db) off the bridge (default: link)
#   wdnet.sh heal        PREFIX I              undo partition
#   wdnet.sh exec        PREFIX NAME cmd…      run cmd in PREFIX-NAME (NAME: hub, m<i>, client, db)
#   wdnet.sh vip-holders PREFIX VIP            print the namespaces that have VIP on an interface, one a line
#   wdnet.sh show        PREFIX                every PREFIX-* namespace with its links and IPv4 addresses
#   wdnet.sh list        PREFIX                the PREFIX-* namespaces, one a line
#
# PREFIX is a letter then letters/digits/underscores (no '-', so "PREFIX-" never matches another prefix):
# the Swift harness uses pdwd<pid>_<n>. Everything lives inside namespaces named PREFIX-…; the root namespace's
# links, addresses, routes and sysctls are never touched. Layout (NET = 10.77.0, or $WDNET_NET):
#
#   namespace       interface                  address         role
#   PREFIX-hub      br0 (bridge, STP off)      NET.1/24        the switch; its ports m0…m(N-1), client, db
#                                                              are the hub ends of the veth pairs
#   PREFIX-m<i>     eth0 (veth, hub port m<i>) NET.(10+i)/24   poold member i; the VIP (NET.200/24 by
#                                                              convention) is added to this eth0 by the
#                                                              member's if_up_cmd (scripts/vip-recorder.sh)
#   PREFIX-client   eth0 (veth, port client)   NET.100/24      test clients: connect to the VIP, ping
#   PREFIX-db       eth0 (veth, port db)       NET.50/24       PostgreSQL primary + standbys (one port each)
#
# Every namespace has lo up (127.0.0.1, ::1). Members reach PostgreSQL at NET.50:port and each other at
# NET.(10+j) (watchdog TCP and heartbeat UDP); the client reaches members at NET.(10+i) and the VIP. The test
# runner (root namespace) reaches nothing over IP: it uses `wdnet.sh exec PREFIX db psql -h 127.0.0.1 …`, or
# PostgreSQL's Unix sockets (a path is visible from every network namespace). NET.0/24 is a separate LAN per
# PREFIX (each has its own bridge), so parallel runs and the host's own addresses do not collide with it.
#
# partition link: the hub's end of the member's veth goes down (the member sees NO-CARRIER on eth0);
# partition bridge: the veth stays up but leaves the bridge (carrier up, every frame dropped — a dead switch
# uplink). heal puts it back on br0 and up. IP forwarding is not involved (one L2 segment); bridged frames are
# kept away from iptables inside the hub (net.bridge.bridge-nf-call-* = 0 in PREFIX-hub only, when
# br_netfilter is loaded). ARP sysctls keep Linux's defaults: a gratuitous ARP (arping -U) updates the
# client's existing neighbour entry for the VIP.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"   # ip and arping, for callers whose PATH lacks the sbin directories

die() { echo "wdnet.sh: $*" >&2; exit 1; }
usage() { sed -n '5,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
cmd=${1:-}; P=${2:-}
[ -n "$cmd" ] && [ -n "$P" ] || usage
shift 2
[[ "$P" =~ ^[A-Za-z][A-Za-z0-9_]{0,39}$ ]] || die "bad PREFIX '$P' (a letter, then letters, digits or _)"
NET=${WDNET_NET:-10.77.0}
[[ "$NET" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "bad WDNET_NET '$NET' (three octets, e.g. 10.77.0)"

need_tools() {
  [ "$(id -u)" = 0 ] || die "network namespaces need root (running as uid $(id -u)); CI runs the tests as root"
  local missing=()
  command -v ip >/dev/null || missing+=(iproute2)
  command -v ping >/dev/null || missing+=(iputils-ping)
  command -v arping >/dev/null || missing+=(iputils-arping)
  if [ ${#missing[@]} -gt 0 ]; then
    bash "$(dirname "$0")/install-deps.sh" "${missing[@]}" || die "could not install ${missing[*]}"
  fi
  ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here: $(ip netns list 2>&1 | head -1)"
}

namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${P}-" | sort || true; }
has_ns() { namespaces | grep -qx -- "$1"; }
ns_name() {  # NAME or PREFIX-NAME or a member index → PREFIX-NAME
  case "$1" in
    "$P"-*) echo "$1" ;;
    [0-9]|[0-9][0-9]) echo "$P-m$1" ;;
    *) echo "$P-$1" ;;
  esac
}
hub_port() {  # member index, m<i>, client or db → the hub's end of its veth
  case "$1" in
    [0-9]|[0-9][0-9]) echo "m$1" ;;
    m[0-9]|m[0-9][0-9]|client|db) echo "$1" ;;
    "$P"-*) hub_port "${1#"$P"-}" ;;
    *) die "no such port '$1' (a member index, m<i>, client or db)" ;;
  esac
}
HUB="$P-hub"

# A namespace NS with lo up and eth0 = the peer of the hub's port PORT, addressed ADDR/24.
attach() {
  local ns=$1 port=$2 addr=$3
  has_ns "$ns" || ip netns add "$ns"
  ip -n "$ns" link set lo up
  if ! ip -n "$HUB" link show "$port" >/dev/null 2>&1; then
    ip -n "$ns" link del eth0 2>/dev/null || true   # a half-made pair from an interrupted up
    ip -n "$HUB" link add "$port" type veth peer name eth0 netns "$ns"
  fi
  ip -n "$HUB" link set "$port" master br0
  ip -n "$HUB" link set "$port" up
  ip -n "$ns" addr replace "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

case "$cmd" in
up)
  N=${1:?"usage: wdnet.sh up PREFIX N"}
  [[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 80 ] || die "N must be 1..80 (got '$N')"
  need_tools
  has_ns "$HUB" || ip netns add "$HUB" || die "cannot create network namespaces ('ip netns add $HUB' failed above):" \
    "the tests need root with CAP_SYS_ADMIN and CAP_NET_ADMIN (a privileged container, or the host)"
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link show br0 >/dev/null 2>&1 || ip -n "$HUB" link add br0 type bridge stp_state 0
  ip -n "$HUB" addr replace "$NET.1/24" dev br0
  ip -n "$HUB" link set br0 up
  if ip netns exec "$HUB" test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
    for f in iptables ip6tables arptables; do
      ip netns exec "$HUB" sysctl -qw "net.bridge.bridge-nf-call-$f=0"
    done
  fi
  for i in $(seq 0 $((N - 1))); do attach "$P-m$i" "m$i" "$NET.$((10 + i))"; done
  attach "$P-client" client "$NET.100"
  attach "$P-db" db "$NET.50"
  # every host answers across the bridge (the first pings also fill the hub's forwarding table)
  for addr in "$NET.50" $(seq -f "$NET.%g" 10 $((9 + N))); do
    ping_ok=0
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      if ip netns exec "$P-client" ping -n -q -c 1 -W 1 "$addr" >/dev/null 2>&1; then ping_ok=1; break; fi
      sleep 0.2
    done
    [ "$ping_ok" = 1 ] || die "$P-client cannot ping $addr across $HUB's bridge: $(ip -n "$HUB" -br link)"
  done
  echo "wdnet: $HUB br0 $NET.1; members $P-m0..m$((N - 1)) at $NET.10..$NET.$((9 + N)); client $NET.100; db $NET.50"
  ;;
down)
  command -v ip >/dev/null || exit 0
  list=$(namespaces)
  [ -n "$list" ] || exit 0
  # What runs inside these namespaces was started there by the test that made them: stop it, by pid.
  pids=$(for ns in $list; do ip netns pids "$ns" 2>/dev/null || true; done | sort -un)
  if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null || true
    kill -CONT $pids 2>/dev/null || true   # a SIGSTOPped process gets its SIGTERM now
    for _ in $(seq 1 50); do
      alive=$(for p in $pids; do kill -0 "$p" 2>/dev/null && echo "$p"; done || true)
      [ -n "$alive" ] || break
      sleep 0.1
    done
    [ -n "${alive:-}" ] && kill -KILL $alive 2>/dev/null || true
  fi
  for ns in $list; do ip netns del "$ns" 2>/dev/null || true; done
  left=$(namespaces)
  [ -z "$left" ] || die "could not delete: $left"
  ;;
partition|heal)
  who=${1:?"usage: wdnet.sh $cmd PREFIX I"}; mode=${2:-link}
  port=$(hub_port "$who")
  has_ns "$HUB" || die "$HUB does not exist (wdnet.sh up first)"
  ip -n "$HUB" link show "$port" >/dev/null 2>&1 || die "$HUB has no port $port"
  if [ "$cmd" = partition ]; then
    case "$mode" in
      link) ip -n "$HUB" link set "$port" down ;;
      bridge) ip -n "$HUB" link set "$port" nomaster ;;
      *) die "partition mode is link or bridge (got '$mode')" ;;
    esac
  else
    ip -n "$HUB" link set "$port" master br0
    ip -n "$HUB" link set "$port" up
  fi
  ;;
exec)
  name=${1:?"usage: wdnet.sh exec PREFIX NAME cmd…"}; shift
  [ $# -gt 0 ] || die "usage: wdnet.sh exec PREFIX NAME cmd…"
  ns=$(ns_name "$name")
  has_ns "$ns" || die "no namespace $ns"
  exec ip netns exec "$ns" "$@"
  ;;
vip-holders)
  vip=${1:?"usage: wdnet.sh vip-holders PREFIX VIP"}
  for ns in $(namespaces); do
    if ip -n "$ns" -o -4 addr show 2>/dev/null | grep -qF " inet $vip/"; then echo "$ns"; fi
  done
  ;;
show)
  for ns in $(namespaces); do
    echo "== $ns"
    ip -n "$ns" -br link
    ip -n "$ns" -br -4 addr
  done
  ;;
list) namespaces ;;
*) usage ;;
esac
