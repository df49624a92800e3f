#pragma once
// vdsr-bench's run matrix: each model in each runtime and precision at each input size, measured side by
// side in one process run so that machine noise hits every configuration alike.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/input_size.h"
#include "runtime/registry.h"
#include "vdsr/checkpoint.h"
#include "vdsr/int8_scales.h"

namespace vdsr::runtime {

struct BenchModel {
  std::string name;
  std::filesystem::path path;
  Checkpoint checkpoint;
  std::string onnx;  // serialized ONNX, for the runtimes that read it
  // For --precision int8: vdsr-quantize's scales for this model and the file they came from.
  std::shared_ptr<const Int8Scales> int8_scales;
  std::string int8_scales_path;
};

// vdsr-bench's --int8-scales, one per model: "LABEL=FILE" gives the model named LABEL the scales in FILE; a
// plain FILE is taken when there is one model. Reads each file; a vdsr::Error names the argument for a label
// no model has, a model given two files, or a plain FILE beside several models.
void attach_int8_scales(std::vector<BenchModel>& models, const std::vector<std::string>& args);

struct BenchPlan {
  std::vector<InputSize> sizes;
  std::vector<std::string> runtimes;    // names from runtimes()
  std::vector<std::string> precisions;  // fp32 | bf16 | int8
  InferenceOptions options;             // the LibTorch runtimes' engine, tiling, Winograd
  int runs = 5, rounds = 2, threads = 1;
};

// One row of the table: a model in a runtime at a precision and input size.
struct BenchCase {
  const BenchModel* model = nullptr;
  std::string runtime, precision;
  InputSize size;
  std::unique_ptr<Runner> runner;
  std::vector<double> ms;
  double memory_mb = 0;  // in-process: the peak RSS its first run added; out of process: that process's peak
};

// Every case in table order (size, model, runtime, precision). A runtime that cannot run here, and bf16
// on a CPU without it, are skipped with a warning; nothing left to run is an error, and so is int8 for a
// model without scales (the error names the model).
std::vector<BenchCase> bench_cases(const std::vector<BenchModel>& models, const BenchPlan& plan);

// Per size: one warm-up per case (measuring its memory), then plan.rounds rounds. In each, pass k of
// every in-process case comes before pass k+1 of any; then each out-of-process runtime times itself.
void run_bench(std::vector<BenchCase>& cases, const BenchPlan& plan);

// Per case: latency_json plus {model, path, widths, runtime, precision, memory_mb, kernels?, int8_scales?
// (the file, for int8), vs_onnxruntime? (median over onnxruntime's for the same model and size)}.
nlohmann::json bench_rows(const std::vector<BenchCase>& cases, int threads);

// The report contract's speed.<runtime>: the first model at the first size in fp32, else (no fp32 timed)
// in the first precision timed; each entry says its precision.
nlohmann::json contract_speed(const nlohmann::json& rows, const std::string& model, const InputSize& size);

}  // namespace vdsr::runtime
