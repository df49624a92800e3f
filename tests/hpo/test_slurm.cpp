// vdsr-tune with trainingService "slurm" on a real Slurm cluster (scripts/slurm-local.sh start): trials
// that complete, exit 1, are cancelled from outside, run over their time, are requeued, wait on a partition
// that never runs them; a controller killed with SIGKILL and resumed; --stop; Medianstop cancelling a job.
// The accounting tests put a squeue that forgets ended jobs at once and a sacct in front of the real ones.
// Without a cluster these tests skip, except under CI=true, where they fail. They share the one cluster, so
// CTest runs them one at a time (RESOURCE_LOCK slurm).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "hpo/slurm_service.h"
#include "hpo/store.h"
#include "tests/cli_runner.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

using namespace vdsr::hpo;
namespace fs = std::filesystem;

extern char** environ;

namespace {

const std::string kTune = std::string(vdsr::test::bin_dir()) + "/vdsr-tune";

// The trial: one intermediate result and a final one (both x); MODE picks a misbehaviour.
const char* kTrialSh = R"(#!/bin/sh
x=$(sed -n 's/.*"x": *\([-0-9.e]*\).*/\1/p' "$VDSR_TRIAL_PARAMS")
case "$1" in
  median)  # trial 1 reports 1, 1 and ends; the others report 0, 0 and would run on for a minute
    v=$([ "$VDSR_TRIAL_ID" = 1 ] && echo 1 || echo 0)
    for s in 1 2; do echo "{\"type\": \"intermediate\", \"step\": $s, \"value\": $v}" >> "$VDSR_TRIAL_METRICS"; done
    [ "$v" = 0 ] && sleep 60
    echo "{\"type\": \"final\", \"value\": $v}" >> "$VDSR_TRIAL_METRICS"
    exit 0 ;;
esac
case "$1" in
  stray)  # the first attempt leaves a writer outside its job that reports 99 once the second attempt runs
    d=$VDSR_TRIAL_DIR m=$VDSR_TRIAL_METRICS
    if [ ! -e "$d/stray" ]; then
      : > "$d/stray"
      ( ( for i in $(seq 300); do [ -e "$d/second" ] && break; sleep 0.2; done
          echo '{"type": "final", "value": 99}' >> "$m"; : > "$d/stray.done" ) </dev/null >/dev/null 2>&1 & )
    else
      : > "$d/second"
      for i in $(seq 100); do [ -e "$d/stray.done" ] && break; sleep 0.2; done
    fi ;;
esac
echo "{\"type\": \"intermediate\", \"step\": 1, \"value\": $x}" >> "$VDSR_TRIAL_METRICS"
case "$1" in
  fail) exit 1 ;;
  sleep) [ -n "$TRIAL_NO_SLEEP" ] || sleep "$2" ;;
  stray) [ -e "$VDSR_TRIAL_DIR/second" ] || sleep 60 ;;
  staggered) sleep $(( VDSR_TRIAL_ID == 2 ? 8 : 1 )) ;;  # trial 2 runs on well after trial 1
esac
echo "{\"type\": \"final\", \"value\": $x}" >> "$VDSR_TRIAL_METRICS"
)";

// Bounded: with its daemons stopped sinfo retries for a while.
bool cluster_up() { return vdsr::test::run_command("timeout 3 sinfo --noheader").code == 0; }

