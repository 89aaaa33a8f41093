// The frame every tool's main() runs in: logging, stop signals, and one error line.
#pragma once

#include <chrono>
#include <functional>

namespace tracekit {

// Sets up logging for `name`, installs the stop signals, runs body, and turns a
// tracekit::Error into "name: error: ..." on stderr with its exit code.
int run_tool(const char* name, int argc, char** argv, const std::function<int(int, char**)>& body);

// Time keeping for a tool's main loop: --duration and stop signals.
class RunClock {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RunClock(double duration_seconds);  // 0 = no limit

  // True once --duration has elapsed or a stop signal arrived.
  bool done() const;
  // Sleeps in short slices until `until`, or until done(). Returns !done().
  bool sleep_until(Clock::time_point until) const;
  Clock::time_point start() const { return start_; }
  double elapsed_seconds() const;
  // Milliseconds to wait in a poll so that both `until` and the end of the run are honoured.
  int poll_timeout_ms(int max_ms) const;

 private:
  Clock::time_point start_;
  Clock::time_point end_;
  bool limited_;
};

}  // namespace tracekit
