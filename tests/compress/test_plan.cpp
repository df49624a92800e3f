// config_list semantics (NNI 2.x, with the NNI 3.0 spellings) → per-layer plan, and its errors.
#include <gtest/gtest.h>

#include "compress/plan.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using namespace vdsr::compress;
using nlohmann::json;

namespace {

// A VDSR of depth 6 and width 16: input, residual_layer.0..3.conv, output.
std::vector<LayerInfo> vdsr_layers(int depth = 6, int width = 16) {
  std::vector<LayerInfo> layers;
  for (int i = 0; i < depth; ++i) {
    LayerInfo l;
    l.name = i == 0 ? "input" : i == depth - 1 ? "output" : "residual_layer." + std::to_string(i - 1) + ".conv";
    l.in = i == 0 ? 1 : width;
    l.out = i == depth - 1 ? 1 : width;
    l.weights = static_cast<long long>(l.in) * l.out * 9;
    l.feeds_residual_add = i == depth - 1;
    layers.push_back(l);
  }
  return layers;
}

Plan plan_of(const std::string& config, PlanOptions options = {}) {
  return make_plan(json::parse(config), vdsr_layers(), options, "prune.json");
}

std::string error_of(const std::string& config) {
  try {
    plan_of(config);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<int> removals(const Plan& p) {
  std::vector<int> r;
  for (const auto& l : p.layers) r.push_back(l.remove);
  return r;
}

}  // namespace

TEST(FiltersToRemove, FloorWithFloatGuardAndNeverAll) {
  EXPECT_EQ(filters_to_remove(0.29, 100), 29);  // 0.29 * 100 = 28.999999999999996
  EXPECT_EQ(filters_to_remove(0.5, 64), 32);
  EXPECT_EQ(filters_to_remove(0.57, 100), 57);  // 56.99999999999999
  EXPECT_EQ(filters_to_remove(0.999, 64), 63);
  EXPECT_EQ(filters_to_remove(0.5, 1), 0);
  EXPECT_EQ(filters_to_remove(0.0, 64), 0);
}

TEST(BalancedRemoval, KeepsMultiplesOfRoundTo) {
  EXPECT_EQ(balanced_removal(19, 64, 8), 16);  // keep 45 -> 48
  EXPECT_EQ(balanced_removal(32, 64, 8), 32);
  EXPECT_EQ(balanced_removal(62, 64, 8), 56);  // never below round_to
  EXPECT_EQ(balanced_removal(0, 64, 8), 0);
  EXPECT_EQ(balanced_removal(13, 64, 8), 16);  // keep 51 -> 48 (nearest)
  EXPECT_EQ(balanced_removal(12, 64, 8), 8);   // keep 52: tie between 48 and 56 keeps more
}

TEST(Plan, SeedConfigHalvesEveryConvButTheOutput) {
  const Plan p = plan_of(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])");
  EXPECT_EQ(removals(p), (std::vector<int>{8, 8, 8, 8, 8, 0}));
  EXPECT_FALSE(p.layers.back().pruned);
  EXPECT_EQ(p.layers.back().note, "a single filter: nothing to remove");
  const Plan dep = plan_of(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])", {Mode::DependencyAware, 8});
  EXPECT_NE(dep.layers.back().note.find("residual add"), std::string::npos);
}

TEST(Plan, SparsityPerLayerAliasAndDefaultType) {
  EXPECT_EQ(removals(plan_of(R"([{"sparsity_per_layer": 0.25, "op_types": ["default"]}])")),
            (std::vector<int>{4, 4, 4, 4, 4, 0}));
  EXPECT_EQ(removals(plan_of(R"([{"sparse_ratio": 0.25, "op_types": ["Conv2d"]}])")),
            (std::vector<int>{4, 4, 4, 4, 4, 0}));
}

TEST(Plan, LaterDictOverridesEarlierForTheLayersItMatches) {
  const Plan p = plan_of(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]},
                              {"sparsity": 0.25, "op_names": ["residual_layer.1.conv"]}])");
  EXPECT_EQ(removals(p), (std::vector<int>{8, 8, 4, 8, 8, 0}));
  EXPECT_EQ(p.layers[2].dict, 1);
  EXPECT_EQ(p.layers[1].dict, 0);
}

