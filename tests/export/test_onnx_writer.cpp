// The ONNX writer and its checks as a library: graph shape, opsets, metadata, determinism, float16, the
// checker rejecting broken graphs, and OpenCV DNN running one file at several sizes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "export/onnx_writer.h"
#include "runtime/registry.h"
#include "vdsr/evaluation.h"
#include "vdsr/inference.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using namespace vdsr::exporter;
using namespace vdsr::runtime;
namespace fs = std::filesystem;

namespace {

Checkpoint tiny(std::vector<int> widths = {8, 6, 8}, int seed = 5) {
  torch::manual_seed(seed);
  VDSR model(Architecture{std::move(widths)});
  return checkpoint_from_model(model, {{"scales", {2, 3}}});
}

int count_ops(const onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

std::string metadata(const onnx::ModelProto& m, const std::string& key) {
  for (const auto& p : m.metadata_props()) {
    if (p.key() == key) return p.value();
  }
  return "<missing>";
}

}  // namespace

TEST(OnnxWriter, GraphHasConvReluPerLayerAndResidualAdd) {
  const Checkpoint ck = tiny();
  const onnx::ModelProto m = parse_and_check(check_and_serialize(build_model(ck, {})), "tiny");
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_EQ(m.producer_name(), "vdsr-export");
  EXPECT_FALSE(m.producer_version().empty());
  EXPECT_NE(m.doc_string().find("VDSR"), std::string::npos);
  EXPECT_EQ(count_ops(m, "Conv"), 4);
  EXPECT_EQ(count_ops(m, "Relu"), 3);
  EXPECT_EQ(count_ops(m, "Add"), 1);
  EXPECT_EQ(count_ops(m, "Cast"), 0);
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "input");
  EXPECT_EQ(m.graph().output(0).name(), "output");
  const auto& dims = m.graph().input(0).type().tensor_type().shape().dim();
  ASSERT_EQ(dims.size(), 4);
  EXPECT_EQ(dims[0].dim_param(), "N");
  EXPECT_EQ(dims[1].dim_value(), 1);
  EXPECT_EQ(dims[2].dim_param(), "H");
  EXPECT_EQ(dims[3].dim_param(), "W");
  // Weights as raw float32 data, named as the PyTorch parameters, nothing else.
  ASSERT_EQ(m.graph().initializer_size(), 4);
  size_t raw = 0;
  for (const auto& init : m.graph().initializer()) {
    EXPECT_EQ(init.data_type(), onnx::TensorProto_DataType_FLOAT);
    EXPECT_EQ(init.float_data_size(), 0);
    raw += init.raw_data().size();
  }
  EXPECT_EQ(raw, static_cast<size_t>(ck.architecture.params()) * 4);
  EXPECT_EQ(m.graph().initializer(1).name(), "residual_layer.0.conv.weight");
  for (const auto& node : m.graph().node()) {
    if (node.op_type() != "Conv") continue;
    EXPECT_EQ(node.input_size(), 2) << "Conv without bias";
  }
}

TEST(OnnxWriter, EveryOpsetInRangeChecksAndOthersAreRejectedWithTheRange) {
  const Checkpoint ck = tiny();
  for (int opset = kMinOpset; opset <= kMaxOpset; ++opset) {
    OnnxOptions o;
    o.opset = opset;
    EXPECT_NO_THROW(check_and_serialize(build_model(ck, o))) << "opset " << opset;
  }
  for (int opset : {10, 18, 0}) {
    OnnxOptions o;
    o.opset = opset;
    try {
      build_model(ck, o);
      ADD_FAILURE() << "opset " << opset << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("11..17"), std::string::npos) << e.what();
    }
  }
}

TEST(OnnxWriter, MetadataCarriesWidthsScalesParamsAndSource) {
  const Checkpoint ck = tiny();
  OnnxOptions o;
  o.metadata = standard_metadata(ck, std::string(64, 'a'), OnnxOptions{});
  const onnx::ModelProto m = parse_and_check(check_and_serialize(build_model(ck, o)), "tiny");
  EXPECT_EQ(metadata(m, "widths"), "[8,6,8]");
  EXPECT_EQ(metadata(m, "scales"), "[2,3]");
  EXPECT_EQ(metadata(m, "params"), std::to_string(ck.architecture.params()));
  EXPECT_EQ(metadata(m, "source_sha256"), std::string(64, 'a'));
  EXPECT_EQ(metadata(m, "weights_sha256"), weights_sha256(ck.weights));
  EXPECT_EQ(metadata(m, "weights_dtype"), "float32");
}

TEST(OnnxWriter, SameCheckpointGivesIdenticalBytes) {
  const Checkpoint a = tiny();
  OnnxOptions o;
  o.metadata = standard_metadata(a, "x", OnnxOptions{});
  const std::string first = check_and_serialize(build_model(a, o));
  EXPECT_EQ(first, check_and_serialize(build_model(tiny(), o)));
  // ...and a different checkpoint does not.
  EXPECT_NE(first, check_and_serialize(build_model(tiny({8, 6, 8}, 6), o)));
}

