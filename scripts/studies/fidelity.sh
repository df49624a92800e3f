#!/usr/bin/env bash
# Fidelity after 50 % filter pruning (docs/fidelity.md): Set5 x2 right after pruning and after an equal
# fine-tune budget, for {l1, l1 + reconstruction} x {label loss, distillation from the original}, and l2 /
# fpgm with reconstruction right after pruning. Prints a markdown table; every run's report stays in OUT.
# Usage: scripts/studies/fidelity.sh DATA.h5 OUT [PATCHES] [SPARSITY]
#   DATA.h5   training patches (vdsr-data) for calibration and fine-tuning
#   PATCHES   fine-tune budget in patches seen (default 25600); SPARSITY default 0.5
# Environment: BIN (default build/bin), VDSR_ASSETS, THREADS (default nproc), FT_FLAGS (the fine-tune's
# hyper-parameters, default below).
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:?usage: fidelity.sh DATA.h5 OUT [PATCHES] [SPARSITY]}
out=${2:?usage: fidelity.sh DATA.h5 OUT [PATCHES] [SPARSITY]}
patches=${3:-25600}
sparsity=${4:-0.5}
bin=${BIN:-build/bin}
threads=${THREADS:-$(nproc)}
assets=${VDSR_ASSETS:-../shared/assets}
original=$assets/models/vdsr_x234_state_dict.pt
ft_flags=${FT_FLAGS:---lr 0.01 --momentum 0.9 --batchSize 64 --clip 0.4 --weight-decay 0 --lr-schedule cosine}
mkdir -p "$out"

prune() {  # NAME PRUNER RECONSTRUCT-FLAG
  [ -f "$out/$1/report.json" ] && return
  "$bin/vdsr-prune" --config configs/prune.json --model "$original" --pruner "$2" --sparsity "$sparsity" \
    $3 --latency-runs 1 --threads "$threads" --out "$out/$1" >"$out/$1.log" 2>&1
}
finetune() {  # NAME FROM EXTRA-FLAGS
  [ -f "$out/$1/eval.json" ] && return
  "$bin/vdsr-train" --pretrained "$out/$2/pruned.ckpt" --data "$data" --max-patches "$patches" $ft_flags $3 \
    --threads "$threads" --log-every 50 --out "$out/$1/checkpoints" --report "$out/$1/report.json" >"$out/$1.log" 2>&1
  "$bin/vdsr-eval" --model "$out/$1/checkpoints/latest.ckpt" --dataset Set5 --scale 2,3,4 --threads "$threads" \
    --report "$out/$1/eval.json" >>"$out/$1.log" 2>&1
}

prune l1 l1 --no-reconstruct
for p in l1 l2 fpgm; do prune "$p-rec" "$p" "--reconstruct $data"; done
finetune l1-label l1 ""
finetune l1-rec-label l1-rec ""
finetune l1-distill l1 "--teacher $original --distill-weight 0.5"
finetune l1-rec-distill l1-rec "--teacher $original --distill-weight 0.5"

/usr/bin/python3 - "$out" "$patches" <<'PY'
import json, sys, os
out, patches = sys.argv[1], int(sys.argv[2])
def load(*p):
    path = os.path.join(out, *p)
    return json.load(open(path)) if os.path.exists(path) else None
def x2(q): return q["Set5"]["x2"]["psnr"]
base = load("l1", "report.json")["prune"]["baseline"]["quality"]
print(f"Set5 x2 of the original: {x2(base):.3f} dB; fine-tune budget {patches} patches\n")
print("| pruner | reconstruction | Set5 x2 right after pruning (dB) | loss | Set5 x2 after fine-tune (dB) | Δ to original | fine-tune s |")
print("|---|---|---:|---|---:|---:|---:|")
for name, rec, runs in [("l1", False, ["l1-label", "l1-distill"]), ("l1", True, ["l1-rec-label", "l1-rec-distill"]),
                        ("l2", True, []), ("fpgm", True, [])]:
    r = load(f"{name}-rec" if rec else name, "report.json")
    pruned = x2(r["quality"])
    if not runs:
        plain = x2(r["prune"]["quality_without_reconstruction"])
        print(f"| {name} | yes (without: {plain:.3f}) | {pruned:.3f} | – | – | – | – |")
    for run in runs:
        e, t = load(run, "eval.json"), load(run, "report.json")
        loss = "distillation (a = 0.5)" if "distill" in run else "label"
        tuned = e["quality"]["Set5"]["x2"]["psnr"] if e else float("nan")
        secs = t["train"]["seconds"] if t else float("nan")
        print(f"| {name} | {'yes' if rec else 'no'} | {pruned:.3f} | {loss} | {tuned:.3f} | {tuned - x2(base):+.3f} | {secs:.0f} |")
PY
