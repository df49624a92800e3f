// End-to-end tests of vdsr-tune with small Python trial commands: runs, failures, bad input, timeouts,
// export, report, resume after the tuner is killed (no trial process outlives it), and damaged or
// read-only experiment databases.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/cli_runner.h"
#include "tests/test_paths.h"
#include "hpo/store.h"
#include "hpo/tuner_registry.h"
#include "tests/process_scan.h"
#include "tests/test_util.h"
#include "vdsr/util/process.h"

using namespace vdsr::hpo;
using vdsr::test::eventually;
using vdsr::test::live_group_members;
namespace fs = std::filesystem;

extern char** environ;

namespace {

const std::string kTune = std::string(vdsr::test::bin_dir()) + "/vdsr-tune";

// The trial: reads its parameters, reports three intermediate results and a final one. The first
// argument picks a misbehaviour by trial id, so tests know which trial fails how.
const char* kTrialPy = R"(import json, os, sys, time
p = json.load(open(os.environ["VDSR_TRIAL_PARAMS"]))
tid = int(os.environ["VDSR_TRIAL_ID"])
mode = sys.argv[1] if len(sys.argv) > 1 else ""
print("trial", tid, "dir", os.environ["VDSR_TRIAL_DIR"], flush=True)
x = p["x"]
if mode == "hang":
    time.sleep(60)
if mode == "first_quick":  # trial 1 ends soon, the others run until they are stopped
    time.sleep(0.4 if tid == 1 else 60)
if mode == "held_after_3":  # trials 1-3 end soon, later ones run while the test's file "hold" exists
    hold = os.path.join(os.environ["VDSR_TRIAL_DIR"], "..", "..", "..", "hold")
    time.sleep(0.4)
    for _ in range(1200):
        if tid <= 3 or not os.path.exists(hold):
            break
        time.sleep(0.05)
with open(os.environ["VDSR_TRIAL_METRICS"], "a") as f:
    for s in range(3):
        f.write(json.dumps({"type": "intermediate", "step": s + 1,
                            "value": {"default": (x - 0.3) ** 2 + 0.1 / (s + 1), "loss": x}}) + "\n")
    if mode == "e2e" and tid == 3:
        sys.exit(1)
    if mode == "e2e" and tid == 4:
        sys.exit(0)
    f.write(json.dumps({"type": "final", "value": {"default": (x - 0.3) ** 2, "psnr": 30 + x}}) + "\n")
)";

struct Result {
  int rc = -1;
  std::string out, err;
};

class TuneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / "vdsr_hpo_cli" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "trial.py") << kTrialPy;
    // Until the file `release` exists, a trial sleeps in a child and in a grandchild, then runs trial.py.
    std::ofstream(dir_ / "sleepy.sh") << "if [ ! -e release ]; then sleep 300 & sh -c 'sleep 300 & wait' & wait; fi\n"
                                         "exec /usr/bin/python3 trial.py\n";
  }

  json config(const std::string& mode, int trials, int concurrency) const {
    return {{"experimentName", "test"},
            {"searchSpace", {{"x", {{"_type", "uniform"}, {"_value", {0, 1}}}}}},
            {"trialCommand", "/usr/bin/python3 trial.py " + mode},
            {"trialCodeDirectory", "."},
            {"trialConcurrency", concurrency},
            {"maxTrialNumber", trials},
            {"tuner", {{"name", "TPE"}, {"classArgs", {{"seed", 7}, {"tpe_args", {{"n_startup_jobs", 3}}}}}}},
            {"trainingService", {{"platform", "local"}}}};
  }

  fs::path write_config(const json& j, const std::string& name = "exp.json") const {
    std::ofstream(dir_ / name) << j.dump(2);
    return dir_ / name;
  }

  Result tune(const std::string& args) const {
    Result r;
    const std::string cmd = "cd '" + dir_.string() + "' && '" + kTune + "' " + args + " > out.txt 2> err.txt";
    int ws = std::system(cmd.c_str());
    r.rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    r.out = vdsr::test::read_text(dir_ / "out.txt");
    r.err = vdsr::test::read_text(dir_ / "err.txt");
    return r;
  }

  pid_t spawn_tune(const std::vector<std::string>& args) const {
    return vdsr::test::spawn_in_background(kTune, args, dir_ / "spawn_out.txt", dir_ / "spawn_err.txt");
  }

  static std::map<TrialState, int> count_status(const std::vector<TrialRecord>& t) {
    std::map<TrialState, int> c;
    for (const auto& r : t) c[r.status]++;
    return c;
  }

  // Waits until the store shows `succeeded` finished trials and at least one running trial.
  void wait_for(const fs::path& exp, int succeeded) const {
    for (int i = 0; i < 600; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!fs::exists(exp / Store::kFileName)) continue;
      auto c = count_status(Store::open(exp).trials());
      if (c[TrialState::kSucceeded] >= succeeded && c[TrialState::kRunning] >= 1) return;
    }
    FAIL() << "the experiment did not progress";
  }

  fs::path dir_;
};

