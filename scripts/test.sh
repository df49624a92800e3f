#!/usr/bin/env bash
# Sets up (packages + build) and runs every test. Tests that need ../shared/assets find it through
# VDSR_ASSETS (default ../shared/assets); under CI=true a missing asset fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VDSR_ASSETS="${VDSR_ASSETS:-$(cd .. && pwd)/shared/assets}"
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 1200
