/*
 * tracekit/packet.bpf.h: one TCP/IP parser, from the link layer to the TCP header,
 * for every SCHED_CLS program.
 *
 *   struct tk_packet p = {};
 *   int rc = tk_parse_tcp(skb, &p);   // TK_PKT_TCP, or why the packet is not one
 *
 * The link layer: the runner passes -DTK_L2_LEN from the device type (ARPHRD_*):
 *   14  Ethernet and loopback; the EtherType is read, with one 802.1Q/802.1ad tag
 *       in the frame (an offloaded tag is in skb->vlan_tci instead, not in the data);
 *   0   devices that carry bare IP packets (tun, wireguard, ipip, sit, raw IP): the
 *       IP version nibble tells IPv4 from IPv6.
 * IPv4 with any header length (IHL honoured, options skipped); IPv6 with up to
 * TK_IPV6_MAX_EXT extension headers (hop-by-hop, routing, fragment, AH, destination
 * options) walked. Non-first fragments carry no TCP header: TK_PKT_FRAGMENT.
 * Headers that are not in the linear part of the skb (rare: the stack keeps TCP/IP
 * headers linear) are pulled in once with bpf_skb_pull_data, which changes the skb's
 * layout, never the packet's bytes, before giving up with TK_PKT_TRUNCATED.
 *
 * Addresses are copied in network byte order (IPv4 in the first 4 bytes, the rest
 * left as the caller zeroed them); ports are returned in host byte order.
 */
#ifndef TRACEKIT_PACKET_BPF_H
#define TRACEKIT_PACKET_BPF_H

#ifndef TK_L2_LEN
#define TK_L2_LEN 14
#endif

#define TK_PKT_TCP 0
#define TK_PKT_NON_IP 1    /* not IPv4/IPv6 (ARP, LLDP, ...), or stacked VLAN tags */
#define TK_PKT_NON_TCP 2   /* IPv4/IPv6 carrying something else (UDP, ICMP, ...) */
#define TK_PKT_FRAGMENT 3  /* a non-first IP fragment: no TCP header in it */
#define TK_PKT_TRUNCATED 4 /* the packet ends inside a header */
#define TK_PKT_MALFORMED 5 /* IHL < 5, TCP data offset < 5, IP version mismatch */

#define TK_TCP_FIN 0x01
#define TK_TCP_SYN 0x02
#define TK_TCP_RST 0x04
#define TK_TCP_ACK 0x10

#define TK_VLAN_HLEN 4
#define TK_IPV6_MAX_EXT 6
#define TK_PULL_MAX 512 /* bytes made linear when the headers are not */

/* The addresses are 8-byte aligned so that they are copied as words, not bytes (an
 * IPv6 address bytewise is 16 loads, 16 shifts and 16 ORs). */
struct tk_packet {
	__u8 saddr[16] __attribute__((aligned(8)));
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;    /* 4 or 6 */
	__u8 tcp_flags; /* FIN, SYN, RST, PSH, ACK, ... */
};

static __always_inline __u16 tk_be16(const __u8 *p)
{
	return (__u16)p[0] << 8 | p[1];
}

/* Address bytes from the packet as words: loads at any offset in the packet, which the
 * verifier allows where the CPU reads unaligned words cheaply (x86-64, arm64; elsewhere
 * it refuses the program at load). dst is 8-byte aligned. */
static __always_inline void tk_copy_addr4(__u8 *dst, const __u8 *src)
{
	*(__u32 *)dst = *(const __u32 *)src;
}

static __always_inline void tk_copy_addr16(__u8 *dst, const __u8 *src)
{
	((__u64 *)dst)[0] = ((const __u64 *)src)[0];
	((__u64 *)dst)[1] = ((const __u64 *)src)[1];
}

