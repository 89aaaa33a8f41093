/*
 * tracekit/emit.bpf.h: one event transport for every stream tool.
 *
 *   emit(ctx, &event, size);
 *
 * sends an event over the BPF ring buffer (-DUSE_RINGBUF) or a perf buffer
 * (-DUSE_PERFBUF) as the runner chose (--buffer), into the map `events`, which the
 * runner reads (src/bpf/event_reader.h). Both transports count what they lose: the
 * kernel counts lost perf samples; a failed ring reservation bumps `events_lost`.
 *
 * Wakeups are batched: events go in with BPF_RB_NO_WAKEUP, and one forces a wakeup
 * (BPF_RB_FORCE_WAKEUP) when
 *   - the time in events_woken is TK_WAKEUP_MS old: the reader writes there when it last
 *     drained events (and 0 after a drain that found none), so the first event after a
 *     quiet spell reaches it at once, and the rest of a burst waits for its timer
 *     (TK_WAKEUP_MS): in a storm the BPF side wakes no one;
 *   - its CPU has sent TK_WAKEUP_BYTES since its last forced wakeup, so that a burst
 *     cannot overflow the ring: at most about a quarter of the ring waits unannounced.
 *     (bcc 0.26 cannot call bpf_ringbuf_query() on a BPF_RINGBUF_OUTPUT map; that came
 *     with bcc 0.28.)
 * -DTK_WAKEUP_EACH=1 (--wakeup each) wakes the reader for every event instead.
 *
 * emit() is a function, not a macro: bcc refuses map methods inside macros.
 * Knobs: EVENTS_PAGES (ring pages, a power of two; default 256 = 1 MiB),
 * NR_CPUS_POSSIBLE and TK_WAKEUP_MS (set by the runner: its reader's timer).
 */
#ifndef TRACEKIT_EMIT_BPF_H
#define TRACEKIT_EMIT_BPF_H

#ifndef TK_WAKEUP_EACH
#define TK_WAKEUP_EACH 0
#endif
#ifndef EVENTS_PAGES
#define EVENTS_PAGES 256
#endif
#ifndef NR_CPUS_POSSIBLE
#define NR_CPUS_POSSIBLE 64
#endif
#ifndef TK_WAKEUP_MS
#define TK_WAKEUP_MS 100
#endif

#ifdef USE_RINGBUF
#define TK_WAKEUP_BYTES (EVENTS_PAGES * 4096 / 4 / NR_CPUS_POSSIBLE)
BPF_RINGBUF_OUTPUT(events, EVENTS_PAGES);
BPF_PERCPU_ARRAY(events_lost, u64, 1);    /* reservation failures */
BPF_PERCPU_ARRAY(events_unwoken, u64, 1); /* bytes this CPU sent since its last forced wakeup */
/* When the reader last drained events (CLOCK_MONOTONIC ns; 0: it found none), or a
 * CPU last forced a wakeup. Two CPUs may both read an old value and both wake the
 * reader: one wakeup too many, never one too few. */
BPF_ARRAY(events_woken, u64, 1);

static __always_inline void emit(void *ctx, void *data, u32 size)
{
	u64 flags = BPF_RB_NO_WAKEUP;
	int zero = 0;
	u64 *unwoken = events_unwoken.lookup(&zero);
	u64 *woken = events_woken.lookup(&zero);
	u64 now = bpf_ktime_get_ns();

	if (unwoken) {
		*unwoken += size;
		if (*unwoken >= TK_WAKEUP_BYTES)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	if (woken && (s64)(now - *woken) >= TK_WAKEUP_MS * 1000000LL)
		flags = BPF_RB_FORCE_WAKEUP;
	if (flags == BPF_RB_FORCE_WAKEUP) {
		if (unwoken)
			*unwoken = 0;
		if (woken)
			*woken = now;
	}
	if (TK_WAKEUP_EACH)
		flags = 0; /* the kernel's default: wake a reader that has caught up */
	if (events.ringbuf_output(data, size, flags) != 0) {
		u64 *lost = events_lost.lookup(&zero);

		if (lost)
			(*lost)++;
	}
}
#else
BPF_PERF_OUTPUT(events);
/* Lost samples are counted by the kernel and reported to the reader. */
static __always_inline void emit(void *ctx, void *data, u32 size)
{
	events.perf_submit(ctx, data, size);
}
#endif

#endif
