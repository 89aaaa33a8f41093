/*
 * tcp_duration: lifetime of every TCP connection that crosses one interface.
 *
 * Port of the "TCP duration" experiment. One SCHED_CLS program runs on both hooks
 * (tcx or clsact, ingress and egress) of the interface. A connection is tracked from
 * the client's first SYN (without ACK) to the moment both sides have sent a FIN, or
 * to an RST from either side; then its entry is deleted and one event is sent. (The
 * original stopped at the server's FIN and never deleted RST-closed entries.)
 *
 * The table is keyed by the client's 4-tuple: a packet is looked up as (src, dst),
 * then as (dst, src), so the client may be on either side of the interface. It is
 * an LRU hash: connections whose end is never seen (half-open, idle, started
 * elsewhere) are evicted when the table is full instead of blocking new ones.
 * Evictions are silent; user space derives their number from the counters in
 * `stats` and the entries left at exit (see docs/tcp_duration.md).
 *
 * The program never changes or drops a packet: it always returns TC_ACT_UNSPEC,
 * which means "next program" under tcx and "continue with the next filter" under a
 * direct-action clsact filter, so other filters on the hook keep working.
 *
 * Knobs (cflags): -DMAX_CONNECTIONS=N, -DL2_LEN=14|0 (Ethernet header or none),
 * -DUSE_RINGBUF / -DUSE_PERFBUF and -DNR_CPUS_POSSIBLE=N (src/event_reader.h).
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/in.h>
#include <uapi/linux/pkt_cls.h>

#include "tcp_duration.h"

#ifndef MAX_CONNECTIONS
#define MAX_CONNECTIONS TD_DEFAULT_MAX_CONNECTIONS
#endif
#ifndef L2_LEN
#define L2_LEN 14
#endif

/* IPv6 extension headers (uapi/linux/in6.h is not pulled in by in.h). */
#define TD_NEXTHDR_HOP 0
#define TD_NEXTHDR_ROUTING 43
#define TD_NEXTHDR_FRAGMENT 44
#define TD_NEXTHDR_AH 51
#define TD_NEXTHDR_DEST 60

#define PULL_MAX 512 /* bytes made linear when the headers are not */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TD_HTONS(x) __builtin_bswap16(x)
#else
#define TD_HTONS(x) (x)
#endif

BPF_TABLE("lru_hash", struct td_key, struct td_conn, connections, MAX_CONNECTIONS);
BPF_PERCPU_ARRAY(stats, u64, TD_STAT_MAX);

#ifdef USE_RINGBUF
/*
 * Wakeups are batched (src/event_reader.h): events go in with BPF_RB_NO_WAKEUP and
 * the reader drains the ring on a short timer; a CPU forces one wakeup each time it
 * has sent WAKEUP_BYTES since its last forced one, so at most about a quarter of the
 * ring waits unannounced. (bcc 0.26 cannot call bpf_ringbuf_query() on a
 * BPF_RINGBUF_OUTPUT map.) 256 pages hold about 10,000 events.
 */
#define EVENTS_PAGES 256
#ifndef NR_CPUS_POSSIBLE
#define NR_CPUS_POSSIBLE 64
#endif
#define WAKEUP_BYTES (EVENTS_PAGES * 4096 / 4 / NR_CPUS_POSSIBLE)
BPF_RINGBUF_OUTPUT(events, EVENTS_PAGES);
BPF_PERCPU_ARRAY(events_lost, u64, 1);    /* reservation failures */
BPF_PERCPU_ARRAY(events_unwoken, u64, 1); /* bytes sent since the last forced wakeup */
static __always_inline void emit(void *ctx, void *data, u32 size)
{
	u64 flags = BPF_RB_NO_WAKEUP;
	int zero = 0;
	u64 *unwoken = events_unwoken.lookup(&zero);

	if (unwoken) {
		*unwoken += size;
		if (*unwoken >= WAKEUP_BYTES) {
			*unwoken = 0;
			flags = BPF_RB_FORCE_WAKEUP;
		}
	}
	if (events.ringbuf_output(data, size, flags) != 0) {
		u64 *lost = events_lost.lookup(&zero);

		if (lost)
			(*lost)++;
	}
}
#else
BPF_PERF_OUTPUT(events);
/* An inline function, not a macro: bcc refuses map methods inside macros. */
static __always_inline void emit(void *ctx, void *data, u32 size)
{
	events.perf_submit(ctx, data, size);
}
#endif

