// vdsr-pipeline: which stages run, skip, resume and fail, on stub stages (tiny shell commands that log
// their runs), plus a dry run of the real configs/pipeline.json.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "tests/test_paths.h"
#include "tests/cli_runner.h"
#include "tests/process_scan.h"
#include "tests/test_assets.h"
#include "tests/test_util.h"

using vdsr::test::run_command;
using vdsr::test::tool;
namespace fs = std::filesystem;

namespace {

// Three stages a -> b -> c. Each appends its name to ${root}/log; b fails while ${root}/fail_b exists
// and has a resume command; a derives a JSON file from a template the way the tune stage does.
const char* kStubConfig = R"({
  "vars": {"x": "1"},
  "profiles": {"default": {"name": "stub"}, "other": {"name": "stub", "x": "2"}},
  "modes": {"reference": {"requires": [{"path": "${assets}/needed.txt", "what": "the needed file"},
                                       {"path": "${assets}/extra", "optional": true, "what": "extras",
                                        "else_vars": {"x": "no-extra"}}],
                          "missing_hint": "Get them with scripts/get-assets.sh, or run with --bootstrap DIR."}},
  "summary": "${exp}/c.txt",
  "stages": [
    {"name": "a", "inputs": ["${root}/in.txt"], "outputs": ["${exp}/a.txt"],
     "write_json": [{"path": "${exp}/derived.json", "from": "${root}/template.json", "set": {"tool": "${bin}/t"}}],
     "command": "echo a >> ${root}/log && cat ${root}/in.txt > ${exp}/a.txt"},
    {"name": "b", "inputs": ["${exp}/a.txt", "${root}/b.cfg"], "outputs": ["${exp}/b.txt"],
     "command": "echo b >> ${root}/log && test ! -f ${root}/fail_b && cat ${exp}/a.txt ${root}/b.cfg > ${exp}/b.txt",
     "resume_command": "echo b-resume >> ${root}/log && cat ${exp}/a.txt ${root}/b.cfg > ${exp}/b.txt"},
    {"name": "c", "inputs": ["${exp}/b.txt"], "outputs": ["${exp}/c.txt"],
     "command": "echo c >> ${root}/log && sleep ${sleep} && echo x${x} > ${exp}/c.txt"}
  ]
})";

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("vdsr-pipeline-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(root_ / "assets");
    write(root_ / "assets" / "needed.txt", "ok\n");
    fs::create_directories(root_ / "assets" / "extra");
    write(root_ / "in.txt", "input\n");
    write(root_ / "b.cfg", "b-config\n");
    write(root_ / "template.json", R"({"keep": 1, "tool": "old"})");
    std::string config = kStubConfig;
    config.replace(config.find("${sleep}"), 8, "0");
    write(root_ / "pipeline.json", config);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  // Runs the pipeline in root_ (its experiments/ go there) and returns the result.
  vdsr::test::CommandResult pipeline(const std::string& args, const std::string& assets = "") const {
    return run_command("cd " + root_.string() + " && VDSR_ASSETS=" + (assets.empty() ? (root_ / "assets").string() : assets) +
                       " " + tool("vdsr-pipeline") + " --config pipeline.json --bin /opt/tools " + args);
  }
  // The project's configs/pipeline.json, and a dry run of it in root_ with the real assets.
  static fs::path real_config() { return fs::path(vdsr::test::source_dir()) / "configs" / "pipeline.json"; }
  vdsr::test::CommandResult plan_real_config(const std::string& flags) const {
    return run_command("cd " + root_.string() + " && VDSR_ASSETS=" + fs::absolute(vdsr::test::assets_path()).string() +
                       " " + tool("vdsr-pipeline") + " --dry-run --config " + real_config().string() + " " + flags);
  }
  // The stage runs logged since the last call, e.g. "a b c".
  std::string runs() {
    const std::string all = vdsr::test::read_text(root_ / "log");
    std::string fresh = all.substr(seen_);
    seen_ = all.size();
    for (auto& ch : fresh)
      if (ch == '\n') ch = ' ';
    while (!fresh.empty() && fresh.back() == ' ') fresh.pop_back();
    return fresh;
  }
  fs::path exp() const { return root_ / "experiments" / "stub"; }
  nlohmann::json state() const { return nlohmann::json::parse(vdsr::test::read_text(exp() / "pipeline_state.json")); }

  fs::path root_;
  size_t seen_ = 0;
};

}  // namespace

