#include "vdsr/util/json_io.h"

#include <algorithm>
#include <cstdio>
#include <system_error>

#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

namespace vdsr {

namespace {

std::string size_text(std::size_t bytes) {
  if (bytes >= (std::size_t(1) << 20) && bytes % (std::size_t(1) << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// The length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;             // no overlong forms
  else if (c == 0xED) n = 3, hi = 0x9F;             // no surrogates
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c == 0xF4) n = 4, hi = 0x8F;             // nothing above U+10FFFF
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else return 0;
  if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

// nlohmann's "[json.exception.parse_error.101] parse error at ..." without the bracketed id.
std::string without_id(const std::string& what) {
  const std::size_t end = what.rfind('[', 0) == 0 ? what.find("] ") : std::string::npos;
  return end == std::string::npos ? what : what.substr(end + 2);
}

}  // namespace

int json_depth(std::string_view text, int stop) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > stop) return deepest;
    } else if (c == ']' || c == '}') {
      depth = std::max(0, depth - 1);
    }
  }
  return deepest;
}

nlohmann::json parse_json(std::string_view text, const std::string& where, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    throw Error(where + ": too large for JSON input (" + std::to_string(text.size()) + " bytes; the limit is " +
                size_text(limits.max_bytes) + ")");
  }
  if (json_depth(text, limits.max_depth) > limits.max_depth) {
    throw Error(where + ": nested deeper than " + std::to_string(limits.max_depth) +
                " levels of arrays and objects (the limit)");
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": not valid JSON (" + printable(without_id(e.what()), 300) + ")");
  }
}

nlohmann::json read_json_file(const std::filesystem::path& path, const JsonLimits& limits) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path.string() + ": is a folder, expected a JSON file");
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > limits.max_bytes) {
    throw Error(path.string() + ": too large for JSON input (" + std::to_string(size) + " bytes; the limit is " +
                size_text(limits.max_bytes) + ")");
  }
  const std::vector<char> bytes = read_file(path);
  return parse_json(std::string_view(bytes.data(), bytes.size()), path.string(), limits);
}

std::string dump_json(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string printable(std::string_view bytes, std::size_t max) {
  std::string out;
  const std::size_t end = std::min(bytes.size(), max);
  for (std::size_t i = 0; i < end;) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    const std::size_t n = utf8_length(bytes, i);
    if (n == 0 || c < 0x20 || c == 0x7F) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
      ++i;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  if (bytes.size() > max) out += "...";
  return out;
}

}  // namespace vdsr