// Expects exit 2 and "error: ..." naming every fragment, and no experiment folder left behind.
void expect_usage_error(const Result& r, std::vector<std::string> fragments) {
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  for (const auto& f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "missing '" << f << "' in " << r.err;
}

}  // namespace

TEST_F(TuneCli, RunsTrialsRecordsFailuresAndWritesResults) {
  write_config(config("e2e", 6, 2));
  Result r = tune("--config exp.json --dir run --report rep.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto trials = Store::open(dir_ / "run").trials();
  ASSERT_EQ(trials.size(), 6u);
  for (const auto& t : trials) {
    const fs::path td = dir_ / "run" / "trials" / std::to_string(t.id);
    EXPECT_EQ(json::parse(vdsr::test::read_text(td / "params.json")), t.params);
    EXPECT_NE(vdsr::test::read_text(td / "stdout.log").find("trial " + std::to_string(t.id) + " dir " + td.string()),
              std::string::npos);
    EXPECT_TRUE(fs::exists(td / "metrics.jsonl"));
    EXPECT_EQ(t.intermediate.size(), 3u) << t.id;
    if (t.id == 3) {
      EXPECT_EQ(t.status, TrialState::kFailed);
      EXPECT_NE(t.message.find("exit code 1"), std::string::npos) << t.message;
    } else if (t.id == 4) {
      EXPECT_EQ(t.status, TrialState::kFailed);
      EXPECT_NE(t.message.find("no final result"), std::string::npos) << t.message;
    } else {
      EXPECT_EQ(t.status, TrialState::kSucceeded) << t.id << " " << t.message;
      const double x = t.params["x"];
      EXPECT_DOUBLE_EQ(*t.final, (x - 0.3) * (x - 0.3));
      EXPECT_DOUBLE_EQ(t.final_payload["psnr"].get<double>(), 30 + x);
    }
  }
  // best.json is the best trial's parameter file; the report follows the contract.
  const TrialRecord* best = nullptr;
  for (const auto& t : trials)
    if (t.final && (!best || *t.final < *best->final)) best = &t;
  EXPECT_EQ(json::parse(vdsr::test::read_text(dir_ / "run" / "best.json")), best->params);
  json rep = json::parse(vdsr::test::read_text(dir_ / "rep.json"));
  EXPECT_EQ(rep["schema"], "vdsr-report/1");
  EXPECT_EQ(rep["stage"], "tune");
  EXPECT_EQ(rep["tool"], "vdsr-tune");
  EXPECT_TRUE(rep["version"].is_string());
  EXPECT_EQ(rep["created"].get<std::string>().size(), 20u);
  EXPECT_EQ(rep["config"]["trialConcurrency"], 2);
  ASSERT_EQ(rep["tune"]["trials"].size(), 6u);
  for (const char* k : {"id", "params", "status", "final", "intermediate", "seconds"})
    EXPECT_TRUE(rep["tune"]["trials"][0].contains(k)) << k;
  EXPECT_EQ(rep["tune"]["best"]["id"], best->id);
  EXPECT_DOUBLE_EQ(rep["tune"]["best"]["value"].get<double>(), *best->final);
  EXPECT_EQ(json::parse(vdsr::test::read_text(dir_ / "run" / "report.json"))["tune"]["best"], rep["tune"]["best"]);
  // The final table lists the best trial first.
  EXPECT_NE(r.out.find("\n" + std::to_string(best->id) + " "), std::string::npos);
  EXPECT_LT(r.out.find("\n" + std::to_string(best->id) + " "), r.out.find("FAILED"));

  Result csv = tune("--export run --format csv");
  ASSERT_EQ(csv.rc, 0) << csv.err;
  EXPECT_EQ(csv.out.substr(0, csv.out.find('\n')), "x,reward,psnr,trialJobId,status,duration");
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 7);
  Result js = tune("--export run --format json --out export.json");
  ASSERT_EQ(js.rc, 0) << js.err;
  json ex = json::parse(vdsr::test::read_text(dir_ / "export.json"));
  ASSERT_EQ(ex.size(), 6u);
  EXPECT_EQ(ex[2]["trialJobId"], "3");
  EXPECT_EQ(ex[2]["status"], "FAILED");
  EXPECT_TRUE(ex[0]["parameter"].contains("x"));
}

