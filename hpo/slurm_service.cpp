#include "hpo/slurm_service.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"
#include "vdsr/util/process.h"

namespace vdsr::hpo {

namespace {

const char* const kExitRecord = "exit.json";

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

struct Output {
  int code = -1;
  std::string out, err;
};

// Runs a Slurm command (argv, no shell interpretation of its arguments) and collects its output.
Output run_slurm_command(const std::vector<std::string>& argv) {
  std::string command = "exec";
  for (const std::string& a : argv) command += " " + shell_quote(a);
  const fs::path base = fs::temp_directory_path() / ("vdsr-slurm-" + std::to_string(getpid()));
  ShellCommand c;
  c.command = command;
  c.environment = current_environment();
  c.stdout_path = base.string() + ".out";
  c.stderr_path = base.string() + ".err";
  Output o;
  const pid_t pid = spawn_shell(c);
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  o.code = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
  std::error_code ec;
  for (auto [path, text] : {std::pair{c.stdout_path, &o.out}, std::pair{c.stderr_path, &o.err}}) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    *text = ss.str();
    fs::remove(path, ec);
  }
  while (!o.err.empty() && (o.err.back() == '\n' || o.err.back() == '\r')) o.err.pop_back();
  return o;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) parts.push_back(part);
  return parts;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string seconds_text(double s) {
  std::ostringstream o;
  o << s << " s";
  return o.str();
}

const std::set<std::string> kActive = {"PENDING",      "RUNNING",     "CONFIGURING", "COMPLETING",  "SUSPENDED",
                                       "REQUEUED",     "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",   "SIGNALING",
                                       "STAGE_OUT",    "STOPPED",     "RESV_DEL_HOLD"};

// squeue's view of the given jobs, one call: job ID → state. Jobs Slurm has forgotten are absent.
std::optional<std::map<std::string, SlurmJobState>> squeue(const std::vector<std::string>& ids) {
  std::map<std::string, SlurmJobState> states;
  if (ids.empty()) return states;
  const Output o = run_slurm_command(
      {"squeue", "--noheader", "--states=all", "--jobs=" + join(ids, ","), "--Format=JobID:|,State:|,Reason:|,RestartCnt:|"});
  if (o.code != 0) {
    // A list of only forgotten jobs is an error to squeue; anything else is Slurm not answering.
    if (o.err.find("Invalid job id") != std::string::npos) return states;
    spdlog::warn("squeue failed ({}); trying again at the next poll", o.err);
    return std::nullopt;
  }
  for (const std::string& line : split(o.out, '\n')) {
    const std::vector<std::string> f = split(line, '|');
    if (f.size() < 4) continue;
    SlurmJobState s{f[1], f[2], 0};
    try {
      s.restarts = std::stoi(f[3]);
    } catch (const std::exception&) {
    }
    states[f[0]] = s;
  }
  return states;
}

// sacct's final state of forgotten jobs (only where accounting is on): job ID → state, exit code.
std::map<std::string, std::pair<SlurmJobState, int>> sacct(const std::vector<std::string>& ids) {
  std::map<std::string, std::pair<SlurmJobState, int>> states;
  const Output o = run_slurm_command({"sacct", "--noheader", "--allocations", "--parsable2",
                                      "--jobs=" + join(ids, ","), "--format=JobIDRaw,State,ExitCode,Reason"});
  if (o.code != 0) return states;
  for (const std::string& line : split(o.out, '\n')) {
    const std::vector<std::string> f = split(line, '|');
    if (f.size() < 4) continue;
    SlurmJobState s{f[1].substr(0, f[1].find(' ')), f[3], 0};  // "CANCELLED by 0" → CANCELLED
    int code = 0;
    try {
      code = std::stoi(f[2].substr(0, f[2].find(':')));  // "1:0": exit code 1, signal 0
    } catch (const std::exception&) {
    }
    states[f[0]] = {s, code};
  }
  return states;
}

// The exit record the job script writes when the trial command ends: its exit code, if the record is of
// this job (a record left by an earlier attempt is not).
std::optional<int> read_exit_record(const Job& job) {
  std::ifstream in(job.dir / kExitRecord);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    const json j = parse_json(ss.str(), (job.dir / kExitRecord).string());
    if (j.value("job", "") != job.job_id) {
      spdlog::warn("trial {}: {} is of job {}, not of its job {}; ignored", job.trial_id, kExitRecord,
                   j.value("job", "?"), job.job_id);
      return std::nullopt;
    }
    return j.at("exit_code").get<int>();
  } catch (const std::exception& e) {
    spdlog::warn("trial {}: unreadable exit record: {}", job.trial_id, e.what());
    return std::nullopt;
  }
}

