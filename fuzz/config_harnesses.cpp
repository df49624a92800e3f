// The harnesses of the JSON configs, reports and metrics lines.
#include <nlohmann/json.hpp>

#include "compress/plan.h"
#include "compress/prune_job.h"
#include "compress/pruner.h"
#include "fuzz/harnesses.h"
#include "fuzz/support.h"
#include "hpo/config.h"
#include "hpo/scheduler.h"
#include "hpo/search_space.h"
#include "hpo/tuner_registry.h"
#include "pipeline/config.h"
#include "report/render.h"
#include "report/report.h"

namespace vdsr::fuzz {

namespace fs = std::filesystem;
using nlohmann::json;

void config_list(const std::uint8_t* data, std::size_t size) {
  static const std::vector<compress::LayerInfo> layers = compress::layers_of(Architecture::reference());
  with_json(data, size, [](const json& j) {
    for (const auto mode : {compress::Mode::Normal, compress::Mode::DependencyAware, compress::Mode::Balance}) {
      for (const auto granularity : {compress::Granularity::kFilter, compress::Granularity::kWeight}) {
        compress::PlanOptions options;
        options.mode = mode;
        options.granularity = granularity;
        refused_or_read([&] {
          const compress::Plan plan = compress::make_plan(j, layers, options, "fuzz.json");
          plan.to_json();
          plan.table();
        });
      }
    }
  });
}


void prune_config(const std::uint8_t* data, std::size_t size) {
  refused_or_read([&] { compress::parse_prune_settings(text_of(data, size), "prune.json"); });
}


void search_space(const std::uint8_t* data, std::size_t size) {
  with_json(data, size, [](const json& j) {
    const hpo::SearchSpace space = hpo::SearchSpace::parse(j, "fuzz.json");
    Rng rng(1);
    for (int i = 0; i < 4; ++i) {
      const hpo::Point p = space.sample(rng);
      refused_or_read([&] { space.from_params(space.to_params(p)); });
    }
    if (space.is_discrete() && space.grid_size(1e4) < 1e3) space.enumerate();
  });
}


void experiment_config(const std::uint8_t* data, std::size_t size) {
  with_json(data, size, [](const json& j) {
    const hpo::ExperimentConfig config = hpo::parse_config(j, "fuzz.json", scratch().dir());
    // The stored form must read back, as --resume reads it; then the space and the tuner it names.
    const hpo::ExperimentConfig again = hpo::parse_config(config.to_json(), "stored", scratch().dir());
    const hpo::SearchSpace space = hpo::SearchSpace::parse(again.search_space, "searchSpace");
    hpo::make_tuner(again.tuner, space, "tuner");
  });
}


void pipeline_config(const std::uint8_t* data, std::size_t size) {
  refused_or_read([&] { pipeline::parse_config_text(text_of(data, size), scratch().dir() / "pipeline.json"); });
}


void report(const std::uint8_t* data, std::size_t size) {
  with_json(data, size, [](const json& j) {
    report::validate(j, "fuzz.json");
    report::show(j);
    report::flatten(j, true);
    report::default_name(j);
  });
}


void metrics_line(const std::uint8_t* data, std::size_t size) {
  refused_or_read([&] { hpo::parse_metric_line(std::string(text_of(data, size))); });
}


}  // namespace vdsr::fuzz
