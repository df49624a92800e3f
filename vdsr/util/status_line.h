#pragma once
// One line of live status on stderr, redrawn in place. Whoever logs while it is shown clears it first, so a
// log line never starts in the middle of it. Off when stderr is not a terminal: logs stay clean in CI and
// when piped. Used by Progress, the tuner's scheduler and the pipeline.
#include <unistd.h>

#include <cstdio>
#include <string>

namespace vdsr {

class StatusLine {
 public:
  explicit StatusLine(bool enabled = isatty(fileno(stderr)) != 0) : enabled_(enabled) {}
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  bool enabled() const { return enabled_; }

  // Replaces the line with `text`.
  void show(const std::string& text) {
    if (!enabled_) return;
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    shown_ = true;
  }

  // Erases the line, so that what is printed next starts at the left margin.
  void clear() {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

  // Leaves the last text on screen and moves below it.
  void keep() {
    if (!shown_) return;
    std::fputc('\n', stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
};

}  // namespace vdsr
