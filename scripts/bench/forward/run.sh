#!/usr/bin/env bash
# Forward pass of the reference VDSR: C++ (this project) vs PyTorch-Python (Debian python3-torch), same
# weights, same inputs, 256x256 and 512x512 Y images, 1 and 2 threads. The two sides alternate for
# ROUNDS rounds so machine noise hits both alike; the table shows medians over all runs and the ratio
# C++ / best Python layout. Usage: scripts/bench/forward/run.sh [ROUNDS] (after scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-3}
assets="${VDSR_ASSETS:-$(cd .. && pwd)/shared/assets}"
model="$assets/models/vdsr_x234_state_dict.pt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=/usr/bin/python3
$py -c "import torch; torch.manual_seed(0); torch.save({'256': torch.rand(1,1,256,256), '512': torch.rand(1,1,512,512)}, '$work/inputs.pt')"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  build/bin/bench_forward --model "$model" --inputs "$work/inputs.pt" --save-output "$work/cpp.pt" >>"$work/times.jsonl"
  $py scripts/bench/forward/forward.py --model "$model" --inputs "$work/inputs.pt" --save-output "$work/py.pt" >>"$work/times.jsonl"
done
$py - "$work" <<'PY'
import json, statistics, sys, torch
work = sys.argv[1]
rows = {}
for line in open(f"{work}/times.jsonl"):
    r = json.loads(line)
    rows.setdefault((r["size"], r["threads"], r["runtime"]), []).extend(r["ms"])
diff = (torch.load(f"{work}/cpp.pt")["output"] - torch.load(f"{work}/py.pt").clamp(0, 1)).abs().max().item()
print(f"parity: max |C++ - Python| on 256x256 = {diff:.2e} (0..1 scale, clipped)")
print("| size | threads | runtime | median ms | min | max | runs |")
print("|---|---:|---|---:|---:|---:|---:|")
for (size, threads, runtime), ms in sorted(rows.items()):
    print(f"| {size}x{size} | {threads} | {runtime} | {statistics.median(ms):.1f} | {min(ms):.1f} | {max(ms):.1f} | {len(ms)} |")
print()
print("| size | threads | C++ / best Python layout (medians) |")
print("|---|---:|---:|")
for size in sorted({k[0] for k in rows}):
    for threads in sorted({k[1] for k in rows}):
        cpp = statistics.median(rows[(size, threads, "vdsr-cpp")])
        best = min(statistics.median(v) for k, v in rows.items() if k[:2] == (size, threads) and k[2] != "vdsr-cpp")
        print(f"| {size}x{size} | {threads} | {cpp / best:.2f} |")
PY
