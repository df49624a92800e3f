#pragma once
// What vdsr-report prints: one report's summary, the diff of two reports, and the table of a model and
// its optimized variants, as Markdown, JSON or one self-contained HTML file with inline SVG charts.
// JSON only, no LibTorch; reports come in already validated (report::read).
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vdsr::report {

enum class Format { Markdown, Html, Json };
Format parse_format(const std::string& name);  // "md" | "html" | "json"; throws vdsr::Error otherwise

// A report with the name it is shown under (a file name, or NAME= on the command line).
struct Named {
  std::string name;
  nlohmann::json report;
};

// ---- show ----

// A readable summary: header, model, quality and speed tables, and the stage's extras.
std::string show(const nlohmann::json& report);

// ---- diff ----

// Leaf key paths of a report ("quality.Set5.x2.psnr" -> 37.65). Arrays of scalars are one value except
// model.widths (one row per layer); arrays of objects (prune.layers, train.epochs, tune.trials) become a
// "<key>.count" row; per-image quality entries are skipped. `all` keeps everything, arrays indexed.
std::map<std::string, nlohmann::json> flatten(const nlohmann::json& report, bool all);

struct DiffRow {
  std::string section;  // "Quality", "Speed", "Model", "Widths", "Files", "Hyper-parameters", ...
  std::string key;
  nlohmann::json a, b;  // null where the side lacks the key (see in_a / in_b)
  bool in_a = false, in_b = false;
  bool changed = false;
  std::optional<double> delta, rel;  // b - a and (b - a) / |a|, for numbers on both sides
};

// Every key of either report, grouped into sections (in display order), keys sorted within a section.
std::vector<DiffRow> diff_rows(const nlohmann::json& a, const nlohmann::json& b, bool all);

// The diff as Markdown/HTML tables per section (unchanged rows folded into a count unless `all`) or as
// JSON {a, b, rows: [{section, key, a, b, delta, rel, only?}], unchanged}.
std::string render_diff(const Named& a, const Named& b, Format format, bool all);

// ---- table ----

// Deep merge: objects merge key by key, anything else is replaced; later reports win.
nlohmann::json merge(const std::vector<nlohmann::json>& reports);

// "<stage>: <model file name>", or the stage alone when the report names no model.
std::string default_name(const nlohmann::json& report);

struct Latency {
  double median_ms = 0;
  int height = 0, width = 0;
};

// One variant's figures; the first row is the base the ratios refer to.
struct TableRow {
  std::string name;
  std::map<int, double> psnr;           // scale -> PSNR on the table's dataset
  std::optional<double> size_bytes;     // export.files.onnx.bytes, else model.bytes
  std::string size_source;              // "onnx" | "model"
  std::map<std::string, Latency> speed; // runtime -> median latency and input size
  std::optional<double> params, macs_per_pixel;
};

// The dataset a table shows: `wanted` when given, else the first dataset of the first report with one.
std::string table_dataset(const std::vector<Named>& variants, const std::string& wanted);

// Rows of the variants that carry a model, quality or speed (pure tune reports only feed the charts).
std::vector<TableRow> table_rows(const std::vector<Named>& variants, const std::string& dataset);

// Crops of one evaluation image (vdsr/comparison.h makes them; this library only shows them).
struct ComparisonPicture {
  std::string label;            // "ground truth", "bicubic" or a variant's name
  std::optional<double> psnr;   // none for the ground truth
  std::string png;              // PNG file bytes
};
struct PictureComparison {
  std::string image;
  int left = 0, top = 0, size = 0, scale = 0;
  bool automatic = false;       // the crop was chosen where the variants differ most
  std::vector<ComparisonPicture> pictures;  // ground truth, bicubic, then the variants
};

// The table (Markdown or HTML), with ratios against the first row; then the visual comparison (HTML: the
// crops as PNG data URIs, each with its PSNR; Markdown: the PSNRs); HTML adds PSNR-vs-MACs and
// PSNR-vs-size charts and, for tune reports among the inputs, the trial and parallel-coordinate charts.
std::string render_table(const std::vector<Named>& variants, Format format, const std::string& dataset,
                         const std::vector<PictureComparison>& pictures = {});

// RFC 4648 base64, for data URIs.
std::string base64(const std::string& bytes);

// ---- the live page of a tuning experiment ----

struct ExperimentStatus {
  std::string state = "running";          // "running", "done" or "interrupted"
  double elapsed_s = 0;                   // experiment time over all runs
  int refresh_s = 5;                      // the page reloads itself this often while running
  std::map<int, double> running_seconds;  // how long each running trial has run so far
};

// A self-contained HTML page of a tune report (hpo::make_report): a status header, the trials table with
// links to each trial's logs (relative to the experiment folder), the best-so-far, parallel-coordinate
// and intermediate-result charts. A meta refresh while running, none once done.
std::string experiment_page(const nlohmann::json& tune_report, const ExperimentStatus& status);

// ---- SVG (well-formed XML; one <circle class="point"> per data point) ----

struct Point {
  std::string label;
  double x = 0, y = 0;
};

std::string escape(const std::string& text);  // &, <, >, ", ' for HTML and XML

// A self-contained HTML page (the reports' style sheet); `head` goes into <head> as it is.
std::string html_page(const std::string& title, const std::string& body, const std::string& head = "");

std::string scatter_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                        const std::vector<Point>& points);

// A tune report's trials: final result over trial order with the best-so-far line.
std::string trials_svg(const nlohmann::json& report);

// Intermediate results of a tune report's trials, one polyline (class "curve") per trial over its steps.
std::string curves_svg(const nlohmann::json& report);

// Parallel coordinates of a tune report's hyper-parameters, one polyline (class "trial") per finished
// trial, coloured by result, with a legend.
std::string parallel_svg(const nlohmann::json& report);

}  // namespace vdsr::report
