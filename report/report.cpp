#include "report/report.h"

#include <cctype>
#include <chrono>
#include <cstring>
#include <ctime>

#include "vdsr/util/cpu.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"
#include "vdsr_version.h"  // generated at build time (report/version.cmake)

namespace vdsr::report {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string version() { return VDSR_VERSION; }

std::string now_iso8601() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

nlohmann::json create(const std::string& stage, const std::string& tool) {
  return {{"schema", kSchema},
          {"stage", stage},
          {"tool", tool},
          {"version", version()},
          {"created", now_iso8601()},
          {"machine", {{"cpu", cpu_model()}, {"cores", cpu_cores()}, {"isa", onednn_isa()}}}};
}

nlohmann::json file_entry(const std::filesystem::path& path) {
  return {{"path", path.string()},
          {"bytes", std::filesystem::file_size(path)},
          {"sha256", sha256_file(path)}};
}

PathRoots PathRoots::current() {
  auto absolute = [](const fs::path& p) { return fs::absolute(p).lexically_normal().string(); };
  return {absolute(fs::current_path()), absolute(assets_dir())};
}

namespace {

bool path_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._-~/", c) != nullptr; }

// Replaces `prefix` where it is a whole leading part of a path: not inside a longer name on either side.
std::string replace_prefix(const std::string& text, std::string prefix, const std::string& as_root,
                           const std::string& as_child) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  if (prefix.size() <= 1) return text;  // "/" or nothing: every path would match
  std::string out;
  size_t pos = 0;
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    const size_t end = at + prefix.size();
    if ((at > 0 && path_char(text[at - 1])) || (end < text.size() && path_char(text[end]) && text[end] != '/')) continue;
    const bool child = end + 1 < text.size() && text[end] == '/' && path_char(text[end + 1]);
    out += text.substr(pos, at - pos) + (child ? as_child : as_root);
    pos = child ? end + 1 : end;
  }
  return out + text.substr(pos);
}

json portable_strings(const json& value, const PathRoots& roots) {
  if (value.is_string()) return portable_path(value.get<std::string>(), roots);
  if (!value.is_structured()) return value;
  json out = value;
  for (auto& item : out) item = portable_strings(item, roots);
  return out;
}

}  // namespace

std::string portable_path(const std::string& text, const PathRoots& roots) {
  // The assets first: they may lie inside the root, and ${assets}/... is then the clearer name.
  const std::string assets = replace_prefix(text, roots.assets, "${assets}", "${assets}/");
  return replace_prefix(assets, roots.root, ".", "");
}

void write(const std::filesystem::path& path, const nlohmann::json& report) {
  const json portable = portable_strings(report, PathRoots::current());
  validate(portable, path.string());
  write_file_atomically(path, dump_json(portable, 2) + "\n");  // a path may be any bytes
}

namespace {

void flatten_params(const nlohmann::json& params, const std::string& prefix, std::map<std::string, nlohmann::json>& out) {
  if (!params.is_object()) return;
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "/" + it.key();
    if (it.value().is_object())
      flatten_params(it.value(), key, out);
    else
      out[key] = it.value();
  }
}

}  // namespace

std::map<std::string, nlohmann::json> flat_params(const nlohmann::json& params) {
  std::map<std::string, nlohmann::json> out;
  flatten_params(params, "", out);
  return out;
}

}  // namespace vdsr::report
