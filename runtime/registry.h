#pragma once
// Runtimes by name. A tool asks for a runner with make_runner("opencv-dnn", ModelSource::onnx_bytes(b))
// and never names a runner class; adding a runtime is one file with its Runner and factory, and one row
// in registry.cpp.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/runners.h"
#include "vdsr/checkpoint.h"
#include "vdsr/inference.h"

namespace vdsr::runtime {

// The model as the runtimes read it: the weights (LibTorch) and/or the ONNX bytes (the ONNX runtimes).
struct ModelSource {
  const Checkpoint* checkpoint = nullptr;
  std::string onnx;                           // serialized ONNX, as vdsr::exporter writes it
  InferenceOptions options = untiled_fp32();  // LibTorch: precision, engine, tiling
  Device device;                              // LibTorch

  static ModelSource weights(const Checkpoint& ck, InferenceOptions options = untiled_fp32(), Device device = {}) {
    return {&ck, "", options, device};
  }
  static ModelSource onnx_bytes(std::string bytes) { return {nullptr, std::move(bytes), untiled_fp32(), Device{}}; }
};

struct RuntimeInfo {
  std::string name;   // as on the command line and in reports
  std::string about;  // one line for --help
  bool any_precision = false;  // runs options.precision (bf16 too); the others run fp32 only
  std::function<std::unique_ptr<Runner>(const ModelSource&)> make;
  // Whether it can run here; null: always. Otherwise says why not.
  std::function<bool(std::string& why_not)> available;
};

// Every runtime, in the order tools list them.
const std::vector<RuntimeInfo>& runtimes();
// "libtorch, aten, opencv-dnn, onnxruntime"
std::string runtime_names();
// Throws vdsr::Error "<flag>: unknown runtime 'x' (expected ...)" for a name not in runtimes().
const RuntimeInfo& runtime_info(const std::string& name, const std::string& flag = "runtime");
// Throws what the runtime throws when it cannot read the model (missing weights or ONNX bytes included).
std::unique_ptr<Runner> make_runner(const std::string& name, const ModelSource& model);

}  // namespace vdsr::runtime
