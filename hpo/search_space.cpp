#include "hpo/search_space.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/json_io.h"

namespace vdsr::hpo {

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_q(ParamType t) {
  return t == ParamType::Quniform || t == ParamType::Qloguniform || t == ParamType::Qnormal ||
         t == ParamType::Qlognormal;
}

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

// The numbers of a non-choice parameter: [low, high(, q)] or [mu, sigma(, q)], checked.
void read_bounds(Dim& d, const json& v, const std::string& at) {
  const std::string tname = name_of(d.type);
  const bool q = is_q(d.type);
  const size_t want = q ? 3 : 2;
  const char* shape = d.type == ParamType::Randint ? "[low, high)"
                      : d.is_normal_family()       ? (q ? "[mu, sigma, q]" : "[mu, sigma]")
                                                   : (q ? "[low, high, q]" : "[low, high]");
  if (v.size() != want)
    throw Error(at + ": " + tname + " needs " + std::to_string(want) + " values " + shape + ", got " +
                std::to_string(v.size()));
  for (const auto& x : v)
    if (!x.is_number() || !std::isfinite(x.get<double>()))
      throw Error(at + ": " + tname + " values must be finite numbers " + shape + ", got " + v.dump());
  d.a = v[0].get<double>();
  d.b = v[1].get<double>();
  if (q) {
    d.q = v[2].get<double>();
    if (!(d.q > 0)) throw Error(at + ": " + tname + " needs q > 0, got " + v.dump());
  }
  if (d.is_normal_family()) {
    if (!(d.b > 0)) throw Error(at + ": " + tname + " needs sigma > 0, got " + v.dump());
    return;
  }
  if (!(d.b > d.a)) throw Error(at + ": " + tname + " needs high > low, got " + v.dump());
  if (d.is_log() && !(d.a > 0))
    throw Error(at + ": " + tname + " needs low > 0 (it samples in log space), got " + v.dump());
  if (d.type == ParamType::Randint && (d.a != std::floor(d.a) || d.b != std::floor(d.b)))
    throw Error(at + ": randint needs integer bounds [low, high), got " + v.dump());
}

}  // namespace

bool Dim::is_log() const {
  return type == ParamType::Loguniform || type == ParamType::Qloguniform ||
         type == ParamType::Lognormal || type == ParamType::Qlognormal;
}

bool Dim::is_normal_family() const {
  return type == ParamType::Normal || type == ParamType::Qnormal || type == ParamType::Lognormal ||
         type == ParamType::Qlognormal;
}

bool Dim::is_discrete() const {
  return type == ParamType::Choice || type == ParamType::Randint || type == ParamType::Quniform ||
         type == ParamType::Qloguniform;
}

double Dim::model_low() const { return is_log() ? std::log(a) : a; }
double Dim::model_high() const { return is_log() ? std::log(b) : b; }

double Dim::quantize(double x) const {
  switch (type) {
    case ParamType::Quniform:
    case ParamType::Qloguniform:
      return std::clamp(std::round(x / q) * q, a, b);
    case ParamType::Qnormal:
    case ParamType::Qlognormal:
      return std::round(x / q) * q;
    case ParamType::Randint:
      return std::clamp(std::floor(x), a, b - 1);
    default:
      return x;
  }
}

namespace {
std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}
}  // namespace

double Dim::grid_count(int continuous_points) const {
  if (!is_discrete() && type != ParamType::Choice) return continuous_points;
  if (type == ParamType::Randint) return std::max(0.0, std::ceil(b - a));
  if (type == ParamType::Quniform || type == ParamType::Qloguniform)
    return std::max(0.0, std::round(b / q) - std::round(a / q) + 1);
  return 0;  // a choice: the space counts its options, with their nested dims
}

