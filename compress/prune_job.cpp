#include "compress/prune_job.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "report/report.h"
#include "runtime/registry.h"
#include "runtime/timing.h"
#include "vdsr/evaluation.h"
#include "vdsr/machine.h"
#include "vdsr/train/hyperparams.h"
#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"

namespace vdsr::compress {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The fine-tuning run, over vdsr-prune's defaults (a small learning rate: the weights are trained already).
train::TrainOptions read_finetune(Fields& f) {
  train::TrainOptions o;
  o.data = f.required<std::string>("data");
  o.params = {1e-4, 0.9, 64, 0.4, 1e-4};
  train::read_hyper_params(f, o.params);
  const auto steps = f.maybe<long long>("steps", Range::at_least(1));
  const auto epochs = f.maybe<int>("epochs", Range::at_least(1));
  if (!steps && !epochs) f.fail("", "give steps or epochs");
  o.max_steps = steps.value_or(0);
  o.epochs = epochs.value_or(1000000);
  o.step = f.optional<int>("step", 10, Range::at_least(1));
  o.seed = f.optional<std::uint64_t>("seed", 1);
  o.val = f.optional<std::string>("val", "");
  o.val_scale = f.optional<int>("val_scale", 2, Range::at_least(1));
  o.clip_mode = f.optional<train::ClipMode>("clip_mode", train::ClipMode::norm);
  o.lr_schedule = f.optional<train::LrSchedule>("lr_schedule", train::LrSchedule::step);
  o.teacher = f.optional<std::string>("teacher", "");
  o.distill_weight = f.maybe<double>("distill_weight", Range::between(0, 1));
  const auto precision = f.optional<std::string>("precision", "fp32");
  if (precision != "fp32" && precision != "bf16") f.fail("precision", "expected fp32 or bf16, got '" + precision + "'");
  o.precision = parse_precision(precision);
  f.finish();
  if (!fs::exists(o.data)) f.fail("data", o.data.string() + " does not exist (make it with vdsr-data)");
  return o;
}

ReconstructSettings read_reconstruction(Fields& f) {
  ReconstructSettings r;
  r.data = f.optional<std::string>("data", "");
  r.patches = f.optional<int64_t>("patches", r.patches, Range::at_least(1));
  r.options.samples = f.optional<int64_t>("samples", r.options.samples, Range::at_least(16));
  r.options.ridge = f.optional<double>("ridge", r.options.ridge, Range::at_least(0.0));
  r.options.seed = f.optional<std::uint64_t>("seed", r.options.seed);
  f.finish();
  return r;
}

void read_eval(Fields e, PruneSettings& s) {
  s.dataset = e.optional<std::string>("dataset", s.dataset);
  s.scales = e.optional<std::vector<int>>("scales", s.scales, Range::at_least(1));
  e.finish();
}

std::vector<int64_t> read_dummy_input(Fields& f, std::vector<int64_t> fallback) {
  const auto d = f.optional<std::vector<int64_t>>("dummy_input", std::move(fallback));
  if (d.size() != 4 || d[1] != 1 || d[0] < 1 || d[2] < 3 || d[3] < 3) {
    f.fail("dummy_input", "expected [N, 1, H, W] with N >= 1 and H, W >= 3, got " + json(d).dump());
  }
  return d;
}

// Masks as NNI saves them: kept filters per layer, or for Level the zeroed weight count.
json masks_json(const PruneResult& result) {
  json masks = json::object();
  for (size_t l = 0; l < result.kept.size(); ++l) {
    const LayerPlan& lp = result.plan.layers[l];
    masks[lp.layer.name] = result.shrinks ? json(result.kept[l])
                                          : json{{"zeros", lp.remove}, {"weights", lp.layer.weights}};
  }
  return masks;
}

json layers_json(const PruneResult& result, const Checkpoint& original) {
  json layers = json::array();
  const auto after = result.pruned.architecture.weight_shapes();
  const auto before = original.architecture.weight_shapes();
  for (size_t l = 0; l < result.kept.size(); ++l) {
    const LayerPlan& lp = result.plan.layers[l];
    const double sparsity = result.shrinks ? static_cast<double>(lp.remove) / lp.layer.out
                                           : static_cast<double>(lp.remove) / lp.layer.weights;
    layers.push_back({{"name", lp.layer.name}, {"type", lp.layer.type}, {"in", before[l][1]},
                      {"in_after", after[l][1]}, {"out_before", before[l][0]}, {"out_after", after[l][0]},
                      {"sparsity", sparsity},
                      {"kept", result.shrinks ? json(result.kept[l].size()) : json(lp.layer.weights - lp.remove)},
                      {"norms", result.norms[l]}, {"note", lp.note}});
  }
  return layers;
}

json totals_json(const Checkpoint& original, const Checkpoint& pruned, const fs::path& pruned_path) {
  const auto& a0 = original.architecture;
  const auto& a1 = pruned.architecture;
  long long nonzero_after = 0;
  for (const auto& [name, w] : pruned.weights) nonzero_after += (w != 0).sum().item<int64_t>();
  return {{"params_before", a0.params()}, {"params_after", a1.params()}, {"nonzero_params_after", nonzero_after},
          {"macs_per_pixel_before", a0.macs_per_pixel()}, {"macs_per_pixel_after", a1.macs_per_pixel()},
          {"macs_ratio", static_cast<double>(a1.macs_per_pixel()) / a0.macs_per_pixel()},
          {"checkpoint_bytes", fs::file_size(pruned_path)}};
}

// Latency of both models on the dummy input, in turns so that machine noise hits both alike.
std::pair<json, json> latency_pair(const Checkpoint& a, const Checkpoint& b, const PruneSettings& s,
                                   const JobOptions& o) {
  const runtime::Batch x = runtime::random_batch(1, static_cast<int>(s.dummy_input[2]),
                                                 static_cast<int>(s.dummy_input[3]), 0);
  auto ra = runtime::make_runner("libtorch", runtime::ModelSource::weights(a, {}, o.device));
  auto rb = runtime::make_runner("libtorch", runtime::ModelSource::weights(b, {}, o.device));
  ra->forward(x);
  rb->forward(x);
  const auto ms = runtime::time_in_turns({ra.get(), rb.get()}, x, o.latency_runs);
  json before = runtime::latency_json(ms[0], x.h, x.w, o.threads);
  json after = runtime::latency_json(ms[1], x.h, x.w, o.threads);
  before["kernels"] = ra->kernels();
  after["kernels"] = rb->kernels();
  return {before, after};
}

json evaluate(const Checkpoint& ck, const PruneSettings& s, const std::vector<fs::path>& images, Device device) {
  const Upscaler upscaler(ck, device);
  const std::string name = fs::path(s.dataset).filename().string();
  json q;
  for (int scale : s.scales) {
    q[name]["x" + std::to_string(scale)] = quality_json(evaluate_scale(upscaler, images, scale));
  }
  return q;
}

// The fine-tuned checkpoint, copied to <out>/finetuned.ckpt, and the report's finetune block.
std::pair<fs::path, json> finetune(const train::TrainOptions& options, const fs::path& out_dir) {
  spdlog::info("fine-tuning the pruned model ({} steps, lr {})", options.max_steps, options.params.lr);
  const train::TrainResult trained = train::train(options);
  const fs::path path = out_dir / "finetuned.ckpt";
  fs::copy_file(trained.last_checkpoint, path, fs::copy_options::overwrite_existing);
  double seconds = 0;
  for (const auto& e : trained.epochs) seconds += e.seconds;
  return {path, {{"checkpoint", path.string()}, {"steps", trained.global_step}, {"seconds", seconds}}};
}

// What a run writes; unless keep() is called, they are removed (a failed run leaves no partial output).
class RunOutputs {
 public:
  RunOutputs() = default;
  RunOutputs(const RunOutputs&) = delete;
  RunOutputs& operator=(const RunOutputs&) = delete;
  ~RunOutputs() {
    std::error_code ignored;
    for (const auto& path : paths_) fs::remove_all(path, ignored);
  }
  void add(const fs::path& path) { paths_.push_back(path); }
  void keep() { paths_.clear(); }

