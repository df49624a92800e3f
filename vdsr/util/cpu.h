#pragma once
// What this CPU is, for reports and benchmark tables: figures from different machines (an AVX-512 one and an
// AVX2-only one, say) are never mixed up. No LibTorch; oneDNN's C API only.
#include <string>

namespace vdsr {

// The CPU's model name from /proc/cpuinfo ("unknown" where there is none).
std::string cpu_model();
// Logical CPUs this process may run on.
int cpu_cores();
// The instruction set oneDNN uses on this CPU (after ONEDNN_MAX_CPU_ISA), e.g. "avx2", "avx512_core_amx".
std::string onednn_isa();
// One line for tables: "machine: AMD EPYC, 2 cores, oneDNN ISA avx2, 2 threads".
std::string machine_line(int threads_used);

}  // namespace vdsr
