// Pruners, global ranking and speedup: the narrower model computes exactly what the masked model does.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "compress/pruner.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using namespace vdsr::compress;
using nlohmann::json;

namespace {

Checkpoint random_checkpoint(const Architecture& arch, int seed) {
  torch::manual_seed(seed);
  VDSR model(arch);
  return checkpoint_from_model(model);
}

PruneResult run(const Checkpoint& ck, const std::string& config, const std::string& pruner_name,
                PlanOptions options = {}) {
  const Pruner pruner = parse_pruner(pruner_name);
  options.granularity = pruner.granularity;
  Plan plan = make_plan(json::parse(config), layers_of(ck.architecture), options, "test");
  return prune(ck, plan, pruner, options);
}

double max_diff(const Checkpoint& a, const Checkpoint& b, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return (model_from_checkpoint(a)->forward(x) - model_from_checkpoint(b)->forward(x)).abs().max().item<double>();
}

}  // namespace

TEST(Prune, SeedConfigOnReferenceShapeGivesTheExpectedCounts) {
  const Checkpoint ck = random_checkpoint(Architecture::reference(), 0);
  const PruneResult r = run(ck, R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])", "l1");
  EXPECT_EQ(r.pruned.architecture.widths, std::vector<int>(19, 32));
  EXPECT_EQ(ck.architecture.params(), 664704);
  EXPECT_EQ(r.pruned.architecture.params(), 166464);
  EXPECT_NEAR(static_cast<double>(r.pruned.architecture.macs_per_pixel()) / ck.architecture.macs_per_pixel(),
              0.25, 0.002);
  EXPECT_EQ(r.pruned.weights.back().second.sizes(), (std::vector<int64_t>{1, 32, 3, 3}));
}

// Exactness for every pruner and mode: the sped-up model equals the original with its pruned filters zeroed.
class Exactness : public ::testing::TestWithParam<std::tuple<std::string, Mode>> {};

TEST_P(Exactness, SpedUpEqualsMasked) {
  const auto [pruner, mode] = GetParam();
  const Checkpoint ck = random_checkpoint(Architecture{{16, 12, 16, 16, 10}}, 7);
  for (const char* config : {R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])",
                             R"([{"sparsity": 0.3, "op_types": ["Conv2d"]}, {"exclude": true, "op_names": ["input"]}])",
                             R"([{"total_sparsity": 0.4, "max_sparsity_per_layer": 0.7, "op_types": ["Conv2d"]}])"}) {
    SCOPED_TRACE(config);
    const PruneResult r = run(ck, config, pruner, {mode, 4});
    torch::manual_seed(1);
    for (auto size : {std::vector<int64_t>{1, 1, 17, 23}, std::vector<int64_t>{2, 1, 9, 9}}) {
      const torch::Tensor x = torch::rand(size);
      EXPECT_LE(max_diff(r.pruned, r.masked, x), 1e-5);
    }
    if (pruner == "level") {
      EXPECT_FALSE(r.shrinks);
      EXPECT_EQ(r.pruned.architecture.widths, ck.architecture.widths);
    } else {
      EXPECT_LT(r.pruned.architecture.params(), ck.architecture.params());
      if (mode == Mode::Balance) {
        for (size_t l = 0; l < r.pruned.architecture.widths.size(); ++l) {
          if (r.plan.layers[l].remove > 0) {
            EXPECT_EQ(r.pruned.architecture.widths[l] % 4, 0) << l;
          }
        }
      }
    }
    EXPECT_EQ(r.pruned.weights.back().second.size(0), 1);  // the output filter always stays
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllPrunersAndModes, Exactness,
    ::testing::Combine(::testing::Values("l1", "l2", "fpgm", "level"),
                       ::testing::Values(Mode::Normal, Mode::DependencyAware, Mode::Balance)),
    [](const auto& info) {
      return std::get<0>(info.param) + "_" + mode_name(std::get<1>(info.param));
    });

