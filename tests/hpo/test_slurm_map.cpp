// The Slurm state map (docs/tuning.md) and the trainingService config, without a cluster: states the local
// cluster cannot produce (preemption, node failure, out of memory) are checked here.
#include <gtest/gtest.h>

#include "hpo/config.h"
#include "hpo/slurm_service.h"
#include "vdsr/util/error.h"

using namespace vdsr::hpo;
using K = JobEnd::Kind;

namespace {

std::optional<JobEnd> end_of(const std::string& state, const std::string& reason = "None", int restarts = 0,
                             std::optional<int> code = std::nullopt, double waited = 0) {
  SlurmConfig c;
  c.time = "10";
  c.memory = "1G";
  c.pending_timeout_s = 5;
  return slurm_job_end({state, reason, restarts}, code, waited, c);
}

json config_with(const json& service) {
  return {{"searchSpace", {{"x", {{"_type", "uniform"}, {"_value", {0, 1}}}}}},
          {"trialCommand", "true"},
          {"trialConcurrency", 1},
          {"tuner", {{"name", "Random"}}},
          {"trainingService", service}};
}

std::string config_error(const json& service) {
  try {
    parse_config(config_with(service), "exp.json", ".");
  } catch (const vdsr::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SlurmStateMap, QueuedAndRunningJobsHaveNoEndYet) {
  for (const char* s : {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"})
    EXPECT_FALSE(end_of(s)) << s;
  EXPECT_FALSE(end_of("PENDING", "Resources"));
  EXPECT_FALSE(end_of("PENDING", "Priority", 0, std::nullopt, 1e6));  // may wait for ever: it clears
}

TEST(SlurmStateMap, CompletedAndFailedGiveTheCommandsExitCode) {
  auto e = end_of("COMPLETED", "None", 0, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, K::kExited);
  EXPECT_EQ(e->exit_code, 0);
  e = end_of("FAILED", "NonZeroExitCode", 0, 3);
  EXPECT_EQ(e->kind, K::kExited);
  EXPECT_EQ(e->exit_code, 3);
  e = end_of("FAILED", "NonZeroExitCode");  // no exit record: the job failed around the command
  EXPECT_EQ(e->kind, K::kFailed);
  EXPECT_NE(e->message.find("FAILED (NonZeroExitCode)"), std::string::npos) << e->message;
}

TEST(SlurmStateMap, MemoryTimeAndCancelFailWithTheirReason) {
  EXPECT_EQ(end_of("OUT_OF_MEMORY")->kind, K::kFailed);
  EXPECT_NE(end_of("OUT_OF_MEMORY")->message.find("memory 1G"), std::string::npos);
  EXPECT_EQ(end_of("TIMEOUT")->kind, K::kFailed);
  EXPECT_NE(end_of("TIMEOUT")->message.find("TIMEOUT: over its time limit (time 10)"), std::string::npos);
  EXPECT_EQ(end_of("CANCELLED")->kind, K::kFailed);
  EXPECT_NE(end_of("CANCELLED")->message.find("outside the tuner"), std::string::npos);
  EXPECT_EQ(end_of("DEADLINE")->kind, K::kFailed);
}

TEST(SlurmStateMap, PreemptionNodeFailureAndRequeueAreRetried) {
  for (const char* s : {"PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})
    EXPECT_EQ(end_of(s)->kind, K::kRetry) << s;
  EXPECT_EQ(end_of("PENDING", "BeginTime", 1)->kind, K::kRetry);  // requeued, held until its BeginTime
  EXPECT_EQ(end_of("RUNNING", "None", 1)->kind, K::kRetry);       // requeued and already running again
}

TEST(SlurmStateMap, AWaitThatMayNeverClearFailsAfterPendingTimeout) {
  EXPECT_TRUE(pending_may_never_clear("PartitionConfig"));
  EXPECT_TRUE(pending_may_never_clear("ReqNodeNotAvail, UnavailableNodes:n1"));
  EXPECT_FALSE(pending_may_never_clear("Resources"));
  EXPECT_FALSE(end_of("PENDING", "PartitionConfig", 0, std::nullopt, 4));
  const auto e = end_of("PENDING", "ReqNodeNotAvail, UnavailableNodes:n1", 0, std::nullopt, 6);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, K::kFailed);
  EXPECT_NE(e->message.find("PENDING (ReqNodeNotAvail"), std::string::npos) << e->message;
}

TEST(SlurmConfig, FieldsFollowSbatchAndRoundTrip) {
  const ExperimentConfig c = parse_config(
      config_with({{"platform", "slurm"}, {"partition", "gpu"}, {"account", "lab"}, {"qos", "normal"},
                   {"time", "1:30:00"}, {"cpusPerTask", 4}, {"memory", "8G"}, {"gres", "gpu:1"},
                   {"sbatchArgs", {"--constraint=a100"}}, {"pendingTimeout", "2m"}, {"pollInterval", 10}}),
      "exp.json", ".");
  EXPECT_TRUE(c.service.is_slurm());
  EXPECT_EQ(c.service.slurm.partition, "gpu");
  EXPECT_EQ(c.service.slurm.cpus_per_task, 4);
  EXPECT_EQ(c.service.slurm.max_retries, 1);  // the default
  EXPECT_DOUBLE_EQ(c.service.slurm.pending_timeout_s, 120);
  const ExperimentConfig back = parse_config(c.to_json(), "stored", ".");
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(parse_config(config_with({{"platform", "local"}}), "exp.json", ".").to_json()["trainingService"],
            json({{"platform", "local"}}));
}

TEST(SlurmConfig, BadFieldsAreErrorsNamingTheKey) {
  EXPECT_NE(config_error({{"platform", "slurm"}, {"partitoin", "gpu"}}).find("partitoin"), std::string::npos);
  EXPECT_NE(config_error({{"platform", "slurm"}, {"time", "an hour"}}).find("exp.json: trainingService.time: expected sbatch"),
            std::string::npos)
      << config_error({{"platform", "slurm"}, {"time", "an hour"}});
  for (const char* ok : {"30", "30:00", "1:30:00", "2-0", "2-12:00", "1-0:0:1", "UNLIMITED"})
    EXPECT_EQ(config_error({{"platform", "slurm"}, {"time", ok}}), "") << ok;
  for (const char* bad : {"", "1h", "1:2:3:4", "-1", "1-", ":30", "1-2-3", "1.5"})
    EXPECT_NE(config_error({{"platform", "slurm"}, {"time", bad}}), "") << bad;
  EXPECT_NE(config_error({{"platform", "slurm"}, {"maxRetries", -1}}).find("maxRetries"), std::string::npos);
  EXPECT_NE(config_error({{"platform", "slurm"}, {"sharedDir", "/no/such/dir"}}).find("is not a directory"),
            std::string::npos);
  EXPECT_NE(config_error({{"platform", "remote"}}).find("expected \"local\" or \"slurm\""), std::string::npos);
  EXPECT_NE(config_error({{"platform", "local"}, {"partition", "gpu"}}).find("partition"), std::string::npos);
}
