#include "compress/criteria.h"

#include <algorithm>
#include <cmath>

#include "vdsr/util/error.h"

namespace vdsr::compress {

namespace {

double fan_in(const at::Tensor& rows) { return static_cast<double>(rows.size(1)); }

at::Tensor l1_norm(const at::Tensor& rows, bool per_weight) {
  const at::Tensor sum = rows.abs().sum(1);
  return per_weight ? sum / fan_in(rows) : sum;
}

at::Tensor l2_norm(const at::Tensor& rows, bool per_weight) {
  const at::Tensor squares = rows.pow(2).sum(1);
  return per_weight ? (squares / fan_in(rows)).sqrt() : squares.sqrt();
}

// Filters near the geometric median are the most replaceable: their sum of distances to all the other
// filters is small.
at::Tensor fpgm(const at::Tensor& rows, bool per_weight) {
  const at::Tensor diff = rows.unsqueeze(1) - rows.unsqueeze(0);  // no matrix product: exact and small
  const at::Tensor total = diff.pow(2).sum(2).sqrt().sum(1);
  return per_weight ? total / (std::sqrt(fan_in(rows)) * std::max<int64_t>(1, rows.size(0) - 1)) : total;
}

std::deque<Criterion>& table() {
  static std::deque<Criterion> criteria = {
      {"l1", "Li et al., ICLR 2017, \"Pruning Filters for Efficient ConvNets\"", l1_norm},
      {"l2", "the L2 variant of Li et al. (NNI's L2NormPruner)", l2_norm},
      {"fpgm", "He et al., CVPR 2019, \"Filter Pruning via Geometric Median\"", fpgm},
  };
  return criteria;
}

}  // namespace

const std::deque<Criterion>& criteria() { return table(); }

bool add_criterion(Criterion criterion) {
  auto& all = table();
  if (std::any_of(all.begin(), all.end(), [&](const Criterion& c) { return c.name == criterion.name; })) {
    throw Error("pruning criterion '" + criterion.name + "' is already registered");
  }
  all.push_back(std::move(criterion));
  return true;
}

const Criterion& find_criterion(const std::string& name) {
  for (const Criterion& c : criteria()) {
    if (c.name == name) return c;
  }
  throw Error("unknown pruning criterion '" + name + "' (expected " + criterion_names() + ")");
}

std::string criterion_names() {
  std::string names;
  for (const Criterion& c : criteria()) names += (names.empty() ? "" : ", ") + c.name;
  return names;
}

}  // namespace vdsr::compress
