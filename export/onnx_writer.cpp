#include "export/onnx_writer.h"

#include <ATen/ATen.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <nlohmann/json.hpp>

#include "export/qdq.h"
#include "vdsr/util/error.h"
#include "vdsr_version.h"  // generated at build time (report/version.cmake)

namespace vdsr::exporter {

namespace {

// The newest IR version each opset was released with; older readers reject newer IR versions.
int ir_version_for(int opset) {
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  return 8;
}

void set_shape(onnx::ValueInfoProto* value, const std::string& name, const OnnxOptions& o) {
  value->set_name(name);
  auto* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  auto* shape = tensor->mutable_shape();
  const bool fixed = o.static_height > 0;
  auto dim = [&](const char* symbol, int value) {
    auto* d = shape->add_dim();
    if (value > 0) {
      d->set_dim_value(value);
    } else {
      d->set_dim_param(symbol);
    }
  };
  dim("N", fixed ? 1 : 0);
  dim("C", 1);
  dim("H", fixed ? o.static_height : 0);
  dim("W", fixed ? o.static_width : 0);
}

void add_ints(onnx::NodeProto* node, const char* name, std::initializer_list<int64_t> values) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (int64_t v : values) a->add_ints(v);
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, const std::string& name,
                          std::initializer_list<std::string> inputs, const std::string& output) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

onnx::TensorProto* add_initializer(onnx::GraphProto* g, const std::string& name, onnx::TensorProto_DataType type,
                                  const std::vector<int64_t>& dims, const void* data, size_t bytes) {
  auto* init = g->add_initializer();
  init->set_name(name);
  init->set_data_type(type);
  for (int64_t d : dims) init->add_dims(d);
  // raw_data is little-endian by the ONNX spec, as is every machine this builds on.
  init->set_raw_data(data, bytes);
  return init;
}

// A float32 (or float16, with a Cast to float32) weight initializer named `weight_name` in the graph.
void add_float_weight(onnx::GraphProto* g, const std::string& weight_name, const at::Tensor& weight, bool fp16) {
  const at::Tensor w = weight.to(at::kCPU, fp16 ? at::kHalf : at::kFloat).contiguous();
  add_initializer(g, fp16 ? weight_name + ".fp16" : weight_name,
                  fp16 ? onnx::TensorProto_DataType_FLOAT16 : onnx::TensorProto_DataType_FLOAT, w.sizes().vec(),
                  w.data_ptr(), w.numel() * w.element_size());
  if (fp16) {
    auto* cast = add_node(g, "Cast", weight_name + ".cast", {weight_name + ".fp16"}, weight_name);
    auto* to = cast->add_attribute();
    to->set_name("to");
    to->set_type(onnx::AttributeProto_AttributeType_INT);
    to->set_i(onnx::TensorProto_DataType_FLOAT);
  }
}

// s8 weights (zero point 0) and DequantizeLinear with one scale per output channel (axis 0) making
// `weight_name`, the float32 weight the Conv reads; runtimes fuse the pair into an int8 convolution.
void add_int8_weight(onnx::GraphProto* g, const std::string& weight_name, const at::Tensor& weight,
                     const std::vector<float>& scales) {
  const at::Tensor q = quantize_weights(weight, scales);
  const int64_t channels = static_cast<int64_t>(scales.size());
  const std::vector<int8_t> zero(scales.size(), 0);
  add_initializer(g, weight_name + ".int8", onnx::TensorProto_DataType_INT8, q.sizes().vec(), q.data_ptr(), q.numel());
  add_initializer(g, weight_name + ".scale", onnx::TensorProto_DataType_FLOAT, {channels}, scales.data(),
                  scales.size() * sizeof(float));
  add_initializer(g, weight_name + ".zero_point", onnx::TensorProto_DataType_INT8, {channels}, zero.data(), zero.size());
  auto* dq = add_node(g, "DequantizeLinear", weight_name + ".dequantize",
                      {weight_name + ".int8", weight_name + ".scale", weight_name + ".zero_point"}, weight_name);
  auto* axis = dq->add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto_AttributeType_INT);
  axis->set_i(0);
}

// QuantizeLinear then DequantizeLinear on a layer's input, per tensor, zero point 0: u8 after a ReLU,
// s8 otherwise. Returns the name of the float32 tensor the Conv reads.
std::string add_activation_qdq(onnx::GraphProto* g, const std::string& layer, const Int8Layer& q,
                               const std::string& input) {
  const uint8_t zero = 0;
  add_initializer(g, layer + ".input_scale", onnx::TensorProto_DataType_FLOAT, {}, &q.input_scale, sizeof(float));
  add_initializer(g, layer + ".input_zero_point",
                  q.input_unsigned ? onnx::TensorProto_DataType_UINT8 : onnx::TensorProto_DataType_INT8, {}, &zero, 1);
  const std::string quantized = layer + ".input_q", dequantized = layer + ".input_dq";
  add_node(g, "QuantizeLinear", layer + ".quantize", {input, layer + ".input_scale", layer + ".input_zero_point"},
           quantized);
  add_node(g, "DequantizeLinear", layer + ".dequantize", {quantized, layer + ".input_scale", layer + ".input_zero_point"},
           dequantized);
  return dequantized;
}

}  // namespace

void validate_opset(int opset) {
  if (opset < kMinOpset || opset > kMaxOpset) {
    throw Error("--opset " + std::to_string(opset) + " is not supported: choose an opset in " +
                std::to_string(kMinOpset) + ".." + std::to_string(kMaxOpset));
  }
}

std::string weights_dtype(const OnnxOptions& o) { return o.int8 ? "int8 (QDQ)" : o.fp16 ? "float16" : "float32"; }

