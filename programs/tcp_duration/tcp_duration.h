/* tcp_duration: shared between the BPF text and main.cc. */
#ifndef TCP_DURATION_H
#define TCP_DURATION_H

#ifndef __KERNEL__
#include <linux/types.h>
#endif

/* Default size of the LRU connection table (--max-connections). */
#define TD_DEFAULT_MAX_CONNECTIONS 65536

/* Direction of a packet relative to the connection: index into bytes[] / packets[]. */
#define TD_C2S 0 /* sent by the client (the host that sent the first SYN) */
#define TD_S2C 1 /* sent by the server */

/* Which end of the connection the recorded owner is (td_conn.owner, td_event.owner). */
#define TD_OWNER_NONE 0   /* no local socket seen */
#define TD_OWNER_CLIENT 1 /* the client is a socket on this host */
#define TD_OWNER_SERVER 2 /* the server is (and the client's socket was not seen) */

/* td_event.seen: which handshake steps were seen. */
#define TD_SEEN_SYNACK 1 /* the server's SYN/ACK: syn_to_synack_ns is valid */
#define TD_SEEN_ACK 2    /* the client's ACK of it: synack_to_ack_ns is valid */

/* How a connection ended. */
#define TD_END_FIN 1 /* both sides sent a FIN */
#define TD_END_RST 2 /* either side sent an RST */

/*
 * A connection, named by its client (the sender of the SYN without ACK): the key of
 * the events. IPv4 addresses sit in the first 4 bytes of the 16, the rest zero.
 * Addresses in network byte order, ports in host byte order.
 */
struct td_key {
	__u8 client_addr[16];
	__u8 server_addr[16];
	__u16 client_port;
	__u16 server_port;
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
};

/*
 * The key of the table: the connection's two endpoints in a fixed order ("a" is the
 * smaller by address, then port; see td_pair_make), whichever end sent the packet, so
 * that each packet is one lookup. td_conn.client_is_b says which end is the client.
 */
struct td_pair {
	__u8 a_addr[16] __attribute__((aligned(8))); /* words, not bytes, in the BPF code; same layout */
	__u8 b_addr[16];
	__u16 a_port;
	__u16 b_port;
	__u8 family;
	__u8 pad[3];
};

#ifndef TD_INLINE
#define TD_INLINE static inline __attribute__((always_inline))
#endif

/* The pair of a packet from (src, sport) to (dst, dport). Returns 1 when the source is
 * endpoint b. Any total order does: addresses are compared as two 64-bit words. */
TD_INLINE int td_pair_make(struct td_pair *k, const __u8 *src, __u16 sport, const __u8 *dst, __u16 dport,
			   __u8 family)
{
	__u64 s[2], d[2];
	int src_is_b;

	__builtin_memcpy(s, src, 16);
	__builtin_memcpy(d, dst, 16);
	if (s[0] != d[0])
		src_is_b = s[0] > d[0];
	else if (s[1] != d[1])
		src_is_b = s[1] > d[1];
	else
		src_is_b = sport > dport;
	__builtin_memcpy(k->a_addr, src_is_b ? dst : src, 16);
	__builtin_memcpy(k->b_addr, src_is_b ? src : dst, 16);
	k->a_port = src_is_b ? dport : sport;
	k->b_port = src_is_b ? sport : dport;
	k->family = family;
	return src_is_b;
}

/* Value of the LRU table: one live (not yet finished) connection. */
struct td_conn {
	__u64 start_ns; /* bpf_ktime_get_ns() at the first SYN */
	__u64 fins;     /* bit TD_C2S / TD_S2C: that side's FIN seen (atomic OR) */
	__u64 bytes[2];   /* skb->len of the packets seen at the hook, per direction */
	__u64 packets[2];
	__u64 syns; /* SYNs without ACK seen from the client (> 1: retransmitted) */
	__u64 syn_ns;    /* the last SYN before the first SYN/ACK (the one it answers) */
	__u64 synack_ns; /* the server's first SYN/ACK; 0: not seen yet */
	__u64 ack_ns;    /* the client's first ACK (no SYN, no RST) after it; 0: not yet */
	__u64 owner_cgroup_id; /* the local socket's cgroup v2 id (owner != NONE) */
	__u32 owner_uid;       /* its uid */
	__u8 owner;            /* TD_OWNER_*: which end that socket is */
	__u8 client_is_b;      /* 1: the client is endpoint b of the key (td_pair) */
	__u8 pad[2];
};

/* One finished connection, sent to user space. */
struct td_event {
	struct td_key key;
	__u64 start_ns;    /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at the first SYN */
	__u64 duration_ns; /* first SYN -> second FIN, or -> RST */
	__u64 bytes[2];    /* [TD_C2S], [TD_S2C] */
	__u64 packets[2];
	__u32 syns;
	__u8 end;    /* TD_END_FIN / TD_END_RST */
	__u8 end_by; /* who ended it: the RST's sender, or the first FIN's sender
	              * (the active closer); TD_C2S = client, TD_S2C = server */
	__u8 owner;  /* TD_OWNER_*: which end owner_uid / owner_cgroup_id belong to */
	__u8 seen;   /* TD_SEEN_* bits */
	__u64 syn_to_synack_ns; /* last SYN before the SYN/ACK -> first SYN/ACK (TD_SEEN_SYNACK) */
	__u64 synack_to_ack_ns; /* first SYN/ACK -> the client's first ACK (TD_SEEN_ACK) */
	__u64 owner_cgroup_id;  /* the local socket's cgroup v2 id */
	__u32 owner_uid;        /* and its uid */
	__u32 pad;
};

/* Counters in the per-CPU array `stats`. See docs/tcp_duration.md for their meaning. */
#define TD_STAT_OPENED 0        /* table entries created by a SYN */
#define TD_STAT_SYN_RETRANS 1   /* SYN for a connection already in the table */
#define TD_STAT_CLOSED_FIN 2    /* entries removed after both FINs (one event each) */
#define TD_STAT_CLOSED_RST 3    /* entries removed on an RST (one event each) */
#define TD_STAT_ORPHAN_FIN 4    /* FIN of a connection not in the table */
#define TD_STAT_ORPHAN_RST 5    /* RST of a connection not in the table */
#define TD_STAT_INSERT_FAILED 6 /* SYN whose entry could not be created */
#define TD_STAT_REPLACED 7      /* SYN on a tuple whose old connection had a FIN: restarted */
#define TD_STAT_UNPARSED 8      /* packets whose headers could not be read (truncated, malformed) */
#define TD_STAT_MAX 9

#endif
