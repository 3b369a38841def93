// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Rule sets (SPEC §12): a tenant's MultiNetworkPolicies for one network get
 * a policy slot of their own in nf_tenants (see struct nf_tenant_info), and
 * each interface endpoint on that network carries the slot's id
 * (struct nf_endpoint.policy_id). Here: slot names and ids, and pointing a
 * tenant's endpoints (and their tracked flows) at the slots of their
 * networks after an install, freeing the slots no longer used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "dp_internal.h"
#include "log.h"

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void dp__ruleset_name(uint32_t tenant_id, const char *key, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%u/%s", tenant_id, key);

	if (n < 0 || (size_t)n >= NF_TENANT_NAME_LEN || (size_t)n >= len)
		snprintf(buf, len, "%u/%.24s#%016llx", tenant_id, key,
			 (unsigned long long)fnv1a64(key));
}

uint32_t dp__ruleset_id(struct nf_dp *dp, uint32_t tenant_id, const char *key, bool create)
{
	char name[NF_TENANT_NAME_LEN];
	uint32_t id;

	dp__ruleset_name(tenant_id, key, name, sizeof(name));
	id = dp__tenant_id(dp, name, create);
	if (id)
		dp->tenants[id].flags |= NF_TIF_RULESET;
	return id;
}

bool dp__is_ruleset(struct nf_dp *dp, uint32_t id, uint32_t *owner)
{
	const struct nf_tenant_info *ti;

	if (!id || id >= NF_MAX_TENANTS)
		return false;
	ti = &dp->tenants[id];
	/* a tenant's name is a DNS-1123 label: never a '/' */
	if (!ti->name[0] || !(ti->flags & NF_TIF_RULESET) || !memchr(ti->name, '/', sizeof(ti->name)))
		return false;
	if (owner)
		*owner = (uint32_t)strtoul(ti->name, NULL, 10);
	return true;
}

uint32_t dp__endpoint_policy_id(struct nf_dp *dp, uint32_t tenant_id, const char *tenant,
				const char *network)
{
	char key[NF_NETWORK_KEY_LEN];

	if (nf_network_key(tenant, network && *network ? network : NF_NETWORK_DEFAULT, key,
			   sizeof(key)))
		return 0;
	return dp__ruleset_id(dp, tenant_id, key, false);
}

/* An endpoint that moves to another slot, for the walk of its tracked flows. */
struct move {
	uint32_t ep_id;
	uint32_t policy_id;
};

static const struct move *find_move(const struct move *m, size_t n, uint32_t ep_id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (m[i].ep_id == ep_id)
			return &m[i];
	return NULL;
}

/*
 * The tracked flows of the endpoints that moved: their slot becomes the new
 * one and their epoch one that slot is past (epochs only rise), so the next
 * packet of each is judged again by the rules it is now under, as after a
 * swap. A flow whose packet is being judged right now may write its old
 * slot back; that slot is flipped to deny when it is freed, so such a flow
 * fails closed.
 */
struct ct_moves {
	struct nf_dp *dp;
	uint32_t tenant_id;
	const struct move *m;
	size_t n;
};

static int ct_move_batch(void *keys, void *vals, __u32 count, void *ctx)
{
	const struct ct_moves *c = ctx;
	struct nf_ct_key *k = keys;
	struct nf_ct_val *v = vals;
	__u32 i;

	for (i = 0; i < count; i++) {
		const struct move *mv;
		uint32_t slot;

		if (v[i].tenant_id != c->tenant_id)
			continue;
		mv = find_move(c->m, c->n, v[i].ep_id);
		if (!mv || v[i].policy_id == mv->policy_id)
			continue;
		slot = NF_POLICY_ID(c->tenant_id, mv->policy_id);
		v[i].policy_id = (__u16)mv->policy_id;
		v[i].epoch = c->dp->tenants[slot].epoch - 1;
		v[i].gen = 0;	/* judged again: not by its stamp */
		bpf_map_update_elem(c->dp->maps.fd[NF_MAP_CT], &k[i], &v[i], BPF_EXIST);
	}
	return 0;
}

static void ct_move(struct nf_dp *dp, uint32_t tenant_id, const struct move *m, size_t n)
{
	struct ct_moves c = { .dp = dp, .tenant_id = tenant_id, .m = m, .n = n };

	dp__young_flush(dp);
	dp_map_scan(dp->maps.fd[NF_MAP_CT], sizeof(struct nf_ct_key), sizeof(struct nf_ct_val),
		    ct_move_batch, &c);
	dp__verdicts_changed(dp);	/* after the last write of nf_ct: see nf_ct_val.gen */
}

static bool in_sets(const struct nf_ruleset_ref *sets, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (sets[i].id == id)
			return true;
	return false;
}

int dp__rulesets_sync(struct nf_dp *dp, uint32_t tenant_id, const char *tenant,
		      const struct nf_ruleset_ref *sets, size_t n)
{
	return dp__rulesets_sync_by(dp, tenant_id, tenant, sets, n, NULL, NULL);
}

