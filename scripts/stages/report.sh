#!/bin/sh
# The report stage: the variant table (Markdown and HTML) and one diff per step, from the reports the
# earlier stages wrote under EXP. LABEL names the original's row; DATASET picks the table's dataset.
#   report.sh BIN EXP LABEL DATASET
set -eu
bin=$1 exp=$2 label=$3 dataset=$4

# Several report files as one "a+b+c" argument of vdsr-report.
joined() { ls "$@" | paste -sd+; }
# "+bench/VARIANT.json" when the (optional) bench stage wrote it.
bench() { if [ -f "$exp/bench/$1.json" ]; then echo "+$exp/bench/$1.json"; fi; }
step_diff() { "$bin/vdsr-report" diff "$1" "$2" --format md --out "$exp/report/$3.md"; }

original=$(joined "$exp"/eval/original_*.json)$(bench "$label")
pruned=$exp/prune/report.json$(bench pruned)
tuned=$exp/train/report.json+$(joined "$exp"/train/eval_*.json)$(bench tuned)
# int8: the QDQ export first (its size, its onnxruntime latency), then the int8 engine's evaluations (their
# PSNR replaces the export's, which is the float32 model's) and its bench (the libtorch latency).
int8=$exp/quantize/export.json+$(joined "$exp"/quantize/eval/*.json)$(bench tuned-int8)
# The HTML table also shows crops of two evaluation images as each model upscales them (--pictures).
for format in md html; do
  pictures=""
  if [ "$format" = html ]; then pictures=--pictures; fi
  "$bin/vdsr-report" table "$label=$original" "pruned=$pruned" "tuned=$tuned" "onnx=$exp/export/report.json" "int8=$int8" \
    "$exp/tune/report.json" --dataset "$dataset" --format "$format" $pictures --out "$exp/report/table.$format"
done

original_eval=$exp/eval/original_$dataset.json
tuned_eval=$exp/train/eval_$dataset.json
step_diff "$original_eval" "$tuned_eval" diff
step_diff "$original_eval" "$exp/prune/report.json" diff_original_pruned
step_diff "$exp/prune/report.json" "$tuned_eval" diff_pruned_tuned
step_diff "$tuned_eval" "$exp/export/report.json" diff_tuned_onnx
step_diff "$tuned_eval" "$exp/quantize/eval/$dataset.json" diff_tuned_int8
