#!/bin/sh
# Evaluates MODEL on each DATASET folder with vdsr-eval; the report of dataset D goes to PREFIX<name of D>.json
# (e.g. PREFIX = experiments/x/eval/original_ gives experiments/x/eval/original_Set5.json).
#   eval_datasets.sh BIN MODEL SCALES THREADS PREFIX DATASET...
set -eu
bin=$1 model=$2 scales=$3 threads=$4 prefix=$5
shift 5

mkdir -p "$(dirname "$prefix")"
for dataset in "$@"; do
  "$bin/vdsr-eval" --model "$model" --dataset "$dataset" --scale "$scales" --threads "$threads" \
    --report "$prefix$(basename "$dataset").json"
done
