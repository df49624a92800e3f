// vdsr-quantize end to end on a tiny model: deterministic scales for a seed and patch count, the default
// and named fp32 layers, and bad input (no patches, a layer name that matches nothing): exit 2, no file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "compress/quantize.h"
#include "tests/cli_runner.h"
#include "tests/tool_test.h"
#include "vdsr/int8_scales.h"

using namespace vdsr;
using test::run_command;
using test::tool;
namespace fs = std::filesystem;

class QuantizeCli : public test::ToolTest {
 protected:
  void SetUp() override {
    make_scratch("vdsr_quantize");
    write_images(2, 60, 52, 4);
    save_model(dir_ / "tiny.ckpt", Architecture::uniform(5, 16), {2}, 5);
    const auto data = run_command(tool("vdsr-data") + " --images " + (dir_ / "images").string() + " --out " +
                                  (dir_ / "train.h5").string() +
                                  " --scales 2 --flips none --rotations 0 --downsizes 1 --patch-size 16 --stride 8");
    ASSERT_EQ(data.code, 0) << data.output;
  }
  test::CommandResult quantize(const std::string& out, const std::string& extra) {
    return run_command(tool("vdsr-quantize") + " --threads 1 --model " + (dir_ / "tiny.ckpt").string() + " --data " +
                       (dir_ / "train.h5").string() + " --out " + (dir_ / out).string() + " " + extra);
  }
};

TEST_F(QuantizeCli, SameSeedAndCountGiveTheSameFileAnotherSeedOtherScales) {
  for (const std::string method : {"minmax", "percentile --percentile 99.9"}) {
    SCOPED_TRACE(method);
    const std::string m = "--method " + method;
    ASSERT_EQ(quantize("a.json", m + " --patches 6 --seed 3").code, 0);
    ASSERT_EQ(quantize("b.json", m + " --patches 6 --seed 3").code, 0);
    ASSERT_EQ(quantize("c.json", m + " --patches 6 --seed 4").code, 0);
    EXPECT_EQ(test::read_text(dir_ / "a.json"), test::read_text(dir_ / "b.json"));
    const Int8Scales a = read_int8_scales((dir_ / "a.json").string()), c = read_int8_scales((dir_ / "c.json").string());
    EXPECT_EQ(a.patches, 6);
    EXPECT_EQ(a.method, method.substr(0, method.find(' ')));
    // Other patches see other activations; the weight scales depend on the model only.
    bool differs = false;
    for (size_t l = 0; l < a.layers.size(); ++l) {
      differs |= a.layers[l].input_scale != c.layers[l].input_scale;
      EXPECT_EQ(a.layers[l].weight_scales, c.layers[l].weight_scales);
    }
    EXPECT_TRUE(differs);
  }
}

TEST_F(QuantizeCli, FirstAndLastLayerStayFp32UnlessNamed) {
  auto r = quantize("d.json", "--patches 4");
  ASSERT_EQ(r.code, 0) << r.output;
  Int8Scales s = read_int8_scales((dir_ / "d.json").string());
  ASSERT_EQ(s.layers.size(), 5u);
  EXPECT_EQ(s.layers[0].name, "input");
  EXPECT_EQ(s.layers[4].name, "output");
  EXPECT_EQ(s.layers[1].name, "residual_layer.0.conv");
  EXPECT_EQ((std::vector<bool>{s.layers[0].int8, s.layers[1].int8, s.layers[2].int8, s.layers[3].int8, s.layers[4].int8}),
            (std::vector<bool>{false, true, true, true, false}));
  EXPECT_EQ(s.layers[1].weight_scales.size(), 16u);
  EXPECT_EQ(s.layers[4].weight_scales.size(), 1u);
  for (const auto& l : s.layers) {
    EXPECT_GT(l.input_scale, 0);
    EXPECT_TRUE(l.input_unsigned);  // after a ReLU, or the 0..1 image
  }
  r = quantize("e.json", "--patches 4 --int8-layers output --fp32-layers residual_layer.1.conv,residual_layer.2.conv");
  ASSERT_EQ(r.code, 0) << r.output;
  s = read_int8_scales((dir_ / "e.json").string());
  EXPECT_EQ((std::vector<bool>{s.layers[0].int8, s.layers[1].int8, s.layers[2].int8, s.layers[3].int8, s.layers[4].int8}),
            (std::vector<bool>{false, true, false, false, true}));
}

TEST_F(QuantizeCli, BadInputIsExit2AndNoFile) {
  auto r = quantize("x.json", "--fp32-layers residual_layer.9.conv");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--fp32-layers: no layer is named 'residual_layer.9.conv' (layers: input, "
                          "residual_layer.0.conv, ..., output)"),
            std::string::npos)
      << r.output;
  fs::create_directories(dir_ / "empty");
  for (const fs::path& data : {dir_ / "empty", dir_ / "missing.h5"}) {
    r = run_command(tool("vdsr-quantize") + " --model " + (dir_ / "tiny.ckpt").string() + " --data " + data.string() +
                    " --out " + (dir_ / "x.json").string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("error: " + data.string()), std::string::npos) << r.output;
  }
  r = quantize("x.json", "--patches 0");
  EXPECT_EQ(r.code, 2) << r.output;
  r = quantize("x.json", "--method mse");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "x.json"));
  EXPECT_EQ(fs::directory_iterator(dir_ / "empty"), fs::directory_iterator());
}

TEST(Quantize, CalibrationPatchesDependOnTheSeedOnly) {
  const auto a = compress::calibration_indices(1000, 10, 7);
  EXPECT_EQ(a, compress::calibration_indices(1000, 10, 7));
  EXPECT_NE(a, compress::calibration_indices(1000, 10, 8));
  ASSERT_EQ(a.size(), 10u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());  // distinct
  EXPECT_EQ(compress::calibration_indices(3, 10, 7), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_THROW(compress::calibration_indices(0, 10, 7), Error);
}
