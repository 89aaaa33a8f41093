/* tcp_tracker: shared between the BPF text and main.cc (and the tests). */
#ifndef TCP_TRACKER_H
#define TCP_TRACKER_H

#ifndef __KERNEL__
#include <linux/types.h>
#endif

/* Default size of the flow table (--max-flows); the text gets -DTCP_TRACKER_MAX_FLOWS=N. */
#define TCP_TRACKER_DEFAULT_MAX_FLOWS 65536

/*
 * One direction of a TCP connection, as seen in one packet: the packet's source and
 * destination, and the hook (ingress, egress) that saw it. Addresses are in network byte order; an IPv4 address fills the first
 * 4 bytes of its array and the rest is zero. Ports are in host byte order.
 * The structure has no implicit padding (the map hashes every byte of the key).
 */
struct flow_key {
	__u8 saddr[16] __attribute__((aligned(8))); /* words, not bytes, in the BPF code; same layout */
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;    /* 4 or 6 */
	__u8 direction; /* TCP_TRACKER_INGRESS or TCP_TRACKER_EGRESS: the hook that saw it */
	__u8 pad[2];
};

/* The hook a packet was seen on: the flow key's direction, the index into "totals". */
#define TCP_TRACKER_INGRESS 0
#define TCP_TRACKER_EGRESS 1

/*
 * Counters of one flow, each updated with an atomic add, and the flow's local owner:
 * the uid and cgroup v2 id of the socket on this host that sent (egress) or receives
 * (ingress) it, when there is one (owned = 1). See tracekit/owner.bpf.h.
 */
struct flow_value {
	__u64 bytes;    /* sum of skb->len (+4 for an offloaded VLAN tag): frame lengths */
	__u64 packets;  /* skbs seen at the hook (what tcpdump on the interface sees) */
	__u64 segments; /* wire segments: gso_segs of GSO/GRO skbs, 1 for the others */
	__u64 cgroup_id; /* the owner's cgroup v2 id (0: none) */
	__u32 uid;       /* the owner's uid */
	__u32 owned;     /* 1: uid and cgroup_id are the local socket's */
};

/*
 * Packets that did not go into the flow table, per reason: indexes of the per-CPU
 * array "outside". Summed over CPUs by the user side.
 */
enum outside_reason {
	OUTSIDE_NON_IP = 0,   /* not IPv4/IPv6 (ARP, LLDP, ...), or more than one VLAN tag */
	OUTSIDE_NON_TCP = 1,  /* IPv4/IPv6 carrying something else (UDP, ICMP, ...) */
	OUTSIDE_FRAGMENT = 2, /* a non-first IP fragment: no TCP header in it */
	OUTSIDE_TRUNCATED = 3, /* the frame ends inside a header */
	OUTSIDE_MALFORMED = 4, /* IHL < 5, TCP data offset < 5, IP version mismatch */
	OUTSIDE_NO_ENTRY = 5, /* no flow table set up, or it refused a new entry (LRU: never) */
	OUTSIDE_REASONS = 6,
};

#endif
