// execve_dumb: count execve() calls per user ID, printed every interval.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bpf/map_reader.h"
#include "execve_dumb.h"
#include "output/strings.h"
#include "runtime/runner.h"
#include "util/format.h"
#include "util/user.h"

extern const char execve_dumb_bpf_text[];

namespace {

using namespace tracekit;

struct Row {
  uint32_t uid;
  uint64_t count;
  uint64_t delta;
};

// One report: "Trace at: HH:MM:SS" and a line per uid, as the original printed it.
class Report : public Record {
 public:
  Report(const std::vector<Row>& rows, long n, bool final_report, double elapsed, bool timestamps)
      : rows_(rows), n_(n), final_(final_report), elapsed_(elapsed), timestamps_(timestamps) {}
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
      auto name = user_name(r.uid);
      out += fmt::format("{}User ID {}{} has invoked {} times execve syscall!", prefix, r.uid,
                         name ? " (" + text_safe(*name) + ")" : "", r.count);
      if (r.delta && !final_) out += fmt::format(" (+{})", r.delta);
      out += '\n';
    }
  }
  void json(JsonLine& j) const override {
    uint64_t total = 0;
    for (const Row& r : rows_) total += r.count;
    j.field("interval", n_).field("final", final_).field("elapsed_s", elapsed_).field("total", total);
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
        "  execve_dumb -q --metrics 9751  # no output: Prometheus metrics on 127.0.0.1:9751 (docs/metrics.md)\n";
    i.kind = ToolKind::Interval;
    i.default_interval = 5;
    i.syscall_probes = true;
    return i;
  }
  const char* bpf_text() const override { return execve_dumb_bpf_text; }

  void configure(const cxxopts::ParseResult&, const CommonOptions&, Plan& plan) override {
    plan.probes.push_back(Probe::syscall("execve", false, "count_execve", "count_execve"));
    plan.doing = "counting execve() per UID";
  }

  void loaded(Runtime& rt) override { reader_ = std::make_unique<HashMapReader>(rt.prog().map_fd("counts")); }

  void report(Runtime& rt, long n) override { print(rt, n, false); }

  // The map only grows (no deletes): each uid's growth since the last scrape is added to
  // its series.
  void metrics(Runtime& rt, MetricsBuilder& out) override {
    if (!series_) series_ = std::make_unique<CappedSeries>(std::vector<std::string>{"uid", "user"}, 1, rt.max_series());
    size_t entries = reader_->read();
    for (size_t i = 0; i < entries; ++i) {
      auto uid = reader_->key_as<uint32_t>(i);
      auto count = reader_->value_as<uint64_t>(i);
      uint64_t& before = seen_[uid];
      if (count > before) series_->add({std::to_string(uid), user_name(uid).value_or("")}, count - before);
      before = count;
    }
    rt.map_metrics(out, "counts", entries, std::nullopt);
    series_->emit(out, {"tracekit_execve_total"},
                  {"execve() calls by the caller's real uid (the rest of the users in the series labelled other)."},
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
  // Reads the counts, prints one report, returns the total.
  uint64_t print(Runtime& rt, long n, bool final_report) {
    size_t entries = reader_->read();
    std::vector<Row> rows;
    rows.reserve(entries);
    uint64_t total = 0;
    for (size_t i = 0; i < entries; ++i) {
      auto uid = reader_->key_as<uint32_t>(i);
      auto count = reader_->value_as<uint64_t>(i);
      uint64_t& before = last_[uid];
      rows.push_back({uid, count, count - before});
      before = count;
      total += count;
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.uid < b.uid; });
    rt.out().write(Report(rows, n, final_report, rt.clock().elapsed_seconds(), rt.common().timestamps));
    return total;
  }

  std::unique_ptr<HashMapReader> reader_;
  std::map<uint32_t, uint64_t> last_;  // counts at the last report
  std::map<uint32_t, uint64_t> seen_;  // counts at the last scrape
  std::unique_ptr<CappedSeries> series_;
};

}  // namespace

TRACEKIT_TOOL_MAIN(ExecveDumb)
