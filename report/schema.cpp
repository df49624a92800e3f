// Validation of the report contract (docs/report-schema.md): a table of key paths and the type each must
// have when present. Unknown keys pass, so stages can add what they know and readers ignore the rest.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "report/report.h"
#include "vdsr/util/error.h"
#include "vdsr/util/json_io.h"

namespace vdsr::report {

using nlohmann::json;

namespace {

enum class Type { String, Number, Integer, Boolean, Object, Array, ObjectArray, IntArray, IntPair, ScaleMap };

struct Rule {
  const char* path;  // dot-separated; "*" is any key of an object, "[]" every element of an array
  Type type;
};

// The header (schema, stage, tool, version, created) is checked before this table, as required keys.
const Rule kRules[] = {
    {"machine", Type::Object},
    {"machine.cpu", Type::String},
    {"machine.cores", Type::Integer},
    {"machine.threads_used", Type::Integer},
    {"machine.torch_version", Type::String},
    {"machine.cuda", Type::Boolean},
    {"machine.isa", Type::String},

    {"model", Type::Object},
    {"model.path", Type::String},
    {"model.sha256", Type::String},
    {"model.bytes", Type::Integer},
    {"model.widths", Type::IntArray},
    {"model.depth", Type::Integer},
    {"model.params", Type::Integer},
    {"model.macs_per_pixel", Type::Integer},

    {"quality", Type::Object},
    {"quality.*", Type::ScaleMap},
    {"quality.*.*", Type::Object},
    {"quality.*.*.psnr", Type::Number},
    {"quality.*.*.ssim", Type::Number},
    {"quality.*.*.bicubic_psnr", Type::Number},
    {"quality.*.*.bicubic_ssim", Type::Number},
    {"quality.*.*.images", Type::Object},
    {"quality.*.*.images.*", Type::Object},
    {"quality.*.*.images.*.psnr", Type::Number},
    {"quality.*.*.images.*.ssim", Type::Number},
    {"quality.*.*.images.*.bicubic_psnr", Type::Number},

    {"speed", Type::Object},
    {"speed.*", Type::Object},
    {"speed.*.input", Type::IntPair},
    {"speed.*.threads", Type::Integer},
    {"speed.*.latency_ms", Type::Object},
    {"speed.*.latency_ms.median", Type::Number},
    {"speed.*.latency_ms.min", Type::Number},
    {"speed.*.latency_ms.max", Type::Number},
    {"speed.*.runs", Type::Integer},
    {"speed.*.peak_rss_mb", Type::Number},
    {"speed.*.kernels", Type::Array},
    {"speed.*.precision", Type::String},

    {"config", Type::Object},

    {"files", Type::Object},
    {"files.*", Type::Object},
    {"files.*.path", Type::String},
    {"files.*.bytes", Type::Integer},
    {"files.*.sha256", Type::String},

    {"prune", Type::Object},
    {"prune.layers", Type::ObjectArray},
    {"prune.layers.[].name", Type::String},
    {"prune.layers.[].out_before", Type::Integer},
    {"prune.layers.[].out_after", Type::Integer},
    {"prune.layers.[].sparsity", Type::Number},
    {"prune.totals", Type::Object},
    {"prune.totals.params_before", Type::Integer},
    {"prune.totals.params_after", Type::Integer},
    {"prune.totals.macs_ratio", Type::Number},
    {"prune.baseline", Type::Object},

    {"train", Type::Object},
    {"train.epochs", Type::ObjectArray},
    {"train.epochs.[].epoch", Type::Integer},
    {"train.epochs.[].lr", Type::Number},
    {"train.epochs.[].loss", Type::Number},
    {"train.epochs.[].psnr", Type::Number},
    {"train.epochs.[].seconds", Type::Number},
    {"train.epochs.[].patches_per_s", Type::Number},

    {"tune", Type::Object},
    {"tune.trials", Type::ObjectArray},
    {"tune.trials.[].id", Type::Integer},
    {"tune.trials.[].params", Type::Object},
    {"tune.trials.[].status", Type::String},
    {"tune.trials.[].intermediate", Type::Array},
    {"tune.trials.[].seconds", Type::Number},
    {"tune.best", Type::Object},
    {"tune.best.id", Type::Integer},
    {"tune.best.params", Type::Object},
    {"tune.best.value", Type::Number},

    {"export", Type::Object},
    {"export.files", Type::Object},
    {"export.files.onnx", Type::Object},
    {"export.files.onnx.path", Type::String},
    {"export.files.onnx.bytes", Type::Integer},
    {"export.files.onnx.sha256", Type::String},
    {"export.files.onnx.opset", Type::Integer},
    {"export.parity", Type::Object},
    {"export.parity.*", Type::Object},
    {"export.parity.*.max_abs_diff", Type::Number},
    {"export.parity.*.psnr_delta", Type::Number},

    {"bench", Type::Object},
    {"bench.results", Type::ObjectArray},
    {"bench.results.[].model", Type::String},
    {"bench.results.[].runtime", Type::String},
    {"bench.results.[].precision", Type::String},
    {"bench.results.[].input", Type::IntPair},
    {"bench.results.[].threads", Type::Integer},
    {"bench.results.[].latency_ms", Type::Object},
    {"bench.results.[].latency_ms.median", Type::Number},
    {"bench.results.[].latency_ms.min", Type::Number},
    {"bench.results.[].latency_ms.max", Type::Number},
    {"bench.results.[].runs", Type::Integer},
    {"bench.results.[].peak_rss_mb", Type::Number},
    {"bench.results.[].kernels", Type::Array},
};

const char* expected(Type t) {
  switch (t) {
    case Type::String: return "a string";
    case Type::Number: return "a number";
    case Type::Integer: return "an integer";
    case Type::Boolean: return "true or false";
    case Type::Object: return "an object";
    case Type::Array: return "an array";
    case Type::ObjectArray: return "an array of objects";
    case Type::IntArray: return "an array of integers";
    case Type::IntPair: return "[H, W] (two integers)";
    case Type::ScaleMap: return "an object keyed by scale (x2, x3, ...)";
  }
  return "";
}

// "x2", "x3", ...: written as the tools write them (no leading zero, at most three digits), so that the
// key read back is the key "x" + std::to_string(scale).
bool is_scale_key(const std::string& key) {
  if (key.size() < 2 || key.size() > 4 || key[0] != 'x' || key[1] == '0') return false;
  for (size_t i = 1; i < key.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(key[i]))) return false;
  return true;
}

bool all_of(const json& array, bool (json::*test)() const noexcept) {
  for (const auto& v : array)
    if (!(v.*test)()) return false;
  return true;
}

bool matches(const json& v, Type t) {
  switch (t) {
    case Type::String: return v.is_string();
    case Type::Number: return v.is_number();
    case Type::Integer: return v.is_number_integer();
    case Type::Boolean: return v.is_boolean();
    case Type::Object: return v.is_object();
    case Type::Array: return v.is_array();
    case Type::ObjectArray: return v.is_array() && all_of(v, &json::is_object);
    case Type::IntArray: return v.is_array() && all_of(v, &json::is_number_integer);
    case Type::IntPair: return v.is_array() && v.size() == 2 && all_of(v, &json::is_number_integer);
    case Type::ScaleMap:
      if (!v.is_object()) return false;
      for (auto it = v.begin(); it != v.end(); ++it)
        if (!is_scale_key(it.key())) return false;
      return true;
  }
  return false;
}

std::string found(const json& v) {
  std::string text = dump_json(v);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return std::string(v.type_name()) + " " + text;
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  return parts;
}

// Calls `check(value, shown_path)` for every value the pattern reaches; nulls are "not measured".
template <typename F>
void walk(const json& node, const std::vector<std::string>& parts, size_t i, const std::string& shown, F&& check) {
  if (node.is_null()) return;
  if (i == parts.size()) {
    check(node, shown);
    return;
  }
  const std::string& part = parts[i];
  if (part == "[]") {
    if (!node.is_array()) return;
    for (size_t k = 0; k < node.size(); ++k) walk(node[k], parts, i + 1, shown + "[" + std::to_string(k) + "]", check);
  } else if (node.is_object()) {
    const std::string prefix = shown.empty() ? "" : shown + ".";
    if (part == "*") {
      for (auto it = node.begin(); it != node.end(); ++it) walk(it.value(), parts, i + 1, prefix + it.key(), check);
    } else if (node.contains(part)) {
      walk(node.at(part), parts, i + 1, prefix + part, check);
    }
  }
}

// Returns N of "vdsr-report/N", or 0 when the string is not of that form.
int schema_major(const std::string& schema) {
  const std::string stem = "vdsr-report/";
  if (schema.rfind(stem, 0) != 0 || schema.size() == stem.size() || schema.size() > stem.size() + 6) return 0;
  for (size_t i = stem.size(); i < schema.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(schema[i]))) return 0;
  return std::stoi(schema.substr(stem.size()));
}

}  // namespace

