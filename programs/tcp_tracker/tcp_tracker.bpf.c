/*
 * tcp_tracker: bytes, packets and wire segments per TCP flow direction, counted on
 * the TC hook (tcx or clsact) of one interface.
 *
 * Port of the "TCP tracker" experiment, with these changes:
 *  - IPv4 with any header length (the IHL is honoured; the original assumed 20 bytes),
 *    IPv6 (extension headers are walked), one 802.1Q/802.1ad VLAN tag in the frame,
 *    devices without an Ethernet header (tun, wireguard, ipip);
 *  - an LRU hash of TCP_TRACKER_MAX_FLOWS entries: a full table evicts the least
 *    recently updated flow instead of silently refusing new ones (the original's
 *    256-entry hash stopped counting new flows);
 *  - segments from gso_segs next to packets;
 *  - packets that are not counted are counted per reason in "outside";
 *  - the program only observes: it always returns TC_ACT_UNSPEC (-1), which is
 *    TCX_NEXT under tcx. Any other value would end the chain: TC_ACT_OK (0) ==
 *    TCX_PASS would skip the filters/programs after ours (and, under tcx, every
 *    clsact filter of the interface). With -1 the packet goes on to the next program
 *    or filter, and when there is none the kernel lets it through as with TC_ACT_OK.
 *
 * Packets are parsed by tracekit/packet.bpf.h (the device's link-layer header length
 * comes from the runner as -DTK_L2_LEN).
 *
 * The flow table is "flows", read in place by user space. With --reset
 * (-DTCP_TRACKER_SPARE) it is reached through slot 0 of the array of maps "flow_tables",
 * and there is a second table "flows_spare": at each report user space points slot 0 at
 * the other table.
 * That map update returns only after an RCU grace period (the kernel waits for every
 * running BPF program when an array of maps is updated from user space), so no
 * program still holds a pointer into the table it then reads and empties: no count is
 * lost or misattributed, which deleting entries under a running program cannot
 * promise (a program between its lookup and its atomic add would add to a freed
 * entry).
 */
#include <tracekit/maps.bpf.h>
#include <tracekit/owner.bpf.h>
#include <tracekit/packet.bpf.h>

#include "tcp_tracker.h"

#ifndef TCP_TRACKER_MAX_FLOWS
#define TCP_TRACKER_MAX_FLOWS TCP_TRACKER_DEFAULT_MAX_FLOWS
#endif

#define TRACKER_VERDICT (-1) /* TC_ACT_UNSPEC == TCX_NEXT: observe only */

BPF_TABLE("lru_hash", struct flow_key, struct flow_value, flows, TCP_TRACKER_MAX_FLOWS);
#ifdef TCP_TRACKER_SPARE
BPF_TABLE("lru_hash", struct flow_key, struct flow_value, flows_spare, TCP_TRACKER_MAX_FLOWS);
BPF_ARRAY_OF_MAPS(flow_tables, "flows", 1);
#endif
BPF_PERCPU_ARRAY(outside, u64, OUTSIDE_REASONS);
/* Flows this program created; user space subtracts what it finds or drained: the rest
 * were evicted by the LRU table. */
BPF_PERCPU_ARRAY(flows_created, u64, 1);
/* Every packet counted into a flow, whatever became of the flow since, per hook
 * (TCP_TRACKER_INGRESS, TCP_TRACKER_EGRESS). */
BPF_PERCPU_ARRAY(totals, struct flow_value, 2);
/* The owner of each connection's local end, by its egress key: written when an egress
 * packet shows it, read by the ingress packets of the same connection (their reverse
 * key). Apart from the flow tables, so that --reset's swap and the LRU eviction of a
 * flow do not lose it. */
BPF_TABLE("lru_hash", struct flow_key, struct tk_owner, owners, TCP_TRACKER_MAX_FLOWS);

static __always_inline void count_outside(int reason)
{
	u64 *n = outside.lookup(&reason);

	if (n)
		*n += 1; /* per-CPU slot: no other writer */
}

/*
 * Keeps the owner of flow v (key k) right.
 *  - egress, on every packet: the owner remembered in "owners" for k. When there is
 *    none, when it is new (the flow has none yet) or on a SYN, the sending socket is
 *    asked (only an end of this connection answers, see tracekit/owner.bpf.h) and
 *    remembered. When it does not answer on a SYN, or nothing is remembered any more
 *    (an ingress SYN without ACK made it forget: a new connection the local end did
 *    not accept, answered by the kernel's RST), the flow has no owner.
 *  - ingress, when the flow has no owner yet or on a SYN or RST (a new connection, or
 *    the end of one that may be new): the owner remembered for the reverse (egress)
 *    key. A SYN without ACK opens a connection the local end has not answered yet:
 *    what is remembered for the reverse key belongs to an older connection, and is
 *    forgotten.
 * (The egress lookup also keeps the connections that send in "owners" when the LRU
 * map is full.)
 */
static __always_inline void find_owner(struct __sk_buff *skb, struct tk_packet *pkt, struct flow_key *k,
				       struct flow_value *v)
{
	struct tk_owner o = {}, *known;
	struct flow_key r = {};
	u8 syn = pkt->tcp_flags & TK_TCP_SYN;

