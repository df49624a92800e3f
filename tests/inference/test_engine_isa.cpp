// The oneDNN engine on every x86-64 CPU: each layer shape the suite uses (the reference model, the 50 %
// pruned one, the tiny test models) builds and equals at::conv2d, here and in child processes whose oneDNN
// is limited to AVX2 and to SSE4.1 (ONEDNN_MAX_CPU_ISA, read once per process); and the fallback chain
// down to at::conv2d and the reference kernel.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "tests/cli_runner.h"
#include "tests/inference/inference_test_util.h"
#include "vdsr/checkpoint.h"
#include "vdsr/inference.h"
#include "vdsr/util/cpu.h"

using namespace vdsr;

namespace {

using namespace vdsr::test;

// Every layer shape the suite runs: hidden widths of the reference, the pruned model and the test models.
const std::vector<std::pair<std::string, std::vector<int>>> kModels = {
    {"reference 20x64", std::vector<int>(19, 64)},
    {"pruned 20x32", std::vector<int>(19, 32)},
    {"uniform 4x8", {8, 8, 8}},
    {"uniform 5x16", {16, 16, 16, 16}},
    {"uniform 6x16", {16, 16, 16, 16, 16}},
    {"uneven pruned", {16, 12, 16, 16, 10}},
    {"uniform 5x6", {6, 6, 6, 6}},
    {"tiny uneven", {8, 4, 6}},
    {"two layers", {5}},
};

}  // namespace

// Under whatever ISA this process has: every model builds, no layer needs a reference kernel, and the
// output equals at::conv2d. The parent test below runs this again under AVX2 and SSE4.1.
TEST(EngineIsa, EveryLayerShapeBuildsAndMatchesAten) {
  const int h = 29, w = 37;  // odd sizes: no kernel gets an aligned shortcut
  const auto x = random_plane(h, w, 5);
  std::printf("oneDNN ISA %s\n", onednn_isa().c_str());
  int seed = 1;
  for (const auto& [name, widths] : kModels) {
    SCOPED_TRACE(name + " under " + onednn_isa());
    const Checkpoint ck = random_model(widths, seed++);
    const auto aten = forward(Upscaler(ck, Device{}, options(Engine::aten)), x, h, w);
    const Upscaler engine(ck, Device{}, options(Engine::onednn));
    const auto out = forward(engine, x, h, w);
    EXPECT_EQ(engine.engine_name(), "onednn");
    EXPECT_LT(max_abs_diff(out, aten), 1e-5);
    const auto kernels = engine.kernels();
    ASSERT_EQ(kernels.size(), widths.size() + 1);
    for (const auto& k : kernels) {
      EXPECT_EQ(k.find("reference"), std::string::npos) << k;
      EXPECT_EQ(k.find("at::conv2d"), std::string::npos) << "oneDNN has a kernel for every shape here: " << k;
    }
    // Tiled equals untiled (windows of another size: another plan). A tile exceeds twice the halo.
    const int tile = std::max(16, 2 * static_cast<int>(widths.size() + 1) + 1);
    EXPECT_LT(max_abs_diff(forward(Upscaler(ck, Device{}, options(Engine::onednn, tile)), x, h, w), out), 1e-5);
  }
  // bf16 runs where the CPU has it and falls back to fp32 where it has not; either way it is close.
  InferenceOptions bf16 = options(Engine::onednn);
  bf16.precision = Precision::bf16;
  const Checkpoint ck = random_model(kModels[2].second, 9);
  const Upscaler up(ck, Device{}, bf16);
  EXPECT_EQ(up.precision(), cpu_has_bf16() ? Precision::bf16 : Precision::fp32);
  EXPECT_LT(max_abs_diff(forward(up, x, h, w), forward(Upscaler(ck, Device{}, options(Engine::aten)), x, h, w)), 0.05);
}

// The test above in child processes, with oneDNN limited to AVX2 (an AMD EPYC without AVX-512, say) and to
// SSE4.1 (any x86-64 CPU of the last fifteen years).
TEST(EngineIsa, AvxTwoAndSseFourOneChildProcesses) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const auto& [limit, isa] : {std::pair{"AVX2", "avx2"}, {"SSE41", "sse41"}}) {
    SCOPED_TRACE(limit);
    const auto r = vdsr::test::run_command(std::string("ONEDNN_MAX_CPU_ISA=") + limit + " '" + self +
                                     "' --gtest_filter=EngineIsa.EveryLayerShapeBuildsAndMatchesAten");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find(std::string("oneDNN ISA ") + isa + "\n"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("[  PASSED  ] 1 test"), std::string::npos) << r.output;
  }
}

