// Progress output, driven by a simulated clock into a memory stream: what a log gets without a terminal,
// what a terminal gets, and nothing with --quiet.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "vdsr/util/progress.h"

using namespace vdsr;

namespace {

// A memory stream for the progress output, and the simulated time.
struct Capture {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  double now = 1000;
  ProgressClock clock = [this] { return now; };

  ~Capture() {
    std::fclose(out);
    std::free(buffer);
  }
  std::string text() {
    std::fflush(out);
    return std::string(buffer, size);
  }
  std::vector<std::string> lines() {
    std::vector<std::string> out_lines;
    std::stringstream s(text());
    for (std::string line; std::getline(s, line);) out_lines.push_back(line);
    return out_lines;
  }
};

const double kDefaultSeconds = ProgressSettings{}.line_seconds;

}  // namespace

TEST(Progress, WithoutTerminalPrintsPlainLinesAtMostOncePerSecondByDefault) {
  Capture c;
  const double duration = 300;  // seconds of simulated work, one item every 10 ms
  const long total = static_cast<long>(duration * 100);
  std::vector<double> printed_at;
  {
    Progress p("x2", total, "images", ProgressMode::lines, c.out, c.clock, kDefaultSeconds);
    size_t before = 0;
    for (long i = 1; i <= total; ++i) {
      c.now += 0.01;
      p.update(i);
      const size_t after = c.text().size();
      if (after != before) printed_at.push_back(c.now);
      before = after;
    }
  }  // the closing line
  const std::string text = c.text();
  EXPECT_EQ(text.find('\r'), std::string::npos) << "no carriage returns in a log";
  EXPECT_EQ(text.find('\033'), std::string::npos) << "no terminal escapes in a log";
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const auto lines = c.lines();
  ASSERT_GE(lines.size(), 2u);
  EXPECT_LE(static_cast<double>(lines.size()), duration) << "more than one line per second";
  // Lines while the work runs are at least the interval apart (the closing line comes at the end, once).
  for (size_t i = 1; i < printed_at.size(); ++i) EXPECT_GE(printed_at[i] - printed_at[i - 1], kDefaultSeconds - 1e-9);
  EXPECT_LE(lines.size(), static_cast<size_t>(duration / kDefaultSeconds) + 1);
  for (const auto& line : lines) {
    EXPECT_EQ(line.rfind("x2 ", 0), 0u) << line;
    EXPECT_NE(line.find(" images/s"), std::string::npos) << line;
  }
  EXPECT_NE(lines.front().find("ETA"), std::string::npos) << lines.front();
  EXPECT_NE(lines.back().find(std::to_string(total) + "/" + std::to_string(total) + " images"), std::string::npos)
      << lines.back();
}

TEST(Progress, IntervalIsTheSetting) {
  Capture c;
  {
    Progress p("patches", 1000, "patches", ProgressMode::lines, c.out, c.clock, 2.0);
    for (long i = 1; i <= 1000; ++i) {
      c.now += 0.02;  // 20 s in all
      p.update(i);
    }
  }
  // Lines at 2, 4, ..., 20 s: ten, the last of which already shows 1000/1000 (no closing line repeats it).
  EXPECT_EQ(c.lines().size(), 10u) << c.text();
}

TEST(Progress, ShortWorkLeavesALogSilent) {
  Capture c;
  {
    Progress p("x2", 5, "images", ProgressMode::lines, c.out, c.clock, kDefaultSeconds);
    for (long i = 1; i <= 5; ++i) {
      c.now += 0.5;
      p.update(i);
    }
  }
  EXPECT_EQ(c.text(), "");
}

TEST(Progress, QuietPrintsNothing) {
  Capture c;
  {
    Progress p("x2", 1000, "images", ProgressMode::off, c.out, c.clock, 1.0);
    EXPECT_FALSE(p.due());
    for (long i = 1; i <= 1000; ++i) {
      c.now += 1;
      p.update(i);
    }
  }
  EXPECT_EQ(c.text(), "");
}

TEST(Progress, QuietFlagTurnsTheDefaultModeOff) {
  const ProgressSettings saved = progress_settings();
  progress_settings().quiet = true;
  EXPECT_EQ(default_progress_mode(), ProgressMode::off);
  progress_settings() = saved;
}

TEST(Progress, TerminalRedrawsOneLineAtMostTenTimesASecond) {
  Capture c;
  {
    Progress p("train", 1000, "steps", ProgressMode::terminal, c.out, c.clock, kDefaultSeconds);
    for (long i = 1; i <= 1000; ++i) {
      c.now += 0.001;  // 1 s in all
      p.update(i);
    }
  }
  const std::string text = c.text();
  size_t redraws = 0;
  for (size_t at = text.find("\r\033[K"); at != std::string::npos; at = text.find("\r\033[K", at + 1)) ++redraws;
  EXPECT_GE(redraws, 10u);
  EXPECT_LE(redraws, 12u);  // ten in the second, the first at once, and the final state
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << "one line, left in place at the end";
  EXPECT_NE(text.find("1000/1000 steps"), std::string::npos);
}

TEST(StatusLine, ClearBeforeLoggingOnlyOnATerminal) {
  Capture c;
  StatusLine line(ProgressMode::lines, c.out, c.clock, 1.0);
  c.now += 1.5;
  ASSERT_TRUE(line.due());
  line.show("trials: 1 done");
  line.clear();
  line.show("trials: 2 done");  // too soon: held back
  EXPECT_EQ(c.text(), "trials: 1 done\n");
  line.keep();
  EXPECT_EQ(c.text(), "trials: 1 done\ntrials: 2 done\n");
}

TEST(StatusLine, ALogDoesNotRepeatAnUnchangedStatus) {
  Capture c;
  {
    StatusLine line(ProgressMode::lines, c.out, c.clock, 1.0);
    for (int i = 0; i < 100; ++i) {
      c.now += 0.1;  // 10 s of the same status, then a new one
      line.show("trials: 2 done, 2 running");
    }
    c.now += 1;
    line.show("trials: 3 done, 1 running");
    line.keep();
  }
  EXPECT_EQ(c.text(), "trials: 2 done, 2 running\ntrials: 3 done, 1 running\n");
}
