#include "vdsr/util/fields.h"

#include <sstream>

#include "vdsr/util/json_io.h"

namespace vdsr {

namespace fields_detail {

std::string number_text(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string shown(const nlohmann::json& v) { return printable(dump_json(v), 200); }

}  // namespace fields_detail

std::string Range::text() const {
  using fields_detail::number_text;
  const bool low = std::isfinite(min), high = std::isfinite(max);
  if (low && !high) return (min_open ? "> " : ">= ") + number_text(min);
  if (!low && high) return (max_open ? "< " : "<= ") + number_text(max);
  if (!low && !high) return "";
  return std::string("in ") + (min_open ? "(" : "[") + number_text(min) + ", " + number_text(max) + (max_open ? ")" : "]");
}

Fields::Fields(const nlohmann::json& object, std::string where) : object_(object), where_(std::move(where)) {
  if (!object_.is_object())
    throw Error(where_ + ": expected a JSON object, got " + std::string(object_.type_name()));
}

std::string Fields::path(const std::string& key) const {
  // "file.json" + "lr" → "file.json: lr"; "file.json: finetune" + "lr" → "file.json: finetune.lr"
  const bool nested = where_.find(": ") != std::string::npos;
  return where_ + (nested ? "." : ": ") + key;
}

void Fields::fail(const std::string& key, const std::string& what) const {
  throw Error((key.empty() ? where_ : path(key)) + ": " + what);
}

const nlohmann::json& Fields::raw(const std::string& key) {
  static const nlohmann::json null;
  known_.insert(key);
  return has(key) ? object_.at(key) : null;
}

Fields Fields::object(const std::string& key) {
  static const nlohmann::json empty = nlohmann::json::object();
  known_.insert(key);
  if (!has(key)) return Fields(empty, path(key));
  const nlohmann::json& v = object_.at(key);
  if (!v.is_object()) fail(key, "expected a JSON object, got " + fields_detail::shown(v));
  return Fields(v, path(key));
}

void Fields::allow(std::initializer_list<const char*> keys) {
  for (const char* k : keys) known_.insert(k);
}

void Fields::finish() const {
  for (const auto& [key, value] : object_.items()) {
    if (known_.count(key)) continue;
    std::string valid;
    for (const auto& k : known_) valid += (valid.empty() ? "" : ", ") + k;
    fail(key, "unknown key (valid keys: " + valid + ")");
  }
}

}  // namespace vdsr