TEST(Plan, ExcludeRemovesLayersMatchedBeforeAndCanBeOverriddenAfter) {
  Plan p = plan_of(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]},
                       {"exclude": true, "op_names": ["input", "residual_layer.0.conv"]}])");
  EXPECT_EQ(removals(p), (std::vector<int>{0, 0, 8, 8, 8, 0}));
  EXPECT_EQ(p.layers[0].note, "excluded by config_list[1]");
  p = plan_of(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]},
                  {"exclude": true, "op_partial_names": ["residual_layer"]},
                  {"sparsity": 0.75, "op_names": ["residual_layer.3.conv"]}])");
  EXPECT_EQ(removals(p), (std::vector<int>{8, 0, 0, 0, 12, 0}));
}

// Patterns that a backtracking matcher takes exponential time over ("(a*)*b" on a long name) are matched in
// polynomial time; lazy quantifiers and literal '*' in classes or escapes are still accepted.
TEST(Plan, RegexesCannotStallAndMultipleRepeatsAreRefused) {
  EXPECT_EQ(removals(plan_of(R"([{"sparsity": 0.5, "op_names_re": ["(r*)*(e*)*(s*)*(i*)*(d*)*(u*)*(a*)*(l*)*x",
                                                                   "residual_layer\\.[0]\\.conv"]}])")),
            (std::vector<int>{0, 8, 0, 0, 0, 0}));
  EXPECT_EQ(removals(plan_of(R"([{"sparsity": 0.5, "op_names_re": ["res.*?\\.2[*+?]?\\.c\\w{3}\\*?"]}])")),
            (std::vector<int>{0, 0, 0, 8, 0, 0}));
}

TEST(Plan, PartialNamesRegexAndTypesCombine) {
  EXPECT_EQ(removals(plan_of(R"([{"sparsity": 0.5, "op_partial_names": ["layer.2", "layer.3"]}])")),
            (std::vector<int>{0, 0, 0, 8, 8, 0}));
  EXPECT_EQ(removals(plan_of(R"([{"sparsity": 0.5, "op_names_re": ["residual_layer\\.[02]\\.conv"]}])")),
            (std::vector<int>{0, 8, 0, 8, 0, 0}));
  // Name selectors unite; op_types intersects with them.
  EXPECT_EQ(removals(plan_of(R"([{"sparsity": 0.5, "op_names": ["input"], "op_partial_names": ["layer.3"],
                                   "op_types": ["Conv2d"]}])")),
            (std::vector<int>{8, 0, 0, 0, 8, 0}));
  const std::string none = error_of(R"([{"sparsity": 0.5, "op_names": ["input"], "op_types": ["Linear"]}])");
  EXPECT_NE(none.find("selects no layer"), std::string::npos) << none;
}

TEST(Plan, Nni3ExcludeKeysInsideOneDict) {
  EXPECT_EQ(removals(plan_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"], "exclude_op_names": ["input"],
                                   "exclude_op_names_re": ["residual_layer\\.3.*"]}])")),
            (std::vector<int>{0, 8, 8, 8, 0, 0}));
  EXPECT_NE(error_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"], "exclude_op_types": ["Conv2d"]}])")
                .find("selects no layer"),
            std::string::npos);
}

TEST(Plan, TotalSparsityFormsAGlobalGroup) {
  Plan p = plan_of(R"([{"total_sparsity": 0.5, "max_sparsity_per_layer": 0.8, "op_types": ["Conv2d"]}])");
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_DOUBLE_EQ(p.groups[0].total, 0.5);
  EXPECT_DOUBLE_EQ(p.groups[0].max_per_layer, 0.8);
  EXPECT_EQ(p.groups[0].layers.size(), 5u);  // the single-filter output is not ranked
  EXPECT_EQ(p.layers[0].group, 0);
  p = plan_of(R"([{"sparse_ratio": 0.3, "global_group_id": 1, "max_sparse_ratio": 0.6, "op_names": ["input"]},
                  {"sparse_ratio": 0.3, "global_group_id": 1, "op_partial_names": ["residual"]}])");
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(p.groups[0].layers.size(), 5u);
  EXPECT_NE(error_of(R"([{"sparse_ratio": 0.3, "global_group_id": 1, "op_names": ["input"]},
                         {"sparse_ratio": 0.4, "global_group_id": 1, "op_names": ["output"]}])")
                .find("differs"),
            std::string::npos);
}

TEST(Plan, UnstructuredCountsWeightsAndIncludesTheOutput) {
  PlanOptions level;
  level.granularity = Granularity::kWeight;
  const Plan p = plan_of(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])", level);
  // 16 * 1 * 9 = 144, 16 * 16 * 9 = 2304 and 1 * 16 * 9 = 144 weights.
  EXPECT_EQ(removals(p), (std::vector<int>{72, 1152, 1152, 1152, 1152, 72}));
}

