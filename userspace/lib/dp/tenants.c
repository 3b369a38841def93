// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tenants: ids by name (slots of the mmapped nf_tenants array), names,
 * info, and the accounting of each tenant's share of the tracking maps
 * (nf_usage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_internal.h"
#include "log.h"

uint32_t dp__tenant_id(struct nf_dp *dp, const char *name, bool create)
{
	uint32_t id, free_id = 0;

	if (!name || !*name || strlen(name) >= NF_TENANT_NAME_LEN)
		return 0;
	for (id = 1; id < NF_MAX_TENANTS; id++) {
		const char *n = dp->tenants[id].name;

		if (!n[0]) {
			if (!free_id)
				free_id = id;
			continue;
		}
		if (!strncmp(n, name, NF_TENANT_NAME_LEN))
			return id;
	}
	if (!create || !free_id)
		return 0;
	/* epoch continues from whatever the slot had: class ids of a previous
	 * owner of this id can never collide with ours (they were deleted). */
	memset(dp->tenants[free_id].n_rules, 0, sizeof(dp->tenants[free_id].n_rules));
	dp->tenants[free_id].flags = 0;
	snprintf(dp->tenants[free_id].name, NF_TENANT_NAME_LEN, "%s", name);
	return free_id;
}

void dp__tenant_forget(struct nf_dp *dp, uint32_t id)
{
	if (!id || id >= NF_MAX_TENANTS)
		return;
	/* the epoch stays, as for any free slot (see dp__tenant_id) */
	memset(dp->tenants[id].n_rules, 0, sizeof(dp->tenants[id].n_rules));
	memset(dp->tenants[id].name, 0, sizeof(dp->tenants[id].name));
}

int dp__tenant_name(struct nf_dp *dp, uint32_t id, char *buf, size_t len)
{
	if (!id || id >= NF_MAX_TENANTS || !dp->tenants[id].name[0])
		return -ENOENT;
	snprintf(buf, len, "%.*s", NF_TENANT_NAME_LEN - 1, dp->tenants[id].name);
	return 0;
}

int dp__tenant_info(struct nf_dp *dp, uint32_t id, struct nf_tenant_info *out)
{
	if (!id || id >= NF_MAX_TENANTS || !dp->tenants[id].name[0])
		return -ENOENT;
	*out = dp->tenants[id];
	return 0;
}

/* Release n entries of a tenant's share of nf_ct (frag false) or nf_frags,
 * for entries this process deleted (struct nf_usage). */
void dp_usage_put(struct nf_dp *dp, uint32_t tenant_id, bool frag, uint32_t n)
{
	if (!dp->usage || !n || !tenant_id || tenant_id >= NF_MAX_TENANTS)
		return;
	if (frag)
		__atomic_fetch_sub(&dp->usage[tenant_id].frags, n, __ATOMIC_RELAXED);
	else
		__atomic_fetch_sub(&dp->usage[tenant_id].ct, n, __ATOMIC_RELAXED);
}

void dp_tally_put(struct nf_dp *dp, const struct nf_ct_key *k)
{
	if (dp->tally)
		__atomic_fetch_sub(&dp->tally[nf_young_index(k)], 1, __ATOMIC_RELAXED);
}

struct tally_scan {
	__s32 *count;
};

static int tally_batch(void *keys, void *vals, __u32 n, void *ctx)
{
	const struct nf_ct_key *k = keys;
	struct tally_scan *t = ctx;
	__u32 i;

	(void)vals;
	for (i = 0; i < n; i++)
		t->count[nf_young_index(&k[i])]++;
	return 0;
}

void dp_tally_recount(struct nf_dp *dp)
{
	struct tally_scan t = { .count = calloc(NF_YOUNG_SLOTS, sizeof(__s32)) };
	__s32 cur;
	__u32 i;

	if (!t.count || !dp->tally) {
		free(t.count);
		return;
	}
	if (!dp_map_scan(dp->maps.fd[NF_MAP_CT], sizeof(struct nf_ct_key),
			 sizeof(struct nf_ct_val), tally_batch, &t)) {
		/* raised, never lowered: the datapath moves it meanwhile, and a
		 * count too high only costs lookups */
		for (i = 0; i < NF_YOUNG_SLOTS; i++) {
			cur = __atomic_load_n(&dp->tally[i], __ATOMIC_RELAXED);
			while (cur < t.count[i] &&
			       !__atomic_compare_exchange_n(&dp->tally[i], &cur, t.count[i], false,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				;
		}
	}
	free(t.count);
}

struct owned_scan {
	size_t key_size, val_size;
	uint32_t id;
	bool (*owned)(const void *key, const void *value, uint32_t id);
	unsigned char *keys;	/* the owned ones, deleted after the scan */
	size_t n, cap;
};

static int owned_batch(void *keys, void *vals, __u32 n, void *ctx)
{
	struct owned_scan *o = ctx;
	__u32 i;

	for (i = 0; i < n; i++) {
		void *k = (char *)keys + i * o->key_size;

		if (!o->owned(k, (char *)vals + i * o->val_size, o->id))
			continue;
		if (o->n == o->cap) {
			size_t cap = o->cap ? o->cap * 2 : 64;
			void *p = realloc(o->keys, cap * o->key_size);

			if (!p)
				return -ENOMEM;
			o->keys = p;
			o->cap = cap;
		}
		memcpy(o->keys + o->n++ * o->key_size, k, o->key_size);
	}
	return 0;
}

/* The size of one value as a batch lookup returns it (all CPUs' for a
 * per-CPU map); 0 if unknown. */
static size_t batch_value_size(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int ncpus;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	if (info.type != BPF_MAP_TYPE_PERCPU_HASH && info.type != BPF_MAP_TYPE_LRU_PERCPU_HASH)
		return info.value_size;
	ncpus = libbpf_num_possible_cpus();
	return ncpus > 0 ? (size_t)ncpus * ((info.value_size + 7) & ~7u) : 0;
}

/*
 * Delete every entry of map fd (key_size, value_size) that owned() says is
 * id's; value_size 0: owned() decides by the key alone (per-CPU values).
 * tally: nf_ct's datapath, whose nf_ct_tally each delete takes one from.
 * Read in batches where the kernel has them (the tracked flows may be
 * 262,144 entries, and this runs under the node lock, e.g. in the CNI DEL
 * of a namespace's last pod), else one key at a time.
 */
static size_t delete_owned(int fd, size_t key_size, size_t value_size, uint32_t id,
			   bool (*owned)(const void *key, const void *value, uint32_t id),
			   struct nf_dp *tally)
{
	struct owned_scan o = { .key_size = key_size, .id = id, .owned = owned };
	unsigned char key[64], next[64], value[256];
	size_t n = 0, guard = 0, i;
	bool first = true;

	if (key_size > sizeof(key) || value_size > sizeof(value))
		return 0;
	/* Deleted after the scan, not during it: a batch's cursor may be its
	 * last key (the LPM trie's), which a delete would send back to the start. */
	o.val_size = batch_value_size(fd);
	if (o.val_size && (!value_size || o.val_size == value_size) &&
	    !dp_map_scan(fd, key_size, o.val_size, owned_batch, &o)) {
		for (i = 0; i < o.n; i++)
			if (!bpf_map_delete_elem(fd, o.keys + i * key_size)) {
				if (tally)
					dp_tally_put(tally, (const void *)(o.keys + i * key_size));
				n++;
			}
		free(o.keys);
		return n;
	}
	free(o.keys);	/* no batches here (or a failed one): key by key */
	while (guard++ < (1u << 22) && !bpf_map_get_next_key(fd, first ? NULL : key, next)) {
		memcpy(key, next, key_size);
		first = false;
		if ((value_size && bpf_map_lookup_elem(fd, key, value)) || !owned(key, value, id))
			continue;
		if (!bpf_map_delete_elem(fd, key)) {
			if (tally)
				dp_tally_put(tally, (const void *)key);
			n++;
		}
	}
	return n;
}

static bool stats_owned(const void *k, const void *v, uint32_t id)
{
	return ((const struct nf_stats_key *)k)->tenant_id == id;
}

/* Zero id's new-flow counters (struct nf_flows), for the next owner of the id. */
static void flows_zero(struct nf_dp *dp, uint32_t id)
{
	int ncpus = libbpf_num_possible_cpus(), d, h;
	__u64 *zero;

	if (ncpus <= 0 || !(zero = calloc(ncpus, sizeof(*zero))))
		return;
	for (d = 0; d < NF_DIR_MAX; d++)
		for (h = 0; h < NF_HOOK_MAX; h++) {
			__u32 i = NF_FLOWS_INDEX(id, d, h);

			bpf_map_update_elem(dp->maps.fd[NF_MAP_FLOWS], &i, zero, BPF_ANY);
		}
	free(zero);
}

static bool ct_owned(const void *k, const void *v, uint32_t id)
{
	return ((const struct nf_ct_val *)v)->tenant_id == id;
}

static bool frag_owned(const void *k, const void *v, uint32_t id)
{
	return ((const struct nf_frag_val *)v)->tenant_id == id;
}

static bool ipcache_owned(const void *k, const void *v, uint32_t id)
{
	uint32_t ident = ((const struct nf_ipcache_val *)v)->id;

	return ident != NF_ID_HOST && NF_IDENT_TENANT(ident) == id;
}

/*
 * SPEC §10.2: free a tenant that nothing refers to (no stored object, no
 * endpoint, no selector naming it: the caller's to know). Every entry it
 * owns goes: its policy in both parities with the key records and rule
 * names, its counters, tracked flows and fragments, identities naming it;
 * its shares are zeroed. The slot's epoch stays and goes on rising with the
 * next owner, so nothing keyed by (id, epoch) of the old tenant (peer cache
 * entries, tracked flows' epochs) can ever match the new one.
 */
int dp__tenant_reclaim(struct nf_dp *dp, uint32_t id)
{
	size_t n;

	if (!id || id >= NF_MAX_TENANTS || !dp->tenants[id].name[0])
		return -ENOENT;
	dp_policy_purge(dp, id);
	n = delete_owned(dp->maps.fd[NF_MAP_IPCACHE], sizeof(struct nf_lpm_addr_key),
			 sizeof(struct nf_ipcache_val), id, ipcache_owned, NULL);
	if (n)
		dp__ipcache_changed(dp);
	delete_owned(dp->maps.fd[NF_MAP_STATS], sizeof(struct nf_stats_key), 0, id, stats_owned,
		     NULL);
	flows_zero(dp, id);
	dp__young_flush(dp);
	if (delete_owned(dp->maps.fd[NF_MAP_CT], sizeof(struct nf_ct_key),
			 sizeof(struct nf_ct_val), id, ct_owned, dp))
		dp__verdicts_changed(dp);	/* see nf_ct_val.gen */
	delete_owned(dp->maps.fd[NF_MAP_FRAGS], sizeof(struct nf_frag_key),
		     sizeof(struct nf_frag_val), id, frag_owned, NULL);
	__atomic_store_n(&dp->usage[id].ct, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&dp->usage[id].frags, 0, __ATOMIC_RELAXED);
	dp__tenant_forget(dp, id);
	return 0;
}
