#!/usr/bin/env bash
# The demo that runs while no trained model is shipped in models/tiny-shapes: the real
# end-to-end pipeline on a small *random-weight* Osprey-architecture checkpoint in the
# published layout (sharded torch .bin + index, config.json, tokenizer.model,
# added_tokens.json), built by the pipeline tests' Python reference, which also answers the
# same questions with transformers + timm + Osprey's glue. The words are noise (random
# weights); what the demo shows is that regionlm's C++ answers are token-for-token those of
# the Python reference, and the annotated picture of the regions.
#   bash scripts/demo_parity.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[[ "$build" = /* ]] || build="$root/$build"
python="${REGIONLM_PYTHON:-$root/.venv/bin/python}"
describe="$build/examples/regionlm-describe"
out="${DEMO_OUT:-$build/demo}/random-osprey"
[[ -x "$describe" ]] || { echo "demo: $describe not built (run: make build)" >&2; exit 1; }

echo "== models/tiny-shapes is not shipped yet: demo on a random-weight Osprey checkpoint"
echo "   (reference pipeline: transformers 4.31 LlamaForCausalLM + timm ConvNeXt + Osprey glue)"
rm -rf "$out"; mkdir -p "$out"
PYTHONWARNINGS=ignore "$python" "$root/tests/pipeline/osprey_reference.py" "$out" > "$out/reference.log"

echo
echo "== regionlm-describe: Osprey's short description of each of 3 masks"
"$describe" --model "$out/osprey" --image "$out/scene.png" \
  --mask "$out/mask0.png" --mask "$out/mask1.png" --mask "$out/mask2.png" \
  --max-new-tokens 12 --json --annotate "$out/described.png" > "$out/cpp.json"

"$python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
lines = open(f"{out}/cpp.json").read().splitlines()
cpp = json.loads(next(l for l in lines if l.startswith("{")))
cases = {c["name"]: c for c in json.load(open(f"{out}/cases.json"))["cases"]}
same = True
for r, answer in enumerate(cpp["answers"]):
    ref = cases[f"short{r}"]["answer"]
    ok = answer["text"] == ref
    same &= ok
    print(f"region {r + 1}: regionlm {answer['text']!r:34} reference {ref!r:34} "
          f"{'identical' if ok else 'DIFFERENT'}")
t = cpp["timings"]
print(f"timings: encode {t.get('encode_ms', 0):.1f} ms, prefill {t['prefill_ms']:.1f} ms, "
      f"decode {t['decode_tokens_per_second']:.1f} tokens/s")
sys.exit(0 if same else 1)
PY
echo "annotated picture: $out/described.png"
