// vdsr-bench end to end on tiny models: the table, the report (read back through the schema check) and
// bad input. Only shapes and counts are checked here; speed goals belong to the benchmark itself.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "report/report.h"
#include "tests/cli_runner.h"
#include "vdsr/checkpoint.h"

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
