// vdsr-report's rendering on synthetic reports: diff rows and deltas, folding, one-sided keys, the
// variants table with merged reports and ratios, and well-formed SVG charts with one point per datum.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "report/render.h"
#include "report_samples.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using nlohmann::json;
using report::Format;
using report::Named;
using test::count;

namespace {

const report::DiffRow* find_row(const std::vector<report::DiffRow>& rows, const std::string& key) {
  for (const auto& r : rows)
    if (r.key == key) return &r;
  return nullptr;
}

}  // namespace

TEST(ReportFlatten, SkipsImagesSummarisesObjectArraysAndSplitsWidths) {
  const auto flat = report::flatten(test::prune_report(), false);
  EXPECT_TRUE(flat.count("quality.Set5.x2.psnr"));
  EXPECT_FALSE(flat.count("quality.Set5.x2.images.baby.psnr"));
  EXPECT_EQ(flat.at("prune.layers.count"), 1);
  EXPECT_EQ(flat.at("model.widths[18]"), 32);
  EXPECT_EQ(flat.at("config.scales"), json({2, 4}));
  EXPECT_EQ(flat.at("speed.libtorch.input"), json({256, 256}));

  const auto all = report::flatten(test::prune_report(), true);
  EXPECT_EQ(all.at("quality.Set5.x2.images.baby.psnr"), 34.69);
  EXPECT_EQ(all.at("prune.layers[0].out_after"), 32);
  EXPECT_EQ(all.at("config.scales[1]"), 4);
}

TEST(ReportDiff, DeltasSectionsAndOneSidedKeys) {
  const json a = test::eval_report(64, 37.65, 31.45);
  json b = test::prune_report();  // width 32, 33.69 / 28.43, plus speed, files and prune blocks
  b["quality"]["Set5"].erase("x4");
  const auto rows = report::diff_rows(a, b, false);

  const auto* psnr = find_row(rows, "quality.Set5.x2.psnr");
  ASSERT_NE(psnr, nullptr);
  EXPECT_EQ(psnr->section, "Quality");
  EXPECT_TRUE(psnr->changed);
  EXPECT_NEAR(*psnr->delta, 33.69 - 37.65, 1e-9);
  EXPECT_NEAR(*psnr->rel, (33.69 - 37.65) / 37.65, 1e-12);

  const auto* params = find_row(rows, "model.params");
  ASSERT_NE(params, nullptr);
  EXPECT_EQ(params->section, "Model");
  EXPECT_DOUBLE_EQ(*params->delta, 166464.0 - 664704.0);
  EXPECT_NEAR(*params->rel, -0.7496, 1e-4);

  const auto* width = find_row(rows, "model.widths[3]");
  ASSERT_NE(width, nullptr);
  EXPECT_EQ(width->section, "Widths");
  EXPECT_DOUBLE_EQ(*width->rel, -0.5);

  const auto* only_a = find_row(rows, "quality.Set5.x4.psnr");
  ASSERT_NE(only_a, nullptr);
  EXPECT_TRUE(only_a->in_a);
  EXPECT_FALSE(only_a->in_b);
  EXPECT_FALSE(only_a->delta.has_value());

  const auto* only_b = find_row(rows, "speed.libtorch.latency_ms.median");
  ASSERT_NE(only_b, nullptr);
  EXPECT_EQ(only_b->section, "Speed");
  EXPECT_FALSE(only_b->in_a);

  const auto* same = find_row(rows, "quality.Set5.x2.ssim");
  ASSERT_NE(same, nullptr);
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(*same->delta, 0.0);

  EXPECT_EQ(find_row(rows, "config.scales")->section, "Hyper-parameters");
  EXPECT_EQ(find_row(rows, "files.checkpoint.bytes")->section, "Files");
  EXPECT_EQ(find_row(rows, "prune.totals.macs_ratio")->section, "Prune");
  // Sections come in display order, widths in layer order.
  EXPECT_EQ(rows.front().section, "Quality");
  EXPECT_EQ(rows.back().section, "Header");
  size_t w2 = 0, w10 = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].key == "model.widths[2]") w2 = i;
    if (rows[i].key == "model.widths[10]") w10 = i;
  }
  EXPECT_LT(w2, w10);
}

