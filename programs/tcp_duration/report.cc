// See report.h.
#include "report.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "error.h"
#include "format.h"
#include "histogram.h"
#include "json.h"

namespace tcp_duration {

namespace {

const char* end_text(End e) { return e == End::Fin ? "FIN" : "RST"; }
const char* side_text(Side s) { return s == Side::Client ? "client" : "server"; }

__attribute__((format(printf, 1, 2))) std::string fmt(const char* format, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(buf, sizeof buf, format, ap);
  va_end(ap);
  return buf;
}

double ns_to_s(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace

Connection from_event(const td_event& e, std::int64_t realtime_minus_monotonic_ns) {
  Connection c;
  c.family = e.key.family == 6 ? 6 : 4;
  std::memcpy(c.client_addr.data(), e.key.client_addr, 16);
  std::memcpy(c.server_addr.data(), e.key.server_addr, 16);
  c.client_port = e.key.client_port;
  c.server_port = e.key.server_port;
  std::int64_t wall_ns = static_cast<std::int64_t>(e.start_ns) + realtime_minus_monotonic_ns;
  c.start = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(wall_ns)));
  c.duration_ns = e.duration_ns;
  c.end = e.end == TD_END_RST ? End::Rst : End::Fin;
  c.ended_by = e.end_by == TD_S2C ? Side::Server : Side::Client;
  c.bytes_c2s = e.bytes[TD_C2S];
  c.bytes_s2c = e.bytes[TD_S2C];
  c.packets_c2s = e.packets[TD_C2S];
  c.packets_s2c = e.packets[TD_S2C];
  c.syns = e.syns;
  return c;
}

std::string address_text(int family, const std::array<std::uint8_t, 16>& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!::inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof buf)) return "?";
  return buf;
}

std::string endpoint_text(int family, const std::array<std::uint8_t, 16>& addr, std::uint16_t port) {
  const std::string a = address_text(family, addr);
  if (family == 6) {
    // Same column as IPv4 (21): short addresses line up, long ones push the line right.
    std::string s = "[" + a + "]:" + fmt("%-5u", static_cast<unsigned>(port));
    return fmt("%21s", s.c_str());
  }
  return fmt("%15s:%-5u", a.c_str(), static_cast<unsigned>(port));
}

std::string seconds_text(std::uint64_t ns) {
  return fmt("%llu.%09llu", static_cast<unsigned long long>(ns / 1000000000ULL),
             static_cast<unsigned long long>(ns % 1000000000ULL));
}

std::string text_line(const Connection& c) {
  const std::string client = endpoint_text(c.family, c.client_addr, c.client_port);
  const std::string server = endpoint_text(c.family, c.server_addr, c.server_port);
  const std::string dur = seconds_text(c.duration_ns);
  return fmt(
      "%s -> %s | Duration: %-12s s | %s by %-6s | c->s %10llu B %7llu pkts | s->c %10llu B %7llu pkts",
      client.c_str(), server.c_str(), dur.c_str(), end_text(c.end), side_text(c.ended_by),
      static_cast<unsigned long long>(c.bytes_c2s), static_cast<unsigned long long>(c.packets_c2s),
      static_cast<unsigned long long>(c.bytes_s2c), static_cast<unsigned long long>(c.packets_s2c));
}

std::string json_line(const Connection& c) {
  tracekit::JsonObject o;
  o.add("type", "connection")
      .add("start", tracekit::iso8601(c.start))
      .add("family", c.family)
      .add("client_addr", address_text(c.family, c.client_addr))
      .add("client_port", static_cast<unsigned>(c.client_port))
      .add("server_addr", address_text(c.family, c.server_addr))
      .add("server_port", static_cast<unsigned>(c.server_port))
      .add("duration_ns", static_cast<unsigned long long>(c.duration_ns))
      .add_raw("duration_s", seconds_text(c.duration_ns))
      .add("end", c.end == End::Fin ? "fin" : "rst")
      .add("ended_by", side_text(c.ended_by))
      .add("bytes_c2s", static_cast<unsigned long long>(c.bytes_c2s))
      .add("bytes_s2c", static_cast<unsigned long long>(c.bytes_s2c))
      .add("packets_c2s", static_cast<unsigned long long>(c.packets_c2s))
      .add("packets_s2c", static_cast<unsigned long long>(c.packets_s2c))
      .add("syns", c.syns);
  return o.str();
}

std::optional<double> parse_duration_seconds(std::string_view line) {
  // JSON line: the exact nanoseconds.
  constexpr std::string_view json_key = "\"duration_ns\":";
  auto pos = line.find(json_key);
  if (pos != std::string_view::npos) {
    std::string rest(line.substr(pos + json_key.size()));
    const char* begin = rest.c_str();
    while (*begin == ' ') ++begin;
    if (*begin < '0' || *begin > '9') return std::nullopt;
    char* end = nullptr;
    errno = 0;
    unsigned long long ns = std::strtoull(begin, &end, 10);
    if (errno != 0 || end == begin) return std::nullopt;
    return ns_to_s(ns);
  }
  // Text line (ours or the original's): "| Duration: 0.244123127  s".
  constexpr std::string_view text_key = "Duration:";
  pos = line.find(text_key);
  if (pos == std::string_view::npos) return std::nullopt;
  std::string rest(line.substr(pos + text_key.size()));
  const char* begin = rest.c_str();
  while (*begin == ' ') ++begin;
  if (*begin < '0' || *begin > '9') return std::nullopt;
  char* end = nullptr;
  double s = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(s) || s < 0) return std::nullopt;
  while (*end == ' ') ++end;
  if (*end != 's') return std::nullopt;
  return s;
}

