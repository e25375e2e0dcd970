#!/usr/bin/env bash
# Runs every libFuzzer target of a REGIONLM_FUZZ build for N seconds each (make fuzz).
# usage: scripts/run_fuzz.sh BUILD_DIR SECONDS [TARGET...]
# FUZZ_RUNS=N (optional) stops each target after N executions instead (SECONDS still caps it).
# Each target starts from its committed seeds (fuzz/corpus/<target>, read-only) and grows a
# working corpus in BUILD_DIR/fuzz-corpus/<target>; a crash, sanitizer report, leak, timeout
# or out-of-memory input is written to BUILD_DIR/fuzz-findings/ and makes the run fail.
# The last lines are a table: target, executions, seconds, result (docs/reliability.md).
set -uo pipefail
build=$1
seconds=$2
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(safetensors torch_checkpoint unpickler config prompt coco_regions image server_request)
fi
mkdir -p "$build/fuzz-findings" "$build/fuzz-logs"
# Leaks are findings too; LibTorch and OpenCV keep process-lifetime caches, which LSan's
# per-input check ignores (they are allocated before the first input). Allocation stacks are
# cut to 2 frames: recording 30 (the default) made the allocation-heavy targets 3-5x slower
# (fuzz_prompt: 150 -> 700 exec/s); rerun a saved finding without it for full stacks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:malloc_context_size=2}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The file-reading targets write each input to a scratch file: keep those in RAM, and remove
# them when done.
if [ -z "${REGIONLM_FUZZ_TMPDIR:-}" ]; then
  REGIONLM_FUZZ_TMPDIR="$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/regionlm-fuzz.XXXXXX")"
  export REGIONLM_FUZZ_TMPDIR
  trap 'rm -rf "$REGIONLM_FUZZ_TMPDIR"' EXIT
fi
failed=0
summary=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  work="$build/fuzz-corpus/$t"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$work"
  dict=()
  case "$t" in config|coco_regions|server_request|safetensors) dict=(-dict="$root/fuzz/json.dict") ;; esac
  runs=()
  if [ -n "${FUZZ_RUNS:-}" ]; then runs=(-runs="$FUZZ_RUNS"); fi
  start=$(date +%s)
  "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 "${runs[@]}" \
    -artifact_prefix="$build/fuzz-findings/$t-" "${dict[@]}" "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if [ $rc -eq 0 ]; then result=clean; else result="FINDING (rc $rc, see $log)"; failed=1; tail -40 "$log"; fi
  summary+=("$(printf '%-18s %12s execs %6ss  %s' "$t" "${execs:-?}" "$took" "$result")")
done
echo "fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit $failed
