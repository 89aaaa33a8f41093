/*
 * Baseline for bench/run.sh: the "TCP tracker" experiment's classifier as its README
 * describes it: IPv4/TCP only, struct key_t {valid, src_ip, src_port, dst_ip,
 * dst_port}, struct stat_t {bts, pkt} in a 256-entry BPF_HASH named session_data,
 * bytes and packets added atomically; always TC_ACT_OK. Like the original, the TCP
 * header is looked for right after a 20-byte IP header (no IP options), and the
 * ports and addresses are stored in host order.
 * SESSION_TABLE_SIZE exists only so the flow-read benchmark can hold 100,000 flows.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#ifndef SESSION_TABLE_SIZE
#define SESSION_TABLE_SIZE 256
#endif

struct key_t {
	unsigned int valid;
	unsigned int src_ip;
	unsigned int src_port;
	unsigned int dst_ip;
	unsigned int dst_port;
};

struct stat_t {
	unsigned long bts;
	unsigned long pkt;
};

BPF_HASH(session_data, struct key_t, struct stat_t, SESSION_TABLE_SIZE);

static __always_inline void read_key(void *data, void *data_end, struct key_t *key)
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
	key->valid = 1;
	key->src_ip = ntohl(ip->saddr);
	key->dst_ip = ntohl(ip->daddr);
	key->src_port = ntohs(tcp->source);
	key->dst_port = ntohs(tcp->dest);
}

int trace_tcp_connections(struct __sk_buff *ctx)
{
	struct key_t key = {};
	struct stat_t zero = {};
	struct stat_t *stat;

	read_key((void *)(long)ctx->data, (void *)(long)ctx->data_end, &key);
	if (!key.valid)
		return TC_ACT_OK;
	stat = session_data.lookup_or_try_init(&key, &zero);
	if (!stat)
		return TC_ACT_OK;
	__sync_fetch_and_add(&stat->pkt, 1);
	__sync_fetch_and_add(&stat->bts, ctx->len);
	return TC_ACT_OK;
}