int dp__rulesets_sync_by(struct nf_dp *dp, uint32_t tenant_id, const char *tenant,
			 const struct nf_ruleset_ref *sets, size_t n,
			 uint32_t (*want_fn)(const struct nf_ep_record *r, void *ctx), void *ctx)
{
	struct nf_ep_record *recs = NULL;
	struct move *moves = NULL;
	size_t n_recs = 0, n_moves = 0, i, j;
	uint32_t id, owner;
	int err;

	if (!tenant_id || tenant_id >= NF_MAX_TENANTS)
		return -ENOENT;
	/* The common case, a tenant without rule sets before or after: every
	 * endpoint of it is on its own rules already (slots are freed only
	 * here, after their endpoints left them). Spares reading every
	 * endpoint record once per tenant an apply touches. */
	for (id = 1; !n && id < NF_MAX_TENANTS; id++)
		if (dp__is_ruleset(dp, id, &owner) && owner == tenant_id)
			break;
	if (!n && id == NF_MAX_TENANTS)
		return 0;
	err = dp__list_endpoints(dp, &recs, &n_recs);
	if (err)
		return err;
	moves = calloc(n_recs + 1, sizeof(*moves));
	if (!moves) {
		free(recs);
		return -ENOMEM;
	}
	for (i = 0; i < n_recs; i++) {
		struct nf_ep_record *r = &recs[i];
		char key[NF_NETWORK_KEY_LEN];
		struct nf_cidr *addrs = NULL;
		struct nf_endpoint v;
		struct nf_ep_key k;
		uint32_t want = 0;
		size_t n_addrs = 0;
		bool in_map;

		if (r->is_cgroup || r->tenant_id != tenant_id)
			continue;
		if (want_fn)
			want = want_fn(r, ctx);
		else if (!nf_network_key(tenant, *r->network ? r->network : NF_NETWORK_DEFAULT,
					 key, sizeof(key)))
			for (j = 0; j < n; j++)
				if (!strcmp(sets[j].key, key))
					want = sets[j].id;
		dp__ep_key(r, &k);
		in_map = !bpf_map_lookup_elem(dp->maps.fd[NF_MAP_ENDPOINTS], &k, &v);
		if (r->policy_id == want && (!in_map || v.policy_id == want))
			continue;
		/* the map first: the record follows what the kernel does */
		if (in_map && v.policy_id != want) {
			v.policy_id = want;
			if (bpf_map_update_elem(dp->maps.fd[NF_MAP_ENDPOINTS], &k, &v, BPF_EXIST) &&
			    errno != ENOENT) {
				err = -errno;
				pr_err("endpoint %u: cannot switch it to its network's rules: %s",
				       r->ep_id, strerror(-err));
				break;
			}
		}
		moves[n_moves++] = (struct move){ r->ep_id, want };
		if (r->policy_id != want && !dp_ep_record_read(r->ep_id, r, &addrs, &n_addrs)) {
			r->policy_id = want;
			err = dp_ep_record_write(r, addrs, n_addrs);
			free(addrs);
			if (err) {
				pr_err("endpoint %u: cannot write its record: %s", r->ep_id,
				       strerror(-err));
				break;
			}
		}
	}
	if (n_moves) {
		dp__verdicts_changed(dp);	/* endpoints judged by other rule sets */
		ct_move(dp, tenant_id, moves, n_moves);
	}
	free(moves);
	free(recs);
	if (err)
		return err;
	/* No endpoint points at them any more: deny first (flows still naming
	 * one are judged again, by nothing), then free. */
	for (id = 1; id < NF_MAX_TENANTS; id++) {
		if (!dp__is_ruleset(dp, id, &owner) || owner != tenant_id || in_sets(sets, n, id))
			continue;
		dp__remove_policy(dp, id);
		dp__tenant_reclaim(dp, id);
	}
	return 0;
}

/*
 * SPEC §11: the tracked flows with a peer whose identity changed (a pod
 * relabelled, added or gone) are judged again on their next packet: their
 * epoch becomes one their slot is past, as after a swap. The tables that
 * judge them are keyed by identity and need no recompile when no identity
 * came or went; the ipcache, already changed, gives the new one.
 */
struct rejudge {
	struct nf_dp *dp;
	const struct nf_cidr *addrs;
	size_t n;
};

static int rejudge_batch(void *keys, void *vals, __u32 count, void *ctx)
{
	const struct rejudge *rj = ctx;
	struct nf_ct_key *k = keys;
	struct nf_ct_val *v = vals;
	__u32 i;
	size_t j;

	for (i = 0; i < count; i++) {
		uint32_t slot = NF_POLICY_ID(v[i].tenant_id, v[i].policy_id);

		for (j = 0; j < rj->n; j++)
			if (!memcmp(k[i].raddr, rj->addrs[j].addr, 16))
				break;
		if (j == rj->n || slot >= NF_MAX_TENANTS)
			continue;
		v[i].epoch = rj->dp->tenants[slot].epoch - 1;
		v[i].gen = 0;	/* judged again: not by its stamp */
		bpf_map_update_elem(rj->dp->maps.fd[NF_MAP_CT], &k[i], &v[i], BPF_EXIST);
	}
	return 0;
}

void dp__ct_rejudge_peers(struct nf_dp *dp, const struct nf_cidr *addrs, size_t n)
{
	struct rejudge rj = { .dp = dp, .addrs = addrs, .n = n };

	if (!n)
		return;
	dp__young_flush(dp);
	dp_map_scan(dp->maps.fd[NF_MAP_CT], sizeof(struct nf_ct_key), sizeof(struct nf_ct_val),
		    rejudge_batch, &rj);
	dp__verdicts_changed(dp);	/* after the last write of nf_ct: see nf_ct_val.gen */
}
