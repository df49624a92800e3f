#pragma once
// The report contract shared by every stage (docs/report-schema.md): a JSON object with a fixed header
// (schema, stage, tool, version, created, machine) that each stage extends with what it knows.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace vdsr::report {

constexpr const char* kSchema = "vdsr-report/1";

// The project version (`git describe` at configure time) and the current time as ISO-8601 UTC.
std::string version();
std::string now_iso8601();

// A report with its header filled: schema, stage, tool, version, created, machine {cpu, cores, isa}.
nlohmann::json create(const std::string& stage, const std::string& tool);

// {path, bytes, sha256} of an existing file.
nlohmann::json file_entry(const std::filesystem::path& path);

// The folders a report's paths are written relative to: the working directory (the repository root
// when the pipeline runs a tool) and the assets folder ($VDSR_ASSETS), both absolute.
struct PathRoots {
  std::string root, assets;
  static PathRoots current();
};
// `text` with every absolute path under roots.assets written as ${assets}/... and every one under
// roots.root as relative to it ("." for the root itself), so that a report reads the same on any machine.
// Paths elsewhere are kept. report::write applies it to every string of a report.
std::string portable_path(const std::string& text, const PathRoots& roots = PathRoots::current());

// Writes the report as indented JSON, atomically (a temp file renamed into place), after validate():
// a CLI cannot write a report that readers would refuse.
void write(const std::filesystem::path& path, const nlohmann::json& report);

// A trial's parameters with nested choices flattened into "outer/inner" keys, as the tune report's
// trial tables and the tuner's CSV export show them; a non-object gives no keys.
std::map<std::string, nlohmann::json> flat_params(const nlohmann::json& params);

// The stages a report may come from.
const std::vector<std::string>& known_stages();

// Checks a parsed report against the contract (docs/report-schema.md): the header keys and their types,
// a schema this build reads, a known stage, and the types of the fixed key paths that are present.
// Unknown keys are ignored; a null value at an optional key path means "not measured". Throws
// vdsr::Error "<where>: <key path>: <what was expected>".
void validate(const nlohmann::json& report, const std::string& where);

// Reads and validates a report file; throws vdsr::Error "<file>: ..." for anything else (not JSON, not
// an object, not a vdsr report, a newer schema, a bad key).
nlohmann::json read(const std::filesystem::path& path);
// The same from a report's text (vdsr/util/json_io.h limits); `where` names it in errors.
nlohmann::json parse(std::string_view text, const std::string& where);

}  // namespace vdsr::report
