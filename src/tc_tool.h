// What the TC tools (tcp_tracker, tcp_duration) share on the user side: the IFACE
// positional with --attach/--direction, loading one SCHED_CLS function and attaching
// it with TcAttacher (src/tc_attach.h), and the "interface disappeared" check of the
// main loop.
//
// A tool's run() looks like this:
//
//   Cli cli("tcp_x", "...", kExamples);
//   add_tc_options(cli);                    // IFACE, --attach, --direction
//   cli.options().add_options()(...);       // the tool's own flags
//   auto parsed = cli.parse(argc, argv);
//   if (!parsed) return kExitOk;
//   TcOptions tc_opts = parse_tc_options(*parsed);   // UsageError on bad values
//   ... parse the tool's own flags ...
//   TcTool tc(tc_opts);   // checks the interface now (exit 2 "no such interface: X"),
//                         // before the slow compile; silences libbpf (quiet_libbpf)
//   BpfProgram prog;
//   LoadOptions load = TcTool::load_options(cli.common(), {"-DMAX=..."});
//   prog.load(text, load);
//   std::string where = tc.attach(prog, "fn");      // "tcx ingress+egress on veth0"
//   prog.free_compiler_memory();
//   spdlog::info("Attached to {}: ...", where);
//   RunClock clock(cli.common().duration);
//   for (...) {
//     if (tc.wait_until(clock, next) != TcWait::Tick) break;   // stop or iface gone
//     ... periodic report ...
//   }
//   ... final report ...
//   return tc.exit_code();     // 1 when the interface disappeared, else 0
//
// When the interface goes away, wait_until() logs one error line
// "<tool>: error: interface veth0 disappeared" (on stderr) and returns
// TcWait::InterfaceGone; the tool prints its final report and returns exit_code().
//
// The IFACE positional is registered with parse_positional({"iface"}); a tool with
// more positionals calls cli.options().parse_positional({"iface", ...}) after
// add_tc_options() (cxxopts keeps the last list).
#pragma once

#include <string>
#include <vector>

#include "bpf_program.h"
#include "cli.h"
#include "tc_attach.h"
#include "tool.h"

namespace tracekit {

struct TcOptions {
  std::string ifname;                   // IFACE
  TcMode mode = TcMode::Auto;           // --attach auto|tcx|clsact
  std::vector<TcDirection> directions;  // --direction ingress|egress|both (default both)
  bool verbose = false;                 // -v: libbpf's messages go to stderr
};

// Adds IFACE (positional, required), --attach and --direction to the tool's options,
// and sets the positional help to "IFACE".
void add_tc_options(Cli& cli);

// Reads what add_tc_options() added. UsageError when IFACE is missing or a value is
// unknown. Does not look at the system (TcTool does).
TcOptions parse_tc_options(const cxxopts::ParseResult& r);

enum class TcWait {
  Tick,           // `until` was reached
  Stop,           // --duration elapsed or a stop signal arrived
  InterfaceGone,  // the interface was deleted (error already logged)
};

class TcTool {
 public:
  // Resolves the interface (UsageError "no such interface: X" / "interface name too
  // long: X", exit 2) and calls quiet_libbpf(options.verbose). Attaches nothing yet.
  explicit TcTool(TcOptions options);

  // LoadOptions for a TC tool: CAP_NET_ADMIN needed, no tracefs.
  static LoadOptions load_options(const CommonOptions& common, std::vector<std::string> cflags = {});

  // Loads `fn` of the compiled program as BPF_PROG_TYPE_SCHED_CLS and attaches it on
  // every requested direction. On failure nothing stays attached (Error, exit 1).
  // Returns TcAttacher::describe(), e.g. "tcx ingress+egress on veth0".
  std::string attach(BpfProgram& prog, const std::string& fn);

  // Sleeps until `until` in short slices, watching the clock and the interface.
  TcWait wait_until(const RunClock& clock, RunClock::Clock::time_point until);

  // Checks the interface now; logs the error line the first time it is found gone.
  bool interface_gone();

  // kExitFailure once the interface has been found gone, else kExitOk.
  int exit_code() const;

  // Removes our attachments now (the destructor does it too).
  void detach() noexcept { attacher_.detach_all(); }

  const TcOptions& options() const { return options_; }
  const std::string& ifname() const { return options_.ifname; }
  int ifindex() const { return attacher_.ifindex(); }
  TcAttacher& attacher() { return attacher_; }

 private:
  TcOptions options_;
  TcAttacher attacher_;
  bool gone_ = false;
};

}  // namespace tracekit
