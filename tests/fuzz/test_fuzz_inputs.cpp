// Every fuzz harness over its seeds (fuzz/corpus/<name>/) and over the inputs fuzzing once broke it with
// (fuzz/regressions/<name>/): each must return cleanly, in every build, with or without libFuzzer.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "fuzz/harnesses.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using vdsr::fuzz::Harness;

namespace vdsr::fuzz {
void PrintTo(const Harness& h, std::ostream* os) { *os << h.name; }  // test names, not bytes
}  // namespace vdsr::fuzz

namespace {

fs::path fuzz_dir() { return fs::path(vdsr::test::source_dir()) / "fuzz"; }

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().filename() != ".gitkeep") files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

class FuzzInputs : public ::testing::TestWithParam<Harness> {};

TEST_P(FuzzInputs, SeedsAndRegressionsReturnCleanly) {
  const Harness& h = GetParam();
  const auto seeds = files_in(fuzz_dir() / "corpus" / h.name);
  EXPECT_FALSE(seeds.empty()) << "no seeds in fuzz/corpus/" << h.name;
  auto inputs = seeds;
  for (const auto& f : files_in(fuzz_dir() / "regressions" / h.name)) inputs.push_back(f);
  for (const auto& file : inputs) {
    const std::string bytes = vdsr::test::read_text(file);
    SCOPED_TRACE(file.string());
    try {
      h.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "escaped the parser: " << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Harnesses, FuzzInputs, ::testing::ValuesIn(vdsr::fuzz::harnesses()),
                         [](const auto& info) { return info.param.name; });

// The folders name harnesses that exist: a renamed harness must take its inputs along.
TEST(FuzzInputs, EveryInputFolderBelongsToAHarness) {
  std::set<std::string> names;
  for (const auto& h : vdsr::fuzz::harnesses()) names.insert(h.name);
  for (const char* kind : {"corpus", "regressions"}) {
    if (!fs::is_directory(fuzz_dir() / kind)) continue;
    for (const auto& e : fs::directory_iterator(fuzz_dir() / kind)) {
      if (e.is_directory()) {
        EXPECT_TRUE(names.count(e.path().filename().string())) << e.path();
      }
    }
  }
}

}  // namespace