TEST_F(TuneCli, SameSeedSameExperiment) {
  write_config(config("", 6, 1));
  ASSERT_EQ(tune("--config exp.json --dir a").rc, 0);
  ASSERT_EQ(tune("--config exp.json --dir b").rc, 0);
  auto a = Store::open(dir_ / "a").trials(), b = Store::open(dir_ / "b").trials();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].params, b[i].params);
}

namespace {

// Branin plus a penalty per string option, written the same way in Python (the trial) and C++ (the
// library run) so that both compute the same doubles.
const char* kBraninPy = R"(import json, math, os
p = json.load(open(os.environ["VDSR_TRIAL_PARAMS"]))
x1, x2 = p["x1"], p["x2"]
b, c, t = 5.1 / (4 * math.pi * math.pi), 5 / math.pi, 1 / (8 * math.pi)
r = x2 - b * x1 * x1 + c * x1 - 6
y = r * r + 10 * (1 - t) * math.cos(x1) + 10 + {"a": 0.0, "b": 1.0, "c": 3.0}[p["kind"]]
with open(os.environ["VDSR_TRIAL_METRICS"], "a") as f:
    f.write(json.dumps({"type": "final", "value": y}) + "\n")
)";

double branin_kind(const json& p) {
  const double x1 = p["x1"], x2 = p["x2"];
  const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
  const double r = x2 - b * x1 * x1 + c * x1 - 6;
  const std::string kind = p["kind"];
  return r * r + 10 * (1 - t) * std::cos(x1) + 10 + (kind == "a" ? 0.0 : kind == "b" ? 1.0 : 3.0);
}

}  // namespace

TEST_F(TuneCli, CliPathMatchesTheLibraryPathForOneSeed) {
  // vdsr-tune with trials as processes and the store in between, against the same tuner driven in
  // process: same seed and same budget (default tpe_args, so the budget also sizes the start-up) give
  // the same parameters trial by trial, hence the same best.
  std::ofstream(dir_ / "branin.py") << kBraninPy;
  const int trials = 14;
  json cfg = config("", trials, 1);
  cfg["trialCommand"] = "/usr/bin/python3 branin.py";
  cfg["searchSpace"] = json::parse(R"({"x1": {"_type": "uniform", "_value": [-5, 10]},
                                       "x2": {"_type": "uniform", "_value": [0, 15]},
                                       "kind": {"_type": "choice", "_value": ["a", "b", "c"]}})");
  cfg["tuner"] = {{"name", "TPE"}, {"classArgs", {{"seed", 11}}}};
  write_config(cfg);
  Result r = tune("--config exp.json --dir run");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("TPE: 5 of 14 trial(s) will be random"), std::string::npos) << r.err;
  auto cli = Store::open(dir_ / "run").trials();
  ASSERT_EQ(cli.size(), static_cast<size_t>(trials));

  const SearchSpace space = SearchSpace::parse(cfg["searchSpace"], "searchSpace");
  auto tuner = make_tuner(cfg["tuner"], space, "tuner", trials);
  double best = INFINITY, cli_best = INFINITY;
  for (int id = 1; id <= trials; ++id) {
    const Point p = *tuner->suggest(id);
    const json params = space.to_params(p);
    const double y = branin_kind(params);
    tuner->observe(id, p, y);
    best = std::min(best, y);
    const TrialRecord& t = cli[static_cast<size_t>(id - 1)];
    EXPECT_EQ(t.id, id);
    EXPECT_EQ(t.params, params) << "trial " << id;
    ASSERT_TRUE(t.final) << "trial " << id << ": " << t.message;
    EXPECT_EQ(*t.final, y) << "trial " << id;
    cli_best = std::min(cli_best, *t.final);
  }
  EXPECT_EQ(cli_best, best);
}

