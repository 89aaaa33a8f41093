// See report.h.
#include "report.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "output/histogram.h"
#include "output/json.h"
#include "util/error.h"
#include "util/format.h"

#include <fmt/format.h>

namespace tcp_duration {

namespace {

const char* end_text(End e) { return e == End::Fin ? "FIN" : "RST"; }
const char* side_text(Side s) { return s == Side::Client ? "client" : "server"; }

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
  if (e.seen & TD_SEEN_SYNACK) c.syn_to_synack_ns = e.syn_to_synack_ns;
  if ((e.seen & TD_SEEN_SYNACK) && (e.seen & TD_SEEN_ACK)) c.synack_to_ack_ns = e.synack_to_ack_ns;
  if (e.owner == TD_OWNER_CLIENT || e.owner == TD_OWNER_SERVER) {
    c.owner_side = e.owner == TD_OWNER_CLIENT ? Side::Client : Side::Server;
    c.owner_uid = e.owner_uid;
    c.owner_cgroup_id = e.owner_cgroup_id;
  }
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
    return fmt::format("{:>21}", fmt::format("[{}]:{:<5}", a, port));
  }
  return fmt::format("{:>15}:{:<5}", a, port);
}

std::string seconds_text(std::uint64_t ns) { return fmt::format("{}.{:09}", ns / 1000000000ULL, ns % 1000000000ULL); }

std::string micros_text(std::optional<std::uint64_t> ns) {
  if (!ns) return "-";
  return fmt::format("{}.{:03}", *ns / 1000, *ns % 1000);
}

std::string text_line(const Connection& c, bool with_owner) {
  const std::string client = endpoint_text(c.family, c.client_addr, c.client_port);
  const std::string server = endpoint_text(c.family, c.server_addr, c.server_port);
  const std::string dur = seconds_text(c.duration_ns);
  std::string line = fmt::format(
      "{} -> {} | Duration: {:<12} s | {} by {:<6} | c->s {:>10} B {:>7} pkts | s->c {:>10} B {:>7} pkts | "
      "SYN->SYN/ACK {:>10} us | SYN/ACK->ACK {:>10} us",
      client, server, dur, end_text(c.end), side_text(c.ended_by), c.bytes_c2s, c.packets_c2s, c.bytes_s2c,
      c.packets_s2c, micros_text(c.syn_to_synack_ns), micros_text(c.synack_to_ack_ns));
  if (with_owner) {
    if (!c.owner_side) {
      line += " | local -";
    } else {
      line += fmt::format(" | local {} ", side_text(*c.owner_side));
      if (c.owner) {
        line += c.owner->text();
      } else {
        tracekit::OwnerInfo bare;  // not named (no OwnerBook): the numbers
        bare.uid = c.owner_uid;
        bare.cgroup_id = c.owner_cgroup_id;
        line += bare.text();
      }
    }
  }
  return line;
}

void connection_json(const Connection& c, tracekit::JsonLine& j) {
  j.field("family", c.family).field("client_addr", address_text(c.family, c.client_addr));
  j.field("client_port", static_cast<unsigned>(c.client_port))
      .field("server_addr", address_text(c.family, c.server_addr));
  j.field("server_port", static_cast<unsigned>(c.server_port));
  j.field("duration_ns", static_cast<unsigned long long>(c.duration_ns)).raw("duration_s", seconds_text(c.duration_ns));
  j.field("end", c.end == End::Fin ? "fin" : "rst").field("ended_by", side_text(c.ended_by));
  j.field("bytes_c2s", static_cast<unsigned long long>(c.bytes_c2s));
  j.field("bytes_s2c", static_cast<unsigned long long>(c.bytes_s2c));
  j.field("packets_c2s", static_cast<unsigned long long>(c.packets_c2s));
  j.field("packets_s2c", static_cast<unsigned long long>(c.packets_s2c));
  j.field("syns", c.syns);
  if (c.syn_to_synack_ns)
    j.raw("syn_to_synack_us", micros_text(c.syn_to_synack_ns));
  else
    j.null("syn_to_synack_us");
  if (c.synack_to_ack_ns)
    j.raw("synack_to_ack_us", micros_text(c.synack_to_ack_ns));
  else
    j.null("synack_to_ack_us");
  if (c.owner_side)
    j.field("local", side_text(*c.owner_side));
  else
    j.null("local");
  tracekit::OwnerInfo bare;
  const tracekit::OwnerInfo* o = c.owner;
  if (c.owner_side && !o) {  // not named: the numbers
    bare.uid = c.owner_uid;
    bare.cgroup_id = c.owner_cgroup_id;
    o = &bare;
  }
  tracekit::owner_json(c.owner_side ? o : nullptr, j);
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

namespace {

// "12.345" (microseconds, up to 3 decimals) -> ns; nullopt for "-", null or garbage.
std::optional<std::uint64_t> parse_micros(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  std::uint64_t whole = 0, frac = 0;
  std::size_t digits = 0, frac_digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 18; ++i, ++digits)
    whole = whole * 10 + static_cast<std::uint64_t>(text[i] - '0');
  if (digits == 0) return std::nullopt;
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++frac_digits)
      if (frac_digits < 3) frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
    if (frac_digits == 0) return std::nullopt;
  }
  for (std::size_t k = std::min<std::size_t>(frac_digits, 3); k < 3; ++k) frac *= 10;
  return whole * 1000 + frac;
}

