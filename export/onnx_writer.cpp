#include "export/onnx_writer.h"

#include <ATen/ATen.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <nlohmann/json.hpp>

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

}  // namespace

void validate_opset(int opset) {
  if (opset < kMinOpset || opset > kMaxOpset) {
    throw Error("--opset " + std::to_string(opset) + " is not supported: choose an opset in " +
                std::to_string(kMinOpset) + ".." + std::to_string(kMaxOpset));
  }
}

std::vector<std::pair<std::string, std::string>> standard_metadata(const Checkpoint& ck, const std::string& source_sha256,
                                                                   bool fp16) {
  nlohmann::json scales = ck.meta.contains("scales") ? ck.meta["scales"] : nlohmann::json::array();
  return {{"widths", nlohmann::json(ck.architecture.widths).dump()},
          {"depth", std::to_string(ck.architecture.depth())},
          {"scales", scales.dump()},
          {"params", std::to_string(ck.architecture.params())},
          {"weights_dtype", fp16 ? "float16" : "float32"},
          {"source_sha256", source_sha256},
          {"weights_sha256", weights_sha256(ck.weights)},
          {"input", "bicubic-upscaled Y plane (MATLAB rgb2ycbcr), 0..1 scale; clip the output to 0..1"}};
}

onnx::ModelProto build_model(const Checkpoint& ck, const OnnxOptions& o) {
  validate_opset(o.opset);
  if ((o.static_height > 0) != (o.static_width > 0)) throw Error("static size needs both height and width");
  onnx::ModelProto model;
  model.set_ir_version(ir_version_for(o.opset));
  model.set_producer_name("vdsr-export");
  model.set_producer_version(VDSR_VERSION);
  model.set_domain("org.vdsr");
  model.set_model_version(1);
  model.set_doc_string("VDSR super-resolution (Kim et al., CVPR 2016): " + std::to_string(ck.architecture.depth()) +
                       " 3x3 convolutions without bias, ReLU between them, and a global residual add. Input: the "
                       "bicubic-upscaled Y channel as float32 [N, 1, H, W] on the 0..1 scale; output: the restored "
                       "Y channel, same shape (clip to 0..1).");
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
    const at::Tensor w = ck.weights[i].second.to(at::kCPU, o.fp16 ? at::kHalf : at::kFloat).contiguous();
    const std::string& weight_name = names[i];
    auto* init = g->add_initializer();
    init->set_name(o.fp16 ? weight_name + ".fp16" : weight_name);
    init->set_data_type(o.fp16 ? onnx::TensorProto_DataType_FLOAT16 : onnx::TensorProto_DataType_FLOAT);
    for (int64_t d : w.sizes()) init->add_dims(d);
    // raw_data is little-endian by the ONNX spec, as is every machine this builds on.
    init->set_raw_data(w.data_ptr(), w.numel() * w.element_size());
    if (o.fp16) {
      auto* cast = add_node(g, "Cast", weight_name + ".cast", {weight_name + ".fp16"}, weight_name);
      auto* to = cast->add_attribute();
      to->set_name("to");
      to->set_type(onnx::AttributeProto_AttributeType_INT);
      to->set_i(onnx::TensorProto_DataType_FLOAT);
    }
    const std::string layer = weight_name.substr(0, weight_name.size() - std::string(".weight").size());
    const bool last = i + 1 == ck.weights.size();
    const std::string conv_out = last ? "residual" : layer + ".conv_out";
    auto* conv = add_node(g, "Conv", layer + ".conv", {previous, weight_name}, conv_out);
    add_ints(conv, "kernel_shape", {3, 3});
    add_ints(conv, "pads", {1, 1, 1, 1});
    add_ints(conv, "strides", {1, 1});
    add_ints(conv, "dilations", {1, 1});
    if (last) {
      add_node(g, "Add", "residual_add", {"residual", "input"}, "output");
    } else {
      previous = layer + ".relu_out";
      add_node(g, "Relu", layer + ".relu", {conv_out}, previous);
    }
  }
  return model;
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
