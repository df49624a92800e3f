#pragma once
// Runs a built CLI (from vdsr::test::bin_dir()) in a shell and captures its exit code and output.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/test_paths.h"

namespace vdsr::test {

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `command` as a shell line that runs it as on a full disk: no file it writes may grow past `blocks`
// 512-byte blocks, and a write past that fails (EFBIG, with SIGXFSZ ignored) where a full disk would fail
// it with ENOSPC. Both reach our code as a failed write.
inline std::string on_a_full_disk(const std::string& command, int blocks = 4) {
  return "trap '' XFSZ; ulimit -f " + std::to_string(blocks) + "; exec " + command;
}

// Starts `program args...` in the background, in `dir` when given, with its stdout and stderr written to
// `out` and `err`, and returns its pid: the caller signals or waits for it.
inline pid_t spawn_in_background(const std::string& program, const std::vector<std::string>& args,
                                 const std::filesystem::path& out, const std::filesystem::path& err,
                                 const std::filesystem::path& dir = {}) {
  std::vector<std::string> all = {program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!dir.empty()) posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("posix_spawn " + program + " failed with error " + std::to_string(rc));
  return pid;
}

inline std::string tool(const std::string& name) { return std::string(vdsr::test::bin_dir()) + "/" + name; }

}  // namespace vdsr::test
