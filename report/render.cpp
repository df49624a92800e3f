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

// 664704 -> "664,704".
std::string grouped(double v) {
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
    if (it.key().size() > 1 && it.key()[0] == 'x') scales.push_back(std::atoi(it.key().c_str() + 1));
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

std::string html_page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escape(title) +
         "</title>\n<style>\n"
         "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}\n"
         "table{border-collapse:collapse;margin:8px 0 16px}\n"
         "th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px;max-width:420px;overflow-wrap:anywhere}\n"
         "th{background:#f0f0f0}\ntd.num{text-align:right;font-variant-numeric:tabular-nums}\n"
         ".folded{color:#777;font-style:italic}\n.charts{display:flex;flex-wrap:wrap;gap:16px}\n"
         "figure{margin:0;border:1px solid #ddd}\n"
         "</style>\n</head>\n<body>\n<h1>" +
         escape(title) + "</h1>\n" + body + "</body>\n</html>\n";
}

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

std::string show(const json& r) {
  std::ostringstream o;
  o << "# " << r.value("stage", "?") << " report\n\n";
  o << "tool: " << r.value("tool", "?") << " " << r.value("version", "") << ", created " << r.value("created", "")
    << "\n";
  if (r.contains("machine") && r["machine"].is_object()) {
    const json& m = r["machine"];
    o << "machine: " << m.value("cpu", "?");
    if (m.contains("cores")) o << ", " << m["cores"].dump() << " cores";
    if (m.contains("isa")) o << ", oneDNN ISA " << m.value("isa", "");
    if (m.contains("threads_used")) o << ", " << m["threads_used"].dump() << " threads used";
    if (m.contains("torch_version")) o << ", torch " << m.value("torch_version", "");
    if (m.contains("cuda")) o << ", cuda " << (m.value("cuda", false) ? "yes" : "no");
    o << "\n";
  }

  if (r.contains("model") && r["model"].is_object()) {
    const json& m = r["model"];
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

  if (r.contains("quality") && r["quality"].is_object() && !r["quality"].empty()) {
    o << "\n## Quality\n\n";
    std::vector<std::vector<std::string>> rows;
    for (auto d = r["quality"].begin(); d != r["quality"].end(); ++d) {
      for (int s : scales_of(d.value())) {
        const json& q = d.value()["x" + std::to_string(s)];
        auto cell = [&](const char* k, const char* f) {
          return q.contains(k) && q[k].is_number() ? fmt(f, q[k].get<double>()) : std::string(kMissing);
        };
        const auto psnr = number_at(q, {"psnr"}), bic = number_at(q, {"bicubic_psnr"});
        rows.push_back({d.key(), "x" + std::to_string(s), cell("psnr", "%.3f"), cell("ssim", "%.4f"),
                        cell("bicubic_psnr", "%.3f"), psnr && bic ? fmt("%+.3f", *psnr - *bic) : kMissing});
      }
    }
    o << md_table({"dataset", "scale", "PSNR", "SSIM", "bicubic PSNR", "gain (dB)"}, rows, 2);
  }

  if (r.contains("speed") && r["speed"].is_object() && !r["speed"].empty()) {
    o << "\n## Speed\n\n";
    std::vector<std::vector<std::string>> rows;
    for (auto s = r["speed"].begin(); s != r["speed"].end(); ++s) {
      const json& v = s.value();
      const json& in = v.value("input", json::array());
      auto ms = [&](const char* k) {
        const auto x = number_at(v, {"latency_ms", k});
        return x ? fmt("%.2f", *x) : std::string(kMissing);
      };
      rows.push_back({s.key(), in.size() == 2 ? in[0].dump() + "\u00d7" + in[1].dump() : kMissing,
                      v.contains("threads") ? v["threads"].dump() : kMissing, ms("median"), ms("min"), ms("max"),
                      v.contains("runs") ? v["runs"].dump() : kMissing});
    }
    o << md_table({"runtime", "input", "threads", "median ms", "min ms", "max ms", "runs"}, rows, 2);
  }

  std::vector<std::vector<std::string>> files;
  for (const auto& [prefix, block] : {std::pair<std::string, json>{"files.", at_path(r, {"files"})},
                                      std::pair<std::string, json>{"export.files.", at_path(r, {"export", "files"})}}) {
    if (!block.is_object()) continue;
    for (auto f = block.begin(); f != block.end(); ++f) {
      const json& e = f.value();
      files.push_back({prefix + f.key(), e.value("path", ""),
                       e.contains("bytes") && e["bytes"].is_number() ? bytes_text(e["bytes"].get<double>()) : kMissing});
    }
  }
  if (!files.empty()) o << "\n## Files\n\n" << md_table({"file", "path", "size"}, files, 2);

  if (const json& p = at_path(r, {"prune"}); p.is_object()) {
    o << "\n## Prune\n\n";
    if (p.contains("layers") && p["layers"].is_array()) {
      size_t pruned = 0;
      for (const auto& l : p["layers"]) pruned += l.value("out_after", 0) != l.value("out_before", 0);
      o << "layers: " << p["layers"].size() << " (" << pruned << " narrowed)\n";
    }
    if (p.contains("totals") && p["totals"].is_object())
      for (auto t = p["totals"].begin(); t != p["totals"].end(); ++t)
        o << "- " << t.key() << ": " << value_text(t.value()) << "\n";
    if (p.contains("note")) o << "note: " << value_text(p["note"]) << "\n";
  }

  if (const json& t = at_path(r, {"train"}); t.is_object()) {
    o << "\n## Train\n\n";
    for (const char* k : {"initial_psnr", "final_psnr", "global_step", "budget_reached", "seconds"})
      if (t.contains(k)) o << "- " << k << ": " << value_text(t[k]) << "\n";
    if (t.contains("epochs") && t["epochs"].is_array() && !t["epochs"].empty()) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : t["epochs"]) {
        auto cell = [&](const char* k) { return e.contains(k) ? value_text(e[k]) : std::string(kMissing); };
        rows.push_back({cell("epoch"), cell("lr"), cell("loss"), cell("psnr"), cell("seconds"), cell("patches_per_s")});
      }
      o << "\n" << md_table({"epoch", "lr", "loss", "PSNR", "seconds", "patches/s"}, rows, 0);
    }
  }

  if (const json& t = at_path(r, {"tune"}); t.is_object()) {
    o << "\n## Tune\n\n";
    if (t.contains("optimize_mode")) o << "optimize: " << value_text(t["optimize_mode"]) << "\n";
    if (t.contains("counts") && t["counts"].is_object()) {
      o << "trials:";
      for (auto c = t["counts"].begin(); c != t["counts"].end(); ++c) o << " " << c.key() << " " << value_text(c.value());
      o << "\n";
    }
    const json& best = t.value("best", json());
    if (best.is_object())
      o << "best: trial " << value_text(best.value("id", json())) << ", value " << value_text(best.value("value", json()))
        << ", params " << best.value("params", json::object()).dump() << "\n";
    else
      o << "best: none (no trial succeeded)\n";
  }

  if (const json& e = at_path(r, {"export"}); e.is_object()) {
    o << "\n## Export\n\n";
    if (const json& f = at_path(e, {"files", "onnx"}); f.is_object()) {
      o << "onnx: " << f.value("path", "") << ", "
        << (f.contains("bytes") ? bytes_text(f["bytes"].get<double>()) : std::string(kMissing));
      if (f.contains("opset")) o << ", opset " << f["opset"].dump();
      o << "\n";
    }
    if (e.contains("parity") && e["parity"].is_object()) {
      std::vector<std::vector<std::string>> rows;
      for (auto p = e["parity"].begin(); p != e["parity"].end(); ++p) {
        const auto d = number_at(p.value(), {"max_abs_diff"}), q = number_at(p.value(), {"psnr_delta"});
        rows.push_back({p.key(), d ? fmt("%.3g", *d) : kMissing, q ? fmt("%.3g", *q) : kMissing});
      }
      o << "\n" << md_table({"runtime", "max abs diff vs LibTorch", "PSNR delta (dB)"}, rows);
    }
  }

  if (const json& b = at_path(r, {"bench", "results"}); b.is_array() && !b.empty()) {
    o << "\n## Bench\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& x : b) {
      auto cell = [&](const char* k) { return x.contains(k) ? value_text(x[k]) : std::string(kMissing); };
      const json& in = x.value("input", json::array());
      const auto med = number_at(x, {"latency_ms", "median"});
      rows.push_back({cell("model"), cell("runtime"), cell("precision"),
                      in.size() == 2 ? in[0].dump() + "\u00d7" + in[1].dump() : kMissing, cell("threads"),
                      med ? fmt("%.2f", *med) : kMissing, cell("runs"),
                      x.contains("peak_rss_mb") ? cell("peak_rss_mb") : cell("memory_mb")});
    }
    o << md_table({"model", "runtime", "precision", "input", "threads", "median ms", "runs", "memory MB"}, rows, 4);
  }

  if (const json& d = at_path(r, {"data"}); d.is_object()) {
    o << "\n## Data\n\n";
    for (auto it = d.begin(); it != d.end(); ++it)
      if (!it.value().is_structured()) o << "- " << it.key() << ": " << value_text(it.value()) << "\n";
  }

  if (const json& c = at_path(r, {"config"}); c.is_object() && !c.empty()) {
    o << "\n## Config\n\n";
    std::map<std::string, json> flat;
    flatten_into(c, "", "", false, flat);
    for (const auto& [k, v] : flat) o << "- " << k << ": " << value_text(v) << "\n";
  }
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