// The value after `key` in line: text "KEY <spaces>VALUE us", JSON "KEY VALUE".
std::optional<std::uint64_t> micros_after(std::string_view line, std::string_view key, bool json) {
  const auto pos = line.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(pos + key.size());
  auto v = parse_micros(rest);
  if (!v || json) return v;
  // Text: the number must be followed by " us".
  std::size_t i = rest.find_first_not_of(' ');
  i = rest.find_first_not_of("0123456789.", i);
  if (i == std::string_view::npos || rest.substr(i, 3) != " us") return std::nullopt;
  return v;
}

}  // namespace

LineHandshake parse_handshake(std::string_view line) {
  LineHandshake h;
  if (line.find("\"duration_ns\":") != std::string_view::npos) {
    h.syn_to_synack_ns = micros_after(line, "\"syn_to_synack_us\":", true);
    h.synack_to_ack_ns = micros_after(line, "\"synack_to_ack_us\":", true);
  } else {
    h.syn_to_synack_ns = micros_after(line, "| SYN->SYN/ACK ", false);
    h.synack_to_ack_ns = micros_after(line, "| SYN/ACK->ACK ", false);
  }
  return h;
}

DurationFile read_durations(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw tracekit::Error("cannot read " + path + ": " + std::strerror(errno));
  DurationFile f;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++f.lines;
    if (auto s = parse_duration_seconds(line)) {
      f.seconds.push_back(*s);
      const LineHandshake h = parse_handshake(line);
      if (h.syn_to_synack_ns) f.handshakes.syn_to_synack_ns.push_back(*h.syn_to_synack_ns);
      if (h.synack_to_ack_ns) f.handshakes.synack_to_ack_ns.push_back(*h.synack_to_ack_ns);
    } else {
      ++f.unparsed;
    }
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

tracekit::Summary micros_summary(const std::vector<std::uint64_t>& ns) {
  std::vector<double> us;
  us.reserve(ns.size());
  for (std::uint64_t v : ns) us.push_back(static_cast<double>(v) / 1e3);
  return tracekit::summarize(std::move(us));
}

std::string handshake_text_line(const char* name, const std::vector<std::uint64_t>& ns) {
  const tracekit::Summary s = micros_summary(ns);
  if (s.count == 0) return fmt::format("  {:<15} not seen\n", name);
  return fmt::format("  {:<15} {:>6} seen  min {:.3f}  p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  max {:.3f}\n", name, s.count,
                     s.min, s.p50, s.p90, s.p99, s.max);
}

void handshake_json(const char* key, const std::vector<std::uint64_t>& ns, tracekit::JsonLine& j) {
  const tracekit::Summary s = micros_summary(ns);
  j.begin_object(key).field("count", static_cast<unsigned long long>(s.count));
  if (s.count) {
    j.field("min_us", s.min).field("p50_us", s.p50).field("p90_us", s.p90).field("p99_us", s.p99);
    j.field("max_us", s.max).field("mean_us", s.mean);
  }
  j.end();
}

}  // namespace

