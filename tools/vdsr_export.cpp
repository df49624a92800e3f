// vdsr-export: writes a checkpoint as ONNX (checked by ONNX's checker and shape inference), proves the file
// in OpenCV DNN and onnxruntime against LibTorch, and reports size, parity, PSNR and latency per runtime.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "export/onnx_writer.h"
#include "export/qdq.h"
#include "export/verify.h"
#include "report/report.h"
#include "runtime/runners.h"
#include "tools/cli/common.h"
#include "tools/cli/progress_flags.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/checkpoint.h"
#include "vdsr/evaluation.h"
#include "vdsr/machine.h"
#include "vdsr/util/cpu.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using namespace vdsr::exporter;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The default --tolerance for an int8 file (max abs difference on the 0..1 output, against LibTorch
// computing the same QDQ graph in float32).
constexpr double kInt8Tolerance = 0.02;

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

// The size of the same model in each form (float32, float16 and, with scales, int8): the graph serialized
// with the written file's metadata, its weight type adjusted, so the forms compare on their weights.
json sizes_of_forms(const Checkpoint& checkpoint, const OnnxOptions& written, const VerifiedFile& file) {
  json forms = json::object();
  std::vector<std::pair<std::string, OnnxOptions>> variants;
  OnnxOptions fp32 = written;
  fp32.fp16 = false;
  fp32.int8.reset();
  OnnxOptions fp16 = fp32;
  fp16.fp16 = true;
  variants = {{"fp32", fp32}, {"fp16", fp16}};
  if (written.int8) variants.emplace_back("int8", written);
  for (auto& [form, o] : variants) {
    o.metadata.clear();
    for (const auto& [key, value] : file.metadata) {
      if (key == "weights_dtype") {
        o.metadata.emplace_back(key, weights_dtype(o));
      } else if (key != "int8" || o.int8) {
        o.metadata.emplace_back(key, value);
      }
    }
    forms[form] = build_model(checkpoint, o).ByteSizeLong();
  }
  return forms;
}

// The file's entry in the report: where, how big against its parameters and the other forms, what checked
// it, its metadata.
void add_file_to_report(const std::string& out, const VerifiedFile& file, const OnnxOptions& options,
                        const Checkpoint& checkpoint, json& ex) {
  const int64_t lower_bound = weight_bytes(checkpoint, options);
  json entry = report::file_entry(out);
  entry["opset"] = options.opset;
  entry["fp16"] = options.fp16;
  entry["int8"] = options.int8.has_value();
  entry["static"] = options.static_height > 0 ? json{options.static_height, options.static_width}
                                              : json("dynamic [N, 1, H, W]");
  ex["files"]["onnx"] = entry;
  ex["size"] = {{"bytes", file.bytes.size()},
                {"mb", file.bytes.size() / 1e6},
                {"params", checkpoint.architecture.params()},
                {"params_bytes_lower_bound", lower_bound},
                {"overhead_bytes", static_cast<int64_t>(file.bytes.size()) - lower_bound},
                {"forms", sizes_of_forms(checkpoint, options, file)}};
  ex["checks"] = {{"checker", "passed"}, {"shape_inference", "passed"}};
  ex["metadata"] = json::object();
  for (const auto& [k, v] : file.metadata) ex["metadata"][k] = v;
}

