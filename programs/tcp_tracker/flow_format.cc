// See flow_format.h.
#include "flow_format.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <tuple>

#include "output/json.h"
#include "output/strings.h"
#include "util/error.h"
#include "util/format.h"

namespace tracekit {

namespace {

constexpr size_t kMinAddrWidth = 15;  // "255.255.255.255", the original's column
constexpr size_t kPortWidth = 5;
constexpr size_t kBytesWidth = 10;  // "1023.99 KB"
constexpr size_t kMinPacketsWidth = 6;

std::string pad_left(const std::string& s, size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }
std::string pad_right(const std::string& s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }

// The address part of an endpoint as printed: "10.0.0.1" or "[fd00::1]".
std::string address_column(const FlowId& id, bool source) {
  std::string a = format_address(id, source);
  return id.family == 6 ? "[" + a + "]" : a;
}

// Ties: more bytes first, then endpoints in byte order: a stable, total order.
auto tie_key(const FlowRow& r) { return std::tie(r.id.family, r.id.src, r.id.sport, r.id.dst, r.id.dport); }

}  // namespace

size_t FlowIdHash::operator()(const FlowId& id) const noexcept {
  // FNV-1a over the identity's bytes.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](uint8_t b) {
    h ^= b;
    h *= 1099511628211ULL;
  };
  mix(static_cast<uint8_t>(id.family));
  for (uint8_t b : id.src) mix(b);
  for (uint8_t b : id.dst) mix(b);
  mix(static_cast<uint8_t>(id.sport >> 8));
  mix(static_cast<uint8_t>(id.sport));
  mix(static_cast<uint8_t>(id.dport >> 8));
  mix(static_cast<uint8_t>(id.dport));
  mix(id.egress ? 1 : 0);
  return static_cast<size_t>(h);
}

std::string format_address(const FlowId& id, bool source) {
  const auto& a = source ? id.src : id.dst;
  char buf[INET6_ADDRSTRLEN] = {};
  if (!::inet_ntop(id.family == 6 ? AF_INET6 : AF_INET, a.data(), buf, sizeof buf)) return "?";
  return buf;
}

std::string format_endpoint(const FlowId& id, bool source) {
  return address_column(id, source) + ":" + std::to_string(source ? id.sport : id.dport);
}

FlowSort parse_flow_sort(const std::string& s) {
  if (s == "bytes") return FlowSort::Bytes;
  if (s == "packets") return FlowSort::Packets;
  if (s == "rate") return FlowSort::Rate;
  throw UsageError("bad value for --sort: '" + s + "' (expected bytes, packets or rate)");
}

void sort_flows(std::vector<FlowRow>& rows, FlowSort by, size_t top) {
  auto before = [by](const FlowRow& a, const FlowRow& b) {
    switch (by) {
      case FlowSort::Packets:
        if (a.packets != b.packets) return a.packets > b.packets;
        break;
      case FlowSort::Rate:
        if (a.bytes_per_sec != b.bytes_per_sec) return a.bytes_per_sec > b.bytes_per_sec;
        break;
      case FlowSort::Bytes:
        break;
    }
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    return tie_key(a) < tie_key(b);
  };
  if (top > 0 && top < rows.size()) {
    std::partial_sort(rows.begin(), rows.begin() + static_cast<long>(top), rows.end(), before);
    rows.resize(top);
  } else {
    std::sort(rows.begin(), rows.end(), before);
  }
}

std::string format_flow_rows(const std::vector<FlowRow>& rows, bool with_owner) {
  if (rows.empty()) return {};
  size_t addr_w = kMinAddrWidth, pkt_w = kMinPacketsWidth;
  for (const auto& r : rows) {
    addr_w = std::max({addr_w, address_column(r.id, true).size(), address_column(r.id, false).size()});
    pkt_w = std::max(pkt_w, std::to_string(r.packets).size());
  }
  std::string out;
  out.reserve(rows.size() * (2 * addr_w + 70));
  for (const auto& r : rows) {
    out += pad_left(address_column(r.id, true), addr_w);
    out += ':';
    out += pad_right(std::to_string(r.id.sport), kPortWidth);
    out += " -> ";
    out += pad_left(address_column(r.id, false), addr_w);
    out += ':';
    out += pad_right(std::to_string(r.id.dport), kPortWidth);
    out += " | ";
    out += pad_left(human_bytes(r.bytes), kBytesWidth);
    out += ' ';
    out += pad_left(std::to_string(r.packets), pkt_w);
    out += " packets | ";
    double rate = r.bytes_per_sec > 0 ? r.bytes_per_sec + 0.5 : 0;
    out += pad_left(human_bytes(static_cast<uint64_t>(rate)), kBytesWidth);
    out += "/s";
    if (with_owner) out += " | " + (r.owner ? r.owner->text() : std::string("-"));
    out += '\n';
  }
  return out;
}

