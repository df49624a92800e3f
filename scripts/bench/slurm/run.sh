#!/usr/bin/env bash
# The seed experiment on the Slurm training service against local trials, with equal budgets: runs
# configs/experiment.json and configs/experiment-slurm.json (TRIALS trials of PATCHES patches each, the
# trial command under `nice -n 10` in both) one after the other, prints both wall times and checks that
# the two exports have the same parameters per trial and the same best.json.
#
#   scripts/bench/slurm/run.sh DATA_ROOT [TRIALS] [PATCHES]     (default 10 trials, 8000 patches)
#
# DATA_ROOT holds what the seed trial command reads: experiments/prune-l1-50/pruned.ckpt, train.h5 and
# split/val, and build/bin/vdsr-train (the repository root after the pipeline, or a folder of links to
# experiments/pipeline-quick/{prune/pruned.ckpt,data/train.h5,split/val}). Needs a Slurm cluster
# (scripts/slurm-local.sh start) whose nodes see DATA_ROOT and /tmp.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
data=$(cd "${1:?usage: run.sh DATA_ROOT [TRIALS] [PATCHES]}" && pwd)
trials=${2:-10}
patches=${3:-8000}
tune=$root/build/bin/vdsr-tune
[[ -x $tune ]] || { echo "error: no $tune (build the vdsr-tune target)" >&2; exit 2; }
out=$(mktemp -d "$data/.bench-slurm.XXXXXX")  # inside DATA_ROOT, which is the shared folder

for name in experiment experiment-slurm; do
  python3 - "$root/configs/$name.json" "$out/$name.json" "$data" "$patches" <<'EOF'
import json, sys
src, dst, data, patches = sys.argv[1:]
c = json.load(open(src))
c["searchSpaceFile"] = src.rsplit("/", 1)[0] + "/" + c["searchSpaceFile"]
c["trialCodeDirectory"] = data
c["trialCommand"] = "nice -n 10 " + c["trialCommand"].replace("--max-patches 8000", "--max-patches " + patches)
if c["trainingService"]["platform"] == "slurm":
    c["trainingService"]["sharedDir"] = data
json.dump(c, open(dst, "w"), indent=2)
EOF
done

declare -A wall
for run in local:experiment slurm:experiment-slurm; do
  label=${run%%:*}
  start=$(date +%s.%N)
  "$tune" --config "$out/${run#*:}.json" --trials "$trials" --dir "$out/$label" >"$out/$label.out" 2>"$out/$label.err"
  wall[$label]=$(python3 -c "print($(date +%s.%N) - $start)")
  "$tune" --export "$out/$label" --format json --out "$out/$label.export.json"
done

printf 'wall time, %s trials of %s patches: local %.1f s, slurm %.1f s (results in %s)\n' \
  "$trials" "$patches" "${wall[local]}" "${wall[slurm]}" "$out"
python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
rows = {k: sorted(json.load(open(f"{out}/{k}.export.json")), key=lambda r: int(r["trialJobId"])) for k in ("local", "slurm")}
same_params = [a["parameter"] == b["parameter"] for a, b in zip(rows["local"], rows["slurm"])]
value = lambda r: r["value"]["default"] if isinstance(r["value"], dict) else r["value"]
rel = max(abs(value(a) - value(b)) / abs(value(a)) for a, b in zip(rows["local"], rows["slurm"]))
best = [open(f"{out}/{k}/best.json").read() for k in ("local", "slurm")]
print(f"trials: {len(rows['local'])} local, {len(rows['slurm'])} slurm; same parameters: {sum(same_params)}/{len(same_params)}; "
      f"largest relative difference of results: {rel:.3g}; best.json {'identical' if best[0] == best[1] else 'DIFFERENT'}")
sys.exit(0 if all(same_params) and best[0] == best[1] and len(rows["local"]) == len(rows["slurm"]) else 1)
EOF
