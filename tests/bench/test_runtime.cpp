// The runtime library's shared pieces: runtimes by name, the one latency measure, the one size parser.
#include <gtest/gtest.h>

#include "runtime/bench.h"
#include "runtime/input_size.h"
#include "runtime/registry.h"
#include "runtime/timing.h"
#include "vdsr/checkpoint.h"
#include "vdsr/model.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using namespace vdsr::runtime;

namespace {

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Checkpoint tiny() {
  torch::manual_seed(3);
  VDSR model(Architecture::uniform(4, 6));
  return checkpoint_from_model(model, {{"scales", {2}}});
}

}  // namespace

TEST(InputSize, SquareOrHeightByWidth) {
  EXPECT_EQ(parse_size("256", "--sizes"), (InputSize{256, 256}));
  EXPECT_EQ(parse_size("2160x3840", "--sizes"), (InputSize{2160, 3840}));
  EXPECT_EQ(parse_size("24X20", "--static"), (InputSize{24, 20}));
  EXPECT_EQ(parse_size("1x1", "--static").text(), "1x1");
  for (const char* bad : {"", "24x", "x24", "24x20x3", "-4", "+4", "2.5", "24 x 20", "abc"}) {
    EXPECT_NE(error_of([&] { parse_size(bad, "--static"); }).find("--static: expected HxW or N"), std::string::npos)
        << bad;
  }
  EXPECT_NE(error_of([] { parse_size("0", "--sizes"); }).find("outside 1..16384"), std::string::npos);
  EXPECT_NE(error_of([] { parse_size("16385x8", "--sizes"); }).find("outside 1..16384"), std::string::npos);
}

TEST(Registry, RuntimesByName) {
  EXPECT_EQ(runtime_names(), "libtorch, aten, opencv-dnn, onnxruntime");
  EXPECT_EQ(error_of([] { runtime_info("tensorflow", "--runtimes"); }),
            "--runtimes: unknown runtime 'tensorflow' (expected libtorch, aten, opencv-dnn, onnxruntime)");
  const Checkpoint ck = tiny();
  for (const char* name : {"libtorch", "aten"}) {
    auto runner = make_runner(name, ModelSource::weights(ck));
    EXPECT_EQ(runner->name(), name);
    EXPECT_TRUE(runner->in_process());
    const Batch x = random_batch(2, 9, 7, 1);
    EXPECT_EQ(runner->forward(x).data.size(), x.data.size());
  }
  const auto kernels = make_runner("aten", ModelSource::weights(ck))->kernels();
  EXPECT_FALSE(kernels.empty());
  for (const auto& k : kernels) EXPECT_EQ(k, "at::conv2d");
  EXPECT_NE(error_of([] { make_runner("libtorch", ModelSource{}); }).find("libtorch runs a checkpoint"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_runner("opencv-dnn", ModelSource{}); }).find("opencv-dnn runs an ONNX model"),
            std::string::npos);
}

TEST(Timing, LatencyJsonAndTurns) {
  const auto j = latency_json({5, 1, 3, 2}, 24, 32, 2);
  EXPECT_EQ(j["input"], nlohmann::json({24, 32}));
  EXPECT_EQ(j["threads"], 2);
  EXPECT_EQ(j["runs"], 4);
  EXPECT_DOUBLE_EQ(median_ms(j), 2.5);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["min"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["max"].get<double>(), 5.0);
  EXPECT_EQ(latency_json({}, 1, 1, 1)["runs"], 0);

  const Checkpoint ck = tiny();
  auto a = make_runner("libtorch", ModelSource::weights(ck));
  auto b = make_runner("aten", ModelSource::weights(ck));
  const auto ms = time_in_turns({a.get(), b.get()}, random_batch(1, 16, 16, 2), 3);
  ASSERT_EQ(ms.size(), 2u);
  for (const auto& m : ms) {
    EXPECT_EQ(m.size(), 3u);
    for (double v : m) EXPECT_GE(v, 0.0);
  }
  EXPECT_EQ(time_forward(*a, random_batch(1, 16, 16, 2), 2, 1)["runs"], 2);
}

// The report's speed block: fp32 when it was timed; a run of int8 alone still reports its latency, marked int8.
TEST(ContractSpeed, Fp32FirstElseTheOnlyPrecisionTimed) {
  auto row = [](const std::string& runtime, const std::string& precision, double median) {
    return nlohmann::json{{"model", "m"}, {"runtime", runtime}, {"precision", precision}, {"input", {8, 8}},
                          {"threads", 1}, {"runs", 2}, {"latency_ms", {{"median", median}}}};
  };
  const InputSize size{8, 8};
  const auto mixed = contract_speed(nlohmann::json::array({row("libtorch", "int8", 1.0), row("libtorch", "fp32", 3.0)}), "m", size);
  EXPECT_EQ(mixed["libtorch"]["precision"], "fp32");
  EXPECT_DOUBLE_EQ(mixed["libtorch"]["latency_ms"]["median"].get<double>(), 3.0);

  const auto int8 = contract_speed(nlohmann::json::array({row("libtorch", "int8", 1.0)}), "m", size);
  EXPECT_EQ(int8["libtorch"]["precision"], "int8");
  EXPECT_DOUBLE_EQ(int8["libtorch"]["latency_ms"]["median"].get<double>(), 1.0);

  EXPECT_TRUE(contract_speed(nlohmann::json::array({row("libtorch", "int8", 1.0)}), "other", size).empty());
}
