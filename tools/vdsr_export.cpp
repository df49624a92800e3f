// vdsr-export: writes a checkpoint as ONNX (checked by ONNX's checker and shape inference), proves the file
// in OpenCV DNN and onnxruntime against LibTorch, and reports size, parity, PSNR and latency per runtime.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "report/report.h"
#include "export/onnx_writer.h"
#include "runtime/ort.h"
#include "runtime/runners.h"
#include "vdsr/checkpoint.h"
#include "tools/cli/common.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/evaluation.h"
#include "vdsr/inference.h"
#include "vdsr/machine.h"
#include "vdsr/util/cpu.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using namespace vdsr::exporter;
using namespace vdsr::runtime;
namespace fs = std::filesystem;

namespace {

std::pair<int, int> parse_size(const std::string& text, const std::string& flag) {
  int h = 0, w = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &h, &x, &w, &extra) != 3 || (x != 'x' && x != 'X') || h < 1 || w < 1 ||
      h > 16384 || w > 16384) {
    throw Error(flag + ": expected HxW with positive sizes, e.g. 256x256, got '" + text + "'");
  }
  return {h, w};
}

// Fails before any work when the output could not be written: missing folder, or one we may not write.
void check_output_folder(const std::string& path, const std::string& flag) {
  if (path.empty()) return;
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  if (!fs::is_directory(folder)) throw Error(flag + " " + path + ": folder " + folder.string() + " does not exist");
  // A probe file rather than access(): root passes access() on read-only mounts and 0555 folders alike.
  const fs::path probe = folder / (".vdsr-export-probe-" + std::to_string(getpid()));
  std::ofstream(probe).put('x');
  const bool writable = fs::exists(probe);
  std::error_code ignored;
  fs::remove(probe, ignored);
  if (!writable) throw Error(flag + " " + path + ": folder " + folder.string() + " is not writable");
}

// The weights a file holds, as LibTorch sees them: float16-rounded for --fp16.
Checkpoint as_stored(const Checkpoint& ck, bool fp16) {
  Checkpoint c = ck;
  if (fp16) {
    for (auto& [name, w] : c.weights) w = w.to(at::kHalf).to(at::kFloat);
  }
  return c;
}