 private:
  std::vector<fs::path> paths_;
};

// The default output folder: experiments/prune-<pruner>-<first entry's sparsity in percent>.
std::string default_output(const json& config_list, Pruner pruner) {
  const double first = config_list.size() && config_list[0].is_object()
                           ? config_list[0].value("sparsity", config_list[0].value("total_sparsity", 0.0))
                           : 0.0;
  return "experiments/prune-" + pruner_name(pruner) + "-" + std::to_string(static_cast<int>(first * 100 + 0.5));
}

}  // namespace

PruneSettings read_prune_settings(const fs::path& path) {
  return prune_settings_from_json(read_json_file(path), path.string());
}

PruneSettings parse_prune_settings(std::string_view text, const std::string& where) {
  return prune_settings_from_json(parse_json(text, where), where);
}

PruneSettings prune_settings_from_json(const json& j, const std::string& where) {
  PruneSettings s;
  if (j.is_array()) {  // a bare NNI config_list
    s.config_list = j;
    return s;
  }
  if (!j.is_object()) throw Error(where + ": expected a config_list array or an object with \"config_list\"");
  Fields f(j, where);
  if (!f.has("config_list")) f.fail("config_list", "missing (expected a JSON array)");
  s.config_list = f.raw("config_list");
  s.pruner = f.optional<std::string>("pruner", s.pruner);
  s.mode = f.optional<std::string>("mode", s.mode);
  s.round_to = f.optional<int>("round_to", s.round_to, Range::at_least(1));
  s.model = f.optional<std::string>("model", "");
  s.output = f.optional<std::string>("output", "");
  s.dummy_input = read_dummy_input(f, s.dummy_input);
  read_eval(f.object("eval"), s);
  const json reconstruction = f.raw("reconstruction");
  if (reconstruction.is_object()) {
    Fields r(reconstruction, f.path("reconstruction"));
    s.reconstruction = read_reconstruction(r);
  } else if (!reconstruction.is_null() && reconstruction != false) {
    f.fail("reconstruction", "expected an object {data, patches, samples, ridge, seed} or false");
  }
  s.finetune = f.raw("finetune");
  if (!s.finetune.is_null()) {
    Fields ft(s.finetune, f.path("finetune"));
    s.train = read_finetune(ft);
  }
  f.finish();
  return s;
}

