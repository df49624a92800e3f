#pragma once
// --quiet and --progress-seconds: how every tool with long work shows its progress (vdsr/util/progress.h).
#include <CLI/CLI.hpp>

#include "vdsr/util/progress.h"

namespace vdsr::cli {

struct ProgressFlags {
  bool quiet = false;
  double seconds = ProgressSettings{}.line_seconds;

  void add_to(CLI::App& app) {
    app.add_flag("--quiet", quiet, "no progress output (logs and results still print)");
    app.add_option("--progress-seconds", seconds,
                   "when stderr is not a terminal, print a progress line at most this often (seconds, >= 1)")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 1e9));
  }
  // After parsing: the settings every Progress and status line of the process reads.
  void apply() const {
    progress_settings().quiet = quiet;
    progress_settings().line_seconds = seconds;
  }
};

}  // namespace vdsr::cli
