// vdsr-bench: latency of VDSR models (any widths) across runtimes, precisions, input sizes and threads,
// measured side by side in one process run so that machine noise hits every configuration alike.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "export/onnx_writer.h"
#include "report/report.h"
#include "runtime/bench.h"
#include "runtime/runners.h"
#include "tools/cli/common.h"
#include "tools/cli/progress_flags.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/machine.h"
#include "vdsr/util/cpu.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using namespace vdsr::runtime;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// "[NAME=]PATH": the checkpoint and its ONNX bytes, named after the file unless a name is given.
BenchModel load_model(const std::string& arg) {
  BenchModel m;
  const auto eq = arg.find('=');
  m.path = eq == std::string::npos ? arg : arg.substr(eq + 1);
  m.name = eq == std::string::npos ? m.path.stem().string() : arg.substr(0, eq);
  m.checkpoint = load_checkpoint(m.path);
  m.onnx = exporter::check_and_serialize(exporter::build_model(m.checkpoint, exporter::OnnxOptions{}));
  return m;
}

void print_table(const json& rows, int threads) {
  std::printf("\n%s\n", machine_line(threads).c_str());
  std::printf(
      "| model | runtime | precision | input | median ms | min ms | max ms | vs onnxruntime | memory MiB |\n"
      "|---|---|---|---|---:|---:|---:|---:|---:|\n");
  for (const auto& row : rows) {
    const auto& ms = row["latency_ms"];
    const std::string ratio =
        row.contains("vs_onnxruntime") ? fmt::format("{:.2f}", row["vs_onnxruntime"].get<double>()) : "—";
    const std::string input = fmt::format("{}x{}", row["input"][0].get<int>(), row["input"][1].get<int>());
    std::printf("| %s | %s | %s | %s | %.1f | %.1f | %.1f | %s | %.0f |\n", row["model"].get<std::string>().c_str(),
                row["runtime"].get<std::string>().c_str(), row["precision"].get<std::string>().c_str(), input.c_str(),
                ms["median"].get<double>(), ms["min"].get<double>(), ms["max"].get<double>(), ratio.c_str(),
                row["memory_mb"].get<double>());
  }
  std::printf("\nmemory: for in-process runtimes the peak RSS the first run added (plans, buffers, activations);\n"
              "for onnxruntime the node process's peak RSS.\n");
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
      "  vdsr-bench --model original=vdsr.pt --model pruned=prune/pruned.ckpt --sizes 256,512\n"
      "  vdsr-bench --model original=vdsr.pt --model pruned=pruned.ckpt --precision fp32,int8 --runtimes libtorch \\\n"
      "             --int8-scales original=scales.json --int8-scales pruned=pruned_scales.json"};
  std::vector<std::string> model_args, sizes_arg{"256,512,1024"}, precisions_arg{"fp32,bf16"},
      runtimes_arg{"libtorch,onnxruntime,opencv-dnn"}, int8_scales_args;
  std::string report_path;
  int threads = 0, runs = 5, rounds = 2;
  cli::InferenceFlags inference;
  inference.tile = -1;  // untiled: the latency of the whole picture
  app.add_option("--model", model_args,
                 "[NAME=]PATH of a checkpoint or PyTorch state dict, repeatable (default: the reference model)");
  app.add_option("--sizes", sizes_arg, "input sizes: N (square) or HxW, e.g. 256,512,1024 or 2160x3840")
      ->capture_default_str();
  app.add_option("--precision", precisions_arg,
                 "fp32, bf16 and/or int8 (bf16 applies to libtorch and aten; int8 to libtorch, with --int8-scales)")
      ->capture_default_str();
  app.add_option("--int8-scales", int8_scales_args,
                 "for int8: [LABEL=]FILE, the scales vdsr-quantize wrote for the --model labelled LABEL; repeatable, "
                 "one per model (a plain FILE with one --model)");
  app.add_option("--runtimes", runtimes_arg, "among " + runtime_names())->capture_default_str();
  app.add_option("--threads", threads, "threads of every runtime (default: all cores)")
      ->check(cli::integer_at_least(1));
  app.add_option("--runs", runs, "timed runs per configuration (after one warm-up)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--rounds", rounds, "rounds of --runs each; medians are over all rounds")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  inference.add_to(app, false);  // for the libtorch and aten runtimes
  app.add_option("--report", report_path, "write a JSON report (schema vdsr-report/1, stage bench)");
  cli::ProgressFlags progress_flags;
  progress_flags.add_to(app);

  return cli::run(app, argc, argv, [&] {
    progress_flags.apply();
    BenchPlan plan;
    plan.threads = set_threads(threads);
    plan.runs = runs;
    plan.rounds = rounds;
    for (const auto& s : cli::split_list(sizes_arg)) plan.sizes.push_back(parse_size(s, "--sizes"));
    plan.precisions = cli::split_list(precisions_arg);
    for (const auto& p : plan.precisions) parse_precision(p);
    plan.runtimes = cli::split_list(runtimes_arg);
    for (const auto& r : plan.runtimes) runtime_info(r, "--runtimes");
    plan.options = inference.options();
    if (model_args.empty()) model_args.push_back((assets_dir() / "models" / "vdsr_x234_state_dict.pt").string());

    std::vector<BenchModel> models;
    for (const auto& arg : model_args) models.push_back(load_model(arg));
    attach_int8_scales(models, int8_scales_args);
    std::vector<BenchCase> cases = bench_cases(models, plan);
    run_bench(cases, plan);
    const json rows = bench_rows(cases, plan.threads);
    print_table(rows, plan.threads);

    if (!report_path.empty()) {
      json report = report::create("bench", "vdsr-bench");
      report["machine"].update(machine_json(plan.threads, false));
      report["machine"]["bf16"] = cpu_has_bf16();
      report["model"] = model_json(models.front().path, models.front().checkpoint);
      report["config"] = {{"models", model_args}, {"int8_scales", int8_scales_args},
                          {"sizes", cli::split_list(sizes_arg)},
                          {"precisions", plan.precisions}, {"runtimes", plan.runtimes},
                          {"threads", plan.threads}, {"runs", runs}, {"rounds", rounds}, {"engine", inference.engine},
                          {"winograd", inference.winograd}, {"tile", inference.tile},
                          {"memory_budget_mb", inference.memory_budget_mb}};
      const json speed = contract_speed(rows, models.front().name, plan.sizes.front());
      if (!speed.empty()) report["speed"].update(speed);
      report["bench"]["results"] = rows;
      report::write(report_path, report);
      spdlog::info("report written to {}", report_path);
    }
    return 0;
  });
}