class TuneSlurm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cluster_up()) {
      const char* ci = std::getenv("CI");
      if (ci && std::string(ci) == "true") FAIL() << "CI=true but no Slurm cluster answers; start it with scripts/slurm-local.sh start";
      GTEST_SKIP() << "no Slurm cluster answers (sinfo); start one with: sudo bash scripts/slurm-local.sh start";
    }
    dir_ = fs::temp_directory_path() / "vdsr_hpo_slurm" / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "trial.sh") << kTrialSh;
  }

  void TearDown() override {
    if (!dir_.empty() && fs::exists(dir_ / "exp")) cancel_experiment_jobs(dir_ / "exp", 30);  // nothing outlives a test
  }

  json config(const std::string& args, int trials, int concurrency, const json& service = json::object()) const {
    json s = {{"platform", "slurm"}, {"pollInterval", "0.3s"}, {"sharedDir", dir_.string()}};
    s.update(service);
    return {{"experimentName", "slurm-test"},
            {"searchSpace", {{"x", {{"_type", "uniform"}, {"_value", {0, 1}}}}}},
            {"trialCommand", "sh trial.sh " + args},
            {"trialCodeDirectory", "."},
            {"trialConcurrency", concurrency},
            {"maxTrialNumber", trials},
            {"tuner", {{"name", "Random"}, {"classArgs", {{"seed", 3}}}}},
            {"trainingService", s}};
  }

  void write_config(const json& j) const { std::ofstream(dir_ / "exp.json") << j.dump(2); }

  vdsr::test::CommandResult tune(const std::string& args) const {
    return vdsr::test::run_command("cd '" + dir_.string() + "' && timeout 300 '" + kTune + "' " + args);
  }

  pid_t spawn_tune(const std::vector<std::string>& args) const {
    return vdsr::test::spawn_in_background(kTune, args, dir_ / "bg_out.txt", dir_ / "bg_err.txt", dir_);
  }

  std::vector<TrialRecord> trials() const { return Store::open_read_only(dir_ / "exp").trials(); }

  // The experiment's jobs that Slurm has queued or running: job ID → state.
  std::map<std::string, std::string> live_jobs() const {
    const auto r = vdsr::test::run_command("squeue --noheader --me --Format=JobID:\\|,Name:\\|,State:\\|");
    std::map<std::string, std::string> jobs;
    const std::string prefix = slurm_job_prefix(dir_ / "exp");
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
      const size_t a = line.find('|'), b = line.find('|', a + 1), c = line.find('|', b + 1);
      if (c == std::string::npos) continue;
      if (line.compare(a + 1, prefix.size(), prefix) == 0) jobs[line.substr(0, a)] = line.substr(b + 1, c - b - 1);
    }
    return jobs;
  }

  // Waits (up to `seconds`) until `done` holds.
  template <class F>
  bool wait_until(F done, double seconds = 60) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  // The store's trials with a recorded job, once there are `n` of them running in Slurm.
  bool wait_for_running_jobs(size_t n) const {
    return wait_until([&] {
      const auto live = live_jobs();
      return std::count_if(live.begin(), live.end(), [](const auto& kv) { return kv.second == "RUNNING"; }) >=
             static_cast<long>(n);
    });
  }

  fs::path dir_;
};

TEST_F(TuneSlurm, TrialsCompleteAsJobsWithTheirJobIdsInTheStore) {
  write_config(config("", 3, 2));
  const auto r = tune("--config exp.json --dir exp");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 3u);
  std::set<std::string> jobs;
  for (const auto& tr : t) {
    EXPECT_EQ(tr.status, TrialState::kSucceeded) << tr.message;
    EXPECT_DOUBLE_EQ(*tr.final, tr.params["x"].get<double>());
    EXPECT_EQ(tr.intermediate.size(), 1u);
    EXPECT_EQ(tr.attempt, 1);
    EXPECT_FALSE(tr.job_id.empty());
    jobs.insert(tr.job_id);
    const json record = json::parse(vdsr::test::read_text(dir_ / "exp" / "trials" / std::to_string(tr.id) / "exit.json"));
    EXPECT_EQ(record["job"], tr.job_id);
    EXPECT_EQ(record["exit_code"], 0);
  }
  EXPECT_EQ(jobs.size(), 3u);
  EXPECT_TRUE(fs::exists(dir_ / "exp" / "best.json"));
}

TEST_F(TuneSlurm, ATrialThatExitsOneFails) {
  write_config(config("fail", 1, 1));
  const auto r = tune("--config exp.json --dir exp");
  EXPECT_EQ(r.code, 1) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, TrialState::kFailed);
  EXPECT_EQ(t[0].exit_code, 1);
  EXPECT_NE(t[0].message.find("exit code 1"), std::string::npos) << t[0].message;
}

TEST_F(TuneSlurm, AJobCancelledFromOutsideFailsItsTrial) {
  write_config(config("sleep 60", 1, 1));
  const pid_t tuner = spawn_tune({"--config", "exp.json", "--dir", "exp"});
  ASSERT_TRUE(wait_for_running_jobs(1));
  ASSERT_EQ(vdsr::test::run_command("scancel " + live_jobs().begin()->first).code, 0);
  int ws = 0;
  waitpid(tuner, &ws, 0);
  EXPECT_EQ(WEXITSTATUS(ws), 1) << vdsr::test::read_text(dir_ / "bg_err.txt");
  const auto t = trials();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, TrialState::kFailed);
  EXPECT_NE(t[0].message.find("CANCELLED outside the tuner"), std::string::npos) << t[0].message;
}

