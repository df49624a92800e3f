#pragma once
// Where the tests find the built tools and the checkout. Defined in one small translation unit
// (test_paths.cpp) so that no other test file carries an absolute path: checkouts in other folders then
// share their compiler cache.

namespace vdsr::test {

const char* bin_dir();     // <build>/bin
const char* source_dir();  // the checkout's root

}  // namespace vdsr::test