void override_sparsity(json& config_list, double sparsity) {
  if (!(sparsity >= 0.0 && sparsity < 1.0)) {  // NaN fails too
    throw Error("--sparsity: expected a number in [0, 1), got " + std::to_string(sparsity));
  }
  for (auto& entry : config_list) {
    if (!entry.is_object() || entry.value("exclude", false)) continue;
    for (const char* k : {"sparsity", "sparsity_per_layer", "total_sparsity", "sparse_ratio"}) {
      if (entry.contains(k)) entry[k] = sparsity;
    }
  }
}

PruneJob::PruneJob(PruneSettings settings, JobOptions options)
    : settings_(std::move(settings)), options_(std::move(options)), pruner_(parse_pruner(settings_.pruner)) {
  plan_options_.mode = parse_mode(settings_.mode);
  plan_options_.round_to = settings_.round_to;
  plan_options_.granularity = pruner_.granularity;
  original_ = load_checkpoint(settings_.model);
  plan_ = make_plan(settings_.config_list, layers_of(original_.architecture), plan_options_, options_.config_path);
  for (const auto& w : plan_.warnings) spdlog::warn("{}", w);
  if (options_.eval) images_ = dataset_images(settings_.dataset);
  check_reconstruction();
  if (settings_.output.empty()) settings_.output = default_output(settings_.config_list, pruner_);
  check_output_folder(out_dir(), "output folder " + out_dir().string());
  if (settings_.train) {
    settings_.train->pretrained = out_dir() / "pruned.ckpt";
    settings_.train->out = out_dir() / "finetune";
    settings_.train->device = options_.device;
  }
}

std::string PruneJob::describe_plan() const {
  return "Pruning plan (" + pruner_name(pruner_) + ", mode " + settings_.mode + ") for " + settings_.model + "\n" +
         plan_.table();
}

void PruneJob::check_reconstruction() const {
  if (!settings_.reconstruction) return;
  const std::string where = options_.config_path + ": reconstruction";
  if (!filter_pruning()) throw Error(where + " needs a filter pruner (" + criterion_names() + "); level only masks weights");
  const std::string& data = settings_.reconstruction->data;
  if (data.empty()) throw Error(where + ".data: missing (a vdsr-data HDF5 file; or give --reconstruct DATA.h5)");
  if (!fs::exists(data)) throw Error(where + ".data: " + data + " does not exist (make it with vdsr-data)");
}

bool PruneJob::filter_pruning() const { return pruner_.granularity == Granularity::kFilter; }

json PruneJob::run(const fs::path& report_file) {
  PruneResult result = prune(original_, plan_, pruner_, plan_options_);
  if (!result.shrinks) {
    spdlog::info("level pruning masks weights: the model keeps its widths and size (sparsity shown per layer)");
  }
  const Checkpoint plain = result.pruned;
  const json reconstruction = reconstruct_pruned(result);
  // Measured before anything is written: a step that fails here leaves no output behind.
  json measured;
  add_latency(result.pruned, measured);
  if (options_.eval) {
    spdlog::info("evaluating the original and the pruned model on {}", settings_.dataset);
    measured["prune"]["baseline"]["quality"] = evaluate(original_, settings_, images_, options_.device);
    measured["quality"] = evaluate(result.pruned, settings_, images_, options_.device);
    if (settings_.reconstruction) {
      measured["prune"]["quality_without_reconstruction"] = evaluate(plain, settings_, images_, options_.device);
    }
  }
  // The outputs; a failure from here on (fine-tuning, a full disk) removes what this run wrote.
  OutputFolder folder(out_dir());
  folder.create();
  RunOutputs outputs;
  outputs.add(out_dir() / "pruned.ckpt");
  outputs.add(out_dir() / "masks.json");
  const fs::path pruned_path = save_pruned(result);
  json report = prune_report(result, pruned_path);
  if (!reconstruction.is_null()) report["prune"]["reconstruction"] = reconstruction;
  report.merge_patch(measured);
  if (settings_.train) {
    outputs.add(out_dir() / "finetuned.ckpt");
    outputs.add(settings_.train->out);
  }
  const fs::path final_path = settings_.train ? add_finetuned(report) : pruned_path;
  report["model"] = model_json(final_path, load_checkpoint(final_path));
  outputs.add(report_file);
  report::write(report_file, report);
  outputs.keep();
  return report;
}

