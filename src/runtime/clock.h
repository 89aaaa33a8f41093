// Time keeping for the runner's loops: --duration and stop signals.
#pragma once

#include <chrono>

namespace tracekit {

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
