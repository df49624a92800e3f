#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs (only the missing ones; quiet when all are there)
# and configures + builds it in build/. Re-running is cheap: nothing is reinstalled, ccache and make
# rebuild only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ make ccache git pkg-config
  libtorch-dev libdnnl-dev libonnx-dev libprotobuf-dev protobuf-compiler
  nlohmann-json3-dev libspdlog-dev libhdf5-dev libgtest-dev libcli11-dev libopencv-dev libsqlite3-dev libssl-dev
  clang libclang-rt-14-dev libomp-dev   # the sanitizer build and the libFuzzer harnesses (fuzz/)
  python3 python3-torch python3-h5py python3-numpy   # PyTorch interop checks and benchmarks
  munge slurmctld slurmd slurm-client   # the one-node cluster of the Slurm tests (scripts/slurm-local.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# onnxruntime for the ONNX checks and benchmarks (scripts/ort_check.mjs): the npm package's CPU build,
# pinned by scripts/package-lock.json; scripts/.npmrc skips its download of GPU parts. Optional: without
# node or a registry the tools say that onnxruntime is skipped.
if command -v npm >/dev/null && [ ! -d scripts/node_modules/onnxruntime-node ]; then
  (cd scripts && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "setup: onnxruntime-node could not be installed (npm ci in scripts/); onnxruntime checks will be skipped" >&2
fi

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