TEST_F(TuneCli, BadInputIsAClearErrorWithExitTwo) {
  json j = config("", 2, 1);
  j["trialConcurency"] = 2;
  write_config(j);
  expect_usage_error(tune("--config exp.json --dir x"), {"exp.json", "trialConcurency: unknown key"});
  EXPECT_FALSE(fs::exists(dir_ / "x"));

  j = config("", 2, 0);
  write_config(j);
  expect_usage_error(tune("--config exp.json --dir x"), {"exp.json", "trialConcurrency", ">= 1"});
  write_config(config("", 2, 1));
  expect_usage_error(tune("--config exp.json --concurrency 0 --dir x"), {"--concurrency", ">= 1"});

  j = config("", 2, 1);
  j["trialCommand"] = "./no-such-trainer --lr 1";
  write_config(j);
  expect_usage_error(tune("--config exp.json --dir x"), {"exp.json", "trialCommand", "no-such-trainer", "not found"});
  j["trialCommand"] = "no-such-program-on-path --lr 1";
  write_config(j);
  expect_usage_error(tune("--config exp.json --dir x"), {"no-such-program-on-path", "not found on PATH"});

  j = config("", 2, 1);
  j["searchSpace"]["x"]["_value"] = {1, 0};
  write_config(j);
  expect_usage_error(tune("--config exp.json --dir x"), {"exp.json", "'x'", "high > low"});
  j.erase("searchSpace");
  j["searchSpaceFile"] = "space.json";
  std::ofstream(dir_ / "space.json") << R"({"lr": {"_type": "loguniform", "_value": [0, 1]}})";
  write_config(j);
  expect_usage_error(tune("--config exp.json --dir x"), {"space.json", "'lr'", "low > 0"});

  j = config("", 2, 1);
  j["maxExperimentDuration"] = "10 minutes";
  write_config(j);
  expect_usage_error(tune("--config exp.json --dir x"), {"maxExperimentDuration", "duration"});
  EXPECT_FALSE(fs::exists(dir_ / "x"));

  expect_usage_error(tune("--config missing.json"), {"missing.json"});
  expect_usage_error(tune("--resume nowhere"), {"nowhere", "no experiment"});
  expect_usage_error(tune("--export run --format xml"), {"--format"});
  write_config(config("", 1, 1));
  ASSERT_EQ(tune("--config exp.json --dir once").rc, 0);
  expect_usage_error(tune("--config exp.json --dir once"), {"already holds an experiment", "--resume"});
}

TEST_F(TuneCli, TimedOutTrialFailsAndTheExperimentGoesOn) {
  json j = config("hang", 2, 2);
  j["maxTrialDuration"] = "1s";
  write_config(j);
  Result r = tune("--config exp.json --dir run");
  EXPECT_EQ(r.rc, 1) << r.err;  // no trial succeeded
  auto trials = Store::open(dir_ / "run").trials();
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& t : trials) {
    EXPECT_EQ(t.status, TrialState::kFailed);
    EXPECT_NE(t.message.find("timed out"), std::string::npos) << t.message;
    EXPECT_LT(t.seconds(), 30);
  }
  EXPECT_TRUE(fs::exists(dir_ / "run" / "report.json"));
  EXPECT_FALSE(fs::exists(dir_ / "run" / "best.json"));
}

TEST_F(TuneCli, ExhaustedDiscreteSpaceEndsCleanly) {
  json j = config("", 10, 2);
  j["searchSpace"] = {{"x", {{"_type", "choice"}, {"_value", {0.1, 0.3, 0.9}}}}};
  write_config(j);
  Result r = tune("--config exp.json --dir run");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("exhausted"), std::string::npos);
  auto trials = Store::open(dir_ / "run").trials();
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(json::parse(vdsr::test::read_text(dir_ / "run" / "best.json")), json({{"x", 0.3}}));
}

