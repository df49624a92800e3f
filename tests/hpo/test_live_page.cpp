// The live page of an experiment (DIR/report.html): written atomically, valid HTML (parsed by Python's
// html.parser under a strict nesting check), one row per trial of the store, a reload only while running;
// the scheduler's events that drive it; and `vdsr-report show DIR`.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "hpo/live_page.h"
#include "hpo/scheduler.h"
#include "hpo/store.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"
#include "vdsr/util/json_io.h"

using namespace vdsr::hpo;
namespace fs = std::filesystem;

namespace {

// Parses the page with html.parser, checks every element is closed in order (void elements aside) and
// prints {"trials": [ids of the trial rows], "refresh": whether a meta refresh is there}; exit 1 on a fault.
const char* kCheckPy = R"(import json, sys
from html.parser import HTMLParser
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "wbr", "area", "base", "source"}
class Check(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.trials, self.refresh, self.doctype = [], [], False, False
    def handle_decl(self, decl):
        self.doctype = decl.lower() == "doctype html"
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and a.get("http-equiv") == "refresh":
            self.refresh = True
        if tag == "tr" and a.get("id", "").startswith("trial-"):
            self.trials.append(int(a["id"][6:]))
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1][0] != tag:
            sys.exit("unexpected </%s> at %s; open: %s" % (tag, self.getpos(), self.stack[-3:]))
        self.stack.pop()
c = Check()
c.feed(open(sys.argv[1], encoding="utf-8").read())
c.close()
if not c.doctype:
    sys.exit("no <!DOCTYPE html>")
if c.stack:
    sys.exit("unclosed: %s" % c.stack)
print(json.dumps({"trials": c.trials, "refresh": c.refresh}))
)";

struct PageCheck {
  bool valid = false;
  std::string error;
  std::vector<int> trials;
  bool refresh = false;
};

PageCheck check_page(const fs::path& page) {
  const fs::path script = page.parent_path() / "check_page.py";
  std::ofstream(script) << kCheckPy;
  const fs::path out = page.parent_path() / "check_out.txt";
  const std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + page.string() + "' > '" + out.string() + "' 2>&1";
  const int ws = std::system(cmd.c_str());
  PageCheck c;
  const std::string text = vdsr::test::read_text(out);
  if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
    c.error = text;
    return c;
  }
  const json j = json::parse(text);
  c.valid = true;
  c.trials = j["trials"].get<std::vector<int>>();
  c.refresh = j["refresh"].get<bool>();
  return c;
}

json experiment_config() {
  return {{"experimentName", "live <test>"},
          {"searchSpace",
           {{"x", {{"_type", "uniform"}, {"_value", {0, 1}}}},
            {"wd", {{"_type", "choice"}, {"_value", {1e-4, 1e-5}}}}}},
          {"trialCommand", "/usr/bin/python3 trial.py"},
          {"trialCodeDirectory", "."},
          {"trialConcurrency", 2},
          {"maxTrialNumber", 5},
          {"tuner", {{"name", "Random"}, {"classArgs", {{"seed", 3}}}}},
          {"trainingService", {{"platform", "local"}}}};
}

// A store with one trial in each state.
void fill(Store& s) {
  const double t0 = now_seconds() - 100;
  s.add_trial(1, {{"x", 0.25}, {"wd", 1e-4}}, t0, std::nullopt);
  s.add_metric(1, {MetricType::kIntermediate, 1, 0.5, 0.5});
  s.add_metric(1, {MetricType::kIntermediate, 2, 0.3, 0.3});
  s.finish_trial(1, TrialState::kSucceeded, t0 + 10, 0.2, 0.2, 0, "");
  s.add_trial(2, {{"x", 0.75}, {"wd", 1e-5}}, t0 + 10, std::nullopt);
  s.finish_trial(2, TrialState::kFailed, t0 + 12, std::nullopt, json(), 1, "exit code 1 <see stderr.log>");
  s.add_trial(3, {{"x", 0.5}, {"wd", 1e-4}}, t0 + 12, std::nullopt);
  s.add_metric(3, {MetricType::kIntermediate, 1, 0.4, 0.4});
  s.set_trial_job(3, "42", 2);  // retried: its attempt reports to a metrics file of its own
}

}  // namespace

