// Inline SVG charts for vdsr-report's HTML: scatter plots of variants, a tune report's trials and the
// parallel coordinates of its hyper-parameters. Plain string building; every text goes through escape().
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "report/render.h"
#include "report/report.h"

namespace vdsr::report {

using nlohmann::json;

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

constexpr double kWidth = 640, kHeight = 400, kLeft = 80, kRight = 30, kTop = 44, kBottom = 64;

std::string num(double v, const char* format = "%.1f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Short tick labels: 166k, 2.67M, 33.5.
std::string tick_label(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return num(v / 1e9, "%.3gG");
  if (a >= 1e6) return num(v / 1e6, "%.3gM");
  if (a >= 1e4) return num(v / 1e3, "%.3gk");
  return num(v, "%.4g");
}

// A linear (or log10) axis over [lo, hi] with about five "nice" ticks.
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;

  double t(double v) const {  // 0..1 along the axis
    const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi, x = log ? std::log10(v) : v;
    return b > a ? (x - a) / (b - a) : 0.5;
  }
};

// Positive values spanning 100x or more read better on a log axis (a diverged trial's loss next to
// converged ones, a learning rate over decades).
bool wide_positive(double lo, double hi) { return lo > 0 && hi / lo >= 100; }

Axis make_axis(double lo, double hi, bool log = false) {
  Axis axis;
  axis.log = log && lo > 0;
  if (axis.log) {
    axis.lo = std::pow(10.0, std::floor(std::log10(lo)));
    axis.hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (axis.hi <= axis.lo) axis.hi = axis.lo * 10;
    for (double v = axis.lo; v <= axis.hi * 1.0001; v *= 10) axis.ticks.push_back(v);
    return axis;
  }
  if (hi <= lo) {
    const double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  } else {
    const double pad = (hi - lo) * 0.08;
    lo = lo >= 0 ? std::max(0.0, lo - pad) : lo - pad;  // counts, sizes and losses never dip below zero
    hi += pad;
  }
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  axis.lo = std::floor(lo / step) * step;
  axis.hi = std::ceil(hi / step) * step;
  for (double v = axis.lo; v <= axis.hi + step * 1e-6; v += step) axis.ticks.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return axis;
}

// An axis over exactly [lo, hi] (a search space's bounds: nothing outside them can occur), labelled at
// both ends and at the "nice" values (decades on a log axis) in between.
Axis exact_axis(double lo, double hi, bool log) {
  Axis axis;
  axis.lo = lo, axis.hi = hi, axis.log = log && lo > 0;
  if (!(hi > lo)) return make_axis(lo, hi, log);
  std::vector<double> inner;
  double gap = 0;  // interior ticks this close to an end would crowd its label
  if (axis.log) {
    for (double v = std::pow(10.0, std::ceil(std::log10(lo))); v < hi; v *= 10) inner.push_back(v);
    gap = 0.15 * (std::log10(hi) - std::log10(lo));
  } else {
    const Axis nice = make_axis(lo, hi);
    for (double v : nice.ticks)
      if (v > lo && v < hi) inner.push_back(v);
    gap = 0.08 * (hi - lo);
  }
  axis.ticks.push_back(lo);
  for (double v : inner) {
    const double from_lo = axis.log ? std::log10(v) - std::log10(lo) : v - lo;
    const double to_hi = axis.log ? std::log10(hi) - std::log10(v) : hi - v;
    if (from_lo >= gap && to_hi >= gap) axis.ticks.push_back(v);
  }
  axis.ticks.push_back(hi);
  return axis;
}

std::string svg_open(const std::string& title) {
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
    << "\" viewBox=\"0 0 " << kWidth << " " << kHeight << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<title>" << escape(title) << "</title>\n"
    << "<rect x=\"0\" y=\"0\" width=\"" << kWidth << "\" height=\"" << kHeight << "\" fill=\"#ffffff\"/>\n"
    << "<text x=\"" << kWidth / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << escape(title) << "</text>\n";
  return o.str();
}

// Frame, ticks, grid lines and axis labels of an x/y chart.
std::string axes(const Axis& x, const Axis& y, const std::string& x_label, const std::string& y_label) {
  std::ostringstream o;
  const double x0 = kLeft, x1 = kWidth - kRight, y0 = kHeight - kBottom, y1 = kTop;
  o << "<g class=\"axes\" stroke=\"#333333\">\n"
    << "<line class=\"axis\" x1=\"" << x0 << "\" y1=\"" << y0 << "\" x2=\"" << x1 << "\" y2=\"" << y0 << "\"/>\n"
    << "<line class=\"axis\" x1=\"" << x0 << "\" y1=\"" << y0 << "\" x2=\"" << x0 << "\" y2=\"" << y1 << "\"/>\n";
  for (double v : x.ticks) {
    const double px = x0 + x.t(v) * (x1 - x0);
    o << "<line class=\"grid\" x1=\"" << num(px) << "\" y1=\"" << y0 << "\" x2=\"" << num(px) << "\" y2=\"" << y1
      << "\" stroke=\"#e5e5e5\"/>\n"
      << "<line class=\"tick\" x1=\"" << num(px) << "\" y1=\"" << y0 << "\" x2=\"" << num(px) << "\" y2=\""
      << y0 + 5 << "\"/>\n"
      << "<text class=\"tick-label\" x=\"" << num(px) << "\" y=\"" << y0 + 18
      << "\" text-anchor=\"middle\" stroke=\"none\">" << escape(tick_label(v)) << "</text>\n";
  }
  for (double v : y.ticks) {
    const double py = y0 - y.t(v) * (y0 - y1);
    o << "<line class=\"grid\" x1=\"" << x0 << "\" y1=\"" << num(py) << "\" x2=\"" << x1 << "\" y2=\"" << num(py)
      << "\" stroke=\"#e5e5e5\"/>\n"
      << "<line class=\"tick\" x1=\"" << x0 - 5 << "\" y1=\"" << num(py) << "\" x2=\"" << x0 << "\" y2=\""
      << num(py) << "\"/>\n"
      << "<text class=\"tick-label\" x=\"" << x0 - 8 << "\" y=\"" << num(py + 4)
      << "\" text-anchor=\"end\" stroke=\"none\">" << escape(tick_label(v)) << "</text>\n";
  }
  o << "</g>\n"
    << "<text class=\"axis-label\" x=\"" << (x0 + x1) / 2 << "\" y=\"" << kHeight - 18 << "\" text-anchor=\"middle\">"
    << escape(x_label) << "</text>\n"
    << "<text class=\"axis-label\" x=\"18\" y=\"" << (y0 + y1) / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 "
    << (y0 + y1) / 2 << ")\">" << escape(y_label) << "</text>\n";
  return o.str();
}

double px_x(const Axis& a, double v) { return kLeft + a.t(v) * (kWidth - kRight - kLeft); }
double px_y(const Axis& a, double v) { return kHeight - kBottom - a.t(v) * (kHeight - kBottom - kTop); }

// A viridis-like ramp: dark purple (0) through teal to yellow (1).
std::string ramp(double t) {
  t = std::clamp(t, 0.0, 1.0);
  const double stops[3][3] = {{68, 1, 84}, {33, 145, 140}, {253, 231, 37}};
  const int i = t < 0.5 ? 0 : 1;
  const double f = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(stops[i][0] + f * (stops[i + 1][0] - stops[i][0])),
                static_cast<int>(stops[i][1] + f * (stops[i + 1][1] - stops[i][1])),
                static_cast<int>(stops[i][2] + f * (stops[i + 1][2] - stops[i][2])));
  return buf;
}

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// A trial's result: the number, or the "default" entry of a metrics object; none for failed trials.
std::optional<double> trial_value(const json& trial) {
  const json& f = trial.value("final", json());
  if (f.is_number()) return f.get<double>();
  if (f.is_object() && f.contains("default") && f["default"].is_number()) return f["default"].get<double>();
  return std::nullopt;
}

