// Reading events that a BPF program sends to user space, from either transport:
//
//   BufferKind::Ring  a BPF_RINGBUF_OUTPUT map, read with libbpf's ring_buffer API on
//                     the map's fd (bcc 0.26's C++ API has no ring buffer reader);
//   BufferKind::Perf  a BPF_PERF_OUTPUT map, read with libbpf's perf_buffer API
//                     (perf_buffer__new_raw, for the wakeup_events setting).
//
// Wakeups are batched in both modes, so that the kernel does not wake the reader once
// per event (about 15 us of kernel time per event, against about 1 us without):
//   Ring  the BPF side submits with BPF_RB_NO_WAKEUP and forces a wakeup
//         (BPF_RB_FORCE_WAKEUP) when the time in woken_map[0] is kRingWakeupMs old, or
//         once a CPU sent a quarter of its share of the ring unannounced. poll() drains
//         the ring every tick_ms (= kRingWakeupMs). After a drain that found events it
//         writes the time into woken_map[0], and comes back after 10 ms, then 20, 40 ...
//         up to tick_ms while the burst lasts (which wakes no one from BPF: no wakeups
//         in a storm); after one that found none it writes 0 (the next event wakes it
//         at once). So a lone event arrives at once, a short burst's tail within
//         10-30 ms, a storm's within tick_ms. A wakeup from BPF costs the traced task
//         the reader's wakeup (the self-IPI runs it inside the program: about 100 us
//         measured here).
//   Perf  the per-CPU buffers are opened with wakeup_events = perf_wakeup_events (one
//         wakeup per that many events on a CPU); poll() drains them every tick_ms.
//         perf_wakeup_events = 1 is bcc's default (one wakeup per event).
// An event therefore reaches the callback at most about tick_ms after it was sent.
//
// ---- Writing the BPF side -------------------------------------------------------------
// Compile the text with the cflags from buffer_cflags(kind) ("-DUSE_RINGBUF" or
// "-DUSE_PERFBUF", plus -DNR_CPUS_POSSIBLE=<n>) and send every event through one
// function, e.g. (bcc syntax; `events` and `events_lost` are the names given to
// EventReader and EventReaderOptions::lost_map):
//
//   #ifdef USE_RINGBUF
//   #define EVENTS_PAGES 256  /* power of two: 1 MiB */
//   BPF_RINGBUF_OUTPUT(events, EVENTS_PAGES);
//   BPF_PERCPU_ARRAY(events_lost, u64, 1);     /* reservation failures */
//   BPF_PERCPU_ARRAY(events_unwoken, u64, 1);  /* bytes sent since the last forced wakeup */
//   static __always_inline void emit(void *ctx, void *data, u32 size)
//   {
//           u64 flags = BPF_RB_NO_WAKEUP;
//           int zero = 0;
//           u64 *unwoken = events_unwoken.lookup(&zero), *lost;
//           /* wake the reader once this CPU sent a quarter of its share of the ring */
//           if (unwoken && (*unwoken += size) >= EVENTS_PAGES * 4096 / 4 / NR_CPUS_POSSIBLE) {
//                   *unwoken = 0;
//                   flags = BPF_RB_FORCE_WAKEUP;
//           }
//           if (events.ringbuf_output(data, size, flags) != 0 &&
//               (lost = events_lost.lookup(&zero)))
//                   (*lost)++;
//   }
//   #else
//   BPF_PERF_OUTPUT(events);
//   static __always_inline void emit(void *ctx, void *data, u32 size)
//   {
//           events.perf_submit(ctx, data, size);  /* the kernel counts lost samples */
//   }
//   #endif
//   (bcc refuses map methods inside a macro: emit must be a function.)
//
// Why not bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA)? bcc 0.26's frontend rewrites
// map references only in method calls (events.ringbuf_output(...)), and has no
// ringbuf_query method (added in bcc 0.28), so `&events` reaches the verifier as 0.
// Counting bytes per CPU bounds the unannounced data the same way.
//
// `size` may vary per event (bounded, e.g. header + n * slot with n clamped): the
// callback receives the size that was sent. In perf mode the kernel may append padding,
// so the callback's size can be a few bytes larger than what was sent.
// Large events (over the 512-byte BPF stack) are built in a BPF_PERCPU_ARRAY scratch
// slot or a map value and sent from there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bpf/bpf_program.h"

struct ring_buffer;
struct perf_buffer;
struct perf_event_header;

namespace tracekit {

std::string buffer_cflag(BufferKind kind);  // "-DUSE_RINGBUF" / "-DUSE_PERFBUF"
// Ring: the longest a submitted event waits unannounced, and the reader's tick.
constexpr int kRingWakeupMs = 100;

// buffer_cflag(kind), "-DNR_CPUS_POSSIBLE=<possible CPUs>" (sizes ring wakeup batches) and
// "-DTK_WAKEUP_MS=<kRingWakeupMs>".
std::vector<std::string> buffer_cflags(BufferKind kind);

struct EventReaderOptions {
  // Ring: name of the BPF_PERCPU_ARRAY(…, u64, 1) the BPF side bumps when a reservation
  // fails; lost() adds its sum. Empty: ring losses are not counted.
  std::string lost_map;
  // Ring: name of the BPF_ARRAY(…, u64, 1) that holds the time (CLOCK_MONOTONIC ns) the
  // reader last drained events, 0 when it found none (see above). Empty: not written.
  std::string woken_map;
  // Longest time an event waits in a buffer when no wakeup came (milliseconds).
  int tick_ms = 10;
  // Perf: pages per CPU buffer (power of two).
  int perf_pages = 64;
  // Perf: the kernel wakes the reader after this many events on a CPU (1 = bcc's default).
  int perf_wakeup_events = 32;
};

class EventReader {
 public:
  using Callback = std::function<void(const void* data, size_t size)>;

  // Opens the reader on map `map` of `prog` (compiled, with the programs that write to
  // the map loaded or not yet). Throws Error when the map is missing or of the wrong kind.
  EventReader(BpfProgram& prog, const std::string& map, BufferKind kind, Callback cb, EventReaderOptions options = {});
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Waits up to timeout_ms (0 = do not wait) for events and hands every event that is in
  // the buffers to the callback. Returns as soon as at least one event was handled, or
  // when timeout_ms has passed; never waits longer than tick_ms without draining.
  // Returns the number of events handled. Throws Error on a read failure.
  int poll(int timeout_ms);

  // Events the kernel could not deliver: perf lost-records plus ring reservation failures.
  uint64_t lost() const;
  // Events handed to the callback so far.
  uint64_t received() const { return received_; }
  BufferKind kind() const { return kind_; }

 private:
  static int on_ring_sample(void* ctx, void* data, size_t size);
  static int on_perf_event(void* ctx, int cpu, ::perf_event_header* event);
  int drain();
  void stamp_woken(uint64_t monotonic_ns);

  BpfProgram& prog_;
  std::string map_;
  BufferKind kind_;
  Callback cb_;
  EventReaderOptions options_;
  ::ring_buffer* ring_ = nullptr;
  ::perf_buffer* perf_ = nullptr;
  uint64_t received_ = 0;
  uint64_t perf_lost_ = 0;
  int handled_ = 0;  // events handled in the current poll()
  int woken_fd_ = -1;
  bool woken_zero_ = false;  // woken_map[0] is 0 now
  int burst_tick_ms_ = 0;    // the next wait while a burst lasts; 0: none
};

}  // namespace tracekit
