// The live page of a tuning experiment: what vdsr-tune keeps in DIR/report.html while it runs.
#include <cmath>
#include <map>
#include <optional>
#include <cstdio>
#include <set>
#include <sstream>

#include "report/render.h"
#include "report/report.h"

namespace vdsr::report {

using nlohmann::json;

namespace {

std::string number(double v, const char* format = "%.6g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// 3725 -> "1h 02m 05s"; 75 -> "1m 15s"; 4.2 -> "4.2s".
std::string duration_text(double s) {
  if (s < 60) return number(s, "%.1fs");
  const long t = std::lround(s);
  char buf[48];
  if (t < 3600)
    std::snprintf(buf, sizeof buf, "%ldm %02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldh %02ldm %02lds", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

std::string cell_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return number(v.get<double>());
  return v.dump();
}

std::optional<double> result_of(const json& trial) {
  const json& f = trial.value("final", json());
  if (f.is_number()) return f.get<double>();
  if (f.is_object() && f.contains("default") && f["default"].is_number()) return f["default"].get<double>();
  return std::nullopt;
}

const char* kStyle =
    "<style>\n"
    ".status{display:flex;flex-wrap:wrap;gap:24px;align-items:center;padding:12px 16px;background:#f6f8fa;"
    "border:1px solid #ddd;margin-bottom:16px}\n"
    ".status .state{font-weight:bold;padding:4px 10px;border-radius:4px;color:#fff}\n"
    ".state.running{background:#1a7f37}.state.done{background:#0969da}.state.interrupted{background:#bf8700}\n"
    ".status .figure{font-size:14px}.status .figure b{font-size:18px}\n"
    "td.SUCCEEDED{color:#1a7f37}td.FAILED{color:#cf222e}td.RUNNING{color:#0969da;font-weight:bold}\n"
    "td.EARLY_STOPPED{color:#8250df}td.INTERRUPTED{color:#bf8700}tr.best td{background:#fff8c5}\n"
    "</style>\n";

}  // namespace

std::string experiment_page(const json& tune_report, const ExperimentStatus& status) {
  const json& tune = tune_report.at("tune");
  const json& trials = tune.at("trials");
  const json config = tune_report.value("config", json::object());
  const std::string name = config.value("experimentName", std::string("experiment"));
  const json& best = tune.value("best", json());
  std::map<std::string, int> counts;
  for (const auto& t : trials) ++counts[t.value("status", std::string())];
  const int done = counts["SUCCEEDED"] + counts["FAILED"] + counts["EARLY_STOPPED"];

  std::ostringstream o;
  // Status header.
  o << "<div class=\"status\">\n<span class=\"state " << escape(status.state) << "\">" << escape(status.state)
    << "</span>\n<span class=\"figure\"><b>" << done << "</b>";
  if (config.contains("maxTrialNumber")) o << " / " << config["maxTrialNumber"].dump();
  o << " trials done</span>\n<span class=\"figure\"><b>" << counts["RUNNING"] << "</b> running</span>\n"
    << "<span class=\"figure\"><b>" << counts["FAILED"] << "</b> failed</span>\n";
  if (counts["EARLY_STOPPED"]) o << "<span class=\"figure\"><b>" << counts["EARLY_STOPPED"] << "</b> stopped early</span>\n";
  o << "<span class=\"figure\">elapsed <b>" << escape(duration_text(status.elapsed_s)) << "</b></span>\n"
    << "<span class=\"figure\">best so far: <b>"
    << (best.is_object() && best.contains("value")
            ? escape(number(best["value"].get<double>())) + "</b> (trial " + best["id"].dump() + ", " +
                  tune.value("optimize_mode", std::string("minimize")) + ")"
            : std::string("none yet</b>"))
    << "</span>\n</div>\n";

  // Trials table: parameters as columns, in the order of the first trial that has them.
  std::vector<std::string> params;
  std::set<std::string> seen;
  std::vector<std::map<std::string, json>> flat;
  for (const auto& t : trials) {
    flat.push_back(flat_params(t.value("params", json::object())));
    for (const auto& [k, _] : flat.back())
      if (seen.insert(k).second) params.push_back(k);
  }
  const int best_id = best.is_object() && best.contains("id") ? best["id"].get<int>() : -1;
  o << "<h2>Trials</h2>\n<table class=\"trials\">\n<thead><tr><th>trial</th><th>status</th>";
  for (const auto& p : params) o << "<th>" << escape(p) << "</th>";
  o << "<th>result</th><th>duration</th><th>logs</th></tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < trials.size(); ++i) {
    const json& t = trials[i];
    const int id = t.value("id", 0);
    const std::string st = t.value("status", std::string());
    o << "<tr" << (id == best_id ? " class=\"best\"" : "") << " id=\"trial-" << id << "\"><td class=\"num\">" << id
      << "</td><td class=\"" << escape(st) << "\"";
    if (t.contains("message")) o << " title=\"" << escape(t["message"].get<std::string>()) << "\"";
    o << ">" << escape(st) << "</td>";
    for (const auto& p : params) {
      auto it = flat[i].find(p);
      o << "<td class=\"num\">" << (it == flat[i].end() ? "" : escape(cell_text(it->second))) << "</td>";
    }
    const auto result = result_of(t);
    double seconds = t.value("seconds", 0.0);
    if (auto r = status.running_seconds.find(id); r != status.running_seconds.end()) seconds = r->second;
    const std::string dir = "trials/" + std::to_string(id) + "/";
    // A retried attempt reports to a metrics file of its own (docs/trial-protocol.md).
    const int attempt = t.value("attempt", 1);
    const std::string metrics =
        attempt > 1 ? "metrics.attempt" + std::to_string(attempt) + ".jsonl" : "metrics.jsonl";
    o << "<td class=\"num\">" << (result ? escape(number(*result)) : "") << "</td><td class=\"num\">"
      << escape(duration_text(seconds)) << "</td><td><a href=\"" << escape(dir + "stdout.log") << "\">stdout</a> "
      << "<a href=\"" << escape(dir + "stderr.log") << "\">stderr</a> <a href=\"" << escape(dir + metrics)
      << "\">metrics</a></td></tr>\n";
  }
  o << "</tbody>\n</table>\n";

  o << "<h2>Charts</h2>\n<div class=\"charts\">\n<figure>\n" << trials_svg(tune_report) << "</figure>\n<figure>\n"
    << parallel_svg(tune_report) << "</figure>\n<figure>\n" << curves_svg(tune_report) << "</figure>\n</div>\n";
  o << "<p class=\"updated\">Updated " << escape(now_iso8601())
    << (status.state == "running"
            ? "; this page reloads itself every " + std::to_string(status.refresh_s) + " s while the experiment runs."
            : std::string("."))
    << "</p>\n";

  std::string head = kStyle;
  if (status.state == "running")
    head = "<meta http-equiv=\"refresh\" content=\"" + std::to_string(status.refresh_s) + "\">\n" + head;
  return html_page("Experiment " + name, o.str(), head);
}

}  // namespace vdsr::report
