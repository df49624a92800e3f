#pragma once
// Running a shell command as a child process the way the tuner runs trials and the pipeline runs
// stages: its own process group (a kill reaches everything it started), killed when the parent dies
// (no orphans), stdin from /dev/null, stdout/stderr to files.
#include <sys/types.h>

#include <filesystem>
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

// Forks and execs the command; returns the child's pid (also its process group id). Throws
// std::runtime_error when fork fails. A child that cannot open its files or cwd exits with 126.
pid_t spawn_shell(const ShellCommand& command);

// Sends `signal` to the child's process group.
void signal_group(pid_t pid, int signal);

// Exit code of a waitpid status: the exit status, or 128 + signal for a killed process.
int exit_code_of(int wait_status);

}  // namespace vdsr
