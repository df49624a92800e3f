// vdsr-prune end to end on a tiny model: outputs, report contract, fine-tuning, and bad configs
// (exit 2, nothing written).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"
#include "tests/tool_test.h"
#include "vdsr/checkpoint.h"
#include "vdsr/image.h"

using namespace vdsr;
using nlohmann::json;
using test::run_command;
using test::tool;
namespace fs = std::filesystem;

class PruneCli : public test::ToolTest {
 protected:
  void SetUp() override {
    make_scratch("vdsr_prune");
    write_images(2, 60, 52, 4);
    save_model(dir_ / "tiny.ckpt", Architecture::uniform(5, 16), {2}, 5);
  }

  fs::path write_config(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  std::string prune(const fs::path& config, const std::string& extra) {
    return tool("vdsr-prune") + " --threads 1 --latency-runs 1 --config " + config.string() + " --model " +
           (dir_ / "tiny.ckpt").string() + " " + extra;
  }
};

TEST_F(PruneCli, SeedConfigWritesNarrowerCheckpointMasksAndReport) {
  const fs::path config = write_config("prune.json", R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])");
  const auto ok = run_command(prune(config, "--out " + (dir_ / "out").string() + " --no-eval"));
  ASSERT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("| params | 7200 | 1872 |"), std::string::npos) << ok.output;
  const Checkpoint pruned = load_checkpoint(dir_ / "out" / "pruned.ckpt");
  EXPECT_EQ(pruned.architecture.widths, (std::vector<int>{8, 8, 8, 8}));
  const json masks = json::parse(std::ifstream(dir_ / "out" / "masks.json"));
  EXPECT_EQ(masks["input"].size(), 8u);
  EXPECT_EQ(masks["output"], json::array({0}));  // json({0}) is null under clang (0 as a null pointer)
  const json report = json::parse(std::ifstream(dir_ / "out" / "report.json"));
  EXPECT_EQ(report["schema"], "vdsr-report/1");
  EXPECT_EQ(report["stage"], "prune");
  ASSERT_EQ(report["prune"]["layers"].size(), 5u);
  const json& layer = report["prune"]["layers"][1];
  EXPECT_EQ(layer["name"], "residual_layer.0.conv");
  EXPECT_EQ(layer["in"], 16);
  EXPECT_EQ(layer["in_after"], 8);
  EXPECT_EQ(layer["out_before"], 16);
  EXPECT_EQ(layer["out_after"], 8);
  EXPECT_EQ(layer["kept"], 8);
  EXPECT_DOUBLE_EQ(layer["sparsity"].get<double>(), 0.5);
  EXPECT_EQ(report["prune"]["totals"]["params_before"], 7200);
  EXPECT_EQ(report["prune"]["totals"]["params_after"], 1872);
  EXPECT_GT(report["speed"]["libtorch"]["latency_ms"]["median"].get<double>(), 0.0);
  EXPECT_EQ(report["model"]["widths"], json({8, 8, 8, 8}));
  EXPECT_EQ(report["prune"]["plan"]["layers"].size(), 5u);
}

// One engine switch: --engine, or VDSR_ENGINE for a tool (and its children) started without it; the
// report says what computed each layer and on which machine.
TEST_F(PruneCli, EngineFlagAndEnvironmentChooseWhatRuns) {
  const fs::path config = write_config("prune.json", R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])");
  for (const auto& [how, engine] : {std::pair{"--engine aten", "aten"}, {"--engine onednn", "onednn"},
                                    {"env aten", "aten"}}) {
    SCOPED_TRACE(how);
    const fs::path out = dir_ / (std::string("out_") + engine + (how[0] == 'e' ? "_env" : ""));
    const std::string command = prune(config, "--out " + out.string() + " --no-eval" +
                                                  (how[0] == '-' ? std::string(" ") + how : std::string()));
    const auto r = run_command((how[0] == 'e' ? "VDSR_ENGINE=aten " : "") + command);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("machine: "), std::string::npos) << r.output;
    const json report = json::parse(std::ifstream(out / "report.json"));
    EXPECT_TRUE(report["machine"]["isa"].is_string());
    for (const json* speed : {&report["speed"]["libtorch"], &report["prune"]["baseline"]["speed"]["libtorch"]}) {
      const json& kernels = (*speed)["kernels"];
      ASSERT_EQ(kernels.size(), 5u) << report.dump(2);
      for (const auto& k : kernels) {
        EXPECT_EQ(k == "at::conv2d", std::string(engine) == "aten") << k;
      }
    }
  }
  const auto bad = run_command(prune(config, "--out " + (dir_ / "never").string() + " --engine fast"));
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--engine: expected auto, onednn or aten, got 'fast'"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir_ / "never"));
}

