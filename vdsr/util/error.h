#pragma once
// The one error type for problems a user can fix (bad input, bad config, missing file).
// CLIs print "error: <message>" and exit 2 for it; any other exception is a runtime failure (exit 1).
#include <stdexcept>
#include <string>

namespace vdsr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace vdsr
