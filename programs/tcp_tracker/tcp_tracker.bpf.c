/*
 * tcp_tracker: bytes, packets and wire segments per TCP flow direction, counted on
 * the TC hook (tcx or clsact) of one interface.
 *
 * Port of the "TCP tracker" experiment, with these changes:
 *  - IPv4 with any header length (the IHL is honoured; the original assumed 20 bytes),
 *    IPv6 (extension headers are walked), one 802.1Q/802.1ad VLAN tag in the frame;
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
 * Direct packet access (bounds-checked against data_end) reads the headers. Headers
 * that are not in the linear part of the skb (rare: the stack keeps TCP/IP headers
 * linear) are pulled in once with bpf_skb_pull_data before giving up.
 *
 * The flow table is reached through slot 0 of the array of maps "flow_tables", which
 * user space points at "flows". With --reset (-DTCP_TRACKER_SPARE) there is a second
 * table "flows_spare": at each report user space points slot 0 at the other table.
 * That map update returns only after an RCU grace period (the kernel waits for every
 * running BPF program when an array of maps is updated from user space), so no
 * program still holds a pointer into the table it then reads and empties: no count is
 * lost or misattributed, which deleting entries under a running program cannot
 * promise (a program between its lookup and its atomic add would add to a freed
 * entry).
 */
#include "tcp_tracker.h"

#ifndef TCP_TRACKER_MAX_FLOWS
#define TCP_TRACKER_MAX_FLOWS TCP_TRACKER_DEFAULT_MAX_FLOWS
#endif

#define TRACKER_VERDICT (-1) /* TC_ACT_UNSPEC == TCX_NEXT: observe only */

#define ETH_HLEN_ 14
#define VLAN_HLEN_ 4
#define IPV6_HLEN_ 40
#define TCP_MIN_HLEN 20
#define IPV6_MAX_EXT_HDRS 6
#define PULL_MAX 512 /* bytes made linear when the headers are not */

BPF_TABLE("lru_hash", struct flow_key, struct flow_value, flows, TCP_TRACKER_MAX_FLOWS);
#ifdef TCP_TRACKER_SPARE
BPF_TABLE("lru_hash", struct flow_key, struct flow_value, flows_spare, TCP_TRACKER_MAX_FLOWS);
#endif
BPF_ARRAY_OF_MAPS(flow_tables, "flows", 1);
BPF_PERCPU_ARRAY(outside, u64, OUTSIDE_REASONS);
/* Flows this program created; user space subtracts what it finds or drained: the rest
 * were evicted by the LRU table. */
BPF_PERCPU_ARRAY(flows_created, u64, 1);

static __always_inline __u16 be16_at(const __u8 *p)
{
	return (__u16)p[0] << 8 | p[1];
}

/*
 * Fills key from the frame. Returns 0, or 1 + an outside_reason.
 */
