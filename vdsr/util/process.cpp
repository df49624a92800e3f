#include "vdsr/util/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace vdsr {

namespace {

// The process that spawned the supervisor; set before fork, read by the supervisor's signal handler.
volatile pid_t g_spawner = 0;

// The supervisor's handler for the parent-death signal and for the stop signals sent to its group: when
// the spawner is gone, it kills the group (itself included); otherwise it ignores the signal, which the
// command received too, so that it lives on to report the command's status.
extern "C" void on_supervisor_signal(int) {
  if (getppid() != g_spawner) kill(0, SIGKILL);
}

constexpr int kSupervisedSignals[] = {SIGHUP, SIGINT, SIGTERM, SIGQUIT};

// Closes the descriptors the command would not inherit (close-on-exec ones, such as the tuner's lock and
// database): the supervisor never execs, and must not hold them for the command's lifetime.
void close_cloexec_descriptors() {
  const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char buf[4096];
  long n;
  while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf + off);
      off += d->d_reclen;
      int fd = 0;
      const char* p = d->d_name;
      if (*p < '0' || *p > '9') continue;
      for (; *p >= '0' && *p <= '9'; ++p) fd = fd * 10 + (*p - '0');
      const int flags = fd > 2 && fd != dir ? fcntl(fd, F_GETFD) : -1;
      if (flags >= 0 && (flags & FD_CLOEXEC)) ::close(fd);
    }
  }
  ::close(dir);
}

// Ends the supervisor the way the command ended, so that the parent's waitpid sees the command's status.
[[noreturn]] void end_like(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // the command may have dumped core; the supervisor must not
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, nullptr);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, nullptr);
    kill(getpid(), sig);
    _exit(128 + sig);  // a signal whose default is not to terminate
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

}  // namespace

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

// Why a supervisor: the parent-death signal reaches only a direct child, and the kernel's SIGKILL for it
// would kill only that one process; the shell's children would be re-parented to PID 1. The supervisor
// catches the signal instead and kills the whole group, which everything the command starts belongs to.
// (A subreaper would also collect processes that leave the group, but ending them would take a scan of
// its descendants; trials and stages do not daemonize.) The supervisor is a fork of the parent that
// never execs, so after fork it makes only async-signal-safe calls.
pid_t spawn_shell(const ShellCommand& c) {
  // Everything the children need is prepared before fork.
  std::vector<std::string> env = c.environment;
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  const std::string out = c.stdout_path.string(), err = c.stderr_path.string(), cwd = c.cwd.string();
  const bool same = !out.empty() && out == err;
  const int flags = O_WRONLY | O_CREAT | (c.append ? O_APPEND : O_TRUNC);
  const char* argv[] = {"/bin/sh", "-c", c.command.c_str(), nullptr};
  const pid_t parent = getpid();
  g_spawner = parent;
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed for: " + c.command);
  if (pid > 0) {
    setpgid(pid, pid);  // also in the parent, so a kill right after spawn cannot miss the group
    return pid;
  }

  // The supervisor.
  setpgid(0, 0);
  struct sigaction sa {};
  sa.sa_handler = on_supervisor_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int s : kSupervisedSignals) sigaction(s, &sa, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, nullptr);  // waitpid needs it, whatever the parent chose
  prctl(PR_SET_PDEATHSIG, SIGHUP);
  if (getppid() != parent) _exit(127);  // the parent died before the signal was armed
  close_cloexec_descriptors();
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

  // Signals wait until the shell has its default handlers back (it must not run the supervisor's).
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  const pid_t shell = fork();
  if (shell == 0) {
    for (int s : kSupervisedSignals) sigaction(s, &dfl, nullptr);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
    _exit(127);
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (shell < 0) _exit(126);
  int status = 0;
  while (waitpid(shell, &status, 0) < 0)
    if (errno != EINTR) _exit(127);
  end_like(status);
}

void signal_group(pid_t pid, int signal) { kill(-pid, signal); }

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

namespace {

// The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses): the
// first is field 3, the state.
std::optional<std::vector<std::string>> stat_fields(pid_t pid) {
  const std::optional<std::string> read = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
  if (!read) return std::nullopt;
  const std::string& text = *read;
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 20) return std::nullopt;
  return fields;
}

}  // namespace

std::optional<std::string> read_to_end(int fd) {
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
  }
}

std::optional<std::string> read_proc_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::string> text = read_to_end(fd);
  ::close(fd);
  return text;
}

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  const auto f = stat_fields(pid);
  if (!f) return std::nullopt;
  return std::strtoull((*f)[22 - 3].c_str(), nullptr, 10);
}

bool kill_group_if_started_at(pid_t pgid, std::uint64_t start_time) {
  if (pgid <= 1) return false;
  const auto leader = stat_fields(pgid);
  if (!leader || std::strtol((*leader)[5 - 3].c_str(), nullptr, 10) != pgid ||
      std::strtoull((*leader)[22 - 3].c_str(), nullptr, 10) != start_time)
    return false;
  // A group of zombies only (a dead leader not yet reaped) has nothing left to end.
  bool live = false;
  if (DIR* proc = opendir("/proc")) {
    for (const dirent* e; !live && (e = readdir(proc)) != nullptr;) {
      const pid_t pid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
      const auto f = pid > 0 ? stat_fields(pid) : std::nullopt;
      live = f && std::strtol((*f)[5 - 3].c_str(), nullptr, 10) == pgid && (*f)[0] != "Z" && (*f)[0] != "X";
    }
    closedir(proc);
  }
  return live && kill(-pgid, SIGKILL) == 0;
}

}  // namespace vdsr
