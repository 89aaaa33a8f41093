// execve_dumb: count execve() calls per user ID, printed every interval.
#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "bpf/map_reader.h"
#include "execve_dumb.h"
#include "output/strings.h"
#include "runtime/runner.h"
#include "util/cgroup.h"
#include "util/error.h"
#include "util/format.h"
#include "util/user.h"

extern const char execve_dumb_bpf_text[];

namespace {

using namespace tracekit;

enum class By { Uid, Cgroup, Unit };

struct Row {
  uint32_t uid;       // --by uid
  std::string label;  // --by cgroup: the path ("" unknown); --by unit: the unit ("" none)
  uint64_t cgroup_id = 0;
  uint64_t count;
  uint64_t delta;
};

// One report: "Trace at: HH:MM:SS" and a line per uid, as the original printed it.
class Report : public Record {
 public:
  Report(const std::vector<Row>& rows, long n, bool final_report, double elapsed, bool timestamps, By by)
      : rows_(rows), n_(n), final_(final_report), elapsed_(elapsed), timestamps_(timestamps), by_(by) {}
  const char* type() const override { return "report"; }
  void text(std::string& out) const override {
    const std::string now = clock_hms_now();
    const std::string prefix = timestamps_ ? now + " " : "";
    if (final_)
      out += fmt::format("{}Final at: {} ({:.1f} s traced)\n", prefix, now, elapsed_);
    else
      out += fmt::format("{}Trace at: {}\n", prefix, now);
    if (rows_.empty()) out += prefix + "No execve calls yet.\n";
    for (const Row& r : rows_) {
      if (by_ == By::Cgroup) {
        out += fmt::format("{}Cgroup {} has invoked {} times execve syscall!", prefix,
                           r.label.empty() ? "id " + std::to_string(r.cgroup_id) : shell_quote(r.label), r.count);
      } else if (by_ == By::Unit) {
        out += fmt::format("{}Unit {} has invoked {} times execve syscall!", prefix,
                           r.label.empty() ? "(none)" : shell_quote(r.label), r.count);
      } else {
        auto name = user_name(r.uid);
        out += fmt::format("{}User ID {}{} has invoked {} times execve syscall!", prefix, r.uid,
                           name ? " (" + text_safe(*name) + ")" : "", r.count);
      }
      if (r.delta && !final_) out += fmt::format(" (+{})", r.delta);
      out += '\n';
    }
  }
  void json(JsonLine& j) const override {
    uint64_t total = 0;
    for (const Row& r : rows_) total += r.count;
    j.field("interval", n_).field("final", final_).field("elapsed_s", elapsed_).field("total", total);
    if (by_ != By::Uid) {
      j.begin_array(by_ == By::Cgroup ? "cgroups" : "units");
      for (const Row& r : rows_) {
        j.begin_object();
        if (by_ == By::Cgroup) j.field("cgroup_id", static_cast<unsigned long long>(r.cgroup_id));
        const char* key = by_ == By::Cgroup ? "cgroup" : "unit";
        if (r.label.empty())
          j.null(key);
        else
          j.field(key, r.label);
        j.field("count", r.count).field("delta", r.delta).end();
      }
      j.end();
      return;
    }
    j.begin_array("users");
    for (const Row& r : rows_) {
      j.begin_object().field("uid", r.uid);
      if (auto name = user_name(r.uid))
        j.field("user", *name);
      else
        j.null("user");
      j.field("count", r.count).field("delta", r.delta).end();
    }
    j.end();
  }

 private:
  const std::vector<Row>& rows_;
  long n_;
  bool final_;
  double elapsed_;
  bool timestamps_;
  By by_;
};

class ExecveDumb : public Tool {
 public:
  ToolInfo info() const override {
    ToolInfo i;
    i.name = "execve_dumb";
    i.summary = "Count execve() calls per user ID, printed every interval.";
    i.examples =
        "  execve_dumb                 # print per-UID execve counts every 5 seconds\n"
        "  execve_dumb -i 1 -c 10      # every second, 10 reports\n"
        "  execve_dumb 2 5             # same as -i 2 -c 5\n"
        "  execve_dumb -d 60 --json    # one JSON object per interval for a minute\n"
        "  execve_dumb --probe kprobe  # attach a kprobe instead of the syscall tracepoint\n"
        "  execve_dumb --by unit       # per systemd unit (from the caller's cgroup v2)\n"
        "  execve_dumb -q --metrics 9751  # no output: Prometheus metrics on 127.0.0.1:9751 (docs/metrics.md)\n";
    i.kind = ToolKind::Interval;
    i.default_interval = 5;
    i.syscall_probes = true;
    return i;
  }
  const char* bpf_text() const override { return execve_dumb_bpf_text; }

  void add_options(cxxopts::Options& o) override {
    o.add_options()(
        "by", "count per uid (the original's view), cgroup (the caller's cgroup v2 path) or unit (its systemd unit)",
        cxxopts::value<std::string>()->default_value("uid"), "KEY");
  }

