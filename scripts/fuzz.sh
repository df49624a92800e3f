#!/usr/bin/env bash
# Fuzzes the parsers of outside input (docs/reliability.md): scripts/fuzz.sh [SECONDS] [HARNESS...]
# Builds the harnesses in build-sanitize/ (clang, ASan+UBSan; scripts/sanitize.sh), then runs each one
# named (all when none) for SECONDS (default 60) from its seeds in fuzz/corpus/<name>/ and its regression
# inputs in fuzz/regressions/<name>/, and prints libFuzzer's executions/s and coverage. Inputs that grow
# coverage collect in build-sanitize/fuzz/corpus/<name>/ (kept between runs, not committed). An input that
# crashes, leaks, hangs or runs out of memory is copied into fuzz/regressions/<name>/, to be committed with
# its fix; the script then exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift $(($# > 0 ? 1 : 0))
bash scripts/sanitize.sh fuzz_all >/dev/null
source scripts/sanitize.env
names=("$@")
if ((${#names[@]} == 0)); then
  for bin in build-sanitize/fuzz/fuzz_*; do names+=("${bin##*/fuzz_}"); done
fi
status=0
for name in "${names[@]}"; do
  bin=build-sanitize/fuzz/fuzz_$name
  [ -x "$bin" ] || { echo "fuzz.sh: no harness '$name' (see fuzz/harnesses.cpp)" >&2; exit 2; }
  work=build-sanitize/fuzz/corpus/$name
  found=build-sanitize/fuzz/found/$name
  log=build-sanitize/fuzz/$name.log
  mkdir -p "$work" "$found"
  inputs=("$work" "fuzz/corpus/$name")
  [ -d "fuzz/regressions/$name" ] && inputs+=("fuzz/regressions/$name")
  echo "== fuzz_$name, ${seconds}s"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: libFuzzer's default, stated.
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$found/" "${inputs[@]}" >"$log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | tr '\n' ' '
    echo
  else
    status=1
    tail -n 40 "$log"
    mkdir -p "fuzz/regressions/$name"
    cp "$found"/* "fuzz/regressions/$name/" 2>/dev/null || true
    echo "fuzz.sh: fuzz_$name failed; its input is in fuzz/regressions/$name/ (full log: $log)" >&2
  fi
done
exit $status
