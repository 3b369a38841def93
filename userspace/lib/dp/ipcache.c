// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The ipcache (address -> identity) and its epoch, which tells the
 * datapath's peer cache that an entry changed. The node's own addresses are
 * kept in it by hostaddr.c.
 */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>

#include "dp_internal.h"
#include "log.h"

static void bump_ipc_epoch(struct nf_dp *dp)
{
	struct nf_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->maps.fd[NF_MAP_CONFIG], &zero, &cfg))
		return;
	cfg.ipc_epoch++;
	bpf_map_update_elem(dp->maps.fd[NF_MAP_CONFIG], &zero, &cfg, BPF_ANY);
}

int dp__ipcache_set(struct nf_dp *dp, const struct nf_cidr *c, uint32_t id)
{
	struct nf_lpm_addr_key k = { .prefixlen = c->plen };
	struct nf_ipcache_val v = { .id = id };

	memcpy(k.addr, c->addr, 16);
	if (bpf_map_update_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v, BPF_ANY))
		return -errno;
	bump_ipc_epoch(dp);
	return 0;
}

int dp__ipcache_del(struct nf_dp *dp, const struct nf_cidr *c)
{
	struct nf_lpm_addr_key k = { .prefixlen = c->plen };

	memcpy(k.addr, c->addr, 16);
	if (bpf_map_delete_elem(dp->maps.fd[NF_MAP_IPCACHE], &k) && errno != ENOENT)
		return -errno;
	bump_ipc_epoch(dp);
	return 0;
}

void dp__ipcache_changed(struct nf_dp *dp)
{
	bump_ipc_epoch(dp);
}
