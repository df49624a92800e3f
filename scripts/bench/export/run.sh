#!/usr/bin/env bash
# Latency of exported ONNX files in onnxruntime and OpenCV DNN next to LibTorch: the reference model and,
# when vdsr-prune is built, its 50 % L1-pruned version, and with INT8_SCALES (a vdsr-quantize file of the
# reference) its int8 QDQ file; 256x256 input, 2 threads, every runtime in the same vdsr-export run (medians
# of RUNS forward passes after one warm-up).
#
#   [INT8_SCALES=scales.json] scripts/bench/export/run.sh [RUNS] [BUILD_DIR]   (default 20 runs, build-export or build)
#
# Needs node with scripts/node_modules (cd scripts && npm ci) for the onnxruntime column.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${1:-20}
build=${2:-}
if [[ -z $build ]]; then
  for b in "$root/build-export" "$root/build"; do [[ -x $b/bin/vdsr-export ]] && build=$b && break; done
fi
[[ -x ${build:-}/bin/vdsr-export ]] || { echo "error: no vdsr-export under build-export/ or build/ (pass BUILD_DIR)" >&2; exit 2; }
assets=${VDSR_ASSETS:-$root/../shared/assets}
ref=$assets/models/vdsr_x234_state_dict.pt
out=${OUT:-$(mktemp -d /tmp/vdsr-bench-export.XXXXXX)}
mkdir -p "$out"

models=("reference:$ref")
prune=""
for b in "$build" "$root"/build*; do [[ -x $b/bin/vdsr-prune ]] && prune=$b/bin/vdsr-prune && break; done
if [[ -n $prune ]]; then
  "$prune" --config "$root/configs/prune.json" --model "$ref" --out "$out/pruned" --no-eval \
    --latency-runs 1 >&2
  models+=("pruned-l1-50:$out/pruned/pruned.ckpt")
else
  echo "note: no build*/bin/vdsr-prune; timing the reference model only" >&2
fi

if [[ -n ${INT8_SCALES:-} ]]; then
  models+=("reference-int8:$ref")
fi

printf '| model | file bytes | libtorch (ms) | opencv-dnn (ms) | onnxruntime (ms) |\n|---|---:|---:|---:|---:|\n'
for entry in "${models[@]}"; do
  name=${entry%%:*}
  model=${entry#*:}
  int8_args=()
  [[ $name == *-int8 ]] && int8_args=(--int8-scales "$INT8_SCALES")
  "$build/bin/vdsr-export" --onnx --model "$model" --out "$out/$name.onnx" --bench-runs "$runs" \
    --bench-threads 2 --bench-size 256x256 --report "$out/$name.json" "${int8_args[@]}" >&2
  python3 - "$out/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
speed = r.get("speed", {})
cell = lambda k: f'{speed[k]["latency_ms"]["median"]:.1f}' if k in speed else "-"
# An int8 file's LibTorch column is our int8 engine on the same scales.
ours = "libtorch-int8" if "libtorch-int8" in speed else "libtorch"
print(f'| {sys.argv[2]} | {r["export"]["files"]["onnx"]["bytes"]} | {cell(ours)} | {cell("opencv-dnn")} | {cell("onnxruntime")} |')
PY
done
echo "reports and files in $out" >&2