// Refits the pruned layers by least squares when the config asks; the report's reconstruction block (null
// otherwise).
json PruneJob::reconstruct_pruned(PruneResult& result) const {
  if (!settings_.reconstruction) return nullptr;
  const ReconstructSettings& r = *settings_.reconstruction;
  const auto started = std::chrono::steady_clock::now();
  spdlog::info("reconstruction: refitting {} layers by least squares on {} calibration patches of {}",
               result.pruned.weights.size() - 1, r.patches, r.data);
  const Reconstruction fitted = reconstruct(original_, result.pruned, result.kept,
                                            calibration_patches(r.data, r.patches), r.options);
  result.pruned = fitted.model;
  json layers = json::array();
  for (const auto& fit : fitted.layers) {
    layers.push_back({{"name", fit.name}, {"error_pruned", fit.error_pruned}, {"error_refitted", fit.error_refitted}});
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return {{"data", r.data}, {"patches", r.patches}, {"samples", r.options.samples}, {"ridge", r.options.ridge},
          {"seed", r.options.seed}, {"seconds", seconds}, {"layers", layers}};
}

// <out>/pruned.ckpt with where it came from, and masks.json.
fs::path PruneJob::save_pruned(PruneResult& result) const {
  const PruneSettings& s = settings_;
  result.pruned.meta["scales"] = original_.meta.value("scales", json({2, 3, 4}));
  result.pruned.meta["provenance"] = {{"pruned_from", s.model}, {"source_sha256", sha256_file(s.model)},
                                      {"pruner", pruner_name(pruner_)}, {"mode", s.mode},
                                      {"config_list", s.config_list}, {"tool", "vdsr-prune"},
                                      {"version", report::version()}};
  const fs::path path = out_dir() / "pruned.ckpt";
  save_checkpoint(path, result.pruned);
  write_file_atomically(out_dir() / "masks.json", masks_json(result).dump() + "\n");
  return path;
}

// The report's config, the prune block (plan, layers, totals, baseline model) and the files.
json PruneJob::prune_report(const PruneResult& result, const fs::path& pruned_path) const {
  const PruneSettings& s = settings_;
  json report = report::create("prune", "vdsr-prune");
  report["machine"].update(machine_json(options_.threads, options_.device.cuda));
  report["config"] = {{"pruner", pruner_name(pruner_)}, {"mode", s.mode}, {"round_to", s.round_to},
                      {"config_list", s.config_list}, {"model", s.model}, {"output", s.output},
                      {"dummy_input", s.dummy_input}, {"finetune", s.finetune},
                      {"eval", {{"dataset", s.dataset}, {"scales", s.scales}}}};
  report["prune"] = {{"plan", result.plan.to_json()},
                     {"layers", layers_json(result, original_)},
                     {"shrinks", result.shrinks},
                     {"totals", totals_json(original_, result.pruned, pruned_path)},
                     {"baseline", {{"model", model_json(s.model, original_)}}}};
  if (!result.shrinks) report["prune"]["note"] = "level pruning masks weights; the model is not smaller";
  report["files"]["checkpoint"] = report::file_entry(pruned_path);
  report["files"]["masks"] = report::file_entry(out_dir() / "masks.json");
  return report;
}

void PruneJob::add_latency(const Checkpoint& pruned, json& report) const {
  const auto& d = settings_.dummy_input;
  spdlog::info("measuring latency on {}x{} ({} runs each, alternating)", d[2], d[3], options_.latency_runs);
  const auto [before, after] = latency_pair(original_, pruned, settings_, options_);
  report["prune"]["baseline"]["speed"]["libtorch"] = before;
  report["speed"]["libtorch"] = after;
  report["prune"]["totals"]["latency_ratio"] = runtime::median_ms(after) / runtime::median_ms(before);
}

// Fine-tunes the pruned model; the pruned model's quality moves to prune.quality_pruned.
fs::path PruneJob::add_finetuned(json& report) const {
  const auto [path, block] = finetune(*settings_.train, out_dir());
  report["prune"]["finetune"] = block;
  report["files"]["finetuned"] = report::file_entry(path);
  if (options_.eval) {
    report["prune"]["quality_pruned"] = report["quality"];
    report["quality"] = evaluate(load_checkpoint(path), settings_, images_, options_.device);
  }
  return path;
}

}  // namespace vdsr::compress
