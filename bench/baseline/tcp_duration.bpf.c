/*
 * Baseline for bench/run.sh: the "TCP duration" experiment's classifier as its README
 * describes it: a client SYN (SYN without ACK) stores its timestamp in a 512-entry
 * BPF_HASH "connections" keyed by {src_ip, src_port, dst_ip, dst_port}; a FIN looks
 * the connection up under the reversed key (the server's FIN), stamps FIN_timestamp,
 * sends {addresses, ports, duration_ns} through the perf buffer "output" and deletes
 * the entry. IPv4/TCP only, TCP header right after a 20-byte IP header, host order.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#define MAX_SIZE 512

struct snapshot_t {
	unsigned int valid;
	unsigned int src_ip;
	unsigned int src_port;
	unsigned int dst_ip;
	unsigned int dst_port;
	unsigned int syn, rst, fin, urg, ack, psh;
};

struct key_t {
	unsigned int src_ip;
	unsigned int src_port;
	unsigned int dst_ip;
	unsigned int dst_port;
};

struct value_t {
	unsigned long SYN_timestamp;
	unsigned long FIN_timestamp;
};

struct data_t {
	unsigned int src_ip;
	unsigned int src_port;
	unsigned int dst_ip;
	unsigned int dst_port;
	unsigned long duration_ns;
};

BPF_PERF_OUTPUT(output);
BPF_HASH(connections, struct key_t, struct value_t, MAX_SIZE);

static __always_inline void read_snapshot(void *data, void *data_end, struct snapshot_t *s)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;

	if (data + sizeof(*eth) > data_end)
		return;
	if (eth->h_proto != htons(ETH_P_IP))
		return;
	ip = data + sizeof(*eth);
	if ((void *)ip + sizeof(*ip) > data_end)
		return;
	if (ip->protocol != IPPROTO_TCP)
		return;
	tcp = (void *)ip + sizeof(*ip);
	if ((void *)tcp + sizeof(*tcp) > data_end)
		return;
	s->valid = 1;
	s->src_ip = ntohl(ip->saddr);
	s->dst_ip = ntohl(ip->daddr);
	s->src_port = ntohs(tcp->source);
	s->dst_port = ntohs(tcp->dest);
	s->ack = tcp->ack;
	s->syn = tcp->syn;
	s->urg = tcp->urg;
	s->fin = tcp->fin;
	s->rst = tcp->rst;
	s->psh = tcp->psh;
}

int trace_tcp_duration(struct __sk_buff *ctx)
{
	struct snapshot_t s = {};

	read_snapshot((void *)(long)ctx->data, (void *)(long)ctx->data_end, &s);
	if (!s.valid)
		return TC_ACT_OK;

	if (s.syn == 1 && s.ack == 0) {
		struct key_t key = {.src_ip = s.src_ip, .src_port = s.src_port,
				    .dst_ip = s.dst_ip, .dst_port = s.dst_port};
		struct value_t value = {.SYN_timestamp = bpf_ktime_get_ns()};

		connections.update(&key, &value);
	}

	if (s.fin == 1) {
		struct key_t rkey = {.src_ip = s.dst_ip, .src_port = s.dst_port,
				     .dst_ip = s.src_ip, .dst_port = s.src_port};
		struct value_t *value = connections.lookup(&rkey);
		struct data_t data = {};

		if (!value)
			return TC_ACT_OK;
		__sync_lock_test_and_set(&value->FIN_timestamp, bpf_ktime_get_ns());
		data.src_ip = rkey.src_ip;
		data.src_port = rkey.src_port;
		data.dst_ip = rkey.dst_ip;
		data.dst_port = rkey.dst_port;
		data.duration_ns = value->FIN_timestamp - value->SYN_timestamp;
		connections.delete(&rkey);
		output.perf_submit(ctx, &data, sizeof(data));
	}
	return TC_ACT_OK;
}
