/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy input: JSON documents (SPEC §4) -> validated IR.
 *
 * policy__load_*() parse NetworkPolicy, Tenant, MultiNetworkPolicy, Pod,
 * Namespace, ClusterNetworkPolicy, AdminNetworkPolicy,
 * BaselineAdminNetworkPolicy and Node documents (and their lists), validate
 * them like the Kubernetes API server plus netfence's own limits, and append
 * them to a struct nf_docset. Every problem is reported as one line
 * "FILE: JSON.PATH: message" through the problem list; a docset with
 * problems must never be compiled or applied.
 *
 * Implemented in policy/: one file per document kind over shared helpers
 * (policy/policy_internal.h lists them).
 */
#ifndef NETFENCE_POLICY_H
#define NETFENCE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netfence/abi.h>

/* 16-byte address, IPv4 v4-mapped. plen is in that 128-bit space (IPv4 /24 -> 120). */
struct nf_cidr {
	uint8_t addr[16];
	uint8_t plen;
	bool is_v4;
};

#define NF_PORT_NAME_LEN	16	/* IANA_SVC_NAME: at most 15 characters */

struct nf_port_range {
	uint8_t proto;		/* IPPROTO_TCP (6), IPPROTO_UDP (17), IPPROTO_SCTP (132) */
	uint16_t lo, hi;	/* inclusive; 1..65535, or lo = 0, hi = 65535 for "all ports" */
	/*
	 * A named port (SPEC §11: `port: "http"`): name[0] != 0 and lo = hi = 0;
	 * resolved per destination pod from its containers' ports (the compiler).
	 */
	char name[NF_PORT_NAME_LEN];
};

/* ---- labels and label selectors (SPEC §11) ---- */

struct nf_label {
	char *key;
	char *value;
};

/* Sorted by key, keys unique. */
struct nf_labels {
	struct nf_label *v;
	size_t n;
};

enum nf_sel_op {
	NF_SEL_IN = 0,		/* matchLabels k: v is In [v] */
	NF_SEL_NOTIN = 1,	/* matches when the key is absent, too */
	NF_SEL_EXISTS = 2,
	NF_SEL_DOES_NOT_EXIST = 3,
};

struct nf_sel_req {
	char *key;
	enum nf_sel_op op;
	char **values;		/* In/NotIn: sorted, unique, n_values >= 1; else none */
	size_t n_values;
};

/*
 * A LabelSelector: the AND of its requirements (matchLabels become In
 * requirements with one value), sorted by key. n_reqs == 0 selects
 * everything.
 */
struct nf_selector {
	struct nf_sel_req *reqs;
	size_t n_reqs;
};

/* Kubernetes' labels.Selector.Matches. */
bool nf_selector_matches(const struct nf_selector *s, const struct nf_labels *l);
/* The value of key in l, or NULL. */
const char *nf_labels_get(const struct nf_labels *l, const char *key);
/* Free what l holds (l itself stays, empty). */
void nf_labels_clear(struct nf_labels *l);
/* A deep copy into dst; 0 or -ENOMEM (dst then holds what was copied). */
int nf_labels_copy(struct nf_labels *dst, const struct nf_labels *src);

enum nf_peer_kind {
	NF_PK_IPBLOCK = 1,	/* cidr minus excepts */
	NF_PK_TENANTS = 2,	/* address sets of a set of tenants */
	NF_PK_PODS = 3,		/* the pods that pod_sel selects in a set of tenants */
	/*
	 * ClusterNetworkPolicy egress `nodes` (SPEC §13): the addresses of the
	 * nodes that node_sel selects (Node documents; without any, the local
	 * node's addresses). Resolved by the compiler.
	 */
	NF_PK_NODES = 4,
	/*
	 * A ClusterNetworkPolicy peer with no field netfence knows (a newer
	 * API's): in an Accept rule it matches nothing (upstream's "fail
	 * closed"). A Deny or Pass rule with one becomes "Deny all" instead
	 * (the parser rewrites it: action Deny, no peers, no ports).
	 */
	NF_PK_NONE = 5,
};

