#!/usr/bin/env bash
# Side-by-side benchmark: the same workloads, the same checkpoint and the same thread count on
# the library (tests/bench/bench_compare.cpp) and on the Python reference of Osprey
# (tests/bench/bench_compare_reference.py), then a ratio table (docs/performance.md shows it).
#
# usage: scripts/bench_compare.sh [BUILD_DIR] [--threads N] [--repeats R] [--new-tokens T]
#   BUILD_DIR defaults to build; threads default to 2, repeats to 3, new tokens to 16.
# The checkpoint (mid-size random Osprey, 1024 image tokens) is generated once into
# $REGIONLM_BENCH_DIR (default /tmp/regionlm-bench-compare).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
if [[ $# -gt 0 && $1 != --* ]]; then BUILD=$1; shift; fi
THREADS=2 REPEATS=3 NEW_TOKENS=16
while [[ $# -gt 0 ]]; do
  case $1 in
    --threads) THREADS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --new-tokens) NEW_TOKENS=$2; shift 2 ;;
    *) echo "bench_compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
PY=.venv/bin/python
DIR=${REGIONLM_BENCH_DIR:-/tmp/regionlm-bench-compare}

cmake --build "$BUILD" --target bench_compare -j "$(nproc)" >/dev/null
[[ -f $DIR/osprey/config.json ]] || $PY tests/bench/bench_compare_reference.py "$DIR" --build
ARGS=(--threads "$THREADS" --repeats "$REPEATS" --new-tokens "$NEW_TOKENS")
# One process per side, one after the other, so neither competes with the other for cores.
"$BUILD/tests/bench/bench_compare" "$DIR" "${ARGS[@]}" >"$DIR/regionlm.json"
$PY tests/bench/bench_compare_reference.py "$DIR" "${ARGS[@]}" --json "$DIR/reference.json" >/dev/null

$PY - "$DIR/regionlm.json" "$DIR/reference.json" <<'EOF'
import json, sys
lib, ref = (json.load(open(p)) for p in sys.argv[1:3])
rows = [("1 region", "one_region"), ("8 regions of one image", "eight_regions"),
        ("3 questions about one image", "three_questions"), ("3-turn chat", "chat")]
print(f"threads {lib['threads']} (library) / {ref['threads']} (reference), "
      f"{lib['new_tokens']} new tokens per answer, median of the repeats")
print()
print("| workload | regionlm ms | reference ms | speed-up | same tokens |")
print("|---|---:|---:|---:|:---:|")
for label, key in rows:
    a, b = lib["workloads"][key], ref["workloads"][key]
    same = "yes" if a["tokens"] == b["tokens"] else "NO"
    print(f"| {label} | {a['ms']:.0f} | {b['ms']:.0f} | {b['ms'] / a['ms']:.2f}x | {same} |")
print(f"| model load | {lib['load_ms']:.0f} | {ref['load_ms']:.0f} | {ref['load_ms'] / lib['load_ms']:.2f}x | |")
print(f"| peak memory (MiB) | {lib['peak_rss_mib']:.0f} | {ref['peak_rss_mib']:.0f} | "
      f"{ref['peak_rss_mib'] / lib['peak_rss_mib']:.2f}x less | |")
EOF
