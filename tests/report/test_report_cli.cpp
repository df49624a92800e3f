// vdsr-report end to end: show/diff/table on synthetic report files, and bad input (not a report, a wrong
// or newer schema, a bad flag) ending with "error: ..." and exit 2, leaving no output file behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/cli_runner.h"
#include "tests/test_util.h"
#include "report_samples.h"

using nlohmann::json;
using vdsr::test::run_command;
using vdsr::test::tool;
namespace fs = std::filesystem;

namespace {

class ReportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vdsr::test::scratch_dir("vdsr_report_cli");
    put("eval.json", vdsr::test::eval_report().dump(2));
    put("prune.json", vdsr::test::prune_report().dump(2));
    put("export.json", vdsr::test::export_report().dump(2));
    put("tune.json", vdsr::test::tune_report().dump(2));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string put(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string cli(const std::string& args) const { return tool("vdsr-report") + " " + args; }
  std::string slurp(const std::string& name) const {
    std::ifstream in(dir_ / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Exit 2, an "error: " line carrying `message`, and no `out` file.
  void expect_bad_input(const std::string& args, const std::string& message) {
    const auto r = run_command(cli(args + " --out " + path("out.txt")));
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(dir_ / "out.txt"));
    for (const auto& e : fs::directory_iterator(dir_))
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  fs::path dir_;
};

}  // namespace

TEST_F(ReportCli, ShowDiffAndTable) {
  auto r = run_command(cli("show " + path("prune.json")));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("# prune report"), std::string::npos) << r.output;

  r = run_command(cli("diff " + path("eval.json") + " " + path("prune.json") + " --format json --out " + path("d.json")));
  ASSERT_EQ(r.code, 0) << r.output;
  const json d = json::parse(slurp("d.json"));
  EXPECT_EQ(d["a"], "eval.json");
  EXPECT_FALSE(d["rows"].empty());

  r = run_command(cli("diff " + path("eval.json") + " " + path("prune.json")));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| model.params | 664704 | 166464 | -498240 | -74.96% |"), std::string::npos) << r.output;

  r = run_command(cli("table original=" + path("eval.json") + " " + path("prune.json") + "+" + path("export.json") + " " +
                      path("tune.json") + " --format html --out " + path("t.html")));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string html = slurp("t.html");
  EXPECT_EQ(vdsr::test::svg_blocks(html).size(), 4u);
  EXPECT_NE(html.find("<td>original</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>export: pruned.ckpt</td>"), std::string::npos);  // merged: the last report's stage

  r = run_command(cli("table " + path("eval.json") + " --dataset Set5"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| eval: vdsr.pt | 37.650 | 31.450 |"), std::string::npos) << r.output;
}

TEST_F(ReportCli, NotAReport) {
  put("notes.txt", "just some text");
  expect_bad_input("show " + path("notes.txt"), path("notes.txt") + ": not valid JSON (");
  put("array.json", "[1, 2, 3]");
  expect_bad_input("diff " + path("eval.json") + " " + path("array.json"), "array.json: not a report (expected a JSON object");
  put("other.json", R"({"loss": 0.1})");
  expect_bad_input("table " + path("eval.json") + " " + path("other.json") + " --format html",
                   "other.json: not a vdsr report");
  expect_bad_input("show " + path("absent.json"), "absent.json: cannot open file (it does not exist)");
}

TEST_F(ReportCli, WrongOrNewerSchema) {
  json r = vdsr::test::eval_report();
  r["schema"] = "vdsr-report/2";
  put("newer.json", r.dump());
  expect_bad_input("diff " + path("eval.json") + " " + path("newer.json") + " --format html",
                   "newer.json: written by a newer version (vdsr-report/2); this build reads vdsr-report/1");
  r["schema"] = "something-else/1";
  put("wrong.json", r.dump());
  expect_bad_input("table a=" + path("eval.json") + "+" + path("wrong.json"),
                   "wrong.json: wrong schema \"something-else/1\" (this build reads vdsr-report/1)");
  r["schema"] = "vdsr-report/1";
  r["model"]["widths"] = "64";
  put("badkey.json", r.dump());
  expect_bad_input("show " + path("badkey.json"), "badkey.json: model.widths: expected an array of integers");
}

TEST_F(ReportCli, BadFlags) {
  expect_bad_input("diff " + path("eval.json") + " " + path("prune.json") + " --format pdf", "--format");
  expect_bad_input("table " + path("eval.json") + " --format json", "--format");
  expect_bad_input("diff " + path("eval.json"), "b");
  const auto r = run_command(cli(""));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
  // An output folder that does not exist is bad input too.
  const auto missing = run_command(cli("show " + path("eval.json") + " --out " + path("no/such/dir/x.md")));
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("does not exist"), std::string::npos) << missing.output;
}

TEST_F(ReportCli, TooDeepOrOutOfRangeJsonIsBadInputNotACrash) {
  // A report whose config is nested 100,000 deep crashed show, diff and table (stack overflow).
  json r = vdsr::test::prune_report();
  r["config"]["note"] = "@";
  std::string text = r.dump();
  text.replace(text.find("\"@\""), 3, std::string(100000, '[') + std::string(100000, ']'));
  put("deep.json", text);
  expect_bad_input("show " + path("deep.json"), "deep.json: nested deeper than 64 levels");
  expect_bad_input("diff " + path("prune.json") + " " + path("deep.json"), "deep.json: nested deeper than 64 levels");
  expect_bad_input("table " + path("deep.json"), "deep.json: nested deeper than 64 levels");

  // A sparsity of 1e309 (past the largest double) was nlohmann's raw out_of_range.406, exit 1.
  text = r.dump();
  text.replace(text.find("\"@\""), 3, "1e309");
  put("huge.json", text);
  expect_bad_input("show " + path("huge.json"), "huge.json: not valid JSON (number overflow parsing '1e309')");
}
