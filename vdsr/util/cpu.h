#pragma once
// What this CPU is, for reports and benchmark tables (no LibTorch, no oneDNN).
#include <string>

namespace vdsr {

// The CPU's model name from /proc/cpuinfo ("unknown" where there is none).
std::string cpu_model();
// Logical CPUs this process may run on.
int cpu_cores();

}  // namespace vdsr
