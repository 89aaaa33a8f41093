// Error types shared by every tool.
//
// A tool's main() catches tracekit::Error, prints one line ("<tool>: error: <what>")
// plus an optional hint line, and exits with exit_code(): 2 for usage errors
// (bad flag, bad number, unknown interface), 1 for runtime failures.
#pragma once

#include <stdexcept>
#include <string>

namespace tracekit {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, std::string hint = {}, int exit_code = kExitFailure)
      : std::runtime_error(what), hint_(std::move(hint)), exit_code_(exit_code) {}
  const std::string& hint() const { return hint_; }
  int exit_code() const { return exit_code_; }

 private:
  std::string hint_;
  int exit_code_;
};

// Bad command-line input: exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what, std::string hint = {}) : Error(what, std::move(hint), kExitUsage) {}
};

}  // namespace tracekit
