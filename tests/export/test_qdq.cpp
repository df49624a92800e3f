// The int8 ONNX file in QDQ form as a library: graph shape and initializer types, the weights quantized as
// the contract says, scales that do not fit the model refused with the key named, and the LibTorch
// reference that computes the QDQ graph.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>

#include "export/onnx_writer.h"
#include "export/qdq.h"
#include "runtime/registry.h"
#include "tests/export/int8_test_scales.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using namespace vdsr::exporter;
using namespace vdsr::runtime;

namespace {

Checkpoint tiny(std::vector<int> widths = {8, 6, 8}, int seed = 5) {
  torch::manual_seed(seed);
  VDSR model(Architecture{std::move(widths)});
  return checkpoint_from_model(model, {{"scales", {2, 3}}});
}

OnnxOptions int8_options(const Checkpoint& ck) {
  OnnxOptions o;
  o.int8 = test::minmax_scales(ck, random_batch(2, 24, 24, 1));
  return o;
}

std::map<std::string, int> op_counts(const onnx::ModelProto& m) {
  std::map<std::string, int> n;
  for (const auto& node : m.graph().node()) ++n[node.op_type()];
  return n;
}

const onnx::TensorProto& initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& init : m.graph().initializer()) {
    if (init.name() == name) return init;
  }
  throw std::runtime_error("no initializer " + name);
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(QdqWriter, Int8LayersGetQuantizeDequantizeAndS8WeightsWithPerChannelScales) {
  const Checkpoint ck = tiny();  // 4 convolutions; the two body layers int8
  const OnnxOptions o = int8_options(ck);
  const onnx::ModelProto m = parse_and_check(check_and_serialize(build_model(ck, o)), "int8");
  EXPECT_EQ(m.opset_import(0).version(), 13);
  auto ops = op_counts(m);
  EXPECT_EQ(ops["Conv"], 4);
  EXPECT_EQ(ops["Relu"], 3);
  EXPECT_EQ(ops["Add"], 1);
  EXPECT_EQ(ops["QuantizeLinear"], 2);    // one per int8 layer's input
  EXPECT_EQ(ops["DequantizeLinear"], 4);  // its input and its weights

  for (size_t i = 0; i < ck.weights.size(); ++i) {
    const auto& [name, w] = ck.weights[i];
    const Int8Layer& layer = o.int8->layers[i];
    if (!layer.int8) {
      EXPECT_EQ(initializer(m, name).data_type(), onnx::TensorProto_DataType_FLOAT) << name;
      continue;
    }
    const auto& q = initializer(m, name + ".int8");
    EXPECT_EQ(q.data_type(), onnx::TensorProto_DataType_INT8);
    ASSERT_EQ(q.raw_data().size(), static_cast<size_t>(w.numel()));
    // Bit for bit the contract's quantization: quantize_weight with the channel's scale.
    const at::Tensor f = w.contiguous();
    const int64_t per_channel = w.numel() / w.size(0);
    for (int64_t k = 0; k < w.numel(); ++k) {
      ASSERT_EQ(static_cast<int8_t>(q.raw_data()[k]),
                quantize_weight(f.data_ptr<float>()[k], layer.weight_scales[k / per_channel]))
          << name << " weight " << k;
    }
    const auto& scale = initializer(m, name + ".scale");
    EXPECT_EQ(scale.dims(0), w.size(0));
    EXPECT_EQ(initializer(m, name + ".zero_point").data_type(), onnx::TensorProto_DataType_INT8);
    const std::string layer_name = name.substr(0, name.size() - 7);
    EXPECT_EQ(initializer(m, layer_name + ".input_zero_point").data_type(), onnx::TensorProto_DataType_UINT8);
    EXPECT_EQ(initializer(m, layer_name + ".input_scale").dims_size(), 0) << "per-tensor activation scale";
  }
  for (const auto& node : m.graph().node()) {
    if (node.op_type() != "DequantizeLinear" || node.input(0).find(".int8") == std::string::npos) continue;
    ASSERT_EQ(node.attribute_size(), 1);
    EXPECT_EQ(node.attribute(0).name(), "axis");
    EXPECT_EQ(node.attribute(0).i(), 0);
  }
  // The weights take a quarter of the float32 bytes on the int8 layers.
  EXPECT_LT(m.ByteSizeLong(), check_and_serialize(build_model(ck, {})).size());
  EXPECT_EQ(weight_bytes(ck, o), ck.weights[0].second.numel() * 4 + ck.weights[1].second.numel() +
                                     ck.weights[2].second.numel() + ck.weights[3].second.numel() * 4);
}

