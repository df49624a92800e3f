// vdsr-bench: latency of VDSR models (any widths) across runtimes, precisions, input sizes and threads,
// measured side by side in one process run so that machine noise hits every configuration alike.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <unistd.h>

#include "report/report.h"
#include "export/onnx_writer.h"
#include "runtime/ort.h"
#include "runtime/runners.h"
#include "vdsr/checkpoint.h"
#include "tools/cli/common.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/inference.h"
#include "vdsr/machine.h"
#include "vdsr/util/cpu.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using namespace vdsr::exporter;
using namespace vdsr::runtime;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Model {
  std::string name;
  fs::path path;
  Checkpoint checkpoint;
  std::string onnx;  // serialized ONNX, for the runtimes that read it
};

struct Size {
  int h = 0, w = 0;
  bool operator==(const Size& o) const { return h == o.h && w == o.w; }
  bool operator<(const Size& o) const { return std::pair{h, w} < std::pair{o.h, o.w}; }
  std::string text() const { return std::to_string(h) + "x" + std::to_string(w); }
};

// "256" (square) or "HxW", each side in 16..16384.
Size parse_size(const std::string& text) {
  Size s;
  const auto x = text.find('x');
  try {
    size_t used = 0;
    s.h = std::stoi(text.substr(0, x), &used);
    if (used != (x == std::string::npos ? text.size() : x)) throw std::invalid_argument(text);
    s.w = x == std::string::npos ? s.h : std::stoi(text.substr(x + 1), &used);
    if (x != std::string::npos && used != text.size() - x - 1) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    throw Error("--sizes: expected N or HxW, got '" + text + "'");
  }
  if (s.h < 16 || s.w < 16 || s.h > 16384 || s.w > 16384) {
    throw Error("--sizes: " + text + " is outside 16..16384 pixels per side");
  }
  return s;
}

// One row of the table: a model in a runtime at a precision and input size.
struct Config {
  const Model* model;
  std::string runtime;    // libtorch | aten | opencv-dnn | onnxruntime
  std::string precision;  // fp32 | bf16
  Size size;
  std::unique_ptr<Runner> runner;  // in-process runtimes
  std::vector<double> ms;
  double memory_mb = 0;  // in-process: peak RSS added by the first run; onnxruntime: the node process's peak
};

// Resident memory of this process from /proc/self/status (VmRSS or VmHWM), in MiB.
double proc_status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  }
  return 0;
}

// Resets the kernel's peak-RSS counter (VmHWM) to the current RSS, so a following peak is this run's.
void reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

