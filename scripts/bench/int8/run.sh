#!/usr/bin/env bash
# The int8 speed table of docs/quantization.md: the reference model in the project's engine (the libtorch
# runtime) in fp32, bf16 and int8 at 256² and 512², medians of RUNS x 2 rounds, the precisions timed in turns
# in one vdsr-bench run so that they see the same machine load:
#   1. this CPU as it is (AVX512-VNNI / AMX-INT8 where present);
#   2. oneDNN limited to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2), as on an AVX2-only CPU (no bf16 there).
# The int8 scales come from vdsr-quantize on DATA (minmax, 256 patches, seed 0); speed does not depend on
# their values.
#
#   scripts/bench/int8/run.sh DATA.h5 [RUNS] [BUILD_DIR] [THREADS]     (default 5 runs, build, 2 threads)
#
# Reports, logs and tables go to $OUT (default: a new folder under /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
data=${1:?usage: run.sh DATA.h5 [RUNS] [BUILD_DIR] [THREADS]}
runs=${2:-5}
build=${3:-$root/build}
threads=${4:-2}
[[ -x $build/bin/vdsr-bench && -x $build/bin/vdsr-quantize ]] || { echo "error: no vdsr-bench/vdsr-quantize in $build/bin" >&2; exit 2; }
assets=${VDSR_ASSETS:-$root/../shared/assets}
ref=$assets/models/vdsr_x234_state_dict.pt
[[ -f $ref ]] || { echo "error: $ref is missing (set VDSR_ASSETS)" >&2; exit 2; }
out=${OUT:-$(mktemp -d /tmp/vdsr-bench-int8.XXXXXX)}
mkdir -p "$out"

"$build/bin/vdsr-quantize" --model "$ref" --data "$data" --patches 256 --seed 0 --out "$out/scales.json" \
  >"$out/quantize.log" 2>&1
common=(--model "original=$ref" --runtimes libtorch --sizes 256,512 --runs "$runs" --rounds 2 --threads "$threads"
        --int8-scales "$out/scales.json")

echo "## 1. this CPU"
"$build/bin/vdsr-bench" "${common[@]}" --precision fp32,bf16,int8 --report "$out/native.json" \
  2>"$out/native.log" | tee "$out/native.md"
echo "## 2. oneDNN limited to AVX2"
ONEDNN_MAX_CPU_ISA=AVX2 "$build/bin/vdsr-bench" "${common[@]}" --precision fp32,int8 --report "$out/avx2.json" \
  2>"$out/avx2.log" | tee "$out/avx2.md"
grep -h "oneDNN engine" "$out"/*.log | sed 's/^\[[^]]*\] //' | sort -u
# int8 against fp32 (and bf16) per size, from the medians of the same run.
python3 - "$out/native.json" "$out/avx2.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    rows = json.load(open(path))["bench"]["results"]
    med = {(r["precision"], tuple(r["input"])): r["latency_ms"]["median"] for r in rows}
    for (p, size), ms in sorted(med.items()):
        if p != "int8":
            continue
        ratios = ", ".join(f"{ms_other / ms:.2f}x vs {q}" for (q, s), ms_other in sorted(med.items()) if s == size and q != "int8")
        print(f"{path.split('/')[-1]}: {size[0]}x{size[1]} int8 {ms:.1f} ms: {ratios}")
PY
echo "reports and logs in $out"
