// vdsr-prune: NNI config_list → plan → masks → a physically narrower VDSR, with FLOPs/params, PSNR and
// latency before and after, and optional fine-tuning with vdsr-train's trainer.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "compress/pruner.h"
#include "report/report.h"
#include "vdsr/checkpoint.h"
#include "tools/cli/common.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/evaluation.h"
#include "vdsr/inference.h"
#include "vdsr/machine.h"
#include "vdsr/train/trainer.h"
#include "vdsr/util/cpu.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using namespace vdsr::compress;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct PruneSettings {
  json config_list;
  std::string pruner = "l1", mode = "normal", model, output;
  int round_to = 8;
  std::vector<int64_t> dummy_input{1, 1, 256, 256};
  json finetune;  // null when absent
  std::string dataset = "Set5";
  std::vector<int> scales{2, 3, 4};
};

const std::vector<std::string> kTopKeys = {"pruner", "config_list", "mode", "round_to", "dummy_input",
                                           "model",  "output",      "finetune", "eval"};
const std::vector<std::string> kFinetuneKeys = {"data", "steps", "epochs", "lr", "momentum", "batchSize", "clip",
                                                "weight_decay", "val", "val_scale", "step", "clip_mode", "seed"};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

void check_keys(const json& object, const std::vector<std::string>& valid, const std::string& where) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
      throw Error(where + "." + key + ": unknown key (valid keys: " + joined(valid) + ")");
    }
  }
}

template <typename T>
T typed(const json& object, const std::string& key, const std::string& where, const char* expected) {
  try {
    return object.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error(where + "." + key + ": expected " + expected + ", got " + object.at(key).dump());
  }
}

PruneSettings read_settings(const fs::path& path) {
  json j;
  {
    std::ifstream in(path);
    if (!in) throw Error(path.string() + ": cannot open the pruning config");
    try {
      j = json::parse(in);
    } catch (const json::parse_error& e) {
      throw Error(path.string() + ": not valid JSON (" + e.what() + ")");
    }
  }
  PruneSettings s;
  const std::string where = path.string();
  if (j.is_array()) {  // a bare NNI config_list
    s.config_list = j;
    return s;
  }
  if (!j.is_object()) throw Error(where + ": expected a config_list array or an object with \"config_list\"");
  check_keys(j, kTopKeys, where);
  if (!j.contains("config_list")) throw Error(where + ": missing key config_list");
  s.config_list = j["config_list"];
  if (j.contains("pruner")) s.pruner = typed<std::string>(j, "pruner", where, "a string (l1, l2, fpgm, level)");
  if (j.contains("mode")) s.mode = typed<std::string>(j, "mode", where, "a string (normal, dependency_aware, balance)");
  if (j.contains("round_to")) s.round_to = typed<int>(j, "round_to", where, "an integer >= 1");
  if (s.round_to < 1) throw Error(where + ".round_to: expected an integer >= 1");
  if (j.contains("model")) s.model = typed<std::string>(j, "model", where, "a path");
  if (j.contains("output")) s.output = typed<std::string>(j, "output", where, "a folder path");
  if (j.contains("dummy_input")) {
    s.dummy_input = typed<std::vector<int64_t>>(j, "dummy_input", where, "[1, 1, H, W]");
    if (s.dummy_input.size() != 4 || s.dummy_input[1] != 1 || s.dummy_input[0] < 1 || s.dummy_input[2] < 3 ||
        s.dummy_input[3] < 3) {
      throw Error(where + ".dummy_input: expected [N, 1, H, W] with N >= 1 and H, W >= 3");
    }
  }
  if (j.contains("eval")) {
    const json& e = j["eval"];
    if (!e.is_object()) throw Error(where + ".eval: expected an object {dataset, scales}");
    check_keys(e, {"dataset", "scales"}, where + ".eval");
    if (e.contains("dataset")) s.dataset = typed<std::string>(e, "dataset", where + ".eval", "a dataset name or folder");
    if (e.contains("scales")) s.scales = typed<std::vector<int>>(e, "scales", where + ".eval", "a list of integers");
  }
  if (j.contains("finetune") && !j["finetune"].is_null()) {
    s.finetune = j["finetune"];
    if (!s.finetune.is_object()) throw Error(where + ".finetune: expected an object");
    check_keys(s.finetune, kFinetuneKeys, where + ".finetune");
    if (!s.finetune.contains("data")) throw Error(where + ".finetune.data: missing (an HDF5 file from vdsr-data)");
    if (!s.finetune.contains("steps") && !s.finetune.contains("epochs")) {
      throw Error(where + ".finetune: give steps or epochs");
    }
  }
  return s;
}

