#include "pipeline/requirements.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "vdsr/util/error.h"

namespace vdsr::pipeline {

namespace {

namespace fs = std::filesystem;

int count_images(const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png" || ext == ".bmp" || ext == ".jpg" || ext == ".jpeg") ++n;
  }
  return n;
}

bool satisfied(const Requirement& r, const fs::path& path) {
  if (!fs::exists(path)) return false;
  return r.min_files == 0 || count_images(path) >= r.min_files;
}

// "  /assets/Set5 (at least 5 images): Set5 ground truth ..."
std::string missing_line(const Requirement& r, const fs::path& path) {
  const std::string count = r.min_files > 1    ? " (at least " + std::to_string(r.min_files) + " images)"
                            : r.min_files == 1 ? " (image files)"
                                               : "";
  return "  " + path.string() + count + ": " + r.what;
}

}  // namespace

void check_requirements(const Mode& mode, Variables& vars, const std::string& where) {
  std::vector<std::string> missing, optional_missing;
  for (const auto& r : mode.requirements) {
    const fs::path path = vars.expand(r.path, where);
    if (satisfied(r, path)) continue;
    if (!r.optional) {
      missing.push_back(missing_line(r, path));
      continue;
    }
    optional_missing.push_back(missing_line(r, path));
    for (const auto& [name, value] : r.else_vars) vars.set(name, value);
  }
  if (missing.empty()) {
    for (const auto& line : optional_missing) spdlog::warn("optional asset missing, going on without it:\n{}", line);
    return;
  }
  std::string message = vars.expand(mode.missing_title, where + ".missing_title");
  for (const auto& line : missing) message += "\n" + line;
  for (const auto& line : optional_missing) message += "\n" + line + " (optional)";
  const std::string hint = vars.expand(mode.missing_hint, where + ".missing_hint");
  throw Error(hint.empty() ? message : message + "\n" + hint);
}

}  // namespace vdsr::pipeline