void flow_json(const FlowRow& r, long interval, bool final_report, JsonLine& j) {
  j.field("interval", interval).field("final", final_report).field("direction", r.id.egress ? "egress" : "ingress");
  j.field("src_addr", format_address(r.id, true)).field("src_port", static_cast<unsigned>(r.id.sport));
  j.field("dst_addr", format_address(r.id, false)).field("dst_port", static_cast<unsigned>(r.id.dport));
  j.field("bytes", static_cast<unsigned long long>(r.bytes))
      .field("packets", static_cast<unsigned long long>(r.packets));
  j.field("segments", static_cast<unsigned long long>(r.segments)).field("bytes_per_sec", r.bytes_per_sec);
  owner_json(r.owner, j);
}

FlowBy parse_flow_by(const std::string& s) {
  if (s == "flow") return FlowBy::Flow;
  if (s == "uid") return FlowBy::Uid;
  if (s == "cgroup") return FlowBy::Cgroup;
  if (s == "unit") return FlowBy::Unit;
  throw UsageError("bad value for --by: '" + s + "' (expected flow, uid, cgroup or unit)");
}

const char* to_string(FlowBy by) {
  switch (by) {
    case FlowBy::Uid:
      return "uid";
    case FlowBy::Cgroup:
      return "cgroup";
    case FlowBy::Unit:
      return "unit";
    case FlowBy::Flow:
      break;
  }
  return "flow";
}

std::vector<OwnerRow> aggregate_flows(const std::vector<FlowRow>& rows, FlowBy by, FlowSort sort, size_t top) {
  // (egress, owned, uid or cgroup id, unit) -> row
  std::map<std::tuple<bool, bool, uint64_t, std::string>, OwnerRow> groups;
  for (const FlowRow& f : rows) {
    uint64_t num = 0;
    std::string unit;
    if (f.owner) {
      if (by == FlowBy::Uid) num = f.owner->uid;
      if (by == FlowBy::Cgroup) num = f.owner->cgroup_id;
      if (by == FlowBy::Unit) unit = f.owner->names.unit;
    }
    OwnerRow& g = groups[{f.id.egress, f.owner != nullptr, num, unit}];
    if (g.flows == 0) {
      g.egress = f.id.egress;
      g.owner = f.owner;
      g.unit = unit;
    }
    g.bytes += f.bytes;
    g.packets += f.packets;
    g.segments += f.segments;
    g.bytes_per_sec += f.bytes_per_sec;
    g.packets_per_sec += f.packets_per_sec;
    g.flows += 1;
  }
  std::vector<OwnerRow> out;
  out.reserve(groups.size());
  for (auto& [k, g] : groups) out.push_back(std::move(g));
  // std::map gave the owner order; a stable sort keeps it for ties.
  std::stable_sort(out.begin(), out.end(), [sort](const OwnerRow& a, const OwnerRow& b) {
    if (sort == FlowSort::Packets && a.packets != b.packets) return a.packets > b.packets;
    if (sort == FlowSort::Rate && a.bytes_per_sec != b.bytes_per_sec) return a.bytes_per_sec > b.bytes_per_sec;
    return a.bytes > b.bytes;
  });
  if (top > 0 && top < out.size()) out.resize(top);
  return out;
}

std::string owner_row_label(const OwnerRow& r, FlowBy by) {
  if (!r.owner) return "(no owner)";
  switch (by) {
    case FlowBy::Uid:
      return "uid " + std::to_string(r.owner->uid) + (r.owner->user ? " (" + *r.owner->user + ")" : "");
    case FlowBy::Cgroup:
      return r.owner->cgroup ? shell_quote(*r.owner->cgroup) : "cgroup " + std::to_string(r.owner->cgroup_id);
    case FlowBy::Unit:
      return r.unit.empty() ? "(no unit)" : shell_quote(r.unit);
    case FlowBy::Flow:
      break;
  }
  return r.owner->text();
}