std::vector<double> Dim::grid_values(int continuous_points) const {
  std::vector<double> out;
  if (!is_discrete() && type != ParamType::Choice && continuous_points > 0) {
    // Bounded: cell midpoints in model space. Normal family: mu + sigma * z over z in [-2, 2].
    const int n = continuous_points;
    for (int k = 0; k < n; ++k) {
      double x;
      if (is_bounded()) {
        x = model_low() + (model_high() - model_low()) * (k + 0.5) / n;
      } else {
        x = a + b * (n == 1 ? 0.0 : -2.0 + 4.0 * k / (n - 1));
      }
      x = quantize(is_log() ? std::exp(x) : x);
      if (out.empty() || x != out.back()) out.push_back(x);
    }
    return out;
  }
  // Counted first: a range such as randint [0, 1e300] is refused, not listed, and the values are
  // indexed from the low end, since adding 1 to a double past 2^53 does not move it.
  const double count = grid_count();
  if (count > kMaxGridValues)
    throw Error("search space: '" + label + "' has " + number(count) + " values, more than the " +
                number(kMaxGridValues) + " that can be listed for a grid");
  const auto n = static_cast<long long>(count);
  if (type == ParamType::Randint) {
    for (long long i = 0; i < n; ++i) {
      const double v = a + static_cast<double>(i);
      if (out.empty() || v != out.back()) out.push_back(v);
    }
  } else if (type == ParamType::Quniform || type == ParamType::Qloguniform) {
    // Every value clip(round(x/q)*q, low, high) takes for x in [low, high]: multiples of q, with the
    // bounds themselves where rounding falls outside them.
    const double k_lo = std::round(a / q);
    for (long long i = 0; i < n; ++i) {
      const double v = std::clamp((k_lo + static_cast<double>(i)) * q, a, b);
      if (out.empty() || v != out.back()) out.push_back(v);
    }
  }
  return out;
}

SearchSpace SearchSpace::load(const std::string& path) { return parse(read_json_file(path), path); }

SearchSpace SearchSpace::parse_text(std::string_view text, const std::string& where) {
  return parse(parse_json(text, where), where);
}

SearchSpace SearchSpace::parse(const json& space, const std::string& where) {
  SearchSpace s;
  s.source_ = space;
  s.parse_into(space, where, "", -1, -1, s.roots_);
  if (s.roots_.empty()) throw Error(where + ": search space is empty; expected at least one parameter");
  return s;
}

void SearchSpace::parse_into(const json& space, const std::string& where, const std::string& prefix,
                             int parent, int parent_option, std::vector<int>& out) {
  if (!space.is_object())
    throw Error(where + ": search space" + (prefix.empty() ? "" : " '" + prefix + "'") +
                " must be a JSON object of {\"name\": {\"_type\": .., \"_value\": [..]}}");
  for (auto it = space.begin(); it != space.end(); ++it) {
    if (!prefix.empty() && it.key() == "_name") continue;
    Dim d;
    d.name = it.key();
    d.label = prefix.empty() ? d.name : prefix + "/" + d.name;
    d.parent = parent;
    d.parent_option = parent_option;
    const std::string at = where + ": parameter '" + d.label + "'";
    Fields spec(it.value(), at);
    d.type = spec.required<ParamType>("_type");
    const json& values = spec.raw("_value");
    if (!values.is_array()) spec.fail("_value", values.is_null() ? "missing (expected an array)" : "expected an array");
    spec.finish();
    out.push_back(static_cast<int>(dims_.size()));
    if (d.type == ParamType::Choice) {
      d.options.assign(values.begin(), values.end());
      d.children.resize(values.size());
      dims_.push_back(d);
      parse_options(out.back(), where, at);
    } else {
      read_bounds(d, values, at);
      dims_.push_back(d);
    }
  }
}

void SearchSpace::parse_options(int id, const std::string& where, const std::string& at) {
  const std::vector<json> options = dims_[id].options;
  const std::string label = dims_[id].label;
  if (options.empty()) throw Error(at + ": choice needs at least one option");
  std::set<std::string> seen;
  for (size_t o = 0; o < options.size(); ++o) {
    const json& opt = options[o];
    const std::string which = at + ": option " + std::to_string(o);
    if (opt.is_object() && (!opt.contains("_name") || !opt["_name"].is_string()))
      throw Error(which + " is an object, so it needs a string \"_name\" (a nested choice)");
    if (opt.is_array() || opt.is_null())
      throw Error(which + " must be a number, string, boolean or an object with \"_name\"");
    const std::string k = opt.is_object() ? "_name:" + opt["_name"].get<std::string>()
                          : opt.is_number() ? fmt(opt.get<double>())
                                            : opt.dump();
    if (!seen.insert(k).second) throw Error(which + " (" + opt.dump() + ") appears twice");
    if (opt.is_object()) {
      std::vector<int> kids;
      parse_into(opt, where, label + "/" + opt["_name"].get<std::string>(), id, static_cast<int>(o), kids);
      dims_[id].children[o] = kids;
    }
  }
}

