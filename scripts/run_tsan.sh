#!/usr/bin/env bash
# The multi-threaded tests under ThreadSanitizer (`make tsan`, docs/reliability.md).
# Usage: scripts/run_tsan.sh BUILD_DIR   (a build configured with -DREGIONLM_TSAN=ON)
# Exits non-zero when a test fails, a filter selects no test, or TSan reports anything
# (halt_on_error=1: the first report ends that program with exit code 66).
set -u
build=${1:?usage: run_tsan.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
# LibTorch runs single-threaded (OpenMP and MKL read these at start): its pool is not
# instrumented, so every LibTorch kernel runs on a thread that regionlm or the test started.
# (OpenCV's TBB pool is off in TSan builds: src/tsan_serial_pools.cpp.)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"

failed=()
run() {  # run EXECUTABLE GTEST_FILTER
  local exe=$1 filter=$2 log start rc
  log=$(mktemp)
  start=$SECONDS
  echo "== $exe --gtest_filter=$filter"
  "$build/$exe" --gtest_filter="$filter" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # A renamed test must not turn into an empty, passing run.
  if [ "$rc" -eq 0 ] && ! grep -Eq '^\[  PASSED  \] [1-9][0-9]* test' "$log"; then
    echo "== $exe: the filter selected no test"
    rc=1
  fi
  echo "== $exe: exit $rc, $((SECONDS - start)) s"
  rm -f "$log"
  [ "$rc" -eq 0 ] || failed+=("$exe")
}

# Continuous batching: callers' prefills, the worker's steps, cancellation and errors.
run tests/llm/test_llm 'BatcherTest.*:BatcherOptionsTest.*:ForwardRows.*:LlamaGeneration.ConcurrentThreadsEqualSequentialRuns'
# One Model shared by many threads: describe / describe_each / chat, with and without batching.
run tests/pipeline/test_pipeline 'Model.ConcurrentCallsOnOneModelMatchSequentialOnes:Model.DescribeEachAndChatFromManyThreadsMatchSequentialOnes:Model.BatchedCallsFromManyThreadsEqualSequentialOnes'
# One SAM predictor and one encoded image shared by many threads.
run tests/sam/test_sam 'SamParity.ConcurrentPredictionsShareOneEncodedImage'
# GPT4RoI describes from many threads on one Model.
run tests/gpt4roi/test_gpt4roi_parity 'Gpt4roiModel.ConcurrentDescribesOnOneModelGiveTheReferenceAnswers'
# regionlm-server (itself built with TSan, inheriting TSAN_OPTIONS): under 16 concurrent
# clients; the API suite (--threads 2: chat, streaming, SAM, the image cache, batched
# describes); the fault suite (malformed and broken requests, a client gone mid-stream,
# timeouts, a full queue, 1000 requests, SIGTERM during a generation). A report ends the
# server with exit code 66, which the tests check when they stop it, and is in the server's
# log (shown here) in any case, including servers a test kills.
rm -rf "$build"/tests/tmp/server-*
run tests/server/test_server_load '*'
run tests/server/test_server_api '*'
run tests/server/test_server_faults '*'
for log in "$build"/tests/tmp/server-*/server.log; do
  if [ -f "$log" ] && grep -q "WARNING: ThreadSanitizer" "$log"; then
    echo "== regionlm-server's TSan report ($log):"
    cat "$log"
    failed+=(regionlm-server)
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "TSan run FAILED: ${failed[*]}"
  exit 1
fi
echo "TSan run clean"
