// vdsr-eval and vdsr-demo end to end: the reference figures, the report contract, and clear errors
// (exit code 2, nothing written) for bad models, images and datasets.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "test_assets.h"
#include "tool_test.h"
#include "vdsr/checkpoint.h"
#include "vdsr/image.h"
#include "vdsr/torch_file.h"

using namespace vdsr;
using test::run_command;
using test::tool;
namespace fs = std::filesystem;

namespace {

class EvalCli : public test::ToolTest {
 protected:
  void SetUp() override {
    make_scratch("vdsr_cli");
    write_images(2, 48, 40, 8);
    save_model(dir_ / "tiny.ckpt", Architecture::uniform(4, 8), {2}, 3);
  }

  std::string eval(const std::string& args) { return tool("vdsr-eval") + " --threads 1 " + args; }
};

}  // namespace

TEST_F(EvalCli, TinyModelWritesTableAndReport) {
  const auto r = run_command(eval("--model " + (dir_ / "tiny.ckpt").string() + " --dataset " + (dir_ / "images").string() +
                                  " --scale 2,3 --report " + (dir_ / "r.json").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| mean"), std::string::npos) << r.output;
  nlohmann::json report = nlohmann::json::parse(std::ifstream(dir_ / "r.json"));
  EXPECT_EQ(report["schema"], "vdsr-report/1");
  EXPECT_EQ(report["stage"], "eval");
  EXPECT_EQ(report["tool"], "vdsr-eval");
  EXPECT_EQ(report["machine"]["threads_used"], 1);
  EXPECT_EQ(report["model"]["widths"], nlohmann::json({8, 8, 8}));
  EXPECT_EQ(report["model"]["params"], Architecture::uniform(4, 8).params());
  EXPECT_EQ(report["model"]["sha256"].get<std::string>().size(), 64u);
  for (const char* s : {"x2", "x3"}) {
    const auto& q = report["quality"]["images"][s];
    ASSERT_TRUE(q.is_object()) << report.dump(1);
    EXPECT_EQ(q["images"].size(), 2u);
    EXPECT_GT(q["bicubic_psnr"].get<double>(), 10.0);
  }
}

TEST_F(EvalCli, BadInputsExitWithCode2AndWriteNothing) {
  const std::string report = (dir_ / "never.json").string();
  const std::string images = " --dataset " + (dir_ / "images").string();
  auto expect_error = [&](const std::string& args, const std::string& needle) {
    const auto r = run_command(eval(args + " --report " + report));
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
    EXPECT_FALSE(fs::exists(report)) << "partial report left by: " << args;
  };
  expect_error("--model " + (dir_ / "missing.pt").string() + images, "missing.pt: cannot open file (it does not exist)");

  std::ofstream(dir_ / "junk.pt") << "PK\x03\x04 definitely not a zip archive";
  expect_error("--model " + (dir_ / "junk.pt").string() + images, "junk.pt: corrupted PyTorch file");

  const Checkpoint ck = load_checkpoint(dir_ / "tiny.ckpt");
  NamedTensors missing = ck.weights;
  missing.erase(missing.begin());
  write_torch_state_dict(dir_ / "missing_input.pt", missing);
  expect_error("--model " + (dir_ / "missing_input.pt").string() + images, "missing tensor input.weight");

  NamedTensors misshaped = ck.weights;
  misshaped[1].second = torch::zeros({8, 8, 5, 5});
  write_torch_state_dict(dir_ / "misshaped.pt", misshaped);
  expect_error("--model " + (dir_ / "misshaped.pt").string() + images,
               "residual_layer.0.conv.weight has shape [8, 8, 5, 5], expected [8, 8, 3, 3]");

  const std::string model = " --model " + (dir_ / "tiny.ckpt").string();
  expect_error(model + " --dataset NoSuchDataset", "unknown dataset 'NoSuchDataset'");

  fs::create_directories(dir_ / "broken");
  std::ofstream(dir_ / "broken" / "bad.png") << "not a png";
  expect_error(model + " --dataset " + (dir_ / "broken").string(), "bad.png: cannot decode image");

  fs::create_directories(dir_ / "small");
  write_image(dir_ / "small" / "dot.png", Image(2, 2, 3, 128.0));
  expect_error(model + " --dataset " + (dir_ / "small").string() + " --scale 3", "dot.png: image is 2x2, too small");

  expect_error(model + images + " --scale 1", "--scale: expected integers in 2..8");
  if (!torch::cuda::is_available()) expect_error(model + images + " --cuda", "No GPU found");
}

TEST_F(EvalCli, DemoWritesUpscaledAndSideBySideImages) {
  const std::string model = " --model " + (dir_ / "tiny.ckpt").string();
  const auto r = run_command(tool("vdsr-demo") + model + " --image " + (dir_ / "images" / "img1.png").string() +
                             " --scale 3 --out " + (dir_ / "up.png").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("PSNR_bicubic"), std::string::npos);
  EXPECT_NE(r.output.find("PSNR_predicted"), std::string::npos);
  const Image up = read_image(dir_ / "up.png");
  EXPECT_EQ(up.height, 54);  // 56 modcropped to a multiple of 3
  EXPECT_EQ(up.width, 39);
  const Image side = read_image(dir_ / "up_compare.png");
  EXPECT_EQ(side.width, 3 * 39 + 2 * 4);

  const auto lr = run_command(tool("vdsr-demo") + model + " --lr-input --image " +
                              (dir_ / "images" / "img0.png").string() + " --scale 2 --out " + (dir_ / "big.png").string());
  ASSERT_EQ(lr.code, 0) << lr.output;
  const Image big = read_image(dir_ / "big.png");
  EXPECT_EQ(big.height, 96);
  EXPECT_EQ(big.width, 80);

  std::ofstream(dir_ / "bad.png") << "garbage";
  const auto bad = run_command(tool("vdsr-demo") + model + " --image " + (dir_ / "bad.png").string() + " --out " +
                               (dir_ / "never.png").string());
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_FALSE(fs::exists(dir_ / "never.png"));
  EXPECT_FALSE(fs::exists(dir_ / "never_compare.png"));
}

// Tiles carry the receptive-field radius (the halo, one pixel per layer) on every side, so a tile of at
// most twice the halo is mostly context: --tile 1 on a 20-layer model computes 41 x 41 pixels per pixel.
TEST_F(EvalCli, TileSizesAreCheckedAgainstTheHalo) {
  const std::string model = " --model " + (dir_ / "tiny.ckpt").string() + " --dataset " + (dir_ / "images").string() +
                            " --scale 2";
  for (const auto& [tile, needle] : {std::pair{"1", "--tile 1: too small for this 4-layer model"},
                                     {"8", "expected -1 (never tile), 0 (automatic) or at least 9"},
                                     {"-5", "--tile: expected -1 (never tile), 0 (automatic) or a side in pixels"}}) {
    const auto r = run_command(eval(model + " --tile " + tile));
    EXPECT_EQ(r.code, 2) << tile << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  }
  for (const char* tile : {"9", "0", "-1"}) {
    const auto r = run_command(eval(model + " --tile " + tile));
    EXPECT_EQ(r.code, 0) << tile << "\n" << r.output;
  }
  const auto demo = run_command(tool("vdsr-demo") + " --model " + (dir_ / "tiny.ckpt").string() + " --image " +
                                (dir_ / "images" / "img0.png").string() + " --scale 2 --tile 1 --out " +
                                (dir_ / "never.png").string());
  EXPECT_EQ(demo.code, 2) << demo.output;
  EXPECT_NE(demo.output.find("--tile 1: too small"), std::string::npos) << demo.output;
  EXPECT_FALSE(fs::exists(dir_ / "never.png"));
}

// Paths and values that used to give exit 1 without naming the path, or were taken silently.
TEST_F(EvalCli, SymlinkLoopsHugeImagesAndBadThreadCountsAreClearErrors) {
  const std::string model = " --model " + (dir_ / "tiny.ckpt").string();
  auto expect_error = [&](const std::string& args, const std::string& needle, const std::string& env = "") {
    const auto r = run_command(env + eval(args));
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
  };
  fs::create_directories(dir_ / "loop");
  fs::copy_file(dir_ / "images" / "img0.png", dir_ / "loop" / "img0.png");
  fs::create_symlink("loop.png", dir_ / "loop" / "loop.png");  // points at itself
  expect_error(model + " --dataset " + (dir_ / "loop").string(),
               (dir_ / "loop" / "loop.png").string() + ": cannot read (Too many levels of symbolic links)");

  // A 389-byte-class PNG that declares 20000 x 20000: refused from its header, quickly.
  fs::create_directories(dir_ / "huge");
  const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                               0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20, 8, 2, 0, 0, 0, 0, 0, 0, 0};
  std::ofstream(dir_ / "huge" / "huge.png", std::ios::binary).write(reinterpret_cast<const char*>(png), sizeof(png));
  const auto started = std::chrono::steady_clock::now();
  expect_error(model + " --dataset " + (dir_ / "huge").string(),
               (dir_ / "huge" / "huge.png").string() + ": image is 20000x20000, more than the limit of 100000000 "
               "pixels (set VDSR_MAX_IMAGE_PIXELS to raise it)");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 20.0);
  expect_error(model + " --dataset " + (dir_ / "images").string(), "img0.png: image is 40x48, more than the limit of 1000",
               "VDSR_MAX_IMAGE_PIXELS=1000 ");

  const std::string images = model + " --dataset " + (dir_ / "images").string();
  expect_error(images + " --threads 0", "--threads: expected an integer >= 1, got '0'");
  expect_error(images + " --threads -3", "--threads: expected an integer >= 1, got '-3'");
}