// When the exit record was written: the trial's end, also for a job collected long after (--resume).
std::optional<double> exit_record_time(const Job& job) {
  std::error_code ec;
  const auto t = fs::last_write_time(job.dir / kExitRecord, ec);
  if (ec) return std::nullopt;
  const auto sys = std::chrono::time_point_cast<std::chrono::system_clock::duration>(
      t - fs::file_time_type::clock::now() + std::chrono::system_clock::now());
  return std::chrono::duration<double>(sys.time_since_epoch()).count();
}

class SlurmService final : public TrainingService {
 public:
  SlurmService(const SlurmConfig& c, const fs::path& dir, Store& store)
      : c_(c), dir_(dir), prefix_(slurm_job_prefix(dir)), store_(store) {
    // Without accounting sacct refuses every query; the exit records and squeue then do its work.
    has_sacct_ = run_slurm_command({"sacct", "--noheader", "--allocations", "--jobs=1", "--format=JobIDRaw"}).code == 0;
    spdlog::info("Slurm: jobs named {}<trial>, polled every {}; accounting (sacct) {}", prefix_,
                 seconds_text(c_.poll_interval_s), has_sacct_ ? "on" : "off: exit records and squeue");
  }

  double poll_interval() const override { return c_.poll_interval_s; }

  void start(Job& job, const TrialLaunch& launch) override {
    fs::remove(job.dir / kExitRecord);
    const fs::path script = job.dir / "job.sh";
    write_file_atomically(script, job_script(job, launch));
    std::vector<std::string> argv = {"sbatch", "--parsable", "--requeue", "--job-name=" + prefix_ + std::to_string(job.trial_id),
                                     "--chdir=" + launch.code_dir.string(), "--output=" + (job.dir / "stdout.log").string(),
                                     "--error=" + (job.dir / "stderr.log").string()};
    auto add = [&](const std::string& flag, const std::string& value) {
      if (!value.empty()) argv.push_back(flag + "=" + value);
    };
    add("--partition", c_.partition);
    add("--account", c_.account);
    add("--qos", c_.qos);
    add("--time", c_.time);
    if (c_.cpus_per_task) add("--cpus-per-task", std::to_string(*c_.cpus_per_task));
    add("--mem", c_.memory);
    add("--gres", c_.gres);
    argv.insert(argv.end(), c_.sbatch_args.begin(), c_.sbatch_args.end());
    argv.push_back(script.string());
    const Output o = run_slurm_command(argv);
    const std::string id = o.out.substr(0, o.out.find_first_of(";\n"));  // "id" or "id;cluster"
    if (o.code != 0 || id.empty() || id.find_first_not_of("0123456789_") != std::string::npos)
      throw Error("sbatch failed: " + (o.err.empty() ? "exit code " + std::to_string(o.code) : o.err));
    job.job_id = id;
    store_.set_trial_job(job.trial_id, job.job_id, job.attempt);
  }

