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

/* Free k's young slot (lib/young.bpf.h): true if it held k, its share released. */
static __always_inline bool nf_young_remove(const struct nf_ct_key *k)
{
	struct nf_young_slot *s = nf_young_own(nf_young_slot_of(k), k);
	__u32 tenant_id;

	if (!s)
		return false;
	tenant_id = s->val.tenant_id;
	nf_young_release(s);
	nf_usage_put(tenant_id, false);
	return true;
}

/*
 * Remove k's entry, from its young slot when it was found there (young: its
 * flags had NF_CT_YOUNG), else (or when the sweep moved it meanwhile) from
 * nf_ct; its share is released only if this call removed it.
 */
static __always_inline void nf_ct_remove(const struct nf_ct_key *k, __u32 tenant_id, bool young)
{
	if (young && nf_young_remove(k))
		return;
	if (!bpf_map_delete_elem(&nf_ct, k)) {
		nf_tally_add(k, -1);
		nf_usage_put(tenant_id, false);
	}
}

/* Delete a tracked flow (ct: its entry), and this CPU's flow-cache slot of it. */
static __always_inline void nf_ct_delete(const struct nf_ct_key *k, const struct nf_ct_val *ct)
{
	nf_fc_forget(k);
	nf_ct_remove(k, ct->tenant_id, ct->flags & NF_CT_YOUNG);
}

/*
 * k's entry: nf_ct's, else its young slot's (lib/young.bpf.h), else NULL.
 */
static __always_inline struct nf_ct_val *nf_ct_find(const struct nf_ct_key *k)
{
	struct nf_ct_val *ct = bpf_map_lookup_elem(&nf_ct, k);

	return ct ? ct : nf_young_find(k);
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
	/* nf_ct's tally counts the entry before anyone can find it (abi.h) */
	if (!frag)
		nf_tally_add(key, 1);
	err = bpf_map_update_elem(map, key, val, BPF_NOEXIST);
	if (err && !frag)
		nf_tally_add(key, -1);
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

/*
 * A TCP SYN's new entry into its young slot (lib/young.bpf.h), counted in
 * tenant_id's share: 0; 1 when the slot holds the key already; -1 when the
 * share is full or the slot is busy (the caller tries nf_ct, which tells
 * the two apart).
 */
static __always_inline int nf_track_young(const struct nf_ct_key *k, const struct nf_ct_val *v,
					  __u32 tenant_id, const struct nf_config *cfg)
{
	struct nf_usage *u = nf_usage_of(tenant_id);
	__u32 max = cfg && cfg->ct_tenant_max ? cfg->ct_tenant_max : NF_DEFAULT_CT_TENANT_MAX;
	int r;

	if (!u || *(volatile __s32 *)&u->ct >= (__s32)max)
		return -1;
	/* one nf_ct tracks (a closed tuple reused, a retransmission after the
	 * sweep moved its entry): left to the ordinary order, as before */
	if (nf_tally_maybe(k) && bpf_map_lookup_elem(&nf_ct, k))
		return 1;
	r = nf_young_put(k, v, (__u32)v->last_seen_ns);
	if (!r)
		__sync_fetch_and_add(&u->ct, 1);
	return r;
}

static __always_inline int nf_track(void *map, const void *key, const void *val, __u32 tenant_id,
				    const struct nf_config *cfg, bool frag)
{
	return nf_track_in(map, key, val, tenant_id, cfg, frag, false);
}

struct nf_gc_ctx {
	__u64 now;
	__u64 swept;
	bool all;	/* nf_young_flush: every young slot, whatever its age */
};

/*
 * An owned young slot's entry into nf_ct, over an entry of its key if there
 * is one (two CPUs' first packets of one flow can make both: the young one
 * is as new), which releases one share; the slot is freed. When nf_ct is
 * full the connection stays young (held again) and the next sweep tries
 * again: it was admitted, and is not dropped half-way. A packet that
 * touches the entry between the slot's copy and its release is lost (as two
 * CPUs' touches of one nf_ct entry can race); one looking the key up then
 * finds neither and is judged as a first packet (fail-closed).
 */
static __always_inline void nf_young_move(struct nf_young_slot *s)
{
	__u32 tenant_id = s->val.tenant_id;
	long err;

	s->val.flags &= ~NF_CT_YOUNG;
	nf_tally_add(&s->key, 1);
	err = bpf_map_update_elem(&nf_ct, &s->key, &s->val, BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		bpf_map_update_elem(&nf_ct, &s->key, &s->val, BPF_EXIST);
		nf_tally_add(&s->key, -1);
		nf_usage_put(tenant_id, false);
	} else if (err) {
		nf_tally_add(&s->key, -1);
		s->val.flags |= NF_CT_YOUNG;
		nf_store_order();
		*(volatile __u32 *)&s->state = NF_YOUNG_HELD;
		return;
	}
	nf_young_release(s);
}

/* A held young slot older than NF_YOUNG_MAX_AGE (any, for a flush): moved
 * into nf_ct, or dropped if its entry expired. */
static long nf_gc_young(struct bpf_map *map, __u32 *idx, struct nf_young_slot *s,
			struct nf_gc_ctx *ctx)
{
	__u32 tenant_id;

	if (*(volatile __u32 *)&s->state != NF_YOUNG_HELD)
		return 0;
	if (!ctx->all && (__s32)((__u32)ctx->now - s->born) < (__s32)NF_YOUNG_MAX_AGE)
		return 0;
	s = nf_young_own(s, NULL);
	if (!s)
		return 0;
	if (nf_ct_expired(&s->val, NF_CT_KEY_PROTO(&s->key), ctx->now)) {
		tenant_id = s->val.tenant_id;
		nf_young_release(s);
		nf_usage_put(tenant_id, false);
		ctx->swept++;
		return 0;
	}
	nf_young_move(s);
	return 0;
}

static long nf_gc_ct(struct bpf_map *map, struct nf_ct_key *k, struct nf_ct_val *v,
		     struct nf_gc_ctx *ctx)
{
	if (nf_ct_expired(v, NF_CT_KEY_PROTO(k), ctx->now)) {
		__u32 tenant_id = v->tenant_id;

		if (!bpf_map_delete_elem(map, k)) {
			nf_tally_add(k, -1);
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

	bpf_for_each_map_elem(&nf_ct_young, nf_gc_young, &ctx, 0);
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

/*
 * Every held young slot moved into nf_ct (expired ones dropped): run by
 * userspace through BPF_PROG_TEST_RUN before it reads or writes nf_ct (a
 * scan, a purge, an upgrade's carry-over), which sees nf_ct only. Returns
 * TC_ACT_OK.
 */
SEC("tc")
int nf_young_flush(struct __sk_buff *skb)
{
	struct nf_gc_ctx ctx = { .now = nf_now(), .all = true };

	bpf_for_each_map_elem(&nf_ct_young, nf_gc_young, &ctx, 0);
	return TC_ACT_OK;
}

#endif