namespace {

struct EngineWeights {
  std::vector<std::vector<float>> host;
  std::vector<std::vector<int64_t>> shapes;
};

EngineWeights weights_of(const Checkpoint& ck) {
  EngineWeights e;
  for (const auto& [name, w] : ck.weights) {
    const at::Tensor t = w.to(at::kFloat).contiguous();
    e.host.emplace_back(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    e.shapes.push_back(w.sizes().vec());
  }
  return e;
}

std::vector<float> run(const OnednnVdsr& engine, const std::vector<float>& x, int h, int w) {
  std::vector<float> y(x.size());
  engine.run(x.data(), y.data(), h, w);
  return y;
}

}  // namespace

// The bottom of the chain: where oneDNN offers nothing acceptable, every layer runs through the fallback
// (here at::conv2d, as vdsr::Upscaler gives it); without a fallback, the reference kernel serves and says so.
TEST(EngineIsa, FallbackChainEndsInAtenThenReference) {
  const Checkpoint ck = random_model({8, 12, 8}, 4);
  const EngineWeights ew = weights_of(ck);
  const int h = 19, w = 23;
  const auto x = random_plane(h, w, 6);
  const auto aten = forward(Upscaler(ck, Device{}, options(Engine::aten)), x, h, w);

  // The fallback vdsr::Upscaler gives the engine, counting its calls.
  int fallback_calls = 0;
  EngineOptions none;
  none.accept = [](const std::string&) { return false; };
  none.fallback = [&, aten_layer = aten_layer_fallback(ck)](size_t layer, const float* src, float* dst, int hh,
                                                            int ww) {
    ++fallback_calls;
    aten_layer(layer, src, dst, hh, ww);
  };
  const OnednnVdsr fallback(ew.host, ew.shapes, none);
  EXPECT_LT(max_abs_diff(run(fallback, x, h, w), aten), 1e-5);
  EXPECT_EQ(fallback_calls, 4);
  EXPECT_EQ(fallback.kernels(), std::vector<std::string>(4, "at::conv2d"));

  // Some layers in oneDNN, some in the fallback: only the gemm-based kernels accepted, so the layers oneDNN
  // runs through gemm and the rest through at::conv2d, with conversions between them.
  EngineOptions gemm_only = none;
  gemm_only.accept = [](const std::string& k) { return k.find("gemm") != std::string::npos; };
  const OnednnVdsr mixed(ew.host, ew.shapes, gemm_only);
  EXPECT_LT(max_abs_diff(run(mixed, x, h, w), aten), 1e-5);
  for (const auto& k : mixed.kernels()) EXPECT_TRUE(k.find("gemm") != std::string::npos || k == "at::conv2d") << k;

  // No fallback: oneDNN's reference kernel, named as such.
  EngineOptions reference_only;
  reference_only.accept = [](const std::string& k) { return k.rfind("ref", 0) == 0; };
  const OnednnVdsr reference(ew.host, ew.shapes, reference_only);
  EXPECT_LT(max_abs_diff(run(reference, x, h, w), aten), 1e-5);
  for (const auto& k : reference.kernels()) EXPECT_NE(k.find("reference kernel"), std::string::npos) << k;
}

// The AVX2 Winograd kernel, forced on every body layer it handles, against at::conv2d: sizes that leave
// partial 4x4 tiles, a single pixel, and more tiles than one group.
TEST(EngineIsa, AvxTwoWinogradMatchesAten) {
  if (onednn_isa() == "sse41" || onednn_isa() == "avx") GTEST_SKIP() << "oneDNN runs without AVX2 here";
  const Checkpoint ck = random_model({16, 32, 64, 16}, 8);
  const EngineWeights ew = weights_of(ck);
  EngineOptions forced;
  forced.body_kernel = "vdsr_wino_4x3:avx2";
  const OnednnVdsr engine(ew.host, ew.shapes, forced);
  const Upscaler aten(ck, Device{}, options(Engine::aten));
  for (const auto& [h, w] : {std::pair{1, 1}, {5, 3}, {29, 37}, {64, 80}}) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    const auto x = random_plane(h, w, static_cast<unsigned>(h * w));
    EXPECT_LT(max_abs_diff(run(engine, x, h, w), forward(aten, x, h, w)), 1e-5);
    const auto kernels = engine.kernels();
    ASSERT_EQ(kernels.size(), 5u);
    for (size_t i = 1; i < 4; ++i) EXPECT_EQ(kernels[i], "vdsr_wino_4x3:avx2") << "layer " << i + 1;
  }
}