  std::map<int, JobEnd> poll(std::vector<Job*>& jobs) override {
    std::map<int, JobEnd> ends;
    std::vector<std::string> ids;
    for (const Job* j : jobs) ids.push_back(j->job_id);
    const auto states = squeue(ids);
    if (!states) return ends;
    std::vector<Job*> forgotten;
    const double now = now_seconds();
    for (Job* j : jobs) {
      const auto it = states->find(j->job_id);
      if (it == states->end()) {
        forgotten.push_back(j);
        continue;
      }
      const SlurmJobState& s = it->second;
      const bool active = kActive.count(s.state) > 0;
      if (!j->retry_reason.empty()) {  // cancelled for a resubmission: wait until it is gone
        if (!active) ends[j->trial_id] = JobEnd::retry(j->retry_reason);
        continue;
      }
      if (s.state == "PENDING" && pending_may_never_clear(s.reason)) {
        if (j->waiting_since == 0) {
          j->waiting_since = now;
          spdlog::warn("trial {}: job {} waits ({}); it fails if that lasts over pendingTimeout ({})", j->trial_id,
                       j->job_id, s.reason, seconds_text(c_.pending_timeout_s));
        }
      } else {
        j->waiting_since = 0;
      }
      const std::optional<int> code = active ? std::nullopt : read_exit_record(*j);
      std::optional<JobEnd> end = slurm_job_end(s, code, j->waiting_since ? now - j->waiting_since : 0, c_);
      if (!end) continue;
      if (active) {  // requeued, or waiting in vain: end the job itself first
        scancel(*j);
        if (end->kind == JobEnd::Kind::kRetry) {
          j->retry_reason = end->message;
          spdlog::warn("trial {}: job {} {}; cancelled, to be submitted again", j->trial_id, j->job_id, end->message);
          continue;
        }
      }
      if (code) end->ended_at = exit_record_time(*j);
      ends[j->trial_id] = *end;
    }
    if (!forgotten.empty()) collect_forgotten(forgotten, ends);
    return ends;
  }

  void cancel(Job& job) override {
    job.cancel_sent = true;
    job.cancel_time = now_seconds();
    scancel(job);
  }

  void stop_all(std::vector<Job*>& jobs) override {
    std::vector<std::string> ids;
    for (Job* j : jobs) {
      j->cancel_sent = true;
      ids.push_back(j->job_id);
    }
    if (ids.empty()) return;
    std::vector<std::string> argv = {"scancel"};
    argv.insert(argv.end(), ids.begin(), ids.end());
    run_slurm_command(argv);
    wait_until_gone(ids, 120);
  }

  std::vector<Job> adopt(const std::vector<TrialRecord>& running) override {
    std::vector<Job> jobs;
    std::vector<std::string> unrecorded;  // submitted just before a crash, before the store had the job ID
    for (const TrialRecord& t : running) {
      if (!t.job_id.empty())
        jobs.push_back(job_of(t.id, t.job_id, std::max(1, t.attempt)));
      else
        unrecorded.push_back(prefix_ + std::to_string(t.id));
    }
    if (!unrecorded.empty()) {
      const Output o = run_slurm_command({"squeue", "--noheader", "--me", "--name=" + join(unrecorded, ","),
                                          "--Format=JobID:|,Name:|"});
      for (const std::string& line : split(o.out, '\n')) {
        const std::vector<std::string> f = split(line, '|');
        if (f.size() < 2 || f[1].rfind(prefix_, 0) != 0) continue;
        const std::string suffix = f[1].substr(prefix_.size());
        if (suffix.empty() || suffix.size() > 9 || suffix.find_first_not_of("0123456789") != std::string::npos) continue;
        const int id = std::stoi(suffix);
        const auto t = std::find_if(running.begin(), running.end(), [&](const TrialRecord& r) { return r.id == id; });
        const int attempt = t != running.end() ? std::max(1, t->attempt) : 1;
        store_.set_trial_job(id, f[0], attempt);
        jobs.push_back(job_of(id, f[0], attempt));
      }
    }
    for (const Job& j : jobs) spdlog::info("trial {}: adopting Slurm job {} (attempt {})", j.trial_id, j.job_id, j.attempt);
    return jobs;
  }

 private:
  Job job_of(int trial_id, const std::string& job_id, int attempt) const {
    Job j;
    j.trial_id = trial_id;
    j.dir = dir_ / "trials" / std::to_string(trial_id);
    j.job_id = job_id;
    j.attempt = attempt;
    return j;
  }

  void scancel(const Job& job) {
    const Output o = run_slurm_command({"scancel", job.job_id});
    if (o.code != 0) spdlog::warn("trial {}: scancel {} failed: {}", job.trial_id, job.job_id, o.err);
  }

