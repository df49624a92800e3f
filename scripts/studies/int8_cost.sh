#!/usr/bin/env bash
# The PSNR cost of int8 for one model (docs/quantization.md, "PSNR cost"): fp32 and int8 on Set5 and Set14 at
# x2/x3/x4 with minmax scales (256 patches, seed 0), first with the default layers (input and output fp32),
# then with residual_layer.0.conv fp32 as well (the recommended setting). With SENSITIVITY=DATASET:SCALE
# (e.g. Set5:4) it also runs each layer alone in int8 (every other one fp32, same scales: the scales file
# carries every layer's scales, so only its int8 flags change) on that cell. Prints markdown tables; every
# report stays in OUT.
# Usage: scripts/studies/int8_cost.sh MODEL DATA.h5 OUT
#   MODEL     checkpoint or state dict; DATA.h5 calibration patches (vdsr-data)
# Environment: BIN (default build/bin), VDSR_ASSETS, THREADS (default nproc), SENSITIVITY.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:?usage: int8_cost.sh MODEL DATA.h5 OUT}
data=${2:?usage: int8_cost.sh MODEL DATA.h5 OUT}
out=${3:?usage: int8_cost.sh MODEL DATA.h5 OUT}
bin=${BIN:-build/bin}
threads=${THREADS:-$(nproc)}
mkdir -p "$out"

# eval NAME DATASET SCALES [FLAGS...]: one vdsr-eval report, kept when it is already there.
eval_model() {
  local name=$1 dataset=$2 scales=$3
  shift 3
  [ -f "$out/$name.json" ] && return
  "$bin/vdsr-eval" --model "$model" --dataset "$dataset" --scale "$scales" --threads "$threads" "$@" \
    --report "$out/$name.json" >"$out/$name.log" 2>&1
}
quantize() {  # NAME FLAGS...
  local name=$1
  shift
  [ -f "$out/$name.json" ] && return
  "$bin/vdsr-quantize" --model "$model" --data "$data" --method minmax --patches 256 --seed 0 --threads "$threads" \
    "$@" --out "$out/$name.json" >"$out/$name.log" 2>&1
}

quantize scales_default
quantize scales_recommended --fp32-layers residual_layer.0.conv
for set in Set5 Set14; do
  eval_model "fp32_$set" "$set" 2,3,4
  for setting in default recommended; do
    eval_model "int8_${setting}_$set" "$set" 2,3,4 --precision int8 --int8-scales "$out/scales_$setting.json"
  done
done

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
psnr = lambda name, set, s: json.load(open(f"{out}/{name}_{set}.json"))["quality"][set][f"x{s}"]["psnr"]
print("| dataset | scale | fp32 | int8 minmax | cost | int8 minmax, `residual_layer.0.conv` fp32 | cost |")
print("|---|---|---:|---:|---:|---:|---:|")
for set in ("Set5", "Set14"):
    for s in (2, 3, 4):
        f = psnr("fp32", set, s)
        a, b = psnr("int8_default", set, s), psnr("int8_recommended", set, s)
        print(f"| {set} | x{s} | {f:.3f} | {a:.3f} | {a - f:+.3f} | {b:.3f} | {b - f:+.3f} |")
PY

[ -n "${SENSITIVITY:-}" ] || exit 0
set=${SENSITIVITY%:*} scale=${SENSITIVITY#*:}
layers=$(python3 -c 'import json,sys; print(" ".join(l["name"] for l in json.load(open(sys.argv[1]))["layers"]))' \
  "$out/scales_default.json")
for layer in $layers; do
  alone=$out/alone_$layer.json
  python3 - "$out/scales_default.json" "$layer" "$alone" <<'PY'
import json, sys
scales = json.load(open(sys.argv[1]))
for l in scales["layers"]:
    l["int8"] = l["name"] == sys.argv[2]
json.dump(scales, open(sys.argv[3], "w"))
PY
  eval_model "sensitivity_${layer}_$set" "$set" "$scale" --precision int8 --int8-scales "$alone"
done
python3 - "$out" "$set" "$scale" $layers <<'PY'
import json, sys
out, set, scale, layers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
psnr = lambda path: json.load(open(path))["quality"][set][f"x{scale}"]["psnr"]
fp32 = psnr(f"{out}/fp32_{set}.json")
print(f"\n| layer alone in int8 | {set} x{scale} PSNR | cost (dB) |\n|---|---:|---:|")
for layer in layers:
    p = psnr(f"{out}/sensitivity_{layer}_{set}.json")
    print(f"| `{layer}` | {p:.3f} | {p - fp32:+.3f} |")
PY
