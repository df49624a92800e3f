#include "export/verify.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>

#include "export/qdq.h"
#include "runtime/ort.h"
#include "runtime/registry.h"
#include "runtime/timing.h"
#include "vdsr/image.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

namespace vdsr::exporter {

namespace fs = std::filesystem;
using namespace vdsr::runtime;
using nlohmann::json;

namespace {

// The weights a file holds, as LibTorch sees them: float16-rounded for --fp16.
Checkpoint as_stored(const Checkpoint& ck, bool fp16) {
  Checkpoint c = ck;
  if (fp16) {
    for (auto& [name, w] : c.weights) w = w.to(at::kHalf).to(at::kFloat);
  }
  return c;
}

std::string scale_key(int scale) { return "x" + std::to_string(scale); }

// The results' name for the project's int8 engine (LibTorch runtime, --precision int8).
constexpr const char* kInt8Engine = "libtorch-int8";

// One proof, as named steps over shared state: the runners, the cases they all run, the results.
class Proof {
 public:
  Proof(const Checkpoint& checkpoint, OnnxOptions options, const VerifyOptions& verify)
      : checkpoint_(checkpoint), stored_(as_stored(checkpoint, options.fp16)), options_(std::move(options)),
        verify_(verify), dataset_(fs::path(verify.dataset).filename().string()) {}

  VerifiedFile run() {
    const std::string draft = check_and_serialize(build_model(checkpoint_, options_));
    spdlog::info("ONNX opset {}: {} bytes, checker and shape inference passed", options_.opset, draft.size());
    make_runners(draft);
    parity_on_random_inputs();
    psnr_on_dataset();
    file_.bytes = final_bytes();
    add_bench_case();
    save_cases_for_the_script();
    run_onnxruntime();
    recheck_opencv_on(file_.bytes);
    check_tolerance();
    measure_latency();
    file_.metadata = options_.metadata;
    return std::move(file_);
  }

 private:
  void make_runners(const std::string& draft) {
    file_.results["libtorch"];  // a row of its own in every table, scored or not
    // An int8 file is held to LibTorch doing the file's own arithmetic (quantize, dequantize, float32 conv).
    libtorch_ = options_.int8 ? make_qdq_reference(checkpoint_, *options_.int8)
                              : make_runner("libtorch", ModelSource::weights(stored_));
    // OpenCV 4.6 DNN reads no float16 initializers; float16 files are proven in onnxruntime only.
    if (options_.fp16) {
      skip("opencv-dnn", "OpenCV DNN cannot read float16 initializers");
    } else if (options_.int8) {
      try_opencv_on_int8(draft);
      make_int8_engine();
    } else {
      opencv_ = make_runner("opencv-dnn", ModelSource::onnx_bytes(draft));
    }
  }

  // Whether OpenCV DNN runs a QDQ file is the runtime's to say: a failure to read or run it is reported
  // (export.skipped) rather than fatal, since onnxruntime still proves the file.
  void try_opencv_on_int8(const std::string& draft) {
    try {
      auto cv = make_runner("opencv-dnn", ModelSource::onnx_bytes(draft));
      cv->forward(random_batch(1, 8, 8, 0));
      opencv_ = std::move(cv);
    } catch (const std::exception& e) {
      skip("opencv-dnn", std::string("OpenCV DNN cannot run the int8 (QDQ) file: ") + e.what());
    }
  }

  // The project's own int8 engine on the same scales (vdsr-eval --precision int8): the figure the file's
  // runtimes are compared with; it does not run the file, so the tolerance does not apply to it.
  void make_int8_engine() {
    InferenceOptions o = untiled_fp32();
    o.precision = Precision::int8;
    o.int8_scales = std::make_shared<const Int8Scales>(*options_.int8);
    o.int8_scales_path = "--int8-scales";
    int8_engine_ = make_runner("libtorch", ModelSource::weights(checkpoint_, o));
  }

  // Runs the int8 engine on a case and keeps its output for the comparison with onnxruntime.
  Batch engine_forward(const std::string& name, const Batch& input, const Batch& reference) {
    Batch out = int8_engine_->forward(input);
    note_diff(kInt8Engine, max_abs_diff(reference, out));
    engine_outputs_[name] = out;
    return out;
  }

  void skip(const std::string& runtime, const std::string& why) {
    spdlog::warn("{} skipped: {}", runtime, why);
    file_.skipped[runtime] = why;
  }

