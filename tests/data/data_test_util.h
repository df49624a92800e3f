#pragma once
// Shared by the data tests: a temp folder, small synthetic images, patch fingerprints, running CLIs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "vdsr/image.h"

namespace vdsr::test {

namespace fs = std::filesystem;

class TempFolder {
 public:
  TempFolder() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("vdsr-data-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A smooth picture with texture and noise, integer RGB: resizing then exercises real rounding.
inline Image synthetic_image(int height, int width, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> noise(-20.0, 20.0);
  Image im(height, width, 3);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const double v = 128 + 90 * std::sin(0.11 * x * (c + 1) + 0.07 * y) * std::cos(0.05 * y * (3 - c)) + noise(gen);
        im.at(c, y, x) = std::round(std::clamp(v, 0.0, 255.0));
      }
  return im;
}

// Patches as byte strings (input then label), counted: equal multisets mean "every patch exactly once".
using PatchCounts = std::map<std::string, int>;

inline std::string fingerprint(const float* input, const float* label, int per_patch) {
  std::string key(reinterpret_cast<const char*>(input), per_patch * sizeof(float));
  key.append(reinterpret_cast<const char*>(label), per_patch * sizeof(float));
  return key;
}

inline PatchCounts count_patches(const std::vector<float>& input, const std::vector<float>& label, int per_patch) {
  PatchCounts counts;
  for (std::size_t i = 0; i * per_patch < input.size(); ++i) {
    ++counts[fingerprint(input.data() + i * per_patch, label.data() + i * per_patch, per_patch)];
  }
  return counts;
}

// Runs a command with the shell; returns its exit status (stdout and stderr go to `log`).
inline int run_command(const std::string& command, const fs::path& log) {
  const std::string full = command + " > '" + log.string() + "' 2>&1";
  const int status = std::system(full.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace vdsr::test
