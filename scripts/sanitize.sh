#!/usr/bin/env bash
# The sanitizer build (docs/reliability.md): build-sanitize/ with clang, every library and test under
# AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer's coverage, plus the fuzz harnesses.
# `scripts/sanitize.sh [TARGET...]` configures and builds the targets named (everything when none); -O1 and
# line tables only: fast enough to test, cheap enough to build in CI, and stacks still name file:line.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-sanitize -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DVDSR_SANITIZE=ON -DVDSR_FUZZ=ON >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build-sanitize -j"$(nproc)" "${targets[@]}"
