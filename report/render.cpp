// vdsr-report's text: show (one report), diff (two reports, generic over flattened key paths) and table
// (a model and its optimized variants), as Markdown, JSON or self-contained HTML.
#include "report/render.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "vdsr/util/error.h"

namespace vdsr::report {

using nlohmann::json;

Format parse_format(const std::string& name) {
  if (name == "md") return Format::Markdown;
  if (name == "html") return Format::Html;
  if (name == "json") return Format::Json;
  throw Error("--format: expected md, html or json, got '" + name + "'");
}

namespace {

const char* kMissing = "\u2014";  // em dash: the key is absent on that side

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// 664704 -> "664,704". Values no 64-bit integer holds (only a hand-made report has them): as "%.3g".
std::string grouped(double v) {
  if (!std::isfinite(v) || std::fabs(v) >= 9e18) return fmt("%.3g", v);
  const long long n = std::llround(v);
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string bytes_text(double b) {
  if (b < 1e3) return grouped(b) + " B";
  if (b < 1e6) return fmt("%.1f KB", b / 1e3);
  return fmt("%.2f MB", b / 1e6);
}

std::string si(double v) {  // 10.9 G, 166.5 k
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt("%.2f G", v / 1e9);
  if (a >= 1e6) return fmt("%.2f M", v / 1e6);
  if (a >= 1e3) return fmt("%.1f k", v / 1e3);
  return fmt("%.3g", v);
}

std::string value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  if (v.is_number()) return fmt("%.6g", v.get<double>());
  return v.dump();
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
  return out;
}

// Scales of a quality.<Dataset> object, in numeric order.
std::vector<int> scales_of(const json& dataset) {
  std::vector<int> scales;
  if (!dataset.is_object()) return scales;
  for (auto it = dataset.begin(); it != dataset.end(); ++it)
    if (it.key().size() > 1 && it.key().size() <= 4 && it.key()[0] == 'x') scales.push_back(std::atoi(it.key().c_str() + 1));
  std::sort(scales.begin(), scales.end());
  return scales;
}

const json& at_path(const json& j, const std::vector<std::string>& keys) {
  static const json null;
  const json* node = &j;
  for (const auto& k : keys) {
    if (!node->is_object() || !node->contains(k)) return null;
    node = &(*node)[k];
  }
  return *node;
}

std::optional<double> number_at(const json& j, const std::vector<std::string>& keys) {
  const json& v = at_path(j, keys);
  return v.is_number() ? std::optional<double>(v.get<double>()) : std::nullopt;
}

// "64×19" or "32×18, 64".
std::string widths_text(const json& widths) {
  std::string out;
  for (size_t i = 0; i < widths.size();) {
    size_t j = i;
    while (j < widths.size() && widths[j] == widths[i]) ++j;
    out += (out.empty() ? "" : ", ") + widths[i].dump() + (j - i > 1 ? "\u00d7" + std::to_string(j - i) : "");
    i = j;
  }
  return out;
}

// A Markdown table from a header and rows; numbers are right-aligned where `right` says so.
std::string md_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                     size_t left_columns = 1) {
  std::ostringstream o;
  o << "|";
  for (const auto& h : header) o << " " << md_cell(h) << " |";
  o << "\n|";
  for (size_t i = 0; i < header.size(); ++i) o << (i < left_columns ? " --- |" : " ---: |");
  o << "\n";
  for (const auto& row : rows) {
    o << "|";
    for (const auto& c : row) o << " " << md_cell(c) << " |";
    o << "\n";
  }
  return o.str();
}

std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                       size_t left_columns = 1) {
  std::ostringstream o;
  o << "<table>\n<thead><tr>";
  for (const auto& h : header) o << "<th>" << escape(h) << "</th>";
  o << "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows) {
    o << "<tr>";
    for (size_t i = 0; i < row.size(); ++i)
      o << (i < left_columns ? "<td>" : "<td class=\"num\">") << escape(row[i]) << "</td>";
    o << "</tr>\n";
  }
  o << "</tbody>\n</table>\n";
  return o.str();
}

}  // namespace

