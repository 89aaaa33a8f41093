/*
 * tcp_duration: lifetime of every TCP connection that crosses one interface.
 *
 * Port of the "TCP duration" experiment. A SCHED_CLS program runs on both hooks
 * (tcx or clsact, ingress and egress) of the interface: one entry point per hook
 * (tcp_duration_ingress, tcp_duration_egress), so that each packet knows where it was
 * seen. A connection is tracked from the client's first SYN (without ACK) to the
 * moment both sides have sent a FIN, or to an RST from either side; then its entry is
 * deleted and one event is sent. (The original stopped at the server's FIN and never
 * deleted RST-closed entries.)
 *
 * The handshake as seen at the hook: the time of the last SYN before the server's
 * first SYN/ACK (the SYN it answers; the first SYN stays the connection's start), of
 * that SYN/ACK, and of the client's first ACK after it.
 *
 * The local owner (uid, cgroup v2 id) of the connection: from an egress packet's
 * socket (tracekit/owner.bpf.h), the client's when both ends are local (lo), else the
 * server's. When egress is not counted (lo, --direction ingress) the runner attaches
 * tcp_duration_owner there, which only sets the owner of connections already in the
 * table.
 *
 * The table is keyed by the connection's two endpoints in a fixed order (struct
 * td_pair), so that a packet from either end is one lookup; the entry says which end
 * is the client, and the client may be on either side of the interface. It is
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
#include <tracekit/owner.bpf.h>
#include <tracekit/packet.bpf.h>

#include "tcp_duration.h"

#ifndef MAX_CONNECTIONS
#define MAX_CONNECTIONS TD_DEFAULT_MAX_CONNECTIONS
#endif

BPF_TABLE("lru_hash", struct td_pair, struct td_conn, connections, MAX_CONNECTIONS);
BPF_PERCPU_ARRAY(stats, u64, TD_STAT_MAX);

static __always_inline void stat_inc(int idx)
{
	u64 *v = stats.lookup(&idx);

	if (v)
		(*v)++;
}

/* The connection ended: remove it, and send one event if this CPU removed it. */
static __always_inline void finish(struct __sk_buff *skb, struct td_pair *k, struct td_conn *c,
				   u8 end, u8 by, u64 now)
{
	struct td_event e = {};
	int b = c->client_is_b;

	__builtin_memcpy(e.key.client_addr, b ? k->b_addr : k->a_addr, 16);
	__builtin_memcpy(e.key.server_addr, b ? k->a_addr : k->b_addr, 16);
	e.key.client_port = b ? k->b_port : k->a_port;
	e.key.server_port = b ? k->a_port : k->b_port;
	e.key.family = k->family;
	e.start_ns = c->start_ns;
	e.duration_ns = now > c->start_ns ? now - c->start_ns : 0;
	e.bytes[TD_C2S] = c->bytes[TD_C2S];
	e.bytes[TD_S2C] = c->bytes[TD_S2C];
	e.packets[TD_C2S] = c->packets[TD_C2S];
	e.packets[TD_S2C] = c->packets[TD_S2C];
	e.syns = c->syns;
	e.end = end;
	e.end_by = by;
	if (c->synack_ns) {
		e.seen |= TD_SEEN_SYNACK;
		e.syn_to_synack_ns = c->synack_ns > c->syn_ns ? c->synack_ns - c->syn_ns : 0;
		if (c->ack_ns) {
			e.seen |= TD_SEEN_ACK;
			e.synack_to_ack_ns = c->ack_ns > c->synack_ns ? c->ack_ns - c->synack_ns : 0;
		}
	}
	e.owner = c->owner;
	e.owner_uid = c->owner_uid;
	e.owner_cgroup_id = c->owner_cgroup_id;
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

/*
 * The owner of connection c from an egress packet sent by end `dir` (o: that packet's
 * socket, when tk_egress_owner() found one). The first one seen is kept, except that
 * the client's replaces the server's: with both ends on this host (lo) the owner is
 * the client's, whichever end's packet came first.
 */
static __always_inline void set_owner(struct td_conn *c, int dir, struct tk_owner *o)
{
	u8 side = dir == TD_C2S ? TD_OWNER_CLIENT : TD_OWNER_SERVER;

	if (!o->known || c->owner == TD_OWNER_CLIENT || c->owner == side)
		return;
	c->owner_uid = o->uid;
	c->owner_cgroup_id = o->cgroup_id;
	c->owner = side;
}

/* A SYN without ACK: a new connection, or a retransmitted SYN of a known one.
 * c: the table's entry for k (NULL: none); src_is_b: the SYN's sender is endpoint b;
 * o: the SYN's socket (egress only). */
static __always_inline void on_syn(struct td_pair *k, struct td_conn *c, int src_is_b, u64 len, u64 now,
				   struct tk_owner *o)
{
	struct td_conn fresh = {};
	int err, dir;

	if (c && !c->fins) {
		/* (A SYN from the server's end too: a simultaneous open.) */
		dir = src_is_b == c->client_is_b ? TD_C2S : TD_S2C;
		__sync_fetch_and_add(&c->syns, 1);
		count(c, dir, len);
		if (!c->synack_ns)
			c->syn_ns = now; /* the SYN the SYN/ACK will answer */
		set_owner(c, dir, o);
		stat_inc(TD_STAT_SYN_RETRANS);
		return;
	}
	fresh.client_is_b = src_is_b;
	fresh.start_ns = now;
	fresh.syn_ns = now;
	fresh.bytes[TD_C2S] = len;
	fresh.packets[TD_C2S] = 1;
	fresh.syns = 1;
	set_owner(&fresh, TD_C2S, o);
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
				dir = src_is_b == c->client_is_b ? TD_C2S : TD_S2C;
				__sync_fetch_and_add(&c->syns, 1);
				count(c, dir, len);
				set_owner(c, dir, o);
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

/* The connection of a packet, one lookup: k is its pair, *dir who sent it. */
static __always_inline struct td_conn *lookup_conn(struct tk_packet *pkt, struct td_pair *k, int *src_is_b,
						   int *dir)
{
	struct td_conn *c;

	*src_is_b = td_pair_make(k, pkt->saddr, pkt->sport, pkt->daddr, pkt->dport, pkt->family);
	c = connections.lookup(k);
	if (c)
		*dir = *src_is_b == c->client_is_b ? TD_C2S : TD_S2C;
	return c;
}

static __always_inline int track(struct __sk_buff *skb, int egress)
{
	struct tk_packet pkt = {};
	struct tk_owner o = {};
	struct td_pair k = {};
	struct td_conn *c;
	u8 flags, hs;
	u64 now, len;
	int dir = TD_C2S, src_is_b;
	int r = tk_parse_tcp(skb, &pkt);

	if (r == TK_PKT_TRUNCATED || r == TK_PKT_MALFORMED)
		stat_inc(TD_STAT_UNPARSED);
	if (r != TK_PKT_TCP)
		return TC_ACT_UNSPEC;
	flags = pkt.tcp_flags;
	hs = flags & (TK_TCP_SYN | TK_TCP_ACK | TK_TCP_RST);

	len = skb->len;
	c = lookup_conn(&pkt, &k, &src_is_b, &dir);
	if (!c && hs != TK_TCP_SYN) {
		if (flags & TK_TCP_RST)
			stat_inc(TD_STAT_ORPHAN_RST);
		else if (flags & TK_TCP_FIN)
			stat_inc(TD_STAT_ORPHAN_FIN);
		return TC_ACT_UNSPEC; /* not a tracked connection: no clock read */
	}
	now = bpf_ktime_get_ns();
	if (hs == TK_TCP_SYN) {
		if (egress)
			tk_egress_owner(skb, pkt.sport, &o);
		on_syn(&k, c, src_is_b, len, now, &o);
		return TC_ACT_UNSPEC;
	}
	count(c, dir, len);
	/* The handshake: the server's first SYN/ACK, then the client's first ACK. */
	if (hs == (TK_TCP_SYN | TK_TCP_ACK)) {
		if (dir == TD_S2C && !c->synack_ns)
			c->synack_ns = now;
	} else if (hs == TK_TCP_ACK && dir == TD_C2S && c->synack_ns && !c->ack_ns) {
		c->ack_ns = now;
	}
	if (egress && c->owner != TD_OWNER_CLIENT && tk_egress_owner(skb, pkt.sport, &o))
		set_owner(c, dir, &o);

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

/* One entry point per hook. */
int tcp_duration_ingress(struct __sk_buff *skb)
{
	return track(skb, 0);
}

int tcp_duration_egress(struct __sk_buff *skb)
{
	return track(skb, 1);
}

/*
 * On egress when egress is not counted (a loopback device, --direction ingress): only
 * the owners of connections already in the table (on lo the SYN's egress comes before
 * its ingress, which creates the entry: the client's owner is learnt from its later
 * packets, the ACK).
 */
int tcp_duration_owner(struct __sk_buff *skb)
{
	struct tk_packet pkt = {};
	struct tk_owner o = {};
	struct td_pair k = {};
	struct td_conn *c;
	int dir = TD_C2S, src_is_b;

	if (tk_parse_tcp(skb, &pkt) != TK_PKT_TCP)
		return TC_ACT_UNSPEC;
	c = lookup_conn(&pkt, &k, &src_is_b, &dir);
	if (c && c->owner != TD_OWNER_CLIENT && tk_egress_owner(skb, pkt.sport, &o))
		set_owner(c, dir, &o);
	return TC_ACT_UNSPEC;
}