  void wait_until_gone(const std::vector<std::string>& ids, double limit_s) {
    const double deadline = now_seconds() + limit_s;
    while (now_seconds() < deadline) {
      const auto states = squeue(ids);
      if (states && std::none_of(states->begin(), states->end(), [](const auto& kv) { return kActive.count(kv.second.state); }))
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    spdlog::warn("some jobs were still queued or running {} after scancel", seconds_text(limit_s));
  }

  // Jobs that squeue no longer lists (they ended longer ago than Slurm's MinJobAge): sacct's record where
  // accounting is on, else the exit record; a job with neither is lost and its trial runs again.
  void collect_forgotten(const std::vector<Job*>& jobs, std::map<int, JobEnd>& ends) {
    std::map<std::string, std::pair<SlurmJobState, int>> accounted;
    if (has_sacct_) {
      std::vector<std::string> ids;
      for (const Job* j : jobs) ids.push_back(j->job_id);
      accounted = sacct(ids);
    }
    for (Job* j : jobs) {
      const std::optional<int> code = read_exit_record(*j);
      if (const auto a = accounted.find(j->job_id); a != accounted.end() && !kActive.count(a->second.first.state)) {
        if (const auto end = slurm_job_end(a->second.first, code ? code : std::optional<int>(a->second.second), 0, c_))
          ends[j->trial_id] = !j->retry_reason.empty() ? JobEnd::retry(j->retry_reason) : *end;
        continue;
      }
      if (!j->retry_reason.empty())
        ends[j->trial_id] = JobEnd::retry(j->retry_reason);
      else if (code)
        ends[j->trial_id] = JobEnd::exited(*code, exit_record_time(*j));
      else
        ends[j->trial_id] = JobEnd::retry("job " + j->job_id + " is gone from Slurm and left no exit record (lost)");
    }
  }

  // Runs the trial command as the local service does (same variables, /bin/sh -c in the code directory,
  // stdin from /dev/null) and records how it ended in the trial folder, for clusters without accounting.
  std::string job_script(const Job& job, const TrialLaunch& launch) const {
    std::string s = "#!/bin/sh\n# vdsr-tune: trial " + std::to_string(job.trial_id) + ", attempt " +
                    std::to_string(job.attempt) + " (docs/tuning.md, \"Running on a Slurm cluster\").\n";
    for (const std::string& v : trial_environment(job)) {
      const size_t eq = v.find('=');
      s += "export " + v.substr(0, eq) + "=" + shell_quote(v.substr(eq + 1)) + "\n";
    }
    s += "cd " + shell_quote(launch.code_dir.string()) + " || exit 1\n";
    s += "/bin/sh -c " + shell_quote(launch.command) + " </dev/null\n";
    s += "code=$?\n";
    const std::string record = (job.dir / kExitRecord).string();
    s += "printf '{\"job\": \"%s\", \"attempt\": " + std::to_string(job.attempt) +
         ", \"exit_code\": %d}\\n' \"$SLURM_JOB_ID\" \"$code\" > " + shell_quote(record + ".tmp") + " && mv -f " +
         shell_quote(record + ".tmp") + " " + shell_quote(record) + "\n";
    s += "exit $code\n";
    return s;
  }

  SlurmConfig c_;
  fs::path dir_;
  std::string prefix_;
  Store& store_;
  bool has_sacct_ = false;
};

}  // namespace

bool pending_may_never_clear(const std::string& reason) {
  static const char* const kReasons[] = {
      "PartitionConfig",  "PartitionDown",   "PartitionInactive", "PartitionNodeLimit", "PartitionTimeLimit",
      "ReqNodeNotAvail",  "BadConstraints",  "InvalidAccount",    "InvalidQOS",         "AccountNotAllowed",
      "QOSNotAllowed",    "NodeDown",        "DependencyNeverSatisfied"};
  for (const char* r : kReasons)
    if (reason.rfind(r, 0) == 0) return true;  // "ReqNodeNotAvail, UnavailableNodes:..." too
  return false;
}