// Slurm's smallest time limit is one minute, so this one takes 60-90 s.
TEST_F(TuneSlurm, AJobOverItsTimeFailsWithTimeout) {
  write_config(config("sleep 300", 1, 1, {{"time", "1"}}));
  const auto r = tune("--config exp.json --dir exp");
  EXPECT_EQ(r.code, 1) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, TrialState::kFailed);
  EXPECT_NE(t[0].message.find("TIMEOUT"), std::string::npos) << t[0].message;
}

TEST_F(TuneSlurm, ARequeuedJobIsRetriedOnceWithTheSameParameters) {
  write_config(config("sleep 4", 1, 1));
  const pid_t tuner = spawn_tune({"--config", "exp.json", "--dir", "exp"});
  ASSERT_TRUE(wait_for_running_jobs(1));
  const std::string first = live_jobs().begin()->first;
  ASSERT_EQ(vdsr::test::run_command("scontrol requeue " + first).code, 0);
  int ws = 0;
  waitpid(tuner, &ws, 0);
  const std::string log = vdsr::test::read_text(dir_ / "bg_err.txt");
  EXPECT_EQ(WEXITSTATUS(ws), 0) << log;
  const auto t = trials();
  ASSERT_EQ(t.size(), 1u);  // the same trial, not a second one
  EXPECT_EQ(t[0].status, TrialState::kSucceeded) << t[0].message;
  EXPECT_EQ(t[0].attempt, 2);
  EXPECT_NE(t[0].job_id, first);
  EXPECT_EQ(t[0].intermediate.size(), 1u);  // the lost attempt's report is not counted
  EXPECT_NE(log.find("retry 1 of 1"), std::string::npos) << log;
  const auto csv = tune("--export exp");
  EXPECT_EQ(std::count(csv.output.begin(), csv.output.end(), '\n'), 2) << csv.output;
}

// A process of the lost attempt that outlives its job (proctrack/linuxproc does not follow a process that
// left the job's process tree) reports into its own attempt's metrics file, not into the retry's.
TEST_F(TuneSlurm, AProcessLeftByALostAttemptCannotReportIntoTheRetry) {
  write_config(config("stray", 1, 1));
  const pid_t tuner = spawn_tune({"--config", "exp.json", "--dir", "exp"});
  ASSERT_TRUE(wait_for_running_jobs(1));
  const fs::path trial = dir_ / "exp" / "trials" / "1";
  ASSERT_TRUE(wait_until([&] { return fs::exists(trial / "stray"); }));
  ASSERT_EQ(vdsr::test::run_command("scontrol requeue " + live_jobs().begin()->first).code, 0);
  int ws = 0;
  waitpid(tuner, &ws, 0);
  EXPECT_EQ(WEXITSTATUS(ws), 0) << vdsr::test::read_text(dir_ / "bg_err.txt");
  ASSERT_TRUE(fs::exists(trial / "stray.done")) << "the stray writer did not run while the retry did";
  const auto t = trials();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, TrialState::kSucceeded) << t[0].message;
  EXPECT_EQ(t[0].attempt, 2);
  ASSERT_TRUE(t[0].final);
  EXPECT_DOUBLE_EQ(*t[0].final, t[0].params["x"].get<double>());  // not the stray's 99
  EXPECT_NE(vdsr::test::read_text(trial / "metrics.jsonl").find("\"value\": 99}"), std::string::npos);
  EXPECT_EQ(vdsr::test::read_text(trial / "metrics.attempt2.jsonl").find("\"value\": 99}"), std::string::npos);
}

TEST_F(TuneSlurm, AnUnknownPartitionIsAClearErrorBeforeAnythingStarts) {
  write_config(config("", 1, 1, {{"partition", "no-such-partition"}}));
  const auto r = tune("--config exp.json --dir exp");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("exp.json: trainingService.partition: no partition \"no-such-partition\""), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "exp"));
}

