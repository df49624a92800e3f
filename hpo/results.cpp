#include "hpo/results.h"

#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <sstream>

namespace vdsr::hpo {

namespace {

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string cell_text(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return num(v.get<double>());
  return v.dump();
}

}  // namespace

OptimizeMode experiment_mode(const json& config) {
  const json& t = config.value("tuner", json::object());
  OptimizeMode mode = OptimizeMode::Minimize;
  if (t.is_object() && t.contains("classArgs") && t["classArgs"].is_object())
    try_parse_enum(t["classArgs"].value("optimize_mode", ""), mode);
  return mode;
}

std::vector<TrialRecord> sorted_by_result(const std::vector<TrialRecord>& trials, OptimizeMode mode) {
  std::vector<TrialRecord> out = trials;
  auto better = [mode](double a, double b) { return mode == OptimizeMode::Maximize ? a > b : a < b; };
  std::stable_sort(out.begin(), out.end(), [&](const TrialRecord& a, const TrialRecord& b) {
    const bool ra = a.status == TrialState::kSucceeded && a.final, rb = b.status == TrialState::kSucceeded && b.final;
    if (ra != rb) return ra;
    if (ra) return better(*a.final, *b.final);
    return a.id < b.id;
  });
  return out;
}

std::optional<TrialRecord> best_trial(const std::vector<TrialRecord>& trials, OptimizeMode mode) {
  std::vector<TrialRecord> s = sorted_by_result(trials, mode);
  if (s.empty() || s.front().status != TrialState::kSucceeded || !s.front().final) return std::nullopt;
  return s.front();
}

std::string results_table(const std::vector<TrialRecord>& trials, OptimizeMode mode) {
  std::ostringstream o;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-6s %-14s %-14s %9s  %s\n", "trial", "status", "result", "seconds", "parameters");
  o << buf;
  for (const auto& t : sorted_by_result(trials, mode)) {
    std::snprintf(buf, sizeof buf, "%-6d %-14s %-14s %9.1f  ", t.id, name_of(t.status).c_str(),
                  t.final ? num(*t.final).c_str() : "-", t.seconds());
    o << buf << t.params.dump() << "\n";
  }
  return o.str();
}

std::string export_csv(const std::vector<TrialRecord>& trials) {
  // Columns: every parameter, reward, every other numeric final metric, trialJobId, status, duration.
  std::set<std::string> param_cols, metric_cols;
  std::vector<std::map<std::string, json>> rows;
  for (const auto& t : trials) {
    std::map<std::string, json> row = report::flat_params(t.params);
    for (const auto& [k, v] : row) param_cols.insert(k);
    if (t.final_payload.is_object())
      for (auto it = t.final_payload.begin(); it != t.final_payload.end(); ++it)
        if (it.key() != "default") metric_cols.insert(it.key());
    rows.push_back(std::move(row));
  }
  std::ostringstream o;
  std::vector<std::string> header(param_cols.begin(), param_cols.end());
  header.push_back("reward");
  header.insert(header.end(), metric_cols.begin(), metric_cols.end());
  for (const char* c : {"trialJobId", "status", "duration"}) header.push_back(c);
  for (size_t i = 0; i < header.size(); ++i) o << (i ? "," : "") << csv_cell(header[i]);
  o << "\n";
  for (size_t r = 0; r < trials.size(); ++r) {
    const TrialRecord& t = trials[r];
    std::vector<std::string> cells;
    for (const auto& c : param_cols) cells.push_back(rows[r].count(c) ? cell_text(rows[r][c]) : "");
    cells.push_back(t.final ? num(*t.final) : "");
    for (const auto& c : metric_cols)
      cells.push_back(t.final_payload.is_object() && t.final_payload.contains(c) ? cell_text(t.final_payload[c]) : "");
    cells.push_back(std::to_string(t.id));
    cells.push_back(name_of(t.status));
    cells.push_back(num(t.seconds()));
    for (size_t i = 0; i < cells.size(); ++i) o << (i ? "," : "") << csv_cell(cells[i]);
    o << "\n";
  }
  return o.str();
}

json export_json(const std::vector<TrialRecord>& trials) {
  json out = json::array();
  for (const auto& t : trials) {
    json row = {{"parameter", t.params},
                {"value", t.final_payload.is_null() ? json() : t.final_payload},
                {"trialJobId", std::to_string(t.id)},
                {"status", t.status},
                {"duration", t.seconds()}};
    if (!t.message.empty()) row["message"] = t.message;
    out.push_back(row);
  }
  return out;
}

json make_report(const json& config, const std::vector<TrialRecord>& trials) {
  const OptimizeMode mode = experiment_mode(config);
  json list = json::array();
  for (const auto& t : trials) {
    json inter = json::array();
    for (const auto& m : t.intermediate) inter.push_back({{"step", m.step}, {"value", m.payload}});
    json row = {{"id", t.id},
                {"params", t.params},
                {"status", t.status},
                {"final", t.final_payload.is_null() ? json() : t.final_payload},
                {"intermediate", inter},
                {"seconds", t.seconds()}};
    if (!t.message.empty()) row["message"] = t.message;
    if (t.attempt > 1) row["attempt"] = t.attempt;  // a Slurm retry: its results are in its own metrics file
    list.push_back(row);
  }
  json best;
  if (auto b = best_trial(trials, mode)) best = {{"id", b->id}, {"params", b->params}, {"value", *b->final}};
  size_t succeeded = 0, failed = 0;
  for (const auto& t : trials) {
    succeeded += t.status == TrialState::kSucceeded;
    failed += t.status == TrialState::kFailed;
  }
  json report = report::create("tune", "vdsr-tune");
  report["config"] = config;
  report["tune"] = json
           {{"optimize_mode", mode},
            {"counts", {{"trials", trials.size()}, {"succeeded", succeeded}, {"failed", failed}}},
            {"trials", list},
            {"best", best}};
  return report;
}

}  // namespace vdsr::hpo
