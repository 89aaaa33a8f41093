/* The floor for the per-packet benchmark: a classifier that does nothing. */
#include <linux/pkt_cls.h>

int empty_classifier(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}
