#pragma once
// NNI-format search spaces (https://nni.readthedocs.io/en/stable/hpo/search_space.html): parsing with
// precise errors, sampling from the prior, and conversion between the tuners' numeric points and the
// JSON parameters a trial receives.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vdsr/util/enum_names.h"
#include "vdsr/util/random.h"

namespace vdsr::hpo {

using json = nlohmann::json;

enum class ParamType {
  Choice,
  Randint,
  Uniform,
  Quniform,
  Loguniform,
  Qloguniform,
  Normal,
  Qnormal,
  Lognormal,
  Qlognormal
};

VDSR_ENUM_NAMES(ParamType, {{ParamType::Choice, "choice"},
                            {ParamType::Randint, "randint"},
                            {ParamType::Uniform, "uniform"},
                            {ParamType::Quniform, "quniform"},
                            {ParamType::Loguniform, "loguniform"},
                            {ParamType::Qloguniform, "qloguniform"},
                            {ParamType::Normal, "normal"},
                            {ParamType::Qnormal, "qnormal"},
                            {ParamType::Lognormal, "lognormal"},
                            {ParamType::Qlognormal, "qlognormal"}})

// One dimension of the flattened space. Nested choices make dimensions conditional: a dimension is
// active only when its parent choice picked the option that contains it.
struct Dim {
  std::string name;     // key inside its (sub)space, e.g. "lr"
  std::string label;    // unique path, e.g. "optimizer/sgd/momentum"
  ParamType type = ParamType::Uniform;
  double a = 0, b = 0;  // [low, high] for bounded types, [mu, sigma] for the normal family
  double q = 0;         // quantum for q-types, 0 otherwise
  std::vector<json> options;              // choice only; an option with "_name" is a nested space
  std::vector<std::vector<int>> children; // choice only: dims (indices) active under each option
  int parent = -1, parent_option = -1;    // -1: top level

  bool is_log() const;
  bool is_normal_family() const;
  bool is_bounded() const { return !is_normal_family(); }
  bool is_discrete() const;  // finite set of values: choice, randint, bounded q-types
  // Bounds of the value in model space (log space for log types). Only for bounded types.
  double model_low() const;
  double model_high() const;
  // Ordered discrete values (randint, quniform, qloguniform). With continuous_points > 0 the other
  // numeric types give that many evenly spaced values (grid search); otherwise they give none.
  // Refused (vdsr::Error naming the parameter) past kMaxGridValues values.
  std::vector<double> grid_values(int continuous_points = 0) const;
  // How many values grid_values gives, counted without listing them (an upper bound when huge).
  double grid_count(int continuous_points = 0) const;
  static constexpr double kMaxGridValues = 1e7;
  double quantize(double x) const;  // applies q and bounds to a value in value space
};

// A point: one value per dim, NaN where the dim is inactive. A choice stores its option index.
using Point = std::vector<double>;

class SearchSpace {
 public:
  // `where` names the source (file path) for error messages.
  static SearchSpace parse(const json& space, const std::string& where);
  static SearchSpace load(const std::string& path);
  // The same from a file's text (vdsr/util/json_io.h limits).
  static SearchSpace parse_text(std::string_view text, const std::string& where);

  const std::vector<Dim>& dims() const { return dims_; }
  const std::vector<int>& roots() const { return roots_; }
  const json& source() const { return source_; }

  // Draws a point from the prior; only dims of chosen branches get values.
  Point sample(Rng& rng) const;
  // Samples one dim's value from its prior (value space; choice: index).
  double sample_dim(int d, Rng& rng) const;
  // The point whose every active dim takes its prior's u[d]-quantile, u[d] in [0, 1) (one per dim):
  // sample() with the uniform draws given, for stratified (Latin hypercube) designs.
  Point point_at(const std::vector<double>& u) const;

  // NNI parameter JSON: {"lr": 0.1, "opt": {"_name": "sgd", "momentum": 0.9}}.
  json to_params(const Point& p) const;
  // Inverse of to_params; throws vdsr::Error when params do not fit the space.
  Point from_params(const json& params) const;

  // True when every active combination is finite (choice, randint, bounded q-types only).
  bool is_discrete() const;
  // Number of distinct points of a discrete space, saturating at `cap`.
  double grid_size(double cap = 1e12) const;
  // Every point of a discrete space in lexicographic order (callers check grid_size first).
  // continuous_points > 0 also spreads that many values over each continuous dim (grid search).
  std::vector<Point> enumerate(int continuous_points = 0) const;

  // Key identifying a point for duplicate detection.
  static std::string key(const Point& p);

 private:
  void parse_into(const json& space, const std::string& where, const std::string& prefix, int parent,
                  int parent_option, std::vector<int>& out);
  // Checks the options of choice `id` and parses the nested spaces among them.
  void parse_options(int id, const std::string& where, const std::string& at);
  void sample_into(const std::vector<int>& ids, Rng& rng, Point& p) const;
  double quantile(int d, double u) const;
  void point_at_into(const std::vector<int>& ids, const std::vector<double>& u, Point& p) const;
  json params_of(const std::vector<int>& ids, const Point& p) const;
  void point_of(const std::vector<int>& ids, const json& params, const std::string& path, Point& p) const;
  double grid_size_of(const std::vector<int>& ids, double cap) const;
  std::vector<Point> enumerate_of(const std::vector<int>& ids, int continuous_points) const;

  std::vector<Dim> dims_;
  std::vector<int> roots_;
  json source_;
};

}  // namespace vdsr::hpo