TEST_F(TuneCli, ResumeAfterKillKeepsFinishedTrialsAndRerunsInterruptedOnes) {
  // Trials after the third are held until the kill, so one is surely running then (a trial that merely
  // ran slowly could end between the last look at the store and the kill).
  write_config(config("held_after_3", 8, 2));
  std::ofstream(dir_ / "hold") << "";
  pid_t pid = spawn_tune({"--config", (dir_ / "exp.json").string(), "--dir", (dir_ / "run").string()});
  wait_for(dir_ / "run", 3);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int ws = 0;
  waitpid(pid, &ws, 0);
  fs::remove(dir_ / "hold");
  std::map<int, TrialRecord> before;
  for (auto& t : Store::open(dir_ / "run").trials())
    if (t.status == TrialState::kSucceeded) before[t.id] = t;
  ASSERT_GE(before.size(), 3u);

  Result r = tune("--resume run");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto after = Store::open(dir_ / "run").trials();
  std::map<int, TrialRecord> by_id;
  for (auto& t : after) by_id[t.id] = t;
  for (const auto& [id, t] : before) {
    EXPECT_EQ(by_id[id].status, TrialState::kSucceeded);
    EXPECT_EQ(by_id[id].params, t.params);
    EXPECT_EQ(by_id[id].final, t.final);
  }
  auto c = count_status(after);
  EXPECT_EQ(c[TrialState::kSucceeded], 8);  // the budget counts what was done before the kill
  EXPECT_EQ(c[TrialState::kRunning], 0);
  ASSERT_GE(c[TrialState::kInterrupted], 1);
  for (const auto& t : after) {
    if (t.status != TrialState::kInterrupted) continue;
    int reruns = 0;
    for (const auto& u : after)
      if (u.rerun_of == t.id) {
        ++reruns;
        EXPECT_EQ(u.params, t.params);
        EXPECT_EQ(u.status, TrialState::kSucceeded);
      }
    EXPECT_EQ(reruns, 1) << "interrupted trial " << t.id;
  }
}

TEST_F(TuneCli, CtrlCMarksRunningTrialsInterrupted) {
  // Once trial 1 has succeeded, a trial that is still running cannot end on its own before the signal.
  write_config(config("first_quick", 20, 2));
  pid_t pid = spawn_tune({"--config", (dir_ / "exp.json").string(), "--dir", (dir_ / "run").string()});
  wait_for(dir_ / "run", 1);
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int ws = 0;
  waitpid(pid, &ws, 0);
  ASSERT_TRUE(WIFEXITED(ws));
  EXPECT_EQ(WEXITSTATUS(ws), 130);
  auto c = count_status(Store::open(dir_ / "run").trials());
  EXPECT_EQ(c[TrialState::kRunning], 0);
  EXPECT_GE(c[TrialState::kInterrupted], 1);
  EXPECT_NE(vdsr::test::read_text(dir_ / "spawn_err.txt").find("--resume"), std::string::npos);
}

