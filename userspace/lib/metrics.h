/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One collector for `serve` (/metrics), `stats` and `status`: read the drop
 * counters (per-CPU values summed), tenants, endpoint counts, conntrack and map
 * usage from the datapath's maps into a struct nf_metrics, and render it in
 * the Prometheus text format (SPEC §7).
 *
 * Collection only needs map fds (struct nf_maps, fds < 0 are skipped), so the
 * collector can be tested on maps a test created itself, and the renderer on
 * a hand-filled struct.
 */
#ifndef NETFENCE_METRICS_H
#define NETFENCE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netfence/abi.h>
#include "datapath.h"

/* Label of tenant id 0 and of stats of tenant ids that no longer exist. */
#define NF_METRICS_UNKNOWN_TENANT "unknown"
#define NF_METRICS_MAX_MAPS	  16

struct nf_tenant_metrics {
	uint32_t id; /* 0: unknown (tenant id 0, or no nf_tenants entry) */
	char name[NF_TENANT_NAME_LEN];
	bool has_info; /* present in nf_tenants: info is valid */
	struct nf_tenant_info info;
	uint32_t n_endpoints; /* interface + cgroup endpoints */
	uint32_t n_identities; /* label identities of its pods (SPEC §11) */
	struct nf_usage usage; /* its entries in nf_ct and nf_frags (its shares) */
	/*
	 * nf_stats, summed over CPUs (and, for id 0, over vanished tenant ids).
	 * reason NF_REASON_ALLOWED_FLOW counts new flows allowed; seen[] says the
	 * key exists in the map (only those are rendered as drop samples).
	 */
	struct nf_counter cnt[NF_DIR_MAX][NF_REASON_MAX][NF_HOOK_MAX];
	bool seen[NF_DIR_MAX][NF_REASON_MAX][NF_HOOK_MAX];
};

struct nf_map_usage {
	char name[16]; /* metric label: "ct", "ports", ... */
	uint32_t entries;
	uint32_t capacity; /* max_entries */
};

struct nf_metrics {
	bool loaded; /* kernel data present (collect ran) */
	struct nf_tenant_metrics *tenants; /* sorted by name after collect/sort */
	size_t n_tenants;
	size_t cap_tenants; /* allocated */
	uint32_t *by_id; /* by_id[id]: 1 + index in tenants, 0 none (ids < NF_MAX_TENANTS) */
	uint64_t ct_entries;
	struct nf_map_usage maps[NF_METRICS_MAX_MAPS];
	size_t n_maps;
	bool have_applies; /* applies_* valid */
	uint64_t applies_ok, applies_err;
	bool have_unfenced; /* serve: unfenced_ifaces valid */
	uint64_t unfenced_ifaces; /* netfence_unfenced_interfaces_total */
	char version[64]; /* netfence_build_info{version} */
	char datapath[16]; /* netfence_build_info{datapath}: the loaded version, "" = none */
};

void metrics__init(struct nf_metrics *m);
void metrics__free(struct nf_metrics *m);

/*
 * Read everything from the maps into m (m must be metrics__init()ed; sets
 * loaded). Tenants: every nf_tenants entry, plus "unknown" when it has
 * counters or endpoints. Map usage: the maps of NF_MAPS (datapath.h) with a
 * usage label, in its order (entries by iteration, capacity from
 * max_entries). Returns 0 or -errno.
 */
int metrics__collect(struct nf_metrics *m, const struct nf_maps *maps);

/* Find the tenant entry for id, or add it (name NULL: "unknown"). NULL on ENOMEM. */
struct nf_tenant_metrics *metrics__tenant(struct nf_metrics *m, uint32_t id, const char *name);
/* Sort tenants by name (collect does it; for hand-filled collections). */
void metrics__sort(struct nf_metrics *m);

/*
 * Prometheus text exposition format 0.0.4: HELP and TYPE for every family
 * (also when it has no sample), label values escaped. *buf is malloc()ed and
 * NUL-terminated. Returns 0 or -ENOMEM.
 */
int metrics__render(const struct nf_metrics *m, char **buf, size_t *len);

/* Label names of the enums; NULL when out of range. */
const char *metrics__dir_name(unsigned int dir);
const char *metrics__reason_name(unsigned int reason); /* drop reasons; 0 -> "allowed" */
const char *metrics__hook_name(unsigned int hook);
/* "tcp", "udp", "sctp", "icmp", "icmpv6", or NULL. */
const char *metrics__proto_name(unsigned int proto);

/* Entries of any map, by batch lookup (iteration when unsupported). */
int metrics__map_count(int fd, uint32_t *entries);
/* Sum of the per-CPU __u64 values at key 0 of a PERCPU_ARRAY (nf_events_lost). */
int metrics__percpu_u64_sum(int fd, uint64_t *sum);

#endif /* NETFENCE_METRICS_H */
