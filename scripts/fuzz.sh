#!/usr/bin/env bash
# Fuzzes poold's pure decoders with libFuzzer (share/doc/fuzzing.md). Builds the Fuzzing/ package in release with
# -sanitize=fuzzer,address (scratch path Fuzzing/.build), then runs each harness for N inputs on a copy of its seed
# corpus (Fuzzing/Seeds/NAME) and prints one line per harness: inputs run, crashes, time. libFuzzer stops at the
# first crash (a trap, an ASan report, a broken invariant, an input over -rss_limit_mb or -timeout); the input is
# kept and the script exits 1.
#
#   scripts/fuzz.sh [--runs N] [--only NAME]... [--no-build] [--keep]
#
#   --runs N     inputs per harness (default 1000000)
#   --only NAME  run this harness only (FuzzFrames or Frames; may be repeated)
#   --no-build   use the harnesses already built
#   --keep       keep the work directory (corpora, logs) even when nothing crashed
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

runs=1000000
only=()
build=1
keep=0
while (( $# )); do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --only) only+=("Fuzz${2#Fuzz}"); shift 2 ;;
        --no-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# Harness and its -max_len: wire packets stay small; configuration files are longer.
targets=(FuzzFrames:4096 FuzzStartup:4096 FuzzPCP:4096 FuzzConfig:16384 FuzzWatchdog:4096)

if (( build )); then
    # Builds on a shared machine go through one lock (the root package's builds take it too).
    lock=()
    command -v flock >/dev/null && lock=(flock "${POOLD_BUILD_LOCK:-/tmp/poold-build.lock}")
    "${lock[@]}" nice -n 5 swift build --package-path Fuzzing --scratch-path Fuzzing/.build -c release \
        -Xswiftc -sanitize=fuzzer,address
fi
bin=Fuzzing/.build/release

work=$(mktemp -d "${TMPDIR:-/tmp}/poold-fuzz.XXXXXX")
failed=0
# Swift's own crash backtracer reads the crashed stack, which ASan reports as a second error: libFuzzer's report is enough.
export SWIFT_BACKTRACE=enable=no
for entry in "${targets[@]}"; do
    name=${entry%%:*}
    maxlen=${entry##*:}
    if (( ${#only[@]} )) && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
    mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
    cp Fuzzing/Seeds/"$name"/* "$work/$name/corpus/"
    start=$(date +%s)
    status=0
    nice -n 5 "$bin/$name" -runs="$runs" -max_len="$maxlen" -timeout=10 \
        -artifact_prefix="$work/$name/artifacts/" "$work/$name/corpus" >"$work/$name/log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    done_line=$(grep -E '^Done [0-9]+ runs' "$work/$name/log" | tail -1 || true)
    if [[ -n "$done_line" ]]; then
        inputs=$(awk '{print $2}' <<<"$done_line")
    else
        # Stopped early: the last status line ("#12345  NEW  cov: …") says how far it got.
        inputs=$(grep -oE '^#[0-9]+' "$work/$name/log" | tail -1 | tr -d '#' || true)
    fi
    crashes=$(find "$work/$name/artifacts" -type f | wc -l)
    printf '%-13s inputs %9s  crashes %d  time %ds\n' "$name" "${inputs:-0}" "$crashes" "$elapsed"
    if (( crashes > 0 || status != 0 )); then
        failed=1
        grep -E 'SUMMARY|Fatal error|invariant violated|ERROR: ' "$work/$name/log" | head -5 | sed 's/^/    /'
        find "$work/$name/artifacts" -type f | sed 's/^/    input: /'
    fi
done

if (( failed || keep )); then
    echo "work directory: $work"
else
    rm -rf "$work"
fi
exit "$failed"