TEST_F(TuneCli, KillNineLeavesNoTrialProcessAndResumeRecordsNothingTwice) {
  json j = config("", 2, 2);
  j["trialCommand"] = "sh sleepy.sh";
  write_config(j);
  const fs::path run = dir_ / "run";
  pid_t pid = spawn_tune({"--config", (dir_ / "exp.json").string(), "--dir", run.string()});
  // Both trials run, each group with its supervisor, the shells and both sleeps.
  std::vector<TrialProcess> groups;
  ASSERT_TRUE(eventually([&] {
    if (!fs::exists(run / Store::kFileName)) return false;
    groups = Store::open(run).running_processes();
    if (groups.size() != 2) return false;
    for (const auto& g : groups)
      if (live_group_members(g.pgid).size() < 5) return false;
    return true;
  })) << "the trials did not start";
  for (const auto& g : groups) EXPECT_EQ(vdsr::process_start_time(g.pgid), g.start_time);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int ws = 0;
  waitpid(pid, &ws, 0);
  for (const auto& g : groups) {
    EXPECT_TRUE(eventually([&] { return live_group_members(g.pgid).empty(); }, 5))
        << live_group_members(g.pgid).size() << " process(es) of trial " << g.trial_id << " outlived the tuner";
    kill(-g.pgid, SIGKILL);  // whatever a failure left behind
  }

  // The experiment, as the tuner left it, still exports (its newest commits are in the -wal file).
  Result ex = tune("--export run --format json");
  ASSERT_EQ(ex.rc, 0) << ex.err;
  EXPECT_EQ(json::parse(ex.out).size(), 2u);

  std::ofstream(dir_ / "release").close();
  Result r = tune("--resume run");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err.find("ended its process group"), std::string::npos) << "nothing was left to end: " << r.err;
  Store store = Store::open(run);
  EXPECT_TRUE(store.running_processes().empty());
  const auto trials = store.trials();
  auto c = count_status(trials);
  EXPECT_EQ(c[TrialState::kInterrupted], 2);
  EXPECT_EQ(c[TrialState::kSucceeded], 2);
  EXPECT_EQ(trials.size(), 4u);
  for (const auto& t : trials) {
    if (t.status != TrialState::kInterrupted) continue;
    int reruns = 0;
    for (const auto& u : trials) reruns += u.rerun_of == t.id ? 1 : 0;
    EXPECT_EQ(reruns, 1) << "interrupted trial " << t.id;
  }
  Result all = tune("--export run --format json");
  ASSERT_EQ(all.rc, 0) << all.err;
  std::set<std::string> ids;
  for (const auto& t : json::parse(all.out)) EXPECT_TRUE(ids.insert(t["trialJobId"].get<std::string>()).second);
  EXPECT_EQ(ids.size(), 4u);
}

TEST_F(TuneCli, ResumeEndsLeftoverTrialGroupsButNeverAReusedPid) {
  write_config(config("", 1, 1));
  ASSERT_EQ(tune("--config exp.json --dir run").rc, 0);
  // Two trials a dead tuner left RUNNING, with live groups: one as recorded, one whose recorded start time
  // differs (as when its pid has since been given to an unrelated process).
  vdsr::ShellCommand sleeper;
  sleeper.command = "sleep 300 & wait";
  sleeper.environment = vdsr::current_environment();
  const pid_t left = vdsr::spawn_shell(sleeper), other = vdsr::spawn_shell(sleeper);
  const auto left_start = vdsr::process_start_time(left), other_start = vdsr::process_start_time(other);
  ASSERT_TRUE(left_start && other_start);
  {
    Store store = Store::open(dir_ / "run");
    store.add_trial(2, {{"x", 0.5}}, now_seconds(), std::nullopt);
    store.set_trial_process(2, {2, left, *left_start});
    store.add_trial(3, {{"x", 0.6}}, now_seconds(), std::nullopt);
    store.set_trial_process(3, {3, other, *other_start + 1});
  }
  Result r = tune("--resume run");  // the budget of one trial is spent: nothing new runs
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("trial 2: ended its process group " + std::to_string(left)), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("trial 3: ended"), std::string::npos) << r.err;
  int ws = 0;
  ASSERT_EQ(waitpid(left, &ws, 0), left);
  EXPECT_TRUE(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
  EXPECT_TRUE(eventually([&] { return live_group_members(left).empty(); }, 5));
  EXPECT_EQ(waitpid(other, &ws, WNOHANG), 0) << "the group with another start time was hit";
  vdsr::signal_group(other, SIGKILL);
  waitpid(other, &ws, 0);
  auto c = count_status(Store::open(dir_ / "run").trials());
  EXPECT_EQ(c[TrialState::kInterrupted], 2);
  EXPECT_EQ(c[TrialState::kRunning], 0);
}

// Runs one SQL statement on the experiment database; returns the first column of each row.
static std::vector<std::string> sql(const fs::path& db_file, const std::string& statement) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(db_file.c_str(), &db), SQLITE_OK);
  std::vector<std::string> rows;
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, statement.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    rows.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

