// The folder graph of docs/architecture.md, checked on the sources: no folder includes one above it
// (the core never reaches up to report/, runtime/ or tools/; a library never includes a tool).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "tests/test_paths.h"

namespace fs = std::filesystem;

namespace {

// Each source folder and the folders its files may include. The most specific prefix wins.
const std::map<std::string, std::set<std::string>> kMayInclude = {
    {"vdsr/util", {"vdsr/util"}},
    {"vdsr/data", {"vdsr/util", "vdsr/data", "vdsr"}},
    {"vdsr", {"vdsr/util", "vdsr"}},
    {"vdsr/train", {"vdsr/util", "vdsr/data", "vdsr/train", "vdsr"}},
    {"report", {"vdsr/util", "report"}},
    {"runtime", {"vdsr/util", "vdsr", "runtime"}},
    {"export", {"vdsr/util", "vdsr", "runtime", "export"}},
    {"compress", {"vdsr/util", "vdsr", "vdsr/data", "vdsr/train", "runtime", "report", "compress"}},
    {"hpo", {"vdsr/util", "report", "hpo"}},
    {"pipeline", {"vdsr/util", "report", "pipeline"}},
};

// "vdsr/util/files.h" → "vdsr/util"; "vdsr/model.h" → "vdsr"
std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// The key of kMayInclude that governs `folder` (its longest prefix); the folder itself when none does.
std::string layer_of(const std::string& folder) {
  std::string best;
  for (const auto& [prefix, allowed] : kMayInclude) {
    const bool match = folder == prefix || folder.rfind(prefix + "/", 0) == 0;
    if (match && prefix.size() > best.size()) best = prefix;
  }
  return best.empty() ? folder : best;
}

TEST(Layers, NoFolderIncludesOneAboveIt) {
  const fs::path root = vdsr::test::source_dir();
  const std::regex include(R"(^\s*#\s*include\s+"([^"]+)\")");
  int files = 0;
  std::string violations;
  for (const auto& top : {"vdsr", "report", "runtime", "export", "compress", "hpo", "pipeline"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      const auto ext = entry.path().extension();
      if (ext != ".h" && ext != ".cpp") continue;
      ++files;
      const std::string rel = fs::relative(entry.path(), root).generic_string();
      const auto rule = kMayInclude.find(layer_of(folder_of(rel)));
      ASSERT_NE(rule, kMayInclude.end()) << rel << ": its folder has no rule in kMayInclude";
      std::ifstream in(entry.path());
      std::string line;
      std::smatch m;
      while (std::getline(in, line)) {
        if (!std::regex_search(line, m, include)) continue;
        const std::string target = folder_of(m[1]);
        if (!target.empty() && !rule->second.count(layer_of(target)))
          violations += "\n  " + rel + " includes " + m[1].str();
      }
    }
  }
  EXPECT_GT(files, 50) << "the source tree was not found under " << root;
  EXPECT_TRUE(violations.empty()) << "includes against the folder graph:" << violations;
}

TEST(Layers, AFolderBelongsToItsLongestRule) {
  EXPECT_EQ(layer_of("vdsr/train"), "vdsr/train");
  EXPECT_EQ(layer_of("vdsr/util"), "vdsr/util");
  EXPECT_EQ(layer_of("vdsr"), "vdsr");
  EXPECT_EQ(layer_of("compress/criteria"), "compress");
  EXPECT_EQ(layer_of("tools/cli"), "tools/cli");  // no rule: no library may include it
}

}  // namespace
