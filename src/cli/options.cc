#include "cli/options.h"

namespace tracekit {

BufferKind parse_buffer_kind(const std::string& text) {
  return parse_choice<BufferKind>("buffer", text, {{"ring", BufferKind::Ring}, {"perf", BufferKind::Perf}});
}

ProbeMode parse_probe_mode(const std::string& text) {
  return parse_choice<ProbeMode>(
      "probe", text, {{"auto", ProbeMode::Auto}, {"tracepoint", ProbeMode::Tracepoint}, {"kprobe", ProbeMode::Kprobe}});
}

TcMode parse_tc_mode(const std::string& text) {
  return parse_choice<TcMode>("attach", text,
                              {{"auto", TcMode::Auto}, {"tcx", TcMode::Tcx}, {"clsact", TcMode::Clsact}});
}

std::vector<TcDirection> parse_tc_directions(const std::string& text) {
  using D = std::vector<TcDirection>;
  return parse_choice<D>("direction", text,
                         {{"ingress", D{TcDirection::Ingress}},
                          {"egress", D{TcDirection::Egress}},
                          {"both", D{TcDirection::Ingress, TcDirection::Egress}}});
}

const char* to_string(BufferKind k) { return k == BufferKind::Ring ? "ring" : "perf"; }
const char* to_string(TcDirection d) { return d == TcDirection::Ingress ? "ingress" : "egress"; }
const char* to_string(TcMode m) {
  switch (m) {
    case TcMode::Auto:
      return "auto";
    case TcMode::Tcx:
      return "tcx";
    case TcMode::Clsact:
      return "clsact";
  }
  return "?";
}

}  // namespace tracekit