TEST_F(TuneSlurm, AJobWaitingOnAPartitionThatNeverRunsItFailsAfterPendingTimeout) {
  // slurm-local.sh's partition "down" takes jobs and never starts them (reason PartitionDown).
  write_config(config("", 1, 1, {{"partition", "down"}, {"pendingTimeout", "2s"}}));
  const auto r = tune("--config exp.json --dir exp");
  EXPECT_EQ(r.code, 1) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, TrialState::kFailed);
  EXPECT_NE(t[0].message.find("PENDING (PartitionDown) for over pendingTimeout"), std::string::npos) << t[0].message;
  EXPECT_TRUE(live_jobs().empty());
}

TEST_F(TuneSlurm, AResumedControllerAdoptsRunningJobsAndCollectsFinishedOnes) {
  write_config(config("staggered", 4, 2));
  const pid_t tuner = spawn_tune({"--config", "exp.json", "--dir", "exp"});
  ASSERT_TRUE(wait_for_running_jobs(2));
  kill(tuner, SIGKILL);
  waitpid(tuner, nullptr, 0);
  // Trial 1 ends while no controller watches; trial 2 is still running when the next one starts.
  ASSERT_TRUE(wait_until([&] { return fs::exists(dir_ / "exp" / "trials" / "1" / "exit.json"); }));
  const auto before = trials();
  ASSERT_EQ(before.size(), 2u);
  const auto live = live_jobs();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live.begin()->first, before[1].job_id);

  const double resumed_at = now_seconds();
  const auto r = tune("--resume exp");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("trial 2: adopting Slurm job " + before[1].job_id), std::string::npos) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 4u);
  for (const auto& tr : t) {
    EXPECT_EQ(tr.status, TrialState::kSucceeded) << tr.id << ": " << tr.message;
    EXPECT_EQ(tr.attempt, 1) << tr.id;  // nothing was submitted twice
    EXPECT_FALSE(tr.rerun_of) << tr.id;
    EXPECT_EQ(tr.intermediate.size(), 1u) << tr.id;  // read again from the file, not duplicated
  }
  EXPECT_EQ(t[0].job_id, before[0].job_id);
  EXPECT_LE(t[0].ended, resumed_at);  // its end is when its job ended, not when it was collected
  EXPECT_EQ(t[1].job_id, before[1].job_id);
  ASSERT_EQ(tune("--export exp --format json --out export.json").code, 0);
  const json exported = json::parse(vdsr::test::read_text(dir_ / "export.json"));
  ASSERT_EQ(exported.size(), 4u);
  std::set<std::string> ids;
  for (const auto& row : exported) {
    EXPECT_EQ(row["status"], "SUCCEEDED");
    ids.insert(row["trialJobId"].get<std::string>());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"1", "2", "3", "4"}));
}

TEST_F(TuneSlurm, AJobWhoseIdNeverReachedTheStoreIsFoundByItsName) {
  write_config(config("sleep 3", 1, 1));
  const pid_t tuner = spawn_tune({"--config", "exp.json", "--dir", "exp"});
  ASSERT_TRUE(wait_for_running_jobs(1));
  kill(tuner, SIGKILL);
  waitpid(tuner, nullptr, 0);
  const std::string job = trials().at(0).job_id;
  // As if the controller had died between sbatch's answer and the store's write.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "exp" / Store::kFileName).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE trials SET job_id = NULL, attempt = NULL", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  const auto r = tune("--resume exp");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, TrialState::kSucceeded) << t[0].message;
  EXPECT_EQ(t[0].job_id, job);  // adopted, not submitted again
  EXPECT_EQ(t[0].attempt, 1);
}

TEST_F(TuneSlurm, StopCancelsEveryJobAndEndsTheController) {
  write_config(config("sleep 60", 4, 2));
  const pid_t tuner = spawn_tune({"--config", "exp.json", "--dir", "exp"});
  ASSERT_TRUE(wait_for_running_jobs(2));
  const auto r = tune("--stop exp");
  EXPECT_EQ(r.code, 0) << r.output;
  int ws = 0;
  waitpid(tuner, &ws, 0);
  EXPECT_EQ(WEXITSTATUS(ws), 130) << vdsr::test::read_text(dir_ / "bg_err.txt");
  EXPECT_TRUE(live_jobs().empty());
  for (const auto& tr : trials()) EXPECT_EQ(tr.status, TrialState::kInterrupted) << tr.id;
}

