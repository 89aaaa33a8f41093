#include "util/log.h"

#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <memory>
#include <mutex>

namespace tracekit {
namespace {

std::string g_tool = "tracekit";

// Writes one line per message to stderr, prefixed by the tool and the level.
class StderrSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string line;
    switch (msg.level) {
      case spdlog::level::info:
        break;
      case spdlog::level::warn:
        line = g_tool + ": warning: ";
        break;
      case spdlog::level::err:
      case spdlog::level::critical:
        line = g_tool + ": error: ";
        break;
      default:
        line = g_tool + ": debug: ";
        break;
    }
    line.append(msg.payload.data(), msg.payload.size());
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

void init_logging(const std::string& name, bool verbose) {
  g_tool = name;
  auto logger = std::make_shared<spdlog::logger>(name, std::make_shared<StderrSink>());
  spdlog::set_default_logger(logger);
  set_verbose(verbose);
}

void set_verbose(bool verbose) { spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info); }

const std::string& tool_name() { return g_tool; }

}  // namespace tracekit
