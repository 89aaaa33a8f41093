/*
 * tracekit/owner.bpf.h: the local socket's owner (uid, cgroup v2 id) behind a packet
 * on the TC egress hook, for the SCHED_CLS programs.
 *
 *   struct tk_owner o = {};
 *   if (tk_egress_owner(skb, pkt.sport, &o)) ...   // o.uid, o.cgroup_id
 *
 * On egress skb->sk is the socket that sent the packet, and bpf_get_socket_uid() /
 * bpf_skb_cgroup_id() read its owner (for a SYN/ACK, sent by a request socket, the
 * listener's). Not every skb->sk is a connection's: the kernel sends RSTs for refused
 * connections, and the ACKs of TIME_WAIT connections, from its own per-CPU control
 * socket (a SOCK_RAW socket, uid 0, in the root cgroup). Only a socket that is one end
 * of this packet's connection is taken: a request socket (state NEW_SYN_RECV) or a
 * full SOCK_STREAM/IPPROTO_TCP socket, whose local port is the packet's source port.
 * Anything else (no socket: forwarded or bridged packets; the control socket) gives
 * no owner, never a wrong one.
 *
 * On ingress skb->sk is not set yet (the socket is found later, in the IP layer): the
 * programs take the owner of the connection's egress direction instead.
 */
#ifndef TRACEKIT_OWNER_BPF_H
#define TRACEKIT_OWNER_BPF_H

struct tk_owner {
	__u64 cgroup_id; /* cgroup v2 id of the socket (0: none) */
	__u32 uid;       /* the socket's uid */
	__u32 known;     /* 1: the fields above are the local socket's */
};

static __always_inline int tk_egress_owner(struct __sk_buff *skb, __u16 local_port, struct tk_owner *o)
{
	struct bpf_sock *sk = skb->sk;
	struct bpf_sock *full;

	if (!sk)
		return 0;
	if (sk->src_port != local_port)
		return 0;
	if (sk->state != BPF_TCP_NEW_SYN_RECV) {
		full = bpf_sk_fullsock(sk);
		if (!full || full->type != 1 /* SOCK_STREAM */ || full->protocol != 6 /* IPPROTO_TCP */)
			return 0;
	}
	o->uid = bpf_get_socket_uid(skb);
	o->cgroup_id = bpf_skb_cgroup_id(skb);
	o->known = 1;
	return 1;
}

#endif
