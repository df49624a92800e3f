// vdsr-export end to end: the file and its report, determinism, float16, onnxruntime through the script,
// the reference model's acceptance figures, and bad input (exit 2, nothing written).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "export/onnx_writer.h"
#include "tests/export/int8_test_scales.h"
#include "tests/test_paths.h"
#include "tests/cli_runner.h"
#include "tests/tool_test.h"
#include "tests/test_assets.h"
#include "vdsr/checkpoint.h"
#include "vdsr/image.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using test::run_command;
using test::tool;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(std::ifstream(p)); }

fs::path scripts_dir() { return fs::path(vdsr::test::source_dir()) / "scripts"; }

// node and onnxruntime-node beside scripts/ort_check.mjs (installed with npm when missing); empty when
// ready, else why not.
std::string onnxruntime_missing() {
  if (std::system("command -v node >/dev/null 2>&1") != 0) return "node is not installed";
  const fs::path scripts = scripts_dir();
  if (!fs::exists(scripts / "node_modules" / "onnxruntime-node")) {
    // .npmrc beside package.json skips onnxruntime-node's download step; the registry package has the CPU build.
    const auto npm = run_command("cd '" + scripts.string() + "' && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)");
    if (npm.code != 0 || !fs::exists(scripts / "node_modules" / "onnxruntime-node")) {
      return "npm could not install onnxruntime-node:\n" + npm.output;
    }
  }
  return "";
}

// Skips where onnxruntime cannot run, and fails under CI=true (CI has Node 20).
#define VDSR_REQUIRE_ONNXRUNTIME()                                  \
  do {                                                              \
    const std::string why_not = onnxruntime_missing();              \
    if (!why_not.empty()) {                                         \
      if (test::running_in_ci()) FAIL() << why_not << " (CI=true)"; \
      GTEST_SKIP() << why_not;                                      \
    }                                                               \
  } while (0)

class ExportCli : public test::ToolTest {
 protected:
  void SetUp() override {
    make_scratch("vdsr_export");
    write_images(2, 48, 42, 6);
    save_model(dir_ / "tiny.ckpt", Architecture{{16, 16, 16, 16, 16}}, {2, 3}, 11);
  }

  // Fast defaults: tiny latency runs, onnxruntime only where a test asks for it.
  std::string exporter(const std::string& args, const std::string& ort = "off") {
    return tool("vdsr-export") + " --threads 1 --bench-runs 2 --bench-size 32x32 --onnxruntime " + ort + " --model " +
           (dir_ / "tiny.ckpt").string() + " " + args;
  }
  std::string images() const { return (dir_ / "images").string(); }
};

}  // namespace

