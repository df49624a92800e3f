#include "vdsr/util/progress.h"

#include <unistd.h>

#include <chrono>

namespace vdsr {

namespace {
constexpr double kRedrawSeconds = 0.1;  // a terminal line changes at most 10 times a second
}

ProgressSettings& progress_settings() {
  static ProgressSettings settings;
  return settings;
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

ProgressMode default_progress_mode() {
  if (progress_settings().quiet) return ProgressMode::off;
  return isatty(fileno(stderr)) ? ProgressMode::terminal : ProgressMode::lines;
}

StatusLine::StatusLine(ProgressMode mode, std::FILE* out, ProgressClock clock, double line_seconds)
    : mode_(mode), out_(out), clock_(std::move(clock)), line_seconds_(line_seconds), last_(clock_()) {
  // A terminal draws the first status at once; a log waits a full interval, so short work prints nothing.
  if (mode_ == ProgressMode::terminal) last_ -= kRedrawSeconds;
}

bool StatusLine::due() const {
  switch (mode_) {
    case ProgressMode::off: return false;
    case ProgressMode::terminal: return clock_() - last_ >= kRedrawSeconds;
    case ProgressMode::lines: return clock_() - last_ >= line_seconds_;
  }
  return false;
}

void StatusLine::show(const std::string& text) {
  if (mode_ == ProgressMode::off) return;
  pending_ = text;
  if (!due()) return;
  if (mode_ == ProgressMode::lines && lines_ > 0 && text == last_line_) {  // a log gains nothing from a repeat
    pending_.clear();
    return;
  }
  last_ = clock_();
  if (mode_ == ProgressMode::terminal) {
    std::fprintf(out_, "\r\033[K%s", text.c_str());
    shown_ = true;
  } else {
    std::fprintf(out_, "%s\n", text.c_str());
    ++lines_;
    last_line_ = text;
  }
  pending_.clear();
  std::fflush(out_);
}

void StatusLine::clear() {
  if (!shown_) return;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
  shown_ = false;
}

void StatusLine::keep() {
  if (mode_ == ProgressMode::terminal) {
    if (!pending_.empty()) std::fprintf(out_, "\r\033[K%s", pending_.c_str()), shown_ = true;
    if (shown_) std::fputc('\n', out_);
    shown_ = false;
  } else if (mode_ == ProgressMode::lines && lines_ > 0 && !pending_.empty() && pending_ != last_line_) {
    std::fprintf(out_, "%s\n", pending_.c_str());
    ++lines_;
  }
  pending_.clear();
  if (mode_ != ProgressMode::off) std::fflush(out_);
}

Progress::Progress(std::string label, long total, std::string unit, ProgressMode mode, std::FILE* out,
                   ProgressClock clock, double line_seconds)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      clock_(clock),
      start_(clock_()),
      line_(mode, out, std::move(clock), line_seconds) {}

void Progress::update(long done, const std::string& extra) {
  if (!line_.enabled()) return;
  const double elapsed = clock_() - start_;
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  char numbers[160];
  if (done >= total_) {
    std::snprintf(numbers, sizeof numbers, " %ld/%ld %s  %.2f %s/s  done in %.0fs", done, total_, unit_.c_str(),
                  rate, unit_.c_str(), elapsed);
  } else {
    const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
    std::snprintf(numbers, sizeof numbers, " %ld/%ld %s  %.2f %s/s  ETA %.0fs", done, total_, unit_.c_str(), rate,
                  unit_.c_str(), eta);
  }
  line_.show(label_ + numbers + (extra.empty() ? "" : "  " + extra));
}

}  // namespace vdsr
