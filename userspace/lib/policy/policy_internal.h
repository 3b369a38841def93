/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy parser's shared helpers (not public: policy.h is the API).
 *
 * userspace/lib/policy/ is one parser per document kind over these helpers:
 *   docset.c        the docset: problem list, object arrays, duplicate reports
 *   errors.c        parse context: JSON path, quoting, problem lines, typed fields
 *   names.c         DNS-1123 names (public nf_is_dns1123_*)
 *   cidr.c          addresses and CIDRs (public nf_parse_*, nf_format_*, nf_cidr_*)
 *   ir.c            freeing and copying the IR (policy__free, policy__dup)
 *   metadata.c      apiVersion, metadata.name/namespace, the stored JSON
 *   selector.c      labels, label selectors, the tenant sets of namespaceSelector
 *   peer.c          peers (podSelector, namespaceSelector, ipBlock)
 *   port.c          ports (protocol, port, endPort)
 *   networkpolicy.c kind NetworkPolicy (and the object parser of its shape)
 *   multinetworkpolicy.c kind MultiNetworkPolicy
 *   tenant.c        kind Tenant
 *   pod.c           kind Pod (labels, addresses, named container ports)
 *   namespace.c     kind Namespace (labels)
 *   clusternetworkpolicy.c kinds ClusterNetworkPolicy (v1alpha2),
 *                   AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1)
 *   node.c          kind Node (labels, addresses)
 *   list.c          kinds List and the typed lists (NetworkPolicyList,
 *                   MultiNetworkPolicyList, PodList, NamespaceList,
 *                   ClusterNetworkPolicyList, AdminNetworkPolicyList,
 *                   BaselineAdminNetworkPolicyList, NodeList)
 *   document.c      the kind table, dispatch by kind, policy__load_json
 *   load.c          paths: files, directories, stdin
 *
 * Adding a kind (e.g. ClusterNetworkPolicy):
 * one file defining a `const struct nf_kind` that parses the object with the
 * helpers below, one line in the kind table (document.c), and its IR plus
 * its docset slot in policy.h / docset.c. The "not supported (expected ...)"
 * messages list the table, so they name the new kind by themselves.
 *
 * Conventions: a parse function is called with the path already pointing at
 * the value it parses. JSON null counts as absent (as in Kubernetes' decoder).
 * Every problem is one line "FILE: PATH: message", reported through
 * nfp_problem(); an object with a problem is not added to the docset.
 */
#ifndef NETFENCE_POLICY_INTERNAL_H
#define NETFENCE_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "policy.h"

#define NS_NAME_LABEL	"kubernetes.io/metadata.name"
#define QUOTE_MAX	200	/* bytes of a user string quoted in a message */
#define QBUF_LEN	(QUOTE_MAX * 6 + 8)

/* ---- docset.c ---- */

/* Grow *arr (of elem-sized entries, capacity *cap) to hold need; 0 or -ENOMEM. */
int nfp_grow(void **arr, size_t *cap, size_t need, size_t elem);
/* qsort comparator for an array of C strings. */
int nfp_cmp_str(const void *a, const void *b);
/* Append a problem line (takes ownership; NULL: out of memory, reported once). */
void nfp_ds_add_problem(struct nf_docset *ds, char *line);
__attribute__((format(printf, 2, 3)))
void nfp_ds_problemf(struct nf_docset *ds, const char *fmt, ...);
int nfp_ds_add_policy(struct nf_docset *ds, struct nf_policy *p);	/* 0 or -ENOMEM */
int nfp_ds_add_tenant(struct nf_docset *ds, struct nf_tenant_obj *t);	/* 0 or -ENOMEM */
int nfp_ds_add_pod(struct nf_docset *ds, struct nf_pod_obj *p);		/* 0 or -ENOMEM */
int nfp_ds_add_namespace(struct nf_docset *ds, struct nf_namespace_obj *n); /* 0 or -ENOMEM */
int nfp_ds_add_cluster(struct nf_docset *ds, struct nf_policy *p);	/* 0 or -ENOMEM */
int nfp_ds_add_node(struct nf_docset *ds, struct nf_node_obj *n);	/* 0 or -ENOMEM */

/* One object's key for the duplicate check. */
struct nfp_dup_key {
	const char *ns;		/* metadata.namespace; NULL for a cluster-scoped kind */
	const char *name;	/* metadata.name */
	const char *file;
	size_t idx;		/* position in the docset: the first one is not reported */
};

/*
 * Report every later object with the same (ns, name) as an earlier one:
 * "FILE: metadata.name: KIND \"NS/NAME\" is defined twice (also in FILE)".
 * Sorts keys.
 */
void nfp_report_duplicates(struct nf_docset *ds, struct nfp_dup_key *keys, size_t n,
			   const char *kind);

/* ---- errors.c: the parse context ---- */

struct pctx {
	struct nf_docset *ds;
	const char *file;
	char *path;		/* JSON path of the value being parsed, "" at the root */
	size_t len, cap;
	bool oom;		/* an allocation failed: the document is not loaded */
};

/* Path steps return the old length, to be given back to nfp_path_pop(). */
void nfp_path_append(struct pctx *c, const char *s);
size_t nfp_path_key(struct pctx *c, const char *key);	/* ".key" */
size_t nfp_path_index(struct pctx *c, size_t i);		/* "[i]" */
void nfp_path_pop(struct pctx *c, size_t old);

/* A user string quoted for a message, in buf (QBUF_LEN bytes): one line, cut at QUOTE_MAX. */
const char *nfp_quote(const char *s, char *buf, size_t len);
/* "FILE: PATH: message" at the current path. */
__attribute__((format(printf, 2, 3)))
void nfp_problem(struct pctx *c, const char *fmt, ...);

const char *nfp_type_name(const json_t *v);	/* "object", "array", "string", ... */
/* true when v has type t; otherwise "must be an object, got string" and false. */
bool nfp_expect_type(struct pctx *c, const json_t *v, json_type t);
/* A field's value, NULL when absent or null. */
json_t *nfp_field(json_t *obj, const char *key);
/* "unknown field \"x\"" for every key of obj not in the NULL-ended known. */
void nfp_check_fields(struct pctx *c, json_t *obj, const char *const *known);
/* A string field: the string, or NULL (reported when of another type, or absent and required). */
const char *nfp_string_field(struct pctx *c, json_t *obj, const char *key, bool required);
/* An optional array field of at most limit (0: any) `what`; NULL when absent or invalid. */
json_t *nfp_array_field(struct pctx *c, json_t *obj, const char *key, size_t limit,
			const char *what);
/* Allocations that set c->oom on failure. */
char *nfp_xstrdup(struct pctx *c, const char *s);
void *nfp_xcalloc(struct pctx *c, size_t n, size_t size);

/* ---- ir.c ---- */

void nfp_rule_clear(struct nf_rule *r);	/* frees what the rule holds, not the rule */

/* ---- metadata.c ---- */

/* apiVersion must be want (reported "... is not supported for kind KIND"). */
void nfp_check_api_version(struct pctx *c, json_t *obj, const char *want, const char *kind,
			   bool required);
/*
 * metadata.name, and for a namespaced kind metadata.namespace (required: it
 * names the tenant). A namespaced kind's name is a DNS-1123 subdomain, a
 * cluster-scoped kind's a DNS-1123 label. Other keys are ignored. *name and
 * *ns point into the JSON, NULL when absent or invalid.
 */
void nfp_parse_metadata(struct pctx *c, json_t *obj, bool namespaced, const char **name,
			const char **ns);
/*
 * metadata.name of a cluster-scoped kind whose name is a DNS-1123 subdomain
 * (ClusterNetworkPolicy & co., Node), unlike Tenant and Namespace, whose
 * name is a tenant (a label). *name: NULL when absent or invalid.
 */
void nfp_parse_cluster_metadata(struct pctx *c, json_t *obj, const char **name);
/* The object as compact JSON, apiVersion and kind filled in (an item of a list has neither). */
char *nfp_dump_object(struct pctx *c, json_t *obj, const char *api, const char *kind);
/* json_loadb, from the arena when policy__json_arena_for enabled it (jarena.c) */
json_t *nfp_json_loadb(const char *text, size_t len, size_t flags, json_error_t *err);

/* ---- selector.c ---- */

#define NFP_LABEL_KEY_MSG "is not a valid label key (an optional DNS-1123 subdomain and '/', " \
	"then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter " \
	"or digit)"
#define NFP_LABEL_VALUE_MSG "is not a valid label value (empty, or at most 63 letters, " \
	"digits, '-', '_' and '.', starting and ending with a letter or digit)"

/* A set of tenants: (negate, sorted unique names); names point into the selector. */
struct tset {
	bool negate;
	const char **names;
	size_t n;
};

enum sel_kind { SEL_POD, SEL_NAMESPACE };

/*
 * A LabelSelector at the current path, validated like
 * metav1validation.ValidateLabelSelector. *out: the selector (requirements
 * sorted by key; n_reqs == 0 selects everything), owned by the caller; NULL
 * only when sel is not an object or memory ran out. SEL_NAMESPACE: when it
 * names only kubernetes.io/metadata.name, *set (if not NULL) gets the
 * tenants it selects (names point into *out; the caller frees set->names);
 * when it names another label, *ns_labels is set and *set is empty (negate
 * false: the compiler resolves the selector against Namespace documents).
 */
void nfp_parse_selector(struct pctx *c, json_t *sel, enum sel_kind kind, struct nf_selector **out,
			struct tset *set, bool *ns_labels);
void nfp_selector_free(struct nf_selector *s);
/* A deep copy; NULL for NULL, or (with *fail set) when memory ran out. */
struct nf_selector *nfp_selector_dup(const struct nf_selector *s, bool *fail);

/*
 * metadata.labels at the current path (an object of label key -> value,
 * each validated); *out sorted by key, only the valid ones.
 */
void nfp_parse_labels(struct pctx *c, json_t *obj, struct nf_labels *out);
/* Add a label whose key is not in l yet, keeping l sorted; 0 or -ENOMEM. */
int nfp_labels_add(struct nf_labels *l, const char *key, const char *value);

/* ---- peer.c, port.c ---- */

#define NFP_PORT_NAME_MSG "is not a valid port name (1 to 15 lowercase letters, digits and " \
	"'-', at least one letter, no '-' at either end or twice in a row)"


/* A NetworkPolicyPeer; tenant: the policy's own (what podSelector {} alone selects). */
void nfp_parse_peer(struct pctx *c, json_t *obj, const char *tenant, struct nf_peer *pe);
/* pe->negate and pe->names (copies) from set; frees set->names. */
void nfp_peer_set_tenants(struct pctx *c, struct nf_peer *pe, struct tset *set);
/*
 * An ipBlock's implicit except: an IPv6 cidr of /95 or shorter that covers
 * the v4-mapped range (::ffff:0.0.0.0/96) must not match IPv4, as in
 * Kubernetes. nfp_cidr_covers_v4() says whether cidr needs it;
 * nfp_add_v4_except() appends it to pe->except (which has room for it).
 */
bool nfp_cidr_covers_v4(const struct nf_cidr *cidr);
void nfp_add_v4_except(struct nf_peer *pe);
/* A NetworkPolicyPort; defaults to TCP, all ports; a string port is a named port. */
void nfp_parse_port(struct pctx *c, json_t *obj, struct nf_port_range *pr);

/* ---- document.c: kinds ---- */

/* Where an object stands: the top of a document, or an item of a list kind. */
enum nf_doc_ctx {
	NF_DOC_TOP = 1 << 0,
	NF_DOC_LIST = 1 << 1,		/* an item of a List */
	NF_DOC_NPLIST = 1 << 2,		/* an item of a NetworkPolicyList */
	NF_DOC_MNPLIST = 1 << 3,	/* an item of a MultiNetworkPolicyList */
	NF_DOC_PODLIST = 1 << 4,	/* an item of a PodList */
	NF_DOC_NSLIST = 1 << 5,		/* an item of a NamespaceList */
	NF_DOC_CNPLIST = 1 << 6,	/* an item of a ClusterNetworkPolicyList */
	NF_DOC_ANPLIST = 1 << 7,	/* an item of an AdminNetworkPolicyList */
	NF_DOC_BANPLIST = 1 << 8,	/* an item of a BaselineAdminNetworkPolicyList */
	NF_DOC_NODELIST = 1 << 9,	/* an item of a NodeList */
};

struct nf_kind {
	const char *name;		/* the value of "kind" */
	const char *api_version;	/* the one apiVersion supported */
	unsigned int allowed_in;	/* NF_DOC_* */
	/*
	 * Parse and validate obj (kind and apiVersion are checked) and add it
	 * to c->ds when no problem was reported since `before` (the problem
	 * count when the object started).
	 */
	void (*parse)(struct pctx *c, json_t *obj, size_t before);
	/* Report objects of this kind defined twice in the docset; NULL: none kept. */
	void (*check_duplicates)(struct nf_docset *ds);
};

extern const struct nf_kind nf_kind_networkpolicy;
extern const struct nf_kind nf_kind_networkpolicylist;
extern const struct nf_kind nf_kind_list;
extern const struct nf_kind nf_kind_tenant;
extern const struct nf_kind nf_kind_multinetworkpolicy;
extern const struct nf_kind nf_kind_multinetworkpolicylist;
extern const struct nf_kind nf_kind_pod;
extern const struct nf_kind nf_kind_podlist;
extern const struct nf_kind nf_kind_namespace;
extern const struct nf_kind nf_kind_namespacelist;
extern const struct nf_kind nf_kind_clusternetworkpolicy;
extern const struct nf_kind nf_kind_clusternetworkpolicylist;
extern const struct nf_kind nf_kind_adminnetworkpolicy;
extern const struct nf_kind nf_kind_adminnetworkpolicylist;
extern const struct nf_kind nf_kind_baselineadminnetworkpolicy;
extern const struct nf_kind nf_kind_baselineadminnetworkpolicylist;
extern const struct nf_kind nf_kind_node;
extern const struct nf_kind nf_kind_nodelist;

/* ---- networkpolicy.c: NetworkPolicy-shaped kinds ---- */

/*
 * Parse and validate a NetworkPolicy-shaped object of `kind` and add it to
 * the docset (see struct nf_kind's parse). networks (NULL: none) parses
 * what the kind adds to metadata into p (MultiNetworkPolicy's networks).
 */
void nfp_parse_policy_object(struct pctx *c, json_t *obj, size_t before,
			     const struct nf_kind *kind,
			     void (*networks)(struct pctx *c, json_t *obj, struct nf_policy *p));
/* Report policies of one kind (multi: MultiNetworkPolicy) defined twice. */
void nfp_policy_duplicates(struct nf_docset *ds, bool multi, const char *kind);

/* An object (top-level or a list item): dispatch by its kind. */
void nfp_parse_object(struct pctx *c, json_t *obj, enum nf_doc_ctx where);

#endif /* NETFENCE_POLICY_INTERNAL_H */