static __always_inline void stat_inc(int idx)
{
	u64 *v = stats.lookup(&idx);

	if (v)
		(*v)++;
}

/*
 * Fills *k with (src as client, dst as server) and *flags with the TCP flags byte.
 * Returns 1 for a TCP packet, 0 for anything else (not IP, not TCP, a non-first
 * fragment), -1 for a TCP packet whose headers are not all in the linear data.
 */
static __always_inline int parse(struct __sk_buff *skb, struct td_key *k, u8 *flags)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	u32 off = L2_LEN;
	u16 proto = skb->protocol; /* network byte order */
	u8 l4;

	if (proto == TD_HTONS(0x8100) || proto == TD_HTONS(0x88A8)) { /* one VLAN tag in the data */
		u8 *tag = data + off;
		if ((void *)(tag + 4) > data_end)
			return 0;
		proto = *(u16 *)(tag + 2);
		off += 4;
	}

	if (proto == TD_HTONS(0x0800)) {
		u8 *ip = data + off;
		u32 ihl;

		if ((void *)(ip + 20) > data_end)
			return 0;
		if (ip[9] != IPPROTO_TCP)
			return 0;
		if (((ip[6] << 8) | ip[7]) & 0x1FFF) /* fragment offset: no TCP header here */
			return 0;
		ihl = (ip[0] & 0x0F) * 4; /* options honoured */
		if (ihl < 20)
			return 0;
		k->family = 4;
		__builtin_memcpy(k->client_addr, ip + 12, 4);
		__builtin_memcpy(k->server_addr, ip + 16, 4);
		off += ihl;
	} else if (proto == TD_HTONS(0x86DD)) {
		u8 *ip6 = data + off;

		if ((void *)(ip6 + 40) > data_end)
			return 0;
		l4 = ip6[6];
		k->family = 6;
		__builtin_memcpy(k->client_addr, ip6 + 8, 16);
		__builtin_memcpy(k->server_addr, ip6 + 24, 16);
		off += 40;
		/* A bounded walk over extension headers. */
#pragma unroll
		for (int i = 0; i < 6; i++) {
			u8 *ext = data + off;

			if (l4 == IPPROTO_TCP)
				break;
			if (l4 == TD_NEXTHDR_HOP || l4 == TD_NEXTHDR_ROUTING || l4 == TD_NEXTHDR_DEST) {
				if ((void *)(ext + 2) > data_end)
					return -1;
				l4 = ext[0];
				off += (ext[1] + 1) * 8;
			} else if (l4 == TD_NEXTHDR_FRAGMENT) {
				if ((void *)(ext + 8) > data_end)
					return -1;
				if (((ext[2] << 8) | ext[3]) & 0xFFF8) /* not the first fragment */
					return 0;
				l4 = ext[0];
				off += 8;
			} else if (l4 == TD_NEXTHDR_AH) {
				if ((void *)(ext + 2) > data_end)
					return -1;
				l4 = ext[0];
				off += (ext[1] + 2) * 4;
			} else {
				return 0;
			}
		}
		if (l4 != IPPROTO_TCP)
			return 0;
	} else {
		return 0;
	}

	u8 *tcp = data + off;
	if ((void *)(tcp + 20) > data_end)
		return -1;
	k->client_port = (tcp[0] << 8) | tcp[1];
	k->server_port = (tcp[2] << 8) | tcp[3];
	*flags = tcp[13];
	return 1;
}

static __always_inline void swap_sides(struct td_key *k)
{
	struct td_key r = {};

	__builtin_memcpy(r.client_addr, k->server_addr, 16);
	__builtin_memcpy(r.server_addr, k->client_addr, 16);
	r.client_port = k->server_port;
	r.server_port = k->client_port;
	r.family = k->family;
	*k = r;
}

/* The connection ended: remove it, and send one event if this CPU removed it. */
static __always_inline void finish(struct __sk_buff *skb, struct td_key *k, struct td_conn *c,
				   u8 end, u8 by, u64 now)
{
	struct td_event e = {};

	e.key = *k;
	e.start_ns = c->start_ns;
	e.duration_ns = now > c->start_ns ? now - c->start_ns : 0;
	e.bytes[TD_C2S] = c->bytes[TD_C2S];
	e.bytes[TD_S2C] = c->bytes[TD_S2C];
	e.packets[TD_C2S] = c->packets[TD_C2S];
	e.packets[TD_S2C] = c->packets[TD_S2C];
	e.syns = c->syns;
	e.end = end;
	e.end_by = by;
	/* Two CPUs may see the two last packets at once: the one whose delete succeeds
	 * reports, so every connection is reported once. */
	if (connections.delete(k) != 0)
		return;
	stat_inc(end == TD_END_FIN ? TD_STAT_CLOSED_FIN : TD_STAT_CLOSED_RST);
	emit(skb, &e, sizeof(e));
}

