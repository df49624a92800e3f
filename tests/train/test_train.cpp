// vdsr-train: learning (a tiny VDSR beats bicubic), exact resume, clipping, the trial protocol,
// parameter precedence, and clear errors for bad input; the training state and the metrics lines alone.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <mutex>
#include <random>
#include <tuple>

#include "tests/cli_runner.h"
#include "tests/test_assets.h"
#include "vdsr/checkpoint.h"
#include "vdsr/evaluation.h"
#include "vdsr/image.h"
#include "vdsr/metrics.h"
#include "vdsr/train/trainer.h"
#include "vdsr/train/training_state.h"
#include "vdsr/train/trial.h"
#include "vdsr/util/cpu.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using test::run_command;
using test::tool;
namespace fs = std::filesystem;

namespace {

// Sharp-edged shapes over a noiseless texture of mixed frequencies: edges and fine detail are what
// super-resolution learns, and they transfer to natural images.
Image shapes_image(int height, int width, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Image im(height, width, 3);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        im.at(c, y, x) = 110 + 20 * c + 40 * std::sin(0.9 * x + 0.3 * y + seed) * std::cos(0.2 * x - 0.7 * y) +
                         30 * std::sin(0.05 * (x + 2 * y) + c);
      }
  for (int k = 0; k < 14; ++k) {
    const double cx = u(gen) * width, cy = u(gen) * height, r = 4 + u(gen) * 18, angle = u(gen) * 3.14159;
    const double level[3] = {u(gen) * 255, u(gen) * 255, u(gen) * 255};
    const bool disc = k % 2 == 0;
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const double dx = x - cx, dy = y - cy;
        const double rx = dx * std::cos(angle) + dy * std::sin(angle), ry = -dx * std::sin(angle) + dy * std::cos(angle);
        const bool inside = disc ? dx * dx + dy * dy < r * r : std::abs(rx) < r && std::abs(ry) < r / 3;
        if (inside)
          for (int c = 0; c < 3; ++c) im.at(c, y, x) = level[c];
      }
  }
  for (auto& v : im.data) v = std::round(std::clamp(v, 0.0, 255.0));
  return im;
}

class TrainTest : public ::testing::Test {
 protected:
  static fs::path root_;

  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("vdsr-train-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(root_ / "images");
    fs::create_directories(root_ / "val");
    for (unsigned k = 0; k < 6; ++k) write_image(root_ / "images" / ("s" + std::to_string(k) + ".png"), shapes_image(160, 160, k));
    for (unsigned k = 0; k < 2; ++k) write_image(root_ / "val" / ("v" + std::to_string(k) + ".png"), shapes_image(60, 60, 50 + k));
    const auto r = run_command(tool("vdsr-data") + " --threads 1 --images " + (root_ / "images").string() +
                               " --scales 2 --out " + (root_ / "train.h5").string());
    ASSERT_EQ(r.code, 0) << r.output;
    const auto small = run_command(tool("vdsr-data") + " --threads 1 --images " + (root_ / "images").string() +
                                   " --scales 2 --downsizes 1 --limit 48 --out " + (root_ / "small.h5").string());
    ASSERT_EQ(small.code, 0) << small.output;
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = root_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }

  // Fixed settings for in-process runs: one thread, tiny model, so results are exactly reproducible.
  train::TrainOptions tiny(const fs::path& out) const {
    train::TrainOptions o;
    o.data = root_ / "small.h5";
    o.architecture = Architecture::uniform(4, 8);
    o.params.batch_size = 8;  // 48 patches: 6 steps per epoch
    o.params.lr = 0.01;
    o.epochs = 3;
    o.step = 2;
    o.out = out;
    o.log_every = 0;
    o.record_step_losses = true;
    return o;
  }
  std::string train_cmd(const std::string& args) const { return tool("vdsr-train") + " --threads 1 " + args; }
  fs::path dir_;
};
fs::path TrainTest::root_;

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(std::ifstream(path)); }

std::vector<nlohmann::json> read_lines(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// Requests a stop, as SIGTERM would, once a log line contains `needle` (e.g. "step 4/"): a run interrupted
// at an exact step without a step budget, which would fix a cosine schedule's horizon.
class StopOnLogLine : public spdlog::sinks::base_sink<std::mutex> {
 public:
  StopOnLogLine(std::string needle, std::atomic<bool>& stop) : needle_(std::move(needle)), stop_(stop) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (std::string(msg.payload.data(), msg.payload.size()).find(needle_) != std::string::npos) stop_.store(true);
  }
  void flush_() override {}

 private:
  std::string needle_;
  std::atomic<bool>& stop_;
};

// Runs `o` until a log line contains `needle`, then stops as on SIGTERM.
train::TrainResult train_until_log_line(train::TrainOptions o, const std::string& needle) {
  std::atomic<bool> stop{false};
  auto sink = std::make_shared<StopOnLogLine>(needle, stop);
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.push_back(sink);
  o.stop = &stop;
  o.log_every = 1;
  train::TrainResult r = train::train(o);
  sinks.pop_back();
  return r;
}