std::string html_page(const std::string& title, const std::string& body, const std::string& head) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" + head + "<title>" + escape(title) +
         "</title>\n<style>\n"
         "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}\n"
         "table{border-collapse:collapse;margin:8px 0 16px}\n"
         "th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px;max-width:420px;overflow-wrap:anywhere}\n"
         "th{background:#f0f0f0}\ntd.num{text-align:right;font-variant-numeric:tabular-nums}\n"
         ".folded{color:#777;font-style:italic}\n.charts{display:flex;flex-wrap:wrap;gap:16px}\n"
         "figure{margin:0;border:1px solid #ddd}\n"
         ".crops{display:flex;flex-wrap:wrap;gap:8px}\n.crop img{image-rendering:pixelated;display:block}\n"
         ".crop figcaption{text-align:center;font-size:13px;padding:4px}\n"
         "</style>\n</head>\n<body>\n<h1>" +
         escape(title) + "</h1>\n" + body + "</body>\n</html>\n";
}

namespace {

// ---- flatten / sections ----

void flatten_into(const json& v, const std::string& key, const std::string& leaf, bool all,
                  std::map<std::string, json>& out) {
  if (v.is_object() && !v.empty()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!all && it.key() == "images") continue;  // per-image quality entries
      flatten_into(it.value(), key.empty() ? it.key() : key + "." + it.key(), it.key(), all, out);
    }
  } else if (v.is_array() && !v.empty()) {
    const bool nested = std::any_of(v.begin(), v.end(), [](const json& e) { return e.is_structured(); });
    if (all || (!nested && key == "model.widths")) {
      for (size_t i = 0; i < v.size(); ++i) flatten_into(v[i], key + "[" + std::to_string(i) + "]", leaf, all, out);
    } else if (nested) {
      out[key + ".count"] = v.size();
    } else {
      out[key] = v;
    }
  } else {
    out[key] = v;
  }
}

bool starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Orders digit runs by value, so model.widths[2] comes before model.widths[10].
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ei = i, ej = j;
      while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      const std::string na = a.substr(i, ei - i), nb = b.substr(j, ej - j);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ei, j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

const std::vector<std::string>& section_order() {
  static const std::vector<std::string> order = {"Quality", "Speed", "Model",  "Widths", "Files",
                                                 "Hyper-parameters", "Prune", "Train", "Tune", "Export",
                                                 "Bench",   "Data",  "Other",  "Header"};
  return order;
}

std::string section_of(const std::string& key) {
  if (starts(key, "quality.") || starts(key, "export.quality.")) return "Quality";
  if (starts(key, "speed.")) return "Speed";
  if (starts(key, "model.widths[")) return "Widths";
  if (starts(key, "model.")) return "Model";
  if (starts(key, "files.") || starts(key, "export.files.") || starts(key, "export.size.")) return "Files";
  if (starts(key, "config.") || starts(key, "config[") || starts(key, "tune.best.params.")) return "Hyper-parameters";
  for (const char* s : {"schema", "stage", "tool", "version", "created", "machine."})
    if (starts(key, s)) return "Header";
  for (const char* s : {"prune", "train", "tune", "export", "bench", "data"}) {
    if (starts(key, std::string(s) + ".")) {
      std::string name = s;
      name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
      return name;
    }
  }
  return "Other";
}

std::string describe(const Named& n) {
  const json& r = n.report;
  return n.name + " \u2014 " + r.value("stage", "?") + ", " + r.value("tool", "?") + " " + r.value("version", "") +
         ", " + r.value("created", "");
}

}  // namespace

// ---- show ----

