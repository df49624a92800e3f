#pragma once
// The one way a JSON config is read. Every error names where the object came from (a file and the path
// inside it), the key, what was expected and what was found; finish() rejects any key nobody read and lists
// the valid ones, as NNI's config classes do.
//
//   Fields f(j, "prune.json");
//   s.round_to = f.optional<int>("round_to", 1, Range::at_least(1));
//   s.pruner = f.optional<Criterion>("pruner", Criterion::kL1);   // an enum with VDSR_ENUM_NAMES
//   Fields ft = f.object("finetune");  ...  ft.finish();
//   f.finish();
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "vdsr/util/enum_names.h"
#include "vdsr/util/error.h"

namespace vdsr {

// Bounds for a number: [min, max]; either end open with min_open / max_open.
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool max_open = false;
  bool min_open = false;

  static Range at_least(double m) { return {m}; }
  static Range above(double m) { return {m, std::numeric_limits<double>::infinity(), false, true}; }
  static Range between(double lo, double hi) { return {lo, hi}; }
  static Range half_open(double lo, double hi) { return {lo, hi, true}; }
  bool contains(double v) const {
    return (min_open ? v > min : v >= min) && (max_open ? v < max : v <= max);
  }
  std::string text() const;
};

namespace fields_detail {

template <class T> struct is_vector : std::false_type {};
template <class T> struct is_vector<std::vector<T>> : std::true_type {};
template <class E, class = void> struct has_names : std::false_type {};
template <class E>
struct has_names<E, std::void_t<decltype(enum_names(std::declval<E>()))>> : std::true_type {};

std::string number_text(double v);
// A value as an error message quotes it: JSON, cut after 200 bytes.
std::string shown(const nlohmann::json& v);

// "an integer", "a list of strings", "one of l1, l2 or fpgm", ...
template <class T>
std::string expected() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_enum_v<T>) return "one of " + enum_choices<T>();
  else if constexpr (is_vector<T>::value) {
    std::string e = expected<typename T::value_type>();
    if (e.rfind("an ", 0) == 0) e = e.substr(3);
    else if (e.rfind("a ", 0) == 0) e = e.substr(2);
    return "a list of " + (e == "integer" || e == "number" || e == "string" ? e + "s" : e);
  } else return "a JSON value";
}

// Whether `v` holds a T exactly (no float → int truncation, no number → string).
template <class T>
bool holds(const nlohmann::json& v) {
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) return false;
    if constexpr (std::is_unsigned_v<T>) return v.is_number_unsigned() || v.get<int64_t>() >= 0;
    else return v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max())
                                       : v.get<int64_t>() >= std::numeric_limits<T>::min() &&
                                             v.get<int64_t>() <= std::numeric_limits<T>::max();
  } else if constexpr (std::is_floating_point_v<T>) return v.is_number();
  else if constexpr (std::is_same_v<T, std::string>) return v.is_string();
  else if constexpr (std::is_enum_v<T>) {
    T e{};
    return v.is_string() && try_parse_enum(v.get<std::string>(), e);
  } else if constexpr (is_vector<T>::value) {
    if (!v.is_array()) return false;
    for (const auto& x : v)
      if (!holds<typename T::value_type>(x)) return false;
    return true;
  } else return true;
}

}  // namespace fields_detail

class Fields {
 public:
  // `where`: the file and the path to this object, e.g. "prune.json: finetune".
  Fields(const nlohmann::json& object, std::string where);

  const std::string& where() const { return where_; }
  bool has(const std::string& key) const { return object_.contains(key); }

  // The value of `key`, of type T; missing or of another type is an error.
  template <class T>
  T required(const std::string& key, std::optional<Range> range = std::nullopt) {
    if (!has(key)) fail(key, "missing (expected " + fields_detail::expected<T>() + ")");
    return read<T>(key, range);
  }
  // The value of `key`, or `fallback` when the key is absent.
  template <class T>
  T optional(const std::string& key, T fallback, std::optional<Range> range = std::nullopt) {
    known_.insert(key);  // valid even when absent, so finish() lists it
    return has(key) ? read<T>(key, range) : fallback;
  }
  // The value of `key` when present.
  template <class T>
  std::optional<T> maybe(const std::string& key, std::optional<Range> range = std::nullopt) {
    known_.insert(key);  // valid even when absent, so finish() lists it
    if (!has(key)) return std::nullopt;
    return read<T>(key, range);
  }
  // The raw value of a key another reader takes apart (marked as read); null when absent.
  const nlohmann::json& raw(const std::string& key);
  // A nested object, read with its own Fields; an empty object when absent.
  Fields object(const std::string& key);
  // Keys that are valid but not read here.
  void allow(std::initializer_list<const char*> keys);

  // Rejects the keys that were not read or allowed.
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  std::string path(const std::string& key) const;

 private:
  template <class T>
  T read(const std::string& key, const std::optional<Range>& range) {
    known_.insert(key);
    const nlohmann::json& v = object_.at(key);
    const std::string want = fields_detail::expected<T>() + (range ? " " + range->text() : "");
    if (!fields_detail::holds<T>(v)) fail(key, "expected " + want + ", got " + fields_detail::shown(v));
    T value = v.get<T>();
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      if (range && !range->contains(double(value))) fail(key, "expected " + want + ", got " + fields_detail::shown(v));
    }
    if constexpr (fields_detail::is_vector<T>::value) {
      if constexpr (std::is_arithmetic_v<typename T::value_type>) {
        if (range)
          for (const auto& x : value)
            if (!range->contains(double(x))) fail(key, "expected " + want + ", got " + fields_detail::shown(v));
      }
    }
    return value;
  }

  const nlohmann::json& object_;
  std::string where_;
  std::set<std::string> known_;
};

}  // namespace vdsr