static __always_inline int parse_frame(struct __sk_buff *skb, struct flow_key *key)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *p = data;
	__u8 *l4;
	__u32 off = ETH_HLEN_;
	__u16 proto;

	if (data + ETH_HLEN_ > data_end)
		return 1 + OUTSIDE_TRUNCATED;
	proto = be16_at(p + 12);
	if (proto == 0x8100 || proto == 0x88a8) {
		/* One tag in the frame (an offloaded tag is in skb->vlan_tci instead). */
		if (data + ETH_HLEN_ + VLAN_HLEN_ > data_end)
			return 1 + OUTSIDE_TRUNCATED;
		proto = be16_at(p + 16);
		off = ETH_HLEN_ + VLAN_HLEN_;
		if (proto == 0x8100 || proto == 0x88a8)
			return 1 + OUTSIDE_NON_IP; /* stacked tags (QinQ): not parsed */
	}

	if (proto == 0x0800) {
		__u8 *ip = p + off;
		__u32 ihl;

		if ((void *)(ip + 20) > data_end)
			return 1 + OUTSIDE_TRUNCATED;
		if ((ip[0] >> 4) != 4)
			return 1 + OUTSIDE_MALFORMED;
		ihl = (ip[0] & 0x0f) * 4;
		if (ihl < 20)
			return 1 + OUTSIDE_MALFORMED;
		if (be16_at(ip + 6) & 0x1fff)
			return 1 + OUTSIDE_FRAGMENT;
		if (ip[9] != 6)
			return 1 + OUTSIDE_NON_TCP;
		if ((void *)(ip + ihl) > data_end) /* options cut short */
			return 1 + OUTSIDE_TRUNCATED;
		__builtin_memcpy(key->saddr, ip + 12, 4);
		__builtin_memcpy(key->daddr, ip + 16, 4);
		key->family = 4;
		l4 = ip + ihl;
	} else if (proto == 0x86dd) {
		__u8 *ip6 = p + off;
		__u8 nexthdr;
		int i;

		if ((void *)(ip6 + IPV6_HLEN_) > data_end)
			return 1 + OUTSIDE_TRUNCATED;
		if ((ip6[0] >> 4) != 6)
			return 1 + OUTSIDE_MALFORMED;
		__builtin_memcpy(key->saddr, ip6 + 8, 16);
		__builtin_memcpy(key->daddr, ip6 + 24, 16);
		key->family = 6;
		nexthdr = ip6[6];
		off += IPV6_HLEN_;
#pragma unroll
		for (i = 0; i < IPV6_MAX_EXT_HDRS; i++) {
			__u8 *h;

			if (nexthdr == 6)
				break;
			/* hop-by-hop, routing, fragment, AH, destination options */
			if (nexthdr != 0 && nexthdr != 43 && nexthdr != 44 && nexthdr != 51 &&
			    nexthdr != 60)
				return 1 + OUTSIDE_NON_TCP;
			off &= 0x7ff; /* bound for the verifier: headers end far earlier */
			h = p + off;
			if ((void *)(h + 8) > data_end)
				return 1 + OUTSIDE_TRUNCATED;
			if (nexthdr == 44) {
				if (be16_at(h + 2) & 0xfff8)
					return 1 + OUTSIDE_FRAGMENT;
				off += 8;
			} else if (nexthdr == 51) {
				off += ((__u32)h[1] + 2) * 4;
			} else {
				off += ((__u32)h[1] + 1) * 8;
			}
			nexthdr = h[0];
		}
		if (nexthdr != 6)
			return 1 + OUTSIDE_NON_TCP;
		off &= 0x7ff;
		l4 = p + off;
	} else {
		return 1 + OUTSIDE_NON_IP;
	}

	if ((void *)(l4 + TCP_MIN_HLEN) > data_end)
		return 1 + OUTSIDE_TRUNCATED;
	if ((l4[12] >> 4) < 5)
		return 1 + OUTSIDE_MALFORMED;
	if ((void *)(l4 + (l4[12] >> 4) * 4) > data_end) /* TCP options cut short */
		return 1 + OUTSIDE_TRUNCATED;
	key->sport = be16_at(l4);
	key->dport = be16_at(l4 + 2);
	return 0;
}

static __always_inline void count_outside(int reason)
{
	u64 *n = outside.lookup(&reason);

	if (n)
		*n += 1; /* per-CPU slot: no other writer */
}

int trace_tcp_tracker(struct __sk_buff *skb)
{
	struct flow_key key = {};
	struct flow_value *v;
	void *table;
	u64 bytes, segs;
	int rc, zero = 0;

	rc = parse_frame(skb, &key);
	if (rc == 1 + OUTSIDE_TRUNCATED &&
	    skb->len > (__u32)(skb->data_end - skb->data)) {
		/* The headers may sit in the non-linear part: make them linear, retry. */
		__u32 want = skb->len < PULL_MAX ? skb->len : PULL_MAX;

		if (bpf_skb_pull_data(skb, want) == 0) {
			__builtin_memset(&key, 0, sizeof(key));
			rc = parse_frame(skb, &key);
		}
	}
	if (rc) {
		count_outside(rc - 1);
		return TRACKER_VERDICT;
	}

	/* skb->len is the frame length at this hook, as tcpdump reports it; a VLAN tag
	 * held in skb->vlan_tci is not in it, but tcpdump puts it back (+4). */
	bytes = skb->len + (skb->vlan_present ? VLAN_HLEN_ : 0);
	segs = skb->gso_segs ? skb->gso_segs : 1;

	table = flow_tables.lookup(&zero);
	if (!table) { /* not set up by user space (yet) */
		count_outside(OUTSIDE_NO_ENTRY);
		return TRACKER_VERDICT;
	}
	v = bpf_map_lookup_elem(table, &key);
	if (!v) {
		struct flow_value init = {};

		init.bytes = bytes;
		init.packets = 1;
		init.segments = segs;
		/* BPF_NOEXIST: 0 when we created it */
		if (bpf_map_update_elem(table, &key, &init, BPF_NOEXIST) == 0) {
			u64 *created = flows_created.lookup(&zero);

			if (created)
				*created += 1; /* per-CPU slot: no other writer */
			return TRACKER_VERDICT;
		}
		v = bpf_map_lookup_elem(table, &key); /* another CPU created it first */
		if (!v) {
			count_outside(OUTSIDE_NO_ENTRY);
			return TRACKER_VERDICT;
		}
	}
	__sync_fetch_and_add(&v->bytes, bytes);
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->segments, segs);
	return TRACKER_VERDICT;
}
