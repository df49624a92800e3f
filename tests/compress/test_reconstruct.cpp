// Least-squares reconstruction after pruning: exact where the dropped channels are linear combinations of
// the kept ones, and never worse than plain pruning.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "compress/pruner.h"
#include "compress/reconstruct.h"

using namespace vdsr;
using namespace vdsr::compress;

namespace {

torch::Tensor output_of(const Checkpoint& ck, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model_from_checkpoint(ck)->forward(x);
}

double mse(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).pow(2).mean().item<double>(); }

// A three-layer VDSR whose middle filters 4..7 are positive multiples of filters 0..3: after the ReLU the
// dropped channels are exactly c_i times kept ones, so the output layer can absorb them.
Checkpoint redundant_model() {
  torch::manual_seed(3);
  VDSR model(Architecture{{8, 8}});
  Checkpoint ck = checkpoint_from_model(model);
  at::Tensor& w0 = ck.weights[1].second;
  const std::vector<double> c = {0.5, 2.0, 1.5, 3.0};
  for (int i = 0; i < 4; ++i) w0[4 + i].copy_(w0[i] * c[i]);
  return ck;
}

}  // namespace

TEST(Reconstruct, ExactWhenDroppedChannelsAreCombinationsOfKeptOnes) {
  const Checkpoint original = redundant_model();
  const std::vector<std::vector<int64_t>> kept = {{0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3}, {0}};
  const Checkpoint pruned = speedup(original, kept);
  torch::manual_seed(4);
  // Signed inputs keep every channel alive somewhere, so the fit is determined in every direction.
  const torch::Tensor calibration = torch::randn({4, 1, 16, 16});
  ReconstructOptions options;
  options.ridge = 0;
  options.samples = 4096;
  const Reconstruction r = reconstruct(original, pruned, kept, calibration, options);

  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_LT(r.layers[0].error_pruned, 1e-12);  // the middle layer keeps its inputs: nothing to refit
  EXPECT_GT(r.layers[1].error_pruned, 1e-2);
  EXPECT_LT(r.layers[1].error_refitted, 1e-9);
  const torch::Tensor x = torch::randn({2, 1, 21, 19});  // unseen inputs
  const torch::Tensor y = output_of(original, x);
  EXPECT_GT(mse(output_of(pruned, x), y), 1e-4);
  EXPECT_LT(mse(output_of(r.model, x), y), 1e-10);
}

TEST(Reconstruct, ReducesEveryLayersErrorAndTheOutputError) {
  torch::manual_seed(5);
  VDSR model(Architecture{{16, 16, 16, 16}});
  const Checkpoint original = checkpoint_from_model(model);
  const Pruner l1 = parse_pruner("l1");
  PlanOptions plan_options;
  Plan plan = make_plan(nlohmann::json::parse(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])"),
                        layers_of(original.architecture), plan_options, "test");
  const PruneResult pruned = prune(original, plan, l1, plan_options);
  const torch::Tensor calibration = torch::rand({8, 1, 24, 24});
  const Reconstruction r = reconstruct(original, pruned.pruned, pruned.kept, calibration, {});

  ASSERT_EQ(r.layers.size(), 4u);
  for (const auto& fit : r.layers) {
    SCOPED_TRACE(fit.name);
    EXPECT_LT(fit.error_refitted, fit.error_pruned);
  }
  EXPECT_EQ(r.model.architecture.widths, pruned.pruned.architecture.widths);
  const torch::Tensor x = torch::rand({2, 1, 20, 20});
  const torch::Tensor y = output_of(original, x);
  EXPECT_LT(mse(output_of(r.model, x), y), 0.5 * mse(output_of(pruned.pruned, x), y));
}

TEST(Reconstruct, LeastSquaresRecoversKnownWeights) {
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({200, 6}), w = torch::randn({3, 6});
  const torch::Tensor fitted = least_squares_weights(x, torch::mm(x, w.t()), 0);
  EXPECT_LT((fitted - w).abs().max().item<double>(), 1e-4);
}