const std::vector<std::string>& known_stages() {
  static const std::vector<std::string> stages = {"eval", "train",    "prune", "tune",
                                                  "export", "bench", "data",  "pipeline"};
  return stages;
}

void validate(const json& report, const std::string& where) {
  auto fail = [&](const std::string& what) { throw Error(where + ": " + what); };
  if (!report.is_object()) fail("not a report (expected a JSON object, found " + std::string(report.type_name()) + ")");
  if (!report.contains("schema")) fail("not a vdsr report (no \"schema\" key)");
  const json& schema = report["schema"];
  const int major = schema.is_string() ? schema_major(schema.get<std::string>()) : 0;
  if (major > 1) {
    fail("written by a newer version (" + schema.get<std::string>() + "); this build reads " + kSchema);
  }
  if (major != 1) fail("wrong schema " + schema.dump() + " (this build reads " + kSchema + ")");

  for (const char* key : {"stage", "tool", "version", "created"}) {
    if (!report.contains(key) || report[key].is_null()) fail(std::string("missing \"") + key + "\" (a string)");
    if (!report[key].is_string()) fail(std::string(key) + ": expected a string, found " + found(report[key]));
  }
  const std::string stage = report["stage"];
  const auto& stages = known_stages();
  if (std::find(stages.begin(), stages.end(), stage) == stages.end()) {
    std::string list;
    for (const auto& s : stages) list += (list.empty() ? "" : ", ") + s;
    fail("stage \"" + stage + "\" is not one of " + list);
  }

  for (const Rule& rule : kRules) {
    walk(report, split(rule.path), 0, "", [&](const json& value, const std::string& shown) {
      if (!matches(value, rule.type)) fail(shown + ": expected " + expected(rule.type) + ", found " + found(value));
    });
  }
}

json parse(std::string_view text, const std::string& where) {
  json report = parse_json(text, where);
  validate(report, where);
  return report;
}

json read(const std::filesystem::path& path) {
  json report = read_json_file(path);
  validate(report, path.string());
  return report;
}

}  // namespace vdsr::report