train::TrainOptions finetune_options(const json& f, const std::string& where, const fs::path& pretrained,
                                     const fs::path& out, Device device) {
  train::TrainOptions o;
  auto num = [&](const char* key, double fallback) {
    return f.contains(key) ? typed<double>(f, key, where, "a number") : fallback;
  };
  o.data = typed<std::string>(f, "data", where, "a path");
  if (!fs::exists(o.data)) throw Error(where + ".data: " + o.data.string() + " does not exist (make it with vdsr-data)");
  o.params.lr = num("lr", 1e-4);
  o.params.momentum = num("momentum", 0.9);
  o.params.batch_size = static_cast<int>(num("batchSize", 64));
  o.params.clip = num("clip", 0.4);
  o.params.weight_decay = num("weight_decay", 1e-4);
  train::validate(o.params);
  o.epochs = static_cast<int>(num("epochs", 1000000));
  o.max_steps = static_cast<long long>(num("steps", 0));
  o.step = static_cast<int>(num("step", 10));
  o.seed = static_cast<std::uint64_t>(num("seed", 1));
  o.val = f.value("val", std::string());
  o.val_scale = static_cast<int>(num("val_scale", 2));
  if (f.contains("clip_mode")) {
    const std::string m = typed<std::string>(f, "clip_mode", where, "norm or adjustable");
    if (m != "norm" && m != "adjustable") throw Error(where + ".clip_mode: expected norm or adjustable, got " + m);
    o.clip_mode = m == "norm" ? train::ClipMode::norm : train::ClipMode::adjustable;
  }
  o.pretrained = pretrained;
  o.out = out;
  o.device = device;
  return o;
}

json evaluate(const Checkpoint& ck, Device device, const PruneSettings& s, const std::vector<fs::path>& images) {
  const Upscaler upscaler(ck, device);
  const std::string name = fs::path(s.dataset).filename().string();
  json q;
  for (int scale : s.scales) q[name]["x" + std::to_string(scale)] = quality_json(evaluate_scale(upscaler, images, scale));
  return q;
}

double psnr_of(const json& quality, const std::string& dataset, int scale) {
  return quality.at(fs::path(dataset).filename().string()).at("x" + std::to_string(scale)).at("psnr").get<double>();
}

