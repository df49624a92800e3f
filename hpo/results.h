#pragma once
// What an experiment folder yields: the best trial, the final table, NNI-style exports and the report.
#include <optional>
#include <string>
#include <vector>

#include "hpo/store.h"
#include "hpo/tuner.h"

namespace vdsr::hpo {

// The experiment's direction: the tuner's classArgs.optimize_mode, minimize when absent.
OptimizeMode experiment_mode(const json& config);
// The best SUCCEEDED trial; nullopt when none succeeded.
std::optional<TrialRecord> best_trial(const std::vector<TrialRecord>& trials, OptimizeMode mode);
// Succeeded trials best first, then the others by id.
std::vector<TrialRecord> sorted_by_result(const std::vector<TrialRecord>& trials, OptimizeMode mode);
std::string results_table(const std::vector<TrialRecord>& trials, OptimizeMode mode);

// Like `nnictl experiment export`: one row per trial with the parameters, `reward` and other final
// metrics, `trialJobId`, status and duration.
std::string export_csv(const std::vector<TrialRecord>& trials);
json export_json(const std::vector<TrialRecord>& trials);

// The report contract's stage "tune" (schema vdsr-report/1).
json make_report(const json& config, const std::vector<TrialRecord>& trials);

}  // namespace vdsr::hpo
