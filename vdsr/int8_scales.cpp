#include "vdsr/int8_scales.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"

namespace vdsr {

namespace {
constexpr const char* kFormat = "vdsr-int8-scales";
constexpr int kVersion = 1;
}  // namespace

int8_t quantize_weight(float w, float scale) {
  // nearbyint rounds half to even in the default rounding mode; the clamp also catches |w| > 127 * scale.
  const float q = std::nearbyint(w / scale);
  return static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
}

float weight_scale(const float* w, std::size_t count) {
  float max_abs = 0;
  for (std::size_t i = 0; i < count; ++i) max_abs = std::max(max_abs, std::fabs(w[i]));
  return max_abs > 0 ? max_abs / 127.0f : 1.0f;
}

Int8Scales read_int8_scales(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  Fields f(j, path);
  if (f.required<std::string>("format") != kFormat) f.fail("format", std::string("expected \"") + kFormat + "\"");
  if (f.required<int>("version") != kVersion) f.fail("version", "expected " + std::to_string(kVersion) + " (the version this build reads)");
  Int8Scales s;
  s.method = f.required<std::string>("method");
  if (s.method != "minmax" && s.method != "percentile") {
    f.fail("method", "expected \"minmax\" or \"percentile\", got \"" + printable(s.method) + "\"");
  }
  s.percentile = f.optional<double>("percentile", 0.0, Range::between(0, 100));
  if (s.method == "percentile" && !(s.percentile > 0)) f.fail("percentile", "expected a percentile in (0, 100] for method \"percentile\"");
  s.patches = f.required<int64_t>("patches", Range::at_least(0));
  s.seed = f.required<uint64_t>("seed");
  s.calibration_data = f.optional<std::string>("calibration_data", "");
  s.model_sha256 = f.optional<std::string>("model_sha256", "");
  const nlohmann::json& layers = f.raw("layers");
  if (!layers.is_array() || layers.empty()) f.fail("layers", "expected a non-empty list of layer objects");
  std::set<std::string> names;
  for (size_t i = 0; i < layers.size(); ++i) {
    Fields l(layers[i], f.path("layers[" + std::to_string(i) + "]"));
    Int8Layer layer;
    layer.name = l.required<std::string>("name");
    if (layer.name.empty()) l.fail("name", "expected a layer name, got \"\"");
    if (!names.insert(layer.name).second) l.fail("name", "\"" + printable(layer.name) + "\" appears twice");
    layer.int8 = l.required<bool>("int8");
    // An int8 layer needs a positive finite scale for its input; an fp32 one may carry 0 (not calibrated).
    layer.input_scale = static_cast<float>(
        l.required<double>("input_scale", layer.int8 ? Range::above(0) : Range::at_least(0)));
    if (!std::isfinite(layer.input_scale) || (layer.int8 && !(layer.input_scale > 0))) {
      l.fail("input_scale", "expected a positive number that fits a float");
    }
    layer.input_unsigned = l.required<bool>("input_unsigned");
    for (double v : l.required<std::vector<double>>("weight_scales", Range::above(0))) {
      const float scale = static_cast<float>(v);
      if (!std::isfinite(scale) || !(scale > 0)) l.fail("weight_scales", "expected positive numbers that fit a float");
      layer.weight_scales.push_back(scale);
    }
    if (layer.weight_scales.empty()) l.fail("weight_scales", "expected one scale per output channel, got none");
    l.finish();
    s.layers.push_back(std::move(layer));
  }
  f.finish();
  return s;
}

void write_int8_scales(const std::string& path, const Int8Scales& s) {
  nlohmann::json layers = nlohmann::json::array();
  for (const Int8Layer& l : s.layers) {
    // Floats widen to double exactly, and nlohmann writes doubles so that they read back bit for bit.
    std::vector<double> weight_scales(l.weight_scales.begin(), l.weight_scales.end());
    layers.push_back({{"name", l.name},
                      {"int8", l.int8},
                      {"input_scale", static_cast<double>(l.input_scale)},
                      {"input_unsigned", l.input_unsigned},
                      {"weight_scales", weight_scales}});
  }
  const nlohmann::json j = {{"format", kFormat},
                            {"version", kVersion},
                            {"method", s.method},
                            {"percentile", s.percentile},
                            {"patches", s.patches},
                            {"seed", s.seed},
                            {"calibration_data", s.calibration_data},
                            {"model_sha256", s.model_sha256},
                            {"layers", layers}};
  write_file_atomically(path, dump_json(j, 2) + "\n");
}

}  // namespace vdsr
