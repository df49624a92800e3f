#pragma once
// vdsr-export's proof of a file before it is written: the ONNX bytes run in OpenCV DNN and onnxruntime
// next to LibTorch on the same inputs (parity on random batches, PSNR on a dataset), and their latency.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "export/onnx_writer.h"
#include "runtime/input_size.h"
#include "vdsr/checkpoint.h"
#include "vdsr/evaluation.h"

namespace vdsr::exporter {

struct VerifyOptions {
  std::string dataset;                        // --verify: a name under $VDSR_ASSETS or a folder; empty: none
  std::vector<std::filesystem::path> images;  // its images
  std::vector<int> scales;                    // measured on them
  std::string onnxruntime = "auto";           // auto (when installed) | on (required) | off
  std::filesystem::path save_io;              // also save the cases here for scripts/ort_check.mjs; empty: not
  runtime::InputSize bench{256, 256};         // latency input
  int bench_threads = 2, bench_runs = 10;     // 0 runs: no latency
  double tolerance = 1e-4;                    // largest max abs difference to LibTorch accepted
};

struct RuntimeResult {
  double max_abs_diff = 0;         // over the parity cases, against LibTorch
  std::vector<ScaleScore> scores;  // per scale of VerifyOptions
};

struct VerifiedFile {
  std::string bytes;                             // the file, its measured PSNR in the metadata
  std::vector<std::pair<std::string, std::string>> metadata;
  std::map<std::string, RuntimeResult> results;  // per runtime, libtorch included
  std::vector<ScaleScore> fp32_scores;           // fp16 and int8 files: LibTorch on the source's float32 weights
  std::map<std::string, std::string> skipped;    // runtime -> why it did not run the file
  // int8 files with onnxruntime: {max_abs_diff, psnr_delta_by_scale (onnxruntime - engine), engine_kernels}
  nlohmann::json onnxruntime_vs_int8_engine = nlohmann::json::object();
  nlohmann::json speed = nlohmann::json::object();  // per runtime: {input, threads, latency_ms, runs, ...}
  std::string onnxruntime_version;               // empty when onnxruntime did not run
};

// Builds the file for `checkpoint` and proves it; throws vdsr::Error when a runtime differs from LibTorch
// by more than the tolerance (and "--onnxruntime on" without onnxruntime), so nothing unproven is written.
VerifiedFile build_verified(const Checkpoint& checkpoint, OnnxOptions options, const VerifyOptions& verify);

// The report's blocks from a proof: export.quality, export.parity, export.fp16_psnr_cost or
// export.int8_psnr_cost, export.skipped, export.onnxruntime_vs_int8_engine, the contract's quality (the
// model as LibTorch runs its source weights) and speed. For an int8 file "libtorch" is LibTorch computing
// the QDQ graph (export/qdq.h) and "libtorch-int8" the project's int8 engine on the same scales.
void add_proof_to_report(const VerifiedFile& file, const VerifyOptions& verify, const OnnxOptions& options,
                         nlohmann::json& report);

}  // namespace vdsr::exporter