TEST_F(PruneCli, ObjectConfigWithEvalAndFinetune) {
  // Patches for fine-tuning from the synthetic images.
  const auto data = run_command(tool("vdsr-data") + " --images " + (dir_ / "images").string() + " --out " +
                                (dir_ / "train.h5").string() + " --scales 2 --flips none --rotations 0 --downsizes 1");
  ASSERT_EQ(data.code, 0) << data.output;
  const fs::path config = write_config("prune.json", R"({
    "pruner": "fpgm", "mode": "balance", "round_to": 4, "dummy_input": [1, 1, 32, 32],
    "config_list": [{"sparsity": 0.4, "op_types": ["Conv2d"]}],
    "eval": {"dataset": ")" + (dir_ / "images").string() + R"(", "scales": [2]},
    "finetune": {"data": ")" + (dir_ / "train.h5").string() + R"(", "steps": 3, "lr": 0.0001, "batchSize": 4}})");
  const auto r = run_command(prune(config, "--out " + (dir_ / "ft").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "ft" / "finetuned.ckpt"));
  const json report = json::parse(std::ifstream(dir_ / "ft" / "report.json"));
  EXPECT_EQ(report["config"]["pruner"], "fpgm");
  EXPECT_EQ(report["prune"]["finetune"]["steps"], 3);
  EXPECT_TRUE(report["prune"]["quality_pruned"]["images"]["x2"].is_object());
  EXPECT_TRUE(report["prune"]["baseline"]["quality"]["images"]["x2"].is_object());
  EXPECT_TRUE(report["quality"]["images"]["x2"]["psnr"].is_number());
  EXPECT_EQ(report["model"]["widths"], json({12, 12, 12, 12}));  // 16 - floor(6.4) = 10 -> 12 with round_to 4
}

TEST_F(PruneCli, ReconstructionRefitsLayersAndReportsThePlainPrunedQualityToo) {
  const auto data = run_command(tool("vdsr-data") + " --images " + (dir_ / "images").string() + " --out " +
                                (dir_ / "train.h5").string() + " --scales 2 --flips none --rotations 0 --downsizes 1");
  ASSERT_EQ(data.code, 0) << data.output;
  const fs::path config = write_config("prune.json", R"({
    "config_list": [{"sparsity": 0.5, "op_types": ["Conv2d"]}],
    "eval": {"dataset": ")" + (dir_ / "images").string() + R"(", "scales": [2]},
    "reconstruction": {"patches": 6, "samples": 2000}})");
  const auto r = run_command(prune(config, "--reconstruct " + (dir_ / "train.h5").string() + " --out " +
                                               (dir_ / "rec").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("x2 PSNR, pruned without reconstruction"), std::string::npos) << r.output;
  const json report = json::parse(std::ifstream(dir_ / "rec" / "report.json"));
  const json& rec = report["prune"]["reconstruction"];
  EXPECT_EQ(rec["patches"], 6);
  ASSERT_EQ(rec["layers"].size(), 4u);  // every layer after the input
  for (const auto& layer : rec["layers"]) {
    EXPECT_LE(layer["error_refitted"].get<double>(), layer["error_pruned"].get<double>()) << layer.dump();
  }
  EXPECT_TRUE(report["prune"]["quality_without_reconstruction"]["images"]["x2"]["psnr"].is_number());

  const auto plain = run_command(prune(config, "--no-reconstruct --no-eval --out " + (dir_ / "plain").string()));
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_FALSE(json::parse(std::ifstream(dir_ / "plain" / "report.json"))["prune"].contains("reconstruction"));
  const auto refitted = load_checkpoint(dir_ / "rec" / "pruned.ckpt").weights;
  const auto pruned = load_checkpoint(dir_ / "plain" / "pruned.ckpt").weights;
  EXPECT_TRUE(refitted[0].second.equal(pruned[0].second));  // the input layer is kept as it is
  EXPECT_FALSE(refitted[1].second.equal(pruned[1].second));
}