TEST(ReportDiff, MarkdownFoldsUnchangedRowsUnlessAll) {
  const json a = test::eval_report(64, 37.65, 31.45);
  json b = a;
  b["quality"]["Set5"]["x2"]["psnr"] = 38.0;
  b["model"]["bytes"] = 2000000;
  b["config"]["lr"] = 0.1;
  const std::string md = report::render_diff({"a.json", a}, {"b.json", b}, Format::Markdown, false);
  EXPECT_NE(md.find("| quality.Set5.x2.psnr | 37.65 | 38 | +0.35 | +0.93% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| model.bytes | 2665109 | 2000000 | -665109 | -24.96% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| config.lr | \u2014 | 0.1 |  |  |"), std::string::npos) << md;
  // Quality: x2 and x4 have 5 leaves each (psnr, ssim, bicubic_psnr, bicubic_ssim... ) minus the changed one.
  EXPECT_NE(md.find("_7 unchanged rows_"), std::string::npos) << md;
  EXPECT_EQ(md.find("quality.Set5.x2.ssim"), std::string::npos);
  EXPECT_EQ(md.find("images"), std::string::npos);

  const std::string all = report::render_diff({"a.json", a}, {"b.json", b}, Format::Markdown, true);
  EXPECT_NE(all.find("| quality.Set5.x2.ssim | 0.9 | 0.9 | +0 | +0.00% |"), std::string::npos) << all;
  EXPECT_NE(all.find("quality.Set5.x2.images.baby.psnr"), std::string::npos);
  EXPECT_EQ(all.find("unchanged row"), std::string::npos);

  EXPECT_NE(report::render_diff({"a", a}, {"b", a}, Format::Markdown, false).find("No differences."), std::string::npos);
}

TEST(ReportDiff, JsonRowsAreMachineReadable) {
  const json a = test::eval_report(64, 37.65, 31.45);
  json b = test::eval_report(32, 33.69, 31.45);
  b["quality"].erase("Set5");
  b["quality"]["Set14"]["x2"]["psnr"] = 30.0;
  const json out = json::parse(report::render_diff({"a.json", a}, {"b.json", b}, Format::Json, false));
  EXPECT_EQ(out["a"], "a.json");
  EXPECT_GT(out["unchanged"].get<int>(), 0);
  bool params = false, only_a = false, only_b = false;
  for (const auto& row : out["rows"]) {
    for (const char* k : {"section", "key", "a", "b", "delta", "rel"}) EXPECT_TRUE(row.contains(k)) << row.dump();
    if (row["key"] == "model.params") {
      params = true;
      EXPECT_EQ(row["a"], 664704);
      EXPECT_EQ(row["b"], 166464);
      EXPECT_DOUBLE_EQ(row["delta"].get<double>(), -498240.0);
      EXPECT_NEAR(row["rel"].get<double>(), -498240.0 / 664704.0, 1e-12);
    }
    if (row["key"] == "quality.Set5.x2.psnr") only_a = row["only"] == "a" && row["b"].is_null() && row["delta"].is_null();
    if (row["key"] == "quality.Set14.x2.psnr") only_b = row["only"] == "b" && row["a"].is_null();
  }
  EXPECT_TRUE(params && only_a && only_b) << out.dump(1);
}

TEST(ReportDiff, HtmlEscapesAndRendersTables) {
  json a = test::eval_report();
  json b = test::eval_report(32);
  b["config"]["note"] = "<script>alert('x')</script> & more";
  const std::string html = report::render_diff({"a<1>.json", a}, {"b.json", b}, Format::Html, false);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"), std::string::npos);
  EXPECT_NE(html.find("a&lt;1&gt;.json"), std::string::npos);
  EXPECT_NE(html.find("<h2>Widths</h2>"), std::string::npos);
  EXPECT_EQ(count(html, "<table>"), count(html, "</table>"));
  EXPECT_EQ(html.find("http"), std::string::npos) << "self-contained: no external resources";
}

TEST(ReportTable, MergeLaterKeysWinDeeply) {
  const json merged = report::merge({test::eval_report(), test::bench_report(80, 40)});
  EXPECT_EQ(merged["stage"], "bench");
  EXPECT_EQ(merged["model"]["params"], 664704);
  EXPECT_EQ(merged["speed"]["onnxruntime"]["latency_ms"]["median"], 40.0);
  json x = {{"a", {{"b", 1}, {"c", 2}}}}, y = {{"a", {{"c", 3}}}, {"d", 4}};
  EXPECT_EQ(report::merge({x, y}), json({{"a", {{"b", 1}, {"c", 3}}}, {"d", 4}}));
}

