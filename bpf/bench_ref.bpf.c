// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference programs for `make bench` (SPEC §9). netfence's per-packet cost is
 * reported beside these two, measured in the same run with the same packets:
 *
 *   ref_noop   a tc program that returns TC_ACT_OK: the cost of running any
 *              BPF program at all (BPF_PROG_TEST_RUN loop and skb setup).
 *   ref_floor  the stateful floor, the least any stateful enforcer must do:
 *              parse Ethernet, IPv4 or IPv6, the L4 ports; one lookup in a
 *              262,144-entry LRU hash keyed by the 5-tuple (insert on miss);
 *              one per-CPU counter increment; TC_ACT_OK.
 *
 * The floor's key holds 16-byte addresses (IPv4 v4-mapped) as a dual-stack
 * enforcer's must, copied as netfence copies them (lib/addr.bpf.h). It does
 * not walk IPv6 extension headers: it is a floor, not a firewall. Nothing
 * here is used by netfence itself.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/consts.h"
#include "lib/addr.bpf.h"

#define REF_FLOW_ENTRIES	262144	/* as many flows as netfence tracks (NF_MAX_CT) */

/* The 5-tuple as seen on the wire; addresses v4-mapped for IPv4. */
struct ref_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];		/* zero, part of the hashed key */
};

struct ref_flow_val {
	__u64 first_seen_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, REF_FLOW_ENTRIES);
	__type(key, struct ref_flow_key);
	__type(value, struct ref_flow_val);
} ref_flows SEC(".maps");

/* Packets seen, one counter per CPU (index 0). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ref_packets SEC(".maps");

SEC("tc")
int ref_noop(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

/* Fills key's ports from the L4 header at l4 when proto has ports; 0 otherwise. */
static __always_inline int ref_parse_ports(void *l4, void *data_end, struct ref_flow_key *key)
{
	__be16 *ports = l4;

	if (key->proto != NF_IPPROTO_TCP && key->proto != NF_IPPROTO_UDP &&
	    key->proto != NF_IPPROTO_SCTP)
		return 0;
	if ((void *)(ports + 2) > data_end)
		return -1;
	key->sport = ports[0];
	key->dport = ports[1];
	return 0;
}

SEC("tc")
int ref_floor(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ref_flow_key key = {};
	struct ethhdr *eth = data;
	__u32 zero = 0;
	__u64 *cnt;

	if ((void *)(eth + 1) > data_end)
		goto count;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);

		if ((void *)(ip4 + 1) > data_end || ip4->ihl < 5)
			goto count;
		nf_v4_mapped(key.saddr, ip4->saddr);
		nf_v4_mapped(key.daddr, ip4->daddr);
		key.proto = ip4->protocol;
		if (ref_parse_ports((void *)ip4 + ip4->ihl * 4, data_end, &key) < 0)
			goto count;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			goto count;
		nf_copy_addr(key.saddr, &ip6->saddr);
		nf_copy_addr(key.daddr, &ip6->daddr);
		key.proto = ip6->nexthdr;
		if (ref_parse_ports(ip6 + 1, data_end, &key) < 0)
			goto count;
	} else {
		goto count;
	}

	if (!bpf_map_lookup_elem(&ref_flows, &key)) {
		struct ref_flow_val val = { .first_seen_ns = bpf_ktime_get_ns() };

		bpf_map_update_elem(&ref_flows, &key, &val, BPF_NOEXIST);
	}
count:
	cnt = bpf_map_lookup_elem(&ref_packets, &zero);
	if (cnt)
		*cnt += 1;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
