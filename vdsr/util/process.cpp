#include "vdsr/util/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

extern char** environ;

namespace vdsr {

std::vector<std::string> current_environment(const std::vector<std::string>& drop_prefixes) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string s = *e;
    bool drop = false;
    for (const auto& p : drop_prefixes) drop = drop || s.rfind(p, 0) == 0;
    if (!drop) out.push_back(s);
  }
  return out;
}

pid_t spawn_shell(const ShellCommand& c) {
  // Everything the child needs is prepared before fork: only async-signal-safe calls happen after it.
  std::vector<std::string> env = c.environment;
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  const std::string out = c.stdout_path.string(), err = c.stderr_path.string(), cwd = c.cwd.string();
  const bool same = !out.empty() && out == err;
  const int flags = O_WRONLY | O_CREAT | (c.append ? O_APPEND : O_TRUNC);
  const char* argv[] = {"/bin/sh", "-c", c.command.c_str(), nullptr};
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed for: " + c.command);
  if (pid == 0) {
    setpgid(0, 0);                     // its own process group, so a kill reaches the whole command
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed parent leaves no orphan behind
    if (getppid() != parent) _exit(127);
    const int fi = ::open("/dev/null", O_RDONLY);
    if (fi < 0 || (!cwd.empty() && chdir(cwd.c_str()) != 0)) _exit(126);
    dup2(fi, 0);
    if (!out.empty()) {
      const int fo = ::open(out.c_str(), flags, 0644);
      if (fo < 0) _exit(126);
      dup2(fo, 1);
      if (same) dup2(fo, 2);
    }
    if (!err.empty() && !same) {
      const int fe = ::open(err.c_str(), flags, 0644);
      if (fe < 0) _exit(126);
      dup2(fe, 2);
    }
    execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also in the parent, so a kill right after spawn cannot miss the group
  return pid;
}

void signal_group(pid_t pid, int signal) { kill(-pid, signal); }

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

}  // namespace vdsr
