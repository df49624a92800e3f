#pragma once
// What every CLI shares: error handling and exit codes, logging to stderr, report fragments.
#include <CLI/CLI.hpp>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace vdsr::cli {

// Parses the command line and runs `body`. A vdsr::Error or a bad command line prints
// "error: <message>" and returns 2; --help returns 0; any other exception prints and returns 1.
int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

// Checks for flags (run when the flag is given): an integer of at least `lo`; a number in [lo, hi) (NaN
// fails). The error reads "<flag>: expected ..., got '<value>'" and exits 2.
CLI::Validator integer_at_least(long long lo);
CLI::Validator number_in_half_open(double lo, double hi);

// Splits "a,b" (or repeated values, or both) into its non-empty items.
std::vector<std::string> split_list(const std::vector<std::string>& values);

// Splits "2,3,4" (or repeated values) into integers, each checked against [lo, hi].
std::vector<int> parse_int_list(const std::vector<std::string>& values, const std::string& flag, int lo, int hi);

}  // namespace vdsr::cli