double SearchSpace::sample_dim(int id, Rng& rng) const {
  const Dim& d = dims_[id];
  switch (d.type) {
    case ParamType::Choice:
      return static_cast<double>(rng.below(d.options.size()));
    case ParamType::Randint:
      return d.a + static_cast<double>(rng.below(static_cast<uint64_t>(d.b - d.a)));
    case ParamType::Uniform:
      return rng.uniform(d.a, d.b);
    case ParamType::Quniform:
      return d.quantize(rng.uniform(d.a, d.b));
    case ParamType::Loguniform:
      return std::clamp(std::exp(rng.uniform(std::log(d.a), std::log(d.b))), d.a, d.b);
    case ParamType::Qloguniform:
      return d.quantize(std::exp(rng.uniform(std::log(d.a), std::log(d.b))));
    case ParamType::Normal:
      return rng.normal(d.a, d.b);
    case ParamType::Qnormal:
      return d.quantize(rng.normal(d.a, d.b));
    case ParamType::Lognormal:
      return std::exp(rng.normal(d.a, d.b));
    case ParamType::Qlognormal:
      return d.quantize(std::exp(rng.normal(d.a, d.b)));
  }
  return kNaN;
}

void SearchSpace::sample_into(const std::vector<int>& ids, Rng& rng, Point& p) const {
  for (int id : ids) {
    p[id] = sample_dim(id, rng);
    if (dims_[id].type == ParamType::Choice) sample_into(dims_[id].children[static_cast<size_t>(p[id])], rng, p);
  }
}