namespace {

// One function per report block. Each writes its section when the report has that block, so a report
// shows exactly the blocks it carries, in the order of kShowSections.

void show_header(const json& r, std::ostream& o) {
  o << "# " << r.value("stage", "?") << " report\n\n";
  o << "tool: " << r.value("tool", "?") << " " << r.value("version", "") << ", created " << r.value("created", "")
    << "\n";
}

void show_machine(const json& r, std::ostream& o) {
  const json& m = at_path(r, {"machine"});
  if (!m.is_object()) return;
  o << "machine: " << m.value("cpu", "?");
  if (m.contains("cores")) o << ", " << m["cores"].dump() << " cores";
  if (m.contains("isa")) o << ", oneDNN ISA " << m.value("isa", "");
  if (m.contains("threads_used")) o << ", " << m["threads_used"].dump() << " threads used";
  if (m.contains("torch_version")) o << ", torch " << m.value("torch_version", "");
  if (m.contains("cuda")) o << ", cuda " << (m.value("cuda", false) ? "yes" : "no");
  o << "\n";
}

void show_model(const json& r, std::ostream& o) {
  const json& m = at_path(r, {"model"});
  if (!m.is_object()) return;
  o << "\n## Model\n\n";
  if (m.contains("path")) {
    o << "path: " << m.value("path", "");
    if (m.contains("bytes")) o << " (" << bytes_text(m["bytes"].get<double>());
    if (m.contains("sha256")) o << ", sha256 " << m.value("sha256", "").substr(0, 12);
    if (m.contains("bytes")) o << ")";
    o << "\n";
  }
  if (m.contains("depth")) o << "depth " << m["depth"].dump() << ", ";
  if (m.contains("params")) o << "params " << grouped(m["params"].get<double>()) << ", ";
  if (m.contains("macs_per_pixel")) o << "MACs/pixel " << grouped(m["macs_per_pixel"].get<double>());
  o << "\n";
  if (m.contains("widths") && m["widths"].is_array()) o << "widths: " << widths_text(m["widths"]) << "\n";
}

void show_quality(const json& r, std::ostream& o) {
  const json& quality = at_path(r, {"quality"});
  if (!quality.is_object() || quality.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (auto d = quality.begin(); d != quality.end(); ++d) {
    for (int s : scales_of(d.value())) {
      const json& q = at_path(d.value(), {"x" + std::to_string(s)});
      auto cell = [&](const char* k, const char* f) {
        return q.contains(k) && q[k].is_number() ? fmt(f, q[k].get<double>()) : std::string(kMissing);
      };
      const auto psnr = number_at(q, {"psnr"}), bic = number_at(q, {"bicubic_psnr"});
      rows.push_back({d.key(), "x" + std::to_string(s), cell("psnr", "%.3f"), cell("ssim", "%.4f"),
                      cell("bicubic_psnr", "%.3f"), psnr && bic ? fmt("%+.3f", *psnr - *bic) : kMissing});
    }
  }
  o << "\n## Quality\n\n" << md_table({"dataset", "scale", "PSNR", "SSIM", "bicubic PSNR", "gain (dB)"}, rows, 2);
}

std::string input_text(const json& in) { return in.size() == 2 ? in[0].dump() + "\u00d7" + in[1].dump() : kMissing; }

void show_speed(const json& r, std::ostream& o) {
  const json& speed = at_path(r, {"speed"});
  if (!speed.is_object() || speed.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (auto s = speed.begin(); s != speed.end(); ++s) {
    const json& v = s.value();
    auto ms = [&](const char* k) {
      const auto x = number_at(v, {"latency_ms", k});
      return x ? fmt("%.2f", *x) : std::string(kMissing);
    };
    rows.push_back({s.key(), input_text(v.value("input", json::array())),
                    v.contains("threads") ? v["threads"].dump() : kMissing, ms("median"), ms("min"), ms("max"),
                    v.contains("runs") ? v["runs"].dump() : kMissing});
  }
  o << "\n## Speed\n\n" << md_table({"runtime", "input", "threads", "median ms", "min ms", "max ms", "runs"}, rows, 2);
}

// files.* and export.files.* together.
void show_files(const json& r, std::ostream& o) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [prefix, block] : {std::pair<std::string, json>{"files.", at_path(r, {"files"})},
                                      std::pair<std::string, json>{"export.files.", at_path(r, {"export", "files"})}}) {
    if (!block.is_object()) continue;
    for (auto f = block.begin(); f != block.end(); ++f) {
      const json& e = f.value();
      rows.push_back({prefix + f.key(), e.value("path", ""),
                      e.contains("bytes") && e["bytes"].is_number() ? bytes_text(e["bytes"].get<double>()) : kMissing});
    }
  }
  if (!rows.empty()) o << "\n## Files\n\n" << md_table({"file", "path", "size"}, rows, 2);
}

void show_prune(const json& r, std::ostream& o) {
  const json& p = at_path(r, {"prune"});
  if (!p.is_object()) return;
  o << "\n## Prune\n\n";
  if (p.contains("layers") && p["layers"].is_array()) {
    size_t narrowed = 0;
    for (const auto& l : p["layers"]) narrowed += l.value("out_after", 0) != l.value("out_before", 0);
    o << "layers: " << p["layers"].size() << " (" << narrowed << " narrowed)\n";
  }
  if (p.contains("totals") && p["totals"].is_object())
    for (auto t = p["totals"].begin(); t != p["totals"].end(); ++t)
      o << "- " << t.key() << ": " << value_text(t.value()) << "\n";
  if (p.contains("note")) o << "note: " << value_text(p["note"]) << "\n";
}

void show_train(const json& r, std::ostream& o) {
  const json& t = at_path(r, {"train"});
  if (!t.is_object()) return;
  o << "\n## Train\n\n";
  for (const char* k : {"initial_psnr", "final_psnr", "global_step", "budget_reached", "seconds"})
    if (t.contains(k)) o << "- " << k << ": " << value_text(t[k]) << "\n";
  const json& epochs = at_path(t, {"epochs"});
  if (!epochs.is_array() || epochs.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : epochs) {
    auto cell = [&](const char* k) { return e.contains(k) ? value_text(e[k]) : std::string(kMissing); };
    rows.push_back({cell("epoch"), cell("lr"), cell("loss"), cell("psnr"), cell("seconds"), cell("patches_per_s")});
  }
  o << "\n" << md_table({"epoch", "lr", "loss", "PSNR", "seconds", "patches/s"}, rows, 0);
}

// "best: trial 3, value 37.1, params {...}" without the "best: ".
std::string best_trial_text(const json& best) {
  return "trial " + value_text(best.value("id", json())) + ", value " + value_text(best.value("value", json())) +
         ", params " + best.value("params", json::object()).dump();
}

void show_tune(const json& r, std::ostream& o) {
  const json& t = at_path(r, {"tune"});
  if (!t.is_object()) return;
  o << "\n## Tune\n\n";
  if (t.contains("optimize_mode")) o << "optimize: " << value_text(t["optimize_mode"]) << "\n";
  if (t.contains("counts") && t["counts"].is_object()) {
    o << "trials:";
    for (auto c = t["counts"].begin(); c != t["counts"].end(); ++c) o << " " << c.key() << " " << value_text(c.value());
    o << "\n";
  }
  const json& best = t.value("best", json());
  o << "best: " << (best.is_object() ? best_trial_text(best) : "none (no trial succeeded)") << "\n";
}

void show_export(const json& r, std::ostream& o) {
  const json& e = at_path(r, {"export"});
  if (!e.is_object()) return;
  o << "\n## Export\n\n";
  if (const json& f = at_path(e, {"files", "onnx"}); f.is_object()) {
    o << "onnx: " << f.value("path", "") << ", "
      << (f.contains("bytes") ? bytes_text(f["bytes"].get<double>()) : std::string(kMissing));
    if (f.contains("opset")) o << ", opset " << f["opset"].dump();
    o << "\n";
  }
  const json& parity = at_path(e, {"parity"});
  if (!parity.is_object()) return;
  std::vector<std::vector<std::string>> rows;
  for (auto p = parity.begin(); p != parity.end(); ++p) {
    const auto d = number_at(p.value(), {"max_abs_diff"}), q = number_at(p.value(), {"psnr_delta"});
    rows.push_back({p.key(), d ? fmt("%.3g", *d) : kMissing, q ? fmt("%.3g", *q) : kMissing});
  }
  o << "\n" << md_table({"runtime", "max abs diff vs LibTorch", "PSNR delta (dB)"}, rows);
}

void show_bench(const json& r, std::ostream& o) {
  const json& b = at_path(r, {"bench", "results"});
  if (!b.is_array() || b.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : b) {
    auto cell = [&](const char* k) { return x.contains(k) ? value_text(x[k]) : std::string(kMissing); };
    const auto med = number_at(x, {"latency_ms", "median"});
    rows.push_back({cell("model"), cell("runtime"), cell("precision"), input_text(x.value("input", json::array())),
                    cell("threads"), med ? fmt("%.2f", *med) : kMissing, cell("runs"),
                    x.contains("peak_rss_mb") ? cell("peak_rss_mb") : cell("memory_mb")});
  }
  o << "\n## Bench\n\n"
    << md_table({"model", "runtime", "precision", "input", "threads", "median ms", "runs", "memory MB"}, rows, 4);
}

void show_data(const json& r, std::ostream& o) {
  const json& d = at_path(r, {"data"});
  if (!d.is_object()) return;
  o << "\n## Data\n\n";
  for (auto it = d.begin(); it != d.end(); ++it)
    if (!it.value().is_structured()) o << "- " << it.key() << ": " << value_text(it.value()) << "\n";
}

void show_config(const json& r, std::ostream& o) {
  const json& c = at_path(r, {"config"});
  if (!c.is_object() || c.empty()) return;
  o << "\n## Config\n\n";
  std::map<std::string, json> flat;
  flatten_into(c, "", "", false, flat);
  for (const auto& [k, v] : flat) o << "- " << k << ": " << value_text(v) << "\n";
}

// The sections of `vdsr-report show`, in order. A new report block is one function and one line here.
using ShowSection = void (*)(const json& report, std::ostream& out);
const ShowSection kShowSections[] = {show_header, show_machine, show_model,  show_quality, show_speed,
                                     show_files,  show_prune,   show_train,  show_tune,    show_export,
                                     show_bench,  show_data,    show_config};

}  // namespace