struct RuntimeResult {
  double max_abs_diff = 0;
  std::vector<ScaleScore> scores;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Export a VDSR model as ONNX: Conv + Relu per layer and the residual Add, weights as initializers,\n"
      "checked with ONNX's checker and shape inference, then run in OpenCV DNN (and onnxruntime through\n"
      "scripts/ort_check.mjs when node and onnxruntime-node are installed) and compared with LibTorch.\n\n"
      "  vdsr-export --onnx --model M --out vdsr.onnx [--opset 13] [--static HxW] [--fp16] [--verify Set5]\n"
      "              [--state-dict out.pt] [--report R] [--threads N]"};
  std::string model = (assets_dir() / "models" / "vdsr_x234_state_dict.pt").string();
  std::string out, static_size, verify, state_dict, report_path, save_io, bench_size = "256x256", ort_mode = "auto";
  std::vector<std::string> scales_arg{"2,3,4"};
  bool onnx_flag = false, fp16 = false;
  int opset = 13, threads = 0, bench_threads = 2, bench_runs = 10;
  double tolerance = 1e-4;
  // A later flag overrides an earlier one, so wrapper scripts can append their own.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--onnx", onnx_flag, "write an ONNX file (needs --out)");
  app.add_option("--model", model, "checkpoint or PyTorch state dict (.pt), any widths")->capture_default_str();
  app.add_option("--out", out, "ONNX file to write (written only after every check passed)");
  app.add_option("--opset", opset, "ONNX opset, " + std::to_string(kMinOpset) + ".." + std::to_string(kMaxOpset))
      ->capture_default_str();
  app.add_option("--static", static_size, "fix the input to [1, 1, H, W] (default: N, H, W symbolic), e.g. 256x256");
  app.add_flag("--fp16", fp16, "store weights as float16 (half the file); the graph still takes float32");
  app.add_option("--verify", verify, "dataset (name under $VDSR_ASSETS or folder): PSNR per runtime next to LibTorch");
  app.add_option("--scale", scales_arg, "scales for --verify")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->capture_default_str();
  app.add_option("--state-dict", state_dict, "also write the weights as a PyTorch-loadable state dict");
  app.add_option("--report", report_path, "write a JSON report (schema vdsr-report/1)");
  app.add_option("--threads", threads, "CPU threads for parity and --verify (default: all cores)");
  app.add_option("--bench-threads", bench_threads, "threads for the latency runs")->capture_default_str();
  app.add_option("--bench-runs", bench_runs, "timed forward passes per runtime (0: no latency)")->capture_default_str();
  app.add_option("--bench-size", bench_size, "input of the latency runs, HxW")->capture_default_str();
  app.add_option("--save-io", save_io, "folder: save parity inputs and LibTorch outputs for scripts/ort_check.mjs");
  app.add_option("--onnxruntime", ort_mode, "run scripts/ort_check.mjs: auto (when node and onnxruntime-node are "
                                            "there), on (required), off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  std::string engine = "auto";
  cli::add_engine_flag(app, engine);
  app.add_option("--tolerance", tolerance, "largest max abs difference to LibTorch accepted from a runtime")
      ->capture_default_str();

  return cli::run(app, argc, argv, [&]() -> int {
    // Every argument is checked before any work, so bad input fails fast and writes nothing.
    if (!onnx_flag && state_dict.empty()) throw Error("nothing to do: give --onnx --out FILE and/or --state-dict FILE");
    if (onnx_flag && out.empty()) throw Error("--onnx needs --out FILE");
    if (!onnx_flag && !out.empty()) throw Error("--out needs --onnx");
    validate_opset(opset);
    cli::apply_engine_flag(engine);
    const std::vector<int> scale_list = cli::parse_int_list(scales_arg, "--scale", 2, 8);
    OnnxOptions options;
    options.opset = opset;
    options.fp16 = fp16;
    if (!static_size.empty()) std::tie(options.static_height, options.static_width) = parse_size(static_size, "--static");
    if (!verify.empty() && options.static_height > 0) {
      throw Error("--verify needs a dynamic-size model: the dataset's images differ in size (drop --static)");
    }
    auto [bench_h, bench_w] = parse_size(bench_size, "--bench-size");
    if (options.static_height > 0) std::tie(bench_h, bench_w) = std::pair{options.static_height, options.static_width};
    if (bench_threads < 1) throw Error("--bench-threads: expected at least 1");
    check_output_folder(out, "--out");
    check_output_folder(state_dict, "--state-dict");
    check_output_folder(report_path, "--report");
    if (!save_io.empty() && !fs::is_directory(save_io)) throw Error("--save-io " + save_io + ": folder does not exist");
    const std::vector<fs::path> images = verify.empty() ? std::vector<fs::path>{} : dataset_images(verify);
    const std::vector<int> scales = verify.empty() ? std::vector<int>{} : scale_list;  // scales measured

    const Checkpoint checkpoint = load_checkpoint(model);
    const int threads_used = set_threads(threads);
    const std::string source_sha256 = sha256_file(model);
    spdlog::info("{}: depth {}, {} params ({} bytes as float32); {} thread(s)", model, checkpoint.architecture.depth(),
                 checkpoint.architecture.params(), checkpoint.architecture.params() * 4, threads_used);

    nlohmann::json report = report::create("export", "vdsr-export");
    report["machine"].update(machine_json(threads_used, false));
    report["model"] = model_json(model, checkpoint);
    report["config"] = {{"model", model},         {"out", out},         {"opset", opset},
                        {"static", static_size},  {"fp16", fp16},       {"verify", verify},
                        {"scales", scale_list},       {"threads", threads_used}, {"bench_threads", bench_threads},
                        {"bench_runs", bench_runs}, {"bench_size", {bench_h, bench_w}}, {"onnxruntime", ort_mode},
                        {"tolerance", tolerance}, {"state_dict", state_dict}};
    nlohmann::json& ex = report["export"];

    if (onnx_flag) {
      options.metadata = standard_metadata(checkpoint, source_sha256, fp16);
      const std::string draft = check_and_serialize(build_model(checkpoint, options));
      spdlog::info("ONNX opset {}: {} bytes, checker and shape inference passed", opset, draft.size());

      const Checkpoint stored = as_stored(checkpoint, fp16);
      auto libtorch = libtorch_runner(stored);
      // OpenCV 4.6 DNN reads no float16 initializers; float16 files are proven in onnxruntime only.
      auto opencv = fp16 ? nullptr : opencv_runner(draft);
      if (!opencv) spdlog::warn("OpenCV DNN skipped: it cannot read float16 initializers");
      std::map<std::string, RuntimeResult> results;

      // Parity on random inputs; dynamic files run at several sizes and a batch of two.
      std::vector<IoCase> cases;
      const std::vector<std::array<int, 3>> sizes =
          options.static_height > 0 ? std::vector<std::array<int, 3>>{{1, options.static_height, options.static_width}}
                                    : std::vector<std::array<int, 3>>{{1, 17, 23}, {1, 64, 48}, {2, 40, 40}};
      unsigned seed = 1;
      for (const auto& [n, h, w] : sizes) {
        IoCase c{"random_" + std::to_string(n) + "x" + std::to_string(h) + "x" + std::to_string(w),
                 random_batch(n, h, w, seed++), std::nullopt};
        c.reference = libtorch->forward(c.input);
        if (opencv) {
          const double d = max_abs_diff(*c.reference, opencv->forward(c.input));
          results["opencv-dnn"].max_abs_diff = std::max(results["opencv-dnn"].max_abs_diff, d);
          spdlog::info("parity {}: OpenCV DNN max abs diff {:.3g}", c.name, d);
        }
        cases.push_back(std::move(c));
      }

      // PSNR per runtime on the same bicubic inputs.
      std::vector<std::vector<ScaledPair>> pairs(scales.size());
      std::vector<std::string> names;
      for (const auto& p : images) names.push_back(p.stem().string());
      std::vector<ScaleScore> fp32_scores;
      const std::string dataset_name = fs::path(verify).filename().string();
      const auto full = fp16 ? libtorch_runner(checkpoint) : nullptr;
      for (size_t k = 0; k < scales.size(); ++k) {
        std::vector<Batch> torch_out, cv_out;
        for (size_t i = 0; i < images.size(); ++i) {
          pairs[k].push_back(make_scaled_pair(read_image(images[i]), scales[k], images[i].string()));
          const Batch in = image_batch(pairs[k].back().bicubic);
          torch_out.push_back(libtorch->forward(in));
          if (opencv) cv_out.push_back(opencv->forward(in));
          cases.push_back({dataset_name + "_x" + std::to_string(scales[k]) + "_" + names[i], in, torch_out.back()});
        }
        results["libtorch"].scores.push_back(score_outputs(pairs[k], names, torch_out, scales[k]));
        if (opencv) results["opencv-dnn"].scores.push_back(score_outputs(pairs[k], names, cv_out, scales[k]));
        if (fp16) {
          // The cost of float16 weights: the same protocol with the source's float32 weights.
          std::vector<Batch> full_out;
          for (const auto& pair : pairs[k]) full_out.push_back(full->forward(image_batch(pair.bicubic)));
          fp32_scores.push_back(score_outputs(pairs[k], names, full_out, scales[k]));
        }
        spdlog::info("{} x{}: PSNR LibTorch {:.4f}{}", dataset_name, scales[k], results["libtorch"].scores.back().mean().psnr,
                     opencv ? fmt::format(", OpenCV DNN {:.4f}", results["opencv-dnn"].scores.back().mean().psnr) : "");
      }

      // The final file: the draft plus the PSNR its graph measured in OpenCV DNN (for float16 files, LibTorch
      // on the float16-rounded weights: the same arithmetic as the graph's Cast then float32 Conv).
      if (!images.empty()) {
        const std::string runtime = opencv ? "opencv-dnn" : "libtorch";
        nlohmann::json psnr = {{"dataset", dataset_name}, {"runtime", runtime}};
        for (const auto& s : results[runtime].scores) psnr["x" + std::to_string(s.scale)] = s.mean().psnr;
        options.metadata.emplace_back("psnr", psnr.dump());
      }
      const std::string bytes = check_and_serialize(build_model(checkpoint, options));

      const Batch bench_input = random_batch(1, bench_h, bench_w, 99);
      const std::string bench_name = "bench_" + std::to_string(bench_h) + "x" + std::to_string(bench_w);
      cases.push_back({bench_name, bench_input, std::nullopt});
      if (!save_io.empty()) {
        runtime::save_io(save_io, cases, bench_runs > 0 ? bench_name : "", bench_runs, bench_threads);
        spdlog::info("saved {} parity cases to {} (node scripts/ort_check.mjs --model {} --io {})", cases.size(),
                     save_io, out, save_io);
      }

      // onnxruntime runs the exact bytes about to be written, from a private folder.
      std::string why_not;
      const auto script = ort_mode == "off" ? std::nullopt : find_ort_script(why_not);
      if (ort_mode == "on" && !script) throw Error("--onnxruntime on: " + why_not);
      nlohmann::json ort_speed;
      if (script) {
        const fs::path dir = fs::temp_directory_path() / ("vdsr_export_ort_" + std::to_string(getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
        try {
          write_file_atomically(dir / "model.onnx", bytes);
          runtime::save_io(dir, cases, bench_runs > 0 ? bench_name : "", bench_runs, bench_threads);
          set_threads(bench_threads);  // the script's session has its own threads; keep ours out of its way
          const OrtResult ort = run_ort(*script, dir / "model.onnx", dir, cases);
          RuntimeResult& r = results["onnxruntime"];
          for (const auto& c : cases) {
            if (c.reference) r.max_abs_diff = std::max(r.max_abs_diff, max_abs_diff(*c.reference, ort.outputs.at(c.name)));
          }
          for (size_t k = 0; k < scales.size(); ++k) {
            std::vector<Batch> outs;
            for (const auto& n : names) outs.push_back(ort.outputs.at(dataset_name + "_x" + std::to_string(scales[k]) + "_" + n));
            r.scores.push_back(score_outputs(pairs[k], names, outs, scales[k]));
          }
          if (ort.summary.contains("speed")) ort_speed = ort.summary["speed"];
          ex["onnxruntime_version"] = ort.summary.value("version", "");
        } catch (...) {
          fs::remove_all(dir);
          throw;
        }
        fs::remove_all(dir);
      } else {
        spdlog::warn("onnxruntime check skipped: {}", why_not.empty() ? "--onnxruntime off" : why_not);
      }
      // A second OpenCV DNN pass over the final bytes, at the parity sizes, proves the file as written.
      if (opencv) {
        auto final_cv = opencv_runner(bytes);
        for (const auto& c : cases) {
          if (c.reference && c.name.rfind("random_", 0) == 0) {
            results["opencv-dnn"].max_abs_diff =
                std::max(results["opencv-dnn"].max_abs_diff, max_abs_diff(*c.reference, final_cv->forward(c.input)));
          }
        }
      }

      for (const auto& [runtime, r] : results) {
        if (runtime != "libtorch" && r.max_abs_diff > tolerance) {
          throw std::runtime_error(runtime + " differs from LibTorch by " + std::to_string(r.max_abs_diff) +
                                   " (more than --tolerance " + std::to_string(tolerance) + "); nothing written");
        }
      }

      write_file_atomically(out, bytes);
      const int64_t lower_bound = checkpoint.architecture.params() * (fp16 ? 2 : 4);
      nlohmann::json file = report::file_entry(out);
      file["opset"] = opset;
      file["fp16"] = fp16;
      file["static"] = options.static_height > 0 ? nlohmann::json{options.static_height, options.static_width}
                                                 : nlohmann::json("dynamic [N, 1, H, W]");
      ex["files"]["onnx"] = file;
      ex["size"] = {{"bytes", bytes.size()},
                    {"mb", bytes.size() / 1e6},
                    {"params", checkpoint.architecture.params()},
                    {"params_bytes_lower_bound", lower_bound},
                    {"overhead_bytes", static_cast<int64_t>(bytes.size()) - lower_bound}};
      ex["checks"] = {{"checker", "passed"}, {"shape_inference", "passed"}};
      ex["metadata"] = nlohmann::json::object();
      for (const auto& [k, v] : options.metadata) ex["metadata"][k] = v;
      spdlog::info("wrote {}: {} bytes ({:.3f} MB; params x {} = {} bytes)", out, bytes.size(), bytes.size() / 1e6,
                   fp16 ? 2 : 4, lower_bound);

      const auto& torch_scores = results["libtorch"].scores;
      for (const auto& [runtime, r] : results) {
        for (const auto& s : r.scores) {
          ex["quality"][runtime][dataset_name]["x" + std::to_string(s.scale)] = quality_json(s);
        }
        if (runtime == "libtorch") continue;
        nlohmann::json parity = {{"max_abs_diff", r.max_abs_diff}};
        if (!r.scores.empty()) {
          double worst = 0;
          for (size_t k = 0; k < r.scores.size(); ++k) {
            const double d = r.scores[k].mean().psnr - torch_scores[k].mean().psnr;
            parity["psnr_delta_by_scale"]["x" + std::to_string(r.scores[k].scale)] = d;
            if (std::abs(d) > std::abs(worst)) worst = d;
          }
          parity["psnr_delta"] = worst;
        }
        ex["parity"][runtime] = parity;
      }
      // The contract's quality block: the model as LibTorch runs it (the source weights).
      const auto& contract_scores = fp16 ? fp32_scores : torch_scores;
      for (const auto& s : contract_scores) report["quality"][dataset_name]["x" + std::to_string(s.scale)] = quality_json(s);
      if (fp16) {
        for (size_t k = 0; k < fp32_scores.size(); ++k) {
          ex["fp16_psnr_cost"][dataset_name]["x" + std::to_string(scales[k])] =
              torch_scores[k].mean().psnr - fp32_scores[k].mean().psnr;
        }
      }

      // Latency: every runtime on the same input with the same threads, one after the other.
      if (bench_runs > 0) {
        set_threads(bench_threads);
        report["speed"]["libtorch"] = time_forward(*libtorch, bench_input, bench_runs, bench_threads);
        report["speed"]["libtorch"]["kernels"] = libtorch->kernels();
        if (opencv) {
          auto cv_bench = opencv_runner(bytes);
          report["speed"]["opencv-dnn"] = time_forward(*cv_bench, bench_input, bench_runs, bench_threads);
        }
        if (!ort_speed.is_null()) report["speed"]["onnxruntime"] = ort_speed;
      }

      // Results table on stdout.
      std::printf("\n%s: %zu bytes (%.3f MB), params x %d = %lld bytes, opset %d%s\n", out.c_str(), bytes.size(),
                  bytes.size() / 1e6, fp16 ? 2 : 4, static_cast<long long>(lower_bound), opset, fp16 ? ", fp16" : "");
      std::printf("\n%s\n| runtime | max abs diff vs LibTorch |", machine_line(bench_threads).c_str());
      for (int s : scales) std::printf(" %s x%d PSNR |", dataset_name.c_str(), s);
      std::printf(" latency %dx%d (ms, median) |\n|---|---:|", bench_h, bench_w);
      for (size_t k = 0; k < scales.size(); ++k) std::printf("---:|");
      std::printf("---:|\n");
      for (const auto& [runtime, r] : results) {
        std::printf("| %s | %s |", runtime.c_str(),
                    runtime == "libtorch" ? "-" : fmt::format("{:.3g}", r.max_abs_diff).c_str());
        for (const auto& s : r.scores) std::printf(" %.4f |", s.mean().psnr);
        const auto& sp = report["speed"];
        if (sp.contains(runtime)) {
          std::printf(" %.2f |\n", sp[runtime]["latency_ms"]["median"].get<double>());
        } else {
          std::printf(" - |\n");
        }
      }
    }

    if (!state_dict.empty()) {
      export_state_dict(state_dict, checkpoint);
      ex["files"]["state_dict"] = report::file_entry(state_dict);
      spdlog::info("wrote state dict {}", state_dict);
    }
    if (!report_path.empty()) {
      report::write(report_path, report);
      spdlog::info("report written to {}", report_path);
    }
    return 0;
  });
}
