#include "vdsr/machine.h"

#include "vdsr/inference.h"

namespace vdsr {

nlohmann::json machine_json(int threads_used, bool cuda) {
  return {{"threads_used", threads_used}, {"torch_version", torch_version()}, {"cuda", cuda}};
}

}  // namespace vdsr
