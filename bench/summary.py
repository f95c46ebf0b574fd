#!/usr/bin/env python3
"""The issue-shaped view of a `bench/bench.py` run: one row per workload, TPS with the proxy's CPU µs per
transaction for poold (load balancing on and off, transaction pooling) next to PgBouncer and Pgpool-II, then
every performance target of issue 13 marked met or missed with the ratio it was judged on.

bench.py prints it at the end of a run; for saved output (one or more logs, later ones win per row):

    python3 bench/summary.py /tmp/bench-full.log [/tmp/bench-s200.log]
"""
import re, sys

LABELS = {
    "S1s": "`-S -c1` simple", "S1p": "`-S -c1` prepared", "S16s": "`-S -c16` simple", "S16p": "`-S -c16` prepared",
    "S64s": "`-S -c64` simple", "S64p": "`-S -c64` prepared", "N16": "`-N -c16`",
    "C16": "`-S -C -c16` (connect per txn)", "S200s": "`-S -c200 -j2` simple", "S200p": "`-S -c200 -j2` prepared",
}
COLUMNS = [("poold", "poold LB on"), ("poold-nolb", "poold LB off"), ("poold-tx", "poold txn"),
           ("pgbouncer-session", "PgBouncer session"), ("pgbouncer-tx", "PgBouncer txn"), ("pgpool", "Pgpool-II LB")]


def parse(lines):
    """Rows of bench.py's long table, its idle-RSS lines and its steal-time line:
    ({(workload, target): (tps, cpu µs/txn)}, {name: KB}, [steal line])."""
    rows, idle, notes = {}, {}, []
    for line in lines:
        m = re.match(r"\| (\w+) \| ([\w-]+) \| ([\d.]+|failed) \|[^|]*\|[^|]*\| ([\d.]+|-)? ?\|", line)
        if m and m.group(1) in LABELS:
            tps = None if m.group(3) == "failed" else float(m.group(3))
            cpu = float(m.group(4)) * 100 if m.group(4) and m.group(4) != "-" else None  # s/10k txn -> µs/txn
            rows[(m.group(1), m.group(2))] = (tps, cpu)
        m = re.match(r"(poold pool_mode = transaction|poold|pgbouncer \(transaction pool\)) RSS .* = ([\d.]+) KB per idle client", line)
        if m:
            idle[{"poold": "poold", "poold pool_mode = transaction": "poold-tx"}.get(m.group(1), "pgbouncer")] = float(m.group(2))
        if line.startswith("steal time during the runs:"):
            notes.append(line.strip()[0].upper() + line.strip()[1:] + ".")
    return rows, idle, notes


def cell(rows, workload, target):
    tps, cpu = rows.get((workload, target), (None, None))
    if (workload, target) not in rows:
        return "–"
    if tps is None:
        return "failed"
    return f"{tps:.0f}" + (f" ({cpu:.0f})" if cpu is not None else "")


def verdicts(rows, idle):
    """(target, met?, evidence) for every target of the issue that the rows can judge."""
    out = []
    def get(w, t, i):
        v = rows.get((w, t))
        return v[i] if v else None
    for w in ("S16s", "S16p", "N16"):
        base = get(w, "pgbouncer-session", 1)
        for t in ("poold-nolb", "poold"):
            c = get(w, t, 1)
            if c is not None and base:
                out.append((f"CPU/txn {t} <= PgBouncer session, {w}", c <= base, f"{c:.1f} vs {base:.1f} µs ({c / base:.2f}x)"))
    for w in ("S16s", "S16p", "S64s", "S64p"):
        off, pgb, on = get(w, "poold-nolb", 0), get(w, "pgbouncer-session", 0), get(w, "poold", 0)
        if off and pgb:
            out.append((f"TPS poold LB off >= PgBouncer session, {w}", off >= pgb, f"{off:.0f} vs {pgb:.0f} ({off / pgb:.2f}x)"))
        if off and on:
            out.append((f"TPS poold LB on >= 0.95x LB off, {w}", on >= 0.95 * off, f"{on:.0f} vs {off:.0f} ({on / off:.2f}x)"))
    tx, pgb = get("C16", "poold-tx", 0), get("C16", "pgbouncer-tx", 0)
    if tx and pgb:
        out.append(("TPS `-S -C -c16` poold txn >= PgBouncer txn", tx >= pgb, f"{tx:.0f} vs {pgb:.0f} ({tx / pgb:.2f}x)"))
    if "poold-tx" in idle:
        out.append(("idle client RSS, transaction mode <= 4 KB", idle["poold-tx"] <= 4.0, f"{idle['poold-tx']:.1f} KB"))
    return out


def render(rows, idle, notes=()):
    workloads = [w for w in LABELS if any(k[0] == w for k in rows)]
    out = ["| workload | direct TPS | " + " | ".join(c[1] + (": TPS (CPU µs/txn)" if i == 0 else "")
                                               for i, c in enumerate(COLUMNS)) + " |",
           "|---|---:|" + "---:|" * len(COLUMNS)]
    for w in workloads:
        direct = rows.get((w, "direct"), (None, None))[0]
        out.append(f"| {LABELS[w]} | {direct:.0f} | " if direct else f"| {LABELS[w]} | – | ")
        out[-1] += " | ".join(cell(rows, w, t) for t, _ in COLUMNS) + " |"
    if idle:
        out.append("")
        out.append("Idle clients, RSS each: " + ", ".join(f"{n} {kb:.1f} KB" for n, kb in idle.items()))
    if notes:
        out += [""] + list(notes)
    v = verdicts(rows, idle)
    if v:
        out.append("")
        out.append("| target | met | measured |")
        out.append("|---|---|---|")
        out += [f"| {name} | {'met' if ok else 'missed'} | {ev} |" for name, ok, ev in v]
    return "\n".join(out)


def main():
    rows, idle, notes = {}, {}, []
    for path in sys.argv[1:]:
        r, i, n = parse(open(path))
        rows.update(r)
        idle.update(i)
        notes += n
    if not rows:
        sys.exit("summary: no bench.py table rows in " + " ".join(sys.argv[1:]))
    print(render(rows, idle, notes))


if __name__ == "__main__":
    main()
