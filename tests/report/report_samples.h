#pragma once
// Synthetic reports for the experiments tests: small, valid vdsr-report/1 documents per stage.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vdsr::test {

using nlohmann::json;

inline json header(const std::string& stage, const std::string& tool) {
  return {{"schema", "vdsr-report/1"}, {"stage", stage}, {"tool", tool}, {"version", "0.1.0+test"},
          {"created", "2026-01-01T00:00:00Z"}, {"machine", {{"cpu", "test cpu"}, {"cores", 2}}}};
}

inline json model(int width, int depth, long long bytes, const std::string& path) {
  // Per-pixel MACs of a VDSR with `depth` convolutions of `width` filters (3x3, one input channel).
  const long long params = 9LL * width + 9LL * width * width * (depth - 2) + 9LL * width;
  return {{"path", path}, {"sha256", std::string(64, 'a')}, {"bytes", bytes}, {"depth", depth},
          {"widths", std::vector<int>(depth - 1, width)}, {"params", params}, {"macs_per_pixel", params}};
}

inline json quality(double x2, double x4) {
  auto q = [](double psnr) {
    return json{{"psnr", psnr}, {"ssim", 0.9}, {"bicubic_psnr", psnr - 3}, {"bicubic_ssim", 0.8},
                {"images", {{"baby", {{"psnr", psnr + 1}, {"ssim", 0.95}, {"bicubic_psnr", psnr - 2}}}}}};
  };
  return {{"Set5", {{"x2", q(x2)}, {"x4", q(x4)}}}};
}

inline json speed(double median_ms) {
  return {{"input", {256, 256}}, {"threads", 2}, {"latency_ms", {{"median", median_ms}, {"min", median_ms * 0.9}, {"max", median_ms * 1.2}}}, {"runs", 5}};
}

inline json eval_report(int width = 64, double x2 = 37.65, double x4 = 31.45) {
  json r = header("eval", "vdsr-eval");
  r["model"] = model(width, 20, width == 64 ? 2665109 : 672041, width == 64 ? "models/vdsr.pt" : "pruned.ckpt");
  r["quality"] = quality(x2, x4);
  r["config"] = {{"dataset", "Set5"}, {"scales", {2, 4}}, {"threads", 2}};
  return r;
}

inline json bench_report(double libtorch_ms, double ort_ms) {
  json r = header("bench", "vdsr-bench");
  r["speed"] = {{"libtorch", speed(libtorch_ms)}, {"onnxruntime", speed(ort_ms)}};
  r["bench"]["results"] = json::array(
      {{{"model", "m"}, {"runtime", "libtorch"}, {"precision", "fp32"}, {"input", {256, 256}}, {"threads", 2},
        {"latency_ms", {{"median", libtorch_ms}, {"min", libtorch_ms}, {"max", libtorch_ms}}}, {"runs", 5},
        {"peak_rss_mb", 120.5}}});
  return r;
}

inline json prune_report() {
  json r = eval_report(32, 33.69, 28.43);
  r["stage"] = "prune";
  r["tool"] = "vdsr-prune";
  r["speed"]["libtorch"] = speed(100.0);
  r["files"]["checkpoint"] = {{"path", "pruned.ckpt"}, {"bytes", 672041}, {"sha256", std::string(64, 'b')}};
  r["prune"] = {{"layers", json::array({{{"name", "input"}, {"type", "Conv2d"}, {"in", 1}, {"out_before", 64},
                                         {"out_after", 32}, {"sparsity", 0.5}, {"kept", 32}}})},
                {"totals", {{"params_before", 664704}, {"params_after", 166464}, {"macs_ratio", 0.25}}}};
  return r;
}

inline json export_report() {
  json r = header("export", "vdsr-export");
  r["model"] = model(32, 20, 672041, "pruned.ckpt");
  r["export"] = {{"files", {{"onnx", {{"path", "p.onnx"}, {"bytes", 673753}, {"sha256", std::string(64, 'c')}, {"opset", 13}}}}},
                 {"parity", {{"onnxruntime", {{"max_abs_diff", 1.8e-7}, {"psnr_delta", 1e-8}}}}}};
  r["speed"] = {{"onnxruntime", speed(50.0)}};
  return r;
}

