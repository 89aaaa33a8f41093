// execve_dumb against ground truth: N execs made as a chosen uid show up as exactly N.
#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <regex>

#include "harness.h"
#include "jsonl.h"
#include "util/system_checks.h"

using harness::ToolProcess;

namespace {

constexpr uid_t kUid = 54321;  // nobody else execs as this uid

// Reads one report block ("Trace at:" / "Final at:" header, then one line per uid).
// Returns uid -> count, or nullopt on timeout.
std::optional<std::map<uint32_t, uint64_t>> next_block(ToolProcess& p, double timeout_s, bool* final_block = nullptr) {
  static const std::regex row(R"(^User ID (\d+)( \([^)]*\))? has invoked (\d+) times execve syscall!( \(\+\d+\))?$)");
  std::optional<std::string> line;
  while ((line = p.next_line(timeout_s))) {
    if (line->rfind("Trace at: ", 0) == 0 || line->rfind("Final at: ", 0) == 0) break;
  }
  if (!line) return std::nullopt;
  if (final_block) *final_block = line->rfind("Final at: ", 0) == 0;
  std::map<uint32_t, uint64_t> counts;
  // Rows of one block are written in one flush; read until the next header or a pause.
  while (auto l = p.next_line(0.3)) {
    std::smatch m;
    if (std::regex_match(*l, m, row)) {
      counts[static_cast<uint32_t>(std::stoul(m[1]))] = std::stoull(m[3]);
    } else if (*l == "No execve calls yet.") {
      continue;
    } else if (l->rfind("Traced ", 0) == 0) {
      break;  // the summary after the final report
    } else {
      FAIL("unexpected line: " << *l);
    }
    if (p.out().find('\n', 0) == std::string::npos) break;
  }
  return counts;
}

}  // namespace

TEST_CASE("execve_dumb counts exactly the execs of a uid", "[execve_dumb]") {
  ToolProcess p({harness::tool_path("execve_dumb"), "-i", "1"});
  REQUIRE(p.wait_for_stderr_line("Attached", 60));
  auto first = next_block(p, 5);
  REQUIRE(first);
  CHECK(first->count(kUid) == 0);

  const int n = 23;
  harness::exec_as(kUid, "/bin/true", {"true"}, n);

  // The count reaches n within a few intervals and never passes it.
  uint64_t seen = 0;
  for (int i = 0; i < 5 && seen < n; ++i) {
    auto block = next_block(p, 5);
    REQUIRE(block);
    seen = block->count(kUid) ? block->at(kUid) : 0;
  }
  CHECK(seen == n);
  auto later = next_block(p, 5);
  REQUIRE(later);
  CHECK(later->at(kUid) == n);

  p.signal(SIGINT);
  bool is_final = false;
  std::optional<std::map<uint32_t, uint64_t>> fin;
  while ((fin = next_block(p, 5, &is_final)) && !is_final) {
  }
  REQUIRE(fin);
  CHECK(is_final);
  CHECK(fin->at(kUid) == n);
  CHECK(p.wait_exit(10) == 0);
  auto summary = harness::text_summary(p.out());
  REQUIRE(summary);
  CHECK(summary->events >= n);
  CHECK(summary->events_name == "execve calls");
  // stdout carries only the report: no bcc chatter.
  CHECK(p.out().find("sha1") == std::string::npos);
  CHECK(p.out().find("prog tag") == std::string::npos);
}

TEST_CASE("execve_dumb --json reports the same counts", "[execve_dumb][json]") {
  ToolProcess p({harness::tool_path("execve_dumb"), "-i", "1", "--json"});
  REQUIRE(p.wait_for_stderr_line("Attached", 60));
  const uid_t uid = kUid + 1;
  harness::exec_as(uid, "/bin/true", {"true"}, 7);
  std::regex entry("\\{\"uid\":" + std::to_string(uid) + ",\"user\":null,\"count\":(\\d+),\"delta\":(\\d+)\\}");
  bool found = false;
  for (int i = 0; i < 6 && !found; ++i) {
    auto line = p.next_line(5);
    REQUIRE(line);
    REQUIRE(line->front() == '{');
    REQUIRE(line->back() == '}');
    CHECK(line->find("\"final\":false") != std::string::npos);
    std::smatch m;
    if (std::regex_search(*line, m, entry)) {
      found = true;
      CHECK(m[1] == "7");
    }
  }
  CHECK(found);
  p.signal(SIGTERM);
  CHECK(p.wait_exit(10) == 0);
  auto all = harness::json_lines(p.out(), "execve_dumb");
  REQUIRE(all.size() >= 2);
  CHECK(all[all.size() - 2]["final"] == true);
  CHECK(all.back()["type"] == "summary");
  CHECK(all.back()["events"].get<uint64_t>() >= 7);
}

TEST_CASE("execve_dumb --duration ends by itself with a final report", "[execve_dumb]") {
  auto r = harness::run({harness::tool_path("execve_dumb"), "-d", "2", "-i", "1"}, 60);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("Final at: ") != std::string::npos);
  CHECK(r.err.find("Attached") != std::string::npos);
}

TEST_CASE("execve_dumb: SIGHUP stops it cleanly", "[execve_dumb]") {
  ToolProcess p({harness::tool_path("execve_dumb"), "-i", "10"});
  REQUIRE(p.wait_for_stderr_line("Attached", 60));
  p.signal(SIGHUP);
  CHECK(p.wait_exit(10) == 0);
  CHECK(p.out().find("Final at: ") != std::string::npos);
}

TEST_CASE("execve_dumb usage errors exit 2 with one line", "[execve_dumb][usage]") {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--bogus"}, {"-i", "abc"}, {"-d", "-1"}, {"--probe", "uprobe"}, {"1", "2", "3"}}) {
    args.insert(args.begin(), harness::tool_path("execve_dumb"));
    auto r = harness::run(args, 30);
    INFO(args[1] << " -> " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(harness::lines(r.err).size() == 1);
    CHECK(r.err.rfind("execve_dumb: error: ", 0) == 0);
    CHECK(r.out.empty());
  }
}

TEST_CASE("execve_dumb --probe kprobe", "[execve_dumb][kprobe]") {
  if (tracekit::kernel_has_kprobes()) {
    ToolProcess p({harness::tool_path("execve_dumb"), "-i", "1", "--probe", "kprobe"});
    REQUIRE(p.wait_for_stderr_line("Attached", 60));
    harness::exec_as(kUid + 2, "/bin/true", {"true"}, 5);
    p.signal(SIGINT);
    CHECK(p.wait_exit(10) == 0);
    CHECK(p.out().find("User ID " + std::to_string(kUid + 2) + " has invoked 5 times") != std::string::npos);
  } else {
    auto r = harness::run({harness::tool_path("execve_dumb"), "--probe", "kprobe"}, 60);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    auto errs = harness::lines(r.err);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].find("CONFIG_KPROBES") != std::string::npos);
    CHECK(errs[0].find("--probe tracepoint") != std::string::npos);
  }
}
