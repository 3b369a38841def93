/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * apply/delete: the desired-state store (/run/netfence/objects) and the
 * compile + atomic install of every tenant a change touches.
 */
#ifndef NETFENCE_APPLY_H
#define NETFENCE_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include "store.h"
#include <stdint.h>

struct nf_apply_result {
	size_t n_policies;		/* NetworkPolicies in the input */
	size_t n_tenant_objs;		/* Tenant objects in the input */
	size_t n_tenants_changed;	/* tenants recompiled and swapped */
	size_t n_cluster;		/* cluster policies in the input (SPEC §13) */
	size_t n_nodes;			/* Node documents in the input */
	size_t n_pods;			/* Pod documents in the input (SPEC §11) */
	bool pods_only;			/* only the changed pods' stored documents read */
};

/*
 * Load + validate every path; on any problem print each line to stderr and
 * return -EINVAL with nothing changed. Otherwise take the node lock, store the
 * objects (prune: the input becomes the whole desired state), recompile every
 * tenant whose objects changed and install each atomically. All or nothing:
 * on a runtime failure (-errno) every tenant is back on its old policy, and
 * after a kill -9 the next command finishes the change (see recover()).
 * Counts the result in /run/netfence/applies (see apply__counts).
 */
int apply__paths(char *const *paths, size_t n_paths, bool prune, struct nf_apply_result *res);

/* Remove one policy (policy != NULL) or all of a tenant's objects. -ENOENT if none. */
int apply__delete(const char *tenant, const char *policy);
/* Remove a cluster-scoped object (kind NF_STORE_CNP .. NF_STORE_NODE): every
 * tenant is recompiled without it. -ENOENT if there is none. */
int apply__delete_cluster(enum nf_store_kind kind, const char *name);

struct nf_dp;
/*
 * The id of `tenant`, which is about to get an endpoint (attach, CNI ADD);
 * node lock held. Selector names do not allocate ids, so a tenant may have
 * none yet while other tenants' policies name it (compiled to "no
 * addresses"): when it gets its id here, every stored tenant whose policies
 * name it is recompiled and installed (each atomically) before this returns,
 * so the endpoint's addresses meet rules that know the id.
 * 0 and *id; -EUSERS: no free id (at most NF_MAX_TENANTS - 1 tenants);
 * -ENOSPC: a recompiled policy does not fit the maps; other -errno. Errors
 * are logged; nothing changed unless a recompiled tenant was installed.
 */
int apply__tenant_id(struct nf_dp *dp, const char *tenant, uint32_t *id);

struct nf_cidr;
/*
 * SPEC §11, §12: what an interface endpoint about to be attached to `tenant`
 * (which has its id) is judged by. Its Pod document is found by `pod`
 * (K8S_POD_NAME, attach --pod) or, without one, by its addresses. *ident:
 * the identity its addresses carry (NF_IDENT: its pod's label set, else the
 * tenant's id); *policy_id: the slot of the rules that select it on
 * `network` (0: the tenant's own). A rule set no endpoint needed before is
 * compiled and installed here, atomically, before this returns. Node lock
 * held. 0 or -errno (logged).
 */
int apply__endpoint_context(struct nf_dp *dp, const char *tenant, const char *network,
			    const char *pod, const struct nf_cidr *addrs, size_t n_addrs,
			    uint32_t *policy_id, uint32_t *ident);

/* check: the slot of the rules of (network, pod) as installed (0: the
 * tenant's own); -ENOENT when that rule set is not installed. */
int apply__context_slot(struct nf_dp *dp, const char *tenant, const char *network,
			const char *pod, uint32_t *slot, bool *multi);

/*
 * Finish a change that a killed command left (its journal, endpoint
 * changes in progress: dp__reconcile) if no command
 * holds the node lock; for read-only commands (status, check), so that the
 * store they read is what the kernel enforces. 0 or -errno (logged).
 */
int apply__settle(void);

/*
 * SPEC §10.2: reclaim (dp__tenant_reclaim) every tenant that has no stored
 * objects, no endpoint, and that no stored selector names. Only the tenants
 * marked in reclaim/ (store__reclaim_mark: something that kept them went)
 * are looked at, every tenant the first time. Node lock held; called after
 * every apply and delete and after detaching endpoints. Returns how many
 * were reclaimed.
 */
int apply__reclaim(struct nf_dp *dp);

/* Applies so far on this node: ok and error (netfence_policy_applies_total). */
int apply__counts(uint64_t *ok, uint64_t *err);

#endif
