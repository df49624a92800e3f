#pragma once
// The one way JSON from outside (configs, reports, stored rows, a trial's metrics) is read, and the one way
// JSON that may hold paths is written.
//
// Reading checks the size and the nesting depth of the text before nlohmann's parser sees it: its dump, copy
// and comparison recurse once per level, so a line nested 100,000 deep would overflow the stack. Errors are
// vdsr::Error naming `where` (the file, or the file and what inside it), in valid UTF-8 whatever the input.
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace vdsr {

struct JsonLimits {
  std::size_t max_bytes = std::size_t(64) << 20;  // 64 MiB: a 55,000-dict config_list is 11 MB
  int max_depth = 64;                               // the deepest real file (a nested search space) has 6
};

// Parses `text` as one JSON value. Throws vdsr::Error "<where>: ..." when it is over a limit or not JSON
// (numbers out of double range such as 1e309 included).
nlohmann::json parse_json(std::string_view text, const std::string& where, const JsonLimits& limits = {});

// Reads a file and parses it as above; errors name the file.
nlohmann::json read_json_file(const std::filesystem::path& path, const JsonLimits& limits = {});

// The deepest nesting of arrays and objects in `text`, counted outside strings, scanning stopped as soon
// as it passes `stop`. Brackets need not balance (the parser reports that).
int json_depth(std::string_view text, int stop);

// j.dump() that never throws on strings that are not UTF-8 (a Linux path is any bytes): such bytes are
// written as U+FFFD. Used wherever a report, a store or a state file is written.
std::string dump_json(const nlohmann::json& j, int indent = -1);

// `bytes` made safe to show in a message: valid UTF-8 kept, other bytes and control characters written as
// \xNN, cut after `max` bytes with "...".
std::string printable(std::string_view bytes, std::size_t max = 200);

}  // namespace vdsr