// Non-finite weights are refused on load, naming the tensor; a model whose output overflows to NaN is an
// error, not "PSNR nan" with exit 0.
TEST_F(EvalCli, NonFiniteWeightsAndOutputsAreErrors) {
  const std::string images = " --dataset " + (dir_ / "images").string() + " --scale 2";
  Checkpoint ck = load_checkpoint(dir_ / "tiny.ckpt");
  NamedTensors nan = ck.weights;
  nan[2].second = nan[2].second.clone();
  nan[2].second[0][0][1][1] = std::nan("");
  write_torch_state_dict(dir_ / "nan.pt", nan);
  auto r = run_command(eval("--model " + (dir_ / "nan.pt").string() + images));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("nan.pt: tensor residual_layer.1.conv.weight holds 1 non-finite value(s)"), std::string::npos)
      << r.output;

  // Finite weights: 1e30 in the body overflows the activations to +inf, and the output layer's mixed signs
  // then give inf - inf.
  for (auto& [name, w] : ck.weights) w = torch::full_like(w, 1e30f);
  ck.weights.back().second = (torch::rand_like(ck.weights.back().second) < 0.5).to(torch::kFloat) * 2.0f - 1.0f;
  save_checkpoint(dir_ / "overflow.ckpt", ck);
  r = run_command(eval("--model " + (dir_ / "overflow.ckpt").string() + images + " --report " +
                       (dir_ / "never.json").string()));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("img0.png: the model's output at scale 2 is not a number"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("nan |"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "never.json"));
}