TEST(Plan, BalanceModeRoundsWidths) {
  const Plan p = plan_of(R"([{"sparsity": 0.3, "op_types": ["Conv2d"]}])", {Mode::Balance, 4});
  // 16 filters: floor(4.8) = 4 removed keeps 12, already a multiple of 4.
  EXPECT_EQ(removals(p), (std::vector<int>{4, 4, 4, 4, 4, 0}));
  const Plan q = plan_of(R"([{"sparsity": 0.45, "op_types": ["Conv2d"]}])", {Mode::Balance, 8});
  EXPECT_EQ(removals(q), (std::vector<int>{8, 8, 8, 8, 8, 0}));  // keep 9 -> 8
}

TEST(Plan, WarnsAboutOpNamesThatMatchNothingAndListsLayers) {
  const Plan p = plan_of(R"([{"sparsity": 0.5, "op_names": ["input", "residual_layer.99.conv"]}])");
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("'residual_layer.99.conv' matches no layer"), std::string::npos);
  EXPECT_NE(p.warnings[0].find("input, residual_layer.0.conv"), std::string::npos);
}

TEST(Plan, RepeatedWarningsBecomeOneLinePerKindWithACount) {
  // A generated config_list of thousands of dicts printed a warning per unmatched name (1.1 million).
  json list = json::array();
  for (int d = 0; d < 1000; ++d) {
    list.push_back({{"sparsity", 0.5}, {"op_names", {"a" + std::to_string(d), "b" + std::to_string(d)}}});
    list.push_back({{"exclude", true}, {"sparsity", 0.1}, {"op_names", {"output"}}});
  }
  list.push_back({{"sparsity", 0.5}, {"op_types", {"Conv2d"}}});
  const Plan p = make_plan(list, vdsr_layers(), {}, "prune.json");
  ASSERT_EQ(p.warnings.size(), 2u);
  EXPECT_EQ(p.warnings[0].rfind("2000 times: a selector entry matches no layer (layers: input, residual_layer.0.conv", 0),
            0u)
      << p.warnings[0];
  EXPECT_NE(p.warnings[0].find("e.g. prune.json: config_list[0].op_names entry 'a0' matches no layer; "
                               "prune.json: config_list[0].op_names entry 'b0' matches no layer; "
                               "prune.json: config_list[2].op_names entry 'a1' matches no layer; ..."),
            std::string::npos)
      << p.warnings[0];
  EXPECT_EQ(p.warnings[1].rfind("1000 times: an exclude dict's sparsity is ignored; e.g. prune.json: config_list[1]", 0),
            0u)
      << p.warnings[1];
  EXPECT_LT(p.warnings[0].size() + p.warnings[1].size(), 1000u);
}

TEST(Plan, FromTextIsBoundedAndNamesTheFile) {
  const Plan p = make_plan_from_text(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}])", vdsr_layers(), {}, "prune.json");
  EXPECT_EQ(p.layers[0].remove, 8);
  const std::string deep = "[{\"op_names\": " + std::string(100000, '[') + std::string(100000, ']') + "}]";
  try {
    make_plan_from_text(deep, vdsr_layers(), {}, "prune.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "prune.json: nested deeper than 64 levels of arrays and objects (the limit)");
  }
}

TEST(Plan, Nni3TargetNamesSelectTheWeight) {
  // NNI 3.0: target_names are the parts of each module compressed; filter pruning removes the weight's
  // filters (and a bias aligned with them, which VDSR does not have).
  const Plan p = plan_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"], "target_names": ["weight", "bias"]}])");
  const Plan q = plan_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"]}])");
  ASSERT_EQ(p.layers.size(), q.layers.size());
  for (size_t l = 0; l < p.layers.size(); ++l) EXPECT_EQ(p.layers[l].remove, q.layers[l].remove);
  EXPECT_NO_THROW(plan_of(R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}, {"exclude": true, "op_names": ["input"], "target_names": ["bias"]}])"));
  EXPECT_NE(error_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"], "target_names": ["weight", "_output_"]}])")
                .find("config_list[0].target_names: '_output_' is an activation; vdsr-prune prunes weights only"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"], "target_names": ["_input_0"]}])")
                .find("'_input_0' is an activation"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"], "target_names": ["running_mean"]}])")
                .find("'running_mean' is not a part of a Conv2d here (expected weight or bias)"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"], "target_names": ["bias"]}])")
                .find("target_names: must include \"weight\""),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"sparse_ratio": 0.5, "op_types": ["Conv2d"], "target_names": "weight"}])")
                .find("target_names: expected a list of strings"),
            std::string::npos);
}