TEST_F(PipelineTest, FirstRunRunsEveryStageAndARerunSkipsThemAll) {
  auto r = pipeline("");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(runs(), "a b c");
  EXPECT_NE(r.output.find("x1"), std::string::npos) << "the summary file goes to stdout: " << r.output;
  EXPECT_EQ(vdsr::test::read_text(exp() / "b.txt"), "input\nb-config\n");
  // The derived JSON: the template with the variables substituted into "set".
  const auto derived = nlohmann::json::parse(vdsr::test::read_text(exp() / "derived.json"));
  EXPECT_EQ(derived["keep"], 1);
  EXPECT_EQ(derived["tool"], "/opt/tools/t");
  for (const char* s : {"a", "b", "c"}) EXPECT_EQ(state()["stages"][s]["status"], "done") << s;
  const auto report = nlohmann::json::parse(vdsr::test::read_text(exp() / "report.json"));
  EXPECT_EQ(report["stage"], "pipeline");
  EXPECT_EQ(report["pipeline"]["status"], "done");
  ASSERT_EQ(report["pipeline"]["stages"].size(), 3u);
  EXPECT_EQ(report["pipeline"]["stages"][1]["status"], "done");
  EXPECT_FALSE(report["pipeline"]["stages"][1]["commands"].empty());
  // Paths under the working directory are relative, those under the assets ${assets}/...
  EXPECT_EQ(vdsr::test::read_text(exp() / "report.json").find(root_.string()), std::string::npos);
  EXPECT_EQ(report["config"]["vars"]["root"], ".");
  EXPECT_EQ(report["config"]["vars"]["exp"], "experiments/stub");
  EXPECT_EQ(report["config"]["vars"]["assets"], "${assets}");
  EXPECT_EQ(report["config"]["config"], "pipeline.json");

  r = pipeline("");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(runs(), "");
  const auto again = nlohmann::json::parse(vdsr::test::read_text(exp() / "report.json"));
  for (const auto& s : again["pipeline"]["stages"]) EXPECT_TRUE(s["skipped"].get<bool>()) << s.dump();
}

TEST_F(PipelineTest, AChangedInputRerunsItsStageAndTheLaterOnesOnly) {
  ASSERT_EQ(pipeline("").code, 0);
  runs();
  write(root_ / "b.cfg", "b-config v2\n");
  auto r = pipeline("");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(runs(), "b c");
  EXPECT_EQ(vdsr::test::read_text(exp() / "b.txt"), "input\nb-config v2\n");
  // A changed profile value changes only the commands that use it.
  r = pipeline("--profile other");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(runs(), "c");
  EXPECT_EQ(vdsr::test::read_text(exp() / "c.txt"), "x2\n");
  // A missing output reruns its stage, and what consumes it.
  fs::remove(exp() / "a.txt");
  ASSERT_EQ(pipeline("--profile other").code, 0);
  EXPECT_EQ(runs(), "a b c");
  // A changed first input: everything downstream of it.
  write(root_ / "in.txt", "input v2\n");
  ASSERT_EQ(pipeline("--profile other").code, 0);
  EXPECT_EQ(runs(), "a b c");
  // A missing optional asset: its else_vars replace variables (here the one only c uses).
  fs::remove(root_ / "assets" / "extra");
  r = pipeline("--profile other");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(runs(), "c");
  EXPECT_EQ(vdsr::test::read_text(exp() / "c.txt"), "xno-extra\n");
  EXPECT_NE(r.output.find("optional asset missing"), std::string::npos) << r.output;
}

