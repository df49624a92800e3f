#pragma once
// Post-training int8 quantization parameters of one model, as vdsr-quantize writes them (docs/quantization.md).
// JSON only (no LibTorch): the engine, the quantizer and the ONNX writer read the same file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vdsr {

struct Int8Layer {
  std::string name;                  // the layer's module name as config_list names it: "input", "residual_layer.0.conv", ..., "output"
  bool int8 = false;                 // false: this convolution runs in fp32 (default for first and last layer)
  float input_scale = 0;             // activation quantization: real = input_scale * q
  bool input_unsigned = true;        // u8 (zero point 0) when the input follows a ReLU; else s8 symmetric
  std::vector<float> weight_scales;  // per output channel, symmetric s8: real = weight_scales[oc] * q, q in [-127, 127]
};

struct Int8Scales {
  std::string method;                // "minmax" | "percentile"
  double percentile = 0;             // e.g. 99.99, for "percentile"
  int64_t patches = 0;               // calibration patches used
  uint64_t seed = 0;
  std::string calibration_data;      // path of the patches (HDF5) as given
  std::string model_sha256;          // of the checkpoint the scales were computed for: weights_sha256() (vdsr/checkpoint.h),
                                     // over the weights' float32 bytes, so a .pt and a checkpoint of one model agree
  std::vector<Int8Layer> layers;     // in forward order, one per convolution
};

// Quantizes w to s8 with the given scale: round-to-nearest-even of w / scale (a float division),
// clamped to [-127, 127].
int8_t quantize_weight(float w, float scale);

// The symmetric s8 scale of one output channel's `count` weights: max|w| / 127 in float, 1.0 when all are zero.
float weight_scale(const float* w, std::size_t count);

// Reads and validates a scales file; a vdsr::Error naming the file and the key otherwise (exit 2 in tools).
Int8Scales read_int8_scales(const std::string& path);
// Writes atomically (temp + rename): a failure leaves no file.
void write_int8_scales(const std::string& path, const Int8Scales& s);

}  // namespace vdsr