TEST_F(PruneCli, BadConfigsExitWithCode2AndWriteNothing) {
  struct Case {
    const char* config;
    const char* expected;
  };
  const Case cases[] = {
      {R"([{"sparsity": 1.0, "op_types": ["Conv2d"]}])", "config_list[0].sparsity: expected a number in [0, 1)"},
      {R"([{"sparsity": -0.5, "op_types": ["Conv2d"]}])", "config_list[0].sparsity: expected a number in [0, 1)"},
      {R"([{"sparsity": 0.5, "sparsity_per_layer": 0.5, "op_types": ["Conv2d"]}])", "not both"},
      {R"([{"sparsity": 0.5, "op_typo": ["Conv2d"]}])", "config_list[0].op_typo: unknown key (valid keys:"},
      {R"([{"sparsity": "0.5", "op_types": ["Conv2d"]}])", "config_list[0].sparsity: expected a number"},
      {R"([{"sparsity": 0.5}])", "config_list[0]: no layer selector"},
      {R"([{"sparsity": 0.5, "op_names": ["conv1"]}])", "selects no layer (layers: input, residual_layer.0.conv"},
      {R"({"config_list": {"sparsity": 0.5}})", "config_list must be a JSON array"},
      {R"({"config_list": [], "prunr": "l1"})", "prunr: unknown key (valid keys: config_list, dummy_input, eval, finetune, mode, model, output, pruner, reconstruction, round_to)"},
      {R"({"config_list": [{"sparsity": 0.5, "op_types": ["Conv2d"]}], "reconstruction": 3})", "reconstruction: expected an object"},
      {R"({"config_list": [{"sparsity": 0.5, "op_types": ["Conv2d"]}], "reconstruction": {"patches": 8}})", "reconstruction.data: missing"},
      {R"({"config_list": [{"sparsity": 0.5, "op_types": ["Conv2d"]}], "reconstruction": {"data": "none.h5", "patchez": 8}})", "reconstruction.patchez: unknown key"},
      {R"({"config_list": [{"sparsity": 0.5, "op_types": ["Conv2d"]}], "pruner": "level", "reconstruction": {"data": "x.h5"}})", "needs a filter pruner"},
      {R"({"config_list": [{"sparsity": 0.5, "op_types": ["Conv2d"]}], "pruner": "l3"})", "unknown pruner 'l3'"},
      {R"({"config_list": [{"sparsity": 0.5, "op_types": ["Conv2d"]}], "finetune": {"steps": 2}})", "finetune.data: missing"},
      {R"(not json)", "not valid JSON"},
  };
  int i = 0;
  for (const auto& c : cases) {
    const fs::path config = write_config("bad" + std::to_string(i) + ".json", c.config);
    const fs::path out = dir_ / ("out" + std::to_string(i++));
    const auto r = run_command(prune(config, "--no-eval --out " + out.string()));
    EXPECT_EQ(r.code, 2) << c.config << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << "expected '" << c.expected << "' in:\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << "output written for " << c.config;
  }
  // An op_names entry that matches nothing is a warning listing the layers, not an error.
  const fs::path warn = write_config("warn.json", R"([{"sparsity": 0.5, "op_names": ["input", "conv9"]}])");
  const auto r = run_command(prune(warn, "--no-eval --out " + (dir_ / "warn").string()));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("'conv9' matches no layer (layers: input, residual_layer.0.conv"), std::string::npos)
      << r.output;
}

TEST_F(PruneCli, NumbersPastDoubleAndRepeatedWarningsAreHandled) {
  // 1e309 was nlohmann's raw out_of_range.406 with exit 1.
  const fs::path huge = write_config("huge.json", R"([{"sparsity": 1e309, "op_types": ["Conv2d"]}])");
  auto r = run_command(prune(huge, "--no-eval --out " + (dir_ / "huge").string()));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("error: " + huge.string() + ": not valid JSON (number overflow parsing '1e309')"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "huge"));

  // 500 dicts naming 4 layers that do not exist: one warning line with the count, not 2,000 lines.
  json list = json::array();
  for (int d = 0; d < 500; ++d) {
    json names = json::array();
    for (int n = 0; n < 4; ++n) names.push_back("conv" + std::to_string(d * 4 + n));
    list.push_back({{"sparsity", 0.5}, {"op_names", names}});
  }
  list.push_back({{"sparsity", 0.5}, {"op_types", {"Conv2d"}}});
  const fs::path many = write_config("many.json", list.dump());
  r = run_command(prune(many, "--no-eval --out " + (dir_ / "many").string()));
  EXPECT_EQ(r.code, 0) << r.output;
  std::istringstream out(r.output);
  int lines = 0;
  for (std::string line; std::getline(out, line);) lines += line.find("matches no layer") != std::string::npos;
  EXPECT_EQ(lines, 2) << r.output;  // the log's warning and the plan's
  EXPECT_NE(r.output.find("2000 times: a selector entry matches no layer (layers: input, residual_layer.0.conv"),
            std::string::npos)
      << r.output;
}

