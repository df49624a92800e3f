#pragma once
// Running a shell command as a child process the way the tuner runs trials and the pipeline runs
// stages: its own process group (a kill reaches everything it started), ended with everything it started
// when the parent dies (no orphans), stdin from /dev/null, stdout/stderr to files.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vdsr {

struct ShellCommand {
  std::string command;                    // run with /bin/sh -c
  std::filesystem::path cwd;              // working directory (empty: the parent's)
  std::vector<std::string> environment;   // the full environment, "KEY=value" each
  std::filesystem::path stdout_path;      // empty: inherit the parent's stdout
  std::filesystem::path stderr_path;      // empty: inherit; the same path as stdout: one file for both
  bool append = false;                    // append to the files instead of truncating them
};

// The current environment, less the variables whose names start with one of `drop_prefixes`.
std::vector<std::string> current_environment(const std::vector<std::string>& drop_prefixes = {});

// Starts the command under a small supervisor process and returns the supervisor's pid, which is also the
// id of the process group that holds the supervisor, the shell and everything the command starts.
// waitpid on the pid gives the command's own status: its exit code, or death by the signal that killed
// it. When the parent dies, even by SIGKILL, the supervisor kills the whole group. Throws
// std::runtime_error when fork fails. A child that cannot open its files or cwd exits with 126.
pid_t spawn_shell(const ShellCommand& command);

// Sends `signal` to the child's process group.
void signal_group(pid_t pid, int signal);

// Exit code of a waitpid status: the exit status, or 128 + signal for a killed process.
int exit_code_of(int wait_status);

// The text of a file under /proc (e.g. /proc/<pid>/stat), or empty when it cannot be read. A process
// that exits between the open and the read makes the read fail (ESRCH), which a std::ifstream read
// through istreambuf_iterator turns into an exception; scans of /proc race with exiting processes, so
// this never throws.
std::optional<std::string> read_proc_file(const std::string& path);
// The rest of an open descriptor's content, or empty on a read error (read_proc_file's second half).
std::optional<std::string> read_to_end(int fd);

// A process's start time in clock ticks after boot (field 22 of /proc/<pid>/stat); with the pid it names
// one process for good, as pids are reused. Empty when there is no such process.
std::optional<std::uint64_t> process_start_time(pid_t pid);

// Kills (SIGKILL) the process group `pgid` if its leader is still the process that started at
// `start_time` (running, or a zombie not yet reaped) and a process of the group still runs; a group whose
// leader is gone or whose id was reused is left alone. Returns whether it sent the signal.
bool kill_group_if_started_at(pid_t pgid, std::uint64_t start_time);

}  // namespace vdsr