namespace {

// The standard normal's u-quantile, by bisection on its CDF (the design is built once per experiment).
double normal_quantile(double u) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-12; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < u ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

double SearchSpace::quantile(int id, double u) const {
  const Dim& d = dims_[id];
  const auto index = [&](double n) { return std::min(std::floor(u * n), n - 1); };
  switch (d.type) {
    case ParamType::Choice:
      return index(static_cast<double>(d.options.size()));
    case ParamType::Randint:
      return d.a + index(d.b - d.a);
    case ParamType::Uniform:
      return d.a + u * (d.b - d.a);
    case ParamType::Quniform:
      return d.quantize(d.a + u * (d.b - d.a));
    case ParamType::Loguniform:
      return std::clamp(std::exp(std::log(d.a) + u * (std::log(d.b) - std::log(d.a))), d.a, d.b);
    case ParamType::Qloguniform:
      return d.quantize(std::exp(std::log(d.a) + u * (std::log(d.b) - std::log(d.a))));
    case ParamType::Normal:
      return d.a + d.b * normal_quantile(u);
    case ParamType::Qnormal:
      return d.quantize(d.a + d.b * normal_quantile(u));
    case ParamType::Lognormal:
      return std::exp(d.a + d.b * normal_quantile(u));
    case ParamType::Qlognormal:
      return d.quantize(std::exp(d.a + d.b * normal_quantile(u)));
  }
  return kNaN;
}

void SearchSpace::point_at_into(const std::vector<int>& ids, const std::vector<double>& u, Point& p) const {
  for (int id : ids) {
    p[id] = quantile(id, u.at(static_cast<size_t>(id)));
    if (dims_[id].type == ParamType::Choice) point_at_into(dims_[id].children[static_cast<size_t>(p[id])], u, p);
  }
}

Point SearchSpace::point_at(const std::vector<double>& u) const {
  Point p(dims_.size(), kNaN);
  point_at_into(roots_, u, p);
  return p;
}

Point SearchSpace::sample(Rng& rng) const {
  Point p(dims_.size(), kNaN);
  sample_into(roots_, rng, p);
  return p;
}

json SearchSpace::params_of(const std::vector<int>& ids, const Point& p) const {
  json out = json::object();
  for (int id : ids) {
    const Dim& d = dims_[id];
    if (d.type == ParamType::Choice) {
      size_t o = static_cast<size_t>(p[id]);
      const json& opt = d.options.at(o);
      if (opt.is_object()) {
        json sub = params_of(d.children[o], p);
        sub["_name"] = opt["_name"];
        out[d.name] = sub;
      } else {
        out[d.name] = opt;
      }
    } else if (d.type == ParamType::Randint) {
      out[d.name] = static_cast<int64_t>(p[id]);
    } else {
      out[d.name] = p[id];
    }
  }
  return out;
}

json SearchSpace::to_params(const Point& p) const { return params_of(roots_, p); }

void SearchSpace::point_of(const std::vector<int>& ids, const json& params, const std::string& path,
                           Point& p) const {
  if (!params.is_object()) throw Error("parameters" + path + ": expected an object");
  size_t expected = 0;
  for (int id : ids) {
    const Dim& d = dims_[id];
    const std::string at = "parameter '" + d.label + "'";
    if (!params.contains(d.name)) throw Error(at + " is missing from the parameters");
    ++expected;
    const json& v = params[d.name];
    if (d.type == ParamType::Choice) {
      int found = -1;
      for (size_t o = 0; o < d.options.size() && found < 0; ++o) {
        const json& opt = d.options[o];
        if (opt.is_object()) {
          if (v.is_object() && v.contains("_name") && v["_name"] == opt["_name"]) found = static_cast<int>(o);
        } else if (opt == v) {
          found = static_cast<int>(o);
        }
      }
      if (found < 0) throw Error(at + ": " + v.dump() + " is not one of its options");
      p[id] = found;
      if (d.options[found].is_object()) point_of(d.children[found], v, path + "/" + d.name, p);
    } else {
      if (!v.is_number()) throw Error(at + ": expected a number, got " + v.dump());
      double x = v.get<double>();
      if (d.is_bounded() && (x < d.a || x > d.b))
        throw Error(at + ": " + v.dump() + " lies outside [" + fmt(d.a) + ", " + fmt(d.b) + "]");
      p[id] = x;
    }
  }
  size_t present = 0;
  for (auto it = params.begin(); it != params.end(); ++it) present += it.key() == "_name" ? 0 : 1;
  if (present != expected) throw Error("parameters" + path + ": has keys that are not in the search space");
}

Point SearchSpace::from_params(const json& params) const {
  Point p(dims_.size(), kNaN);
  point_of(roots_, params, "", p);
  return p;
}

bool SearchSpace::is_discrete() const {
  return std::all_of(dims_.begin(), dims_.end(), [](const Dim& d) { return d.is_discrete(); });
}

double SearchSpace::grid_size_of(const std::vector<int>& ids, double cap) const {
  double total = 1;
  for (int id : ids) {
    const Dim& d = dims_[id];
    double n = 0;
    if (d.type == ParamType::Choice) {
      for (const auto& kids : d.children) n += grid_size_of(kids, cap);
    } else {
      n = d.grid_count();
      if (n <= Dim::kMaxGridValues) n = static_cast<double>(d.grid_values().size());  // exact: bounds may repeat
    }
    total = std::min(total * n, cap);
  }
  return total;
}

double SearchSpace::grid_size(double cap) const {
  if (!is_discrete()) return std::numeric_limits<double>::infinity();
  return grid_size_of(roots_, cap);
}

std::vector<Point> SearchSpace::enumerate_of(const std::vector<int>& ids, int continuous_points) const {
  // Cartesian product over the dims; a choice contributes each option joined with its branch's points.
  std::vector<Point> acc{Point(dims_.size(), kNaN)};
  for (int id : ids) {
    const Dim& d = dims_[id];
    std::vector<Point> own;
    if (d.type == ParamType::Choice) {
      for (size_t o = 0; o < d.options.size(); ++o)
        for (Point sub : enumerate_of(d.children[o], continuous_points)) {
          sub[id] = static_cast<double>(o);
          own.push_back(std::move(sub));
        }
    } else {
      for (double v : d.grid_values(continuous_points)) {
        Point one(dims_.size(), kNaN);
        one[id] = v;
        own.push_back(std::move(one));
      }
    }
    std::vector<Point> next;
    next.reserve(acc.size() * own.size());
    for (const Point& a : acc)
      for (const Point& b : own) {
        Point m = a;
        for (size_t i = 0; i < m.size(); ++i)
          if (!std::isnan(b[i])) m[i] = b[i];
        next.push_back(std::move(m));
      }
    acc = std::move(next);
  }
  return acc;
}

std::vector<Point> SearchSpace::enumerate(int continuous_points) const {
  return enumerate_of(roots_, continuous_points);
}

std::string SearchSpace::key(const Point& p) {
  std::string k;
  for (double x : p) k += (std::isnan(x) ? std::string("-") : fmt(x)) + ",";
  return k;
}

}  // namespace vdsr::hpo
