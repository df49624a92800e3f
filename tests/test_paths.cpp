#include "tests/test_paths.h"

namespace vdsr::test {

const char* bin_dir() { return VDSR_TEST_BIN_DIR; }
const char* source_dir() { return VDSR_TEST_SOURCE_DIR; }

}  // namespace vdsr::test
