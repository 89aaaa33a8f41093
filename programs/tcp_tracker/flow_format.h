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
#include "util/owner.h"

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
  // The local socket's owner (the sender on egress, the receiver on ingress), named by
  // the tool's OwnerBook; nullptr: no local socket is known for the flow.
  const OwnerInfo* owner = nullptr;
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

// The rows as aligned text lines, each ending in '\n' ("" for no rows). with_owner
// (-O): each line ends in " | " and the owner ("uid 1000 (alice) /user.slice/...",
// or "-" for none).
std::string format_flow_rows(const std::vector<FlowRow>& rows, bool with_owner = false);

// The JSON fields of one flow (after tool/type/ts): "interval", "final", "direction",
// "src_addr", "src_port", "dst_addr", "dst_port", "bytes", "packets", "segments",
// "bytes_per_sec", then the owner's (owner_json: null when there is none).
void flow_json(const FlowRow& row, long interval, bool final_report, JsonLine& j);

// --by: what the table is aggregated by.
enum class FlowBy { Flow, Uid, Cgroup, Unit };
// "flow" | "uid" | "cgroup" | "unit"; anything else -> UsageError.
FlowBy parse_flow_by(const std::string& s);
const char* to_string(FlowBy by);

// The flows of one owner (a uid, a cgroup, a unit) in one direction. Flows without an
// owner make the row whose owner is nullptr; with --by unit, owned flows whose cgroup
// shows no unit make the row of unit "".
struct OwnerRow {
  bool egress = false;
  const OwnerInfo* owner = nullptr;  // one of the row's owners (its uid, cgroup or unit is the row's)
  std::string unit;                  // --by unit: the unit
  uint64_t bytes = 0, packets = 0, segments = 0;
  double bytes_per_sec = 0, packets_per_sec = 0;
  size_t flows = 0;
};

// Sums the rows by owner and direction; sorted by `sort`, largest first, ties broken by
// the owner, and cut to `top` rows (0 = all).
std::vector<OwnerRow> aggregate_flows(const std::vector<FlowRow>& rows, FlowBy by, FlowSort sort, size_t top);

// "uid 1000 (alice)", "/system.slice/x.service", "x.service", "(no owner)", "(no unit)".
std::string owner_row_label(const OwnerRow& r, FlowBy by);
// Aligned text lines: label, direction, bytes, packets, rate, flows.
std::string format_owner_rows(const std::vector<OwnerRow>& rows, FlowBy by);
// The JSON fields of one aggregated row (after tool/type/ts): "interval", "final", "by",
// "direction", the owner's fields that `by` names (uid and user; cgroup_id, cgroup,
// unit and container_id; unit), "flows", "bytes", "packets", "segments",
// "bytes_per_sec", "packets_per_sec".
void owner_row_json(const OwnerRow& r, FlowBy by, long interval, bool final_report, JsonLine& j);

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