struct nf_peer {
	enum nf_peer_kind kind;
	/*
	 * NF_PK_IPBLOCK. An IPv6 cidr of /96 or shorter that covers the
	 * v4-mapped range gets ::ffff:0.0.0.0/96 as an extra except (an IPv6
	 * ipBlock never matches IPv4 in Kubernetes).
	 */
	struct nf_cidr cidr;
	struct nf_cidr *except;
	size_t n_except;
	/*
	 * NF_PK_TENANTS and NF_PK_PODS, the set of tenants:
	 * negate == false: exactly the tenants in names;
	 * negate == true: every tenant except those in names (n_names == 0: all).
	 * Without a namespaceSelector: the policy's own tenant.
	 * When the namespaceSelector uses a label other than
	 * kubernetes.io/metadata.name (ns_labels), names/negate don't matter
	 * (the parser leaves them empty with negate == false: no tenant); the
	 * compiler resolves ns_sel against Namespace documents (struct
	 * nf_namespace_obj).
	 */
	bool negate;
	char **names;
	size_t n_names;
	struct nf_selector *ns_sel;	/* the namespaceSelector, NULL when absent */
	bool ns_labels;			/* ns_sel names a label other than the name label */
	/* NF_PK_PODS: the podSelector (non-empty; an empty one makes NF_PK_TENANTS). */
	struct nf_selector *pod_sel;
	/* NF_PK_NODES: the node selector (no requirements: every node). */
	struct nf_selector *node_sel;
};

/*
 * ClusterNetworkPolicy tiers (SPEC §13). Evaluation order: Admin, then the
 * NetworkPolicy tier, then Baseline (not the order of the values: a zeroed
 * policy is a NetworkPolicy).
 */
enum nf_tier {
	NF_TIER_NP = 0,		/* NetworkPolicy and MultiNetworkPolicy */
	NF_TIER_ADMIN = 1,
	NF_TIER_BASELINE = 2,
	NF_TIER_MAX = 3,
};

enum nf_action {
	NF_ACT_ACCEPT = 0,	/* a NetworkPolicy rule's only action */
	NF_ACT_DENY = 1,
	/*
	 * Skip the rest of the policy's tier (Admin: to the NetworkPolicy
	 * tier). The parser accepts it in a v1alpha2 Baseline policy too, as
	 * upstream's CRD does; never in a BaselineAdminNetworkPolicy.
	 */
	NF_ACT_PASS = 2,
};

/* Document kinds of cluster policies (their store keys and messages). */
enum nf_cnp_kind {
	NF_CNP_NONE = 0,	/* a (Multi)NetworkPolicy */
	NF_CNP_V1ALPHA2 = 1,	/* ClusterNetworkPolicy, policy.networking.k8s.io/v1alpha2 */
	NF_CNP_ANP = 2,		/* AdminNetworkPolicy, policy.networking.k8s.io/v1alpha1 */
	NF_CNP_BANP = 3,	/* BaselineAdminNetworkPolicy, policy.networking.k8s.io/v1alpha1 */
};

struct nf_rule {
	struct nf_peer *peers;	/* n_peers == 0: any peer, external included */
	size_t n_peers;
	struct nf_port_range *ports; /* n_ports == 0: every protocol and port */
	size_t n_ports;
	/* ClusterNetworkPolicy rules (SPEC §13); a NetworkPolicy's: Accept, no name. */
	enum nf_action action;
	char *name;		/* the rule's `name` (at most 100 bytes), or NULL */
};