  // Parity on random inputs; dynamic files run at several sizes and a batch of two.
  void parity_on_random_inputs() {
    const bool fixed = options_.static_height > 0;
    const std::vector<std::array<int, 3>> shapes =
        fixed ? std::vector<std::array<int, 3>>{{1, options_.static_height, options_.static_width}}
              : std::vector<std::array<int, 3>>{{1, 17, 23}, {1, 64, 48}, {2, 40, 40}};
    unsigned seed = 1;
    for (const auto& [n, h, w] : shapes) {
      IoCase c{"random_" + std::to_string(n) + "x" + std::to_string(h) + "x" + std::to_string(w),
               random_batch(n, h, w, seed++), std::nullopt};
      c.reference = libtorch_->forward(c.input);
      if (int8_engine_) engine_forward(c.name, c.input, *c.reference);
      if (opencv_) {
        const double d = max_abs_diff(*c.reference, opencv_->forward(c.input));
        note_diff("opencv-dnn", d);
        spdlog::info("parity {}: OpenCV DNN max abs diff {:.3g}", c.name, d);
      }
      cases_.push_back(std::move(c));
    }
  }

  // PSNR per runtime on the same bicubic inputs; each input also becomes a case for onnxruntime.
  void psnr_on_dataset() {
    for (const auto& p : verify_.images) names_.push_back(p.stem().string());
    const bool reduced = options_.fp16 || options_.int8;
    const auto full = reduced ? make_runner("libtorch", ModelSource::weights(checkpoint_)) : nullptr;
    pairs_.resize(verify_.scales.size());
    for (size_t k = 0; k < verify_.scales.size(); ++k) {
      const int scale = verify_.scales[k];
      std::vector<Batch> torch_out, cv_out, full_out, engine_out;
      for (size_t i = 0; i < verify_.images.size(); ++i) {
        pairs_[k].push_back(make_scaled_pair(read_image(verify_.images[i]), scale, verify_.images[i].string()));
        const Batch in = image_batch(pairs_[k].back().bicubic);
        torch_out.push_back(libtorch_->forward(in));
        if (opencv_) cv_out.push_back(opencv_->forward(in));
        // The cost of float16 or int8: the same protocol with the source's float32 weights.
        if (full) full_out.push_back(full->forward(in));
        if (int8_engine_) engine_out.push_back(engine_forward(dataset_case(scale, names_[i]), in, torch_out.back()));
        cases_.push_back({dataset_case(scale, names_[i]), in, torch_out.back()});
      }
      file_.results["libtorch"].scores.push_back(score_outputs(pairs_[k], names_, torch_out, scale));
      if (opencv_) file_.results["opencv-dnn"].scores.push_back(score_outputs(pairs_[k], names_, cv_out, scale));
      if (full) file_.fp32_scores.push_back(score_outputs(pairs_[k], names_, full_out, scale));
      if (int8_engine_) file_.results[kInt8Engine].scores.push_back(score_outputs(pairs_[k], names_, engine_out, scale));
      const auto psnr = [&](const char* runtime) { return file_.results[runtime].scores.back().mean().psnr; };
      spdlog::info("{} x{}: PSNR LibTorch {:.4f}{}", dataset_, scale, psnr("libtorch"),
                   opencv_ ? fmt::format(", OpenCV DNN {:.4f}", psnr("opencv-dnn")) : "");
    }
  }

  // The draft plus the PSNR its graph measured in OpenCV DNN (for float16 files, LibTorch on the
  // float16-rounded weights: the same arithmetic as the graph's Cast then float32 Conv; for int8 files
  // OpenCV 4.6 cannot run, LibTorch computing the QDQ graph).
  std::string final_bytes() {
    if (!verify_.images.empty()) {
      const std::string runtime = opencv_ ? "opencv-dnn" : "libtorch";
      json psnr = {{"dataset", dataset_}, {"runtime", runtime}};
      for (const auto& s : file_.results[runtime].scores) psnr[scale_key(s.scale)] = s.mean().psnr;
      options_.metadata.emplace_back("psnr", psnr.dump());
    }
    return check_and_serialize(build_model(checkpoint_, options_));
  }

  void add_bench_case() {
    const InputSize& size = bench_size();
    bench_input_ = random_batch(1, size.h, size.w, 99);
    bench_case_ = "bench_" + size.text();
    cases_.push_back({bench_case_, bench_input_, std::nullopt});
  }

