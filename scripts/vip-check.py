#!/usr/bin/env python3
"""scripts/vip-check.py LOG — replays a scripts/vip-recorder.sh log and checks that no two members ever held a
VIP at once.

A member holds an IP from its `up` line until its next `down` line for that IP (whatever either command's exit
status: a failed `ip addr add` of an address the member already has still leaves it holding, so the check
counts it; non-zero statuses are listed as warnings). `arping` lines do not change who holds. For every IP in
the log it prints the maximum number of simultaneous holders, every interval in which there were more than
one (members, start relative to the log's first line, length), and who holds it at the end of the log.

Exit status: 0 if at every instant at most one member held each IP, 1 if ever more than one, 2 if the log
cannot be read or has a malformed line.
"""
import sys


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: vip-check.py LOG", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"vip-check: cannot read {argv[1]}: {e}", file=sys.stderr)
        return 2
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 5 or parts[2] not in ("up", "down", "arping"):
            print(f"vip-check: {argv[1]}:{n}: malformed line {line!r}", file=sys.stderr)
            return 2
        try:
            t, status = int(parts[0]), int(parts[4])
        except ValueError:
            print(f"vip-check: {argv[1]}:{n}: malformed line {line!r}", file=sys.stderr)
            return 2
        events.append((t, n, parts[1], parts[2], parts[3], status))
    if not events:
        print(f"vip-check: {argv[1]} is empty: no VIP was ever raised")
        return 0
    events.sort()  # by monotonic time, then by line number
    t0 = events[0][0]

    def rel(t):
        return f"t+{(t - t0) / 1e9:.3f}s"

    for t, n, member, action, ip, status in events:
        if status != 0:
            print(f"warning: line {n}: {member} {action} {ip} exited {status} at {rel(t)}")

    worst = 0
    for ip in sorted({e[4] for e in events}):
        holders = {}  # member -> since
        peak, overlaps, start = 0, [], None
        for t, n, member, action, eip, status in events:
            if eip != ip or action == "arping":
                continue
            if action == "up":
                holders.setdefault(member, t)
            else:
                holders.pop(member, None)
            count = len(holders)
            peak = max(peak, count)
            if count > 1 and start is None:
                start = (t, sorted(holders))
            elif count > 1:
                start = (start[0], sorted(set(start[1]) | set(holders)))
            elif start is not None:
                overlaps.append((start[0], t, start[1]))
                start = None
        if start is not None:
            overlaps.append((start[0], None, start[1]))
        worst = max(worst, peak)
        print(f"{ip}: at most {peak} simultaneous holder{'s' if peak != 1 else ''}"
              f" ({sum(1 for e in events if e[4] == ip and e[3] == 'up')} up,"
              f" {sum(1 for e in events if e[4] == ip and e[3] == 'down')} down)")
        for begin, end, members in overlaps:
            length = f"for {(end - begin) / 1e6:.1f} ms" if end is not None else "until the end of the log"
            print(f"  MORE THAN ONE HOLDER: {', '.join(members)} from {rel(begin)} {length}")
        print(f"  held at the end of the log by: {', '.join(sorted(holders)) or 'nobody'}")
    return 1 if worst > 1 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