std::string summary_text(const std::vector<std::uint64_t>& durations_ns, bool msecs, const TableCounters* counters,
                         const Handshakes* handshakes) {
  std::string out = "\n";
  const tracekit::Summary s = tracekit::summarize(seconds_of(durations_ns));
  if (s.count == 0) {
    out += "Summary: no finished connections.\n";
  } else {
    out += fmt::format("Summary: {} connection{}, durations in seconds\n", s.count, s.count == 1 ? "" : "s");
    out += fmt::format("  min {:.6f}  p50 {:.6f}  p90 {:.6f}  p99 {:.6f}  max {:.6f}  mean {:.6f}\n", s.min, s.p50,
                       s.p90, s.p99, s.max, s.mean);
    out += "\n" + tracekit::format_log2_hist(hist_buckets(durations_ns, msecs), msecs ? "msecs" : "usecs");
    if (handshakes) {
      out += "\nHandshake at the hook, microseconds (of the connections where it was seen):\n";
      out += handshake_text_line("SYN -> SYN/ACK", handshakes->syn_to_synack_ns);
      out += handshake_text_line("SYN/ACK -> ACK", handshakes->synack_to_ack_ns);
    }
  }
  if (counters) {
    const TableCounters& t = *counters;
    out += fmt::format("\nTable: {} opened ({} SYN retransmits), {} closed by FIN, {} by RST,\n", t.opened,
                       t.syn_retransmits, t.closed_fin, t.closed_rst);
    out += fmt::format("  {} still open at exit, {} evicted, {} replaced by a new SYN, {} not inserted;\n",
                       t.still_open, t.evicted(), t.replaced, t.insert_failed);
    out += fmt::format("  FIN/RST of unknown connections: {}/{}; unparsed packets: {}; events lost: {}\n", t.orphan_fin,
                       t.orphan_rst, t.unparsed, t.lost_events);
  }
  return out;
}

void summary_json(const std::vector<std::uint64_t>& durations_ns, bool msecs, const TableCounters* counters,
                  tracekit::JsonLine& j, const Handshakes* handshakes) {
  using ull = unsigned long long;
  const tracekit::Summary s = tracekit::summarize(seconds_of(durations_ns));
  j.field("count", static_cast<ull>(s.count));
  if (s.count) {
    j.field("min_s", s.min).field("p50_s", s.p50).field("p90_s", s.p90).field("p99_s", s.p99);
    j.field("max_s", s.max).field("mean_s", s.mean);
  }
  j.field("hist_unit", msecs ? "msecs" : "usecs").begin_array("hist");
  const auto buckets = hist_buckets(durations_ns, msecs);
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const ull low = i == 0 ? 0 : 1ULL << i;
    const ull high = i >= 63 ? ~0ULL : (1ULL << (i + 1)) - 1;
    j.begin_object().field("low", low).field("high", high).field("count", static_cast<ull>(buckets[i])).end();
  }
  j.end();
  if (handshakes) {
    j.begin_object("handshake");
    handshake_json("syn_to_synack", handshakes->syn_to_synack_ns, j);
    handshake_json("synack_to_ack", handshakes->synack_to_ack_ns, j);
    j.end();
  }
  if (counters) {
    const TableCounters& t = *counters;
    j.begin_object("table");
    j.field("opened", static_cast<ull>(t.opened)).field("syn_retransmits", static_cast<ull>(t.syn_retransmits));
    j.field("closed_fin", static_cast<ull>(t.closed_fin)).field("closed_rst", static_cast<ull>(t.closed_rst));
    j.field("still_open", static_cast<ull>(t.still_open)).field("evicted", static_cast<ull>(t.evicted()));
    j.field("replaced", static_cast<ull>(t.replaced)).field("insert_failed", static_cast<ull>(t.insert_failed));
    j.field("orphan_fin", static_cast<ull>(t.orphan_fin)).field("orphan_rst", static_cast<ull>(t.orphan_rst));
    j.field("unparsed", static_cast<ull>(t.unparsed)).field("lost_events", static_cast<ull>(t.lost_events));
    j.end();
  }
}

std::vector<std::uint64_t> to_ns(const std::vector<double>& seconds) {
  std::vector<std::uint64_t> ns;
  ns.reserve(seconds.size());
  for (double s : seconds) ns.push_back(s <= 0 ? 0 : static_cast<std::uint64_t>(std::llround(s * 1e9)));
  return ns;
}

}  // namespace tcp_duration
