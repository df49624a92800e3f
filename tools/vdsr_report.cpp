// vdsr-report: read the reports every tool writes (validated against the contract) and show one, diff
// two, or table a model and its optimized variants, as Markdown, JSON or one self-contained HTML file.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "hpo/live_page.h"
#include "report/render.h"
#include "report/report.h"
#include "tools/cli/common.h"
#include "vdsr/comparison.h"
#include "vdsr/evaluation.h"
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

// A path as a report writes it (relative to the working directory, or under ${assets}) made usable here.
fs::path resolve(const std::string& path) {
  const std::string prefix = "${assets}";
  if (path.rfind(prefix, 0) == 0) return assets_dir() / path.substr(std::min(path.size(), prefix.size() + 1));
  return path;
}

struct PictureFlags {
  bool enabled = false;
  std::vector<std::string> images;
  std::string crop;
  int crop_size = 96, scale = 0;

  void add_to(CLI::App& app) {
    app.add_flag("--pictures", enabled,
                 "add a visual comparison: the same crop of ground truth, bicubic and each variant's model, "
                 "with its PSNR (runs the models on the CPU)");
    app.add_option("--images", images,
                   "images of the dataset to show (names like 'butterfly' or files; default: the two whose "
                   "per-image PSNR differs most between the variants)");
    app.add_option("--crop", crop, "X,Y: the crop's top-left corner in the image (default: where the variants "
                                   "differ most)");
    app.add_option("--crop-size", crop_size, "side of the crop in pixels, a multiple of the scale")
        ->capture_default_str()
        ->check(cli::integer_at_least(1));
    app.add_option("--scale", scale, "scale of the comparison (default: the table's first)")->check(CLI::Range(2, 8));
  }
};

// The dataset's folder: the one a report's config names (vdsr-eval --dataset), else the name itself.
std::string dataset_source(const std::vector<report::Named>& variants, const std::string& dataset) {
  for (const auto& v : variants) {
    const auto& given = v.report.value("config", nlohmann::json::object()).value("dataset", nlohmann::json());
    if (given.is_string() && fs::path(given.get<std::string>()).filename() == dataset)
      return resolve(given.get<std::string>()).string();
  }
  return dataset;
}

// The images to show: the named ones, else the two whose per-image PSNR spreads most across the variants.
std::vector<fs::path> chosen_images(const std::vector<report::Named>& variants, const std::string& dataset,
                                    int scale, const std::vector<std::string>& wanted) {
  const std::vector<fs::path> all = dataset_images(dataset_source(variants, dataset));
  std::vector<fs::path> out;
  for (const auto& name : cli::split_list(wanted)) {
    if (fs::is_regular_file(name)) {
      out.push_back(name);
      continue;
    }
    const auto it = std::find_if(all.begin(), all.end(), [&](const fs::path& p) { return p.stem() == name || p.filename() == name; });
    if (it == all.end()) throw Error("--images: no image '" + name + "' in the dataset " + dataset);
    out.push_back(*it);
  }
  if (!out.empty()) return out;
  std::vector<std::pair<double, fs::path>> spread;
  for (const auto& path : all) {
    double lo = 1e9, hi = -1e9;
    for (const auto& v : variants) {
      const auto& images = v.report.value("quality", nlohmann::json::object())
                               .value(dataset, nlohmann::json::object())
                               .value("x" + std::to_string(scale), nlohmann::json::object())
                               .value("images", nlohmann::json::object());
      const auto& entry = images.value(path.stem().string(), nlohmann::json::object());
      if (entry.contains("psnr") && entry["psnr"].is_number()) {
        lo = std::min(lo, entry["psnr"].get<double>());
        hi = std::max(hi, entry["psnr"].get<double>());
      }
    }
    spread.push_back({hi >= lo ? hi - lo : 0.0, path});
  }
  std::stable_sort(spread.begin(), spread.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < spread.size() && i < 2; ++i) out.push_back(spread[i].second);
  return out;
}

std::vector<report::PictureComparison> pictures(const std::vector<report::Named>& variants, const std::string& wanted,
                                                const PictureFlags& flags) {
  const std::string dataset = report::table_dataset(variants, wanted);
  if (dataset.empty()) throw Error("--pictures: no report names a dataset; give --dataset");
  int scale = flags.scale;
  if (scale == 0) {
    for (const auto& row : report::table_rows(variants, dataset))
      if (!row.psnr.empty()) {
        scale = row.psnr.begin()->first;
        break;
      }
    if (scale == 0) scale = 2;
  }
  // One model per variant that names one; a model shown twice (a checkpoint and its ONNX export) once.
  std::vector<ComparedModel> models;
  std::set<std::string> seen;
  for (const auto& v : variants) {
    const auto& path = v.report.value("model", nlohmann::json::object()).value("path", nlohmann::json());
    if (!path.is_string() || !seen.insert(path.get<std::string>()).second) continue;
    const fs::path file = resolve(path.get<std::string>());
    if (!fs::exists(file)) throw Error("--pictures: the model of '" + v.name + "', " + file.string() + ", is missing");
    models.push_back({v.name, file});
  }
  if (models.empty()) throw Error("--pictures: no report among the inputs names a model (model.path)");
  CropOptions options;
  options.scale = scale;
  options.size = flags.crop_size;
  if (!flags.crop.empty()) {
    const std::vector<int> xy = cli::parse_int_list({flags.crop}, "--crop", 0, 1 << 20);
    if (xy.size() != 2) throw Error("--crop: expected X,Y, got '" + flags.crop + "'");
    options.left = xy[0], options.top = xy[1];
  }
  std::vector<report::PictureComparison> out;
  for (const auto& image : chosen_images(variants, dataset, scale, flags.images)) {
    const CropComparison c = compare_crop(image, models, options);
    report::PictureComparison p{c.image, c.left, c.top, c.size, c.scale, c.automatic, {}};
    for (const auto& picture : c.pictures) p.pictures.push_back({picture.label, picture.psnr, encode_png(picture.rgb)});
    out.push_back(std::move(p));
  }
  return out;
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
  PictureFlags picture_flags;
  picture_flags.add_to(*table);

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
      const auto shown = picture_flags.enabled ? pictures(variants, table_dataset, picture_flags)
                                               : std::vector<report::PictureComparison>{};
      emit(report::render_table(variants, report::parse_format(table_format), table_dataset, shown), table_out);
    }
    return 0;
  });
}