TEST(ReportTable, RowsRatiosAndNames) {
  const std::vector<Named> variants = {
      {"original", report::merge({test::eval_report(), test::bench_report(80, 40)})},
      {"pruned", report::merge({test::prune_report(), test::export_report()})},
      {report::default_name(test::tune_report()), test::tune_report()},
  };
  EXPECT_EQ(report::default_name(test::eval_report()), "eval: vdsr.pt");
  EXPECT_EQ(report::default_name(test::tune_report()), "tune");
  EXPECT_EQ(report::table_dataset(variants, ""), "Set5");

  const auto rows = report::table_rows(variants, "Set5");
  ASSERT_EQ(rows.size(), 2u);  // the tune report has no model, quality or speed
  EXPECT_EQ(rows[0].psnr.at(2), 37.65);
  EXPECT_EQ(rows[1].psnr.at(4), 28.43);
  EXPECT_EQ(rows[0].size_source, "model");
  EXPECT_EQ(*rows[0].size_bytes, 2665109);
  EXPECT_EQ(rows[1].size_source, "onnx");
  EXPECT_EQ(*rows[1].size_bytes, 673753);
  EXPECT_EQ(rows[0].speed.at("libtorch").median_ms, 80);
  EXPECT_EQ(rows[1].speed.at("onnxruntime").median_ms, 50);  // export's speed wins over none
  EXPECT_EQ(rows[1].speed.at("libtorch").height, 256);

  const std::string md = report::render_table(variants, Format::Markdown, "");
  EXPECT_NE(md.find("| variant | Set5 x2 PSNR (dB) | Set5 x4 PSNR (dB) | size | libtorch latency (ms) | "
                    "onnxruntime latency (ms) | params | MACs/pixel | MACs @ latency input |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| original | 37.650 | 31.450 | 2.67 MB model | 80.00 @256\u00d7256 | 40.00 @256\u00d7256 | 664,704 | "
                    "664,704 | 43.56 G @256\u00d7256 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| pruned | 33.690 (-3.960) | 28.430 (-3.020) | 673.8 KB onnx (\u00d70.253) | 100.00 @256\u00d7256 "
                    "(\u00d71.25) | 50.00 @256\u00d7256 (\u00d71.25) | 166,464 (\u00d70.25) | 166,464 (\u00d70.25) |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("## Tuning: tune"), std::string::npos);
  EXPECT_NE(md.find("best: trial 6"), std::string::npos);

  // Another dataset: PSNR columns come from it only.
  const std::string set14 = report::render_table(variants, Format::Markdown, "Set14");
  EXPECT_EQ(set14.find("x2 PSNR"), std::string::npos);
  EXPECT_THROW(report::render_table(variants, Format::Json, ""), Error);
}

TEST(ReportTable, HtmlIsSelfContainedWithWellFormedCharts) {
  json tiny = test::eval_report(16, 35.1, 29.0);
  tiny["model"]["path"] = "tiny<&>.ckpt";
  const std::vector<Named> variants = {
      {"original", test::eval_report()},
      {"pruned", report::merge({test::prune_report(), test::export_report()})},
      {report::default_name(tiny), tiny},
      {"tune", test::tune_report(7)},
  };
  const std::string html = report::render_table(variants, Format::Html, "");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const char* external : {"<link", "<script", "src=", "@import", "url("})
    EXPECT_EQ(html.find(external), std::string::npos) << external;
  EXPECT_NE(html.find("eval: tiny&lt;&amp;&gt;.ckpt"), std::string::npos);
  EXPECT_EQ(html.find("tiny<&>"), std::string::npos);

  const auto svgs = test::svg_blocks(html);
  ASSERT_EQ(svgs.size(), 4u);  // PSNR vs MACs, PSNR vs size, trials, parallel coordinates
  for (const auto& svg : svgs) {
    EXPECT_EQ(test::xml_problem(svg), "") << svg;
    EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
    EXPECT_GE(count(svg, "class=\"tick\""), 2u);
    EXPECT_GE(count(svg, "class=\"axis-label\""), 1u);
  }
  EXPECT_EQ(count(svgs[0], "<circle class=\"point\""), 3u);  // three variants with PSNR and MACs
  EXPECT_EQ(count(svgs[1], "<circle class=\"point\""), 3u);
  EXPECT_NE(svgs[0].find(">eval: tiny&lt;&amp;&gt;.ckpt</text>"), std::string::npos);
  EXPECT_EQ(count(svgs[2], "<circle class=\"point\""), 6u);  // 7 trials, one failed
  EXPECT_EQ(count(svgs[2], "class=\"best\""), 1u);
  EXPECT_EQ(count(svgs[3], "<polyline class=\"trial\""), 6u);
  EXPECT_EQ(count(svgs[3], "class=\"legend\""), 1u);
  EXPECT_NE(svgs[3].find("a&lt;b"), std::string::npos);  // categorical values, escaped
  EXPECT_NE(svgs[3].find("lr (log)"), std::string::npos);
}

TEST(ReportSvg, ScatterHandlesOneOrNoPoint) {
  for (const auto& points : {std::vector<report::Point>{}, std::vector<report::Point>{{"only", 5, 5}}}) {
    const std::string svg = report::scatter_svg("t & t", "x", "y", points);
    EXPECT_EQ(test::xml_problem(svg), "") << svg;
    EXPECT_EQ(count(svg, "<circle class=\"point\""), points.size());
    EXPECT_EQ(svg.find("nan"), std::string::npos) << svg;
    EXPECT_EQ(svg.find("inf"), std::string::npos) << svg;
  }
}

TEST(ReportSvg, CheckerCatchesBrokenXml) {
  EXPECT_EQ(test::xml_problem("<svg><g/></svg>"), "");
  EXPECT_NE(test::xml_problem("<svg><g></svg>"), "");
  EXPECT_NE(test::xml_problem("<svg><text>a & b</text></svg>"), "");
  EXPECT_NE(test::xml_problem("<svg x=1></svg>"), "");
  EXPECT_NE(test::xml_problem("<svg></svg><svg></svg>"), "");
}

TEST(ReportShow, SummarisesEveryBlock) {
  const std::string prune = report::show(report::merge({test::prune_report(), test::export_report()}));
  for (const char* part : {"# export report", "widths: 32\u00d719", "| Set5 | x2 | 33.690 | 0.9000 | 30.690 | +3.000 |",
                           "| libtorch | 256\u00d7256 | 2 | 100.00 |", "layers: 1 (1 narrowed)", "- macs_ratio: 0.25",
                           "onnx: p.onnx, 673.8 KB, opset 13", "| files.checkpoint | pruned.ckpt | 672.0 KB |"})
    EXPECT_NE(prune.find(part), std::string::npos) << part << "\n" << prune;
  const std::string tune = report::show(test::tune_report());
  EXPECT_NE(tune.find("best: trial 6, value 0.166667"), std::string::npos) << tune;
  const std::string bench = report::show(test::bench_report(12.5, 6));
  EXPECT_NE(bench.find("| m | libtorch | fp32 | 256\u00d7256 | 2 | 12.50 | 5 | 120.5 |"), std::string::npos) << bench;
}

// Counts are grouped as integers; one no 64-bit integer holds (a hand-edited report; found by fuzz_report)
// is shown as a number instead of overflowing.
TEST(ReportShow, CountsBeyondAnIntegerAreShownNotOverflowed) {
  json r = test::prune_report();
  r["model"]["params"] = 664704;
  EXPECT_NE(report::show(r).find("params 664,704"), std::string::npos) << report::show(r);
  r["model"]["params"] = -664704;
  EXPECT_NE(report::show(r).find("params -664,704"), std::string::npos) << report::show(r);
  r["model"]["params"] = 16646555555555555554.0;
  EXPECT_NE(report::show(r).find("params 1.66e+19"), std::string::npos) << report::show(r);
  r["model"]["params"] = -9.3e18;
  EXPECT_NE(report::show(r).find("params -9.3e+18"), std::string::npos) << report::show(r);
}

namespace {

// The tick labels of each axis of a parallel-coordinates chart, keyed by the axis' x position.
std::map<std::string, std::vector<std::string>> axis_ticks(const std::string& svg) {
  std::map<std::string, std::vector<std::string>> out;
  const std::string open = "<text class=\"tick-label\" x=\"";
  for (size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const size_t x_end = svg.find('"', at + open.size());
    const size_t text_start = svg.find('>', x_end) + 1;
    out[svg.substr(at + open.size(), x_end - at - open.size())].push_back(
        svg.substr(text_start, svg.find("</text>", text_start) - text_start));
  }
  return out;
}

json space_report() {
  json trials = json::array();
  const double xs[] = {0.0, 0.4, 1.0}, lrs[] = {1e-4, 3e-3, 0.1}, wds[] = {1e-4, 1e-5, 1e-4};
  for (int i = 0; i < 3; ++i)
    trials.push_back({{"id", i + 1},
                      {"params", {{"x", xs[i]}, {"lr", lrs[i]}, {"wd", wds[i]}}},
                      {"status", "SUCCEEDED"},
                      {"final", 0.5 + i},
                      {"intermediate", json::array()},
                      {"seconds", 1.0}});
  json r = test::tune_report(1);
  r["tune"]["trials"] = trials;
  r["config"]["searchSpace"] = {{"x", {{"_type", "uniform"}, {"_value", {0, 1}}}},
                                {"lr", {{"_type", "loguniform"}, {"_value", {1e-4, 0.1}}}},
                                {"wd", {{"_type", "choice"}, {"_value", {1e-4, 1e-5, 1e-3}}}}};
  return r;
}

}  // namespace

TEST(ReportSvg, ParallelAxesFollowTheSearchSpace) {
  const std::string svg = report::parallel_svg(space_report());
  ASSERT_EQ(test::xml_problem(svg), "") << svg;
  const auto ticks = axis_ticks(svg);
  ASSERT_EQ(ticks.size(), 4u);  // lr, wd, x (sorted), then the result
  std::vector<std::vector<std::string>> columns;
  for (const auto& [x, labels] : ticks) columns.push_back(labels);
  // loguniform [1e-4, 0.1]: a log axis spanning exactly the bounds, labelled at the decades.
  EXPECT_NE(svg.find(">lr (log)</text>"), std::string::npos);
  EXPECT_NE(std::find(columns.begin(), columns.end(), std::vector<std::string>{"0.0001", "0.001", "0.01", "0.1"}),
            columns.end());
  // choice: categorical, the space's options in its order, including the one no trial drew.
  EXPECT_NE(std::find(columns.begin(), columns.end(), std::vector<std::string>{"0.0001", "1e-05", "0.001"}),
            columns.end());
  EXPECT_EQ(svg.find(">wd (log)</text>"), std::string::npos);
  EXPECT_EQ(svg.find("0.00012"), std::string::npos) << "no numeric axis for a choice";
  // uniform [0, 1]: from 0 to 1, no padding beyond the bounds.
  bool found_x = false;
  for (const auto& labels : columns)
    if (labels.front() == "0" && labels.back() == "1") found_x = true;
  EXPECT_TRUE(found_x) << svg;
  EXPECT_EQ(svg.find(">-0.2<"), std::string::npos);
  EXPECT_EQ(svg.find(">1.2<"), std::string::npos);
  // The trial at x = 0 touches the bottom of the x axis, the one at x = 1 its top (columns at 80, 233.3,
  // 386.7, 540 px; the axes run from y 336 up to 54); lr 1e-4 and 0.1 likewise on theirs.
  EXPECT_NE(svg.find("386.7,336.0"), std::string::npos);
  EXPECT_NE(svg.find("386.7,54.0"), std::string::npos);
  EXPECT_NE(svg.find("80.0,336.0"), std::string::npos);
  EXPECT_NE(svg.find("80.0,54.0"), std::string::npos);
  // wd 1e-4 is the first option (bottom), 1e-5 the middle one.
  EXPECT_NE(svg.find("233.3,336.0"), std::string::npos);
  EXPECT_NE(svg.find("233.3,195.0"), std::string::npos);
}

TEST(ReportSvg, WithoutASpaceAxesComeFromTheValues) {
  json r = space_report();
  r["config"].erase("searchSpace");
  const std::string svg = report::parallel_svg(r);
  ASSERT_EQ(test::xml_problem(svg), "") << svg;
  EXPECT_NE(svg.find(">lr (log)</text>"), std::string::npos);  // spans 1000x: log by the values
  EXPECT_EQ(count(svg, "<polyline class=\"trial\""), 3u);
}

TEST(ReportSvg, CurvesDrawOneLinePerTrialWithIntermediates) {
  json r = space_report();
  r["tune"]["trials"][0]["intermediate"] = {{{"step", 1}, {"value", 0.9}}, {{"step", 2}, {"value", 0.7}}};
  r["tune"]["trials"][2]["intermediate"] = {{{"step", 1}, {"value", {{"default", 0.8}, {"psnr", 30}}}}};
  const std::string svg = report::curves_svg(r);
  ASSERT_EQ(test::xml_problem(svg), "") << svg;
  EXPECT_EQ(count(svg, "<polyline class=\"curve\""), 2u);
  EXPECT_NE(svg.find(">#1</text>"), std::string::npos);
  EXPECT_NE(svg.find(">#3</text>"), std::string::npos);
}
