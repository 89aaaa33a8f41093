// See event_reader.h.
#include "bpf/event_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <vector>

#include <linux/perf_event.h>
#include "util/error.h"

namespace tracekit {
namespace {

using Clock = std::chrono::steady_clock;

// Exceptions must not unwind through libbpf's C frames: the trampolines park
// them here and poll() rethrows once the C code has returned.
thread_local std::exception_ptr pending_exception;

// Ring with a woken map: the first wait after a drain that found events.
constexpr int kFirstBurstTickMs = 10;

void rethrow_pending() {
  if (pending_exception) {
    auto e = pending_exception;
    pending_exception = nullptr;
    std::rethrow_exception(e);
  }
}

}  // namespace

std::string buffer_cflag(BufferKind kind) { return kind == BufferKind::Ring ? "-DUSE_RINGBUF" : "-DUSE_PERFBUF"; }

std::vector<std::string> buffer_cflags(BufferKind kind) {
  return {buffer_cflag(kind), "-DNR_CPUS_POSSIBLE=" + std::to_string(std::max(1, libbpf_num_possible_cpus())),
          "-DTK_WAKEUP_MS=" + std::to_string(kRingWakeupMs)};
}

EventReader::EventReader(BpfProgram& prog, const std::string& map, BufferKind kind, Callback cb,
                         EventReaderOptions options)
    : prog_(prog), map_(map), kind_(kind), cb_(std::move(cb)), options_(std::move(options)) {
  options_.tick_ms = std::max(1, options_.tick_ms);
  if (kind_ == BufferKind::Ring) {
    int fd = prog_.map_fd(map_);
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type != BPF_MAP_TYPE_RINGBUF)
      throw Error("BPF map " + map_ + " is not a ring buffer (BPF_RINGBUF_OUTPUT); was the text compiled with " +
                  buffer_cflag(kind_) + "?");
    ring_ = ring_buffer__new(fd, &EventReader::on_ring_sample, this, nullptr);
    if (!ring_) throw Error("cannot open ring buffer " + map_ + ": " + std::strerror(errno));
    if (!options_.lost_map.empty()) prog_.map_fd(options_.lost_map);  // fail now, not at the end
    if (!options_.woken_map.empty()) woken_fd_ = prog_.map_fd(options_.woken_map);
  } else {
    int fd = prog_.map_fd(map_);
    perf_event_attr attr{};
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    attr.wakeup_events = static_cast<uint32_t>(std::max(1, options_.perf_wakeup_events));
    auto trampoline = [](void* ctx, int cpu, perf_event_header* event) {
      return static_cast<bpf_perf_event_ret>(EventReader::on_perf_event(ctx, cpu, event));
    };
    perf_ = perf_buffer__new_raw(fd, static_cast<size_t>(options_.perf_pages), &attr, trampoline, this, nullptr);
    if (!perf_) throw Error("cannot open perf buffer " + map_ + ": " + std::strerror(errno));
  }
}

EventReader::~EventReader() {
  if (ring_) ring_buffer__free(ring_);
  if (perf_) perf_buffer__free(perf_);
}

int EventReader::on_ring_sample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventReader*>(ctx);
  if (pending_exception) return 0;
  try {
    ++self->received_;
    ++self->handled_;
    self->cb_(data, size);
  } catch (...) {
    pending_exception = std::current_exception();
  }
  return 0;
}

int EventReader::on_perf_event(void* ctx, int /*cpu*/, ::perf_event_header* event) {
  auto* self = static_cast<EventReader*>(ctx);
  if (event->type == PERF_RECORD_LOST) {
    struct Lost {
      perf_event_header header;
      uint64_t id;
      uint64_t lost;
    };
    self->perf_lost_ += reinterpret_cast<const Lost*>(event)->lost;
    return LIBBPF_PERF_EVENT_CONT;
  }
  if (event->type != PERF_RECORD_SAMPLE || pending_exception) return LIBBPF_PERF_EVENT_CONT;
  // PERF_SAMPLE_RAW: the header, a u32 size, then the bytes the program sent.
  const char* raw = reinterpret_cast<const char*>(event) + sizeof(perf_event_header);
  uint32_t size = 0;
  std::memcpy(&size, raw, sizeof size);
  try {
    ++self->received_;
    ++self->handled_;
    self->cb_(raw + sizeof size, size);
  } catch (...) {
    pending_exception = std::current_exception();
  }
  return LIBBPF_PERF_EVENT_CONT;
}

int EventReader::drain() {
  if (ring_) {
    int rc = ring_buffer__consume(ring_);
    rethrow_pending();
    if (rc < 0) throw Error("cannot read ring buffer " + map_ + ": " + std::strerror(-rc));
  } else {
    int rc = perf_buffer__consume(perf_);
    rethrow_pending();
    if (rc < 0) throw Error("cannot read perf buffer " + map_ + ": " + std::strerror(-rc));
  }
  return handled_;
}

void EventReader::stamp_woken(uint64_t monotonic_ns) {
  const uint32_t zero = 0;
  // A failed write costs latency or wakeups, never events: not worth an error.
  bpf_map_update_elem(woken_fd_, &zero, &monotonic_ns, BPF_ANY);
  woken_zero_ = monotonic_ns == 0;
}

int EventReader::poll(int timeout_ms) {
  handled_ = 0;
  auto deadline = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    int wait_ms = static_cast<int>(std::clamp<long long>(left, 0, burst_tick_ms_ ? burst_tick_ms_ : options_.tick_ms));
    // Sleeps until a wakeup (a forced one, or a batch of perf events) or the tick.
    if (ring_) {
      int rc = ring_buffer__poll(ring_, wait_ms);
      rethrow_pending();
      if (rc < 0 && rc != -EINTR) throw Error("cannot poll ring buffer " + map_ + ": " + std::strerror(-rc));
    } else {
      int rc = perf_buffer__poll(perf_, wait_ms);
      rethrow_pending();
      if (rc < 0 && rc != -EINTR) throw Error("cannot poll perf buffer " + map_ + ": " + std::strerror(-rc));
    }
    // Events sent without a wakeup are drained on every tick.
    drain();
    if (woken_fd_ >= 0 && handled_ == 0 && !woken_zero_) {
      burst_tick_ms_ = 0;
      stamp_woken(0);
      drain();  // what came in before the 0 was seen woke no one
    }
    if (woken_fd_ >= 0 && handled_ > 0) {
      // A burst: back after 10, 20, 40 ... ms, then every tick_ms while it lasts.
      burst_tick_ms_ = burst_tick_ms_ ? std::min(2 * burst_tick_ms_, options_.tick_ms) : kFirstBurstTickMs;
      // steady_clock is CLOCK_MONOTONIC, bpf_ktime_get_ns()'s clock (outside time namespaces).
      stamp_woken(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count()));
    }
    if (handled_ > 0 || Clock::now() >= deadline) return handled_;
  }
}

uint64_t EventReader::lost() const {
  uint64_t n = perf_lost_;
  if (kind_ == BufferKind::Ring && !options_.lost_map.empty()) n += prog_.sum_percpu_u64(options_.lost_map);
  return n;
}

}  // namespace tracekit
