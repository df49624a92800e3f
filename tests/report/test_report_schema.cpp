// The report contract as code: report::validate / report::read accept what every stage writes and name
// the key path and the expected type of anything else; report::write refuses an invalid report.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "report/report.h"
#include "report_samples.h"
#include "tests/test_util.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The message report::validate throws for `r`, or "" when it passes.
std::string problem(const json& r) {
  try {
    report::validate(r, "r.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_PROBLEM(report, text)                                                        \
  do {                                                                                      \
    const std::string message = problem(report);                                            \
    EXPECT_NE(message.find(text), std::string::npos) << "message: '" << message << "'";    \
    EXPECT_EQ(message.rfind("r.json: ", 0), 0u) << message;                                 \
  } while (0)

class ReportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vdsr::test::scratch_dir("vdsr_report_schema");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path put(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  std::string read_problem(const fs::path& p) {
    try {
      report::read(p);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

}  // namespace

TEST(ReportSchema, EveryStageSampleIsValid) {
  for (const json& r : {test::eval_report(), test::prune_report(), test::export_report(), test::tune_report(),
                        test::bench_report(10, 5), report::create("data", "vdsr-data"),
                        report::create("pipeline", "vdsr-pipeline"), report::create("train", "vdsr-train")})
    EXPECT_EQ(problem(r), "") << r.dump();
}

TEST(ReportSchema, UnknownKeysAndNullsAreAccepted) {
  json r = test::eval_report();
  r["something_new"] = {{"anything", {1, "two"}}};
  r["model"]["extra"] = "x";
  r["speed"] = nullptr;  // not measured
  r["train"]["epochs"] = json::array({{{"epoch", 1}, {"lr", 0.1}, {"loss", 0.5}, {"psnr", nullptr}}});
  EXPECT_EQ(problem(r), "");
}

TEST(ReportSchema, NotAnObject) {
  EXPECT_PROBLEM(json::array({1, 2}), "not a report (expected a JSON object, found array)");
  EXPECT_PROBLEM(json("text"), "not a report");
}

TEST(ReportSchema, SchemaKey) {
  json r = test::eval_report();
  r.erase("schema");
  EXPECT_PROBLEM(r, "not a vdsr report (no \"schema\" key)");
  r["schema"] = "vdsr-report/2";
  EXPECT_PROBLEM(r, "written by a newer version (vdsr-report/2); this build reads vdsr-report/1");
  r["schema"] = "vdsr-report/17";
  EXPECT_PROBLEM(r, "newer version (vdsr-report/17)");
  for (const json& wrong : {json("nni-report/1"), json("vdsr-report/0"), json("vdsr-report/1.1"), json("vdsr-report/"),
                            json(1), json(nullptr)}) {
    r["schema"] = wrong;
    EXPECT_PROBLEM(r, "wrong schema " + wrong.dump() + " (this build reads vdsr-report/1)");
  }
}

TEST(ReportSchema, RequiredHeaderKeys) {
  for (const char* key : {"stage", "tool", "version", "created"}) {
    json r = test::eval_report();
    r.erase(key);
    EXPECT_PROBLEM(r, std::string("missing \"") + key + "\" (a string)");
    r[key] = 42;
    EXPECT_PROBLEM(r, std::string(key) + ": expected a string, found number 42");
  }
}

TEST(ReportSchema, KnownStages) {
  json r = test::eval_report();
  for (const auto& stage : {"eval", "train", "prune", "tune", "export", "bench", "data", "pipeline"}) {
    r["stage"] = stage;
    EXPECT_EQ(problem(r), "") << stage;
  }
  r["stage"] = "frobnicate";
  EXPECT_PROBLEM(r, "stage \"frobnicate\" is not one of eval, train, prune, tune, export, bench, data, pipeline");
}

TEST(ReportSchema, FixedKeyPathsNameThePathAndTheType) {
  struct Case {
    json report;
    std::string pointer;  // JSON pointer of the value to break
    json bad;
    std::string message;
  };
  const std::vector<Case> cases = {
      {test::eval_report(), "/machine", "x", "machine: expected an object, found string \"x\""},
      {test::eval_report(), "/machine/cores", "2", "machine.cores: expected an integer"},
      {test::eval_report(), "/model/params", "664704", "model.params: expected an integer, found string \"664704\""},
      {test::eval_report(), "/model/params", 1.5, "model.params: expected an integer, found number 1.5"},
      {test::eval_report(), "/model/widths", json({64, "x"}), "model.widths: expected an array of integers"},
      {test::eval_report(), "/model/bytes", "big", "model.bytes: expected an integer"},
      {test::eval_report(), "/model/path", 3, "model.path: expected a string"},
      {test::eval_report(), "/quality/Set5/x2/psnr", "37", "quality.Set5.x2.psnr: expected a number"},
      {test::eval_report(), "/quality/Set5/x4/ssim", true, "quality.Set5.x4.ssim: expected a number"},
      {test::eval_report(), "/quality/Set5/2", json::object(), "quality.Set5: expected an object keyed by scale"},
      {test::eval_report(), "/quality/Set5/x2/images/baby/psnr", "x", "quality.Set5.x2.images.baby.psnr: expected a number"},
      {test::eval_report(), "/config", json::array(), "config: expected an object"},
      {test::prune_report(), "/speed/libtorch/latency_ms/median", "fast", "speed.libtorch.latency_ms.median: expected a number"},
      {test::prune_report(), "/speed/libtorch/input", json({256}), "speed.libtorch.input: expected [H, W] (two integers)"},
      {test::prune_report(), "/speed/libtorch/runs", 2.5, "speed.libtorch.runs: expected an integer"},
      {test::prune_report(), "/files/checkpoint/bytes", "1k", "files.checkpoint.bytes: expected an integer"},
      {test::prune_report(), "/prune/layers/0/name", 7, "prune.layers[0].name: expected a string"},
      {test::prune_report(), "/prune/layers", json({1, 2}), "prune.layers: expected an array of objects"},
      {test::prune_report(), "/prune/totals/macs_ratio", "quarter", "prune.totals.macs_ratio: expected a number"},
      {test::tune_report(), "/tune/trials/2/params", json({1}), "tune.trials[2].params: expected an object"},
      {test::tune_report(), "/tune/best/value", "good", "tune.best.value: expected a number"},
      {test::export_report(), "/export/files/onnx/bytes", -0.5, "export.files.onnx.bytes: expected an integer"},
      {test::export_report(), "/export/parity/onnxruntime/max_abs_diff", "0", "export.parity.onnxruntime.max_abs_diff: expected a number"},
      {test::bench_report(1, 2), "/bench/results/0/latency_ms/median", "1", "bench.results[0].latency_ms.median: expected a number"},
      {test::bench_report(1, 2), "/bench/results/0/input", json({1, 2, 3}), "bench.results[0].input: expected [H, W]"},
  };
  for (const auto& c : cases) {
    json r = c.report;
    ASSERT_TRUE(r.contains(json::json_pointer(c.pointer).parent_pointer())) << c.pointer;
    r[json::json_pointer(c.pointer)] = c.bad;
    EXPECT_PROBLEM(r, c.message);
  }
  json r = test::eval_report();
  r["train"]["epochs"] = json::array({{{"epoch", "one"}}});
  EXPECT_PROBLEM(r, "train.epochs[0].epoch: expected an integer, found string \"one\"");
}

TEST_F(ReportFiles, ReadNamesTheFile) {
  EXPECT_NE(read_problem(dir_ / "absent.json").find("absent.json: cannot open file (it does not exist)"), std::string::npos);
  const auto text = put("notes.txt", "hello, not json");
  EXPECT_EQ(read_problem(text).rfind(text.string() + ": not valid JSON (", 0), 0u) << read_problem(text);
  const auto array = put("array.json", "[1, 2]");
  EXPECT_EQ(read_problem(array), array.string() + ": not a report (expected a JSON object, found array)");
  const auto other = put("other.json", R"({"name": "not ours"})");
  EXPECT_EQ(read_problem(other), other.string() + ": not a vdsr report (no \"schema\" key)");
  json newer = test::eval_report();
  newer["schema"] = "vdsr-report/2";
  const auto newer_path = put("newer.json", newer.dump());
  EXPECT_EQ(read_problem(newer_path),
            newer_path.string() + ": written by a newer version (vdsr-report/2); this build reads vdsr-report/1");
  const auto good = put("good.json", test::eval_report().dump());
  EXPECT_EQ(report::read(good), test::eval_report());
}

TEST_F(ReportFiles, WriteValidatesFirstAndLeavesNothingBehind) {
  json bad = test::eval_report();
  bad["model"]["params"] = "many";
  EXPECT_THROW(report::write(dir_ / "bad.json", bad), Error);
  EXPECT_TRUE(fs::is_empty(dir_));

  json fresh = report::create("eval", "vdsr-eval");
  fresh["model"] = test::model(8, 4, 100, "m.ckpt");
  report::write(dir_ / "ok.json", fresh);
  EXPECT_EQ(report::read(dir_ / "ok.json"), fresh);
}

// Reports read the same on any machine: paths under the working directory become relative, paths under
// the assets ${assets}/..., wherever they stand in a string; look-alike names and other paths are kept.
TEST(ReportPaths, PortablePathRewritesOnlyWholeLeadingParts) {
  const report::PathRoots roots{"/work/repo", "/data/assets"};
  auto portable = [&](const std::string& text) { return report::portable_path(text, roots); };
  EXPECT_EQ(portable("/work/repo/experiments/x/train.h5"), "experiments/x/train.h5");
  EXPECT_EQ(portable("/work/repo"), ".");
  EXPECT_EQ(portable("/data/assets/Set5"), "${assets}/Set5");
  EXPECT_EQ(portable("/data/assets"), "${assets}");
  EXPECT_EQ(portable("/work/repo/build/bin/vdsr-eval --dataset /data/assets/Set14 --report /work/repo/e.json"),
            "build/bin/vdsr-eval --dataset ${assets}/Set14 --report e.json");
  EXPECT_EQ(portable("a.json+/work/repo/b.json"), "a.json+b.json");
  EXPECT_EQ(portable("/work/repo2/x"), "/work/repo2/x");
  EXPECT_EQ(portable("/other/work/repo/x"), "/other/work/repo/x");
  EXPECT_EQ(portable("/tmp/x.ckpt"), "/tmp/x.ckpt");
  EXPECT_EQ(report::portable_path("/x", report::PathRoots{"/", ""}), "/x");
}

TEST(ReportPaths, WriteMakesEveryStringPortable) {
  const fs::path dir = test::scratch_dir("vdsr_report_paths");
  const report::PathRoots roots = report::PathRoots::current();
  json r = report::create("eval", "vdsr-eval");
  r["model"] = {{"path", roots.root + "/m.ckpt"}};
  r["config"] = {{"datasets", {roots.assets + "/Set5", "/elsewhere/Set14"}}};
  report::write(dir / "r.json", r);
  const json back = json::parse(test::read_text(dir / "r.json"));
  EXPECT_EQ(back["model"]["path"], "m.ckpt");
  EXPECT_EQ(back["config"]["datasets"], json({"${assets}/Set5", "/elsewhere/Set14"}));
  fs::remove_all(dir);
}
