#pragma once
// Every tuner an experiment config can name, and the one way a tuner is built from NNI's
// `tuner: {name, classArgs}`. Adding a tuner: write its class, its typed classArgs and their reader
// (hpo/tpe.cpp is the full example, hpo/baseline_tuners.cpp the short one), then add one line to
// builtin_tuners() in hpo/tuner_registry.cpp. A test or plugin may call register_tuner() instead.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "hpo/tuner.h"
#include "vdsr/util/fields.h"

namespace vdsr::hpo {

// The classArgs every tuner shares, read before the tuner's own.
struct TunerBase {
  const SearchSpace& space;
  OptimizeMode mode;  // classArgs.optimize_mode, minimize when absent
  uint64_t seed;      // classArgs.seed for a seeded tuner; 0 otherwise
  // The experiment's maxTrialNumber (nullopt: no trial limit), for defaults sized to the budget.
  std::optional<int> max_trials = std::nullopt;
};

struct TunerKind {
  // Takes classArgs.seed. The experiment fills one in when the config has none, so that a resumed
  // experiment continues the same random streams.
  bool seeded = false;
  // Reads the tuner's own classArgs from `class_args` and builds the tuner; unread keys are rejected
  // afterwards.
  std::function<std::unique_ptr<Tuner>(Fields& class_args, const TunerBase& base)> build;
};

// A kind from a typed classArgs reader and a factory, as NNI pairs a tuner class with its classArgs.
template <class Args>
TunerKind tuner_kind(bool seeded, Args (*read_args)(Fields&),
                     std::unique_ptr<Tuner> (*make)(const TunerBase&, const Args&)) {
  return {seeded, [read_args, make](Fields& f, const TunerBase& base) { return make(base, read_args(f)); }};
}

// Adds a tuner under the name configs use; throws vdsr::Error when the name is taken.
void register_tuner(const std::string& name, TunerKind kind);
// The tuner of that name, or nullptr.
const TunerKind* find_tuner(const std::string& name);
// "GridSearch, Random or TPE": the registered names, for help texts and errors.
std::string tuner_names();

// Builds a tuner from `tuner: {name, classArgs}`; `where` names the config and key for errors;
// `max_trials` is the experiment's trial budget.
std::unique_ptr<Tuner> make_tuner(const json& tuner_config, const SearchSpace& space, const std::string& where,
                                  std::optional<int> max_trials = std::nullopt);
// The config with a fresh classArgs.seed when it names a seeded tuner and gives none; else unchanged.
json with_seed(json tuner_config);

}  // namespace vdsr::hpo
