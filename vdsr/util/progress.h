#pragma once
// Progress of long work (images, epochs, trials, pipeline stages) on stderr, the one way every tool shows it:
// - on a terminal, one line redrawn in place;
// - otherwise (CI, logs, Slurm), a plain line at most every `line_seconds`, so logs stay short;
// - with --quiet, nothing.
// Tools set the process-wide settings from their flags (tools/cli/progress_flags.h); tests inject the
// stream and the clock.
#include <cstdio>
#include <functional>
#include <string>

namespace vdsr {

struct ProgressSettings {
  bool quiet = false;
  double line_seconds = 10;  // without a terminal: the least time between two lines
};
// The settings of this process (defaults until a tool applies its flags).
ProgressSettings& progress_settings();

// Monotonic seconds; steady_seconds() unless a test injects its own.
using ProgressClock = std::function<double()>;
double steady_seconds();

enum class ProgressMode { off, terminal, lines };
// From progress_settings() and whether stderr is a terminal.
ProgressMode default_progress_mode();

// One line of live status. Whoever logs while it is shown clears it first, so a log line never starts in
// the middle of it. Used by Progress, the tuner's scheduler and the pipeline.
class StatusLine {
 public:
  explicit StatusLine(ProgressMode mode = default_progress_mode(), std::FILE* out = stderr,
                      ProgressClock clock = steady_seconds, double line_seconds = progress_settings().line_seconds);
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  bool enabled() const { return mode_ != ProgressMode::off; }
  ProgressMode mode() const { return mode_; }
  // True when show() would print now: lets a caller skip building a costly text.
  bool due() const;

  // The current status. A terminal redraws it (at most 10 times a second); otherwise it is printed as a
  // line when `line_seconds` have passed since the last line (or since the start).
  void show(const std::string& text);
  // Erases the line on a terminal, so that what is printed next starts at the left margin.
  void clear();
  // The end: a terminal keeps the last text on screen and moves below it; a log gets the last text as a
  // closing line when it has had lines before (short work stays silent).
  void keep();

 private:
  ProgressMode mode_;
  std::FILE* out_;
  ProgressClock clock_;
  double line_seconds_;
  double last_ = 0;          // when the last draw or line went out
  bool shown_ = false;       // terminal: something is on the line
  int lines_ = 0;            // lines: how many were printed
  std::string pending_;      // the latest text not printed yet
  std::string last_line_;    // lines: the last one printed
};

// Count, rate and ETA of `total` items: "x2 12/100 images  0.41 images/s  ETA 215s".
class Progress {
 public:
  Progress(std::string label, long total, std::string unit, ProgressMode mode = default_progress_mode(),
           std::FILE* out = stderr, ProgressClock clock = steady_seconds,
           double line_seconds = progress_settings().line_seconds);
  ~Progress() { line_.keep(); }

  // True when update() would print now.
  bool due() const { return line_.due(); }
  void update(long done, const std::string& extra = "");

 private:
  std::string label_, unit_;
  long total_;
  ProgressClock clock_;
  double start_;
  StatusLine line_;
};

}  // namespace vdsr
