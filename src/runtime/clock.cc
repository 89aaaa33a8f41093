#include "runtime/clock.h"

#include <algorithm>
#include <thread>

#include "util/signals.h"

namespace tracekit {

RunClock::RunClock(double duration_seconds)
    : start_(Clock::now()),
      end_(start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_seconds))),
      limited_(duration_seconds > 0) {}

bool RunClock::done() const { return stop_requested() || (limited_ && Clock::now() >= end_); }

bool RunClock::sleep_until(Clock::time_point until) const {
  if (limited_) until = std::min(until, end_);
  while (!done()) {
    auto now = Clock::now();
    if (now >= until) break;
    std::this_thread::sleep_for(std::min<Clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  return !done();
}

double RunClock::elapsed_seconds() const {
  return std::chrono::duration<double>(frozen_.value_or(Clock::now()) - start_).count();
}

int RunClock::poll_timeout_ms(int max_ms) const {
  if (!limited_) return max_ms;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, max_ms));
}

}  // namespace tracekit