  void save_cases_for_the_script() {
    if (verify_.save_io.empty()) return;
    save_io(verify_.save_io, cases_, verify_.bench_runs > 0 ? bench_case_ : "", verify_.bench_runs,
            verify_.bench_threads);
    spdlog::info("saved {} parity cases to {} (node scripts/ort_check.mjs --model FILE --io {})", cases_.size(),
                 verify_.save_io.string(), verify_.save_io.string());
  }

  // onnxruntime runs the exact bytes about to be written, every case in one script run, from a private folder.
  void run_onnxruntime() {
    std::string why_not;
    const auto script = verify_.onnxruntime == "off" ? std::nullopt : find_ort_script(why_not);
    if (verify_.onnxruntime == "on" && !script) throw Error("--onnxruntime on: " + why_not);
    if (!script) {
      spdlog::warn("onnxruntime check skipped: {}", why_not.empty() ? "--onnxruntime off" : why_not);
      return;
    }
    const fs::path dir = fs::temp_directory_path() / ("vdsr_export_ort_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    struct Cleanup {
      fs::path dir;
      ~Cleanup() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
      }
    } cleanup{dir};
    write_file_atomically(dir / "model.onnx", file_.bytes);
    save_io(dir, cases_, verify_.bench_runs > 0 ? bench_case_ : "", verify_.bench_runs, verify_.bench_threads);
    set_threads(verify_.bench_threads);  // the script's session has its own threads; keep ours out of its way
    read_onnxruntime_results(run_ort(*script, dir / "model.onnx", dir, cases_));
  }

  void read_onnxruntime_results(const OrtResult& ort) {
    RuntimeResult& r = file_.results["onnxruntime"];
    for (const auto& c : cases_) {
      if (c.reference) r.max_abs_diff = std::max(r.max_abs_diff, max_abs_diff(*c.reference, ort.outputs.at(c.name)));
    }
    for (size_t k = 0; k < verify_.scales.size(); ++k) {
      std::vector<Batch> outs;
      for (const auto& n : names_) outs.push_back(ort.outputs.at(dataset_case(verify_.scales[k], n)));
      r.scores.push_back(score_outputs(pairs_[k], names_, outs, verify_.scales[k]));
    }
    if (ort.summary.contains("speed")) ort_speed_ = ort.summary["speed"];
    file_.onnxruntime_version = ort.summary.value("version", "");
    if (int8_engine_) compare_onnxruntime_with_int8_engine(ort, r);
  }

  // The measure for an int8 file: onnxruntime against our int8 engine on the same cases.
  void compare_onnxruntime_with_int8_engine(const OrtResult& ort, const RuntimeResult& r) {
    double worst = 0;
    for (const auto& [name, out] : engine_outputs_) worst = std::max(worst, max_abs_diff(out, ort.outputs.at(name)));
    json& c = file_.onnxruntime_vs_int8_engine;
    c["max_abs_diff"] = worst;
    const auto& engine = file_.results[kInt8Engine].scores;
    for (size_t k = 0; k < r.scores.size(); ++k) {
      c["psnr_delta_by_scale"][scale_key(r.scores[k].scale)] = r.scores[k].mean().psnr - engine[k].mean().psnr;
    }
    c["engine_kernels"] = int8_engine_->kernels();
  }

  // A second OpenCV DNN pass over the final bytes, at the parity sizes, proves the file as written.
  void recheck_opencv_on(const std::string& bytes) {
    if (!opencv_) return;
    auto final_cv = make_runner("opencv-dnn", ModelSource::onnx_bytes(bytes));
    for (const auto& c : cases_) {
      if (c.reference && c.name.rfind("random_", 0) == 0) {
        note_diff("opencv-dnn", max_abs_diff(*c.reference, final_cv->forward(c.input)));
      }
    }
  }

  void check_tolerance() const {
    for (const auto& [runtime, r] : file_.results) {
      if (runtime != "libtorch" && runtime != kInt8Engine && r.max_abs_diff > verify_.tolerance) {
        throw std::runtime_error(runtime + " differs from LibTorch by " + std::to_string(r.max_abs_diff) +
                                 " (more than --tolerance " + std::to_string(verify_.tolerance) + "); nothing written");
      }
    }
  }

