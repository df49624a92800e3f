#!/usr/bin/env bash
# Training throughput at batch 64, full width (64) and pruned width (32): vdsr-train (C++) in fp32 and bf16
# next to the reference PyTorch-Python loop (Debian python3-torch + python3-h5py) in fp32 and bf16 autocast,
# on the same HDF5 file with the same thread count. All runs alternate for ROUNDS rounds so machine noise
# hits them alike; each times STEPS steps from the first batch to the last update (data loading included
# on both sides). Prints the machine (CPU, oneDNN ISA, AMX) and a Markdown table of median patches/s with
# the ratio to C++ fp32 at the same width. C++ bf16 falls back to fp32 on CPUs without AVX512-BF16 / AMX
# (the "effective" column says so); Python's autocast runs bf16 there anyway, on slow kernels.
# Usage: scripts/bench/train/run.sh DATA.h5 [ROUNDS] [STEPS] [THREADS]   (BIN=build-dir/bin, WIDTHS="64 32")
set -euo pipefail
cd "$(dirname "$0")/../../.."
data=${1:?usage: run.sh DATA.h5 [ROUNDS] [STEPS] [THREADS]}
rounds=${2:-3}
steps=${3:-8}
threads=${4:-$(nproc)}
bin=${BIN:-build/bin}
widths=${WIDTHS:-64 32}
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpp_run() {  # width precision seed
  "$bin/vdsr-train" --data "$data" --batchSize 64 --max-steps "$steps" --threads "$threads" --seed "$3" \
    --width "$1" --precision "$2" --log-every 0 --out "$work/ck" --report "$work/cpp.json" 2>>"$work/cpp.log" >/dev/null
  $py - "$work/cpp.json" "$threads" >>"$work/times.jsonl" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e, c = r["train"]["epochs"][0], r["config"]
print(json.dumps({"runtime": "c++", "precision": c["precision"], "effective": c["effective_precision"],
                  "width": r["model"]["widths"][0], "patches_per_s": e["patches_per_s"], "steps": e["steps"],
                  "batch": 64, "threads": int(sys.argv[2]), "torch": r["machine"]["torch_version"],
                  "cpu": r["machine"]["cpu"], "isa": r["machine"]["isa"]}))
PY
}

py_run() {  # width precision
  $py scripts/bench/train/reference_loop.py --data "$data" --steps "$steps" --batch 64 --threads "$threads" \
    --width "$1" $([ "$2" = bf16 ] && echo --bf16) >>"$work/times.jsonl"
}

for r in $(seq "$rounds"); do
  for w in $widths; do
    echo "round $r/$rounds, width $w" >&2
    cpp_run "$w" fp32 "$r"
    cpp_run "$w" bf16 "$r"
    py_run "$w" fp32
    py_run "$w" bf16
  done
done
amx=$(grep -qw amx_tile /proc/cpuinfo && echo yes || echo no)
$py - "$work/times.jsonl" "$amx" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault((r["width"], r["runtime"], r["precision"]), []).append(r)
cpp = next(rs[0] for (w, rt, p), rs in runs.items() if rt == "c++")
print(f"CPU: {cpp['cpu']}, oneDNN ISA {cpp['isa']}, AMX: {sys.argv[2]}; batch 64, {cpp['threads']} threads, "
      f"{cpp['steps']} steps per run\n")
print("| width | runtime | precision | effective | torch | runs | median patches/s | min | max | vs C++ fp32 |")
print("|---:|---|---|---|---|---:|---:|---:|---:|---:|")
for (w, rt, p), rs in sorted(runs.items(), key=lambda kv: (-kv[0][0], kv[0][1] != "c++", kv[0][1], kv[0][2])):
    v = [r["patches_per_s"] for r in rs]
    base = statistics.median(r["patches_per_s"] for r in runs.get((w, "c++", "fp32"), rs))
    print(f"| {w} | {rt} | {p} | {rs[0].get('effective', p)} | {rs[0]['torch']} | {len(v)} | "
          f"{statistics.median(v):.1f} | {min(v):.1f} | {max(v):.1f} | {statistics.median(v) / base:.2f}x |")
PY
