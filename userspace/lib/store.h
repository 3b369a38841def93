/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The state store: /run/netfence, what the kernel cannot hold. Its layout,
 * one place:
 *
 *   lock                                 node lock (datapath.h)
 *   objects/<tenant>/<kind>-<name>.json  the desired state (apply.c); kind is
 *                                        "networkpolicy", "tenant",
 *                                        "multinetworkpolicy", "pod" or
 *                                        "namespace"
 *   objects/.cluster/<kind>-<name>.json  cluster-scoped objects (SPEC §13): kind is
 *                                        "clusternetworkpolicy",
 *                                        "adminnetworkpolicy",
 *                                        "baselineadminnetworkpolicy" or "node"
 *   objects/.journal                     a change in progress (apply.c, SPEC §10.3)
 *   refs/<name>/<tenant>                 selector index (apply.c)
 *   refs/.pending-<name>, refs/.complete
 *   tenants/<id>.trie, <id>.ports        key records of installed policy (datapath)
 *   endpoints/<ep_id>.json               endpoint records (datapath)
 *   endpoints/.index/                    their index by interface and cgroup,
 *                                        so attach reads one record
 *                                        (dp/endpoints.c)
 *   reclaim/<tenant>                     what kept <tenant> (an object, a
 *                                        selector naming it, an endpoint) went:
 *                                        apply__reclaim looks at it
 *   reclaim/.complete                    every tenant was looked at once
 *   recompile                            the datapath was replaced (upgrade):
 *                                        every tenant's policy is compiled
 *                                        again from objects/ (apply.c)
 *   pending/<ep_id>                      an endpoint change in progress:
 *                                        "attach" or "detach" (datapath)
 *   cni/<network>/<cid>@<ifname>         which network added an endpoint (cni_conf.h)
 *   applies                              apply counters
 *   host_addrs                           node addresses in the ipcache (hostaddr.c)
 *
 * Tenant names are DNS-1123 labels and never start with '.': names that do
 * are the store's own (the journal, markers) and are never listed as tenants.
 *
 * Every file is written whole by store__write: a reader, or the next command
 * after a crash, sees the old content or the new, never a part.
 */
#ifndef NETFENCE_STORE_H
#define NETFENCE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <netfence/abi.h>

#define NF_RUN_DIR		"/run/netfence"
#define NF_STORE_OBJECTS	NF_RUN_DIR "/objects"
#define NF_STORE_JOURNAL	NF_STORE_OBJECTS "/.journal"
#define NF_STORE_REFS		NF_RUN_DIR "/refs"
#define NF_STORE_REFS_COMPLETE	NF_STORE_REFS "/.complete"
#define NF_STORE_KEY_RECORDS	NF_RUN_DIR "/tenants"
#define NF_STORE_ENDPOINTS	NF_RUN_DIR "/endpoints"
#define NF_STORE_PENDING	NF_RUN_DIR "/pending"
#define NF_STORE_RECLAIM	NF_RUN_DIR "/reclaim"
#define NF_STORE_RECOMPILE	NF_RUN_DIR "/recompile"
#define NF_STORE_RECLAIM_COMPLETE NF_STORE_RECLAIM "/.complete"
#define NF_STORE_CNI		NF_RUN_DIR "/cni"
#define NF_STORE_APPLIES	NF_RUN_DIR "/applies"
#define NF_STORE_HOST_ADDRS	NF_RUN_DIR "/host_addrs"

/*
 * Write path atomically and durably: its directories are created, the data
 * goes to path.tmp, is fsync'd and renamed over path, and the directory is
 * fsync'd. 0 or -errno; on error path is unchanged and path.tmp removed.
 */
int store__write(const char *path, const void *data, size_t len);
/* The same for two pieces written one after the other (a buffer and a suffix). */
int store__write2(const char *path, const void *a, size_t len_a, const void *b, size_t len_b);
/*
 * A growing text (a NUL after it); oom set, and nothing more added, when
 * realloc failed. It may start with p malloc'd to cap bytes (a size known
 * ahead: no copies while it grows).
 */
struct store_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* Append n bytes; false (b->oom) when there was no room for them. */
bool store__buf_add(struct store_buf *b, const void *data, size_t n);
void store__buf_puts(struct store_buf *b, const char *s);
/*
 * s (UTF-8) as a JSON string literal, quotes included: what json_dumps
 * writes for json_string(s), without jansson's character-at-a-time dump (a
 * document's text embedded in another: the apply journal).
 */
void store__buf_json_string(struct store_buf *b, const char *s);
/* A JSON document, compact, written as store__write does; takes o over (NULL: -ENOMEM). */
int store__write_json(const char *path, json_t *o);
/* mkdir -p; 0 if it exists. */
int store__mkdirs(const char *dir);
/* An empty marker file (its directories created); 0 if it exists. */
int store__touch(const char *path);
/* Remove the file, then each parent directory it leaves empty, up to but
 * not including `top` (a prefix of path). */
void store__remove(const char *path, const char *top);

/* reclaim/<tenant>: something that kept the tenant went (SPEC §10.2). Marked
 * before it goes, so a kill in between leaves the mark. */
void store__reclaim_mark(const char *tenant);

/* ---- objects ---- */
enum nf_store_kind {
	NF_STORE_POLICY,	/* NetworkPolicy */
	NF_STORE_TENANT,	/* Tenant */
	NF_STORE_MNP,		/* MultiNetworkPolicy */
	NF_STORE_POD,		/* Pod (SPEC §11) */
	NF_STORE_NAMESPACE,	/* Namespace: objects/<name>/namespace-<name>.json */
	/* cluster-scoped (SPEC §13): objects/.cluster/<kind>-<name>.json */
	NF_STORE_CNP,		/* ClusterNetworkPolicy */
	NF_STORE_ANP,		/* AdminNetworkPolicy */
	NF_STORE_BANP,		/* BaselineAdminNetworkPolicy */
	NF_STORE_NODE,		/* Node */
};

/* The store's "tenant" of cluster-scoped objects (not a tenant name: it starts with '.'). */
#define NF_STORE_CLUSTER	".cluster"

/* "NetworkPolicy", "Tenant", "MultiNetworkPolicy": the kind as documents and `status` name it. */
const char *store__kind_name(enum nf_store_kind kind);
/* objects/<tenant>/<kind>-<name>.json; -ENAMETOOLONG. */
int store__object_path(char *buf, size_t len, const char *tenant, enum nf_store_kind kind,
		       const char *name);
/* objects/<tenant>: the directory of one tenant's objects. */
int store__tenant_dir(char *buf, size_t len, const char *tenant);

struct nf_store_obj {
	char tenant[NF_TENANT_NAME_LEN];
	enum nf_store_kind kind;
	char name[256];
};

/* The stored objects of `tenant` (NULL: of every tenant), sorted by tenant,
 * kind name and name. *out is malloc'd (NULL when none). */
int store__list(const char *tenant, struct nf_store_obj **out, size_t *n);
/* The tenants that have a directory of objects, unsorted; free with store__free_names. */
int store__list_tenants(char ***out, size_t *n);
void store__free_names(char **names, size_t n);

/* ---- the selector index (apply.c explains it) ---- */
/* refs/<name>/<tenant>, or refs/<name> when tenant is NULL. */
int store__ref_path(char *buf, size_t len, const char *name, const char *tenant);
/* refs/.pending-<name> */
int store__pending_path(char *buf, size_t len, const char *name);

#endif /* NETFENCE_STORE_H */
