// Adding a tuner: a toy tuner registered here, and nowhere else, runs an experiment through the path
// vdsr-tune takes (parse_config, the store, run_experiment).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "hpo/config.h"
#include "hpo/scheduler.h"
#include "hpo/store.h"
#include "hpo/tuner_registry.h"

using namespace vdsr::hpo;
namespace fs = std::filesystem;

namespace {

// The toy's classArgs.
struct ToyArgs {
  double step = 0.5;  // distance between consecutive suggestions of x
};

ToyArgs read_toy_args(vdsr::Fields& f) {
  ToyArgs a;
  a.step = f.optional("step", a.step, vdsr::Range::above(0));
  return a;
}

// Walks x = 0, step, 2 step, ... up to 1, then reports the space as exhausted.
class ToyTuner : public Tuner {
 public:
  ToyTuner(const SearchSpace& space, OptimizeMode mode, const ToyArgs& args) : Tuner(space, mode), args_(args) {}
  std::optional<Point> suggest(int trial_id) override {
    const double x = (trial_id - 1) * args_.step;
    if (x > 1) return std::nullopt;
    const Point p{x};
    remember(trial_id, p);
    return p;
  }

 private:
  ToyArgs args_;
};

std::unique_ptr<Tuner> make_toy(const TunerBase& base, const ToyArgs& args) {
  return std::make_unique<ToyTuner>(base.space, base.mode, args);
}

const bool kToyRegistered = (register_tuner("Toy", tuner_kind(false, read_toy_args, make_toy)), true);

json experiment(const json& tuner) {
  return {{"searchSpace", {{"x", {{"_type", "uniform"}, {"_value", {0, 1}}}}}},
          {"trialCommand", R"(printf '{"type": "final", "value": 1}\n' >> "$VDSR_TRIAL_METRICS")"},
          {"trialConcurrency", 2},
          {"maxTrialNumber", 10},
          {"tuner", tuner}};
}

}  // namespace

TEST(TunerRegistry, AToyTunerRunsAnExperimentLikeTheBuiltinOnes) {
  ASSERT_TRUE(kToyRegistered);
  const fs::path dir = fs::temp_directory_path() / "vdsr_hpo_registry";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const ExperimentConfig cfg =
      parse_config(experiment({{"name", "Toy"}, {"classArgs", {{"step", 0.25}}}}), "toy.json", dir);
  Store::create(dir / "run", cfg.to_json());
  EXPECT_EQ(run_experiment(dir / "run", RunOptions{}), RunEnd::Finished);

  const std::vector<TrialRecord> trials = Store::open(dir / "run").trials();
  ASSERT_EQ(trials.size(), 5u);  // x = 0, 0.25, 0.5, 0.75, 1, then the toy's space is exhausted
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.status, TrialState::kSucceeded) << t.message;
    EXPECT_DOUBLE_EQ(t.params["x"].get<double>(), (t.id - 1) * 0.25);
  }
  EXPECT_FALSE(cfg.tuner["classArgs"].contains("seed"));  // the toy takes none
  fs::remove_all(dir);
}

TEST(TunerRegistry, ClassArgsOfARegisteredTunerAreCheckedLikeTheBuiltinOnes) {
  auto error_of = [](const json& tuner) {
    try {
      parse_config(experiment(tuner), "toy.json", fs::temp_directory_path());
    } catch (const vdsr::Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(error_of({{"name", "Toy"}, {"classArgs", {{"step", 0}}}}),
            "toy.json: tuner.classArgs.step: expected a number > 0, got 0");
  EXPECT_EQ(error_of({{"name", "Toy"}, {"classArgs", {{"stpe", 1}}}}).rfind("toy.json: tuner.classArgs.stpe: unknown key", 0),
            0u);
  EXPECT_EQ(error_of({{"name", "Toyy"}}),
            "toy.json: tuner.name: unknown tuner 'Toyy'; expected GridSearch, Random, TPE or Toy");
  EXPECT_THROW(register_tuner("Toy", tuner_kind(false, read_toy_args, make_toy)), vdsr::Error);
}

TEST(TunerRegistry, SeededTunersGetASeedInTheEffectiveConfig) {
  for (const char* name : {"TPE", "Random"}) {
    EXPECT_TRUE(with_seed({{"name", name}})["classArgs"]["seed"].is_number_integer()) << name;
    EXPECT_EQ(with_seed({{"name", name}, {"classArgs", {{"seed", 3}}}})["classArgs"]["seed"], 3) << name;
  }
  EXPECT_EQ(with_seed({{"name", "GridSearch"}}), json({{"name", "GridSearch"}}));
}

// A PATH entry the check cannot look into (here a name longer than the system allows; for a user, a
// folder they may not read) is skipped, as the shell skips it, instead of ending in a raw
// filesystem_error.
TEST(TrialCommand, PathEntriesThatCannotBeSearchedAreSkipped) {
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  const std::string unsearchable = "/" + std::string(5000, 'x');
  setenv("PATH", (unsearchable + ":/usr/bin:/bin").c_str(), 1);
  ExperimentConfig cfg;
  cfg.code_dir = std::filesystem::temp_directory_path();
  cfg.trial_command = "sh -c true";
  EXPECT_NO_THROW(check_trial_command(cfg, "exp.json"));
  cfg.trial_command = "no-such-program-anywhere --flag";
  EXPECT_THROW(check_trial_command(cfg, "exp.json"), vdsr::Error);
  setenv("PATH", saved.c_str(), 1);
}
