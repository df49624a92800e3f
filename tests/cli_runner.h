#pragma once
// Runs a built CLI (from vdsr::test::bin_dir()) in a shell and captures its exit code and output.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

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

inline std::string tool(const std::string& name) { return std::string(vdsr::test::bin_dir()) + "/" + name; }

}  // namespace vdsr::test