TEST_F(PipelineTest, FromForcesAStageAndEveryLaterOne) {
  ASSERT_EQ(pipeline("").code, 0);
  runs();
  auto r = pipeline("--from b");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(runs(), "b c");
  r = pipeline("--only a");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(runs(), "a");
  // a produced new output: what depends on it is out of date now.
  ASSERT_EQ(pipeline("").code, 0);
  EXPECT_EQ(runs(), "b c");
  r = pipeline("--from nope");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("no stage \"nope\""), std::string::npos) << r.output;
}

TEST_F(PipelineTest, AFailedStageStopsThePipelineAndARerunResumesIt) {
  write(root_ / "fail_b", "");
  auto r = pipeline("");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(runs(), "a b");
  EXPECT_NE(r.output.find("stage b failed"), std::string::npos) << r.output;
  EXPECT_EQ(state()["stages"]["a"]["status"], "done");
  EXPECT_EQ(state()["stages"]["b"]["status"], "failed");
  EXPECT_FALSE(state()["stages"].contains("c"));
  EXPECT_EQ(nlohmann::json::parse(vdsr::test::read_text(exp() / "report.json"))["pipeline"]["stages"][2]["status"], "not-run");

  fs::remove(root_ / "fail_b");
  r = pipeline("");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(runs(), "b-resume c");  // a kept; b continues with its resume command
}

TEST_F(PipelineTest, AStopSignalInterruptsTheStageAndTheNextRunContinues) {
  std::string config = kStubConfig;
  config.replace(config.find("${sleep}"), 8, "20");
  write(root_ / "pipeline.json", config);
  const auto r = run_command("cd " + root_.string() + " && (VDSR_ASSETS=" + (root_ / "assets").string() + " " +
                             tool("vdsr-pipeline") + " --config pipeline.json --bin /opt/tools & p=$!; "
                             "while ! grep -q c log 2>/dev/null; do sleep 0.1; done; kill -TERM $p; wait $p; "
                             "echo exit=$?)");
  EXPECT_NE(r.output.find("exit=130"), std::string::npos) << r.output;
  EXPECT_EQ(runs(), "a b c");
  EXPECT_EQ(state()["stages"]["c"]["status"], "interrupted");
  // c was interrupted and has no resume command: it runs again (here with a quick sleep).
  std::string quick = kStubConfig;
  quick.replace(quick.find("${sleep}"), 8, "0");
  write(root_ / "pipeline.json", quick);
  ASSERT_EQ(pipeline("").code, 0);
  EXPECT_EQ(runs(), "c");
}

TEST_F(PipelineTest, KillNineLeavesNoStageProcess) {
  // The stage's sleep has a duration no other process uses, to find it in /proc.
  const std::string marker = std::to_string(300 + getpid() % 1000) + ".25";
  std::string config = kStubConfig;
  config.replace(config.find("${sleep}"), 8, marker);
  write(root_ / "pipeline.json", config);
  const auto r = run_command("cd " + root_.string() + " && (VDSR_ASSETS=" + (root_ / "assets").string() + " " +
                             tool("vdsr-pipeline") + " --config pipeline.json --bin /opt/tools & p=$!; "
                             "while ! grep -q c log 2>/dev/null; do sleep 0.1; done; sleep 0.3; kill -KILL $p; "
                             "wait $p; echo exit=$?)");
  EXPECT_NE(r.output.find("exit=137"), std::string::npos) << r.output;
  EXPECT_TRUE(vdsr::test::eventually([&] { return vdsr::test::processes_with_argument(marker).empty(); }, 5))
      << "the stage's sleep outlived vdsr-pipeline";
  for (pid_t p : vdsr::test::processes_with_argument(marker)) kill(p, SIGKILL);  // what a failure left
}