// Trials 1..n with params lr (log-spread) and kernel (categorical); trial 3 failed. Minimize.
inline json tune_report(int n = 6) {
  json r = header("tune", "vdsr-tune");
  json trials = json::array();
  for (int i = 1; i <= n; ++i) {
    const bool failed = i == 3;
    const double value = 1.0 / i + (i % 2) * 0.1;
    trials.push_back({{"id", i}, {"params", {{"lr", 1e-4 * (i * i * i)}, {"kernel", i % 2 ? "a<b" : "c&d"}}},
                      {"status", failed ? "FAILED" : "SUCCEEDED"},
                      {"final", failed ? json() : json({{"default", value}, {"psnr", 30 + value}})},
                      {"intermediate", json::array()}, {"seconds", 1.5 * i}});
  }
  r["config"] = {{"tuner", {{"name", "TPE"}}}};
  r["tune"] = {{"optimize_mode", "minimize"}, {"trials", trials},
               {"best", {{"id", n}, {"params", trials[n - 1]["params"]}, {"value", 1.0 / n}}}};
  return r;
}

// Checks that `text` is well-formed XML: balanced tags, quoted attributes, entities only as &name; or
// &#...;, one root element. Returns "" when it is, else what is wrong and where.
inline std::string xml_problem(const std::string& text) {
  std::vector<std::string> stack;
  int roots = 0;
  auto entity_ok = [&](size_t i) {
    const size_t semi = text.find(';', i);
    if (semi == std::string::npos || semi - i > 10 || semi == i + 1) return false;
    for (size_t k = i + 1; k < semi; ++k)
      if (!std::isalnum(static_cast<unsigned char>(text[k])) && text[k] != '#') return false;
    return true;
  };
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '&') {
      if (!entity_ok(i)) return "bad '&' at " + std::to_string(i);
      ++i;
      continue;
    }
    if (c != '<') {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(c))) return "text outside the root at " + std::to_string(i);
      ++i;
      continue;
    }
    if (text.compare(i, 4, "<!--") == 0) {
      const size_t end = text.find("-->", i);
      if (end == std::string::npos) return "unclosed comment";
      i = end + 3;
      continue;
    }
    if (text.compare(i, 2, "<?") == 0) {
      const size_t end = text.find("?>", i);
      if (end == std::string::npos) return "unclosed declaration";
      i = end + 2;
      continue;
    }
    const bool closing = i + 1 < text.size() && text[i + 1] == '/';
    size_t k = i + (closing ? 2 : 1);
    const size_t name_start = k;
    while (k < text.size() && (std::isalnum(static_cast<unsigned char>(text[k])) || text[k] == '-' || text[k] == ':' || text[k] == '_')) ++k;
    const std::string name = text.substr(name_start, k - name_start);
    if (name.empty()) return "bad tag at " + std::to_string(i);
    bool self_closing = false;
    for (;;) {  // attributes
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      if (k >= text.size()) return "unterminated tag <" + name + ">";
      if (text[k] == '>') {
        ++k;
        break;
      }
      if (text.compare(k, 2, "/>") == 0 && !closing) {
        self_closing = true;
        k += 2;
        break;
      }
      if (closing) return "attributes on a closing tag </" + name + ">";
      const size_t attr_start = k;
      while (k < text.size() && text[k] != '=' && !std::isspace(static_cast<unsigned char>(text[k])) && text[k] != '>') ++k;
      if (k == attr_start || k >= text.size() || text[k] != '=') return "attribute without a value in <" + name + ">";
      ++k;
      if (k >= text.size() || (text[k] != '"' && text[k] != '\'')) return "unquoted attribute in <" + name + ">";
      const char quote = text[k++];
      const size_t end = text.find(quote, k);
      if (end == std::string::npos) return "unterminated attribute in <" + name + ">";
      for (size_t a = k; a < end; ++a) {
        if (text[a] == '<') return "'<' in an attribute of <" + name + ">";
        if (text[a] == '&' && !entity_ok(a)) return "bad '&' in an attribute of <" + name + ">";
      }
      k = end + 1;
    }
    if (closing) {
      if (stack.empty() || stack.back() != name) return "</" + name + "> does not close " + (stack.empty() ? "anything" : "<" + stack.back() + ">");
      stack.pop_back();
    } else {
      if (stack.empty()) ++roots;
      if (!self_closing) stack.push_back(name);
    }
    i = k;
  }
  if (!stack.empty()) return "<" + stack.back() + "> is never closed";
  if (roots != 1) return std::to_string(roots) + " root elements";
  return "";
}

// Every <svg ...>...</svg> block of an HTML page.
inline std::vector<std::string> svg_blocks(const std::string& html) {
  std::vector<std::string> out;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) {
    const size_t end = html.find("</svg>", at);
    if (end == std::string::npos) break;
    out.push_back(html.substr(at, end + 6 - at));
  }
  return out;
}

inline size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace vdsr::test
