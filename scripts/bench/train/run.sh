#!/usr/bin/env bash
# Training throughput of the full-width reference VDSR at batch 64: vdsr-train (C++) next to the reference
# PyTorch-Python loop (Debian python3-torch + python3-h5py) on the same HDF5 file, same thread count.
# The two alternate for ROUNDS rounds so machine noise hits both alike; each run times STEPS steps from
# the first batch to the last update (data loading included on both sides); the table shows medians.
# Usage: scripts/bench/train/run.sh DATA.h5 [ROUNDS] [STEPS] [THREADS]   (BIN=build-dir/bin to override)
set -euo pipefail
cd "$(dirname "$0")/../../.."
data=${1:?usage: run.sh DATA.h5 [ROUNDS] [STEPS] [THREADS]}
rounds=${2:-3}
steps=${3:-8}
threads=${4:-$(nproc)}
bin=${BIN:-build/bin}
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  "$bin/vdsr-train" --data "$data" --batchSize 64 --max-steps "$steps" --threads "$threads" --seed "$r" \
    --log-every 0 --out "$work/ck" --report "$work/cpp.json" 2>>"$work/cpp.log" >/dev/null
  $py - "$work/cpp.json" "$threads" >>"$work/times.jsonl" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["train"]["epochs"][0]
print(json.dumps({"runtime": "c++", "patches_per_s": e["patches_per_s"], "steps": e["steps"], "batch": 64,
                  "threads": int(sys.argv[2]), "torch": r["machine"]["torch_version"]}))
PY
  $py scripts/bench/train/reference_loop.py --data "$data" --steps "$steps" --batch 64 --threads "$threads" \
    >>"$work/times.jsonl"
done
$py - "$work/times.jsonl" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault(r["runtime"], []).append(r)
print("| runtime | torch | threads | batch | steps/run | runs | median patches/s | min | max |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
med = {}
for name, rs in runs.items():
    v = [r["patches_per_s"] for r in rs]
    med[name] = statistics.median(v)
    print(f"| {name} | {rs[0]['torch']} | {rs[0]['threads']} | {rs[0]['batch']} | {rs[0]['steps']} | {len(v)} | "
          f"{med[name]:.1f} | {min(v):.1f} | {max(v):.1f} |")
print(f"\nratio C++ / Python (medians): {med['c++'] / med['python']:.2f}x")
PY
