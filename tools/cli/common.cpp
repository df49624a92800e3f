#include "tools/cli/common.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "vdsr/util/error.h"

namespace vdsr::cli {

int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  // Results go to stdout and files; logs and progress go to stderr.
  auto logger = spdlog::stderr_color_mt("vdsr");
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  spdlog::set_default_logger(logger);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }
  try {
    return body();
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

CLI::Validator integer_at_least(long long lo) {
  const std::string expected = "an integer >= " + std::to_string(lo);
  return CLI::Validator(
      [lo, expected](std::string& value) -> std::string {
        size_t used = 0;
        long long v = 0;
        try {
          v = std::stoll(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || v < lo) return "expected " + expected + ", got '" + value + "'";
        return "";
      },
      "INT>=" + std::to_string(lo));
}

CLI::Validator number_in_half_open(double lo, double hi) {
  std::ostringstream text;
  text << "[" << lo << ", " << hi << ")";
  const std::string range = text.str();
  return CLI::Validator(
      [lo, hi, range](std::string& value) -> std::string {
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || !(v >= lo && v < hi)) {
          return "expected a number in " + range + ", got '" + value + "'";
        }
        return "";
      },
      "NUMBER in " + range);
}

std::vector<std::string> split_list(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& value : values) {
    std::stringstream ss(value);
    for (std::string item; std::getline(ss, item, ',');) {
      if (!item.empty()) out.push_back(item);
    }
  }
  return out;
}

std::vector<int> parse_int_list(const std::vector<std::string>& values, const std::string& flag, int lo, int hi) {
  std::vector<int> out;
  for (const auto& item : split_list(values)) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < lo || v > hi) {
      throw Error(flag + ": expected integers in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" +
                  item + "'");
    }
    out.push_back(v);
  }
  if (out.empty()) throw Error(flag + ": expected at least one value");
  return out;
}

}  // namespace vdsr::cli