TEST(Prune, L1AndL2RemoveTheSmallestFilters) {
  Checkpoint ck = random_checkpoint(Architecture{{6, 6}}, 2);
  // Filter f of the input conv gets magnitude f + 1, in reverse order: filters 5, 4, 3 are the smallest.
  at::Tensor w = ck.weights[0].second;
  for (int f = 0; f < 6; ++f) w[f].fill_(static_cast<float>(6 - f));
  for (const char* p : {"l1", "l2"}) {
    const PruneResult r = run(ck, R"([{"sparsity": 0.5, "op_names": ["input"]}])", p);
    EXPECT_EQ(r.kept[0], (std::vector<int64_t>{0, 1, 2})) << p;
    EXPECT_EQ(r.kept[1], (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  }
}

TEST(Prune, FpgmRemovesTheFilterNearestTheGeometricMedian) {
  Checkpoint ck = random_checkpoint(Architecture{{5, 4}}, 3);
  at::Tensor w = ck.weights[0].second;
  // Filter 0 is tiny but far from the others (L1 removes it); filters 1-4 cluster around (20, 20), and
  // filter 1 has the smallest sum of distances to all others (FPGM removes it).
  const float points[5][2] = {{1, 0}, {20, 20}, {21, 20}, {20, 21}, {21, 21}};
  w.zero_();
  for (int f = 0; f < 5; ++f) {
    w[f][0][0][0] = points[f][0];
    w[f][0][0][1] = points[f][1];
  }
  const char* config = R"([{"sparsity": 0.2, "op_names": ["input"]}])";
  EXPECT_EQ(run(ck, config, "fpgm").kept[0], (std::vector<int64_t>{0, 2, 3, 4}));
  EXPECT_EQ(run(ck, config, "l1").kept[0], (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(Prune, TotalSparsityRanksAcrossLayersWithinCaps) {
  Checkpoint ck = random_checkpoint(Architecture{{8, 8, 8}}, 4);
  ck.weights[1].second.mul_(0.01);  // residual_layer.0.conv: clearly the least important filters
  const PruneResult r = run(ck, R"([{"total_sparsity": 0.25, "max_sparsity_per_layer": 0.75, "op_types": ["Conv2d"]}])",
                            "l1");
  // Group weights: 72 + 576 + 576 = 1224; 25 % = 306 weights; residual filters hold 72 each -> 5 filters,
  // but the cap allows 6 at most in that layer, so all five come from it.
  EXPECT_EQ(r.plan.layers[1].remove, 5);
  EXPECT_EQ(r.plan.layers[0].remove, 0);
  EXPECT_EQ(r.plan.layers[2].remove, 0);
  const PruneResult capped = run(ck, R"([{"total_sparsity": 0.5, "max_sparsity_per_layer": 0.5, "op_types": ["Conv2d"]}])",
                                 "l1");
  EXPECT_EQ(capped.plan.layers[1].remove, 4);  // capped at half of 8
  long long removed = 0;
  for (size_t l = 0; l < 3; ++l) removed += static_cast<long long>(capped.plan.layers[l].remove) * capped.plan.layers[l].layer.weights / 8;
  EXPECT_GE(removed, 612);  // the target was reached in the other layers
}

TEST(Prune, LevelMasksTheSmallestWeightsAndKeepsWidths) {
  const Checkpoint ck = random_checkpoint(Architecture{{8, 8}}, 5);
  const PruneResult r = run(ck, R"([{"sparsity": 0.3, "op_types": ["Conv2d"]}])", "level");
  EXPECT_FALSE(r.shrinks);
  for (size_t l = 0; l < 3; ++l) {
    const auto& w = r.pruned.weights[l].second;
    const int64_t zeros = (w == 0).sum().item<int64_t>();
    EXPECT_EQ(zeros, filters_to_remove(0.3, static_cast<int>(w.numel()))) << l;
    const float kept_min = w.abs().masked_select(w != 0).min().item<float>();
    const float removed_max = ck.weights[l].second.abs().masked_select(w == 0).max().item<float>();
    EXPECT_LE(removed_max, kept_min);
  }
}

TEST(Prune, ParsersNameTheValidChoices) {
  EXPECT_EQ(parse_pruner("L1").criterion, "l1");
  EXPECT_EQ(parse_pruner("level").granularity, Granularity::kWeight);
  EXPECT_EQ(pruner_name(parse_pruner("Level")), "level");
  try {
    parse_pruner("l3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected l1, l2, fpgm"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_mode("balance"), Mode::Balance);
  try {
    parse_mode("fast");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("normal, dependency_aware or balance"), std::string::npos);
  }
}

// A criterion added in one place, this file: it keeps the filters with the largest peak |w|.
namespace {

const bool kPeakAdded = add_criterion({"test-peak", "a toy for this test",
                                       [](const at::Tensor& rows, bool) { return std::get<0>(rows.abs().max(1)); }});

}  // namespace

TEST(PruneCriteria, AToyCriterionFromTheRegistryPrunesATinyModel) {
  ASSERT_TRUE(kPeakAdded);
  Checkpoint ck = random_checkpoint(Architecture{{4, 4}}, 6);
  // Filter 0 has the largest L1 norm but the smallest peak; filters 1-3 each have one large weight.
  at::Tensor w = ck.weights[0].second;
  w.fill_(0.01f);
  w[0].fill_(0.5f);
  for (int f = 1; f < 4; ++f) w[f][0][0][0] = static_cast<float>(f);
  const char* config = R"([{"sparsity": 0.25, "op_names": ["input"]}])";
  EXPECT_EQ(run(ck, config, "l1").kept[0], (std::vector<int64_t>{0, 2, 3}));
  const PruneResult r = run(ck, config, "test-peak");
  EXPECT_EQ(r.kept[0], (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.pruned.architecture.widths, (std::vector<int>{3, 4}));
  EXPECT_EQ(pruner_name(parse_pruner("test-peak")), "test-peak");
  EXPECT_THROW(add_criterion({"l1", "a second l1", nullptr}), Error);
}