TEST(LivePage, IsValidHtmlListingEveryTrialAndReloadsOnlyWhileRunning) {
  const fs::path dir = vdsr::test::scratch_dir("vdsr_live_page");
  Store s = Store::create(dir, experiment_config());
  fill(s);
  write_experiment_page(dir, s, "running", 42);
  PageCheck c = check_page(dir / "report.html");
  ASSERT_TRUE(c.valid) << c.error;
  EXPECT_EQ(c.trials, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(c.refresh);
  const std::string page = vdsr::test::read_text(dir / "report.html");
  for (const char* expected : {"live &lt;test&gt;", "RUNNING", "FAILED", "SUCCEEDED", "trials/2/stderr.log",
                               "trials/1/metrics.jsonl", "trials/3/metrics.attempt2.jsonl", "class=\"curve\"",
                               "class=\"best\"", "class=\"trial\""})
    EXPECT_NE(page.find(expected), std::string::npos) << expected;
  EXPECT_EQ(page.find("<script"), std::string::npos) << "self-contained, no scripts";

  s.finish_trial(3, TrialState::kSucceeded, now_seconds(), 0.1, 0.1, 0, "");
  write_experiment_page(dir, s, "done", 50);
  c = check_page(dir / "report.html");
  ASSERT_TRUE(c.valid) << c.error;
  EXPECT_EQ(c.trials, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(c.refresh) << "a finished experiment's page stays still";
  fs::remove_all(dir);
}

TEST(LivePage, IsWrittenAtomically) {
  const fs::path dir = vdsr::test::scratch_dir("vdsr_live_atomic");
  Store s = Store::create(dir, experiment_config());
  fill(s);
  write_experiment_page(dir, s, "running", 1);
  // A reader polling the page while it is rewritten with ever more trials only ever sees whole pages.
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    while (!stop) {
      const std::string text = vdsr::test::read_text(dir / "report.html");
      ++reads;
      if (text.rfind("<!DOCTYPE html>", 0) != 0 || text.size() < 8 || text.substr(text.size() - 8) != "</html>\n") ++torn;
    }
  });
  for (int id = 4; id < 44; ++id) {
    s.add_trial(id, {{"x", 0.01 * id}, {"wd", 1e-5}}, now_seconds(), std::nullopt);
    write_experiment_page(dir, s, "running", id);
  }
  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0) << "a reader saw a partly written page";
  for (const auto& e : fs::directory_iterator(dir))  // no temp file left beside it
    EXPECT_TRUE(e.path().filename() == "report.html" || e.path().filename().string().rfind("experiment.db", 0) == 0)
        << e.path();
  const PageCheck c = check_page(dir / "report.html");
  ASSERT_TRUE(c.valid) << c.error;
  EXPECT_EQ(c.trials.size(), 43u);
  fs::remove_all(dir);
}

TEST(LivePage, SchedulerEventsRewriteThePageAfterEveryTrial) {
  const fs::path dir = vdsr::test::scratch_dir("vdsr_live_events");
  std::ofstream(dir / "trial.py") << R"(import json, os
p = json.load(open(os.environ["VDSR_TRIAL_PARAMS"]))
with open(os.environ["VDSR_TRIAL_METRICS"], "a") as f:
    for s in range(2):
        f.write(json.dumps({"type": "intermediate", "step": s + 1, "value": p["x"] + 1.0 / (s + 1)}) + "\n")
    f.write(json.dumps({"type": "final", "value": p["x"]}) + "\n")
)";
  json config = experiment_config();
  config["trialCodeDirectory"] = dir.string();
  Store::create(dir, config);
  std::vector<EventKind> kinds;
  std::map<int, std::set<EventKind>> by_trial;
  int checked = 0;
  LivePage page(dir, 0);
  RunOptions opt;
  opt.on_event = [&](const ExperimentEvent& e) {
    kinds.push_back(e.kind);
    if (e.trial_id) by_trial[e.trial_id].insert(e.kind);
    page(e);
    if (e.kind == EventKind::TrialEnded) {  // the page lists every trial the store holds at that moment
      const PageCheck c = check_page(dir / "report.html");
      EXPECT_TRUE(c.valid) << c.error;
      std::vector<int> ids;
      for (const auto& t : e.store.trials()) ids.push_back(t.id);
      EXPECT_EQ(c.trials, ids);
      ++checked;
    }
  };
  ASSERT_EQ(run_experiment(dir, opt), RunEnd::Finished);
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.front(), EventKind::RunStarted);
  EXPECT_EQ(kinds.back(), EventKind::Finished);
  ASSERT_EQ(by_trial.size(), 5u);
  for (const auto& [id, seen] : by_trial)
    EXPECT_EQ(seen, (std::set<EventKind>{EventKind::TrialStarted, EventKind::Intermediate, EventKind::TrialEnded})) << id;
  EXPECT_EQ(checked, 5);
  const PageCheck c = check_page(dir / "report.html");
  ASSERT_TRUE(c.valid) << c.error;
  std::vector<int> ids;
  for (const auto& t : Store::open(dir).trials()) ids.push_back(t.id);
  EXPECT_EQ(c.trials, ids);
  EXPECT_FALSE(c.refresh);
  fs::remove_all(dir);
}

TEST(LivePage, VdsrReportShowSummarisesAnExperimentFolder) {
  const fs::path dir = vdsr::test::scratch_dir("vdsr_live_show");
  {
    Store s = Store::create(dir, experiment_config());
    fill(s);
  }
  const fs::path out = dir / "show.txt";
  const std::string cmd = "'" + std::string(vdsr::test::bin_dir()) + "/vdsr-report' show '" + dir.string() + "' > '" +
                          out.string() + "' 2>&1";
  const int ws = std::system(cmd.c_str());
  const std::string text = vdsr::test::read_text(out);
  ASSERT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << text;
  for (const char* expected : {"experiment 'live <test>'", "not running", "2 done of 5", "1 left running", "1 failed",
                               "best: 0.2 (trial 1, minimize)"})
    EXPECT_NE(text.find(expected), std::string::npos) << expected << " in\n" << text;
  fs::remove_all(dir);
}

TEST(LivePage, APageThatCannotBeWrittenDoesNotStopTheExperiment) {
  const fs::path dir = vdsr::test::scratch_dir("vdsr_live_unwritable");
  Store s = Store::create(dir, experiment_config());
  fill(s);
  fs::create_directories(dir / "report.html");  // a folder where the page would go: the rename fails
  LivePage page(dir, 0);
  EXPECT_NO_THROW(page({EventKind::TrialEnded, 1, s, 10}));
  EXPECT_NO_THROW(page({EventKind::Finished, 0, s, 11}));
  EXPECT_TRUE(fs::is_directory(dir / "report.html"));
  fs::remove_all(dir);
}