static __always_inline void count(struct td_conn *c, int dir, u64 len)
{
	if (dir == TD_C2S) {
		__sync_fetch_and_add(&c->bytes[TD_C2S], len);
		__sync_fetch_and_add(&c->packets[TD_C2S], 1);
	} else {
		__sync_fetch_and_add(&c->bytes[TD_S2C], len);
		__sync_fetch_and_add(&c->packets[TD_S2C], 1);
	}
}

/* A SYN without ACK: a new connection, or a retransmitted SYN of a known one. */
static __always_inline void on_syn(struct td_key *k, u64 len, u64 now)
{
	struct td_conn *c = connections.lookup(k);
	struct td_conn fresh = {};
	int err;

	if (c && !c->fins) {
		__sync_fetch_and_add(&c->syns, 1);
		count(c, TD_C2S, len);
		stat_inc(TD_STAT_SYN_RETRANS);
		return;
	}
	fresh.start_ns = now;
	fresh.bytes[TD_C2S] = len;
	fresh.packets[TD_C2S] = 1;
	fresh.syns = 1;
	if (c) {
		/* The tuple's old connection had sent a FIN but its end was never seen
		 * (e.g. the last FIN took another path): start over. */
		err = connections.update(k, &fresh);
		if (!err)
			stat_inc(TD_STAT_REPLACED);
	} else {
		err = connections.insert(k, &fresh); /* BPF_NOEXIST */
		if (err == -17 /* EEXIST: another CPU inserted it just now */) {
			c = connections.lookup(k);
			if (c) {
				__sync_fetch_and_add(&c->syns, 1);
				count(c, TD_C2S, len);
			}
			stat_inc(TD_STAT_SYN_RETRANS);
			return;
		}
	}
	if (err)
		stat_inc(TD_STAT_INSERT_FAILED);
	else
		stat_inc(TD_STAT_OPENED);
}

int tcp_duration(struct __sk_buff *skb)
{
	struct td_key k = {};
	struct td_conn *c;
	u8 flags = 0;
	u64 now, len;
	int dir = TD_C2S;
	int r = parse(skb, &k, &flags);

	if (r < 0) {
		/* Headers not all in the linear data (rare: the stack keeps TCP/IP headers
		 * linear). Make up to PULL_MAX bytes linear once, as tcp_tracker does; this
		 * changes the skb's layout, never the packet's bytes. */
		u32 want = skb->len < PULL_MAX ? skb->len : PULL_MAX;
		struct td_key empty = {};

		if (bpf_skb_pull_data(skb, want) == 0) {
			k = empty;
			r = parse(skb, &k, &flags);
		}
	}
	if (r < 0)
		stat_inc(TD_STAT_UNPARSED);
	if (r <= 0)
		return TC_ACT_UNSPEC;

	now = bpf_ktime_get_ns();
	len = skb->len;
	if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
		on_syn(&k, len, now);
		return TC_ACT_UNSPEC;
	}

	c = connections.lookup(&k);
	if (!c) {
		swap_sides(&k);
		dir = TD_S2C;
		c = connections.lookup(&k);
	}
	if (!c) {
		if (flags & TCP_RST)
			stat_inc(TD_STAT_ORPHAN_RST);
		else if (flags & TCP_FIN)
			stat_inc(TD_STAT_ORPHAN_FIN);
		return TC_ACT_UNSPEC;
	}
	count(c, dir, len);

	if (flags & TCP_RST) {
		finish(skb, &k, c, TD_END_RST, dir, now);
	} else if (flags & TCP_FIN) {
		u64 bit = 1ULL << dir;
		u64 old = __sync_fetch_and_or(&c->fins, bit);

		/* This FIN is the second side's: the connection ends now. It was
		 * closed (first FIN) by the other side. */
		if (old != 3 && (old | bit) == 3)
			finish(skb, &k, c, TD_END_FIN, dir == TD_C2S ? TD_S2C : TD_C2S, now);
	}
	return TC_ACT_UNSPEC;
}
