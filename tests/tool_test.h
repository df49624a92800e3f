#pragma once
// What the tools' end-to-end tests start from: a scratch folder per test, a few synthetic pictures and a
// tiny random model to run the tool on.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "vdsr/checkpoint.h"
#include "vdsr/image.h"
#include "test_util.h"

namespace vdsr::test {

class ToolTest : public ::testing::Test {
 protected:
  // An empty scratch_dir(prefix) with an images/ folder, as dir_.
  void make_scratch(const std::string& prefix) {
    dir_ = scratch_dir(prefix);
    std::filesystem::create_directories(dir_ / "images");
  }
  // dir_/images/img<k>.png: smooth gradients with some texture; picture k is `grow` pixels wider than k-1.
  void write_images(int count, int width, int height, int grow = 0) {
    for (int k = 0; k < count; ++k) {
      Image rgb(width + grow * k, height, 3);
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < rgb.height; ++y)
          for (int x = 0; x < rgb.width; ++x)
            rgb.at(c, y, x) = std::fmod(4.0 * x + 5.0 * y + 40.0 * c + 11.0 * k + ((x * y) % 7) * 9.0, 256.0);
      write_image(dir_ / "images" / ("img" + std::to_string(k) + ".png"), rgb);
    }
  }
  // A randomly initialised model of `architecture` at `path`, its checkpoint metadata naming `scales`.
  void save_model(const std::filesystem::path& path, const Architecture& architecture, std::vector<int> scales,
                  uint64_t seed) {
    torch::manual_seed(seed);
    VDSR model(architecture);
    save_checkpoint(path, checkpoint_from_model(model, {{"scales", scales}}));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

}  // namespace vdsr::test
