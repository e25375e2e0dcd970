#!/usr/bin/env bash
# make demo: describes every region of the bundled tiny-shapes scene with the shipped
# models/tiny-shapes, prints each region's answer and writes the scene with the regions
# outlined and labelled. Nothing is downloaded.
#   bash scripts/demo.sh [BUILD_DIR]     (default: build; `make demo` builds it first)
# DEMO_OUT=DIR puts the picture elsewhere (default: BUILD_DIR/demo).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[[ "$build" = /* ]] || build="$root/$build"
out="${DEMO_OUT:-$build/demo}"
# Paths relative to the repository root where possible, so the printed lines read as in the README.
cd "$root"
build="${build#"$root"/}"
out="${out#"$root"/}"
model="models/tiny-shapes"
scene="examples/data/tiny-shapes-scene"

find_program() {
  local name="$1" candidate
  for candidate in "$build/examples/$name" "$build/examples/tiny-shapes/$name" "$build/bin/$name"; do
    [[ -x "$candidate" ]] && { echo "$candidate"; return; }
  done
  echo "demo: $name not found under $build (build first: make build, or cmake --build $build)" >&2
  exit 1
}
describe="$(find_program regionlm-describe)"
verify="$(find_program regionlm-train-tiny)"

# The shipped files are the ones trained (sizes + SHA-256 against the manifest).
"$verify" --verify "$model" --eval-scenes 0

masks=()
for mask in "$scene"/mask_*.png; do masks+=(--mask "$mask"); done
mkdir -p "$out"
echo
echo "== Osprey's short description of each region ($(( ${#masks[@]} / 2 )) regions, masks from $scene)"
"$describe" --model "$model" --image "$scene/image.png" "${masks[@]}" \
  --annotate "$out/tiny-shapes-described.png"

echo
echo "== Questions about two regions"
for question in "Is <region1> left of <region2>?" "Are <region1> and <region2> the same color?"; do
  answer="$("$describe" --model "$model" --image "$scene/image.png" \
    --mask "$scene/mask_0.png" --mask "$scene/mask_1.png" --prompt "$question")"
  echo "$question  (region1 = mask_0, region2 = mask_1)  ->  $answer"
done

