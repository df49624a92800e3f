#include "hpo/tuner_registry.h"

#include <map>
#include <random>

#include "hpo/baseline_tuners.h"
#include "hpo/tpe.h"

namespace vdsr::hpo {

namespace {

// The tuners an experiment config can name: a new tuner adds its line here.
std::map<std::string, TunerKind> builtin_tuners() {
  return {
      {"TPE", tpe_tuner_kind()},
      {"Random", random_tuner_kind()},
      {"GridSearch", grid_search_tuner_kind()},
  };
}

std::map<std::string, TunerKind>& registry() {
  static std::map<std::string, TunerKind> kinds = builtin_tuners();
  return kinds;
}

}  // namespace

void register_tuner(const std::string& name, TunerKind kind) {
  if (!registry().emplace(name, std::move(kind)).second) throw Error("tuner '" + name + "' is registered twice");
}

const TunerKind* find_tuner(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::string tuner_names() {
  std::string s;
  size_t i = 0;
  for (const auto& entry : registry()) {
    ++i;
    s += (i == 1 ? "" : i == registry().size() ? " or " : ", ") + entry.first;
  }
  return s;
}

std::unique_ptr<Tuner> make_tuner(const json& cfg, const SearchSpace& space, const std::string& where,
                                  std::optional<int> max_trials) {
  Fields f(cfg, where);
  const std::string name = f.required<std::string>("name");
  const TunerKind* kind = find_tuner(name);
  if (!kind) f.fail("name", "unknown tuner '" + name + "'; expected " + tuner_names());
  Fields args = f.object("classArgs");
  f.finish();
  const OptimizeMode mode = args.optional("optimize_mode", OptimizeMode::Minimize);
  const uint64_t seed = kind->seeded ? args.required<uint64_t>("seed") : 0;
  std::unique_ptr<Tuner> tuner = kind->build(args, TunerBase{space, mode, seed, max_trials});
  args.finish();
  return tuner;
}

json with_seed(json cfg) {
  if (!cfg.is_object() || !cfg.contains("name") || !cfg["name"].is_string()) return cfg;
  const TunerKind* kind = find_tuner(cfg["name"].get<std::string>());
  if (!kind || !kind->seeded) return cfg;
  json& args = cfg["classArgs"];
  if (args.is_null()) args = json::object();
  if (args.is_object() && !args.contains("seed")) args["seed"] = std::random_device{}() & 0x7fffffff;
  return cfg;
}

}  // namespace vdsr::hpo