DurationFile read_durations(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw tracekit::Error("cannot read " + path + ": " + std::strerror(errno));
  DurationFile f;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++f.lines;
    if (auto s = parse_duration_seconds(line))
      f.seconds.push_back(*s);
    else
      ++f.unparsed;
  }
  if (in.bad()) throw tracekit::Error("cannot read " + path + ": " + std::strerror(errno));
  return f;
}

std::uint64_t TableCounters::evicted() const {
  const std::uint64_t gone = closed_fin + closed_rst + replaced + still_open;
  return opened > gone ? opened - gone : 0;
}

namespace {

std::vector<std::uint64_t> hist_buckets(const std::vector<std::uint64_t>& durations_ns, bool msecs) {
  tracekit::Log2Histogram h;
  const std::uint64_t div = msecs ? 1000000 : 1000;
  for (std::uint64_t ns : durations_ns) h.add(ns / div);
  return h.buckets();
}

std::vector<double> seconds_of(const std::vector<std::uint64_t>& durations_ns) {
  std::vector<double> s;
  s.reserve(durations_ns.size());
  for (std::uint64_t ns : durations_ns) s.push_back(ns_to_s(ns));
  return s;
}

}  // namespace

std::string summary_text(const std::vector<std::uint64_t>& durations_ns, bool msecs,
                         const TableCounters* counters) {
  std::string out = "\n";
  const tracekit::Summary s = tracekit::summarize(seconds_of(durations_ns));
  if (s.count == 0) {
    out += "Summary: no finished connections.\n";
  } else {
    out += fmt("Summary: %zu connection%s, durations in seconds\n", s.count, s.count == 1 ? "" : "s");
    out += fmt("  min %.6f  p50 %.6f  p90 %.6f  p99 %.6f  max %.6f  mean %.6f\n", s.min, s.p50, s.p90, s.p99,
               s.max, s.mean);
    out += "\n" + tracekit::format_log2_hist(hist_buckets(durations_ns, msecs), msecs ? "msecs" : "usecs");
  }
  if (counters) {
    const TableCounters& t = *counters;
    out += fmt("\nTable: %llu opened (%llu SYN retransmits), %llu closed by FIN, %llu by RST,\n",
               static_cast<unsigned long long>(t.opened), static_cast<unsigned long long>(t.syn_retransmits),
               static_cast<unsigned long long>(t.closed_fin), static_cast<unsigned long long>(t.closed_rst));
    out += fmt("  %llu still open at exit, %llu evicted, %llu replaced by a new SYN, %llu not inserted;\n",
               static_cast<unsigned long long>(t.still_open), static_cast<unsigned long long>(t.evicted()),
               static_cast<unsigned long long>(t.replaced), static_cast<unsigned long long>(t.insert_failed));
    out += fmt("  FIN/RST of unknown connections: %llu/%llu; unparsed packets: %llu; events lost: %llu\n",
               static_cast<unsigned long long>(t.orphan_fin), static_cast<unsigned long long>(t.orphan_rst),
               static_cast<unsigned long long>(t.unparsed), static_cast<unsigned long long>(t.lost_events));
  }
  return out;
}

std::string summary_json(const std::vector<std::uint64_t>& durations_ns, bool msecs,
                         const TableCounters* counters) {
  const tracekit::Summary s = tracekit::summarize(seconds_of(durations_ns));
  tracekit::JsonObject o;
  o.add("type", "summary").add("count", static_cast<unsigned long long>(s.count));
  if (s.count) {
    o.add("min_s", s.min)
        .add("p50_s", s.p50)
        .add("p90_s", s.p90)
        .add("p99_s", s.p99)
        .add("max_s", s.max)
        .add("mean_s", s.mean);
  }
  tracekit::JsonArray hist;
  const auto buckets = hist_buckets(durations_ns, msecs);
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    tracekit::JsonObject b;
    const unsigned long long low = i == 0 ? 0 : 1ULL << i;
    const unsigned long long high = i >= 63 ? ~0ULL : (1ULL << (i + 1)) - 1;
    b.add("low", low).add("high", high).add("count", static_cast<unsigned long long>(buckets[i]));
    hist.add_raw(b.str());
  }
  o.add("hist_unit", msecs ? "msecs" : "usecs").add_raw("hist", hist.str());
  if (counters) {
    const TableCounters& t = *counters;
    tracekit::JsonObject c;
    c.add("opened", static_cast<unsigned long long>(t.opened))
        .add("syn_retransmits", static_cast<unsigned long long>(t.syn_retransmits))
        .add("closed_fin", static_cast<unsigned long long>(t.closed_fin))
        .add("closed_rst", static_cast<unsigned long long>(t.closed_rst))
        .add("still_open", static_cast<unsigned long long>(t.still_open))
        .add("evicted", static_cast<unsigned long long>(t.evicted()))
        .add("replaced", static_cast<unsigned long long>(t.replaced))
        .add("insert_failed", static_cast<unsigned long long>(t.insert_failed))
        .add("orphan_fin", static_cast<unsigned long long>(t.orphan_fin))
        .add("orphan_rst", static_cast<unsigned long long>(t.orphan_rst))
        .add("unparsed", static_cast<unsigned long long>(t.unparsed))
        .add("lost_events", static_cast<unsigned long long>(t.lost_events));
    o.add_raw("table", c.str());
  }
  return o.str();
}

std::vector<std::uint64_t> to_ns(const std::vector<double>& seconds) {
  std::vector<std::uint64_t> ns;
  ns.reserve(seconds.size());
  for (double s : seconds) ns.push_back(s <= 0 ? 0 : static_cast<std::uint64_t>(std::llround(s * 1e9)));
  return ns;
}

}  // namespace tcp_duration
