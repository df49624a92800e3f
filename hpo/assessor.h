#pragma once
// The median stopping rule (Golovin et al., "Google Vizier", KDD 2017), with NNI Medianstop's classArgs:
// at step t >= start_step a running trial stops when its best intermediate value so far is worse than the
// median, over completed trials that reached step t, of their running averages up to step t.
#include <map>
#include <vector>

#include "hpo/tuner.h"

namespace vdsr::hpo {

class MedianStop {
 public:
  MedianStop(OptimizeMode mode, int start_step) : mode_(mode), start_step_(start_step) {}
  // Builds it from NNI's `assessor: {name: "Medianstop", classArgs: {optimize_mode, start_step}}`.
  static MedianStop from_config(const json& cfg, const std::string& where);

  // A trial that finished normally, with its intermediate values in step order.
  void completed(int trial_id, const std::vector<double>& intermediate);
  // True when a running trial with these intermediate values should be stopped now.
  bool should_stop(const std::vector<double>& intermediate) const;

 private:
  OptimizeMode mode_;
  int start_step_;
  std::map<int, std::vector<double>> running_avg_;  // completed trial -> running average per step
};

}  // namespace vdsr::hpo