TEST_F(ExportCli, WritesCheckedFileAndReportWithParityPerRuntime) {
  const fs::path out = dir_ / "tiny.onnx";
  const auto r = run_command(exporter("--onnx --out " + out.string() + " --verify " + images() +
                                      " --scale 2,3 --report " + (dir_ / "r.json").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json rep = read_json(dir_ / "r.json");
  EXPECT_EQ(rep["schema"], "vdsr-report/1");
  EXPECT_EQ(rep["stage"], "export");
  EXPECT_EQ(rep["tool"], "vdsr-export");
  const auto& f = rep["export"]["files"]["onnx"];
  EXPECT_EQ(f["path"], out.string());
  EXPECT_EQ(f["bytes"], fs::file_size(out));
  EXPECT_EQ(f["sha256"], sha256_file(out));
  EXPECT_EQ(f["opset"], 13);
  const int64_t params = Architecture{{16, 16, 16, 16, 16}}.params();
  EXPECT_EQ(rep["export"]["size"]["params_bytes_lower_bound"], params * 4);
  EXPECT_GT(fs::file_size(out), static_cast<uintmax_t>(params * 4));
  EXPECT_LT(fs::file_size(out), static_cast<uintmax_t>(params * 4 + 8192));
  EXPECT_LT(rep["export"]["parity"]["opencv-dnn"]["max_abs_diff"].get<double>(), 1e-4);
  EXPECT_LT(std::abs(rep["export"]["parity"]["opencv-dnn"]["psnr_delta"].get<double>()), 1e-3);
  for (const char* runtime : {"libtorch", "opencv-dnn"}) {
    for (const char* s : {"x2", "x3"}) {
      const auto& q = rep["export"]["quality"][runtime]["images"][s];
      EXPECT_EQ(q["images"].size(), 2u) << runtime << " " << s;
      EXPECT_GT(q["bicubic_psnr"].get<double>(), 10.0);
      EXPECT_GT(q["psnr"].get<double>(), 0.0);  // an untrained network: far below bicubic
    }
    const auto& sp = rep["speed"][runtime];
    EXPECT_EQ(sp["input"], nlohmann::json({32, 32}));
    EXPECT_EQ(sp["threads"], 2);
    EXPECT_EQ(sp["runs"], 2);
    EXPECT_GT(sp["latency_ms"]["median"].get<double>(), 0.0);
  }
  EXPECT_DOUBLE_EQ(rep["quality"]["images"]["x2"]["psnr"].get<double>(),
                   rep["export"]["quality"]["libtorch"]["images"]["x2"]["psnr"].get<double>());
  // The file says what it holds, including the PSNR measured at export.
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(slurp(out)));
  std::map<std::string, std::string> meta;
  for (const auto& p : m.metadata_props()) meta[p.key()] = p.value();
  EXPECT_EQ(meta["widths"], "[16,16,16,16,16]");
  EXPECT_EQ(meta["scales"], "[2,3]");
  EXPECT_EQ(meta["params"], std::to_string(params));
  EXPECT_EQ(meta["source_sha256"], sha256_file(dir_ / "tiny.ckpt"));
  const auto psnr = nlohmann::json::parse(meta["psnr"]);
  EXPECT_EQ(psnr["dataset"], "images");
  EXPECT_DOUBLE_EQ(psnr["x3"].get<double>(), rep["export"]["quality"]["opencv-dnn"]["images"]["x3"]["psnr"].get<double>());
}

TEST_F(ExportCli, ReExportIsByteIdenticalAndStateDictLoads) {
  const auto a = run_command(exporter("--bench-runs 0 --onnx --out " + (dir_ / "a.onnx").string() + " --state-dict " +
                                      (dir_ / "a.pt").string()));
  ASSERT_EQ(a.code, 0) << a.output;
  const auto b = run_command(exporter("--bench-runs 0 --onnx --out " + (dir_ / "b.onnx").string()));
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_EQ(slurp(dir_ / "a.onnx"), slurp(dir_ / "b.onnx"));
  const auto c = run_command(exporter("--bench-runs 0 --opset 17 --onnx --out " + (dir_ / "c.onnx").string()));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(slurp(dir_ / "a.onnx"), slurp(dir_ / "c.onnx"));
  const Checkpoint original = load_checkpoint(dir_ / "tiny.ckpt");
  const Checkpoint exported = load_checkpoint(dir_ / "a.pt");
  ASSERT_EQ(exported.weights.size(), original.weights.size());
  EXPECT_EQ(weights_sha256(exported.weights), weights_sha256(original.weights));
}

TEST_F(ExportCli, Float16HalvesTheFileAndCostsLittlePsnr) {
  const auto full = run_command(exporter("--bench-runs 0 --onnx --out " + (dir_ / "f32.onnx").string()));
  ASSERT_EQ(full.code, 0) << full.output;
  const auto half = run_command(exporter("--bench-runs 0 --fp16 --onnx --out " + (dir_ / "f16.onnx").string() +
                                         " --verify " + images() + " --scale 2 --report " + (dir_ / "r.json").string()));
  ASSERT_EQ(half.code, 0) << half.output;
  const double ratio = static_cast<double>(fs::file_size(dir_ / "f16.onnx")) / fs::file_size(dir_ / "f32.onnx");
  EXPECT_GT(ratio, 0.45);
  EXPECT_LT(ratio, 0.58);
  const nlohmann::json rep = read_json(dir_ / "r.json");
  const double cost = rep["export"]["fp16_psnr_cost"]["images"]["x2"].get<double>();
  EXPECT_NE(cost, 0.0) << "float16 rounding should change the output a little";
  EXPECT_LT(std::abs(cost), 0.01);
  EXPECT_EQ(rep["export"]["files"]["onnx"]["fp16"], true);
}

// onnxruntime runs the file through scripts/ort_check.mjs when node is here (CI has Node 20).
TEST_F(ExportCli, OnnxruntimeAgreesWithLibTorch) {
  VDSR_REQUIRE_ONNXRUNTIME();
  const fs::path scripts = scripts_dir();
  fs::create_directories(dir_ / "io");
  const fs::path out = dir_ / "tiny.onnx";
  const auto r = run_command(exporter("--onnx --out " + out.string() + " --verify " + images() + " --scale 2 --save-io " +
                                          (dir_ / "io").string() + " --report " + (dir_ / "r.json").string(),
                                      "on"));
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json rep = read_json(dir_ / "r.json");
  EXPECT_LT(rep["export"]["parity"]["onnxruntime"]["max_abs_diff"].get<double>(), 1e-4);
  EXPECT_LT(std::abs(rep["export"]["parity"]["onnxruntime"]["psnr_delta"].get<double>()), 1e-3);
  EXPECT_EQ(rep["speed"]["onnxruntime"]["input"], nlohmann::json({32, 32}));
  EXPECT_EQ(rep["speed"]["onnxruntime"]["threads"], 2);

  // The script on its own, on what --save-io left: a table, and a failure past the tolerance.
  const std::string script = "node " + (scripts / "ort_check.mjs").string() + " --model " + out.string() + " --io " +
                             (dir_ / "io").string();
  const auto ok = run_command(script + " --tolerance 1e-4");
  ASSERT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("max abs diff vs LibTorch"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("latency 32x32"), std::string::npos) << ok.output;
  // A negative tolerance no difference can meet (the two runtimes may agree to the last bit).
  const auto strict = run_command(script + " --tolerance -1");
  EXPECT_EQ(strict.code, 1) << strict.output;
}

TEST_F(ExportCli, BadInputExitsWith2AndWritesNothing) {
  const fs::path out = dir_ / "never.onnx";
  auto expect_error = [&](const std::string& command, const std::string& needle, const fs::path& never = {}) {
    const auto r = run_command(command);
    EXPECT_EQ(r.code, 2) << command << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
    EXPECT_FALSE(fs::exists(never.empty() ? out : never)) << "partial file left by: " << command;
    for (const auto& e : fs::directory_iterator(dir_)) {
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "temp file left: " << e.path();
    }
  };
  const std::string onnx = " --onnx --out " + out.string();
  expect_error(exporter(onnx + " --opset 10"), "choose an opset in 11..17");
  expect_error(exporter(onnx + " --opset 18"), "choose an opset in 11..17");
  expect_error(tool("vdsr-export") + " --onnx --out " + out.string() + " --model " + (dir_ / "missing.pt").string(),
               "missing.pt: cannot open file");
  std::ofstream(dir_ / "junk.pt") << "PK\x03\x04 not a checkpoint";
  expect_error(tool("vdsr-export") + " --onnx --out " + out.string() + " --model " + (dir_ / "junk.pt").string(),
               "junk.pt");
  expect_error(exporter("--onnx --out " + (dir_ / "no_such_folder" / "m.onnx").string()), "does not exist",
               dir_ / "no_such_folder");
  // /proc refuses new files even for root, which passes any permission bits.
  expect_error(exporter("--onnx --out /proc/vdsr_export_test.onnx"), "is not writable", "/proc/vdsr_export_test.onnx");
  expect_error(exporter(onnx + " --static 24x"), "--static: expected HxW");
  expect_error(exporter(onnx + " --static 24x24 --verify " + images()), "--verify needs a dynamic-size model");
  expect_error(exporter(onnx + " --verify NoSuchSet"), "unknown dataset 'NoSuchSet'");
  expect_error(exporter("--onnx"), "--onnx needs --out");
  expect_error(exporter(onnx + " --report " + (dir_ / "nope" / "r.json").string()), "does not exist");
}

TEST_F(ExportCli, StaticFileHasFixedShape) {
  const auto r = run_command(exporter("--onnx --static 24x20 --out " + (dir_ / "s.onnx").string() + " --report " +
                                      (dir_ / "r.json").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(slurp(dir_ / "s.onnx")));
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(2).dim_value(), 24);
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(3).dim_value(), 20);
  EXPECT_EQ(read_json(dir_ / "r.json")["speed"]["opencv-dnn"]["input"], nlohmann::json({24, 20}));
}

