#pragma once
// The LibTorch side of a report's machine block (the header written by report::create has the CPU, its
// cores and oneDNN's ISA; vdsr/util/cpu.h).
#include <nlohmann/json.hpp>

namespace vdsr {

// {threads_used, torch_version, cuda}: merged into a report's machine block.
nlohmann::json machine_json(int threads_used, bool cuda);

}  // namespace vdsr
