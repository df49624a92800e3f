// vdsr-report: read the reports every tool writes (validated against the contract) and show one, diff
// two, or table a model and its optimized variants, as Markdown, JSON or one self-contained HTML file.
#include <cstdio>
#include <filesystem>

#include "hpo/live_page.h"
#include "report/render.h"
#include "report/report.h"
#include "tools/cli/common.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
namespace fs = std::filesystem;

namespace {

void emit(const std::string& text, const std::string& out) {
  if (out.empty())
    std::fwrite(text.data(), 1, text.size(), stdout);
  else
    write_file_atomically(out, text);
}

std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }

// "[NAME=]R.json[+R2.json...]": the reports merged into one row, later keys winning.
report::Named variant(const std::string& arg) {
  std::string name, files = arg;
  const auto eq = arg.find('=');
  if (eq != std::string::npos && !fs::exists(arg)) {
    name = arg.substr(0, eq);
    files = arg.substr(eq + 1);
    if (name.empty()) throw Error("'" + arg + "': empty NAME before '='");
  }
  std::vector<std::string> paths;
  if (fs::exists(files)) {
    paths.push_back(files);
  } else {
    for (size_t start = 0;;) {
      const auto plus = files.find('+', start);
      paths.push_back(files.substr(start, plus == std::string::npos ? std::string::npos : plus - start));
      if (plus == std::string::npos) break;
      start = plus + 1;
    }
  }
  std::vector<nlohmann::json> reports;
  for (const auto& p : paths) {
    if (p.empty()) throw Error("'" + arg + "': empty report path");
    reports.push_back(report::read(p));
  }
  nlohmann::json merged = report::merge(reports);
  if (name.empty()) name = report::default_name(merged);
  return {name, merged};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Show, compare and tabulate vdsr-report/1 JSON reports (docs/report-schema.md)."};
  app.require_subcommand(1);

  std::string show_path, show_out;
  auto* show = app.add_subcommand("show", "readable summary of one report, or of a vdsr-tune experiment folder");
  show->add_option("report", show_path, "report JSON, or an experiment folder (DIR of vdsr-tune)")->required();
  show->add_option("--out", show_out, "write here (atomically) instead of stdout");

  std::string diff_a, diff_b, diff_format = "md", diff_out;
  bool diff_all = false;
  auto* diff = app.add_subcommand("diff", "side by side with absolute and relative deltas");
  diff->add_option("a", diff_a, "first report (A)")->required();
  diff->add_option("b", diff_b, "second report (B)")->required();
  diff->add_option("--format", diff_format, "md | html | json")->check(CLI::IsMember({"md", "html", "json"}));
  diff->add_option("--out", diff_out, "write here (atomically) instead of stdout");
  diff->add_flag("--all", diff_all, "show unchanged rows, per-image entries and every array element");

  std::vector<std::string> table_inputs;
  std::string table_format = "md", table_dataset, table_out;
  auto* table = app.add_subcommand("table", "the original model and its optimized variants, one row each");
  table->add_option("reports", table_inputs, "[NAME=]R.json[+R2.json...]; '+' merges reports into one row")
      ->required();
  table->add_option("--format", table_format, "md | html")->check(CLI::IsMember({"md", "html"}));
  table->add_option("--dataset", table_dataset, "dataset of the PSNR columns (default: the first report's first)");
  table->add_option("--out", table_out, "write here (atomically) instead of stdout");

  return cli::run(app, argc, argv, [&] {
    if (*show) {
      emit(fs::is_directory(show_path) ? hpo::experiment_summary(show_path) : report::show(report::read(show_path)),
           show_out);
    } else if (*diff) {
      const report::Named a{file_name(diff_a), report::read(diff_a)};
      const report::Named b{file_name(diff_b), report::read(diff_b)};
      emit(report::render_diff(a, b, report::parse_format(diff_format), diff_all), diff_out);
    } else {
      std::vector<report::Named> variants;
      for (const auto& arg : table_inputs) variants.push_back(variant(arg));
      emit(report::render_table(variants, report::parse_format(table_format), table_dataset), table_out);
    }
    return 0;
  });
}
