#include "pipeline/executor.h"

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include <spdlog/spdlog.h>

#include "report/report.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"
#include "vdsr/util/process.h"

namespace vdsr::pipeline {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A stopped stage gets this long to save its work (vdsr-train finishes its step) before SIGKILL.
constexpr double kStopGraceSeconds = 30;

double now_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

// The log's last non-empty line, cut to fit a terminal line.
std::string last_line(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in.tellg();
  if (size <= 0) return "";
  const std::streamoff from = std::max<std::streamoff>(0, size - 400);
  in.seekg(from);
  std::string chunk(static_cast<size_t>(size - from), '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  while (!chunk.empty() && (chunk.back() == '\n' || chunk.back() == '\r')) chunk.pop_back();
  const size_t nl = chunk.find_last_of("\r\n");
  std::string line = nl == std::string::npos ? chunk : chunk.substr(nl + 1);
  if (line.size() > 90) line = line.substr(0, 87) + "...";
  return line;
}

void write_derived_json(const WriteJson& w) {
  nlohmann::json doc = read_json_file(w.from);
  for (const auto& [key, value] : w.set.items()) doc[key] = value;
  fs::create_directories(fs::path(w.path).parent_path());
  write_file_atomically(w.path, dump_json(doc, 2) + "\n");
}

}  // namespace

Execution Executor::run(const std::vector<std::string>& commands, const fs::path& log, const std::string& tag,
                        bool resume) {
  const double started_at = now_seconds();
  Execution e;
  for (const auto& command : commands) {
    std::ofstream(log, std::ios::app) << "=== " << report::now_iso8601() << (resume ? " resume: " : " run: ")
                                      << command << "\n";
    e.exit_code = run_one(command, log, tag, started_at, e.interrupted);
    if (e.exit_code != 0 || e.interrupted) break;
  }
  e.seconds = now_seconds() - started_at;
  return e;
}

int Executor::run_one(const std::string& command, const fs::path& log, const std::string& tag, double started_at,
                      bool& stopped) {
  ShellCommand c;
  c.command = command;
  c.cwd = root_;
  c.environment = current_environment({"VDSR_ASSETS="});
  c.environment.push_back("VDSR_ASSETS=" + assets_.string());
  c.stdout_path = c.stderr_path = log;
  c.append = true;
  const pid_t pid = spawn_shell(c);
  const int status = wait_for(pid, log, tag, started_at, stopped);
  signal_group(pid, SIGKILL);  // nothing the stage started outlives it
  status_.clear();
  return exit_code_of(status);
}

int Executor::wait_for(pid_t pid, const fs::path& log, const std::string& tag, double started_at, bool& stopped) {
  int status = 0;
  double stop_sent = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (!stopped && stop_ && stop_->load()) {
      stopped = true;
      stop_sent = now_seconds();
      status_.clear();
      spdlog::warn("{}: stopping (SIGTERM)...", tag);
      signal_group(pid, SIGTERM);
    }
    if (stopped && now_seconds() - stop_sent > kStopGraceSeconds) signal_group(pid, SIGKILL);
    const double elapsed = now_seconds() - started_at;
    if (status_.due()) status_.show(tag + " " + pretty_seconds(elapsed) + "  " + last_line(log));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return status;
}

void prepare_stage(const Stage& stage, bool resume) {
  if (!resume)
    for (const auto& c : stage.clean) fs::remove_all(c);
  for (const auto& out : stage.outputs) fs::create_directories(fs::path(out).parent_path());
  for (const auto& w : stage.write_json) write_derived_json(w);
}

std::string log_tail(const fs::path& log, size_t lines) {
  std::ifstream in(log);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "  | " + l + "\n";
  return out;
}

std::string pretty_seconds(double s) {
  char buf[32];
  const int whole = static_cast<int>(s);
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", whole / 60, whole % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", whole / 3600, whole / 60 % 60);
  }
  return buf;
}

}  // namespace vdsr::pipeline
