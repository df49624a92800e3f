#include "runtime/input_size.h"

#include <cctype>

#include "vdsr/util/error.h"

namespace vdsr::runtime {

namespace {
// A whole positive number made of digits only ("+5", " 5" and "5.0" are not sizes).
bool parse_side(const std::string& text, int& side) {
  if (text.empty() || text.size() > 6) return false;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  side = std::stoi(text);
  return true;
}
}  // namespace

InputSize parse_size(const std::string& text, const std::string& flag) {
  InputSize s;
  const auto x = text.find_first_of("xX");
  const bool ok = x == std::string::npos ? parse_side(text, s.h) && parse_side(text, s.w)
                                         : parse_side(text.substr(0, x), s.h) && parse_side(text.substr(x + 1), s.w);
  if (!ok) throw Error(flag + ": expected HxW or N (a square), e.g. 256x256 or 256, got '" + text + "'");
  if (s.h < 1 || s.w < 1 || s.h > kMaxSide || s.w > kMaxSide) {
    throw Error(flag + ": " + text + " is outside 1.." + std::to_string(kMaxSide) + " pixels per side");
  }
  return s;
}

}  // namespace vdsr::runtime