TEST(PlanErrors, NameTheEntryAndKey) {
  struct Case {
    const char* config;
    const char* expected;
  };
  const Case cases[] = {
      {R"([{"sparsity": 1.0, "op_types": ["Conv2d"]}])", "config_list[0].sparsity: expected a number in [0, 1), got 1.0"},
      {R"([{"sparsity": -0.1, "op_types": ["Conv2d"]}])", "config_list[0].sparsity: expected a number in [0, 1)"},
      {R"([{"op_types": ["Conv2d"]}, {"sparsity": 0.5, "sparsity_per_layer": 0.5, "op_types": ["Conv2d"]}])",
       "config_list[0]: no sparsity"},
      {R"([{"sparsity": 0.5, "sparsity_per_layer": 0.5, "op_types": ["Conv2d"]}])",
       "config_list[0].sparsity_per_layer: give either sparsity or sparsity_per_layer"},
      {R"([{"sparsity": 0.5, "op_type": ["Conv2d"]}])", "config_list[0].op_type: unknown key (valid keys: exclude,"},
      {R"([{"sparsity": "half", "op_types": ["Conv2d"]}])", "config_list[0].sparsity: expected a number"},
      {R"([{"sparsity": 0.5, "op_types": "Conv2d"}])", "config_list[0].op_types: expected a list of strings"},
      {R"([{"sparsity": 0.5, "op_types": ["Conv2d"]}, {"sparsity": 0.5}])", "config_list[1]: no layer selector"},
      {R"([{"sparsity": 0.5, "op_names": ["nothing"]}])", "config_list selects no layer"},
      {R"({"sparsity": 0.5, "op_types": ["Conv2d"]})", "config_list must be a JSON array"},
      {R"([0.5])", "config_list[0]: expected a dict"},
      {R"([{"sparsity": 0.5, "exclude": "yes", "op_types": ["Conv2d"]}])", "config_list[0].exclude: expected true or false"},
      {R"([{"sparsity": 0.5, "op_names_re": ["(("]}])", "config_list[0].op_names_re: invalid regular expression"},
      {R"([{"sparsity": 0.5, "op_names_re": ["residua*******\\v"]}])",
       "config_list[0].op_names_re: invalid regular expression 'residua*******\\v' (multiple repeat at position 8)"},
      {R"([{"sparsity": 0.5, "exclude_op_names_re": ["conv+{2}"], "op_types": ["Conv2d"]}])",
       "config_list[0].exclude_op_names_re: invalid regular expression 'conv+{2}' (multiple repeat at position 5)"},
      {R"([{"sparsity": 0.5, "op_names_re": ["(conv)\\1"]}])", "(back-references are not supported at position 6)"},
      {R"([{"sparsity": 0.5, "op_names_re": ["a{2147483648}"]}])", "(repeat count over 999 at position 1)"},
      {R"([{"sparsity": 0.5, "max_sparsity_per_layer": 0.5, "op_types": ["Conv2d"]}])",
       "config_list[0].max_sparsity_per_layer: only applies with total_sparsity"},
      {R"([{"sparsity": 0.5, "total_sparsity": 0.5, "op_types": ["Conv2d"]}])",
       "config_list[0].total_sparsity: more than one sparsity"},
      {R"([{"total_sparsity": 0.5, "max_sparsity_per_layer": {"input": 2}, "op_types": ["Conv2d"]}])",
       "config_list[0].max_sparsity_per_layer.input: expected a number in [0, 1], got 2"},
      {R"([{"total_sparsity": 0.5, "max_sparsity_per_layer": 0, "op_types": ["Conv2d"]}])",
       "config_list[0].max_sparsity_per_layer: expected a number in (0, 1], got 0"},
      {R"([{"sparse_ratio": 0.5, "global_group_id": 1.5, "op_types": ["Conv2d"]}])",
       "config_list[0].global_group_id: expected an integer or a string"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(c.config);
    EXPECT_NE(msg.find("prune.json: "), std::string::npos) << c.config << "\n" << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.config << "\ngot: " << msg;
  }
}

// ---- each pass of make_plan on its own ----

TEST(PlanPasses, ParseReadsEachDictWithoutTheModel) {
  const auto entries = parse_config_list(json::parse(R"([
      {"sparsity": 0.5, "op_types": ["Conv2d"], "exclude_op_names": ["input"]},
      {"exclude": true, "op_names": ["output"], "sparsity": 0.1},
      {"sparse_ratio": 0.3, "global_group_id": "g", "max_sparse_ratio": {"input": 0.2}, "op_partial_names": ["res"]}])"),
                                         "prune.json");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].where, "prune.json: config_list[0]");
  EXPECT_EQ(*entries[0].sparsity, 0.5);
  EXPECT_EQ(*entries[0].selector.types, std::vector<std::string>{"Conv2d"});
  EXPECT_FALSE(entries[0].selector.by_name);
  EXPECT_EQ(entries[0].selector.exclude_names, std::vector<std::string>{"input"});
  EXPECT_TRUE(entries[1].exclude);
  EXPECT_FALSE(entries[1].sparsity);
  ASSERT_EQ(entries[1].warnings.size(), 1u);  // an exclude dict's sparsity is ignored
  ASSERT_TRUE(entries[2].target);
  EXPECT_EQ(entries[2].target->id, "global_group_id g");
  EXPECT_EQ(entries[2].target->max_by_name.at("input"), 0.2);
  EXPECT_TRUE(entries[2].selector.by_name);
}

