#include "runtime/ort.h"

#include <cstdlib>
#include <fstream>

#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"

namespace vdsr::runtime {

namespace fs = std::filesystem;

namespace {
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

void write_f32(const fs::path& path, const std::vector<float>& values) {
  write_file_atomically(path, std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

std::vector<float> read_f32(const fs::path& path, size_t count) {
  const std::vector<char> bytes = read_file(path);
  if (bytes.size() != count * sizeof(float)) {
    throw Error(path.string() + ": expected " + std::to_string(count * sizeof(float)) + " bytes, found " +
                std::to_string(bytes.size()));
  }
  std::vector<float> v(count);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

void save_io(const fs::path& dir, const std::vector<IoCase>& cases, const std::string& bench_case, int runs,
             int threads) {
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": --save-io folder does not exist");
  nlohmann::json manifest = {{"threads", threads}, {"runs", runs}, {"cases", nlohmann::json::array()}};
  if (!bench_case.empty()) manifest["bench"] = bench_case;
  for (const auto& c : cases) {
    nlohmann::json entry = {{"name", c.name}, {"shape", c.input.shape()}, {"input", c.name + ".input.f32"}};
    write_f32(dir / (c.name + ".input.f32"), c.input.data);
    if (c.reference) {
      entry["reference"] = c.name + ".libtorch.f32";
      write_f32(dir / (c.name + ".libtorch.f32"), c.reference->data);
    }
    manifest["cases"].push_back(entry);
  }
  write_file_atomically(dir / "io.json", dump_json(manifest, 1) + "\n");
}

std::optional<fs::path> find_ort_script(std::string& why_not) {
  const char* env = std::getenv("VDSR_ORT_SCRIPT");
  const fs::path script = env && *env ? fs::path(env) : fs::path(VDSR_SOURCE_DIR) / "scripts" / "ort_check.mjs";
  if (!fs::exists(script)) {
    why_not = script.string() + " not found (set VDSR_ORT_SCRIPT)";
    return std::nullopt;
  }
  if (std::system("command -v node >/dev/null 2>&1") != 0) {
    why_not = "node is not on PATH";
    return std::nullopt;
  }
  if (!fs::exists(script.parent_path() / "node_modules" / "onnxruntime-node")) {
    why_not = "onnxruntime-node is not installed (run: cd " + script.parent_path().string() + " && npm ci)";
    return std::nullopt;
  }
  return script;
}

OrtResult run_ort(const fs::path& script, const fs::path& model, const fs::path& dir, const std::vector<IoCase>& cases) {
  // The script's table goes to our stderr; its JSON summary to a file.
  const std::string cmd = "node " + shell_quote(script.string()) + " --model " + shell_quote(model.string()) +
                          " --io " + shell_quote(dir.string()) + " 1>&2";
  const int status = std::system(cmd.c_str());
  if (status != 0) throw std::runtime_error("onnxruntime check failed (" + cmd + " exited with " + std::to_string(status) + ")");
  OrtResult r;
  r.summary = read_json_file(dir / "onnxruntime.json");
  for (const auto& c : cases) {
    Batch b = c.input;
    b.data = read_f32(dir / (c.name + ".onnxruntime.f32"), c.input.data.size());
    r.outputs.emplace(c.name, std::move(b));
  }
  return r;
}

}  // namespace vdsr::runtime
