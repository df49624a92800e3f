// The inference path: the oneDNN engine against at::conv2d, tiled against untiled, bf16 against fp32.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <random>

#include "tests/inference/inference_test_util.h"
#include "tests/test_assets.h"
#include "vdsr/checkpoint.h"
#include "vdsr/evaluation.h"
#include "vdsr/inference.h"
#include "vdsr/metrics.h"

using namespace vdsr;

namespace {

using namespace vdsr::test;

Checkpoint narrow(int depth, int width, int seed = 3) {
  return random_model(Architecture::uniform(depth, width).widths, seed);
}

}  // namespace

TEST(Inference, OnednnEngineMatchesAtenConvolutions) {
  const Checkpoint ck = narrow(6, 16);
  const int h = 37, w = 53;  // odd sizes: no kernel gets an aligned shortcut
  const auto x = random_plane(h, w, 1);
  const auto aten = forward(Upscaler(ck, Device{}, options(Engine::aten, -1)), x, h, w);
  const Upscaler direct(ck, Device{}, options(Engine::onednn, -1, false));
  const Upscaler winograd(ck, Device{}, options(Engine::onednn, -1, true));
  EXPECT_EQ(direct.engine_name(), "onednn");
  EXPECT_LT(max_abs_diff(forward(direct, x, h, w), aten), 1e-5);
  EXPECT_LT(max_abs_diff(forward(winograd, x, h, w), aten), 1e-5);
  // The residual is there: the output is not the residual branch alone.
  EXPECT_GT(max_abs_diff(aten, std::vector<float>(aten.size(), 0.0f)), 0.5);
}

TEST(Inference, TiledEqualsUntiledAtFullDepth) {
  // Depth 20 and width 64 as the reference: a 41-pixel receptive field, so a 20-pixel halo on every side,
  // and the kernels the reference runs with (Winograd where it is fastest), whose arithmetic depends on the
  // window's alignment.
  const Checkpoint ck = narrow(20, 64);
  const int h = 150, w = 109;
  const auto x = random_plane(h, w, 2);
  for (Engine engine : {Engine::onednn, Engine::aten}) {
    const Upscaler untiled(ck, Device{}, options(engine, -1));
    const Upscaler tiled(ck, Device{}, options(engine, 48));  // the smallest side above twice the halo is 41
    EXPECT_EQ(tiled.halo(), 20);
    EXPECT_EQ(tiled.tile_for(h, w), 48);
    EXPECT_EQ(untiled.tile_for(h, w), 0);
    const auto a = forward(untiled, x, h, w), b = forward(tiled, x, h, w);
    EXPECT_LE(max_abs_diff(a, b), 1e-5) << "engine " << (engine == Engine::aten ? "aten" : "onednn");
  }
}

TEST(Inference, AutomaticTilingAboveTheMemoryBudget) {
  const Checkpoint ck = narrow(8, 16);
  const int h = 300, w = 280;  // 2 x 16 channels x 84,000 px x 4 B = 10.3 MiB of activations
  InferenceOptions o = options(Engine::onednn, 0);
  o.memory_budget_mb = 2;
  const Upscaler budgeted(ck, Device{}, o);
  const int tile = budgeted.tile_for(h, w);
  ASSERT_GT(tile, 0);
  // The window (tile plus halos) fits the budget.
  EXPECT_LE(OnednnVdsr::activation_bytes(ck.architecture.weight_shapes(), tile + 16, tile + 16), 2 << 20);
  const auto x = random_plane(h, w, 3);
  const Upscaler untiled(ck, Device{}, options(Engine::onednn, -1));
  EXPECT_LE(max_abs_diff(forward(budgeted, x, h, w), forward(untiled, x, h, w)), 1e-5);
  // A small image stays untiled.
  EXPECT_EQ(budgeted.tile_for(64, 64), 0);
}

TEST(Inference, Bf16StaysCloseToFp32OrFallsBack) {
  const std::filesystem::path model = test::assets_path() / "models" / "vdsr_x234_state_dict.pt";
  const std::filesystem::path image = test::assets_path() / "Set5" / "butterfly.png";
  VDSR_REQUIRE_PATH(model);
  VDSR_REQUIRE_PATH(image);
  const Checkpoint ck = load_checkpoint(model);
  InferenceOptions o;
  o.precision = Precision::bf16;
  const Upscaler bf16(ck, Device{}, o);
  const Upscaler fp32(ck, Device{});
  // A 96x96 crop of butterfly at x2, scored as the evaluation protocol does.
  Image rgb = read_image(image);
  Image crop(96, 96, 3);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 96; ++i)
      for (int j = 0; j < 96; ++j) crop.at(c, i, j) = rgb.at(c, 100 + i, 80 + j);
  const ScaledPair pair = make_scaled_pair(crop, 2, "butterfly crop");
  const Image a = fp32.run_y(pair.bicubic), b = bf16.run_y(pair.bicubic);
  if (!cpu_has_bf16()) {
    // Without bf16 instructions the engine falls back to fp32: the same computation as fp32.
    EXPECT_EQ(bf16.precision(), Precision::fp32);
    EXPECT_EQ(a.data, b.data);
    return;
  }
  ASSERT_EQ(bf16.precision(), Precision::bf16);
  const double psnr_fp32 = psnr(a, pair.ground_truth, 2), psnr_bf16 = psnr(b, pair.ground_truth, 2);
  EXPECT_NEAR(psnr_bf16, psnr_fp32, 0.1);
  EXPECT_GT(psnr(b, a, 2), 45.0) << "bf16 output vs fp32 output";
  EXPECT_GT(psnr_fp32, psnr(pair.bicubic, pair.ground_truth, 2) + 1.0) << "the model does its job on the crop";
}
