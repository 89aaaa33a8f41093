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
 * Knobs (cflags): -DMAX_CONNECTIONS=N; from the runner: -DTK_L2_LEN (the device's
 * link-layer header, tracekit/packet.bpf.h), the transport (tracekit/emit.bpf.h).
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>

#include <tracekit/emit.bpf.h>
#include <tracekit/packet.bpf.h>

#include "tcp_duration.h"

#ifndef MAX_CONNECTIONS
#define MAX_CONNECTIONS TD_DEFAULT_MAX_CONNECTIONS
#endif

BPF_TABLE("lru_hash", struct td_key, struct td_conn, connections, MAX_CONNECTIONS);
BPF_PERCPU_ARRAY(stats, u64, TD_STAT_MAX);

static __always_inline void stat_inc(int idx)
{
	u64 *v = stats.lookup(&idx);

	if (v)
		(*v)++;
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
	struct tk_packet pkt = {};
	struct td_key k = {};
	struct td_conn *c;
	u8 flags;
	u64 now, len;
	int dir = TD_C2S;
	int r = tk_parse_tcp(skb, &pkt);

	if (r == TK_PKT_TRUNCATED || r == TK_PKT_MALFORMED)
		stat_inc(TD_STAT_UNPARSED);
	if (r != TK_PKT_TCP)
		return TC_ACT_UNSPEC;
	__builtin_memcpy(k.client_addr, pkt.saddr, 16);
	__builtin_memcpy(k.server_addr, pkt.daddr, 16);
	k.client_port = pkt.sport;
	k.server_port = pkt.dport;
	k.family = pkt.family;
	flags = pkt.tcp_flags;

	now = bpf_ktime_get_ns();
	len = skb->len;
	if ((flags & (TK_TCP_SYN | TK_TCP_ACK | TK_TCP_RST)) == TK_TCP_SYN) {
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
		if (flags & TK_TCP_RST)
			stat_inc(TD_STAT_ORPHAN_RST);
		else if (flags & TK_TCP_FIN)
			stat_inc(TD_STAT_ORPHAN_FIN);
		return TC_ACT_UNSPEC;
	}
	count(c, dir, len);

	if (flags & TK_TCP_RST) {
		finish(skb, &k, c, TD_END_RST, dir, now);
	} else if (flags & TK_TCP_FIN) {
		u64 bit = 1ULL << dir;
		u64 old = __sync_fetch_and_or(&c->fins, bit);

		/* This FIN is the second side's: the connection ends now. It was
		 * closed (first FIN) by the other side. */
		if (old != 3 && (old | bit) == 3)
			finish(skb, &k, c, TD_END_FIN, dir == TD_C2S ? TD_S2C : TD_C2S, now);
	}
	return TC_ACT_UNSPEC;
}