std::string show(const json& r) {
  std::ostringstream o;
  for (const ShowSection section : kShowSections) section(r, o);
  return o.str();
}

// ---- diff ----

std::map<std::string, json> flatten(const json& report, bool all) {
  std::map<std::string, json> out;
  flatten_into(report, "", "", all, out);
  return out;
}

std::vector<DiffRow> diff_rows(const json& a, const json& b, bool all) {
  const auto fa = flatten(a, all), fb = flatten(b, all);
  std::set<std::string, bool (*)(const std::string&, const std::string&)> keys(natural_less);
  for (const auto& [k, _] : fa) keys.insert(k);
  for (const auto& [k, _] : fb) keys.insert(k);
  std::vector<DiffRow> rows;
  for (const auto& key : keys) {
    DiffRow row;
    row.key = key;
    row.section = section_of(key);
    const auto ia = fa.find(key), ib = fb.find(key);
    row.in_a = ia != fa.end();
    row.in_b = ib != fb.end();
    if (row.in_a) row.a = ia->second;
    if (row.in_b) row.b = ib->second;
    row.changed = row.in_a != row.in_b || row.a != row.b;
    if (row.in_a && row.in_b && row.a.is_number() && row.b.is_number()) {
      const double x = row.a.get<double>(), y = row.b.get<double>();
      row.delta = y - x;
      if (x != 0) row.rel = (y - x) / std::fabs(x);
      else if (y == 0) row.rel = 0.0;
      row.changed = x != y;
    }
    rows.push_back(std::move(row));
  }
  const auto& order = section_order();
  std::stable_sort(rows.begin(), rows.end(), [&](const DiffRow& x, const DiffRow& y) {
    return std::find(order.begin(), order.end(), x.section) < std::find(order.begin(), order.end(), y.section);
  });
  return rows;
}

