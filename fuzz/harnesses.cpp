#include "fuzz/harnesses.h"

namespace vdsr::fuzz {

const std::vector<Harness>& harnesses() {
  static const std::vector<Harness> all = {
      {"torch_file", torch_file, "the torch.save reader (vdsr/torch_file.h: read_torch_bytes)"},
      {"torch_pickle", torch_pickle, "the same reader's unpickler: the bytes are data.pkl of a valid archive"},
      {"config_list", config_list, "config_list → plan in every mode and granularity (compress/plan.h)"},
      {"prune_config", prune_config, "a vdsr-prune config file (compress/prune_job.h: read_prune_settings)"},
      {"search_space", search_space, "NNI search spaces: parse, sample, round-trip (hpo/search_space.h)"},
      {"experiment_config", experiment_config, "experiment configs, their stored form and tuner (hpo/config.h)"},
      {"pipeline_config", pipeline_config, "configs/pipeline.json files (pipeline/config.h)"},
      {"report", report, "report validation and rendering (report/report.h, report/render.h)"},
      {"metrics_line", metrics_line, "one line of a trial's metrics file (hpo/scheduler.h)"},
      {"image", image, "image decoding (vdsr/image.h: read_image)"},
      {"int8_scales", int8_scales, "int8 scales files (vdsr/int8_scales.h: read_int8_scales)"},
  };
  return all;
}

}  // namespace vdsr::fuzz
