// Command line shared by every tool (cxxopts).
//
// Common flags: -h/--help, --version, -d/--duration, -j/--json, -v/--verbose,
// --kernel-headers. Each tool adds its own with options().add_options().
// Usage errors become tracekit::UsageError (exit code 2).
#pragma once

#include <cxxopts.hpp>

#include <optional>
#include <string>

namespace tracekit {

struct CommonOptions {
  double duration = 0;         // seconds; 0 = until a signal
  bool json = false;
  bool verbose = false;
  std::string kernel_headers;  // empty = automatic
};

class Cli {
 public:
  Cli(std::string tool, std::string description, std::string examples);
  cxxopts::Options& options() { return options_; }

  // Parses argv. Returns nullopt when --help or --version was printed (exit 0).
  std::optional<cxxopts::ParseResult> parse(int argc, char** argv);
  std::string help() const;

  const CommonOptions& common() const { return common_; }

 private:
  std::string tool_;
  std::string examples_;
  cxxopts::Options options_;
  CommonOptions common_;
};

// Typed accessors that turn bad values into UsageError naming the flag.
double get_seconds(const cxxopts::ParseResult& r, const std::string& name, bool allow_zero);
long get_count(const cxxopts::ParseResult& r, const std::string& name, long min, long max);

}  // namespace tracekit
