#pragma once
// What /proc says about process groups, for the tests that check no process outlives its controller.
#include <dirent.h>
#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "vdsr/util/process.h"

namespace vdsr::test {

// The live (not zombie) processes whose process group is `pgid`, from /proc/*/stat.
inline std::vector<pid_t> live_group_members(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    // A process may exit while it is read: then it is simply not listed.
    const std::string s = read_proc_file("/proc/" + std::to_string(pid) + "/stat").value_or("");
    const size_t close = s.rfind(')');  // the command name before it may hold anything
    if (close == std::string::npos) continue;
    char state = 0;
    long ppid = 0, group = 0;
    if (std::sscanf(s.c_str() + close + 1, " %c %ld %ld", &state, &ppid, &group) == 3 && group == pgid &&
        state != 'Z' && state != 'X')
      out.push_back(pid);
  }
  closedir(d);
  return out;
}

// The live processes with `arg` as one of their arguments, from /proc/*/cmdline.
inline std::vector<pid_t> processes_with_argument(const std::string& arg) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    const std::string s = read_proc_file("/proc/" + std::to_string(pid) + "/cmdline").value_or("");
    if (('\0' + s).find('\0' + arg + '\0') != std::string::npos) out.push_back(pid);  // empty for zombies
  }
  closedir(d);
  return out;
}

// Polls `done` for up to `seconds`; returns its last answer.
inline bool eventually(const std::function<bool()>& done, double seconds = 10) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

}  // namespace vdsr::test
