// The flow table of tcp_tracker on the user side, without bcc or libbpf: rows,
// per-interval rates, sorting, and the text and JSON renderings.
//
// Text rows keep the original experiment's look, one flow direction per line, with
// the address right-aligned before the port and the counters in fixed columns:
//
//   10.99.0.2:45812 -> 10.99.0.1:5001  |    3.44 KB         23 packets |    1.72 KB/s
//   [fd7c::2]:5001  -> [fd7c::1]:45812 |  913.00  B          5 packets |  456.50  B/s
//
// Column widths grow with the widest address of the rows printed (at least the 15
// characters of a dotted IPv4 address, as in the original).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "output/json.h"

namespace tracekit {

// Identity of one flow direction. Addresses in network byte order (IPv4 in the
// first 4 bytes, the rest zero), ports in host order.
struct FlowId {
  int family = 4;  // 4 or 6
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;
  uint16_t dport = 0;
  bool egress = false;  // the hook that saw it: egress (sent) or ingress (received)
  bool operator==(const FlowId& o) const {
    return family == o.family && sport == o.sport && dport == o.dport && src == o.src && dst == o.dst &&
           egress == o.egress;
  }
};

struct FlowIdHash {
  size_t operator()(const FlowId& id) const noexcept;
};

struct FlowRow {
  FlowId id;
  uint64_t bytes = 0;  // cumulative, or this interval's with --reset
  uint64_t packets = 0;
  uint64_t segments = 0;
  double bytes_per_sec = 0;    // over the last interval
  double packets_per_sec = 0;  // over the last interval
};

// "10.0.0.1" / "fd00::1" (inet_ntop).
std::string format_address(const FlowId& id, bool source);
// "10.0.0.1:443" / "[fd00::1]:443".
std::string format_endpoint(const FlowId& id, bool source);

enum class FlowSort { Bytes, Packets, Rate };
// "bytes" | "packets" | "rate"; anything else -> UsageError.
FlowSort parse_flow_sort(const std::string& s);

// Sorts by `by`, largest first (ties: more bytes, then the endpoints, so the order is
// stable from one interval to the next), and keeps the first `top` rows (0 = all).
void sort_flows(std::vector<FlowRow>& rows, FlowSort by, size_t top);

// The rows as aligned text lines, each ending in '\n' ("" for no rows).
std::string format_flow_rows(const std::vector<FlowRow>& rows);

// The JSON fields of one flow (after tool/type/ts): "interval", "final", "src_addr",
// "src_port", "dst_addr", "dst_port", "bytes", "packets", "segments", "bytes_per_sec".
void flow_json(const FlowRow& row, long interval, bool final_report, JsonLine& j);

// Per-interval rates. Cumulative mode: the rate is (counter - previous counter) over
// the seconds since the previous report; a flow whose counters went down (evicted
// from the full table and created again) counts from zero. Reset mode: the counters
// already are the interval's.
class FlowRates {
 public:
  explicit FlowRates(bool cumulative) : cumulative_(cumulative) {}
  // Fills bytes_per_sec/packets_per_sec of every row and remembers the counters.
  // seconds <= 0 gives rates of 0.
  void update(std::vector<FlowRow>& rows, double seconds);
  size_t remembered() const { return prev_.size(); }

 private:
  struct Prev {
    uint64_t bytes, packets;
  };
  bool cumulative_;
  std::unordered_map<FlowId, Prev, FlowIdHash> prev_;
};

// Packets not in the flow table, per reason (indexes of enum outside_reason in
// programs/tcp_tracker/tcp_tracker.h).
struct OutsideCounts {
  static constexpr size_t kReasons = 6;
  std::array<uint64_t, kReasons> n{};
  uint64_t total() const;
};
// Reason names as printed: "non-IP", "non-TCP", "fragments", "truncated", "malformed",
// "refused by the full table".
const char* outside_reason_name(size_t reason);
// The same as JSON keys: "non_ip", "non_tcp", "fragment", "truncated", "malformed", "no_entry".
const char* outside_reason_key(size_t reason);
// "Not counted: 4 non-IP, 2 non-TCP" (only the non-zero reasons), or
// "Not counted: nothing".
std::string format_outside(const OutsideCounts& c);

}  // namespace tracekit