TEST_F(TuneSlurm, CtrlCCancelsTheJobsAndResumeRunsThemAgain) {
  write_config(config("sleep 60", 2, 2));
  const pid_t tuner = spawn_tune({"--config", "exp.json", "--dir", "exp"});
  ASSERT_TRUE(wait_for_running_jobs(2));
  kill(tuner, SIGINT);
  int ws = 0;
  waitpid(tuner, &ws, 0);
  EXPECT_EQ(WEXITSTATUS(ws), 130) << vdsr::test::read_text(dir_ / "bg_err.txt");
  EXPECT_TRUE(live_jobs().empty());
  for (const auto& tr : trials()) EXPECT_EQ(tr.status, TrialState::kInterrupted) << tr.id;
  setenv("TRIAL_NO_SLEEP", "1", 1);  // the reruns need not wait a minute (jobs get the controller's environment)
  const auto r = tune("--resume exp");
  unsetenv("TRIAL_NO_SLEEP");
  EXPECT_EQ(r.code, 0) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 4u);  // two interrupted, two reruns of them with the same parameters
  EXPECT_EQ(t[2].rerun_of, 1);
  EXPECT_EQ(t[2].params, t[0].params);
  EXPECT_EQ(t[3].status, TrialState::kSucceeded);
}

TEST_F(TuneSlurm, StopCancelsTheJobsOfAControllerThatDied) {
  write_config(config("sleep 60", 2, 2));
  const pid_t tuner = spawn_tune({"--config", "exp.json", "--dir", "exp"});
  ASSERT_TRUE(wait_for_running_jobs(2));
  kill(tuner, SIGKILL);
  waitpid(tuner, nullptr, 0);
  EXPECT_EQ(live_jobs().size(), 2u);  // Slurm jobs outlive their controller
  const auto r = tune("--stop exp");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(live_jobs().empty());
  for (const auto& tr : trials()) EXPECT_EQ(tr.status, TrialState::kInterrupted) << tr.id;
}

TEST_F(TuneSlurm, MedianstopCancelsTheJob) {
  json c = config("median", 2, 1);
  c["assessor"] = {{"name", "Medianstop"}, {"classArgs", {{"optimize_mode", "maximize"}, {"start_step", 1}}}};
  write_config(c);
  const auto r = tune("--config exp.json --dir exp");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].status, TrialState::kSucceeded) << t[0].message;
  EXPECT_EQ(t[1].status, TrialState::kEarlyStopped) << t[1].message;
  EXPECT_LT(t[1].seconds(), 30);  // not the minute it would have run
  EXPECT_TRUE(live_jobs().empty());
}


// Jobs that squeue has forgotten (they ended more than MinJobAge ago) are collected from sacct where
// accounting is on, else from their exit records. The local cluster has no accounting database and keeps
// ended jobs for five minutes, so a squeue in front of the real one forgets them at once, and a sacct in front
// answers from slurmctld's own record (scontrol), or with a record planted for a trial (sacct/<trial>, used once).
class TuneSlurmAccounting : public TuneSlurm {
 protected:
  void SetUp() override {
    TuneSlurm::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    fs::create_directories(dir_ / "fakebin");
    fs::create_directories(dir_ / "sacct");
    const std::string squeue = vdsr::test::run_command("command -v squeue").output;
    std::ofstream(dir_ / "fakebin" / "squeue") << "#!/bin/sh\nout=$(" << squeue.substr(0, squeue.find('\n'))
                                                << R"SH( "$@") || exit $?
printf '%s\n' "$out" | awk -F'|' '$2 !~ /^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE)$/'
)SH";
    std::ofstream(dir_ / "fakebin" / "sacct") << R"SH(#!/bin/sh
here=$(cd "$(dirname "$0")/.." && pwd)
jobs=
for a in "$@"; do
  case "$a" in
    --jobs=*) jobs=${a#--jobs=} ;;
    --format=JobIDRaw)  # the tuner's probe: is accounting on?
      [ -f "$here/accounting_off" ] && { echo "sacct: Slurm accounting storage is disabled" >&2; exit 1; }
      exit 0 ;;
  esac