struct nf_policy {
	char *tenant;		/* metadata.namespace */
	char *name;		/* metadata.name */
	char *file;		/* where it was read from (for messages) */
	char *json;		/* the object as compact JSON (what the state store keeps) */
	/*
	 * A MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1, SPEC §12): the networks
	 * its k8s.v1.cni.cncf.io/policy-for annotation names, each as
	 * "namespace/name" (a bare name is in the policy's namespace), sorted and
	 * unique; n_networks >= 1. A NetworkPolicy has none (n_networks == 0).
	 */
	char **networks;
	size_t n_networks;
	/*
	 * spec.podSelector: the endpoints of the tenant the policy applies to
	 * (SPEC §11). NULL or no requirements: all of them.
	 */
	struct nf_selector *subject;
	/*
	 * A cluster policy (SPEC §13: cnp_kind != NF_CNP_NONE): tenant is NULL,
	 * tier Admin or Baseline, priority 0..1000 (a BaselineAdminNetworkPolicy:
	 * 0); its subject is the endpoints of the tenants ns_subject selects
	 * (namespace labels; no requirements: every tenant) that `subject`
	 * selects (NULL: all of them). has_dir[dir] is true when it has rules in
	 * dir (a cluster policy without rules in a direction does not affect
	 * it). A (Multi)NetworkPolicy: NF_CNP_NONE, NF_TIER_NP, priority 0,
	 * ns_subject NULL.
	 */
	enum nf_cnp_kind cnp_kind;
	enum nf_tier tier;
	int32_t priority;
	struct nf_selector *ns_subject;
	bool has_dir[NF_DIR_MAX];	/* policyTypes (after defaulting) */
	/* Only directions in has_dir have rules: the others' rules are inert and left out. */
	struct nf_rule *rules[NF_DIR_MAX];
	size_t n_rules[NF_DIR_MAX];
};

struct nf_tenant_obj {
	char *name;		/* metadata.name */
	char *file;
	char *json;		/* the object as compact JSON */
	struct nf_cidr *cidrs;	/* spec.cidrs */
	size_t n_cidrs;
};

/* A named container port of a Pod (spec.containers[].ports[] with a name). */
struct nf_named_port {
	char name[NF_PORT_NAME_LEN];
	uint8_t proto;		/* IPPROTO_TCP (default), IPPROTO_UDP, IPPROTO_SCTP */
	uint16_t port;		/* containerPort */
};

/* A Pod (v1, SPEC §11): only the fields netfence uses. */
struct nf_pod_obj {
	char *tenant;		/* metadata.namespace */
	char *name;		/* metadata.name */
	char *file;
	char *json;		/* the object as compact JSON, only the fields used (what the store keeps) */
	struct nf_labels labels;	/* metadata.labels */
	/*
	 * status.podIPs[].ip (else status.podIP), plen 128 (v4-mapped /32 or
	 * /128); none for a hostNetwork pod (its addresses are the node's) or a
	 * Succeeded/Failed one (its addresses are released).
	 */
	struct nf_cidr *ips;
	size_t n_ips;
	struct nf_named_port *ports;	/* sorted by (name, proto, port), no repeats */
	size_t n_ports;
};

/* A Namespace (v1): its labels, always with kubernetes.io/metadata.name = name. */
struct nf_namespace_obj {
	char *name;		/* metadata.name: the tenant */
	char *file;
	char *json;		/* compact JSON, only the fields used */
	struct nf_labels labels;
};

/*
 * A Node (v1, SPEC §13): what ClusterNetworkPolicy `nodes` peers select.
 * addrs: status.addresses[] of type InternalIP or ExternalIP (plen 128).
 */
struct nf_node_obj {
	char *name;		/* metadata.name */
	char *file;
	char *json;		/* compact JSON, only the fields used */
	struct nf_labels labels;
	struct nf_cidr *addrs;
	size_t n_addrs;
};

struct nf_docset {
	struct nf_policy **policies;
	size_t n_policies;
	struct nf_tenant_obj **tenants;
	size_t n_tenants;
	struct nf_pod_obj **pods;
	size_t n_pods;
	struct nf_namespace_obj **namespaces;
	size_t n_namespaces;
	/* cluster policies (SPEC §13), not in `policies` (they have no tenant) */
	struct nf_policy **cluster;
	size_t n_cluster;
	struct nf_node_obj **nodes;
	size_t n_nodes;
	/* problems, one line each: "FILE: PATH: message" */
	char **problems;
	size_t n_problems;
};

