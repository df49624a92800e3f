#pragma once
// Pruning criteria: how important each output filter of a convolution is. They live in one table
// (criteria.cpp); a new criterion is one entry there, or one add_criterion call, and every mode, the
// global ranking and the `pruner` name in configs and on the command line pick it up.
#include <ATen/ATen.h>

#include <deque>
#include <functional>
#include <string>

namespace vdsr::compress {

// Scores of the rows of a [units, fan_in] matrix of doubles (one row per output filter): higher is kept.
// With `per_weight` the score is normalised by the fan-in (mean |w| rather than the sum, say), so that a
// global ranking can compare layers of different fan-in.
using Importance = std::function<at::Tensor(const at::Tensor& rows, bool per_weight)>;

struct Criterion {
  std::string name;    // how configs and --pruner spell it: "l1"
  std::string source;  // the paper it comes from
  Importance importance;
};

// Every criterion, the built-in ones (l1, l2, fpgm) first. A deque: adding one moves none of the others.
const std::deque<Criterion>& criteria();

// Registers one more criterion; a name already taken is an error. Returns true, so that a file can
// register one at static initialisation: `const bool added = add_criterion({...});`.
bool add_criterion(Criterion criterion);

// The criterion of that name; throws vdsr::Error listing the names otherwise.
const Criterion& find_criterion(const std::string& name);

// "l1, l2, fpgm", for messages.
std::string criterion_names();

}  // namespace vdsr::compress