std::vector<std::pair<std::string, std::string>> standard_metadata(const Checkpoint& ck, const std::string& source_sha256,
                                                                   const OnnxOptions& o) {
  nlohmann::json scales = ck.meta.contains("scales") ? ck.meta["scales"] : nlohmann::json::array();
  std::vector<std::pair<std::string, std::string>> meta{
      {"widths", nlohmann::json(ck.architecture.widths).dump()},
      {"depth", std::to_string(ck.architecture.depth())},
      {"scales", scales.dump()},
      {"params", std::to_string(ck.architecture.params())},
      {"weights_dtype", weights_dtype(o)},
      {"source_sha256", source_sha256},
      {"weights_sha256", weights_sha256(ck.weights)},
      {"input", "bicubic-upscaled Y plane (MATLAB rgb2ycbcr), 0..1 scale; clip the output to 0..1"}};
  if (o.int8) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : o.int8->layers) {
      if (l.int8) layers.push_back(l.name);
    }
    meta.emplace_back("int8", nlohmann::json{{"method", o.int8->method},
                                             {"percentile", o.int8->percentile},
                                             {"patches", o.int8->patches},
                                             {"seed", o.int8->seed},
                                             {"layers", layers}}
                                  .dump());
  }
  return meta;
}

onnx::ModelProto build_model(const Checkpoint& ck, const OnnxOptions& o) {
  validate_opset(o.opset);
  if ((o.static_height > 0) != (o.static_width > 0)) throw Error("static size needs both height and width");
  if (o.int8) {
    if (o.fp16) throw Error("an int8 file keeps its other layers in float32: int8 scales and fp16 exclude each other");
    if (o.opset < 13) {
      throw Error("--opset " + std::to_string(o.opset) +
                  ": the int8 (QDQ) file needs opset 13 or newer (per-channel DequantizeLinear came with 13)");
    }
    check_scales_fit(*o.int8, ck, "int8 scales");
  }
  onnx::ModelProto model;
  model.set_ir_version(ir_version_for(o.opset));
  model.set_producer_name("vdsr-export");
  model.set_producer_version(VDSR_VERSION);
  model.set_domain("org.vdsr");
  model.set_model_version(1);
  model.set_doc_string("VDSR super-resolution (Kim et al., CVPR 2016): " + std::to_string(ck.architecture.depth()) +
                       " 3x3 convolutions without bias, ReLU between them, and a global residual add. Input: the "
                       "bicubic-upscaled Y channel as float32 [N, 1, H, W] on the 0..1 scale; output: the restored "
                       "Y channel, same shape (clip to 0..1)." +
                       std::string(o.int8 ? " Int8 layers (QDQ): QuantizeLinear/DequantizeLinear on the layer's input "
                                            "(per tensor, zero point 0), s8 weights with per-output-channel "
                                            "DequantizeLinear; the other layers and the residual add are float32."
                                          : ""));
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(o.opset);
  for (const auto& [key, value] : o.metadata) {
    auto* p = model.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }

  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("vdsr");
  set_shape(g->add_input(), "input", o);
  set_shape(g->add_output(), "output", o);

  const auto names = ck.architecture.layer_names();
  std::string previous = "input";
  for (size_t i = 0; i < ck.weights.size(); ++i) {
    const std::string& weight_name = names[i];
    const std::string layer = weight_name.substr(0, weight_name.size() - std::string(".weight").size());
    const Int8Layer* q = o.int8 && o.int8->layers[i].int8 ? &o.int8->layers[i] : nullptr;
    std::string conv_input = previous;
    if (q) {
      conv_input = add_activation_qdq(g, layer, *q, previous);
      add_int8_weight(g, weight_name, ck.weights[i].second, q->weight_scales);
    } else {
      add_float_weight(g, weight_name, ck.weights[i].second, o.fp16);
    }
    const bool last = i + 1 == ck.weights.size();
    const std::string conv_out = last ? "residual" : layer + ".conv_out";
    auto* conv = add_node(g, "Conv", layer + ".conv", {conv_input, weight_name}, conv_out);
    add_ints(conv, "kernel_shape", {3, 3});
    add_ints(conv, "pads", {1, 1, 1, 1});
    add_ints(conv, "strides", {1, 1});
    add_ints(conv, "dilations", {1, 1});
    if (last) {
      // The residual add stays float32 in every form.
      add_node(g, "Add", "residual_add", {"residual", "input"}, "output");
    } else {
      previous = layer + ".relu_out";
      add_node(g, "Relu", layer + ".relu", {conv_out}, previous);
    }
  }
  return model;
}

int64_t weight_bytes(const Checkpoint& ck, const OnnxOptions& o) {
  int64_t bytes = 0;
  for (size_t i = 0; i < ck.weights.size(); ++i) {
    const bool int8 = o.int8 && o.int8->layers.at(i).int8;
    bytes += ck.weights[i].second.numel() * (int8 ? 1 : o.fp16 ? 2 : 4);
  }
  return bytes;
}

std::string check_and_serialize(const onnx::ModelProto& model) {
  onnx::ModelProto copy = model;
  try {
    onnx::checker::check_model(copy);
    // Strict mode: a node whose shapes do not infer, or disagree with the declared output, fails.
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  } catch (const std::exception& e) {
    throw Error(std::string("ONNX check failed, nothing written: ") + e.what());
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!model.SerializeToCodedStream(&coded)) throw Error("ONNX serialization failed");
  }
  return bytes;
}

onnx::ModelProto parse_and_check(const std::string& bytes, const std::string& where) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) throw Error(where + ": not an ONNX model (protobuf parse failed)");
  check_and_serialize(model);
  return model;
}

}  // namespace vdsr::exporter
