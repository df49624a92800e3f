#!/bin/sh
# Evaluates MODEL in int8 (the scales file INT8_SCALES that vdsr-quantize wrote) on each DATASET folder; the
# report of dataset D goes to PREFIX<name of D>.json, as eval_datasets.sh does for fp32.
#   eval_int8.sh BIN MODEL INT8_SCALES SCALES THREADS PREFIX DATASET...
set -eu
bin=$1 model=$2 int8_scales=$3 scales=$4 threads=$5 prefix=$6
shift 6

mkdir -p "$(dirname "${prefix}D")"  # the folder of PREFIX<name> (PREFIX may be a folder ending in /)
for dataset in "$@"; do
  "$bin/vdsr-eval" --model "$model" --precision int8 --int8-scales "$int8_scales" --dataset "$dataset" \
    --scale "$scales" --threads "$threads" --report "$prefix$(basename "$dataset").json"
done
