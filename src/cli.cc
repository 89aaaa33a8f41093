#include "cli.h"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "error.h"
#include "log.h"

#ifndef TRACEKIT_VERSION
#define TRACEKIT_VERSION "0.0.0"
#endif

namespace tracekit {

Cli::Cli(std::string tool, std::string description, std::string examples)
    : tool_(std::move(tool)), examples_(std::move(examples)), options_(tool_, description) {
  options_.set_width(100);
  // clang-format off
  options_.add_options("Common")
    ("h,help", "show this help and exit")
    ("version", "print the version and exit")
    ("d,duration", "stop after SECONDS (0 = run until Ctrl-C/SIGTERM/SIGHUP)",
       cxxopts::value<std::string>()->default_value("0"), "SECONDS")
    ("j,json", "print JSON lines (one object per line) on stdout")
    ("v,verbose", "debug logs on stderr, including bcc's own messages")
    ("kernel-headers", "kernel header tree for bcc (default: automatic)",
       cxxopts::value<std::string>(), "DIR");
  // clang-format on
}

std::string Cli::help() const {
  std::string text = options_.help({"", "Common"});
  if (!examples_.empty()) text += "\nEXAMPLES:\n" + examples_;
  return text;
}

std::optional<cxxopts::ParseResult> Cli::parse(int argc, char** argv) {
  cxxopts::ParseResult result;
  try {
    result = options_.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(e.what(), "see " + tool_ + " --help");
  }
  if (result.count("help")) {
    std::cout << help() << std::flush;
    return std::nullopt;
  }
  if (result.count("version")) {
    std::cout << tool_ << " " << TRACEKIT_VERSION << "\n" << std::flush;
    return std::nullopt;
  }
  if (!result.unmatched().empty())
    throw UsageError("unexpected argument: " + result.unmatched().front(),
                     "see " + tool_ + " --help");
  common_.duration = get_seconds(result, "duration", true);
  common_.json = result.count("json") > 0;
  common_.verbose = result.count("verbose") > 0;
  set_verbose(common_.verbose);
  if (result.count("kernel-headers")) {
    common_.kernel_headers = result["kernel-headers"].as<std::string>();
    if (common_.kernel_headers.empty()) throw UsageError("--kernel-headers needs a directory");
  }
  return result;
}

namespace {
std::string raw_value(const cxxopts::ParseResult& r, const std::string& name) {
  try {
    return r[name].as<std::string>();
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError("--" + name + ": " + e.what());
  }
}
}  // namespace

double get_seconds(const cxxopts::ParseResult& r, const std::string& name, bool allow_zero) {
  std::string text = raw_value(r, name);
  double v = 0;
  size_t used = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(v) || v < 0 || (!allow_zero && v == 0) ||
      v > 1e7)
    throw UsageError("bad value for --" + name + ": '" + text + "' (expected seconds" +
                     (allow_zero ? ", 0 or more)" : ", more than 0)"));
  return v;
}

long get_count(const cxxopts::ParseResult& r, const std::string& name, long min, long max) {
  std::string text = raw_value(r, name);
  long v = 0;
  size_t used = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max)
    throw UsageError("bad value for --" + name + ": '" + text + "' (expected a whole number from " +
                     std::to_string(min) + " to " + std::to_string(max) + ")");
  return v;
}

}  // namespace tracekit