TEST_F(EvalCli, DemoChecksTheOutputTypeBeforeComputing) {
  const auto r = run_command(tool("vdsr-demo") + " --model " + (dir_ / "tiny.ckpt").string() + " --image " +
                             (dir_ / "images" / "img0.png").string() + " --scale 2 --out " +
                             (dir_ / "up.xyz").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("error: " + (dir_ / "up.xyz").string() + ": cannot write images of type .xyz"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("PSNR_predicted"), std::string::npos) << "computed before the check:\n" << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "up_compare.png"));
}

// The acceptance figures: the reference model reproduces the fixtures' means within 0.005 dB.
class ReferenceFigures : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ReferenceFigures, MatchFixtureMeans) {
  const auto [dataset, fixture] = GetParam();
  const fs::path model = test::assets_path() / "models" / "vdsr_x234_state_dict.pt";
  VDSR_REQUIRE_PATH(model);
  VDSR_REQUIRE_PATH(test::assets_path() / dataset);
  const fs::path report = fs::temp_directory_path() / (std::string("vdsr_reference_") + dataset + ".json");
  const auto r = run_command(tool("vdsr-eval") + " --model " + model.string() + " --dataset " + dataset +
                             " --report " + report.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json got = nlohmann::json::parse(std::ifstream(report));
  const nlohmann::json want = nlohmann::json::parse(std::ifstream(test::fixtures_path() / fixture));
  for (const char* s : {"x2", "x3", "x4"}) {
    SCOPED_TRACE(std::string(dataset) + " " + s);
    const auto& q = got["quality"][dataset][s];
    EXPECT_NEAR(q["psnr"].get<double>(), want["means"][s]["vdsr_psnr"].get<double>(), 0.005);
    EXPECT_NEAR(q["bicubic_psnr"].get<double>(), want["means"][s]["bicubic_psnr"].get<double>(), 0.005);
    EXPECT_NEAR(q["ssim"].get<double>(), want["means"][s]["vdsr_ssim"].get<double>(), 1e-4);
    for (auto& [name, image] : q["images"].items()) {
      EXPECT_NEAR(image["psnr"].get<double>(), want["images"][name][s]["vdsr_psnr"].get<double>(), 0.005) << name;
    }
  }
  fs::remove(report);
}

INSTANTIATE_TEST_SUITE_P(Datasets, ReferenceFigures,
                         ::testing::Values(std::make_pair("Set5", "set5_reference.json"),
                                           std::make_pair("Set14", "set14_reference.json")),
                         [](const auto& info) { return std::string(info.param.first); });

// The small reference check CI runs under every ISA restriction (scripts/test.sh): the reference model on
// one Set5 image (bird, x2) reproduces the fixture's PSNR within 0.005 dB.
TEST(ReferenceCheck, Set5x2OneImage) {
  const fs::path model = test::assets_path() / "models" / "vdsr_x234_state_dict.pt";
  const fs::path image = test::assets_path() / "Set5" / "bird.png";
  VDSR_REQUIRE_PATH(model);
  VDSR_REQUIRE_PATH(image);
  const fs::path dir = fs::temp_directory_path() / ("vdsr_reference_one_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "images");
  fs::copy_file(image, dir / "images" / "bird.png");
  const auto r = run_command(tool("vdsr-eval") + " --model " + model.string() + " --dataset " +
                             (dir / "images").string() + " --scale 2 --report " + (dir / "r.json").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json got = nlohmann::json::parse(std::ifstream(dir / "r.json"));
  const nlohmann::json want = nlohmann::json::parse(std::ifstream(test::fixtures_path() / "set5_reference.json"));
  std::printf("oneDNN ISA %s, kernels %s\n", got["machine"]["isa"].get<std::string>().c_str(),
              got["config"]["inference"]["kernels"].dump().c_str());
  EXPECT_NEAR(got["quality"]["images"]["x2"]["images"]["bird"]["psnr"].get<double>(),
              want["images"]["bird"]["x2"]["vdsr_psnr"].get<double>(), 0.005);
  fs::remove_all(dir);
}