namespace {

json diff_json(const Named& a, const Named& b, const std::vector<DiffRow>& rows, bool all) {
  json out = {{"a", a.name}, {"b", b.name}, {"rows", json::array()}};
  size_t unchanged = 0;
  for (const auto& r : rows) {
    if (!r.changed && !all) {
      ++unchanged;
      continue;
    }
    json row = {{"section", r.section}, {"key", r.key}, {"a", r.a}, {"b", r.b},
                {"delta", r.delta ? json(*r.delta) : json()}, {"rel", r.rel ? json(*r.rel) : json()}};
    if (r.in_a != r.in_b) row["only"] = r.in_a ? "a" : "b";
    out["rows"].push_back(row);
  }
  out["unchanged"] = unchanged;
  return out;
}

// key, A, B, Δ, Δ %.
std::vector<std::string> diff_cells(const DiffRow& r) {
  const bool integers = r.a.is_number_integer() && r.b.is_number_integer();
  const std::string delta = !r.delta ? "" : fmt(integers ? "%+.0f" : "%+.6g", *r.delta);
  return {r.key, r.in_a ? value_text(r.a) : kMissing, r.in_b ? value_text(r.b) : kMissing, delta,
          r.rel ? fmt("%+.2f%%", *r.rel * 100) : ""};
}

std::string diff_intro(const Named& a, const Named& b, bool html) {
  if (html) {
    return "<ul>\n<li><b>A</b>: " + escape(describe(a)) + "</li>\n<li><b>B</b>: " + escape(describe(b)) +
           "</li>\n</ul>\n";
  }
  return "# Report diff\n\n- **A**: " + md_cell(describe(a)) + "\n- **B**: " + md_cell(describe(b)) + "\n";
}

// One section's table, its unchanged rows folded into a count unless `all`; adds its changed rows to
// `changed`. Empty when no row belongs to the section.
std::string diff_section(const std::string& section, const std::vector<DiffRow>& rows, bool all, bool html,
                         size_t& changed) {
  std::vector<std::vector<std::string>> table;
  size_t unchanged = 0, present = 0;
  for (const auto& r : rows) {
    if (r.section != section) continue;
    ++present;
    if (!r.changed && !all) {
      ++unchanged;
      continue;
    }
    changed += r.changed;
    table.push_back(diff_cells(r));
  }
  if (present == 0) return "";
  const std::string folded = std::to_string(unchanged) + " unchanged row" + (unchanged == 1 ? "" : "s");
  const std::vector<std::string> header = {"key", "A", "B", "\u0394 (B\u2212A)", "\u0394 %"};
  std::ostringstream o;
  if (html) {
    o << "<h2>" << escape(section) << "</h2>\n";
    if (!table.empty()) o << html_table(header, table);
    if (unchanged > 0) o << "<p class=\"folded\">" << escape(folded) << "</p>\n";
  } else {
    o << "\n## " << section << "\n\n";
    if (!table.empty()) o << md_table(header, table);
    if (unchanged > 0) o << (table.empty() ? "" : "\n") << "_" << folded << "_\n";
  }
  return o.str();
}

}  // namespace

