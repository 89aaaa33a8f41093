// Time keeping for the runner's loops: --duration and stop signals.
#pragma once

#include <chrono>
#include <optional>

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
  // From now on elapsed_seconds() stays at its current value: the time traced, which the
  // final report and the summary share (the runner calls it when the loop ends).
  void freeze() { frozen_ = Clock::now(); }
  // Milliseconds to wait in a poll so that both `until` and the end of the run are honoured.
  int poll_timeout_ms(int max_ms) const;

 private:
  Clock::time_point start_;
  Clock::time_point end_;
  bool limited_;
  std::optional<Clock::time_point> frozen_;
};

}  // namespace tracekit
