/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Counters per (tenant, direction, reason, hook) in a per-CPU hash, and drop
 * events to a ring buffer, rate limited per CPU by a token bucket so a flood
 * can't swamp userspace; what the bucket or a full ring refuses is counted in
 * nf_events_lost.
 */
#ifndef NF_BPF_NOTIFY_H
#define NF_BPF_NOTIFY_H

static __always_inline void nf_count(__u32 tenant_id, __u8 dir, __u8 reason, __u8 hook, __u32 len)
{
	struct nf_stats_key k = { .tenant_id = tenant_id, .dir = dir, .reason = reason, .hook = hook };
	struct nf_counter *c, init = { .packets = 1, .bytes = len };

	c = bpf_map_lookup_elem(&nf_stats, &k);
	if (c) {
		c->packets++;
		c->bytes += len;
		return;
	}
	/* Racing first inserts on two CPUs: each CPU has its own slot, retry once. */
	if (bpf_map_update_elem(&nf_stats, &k, &init, BPF_NOEXIST)) {
		c = bpf_map_lookup_elem(&nf_stats, &k);
		if (c) {
			c->packets++;
			c->bytes += len;
		}
	}
}

/* A new flow allowed (struct nf_flows). */
static __always_inline void nf_count_flow(__u32 tenant_id, __u8 dir, __u8 hook)
{
	__u32 i = NF_FLOWS_INDEX(tenant_id, dir, hook);
	__u64 *c;

	if (tenant_id >= NF_MAX_TENANTS)
		return;
	c = bpf_map_lookup_elem(&nf_flows, &i);
	if (c)
		(*c)++;
}

static __always_inline void nf_event_lost(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&nf_events_lost, &zero);

	if (lost)
		(*lost)++;
}

static __always_inline bool nf_event_token(const struct nf_config *cfg)
{
	struct nf_ev_bucket *b;
	__u32 zero = 0, rate;
	__u64 now, refill;

	rate = cfg ? cfg->events_per_sec : 0;
	if (!rate)
		return false;
	b = bpf_map_lookup_elem(&nf_ev_bucket, &zero);
	if (!b)
		return false;
	now = bpf_ktime_get_ns();
	refill = (now - b->last_ns) * rate / NS_PER_SEC;
	if (refill) {
		b->tokens += refill;
		if (b->tokens > rate)
			b->tokens = rate;	/* burst = one second's worth */
		b->last_ns = now;
	}
	if (!b->tokens)
		return false;
	b->tokens--;
	return true;
}

static __always_inline void nf_event(const struct nf_config *cfg, const struct nf_pkt *pkt,
				     __u32 tenant_id, __u64 scope, __u32 ifindex, __u32 len,
				     __u8 dir, __u8 reason, __u8 hook)
{
	struct nf_event *e;

	if (!nf_event_token(cfg)) {
		if (cfg && cfg->events_per_sec)
			nf_event_lost();
		return;
	}
	e = bpf_ringbuf_reserve(&nf_events, sizeof(*e), 0);
	if (!e) {
		nf_event_lost();
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->scope = scope;
	e->tenant_id = tenant_id;
	e->ifindex = ifindex;
	e->len = len;
	e->dir = dir;
	e->reason = reason;
	e->hook = hook;
	e->proto = pkt->proto;
	e->family = pkt->family;
	e->pad[0] = 0;
	e->sport = pkt->sport;
	e->dport = pkt->dport;
	e->pad2[0] = 0;
	e->pad2[1] = 0;
	nf_copy_addr(e->saddr, pkt->saddr);
	nf_copy_addr(e->daddr, pkt->daddr);
	bpf_ringbuf_submit(e, 0);
}

#endif