  void configure(const cxxopts::ParseResult& r, const CommonOptions&, Plan& plan) override {
    const std::string by = r["by"].as<std::string>();
    if (by == "uid")
      by_ = By::Uid;
    else if (by == "cgroup")
      by_ = By::Cgroup;
    else if (by == "unit")
      by_ = By::Unit;
    else
      throw UsageError("bad value for --by: '" + by + "' (expected uid, cgroup or unit)");
    if (by_ != By::Uid) {
      resolver_ = std::make_unique<CgroupResolver>(cgroup2_mount());
      plan.cflags.push_back("-DBY_CGROUP");
    }
    plan.probes.push_back(Probe::syscall("execve", false, "count_execve", "count_execve"));
    plan.doing = by_ == By::Uid      ? "counting execve() per UID"
                 : by_ == By::Cgroup ? "counting execve() per cgroup"
                                     : "counting execve() per unit";
  }

  void loaded(Runtime& rt) override { reader_ = std::make_unique<HashMapReader>(rt.prog().map_fd("counts")); }

  void report(Runtime& rt, long n) override { print(rt, n, false); }

  // The map only grows (no deletes): each uid's growth since the last scrape is added to
  // its series.
  void metrics(Runtime& rt, MetricsBuilder& out) override {
    if (!series_)
      series_ = std::make_unique<CappedSeries>(by_ == By::Uid      ? std::vector<std::string>{"uid", "user"}
                                               : by_ == By::Cgroup ? std::vector<std::string>{"cgroup"}
                                                                   : std::vector<std::string>{"unit"},
                                               1, rt.max_series());
    size_t entries = reader_->read();
    for (size_t i = 0; i < entries; ++i) {
      const uint64_t key = key_of(i);
      auto count = reader_->value_as<uint64_t>(i);
      uint64_t& before = seen_[key];
      if (count > before) {
        if (by_ == By::Uid) {
          const auto uid = static_cast<uint32_t>(key);
          series_->add({std::to_string(uid), user_name(uid).value_or("")}, count - before);
        } else {
          series_->add({label_of(key)}, count - before);
        }
      }
      before = count;
    }
    rt.map_metrics(out, "counts", entries, std::nullopt);
    series_->emit(
        out, {"tracekit_execve_total"},
        {by_ == By::Uid
             ? "execve() calls by the caller's real uid (the rest of the users in the series labelled other)."
         : by_ == By::Cgroup ? "execve() calls by the caller's cgroup v2 path (the rest in the series labelled other)."
                             : "execve() calls by the caller's systemd unit (the rest in the series labelled other)."},
        rt.base_labels());
  }

  void finish(Runtime& rt, SummaryRecord& summary) override {
    uint64_t total = print(rt, rt.final_report_number(), true);
    summary.events = total;
    summary.events_name = "execve calls";
    // A full map (EXECVE_DUMB_MAX_UIDS users) cannot take a new uid: its calls are lost.
    const size_t users = last_.size();
    summary.extra_json = [users](JsonLine& j) { j.field("users", static_cast<unsigned long long>(users)); };
  }

 private:
  uint64_t key_of(size_t i) { return by_ == By::Uid ? reader_->key_as<uint32_t>(i) : reader_->key_as<uint64_t>(i); }

  // --by cgroup: the path ("" when unknown); --by unit: the unit ("" when the path has none).
  std::string label_of(uint64_t cgroup_id) {
    auto path = resolver_->path(cgroup_id);
    if (!path) return {};
    return by_ == By::Cgroup ? *path : cgroup_owner(*path).unit;
  }

  // Reads the counts, prints one report, returns the total.
  uint64_t print(Runtime& rt, long n, bool final_report) {
    size_t entries = reader_->read();
    std::vector<Row> rows;
    rows.reserve(entries);
    uint64_t total = 0;
    for (size_t i = 0; i < entries; ++i) {
      const uint64_t key = key_of(i);
      auto count = reader_->value_as<uint64_t>(i);
      uint64_t& before = last_[key];
      if (by_ == By::Uid)
        rows.push_back({static_cast<uint32_t>(key), {}, 0, count, count - before});
      else
        rows.push_back({0, label_of(key), key, count, count - before});
      before = count;
      total += count;
    }
    if (by_ == By::Unit) {  // the cgroups of one unit add up
      std::map<std::string, Row> units;
      for (const Row& r : rows) {
        Row& u = units.try_emplace(r.label, Row{0, r.label, 0, 0, 0}).first->second;
        u.count += r.count;
        u.delta += r.delta;
      }
      rows.clear();
      for (auto& [k, r] : units) rows.push_back(r);
    } else if (by_ == By::Cgroup) {
      std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return std::tie(a.label, a.cgroup_id) < std::tie(b.label, b.cgroup_id);
      });
    } else {
      std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.uid < b.uid; });
    }
    rt.out().write(Report(rows, n, final_report, rt.clock().elapsed_seconds(), rt.common().timestamps, by_));
    return total;
  }

  By by_ = By::Uid;
  std::unique_ptr<CgroupResolver> resolver_;
  std::unique_ptr<HashMapReader> reader_;
  std::map<uint64_t, uint64_t> last_;  // counts at the last report, by uid or cgroup id
  std::map<uint64_t, uint64_t> seen_;  // counts at the last scrape
  std::unique_ptr<CappedSeries> series_;
};

}  // namespace

TRACEKIT_TOOL_MAIN(ExecveDumb)