bool maximize(const json& report) { return report.value("tune", json::object()).value("optimize_mode", "") == "maximize"; }

}  // namespace

std::string scatter_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                        const std::vector<Point>& points) {
  double xl = 0, xh = 1, yl = 0, yh = 1;
  if (!points.empty()) {
    xl = xh = points[0].x;
    yl = yh = points[0].y;
    for (const auto& p : points) {
      xl = std::min(xl, p.x), xh = std::max(xh, p.x);
      yl = std::min(yl, p.y), yh = std::max(yh, p.y);
    }
  }
  const Axis x = make_axis(xl, xh), y = make_axis(yl, yh, wide_positive(yl, yh));
  std::ostringstream o;
  o << svg_open(title) << axes(x, y, x_label, y_label);
  std::vector<std::pair<double, double>> labels;  // placed label anchors, to step coinciding ones apart
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    const double cx = px_x(x, p.x), cy = px_y(y, p.y);
    double ly = cy - 8;
    for (bool moved = true; moved;) {
      moved = false;
      for (const auto& [lx0, ly0] : labels)
        if (std::fabs(lx0 - cx) < 80 && std::fabs(ly0 - ly) < 13) ly = ly0 + 14, moved = true;
    }
    labels.push_back({cx, ly});
    const std::string colour = kPalette[i % (sizeof kPalette / sizeof *kPalette)];
    o << "<circle class=\"point\" cx=\"" << num(cx) << "\" cy=\"" << num(cy) << "\" r=\"6\" fill=\"" << colour
      << "\"><title>" << escape(p.label + ": " + tick_label(p.x) + ", " + num(p.y, "%.3f")) << "</title></circle>\n"
      << "<text class=\"point-label\" x=\"" << num(cx + 9) << "\" y=\"" << num(ly) << "\" fill=\"" << colour
      << "\">" << escape(p.label) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string trials_svg(const json& report) {
  const json& trials = report.at("tune").at("trials");
  const bool max = maximize(report);
  std::vector<Point> points;
  for (const auto& t : trials)
    if (auto v = trial_value(t)) points.push_back({"trial " + std::to_string(t.value("id", 0)), double(t.value("id", 0)), *v});
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.x < b.x; });

  double xl = 0, xh = 1, yl = 0, yh = 1;
  if (!points.empty()) {
    xl = points.front().x, xh = points.back().x;
    yl = yh = points[0].y;
    for (const auto& p : points) yl = std::min(yl, p.y), yh = std::max(yh, p.y);
  }
  const Axis x = make_axis(xl, xh), y = make_axis(yl, yh, wide_positive(yl, yh));
  std::ostringstream o;
  o << svg_open("Trials: result over trial order (" + std::string(max ? "maximize" : "minimize") + ")")
    << axes(x, y, "trial", "result");
  // Best so far as a step line.
  if (!points.empty()) {
    std::ostringstream line;
    double best = points[0].y;
    for (size_t i = 0; i < points.size(); ++i) {
      const double next = max ? std::max(best, points[i].y) : std::min(best, points[i].y);
      if (i > 0) line << num(px_x(x, points[i].x)) << "," << num(px_y(y, best)) << " ";
      best = next;
      line << num(px_x(x, points[i].x)) << "," << num(px_y(y, best)) << " ";
    }
    o << "<polyline class=\"best\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"" << line.str()
      << "\"/>\n";
  }
  for (const auto& p : points) {
    o << "<circle class=\"point\" cx=\"" << num(px_x(x, p.x)) << "\" cy=\"" << num(px_y(y, p.y))
      << "\" r=\"4\" fill=\"#1f77b4\"><title>" << escape(p.label + ": " + num(p.y, "%.6g")) << "</title></circle>\n";
  }
  const size_t unfinished = trials.size() - points.size();
  o << "<g class=\"legend\">\n"
    << "<circle cx=\"" << kLeft + 10 << "\" cy=\"" << kTop - 6 << "\" r=\"4\" fill=\"#1f77b4\"/>"
    << "<text x=\"" << kLeft + 18 << "\" y=\"" << kTop - 2 << "\">trial result</text>\n"
    << "<line x1=\"" << kLeft + 110 << "\" y1=\"" << kTop - 6 << "\" x2=\"" << kLeft + 130 << "\" y2=\"" << kTop - 6
    << "\" stroke=\"#d62728\" stroke-width=\"2\"/>"
    << "<text x=\"" << kLeft + 136 << "\" y=\"" << kTop - 2 << "\">best so far</text>\n";
  if (unfinished > 0)
    o << "<text x=\"" << kWidth - kRight << "\" y=\"" << kTop - 2 << "\" text-anchor=\"end\">" << unfinished
      << " trial(s) without a result</text>\n";
  o << "</g>\n</svg>\n";
  return o.str();
}