TEST_F(TuneCli, AStoreFromBeforeProcessGroupsAndJobsWereRecordedIsReadAndUpgradedOnResume) {
  write_config(config("", 1, 1));
  ASSERT_EQ(tune("--config exp.json --dir run").rc, 0);
  const fs::path db = dir_ / "run" / Store::kFileName;
  EXPECT_EQ(sql(db, "SELECT pgid IS NOT NULL AND pid_start > 0 FROM trials"), std::vector<std::string>{"1"});
  for (const char* column : {"pgid", "pid_start", "job_id", "attempt"})
    sql(db, std::string("ALTER TABLE trials DROP COLUMN ") + column);
  ASSERT_EQ(tune("--export run").rc, 0);  // read-only: the store stays as it was
  EXPECT_EQ(sql(db, "SELECT COUNT(*) FROM pragma_table_info('trials') WHERE name = 'job_id'"), std::vector<std::string>{"0"});
  Result r = tune("--resume run --trials 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(sql(db, "SELECT pgid IS NOT NULL FROM trials ORDER BY id"), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(sql(db, "SELECT COUNT(job_id) FROM trials"), std::vector<std::string>{"0"});  // added, empty for local trials
}

TEST_F(TuneCli, ADamagedOrEmptyDatabaseIsAClearErrorAndStaysAsItWas) {
  write_config(config("", 3, 1));
  ASSERT_EQ(tune("--config exp.json --dir run").rc, 0);
  const fs::path db = dir_ / "run" / Store::kFileName;
  const std::string good = vdsr::test::read_text(db);
  ASSERT_GT(good.size(), 8192u);
  ASSERT_FALSE(fs::exists(db.string() + "-wal"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage", std::string(5000, '\x5a')},
      {"truncated", good.substr(0, good.size() / 2)},
      {"empty", ""}};
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name);
    std::ofstream(db, std::ios::binary | std::ios::trunc) << bytes;
    for (const char* args : {"--resume run", "--export run --format json"}) {
      Result r = tune(args);
      expect_usage_error(r, {"run/experiment.db: "});
      EXPECT_EQ(r.err.find("\n"), r.err.size() - 1) << "one line: " << r.err;
      EXPECT_EQ(vdsr::test::read_text(db), bytes) << args << " changed the file";
      EXPECT_FALSE(fs::exists(db.string() + "-wal") || fs::exists(db.string() + "-shm")) << args;
    }
  }
}

TEST_F(TuneCli, ExportWorksOnAReadOnlyFolderAndWritesNothingThere) {
  write_config(config("", 3, 1));
  ASSERT_EQ(tune("--config exp.json --dir run").rc, 0);
  const fs::path run = dir_ / "run", db = run / Store::kFileName;
  Result before = tune("--export run --format csv");
  ASSERT_EQ(before.rc, 0) << before.err;
  const auto listing = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(run)) names.insert(e.path().filename().string());
    return names;
  };
  const std::set<std::string> files = listing();
  const std::string bytes = vdsr::test::read_text(db);
  fs::permissions(db, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(run, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                           fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  if (geteuid() == 0)
    std::cout << "running as root, where permissions do not stop writes: checking instead that the export "
                 "creates no file (no -wal, -shm or -journal) and changes nothing\n";
  Result csv = tune("--export run --format csv");
  Result js = tune("--export run --format json");
  EXPECT_EQ(listing(), files);
  EXPECT_EQ(vdsr::test::read_text(db), bytes);
  fs::permissions(run, fs::perms::owner_all, fs::perm_options::add);
  fs::permissions(db, fs::perms::owner_write, fs::perm_options::add);
  ASSERT_EQ(csv.rc, 0) << csv.err;
  EXPECT_EQ(csv.out, before.out);
  ASSERT_EQ(js.rc, 0) << js.err;
  EXPECT_EQ(json::parse(js.out).size(), 3u);
}

// Flag values that used to be ignored (--trials -1) and a folder given as the config: exit 2, named.
TEST_F(TuneCli, NegativeTrialsAndAFolderAsConfigAreErrors) {
  write_config(config("", 2, 1));
  expect_usage_error(tune("--config exp.json --trials -1 --dir x"), {"--trials: expected an integer >= 1, got '-1'"});
  expect_usage_error(tune("--config exp.json --trials 0 --dir x"), {"--trials: expected an integer >= 1, got '0'"});
  fs::create_directories(dir_ / "folder.json");
  expect_usage_error(tune("--config folder.json --dir x"), {"folder.json: is a folder, expected an experiment config"});
  EXPECT_FALSE(fs::exists(dir_ / "x"));
}
