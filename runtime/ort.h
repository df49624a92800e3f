#pragma once
// The onnxruntime leg: vdsr-export saves inputs and LibTorch's outputs as raw float32 files with a JSON
// manifest, scripts/ort_check.mjs (onnxruntime-node) runs the ONNX file on them, writes its outputs
// next to them and times a forward pass; this side reads the results back.
//
// Folder layout: io.json = {threads, runs, cases: [{name, shape: [N,1,H,W], input, reference?}],
// bench?: name of the case to time}; <name>.input.f32, <name>.libtorch.f32 (little-endian float32, NCHW);
// the script adds <name>.onnxruntime.f32 and onnxruntime.json.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/runners.h"

namespace vdsr::runtime {

struct IoCase {
  std::string name;
  Batch input;
  std::optional<Batch> reference;  // LibTorch's output, when known
};

void save_io(const std::filesystem::path& dir, const std::vector<IoCase>& cases, const std::string& bench_case,
             int runs, int threads);

void write_f32(const std::filesystem::path& path, const std::vector<float>& values);
std::vector<float> read_f32(const std::filesystem::path& path, size_t count);

// The script and its runtime, when usable here: VDSR_ORT_SCRIPT or <source>/scripts/ort_check.mjs, `node` on
// PATH, and onnxruntime-node installed beside the script. `why_not` says what is missing otherwise.
std::optional<std::filesystem::path> find_ort_script(std::string& why_not);

struct OrtResult {
  nlohmann::json summary;                 // the script's onnxruntime.json
  std::map<std::string, Batch> outputs;   // per case
};

// Runs the script on `model` with the cases saved in `dir`; throws vdsr::Error with the script's exit
// code when it fails.
OrtResult run_ort(const std::filesystem::path& script, const std::filesystem::path& model,
                  const std::filesystem::path& dir, const std::vector<IoCase>& cases);

}  // namespace vdsr::runtime
