// vdsr-bench end to end on tiny models: the table, the report (read back through the schema check) and
// bad input. Only shapes and counts are checked here; speed goals belong to the benchmark itself.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "compress/quantize.h"
#include "report/report.h"
#include "tests/cli_runner.h"
#include "vdsr/checkpoint.h"
#include "vdsr/int8_scales.h"

using namespace vdsr;
using test::run_command;
using test::tool;
namespace fs = std::filesystem;

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vdsr_bench_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (auto [name, width] : {std::pair{"wide", 12}, {"narrow", 6}}) {
      torch::manual_seed(1);
      VDSR model(Architecture::uniform(5, width));
      save_checkpoint(dir_ / (std::string(name) + ".ckpt"), checkpoint_from_model(model, {{"scales", {2}}}));
    }
  }
  // Int8 scales of one model (minmax on random inputs), written as vdsr-quantize writes them.
  std::string write_scales(const std::string& name) const {
    const Checkpoint ck = load_checkpoint(dir_ / (name + ".ckpt"));
    torch::manual_seed(2);
    const Int8Scales s = compress::calibrate_int8(ck, weights_sha256(ck.weights), torch::rand({4, 1, 24, 24}), {});
    const fs::path path = dir_ / (name + "_scales.json");
    write_int8_scales(path.string(), s);
    return path.string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string models() const {
    return " --model wide=" + (dir_ / "wide.ckpt").string() + " --model narrow=" + (dir_ / "narrow.ckpt").string();
  }
  fs::path dir_;
};

TEST_F(BenchCli, TableAndReportCoverEveryConfiguration) {
  const fs::path report_path = dir_ / "bench.json";
  const auto r = run_command(tool("vdsr-bench") + models() +
                             " --sizes 24,32 --runtimes libtorch,aten,opencv-dnn --precision fp32 --runs 2 --rounds 1"
                             " --threads 1 --report " + report_path.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| model | runtime | precision | input | median ms"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| narrow | opencv-dnn | fp32 | 32x32 |"), std::string::npos) << r.output;

  const nlohmann::json report = report::read(report_path);  // throws on a schema violation
  EXPECT_EQ(report["stage"], "bench");
  const auto& rows = report["bench"]["results"];
  ASSERT_EQ(rows.size(), 2u * 2u * 3u);  // models x sizes x runtimes
  for (const auto& row : rows) {
    EXPECT_GT(row["latency_ms"]["median"].get<double>(), 0.0) << row.dump();
    EXPECT_LE(row["latency_ms"]["min"].get<double>(), row["latency_ms"]["median"].get<double>());
    EXPECT_GE(row["latency_ms"]["max"].get<double>(), row["latency_ms"]["median"].get<double>());
    EXPECT_EQ(row["runs"], 2);
  }
  EXPECT_EQ(rows[0]["widths"], nlohmann::json::array({12, 12, 12, 12}));
  // The contract's speed.<runtime>: the first model at the first size.
  EXPECT_EQ(report["speed"]["libtorch"]["input"], nlohmann::json::array({24, 24}));
  EXPECT_EQ(report["model"]["widths"], nlohmann::json::array({12, 12, 12, 12}));
}

TEST_F(BenchCli, BadInputExitsTwoAndWritesNothing) {
  const fs::path report_path = dir_ / "bench.json";
  // int8 without --int8-scales: nothing to quantize with.
  for (const std::string& args :
       std::vector<std::string>{" --runtimes tensorflow", " --precision fp16", " --precision int8", " --sizes 0",
                                " --model missing=" + (dir_ / "nope.ckpt").string()}) {
    const auto r = run_command(tool("vdsr-bench") + models() + args + " --sizes 24 --runs 1 --report " +
                               report_path.string());
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("error:"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(report_path)) << args;
  }
}

TEST_F(BenchCli, Int8RunsEachModelWithItsOwnScales) {
  const fs::path report_path = dir_ / "bench.json";
  const std::string wide = write_scales("wide"), narrow = write_scales("narrow");
  const auto r = run_command(tool("vdsr-bench") + models() + " --int8-scales narrow=" + narrow +
                             " --int8-scales wide=" + wide +
                             " --sizes 24 --runtimes libtorch --precision fp32,int8 --runs 1 --rounds 1 --threads 1"
                             " --report " + report_path.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| narrow | libtorch | int8 | 24x24 |"), std::string::npos) << r.output;
  const nlohmann::json report = report::read(report_path);
  const auto& rows = report["bench"]["results"];
  ASSERT_EQ(rows.size(), 2u * 2u);  // models x precisions
  for (const auto& row : rows) {
    if (row["precision"] != "int8") continue;
    EXPECT_EQ(row["int8_scales"], row["model"] == "wide" ? wide : narrow) << row.dump();
    ASSERT_EQ(row["kernels"].size(), 5u) << row.dump();
    // The body layers ran int8 (oneDNN has u8 x s8 kernels down to SSE4.1), first and last fp32.
    for (size_t i = 1; i < 4; ++i) EXPECT_EQ(row["kernels"][i].get<std::string>().rfind("int8 ", 0), 0u) << row.dump();
    EXPECT_EQ(row["kernels"][0].get<std::string>().rfind("int8 ", 0), std::string::npos) << row.dump();
  }
  EXPECT_EQ(report["config"]["int8_scales"].size(), 2u);

  // One model: a plain FILE, as before.
  const auto one = run_command(tool("vdsr-bench") + " --model wide=" + (dir_ / "wide.ckpt").string() +
                               " --int8-scales " + wide + " --sizes 24 --runtimes libtorch --precision int8 --runs 1"
                               " --rounds 1 --threads 1");
  EXPECT_EQ(one.code, 0) << one.output;
  EXPECT_NE(one.output.find("| wide | libtorch | int8 | 24x24 |"), std::string::npos) << one.output;
}

TEST_F(BenchCli, Int8ScalesThatDoNotPairWithTheModelsExitTwo) {
  const fs::path report_path = dir_ / "bench.json";
  const std::string wide = write_scales("wide"), narrow = write_scales("narrow");
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           // narrow has no scales: the error names it
           {" --int8-scales wide=" + wide, "model 'narrow' has no scales"},
           // a plain FILE fits only one model
           {" --int8-scales " + wide, "each file needs the label of its model"},
           {" --int8-scales wide=" + wide + " --int8-scales tiny=" + narrow, "no --model is labelled 'tiny'"},
           {" --int8-scales wide=" + wide + " --int8-scales wide=" + narrow, "model 'wide' already has"},
           // the labels swapped: each file is checked against its model's layers
           {" --int8-scales wide=" + narrow + " --int8-scales narrow=" + wide, narrow},
       }) {
    const auto r = run_command(tool("vdsr-bench") + models() + c.args +
                               " --sizes 24 --runtimes libtorch --precision int8 --runs 1 --report " +
                               report_path.string());
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("error:"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(report_path)) << c.args;
  }
}