// Values and paths that were taken silently or failed without naming the path: exit 2, nothing written.
TEST_F(PruneCli, BadFlagsAndOutputPathsExitWithCode2AndWriteNothing) {
  const fs::path config = write_config("prune.json", R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])");
  std::ofstream(dir_ / "file") << "a file";
  fs::create_directories(dir_ / "folder.json");
  auto expect_error = [&](const fs::path& cfg, const std::string& args, const std::string& needle) {
    const auto r = run_command(prune(cfg, "--no-eval " + args));
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
    EXPECT_FALSE(fs::exists(dir_ / "never")) << args;
  };
  const std::string never = "--out " + (dir_ / "never").string();
  expect_error(config, never + " --sparsity nan", "--sparsity: expected a number in [0, 1), got 'nan'");
  expect_error(config, never + " --sparsity 1", "--sparsity: expected a number in [0, 1), got '1'");
  expect_error(config, never + " --threads 0", "--threads: expected an integer >= 1, got '0'");
  expect_error(config, never + " --threads -3", "--threads: expected an integer >= 1, got '-3'");
  expect_error(config, "--out " + (dir_ / "file").string(),
               "output folder " + (dir_ / "file").string() + ": exists and is not a folder");
  expect_error(config, "--out " + (dir_ / "file" / "sub").string(), (dir_ / "file").string() + " is not a folder");
  // /proc takes no new files, even from root.
  expect_error(config, "--out /proc/vdsr-prune-never", "output folder /proc/vdsr-prune-never: cannot write in /proc");
  expect_error(dir_ / "folder.json", never, (dir_ / "folder.json").string() + ": is a folder, expected a JSON file");
  EXPECT_FALSE(fs::exists("/proc/vdsr-prune-never"));
  EXPECT_EQ(fs::file_size(dir_ / "file"), 6u);  // untouched
}

// A step that fails after pruning (here fine-tuning on patches that are not an HDF5 file) leaves no
// pruned.ckpt or masks.json behind, and no output folder the run created.
TEST_F(PruneCli, AFailedRunLeavesNoOutputs) {
  std::ofstream(dir_ / "junk.h5") << "not an HDF5 file";
  const fs::path config = write_config("prune.json", R"({"config_list": [{"sparsity": 0.5, "op_types": ["Conv2d"]}],
    "dummy_input": [1, 1, 16, 16], "finetune": {"data": ")" + (dir_ / "junk.h5").string() + R"(", "steps": 2}})");
  const auto r = run_command(prune(config, "--no-eval --out " + (dir_ / "out" / "sub").string()));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("junk.h5"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "out")) << r.output;

  // Into an existing folder: what this run wrote is removed, what was there stays.
  fs::create_directories(dir_ / "kept");
  std::ofstream(dir_ / "kept" / "notes.txt") << "mine";
  const auto again = run_command(prune(config, "--no-eval --out " + (dir_ / "kept").string()));
  EXPECT_EQ(again.code, 2) << again.output;
  EXPECT_FALSE(fs::exists(dir_ / "kept" / "pruned.ckpt"));
  EXPECT_FALSE(fs::exists(dir_ / "kept" / "masks.json"));
  EXPECT_FALSE(fs::exists(dir_ / "kept" / "finetune"));
  EXPECT_FALSE(fs::exists(dir_ / "kept" / "report.json"));
  EXPECT_TRUE(fs::exists(dir_ / "kept" / "notes.txt"));
}

// A disk that fills up while the outputs are written: a clear error naming the file, and neither the
// outputs nor the folder the run created are left behind.
TEST_F(PruneCli, AFullDiskLeavesNoOutputsOrFolder) {
  const fs::path config = write_config("prune.json", R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])");
  const auto r = run_command(test::on_a_full_disk(prune(config, "--no-eval --out " + (dir_ / "out" / "sub").string())));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find((dir_ / "out" / "sub").string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "out")) << r.output;
  // The same run with room to write succeeds: the failure above came from the disk.
  const auto ok = run_command(prune(config, "--no-eval --out " + (dir_ / "out" / "sub").string()));
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "sub" / "pruned.ckpt"));
}