done
echo "$*" >> "$here/sacct_calls.txt"
# As if the exit records had been written to a node's local disk: only sacct knows how the jobs ended.
[ -f "$here/drop_exit_records" ] && rm -f "$here"/exp/trials/*/exit.json
for id in $(echo "$jobs" | tr ',' ' '); do
  info=$(scontrol -o show job "$id" 2>/dev/null) || continue
  name=$(echo "$info" | sed -n 's/.*JobName=\([^ ]*\).*/\1/p')
  planted="$here/sacct/${name##*-}"
  if [ -f "$planted" ]; then echo "$id|$(cat "$planted")"; mv "$planted" "$planted.used"; continue; fi
  field() { echo "$info" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
  echo "$id|$(field JobState)|$(field ExitCode)|$(field Reason)"
done
)SH";
    fs::permissions(dir_ / "fakebin" / "squeue", fs::perms::owner_all, fs::perm_options::add);
    fs::permissions(dir_ / "fakebin" / "sacct", fs::perms::owner_all, fs::perm_options::add);
  }

  vdsr::test::CommandResult tune_behind_fakes(const std::string& args) const {
    return vdsr::test::run_command("cd '" + dir_.string() + "' && PATH='" + (dir_ / "fakebin").string() +
                                   "':\"$PATH\" timeout 300 '" + kTune + "' " + args);
  }
};

TEST_F(TuneSlurmAccounting, ForgottenJobsAreCollectedFromSacct) {
  std::ofstream(dir_ / "sacct" / "1") << "OUT_OF_MEMORY|0:125|OutOfMemory";
  std::ofstream(dir_ / "sacct" / "2") << "PREEMPTED|0:0|None";
  write_config(config("", 3, 1));
  const auto r = tune_behind_fakes("--config exp.json --dir exp");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("accounting (sacct) on"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "sacct_calls.txt")) << "the tuner never asked sacct";
  const auto t = trials();
  ASSERT_EQ(t.size(), 3u);
  // sacct's verdict wins over the exit record (which says 0 for all three).
  EXPECT_EQ(t[0].status, TrialState::kFailed);
  EXPECT_NE(t[0].message.find("OUT_OF_MEMORY"), std::string::npos) << t[0].message;
  EXPECT_TRUE(fs::exists(dir_ / "sacct" / "1.used"));
  // A preempted job runs again with the same parameters; its second attempt completes.
  EXPECT_EQ(t[1].status, TrialState::kSucceeded) << t[1].message;
  EXPECT_EQ(t[1].attempt, 2);
  EXPECT_EQ(t[1].intermediate.size(), 1u);
  EXPECT_DOUBLE_EQ(*t[1].final, t[1].params["x"].get<double>());
  // And an ordinary one, from slurmctld's record through sacct.
  EXPECT_EQ(t[2].status, TrialState::kSucceeded) << t[2].message;
  EXPECT_EQ(t[2].attempt, 1);
}

TEST_F(TuneSlurmAccounting, ForgottenJobsWithoutExitRecordsTakeTheirExitCodeFromSacct) {
  std::ofstream(dir_ / "drop_exit_records");
  write_config(config("fail", 1, 1));
  const auto r = tune_behind_fakes("--config exp.json --dir exp");
  EXPECT_EQ(r.code, 1) << r.output;
  const auto t = trials();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, TrialState::kFailed);
  EXPECT_EQ(t[0].exit_code, 1);
  EXPECT_EQ(t[0].attempt, 1);  // not taken for lost and run again
  EXPECT_FALSE(fs::exists(dir_ / "exp" / "trials" / "1" / "exit.json"));
}

TEST_F(TuneSlurmAccounting, WithoutAccountingForgottenJobsAreCollectedFromTheirExitRecords) {
  std::ofstream(dir_ / "accounting_off");
  std::ofstream(dir_ / "sacct" / "1") << "OUT_OF_MEMORY|0:125|OutOfMemory";  // must not be read
  write_config(config("", 2, 2));
  const auto r = tune_behind_fakes("--config exp.json --dir exp");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("accounting (sacct) off: exit records and squeue"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "sacct_calls.txt"));
  const auto t = trials();
  ASSERT_EQ(t.size(), 2u);
  for (const auto& tr : t) {
    EXPECT_EQ(tr.status, TrialState::kSucceeded) << tr.id << ": " << tr.message;
    EXPECT_EQ(tr.attempt, 1);
    EXPECT_DOUBLE_EQ(*tr.final, tr.params["x"].get<double>());
  }
  write_config(config("fail", 1, 1));
  const auto f = tune_behind_fakes("--config exp.json --dir exp_fail");
  EXPECT_EQ(f.code, 1) << f.output;
  const auto failed = Store::open_read_only(dir_ / "exp_fail").trials();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].exit_code, 1);
  EXPECT_NE(failed[0].message.find("exit code 1"), std::string::npos) << failed[0].message;
}

}  // namespace
