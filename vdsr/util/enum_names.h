#pragma once
// One table of names per enum, and everything else derived from it: the name of a value, the value of a
// name (an unknown name is an error that lists the valid ones), and JSON in both directions.
//
//   enum class Liar { kMean, kBest, kWorst };
//   VDSR_ENUM_NAMES(Liar, {{Liar::kMean, "mean"}, {Liar::kBest, "best"}, {Liar::kWorst, "worst"}})
//
// The macro goes in the enum's namespace, so that argument-dependent lookup finds the table.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "vdsr/util/error.h"

#define VDSR_ENUM_NAMES(E, ...)                                                     \
  inline const std::vector<std::pair<E, std::string>>& enum_names(E) {               \
    static const std::vector<std::pair<E, std::string>> table = __VA_ARGS__;          \
    return table;                                                                     \
  }                                                                                   \
  inline void to_json(nlohmann::json& j, E e) { j = ::vdsr::name_of(e); }            \
  inline void from_json(const nlohmann::json& j, E& e) {                             \
    if (!j.is_string()) throw ::vdsr::Error("expected one of " + ::vdsr::enum_choices<E>()); \
    e = ::vdsr::parse_enum<E>(j.get<std::string>());                                  \
  }

namespace vdsr {

template <class E>
std::string name_of(E value) {
  for (const auto& [e, name] : enum_names(E{}))
    if (e == value) return name;
  return "?";
}

// "a, b or c"
template <class E>
std::string enum_choices() {
  const auto& table = enum_names(E{});
  std::string s;
  for (size_t i = 0; i < table.size(); ++i)
    s += (i == 0 ? "" : i + 1 == table.size() ? " or " : ", ") + table[i].second;
  return s;
}

template <class E>
bool try_parse_enum(const std::string& name, E& out) {
  for (const auto& [e, n] : enum_names(E{}))
    if (n == name) {
      out = e;
      return true;
    }
  return false;
}

// Throws vdsr::Error "'x': expected one of a, b or c"; callers prefix where it came from.
template <class E>
E parse_enum(const std::string& name) {
  E e{};
  if (!try_parse_enum(name, e)) throw Error("'" + name + "': expected one of " + enum_choices<E>());
  return e;
}

}  // namespace vdsr