TEST(PlanPasses, SelectUnitesNamesIntersectsTypesAndWarnsPerUnmatchedName) {
  const auto entries = parse_config_list(json::parse(R"([
      {"sparsity": 0.5, "op_names": ["input", "conv9"], "op_names_re": ["residual_layer\\.[01].*"],
       "op_types": ["Conv2d"], "exclude_op_names": ["residual_layer.1.conv"]}])"), "prune.json");
  const Selection s = select_layers(entries[0], vdsr_layers());
  EXPECT_EQ(s.layers, (std::set<int>{0, 1}));
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("prune.json: config_list[0].op_names entry 'conv9' matches no layer"), std::string::npos);
}

TEST(PlanPasses, ResolveJoinsDictsOfOneGlobalGroupId) {
  const auto entries = parse_config_list(json::parse(R"([
      {"sparse_ratio": 0.3, "global_group_id": 1, "op_names": ["input"]},
      {"sparsity": 0.5, "op_names": ["output"]},
      {"sparse_ratio": 0.3, "global_group_id": 1, "max_sparse_ratio": 0.6, "op_names": ["output"]},
      {"total_sparsity": 0.2, "op_names": ["input"]}])"), "prune.json");
  const Grouping g = resolve_groups(entries);
  EXPECT_EQ(g.group_of, (std::vector<int>{0, -1, 0, 1}));
  ASSERT_EQ(g.groups.size(), 2u);
  EXPECT_EQ(g.groups[0].id, "global_group_id 1");
  EXPECT_DOUBLE_EQ(g.groups[0].max_per_layer, 0.6);
  EXPECT_EQ(g.groups[1].id, "config_list[3]");
}

TEST(PlanPasses, LastMatchWinsPerLayer) {
  const auto entries = parse_config_list(json::parse(R"([
      {"sparsity": 0.5, "op_types": ["Conv2d"]},
      {"exclude": true, "op_names": ["input"]},
      {"total_sparsity": 0.25, "op_names": ["residual_layer.3.conv"]}])"), "prune.json");
  std::vector<Selection> selections;
  for (const auto& e : entries) selections.push_back(select_layers(e, vdsr_layers()));
  Grouping grouping = resolve_groups(entries);
  const auto plans = last_match_wins(vdsr_layers(), entries, selections, grouping, {});
  std::vector<int> dicts;
  for (const auto& lp : plans) dicts.push_back(lp.dict);
  EXPECT_EQ(dicts, (std::vector<int>{1, 0, 0, 0, 2, 0}));
  EXPECT_EQ(plans[0].note, "excluded by config_list[1]");
  EXPECT_EQ(plans[4].group, 0);
  EXPECT_EQ(grouping.groups[0].layers, std::vector<int>{4});
}

TEST(PlanPasses, ModeNamesComeFromOneTable) {
  EXPECT_EQ(parse_mode("dependency_aware"), Mode::DependencyAware);
  EXPECT_EQ(mode_name(Mode::Balance), "balance");
  EXPECT_EQ(name_of(Granularity::kWeight), "weight");
}
