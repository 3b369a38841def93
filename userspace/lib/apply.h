/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * apply/delete: the desired-state store (/run/netfence/objects) and the
 * compile + atomic install of every tenant a change touches.
 */
#ifndef NETFENCE_APPLY_H
#define NETFENCE_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nf_apply_result {
	size_t n_policies;		/* NetworkPolicies in the input */
	size_t n_tenant_objs;		/* Tenant objects in the input */
	size_t n_tenants_changed;	/* tenants recompiled and swapped */
};

/*
 * Load + validate every path; on any problem print each line to stderr and
 * return -EINVAL with nothing changed. Otherwise take the node lock, store the
 * objects (prune: the input becomes the whole desired state), recompile every
 * tenant whose objects changed and install each atomically. Runtime failures
 * (-errno) leave every tenant not yet swapped on its old policy.
 * Counts the result in /run/netfence/applies (see apply__counts).
 */
int apply__paths(char *const *paths, size_t n_paths, bool prune, struct nf_apply_result *res);

/* Remove one policy (policy != NULL) or all of a tenant's objects. -ENOENT if none. */
int apply__delete(const char *tenant, const char *policy);

struct nf_docset;
/* The tenant's stored objects (empty docset when none). */
int apply__stored_policies(const char *tenant, struct nf_docset **out);

/* Applies so far on this node: ok and error (netfence_policy_applies_total). */
int apply__counts(uint64_t *ok, uint64_t *err);

#endif