TEST_F(PipelineTest, MissingAssetsExitWith2AndNameWhatIsNeeded) {
  const auto r = pipeline("", (root_ / "nowhere").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find((root_ / "nowhere" / "needed.txt").string() + ": the needed file"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("scripts/get-assets.sh"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--bootstrap"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(root_ / "experiments"));
  EXPECT_FALSE(fs::exists(root_ / "log"));
}

TEST_F(PipelineTest, BadConfigsAndDryRunsRunNothing) {
  auto r = pipeline("--dry-run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("c: would run"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(root_ / "log"));
  EXPECT_FALSE(fs::exists(exp() / "pipeline_state.json"));

  write(root_ / "pipeline.json", R"({"profiles": {"default": {}}, "stages": [{"name": "a", "command": "echo ${typo}"}]})");
  r = pipeline("");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("unknown variable ${typo}"), std::string::npos) << r.output;
  write(root_ / "pipeline.json", R"({"profiles": {"default": {}}, "stages": [{"name": "a", "comand": "x"}]})");
  r = pipeline("");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("pipeline.json: stages[0].comand: unknown key"), std::string::npos) << r.output;
  write(root_ / "pipeline.json", R"({"profiles": {"default": {}}, "stages": [{"name": "a", "command": "true", "inputs": ["${root}/absent"]}]})");
  r = pipeline("");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("stage a: " + (root_ / "absent").string()), std::string::npos) << r.output;
}

// The real config parses, resolves every variable, and plans its stages in both modes and profiles.
TEST_F(PipelineTest, RealConfigPlansEveryStage) {
  VDSR_REQUIRE_PATH(vdsr::test::assets_path() / "Set5");
  for (const char* profile : {"", "--quick"}) {
    const auto r = plan_real_config(profile);
    ASSERT_EQ(r.code, 0) << r.output;
    for (const char* stage : {"data", "eval", "prune", "tune", "train", "quantize", "export", "report"})
      EXPECT_NE(r.output.find(std::string("] ") + stage + ": would run"), std::string::npos) << stage << "\n" << r.output;
  }
  fs::create_directories(root_ / "photos");
  for (int i = 0; i < 6; ++i) write(root_ / "photos" / ("p" + std::to_string(i) + ".png"), "");
  const auto r = run_command("cd " + root_.string() + " && VDSR_ASSETS=" + (root_ / "nowhere").string() + " " +
                             tool("vdsr-pipeline") + " --dry-run --quick --bootstrap photos --config " + real_config().string());
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* stage : {"split", "data", "bootstrap", "eval", "prune", "tune", "train", "quantize", "export", "report"})
    EXPECT_NE(r.output.find(std::string("] ") + stage + ": would run"), std::string::npos) << stage << "\n" << r.output;
  EXPECT_NE(r.output.find("--no-eval"), std::string::npos) << "no Set5 to evaluate the pruned model on";
}

namespace {

// The commands of each stage in a dry run's output ("[i/n] stage: would run" then indented commands).
std::map<std::string, std::string> planned_commands(const std::string& output) {
  std::map<std::string, std::string> commands;
  std::istringstream lines(output);
  std::string current;
  for (std::string line; std::getline(lines, line);) {
    const size_t tag = line.find("] "), would = line.find(": would ");
    if (tag != std::string::npos && would != std::string::npos) {
      current = line.substr(tag + 2, would - tag - 2);
    } else if (!current.empty() && line.rfind("  ", 0) == 0) {
      commands[current] += line + "\n";
    }
  }
  return commands;
}

}  // namespace