static __always_inline int tk_parse_tcp_linear(struct __sk_buff *skb, struct tk_packet *pkt)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *p = data;
	__u8 *l4;
	__u32 off = TK_L2_LEN;
	__u16 proto;

	if (TK_L2_LEN == 14) {
		if (data + 14 > data_end)
			return TK_PKT_TRUNCATED;
		proto = tk_be16(p + 12);
		if (proto == 0x8100 || proto == 0x88a8) {
			if (data + 14 + TK_VLAN_HLEN > data_end)
				return TK_PKT_TRUNCATED;
			proto = tk_be16(p + 16);
			off = 14 + TK_VLAN_HLEN;
			if (proto == 0x8100 || proto == 0x88a8)
				return TK_PKT_NON_IP; /* stacked tags (QinQ): not parsed */
		}
	} else {
		if (data + 1 > data_end)
			return TK_PKT_TRUNCATED;
		proto = (p[0] >> 4) == 4 ? 0x0800 : (p[0] >> 4) == 6 ? 0x86dd : 0;
	}

	if (proto == 0x0800) {
		__u8 *ip = p + off;
		__u32 ihl;

		if ((void *)(ip + 20) > data_end)
			return TK_PKT_TRUNCATED;
		if ((ip[0] >> 4) != 4)
			return TK_PKT_MALFORMED;
		ihl = (ip[0] & 0x0f) * 4;
		if (ihl < 20)
			return TK_PKT_MALFORMED;
		if (tk_be16(ip + 6) & 0x1fff)
			return TK_PKT_FRAGMENT;
		if (ip[9] != 6)
			return TK_PKT_NON_TCP;
		if ((void *)(ip + ihl) > data_end) /* options cut short */
			return TK_PKT_TRUNCATED;
		tk_copy_addr4(pkt->saddr, ip + 12);
		tk_copy_addr4(pkt->daddr, ip + 16);
		pkt->family = 4;
		l4 = ip + ihl;
	} else if (proto == 0x86dd) {
		__u8 *ip6 = p + off;
		__u8 nexthdr;
		int i;

		if ((void *)(ip6 + 40) > data_end)
			return TK_PKT_TRUNCATED;
		if ((ip6[0] >> 4) != 6)
			return TK_PKT_MALFORMED;
		tk_copy_addr16(pkt->saddr, ip6 + 8);
		tk_copy_addr16(pkt->daddr, ip6 + 24);
		pkt->family = 6;
		nexthdr = ip6[6];
		off += 40;
#pragma unroll
		for (i = 0; i < TK_IPV6_MAX_EXT; i++) {
			__u8 *h;

			if (nexthdr == 6)
				break;
			/* hop-by-hop, routing, fragment, AH, destination options */
			if (nexthdr != 0 && nexthdr != 43 && nexthdr != 44 && nexthdr != 51 && nexthdr != 60)
				return TK_PKT_NON_TCP;
			off &= 0x7ff; /* bound for the verifier: headers end far earlier */
			h = p + off;
			if ((void *)(h + 8) > data_end)
				return TK_PKT_TRUNCATED;
			if (nexthdr == 44) {
				if (tk_be16(h + 2) & 0xfff8)
					return TK_PKT_FRAGMENT;
				off += 8;
			} else if (nexthdr == 51) {
				off += ((__u32)h[1] + 2) * 4;
			} else {
				off += ((__u32)h[1] + 1) * 8;
			}
			nexthdr = h[0];
		}
		if (nexthdr != 6)
			return TK_PKT_NON_TCP;
		off &= 0x7ff;
		l4 = p + off;
	} else {
		return TK_PKT_NON_IP;
	}

	if ((void *)(l4 + 20) > data_end)
		return TK_PKT_TRUNCATED;
	if ((l4[12] >> 4) < 5)
		return TK_PKT_MALFORMED;
	if ((void *)(l4 + (l4[12] >> 4) * 4) > data_end) /* TCP options cut short */
		return TK_PKT_TRUNCATED;
	pkt->sport = tk_be16(l4);
	pkt->dport = tk_be16(l4 + 2);
	pkt->tcp_flags = l4[13];
	return TK_PKT_TCP;
}

static __always_inline int tk_parse_tcp(struct __sk_buff *skb, struct tk_packet *pkt)
{
	int rc = tk_parse_tcp_linear(skb, pkt);

	if (rc == TK_PKT_TRUNCATED && skb->len > (__u32)(skb->data_end - skb->data)) {
		/* The headers may sit in the non-linear part: make them linear, retry. */
		__u32 want = skb->len < TK_PULL_MAX ? skb->len : TK_PULL_MAX;

		if (bpf_skb_pull_data(skb, want) == 0) {
			__builtin_memset(pkt, 0, sizeof(*pkt));
			rc = tk_parse_tcp_linear(skb, pkt);
		}
	}
	return rc;
}

#endif