/* netfence's limits (each exceeded one is a problem naming it). */
#define NF_POLICY_MAX_RULES	10000	/* rules per direction per policy */
#define NF_POLICY_MAX_PEERS	10000	/* peers per rule */
#define NF_POLICY_MAX_EXCEPTS	1000	/* except entries per ipBlock */
#define NF_POLICY_MAX_PORTS	100	/* ports per rule */

struct nf_docset *policy__docset_new(void);
void policy__docset_free(struct nf_docset *ds);

/*
 * Load one path: a file, a directory (every *.json in it, sorted, not
 * recursive) or "-" (stdin, reported as "<stdin>"). Problems are appended to
 * ds->problems; returns 0 when the path could be read (even with problems),
 * -errno when it could not (also recorded as a problem).
 */
int policy__load_path(struct nf_docset *ds, const char *path);

/*
 * For short-lived commands (apply, validate): from now on, a JSON text of
 * 1 MiB or more parses from a huge-page arena that is never freed
 * (userspace/lib/policy/jarena.c).
 */
void policy__json_arena_allow(void);

/* Parse and validate a JSON text; `file` names it in messages. */
int policy__load_json(struct nf_docset *ds, const char *file, const char *text, size_t len);

/* Duplicate (kind, tenant, name) keys across the docset are problems too. */
void policy__check_duplicates(struct nf_docset *ds);

void policy__free(struct nf_policy *p);
void tenant_obj__free(struct nf_tenant_obj *t);
void pod_obj__free(struct nf_pod_obj *p);
void namespace_obj__free(struct nf_namespace_obj *n);
void node_obj__free(struct nf_node_obj *n);

/* Deep copies (the state store keeps its own). */
struct nf_policy *policy__dup(const struct nf_policy *p);

/* Helpers shared with the CLI and tests. */
bool nf_is_dns1123_label(const char *s);
bool nf_is_dns1123_subdomain(const char *s);
/* Kubernetes label keys (IsQualifiedName) and values (IsValidLabelValue: "" is one). */
bool nf_is_label_key(const char *s);
bool nf_is_label_value(const char *s);
/* A container port name (IsValidPortName: 1-15 of a-z, 0-9, '-', a letter, no "--"). */
bool nf_is_port_name(const char *s);
/*
 * Networks (SPEC §12): "NAME" (a CNI network name: a letter or digit, then
 * letters, digits, '_', '.', '-'; at most NF_NETWORK_NAME_MAX bytes) or
 * "NAMESPACE/NAME" (NAMESPACE a DNS-1123 label).
 */
#define NF_NETWORK_NAME_MAX	128
#define NF_NETWORK_KEY_LEN	(NF_TENANT_NAME_LEN + NF_NETWORK_NAME_MAX + 1)
#define NF_NETWORK_DEFAULT	"default"
bool nf_is_network_name(const char *s);
/*
 * The key of network `net` as seen from namespace `ns`: "ns/net" for a bare
 * name, `net` itself when it names its namespace. 0, or -EINVAL (not a
 * network name), -ENAMETOOLONG. A MultiNetworkPolicy of tenant T for
 * network key K applies to T's endpoints whose network's key from T is K.
 */
int nf_network_key(const char *ns, const char *net, char *buf, size_t len);
/* Whether p is for network key `key` (p->networks, exact match). */
bool policy__is_for_network(const struct nf_policy *p, const char *key);
/* 0 or -EINVAL. Host bits are accepted (as the API server does) and cleared. */
int nf_parse_cidr(const char *s, struct nf_cidr *out);
int nf_parse_addr(const char *s, uint8_t addr[16], bool *is_v4);	/* 0 or -EINVAL */
void nf_format_addr(const uint8_t addr[16], char *buf, size_t len);	/* v4-mapped printed as IPv4 */
void nf_format_cidr(const struct nf_cidr *c, char *buf, size_t len);	/* "10.0.0.0/8", "fd00::/8" */
bool nf_cidr_contains(const struct nf_cidr *outer, const struct nf_cidr *inner);
bool nf_cidr_has_addr(const struct nf_cidr *c, const uint8_t addr[16]);

#endif /* NETFENCE_POLICY_H */
