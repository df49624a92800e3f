#pragma once
// Runs a stage's commands: each with /bin/sh -c in ${root}, in a process group of its own, stdout and stderr
// appended to the stage's log. A stop request (SIGINT/SIGTERM to the pipeline) sends SIGTERM to the group
// and SIGKILL after a grace period. While it waits it shows the stage's time and the log's last line on the
// status line, or logs a heartbeat every 5 minutes when there is no terminal.
#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/stages.h"
#include "vdsr/util/progress.h"

namespace vdsr::pipeline {

struct Execution {
  int exit_code = 0;  // of the first command that failed, else 0
  double seconds = 0;
  bool interrupted = false;
};

class Executor {
 public:
  Executor(std::filesystem::path root, std::filesystem::path assets, const std::atomic<bool>* stop,
           StatusLine& status)
      : root_(std::move(root)), assets_(std::move(assets)), stop_(stop), status_(status) {}

  // Runs `commands` in order until one fails or a stop is requested. `tag` names the stage in messages.
  Execution run(const std::vector<std::string>& commands, const std::filesystem::path& log, const std::string& tag,
                bool resume);

 private:
  int run_one(const std::string& command, const std::filesystem::path& log, const std::string& tag,
              double started_at, bool& stopped);
  // Waits for the process, stopping it when asked and keeping the status line fresh; its wait status.
  int wait_for(pid_t pid, const std::filesystem::path& log, const std::string& tag, double started_at, bool& stopped);

  std::filesystem::path root_, assets_;
  const std::atomic<bool>* stop_;
  StatusLine& status_;
};

// Gets the stage's folders ready: its clean list removed (unless it resumes), the outputs' folders made,
// its write_json files written.
void prepare_stage(const Stage& stage, bool resume);

// The last `lines` lines of a log, each indented with "  | ".
std::string log_tail(const std::filesystem::path& log, size_t lines);

// "4.2s", "3m07s", "1h05m".
std::string pretty_seconds(double seconds);

}  // namespace vdsr::pipeline
