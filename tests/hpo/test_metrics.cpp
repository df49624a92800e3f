// A trial's metrics lines are outside input: bounded in depth and size, any bytes accepted without a crash.
// A bad line fails that trial only; the experiment, its --resume, its export and its report stay usable.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <fstream>

#include "hpo/scheduler.h"
#include "hpo/store.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

using namespace vdsr::hpo;
using vdsr::test::error_of;
namespace fs = std::filesystem;

namespace {

const std::string kTune = std::string(vdsr::test::bin_dir()) + "/vdsr-tune";

std::string deep(int levels) { return std::string(levels, '[') + "1" + std::string(levels, ']'); }

bool valid_utf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

TEST(MetricLine, DepthAndSizeAreBoundedBeforeParsing) {
  const std::string ok = R"({"type": "final", "value": {"default": 1.5, "more": )" + deep(kMaxMetricDepth - 2) + "}}";
  EXPECT_DOUBLE_EQ(parse_metric_line(ok).value, 1.5);
  const std::string too_deep = R"({"type": "final", "value": {"default": 1.5, "more": )" + deep(kMaxMetricDepth - 1) + "}}";
  EXPECT_NE(error_of([&] { parse_metric_line(too_deep); }).find("nested deeper than 8 levels"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_metric_line(R"({"type": "final", "value": )" + deep(1000) + "}"); })
                .find("nested deeper than 8 levels"),
            std::string::npos);
  // The line that crashed the tuner: 100,000 levels are 200 KB, over the size limit before any parsing.
  EXPECT_EQ(error_of([&] { parse_metric_line(R"({"type": "final", "value": )" + deep(100000) + "}"); }),
            "longer than 4096 bytes (the limit for one line)");
  const std::string long_line = R"({"type": "final", "value": {"default": 1, "note": ")" + std::string(5000, 'x') + "\"}}";
  EXPECT_EQ(error_of([&] { parse_metric_line(long_line); }), "longer than 4096 bytes (the limit for one line)");
}

TEST(MetricLine, InvalidUtf8IsAnErrorInValidUtf8) {
  for (const std::string& line : {std::string("{\"type\": \"final\", \"value\": 1, \"x\": \"\xff\xfe\"}"),
                                 std::string("\xc3\x28 not json"), std::string("{\"type\": \"fin\xe9\"}")}) {
    const std::string msg = error_of([&] { parse_metric_line(line); });
    EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
    EXPECT_TRUE(valid_utf8(msg)) << msg;
  }
  EXPECT_NE(error_of([] { parse_metric_line(R"({"type": "final", "value": 1e309})"); }).find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_metric_line(R"({"type": "intermediate", "step": 4294967296, "value": 1})"); })
                .find("\"step\" must be an integer >= 0, got 4294967296"),
            std::string::npos);
}

// Trial 1 writes a line nested 1,000 deep, trial 2 invalid UTF-8, trial 3 a 4 MB line with no end,
// trial 4 a good result.
const char* kTrialPy = R"(import os, sys
tid = int(os.environ["VDSR_TRIAL_ID"])
with open(os.environ["VDSR_TRIAL_METRICS"], "ab") as f:
    if tid == 1:
        f.write(b'{"type": "final", "value": ' + b'[' * 1000 + b'1' + b']' * 1000 + b'}\n')
    elif tid == 2:
        f.write(b'{"type": "final", "value": {"default": 1.0, "note": "caf\xe9 \xff"}}\n')
    elif tid == 3:
        f.write(b'{"type": "final", "value": {"default": 1.0, "note": "' + b'x' * (4 << 20))
    f.write(b'{"type": "final", "value": {"default": %d}}\n' % tid)
)";

class MetricsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vdsr::test::scratch_dir("vdsr_hpo_metrics");
    std::ofstream(dir_ / "trial.py") << kTrialPy;
  }

  int tune(const std::string& args, std::string* err = nullptr) const {
    const std::string cmd = "cd '" + dir_.string() + "' && '" + kTune + "' " + args + " > out.txt 2> err.txt";
    const int ws = std::system(cmd.c_str());
    if (err) *err = vdsr::test::read_text(dir_ / "err.txt");
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
  }

  void write_config(const json& j) const { std::ofstream(dir_ / "exp.json") << j.dump(2); }

  json config(int trials) const {
    return {{"searchSpace", {{"x", {{"_type", "uniform"}, {"_value", {0, 1}}}}}},
            {"trialCommand", "/usr/bin/python3 trial.py"},
            {"trialCodeDirectory", "."},
            {"trialConcurrency", 1},
            {"maxTrialNumber", trials},
            {"tuner", {{"name", "Random"}, {"classArgs", {{"seed", 3}}}}}};
  }

  fs::path dir_;
};

TEST_F(MetricsCli, ABadMetricsLineFailsThatTrialOnly) {
  write_config(config(4));
  std::string err;
  ASSERT_EQ(tune("--config exp.json --dir run", &err), 0) << err;  // was SIGSEGV (trial 1), exit 1 (trial 2)
  const auto trials = Store::open(dir_ / "run").trials();
  ASSERT_EQ(trials.size(), 4u);
  const char* expected[] = {"nested deeper than 8 levels", "not valid JSON", "longer than 4096 bytes"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(trials[i].status, TrialState::kFailed) << i;
    EXPECT_NE(trials[i].message.find("protocol error: metrics.jsonl line 1: "), std::string::npos) << trials[i].message;
    EXPECT_NE(trials[i].message.find(expected[i]), std::string::npos) << trials[i].message;
    EXPECT_TRUE(valid_utf8(trials[i].message)) << trials[i].message;
    EXPECT_TRUE(trials[i].intermediate.empty());
  }
  EXPECT_EQ(trials[3].status, TrialState::kSucceeded) << trials[3].message;
  EXPECT_EQ(trials[3].final, 4.0);
  EXPECT_LT(fs::file_size(dir_ / "run" / "report.json"), 64u * 1024);  // nothing unbounded was stored

  // The experiment stays usable: resume, export and the report all read it.
  EXPECT_EQ(tune("--resume run", &err), 0) << err;
  ASSERT_EQ(tune("--export run --format json --out export.json", &err), 0) << err;
  const json exported = json::parse(vdsr::test::read_text(dir_ / "export.json"));
  ASSERT_EQ(exported.size(), 4u);
  EXPECT_EQ(exported[1]["status"], "FAILED");
  EXPECT_EQ(tune("--export run --format csv", &err), 0) << err;
}

TEST_F(MetricsCli, OutOfRangeIntegersAreReportedAsWritten) {
  json j = config(1);
  j["trialConcurrency"] = 2147483648LL;
  write_config(j);
  std::string err;
  EXPECT_EQ(tune("--config exp.json --dir run", &err), 2);
  EXPECT_NE(err.find("trialConcurrency: expected an integer >= 1, got 2147483648"), std::string::npos) << err;
  EXPECT_EQ(err.find("-2147483648"), std::string::npos) << err;
}

}  // namespace