	if (k->direction == TCP_TRACKER_EGRESS) {
		known = owners.lookup(k);
		if (known && v->owned && !syn)
			return; /* the usual case: nothing new */
		if (known && !syn) {
			o = *known;
		} else if (tk_egress_owner(skb, pkt->sport, &o)) {
			owners.update(k, &o);
		} else {
			owners.delete(k); /* (here on a SYN, or with nothing remembered) */
		}
	} else {
		if (!(pkt->tcp_flags & (TK_TCP_SYN | TK_TCP_RST))) {
			if (v->owned)
				return;
			/* Unowned: the reverse direction's owner may come with the next egress
			 * packets. Looked for on each of the first packets, then on every 64th: a
			 * flow with no local socket (forwarded) does not pay a lookup per packet. */
			if (v->packets >= 16 && (v->packets & 63) != 0)
				return;
		}
		__builtin_memcpy(r.saddr, k->daddr, 16);
		__builtin_memcpy(r.daddr, k->saddr, 16);
		r.sport = k->dport;
		r.dport = k->sport;
		r.family = k->family;
		r.direction = TCP_TRACKER_EGRESS;
		if ((pkt->tcp_flags & (TK_TCP_SYN | TK_TCP_ACK)) == TK_TCP_SYN) {
			owners.delete(&r);
		} else {
			known = owners.lookup(&r);
			if (known)
				o = *known;
		}
	}
	if (v->owned == o.known && v->uid == o.uid && v->cgroup_id == o.cgroup_id)
		return;
	v->uid = o.uid;
	v->cgroup_id = o.cgroup_id;
	v->owned = o.known;
}

static __always_inline int count_packet(struct __sk_buff *skb, int direction)
{
	struct tk_packet pkt = {};
	struct flow_key key = {};
	struct flow_value zeros = {}, *v, *total;
#ifdef TCP_TRACKER_SPARE
	void *table;
#endif
	u64 bytes, segs;
	int rc, zero = 0, created;

	rc = tk_parse_tcp(skb, &pkt);
	if (rc != TK_PKT_TCP) {
		count_outside(rc - 1); /* TK_PKT_NON_IP.. == 1 + OUTSIDE_NON_IP.. */
		return TRACKER_VERDICT;
	}
	__builtin_memcpy(key.saddr, pkt.saddr, 16);
	__builtin_memcpy(key.daddr, pkt.daddr, 16);
	key.sport = pkt.sport;
	key.dport = pkt.dport;
	key.family = pkt.family;
	key.direction = direction;

	/* skb->len is the frame length at this hook, as tcpdump reports it; a VLAN tag
	 * held in skb->vlan_tci is not in it, but tcpdump puts it back (+4). */
	bytes = skb->len + (skb->vlan_present ? TK_VLAN_HLEN : 0);
	segs = skb->gso_segs ? skb->gso_segs : 1;

#ifdef TCP_TRACKER_SPARE
	table = flow_tables.lookup(&zero);
	if (!table) { /* not set up by user space (yet) */
		count_outside(OUTSIDE_NO_ENTRY);
		return TRACKER_VERDICT;
	}
	v = tk_lookup_or_try_init(table, &key, &zeros, &created);
#else
	/* Cumulative: the table itself (no outer lookup per packet, and no RCU wait at
	 * start-up for the outer map's update). */
	created = 0;
	v = flows.lookup(&key);
	if (!v) {
		if (flows.insert(&key, &zeros) == 0)
			created = 1;
		v = flows.lookup(&key);
	}
#endif
	if (!v) {
		count_outside(OUTSIDE_NO_ENTRY);
		return TRACKER_VERDICT;
	}
	if (created)
		tk_percpu_add(flows_created.lookup(&zero), 1);
	find_owner(skb, &pkt, &key, v);
	__sync_fetch_and_add(&v->bytes, bytes);
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->segments, segs);
	total = totals.lookup(&direction);
	if (total) { /* per-CPU slot: no other writer */
		total->bytes += bytes;
		total->packets += 1;
		total->segments += segs;
	}
	return TRACKER_VERDICT;
}

/* One entry point per hook, so that each packet knows where it was seen. */
int trace_tcp_tracker_ingress(struct __sk_buff *skb)
{
	return count_packet(skb, TCP_TRACKER_INGRESS);
}

int trace_tcp_tracker_egress(struct __sk_buff *skb)
{
	return count_packet(skb, TCP_TRACKER_EGRESS);
}

/*
 * On egress when egress is not counted (a loopback device, --direction ingress): only
 * the owners, for the ingress packets of the same connections.
 */
int trace_tcp_tracker_owner(struct __sk_buff *skb)
{
	struct tk_packet pkt = {};
	struct flow_key key = {};
	struct tk_owner o = {};

	if (tk_parse_tcp(skb, &pkt) != TK_PKT_TCP)
		return TRACKER_VERDICT;
	__builtin_memcpy(key.saddr, pkt.saddr, 16);
	__builtin_memcpy(key.daddr, pkt.daddr, 16);
	key.sport = pkt.sport;
	key.dport = pkt.dport;
	key.family = pkt.family;
	key.direction = TCP_TRACKER_EGRESS;
	if (!(pkt.tcp_flags & TK_TCP_SYN) && owners.lookup(&key))
		return TRACKER_VERDICT; /* known, and no new connection */
	if (tk_egress_owner(skb, pkt.sport, &o))
		owners.update(&key, &o);
	else
		owners.delete(&key); /* a SYN not ours, or the kernel's answer to a refused one */
	return TRACKER_VERDICT;
}
