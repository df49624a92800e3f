// vdsr/int8_scales.h: the scales file reads back exactly what was written, bad files are clear errors naming
// the file and the key, and per-channel s8 weights dequantize to within half a step of the originals.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "test_util.h"
#include "vdsr/int8_scales.h"
#include "vdsr/util/json_io.h"

using namespace vdsr;
using test::error_of;

namespace {

Int8Scales sample() {
  Int8Scales s;
  s.method = "percentile";
  s.percentile = 99.99;
  s.patches = 512;
  s.seed = 18446744073709551615ull;  // the largest seed survives JSON
  s.calibration_data = "/data/train.h5";
  s.model_sha256 = std::string(64, 'a');
  s.layers = {{"input", false, 1.0f / 255, false, {0.1f, 0.2f}},
              {"residual_layer.0.conv", true, 0.0123456789f, true, {1e-7f, 3.3333333e-3f}},
              {"output", false, 0.5f, true, {0.25f}}};
  return s;
}

void write_text(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

}  // namespace

TEST(Int8Scales, FileRoundTripsBitForBit) {
  const auto dir = test::scratch_dir("int8_scales");
  const std::string path = (dir / "scales.json").string();
  const Int8Scales s = sample();
  write_int8_scales(path, s);
  const Int8Scales r = read_int8_scales(path);
  EXPECT_EQ(r.method, s.method);
  EXPECT_EQ(r.percentile, s.percentile);
  EXPECT_EQ(r.patches, s.patches);
  EXPECT_EQ(r.seed, s.seed);
  EXPECT_EQ(r.calibration_data, s.calibration_data);
  EXPECT_EQ(r.model_sha256, s.model_sha256);
  ASSERT_EQ(r.layers.size(), s.layers.size());
  for (size_t i = 0; i < s.layers.size(); ++i) {
    EXPECT_EQ(r.layers[i].name, s.layers[i].name);
    EXPECT_EQ(r.layers[i].int8, s.layers[i].int8);
    EXPECT_EQ(r.layers[i].input_scale, s.layers[i].input_scale);  // exact, not near
    EXPECT_EQ(r.layers[i].input_unsigned, s.layers[i].input_unsigned);
    EXPECT_EQ(r.layers[i].weight_scales, s.layers[i].weight_scales);
  }
  const auto j = read_json_file(path);
  EXPECT_EQ(j.at("format"), "vdsr-int8-scales");
  EXPECT_EQ(j.at("version"), 1);
  std::filesystem::remove_all(dir);
}

TEST(Int8Scales, BadFilesNameTheFileAndTheKey) {
  const auto dir = test::scratch_dir("int8_scales");
  const auto path = dir / "s.json";
  write_int8_scales(path.string(), sample());
  const std::string good = test::read_text(path);
  auto error_with = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    write_text(path, text);
    return error_of([&] { read_int8_scales(path.string()); });
  };
  const std::string p = path.string();
  EXPECT_EQ(error_with("\"vdsr-int8-scales\"", "\"other\""), p + ": format: expected \"vdsr-int8-scales\"");
  EXPECT_EQ(error_with("\"version\": 1", "\"version\": 2"), p + ": version: expected 1 (the version this build reads)");
  EXPECT_EQ(error_with("\"method\": \"percentile\"", "\"method\": \"mse\""),
            p + ": method: expected \"minmax\" or \"percentile\", got \"mse\"");
  EXPECT_NE(error_with("\"input_scale\": 0.012", "\"input_scale\": -0.012").find(p + ": layers[1].input_scale: expected"),
            std::string::npos);
  EXPECT_NE(error_with("\"name\": \"output\"", "\"name\": \"input\"").find(p + ": layers[2].name: \"input\" appears twice"),
            std::string::npos);
  EXPECT_NE(error_with("\"weight_scales\": [\n        0.25", "\"weight_scales\": [\n        0").find(
                p + ": layers[2].weight_scales: expected a list of numbers > 0"),
            std::string::npos);
  EXPECT_NE(error_with("\"int8\": true", "\"int8\": true, \"bits\": 4").find(p + ": layers[1].bits: unknown key"),
            std::string::npos);
  write_text(path, "{}");
  EXPECT_EQ(error_of([&] { read_int8_scales(p); }), p + ": format: missing (expected a string)");
  EXPECT_NE(error_of([&] { read_int8_scales((dir / "missing.json").string()); }).find("missing.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Int8Scales, WriteFailureLeavesNoFile) {
  const auto dir = test::scratch_dir("int8_scales");
  const auto path = dir / "no_such_folder" / "s.json";
  EXPECT_NE(error_of([&] { write_int8_scales(path.string(), sample()); }), "(no error)");
  EXPECT_FALSE(std::filesystem::exists(path));
  std::filesystem::remove_all(dir);
}

TEST(Int8Scales, QuantizeRoundsHalfToEvenAndClamps) {
  EXPECT_EQ(quantize_weight(0.5f, 1.0f), 0);
  EXPECT_EQ(quantize_weight(1.5f, 1.0f), 2);
  EXPECT_EQ(quantize_weight(-2.5f, 1.0f), -2);
  EXPECT_EQ(quantize_weight(126.6f, 1.0f), 127);
  EXPECT_EQ(quantize_weight(1000.f, 1.0f), 127);
  EXPECT_EQ(quantize_weight(-1000.f, 1.0f), -127);  // symmetric: never -128
  const float zeros[4] = {0, 0, 0, 0};
  EXPECT_EQ(weight_scale(zeros, 4), 1.0f);
  const float w[3] = {0.1f, -0.635f, 0.2f};
  EXPECT_EQ(weight_scale(w, 3), 0.635f / 127.0f);
}

// The acceptance test: per-output-channel symmetric s8 of a weight tensor [out, in, 3, 3]
// dequantizes to within half a step of each channel's scale, and the channel's largest weight is exact
// up to float rounding (it maps to +-127).
TEST(Int8Scales, WeightRoundTripIsWithinHalfAStepPerChannel) {
  const int out = 64, in = 32, k = in * 9;
  std::mt19937 rng(7);
  std::vector<float> w(static_cast<size_t>(out) * k);
  for (int oc = 0; oc < out; ++oc) {
    // Channels of very different magnitude, as in a trained VDSR; one all zero.
    std::normal_distribution<float> normal(0.0f, oc == 5 ? 0.0f : std::pow(10.0f, -(oc % 4)) * 0.05f);
    for (int i = 0; i < k; ++i) w[static_cast<size_t>(oc) * k + i] = normal(rng);
  }
  for (int oc = 0; oc < out; ++oc) {
    const float* c = &w[static_cast<size_t>(oc) * k];
    const float scale = weight_scale(c, k);
    float worst = 0, max_abs = 0;
    for (int i = 0; i < k; ++i) {
      const int8_t q = quantize_weight(c[i], scale);
      ASSERT_GE(q, -127);
      worst = std::max(worst, std::fabs(scale * q - c[i]));
      max_abs = std::max(max_abs, std::fabs(c[i]));
    }
    // Half a step, with room for the float rounding of w / scale and scale * q.
    EXPECT_LE(worst, 0.5f * scale * (1 + 1e-5f)) << "channel " << oc;
    if (oc == 5) {
      EXPECT_EQ(scale, 1.0f);
      EXPECT_EQ(worst, 0.0f);
    } else {
      EXPECT_NEAR(max_abs, 127 * scale, 1e-6f * max_abs);
    }
  }
}
