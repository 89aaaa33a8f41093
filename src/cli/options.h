// Choices the command line offers, with one parser for all of them.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "util/error.h"

namespace tracekit {

enum class BufferKind { Ring, Perf };               // --buffer ring|perf
enum class ProbeMode { Auto, Tracepoint, Kprobe };  // --probe auto|tracepoint|kprobe
enum class TcMode { Auto, Tcx, Clsact };            // --attach auto|tcx|clsact
enum class TcDirection { Ingress, Egress };         // --direction ingress|egress|both

// The value of --flag among `choices`, else UsageError
// "bad value for --flag: 'x' (expected a, b or c)".
template <class T>
T parse_choice(const std::string& flag, const std::string& text,
               std::initializer_list<std::pair<const char*, T>> choices) {
  std::string expected;
  size_t i = 0;
  for (const auto& [name, value] : choices) {
    if (text == name) return value;
    expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(name);
    ++i;
  }
  throw UsageError("bad value for --" + flag + ": '" + text + "' (expected " + expected + ")");
}

BufferKind parse_buffer_kind(const std::string& text);
ProbeMode parse_probe_mode(const std::string& text);
TcMode parse_tc_mode(const std::string& text);
std::vector<TcDirection> parse_tc_directions(const std::string& text);  // "both": {Ingress, Egress}

const char* to_string(BufferKind k);   // "ring" / "perf"
const char* to_string(TcDirection d);  // "ingress" / "egress"
const char* to_string(TcMode m);       // "auto" / "tcx" / "clsact"

}  // namespace tracekit
