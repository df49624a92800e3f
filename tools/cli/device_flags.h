#pragma once
// --cuda, --gpus and --threads: the device flags of every tool that runs a model.
#include <CLI/CLI.hpp>
#include <string>

#include "tools/cli/common.h"
#include "vdsr/inference.h"

namespace vdsr::cli {

struct DeviceFlags {
  bool cuda = false;
  std::string gpus;
  int threads = 0;

  // `cuda_use` says what the GPU would run, e.g. "run on the GPU" or "train on the GPU".
  void add_to(CLI::App& app, const std::string& cuda_use = "run on the GPU") {
    app.add_flag("--cuda", cuda, cuda_use + " (needs a CUDA build of LibTorch)");
    app.add_option("--gpus", gpus, "GPU ids to use (sets CUDA_VISIBLE_DEVICES)");
    app.add_option("--threads", threads, "CPU threads (default: all cores)")->check(integer_at_least(1));
  }

  // After parsing: the device (fails with a clear error when --cuda finds no GPU).
  Device device() const { return select_device(cuda, gpus); }
  // Sets LibTorch's (and oneDNN's) intra-op threads; returns how many are used.
  int apply_threads() const { return configure_threads(threads); }
};

}  // namespace vdsr::cli
