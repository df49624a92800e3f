#pragma once
// The int8 ONNX file in QDQ form, from the scales file vdsr-quantize writes (vdsr/int8_scales.h): the
// scales checked against the model, the weights quantized exactly as the int8 engine quantizes them, and a
// LibTorch reference that computes what the QDQ graph computes (fake quantization), which the proof runs
// the file's runtimes against.
#include <memory>
#include <string>
#include <vector>

#include "runtime/runners.h"
#include "vdsr/checkpoint.h"
#include "vdsr/int8_scales.h"

namespace vdsr::exporter {

// Throws vdsr::Error naming `where` (the scales file) and the key when the scales do not fit the model
// (vdsr::check_int8_scales, as the engine checks them: one layer per convolution, in forward order and
// named as config_list names them, one weight scale per output channel), or an int8 layer has a scale
// that is not positive and finite.
void check_scales_fit(const Int8Scales& scales, const Checkpoint& checkpoint, const std::string& where);

// The layer names the scales file uses, in forward order: the weights' names without ".weight".
std::vector<std::string> conv_layer_names(const Checkpoint& checkpoint);

// The s8 weights of one layer [oc, ic, kh, kw]: quantize_weight per element with its output channel's scale.
at::Tensor quantize_weights(const at::Tensor& w, const std::vector<float>& scales);
// What DequantizeLinear computes from them: q * scale[oc] in float32.
at::Tensor dequantize_weights(const at::Tensor& q, const std::vector<float>& scales);

// The saturation range of an activation quantized as the layer says: u8 [0, 255] or s8 [-128, 127]
// (QuantizeLinear's ranges with zero point 0).
std::pair<float, float> activation_range(const Int8Layer& layer);

// LibTorch computing the QDQ graph: each int8 layer's input rounded half to even onto its scale's grid
// and saturated (QuantizeLinear then DequantizeLinear), its weights dequantized, the convolution,
// ReLU and residual add in float32. Named "libtorch" in the proof.
std::unique_ptr<runtime::Runner> make_qdq_reference(const Checkpoint& checkpoint, const Int8Scales& scales);

}  // namespace vdsr::exporter
