#pragma once
// A one-line progress display for long work (images, epochs, trials): count, rate and ETA, redrawn
// in place on a terminal, silent otherwise (logs stay clean in CI and when piped).
#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace vdsr {

class Progress {
 public:
  Progress(std::string label, long total, std::string unit)
      : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(fileno(stderr)) != 0),
        start_(std::chrono::steady_clock::now()) {}
  ~Progress() {
    if (tty_ && drawn_) std::fputc('\n', stderr);
  }

  void update(long done, const std::string& extra = "") {
    if (!tty_) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = elapsed > 0 ? done / elapsed : 0.0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
    std::fprintf(stderr, "\r\033[K%s %ld/%ld %s  %.2f %s/s  ETA %.0fs %s", label_.c_str(), done, total_,
                 unit_.c_str(), rate, unit_.c_str(), eta, extra.c_str());
    std::fflush(stderr);
    drawn_ = true;
  }

 private:
  std::string label_, unit_;
  long total_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace vdsr
