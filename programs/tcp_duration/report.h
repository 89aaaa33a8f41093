// tcp_duration's output: one line per finished connection (text like the original's
// statistics.dat, or JSON), reading such a file back for --plot-only, and the summary
// printed on exit. LLVM-free (unit-tested in tests/unit/tcp_duration_report_test.cc).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "output/json.h"
#include "tcp_duration.h"
#include "util/owner.h"

namespace tcp_duration {

enum class End { Fin, Rst };
enum class Side { Client, Server };

// A finished connection as user space sees it.
struct Connection {
  int family = 4;  // 4 or 6
  std::array<std::uint8_t, 16> client_addr{};
  std::array<std::uint8_t, 16> server_addr{};
  std::uint16_t client_port = 0;
  std::uint16_t server_port = 0;
  std::chrono::system_clock::time_point start;  // wall clock of the first SYN
  std::uint64_t duration_ns = 0;
  End end = End::Fin;
  Side ended_by = Side::Client;  // RST sender, or the side that sent the first FIN
  std::uint64_t bytes_c2s = 0, bytes_s2c = 0;
  std::uint64_t packets_c2s = 0, packets_s2c = 0;
  std::uint32_t syns = 0;
  // The handshake as seen at the hook (nullopt: that step was not seen, e.g. a refused
  // connection has no SYN/ACK): the last SYN before the server's first SYN/ACK to that
  // SYN/ACK, and the SYN/ACK to the client's first ACK.
  std::optional<std::uint64_t> syn_to_synack_ns, synack_to_ack_ns;
  // The local owner: which end is a socket on this host (the client's when both are),
  // its uid and cgroup v2 id; nullopt: neither end's socket was seen.
  std::optional<Side> owner_side;
  std::uint32_t owner_uid = 0;
  std::uint64_t owner_cgroup_id = 0;
  const tracekit::OwnerInfo* owner = nullptr;  // their names (set by the tool when owner_side is)
};

// The handshake times of many connections (each vector: the connections where that
// step was seen).
struct Handshakes {
  std::vector<std::uint64_t> syn_to_synack_ns, synack_to_ack_ns;
};

// Decodes a kernel event. `realtime_minus_monotonic_ns` turns bpf_ktime_get_ns()
// (CLOCK_MONOTONIC) into wall-clock time.
Connection from_event(const td_event& e, std::int64_t realtime_minus_monotonic_ns);

// "10.0.0.1", "fd00::1".
std::string address_text(int family, const std::array<std::uint8_t, 16>& addr);
// The original's column: IPv4 right-aligned in 15 columns, ":", port left-aligned in
// 5 ("   137.226.34.46:80   "); IPv6 as "[fd00::1]:80   ", right-aligned in the same
// 21 columns (longer addresses overflow).
std::string endpoint_text(int family, const std::array<std::uint8_t, 16>& addr, std::uint16_t port);
// Seconds with 9 decimals: "0.244123127".
std::string seconds_text(std::uint64_t ns);

// Microseconds with 3 decimals (exact to the ns): "45.123"; "-" for nullopt.
std::string micros_text(std::optional<std::uint64_t> ns);

// "192.168.143.246:43052 ->   137.226.34.46:80    | Duration: 0.244123127  s |
//  FIN by client | c->s       1234 B     10 pkts | s->c       5678 B     12 pkts |
//  SYN->SYN/ACK     45.123 us | SYN/ACK->ACK     12.456 us"
// (one line, no newline). with_owner: then " | local client uid 4242 /a/b" (or
// " | local -": no local socket seen).
std::string text_line(const Connection& c, bool with_owner = false);
// The JSON fields of a connection record: "family", "client_addr", ... (docs/json.md).
void connection_json(const Connection& c, tracekit::JsonLine& j);

// Duration in seconds of one line written by text_line() or json_line() (or by the
// original tool): nullopt for anything else (blank lines, summaries, garbage).
std::optional<double> parse_duration_seconds(std::string_view line);
// The handshake times of such a line: "SYN->SYN/ACK X us" / "SYN/ACK->ACK X us" (text),
// "syn_to_synack_us" / "synack_to_ack_us" (JSON). nullopt each when absent ("-", null,
// or a line written before these columns existed).
struct LineHandshake {
  std::optional<std::uint64_t> syn_to_synack_ns, synack_to_ack_ns;
};
LineHandshake parse_handshake(std::string_view line);

struct DurationFile {
  std::vector<double> seconds;
  Handshakes handshakes;     // of the lines with a duration
  std::size_t lines = 0;     // non-empty lines read
  std::size_t unparsed = 0;  // non-empty lines without a duration
};
// Reads every duration of a statistics file. Throws tracekit::Error when it cannot be read.
DurationFile read_durations(const std::string& path);

// What the kernel side counted (per-CPU `stats` summed), plus what user space saw at exit.
struct TableCounters {
  std::uint64_t opened = 0, syn_retransmits = 0, closed_fin = 0, closed_rst = 0;
  std::uint64_t orphan_fin = 0, orphan_rst = 0, insert_failed = 0, replaced = 0, unparsed = 0;
  std::uint64_t still_open = 0;   // entries left in the table at exit
  std::uint64_t lost_events = 0;  // events the kernel could not deliver
  // Entries that disappeared without being closed, replaced or left at exit: the LRU
  // table evicted them (it was full).
  std::uint64_t evicted() const;
};

// The summary block printed on exit in text mode: statistics, a log2 histogram of the
// durations (usecs, or msecs with `msecs`), (when given, and there were connections)
// the handshake percentiles, and (when given) the table counters.
std::string summary_text(const std::vector<std::uint64_t>& durations_ns, bool msecs, const TableCounters* counters,
                         const Handshakes* handshakes = nullptr);
// The same as JSON fields of the summary record ("handshake": {"syn_to_synack": {...},
// "synack_to_ack": {...}} when given).
void summary_json(const std::vector<std::uint64_t>& durations_ns, bool msecs, const TableCounters* counters,
                  tracekit::JsonLine& j, const Handshakes* handshakes = nullptr);

// Durations in ns from seconds (for --plot-only).
std::vector<std::uint64_t> to_ns(const std::vector<double>& seconds);

}  // namespace tcp_duration
