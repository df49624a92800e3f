#include "runtime/registry.h"

#include "vdsr/util/error.h"

namespace vdsr::runtime {

// Each factory lives in its runtime's file.
std::unique_ptr<Runner> make_libtorch_runner(const ModelSource& model);  // libtorch_runner.cpp
std::unique_ptr<Runner> make_aten_runner(const ModelSource& model);      // libtorch_runner.cpp
std::unique_ptr<Runner> make_opencv_runner(const ModelSource& model);    // opencv_runner.cpp
std::unique_ptr<Runner> make_ort_runner(const ModelSource& model);       // ort_runner.cpp
bool ort_available(std::string& why_not);                                // ort_runner.cpp

const std::vector<RuntimeInfo>& runtimes() {
  static const std::vector<RuntimeInfo> table = {
      {"libtorch", "the project's inference path (vdsr::Upscaler, the --engine chain)", true, make_libtorch_runner, {}},
      {"aten", "at::conv2d per layer, for comparison", true, make_aten_runner, {}},
      {"opencv-dnn", "OpenCV DNN on the ONNX bytes", false, make_opencv_runner, {}},
      {"onnxruntime", "onnxruntime-node on the ONNX file, through scripts/ort_check.mjs", false, make_ort_runner,
       ort_available},
  };
  return table;
}

std::string runtime_names() {
  std::string names;
  for (const auto& r : runtimes()) names += (names.empty() ? "" : ", ") + r.name;
  return names;
}

const RuntimeInfo& runtime_info(const std::string& name, const std::string& flag) {
  for (const auto& r : runtimes()) {
    if (r.name == name) return r;
  }
  throw Error(flag + ": unknown runtime '" + name + "' (expected " + runtime_names() + ")");
}

std::unique_ptr<Runner> make_runner(const std::string& name, const ModelSource& model) {
  return runtime_info(name).make(model);
}

}  // namespace vdsr::runtime