std::string format_owner_rows(const std::vector<OwnerRow>& rows, FlowBy by) {
  if (rows.empty()) return {};
  size_t label_w = 10, pkt_w = kMinPacketsWidth;
  for (const auto& r : rows) {
    label_w = std::max(label_w, owner_row_label(r, by).size());
    pkt_w = std::max(pkt_w, std::to_string(r.packets).size());
  }
  std::string out;
  for (const auto& r : rows) {
    out += pad_right(owner_row_label(r, by), label_w);
    out += r.egress ? "  egress  | " : "  ingress | ";
    out += pad_left(human_bytes(r.bytes), kBytesWidth);
    out += ' ';
    out += pad_left(std::to_string(r.packets), pkt_w);
    out += " packets | ";
    double rate = r.bytes_per_sec > 0 ? r.bytes_per_sec + 0.5 : 0;
    out += pad_left(human_bytes(static_cast<uint64_t>(rate)), kBytesWidth);
    out += "/s | ";
    out += std::to_string(r.flows) + (r.flows == 1 ? " flow\n" : " flows\n");
  }
  return out;
}

void owner_row_json(const OwnerRow& r, FlowBy by, long interval, bool final_report, JsonLine& j) {
  j.field("interval", interval).field("final", final_report).field("by", to_string(by));
  j.field("direction", r.egress ? "egress" : "ingress").field("owned", r.owner != nullptr);
  if (by == FlowBy::Uid) {
    if (r.owner) {
      j.field("uid", r.owner->uid);
      if (r.owner->user)
        j.field("user", *r.owner->user);
      else
        j.null("user");
    } else {
      j.null("uid").null("user");
    }
  } else if (by == FlowBy::Cgroup) {
    owner_cgroup_json(r.owner, j);
  } else if (r.unit.empty()) {
    j.null("unit");
  } else {
    j.field("unit", r.unit);
  }
  j.field("flows", static_cast<unsigned long long>(r.flows));
  j.field("bytes", static_cast<unsigned long long>(r.bytes))
      .field("packets", static_cast<unsigned long long>(r.packets));
  j.field("segments", static_cast<unsigned long long>(r.segments));
  j.field("bytes_per_sec", r.bytes_per_sec).field("packets_per_sec", r.packets_per_sec);
}

void FlowRates::update(std::vector<FlowRow>& rows, double seconds) {
  std::unordered_map<FlowId, Prev, FlowIdHash> next;
  if (cumulative_) next.reserve(rows.size());
  for (auto& r : rows) {
    uint64_t db = r.bytes, dp = r.packets;
    if (cumulative_) {
      auto it = prev_.find(r.id);
      if (it != prev_.end() && r.bytes >= it->second.bytes && r.packets >= it->second.packets) {
        db = r.bytes - it->second.bytes;
        dp = r.packets - it->second.packets;
      }
      next.emplace(r.id, Prev{r.bytes, r.packets});
    }
    r.bytes_per_sec = seconds > 0 ? static_cast<double>(db) / seconds : 0;
    r.packets_per_sec = seconds > 0 ? static_cast<double>(dp) / seconds : 0;
  }
  // Flows no longer in the table are forgotten (they were evicted or drained).
  if (cumulative_) prev_ = std::move(next);
}

uint64_t OutsideCounts::total() const {
  uint64_t t = 0;
  for (uint64_t v : n) t += v;
  return t;
}

const char* outside_reason_name(size_t reason) {
  static const char* names[OutsideCounts::kReasons] = {"non-IP",    "non-TCP",   "fragments",
                                                       "truncated", "malformed", "refused by the full table"};
  return reason < OutsideCounts::kReasons ? names[reason] : "?";
}

const char* outside_reason_key(size_t reason) {
  static const char* keys[OutsideCounts::kReasons] = {"non_ip",    "non_tcp",   "fragment",
                                                      "truncated", "malformed", "no_entry"};
  return reason < OutsideCounts::kReasons ? keys[reason] : "unknown";
}

std::string format_outside(const OutsideCounts& c) {
  std::string out;
  for (size_t i = 0; i < OutsideCounts::kReasons; ++i) {
    if (!c.n[i]) continue;
    out += out.empty() ? "" : ", ";
    out += std::to_string(c.n[i]) + " " + outside_reason_name(i);
  }
  return "Not counted: " + (out.empty() ? std::string("nothing") : out);
}

}  // namespace tracekit