std::optional<JobEnd> slurm_job_end(const SlurmJobState& s, std::optional<int> exit_code, double waited_s,
                                    const SlurmConfig& c) {
  const std::string& st = s.state;
  const std::string why = s.reason.empty() || s.reason == "None" ? "" : " (" + s.reason + ")";
  if (st == "REQUEUED" || st == "REQUEUE_HOLD" || st == "REQUEUE_FED" || (kActive.count(st) && s.restarts > 0))
    return JobEnd::retry("requeued by Slurm");
  if (st == "PENDING" && pending_may_never_clear(s.reason) && waited_s > c.pending_timeout_s)
    return JobEnd::failed("PENDING (" + s.reason + ") for over pendingTimeout (" + seconds_text(c.pending_timeout_s) +
                          "): the job may never start; check the partition, account, qos and resources asked for");
  if (kActive.count(st)) return std::nullopt;
  if (st == "COMPLETED") return JobEnd::exited(exit_code.value_or(0));
  if (st == "FAILED") {
    if (exit_code) return JobEnd::exited(*exit_code);
    return JobEnd::failed("FAILED" + why + " before the trial command ended");
  }
  if (st == "OUT_OF_MEMORY")
    return JobEnd::failed("OUT_OF_MEMORY: over its memory limit" + (c.memory.empty() ? "" : " (memory " + c.memory + ")"));
  if (st == "TIMEOUT")
    return JobEnd::failed("TIMEOUT: over its time limit" + (c.time.empty() ? "" : " (time " + c.time + ")"));
  if (st == "CANCELLED") return JobEnd::failed("CANCELLED outside the tuner (scancel?)");
  if (st == "PREEMPTED" || st == "NODE_FAIL" || st == "BOOT_FAIL") return JobEnd::retry(st + why);
  return JobEnd::failed(st + why);  // DEADLINE, REVOKED, SPECIAL_EXIT, ...
}

std::string slurm_job_prefix(const fs::path& dir) {
  // FNV-1a of the folder's absolute path: stable across --resume, distinct between experiments.
  std::uint32_t h = 2166136261u;
  for (unsigned char ch : fs::weakly_canonical(fs::absolute(dir)).string()) h = (h ^ ch) * 16777619u;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return std::string("vdsr-") + buf + "-";
}

void check_slurm(const SlurmConfig& c, const fs::path& dir, const std::string& where) {
  const Output o = run_slurm_command({"sinfo", "--noheader", "--format=%R"});
  if (o.code != 0)
    throw Error(where + ": trainingService: Slurm's sinfo did not answer (" + (o.err.empty() ? "exit code " + std::to_string(o.code) : o.err) +
                "); run vdsr-tune on a machine of the cluster, with Slurm's commands on PATH");
  if (!c.partition.empty()) {
    std::vector<std::string> partitions = split(o.out, '\n');
    if (std::find(partitions.begin(), partitions.end(), c.partition) == partitions.end())
      throw Error(where + ": trainingService.partition: no partition \"" + c.partition + "\" on this cluster (sinfo lists: " +
                  join(partitions, ", ") + ")");
  }
  if (!c.shared_dir.empty()) {
    const std::string d = fs::weakly_canonical(fs::absolute(dir)).string() + "/";
    const std::string shared = c.shared_dir.string() + (c.shared_dir.string().back() == '/' ? "" : "/");
    if (d.rfind(shared, 0) != 0)
      throw Error(where + ": trainingService.sharedDir: the experiment folder " + d + " is not inside " + c.shared_dir.string() +
                  ", so the nodes would not see its trial folders; choose --dir inside it");
  }
}

std::unique_ptr<TrainingService> make_slurm_service(const SlurmConfig& c, const fs::path& dir, Store& store) {
  return std::make_unique<SlurmService>(c, dir, store);
}

int cancel_experiment_jobs(const fs::path& dir, double wait_s) {
  const std::string prefix = slurm_job_prefix(dir);
  const Output o = run_slurm_command({"squeue", "--noheader", "--me", "--Format=JobID:|,Name:|"});
  if (o.code != 0) throw Error("squeue failed: " + o.err);
  std::vector<std::string> ids;
  for (const std::string& line : split(o.out, '\n')) {
    const std::vector<std::string> f = split(line, '|');
    if (f.size() >= 2 && f[1].rfind(prefix, 0) == 0) ids.push_back(f[0]);
  }
  if (ids.empty()) return 0;
  std::vector<std::string> argv = {"scancel"};
  argv.insert(argv.end(), ids.begin(), ids.end());
  const Output c = run_slurm_command(argv);
  if (c.code != 0) spdlog::warn("scancel: {}", c.err);
  const double deadline = now_seconds() + wait_s;
  while (now_seconds() < deadline) {
    const auto states = squeue(ids);
    if (states && std::none_of(states->begin(), states->end(), [](const auto& kv) { return kActive.count(kv.second.state); }))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return static_cast<int>(ids.size());
}

}  // namespace vdsr::hpo
