// --precision int8: the reference model in u8 x s8 against fp32 on a picture it was not calibrated on, which
// layers run int8, the fallback chain, and scales that do not fit the model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "compress/quantize.h"
#include "tests/inference/inference_test_util.h"
#include "tests/test_assets.h"
#include "tests/test_util.h"
#include "vdsr/evaluation.h"
#include "vdsr/metrics.h"

using namespace vdsr;
using namespace vdsr::test;

namespace {

Image crop_of(const std::filesystem::path& image, int top, int left, int side) {
  const Image rgb = read_image(image);
  Image crop(side, side, 3);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < side; ++i)
      for (int j = 0; j < side; ++j) crop.at(c, i, j) = rgb.at(c, top + i, left + j);
  return crop;
}

// Scales calibrated (minmax) on the x2 bicubic Y plane of `picture`.
std::shared_ptr<const Int8Scales> scales_for(const Checkpoint& ck, const Image& picture) {
  const ScaledPair pair = make_scaled_pair(picture, 2, "calibration");
  at::Tensor x = at::empty({1, 1, pair.bicubic.height, pair.bicubic.width}, at::kFloat);
  for (size_t i = 0; i < pair.bicubic.data.size(); ++i) x.data_ptr<float>()[i] = static_cast<float>(pair.bicubic.data[i] / 255.0);
  return std::make_shared<const Int8Scales>(compress::calibrate_int8(ck, weights_sha256(ck.weights), x, {}));
}

}  // namespace

TEST(Int8Inference, StaysWithinAPsnrBoundOfFp32) {
  const std::filesystem::path model = assets_path() / "models" / "vdsr_x234_state_dict.pt";
  VDSR_REQUIRE_PATH(model);
  VDSR_REQUIRE_PATH(assets_path() / "Set5" / "butterfly.png");
  const Checkpoint ck = load_checkpoint(model);
  InferenceOptions o;
  o.precision = Precision::int8;
  o.tile = -1;
  o.int8_scales = scales_for(ck, crop_of(assets_path() / "Set5" / "bird.png", 60, 60, 96));
  const Upscaler int8(ck, Device{}, o);
  const Upscaler fp32(ck, Device{});
  ASSERT_EQ(int8.precision(), Precision::int8);
  // A 96x96 crop of butterfly at x2, scored as the evaluation protocol does.
  const ScaledPair pair = make_scaled_pair(crop_of(assets_path() / "Set5" / "butterfly.png", 100, 80, 96), 2, "crop");
  const Image a = fp32.run_y(pair.bicubic), b = int8.run_y(pair.bicubic);
  const double psnr_fp32 = psnr(a, pair.ground_truth, 2), psnr_int8 = psnr(b, pair.ground_truth, 2);
  std::printf("crop x2 PSNR: fp32 %.3f dB, int8 %.3f dB, int8 vs fp32 %.2f dB\n", psnr_fp32, psnr_int8, psnr(b, a, 2));
  EXPECT_NEAR(psnr_int8, psnr_fp32, 0.25);
  EXPECT_GT(psnr(b, a, 2), 40.0) << "int8 output vs fp32 output";
  EXPECT_NE(a.data, b.data) << "int8 computes something else than fp32";
  // The body layers run int8; the first and the last (fp32 by default) do not.
  const auto kernels = int8.kernels();
  ASSERT_EQ(kernels.size(), 20u);
  EXPECT_EQ(kernels.front().rfind("int8 ", 0), std::string::npos) << kernels.front();
  EXPECT_EQ(kernels.back().rfind("int8 ", 0), std::string::npos) << kernels.back();
  for (size_t i = 1; i + 1 < kernels.size(); ++i) EXPECT_EQ(kernels[i].rfind("int8 ", 0), 0u) << i << ": " << kernels[i];
}

// With no oneDNN kernel accepted, every layer takes the last resort (here a plain fp32 convolution): the
// result is the fp32 one, and nothing claims to be int8.
TEST(Int8Inference, WithoutInt8KernelsTheFallbackChainRunsFp32) {
  const Checkpoint ck = random_model({8, 8, 8}, 4);
  const std::vector<float> x = random_plane(20, 24, 5);
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& [name, w] : ck.weights) {
    weights.emplace_back(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    shapes.push_back(w.sizes().vec());
  }
  at::Tensor in = at::empty({1, 1, 20, 24});
  std::copy(x.begin(), x.end(), in.data_ptr<float>());
  EngineOptions e;
  e.precision = Precision::int8;
  e.int8 = std::make_shared<const Int8Scales>(compress::calibrate_int8(ck, "", in, {}));
  e.accept = [](const std::string&) { return false; };
  e.fallback = aten_layer_fallback(ck);
  const OnednnVdsr engine(weights, shapes, e);
  std::vector<float> y(x.size());
  engine.run(x.data(), y.data(), 20, 24);
  for (const auto& k : engine.kernels()) EXPECT_EQ(k, "at::conv2d");
  const Upscaler fp32(ck, Device{}, options(Engine::aten));
  EXPECT_LT(max_abs_diff(y, forward(fp32, x, 20, 24)), 1e-5);
}

TEST(Int8Inference, ScalesMustFitTheModel) {
  const Checkpoint ck = random_model({8, 8, 8}, 4), other = random_model({8, 6, 8}, 4);
  InferenceOptions o;
  o.precision = Precision::int8;
  EXPECT_EQ(error_of([&] { Upscaler(ck, Device{}, o); }),
            "--precision int8 needs --int8-scales FILE (vdsr-quantize writes it)");
  at::Tensor in = at::rand({1, 1, 12, 12});
  o.int8_scales = std::make_shared<const Int8Scales>(compress::calibrate_int8(other, "", in, {}));
  o.int8_scales_path = "s.json";
  EXPECT_EQ(error_of([&] { Upscaler(ck, Device{}, o); }),
            "s.json: layers[1].weight_scales: expected 8 (one per filter), got 6");
  // On the aten engine int8 falls back to fp32, and says so.
  o.int8_scales = std::make_shared<const Int8Scales>(compress::calibrate_int8(ck, "", in, {}));
  o.engine = Engine::aten;
  EXPECT_EQ(Upscaler(ck, Device{}, o).precision(), Precision::fp32);
}