std::string render_diff(const Named& a, const Named& b, Format format, bool all) {
  const auto rows = diff_rows(a.report, b.report, all);
  if (format == Format::Json) return diff_json(a, b, rows, all).dump(2) + "\n";
  const bool html = format == Format::Html;
  std::string body = diff_intro(a, b, html);
  size_t changed = 0;
  for (const auto& section : section_order()) body += diff_section(section, rows, all, html, changed);
  if (changed == 0) body += html ? "<p>The reports agree on every key shown.</p>\n" : "\nNo differences.\n";
  return html ? html_page("Report diff: " + a.name + " vs " + b.name, body) : body;
}

// ---- table ----

json merge(const std::vector<json>& reports) {
  json out = json::object();
  for (const auto& r : reports) {
    if (!r.is_object()) continue;
    for (auto it = r.begin(); it != r.end(); ++it) {
      if (it.value().is_object() && out.contains(it.key()) && out[it.key()].is_object())
        out[it.key()] = merge({out[it.key()], it.value()});
      else
        out[it.key()] = it.value();
    }
  }
  return out;
}

std::string default_name(const json& report) {
  const std::string stage = report.value("stage", "report");
  const json& path = at_path(report, {"model", "path"});
  if (!path.is_string()) return stage;
  const std::string p = path.get<std::string>();
  return stage + ": " + p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
}

std::string table_dataset(const std::vector<Named>& variants, const std::string& wanted) {
  if (!wanted.empty()) return wanted;
  for (const auto& v : variants) {
    const json& q = at_path(v.report, {"quality"});
    if (q.is_object() && !q.empty()) return q.begin().key();
  }
  return "";
}