void print_table(const std::string& out, const VerifiedFile& file, const OnnxOptions& options,
                 const Checkpoint& checkpoint, const VerifyOptions& verify, const json& ex) {
  const std::string dataset = fs::path(verify.dataset).filename().string();
  const runtime::InputSize bench =
      options.static_height > 0 ? runtime::InputSize{options.static_height, options.static_width} : verify.bench;
  std::printf("\n%s: %zu bytes (%.3f MB), weights %s: %lld bytes, opset %d\n", out.c_str(), file.bytes.size(),
              file.bytes.size() / 1e6, weights_dtype(options).c_str(),
              static_cast<long long>(weight_bytes(checkpoint, options)), options.opset);
  std::printf("size of each form (bytes):");
  for (const auto& [form, bytes] : ex["size"]["forms"].items()) {
    std::printf(" %s %lld (%.3f MB)", form.c_str(), bytes.get<long long>(), bytes.get<double>() / 1e6);
  }
  std::printf("\n");
  for (const auto& [runtime, why] : file.skipped) std::printf("%s: not run (%s)\n", runtime.c_str(), why.c_str());
  std::printf("\n%s\n| runtime | max abs diff vs LibTorch |", machine_line(verify.bench_threads).c_str());
  for (int s : verify.scales) std::printf(" %s x%d PSNR |", dataset.c_str(), s);
  std::printf(" latency %dx%d (ms, median) |\n|---|---:|", bench.h, bench.w);
  for (size_t k = 0; k < verify.scales.size(); ++k) std::printf("---:|");
  std::printf("---:|\n");
  for (const auto& [runtime, r] : file.results) {
    const std::string diff = runtime == "libtorch" ? "-" : fmt::format("{:.3g}", r.max_abs_diff);
    std::printf("| %s | %s |", runtime.c_str(), diff.c_str());
    for (const auto& s : r.scores) std::printf(" %.4f |", s.mean().psnr);
    if (file.speed.contains(runtime)) {
      std::printf(" %.2f |\n", file.speed[runtime]["latency_ms"]["median"].get<double>());
    } else {
      std::printf(" - |\n");
    }
  }
  if (!file.onnxruntime_vs_int8_engine.empty()) {
    const json& c = file.onnxruntime_vs_int8_engine;
    std::printf("\nonnxruntime vs our int8 engine (libtorch-int8): max abs diff %.3g", c["max_abs_diff"].get<double>());
    if (c.contains("psnr_delta_by_scale")) {
      for (const auto& [s, d] : c["psnr_delta_by_scale"].items()) std::printf(", %s %+.4f dB", s.c_str(), d.get<double>());
    }
    std::printf("\n");
  }
}

// The scales must be the model's: one entry per convolution, named as its layers, and computed for this
// checkpoint (model_sha256 is the file's sha256 or its weights'; an empty one is accepted with a warning).
void check_int8_scales(const Int8Scales& scales, const std::string& path, const Checkpoint& checkpoint,
                       const std::string& model) {
  check_scales_fit(scales, checkpoint, path);
  if (scales.model_sha256.empty()) {
    spdlog::warn("{}: no model_sha256; cannot check that the scales were computed for {}", path, model);
    return;
  }
  const std::string file_sha = sha256_file(model);
  if (scales.model_sha256 != file_sha && scales.model_sha256 != weights_sha256(checkpoint.weights)) {
    throw Error(path + ": model_sha256 is " + scales.model_sha256 + ", but --model " + model + " has sha256 " +
                file_sha + ": the scales were computed for another checkpoint");
  }
}

// The command line. Every argument is checked before any work, so bad input fails fast and writes nothing.
struct Flags {
  std::string model = (assets_dir() / "models" / "vdsr_x234_state_dict.pt").string();
  std::string out, static_size, state_dict, report_path, save_io, bench_size = "256x256", engine = "auto";
  std::string int8_scales;
  CLI::Option* tolerance_flag = nullptr;
  std::vector<std::string> scales{"2,3,4"};
  bool onnx = false, fp16 = false;
  int opset = 13, threads = 0;
  VerifyOptions checks;  // --verify, --onnxruntime, --bench-threads/runs, --tolerance; the rest from verify_options()

