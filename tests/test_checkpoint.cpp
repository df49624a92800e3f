// Checkpoints: our format round trip, PyTorch state dict import (dict and OrderedDict), export that
// Python's torch.load reads, and clear errors for missing, corrupted, foreign and mis-shaped files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "tests/test_paths.h"
#include "test_assets.h"
#include "test_util.h"
#include "vdsr/checkpoint.h"
#include "vdsr/torch_file.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using test::error_of;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("vdsr_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const char* kPython = "/usr/bin/python3";
bool python_torch_available() {
  return std::system((std::string(kPython) + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
}

NamedTensors tiny_weights(const Architecture& arch) {
  torch::manual_seed(1);
  VDSR model(arch);
  return checkpoint_from_model(model).weights;
}

}  // namespace

TEST(Checkpoint, OwnFormatRoundTripKeepsWeightsArchitectureAndMeta) {
  const fs::path dir = temp_dir("ck_roundtrip");
  torch::manual_seed(0);
  VDSR model(Architecture{{8, 4, 6}});
  Checkpoint ck = checkpoint_from_model(model, {{"scales", {2}}, {"note", "tiny"}});
  ck.state.emplace_back("momentum.input.weight", torch::ones({8, 1, 3, 3}));
  save_checkpoint(dir / "m.ckpt", ck);
  Checkpoint back = load_checkpoint(dir / "m.ckpt");
  EXPECT_EQ(back.architecture.widths, (std::vector<int>{8, 4, 6}));
  ASSERT_EQ(back.weights.size(), 4u);
  for (size_t i = 0; i < ck.weights.size(); ++i) {
    EXPECT_EQ(back.weights[i].first, ck.weights[i].first);
    EXPECT_TRUE(torch::equal(back.weights[i].second, ck.weights[i].second));
  }
  EXPECT_EQ(back.meta["note"], "tiny");
  EXPECT_EQ(back.meta["format"], "vdsr-checkpoint");
  ASSERT_EQ(back.state.size(), 1u);
  EXPECT_TRUE(torch::equal(back.state[0].second, torch::ones({8, 1, 3, 3})));
  VDSR rebuilt = model_from_checkpoint(back);
  torch::Tensor x = torch::rand({1, 1, 10, 12});
  EXPECT_TRUE(torch::allclose(rebuilt->forward(x), model->forward(x)));
}

TEST(Checkpoint, CorruptedTruncatedAndForeignFilesAreClearErrors) {
  const fs::path dir = temp_dir("ck_bad");
  EXPECT_NE(error_of([&] { load_checkpoint(dir / "missing.ckpt"); }).find("does not exist"), std::string::npos);

  std::ofstream(dir / "text.ckpt") << "hello, not a model";
  EXPECT_NE(error_of([&] { load_checkpoint(dir / "text.ckpt"); }).find("not a PyTorch file"), std::string::npos);

  torch::manual_seed(0);
  VDSR model(Architecture{{4, 4}});
  save_checkpoint(dir / "good.ckpt", checkpoint_from_model(model));
  std::vector<char> bytes;
  {
    std::ifstream in(dir / "good.ckpt", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(dir / "truncated.ckpt", std::ios::binary).write(bytes.data(), bytes.size() / 2);
  EXPECT_NE(error_of([&] { load_checkpoint(dir / "truncated.ckpt"); }).find("truncated.ckpt"), std::string::npos);

  // Flip one byte inside the stored weights: the zip stays readable, the SHA-256 check catches it.
  const std::string one_weight(reinterpret_cast<const char*>(model->input->weight.data_ptr<float>()), 16);
  std::string content(bytes.begin(), bytes.end());
  const size_t at = content.find(one_weight);
  ASSERT_NE(at, std::string::npos);
  content[at] ^= 0x40;
  std::ofstream(dir / "flipped.ckpt", std::ios::binary) << content;
  const std::string msg = error_of([&] { load_checkpoint(dir / "flipped.ckpt"); });
  EXPECT_NE(msg.find("flipped.ckpt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupted"), std::string::npos) << msg;
}

TEST(Checkpoint, StateDictWithMissingOrMisShapedTensorNamesIt) {
  const fs::path dir = temp_dir("ck_shapes");
  const Architecture arch{{8, 8, 8}};
  NamedTensors w = tiny_weights(arch);

  NamedTensors missing = w;
  missing.erase(missing.begin() + 1);  // residual_layer.0 gone, residual_layer.1 still there
  write_torch_state_dict(dir / "missing.pt", missing);
  std::string msg = error_of([&] { load_checkpoint(dir / "missing.pt"); });
  EXPECT_NE(msg.find("missing tensor residual_layer.0.conv.weight"), std::string::npos) << msg;

  NamedTensors no_output(w.begin(), w.end() - 1);
  write_torch_state_dict(dir / "no_output.pt", no_output);
  msg = error_of([&] { load_checkpoint(dir / "no_output.pt"); });
  EXPECT_NE(msg.find("missing tensor output.weight"), std::string::npos) << msg;

  NamedTensors bad = w;
  bad[2].second = torch::zeros({8, 5, 3, 3});
  write_torch_state_dict(dir / "bad.pt", bad);
  msg = error_of([&] { load_checkpoint(dir / "bad.pt"); });
  EXPECT_NE(msg.find("residual_layer.1.conv.weight has shape [8, 5, 3, 3], expected [8, 8, 3, 3]"),
            std::string::npos)
      << msg;
}

TEST(Checkpoint, ImportsReferenceStateDictAndExportsWhatPythonReads) {
  const fs::path ref = test::assets_path() / "models" / "vdsr_x234_state_dict.pt";
  VDSR_REQUIRE_PATH(ref);
  const fs::path dir = temp_dir("ck_reference");
  Checkpoint imported = load_checkpoint(ref);
  EXPECT_EQ(imported.architecture.widths, std::vector<int>(19, 64));
  EXPECT_EQ(imported.architecture.params(), 664704);
  save_checkpoint(dir / "ours.ckpt", imported);
  Checkpoint ours = load_checkpoint(dir / "ours.ckpt");
  export_state_dict(dir / "exported.pt", ours);
  Checkpoint again = load_checkpoint(dir / "exported.pt");
  for (size_t i = 0; i < imported.weights.size(); ++i) {
    EXPECT_TRUE(torch::equal(again.weights[i].second, imported.weights[i].second)) << imported.weights[i].first;
  }
  if (!python_torch_available()) {
    if (test::running_in_ci()) FAIL() << "python3-torch is required under CI=true";
    GTEST_SKIP() << "python3-torch not installed: the Python side of the round trip is not checked";
  }
  const std::string script = std::string(kPython) + " -c \"import sys, torch\n"
      "a = torch.load(sys.argv[1]); b = torch.load(sys.argv[2])\n"
      "assert type(b) is dict, type(b)\n"
      "assert sorted(a) == sorted(b), (list(a), list(b))\n"
      "assert all(torch.equal(a[k], b[k]) and b[k].dtype == torch.float32 for k in a)\n"
      "print('python round trip ok', len(b))\" '" + ref.string() + "' '" + (dir / "exported.pt").string() + "'";
  EXPECT_EQ(std::system(script.c_str()), 0);
}

TEST(Checkpoint, ImportsOrderedDictWrittenByPython) {
  if (!python_torch_available()) {
    if (test::running_in_ci()) FAIL() << "python3-torch is required under CI=true";
    GTEST_SKIP() << "python3-torch not installed";
  }
  const fs::path dir = temp_dir("ck_ordered");
  // model.state_dict() pickles as an OrderedDict with _metadata; a one-entry dict uses SETITEM.
  const std::string script = std::string(kPython) + " -c \"import sys, torch, collections\n"
      "torch.manual_seed(0)\n"
      "w = [torch.randn(6, 1, 3, 3), torch.randn(5, 6, 3, 3), torch.randn(1, 5, 3, 3)]\n"
      "sd = collections.OrderedDict([('input.weight', w[0]), ('residual_layer.0.conv.weight', w[1]), ('output.weight', w[2])])\n"
      "sd._metadata = collections.OrderedDict([('', {'version': 1})])\n"
      "torch.save(sd, sys.argv[1] + '/ordered.pt')\n"
      "torch.save({'epoch': 3, 'model': sd}, sys.argv[1] + '/nested.pt')\n"
      "torch.save({'input.weight': w[0]}, sys.argv[1] + '/one.pt')\n"
      "torch.save(sd, sys.argv[1] + '/legacy.pt', _use_new_zipfile_serialization=False)\n"
      "torch.save(w[0][0, 0], sys.argv[1] + '/expect.pt')\" " + dir.string();
  ASSERT_EQ(std::system(script.c_str()), 0);
  for (const char* name : {"ordered.pt", "nested.pt"}) {
    Checkpoint ck = load_checkpoint(dir / name);
    EXPECT_EQ(ck.architecture.widths, (std::vector<int>{6, 5})) << name;
  }
  // A view into a storage is rebuilt with its offset and strides.
  PyRef expect = read_torch_file(dir / "expect.pt");
  ASSERT_EQ(expect->kind, PyValue::Kind::Tensor);
  Checkpoint ck = load_checkpoint(dir / "ordered.pt");
  EXPECT_TRUE(torch::equal(expect->tensor, ck.weights[0].second[0][0]));
  EXPECT_NE(error_of([&] { load_checkpoint(dir / "one.pt"); }).find("missing tensor output.weight"), std::string::npos);
  EXPECT_NE(error_of([&] { load_checkpoint(dir / "legacy.pt"); }).find("import_pth.py"), std::string::npos);
}

TEST(Checkpoint, ImportPthScriptConvertsTheLegacyWholeModelFile) {
  const fs::path legacy = test::assets_path() / "models" / "model_epoch_50.pth";
  const fs::path reference = test::assets_path() / "models" / "vdsr_x234_state_dict.pt";
  VDSR_REQUIRE_PATH(legacy);
  if (!python_torch_available()) {
    if (test::running_in_ci()) FAIL() << "python3-torch is required under CI=true";
    GTEST_SKIP() << "python3-torch not installed";
  }
  const fs::path dir = temp_dir("ck_legacy");
  // Our reader refuses the legacy format and points to the script.
  EXPECT_NE(error_of([&] { load_checkpoint(legacy); }).find("scripts/import_pth.py"), std::string::npos);
  const std::string cmd = std::string(kPython) + " " + vdsr::test::source_dir() + "/scripts/import_pth.py '" +
                          legacy.string() + "' '" + (dir / "converted.pt").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const Checkpoint converted = load_checkpoint(dir / "converted.pt");
  const Checkpoint expected = load_checkpoint(reference);
  ASSERT_EQ(converted.weights.size(), expected.weights.size());
  for (size_t i = 0; i < expected.weights.size(); ++i) {
    EXPECT_TRUE(torch::equal(converted.weights[i].second, expected.weights[i].second)) << expected.weights[i].first;
  }
}

TEST(Checkpoint, ALayerWithoutFiltersIsNamedItself) {
  const fs::path dir = temp_dir("ck_no_filters");
  NamedTensors w = tiny_weights(Architecture{{8, 8, 8}});
  w[0].second = torch::zeros({0, 1, 3, 3});  // input.weight with 0 filters; residual_layer.0 unchanged
  write_torch_state_dict(dir / "zero.pt", w);
  std::string msg = error_of([&] { load_checkpoint(dir / "zero.pt"); });
  EXPECT_NE(msg.find("tensor input.weight has no filters (shape [0, 1, 3, 3])"), std::string::npos) << msg;
  w[1].second = torch::zeros({8, 0, 3, 3});  // and the next layer made to match it
  write_torch_state_dict(dir / "zero_chained.pt", w);
  msg = error_of([&] { load_checkpoint(dir / "zero_chained.pt"); });
  EXPECT_NE(msg.find("tensor input.weight has no filters"), std::string::npos) << msg;
}
