#pragma once
// What the harnesses share: vdsr::Error as the clean outcome, the bytes as JSON, and a scratch folder for
// the readers that take a path.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "vdsr/util/error.h"
#include "vdsr/util/json_io.h"

namespace vdsr::fuzz {

// The input bytes as text, for the readers that take a config's or a line's text.
inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `parse`, treating vdsr::Error (a refused input) as a clean outcome.
template <class F>
inline void refused_or_read(F&& parse) {
  try {
    parse();
  } catch (const Error&) {
  }
}

// The bytes as JSON, read the way every outside JSON is read (vdsr::parse_json: size and depth bounded),
// for the readers that take a parsed document; bytes it refuses end the run.
template <class F>
inline void with_json(const std::uint8_t* data, std::size_t size, F&& read) {
  nlohmann::json j;
  try {
    j = parse_json(text_of(data, size), "fuzz.json");
  } catch (const Error&) {
    return;
  }
  refused_or_read([&] { read(j); });
}

// A private folder for the readers that take a path; removed when the process ends.
class Scratch {
 public:
  Scratch() : dir_(std::filesystem::temp_directory_path() / ("vdsr_fuzz_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path write(const std::string& name, const std::uint8_t* data, std::size_t size) const {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                  static_cast<std::streamsize>(size));
    return path;
  }

 private:
  std::filesystem::path dir_;
};

inline const Scratch& scratch() {
  static const Scratch s;
  return s;
}

}  // namespace vdsr::fuzz
