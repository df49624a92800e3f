// The libFuzzer entry point of one harness: VDSR_FUZZ_HARNESS names its function in harnesses.h.
#include "fuzz/harnesses.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vdsr::fuzz::VDSR_FUZZ_HARNESS(data, size);
  return 0;
}