std::pair<std::string, fs::path> split_named(const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq == std::string::npos) return {fs::path(arg).stem().string(), arg};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Latency of VDSR models side by side: each model in each runtime and precision at each input size,\n"
      "one warm-up then --rounds x --runs timed forward passes, interleaved across configurations.\n"
      "Prints a Markdown table (median/min/max ms, ratio to onnxruntime, memory) and writes a report\n"
      "(stage bench).\n\n"
      "Runtimes: libtorch (the project's inference path, as vdsr-eval runs it), aten (at::conv2d per layer,\n"
      "for comparison), opencv-dnn and onnxruntime (the model exported to ONNX as vdsr-export writes it;\n"
      "onnxruntime through scripts/ort_check.mjs when node and onnxruntime-node are installed).\n\n"
      "  vdsr-bench --model original=vdsr.pt --model pruned=prune/pruned.ckpt --sizes 256,512"};
  std::vector<std::string> model_args, sizes_arg{"256,512,1024"}, precisions_arg{"fp32,bf16"},
      runtimes_arg{"libtorch,onnxruntime,opencv-dnn"};
  std::string report_path, engine = "auto";
  int threads = 0, runs = 5, rounds = 2, tile = -1;
  int64_t memory_budget_mb = 1024;
  bool winograd = true;
  app.add_option("--model", model_args,
                 "[NAME=]PATH of a checkpoint or PyTorch state dict, repeatable (default: the reference model)");
  app.add_option("--sizes", sizes_arg, "input sizes: N (square) or HxW, e.g. 256,512,1024 or 2160x3840")
      ->capture_default_str();
  app.add_option("--precision", precisions_arg, "fp32 and/or bf16 (bf16 applies to libtorch and aten)")
      ->capture_default_str();
  app.add_option("--runtimes", runtimes_arg, "among libtorch, aten, opencv-dnn, onnxruntime")->capture_default_str();
  app.add_option("--threads", threads, "threads of every runtime (default: all cores)");
  app.add_option("--runs", runs, "timed runs per configuration (after one warm-up)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--rounds", rounds, "rounds of --runs each; medians are over all rounds")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--engine", engine, "engine of the libtorch runtime: auto, onednn or aten")->capture_default_str();
  app.add_option("--tile", tile, "libtorch/aten: tile side (0: automatic above --memory-budget; -1: untiled)")
      ->capture_default_str();
  app.add_option("--memory-budget", memory_budget_mb, "MiB of activations before automatic tiling (with --tile 0)")
      ->capture_default_str();
  app.add_option("--winograd", winograd, "libtorch fp32: allow Winograd body convolutions where they time faster")
      ->capture_default_str();
  app.add_option("--report", report_path, "write a JSON report (schema vdsr-report/1, stage bench)");

  return cli::run(app, argc, argv, [&] {
    const int threads_used = set_threads(threads);
    std::vector<Size> sizes;
    for (const auto& s : cli::split_list(sizes_arg)) sizes.push_back(parse_size(s));
    const std::vector<std::string> precisions = cli::split_list(precisions_arg), runtimes = cli::split_list(runtimes_arg);
    for (const auto& p : precisions) parse_precision(p);
    for (const auto& r : runtimes) {
      if (r != "libtorch" && r != "aten" && r != "opencv-dnn" && r != "onnxruntime") {
        throw Error("--runtimes: unknown runtime '" + r + "' (expected libtorch, aten, opencv-dnn, onnxruntime)");
      }
    }
    InferenceOptions base;
    base.tile = tile;
    base.memory_budget_mb = memory_budget_mb;
    base.winograd = winograd;
    base.engine = parse_engine(engine);
    cli::apply_engine_flag(engine);
    if (model_args.empty()) model_args.push_back((assets_dir() / "models" / "vdsr_x234_state_dict.pt").string());

    std::vector<std::unique_ptr<Model>> models;
    for (const auto& arg : model_args) {
      auto m = std::make_unique<Model>();
      std::tie(m->name, m->path) = split_named(arg);
      m->checkpoint = load_checkpoint(m->path);
      OnnxOptions onnx_options;
      m->onnx = check_and_serialize(build_model(m->checkpoint, onnx_options));
      models.push_back(std::move(m));
    }

    std::optional<fs::path> ort_script;
    if (std::find(runtimes.begin(), runtimes.end(), "onnxruntime") != runtimes.end()) {
      std::string why;
      ort_script = find_ort_script(why);
      if (!ort_script) spdlog::warn("onnxruntime skipped: {}", why);
    }
    std::string bf16_note;
    const bool bf16_native = cpu_has_bf16(&bf16_note);

    // Every configuration, in table order.
    std::vector<Config> configs;
    for (const Size& size : sizes) {
      for (const auto& m : models) {
        for (const auto& r : runtimes) {
          const bool in_process_torch = r == "libtorch" || r == "aten";
          for (const auto& p : precisions) {
            if (!in_process_torch && p != "fp32") continue;
            if (p == "bf16" && !bf16_native) {
              spdlog::warn("bf16 skipped: {}", bf16_note);
              continue;
            }
            if (r == "onnxruntime" && !ort_script) continue;
            Config c{m.get(), r, p, size, nullptr, {}, 0};
            if (in_process_torch) {
              InferenceOptions o = base;
              o.precision = parse_precision(p);
              if (r == "aten") o.engine = InferenceOptions::Engine::aten;
              c.runner = libtorch_runner(m->checkpoint, o);
            } else if (r == "opencv-dnn") {
              c.runner = opencv_runner(m->onnx);
            }
            configs.push_back(std::move(c));
          }
        }
      }
    }
    if (configs.empty()) throw Error("nothing to run: no runtime of --runtimes is available");

    const auto tmp = fs::temp_directory_path() / ("vdsr-bench-" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    struct Cleanup {
      fs::path dir;
      ~Cleanup() {
        std::error_code ec;
        fs::remove_all(dir, ec);
      }
    } cleanup{tmp};

    for (const Size& size : sizes) {
      const Batch x = random_batch(1, size.h, size.w, 7);
      std::vector<Config*> here;
      for (auto& c : configs) {
        if (c.size == size) here.push_back(&c);
      }
      spdlog::info("{}: {} configuration(s), {} x {} run(s) each", size.text(), here.size(), rounds, runs);
      // Warm-up, one configuration at a time, with the memory its first run adds.
      for (Config* c : here) {
        if (!c->runner) continue;
        const double before = proc_status_mb("VmRSS");
        reset_peak_rss();
        c->runner->forward(x);
        c->memory_mb = std::max(0.0, proc_status_mb("VmHWM") - before);
      }
      // Timed runs in rounds: in each, run k of every in-process configuration comes before run k+1 of
      // any, then onnxruntime (its own process: the script loads the model, warms up and times) takes its
      // turn. Noise from the rest of the machine thus falls on every configuration alike.
      for (int round = 0; round < rounds; ++round) {
        for (int k = 0; k < runs; ++k) {
          for (Config* c : here) {
            if (!c->runner) continue;
            const auto start = std::chrono::steady_clock::now();
            c->runner->forward(x);
            c->ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
          }
        }
        for (Config* c : here) {
          if (c->runtime != "onnxruntime") continue;
          const fs::path dir = tmp / (c->model->name + "_" + size.text());
          fs::create_directories(dir);
          const fs::path onnx = dir / "model.onnx";
          if (!fs::exists(onnx)) write_file_atomically(onnx, c->model->onnx);
          const std::vector<IoCase> cases{{"bench", x, std::nullopt}};
          save_io(dir, cases, "bench", runs, threads_used);
          const OrtResult r = run_ort(*ort_script, onnx, dir, cases);
          for (const auto& ms : r.summary.at("speed").at("ms")) c->ms.push_back(ms.get<double>());
          c->memory_mb = std::max(c->memory_mb, r.summary.value("peak_rss_mb", 0.0));
        }
      }
    }

    // The table and the report.
    json rows = json::array();
    std::printf("\n%s\n", machine_line(threads_used).c_str());
    std::printf(
        "| model | runtime | precision | input | median ms | min ms | max ms | vs onnxruntime | memory MiB |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|\n");
    std::map<std::pair<const Model*, Size>, double> ort_median;
    for (const auto& c : configs) {
      if (c.runtime == "onnxruntime" && !c.ms.empty()) {
        ort_median[{c.model, c.size}] = latency_json(c.ms, c.size.h, c.size.w, threads_used)["latency_ms"]["median"];
      }
    }
    for (const auto& c : configs) {
      if (c.ms.empty()) continue;
      // {input, threads, latency_ms {median, min, max}, runs}, as every tool reports a latency.
      json row = latency_json(c.ms, c.size.h, c.size.w, threads_used);
      const double median = row["latency_ms"]["median"];
      const auto ort = ort_median.find({c.model, c.size});
      const std::string ratio = ort == ort_median.end() ? "—" : fmt::format("{:.2f}", median / ort->second);
      std::printf("| %s | %s | %s | %s | %.1f | %.1f | %.1f | %s | %.0f |\n", c.model->name.c_str(),
                  c.runtime.c_str(), c.precision.c_str(), c.size.text().c_str(), median,
                  row["latency_ms"]["min"].get<double>(), row["latency_ms"]["max"].get<double>(), ratio.c_str(),
                  c.memory_mb);
      row.update({{"model", c.model->name},
                  {"path", c.model->path.string()},
                  {"widths", c.model->checkpoint.architecture.widths},
                  {"runtime", c.runtime},
                  {"precision", c.precision},
                  {"memory_mb", c.memory_mb}});
      if (c.runner && !c.runner->kernels().empty()) row["kernels"] = c.runner->kernels();
      if (ort != ort_median.end()) row["vs_onnxruntime"] = median / ort->second;
      rows.push_back(row);
    }
    std::printf("\nmemory: for in-process runtimes the peak RSS the first run added (plans, buffers, activations);\n"
                "for onnxruntime the node process's peak RSS.\n");

    if (!report_path.empty()) {
      json report = report::create("bench", "vdsr-bench");
      report["machine"].update(machine_json(threads_used, false));
      report["machine"]["bf16"] = bf16_native;
      const Model& first = *models.front();
      report["model"] = model_json(first.path, first.checkpoint);
      report["config"] = {{"models", model_args}, {"sizes", cli::split_list(sizes_arg)},     {"precisions", precisions},
                          {"runtimes", runtimes},  {"threads", threads_used}, {"runs", runs}, {"rounds", rounds},
                          {"engine", engine},     {"winograd", winograd},
                          {"tile", tile},          {"memory_budget_mb", memory_budget_mb}};
      // The contract's speed.<runtime>: the first model at the first size in fp32.
      for (const auto& row : rows) {
        const std::string runtime = row["runtime"];
        if (row["model"] == first.name && row["input"] == json{sizes.front().h, sizes.front().w} &&
            row["precision"] == "fp32" && !report["speed"].contains(runtime)) {
          report["speed"][runtime] = {{"input", row["input"]},
                                      {"threads", threads_used},
                                      {"latency_ms", row["latency_ms"]},
                                      {"runs", row["runs"]}};
          if (row.contains("kernels")) report["speed"][runtime]["kernels"] = row["kernels"];
        }
      }
      report["bench"]["results"] = rows;
      report::write(report_path, report);
      spdlog::info("report written to {}", report_path);
    }
    return 0;
  });
}
