// The exec tools (execve_dumb, execve_enriched) stopped by SIGINT, SIGTERM and SIGHUP
// during an exec storm: exit 0, a final report, every stdout line parseable, and no
// event received but not printed.
#include <catch2/catch.hpp>

#include <signal.h>

#include <regex>
#include <string>
#include <vector>

#include "faults.h"
#include "harness.h"
#include "jsonl.h"

using harness::ToolProcess;

namespace {
const char* sig_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP"; }
}  // namespace

TEST_CASE("exec tools: SIGINT, SIGTERM and SIGHUP during an exec storm", "[signals][exec]") {
  const std::string tool = GENERATE(as<std::string>{}, "execve_dumb", "execve_enriched");
  const int sig = GENERATE(SIGINT, SIGTERM, SIGHUP);
  const bool json = GENERATE(true, false);
  INFO(tool << " " << sig_name(sig) << (json ? " --json" : ""));
  std::vector<std::string> argv = {harness::tool_path(tool)};
  if (tool == "execve_dumb") argv.insert(argv.end(), {"-i", "1"});
  if (json) argv.push_back("--json");
  ToolProcess p(argv);
  REQUIRE(p.wait_for_stderr_line("Attached", 90));
  faults::ExecLoad storm(30);
  faults::pump_for(p, 2.5);
  p.signal(sig);
  const int rc = p.wait_exit(30);
  const long made = storm.stop();
  INFO("stderr: " << p.err());
  CHECK(rc == 0);
  CHECK(p.err().find("error") == std::string::npos);
  bool unterminated = true;
  auto lines = faults::split_lines(p.out(), &unterminated);
  CHECK_FALSE(unterminated);
  REQUIRE_FALSE(lines.empty());
  size_t bad = 0;
  // The last line is the summary (JSON, or "Traced ..." in text).
  std::optional<harness::TextSummary> text_summary;
  harness::Json summary;
  if (json) {
    for (const auto& l : lines)
      if (!faults::is_json(l)) ++bad;
    summary = harness::Json::parse(lines.back());
    CHECK(summary["type"] == "summary");
    lines.pop_back();
  } else {
    text_summary = harness::text_summary(p.out());
    REQUIRE(text_summary);
    CHECK(lines.back().rfind("Traced ", 0) == 0);
    lines.pop_back();
  }
  if (json) {
  } else if (tool == "execve_dumb") {
    static const std::regex row(
        R"(^(Trace|Final) at: .*|^User ID \d+( \([^)]*\))? has invoked \d+ times execve syscall!( \(\+\d+\))?$|^No execve calls yet\.$)");
    for (const auto& l : lines)
      if (!std::regex_match(l, row)) ++bad;
  } else {
    // execve_enriched text: a header, then one row per event starting with a pid column.
    static const std::regex row(R"(^\d+\s+(\d+|\?)\s+\d+\s+\S+\s+.*)");
    for (size_t i = 1; i < lines.size(); ++i)
      if (!std::regex_match(lines[i], row)) ++bad;
  }
  CHECK(bad == 0);
  if (tool == "execve_dumb") {
    if (json)
      CHECK(harness::Json::parse(lines.back())["final"] == true);
    else
      CHECK(p.out().find("Final at: ") != std::string::npos);
  } else {
    // The summary: every event received was printed.
    const long received = json ? summary["events"].get<long>() : static_cast<long>(text_summary->events);
    const long lost = json ? summary["lost"].get<long>() : static_cast<long>(text_summary->lost);
    if (json) CHECK(summary["printed"] == received);
    CHECK(static_cast<long>(lines.size()) - (json ? 0 : 1) == received);
    faults::note(tool + " " + sig_name(sig) + (json ? " --json" : "") + ": " + std::to_string(made) +
                 " execs by the storm, " + std::to_string(received) + " events printed, " + std::to_string(lost) +
                 " lost");
  }
}
