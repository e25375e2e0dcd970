#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (about 5 minutes on one H200 with 16 cores):
#   1. configures regionlm against that machine's CUDA LibTorch (python3's torch wheel, or
#      $TORCH_DIR) and builds the CUDA tests and the GPU benchmark;
#   2. runs the tests labelled `cuda` (and the mask extractor's CUDA parity test);
#   3. runs tests/bench/gpu_check.cpp: a random-weight model at the full Osprey-7B shapes in
#      bfloat16 (load, vision at 512 px, 1.1k-token prefill, decode rate, describe_each of 8).
# Results: $OUT_DIR/gpu_check.json, the test and build logs beside it.
#
#   scripts/gpu_check.sh [OUT_DIR]          (default build-gpu/results)
#
# Libraries the machine lacks (OpenCV, sentencepiece, GoogleTest, nlohmann_json
# on a bare CUDA image) come from $REGIONLM_GPU_DEPS (default .gpu-deps): a static OpenCV
# under opencv-static/, Debian .deb files under debs/ (unpacked there, not into /), and the
# parity fixtures under fixtures/. scripts/gpu_deps.sh prepares that folder on a Debian machine.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$root/build-gpu/results}" && cd "${1:-$root/build-gpu/results}" && pwd)"
build="${REGIONLM_GPU_BUILD:-$root/build-gpu}"
deps="${REGIONLM_GPU_DEPS:-$root/.gpu-deps}"
python="${PYTHON:-python3}"
status=0
step() { echo "[gpu_check $(date +%T)] $*"; }

step "machine"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nproc; g++ --version | head -1;
  nvcc --version | tail -1; "$python" -c "import torch; print('torch', torch.__version__, torch.version.cuda)"; } \
  2>&1 | tee "$out/machine.txt"

torch_dir="${TORCH_DIR:-$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')/Torch}"
prefix_path=""
if [[ -d "$deps" ]]; then
  mkdir -p "$deps/root"
  for deb in "$deps"/debs/*.deb; do [[ -f "$deb" ]] && dpkg -x "$deb" "$deps/root"; done
  prefix_path="$deps/opencv-static;$deps/root/usr"
  export LD_LIBRARY_PATH="$deps/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  [[ -d "$deps/fixtures" ]] && export REGIONLM_FIXTURES="$deps/fixtures"
fi

step "configure + build (log: build.log)"
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
start=$SECONDS
if timeout 120 cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
     -DTorch_DIR="$torch_dir" -DCMAKE_PREFIX_PATH="$prefix_path" -DREGIONLM_PYTHON="$(command -v "$python")" \
     -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" >"$out/build.log" 2>&1 &&
   timeout 420 cmake --build "$build" -j "$(nproc)" \
     --target regionlm_gpu_check test_tiny_cuda test_mask_extractor >>"$out/build.log" 2>&1; then
  step "built in $((SECONDS - start)) s"
else
  step "BUILD FAILED after $((SECONDS - start)) s"; tail -40 "$out/build.log"; exit 1
fi
grep -q "CUDA code: ON" "$out/build.log" || { step "LibTorch has no CUDA"; exit 1; }

step "CUDA tests (log: tests.log)"
(cd "$build" && timeout 240 ctest --output-on-failure -L cuda -j 4) >"$out/tests.log" 2>&1 || status=1
(cd "$build" && timeout 60 ctest --output-on-failure -R "SameResultOnCuda") >>"$out/tests.log" 2>&1 || status=1
grep -E "tests passed|Passed|Failed|questions|right in" "$out/tests.log"

step "benchmark: Osprey-7B shapes, bfloat16 (log: bench.log)"
timeout 420 "$build/tests/bench/regionlm_gpu_check" --device cuda --dtype bfloat16 --shape osprey-7b \
  --dir "${TMPDIR:-/tmp}/regionlm-gpu-check" --out "$out/gpu_check.json" 2>&1 | tee "$out/bench.log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
rm -rf "${TMPDIR:-/tmp}/regionlm-gpu-check"
step "done (status $status); results in $out"
exit $status
