// spawn_shell: the command's status comes back as its own, stop signals reach the whole group, and
// nothing the command started outlives a parent killed with SIGKILL.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/process_scan.h"
#include "tests/test_util.h"
#include "vdsr/util/process.h"

using namespace vdsr;
using vdsr::test::eventually;
using vdsr::test::live_group_members;
namespace fs = std::filesystem;

namespace {

ShellCommand shell(const std::string& command) {
  ShellCommand c;
  c.command = command;
  c.environment = current_environment();
  return c;
}

int wait_status(pid_t pid) {
  int ws = 0;
  EXPECT_EQ(waitpid(pid, &ws, 0), pid);
  return ws;
}

// A shell that starts a child, and a grandchild through another shell, then waits: four processes in the
// group with the supervisor.
const char* kFamily = "sleep 300 & sh -c 'sleep 300 & wait' & wait";

}  // namespace

TEST(SpawnShell, ReportsTheCommandsOwnExitStatusOrSignal) {
  int ws = wait_status(spawn_shell(shell("exit 3")));
  ASSERT_TRUE(WIFEXITED(ws));
  EXPECT_EQ(WEXITSTATUS(ws), 3);
  ws = wait_status(spawn_shell(shell("kill -TERM $$")));
  ASSERT_TRUE(WIFSIGNALED(ws));
  EXPECT_EQ(WTERMSIG(ws), SIGTERM);
  ws = wait_status(spawn_shell(shell("kill -USR1 $$")));
  ASSERT_TRUE(WIFSIGNALED(ws));
  EXPECT_EQ(WTERMSIG(ws), SIGUSR1);
  EXPECT_EQ(exit_code_of(wait_status(spawn_shell(shell("no-such-command-here 2>/dev/null")))), 127);
  ShellCommand bad = shell("true");
  bad.cwd = "/no/such/folder";
  EXPECT_EQ(exit_code_of(wait_status(spawn_shell(bad))), 126);
}

TEST(SpawnShell, WritesOutputFilesAndRunsInItsFolder) {
  const fs::path dir = test::scratch_dir("vdsr_process");
  ShellCommand c = shell("pwd; echo to-err >&2; cat");  // cat: stdin is /dev/null, so it ends at once
  c.cwd = dir;
  c.stdout_path = dir / "out.log";
  c.stderr_path = dir / "err.log";
  EXPECT_EQ(exit_code_of(wait_status(spawn_shell(c))), 0);
  EXPECT_EQ(test::read_text(dir / "out.log"), fs::canonical(dir).string() + "\n");
  EXPECT_EQ(test::read_text(dir / "err.log"), "to-err\n");
}

TEST(SpawnShell, AStopSignalReachesTheGroupAndTheCommandDecidesItsStatus) {
  // The trap runs once the shell's `wait` is interrupted; its children got the signal too.
  const pid_t pid = spawn_shell(shell("trap 'exit 7' TERM; " + std::string(kFamily)));
  ASSERT_TRUE(eventually([&] { return live_group_members(pid).size() >= 5; })) << live_group_members(pid).size();
  signal_group(pid, SIGTERM);
  const int ws = wait_status(pid);
  ASSERT_TRUE(WIFEXITED(ws)) << ws;
  EXPECT_EQ(WEXITSTATUS(ws), 7);
  EXPECT_TRUE(eventually([&] { return live_group_members(pid).empty(); }));
}

TEST(SpawnShell, NothingOutlivesAParentKilledWithSigkill) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t parent = fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {  // the parent to kill: starts the command, tells its pid, waits for the end
    const pid_t pid = spawn_shell(shell(kFamily));
    if (write(fds[1], &pid, sizeof pid) != sizeof pid) _exit(1);
    pause();
    _exit(0);
  }
  close(fds[1]);
  pid_t group = -1;
  ASSERT_EQ(read(fds[0], &group, sizeof group), static_cast<ssize_t>(sizeof group));
  close(fds[0]);
  ASSERT_TRUE(eventually([&] { return live_group_members(group).size() >= 5; })) << live_group_members(group).size();
  ASSERT_EQ(kill(parent, SIGKILL), 0);
  wait_status(parent);
  EXPECT_TRUE(eventually([&] { return live_group_members(group).empty(); }, 5))
      << live_group_members(group).size() << " process(es) of the group outlived their parent";
  kill(-group, SIGKILL);  // whatever a failure left behind
}

TEST(SpawnShell, HoldsNoneOfTheParentsCloseOnExecDescriptors) {
  const fs::path dir = test::scratch_dir("vdsr_process");
  const int fd = ::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  const pid_t pid = spawn_shell(shell("sleep 300"));
  ASSERT_TRUE(eventually([&] { return live_group_members(pid).size() >= 2; }));
  for (pid_t p : live_group_members(pid))
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(p) + "/fd")) {
      std::error_code ec;
      EXPECT_NE(fs::read_symlink(e.path(), ec), dir / "lock") << "process " << p << " holds it";
    }
  signal_group(pid, SIGKILL);
  wait_status(pid);
  ::close(fd);
}

TEST(KillGroupIfStartedAt, EndsTheRecordedGroupOnlyWhenTheStartTimeMatches) {
  const pid_t pid = spawn_shell(shell("sleep 300"));
  const auto start = process_start_time(pid);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(process_start_time(pid), start);
  EXPECT_FALSE(kill_group_if_started_at(pid, *start + 1));  // as a reused pid would look
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), 0) << "a group with another start time was hit";
  EXPECT_TRUE(kill_group_if_started_at(pid, *start));
  const int ws = wait_status(pid);
  ASSERT_TRUE(WIFSIGNALED(ws));
  EXPECT_EQ(WTERMSIG(ws), SIGKILL);
  EXPECT_FALSE(kill_group_if_started_at(pid, *start));  // gone
  EXPECT_FALSE(process_start_time(pid).has_value());
}

TEST(ReadProcFile, AProcessThatExitsAfterTheOpenIsAnEmptyReadNotAnException) {
  // Scans of /proc open a process's stat file and then read it; if the process exits and is reaped in
  // between, the read fails with ESRCH. Read through std::ifstream and istreambuf_iterator, libstdc++
  // threw that out of the scan.
  const pid_t pid = spawn_shell(shell("sleep 300"));
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  const std::optional<std::string> alive = read_proc_file(path);
  ASSERT_TRUE(alive.has_value());
  EXPECT_EQ(alive->rfind(std::to_string(pid) + " (", 0), 0u) << *alive;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  signal_group(pid, SIGKILL);
  wait_status(pid);
  EXPECT_FALSE(read_to_end(fd).has_value());
  ::close(fd);
  EXPECT_FALSE(read_proc_file(path).has_value());
  EXPECT_FALSE(process_start_time(pid).has_value());
}

TEST(KillGroupIfStartedAt, LeavesAGroupOfZombiesAlone) {
  const pid_t pid = spawn_shell(shell("exit 0"));
  const auto start = process_start_time(pid);
  ASSERT_TRUE(start.has_value());
  ASSERT_TRUE(eventually([&] { return live_group_members(pid).empty(); }));  // a zombie, not yet reaped
  EXPECT_EQ(process_start_time(pid), start);
  EXPECT_FALSE(kill_group_if_started_at(pid, *start));
  EXPECT_EQ(exit_code_of(wait_status(pid)), 0);
}