std::string render_diff(const Named& a, const Named& b, Format format, bool all) {
  const auto rows = diff_rows(a.report, b.report, all);
  if (format == Format::Json) {
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
    return out.dump(2) + "\n";
  }

  const bool html = format == Format::Html;
  std::ostringstream body;
  if (html) {
    body << "<ul>\n<li><b>A</b>: " << escape(describe(a)) << "</li>\n<li><b>B</b>: " << escape(describe(b))
         << "</li>\n</ul>\n";
  } else {
    body << "# Report diff\n\n- **A**: " << md_cell(describe(a)) << "\n- **B**: " << md_cell(describe(b)) << "\n";
  }
  size_t changed_total = 0;
  for (const auto& section : section_order()) {
    std::vector<std::vector<std::string>> table;
    size_t unchanged = 0, present = 0;
    for (const auto& r : rows) {
      if (r.section != section) continue;
      ++present;
      if (!r.changed && !all) {
        ++unchanged;
        continue;
      }
      changed_total += r.changed;
      table.push_back({r.key, r.in_a ? value_text(r.a) : kMissing, r.in_b ? value_text(r.b) : kMissing,
                       !r.delta ? ""
                       : r.a.is_number_integer() && r.b.is_number_integer() ? fmt("%+.0f", *r.delta)
                                                                             : fmt("%+.6g", *r.delta), r.rel ? fmt("%+.2f%%", *r.rel * 100) : ""});
    }
    if (present == 0) continue;
    const std::string folded = std::to_string(unchanged) + " unchanged row" + (unchanged == 1 ? "" : "s");
    const std::vector<std::string> header = {"key", "A", "B", "\u0394 (B\u2212A)", "\u0394 %"};
    if (html) {
      body << "<h2>" << escape(section) << "</h2>\n";
      if (!table.empty()) body << html_table(header, table);
      if (unchanged > 0) body << "<p class=\"folded\">" << escape(folded) << "</p>\n";
    } else {
      body << "\n## " << section << "\n\n";
      if (!table.empty()) body << md_table(header, table);
      if (unchanged > 0) body << (table.empty() ? "" : "\n") << "_" << folded << "_\n";
    }
  }
  if (changed_total == 0) body << (html ? "<p>The reports agree on every key shown.</p>\n" : "\nNo differences.\n");
  return html ? html_page("Report diff: " + a.name + " vs " + b.name, body.str()) : body.str();
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

std::string render_table(const std::vector<Named>& variants, Format format, const std::string& wanted) {
  if (format == Format::Json) throw Error("table: --format must be md or html");
  const std::string dataset = table_dataset(variants, wanted);
  const auto rows = table_rows(variants, dataset);
  std::set<int> scales;
  std::set<std::string> runtimes;
  for (const auto& r : rows) {
    for (const auto& [s, _] : r.psnr) scales.insert(s);
    for (const auto& [rt, _] : r.speed) runtimes.insert(rt);
  }
  std::vector<std::string> header = {"variant"};
  for (int s : scales) header.push_back(dataset + " x" + std::to_string(s) + " PSNR (dB)");
  header.push_back("size");
  for (const auto& rt : runtimes) header.push_back(rt + " latency (ms)");
  for (const char* h : {"params", "MACs/pixel", "MACs @ latency input"}) header.push_back(h);

  auto ratio = [&](size_t i, std::optional<double> base, std::optional<double> v) {
    if (i == 0 || !base || !v || *base == 0) return std::string();
    return fmt(" (\u00d7%.3g)", *v / *base);
  };
  std::vector<std::vector<std::string>> cells;
  for (size_t i = 0; i < rows.size(); ++i) {
    const TableRow& r = rows[i];
    const TableRow& base = rows.front();
    std::vector<std::string> c = {r.name};
    for (int s : scales) {
      auto it = r.psnr.find(s);
      auto bt = base.psnr.find(s);
      if (it == r.psnr.end()) {
        c.push_back(kMissing);
        continue;
      }
      c.push_back(fmt("%.3f", it->second) +
                  (i > 0 && bt != base.psnr.end() ? fmt(" (%+.3f)", it->second - bt->second) : std::string()));
    }
    c.push_back(r.size_bytes ? bytes_text(*r.size_bytes) + " " + r.size_source + ratio(i, base.size_bytes, r.size_bytes)
                             : kMissing);
    for (const auto& rt : runtimes) {
      auto it = r.speed.find(rt);
      auto bt = base.speed.find(rt);
      if (it == r.speed.end()) {
        c.push_back(kMissing);
        continue;
      }
      const Latency& l = it->second;
      c.push_back(fmt("%.2f", l.median_ms) +
                  (l.height > 0 ? " @" + std::to_string(l.height) + "\u00d7" + std::to_string(l.width) : "") +
                  ratio(i, bt == base.speed.end() ? std::nullopt : std::optional<double>(bt->second.median_ms),
                        l.median_ms));
    }
    c.push_back(r.params ? grouped(*r.params) + ratio(i, base.params, r.params) : kMissing);
    c.push_back(r.macs_per_pixel ? grouped(*r.macs_per_pixel) + ratio(i, base.macs_per_pixel, r.macs_per_pixel)
                                 : kMissing);
    const Latency* l = nullptr;
    for (const auto& [rt, x] : r.speed)
      if (x.height > 0) {
        l = &x;
        break;
      }
    c.push_back(r.macs_per_pixel && l ? si(*r.macs_per_pixel * l->height * l->width) + " @" +
                                            std::to_string(l->height) + "\u00d7" + std::to_string(l->width)
                                      : kMissing);
    cells.push_back(std::move(c));
  }

  std::vector<const Named*> tunes;
  for (const auto& v : variants)
    if (at_path(v.report, {"tune", "trials"}).is_array()) tunes.push_back(&v);

  const bool html = format == Format::Html;
  const std::string title = "Variants" + (dataset.empty() ? std::string() : " (" + dataset + ")");
  std::ostringstream body;
  if (!html) body << "# " << title << "\n\n";
  if (rows.empty()) {
    body << (html ? "<p>No report with a model, quality or speed.</p>\n" : "No report with a model, quality or speed.\n");
  } else {
    const std::string note = "Ratios (\u00d7) and PSNR differences are against the first row, " + rows.front().name +
                             "; size is the ONNX file when exported, else the model file.";
    body << (html ? html_table(header, cells) + "<p>" + escape(note) + "</p>\n" : md_table(header, cells) + "\n" + note + "\n");
  }
  if (html && !rows.empty() && !scales.empty()) {
    const int s = *scales.begin();
    std::vector<Point> by_macs, by_size;
    for (const auto& r : rows) {
      auto p = r.psnr.find(s);
      if (p == r.psnr.end()) continue;
      if (r.macs_per_pixel) by_macs.push_back({r.name, *r.macs_per_pixel, p->second});
      if (r.size_bytes) by_size.push_back({r.name, *r.size_bytes, p->second});
    }
    const std::string y = dataset + " x" + std::to_string(s) + " PSNR (dB)";
    body << "<h2>Quality against cost</h2>\n<div class=\"charts\">\n<figure>\n"
         << scatter_svg("PSNR vs MACs per pixel", "MACs per output pixel", y, by_macs) << "</figure>\n<figure>\n"
         << scatter_svg("PSNR vs file size", "file size (bytes)", y, by_size) << "</figure>\n</div>\n";
  }
  for (const Named* t : tunes) {
    const json& tune = t->report["tune"];
    const json& best = tune.value("best", json());
    std::string summary = std::to_string(tune["trials"].size()) + " trials";
    if (best.is_object())
      summary += "; best: trial " + value_text(best.value("id", json())) + ", value " +
                 value_text(best.value("value", json())) + ", params " + best.value("params", json::object()).dump();
    if (html) {
      body << "<h2>Tuning: " << escape(t->name) << "</h2>\n<p>" << escape(summary) << "</p>\n<div class=\"charts\">\n"
           << "<figure>\n" << trials_svg(t->report) << "</figure>\n<figure>\n" << parallel_svg(t->report)
           << "</figure>\n</div>\n";
    } else {
      body << "\n## Tuning: " << t->name << "\n\n" << summary << "\n";
    }
  }
  return html ? html_page(title, body.str()) : body.str();
}

}  // namespace vdsr::report