// Latency of both models on the dummy input, measured alternately so machine noise hits both alike.
std::pair<json, json> latency_pair(const Checkpoint& a, const Checkpoint& b, Device device,
                                   const std::vector<int64_t>& dummy, int runs, int threads) {
  Image x(static_cast<int>(dummy[2]), static_cast<int>(dummy[3]), 1);
  std::mt19937 rng(0);
  std::uniform_real_distribution<double> u(0.0, 255.0);
  for (double& v : x.data) v = u(rng);
  const Upscaler ua(a, device), ub(b, device);
  ua.run_y(x);
  ub.run_y(x);
  std::vector<double> ta, tb;
  auto time = [&](const Upscaler& up) {
    const auto start = std::chrono::steady_clock::now();
    up.run_y(x);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  for (int r = 0; r < runs; ++r) {
    ta.push_back(time(ua));
    tb.push_back(time(ub));
  }
  auto summary = [&](std::vector<double> t) {
    std::sort(t.begin(), t.end());
    const double median = t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
    return json{{"input", {dummy[2], dummy[3]}},
                {"threads", threads},
                {"latency_ms", {{"median", median}, {"min", t.front()}, {"max", t.back()}}},
                {"runs", runs}};
  };
  json before = summary(ta), after = summary(tb);
  before["kernels"] = ua.kernels();
  after["kernels"] = ub.kernels();
  return {before, after};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Prune a VDSR with an NNI config_list (docs/config-list.md): L1/L2/FPGM filter pruning into a\n"
               "physically narrower model, or Level (unstructured) masks. Writes <out>/pruned.ckpt, masks.json and\n"
               "report.json, with params, MACs, Set5 PSNR and latency before and after."};
  std::string config_path = "configs/prune.json", model, out, pruner, mode, report_path, gpus;
  double sparsity = -1.0;
  int threads = 0, latency_runs = 5;
  bool cuda = false, no_eval = false;
  app.add_option("--config", config_path, "config_list array, or {pruner, config_list, mode, ...}")->capture_default_str();
  app.add_option("--model", model, "model to prune (default: the config's model, else the reference model)");
  app.add_option("--out", out, "output folder (default: the config's output, else experiments/prune-<pruner>-<sparsity>)");
  app.add_option("--sparsity", sparsity, "override the sparsity of every non-exclude config_list entry");
  app.add_option("--pruner", pruner, "l1, l2, fpgm or level (overrides the config)");
  app.add_option("--mode", mode, "normal, dependency_aware or balance (overrides the config)");
  app.add_option("--report", report_path, "report path (default: <out>/report.json)");
  app.add_option("--latency-runs", latency_runs, "timed runs per model for the latency comparison")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_flag("--no-eval", no_eval, "skip the PSNR evaluation (faster)");
  app.add_flag("--cuda", cuda, "run evaluation, latency and fine-tuning on the GPU");
  app.add_option("--gpus", gpus, "GPU ids to use (sets CUDA_VISIBLE_DEVICES)");
  app.add_option("--threads", threads, "CPU threads (default: all cores)");
  std::string engine = "auto";
  cli::add_engine_flag(app, engine);

  return cli::run(app, argc, argv, [&] {
    cli::apply_engine_flag(engine);
    // Everything that can be wrong with the input is checked before anything is written.
    PruneSettings s = read_settings(config_path);
    if (!pruner.empty()) s.pruner = pruner;
    if (!mode.empty()) s.mode = mode;
    if (!model.empty()) s.model = model;
    if (!out.empty()) s.output = out;
    if (s.model.empty()) s.model = (assets_dir() / "models" / "vdsr_x234_state_dict.pt").string();
    if (sparsity >= 0.0) {
      if (sparsity >= 1.0) throw Error("--sparsity: expected a number in [0, 1), got " + std::to_string(sparsity));
      for (auto& entry : s.config_list) {
        if (!entry.is_object() || entry.value("exclude", false)) continue;
        for (const char* k : {"sparsity", "sparsity_per_layer", "total_sparsity", "sparse_ratio"}) {
          if (entry.contains(k)) entry[k] = sparsity;
        }
      }
    }
    const Pruner p = parse_pruner(s.pruner);
    PlanOptions options;
    options.mode = parse_mode(s.mode);
    options.round_to = s.round_to;
    options.granularity = p.granularity;
    const Device device = select_device(cuda, gpus);
    const int threads_used = configure_threads(threads);
    const Checkpoint original = load_checkpoint(s.model);
    Plan plan = make_plan(s.config_list, layers_of(original.architecture), options, config_path);
    for (const auto& w : plan.warnings) spdlog::warn("{}", w);
    const std::vector<fs::path> images = no_eval ? std::vector<fs::path>{} : dataset_images(s.dataset);
    if (s.output.empty()) {
      const double first = s.config_list.size() && s.config_list[0].is_object()
                               ? s.config_list[0].value("sparsity", s.config_list[0].value("total_sparsity", 0.0))
                               : 0.0;
      s.output = "experiments/prune-" + pruner_name(p) + "-" + std::to_string(static_cast<int>(first * 100 + 0.5));
    }
    std::optional<train::TrainOptions> finetune;
    const fs::path out_dir = s.output;
    if (!s.finetune.is_null()) {
      finetune = finetune_options(s.finetune, config_path + ".finetune", out_dir / "pruned.ckpt", out_dir / "finetune",
                                  device);
    }

    std::printf("Pruning plan (%s, mode %s) for %s\n%s\n", pruner_name(p).c_str(), s.mode.c_str(), s.model.c_str(),
                plan.table().c_str());
    PruneResult result = prune(original, plan, p, options);
    if (!result.shrinks) {
      spdlog::info("level pruning masks weights: the model keeps its widths and size (sparsity shown per layer)");
    }

    fs::create_directories(out_dir);
    result.pruned.meta["scales"] = original.meta.value("scales", json({2, 3, 4}));
    result.pruned.meta["provenance"] = {{"pruned_from", s.model},
                                        {"source_sha256", sha256_file(s.model)},
                                        {"pruner", pruner_name(p)},
                                        {"mode", s.mode},
                                        {"config_list", s.config_list},
                                        {"tool", "vdsr-prune"},
                                        {"version", report::version()}};
    const fs::path pruned_path = out_dir / "pruned.ckpt";
    save_checkpoint(pruned_path, result.pruned);
    json masks = json::object();
    for (size_t l = 0; l < result.kept.size(); ++l) {
      const std::string name = result.plan.layers[l].layer.name;
      if (result.shrinks) {
        masks[name] = result.kept[l];
      } else {
        masks[name] = {{"zeros", result.plan.layers[l].remove},
                       {"weights", result.plan.layers[l].layer.weights}};
      }
    }
    write_file_atomically(out_dir / "masks.json", masks.dump() + "\n");

    json report = report::create("prune", "vdsr-prune");
    report["machine"].update(machine_json(threads_used, device.cuda));
    report["config"] = {{"pruner", pruner_name(p)}, {"mode", s.mode}, {"round_to", s.round_to},
                        {"config_list", s.config_list}, {"model", s.model}, {"output", s.output},
                        {"dummy_input", s.dummy_input}, {"finetune", s.finetune},
                        {"eval", {{"dataset", s.dataset}, {"scales", s.scales}}}};
    json layers = json::array();
    const auto widths_after = result.pruned.architecture.weight_shapes();
    const auto widths_before = original.architecture.weight_shapes();
    for (size_t l = 0; l < result.kept.size(); ++l) {
      const LayerPlan& lp = result.plan.layers[l];
      const double zeros = result.shrinks ? 0.0 : static_cast<double>(lp.remove) / lp.layer.weights;
      layers.push_back({{"name", lp.layer.name}, {"type", lp.layer.type},
                        {"in", widths_before[l][1]}, {"in_after", widths_after[l][1]}, {"out_before", widths_before[l][0]},
                        {"out_after", widths_after[l][0]},
                        {"sparsity", result.shrinks ? static_cast<double>(lp.remove) / lp.layer.out : zeros},
                        {"kept", result.shrinks ? json(result.kept[l].size()) : json(lp.layer.weights - lp.remove)},
                        {"norms", result.norms[l]}, {"note", lp.note}});
    }
    const auto& a0 = original.architecture;
    const auto& a1 = result.pruned.architecture;
    long long nonzero_after = 0;
    for (const auto& [name, w] : result.pruned.weights) nonzero_after += (w != 0).sum().item<int64_t>();
    report["prune"] = {
        {"plan", result.plan.to_json()},
        {"layers", layers},
        {"shrinks", result.shrinks},
        {"totals",
         {{"params_before", a0.params()}, {"params_after", a1.params()}, {"nonzero_params_after", nonzero_after},
          {"macs_per_pixel_before", a0.macs_per_pixel()}, {"macs_per_pixel_after", a1.macs_per_pixel()},
          {"macs_ratio", static_cast<double>(a1.macs_per_pixel()) / a0.macs_per_pixel()},
          {"checkpoint_bytes", fs::file_size(pruned_path)}}},
        {"baseline", {{"model", model_json(s.model, original)}}}};
    if (!result.shrinks) report["prune"]["note"] = "level pruning masks weights; the model is not smaller";
    report["files"]["checkpoint"] = report::file_entry(pruned_path);
    report["files"]["masks"] = report::file_entry(out_dir / "masks.json");

    spdlog::info("measuring latency on {}x{} ({} runs each, alternating)", s.dummy_input[2], s.dummy_input[3],
                 latency_runs);
    const auto [before_speed, after_speed] =
        latency_pair(original, result.pruned, device, s.dummy_input, latency_runs, threads_used);
    report["prune"]["baseline"]["speed"]["libtorch"] = before_speed;
    report["speed"]["libtorch"] = after_speed;
    const double latency_ratio =
        after_speed["latency_ms"]["median"].get<double>() / before_speed["latency_ms"]["median"].get<double>();
    report["prune"]["totals"]["latency_ratio"] = latency_ratio;

    json quality_pruned;
    if (!no_eval) {
      spdlog::info("evaluating the original and the pruned model on {}", s.dataset);
      report["prune"]["baseline"]["quality"] = evaluate(original, device, s, images);
      quality_pruned = evaluate(result.pruned, device, s, images);
      report["quality"] = quality_pruned;
    }
    Checkpoint final_model = result.pruned;
    fs::path final_path = pruned_path;
    if (finetune) {
      spdlog::info("fine-tuning the pruned model ({} steps, lr {})", finetune->max_steps, finetune->params.lr);
      const train::TrainResult trained = train::train(*finetune);
      final_path = out_dir / "finetuned.ckpt";
      fs::copy_file(trained.last_checkpoint, final_path, fs::copy_options::overwrite_existing);
      final_model = load_checkpoint(final_path);
      report["prune"]["finetune"] = {{"checkpoint", final_path.string()},
                                     {"steps", trained.global_step},
                                     {"seconds", [&] {
                                        double t = 0;
                                        for (const auto& e : trained.epochs) t += e.seconds;
                                        return t;
                                      }()}};
      report["files"]["finetuned"] = report::file_entry(final_path);
      if (!no_eval) {
        report["prune"]["quality_pruned"] = quality_pruned;
        report["quality"] = evaluate(final_model, device, s, images);
      }
    }
    report["model"] = model_json(final_path, final_model);

    // The summary table on stdout.
    std::printf("\n%s\n| | before | after | ratio |\n|---|---:|---:|---:|\n", machine_line(threads_used).c_str());
    std::printf("| params | %lld | %lld | %.3f |\n", static_cast<long long>(a0.params()),
                static_cast<long long>(result.shrinks ? a1.params() : nonzero_after),
                static_cast<double>(result.shrinks ? a1.params() : nonzero_after) / a0.params());
    std::printf("| MACs/pixel | %lld | %lld | %.3f |\n", static_cast<long long>(a0.macs_per_pixel()),
                static_cast<long long>(a1.macs_per_pixel()),
                static_cast<double>(a1.macs_per_pixel()) / a0.macs_per_pixel());
    std::printf("| latency %lldx%lld (ms, median) | %.1f | %.1f | %.3f |\n", static_cast<long long>(s.dummy_input[2]),
                static_cast<long long>(s.dummy_input[3]), before_speed["latency_ms"]["median"].get<double>(),
                after_speed["latency_ms"]["median"].get<double>(), latency_ratio);
    if (!no_eval) {
      for (int scale : s.scales) {
        const double before = psnr_of(report["prune"]["baseline"]["quality"], s.dataset, scale);
        const double pruned_psnr = psnr_of(quality_pruned, s.dataset, scale);
        std::printf("| %s x%d PSNR | %.3f | %.3f | %+.3f dB |\n", s.dataset.c_str(), scale, before, pruned_psnr,
                    pruned_psnr - before);
        if (finetune) {
          const double tuned = psnr_of(report["quality"], s.dataset, scale);
          std::printf("| %s x%d PSNR fine-tuned | %.3f | %.3f | %+.3f dB |\n", s.dataset.c_str(), scale, before, tuned,
                      tuned - before);
        }
      }
    }
    const fs::path report_file = report_path.empty() ? out_dir / "report.json" : fs::path(report_path);
    report::write(report_file, report);
    std::printf("\nwrote %s, %s, %s\n", pruned_path.string().c_str(), (out_dir / "masks.json").string().c_str(),
                report_file.string().c_str());
    return 0;
  });
}
