#include "report/report.h"

#include <chrono>
#include <ctime>

#include "vdsr/util/cpu.h"
#include "vdsr/util/files.h"

namespace vdsr::report {

std::string version() { return VDSR_VERSION; }

std::string now_iso8601() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

nlohmann::json create(const std::string& stage, const std::string& tool) {
  return {{"schema", kSchema},
          {"stage", stage},
          {"tool", tool},
          {"version", version()},
          {"created", now_iso8601()},
          {"machine", {{"cpu", cpu_model()}, {"cores", cpu_cores()}, {"isa", onednn_isa()}}}};
}

nlohmann::json file_entry(const std::filesystem::path& path) {
  return {{"path", path.string()},
          {"bytes", std::filesystem::file_size(path)},
          {"sha256", sha256_file(path)}};
}

void write(const std::filesystem::path& path, const nlohmann::json& report) {
  validate(report, path.string());
  write_file_atomically(path, report.dump(2) + "\n");
}

namespace {

void flatten_params(const nlohmann::json& params, const std::string& prefix, std::map<std::string, nlohmann::json>& out) {
  if (!params.is_object()) return;
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "/" + it.key();
    if (it.value().is_object())
      flatten_params(it.value(), key, out);
    else
      out[key] = it.value();
  }
}

}  // namespace

std::map<std::string, nlohmann::json> flat_params(const nlohmann::json& params) {
  std::map<std::string, nlohmann::json> out;
  flatten_params(params, "", out);
  return out;
}

}  // namespace vdsr::report