double max_abs_diff(const Checkpoint& a, const Checkpoint& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.weights.size(); ++i) {
    m = std::max(m, (a.weights[i].second - b.weights[i].second).abs().max().item<double>());
  }
  return m;
}

}  // namespace

TEST_F(TrainTest, TinyModelBeatsBicubicOnSet5x2) {
  VDSR_REQUIRE_PATH(test::assets_path() / "Set5");
  const auto r = run_command("VDSR_ASSETS=" + test::assets_path().string() + " " +
                             train_cmd("--data " + (root_ / "train.h5").string() + " --depth 6 --width 16 --seed 3 "
                                       "--batchSize 64 --lr 0.1 --max-steps 150 --val Set5 --val-scale 2 --out " +
                                       (dir_ / "ck").string() + " --report " + (dir_ / "r.json").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto report = read_json(dir_ / "r.json");
  const double trained = report["train"]["final_psnr"];
  double bicubic = 0;
  const auto images = dataset_images((test::assets_path() / "Set5").string());
  for (const auto& path : images) {
    const ScaledPair pair = make_scaled_pair(read_image(path), 2, path.string());
    bicubic += psnr(pair.bicubic, pair.ground_truth, 2);
  }
  bicubic /= static_cast<double>(images.size());
  std::printf("Set5 x2: bicubic %.3f dB, trained tiny VDSR %.3f dB\n", bicubic, trained);
  EXPECT_GT(trained, bicubic + 0.2) << report["train"].dump(1);
  EXPECT_EQ(report["stage"], "train");
  EXPECT_EQ(report["model"]["widths"], nlohmann::json(std::vector<int>(5, 16)));
  EXPECT_TRUE(report["train"]["budget_reached"].get<bool>());
}

TEST_F(TrainTest, ResumedRunMatchesUninterruptedRun) {
  const train::TrainResult whole = train::train(tiny(dir_ / "whole"));
  ASSERT_EQ(whole.step_losses.size(), 18u);
  ASSERT_EQ(whole.epochs.size(), 3u);

  // Interrupted twice: inside epoch 1 by a step budget, then inside epoch 2 with a larger budget.
  std::vector<double> losses;
  for (long long budget : {4LL, 10LL, 0LL}) {
    train::TrainOptions o = tiny(dir_ / "parts");
    o.max_steps = budget;
    if (budget != 4) o.resume = dir_ / "parts" / "latest.ckpt";
    const train::TrainResult part = train::train(o);
    losses.insert(losses.end(), part.step_losses.begin(), part.step_losses.end());
    if (budget == 0) {
      ASSERT_EQ(part.epochs.size(), 3u);
      for (std::size_t e = 0; e < 3; ++e) {
        EXPECT_NEAR(part.epochs[e].loss, whole.epochs[e].loss, 1e-6) << "epoch " << e + 1;
        EXPECT_EQ(part.epochs[e].steps, 6);
        EXPECT_DOUBLE_EQ(part.epochs[e].lr, whole.epochs[e].lr);
      }
    } else {
      EXPECT_TRUE(part.budget_reached);
      EXPECT_EQ(part.global_step, budget);
    }
  }
  ASSERT_EQ(losses.size(), whole.step_losses.size());
  for (std::size_t i = 0; i < losses.size(); ++i) {
    EXPECT_NEAR(losses[i], whole.step_losses[i], 1e-6 * std::max(1.0, std::abs(whole.step_losses[i]))) << "step " << i;
  }
  EXPECT_LT(max_abs_diff(load_checkpoint(dir_ / "whole" / "latest.ckpt"), load_checkpoint(dir_ / "parts" / "latest.ckpt")),
            1e-6);
  EXPECT_TRUE(fs::exists(dir_ / "whole" / "model_epoch_3.ckpt"));
  // The lr schedule: x0.1 after `step` = 2 epochs.
  EXPECT_DOUBLE_EQ(whole.epochs[2].lr, 0.01 * 0.1);
}

TEST(TrainLrPlan, CosineFallsFromTheLrToZeroOverTheHorizon) {
  const train::LrPlan cosine{train::LrSchedule::cosine, 0.1, 10, 100};
  EXPECT_DOUBLE_EQ(cosine.at(1, 0), 0.1);
  EXPECT_NEAR(cosine.at(1, 50), 0.05, 1e-15);
  EXPECT_LT(cosine.at(1, 99), 0.1 * 1e-3);
  EXPECT_GT(cosine.at(1, 99), 0.0);
  EXPECT_NEAR(cosine.at(1, 100), 0.0, 1e-18);
  EXPECT_NEAR(cosine.at(1, 150), 0.0, 1e-18);  // past the horizon: stays at 0
  EXPECT_GT(cosine.at(1, 30), cosine.at(1, 31));
  const train::LrPlan step{train::LrSchedule::step, 0.1, 2, 0};
  EXPECT_DOUBLE_EQ(step.at(2, 500), 0.1);
  EXPECT_DOUBLE_EQ(step.at(3, 0), 0.1 * 0.1);
  EXPECT_EQ(parse_enum<train::LrSchedule>("cosine"), train::LrSchedule::cosine);
}

// A cosine run stopped inside epoch 1 (its horizon then fixed at all 18 steps), resumed with a step budget
// that stops it inside epoch 2, and resumed again to the end: the same steps, lrs and weights as one run.
TEST_F(TrainTest, ResumedCosineRunMatchesUninterruptedRun) {
  train::TrainOptions base = tiny(dir_ / "whole");
  base.lr_schedule = train::LrSchedule::cosine;
  const train::TrainResult whole = train::train(base);
  ASSERT_EQ(whole.step_losses.size(), 18u);
  EXPECT_EQ(whole.lr_horizon, 18);
  const train::LrPlan plan{train::LrSchedule::cosine, 0.01, 2, 18};
  EXPECT_DOUBLE_EQ(whole.epochs[0].lr, plan.at(1, 5));  // an epoch's lr: its last step's
  EXPECT_DOUBLE_EQ(whole.epochs[2].lr, plan.at(3, 17));
  EXPECT_LT(whole.epochs[2].lr, 0.01 * 0.01);

  base.out = dir_ / "parts";
  const train::TrainResult first = train_until_log_line(base, "epoch 1 step 4/6");
  ASSERT_TRUE(first.stopped);
  EXPECT_EQ(first.global_step, 4);
  std::vector<double> losses = first.step_losses;
  for (long long budget : {10LL, 0LL}) {
    train::TrainOptions o = base;
    o.max_steps = budget;
    o.resume = dir_ / "parts" / "latest.ckpt";
    const train::TrainResult part = train::train(o);
    EXPECT_EQ(part.lr_horizon, 18);
    losses.insert(losses.end(), part.step_losses.begin(), part.step_losses.end());
    if (budget == 0) {
      ASSERT_EQ(part.epochs.size(), 3u);
      for (std::size_t e = 0; e < 3; ++e) EXPECT_DOUBLE_EQ(part.epochs[e].lr, whole.epochs[e].lr) << "epoch " << e + 1;
    }
  }
  ASSERT_EQ(losses.size(), whole.step_losses.size());
  for (std::size_t i = 0; i < losses.size(); ++i) {
    EXPECT_NEAR(losses[i], whole.step_losses[i], 1e-6 * std::max(1.0, std::abs(whole.step_losses[i]))) << "step " << i;
  }
  EXPECT_LT(max_abs_diff(load_checkpoint(dir_ / "whole" / "latest.ckpt"), load_checkpoint(dir_ / "parts" / "latest.ckpt")),
            1e-6);
  // The schedule travels with the checkpoint: resuming it as a step-schedule run is an error.
  train::TrainOptions step = base;
  step.lr_schedule = train::LrSchedule::step;
  step.resume = dir_ / "parts" / "latest.ckpt";
  EXPECT_THROW(train::train(step), Error);
}

// --max-patches: the same patch budget costs the same patches whatever the batch size (whole batches,
// the last one rounded up), and the tighter of a step and a patch budget wins.
TEST_F(TrainTest, PatchBudgetBecomesStepsPerBatchSize) {
  for (const auto& [batch, patches, steps, expected] :
       std::vector<std::tuple<int, long long, long long, long long>>{{8, 20, 0, 3}, {4, 20, 0, 5}, {8, 20, 2, 2}}) {
    train::TrainOptions o = tiny(dir_ / ("b" + std::to_string(batch) + "s" + std::to_string(steps)));
    o.params.batch_size = batch;
    o.max_patches = patches;
    o.max_steps = steps;
    const train::TrainResult r = train::train(o);
    EXPECT_TRUE(r.budget_reached) << "batch " << batch;
    EXPECT_EQ(r.global_step, expected) << "batch " << batch << ", max_steps " << steps;
    EXPECT_EQ(r.max_steps, expected);
  }
  train::TrainOptions bad = tiny(dir_ / "bad");
  bad.max_patches = -1;
  EXPECT_THROW(train::train(bad), Error);
}

TEST_F(TrainTest, ClipModesBoundTheUpdate) {
  torch::manual_seed(1);
  VDSR model(Architecture::uniform(4, 8));
  save_checkpoint(dir_ / "start.ckpt", checkpoint_from_model(model));
  const Checkpoint start = load_checkpoint(dir_ / "start.ckpt");
  auto one_step = [&](train::ClipMode mode, double clip, double lr, const std::string& name) {
    train::TrainOptions o = tiny(dir_ / name);
    o.pretrained = dir_ / "start.ckpt";
    o.clip_mode = mode;
    o.params.clip = clip;
    o.params.lr = lr;
    o.params.momentum = 0;
    o.params.weight_decay = 0;
    o.max_steps = 1;
    train::train(o);
    const Checkpoint after = load_checkpoint(dir_ / name / "latest.ckpt");
    double sq = 0, max = 0;
    for (std::size_t i = 0; i < after.weights.size(); ++i) {
      const at::Tensor d = after.weights[i].second - start.weights[i].second;
      sq += d.pow(2).sum().item<double>();
      max = std::max(max, d.abs().max().item<double>());
    }
    return std::make_pair(std::sqrt(sq), max);
  };
  // Adjustable (the paper): every gradient element within clip/lr, so no weight moves more than clip.
  const auto [adj_norm, adj_max] = one_step(train::ClipMode::adjustable, 1e-5, 0.5, "adjustable");
  EXPECT_GT(adj_max, 0.0);
  EXPECT_LE(adj_max, 1e-5 + 1e-7);  // float32 rounding of weights near 0.3
  EXPECT_NEAR(adj_max, 1e-5, 2e-7);  // the summed-MSE gradient is far larger, so some element sits at the bound
  // Norm (the reference): the whole gradient scaled to norm clip, so the update has norm lr * clip.
  const auto [norm_norm, norm_max] = one_step(train::ClipMode::norm, 0.01, 0.5, "norm");
  EXPECT_NEAR(norm_norm, 0.5 * 0.01, 0.5 * 0.01 * 1e-3);
  // A generous threshold leaves the gradient alone: the update is larger than any clipped one.
  const auto [free_norm, free_max] = one_step(train::ClipMode::norm, 1e6, 0.5, "free");
  EXPECT_GT(free_norm, 10 * norm_norm);
}

// The teacher term: weight 0 leaves every step's loss exactly as without a teacher; weight 1 with the
// student's own starting weights as teacher makes the first loss ~0 (the teacher runs in bf16 where the
// CPU has it), far below the label loss; the teacher is recorded in the checkpoint.
TEST_F(TrainTest, DistillationBlendsInTheTeachersOutput) {
  torch::manual_seed(1);
  VDSR model(Architecture::uniform(4, 8));
  save_checkpoint(dir_ / "start.ckpt", checkpoint_from_model(model));
  auto run = [&](std::optional<double> weight, const std::string& name) {
    train::TrainOptions o = tiny(dir_ / name);
    o.pretrained = dir_ / "start.ckpt";
    o.max_steps = 3;
    if (weight) o.teacher = dir_ / "start.ckpt";
    o.distill_weight = weight;
    return train::train(o);
  };
  const train::TrainResult plain = run(std::nullopt, "plain");
  const train::TrainResult zero = run(0.0, "zero");
  const train::TrainResult one = run(1.0, "one");
  ASSERT_EQ(plain.step_losses.size(), 3u);
  EXPECT_EQ(zero.step_losses, plain.step_losses);
  std::printf("first step: label loss %.6g, teacher loss %.6g\n", plain.step_losses[0], one.step_losses[0]);
  EXPECT_LT(one.step_losses[0], 1e-3 * plain.step_losses[0]);
  EXPECT_GT(one.step_losses[1], 0.0);  // after a step the student has moved away from the teacher
  const auto provenance = load_checkpoint(dir_ / "one" / "latest.ckpt").meta["provenance"];
  EXPECT_EQ(provenance["teacher"], (dir_ / "start.ckpt").string());
  EXPECT_EQ(provenance["teacher_sha256"], sha256_file(dir_ / "start.ckpt"));
  EXPECT_EQ(provenance["distill_weight"], 1.0);
  EXPECT_FALSE(load_checkpoint(dir_ / "plain" / "latest.ckpt").meta["provenance"].contains("teacher"));
}

TEST(TrainPrecision, Bf16WhereTheDeviceHasIt) {
  using train::training_precision;
  std::string warning;
  EXPECT_EQ(training_precision(Precision::bf16, false, "avx512_core_bf16", &warning), Precision::bf16);
  EXPECT_EQ(training_precision(Precision::bf16, false, "avx512_core_amx", &warning), Precision::bf16);
  EXPECT_EQ(training_precision(Precision::bf16, true, "avx2", &warning), Precision::bf16);  // CUDA
  EXPECT_EQ(training_precision(Precision::fp32, false, "avx512_core_amx", &warning), Precision::fp32);
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_EQ(training_precision(Precision::bf16, false, "avx512_core", &warning), Precision::fp32);
  EXPECT_EQ(warning, "bf16 training needs AVX512-BF16 or AMX; this CPU's oneDNN ISA is avx512_core: training in fp32");
  EXPECT_EQ(training_precision(Precision::bf16, false, "avx2"), Precision::fp32);
}

// With oneDNN held to AVX2, --precision bf16 warns and trains in fp32; the report says both.
TEST_F(TrainTest, Bf16FallsBackToFp32WithoutBf16Instructions) {
  const auto r = run_command("ONEDNN_MAX_CPU_ISA=AVX2 " +
                             train_cmd("--data " + (root_ / "small.h5").string() + " --depth 3 --width 4 --max-steps 2 "
                                       "--precision bf16 --out " + (dir_ / "ck").string() + " --report " +
                                       (dir_ / "r.json").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("bf16 training needs AVX512-BF16 or AMX; this CPU's oneDNN ISA is avx2: training in fp32"),
            std::string::npos) << r.output;
  const auto config = read_json(dir_ / "r.json")["config"];
  EXPECT_EQ(config["precision"], "bf16");
  EXPECT_EQ(config["effective_precision"], "fp32");
  EXPECT_EQ(read_json(dir_ / "r.json")["train"]["global_step"], 2);
}

// On a CPU with bf16 (or none forced away), bf16 training runs and learns: the loss falls.
TEST_F(TrainTest, Bf16TrainingRunsWhereTheCpuHasIt) {
  train::TrainOptions o = tiny(dir_ / "bf16");
  o.precision = Precision::bf16;
  o.epochs = 2;
  const train::TrainResult r = train::train(o);
  if (r.precision != Precision::bf16) GTEST_SKIP() << "this CPU has no bf16 (oneDNN ISA " << onednn_isa() << ")";
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_TRUE(std::isfinite(r.epochs[1].loss));
  EXPECT_LT(r.epochs[1].loss, r.epochs[0].loss);
}

TEST_F(TrainTest, ParamsFileFillsWhatFlagsDoNotSet) {
  std::ofstream(dir_ / "best.json") << R"({"lr": 0.05, "batchSize": 16, "momentum": 0.5, "weight_decay": 0.001})";
  const auto r = run_command(train_cmd("--data " + (root_ / "small.h5").string() + " --depth 3 --width 4 --max-steps 1 "
                                       "--params " + (dir_ / "best.json").string() + " --lr 0.02 --out " +
                                       (dir_ / "ck").string() + " --report " + (dir_ / "r.json").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto config = read_json(dir_ / "r.json")["config"];
  EXPECT_DOUBLE_EQ(config["lr"].get<double>(), 0.02);  // the explicit flag wins
  EXPECT_EQ(config["batchSize"], 16);
  EXPECT_DOUBLE_EQ(config["momentum"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(config["weight_decay"].get<double>(), 0.001);
  EXPECT_DOUBLE_EQ(config["clip"].get<double>(), 0.4);  // not in the file: the default
  EXPECT_EQ(config["lr_schedule"], "step");
  EXPECT_EQ(config["precision"], "fp32");
  EXPECT_EQ(config["effective_precision"], "fp32");
}

TEST_F(TrainTest, TrialProtocolReadsParamsAndWritesMetrics) {
  const fs::path trial = dir_ / "trials" / "7";
  fs::create_directories(trial);
  std::ofstream(trial / "params.json") << R"({"lr": 0.02, "momentum": 0.8, "batchSize": 16, "clip": 0.3, "weight_decay": 0.0001})";
  std::ofstream(trial / "metrics.jsonl").close();
  const std::string env = "VDSR_TRIAL_ID=7 VDSR_TRIAL_DIR=" + trial.string() + " VDSR_TRIAL_PARAMS=" +
                          (trial / "params.json").string() + " VDSR_TRIAL_METRICS=" + (trial / "metrics.jsonl").string();
  // 48 patches at batch 16: 3 steps per epoch; the budget of 5 ends inside epoch 2.
  const auto r = run_command(env + " " + train_cmd("--data " + (root_ / "small.h5").string() +
                                                   " --depth 3 --width 4 --nEpochs 3 --max-steps 5 --val " +
                                                   (root_ / "val").string() + " --report " + (dir_ / "r.json").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto lines = read_lines(trial / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["type"], "intermediate");
  EXPECT_EQ(lines[0]["step"], 1);
  EXPECT_EQ(lines[1]["type"], "intermediate");
  EXPECT_EQ(lines[1]["step"], 2);  // the partial epoch at the end of the budget
  EXPECT_EQ(lines[2]["type"], "final");
  for (const auto& line : lines) {
    const auto& v = line["value"];
    EXPECT_TRUE(std::isfinite(v["default"].get<double>())) << line;
    EXPECT_EQ(v["default"], v["psnr"]);  // with --val the tuner maximizes the held-out PSNR
    EXPECT_GT(v["psnr"].get<double>(), 5.0) << line;
  }
  EXPECT_EQ(lines[2]["value"], lines[1]["value"]);
  const auto config = read_json(dir_ / "r.json")["config"];
  EXPECT_EQ(config["batchSize"], 16);
  EXPECT_DOUBLE_EQ(config["clip"].get<double>(), 0.3);
  EXPECT_TRUE(fs::exists(trial / "checkpoints" / "model_epoch_1.ckpt"));
  EXPECT_TRUE(fs::exists(trial / "checkpoints" / "latest.ckpt"));
}

// Model selection: best.ckpt is the epoch checkpoint with the highest validation PSNR, and the report
// and best.json say which epoch and step it came from.
TEST_F(TrainTest, KeepsTheCheckpointBestOnValidation) {
  const fs::path out = dir_ / "ck";
  const auto r = run_command(train_cmd("--data " + (root_ / "small.h5").string() + " --depth 3 --width 4 --nEpochs 4 "
                                       "--batchSize 16 --val " + (root_ / "val").string() + " --out " +
                                       out.string() + " --report " + (dir_ / "r.json").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto train = read_json(dir_ / "r.json")["train"];
  int best_epoch = 0;
  double best_psnr = -1e9;
  for (const auto& e : train["epochs"]) {
    if (e["psnr"].get<double>() > best_psnr) best_psnr = e["psnr"].get<double>(), best_epoch = e["epoch"].get<int>();
  }
  const auto& best = train["best"];
  EXPECT_EQ(best["epoch"], best_epoch) << train.dump();
  EXPECT_EQ(best["step"], 3 * best_epoch);  // 48 patches at batch 16: 3 steps per epoch
  EXPECT_DOUBLE_EQ(best["psnr"].get<double>(), best_psnr);
  EXPECT_EQ(best["checkpoint"], (out / "best.ckpt").string());
  EXPECT_EQ(read_json(out / "best.json"), nlohmann::json({{"psnr", best["psnr"]}, {"epoch", best_epoch}, {"step", best["step"]}}));
  const std::string epoch_file = "model_epoch_" + std::to_string(best_epoch) + ".ckpt";
  EXPECT_EQ(sha256_file(out / "best.ckpt"), sha256_file(out / epoch_file));
}

TEST_F(TrainTest, SigtermSavesAndStops) {
  // A run long enough to be inside its loop when the signal comes.
  const std::string cmd = train_cmd("--data " + (root_ / "train.h5").string() + " --depth 6 --width 32 --nEpochs 50 "
                                    "--out " + (dir_ / "ck").string());
  // The signal comes once the run has announced its loop ("training ... on ..."), however slow the machine
  // (a loaded CI host, the sanitizer build), and a moment into it.
  const std::string log = (dir_ / "train.log").string();
  const auto r = run_command("(" + cmd + " >" + log + " 2>&1 & pid=$!; for i in $(seq 1200); do " +
                             "grep -q 'training ' " + log + " && break; sleep 0.1; done; sleep 1; " +
                             "kill -TERM $pid; wait $pid; echo exit=$?; cat " + log + ")");
  EXPECT_NE(r.output.find("exit=143"), std::string::npos) << r.output;
  ASSERT_TRUE(fs::exists(dir_ / "ck" / "latest.ckpt")) << r.output;
  const Checkpoint ck = load_checkpoint(dir_ / "ck" / "latest.ckpt");
  EXPECT_GT(ck.meta["training"]["global_step"].get<long long>(), 0);
}

TEST_F(TrainTest, BadInputExitsWith2AndWritesNothing) {
  std::ofstream(dir_ / "unknown.json") << R"({"lr": 0.1, "learning_rate": 0.2})";
  std::ofstream(dir_ / "text.json") << R"({"lr": "fast"})";
  {
    const hsize_t dims[4] = {4, 1, 41, 41};
    const hid_t file = H5Fcreate((dir_ / "nolabel.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hid_t space = H5Screate_simple(4, dims, nullptr);
    H5Dclose(H5Dcreate2(file, "data", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    const hsize_t bad[4] = {4, 1, 41, 40};
    const hid_t space2 = H5Screate_simple(4, bad, nullptr);
    const hid_t file2 = H5Fcreate((dir_ / "shape.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(H5Dcreate2(file2, "data", H5T_IEEE_F32LE, space2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Dclose(H5Dcreate2(file2, "label", H5T_IEEE_F32LE, space2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Sclose(space);
    H5Sclose(space2);
    H5Fclose(file);
    H5Fclose(file2);
  }
  const std::string data = " --data " + (root_ / "small.h5").string();
  auto expect_error = [&](const std::string& args, const std::string& needle, const std::string& env = "") {
    const auto r = run_command(env + train_cmd(args + " --depth 3 --width 4 --max-steps 1 --out " +
                                               (dir_ / "never").string() + " --report " + (dir_ / "never.json").string()));
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
    EXPECT_FALSE(fs::exists(dir_ / "never")) << "checkpoint folder left by: " << args;
    EXPECT_FALSE(fs::exists(dir_ / "never.json")) << "report left by: " << args;
  };
  expect_error("--data " + (dir_ / "nolabel.h5").string(), "label");
  expect_error("--data " + (dir_ / "shape.h5").string(), "shape.h5");
  expect_error(data + " --batchSize 0", "batch size must be at least 1");
  expect_error(data + " --lr -0.1", "learning rate must be positive");
  expect_error(data + " --params " + (dir_ / "unknown.json").string(), "learning_rate: unknown key");
  expect_error(data + " --params " + (dir_ / "text.json").string(), "lr: expected a number");
  expect_error(data, "learning_rate: unknown key",
               "VDSR_TRIAL_PARAMS=" + (dir_ / "unknown.json").string() + " ");
  expect_error(data + " --pretrained " + (dir_ / "missing.pt").string(), "missing.pt");
  expect_error(data + " --resume " + (dir_ / "missing.ckpt").string(), "missing.ckpt");
  expect_error(data + " --distill-weight 0.3", "--distill-weight needs --teacher");
  expect_error(data + " --teacher " + (dir_ / "teacher.pt").string(), "teacher.pt");
  expect_error(data + " --teacher " + (dir_ / "unknown.json").string() + " --distill-weight 1.5",
               "--distill-weight must be in [0, 1]");
  if (!torch::cuda::is_available()) expect_error(data + " --cuda", "No GPU found");
}

// NaN in the patches or in the starting weights stops training with a clear message and a non-zero exit
// before any checkpoint is written; in a trial the trial then fails (no final result).
TEST_F(TrainTest, NonFiniteLossOrWeightsStopTrainingWithoutCheckpoints) {
  fs::copy_file(root_ / "small.h5", dir_ / "nan.h5");
  {
    const hid_t file = H5Fopen((dir_ / "nan.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t set = H5Dopen2(file, "data", H5P_DEFAULT);
    const hid_t space = H5Dget_space(set);
    std::vector<float> values(static_cast<size_t>(H5Sget_simple_extent_npoints(space)), std::nanf(""));
    ASSERT_GE(H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
    H5Sclose(space);
    H5Dclose(set);
    H5Fclose(file);
  }
  const fs::path trial = dir_ / "trial";
  fs::create_directories(trial);
  std::ofstream(trial / "metrics.jsonl").close();
  const std::string env = "VDSR_TRIAL_ID=1 VDSR_TRIAL_DIR=" + trial.string() + " VDSR_TRIAL_METRICS=" +
                          (trial / "metrics.jsonl").string() + " ";
  const auto r = run_command(env + train_cmd("--data " + (dir_ / "nan.h5").string() + " --depth 3 --width 4 "
                                             "--nEpochs 2 --out " + (dir_ / "ck").string()));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("error: training stopped at epoch 1 step 1: the loss is nan"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "ck")) << "a checkpoint folder was left";
  for (const auto& line : read_lines(trial / "metrics.jsonl")) EXPECT_NE(line["type"], "final") << line;

  // Starting weights with NaN are refused on load, naming the tensor.
  torch::manual_seed(2);
  VDSR model(Architecture::uniform(3, 4));
  Checkpoint ck = checkpoint_from_model(model);
  at::Tensor w0 = ck.weights[1].second.detach().clone();
  w0[0][0][0][0] = std::nan("");
  ck.weights[1].second = w0;
  save_checkpoint(dir_ / "nan.ckpt", ck);
  const auto w = run_command(train_cmd("--data " + (root_ / "small.h5").string() + " --pretrained " +
                                       (dir_ / "nan.ckpt").string() + " --max-steps 1 --out " + (dir_ / "ck").string()));
  EXPECT_EQ(w.code, 2) << w.output;
  EXPECT_NE(w.output.find("nan.ckpt: tensor residual_layer.0.conv.weight holds 1 non-finite value(s)"),
            std::string::npos)
      << w.output;
  EXPECT_FALSE(fs::exists(dir_ / "ck"));
}

// --out naming a file, negative budgets and thread counts: exit 2 naming the flag or the path.
TEST_F(TrainTest, BadOutputAndCountsNameTheirFlagOrPath) {
  std::ofstream(dir_ / "file") << "a file";
  const std::string data = "--data " + (root_ / "small.h5").string() + " --depth 3 --width 4 ";
  const std::string never = " --max-steps 1 --out " + (dir_ / "never").string();
  const std::pair<std::string, std::string> cases[] = {
      {"--max-steps 1 --out " + (dir_ / "file").string(),
       "output folder " + (dir_ / "file").string() + ": exists and is not a folder"},
      {"--max-steps 1 --out /proc/vdsr-never", "output folder /proc/vdsr-never: cannot write in /proc"},
      {"--max-steps -1 --out " + (dir_ / "never").string(), "--max-steps: expected an integer >= 0, got '-1'"},
      {"--max-patches -1" + never, "--max-patches: expected an integer >= 0, got '-1'"},
      {"--threads 0" + never, "--threads: expected an integer >= 1, got '0'"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = run_command(train_cmd(data + args));
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("error: " + needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(dir_ / "never"));
  EXPECT_EQ(fs::file_size(dir_ / "file"), 6u);
}

// A disk that fills up when the first checkpoint is written: a clear error naming the file, no checkpoint
// and no output folder left behind.
TEST_F(TrainTest, AFullDiskLeavesNoCheckpointOrFolder) {
  const std::string args = "--data " + (root_ / "small.h5").string() + " --depth 3 --width 4 --max-steps 2 --out " +
                           (dir_ / "ck" / "sub").string();
  const auto r = run_command(test::on_a_full_disk(train_cmd(args)));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find((dir_ / "ck" / "sub").string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "ck")) << r.output;
  const auto ok = run_command(train_cmd(args));  // with room to write it succeeds
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_FALSE(fs::is_empty(dir_ / "ck" / "sub"));
}

// The training state survives a checkpoint file unchanged: what a resumed run continues from.
TEST(TrainingState, RoundTripsThroughACheckpointFile) {
  const fs::path dir = fs::temp_directory_path() / ("vdsr-train-state-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  train::TrainingState s;
  s.epoch = 3;
  s.batch = 2;
  s.global_step = 14;
  s.seed = 7;
  s.batch_size = 8;
  s.clip_mode = train::ClipMode::adjustable;
  s.epoch_steps = 2;
  s.epoch_patches = 16;
  s.epoch_seconds = 0.5;
  s.loss_sum = at::full({}, 1.25, at::kDouble);
  s.history = {train::EpochRecord{1, 0.1, 0.02, 30.5, 1.0, 48.0, 6, true},
               train::EpochRecord{2, 0.1, 0.01, std::nullopt, 1.0, 48.0, 6, true}};
  s.momentum = {{"input.weight", at::ones({4, 1, 3, 3})}};
  s.rng = train::cpu_rng_state();
  VDSR model(Architecture::uniform(3, 4));
  Checkpoint ck = checkpoint_from_model(model);
  train::encode(s, ck);
  save_checkpoint(dir / "state.ckpt", ck);

  const train::TrainingState back = train::decode(load_checkpoint(dir / "state.ckpt"), dir / "state.ckpt");
  EXPECT_EQ(back.epoch, 3);
  EXPECT_EQ(back.batch, 2);
  EXPECT_EQ(back.global_step, 14);
  EXPECT_EQ(back.seed, 7u);
  EXPECT_EQ(back.batch_size, 8);
  EXPECT_EQ(back.epoch_steps, 2);
  EXPECT_EQ(back.epoch_patches, 16);
  EXPECT_DOUBLE_EQ(back.epoch_seconds, 0.5);
  EXPECT_DOUBLE_EQ(back.loss_sum.item<double>(), 1.25);
  ASSERT_EQ(back.history.size(), 2u);
  EXPECT_EQ(nlohmann::json(back.history), nlohmann::json(s.history));
  ASSERT_EQ(back.momentum.size(), 1u);
  EXPECT_EQ(back.momentum[0].first, "input.weight");
  EXPECT_TRUE(back.momentum[0].second.equal(at::ones({4, 1, 3, 3})));
  EXPECT_TRUE(back.rng.equal(s.rng));
  EXPECT_EQ(load_checkpoint(dir / "state.ckpt").meta["training"]["clip_mode"], "adjustable");

  // A plain model is no place to resume from.
  save_checkpoint(dir / "plain.ckpt", checkpoint_from_model(model));
  try {
    train::decode(load_checkpoint(dir / "plain.ckpt"), dir / "plain.ckpt");
    ADD_FAILURE() << "decoded a checkpoint without training state";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("plain.ckpt: not a vdsr-train checkpoint"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(TrainTrialMetrics, AppendsTheProtocolsLines) {
  const fs::path path = fs::temp_directory_path() / ("vdsr-metrics-" + std::to_string(std::random_device{}()) + ".jsonl");
  const train::TrialMetrics metrics(path);
  metrics.intermediate(train::EpochRecord{2, 0.1, 0.25, 31.0, 1.0, 10.0, 6, false});
  metrics.final_result(0.125, std::nullopt);
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], nlohmann::json::parse(
                          R"({"type": "intermediate", "step": 2, "value": {"default": 31.0, "loss": 0.25, "psnr": 31.0}})"));
  EXPECT_EQ(lines[1], nlohmann::json::parse(R"({"type": "final", "value": {"default": 0.125, "loss": 0.125}})"));
  fs::remove(path);
  train::TrialMetrics(fs::path()).final_result(1.0, std::nullopt);  // not a trial: writes nothing, throws nothing
}

TEST(TrainClipMode, NamesAreTheFlagValues) {
  EXPECT_EQ(name_of(train::ClipMode::norm), "norm");
  EXPECT_EQ(parse_enum<train::ClipMode>("adjustable"), train::ClipMode::adjustable);
  EXPECT_EQ(enum_choices<train::ClipMode>(), "norm or adjustable");
  EXPECT_THROW(parse_enum<train::ClipMode>("value"), Error);
}