  void add_to(CLI::App& app) {
    // A later flag overrides an earlier one, so wrapper scripts can append their own.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_flag("--onnx", onnx, "write an ONNX file (needs --out)");
    app.add_option("--model", model, "checkpoint or PyTorch state dict (.pt), any widths")->capture_default_str();
    app.add_option("--out", out, "ONNX file to write (written only after every check passed)");
    app.add_option("--opset", opset, "ONNX opset, " + std::to_string(kMinOpset) + ".." + std::to_string(kMaxOpset))
        ->capture_default_str();
    app.add_option("--static", static_size, "fix the input to [1, 1, H, W] (default: N, H, W symbolic), e.g. 256x256");
    app.add_flag("--fp16", fp16, "store weights as float16 (half the file); the graph still takes float32");
    app.add_option("--int8-scales", int8_scales,
                   "scales file of vdsr-quantize: the layers it marks int8 are written in QDQ form (s8 weights, "
                   "per-channel scales; opset 13+); --tolerance then defaults to " +
                       fmt::format("{:g}", kInt8Tolerance));
    app.add_option("--verify", checks.dataset,
                   "dataset (name under $VDSR_ASSETS or folder): PSNR per runtime next to LibTorch");
    app.add_option("--scale", scales, "scales for --verify")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->capture_default_str();
    app.add_option("--state-dict", state_dict, "also write the weights as a PyTorch-loadable state dict");
    app.add_option("--report", report_path, "write a JSON report (schema vdsr-report/1)");
    app.add_option("--threads", threads, "CPU threads for parity and --verify (default: all cores)")
        ->check(cli::integer_at_least(1));
    app.add_option("--bench-threads", checks.bench_threads, "threads for the latency runs")->capture_default_str();
    app.add_option("--bench-runs", checks.bench_runs, "timed forward passes per runtime (0: no latency)")
        ->capture_default_str();
    app.add_option("--bench-size", bench_size, "input of the latency runs, HxW")->capture_default_str();
    app.add_option("--save-io", save_io, "folder: save parity inputs and LibTorch outputs for scripts/ort_check.mjs");
    app.add_option("--onnxruntime", checks.onnxruntime,
                   "run scripts/ort_check.mjs: auto (when node and onnxruntime-node are there), on (required), off")
        ->check(CLI::IsMember({"auto", "on", "off"}))
        ->capture_default_str();
    cli::add_engine_flag(app, engine);
    tolerance_flag =
        app.add_option("--tolerance", checks.tolerance, "largest max abs difference to LibTorch accepted from a runtime")
            ->capture_default_str();
  }

  void check_outputs() const {
    if (!onnx && state_dict.empty()) throw Error("nothing to do: give --onnx --out FILE and/or --state-dict FILE");
    if (onnx && out.empty()) throw Error("--onnx needs --out FILE");
    if (!onnx && !out.empty()) throw Error("--out needs --onnx");
    validate_opset(opset);
  }

  OnnxOptions onnx_options() const {
    OnnxOptions o;
    o.opset = opset;
    o.fp16 = fp16;
    if (!int8_scales.empty()) {
      if (fp16) throw Error("--int8-scales and --fp16 exclude each other (an int8 file keeps its other layers float32)");
      if (opset < 13) {
        throw Error("--int8-scales needs --opset 13 or newer (per-channel DequantizeLinear), got " + std::to_string(opset));
      }
      o.int8 = read_int8_scales(int8_scales);
    }
    if (!static_size.empty()) {
      const runtime::InputSize s = runtime::parse_size(static_size, "--static");
      std::tie(o.static_height, o.static_width) = std::pair{s.h, s.w};
    }
    if (!checks.dataset.empty() && o.static_height > 0) {
      throw Error("--verify needs a dynamic-size model: the dataset's images differ in size (drop --static)");
    }
    return o;
  }

  VerifyOptions verify_options(const OnnxOptions& onnx_options) const {
    VerifyOptions v = checks;
    // Int8 runtimes accumulate in integers and requantize; they differ from LibTorch's float32 QDQ
    // arithmetic by rounding, far more than float32 runtimes differ from each other.
    if (onnx_options.int8 && tolerance_flag->count() == 0) v.tolerance = kInt8Tolerance;
    const std::vector<int> scale_list = cli::parse_int_list(scales, "--scale", 2, 8);
    v.bench = runtime::parse_size(bench_size, "--bench-size");
    if (onnx_options.static_height > 0) v.bench = {onnx_options.static_height, onnx_options.static_width};
    if (v.bench_threads < 1) throw Error("--bench-threads: expected at least 1");
    check_output_folder(out, "--out");
    check_output_folder(state_dict, "--state-dict");
    check_output_folder(report_path, "--report");
    if (!save_io.empty() && !fs::is_directory(save_io)) throw Error("--save-io " + save_io + ": folder does not exist");
    if (!v.dataset.empty()) {
      v.images = dataset_images(v.dataset);
      v.scales = scale_list;
    }
    v.save_io = save_io;
    return v;
  }

