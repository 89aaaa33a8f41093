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

#include "bpf/stdio_capture.h"
#include "util/error.h"

namespace tracekit {
namespace {

using Clock = std::chrono::steady_clock;

// Exceptions must not unwind through libbpf's or bcc's C frames: the trampolines park
// them here and poll() rethrows once the C code has returned.
thread_local std::exception_ptr pending_exception;

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
  return {buffer_cflag(kind), "-DNR_CPUS_POSSIBLE=" + std::to_string(std::max(1, libbpf_num_possible_cpus()))};
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
  } else {
    ebpf::BPF& bpf = prog_.bpf();
    StdioCapture quiet;
    ebpf::StatusTuple st =
        bpf.open_perf_buffer(map_, &EventReader::on_perf_sample, &EventReader::on_perf_lost, this, options_.perf_pages);
    perf_ = st.ok() ? bpf.get_perf_buffer(map_) : nullptr;
    if (perf_ && options_.perf_wakeup_events > 1) {
      // BPF::open_perf_buffer always asks for one wakeup per event; reopen the per-CPU
      // buffers of the same BPFPerfBuffer with the batched setting.
      st = perf_->close_all_cpu();
      if (st.ok())
        st = perf_->open_all_cpu(&EventReader::on_perf_sample, &EventReader::on_perf_lost, this, options_.perf_pages,
                                 options_.perf_wakeup_events);
    }
    std::string captured = quiet.finish();
    if (!st.ok() || !perf_)
      throw Error("cannot open perf buffer " + map_ + ": " + st.msg() +
                  (captured.empty() ? "" : " (" + captured + ")"));
  }
}

EventReader::~EventReader() {
  if (ring_) ring_buffer__free(ring_);
  if (perf_) {
    StdioCapture quiet;
    prog_.bpf().close_perf_buffer(map_);
  }
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

void EventReader::on_perf_sample(void* cookie, void* raw, int size) {
  auto* self = static_cast<EventReader*>(cookie);
  if (pending_exception) return;
  try {
    ++self->received_;
    ++self->handled_;
    self->cb_(raw, static_cast<size_t>(std::max(size, 0)));
  } catch (...) {
    pending_exception = std::current_exception();
  }
}

void EventReader::on_perf_lost(void* cookie, uint64_t lost) { static_cast<EventReader*>(cookie)->perf_lost_ += lost; }

int EventReader::drain() {
  if (ring_) {
    int rc = ring_buffer__consume(ring_);
    rethrow_pending();
    if (rc < 0) throw Error("cannot read ring buffer " + map_ + ": " + std::strerror(-rc));
  } else {
    perf_->consume();
    rethrow_pending();
  }
  return handled_;
}

int EventReader::poll(int timeout_ms) {
  handled_ = 0;
  auto deadline = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    int wait_ms = static_cast<int>(std::clamp<long long>(left, 0, options_.tick_ms));
    // Sleeps until a wakeup (a forced one, or a batch of perf events) or the tick.
    if (ring_) {
      int rc = ring_buffer__poll(ring_, wait_ms);
      rethrow_pending();
      if (rc < 0 && rc != -EINTR) throw Error("cannot poll ring buffer " + map_ + ": " + std::strerror(-rc));
    } else {
      perf_->poll(wait_ms);
      rethrow_pending();
    }
    // Events sent without a wakeup are drained on every tick.
    if (drain() > 0 || Clock::now() >= deadline) return handled_;
  }
}

uint64_t EventReader::lost() const {
  uint64_t n = perf_lost_;
  if (kind_ == BufferKind::Ring && !options_.lost_map.empty()) n += prog_.sum_percpu_u64(options_.lost_map);
  return n;
}

}  // namespace tracekit
