#include "vdsr/machine.h"

#include "vdsr/inference.h"
#include "vdsr/onednn_engine.h"
#include "vdsr/util/cpu.h"

namespace vdsr {

nlohmann::json machine_json(int threads_used, bool cuda) {
  return {{"threads_used", threads_used}, {"torch_version", torch_version()}, {"cuda", cuda}, {"isa", onednn_isa()}};
}

std::string machine_line(int threads_used) {
  return "machine: " + cpu_model() + ", " + std::to_string(cpu_cores()) + " cores, oneDNN ISA " + onednn_isa() +
         ", " + std::to_string(threads_used) + " thread" + (threads_used == 1 ? "" : "s");
}

}  // namespace vdsr
