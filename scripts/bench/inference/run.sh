#!/usr/bin/env bash
# The inference latency table of docs/inference.md: the reference model and its 50 % L1-pruned version at
# 256² and 512², 2 threads, medians of RUNS x 2 rounds, each vdsr-bench run timing its runtimes side by
# side (ratios to onnxruntime come from the same run).
#   1. this CPU as it is: libtorch (the engine), aten, onnxruntime, opencv-dnn; fp32 and bf16;
#   2. oneDNN limited to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2), as on an AVX2-only CPU: the engine, aten and
#      onnxruntime (which cannot be limited, so its column is this CPU's);
#   3. the same with --winograd false: oneDNN's jit:avx2 direct kernels instead of the AVX2 Winograd kernel.
#
#   scripts/bench/inference/run.sh [RUNS] [BUILD_DIR]      (default 5 runs, build)
#
# Needs node with scripts/node_modules (cd scripts && npm ci) for the onnxruntime column. Reports and
# tables go to $OUT (default: a new folder under /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${1:-5}
build=${2:-$root/build}
[[ -x $build/bin/vdsr-bench && -x $build/bin/vdsr-prune ]] || { echo "error: no vdsr-bench/vdsr-prune in $build/bin" >&2; exit 2; }
assets=${VDSR_ASSETS:-$root/../shared/assets}
ref=$assets/models/vdsr_x234_state_dict.pt
[[ -f $ref ]] || { echo "error: $ref is missing (set VDSR_ASSETS)" >&2; exit 2; }
out=${OUT:-$(mktemp -d /tmp/vdsr-bench-inference.XXXXXX)}
mkdir -p "$out"

"$build/bin/vdsr-prune" --config "$root/configs/prune.json" --model "$ref" --out "$out/pruned" --no-eval \
  --latency-runs 1 >/dev/null 2>&1
models=(--model "original=$ref" --model "pruned50=$out/pruned/pruned.ckpt")
common=(--sizes 256,512 --runs "$runs" --rounds 2 --threads 2)

echo "## 1. this CPU"
"$build/bin/vdsr-bench" "${models[@]}" "${common[@]}" --runtimes libtorch,aten,onnxruntime,opencv-dnn \
  --precision fp32,bf16 --report "$out/native.json" 2>"$out/native.log" | tee "$out/native.md"
echo "## 2. oneDNN limited to AVX2"
ONEDNN_MAX_CPU_ISA=AVX2 "$build/bin/vdsr-bench" "${models[@]}" "${common[@]}" --runtimes libtorch,aten,onnxruntime \
  --precision fp32 --report "$out/avx2.json" 2>"$out/avx2.log" | tee "$out/avx2.md"
echo "## 3. oneDNN limited to AVX2, direct convolution only (--winograd false)"
ONEDNN_MAX_CPU_ISA=AVX2 "$build/bin/vdsr-bench" "${models[@]}" "${common[@]}" --runtimes libtorch,onnxruntime \
  --precision fp32 --winograd false --report "$out/avx2-direct.json" 2>"$out/avx2-direct.log" | tee "$out/avx2-direct.md"
grep -h "oneDNN engine" "$out"/*.log | sed 's/^\[[^]]*\] //' | sort -u
echo "reports and logs in $out"