TEST(QdqWriter, MetadataNamesTheInt8LayersAndCalibration) {
  const Checkpoint ck = tiny();
  OnnxOptions o = int8_options(ck);
  o.metadata = standard_metadata(ck, "x", o);
  const onnx::ModelProto m = parse_and_check(check_and_serialize(build_model(ck, o)), "int8");
  std::map<std::string, std::string> meta;
  for (const auto& p : m.metadata_props()) meta[p.key()] = p.value();
  EXPECT_EQ(meta["weights_dtype"], "int8 (QDQ)");
  const auto int8 = nlohmann::json::parse(meta["int8"]);
  EXPECT_EQ(int8["method"], "minmax");
  EXPECT_EQ(int8["layers"], nlohmann::json({"residual_layer.0.conv", "residual_layer.1.conv"}));
  // Deterministic, as the other forms.
  EXPECT_EQ(check_and_serialize(build_model(ck, o)), check_and_serialize(build_model(tiny(), o)));
}

TEST(QdqWriter, NeedsOpset13AndExcludesFloat16) {
  const Checkpoint ck = tiny();
  OnnxOptions o = int8_options(ck);
  o.opset = 12;
  expect_error([&] { build_model(ck, o); }, "opset 13 or newer");
  o.opset = 17;
  EXPECT_NO_THROW(check_and_serialize(build_model(ck, o)));
  o.fp16 = true;
  expect_error([&] { build_model(ck, o); }, "exclude each other");
}

TEST(QdqScales, ThatDoNotFitTheModelAreRefusedNamingTheKey) {
  const Checkpoint ck = tiny();
  const Int8Scales good = test::minmax_scales(ck, random_batch(1, 16, 16, 2));
  EXPECT_NO_THROW(check_scales_fit(good, ck, "s.json"));
  Int8Scales s = good;
  s.layers.pop_back();
  expect_error([&] { check_scales_fit(s, ck, "s.json"); }, "s.json: layers: 3 layers, but the model has 4");
  s = good;
  s.layers[1].name = "residual_layer.7.conv";
  expect_error([&] { check_scales_fit(s, ck, "s.json"); },
               "s.json: layers[1].name: expected 'residual_layer.0.conv', got 'residual_layer.7.conv'");
  s = good;
  s.layers[2].weight_scales.pop_back();
  expect_error([&] { check_scales_fit(s, ck, "s.json"); }, "s.json: layers[2].weight_scales: expected 8 (one per filter), got 7");
  s = good;
  s.layers[1].input_scale = 0;
  expect_error([&] { check_scales_fit(s, ck, "s.json"); }, "s.json: layers[1].input_scale");
  // An fp32 layer needs no calibrated input scale.
  s = good;
  s.layers[0].input_scale = 0;
  EXPECT_NO_THROW(check_scales_fit(s, ck, "s.json"));
}

TEST(QdqWeights, RoundTripIsWithinHalfAStepPerChannel) {
  const Checkpoint ck = tiny({16, 16});
  const at::Tensor w = ck.weights[1].second.contiguous();
  std::vector<float> scales;
  const int64_t per_channel = w.numel() / w.size(0);
  for (int64_t oc = 0; oc < w.size(0); ++oc) scales.push_back(weight_scale(w.data_ptr<float>() + oc * per_channel, per_channel));
  const at::Tensor back = dequantize_weights(quantize_weights(w, scales), scales);
  for (int64_t oc = 0; oc < w.size(0); ++oc) {
    const double err = (back[oc] - w[oc]).abs().max().item<double>();
    EXPECT_LE(err, 0.5 * scales[oc] * (1 + 1e-6)) << "channel " << oc;
    EXPECT_GT(err, 0.0) << "channel " << oc;  // rounding happened
  }
}

TEST(QdqReference, IsTheFloat32ModelWithoutInt8LayersAndCloseToItWith) {
  const Checkpoint ck = tiny({16, 16, 16, 16});
  const Batch x = random_batch(1, 20, 20, 4);
  const Batch fp32 = make_runner("libtorch", ModelSource::weights(ck))->forward(x);
  Int8Scales s = test::minmax_scales(ck, x);
  const Batch quantized = make_qdq_reference(ck, s)->forward(x);
  const double diff = max_abs_diff(fp32, quantized);
  EXPECT_GT(diff, 0.0) << "int8 layers should round something";
  EXPECT_LT(diff, 0.05) << "min-max scales on the same input keep the output close";
  for (auto& layer : s.layers) layer.int8 = false;
  EXPECT_LT(max_abs_diff(fp32, make_qdq_reference(ck, s)->forward(x)), 1e-5);
  // A coarse grid on one layer's input costs more than a fine one.
  s = test::minmax_scales(ck, x);
  s.layers[2].input_scale *= 16;
  EXPECT_GT(max_abs_diff(fp32, make_qdq_reference(ck, s)->forward(x)), diff);
}
