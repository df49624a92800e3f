#pragma once
// A one-line progress display for long work (images, epochs, trials): count, rate and ETA, redrawn
// in place on a terminal, silent otherwise (logs stay clean in CI and when piped).
#include <chrono>
#include <cstdio>
#include <string>

#include "vdsr/util/status_line.h"

namespace vdsr {

class Progress {
 public:
  Progress(std::string label, long total, std::string unit)
      : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Progress() { line_.keep(); }

  void update(long done, const std::string& extra = "") {
    if (!line_.enabled()) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = elapsed > 0 ? done / elapsed : 0.0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
    char numbers[128];
    std::snprintf(numbers, sizeof numbers, " %ld/%ld %s  %.2f %s/s  ETA %.0fs ", done, total_, unit_.c_str(), rate,
                  unit_.c_str(), eta);
    line_.show(label_ + numbers + extra);
  }

 private:
  std::string label_, unit_;
  long total_;
  std::chrono::steady_clock::time_point start_;
  StatusLine line_;
};

}  // namespace vdsr
