#pragma once
// The report contract shared by every stage (docs/report-schema.md): a JSON object with a fixed header
// (schema, stage, tool, version, created, machine) that each stage extends with what it knows.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace vdsr::report {

constexpr const char* kSchema = "vdsr-report/1";

// The project version (`git describe` at configure time) and the current time as ISO-8601 UTC.
std::string version();
std::string now_iso8601();

// A report with its header filled: schema, stage, tool, version, created, machine {cpu, cores}.
nlohmann::json create(const std::string& stage, const std::string& tool);

// {path, bytes, sha256} of an existing file.
nlohmann::json file_entry(const std::filesystem::path& path);

// Writes the report as indented JSON, atomically (a temp file renamed into place).
void write(const std::filesystem::path& path, const nlohmann::json& report);

}  // namespace vdsr::report
