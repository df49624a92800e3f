#!/usr/bin/env bash
# The main job: sets up (packages + build), evaluates the reference VDSR on Set5 at x2/x3/x4 and upscales
# a demo image. Results go to experiments/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VDSR_ASSETS="${VDSR_ASSETS:-$(cd .. && pwd)/shared/assets}"
model="$VDSR_ASSETS/models/vdsr_x234_state_dict.pt"
if [ ! -f "$model" ] || [ ! -d "$VDSR_ASSETS/Set5" ]; then
  echo "error: needs $VDSR_ASSETS/Set5/*.png and $model (set VDSR_ASSETS to the folder holding them)" >&2
  exit 2
fi
out=experiments/quickstart
mkdir -p "$out"
build/bin/vdsr-eval --model "$model" --dataset Set5 --scale 2,3,4 --report "$out/eval_set5.json"
build/bin/vdsr-demo --model "$model" --image "$VDSR_ASSETS/Set5/butterfly.png" --scale 4 --out "$out/butterfly_x4.png"
echo "reports and images in $out/"
