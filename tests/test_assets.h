#pragma once
// Locating ../shared for tests: VDSR_ASSETS (set by CTest) and VDSR_FIXTURES. A missing folder skips the
// test with a clear message, and fails it under CI=true, where the data must be present.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace vdsr::test {

inline std::filesystem::path env_path(const char* name, const std::filesystem::path& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::filesystem::path(v) : fallback;
}

inline std::filesystem::path assets_path() { return env_path("VDSR_ASSETS", "../shared/assets"); }
inline std::filesystem::path fixtures_path() { return env_path("VDSR_FIXTURES", assets_path() / ".." / "fixtures"); }

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

}  // namespace vdsr::test

// Use at the top of a test body: skips (or fails under CI=true) when `path` is missing.
#define VDSR_REQUIRE_PATH(what)                                                                    \
  do {                                                                                             \
    const std::filesystem::path required_path_ = (what);                                           \
    if (!std::filesystem::exists(required_path_)) {                                                \
      if (::vdsr::test::running_in_ci()) {                                                         \
        FAIL() << "missing " << required_path_ << " (set VDSR_ASSETS; CI=true requires the data)"; \
      }                                                                                            \
      GTEST_SKIP() << "missing " << required_path_ << " (set VDSR_ASSETS to ../shared/assets)";   \
    }                                                                                              \
  } while (0)