  // Every runtime on the same input with the same threads, one after the other.
  void measure_latency() {
    if (verify_.bench_runs <= 0) return;
    const int runs = verify_.bench_runs, threads = verify_.bench_threads;
    set_threads(threads);
    // For an int8 file, our int8 engine: the QDQ reference is a check, not a way to run the model.
    Runner& ours = int8_engine_ ? *int8_engine_ : *libtorch_;
    const std::string key = int8_engine_ ? kInt8Engine : "libtorch";
    file_.speed[key] = time_forward(ours, bench_input_, runs, threads);
    file_.speed[key]["kernels"] = ours.kernels();
    if (opencv_) {
      auto cv_bench = make_runner("opencv-dnn", ModelSource::onnx_bytes(file_.bytes));
      file_.speed["opencv-dnn"] = time_forward(*cv_bench, bench_input_, runs, threads);
    }
    if (!ort_speed_.is_null()) file_.speed["onnxruntime"] = ort_speed_;
  }

  // A static file runs at its own size.
  InputSize bench_size() const {
    return options_.static_height > 0 ? InputSize{options_.static_height, options_.static_width} : verify_.bench;
  }
  std::string dataset_case(int scale, const std::string& image) const {
    return dataset_ + "_x" + std::to_string(scale) + "_" + image;
  }
  void note_diff(const std::string& runtime, double d) {
    double& m = file_.results[runtime].max_abs_diff;
    m = std::max(m, d);
  }

  const Checkpoint& checkpoint_;
  const Checkpoint stored_;
  OnnxOptions options_;
  const VerifyOptions& verify_;
  const std::string dataset_;
  std::unique_ptr<Runner> libtorch_, opencv_, int8_engine_;
  std::map<std::string, Batch> engine_outputs_;
  std::vector<IoCase> cases_;
  std::vector<std::string> names_;
  std::vector<std::vector<ScaledPair>> pairs_;
  Batch bench_input_;
  std::string bench_case_;
  json ort_speed_;
  VerifiedFile file_;
};

json parity_json(const RuntimeResult& r, const std::vector<ScaleScore>& torch_scores) {
  json parity = {{"max_abs_diff", r.max_abs_diff}};
  if (r.scores.empty()) return parity;
  double worst = 0;
  for (size_t k = 0; k < r.scores.size(); ++k) {
    const double d = r.scores[k].mean().psnr - torch_scores[k].mean().psnr;
    parity["psnr_delta_by_scale"][scale_key(r.scores[k].scale)] = d;
    if (std::abs(d) > std::abs(worst)) worst = d;
  }
  parity["psnr_delta"] = worst;
  return parity;
}

}  // namespace

VerifiedFile build_verified(const Checkpoint& checkpoint, OnnxOptions options, const VerifyOptions& verify) {
  return Proof(checkpoint, std::move(options), verify).run();
}

void add_proof_to_report(const VerifiedFile& file, const VerifyOptions& verify, const OnnxOptions& options,
                         json& report) {
  const std::string dataset = fs::path(verify.dataset).filename().string();
  json& ex = report["export"];
  const auto& torch_scores = file.results.at("libtorch").scores;
  for (const auto& [runtime, r] : file.results) {
    for (const auto& s : r.scores) ex["quality"][runtime][dataset][scale_key(s.scale)] = quality_json(s);
    if (runtime != "libtorch") ex["parity"][runtime] = parity_json(r, torch_scores);
  }
  const bool reduced = options.fp16 || options.int8;
  const auto& contract_scores = reduced ? file.fp32_scores : torch_scores;
  for (const auto& s : contract_scores) report["quality"][dataset][scale_key(s.scale)] = quality_json(s);
  const std::string cost_key = options.int8 ? "int8_psnr_cost" : "fp16_psnr_cost";
  for (size_t k = 0; k < file.fp32_scores.size(); ++k) {
    ex[cost_key][dataset][scale_key(file.fp32_scores[k].scale)] =
        torch_scores[k].mean().psnr - file.fp32_scores[k].mean().psnr;
  }
  for (const auto& [runtime, why] : file.skipped) ex["skipped"][runtime] = why;
  if (!file.onnxruntime_vs_int8_engine.empty()) ex["onnxruntime_vs_int8_engine"] = file.onnxruntime_vs_int8_engine;
  for (const auto& [runtime, speed] : file.speed.items()) report["speed"][runtime] = speed;
  if (!file.onnxruntime_version.empty()) ex["onnxruntime_version"] = file.onnxruntime_version;
}

}  // namespace vdsr::exporter