std::string curves_svg(const json& report) {
  struct Curve {
    int id;
    std::vector<std::pair<double, double>> points;  // step, value
  };
  std::vector<Curve> curves;
  double xl = 0, xh = 1, yl = 0, yh = 1;
  bool first = true;
  for (const auto& t : report.at("tune").at("trials")) {
    Curve c{t.value("id", 0), {}};
    for (const auto& m : t.value("intermediate", json::array())) {
      const json& v = m.value("value", json());
      const json n = v.is_object() ? v.value("default", json()) : v;
      if (!n.is_number()) continue;
      const double x = m.value("step", 0), y = n.get<double>();
      if (first) xl = xh = x, yl = yh = y, first = false;
      xl = std::min(xl, x), xh = std::max(xh, x), yl = std::min(yl, y), yh = std::max(yh, y);
      c.points.push_back({x, y});
    }
    if (!c.points.empty()) curves.push_back(std::move(c));
  }
  const Axis x = make_axis(xl, xh), y = make_axis(yl, yh, wide_positive(yl, yh));
  std::ostringstream o;
  o << svg_open("Intermediate results of " + std::to_string(curves.size()) + " trial(s)")
    << axes(x, y, "step", "intermediate result");
  for (size_t i = 0; i < curves.size(); ++i) {
    const Curve& c = curves[i];
    const std::string colour = kPalette[i % (sizeof kPalette / sizeof *kPalette)];
    std::ostringstream line;
    for (const auto& [sx, sy] : c.points) line << num(px_x(x, sx)) << "," << num(px_y(y, sy)) << " ";
    const std::string label = "trial " + std::to_string(c.id);
    o << "<polyline class=\"curve\" fill=\"none\" stroke-width=\"1.5\" stroke=\"" << colour << "\" points=\""
      << line.str() << "\"><title>" << escape(label) << "</title></polyline>\n";
    const auto& [ex, ey] = c.points.back();  // the label at the curve's latest point
    o << "<text class=\"curve-label\" x=\"" << num(px_x(x, ex) + 4) << "\" y=\"" << num(px_y(y, ey) - 4)
      << "\" font-size=\"10\" fill=\"" << colour << "\">#" << c.id << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string parallel_svg(const json& report) {
  const json& trials = report.at("tune").at("trials");
  const bool max = maximize(report);
  struct Trial {
    int id;
    double value;
    std::map<std::string, json> params;
  };
  std::vector<Trial> rows;
  std::set<std::string> names;
  for (const auto& t : trials) {
    auto v = trial_value(t);
    if (!v) continue;
    Trial row{t.value("id", 0), *v, {}};
    row.params = report::flat_params(t.value("params", json::object()));
    for (const auto& [k, _] : row.params) names.insert(k);
    rows.push_back(std::move(row));
  }
  // One axis per parameter, then the result. The experiment's search space decides the axis where the
  // report has it: a choice is categorical, its options in the space's order; a bounded type spans exactly
  // its bounds, in log10 for the log types. Otherwise numbers get a linear axis over the values seen
  // (log10 when they span 100x or more and are all positive), and anything else is placed by category.
  const json space = report.value("config", json::object()).value("searchSpace", json::object());
  struct Column {
    std::string name;
    bool numeric = true;
    Axis axis;
    std::vector<std::string> categories;
  };
  std::vector<Column> columns;
  for (const auto& name : names) {
    Column c{name, true, {}, {}};
    double lo = 0, hi = 0;
    bool first = true;
    std::set<std::string> cats;
    for (const auto& r : rows) {
      auto it = r.params.find(name);
      if (it == r.params.end()) continue;
      if (it->second.is_number()) {
        const double v = it->second.get<double>();
        lo = first ? v : std::min(lo, v), hi = first ? v : std::max(hi, v), first = false;
      } else {
        c.numeric = false;
      }
      cats.insert(it->second.is_string() ? it->second.get<std::string>() : it->second.dump());
    }
    const json dim = space.contains(name) && space[name].is_object() ? space[name] : json::object();
    const std::string type = dim.value("_type", "");
    const json values = dim.value("_value", json());
    const bool bounded = type == "uniform" || type == "quniform" || type == "loguniform" || type == "qloguniform" ||
                         type == "randint";
    if (type == "choice" && values.is_array() && !values.empty()) {
      c.numeric = false;
      for (const auto& v : values) c.categories.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      for (const auto& seen : cats)  // a value the space does not list (an edited store) still gets a place
        if (std::find(c.categories.begin(), c.categories.end(), seen) == c.categories.end()) c.categories.push_back(seen);
    } else if (c.numeric && bounded && values.is_array() && values.size() >= 2 && values[0].is_number() &&
               values[1].is_number()) {
      const bool log = type.find("log") != std::string::npos;
      c.axis = exact_axis(std::min(values[0].get<double>(), lo), std::max(values[1].get<double>(), hi), log);
    } else if (c.numeric) {
      c.axis = make_axis(lo, hi, type.empty() ? wide_positive(lo, hi) : type.find("log") != std::string::npos);
    } else {
      c.categories.assign(cats.begin(), cats.end());
    }
    columns.push_back(c);
  }
  double vl = 0, vh = 1;
  for (size_t i = 0; i < rows.size(); ++i) {
    vl = i ? std::min(vl, rows[i].value) : rows[i].value;
    vh = i ? std::max(vh, rows[i].value) : rows[i].value;
  }
  columns.push_back({"result", true, make_axis(vl, vh, wide_positive(vl, vh)), {}});

  const double x0 = kLeft, x1 = kWidth - kRight - 70, y0 = kHeight - kBottom, y1 = kTop + 10;
  auto column_x = [&](size_t i) { return columns.size() > 1 ? x0 + (x1 - x0) * i / (columns.size() - 1) : x0; };
  auto position = [&](const Column& c, const json& v) {  // 0..1 up the axis
    if (c.numeric) return c.axis.t(v.get<double>());
    const std::string key = v.is_string() ? v.get<std::string>() : v.dump();
    const auto at = std::find(c.categories.begin(), c.categories.end(), key) - c.categories.begin();
    return c.categories.size() > 1 ? double(at) / (c.categories.size() - 1) : 0.5;
  };

  std::ostringstream o;
  o << svg_open("Hyper-parameters of " + std::to_string(rows.size()) + " finished trials");
  // Trials first, axes drawn over them. Colour: the ramp over the result, best at the bright end.
  for (const auto& r : rows) {
    const double t = vh > vl ? (r.value - vl) / (vh - vl) : 0.5;
    std::ostringstream line;
    for (size_t i = 0; i < columns.size(); ++i) {
      const Column& c = columns[i];
      const json v = i + 1 == columns.size() ? json(r.value) : [&] {
        auto it = r.params.find(c.name);
        return it == r.params.end() ? json() : it->second;
      }();
      if (v.is_null()) continue;
      line << num(column_x(i)) << "," << num(y0 - position(c, v) * (y0 - y1)) << " ";
    }
    o << "<polyline class=\"trial\" fill=\"none\" stroke-width=\"1.5\" stroke-opacity=\"0.8\" stroke=\""
      << ramp(max ? t : 1 - t) << "\" points=\"" << line.str() << "\"><title>"
      << escape("trial " + std::to_string(r.id) + ": " + num(r.value, "%.6g")) << "</title></polyline>\n";
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    const Column& c = columns[i];
    const double cx = column_x(i);
    o << "<line class=\"axis\" x1=\"" << num(cx) << "\" y1=\"" << y0 << "\" x2=\"" << num(cx) << "\" y2=\"" << y1
      << "\" stroke=\"#333333\"/>\n"
      << "<text class=\"axis-label\" x=\"" << num(cx) << "\" y=\"" << y0 + 22 << "\" text-anchor=\"middle\">"
      << escape(c.name) << (c.axis.log ? " (log)" : "") << "</text>\n";
    std::vector<std::pair<double, std::string>> ticks;
    if (c.numeric) {
      for (double v : c.axis.ticks) ticks.push_back({c.axis.t(v), tick_label(v)});
    } else {
      for (size_t k = 0; k < c.categories.size(); ++k)
        ticks.push_back({c.categories.size() > 1 ? double(k) / (c.categories.size() - 1) : 0.5, c.categories[k]});
    }
    for (const auto& [t, label] : ticks) {
      const double py = y0 - t * (y0 - y1);
      o << "<line class=\"tick\" x1=\"" << num(cx - 4) << "\" y1=\"" << num(py) << "\" x2=\"" << num(cx) << "\" y2=\""
        << num(py) << "\" stroke=\"#333333\"/>"
        << "<text class=\"tick-label\" x=\"" << num(cx - 6) << "\" y=\"" << num(py + 4)
        << "\" text-anchor=\"end\" font-size=\"10\">" << escape(label) << "</text>\n";
    }
  }
  // Legend: the colour ramp with the result range.
  const double lx = kWidth - kRight - 20;
  o << "<g class=\"legend\">\n";
  for (int k = 0; k < 20; ++k) {
    const double t = k / 19.0;  // top = bright
    o << "<rect x=\"" << lx << "\" y=\"" << num(y1 + (y0 - y1) * k / 20) << "\" width=\"14\" height=\""
      << num((y0 - y1) / 20 + 0.5) << "\" fill=\"" << ramp(1 - t) << "\"/>\n";
  }
  const std::string best = num(max ? vh : vl, "%.4g"), worst = num(max ? vl : vh, "%.4g");
  o << "<text x=\"" << lx + 7 << "\" y=\"" << y1 - 6 << "\" text-anchor=\"middle\" font-size=\"10\">best "
    << escape(best) << "</text>\n"
    << "<text x=\"" << lx + 7 << "\" y=\"" << y0 + 14 << "\" text-anchor=\"middle\" font-size=\"10\">"
    << escape(worst) << "</text>\n"
    << "</g>\n</svg>\n";
  return o.str();
}

}  // namespace vdsr::report
