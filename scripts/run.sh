#!/usr/bin/env bash
# The main job: sets up (packages + build), then runs the whole study with vdsr-pipeline: the reference
# VDSR evaluated, pruned (configs/prune.json), its fine-tuning tuned (configs/experiment.json), fine-tuned
# with the best parameters, exported to ONNX, benchmarked, and compared in one table
# (experiments/<name>/report/table.md, also printed at the end). Arguments go to vdsr-pipeline:
#   bash scripts/run.sh --quick          # a few minutes: experiments/pipeline-quick/
#   bash scripts/run.sh                  # the default profile, about 45 min on 2 cores: experiments/pipeline/
#   bash scripts/run.sh --bootstrap DIR  # no reference assets: a small model trained from the images in DIR
# Running it again skips what is done and continues an interrupted run (docs/pipeline.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VDSR_ASSETS="${VDSR_ASSETS:-$(cd .. && pwd)/shared/assets}"
exec build/bin/vdsr-pipeline "$@"