// Model selection never sees the test sets: the validation images of the real config are split off the
// training images, patches come from the rest, the fine-tune validates on them, and Set5/Set14 appear
// only in the stages that make the final table.
TEST_F(PipelineTest, RealConfigHoldsValidationImagesOutAndTestSetsForTheTable) {
  VDSR_REQUIRE_PATH(vdsr::test::assets_path() / "Set5");
  const auto r = plan_real_config("");
  ASSERT_EQ(r.code, 0) << r.output;
  auto commands = planned_commands(r.output);
  const std::string split = (root_ / "experiments" / "pipeline" / "split").string();
  const nlohmann::json json = nlohmann::json::parse(vdsr::test::read_text(real_config()));
  std::istringstream names(json["vars"]["val_images"].get<std::string>());
  int held_out = 0;
  for (std::string name; std::getline(names, name, ',');) {
    EXPECT_NE(commands["split"].find(name), std::string::npos) << name;
    ++held_out;
  }
  EXPECT_GE(held_out, 5);
  EXPECT_NE(commands["data"].find("--images " + split + "/train "), std::string::npos) << commands["data"];
  EXPECT_NE(commands["train"].find("--val " + split + "/val "), std::string::npos) << commands["train"];
  // The trials validate on ${val} in every profile (the tune stage's trial command is in write_json).
  EXPECT_NE(json["vars"]["trial_val"].get<std::string>().find("--val ${val}"), std::string::npos);
  for (const auto& [profile, vars] : json["profiles"].items()) {
    EXPECT_FALSE(vars.contains("val") || vars.contains("trial_val")) << profile;
  }
  for (const char* stage : {"split", "data", "tune", "prune"}) {
    EXPECT_EQ(commands[stage].find("Set5"), std::string::npos) << stage << ": " << commands[stage];
    EXPECT_EQ(commands[stage].find("Set14"), std::string::npos) << stage << ": " << commands[stage];
  }
}

// The int8 row of the table: the quantize stage calibrates the tuned model on the training patches with the
// recommended flags (docs/quantization.md), evaluates it in int8 on the table's datasets and writes the QDQ
// ONNX; the bench stage times it in int8; the report stage reads what quantize wrote.
TEST_F(PipelineTest, RealConfigQuantizesTheTunedModelForTheInt8Row) {
  VDSR_REQUIRE_PATH(vdsr::test::assets_path() / "Set5");
  const auto r = plan_real_config("--quick");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto train_at = r.output.find("] train: would run"), quantize_at = r.output.find("] quantize: would run");
  ASSERT_NE(quantize_at, std::string::npos) << r.output;
  EXPECT_LT(train_at, quantize_at) << "quantize needs the tuned model";

  auto commands = planned_commands(r.output);
  const std::string exp = (root_ / "experiments" / "pipeline-quick").string();
  const std::string scales = exp + "/quantize/scales.json";
  const std::string& quantize = commands["quantize"];
  const std::vector<std::string> parts = {
      "vdsr-quantize --model " + exp + "/train/tuned.ckpt --data " + exp + "/data/train.h5 ",
      "--fp32-layers residual_layer.0.conv", "--out " + scales, "eval_int8.sh", "Set5",
      "vdsr-export --onnx --model " + exp + "/train/tuned.ckpt --int8-scales " + scales};
  for (const auto& part : parts)
    EXPECT_NE(quantize.find(part), std::string::npos) << part << "\n" << quantize;
  EXPECT_NE(commands["bench"].find("--model tuned-int8=" + exp + "/train/tuned.ckpt "), std::string::npos) << commands["bench"];
  EXPECT_NE(commands["bench"].find("--precision int8 --int8-scales " + scales), std::string::npos) << commands["bench"];

  // The report stage lists the quantize outputs as inputs, so a new int8 result redoes the table.
  const nlohmann::json json = nlohmann::json::parse(vdsr::test::read_text(real_config()));
  for (const auto& stage : json["stages"]) {
    if (stage["name"] != "report") continue;
    const std::string inputs = stage["inputs"].dump();
    EXPECT_NE(inputs.find("${exp}/quantize/eval"), std::string::npos) << inputs;
    EXPECT_NE(inputs.find("${exp}/quantize/export.json"), std::string::npos) << inputs;
  }
}

