// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The ipcache (address -> identity) and its epoch, which tells the
 * datapath's peer cache that an entry changed. The node's own addresses are
 * kept in it by hostaddr.c.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <bpf/bpf.h>

#include "dp_internal.h"
#include "log.h"

/* Add 1 to an nf_config counter, skipping 0 when it wraps. */
static void counter_bump(__u32 *v)
{
	if (!++*v)
		*v = 1;
}

/* policy_gen, and the ipcache epoch too when ipc: one write of nf_config. */
static void config_bump(struct nf_dp *dp, bool ipc)
{
	struct nf_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->maps.fd[NF_MAP_CONFIG], &zero, &cfg))
		return;
	if (ipc)
		counter_bump(&cfg.ipc_epoch);
	counter_bump(&cfg.policy_gen);
	bpf_map_update_elem(dp->maps.fd[NF_MAP_CONFIG], &zero, &cfg, BPF_ANY);
}

/* An ipcache change moves the peer cache's epoch and, as every change of a
 * verdict, policy_gen. */
static void bump_ipc_epoch(struct nf_dp *dp)
{
	config_bump(dp, true);
}

/*
 * After anything that can change a verdict (struct nf_config.policy_gen):
 * tracked flows may no longer pass on their entry's stamp alone, and the
 * verdict cache's entries no longer count. Called after the change's last
 * map write, before the command returns; never leaves 0.
 */
void dp__verdicts_changed(struct nf_dp *dp)
{
	config_bump(dp, false);
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

/*
 * A Pod document's address (SPEC §11; a /128, flags 0). An endpoint's own
 * entry (flags = its ep_id) and the node's are left alone: an endpoint of
 * this node carries its pod's identity itself (dp__endpoint_set_ident).
 * 1 if the entry changed, 0 if not, -errno.
 */
int dp__ipcache_pod_set(struct nf_dp *dp, const uint8_t addr[16], uint32_t ident)
{
	struct nf_lpm_addr_key k = { .prefixlen = 128 };
	struct nf_ipcache_val v, nv = { .id = ident };

	memcpy(k.addr, addr, 16);
	if (!bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v) &&
	    (v.flags || v.id == NF_ID_HOST || v.id == ident))
		return 0;
	if (bpf_map_update_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &nv, BPF_ANY))
		return -errno;
	return 1;
}

/* Remove a Pod document's address entry of tenant id tid. 1 if removed. */
int dp__ipcache_pod_del(struct nf_dp *dp, const uint8_t addr[16], uint32_t tid)
{
	struct nf_lpm_addr_key k = { .prefixlen = 128 };
	struct nf_ipcache_val v;

	memcpy(k.addr, addr, 16);
	if (bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v) || v.flags ||
	    v.id == NF_ID_HOST || NF_IDENT_TENANT(v.id) != tid)
		return 0;
	return !bpf_map_delete_elem(dp->maps.fd[NF_MAP_IPCACHE], &k);
}

/* Whether addr's /128 entry is a Pod document's of tenant tid (not an
 * endpoint's, nor the node's). */
bool dp__ipcache_pod_held(struct nf_dp *dp, const uint8_t addr[16], uint32_t tid)
{
	struct nf_lpm_addr_key k = { .prefixlen = 128 };
	struct nf_ipcache_val v;

	memcpy(k.addr, addr, 16);
	return !bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v) && !v.flags &&
	       v.id != NF_ID_HOST && NF_IDENT_TENANT(v.id) == tid;
}

/* The identity of tenant tid at addr (its /128 entry: a Pod document's, or
 * an endpoint's that carries its pod's), or 0. */
uint32_t dp__ipcache_pod_ident(struct nf_dp *dp, const uint8_t addr[16], uint32_t tid)
{
	struct nf_lpm_addr_key k = { .prefixlen = 128 };
	struct nf_ipcache_val v;

	memcpy(k.addr, addr, 16);
	if (bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v) ||
	    v.id == NF_ID_HOST || NF_IDENT_TENANT(v.id) != tid)
		return 0;
	return v.id;
}
