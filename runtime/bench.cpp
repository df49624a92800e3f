#include "runtime/bench.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "runtime/timing.h"
#include "vdsr/onednn_engine.h"
#include "vdsr/util/error.h"
#include "vdsr/util/progress.h"

namespace vdsr::runtime {

using nlohmann::json;

namespace {

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

// The runtimes of the plan that can run here, each checked once.
std::vector<const RuntimeInfo*> usable_runtimes(const BenchPlan& plan) {
  std::vector<const RuntimeInfo*> usable;
  for (const auto& name : plan.runtimes) {
    const RuntimeInfo& info = runtime_info(name, "--runtimes");
    std::string why_not;
    if (info.available && !info.available(why_not)) {
      spdlog::warn("{} skipped: {}", name, why_not);
      continue;
    }
    usable.push_back(&info);
  }
  return usable;
}

// The precisions a runtime runs here: fp32, bf16 where the runtime takes a precision and the CPU has it,
// int8 in the libtorch runtime (the oneDNN engine).
std::vector<std::string> precisions_for(const RuntimeInfo& runtime, const BenchPlan& plan) {
  std::string why_not;
  const bool bf16 = cpu_has_bf16(&why_not);
  std::vector<std::string> kept;
  for (const auto& p : plan.precisions) {
    if (p != "fp32" && !runtime.any_precision) continue;
    if (p == "bf16" && !bf16) {
      spdlog::warn("bf16 skipped: {}", why_not);
      continue;
    }
    // int8 is the oneDNN engine's (the libtorch runtime's); elsewhere it would silently run fp32.
    if (p == "int8" && runtime.name != "libtorch") continue;
    kept.push_back(p);
  }
  return kept;
}

std::vector<BenchCase*> cases_at(std::vector<BenchCase>& cases, const InputSize& size) {
  std::vector<BenchCase*> here;
  for (auto& c : cases) {
    if (c.size == size) here.push_back(&c);
  }
  return here;
}

void warm_up(const std::vector<BenchCase*>& cases, const Batch& x) {
  for (BenchCase* c : cases) {
    if (!c->runner->in_process()) continue;
    const double before = proc_status_mb("VmRSS");
    reset_peak_rss();
    c->runner->forward(x);
    c->memory_mb = std::max(0.0, proc_status_mb("VmHWM") - before);
  }
}

void run_round(const std::vector<BenchCase*>& cases, const Batch& x, const BenchPlan& plan) {
  std::vector<Runner*> in_process;
  std::vector<BenchCase*> timed;
  for (BenchCase* c : cases) {
    if (c->runner->in_process()) {
      in_process.push_back(c->runner.get());
      timed.push_back(c);
    }
  }
  const auto ms = time_in_turns(in_process, x, plan.runs);
  for (size_t i = 0; i < timed.size(); ++i) timed[i]->ms.insert(timed[i]->ms.end(), ms[i].begin(), ms[i].end());
  for (BenchCase* c : cases) {
    if (c->runner->in_process()) continue;
    const auto own = c->runner->time_itself(x, plan.runs, plan.threads);
    c->ms.insert(c->ms.end(), own->ms.begin(), own->ms.end());
    c->memory_mb = std::max(c->memory_mb, own->peak_rss_mb);
  }
}

}  // namespace

void attach_int8_scales(std::vector<BenchModel>& models, const std::vector<std::string>& args) {
  std::string labels;
  for (const auto& m : models) labels += (labels.empty() ? "" : ", ") + m.name;
  for (const std::string& arg : args) {
    const auto eq = arg.find('=');
    BenchModel* model = nullptr;
    if (eq == std::string::npos) {
      if (models.size() != 1) {
        throw Error("--int8-scales " + arg + ": " + std::to_string(models.size()) +
                    " models, so each file needs the label of its model: LABEL=FILE (labels: " + labels + ")");
      }
      model = &models.front();
    } else {
      const std::string label = arg.substr(0, eq);
      for (auto& m : models) {
        if (m.name == label) model = &m;
      }
      if (!model) {
        throw Error("--int8-scales " + arg + ": no --model is labelled '" + label + "' (labels: " + labels + ")");
      }
    }
    if (model->int8_scales) {
      throw Error("--int8-scales " + arg + ": model '" + model->name + "' already has " + model->int8_scales_path);
    }
    model->int8_scales_path = eq == std::string::npos ? arg : arg.substr(eq + 1);
    model->int8_scales = std::make_shared<const Int8Scales>(read_int8_scales(model->int8_scales_path));
  }
}

std::vector<BenchCase> bench_cases(const std::vector<BenchModel>& models, const BenchPlan& plan) {
  const auto usable = usable_runtimes(plan);
  std::vector<BenchCase> cases;
  for (const InputSize& size : plan.sizes) {
    for (const auto& m : models) {
      for (const RuntimeInfo* r : usable) {
        for (const auto& p : precisions_for(*r, plan)) {
          ModelSource source = ModelSource::weights(m.checkpoint, plan.options);
          source.options.precision = parse_precision(p);
          if (p == "int8") {
            if (!m.int8_scales) {
              throw Error("--precision int8: model '" + m.name + "' has no scales: give --int8-scales " +
                          (models.size() == 1 ? "FILE" : m.name + "=FILE") + " (vdsr-quantize writes it)");
            }
            source.options.int8_scales = m.int8_scales;
            source.options.int8_scales_path = m.int8_scales_path;
          }
          source.onnx = m.onnx;
          cases.push_back({&m, r->name, p, size, r->make(source), {}, 0});
        }
      }
    }
  }
  if (cases.empty()) throw Error("nothing to run: no runtime of --runtimes is available");
  return cases;
}

void run_bench(std::vector<BenchCase>& cases, const BenchPlan& plan) {
  for (const InputSize& size : plan.sizes) {
    const Batch x = random_batch(1, size.h, size.w, 7);
    const auto here = cases_at(cases, size);
    spdlog::info("{}: {} configuration(s), {} x {} run(s) each", size.text(), here.size(), plan.rounds, plan.runs);
    warm_up(here, x);
    Progress progress(size.text(), plan.rounds, "rounds");
    for (int round = 0; round < plan.rounds; ++round) {
      run_round(here, x, plan);
      progress.update(round + 1);
    }
  }
}

json bench_rows(const std::vector<BenchCase>& cases, int threads) {
  std::map<std::pair<const BenchModel*, InputSize>, double> ort_median;
  for (const auto& c : cases) {
    if (c.runtime == "onnxruntime" && !c.ms.empty()) {
      ort_median[{c.model, c.size}] = median_ms(latency_json(c.ms, c.size.h, c.size.w, threads));
    }
  }
  json rows = json::array();
  for (const auto& c : cases) {
    if (c.ms.empty()) continue;
    json row = latency_json(c.ms, c.size.h, c.size.w, threads);
    row.update({{"model", c.model->name},
                {"path", c.model->path.string()},
                {"widths", c.model->checkpoint.architecture.widths},
                {"runtime", c.runtime},
                {"precision", c.precision},
                {"memory_mb", c.memory_mb}});
    if (!c.runner->kernels().empty()) row["kernels"] = c.runner->kernels();
    if (c.precision == "int8") row["int8_scales"] = c.model->int8_scales_path;
    const auto ort = ort_median.find({c.model, c.size});
    if (ort != ort_median.end()) row["vs_onnxruntime"] = median_ms(row) / ort->second;
    rows.push_back(row);
  }
  return rows;
}

json contract_speed(const json& rows, const std::string& model, const InputSize& size) {
  json speed = json::object();
  // fp32 where it was timed; a run without fp32 (--precision int8) gives its first precision instead, so
  // its report still has a latency (the pipeline's int8 row), marked with the precision that ran.
  for (const bool fp32_only : {true, false}) {
    for (const auto& row : rows) {
      const std::string runtime = row["runtime"];
      if (row["model"] != model || row["input"] != json{size.h, size.w} || speed.contains(runtime) ||
          (fp32_only && row["precision"] != "fp32")) {
        continue;
      }
      speed[runtime] = {{"input", row["input"]}, {"threads", row["threads"]}, {"latency_ms", row["latency_ms"]},
                        {"runs", row["runs"]}, {"precision", row["precision"]}};
      if (row.contains("kernels")) speed[runtime]["kernels"] = row["kernels"];
    }
  }
  return speed;
}

}  // namespace vdsr::runtime
