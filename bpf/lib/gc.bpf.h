/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-tenant shares of the tracking tables, and the sweep that frees expired
 * entries. nf_ct and nf_frags are plain hashes (nothing is ever evicted, so
 * one tenant's flood can't push another tenant's flows out, SPEC §3.13); a
 * new entry is admitted while its tenant holds fewer than its share, and a
 * timer in the kernel deletes expired entries about once a second, so
 * enforcement and the tables' upkeep need no userspace process. The timer
 * lives in the pinned nf_gc map: it runs as long as the datapath is pinned.
 */
#ifndef NF_BPF_GC_H
#define NF_BPF_GC_H

#define NF_GC_INTERVAL_NS	(1000ULL * 1000 * 1000)
#define NF_CLOCK_MONOTONIC	1

static __always_inline struct nf_usage *nf_usage_of(__u32 tenant_id)
{
	if (!tenant_id || tenant_id >= NF_MAX_TENANTS)
		return NULL;
	return bpf_map_lookup_elem(&nf_usage, &tenant_id);
}

/* One entry of tenant_id's share released (its delete succeeded). */
static __always_inline void nf_usage_put(__u32 tenant_id, bool frag)
{
	struct nf_usage *u = nf_usage_of(tenant_id);

	if (!u)
		return;
	if (frag)
		__sync_fetch_and_add(&u->frags, -1);
	else
		__sync_fetch_and_add(&u->ct, -1);
}

/* Remove k's entry; its share is released only if this call removed it. */
static __always_inline void nf_ct_remove(const struct nf_ct_key *k, __u32 tenant_id)
{
	if (!bpf_map_delete_elem(&nf_ct, k))
		nf_usage_put(tenant_id, false);
}

/* Delete a tracked flow, and this CPU's flow-cache slot of it. */
static __always_inline void nf_ct_delete(const struct nf_ct_key *k, __u32 tenant_id)
{
	nf_fc_forget(k);
	nf_ct_remove(k, tenant_id);
}

/*
 * A TCP flow ends with the packet that follows both FINs (the last ACK) or
 * with a RST: its entry goes at once rather than lingering in its tenant's
 * share (a node opening tens of thousands of connections a second would
 * fill it with closed ones). Asked after nf_ct_touch, by nf_ct_close
 * (bpf/netfence.bpf.c), which deletes it and remembers it unless a later
 * judge ends it.
 */
static __always_inline bool nf_ct_ends(const struct nf_ct_val *ct, __u8 tcp_flags)
{
	if (!(ct->flags & NF_CT_CLOSED))
		return false;
	return (tcp_flags & TCP_FLAG_RST) || !(tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_SYN));
}

/*
 * Insert a new entry into nf_ct (frag false) or nf_frags (frag true) for
 * tenant_id: 0, or -1 when the tenant's share or the table is full
 * (conntrack_full). An entry already there under the key (another CPU's
 * first packet of the same flow, a retransmitted first fragment) is
 * overwritten in place and keeps its count; with only_new it is left as it
 * is and the answer is 1.
 */
static __always_inline int nf_track_in(void *map, const void *key, const void *val,
				       __u32 tenant_id, const struct nf_config *cfg, bool frag,
				       bool only_new)
{
	struct nf_usage *u = nf_usage_of(tenant_id);
	__u32 max, *cnt;
	long err;

	if (!u)
		return -1;
	if (frag) {
		max = cfg && cfg->frag_tenant_max ? cfg->frag_tenant_max : NF_DEFAULT_FRAG_TENANT_MAX;
		cnt = &u->frags;
	} else {
		max = cfg && cfg->ct_tenant_max ? cfg->ct_tenant_max : NF_DEFAULT_CT_TENANT_MAX;
		cnt = &u->ct;
	}
	/* Signed: a count that drifted below zero (an entry released twice
	 * while an upgrade carried the table over) must not read as full. */
	if (*(volatile __s32 *)cnt >= (__s32)max)
		return -1;
	err = bpf_map_update_elem(map, key, val, BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		if (only_new)
			return 1;
		return bpf_map_update_elem(map, key, val, BPF_EXIST) ? -1 : 0;
	}
	if (err)
		return -1;	/* E2BIG: the whole table is full */
	/* (CPUs admitting at the same instant may overshoot the share by one each) */
	__sync_fetch_and_add(cnt, 1);
	return 0;
}

static __always_inline int nf_track(void *map, const void *key, const void *val, __u32 tenant_id,
				    const struct nf_config *cfg, bool frag)
{
	return nf_track_in(map, key, val, tenant_id, cfg, frag, false);
}

struct nf_gc_ctx {
	__u64 now;
	__u64 swept;
};

static long nf_gc_ct(struct bpf_map *map, struct nf_ct_key *k, struct nf_ct_val *v,
		     struct nf_gc_ctx *ctx)
{
	if (nf_ct_expired(v, NF_CT_KEY_PROTO(k), ctx->now)) {
		__u32 tenant_id = v->tenant_id;

		if (!bpf_map_delete_elem(map, k)) {
			nf_usage_put(tenant_id, false);
			ctx->swept++;
		}
	}
	return 0;
}

static long nf_gc_frag(struct bpf_map *map, struct nf_frag_key *k, struct nf_frag_val *v,
		       struct nf_gc_ctx *ctx)
{
	if (nf_age(ctx->now, v->last_seen_ns) > NF_FRAG_TIMEOUT_S * NF_HZ) {
		__u32 tenant_id = v->tenant_id;

		if (!bpf_map_delete_elem(map, k)) {
			nf_usage_put(tenant_id, true);
			ctx->swept++;
		}
	}
	return 0;
}

static int nf_gc_run(void *map, __u32 *key, struct nf_gc *gc)
{
	struct nf_gc_ctx ctx = { .now = nf_now() };

	bpf_for_each_map_elem(&nf_ct, nf_gc_ct, &ctx, 0);
	bpf_for_each_map_elem(&nf_frags, nf_gc_frag, &ctx, 0);
	gc->sweeps++;
	gc->swept += ctx.swept;
	bpf_timer_start(&gc->timer, NF_GC_INTERVAL_NS, 0);
	return 0;
}

/*
 * Start the sweep: run once by the loader through BPF_PROG_TEST_RUN after
 * every load (and harmlessly again on every open). Returns TC_ACT_OK when
 * the timer runs, TC_ACT_SHOT otherwise.
 */
SEC("tc")
int nf_gc_start(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct nf_gc *gc = bpf_map_lookup_elem(&nf_gc, &zero);
	long err;

	if (!gc)
		return TC_ACT_SHOT;
	err = bpf_timer_init(&gc->timer, &nf_gc, NF_CLOCK_MONOTONIC);
	if (err && err != -16 /* EBUSY: initialized already */)
		return TC_ACT_SHOT;
	if (bpf_timer_set_callback(&gc->timer, nf_gc_run))
		return TC_ACT_SHOT;
	if (bpf_timer_start(&gc->timer, NF_GC_INTERVAL_NS, 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

#endif
