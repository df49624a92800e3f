#!/usr/bin/env bash
# Sets up (packages + build) and runs every test, then the inference tests under restricted ISAs. Tests
# that need ../shared/assets find it through VDSR_ASSETS (default ../shared/assets); under CI=true a missing
# asset fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VDSR_ASSETS="${VDSR_ASSETS:-$(cd .. && pwd)/shared/assets}"
# The Slurm tests (label slurm) run on the one-node cluster of scripts/slurm-local.sh (root only). A cluster
# started here is stopped on exit, also when a test fails; one that was already up is left as it was.
slurm_local="$(pwd)/scripts/slurm-local.sh"
if bash "$slurm_local" status >/dev/null 2>&1; then
  echo "== Slurm: using the cluster that is already up"
elif [ "$(id -u)" -eq 0 ]; then
  trap 'bash "$slurm_local" stop || true' EXIT
  bash "$slurm_local" start || echo "test: the local Slurm cluster did not start; the Slurm tests skip (fail under CI=true)" >&2
else
  echo "test: not root, so no local Slurm cluster; the Slurm tests skip (fail under CI=true)" >&2
fi
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 1200
# Machines of this kind differ in their CPUs (AVX-512 and AMX, or AVX2 only), and a build must pass on
# each: the inference tests again with oneDNN limited to AVX2, and the small reference check under SSE4.1.
echo "== inference tests with ONEDNN_MAX_CPU_ISA=AVX2"
ONEDNN_MAX_CPU_ISA=AVX2 ctest --output-on-failure -j"$(nproc)" --timeout 1200 -L inference
echo "== reference check with ONEDNN_MAX_CPU_ISA=SSE41"
ONEDNN_MAX_CPU_ISA=SSE41 ctest --output-on-failure --timeout 1200 -R '^ReferenceCheck\.'
# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, then each fuzz harness for a short
# fixed time; an input that breaks one is copied into fuzz/regressions/ and fails the run (docs/reliability.md).
cd ..
echo "== unit tests under ASan + UBSan (build-sanitize/)"
bash scripts/sanitize.sh
(source scripts/sanitize.env && cd build-sanitize &&
  ctest --output-on-failure -j"$(nproc)" --timeout 1200 -E "$VDSR_LONG_TESTS")
echo "== fuzz harnesses, 30 s each"
bash scripts/fuzz.sh 30
