/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Label identities (SPEC §11): every distinct (tenant, label set, named
 * ports) that Pod documents carry is an identity, NF_IDENT(tenant id,
 * index). The table is kept in NF_STORE_IDENTITIES, with the Namespace
 * labels of every tenant and how many pods carry each, so that a compile
 * sees every identity and namespace without reading every Pod document
 * (the format: identities.c). Before datapath 5 it was JSON, without
 * counts, at NF_STORE_IDENTITIES_V1: read when the text file is absent.
 *
 * A pod with neither labels nor named ports is its tenant's index 0 (the
 * tenant id itself). Indexes are kept while their label set has a pod; a
 * freed index is not given out again in the same change, so tables
 * compiled while it named another label set are recompiled first.
 */
#ifndef NETFENCE_IDENTITIES_H
#define NETFENCE_IDENTITIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compile.h"
#include "policy.h"

#define NF_STORE_IDENTITIES	NF_RUN_DIR "/identities"
#define NF_STORE_IDENTITIES_V1	NF_RUN_DIR "/identities.json"

struct nf_ident_entry {
	uint32_t idx;			/* >= 1 */
	struct nf_labels labels;	/* owned */
	struct nf_named_port *ports;	/* owned, sorted */
	size_t n_ports;
	char *key;			/* canonical labels + ports */
	uint32_t n_pods;		/* Pod documents carrying it; 0: not counted
					 * (a table written before counts were) */
};

struct nf_ident_tenant {
	char *name;
	bool has_ns;			/* a Namespace document gave its labels */
	struct nf_labels ns;		/* owned */
	struct nf_ident_entry *ids;
	size_t n_ids;
};

struct nf_ident_table {
	struct nf_ident_tenant *t;	/* sorted by name */
	size_t n;
	bool dirty;			/* differs from the file */
};

/* Load the file (absent: empty). 0 or -errno. */
int idtab__load(struct nf_ident_table *tb);
/* Write it whole (store__write) if dirty. */
int idtab__save(struct nf_ident_table *tb);
/* The same at another path (tests). */
int idtab__load_file(struct nf_ident_table *tb, const char *path);
int idtab__save_file(struct nf_ident_table *tb, const char *path);
void idtab__free(struct nf_ident_table *tb);

/* NULL when the tenant has no entry. */
const struct nf_ident_tenant *idtab__find(const struct nf_ident_table *tb, const char *tenant);

/*
 * Make tenant's identities those of `pods` (its desired Pod documents):
 * label sets still in use keep their index. 1 if any identity came or went,
 * 0 if not, -errno.
 */
int idtab__sync_pods(struct nf_ident_table *tb, const char *tenant,
		     struct nf_pod_obj *const *pods, size_t n_pods);
/*
 * The Pod documents `from` of tenant (as stored) become `to` (the same pods'
 * desired documents, and new pods), the tenant's other pods unchanged: the
 * pod counts follow, a label set that gets its first pod gets an index, one
 * that loses its last is dropped. Costs what the changed pods cost, not the
 * tenant's. Changes nothing and returns -EAGAIN when the counts can't say
 * (not counted, or a stored pod's identity is missing): then
 * idtab__sync_pods with every pod. 1 if an identity came or went, 0 if not.
 */
int idtab__move_pods(struct nf_ident_table *tb, const char *tenant,
		     struct nf_pod_obj *const *from, size_t n_from,
		     struct nf_pod_obj *const *to, size_t n_to);
/* Namespace labels of tenant (NULL: no Namespace document). 1 if changed. */
int idtab__set_ns(struct nf_ident_table *tb, const char *tenant, const struct nf_labels *ns);

/* The index of a pod's identity (0: no labels and no named ports, or unknown). */
uint32_t idtab__index(const struct nf_ident_table *tb, const struct nf_pod_obj *pod);

/* The named ports of identity (tenant, idx); NULL/0 when none. */
const struct nf_ident_entry *idtab__entry(const struct nf_ident_table *tb, const char *tenant,
					  uint32_t idx);

/* Drop a tenant (reclaimed). */
void idtab__forget(struct nf_ident_table *tb, const char *tenant);

#endif /* NETFENCE_IDENTITIES_H */
