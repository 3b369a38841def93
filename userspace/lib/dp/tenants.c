// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tenants: ids by name (slots of the mmapped nf_tenants array), names,
 * info, and the accounting of each tenant's share of the tracking maps
 * (nf_usage).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

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