std::vector<TableRow> table_rows(const std::vector<Named>& variants, const std::string& dataset) {
  std::vector<TableRow> rows;
  for (const auto& v : variants) {
    const json& r = v.report;
    if (!r.contains("model") && !r.contains("quality") && !r.contains("speed")) continue;
    TableRow row;
    row.name = v.name;
    const json& q = at_path(r, {"quality", dataset});
    for (int s : scales_of(q))
      if (auto p = number_at(q, {"x" + std::to_string(s), "psnr"})) row.psnr[s] = *p;
    if (auto b = number_at(r, {"export", "files", "onnx", "bytes"})) {
      row.size_bytes = b, row.size_source = "onnx";
    } else if (auto m = number_at(r, {"model", "bytes"})) {
      row.size_bytes = m, row.size_source = "model";
    }
    if (const json& sp = at_path(r, {"speed"}); sp.is_object()) {
      for (auto it = sp.begin(); it != sp.end(); ++it) {
        const auto med = number_at(it.value(), {"latency_ms", "median"});
        if (!med) continue;
        Latency l;
        l.median_ms = *med;
        const json& in = at_path(it.value(), {"input"});
        if (in.is_array() && in.size() == 2) l.height = in[0].get<int>(), l.width = in[1].get<int>();
        row.speed[it.key()] = l;
      }
    }
    row.params = number_at(r, {"model", "params"});
    row.macs_per_pixel = number_at(r, {"model", "macs_per_pixel"});
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {

// The columns a table needs: every scale with a PSNR and every runtime with a latency in some row.
struct TableColumns {
  std::set<int> scales;
  std::set<std::string> runtimes;
};

TableColumns columns_of(const std::vector<TableRow>& rows) {
  TableColumns c;
  for (const auto& r : rows) {
    for (const auto& [s, _] : r.psnr) c.scales.insert(s);
    for (const auto& [rt, _] : r.speed) c.runtimes.insert(rt);
  }
  return c;
}

std::vector<std::string> table_header(const std::string& dataset, const TableColumns& columns) {
  std::vector<std::string> header = {"variant"};
  for (int s : columns.scales) header.push_back(dataset + " x" + std::to_string(s) + " PSNR (dB)");
  header.push_back("size");
  for (const auto& rt : columns.runtimes) header.push_back(rt + " latency (ms)");
  for (const char* h : {"params", "MACs/pixel", "MACs @ latency input"}) header.push_back(h);
  return header;
}

// " (×0.25)" against the base row; nothing for the base row itself or where either side is missing.
std::string ratio_text(bool base_row, std::optional<double> base, std::optional<double> v) {
  if (base_row || !base || !v || *base == 0) return "";
  return fmt(" (\u00d7%.3g)", *v / *base);
}

std::string size_text(const Latency& l) {
  return std::to_string(l.height) + "\u00d7" + std::to_string(l.width);
}

std::string psnr_cell(const TableRow& r, const TableRow& base, bool base_row, int scale) {
  const auto it = r.psnr.find(scale), bt = base.psnr.find(scale);
  if (it == r.psnr.end()) return kMissing;
  const bool diff = !base_row && bt != base.psnr.end();
  return fmt("%.3f", it->second) + (diff ? fmt(" (%+.3f)", it->second - bt->second) : std::string());
}

std::string latency_cell(const TableRow& r, const TableRow& base, bool base_row, const std::string& runtime) {
  const auto it = r.speed.find(runtime), bt = base.speed.find(runtime);
  if (it == r.speed.end()) return kMissing;
  const Latency& l = it->second;
  std::optional<double> base_ms;
  if (bt != base.speed.end()) base_ms = bt->second.median_ms;
  const std::string at = l.height > 0 ? " @" + size_text(l) : "";
  return fmt("%.2f", l.median_ms) + at + ratio_text(base_row, base_ms, l.median_ms);
}

// MACs of one inference at the first latency input size.
std::string macs_at_input_cell(const TableRow& r) {
  const auto sized = std::find_if(r.speed.begin(), r.speed.end(), [](const auto& s) { return s.second.height > 0; });
  if (!r.macs_per_pixel || sized == r.speed.end()) return kMissing;
  return si(*r.macs_per_pixel * sized->second.height * sized->second.width) + " @" + size_text(sized->second);
}

// One row's cells, with ratios (and PSNR differences) against the base row.
std::vector<std::string> table_cells(const TableRow& r, const TableRow& base, bool base_row,
                                     const TableColumns& columns) {
  auto with_ratio = [&](std::optional<double> v, std::optional<double> b, auto text) {
    return v ? text(*v) + ratio_text(base_row, b, v) : std::string(kMissing);
  };
  std::vector<std::string> c = {r.name};
  for (int s : columns.scales) c.push_back(psnr_cell(r, base, base_row, s));
  c.push_back(with_ratio(r.size_bytes, base.size_bytes, [&](double b) { return bytes_text(b) + " " + r.size_source; }));
  for (const auto& rt : columns.runtimes) c.push_back(latency_cell(r, base, base_row, rt));
  c.push_back(with_ratio(r.params, base.params, grouped));
  c.push_back(with_ratio(r.macs_per_pixel, base.macs_per_pixel, grouped));
  c.push_back(macs_at_input_cell(r));
  return c;
}

std::string variants_table(const std::vector<TableRow>& rows, const std::string& dataset, const TableColumns& columns,
                           bool html) {
  if (rows.empty()) {
    return html ? "<p>No report with a model, quality or speed.</p>\n" : "No report with a model, quality or speed.\n";
  }
  std::vector<std::vector<std::string>> cells;
  for (size_t i = 0; i < rows.size(); ++i) cells.push_back(table_cells(rows[i], rows.front(), i == 0, columns));
  const auto header = table_header(dataset, columns);
  const std::string note = "Ratios (\u00d7) and PSNR differences are against the first row, " + rows.front().name +
                           "; size is the ONNX file when exported, else the model file.";
  if (html) return html_table(header, cells) + "<p>" + escape(note) + "</p>\n";
  return md_table(header, cells) + "\n" + note + "\n";
}

// HTML: PSNR at the smallest scale against MACs per pixel and against file size.
std::string quality_charts(const std::vector<TableRow>& rows, const std::string& dataset, int scale) {
  std::vector<Point> by_macs, by_size;
  for (const auto& r : rows) {
    const auto p = r.psnr.find(scale);
    if (p == r.psnr.end()) continue;
    if (r.macs_per_pixel) by_macs.push_back({r.name, *r.macs_per_pixel, p->second});
    if (r.size_bytes) by_size.push_back({r.name, *r.size_bytes, p->second});
  }
  const std::string y = dataset + " x" + std::to_string(scale) + " PSNR (dB)";
  return "<h2>Quality against cost</h2>\n<div class=\"charts\">\n<figure>\n" +
         scatter_svg("PSNR vs MACs per pixel", "MACs per output pixel", y, by_macs) + "</figure>\n<figure>\n" +
         scatter_svg("PSNR vs file size", "file size (bytes)", y, by_size) + "</figure>\n</div>\n";
}

// A tune report among the variants: its trial count and best trial, and in HTML its charts.
std::string tune_section(const Named& t, bool html) {
  const json& tune = t.report["tune"];
  const json& best = tune.value("best", json());
  std::string summary = std::to_string(tune["trials"].size()) + " trials";
  if (best.is_object()) summary += "; best: " + best_trial_text(best);
  if (!html) return "\n## Tuning: " + t.name + "\n\n" + summary + "\n";
  return "<h2>Tuning: " + escape(t.name) + "</h2>\n<p>" + escape(summary) + "</p>\n<div class=\"charts\">\n" +
         "<figure>\n" + trials_svg(t.report) + "</figure>\n<figure>\n" + parallel_svg(t.report) + "</figure>\n</div>\n";
}

// The visual comparison: per image, the crops side by side (shown at twice their size, pixels kept sharp),
// each captioned with its PSNR; the best variant's caption in bold. Markdown gets the PSNRs alone.
std::string pictures_section(const std::vector<PictureComparison>& comparisons, bool html) {
  if (comparisons.empty()) return "";
  std::ostringstream o;
  o << (html ? "<h2>Visual comparison</h2>\n" : "\n## Visual comparison\n");
  for (const auto& c : comparisons) {
    const std::string where = c.image + " x" + std::to_string(c.scale) + ", crop " + std::to_string(c.size) + "\u00d7" +
                              std::to_string(c.size) + " at (" + std::to_string(c.left) + ", " + std::to_string(c.top) +
                              ")" + (c.automatic ? ", where the variants differ most" : "") +
                              "; PSNR on Y of the crop";
    std::optional<double> best;
    for (size_t i = 2; i < c.pictures.size(); ++i)  // the models: after ground truth and bicubic
      if (c.pictures[i].psnr && (!best || *c.pictures[i].psnr > *best)) best = c.pictures[i].psnr;
    if (!html) {
      o << "\n" << where << "\n\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& p : c.pictures)
        if (p.psnr) rows.push_back({p.label, fmt("%.2f", *p.psnr)});
      o << md_table({"crop of", "PSNR (dB)"}, rows);
      continue;
    }
    o << "<p>" << escape(where) << "</p>\n<div class=\"crops\">\n";
    for (const auto& p : c.pictures) {
      const bool is_best = p.psnr && best && *p.psnr == *best && &p - c.pictures.data() >= 2;
      o << "<figure class=\"crop\"><img src=\"data:image/png;base64," << base64(p.png) << "\" width=\"" << 2 * c.size
        << "\" height=\"" << 2 * c.size << "\" alt=\"" << escape(p.label + " crop of " + c.image) << "\">"
        << "<figcaption>" << (is_best ? "<b>" : "") << escape(p.label) << "<br>"
        << (p.psnr ? escape(fmt("%.2f dB", *p.psnr)) : std::string("reference")) << (is_best ? "</b>" : "")
        << "</figcaption></figure>\n";
    }
    o << "</div>\n";
  }
  return o.str();
}

}  // namespace

std::string base64(const std::string& bytes) {
  static const char* kDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    unsigned v = 0;
    for (size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kDigits[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

std::string render_table(const std::vector<Named>& variants, Format format, const std::string& wanted,
                         const std::vector<PictureComparison>& pictures) {
  if (format == Format::Json) throw Error("table: --format must be md or html");
  const bool html = format == Format::Html;
  const std::string dataset = table_dataset(variants, wanted);
  const auto rows = table_rows(variants, dataset);
  const TableColumns columns = columns_of(rows);
  const std::string title = "Variants" + (dataset.empty() ? std::string() : " (" + dataset + ")");
  std::string body = (html ? "" : "# " + title + "\n\n") + variants_table(rows, dataset, columns, html);
  body += pictures_section(pictures, html);
  if (html && !rows.empty() && !columns.scales.empty()) body += quality_charts(rows, dataset, *columns.scales.begin());
  for (const auto& v : variants) {
    if (at_path(v.report, {"tune", "trials"}).is_array()) body += tune_section(v, html);
  }
  return html ? html_page(title, body) : body;
}

}  // namespace vdsr::report