// Acceptance: the reference model's file is params x 4 plus a few KB, and OpenCV DNN (and onnxruntime when
// node is here) match LibTorch within 1e-4 and Set5 PSNR within 0.001 dB at x2, x3, x4.
TEST(ExportReference, Set5ParityPerRuntime) {
  const fs::path model = test::assets_path() / "models" / "vdsr_x234_state_dict.pt";
  VDSR_REQUIRE_PATH(model);
  VDSR_REQUIRE_PATH(test::assets_path() / "Set5");
  const fs::path dir = fs::temp_directory_path() / "vdsr_export_reference";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto r = run_command(tool("vdsr-export") + " --onnx --model " + model.string() + " --out " +
                             (dir / "ref.onnx").string() + " --verify Set5 --bench-runs 0 --report " +
                             (dir / "r.json").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json rep = read_json(dir / "r.json");
  const int64_t bytes = rep["export"]["files"]["onnx"]["bytes"];
  EXPECT_GT(bytes, 664704 * 4);
  EXPECT_LT(bytes, 664704 * 4 + 16384);
  for (auto& [runtime, parity] : rep["export"]["parity"].items()) {
    EXPECT_LE(parity["max_abs_diff"].get<double>(), 1e-4) << runtime;
    for (auto& [s, delta] : parity["psnr_delta_by_scale"].items()) EXPECT_LE(std::abs(delta.get<double>()), 1e-3) << runtime << " " << s;
  }
  EXPECT_TRUE(rep["export"]["parity"].contains("opencv-dnn"));
  EXPECT_NEAR(rep["quality"]["Set5"]["x2"]["psnr"].get<double>(), 37.653, 0.005);
  fs::remove_all(dir);
}

namespace {

// The int8 file of the tiny model: its body layers int8, with min-max scales from a float32 pass.
class ExportInt8Cli : public ExportCli {
 protected:
  fs::path scales_file(const std::function<void(Int8Scales&)>& edit = {}) {
    const Checkpoint ck = load_checkpoint(dir_ / "tiny.ckpt");
    Int8Scales s = test::minmax_scales(ck, runtime::random_batch(2, 32, 32, 3));
    s.model_sha256 = weights_sha256(ck.weights);
    if (edit) edit(s);
    const fs::path path = dir_ / "scales.json";
    write_int8_scales(path.string(), s);
    return path;
  }
};

}  // namespace

// Acceptance: the QDQ file passes the ONNX checker, runs in onnxruntime through scripts/ort_check.mjs, and
// onnxruntime's output is compared with our int8 engine's on the same scales.
TEST_F(ExportInt8Cli, QdqFilePassesTheCheckerAndRunsInOnnxruntimeNextToOurInt8Engine) {
  VDSR_REQUIRE_ONNXRUNTIME();
  fs::create_directories(dir_ / "io");
  const fs::path out = dir_ / "tiny_int8.onnx";
  const auto r = run_command(exporter("--onnx --int8-scales " + scales_file().string() + " --out " + out.string() +
                                          " --verify " + images() + " --scale 2 --save-io " + (dir_ / "io").string() +
                                          " --report " + (dir_ / "r.json").string(),
                                      "on"));
  ASSERT_EQ(r.code, 0) << r.output;

  // The file as written: ONNX's checker and strict shape inference, the QDQ nodes, s8 weights.
  const onnx::ModelProto m = exporter::parse_and_check(slurp(out), out.string());
  EXPECT_EQ(m.opset_import(0).version(), 13);
  int quantize = 0, int8_weights = 0;
  for (const auto& node : m.graph().node()) quantize += node.op_type() == "QuantizeLinear";
  for (const auto& init : m.graph().initializer()) int8_weights += init.data_type() == onnx::TensorProto_DataType_INT8 && init.dims_size() == 4;
  EXPECT_EQ(quantize, 4);  // the four body layers of [16]*5
  EXPECT_EQ(int8_weights, 4);

  const nlohmann::json rep = read_json(dir_ / "r.json");
  const auto& ex = rep["export"];
  EXPECT_EQ(ex["files"]["onnx"]["int8"], true);
  EXPECT_EQ(ex["metadata"]["weights_dtype"], "int8 (QDQ)");
  // onnxruntime against LibTorch computing the same QDQ graph: within the int8 tolerance.
  EXPECT_LE(ex["parity"]["onnxruntime"]["max_abs_diff"].get<double>(), 0.02);
  EXPECT_LT(std::abs(ex["parity"]["onnxruntime"]["psnr_delta"].get<double>()), 0.05);
  // ...and against our int8 engine (the goal: within 0.05 dB).
  const auto& vs_engine = ex["onnxruntime_vs_int8_engine"];
  ASSERT_TRUE(vs_engine.contains("psnr_delta_by_scale")) << ex.dump(1);
  EXPECT_LT(std::abs(vs_engine["psnr_delta_by_scale"]["x2"].get<double>()), 0.05);
  EXPECT_GT(vs_engine["max_abs_diff"].get<double>(), 0.0);
  EXPECT_TRUE(ex["quality"].contains("libtorch-int8"));
  EXPECT_TRUE(ex["int8_psnr_cost"]["images"].contains("x2"));
  // OpenCV DNN either ran it (parity) or said why not.
  EXPECT_TRUE(ex["parity"].contains("opencv-dnn") || ex["skipped"].contains("opencv-dnn")) << ex.dump(1);
  // The size report: the same model as fp32, fp16 and this int8 file.
  const auto& forms = ex["size"]["forms"];
  EXPECT_EQ(forms["int8"], fs::file_size(out));
  EXPECT_LT(forms["int8"].get<int64_t>(), forms["fp16"].get<int64_t>());
  EXPECT_LT(forms["fp16"].get<int64_t>(), forms["fp32"].get<int64_t>());

  // The script on its own, on what --save-io left.
  const auto ok = run_command("node " + (scripts_dir() / "ort_check.mjs").string() + " --model " + out.string() +
                              " --io " + (dir_ / "io").string() + " --tolerance 0.02");
  EXPECT_EQ(ok.code, 0) << ok.output;
}

TEST_F(ExportInt8Cli, BadScalesExitWith2AndWriteNothing) {
  const fs::path out = dir_ / "never.onnx";
  auto expect_error = [&](const std::string& args, const std::string& needle) {
    const auto r = run_command(exporter("--onnx --out " + out.string() + " " + args));
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << "file left by: " << args;
  };
  expect_error("--int8-scales " + (dir_ / "missing.json").string(), "missing.json");
  std::ofstream(dir_ / "broken.json") << "{\"format\": \"vdsr-int8-scales\", \"version\": 1";
  expect_error("--int8-scales " + (dir_ / "broken.json").string(), "broken.json");
  const std::string good = scales_file().string();
  expect_error("--int8-scales " + good + " --fp16", "exclude each other");
  expect_error("--int8-scales " + good + " --opset 12", "--opset 13 or newer");
  expect_error("--int8-scales " + scales_file([](Int8Scales& s) { s.layers[2].name = "residual_layer.9.conv"; }).string(),
               "scales.json: layers[2].name: expected 'residual_layer.1.conv'");
  expect_error("--int8-scales " + scales_file([](Int8Scales& s) { s.layers.pop_back(); }).string(),
               "scales.json: layers: 5 layers, but the model has 6");
  expect_error("--int8-scales " + scales_file([](Int8Scales& s) { s.model_sha256 = std::string(64, '0'); }).string(),
               "computed for another checkpoint");
}
