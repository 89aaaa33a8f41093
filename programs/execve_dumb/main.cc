// execve_dumb: count execve() calls per user ID, printed every interval.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bpf_program.h"
#include "cli.h"
#include "error.h"
#include "execve_dumb.h"
#include "format.h"
#include "json.h"
#include "log.h"
#include "tool.h"

extern const char execve_dumb_bpf_text[];

namespace {

using namespace tracekit;

constexpr const char* kExamples =
    "  execve_dumb                 # print per-UID execve counts every 5 seconds\n"
    "  execve_dumb -i 1 -c 10      # every second, 10 times\n"
    "  execve_dumb 2 5             # same as -i 2 -c 5\n"
    "  execve_dumb -d 60 --json    # one JSON object per interval for a minute\n"
    "  execve_dumb --probe kprobe  # attach a kprobe instead of the syscall tracepoint\n";

struct Row {
  uint32_t uid;
  uint64_t count;
  uint64_t delta;
};

std::vector<Row> read_counts(BpfProgram& prog, std::map<uint32_t, uint64_t>& last) {
  auto table = prog.bpf().get_hash_table<uint32_t, uint64_t>("counts");
  std::vector<Row> rows;
  for (const auto& [uid, count] : table.get_table_offline()) {
    uint64_t before = last.count(uid) ? last[uid] : 0;
    rows.push_back({uid, count, count - before});
    last[uid] = count;
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.uid < b.uid; });
  return rows;
}

void print_text(const std::vector<Row>& rows, bool final_report, double elapsed) {
  std::string out;
  if (final_report) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (%.1f s traced)", elapsed);
    out = "Final at: " + clock_hms_now() + buf + "\n";
  } else {
    out = "Trace at: " + clock_hms_now() + "\n";
  }
  if (rows.empty()) out += "No execve calls yet.\n";
  for (const Row& r : rows) {
    auto name = user_name(r.uid);
    out += "User ID " + std::to_string(r.uid) + (name ? " (" + *name + ")" : "") + " has invoked " +
           std::to_string(r.count) + " times execve syscall!";
    if (r.delta && !final_report) out += " (+" + std::to_string(r.delta) + ")";
    out += "\n";
  }
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
}

void print_json(const std::vector<Row>& rows, long interval, bool final_report, double elapsed) {
  JsonArray users;
  uint64_t total = 0;
  for (const Row& r : rows) {
    JsonObject u;
    u.add("uid", r.uid);
    if (auto name = user_name(r.uid)) u.add("user", *name); else u.add_null("user");
    u.add("count", r.count).add("delta", r.delta);
    users.add_raw(u.str());
    total += r.count;
  }
  JsonObject o;
  o.add("ts", iso8601(std::chrono::system_clock::now()))
      .add("interval", interval)
      .add("final", final_report)
      .add("elapsed_s", elapsed)
      .add("total", total)
      .add_raw("users", users.str());
  std::fputs((o.str() + "\n").c_str(), stdout);
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  Cli cli("execve_dumb", "Count execve() calls per user ID, printed every interval.", kExamples);
  // clang-format off
  cli.options().add_options()
    ("i,interval", "seconds between reports", cxxopts::value<std::string>()->default_value("5"), "SECONDS")
    ("c,count", "stop after N reports (0 = no limit)", cxxopts::value<std::string>()->default_value("0"), "N")
    ("probe", "how to attach: auto, tracepoint or kprobe", cxxopts::value<std::string>()->default_value("auto"), "MODE");
  // clang-format on
  cli.options().parse_positional({"interval", "count"});
  cli.options().positional_help("[interval [count]]").show_positional_help();
  auto parsed = cli.parse(argc, argv);
  if (!parsed) return kExitOk;
  const auto& r = *parsed;
  set_verbose(cli.common().verbose);
  double interval = get_seconds(r, "interval", false);
  long count = get_count(r, "count", 0, 1L << 40);
  ProbeMode mode = parse_probe_mode(r["probe"].as<std::string>());

  BpfProgram prog;
  LoadOptions load{cli.common().kernel_headers, {}, false, true};
  prog.preflight(load);
  mode = resolve_probe_mode("execve", false, mode);
  prog.compile(execve_dumb_bpf_text, load);
  std::string where = prog.attach_syscall({"execve", false, "count_execve", "count_execve"}, mode);
  prog.free_compiler_memory();
  spdlog::info("Attached to {}: counting execve() per UID. Hit Ctrl-C to end.", where);

  RunClock clock(cli.common().duration);
  std::map<uint32_t, uint64_t> last;
  auto interval_d = std::chrono::duration_cast<RunClock::Clock::duration>(std::chrono::duration<double>(interval));
  auto next = clock.start() + interval_d;
  for (long n = 1; count == 0 || n <= count; ++n, next += interval_d) {
    if (!clock.sleep_until(next)) break;
    auto rows = read_counts(prog, last);
    if (cli.common().json) print_json(rows, n, false, clock.elapsed_seconds());
    else print_text(rows, false, clock.elapsed_seconds());
  }
  auto rows = read_counts(prog, last);
  if (cli.common().json) print_json(rows, 0, true, clock.elapsed_seconds());
  else print_text(rows, true, clock.elapsed_seconds());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return tracekit::run_tool("execve_dumb", argc, argv, run); }
