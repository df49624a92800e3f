#include "vdsr/train/hyperparams.h"

#include <cmath>

#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"

namespace vdsr::train {

void to_json(nlohmann::json& j, const HyperParams& p) {
  j = {{"lr", p.lr}, {"momentum", p.momentum}, {"batchSize", p.batch_size}, {"clip", p.clip},
       {"weight_decay", p.weight_decay}};
}

void from_json(const nlohmann::json& j, HyperParams& p) {
  Fields f(j, "hyper-parameters");
  read_hyper_params(f, p);
  f.finish();
}

std::vector<std::string> read_hyper_params(Fields& f, HyperParams& p) {
  std::vector<std::string> read;
  auto real = [&](const char* key, double& value, Range range) {
    if (auto v = f.maybe<double>(key, range)) {
      value = *v;
      read.push_back(key);
    }
  };
  real("lr", p.lr, Range::above(0));
  real("momentum", p.momentum, Range::between(0, 1));
  real("clip", p.clip, Range::at_least(0));
  real("weight_decay", p.weight_decay, Range::at_least(0));
  // A search space may give the batch size as a float (quniform): a whole number is accepted.
  if (auto v = f.maybe<double>("batchSize", Range::between(1, 1e7))) {
    if (*v != std::floor(*v)) f.fail("batchSize", "expected an integer >= 1, got " + nlohmann::json(*v).dump());
    p.batch_size = static_cast<int>(*v);
    read.push_back("batchSize");
  }
  return read;
}

std::vector<std::string> read_params_file(const std::filesystem::path& path, HyperParams& params) {
  const nlohmann::json j = read_json_file(path);
  Fields f(j, path.string());
  auto read = read_hyper_params(f, params);
  f.finish();
  return read;
}

void validate(const HyperParams& p) {
  if (p.batch_size < 1) throw Error("batch size must be at least 1, got " + std::to_string(p.batch_size));
  if (!(p.lr > 0) || !std::isfinite(p.lr)) throw Error("learning rate must be positive, got " + std::to_string(p.lr));
  if (!(p.momentum >= 0 && p.momentum <= 1)) throw Error("momentum must be in [0, 1], got " + std::to_string(p.momentum));
  if (!(p.clip >= 0) || !std::isfinite(p.clip)) throw Error("clip must be >= 0, got " + std::to_string(p.clip));
  if (!(p.weight_decay >= 0) || !std::isfinite(p.weight_decay)) {
    throw Error("weight decay must be >= 0, got " + std::to_string(p.weight_decay));
  }
}

}  // namespace vdsr::train