namespace {

// Every string in `value` that starts with "/" (an absolute path), with where it is.
void absolute_strings(const nlohmann::json& value, const std::string& where, std::vector<std::string>& found) {
  if (value.is_string() && value.get<std::string>().rfind('/', 0) == 0) found.push_back(where + ": " + value.get<std::string>());
  if (value.is_object())
    for (const auto& [key, item] : value.items()) absolute_strings(item, where + "." + key, found);
  if (value.is_array())
    for (size_t i = 0; i < value.size(); ++i) absolute_strings(value[i], where + "[" + std::to_string(i) + "]", found);
}

}  // namespace

// The whole study with the quick profile (2-3 minutes on 2 cores, so only when VDSR_TEST_PIPELINE_QUICK=1):
// it finishes, its reports hold no absolute path (nor the machine's root anywhere), and the data report's
// images exclude every validation image.
TEST(PipelineQuick, RunsWithPortableReportsAndHeldOutValidationImages) {
  if (!std::getenv("VDSR_TEST_PIPELINE_QUICK")) GTEST_SKIP() << "set VDSR_TEST_PIPELINE_QUICK=1 to run the quick study";
  VDSR_REQUIRE_PATH(vdsr::test::assets_path() / "train291");
  const fs::path source = vdsr::test::source_dir();
  const std::string name = "test-quick-" + std::to_string(getpid());
  const fs::path exp = source / "experiments" / name;
  const auto r = run_command("cd " + source.string() + " && VDSR_ASSETS=" + fs::absolute(vdsr::test::assets_path()).string() +
                             " " + tool("vdsr-pipeline") + " --quick --name " + name + " --threads 2");
  ASSERT_EQ(r.code, 0) << r.output;
  std::vector<std::string> found;
  int reports = 0;
  for (const auto& e : fs::recursive_directory_iterator(exp)) {
    const std::string file = e.path().filename().string();
    const bool report = file == "report.json" || e.path().parent_path().filename() == "eval" ||
                        e.path().parent_path().filename() == "bench" || file.rfind("eval_", 0) == 0;
    if (!report || e.path().extension() != ".json") continue;
    ++reports;
    const std::string text = vdsr::test::read_text(e.path());
    const auto relative = fs::relative(e.path(), exp).string();
    if (text.find(source.string()) != std::string::npos) found.push_back(relative + ": holds " + source.string());
    absolute_strings(nlohmann::json::parse(text), relative, found);
  }
  EXPECT_GE(reports, 9);
  EXPECT_TRUE(found.empty()) << ::testing::PrintToString(found);
  const auto config = nlohmann::json::parse(vdsr::test::read_text(source / "configs" / "pipeline.json"));
  const std::string held = "," + config["vars"]["val_images"].get<std::string>() + ",";
  const auto used = nlohmann::json::parse(vdsr::test::read_text(exp / "data" / "report.json"))["data"]["used_images"];
  ASSERT_FALSE(used.empty());
  for (const auto& image : used) EXPECT_EQ(held.find("," + image.get<std::string>() + ","), std::string::npos) << image;
  // The variant table has its int8 row: PSNR from the int8 engine, size of the QDQ file, a latency.
  const std::string table = vdsr::test::read_text(exp / "report" / "table.md");
  const auto int8_row = table.find("\n| int8 | ");
  ASSERT_NE(int8_row, std::string::npos) << table;
  const std::string row = table.substr(int8_row + 1, table.find('\n', int8_row + 1) - int8_row - 1);
  EXPECT_NE(row.find(" onnx "), std::string::npos) << row;
  EXPECT_NE(row.find(" @256\u00d7256"), std::string::npos) << row;
  EXPECT_TRUE(fs::exists(exp / "quantize" / "vdsr_int8.onnx"));
  fs::remove_all(exp);
}
