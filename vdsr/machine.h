#pragma once
// The machine a figure was measured on. Every report that carries timings and every benchmark table names
// it, so figures from different machines (an AVX-512 one and an AVX2-only one, say) are never mixed up.
#include <nlohmann/json.hpp>
#include <string>

namespace vdsr {

// {threads_used, torch_version, cuda, isa}: merged into a report's machine block, which has {cpu, cores}.
// isa is the instruction set oneDNN uses (after ONEDNN_MAX_CPU_ISA).
nlohmann::json machine_json(int threads_used, bool cuda);

// One line for tables: "machine: AMD EPYC, 2 cores, oneDNN ISA avx2, 2 threads".
std::string machine_line(int threads_used);

}  // namespace vdsr
