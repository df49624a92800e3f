#pragma once
// The inference flags every CLI that runs the model shares: --precision, --tile, --memory-budget, --engine.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "vdsr/inference.h"
#include "vdsr/util/error.h"

namespace vdsr::cli {

// --engine, for every tool that runs a model: auto (VDSR_ENGINE, else the oneDNN chain on the CPU), onednn
// or aten. The choice also becomes the process default and VDSR_ENGINE for the tool's child processes.
inline void add_engine_flag(CLI::App& app, std::string& engine) {
  app.add_option("--engine", engine,
                 "auto (the environment variable VDSR_ENGINE, else onednn on the CPU), onednn (fused oneDNN "
                 "chain, CPU) or aten (at::conv2d per layer)")
      ->capture_default_str();
}
// Applies --engine as the process default (after parsing; "auto" leaves VDSR_ENGINE as it is, but checks it
// now, before the tool does any work).
inline void apply_engine_flag(const std::string& engine) {
  const InferenceOptions::Engine e = parse_engine(engine);
  if (e == InferenceOptions::Engine::automatic) {
    default_engine();
  } else {
    set_default_engine(e);
  }
}

struct InferenceFlags {
  std::string precision = "fp32";
  int tile = 0;
  int64_t memory_budget_mb = 1024;
  std::string engine = "auto";
  bool winograd = true;
  std::string int8_scales;

  // `one_model` false: the tool runs several models at several precisions and takes --precision (a list)
  // and --int8-scales (one file per model) its own way (vdsr-bench).
  void add_to(CLI::App& app, bool one_model = true) {
    if (one_model) {
      app.add_option("--precision", precision,
                     "fp32; bf16: the body convolutions in bfloat16 (AMX/AVX512-BF16), first and last in fp32; "
                     "int8: the layers --int8-scales marks in u8 x s8 (docs/quantization.md)")
          ->capture_default_str();
      app.add_option("--int8-scales", int8_scales, "for int8: the scales file vdsr-quantize writes");
    }
    app.add_option("--tile", tile,
                   "tile side in pixels for large images (0: automatic above --memory-budget; -1: never); "
                   "tiles overlap by the receptive field, so the result equals the untiled one; a side must "
                   "exceed twice the receptive-field radius (41 for 20 layers)")
        ->capture_default_str();
    app.add_option("--memory-budget", memory_budget_mb, "MiB of activations before automatic tiling starts")
        ->capture_default_str();
    add_engine_flag(app, engine);
    app.add_option("--winograd", winograd,
                   "fp32 on the oneDNN engine: allow Winograd body convolutions where they time faster (true/false)")
        ->capture_default_str();
  }

  InferenceOptions options() const {
    InferenceOptions o;
    o.precision = parse_precision(precision);
    if (!int8_scales.empty()) {
      o.int8_scales = std::make_shared<const Int8Scales>(read_int8_scales(int8_scales));
      o.int8_scales_path = int8_scales;
    }
    if (o.precision == Precision::int8 && !o.int8_scales) {
      throw Error("--precision int8 needs --int8-scales FILE (vdsr-quantize writes it)");
    }
    if (tile < -1) {
      throw Error("--tile: expected -1 (never tile), 0 (automatic) or a side in pixels, got " + std::to_string(tile));
    }
    o.tile = tile;
    if (memory_budget_mb < 1) throw Error("--memory-budget: expected at least 1 MiB");
    o.memory_budget_mb = memory_budget_mb;
    o.winograd = winograd;
    o.engine = parse_engine(engine);
    apply_engine_flag(engine);
    return o;
  }
};

// What ran, for a report's config: {engine, precision, tile, memory_budget_mb}.
// With int8, also the scales file.
inline nlohmann::json inference_json(const Upscaler& upscaler, const InferenceFlags& flags) {
  nlohmann::json j = {{"engine", upscaler.engine_name()},
                      {"precision", precision_name(upscaler.precision())},
                      {"tile", flags.tile},
                      {"winograd", flags.winograd},
                      {"memory_budget_mb", flags.memory_budget_mb}};
  if (upscaler.precision() == Precision::int8) j["int8_scales"] = flags.int8_scales;
  return j;
}

}  // namespace vdsr::cli
