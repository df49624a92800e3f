// onnxruntime-node on the ONNX file, in its own process through scripts/ort_check.mjs (see ort.h). Each
// call starts the script, so the runner times itself there rather than around the process.
#include <atomic>
#include <unistd.h>

#include "runtime/ort.h"
#include "runtime/registry.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

namespace vdsr::runtime {

namespace fs = std::filesystem;

bool ort_available(std::string& why_not) { return find_ort_script(why_not).has_value(); }

namespace {

// A private folder per runner for the model and the script's inputs and outputs, removed with it.
fs::path private_folder() {
  static std::atomic<int> next{0};
  const fs::path dir = fs::temp_directory_path() /
                       ("vdsr-ort-" + std::to_string(::getpid()) + "-" + std::to_string(next++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

class OrtRunner : public Runner {
 public:
  explicit OrtRunner(const std::string& onnx) {
    if (onnx.empty()) throw Error("onnxruntime runs an ONNX model, and none was given");
    std::string why_not;
    const auto script = find_ort_script(why_not);
    if (!script) throw Error("onnxruntime: " + why_not);
    script_ = *script;
    dir_ = private_folder();
    write_file_atomically(dir_ / "model.onnx", onnx);
  }
  ~OrtRunner() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string name() const override { return "onnxruntime"; }
  bool in_process() const override { return false; }

  Batch forward(const Batch& x) override {
    const std::vector<IoCase> cases{{"forward", x, std::nullopt}};
    save_io(dir_, cases, "", 0, 0);
    return run_ort(script_, dir_ / "model.onnx", dir_, cases).outputs.at("forward");
  }

  std::optional<OwnTiming> time_itself(const Batch& x, int runs, int threads) override {
    const std::vector<IoCase> cases{{"bench", x, std::nullopt}};
    save_io(dir_, cases, "bench", runs, threads);
    const OrtResult r = run_ort(script_, dir_ / "model.onnx", dir_, cases);
    OwnTiming t;
    for (const auto& ms : r.summary.at("speed").at("ms")) t.ms.push_back(ms.get<double>());
    t.peak_rss_mb = r.summary.value("peak_rss_mb", 0.0);
    return t;
  }

 private:
  fs::path script_, dir_;
};

}  // namespace

std::unique_ptr<Runner> make_ort_runner(const ModelSource& model) { return std::make_unique<OrtRunner>(model.onnx); }

}  // namespace vdsr::runtime
