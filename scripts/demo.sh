#!/usr/bin/env bash
# make demo: describes every region of the bundled tiny-shapes scene with the shipped
# models/tiny-shapes, prints each region's answer and writes the scene with the regions
# outlined and labelled; then, with the shipped segmenter models/tiny-shapes/sam, a click
# becomes a mask and an answer, and "describe everything" marks and describes every object
# SAM finds (Set-of-Mark). Nothing is downloaded.
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
sam="models/tiny-shapes/sam"
describe="$(find_program regionlm-describe)"
verify="$(find_program regionlm-train-tiny)"
verify_sam="$(find_program regionlm-train-tiny-sam)"

# The shipped files are the ones trained (sizes + SHA-256 against the manifest).
"$verify" --verify "$model" --eval-scenes 0
"$verify_sam" --verify "$sam" --eval-scenes 0

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

# A click on the blue square, half hidden by the orange star: SAM gives the square's visible
# pixels, Osprey names what they are.
click="30,120"
echo
echo "== A click -> SAM's mask ($sam) -> Osprey's answer"
answer="$("$describe" --model "$model" --sam "$sam" --image "$scene/image.png" --point "$click" \
  --prompt "What is <region>?" --annotate "$out/tiny-shapes-click.png")"
echo "click at (${click/,/, }) -> What is <region>?  ->  ${answer%%$'\n'*}"
echo "annotated image: $out/tiny-shapes-click.png"

# The generator's settings for this small SAM (tiny_automatic_options() in
# examples/tiny-shapes/sam_evaluation.cpp, where docs/tiny-shapes.md says why they differ
# from SAM's defaults).
echo
echo "== Describe everything: SAM's automatic masks, Set-of-Mark marks, one answer per mark"
"$describe" --model "$model" --sam "$sam" --image "$scene/image.png" --everything \
  --points-per-side 16 --pred-iou-thresh 0.82 --stability-score-thresh 0.9 --box-nms-thresh 0.4 \
  --min-mask-region-area 100 \
  --annotate "$out/tiny-shapes-everything.png" --marks "$out/tiny-shapes-marks.png"

