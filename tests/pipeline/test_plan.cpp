// The pipeline's parts without processes: the run/skip/resume decision, fingerprints, stage selection, the
// config reader, variables and requirements.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "pipeline/config.h"
#include "pipeline/plan.h"
#include "pipeline/requirements.h"
#include "pipeline/stages.h"
#include "pipeline/variables.h"
#include "vdsr/util/error.h"

using namespace vdsr::pipeline;
namespace fs = std::filesystem;

namespace {

StageFacts finished_before(const std::string& fp = "fp") {
  StageFacts f;
  f.fingerprint = fp;
  f.outputs_exist = true;
  StageState done;
  done.status = StageStatus::kDone;
  done.fingerprint = "fp";
  f.previous = done;
  return f;
}

StageFacts stopped_before(StageStatus status, bool can_resume) {
  StageFacts f = finished_before();
  f.previous->status = status;
  f.can_resume = can_resume;
  return f;
}

class PipelineFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vdsr-plan-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  // The message of the vdsr::Error that reading `config` throws.
  std::string config_error(const std::string& config) const {
    try {
      read_config(write("pipeline.json", config));
    } catch (const vdsr::Error& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path dir_;
};

}  // namespace

TEST(PipelinePlan, AFirstRunRunsAndAnUnchangedFinishedStageIsSkipped) {
  StageFacts first;
  first.fingerprint = "fp";
  EXPECT_EQ(decide(first), Action::kRun);
  EXPECT_EQ(decide(finished_before()), Action::kSkip);
}

TEST(PipelinePlan, AChangedFingerprintAMissingOutputOrAForceRunsAgain) {
  EXPECT_EQ(decide(finished_before("changed")), Action::kRun);
  StageFacts lost = finished_before();
  lost.outputs_exist = false;
  EXPECT_EQ(decide(lost), Action::kRun);
  StageFacts forced = finished_before();
  forced.forced = true;
  EXPECT_EQ(decide(forced), Action::kRun);
}

TEST(PipelinePlan, AStoppedStageResumesOnlyWithAResumeCommandAndTheSameFingerprint) {
  for (StageStatus s : {StageStatus::kRunning, StageStatus::kInterrupted, StageStatus::kFailed}) {
    EXPECT_EQ(decide(stopped_before(s, true)), Action::kResume) << vdsr::name_of(s);
    EXPECT_EQ(decide(stopped_before(s, false)), Action::kRun) << vdsr::name_of(s);
    StageFacts changed = stopped_before(s, true);
    changed.fingerprint = "changed";
    EXPECT_EQ(decide(changed), Action::kRun) << vdsr::name_of(s);
    StageFacts forced = stopped_before(s, true);
    forced.forced = true;
    EXPECT_EQ(decide(forced), Action::kRun) << "--from starts from scratch";
  }
}

TEST(PipelinePlan, FailuresSelectionAndMissingPrograms) {
  StageFacts f = finished_before("changed");
  f.earlier_failed = true;
  EXPECT_EQ(decide(f), Action::kNotRun);
  f = finished_before("changed");
  f.selected = false;
  EXPECT_EQ(decide(f), Action::kNotSelected);
  f = finished_before("changed");
  f.program_missing = true;
  EXPECT_EQ(decide(f), Action::kMissingProgram);
  f.dry_run = true;
  EXPECT_EQ(decide(f), Action::kRun) << "a dry run still shows the plan";
  f.optional = true;
  EXPECT_EQ(decide(f), Action::kUnavailable);
  EXPECT_EQ(decide(finished_before()), Action::kSkip);
}

TEST(PipelinePlan, SelectionFromAndOnly) {
  Selection from;
  from.from = 1;
  EXPECT_FALSE(from.forced(0));
  EXPECT_TRUE(from.forced(1) && from.forced(2));
  EXPECT_TRUE(from.selected(0));
  Selection only;
  only.only = 1;
  EXPECT_FALSE(only.selected(0) || only.selected(2));
  EXPECT_TRUE(only.selected(1) && only.forced(1));
}

TEST(PipelinePlan, TheFingerprintFollowsCommandsAndInputs) {
  Stage s;
  s.name = "a";
  s.commands = {"run a"};
  s.inputs = {"/in"};
  const std::string fp = fingerprint(s, {"sha256:1"});
  EXPECT_EQ(fp, fingerprint(s, {"sha256:1"}));
  EXPECT_NE(fp, fingerprint(s, {"sha256:2"}));
  Stage two = s;
  two.commands.push_back("then b");
  EXPECT_NE(fp, fingerprint(two, {"sha256:1"}));
  Stage resumable = s;
  resumable.resume_commands = {"resume a"};
  EXPECT_NE(fp, fingerprint(resumable, {"sha256:1"}));

  StageState done;
  done.fingerprint = "x";
  done.finished = "t1";
  const std::string token = produced_token("a", done, false);
  EXPECT_NE(token, produced_token("a", done, true)) << "a stage planned to run changes what is downstream";
  done.finished = "t2";
  EXPECT_NE(token, produced_token("a", done, false)) << "a rerun changes what is downstream";
}

TEST_F(PipelineFiles, FileTokensFollowContent) {
  const fs::path f = write("in.txt", "one");
  const std::string token = file_token(f);
  EXPECT_EQ(token, file_token(f));
  write("in.txt", "two");
  EXPECT_NE(token, file_token(f));
  EXPECT_EQ(file_token(dir_ / "absent"), "missing");
  fs::create_directories(dir_ / "images");
  const std::string folder = file_token(dir_ / "images");
  write("images/a.png", "x");
  EXPECT_NE(folder, file_token(dir_ / "images"));
}

TEST_F(PipelineFiles, ConfigReadsCommandsModesAndRejectsMistakes) {
  const Config c = read_config(write("pipeline.json", R"({
    "vars": {"n": 3, "flag": true},
    "profiles": {"default": {"name": "x"}},
    "modes": {"reference": {"requires": [{"path": "/p", "min_files": 2, "what": "w"}], "missing_hint": "get it"}},
    "stages": [{"name": "a", "command": "one"}, {"name": "b", "command": ["one", "two"], "modes": ["bootstrap"]}]
  })"));
  EXPECT_EQ(c.vars.at("n"), "3");
  EXPECT_EQ(c.vars.at("flag"), "true");
  EXPECT_EQ(c.stages[0].commands, std::vector<std::string>{"one"});
  EXPECT_EQ(c.stages[1].commands, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(c.modes.at("reference").requirements.at(0).min_files, 2);
  EXPECT_EQ(c.modes.at("reference").missing_hint, "get it");

  const std::string where = (dir_ / "pipeline.json").string() + ": ";
  EXPECT_EQ(config_error(R"({"stages": [{"name": "a", "command": "x", "ouputs": []}]})").rfind(
                where + "stages[0].ouputs: unknown key (valid keys: ", 0),
            0u);
  EXPECT_EQ(config_error(R"({"stages": [{"name": "a"}]})"),
            where + "stages[0].command: missing (expected a command or a list of commands)");
  EXPECT_EQ(config_error(R"({"stages": [{"name": "a", "command": "x"}, {"name": "a", "command": "y"}]})"),
            where + "stages[1].name: duplicate stage \"a\"");
  EXPECT_EQ(config_error(R"({"modes": {"m": {"requires": [{"path": "p", "min_files": -1}]}}, "stages": []})"),
            where + "modes.m.requires[0].min_files: expected an integer >= 0, got -1");
  EXPECT_EQ(config_error(R"({"vars": {"v": [1]}, "stages": []})"),
            where + "vars.v: expected a string, a number or true/false, got [1]");
}

TEST(PipelineVariables, ExpandNestedValuesAndRejectUnknownNamesAndLoops) {
  Variables v;
  v.set("a", "${b}/x");
  v.set("b", "root");
  v.set("list", "${b}/1 ${b}/2");
  v.set("loop", "${loop}");
  EXPECT_EQ(v.expand("${a}", "here"), "root/x");
  EXPECT_EQ(v.expand_list({"${list}", "z"}, "here"), (std::vector<std::string>{"root/1", "root/2", "z"}));
  EXPECT_THROW(v.expand("${typo}", "here"), vdsr::Error);
  try {
    v.expand("${typo}", "stage a.command");
  } catch (const vdsr::Error& e) {
    EXPECT_STREQ(e.what(), "stage a.command: unknown variable ${typo}");
  }
  EXPECT_THROW(v.expand("${loop}", "here"), vdsr::Error);
}

TEST_F(PipelineFiles, RequirementsUseTheModesWordingAndElseVars) {
  Mode mode;
  Requirement needed;
  needed.path = "${d}/needed";
  needed.what = "the needed file";
  Requirement extra;
  extra.path = "${d}/extra";
  extra.optional = true;
  extra.else_vars = {{"x", "without-extra"}};
  mode.requirements = {extra};
  mode.missing_title = "missing in ${d}:";
  mode.missing_hint = "get them";
  Variables vars;
  vars.set("d", dir_.string());
  check_requirements(mode, vars, "here");
  EXPECT_EQ(vars.expand("${x}", "here"), "without-extra");

  mode.requirements = {needed, extra};
  try {
    check_requirements(mode, vars, "here");
    FAIL() << "a missing requirement throws";
  } catch (const vdsr::Error& e) {
    EXPECT_EQ(std::string(e.what()), "missing in " + dir_.string() + ":\n  " + dir_.string() +
                                         "/needed: the needed file\n  " + dir_.string() + "/extra:  (optional)\nget them");
  }
}

TEST(PipelineStages, AProducerIsTheLastEarlierStageWritingThePath) {
  std::vector<Stage> stages(3);
  stages[0].outputs = {"/exp/a"};
  stages[1].outputs = {"/exp/a/b.txt"};
  EXPECT_EQ(producer(stages, "/exp/a/b.txt", 2), std::optional<size_t>(1));
  EXPECT_EQ(producer(stages, "/exp/a/c.txt", 2), std::optional<size_t>(0));
  EXPECT_EQ(producer(stages, "/exp/a/b.txt", 1), std::optional<size_t>(0));
  EXPECT_EQ(producer(stages, "/exp/ab", 2), std::nullopt);
}