  json config(int threads_used, const VerifyOptions& v) const {
    return {{"model", model},
            {"out", out},
            {"opset", opset},
            {"static", static_size},
            {"fp16", fp16},
            {"int8_scales", int8_scales},
            {"verify", v.dataset},
            {"scales", cli::parse_int_list(scales, "--scale", 2, 8)},
            {"threads", threads_used},
            {"bench_threads", v.bench_threads},
            {"bench_runs", v.bench_runs},
            {"bench_size", {v.bench.h, v.bench.w}},
            {"onnxruntime", v.onnxruntime},
            {"tolerance", v.tolerance},
            {"state_dict", state_dict}};
  }
};

// The proven file written, into the report and as a table.
void write_onnx(const Flags& flags, const Checkpoint& checkpoint, OnnxOptions options, const VerifyOptions& checks,
                json& report) {
  options.metadata = standard_metadata(checkpoint, sha256_file(flags.model), options);
  const VerifiedFile file = build_verified(checkpoint, options, checks);
  write_file_atomically(flags.out, file.bytes);
  spdlog::info("wrote {}: {} bytes ({:.3f} MB; weights {} bytes as {})", flags.out, file.bytes.size(),
               file.bytes.size() / 1e6, weight_bytes(checkpoint, options), weights_dtype(options));
  add_file_to_report(flags.out, file, options, checkpoint, report["export"]);
  add_proof_to_report(file, checks, options, report);
  print_table(flags.out, file, options, checkpoint, checks, report["export"]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Export a VDSR model as ONNX: Conv + Relu per layer and the residual Add, weights as initializers,\n"
      "checked with ONNX's checker and shape inference, then run in OpenCV DNN (and onnxruntime through\n"
      "scripts/ort_check.mjs when node and onnxruntime-node are installed) and compared with LibTorch.\n\n"
      "  vdsr-export --onnx --model M --out vdsr.onnx [--opset 13] [--static HxW] [--fp16 | --int8-scales S]\n"
      "              [--verify Set5] [--state-dict out.pt] [--report R] [--threads N]"};
  Flags flags;
  flags.add_to(app);
  cli::ProgressFlags progress_flags;
  progress_flags.add_to(app);

  return cli::run(app, argc, argv, [&]() -> int {
    progress_flags.apply();
    flags.check_outputs();
    cli::apply_engine_flag(flags.engine);
    const OnnxOptions options = flags.onnx_options();
    const VerifyOptions checks = flags.verify_options(options);

    const Checkpoint checkpoint = load_checkpoint(flags.model);
    if (options.int8) check_int8_scales(*options.int8, flags.int8_scales, checkpoint, flags.model);
    const int threads_used = runtime::set_threads(flags.threads);
    spdlog::info("{}: depth {}, {} params ({} bytes as float32); {} thread(s)", flags.model,
                 checkpoint.architecture.depth(), checkpoint.architecture.params(),
                 checkpoint.architecture.params() * 4, threads_used);
    json report = report::create("export", "vdsr-export");
    report["machine"].update(machine_json(threads_used, false));
    report["model"] = model_json(flags.model, checkpoint);
    report["config"] = flags.config(threads_used, checks);

    if (flags.onnx) write_onnx(flags, checkpoint, options, checks, report);
    if (!flags.state_dict.empty()) {
      export_state_dict(flags.state_dict, checkpoint);
      report["export"]["files"]["state_dict"] = report::file_entry(flags.state_dict);
      spdlog::info("wrote state dict {}", flags.state_dict);
    }
    if (!flags.report_path.empty()) {
      report::write(flags.report_path, report);
      spdlog::info("report written to {}", flags.report_path);
    }
    return 0;
  });
}
