#pragma once
// Writes a VDSR checkpoint as an ONNX model with protobuf directly: one Conv (3x3, pads 1, no bias) and
// Relu per layer, the residual Add, weights as raw-data initializers. Every serialized model passes
// ONNX's checker and strict shape inference before anyone sees its bytes.
#include <onnx/onnx_pb.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vdsr/checkpoint.h"
#include "vdsr/int8_scales.h"

namespace vdsr::exporter {

constexpr int kMinOpset = 11;
constexpr int kMaxOpset = 17;  // the newest opset the ONNX library we check with (1.12) knows

struct OnnxOptions {
  int opset = 13;
  bool fp16 = false;       // float16 initializers, Cast to float32 inside the graph
  // QDQ form (export/qdq.h) for the layers the scales mark int8: QuantizeLinear + DequantizeLinear on the
  // layer's input, s8 weights + per-channel DequantizeLinear; needs opset 13+, excludes fp16.
  std::optional<Int8Scales> int8;
  int static_height = 0;   // > 0: input and output are [1, 1, H, W] instead of [N, 1, H, W]
  int static_width = 0;
  std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props, in this order
};

// Throws vdsr::Error listing the supported range for an opset outside kMinOpset..kMaxOpset.
void validate_opset(int opset);

// The model as a protobuf message (not yet checked).
onnx::ModelProto build_model(const Checkpoint& checkpoint, const OnnxOptions& options);

// The metadata_props vdsr-export writes: widths, depth, scales, params, weight type, source sha256
// (and, for an int8 file, the calibration and the layers that are int8).
std::vector<std::pair<std::string, std::string>> standard_metadata(const Checkpoint& checkpoint,
                                                                   const std::string& source_sha256,
                                                                   const OnnxOptions& options);
// "float32", "float16" or "int8 (QDQ)": what the file's weights are stored as.
std::string weights_dtype(const OnnxOptions& options);

// The bytes the weights take at the least as the file stores them: 1 per int8 weight, 2 per float16, 4 per float32.
int64_t weight_bytes(const Checkpoint& checkpoint, const OnnxOptions& options);

// Runs onnx::checker::check_model and strict shape inference on a copy of `model`, then serializes it
// deterministically (the same message always gives the same bytes). Throws vdsr::Error with the
// checker's message on failure.
std::string check_and_serialize(const onnx::ModelProto& model);

// Parses bytes written by check_and_serialize (or any ONNX file) and runs the same checks.
onnx::ModelProto parse_and_check(const std::string& bytes, const std::string& where);

}  // namespace vdsr::exporter