TEST(OnnxWriter, Float16HalvesTheWeightsAndCastsBackToFloat32) {
  const Checkpoint ck = tiny({32, 32, 32, 32});
  OnnxOptions half;
  half.fp16 = true;
  const std::string full = check_and_serialize(build_model(ck, {}));
  const onnx::ModelProto m = parse_and_check(check_and_serialize(build_model(ck, half)), "fp16");
  EXPECT_EQ(count_ops(m, "Cast"), 5);
  size_t raw = 0;
  for (const auto& init : m.graph().initializer()) {
    EXPECT_EQ(init.data_type(), onnx::TensorProto_DataType_FLOAT16);
    raw += init.raw_data().size();
  }
  EXPECT_EQ(raw, static_cast<size_t>(ck.architecture.params()) * 2);
  EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto_DataType_FLOAT);
  const double ratio = static_cast<double>(m.ByteSizeLong()) / full.size();
  EXPECT_GT(ratio, 0.45);
  EXPECT_LT(ratio, 0.56);
}

TEST(OnnxWriter, StaticSizeFixesEveryDimension) {
  OnnxOptions o;
  o.static_height = 24;
  o.static_width = 20;
  const onnx::ModelProto m = parse_and_check(check_and_serialize(build_model(tiny(), o)), "static");
  for (const auto* v : {&m.graph().input(0), &m.graph().output(0)}) {
    const auto& dims = v->type().tensor_type().shape().dim();
    EXPECT_EQ(dims[0].dim_value(), 1);
    EXPECT_EQ(dims[2].dim_value(), 24);
    EXPECT_EQ(dims[3].dim_value(), 20);
  }
  const Checkpoint ck = tiny();
  auto cv = make_runner("opencv-dnn", ModelSource::onnx_bytes(check_and_serialize(build_model(ck, o))));
  const Batch x = random_batch(1, 24, 20, 3);
  EXPECT_LT(max_abs_diff(make_runner("libtorch", ModelSource::weights(ck))->forward(x), cv->forward(x)), 1e-5);
}

TEST(OnnxWriter, CheckerRejectsBrokenModels) {
  const Checkpoint ck = tiny();
  auto expect_rejected = [](const onnx::ModelProto& m, const std::string& why) {
    try {
      check_and_serialize(m);
      ADD_FAILURE() << "accepted a model with " << why;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("ONNX check failed"), std::string::npos) << e.what();
    }
  };
  onnx::ModelProto missing = build_model(ck, {});
  missing.mutable_graph()->mutable_initializer()->DeleteSubrange(1, 1);  // a Conv without its weight
  expect_rejected(missing, "a Conv input that nothing defines");

  onnx::ModelProto bad_pads = build_model(ck, {});
  for (auto& a : *bad_pads.mutable_graph()->mutable_node(0)->mutable_attribute()) {
    if (a.name() == "pads") a.add_ints(1);  // 5 pads for a 2-D convolution
  }
  expect_rejected(bad_pads, "a Conv whose pads do not fit its rank (shape inference)");

  onnx::ModelProto no_opset = build_model(ck, {});
  no_opset.clear_opset_import();
  expect_rejected(no_opset, "no opset import");
}

TEST(OnnxWriter, OneFileRunsAtSeveralSizesInOpenCvDnn) {
  const Checkpoint ck = tiny();
  auto cv = make_runner("opencv-dnn", ModelSource::onnx_bytes(check_and_serialize(build_model(ck, {}))));
  auto torch_runner = make_runner("libtorch", ModelSource::weights(ck));
  for (const auto& [n, h, w] : std::vector<std::array<int, 3>>{{1, 16, 16}, {1, 37, 53}, {2, 20, 12}}) {
    const Batch x = random_batch(n, h, w, 7);
    const Batch got = cv->forward(x);
    EXPECT_EQ(got.data.size(), x.data.size());
    EXPECT_LT(max_abs_diff(torch_runner->forward(x), got), 1e-5) << n << "x" << h << "x" << w;
  }
}

TEST(Runners, LibTorchRunnerScoresExactlyAsUpscaler) {
  const fs::path dir = fs::temp_directory_path() / "vdsr_export_runner_images";
  fs::remove_all(dir);
  fs::create_directories(dir);
  Image rgb(44, 52, 3);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < rgb.height; ++y)
      for (int x = 0; x < rgb.width; ++x) rgb.at(c, y, x) = std::fmod(7.0 * x + 3.0 * y + 50.0 * c + (x * y) % 11, 256.0);
  write_image(dir / "a.png", rgb);
  const Checkpoint ck = tiny();
  const std::vector<fs::path> images{dir / "a.png"};
  const ScaleScore want = evaluate_scale(Upscaler(ck, Device{}), images, 2);
  auto runner = make_runner("libtorch", ModelSource::weights(ck));
  const ScaleScore got = evaluate_scale_with(*runner, images, 2);
  EXPECT_DOUBLE_EQ(got.mean().psnr, want.mean().psnr);
  EXPECT_DOUBLE_EQ(got.mean().ssim, want.mean().ssim);
  auto cv = make_runner("opencv-dnn", ModelSource::onnx_bytes(check_and_serialize(build_model(ck, {}))));
  EXPECT_NEAR(evaluate_scale_with(*cv, images, 2).mean().psnr, want.mean().psnr, 1e-4);
  fs::remove_all(dir);
}
