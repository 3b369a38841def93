/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy compiler: a tenant's validated policies (IR) -> the contents of its
 * policy trie (struct nf_peer_key -> struct nf_class) and of its nf_ports
 * entries, as defined in include/netfence/abi.h.
 *
 * Also: the datapath's lookup over compiled tables in memory
 * (compile__lookup, by lookup.c), and a reference evaluator written
 * independently of the compiler (refeval__decide), which tests compare
 * against each other.
 */
#ifndef NETFENCE_COMPILE_H
#define NETFENCE_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netfence/abi.h>
#include "lookup.h"
#include "policy.h"

/* What a rule_ref (1-based index into nf_compiled.rules) refers to. */
struct nf_rule_info {
	const char *policy;	/* policy name (points into the IR) */
	uint8_t dir;		/* enum nf_dir */
	uint32_t index;		/* index in spec.ingress / spec.egress */
	/* cluster policies (SPEC §13); a NetworkPolicy's: 0, NF_TIER_NP, Accept */
	const char *rule_name;	/* the rule's name, or NULL */
	uint8_t cnp_kind;	/* enum nf_cnp_kind */
	uint8_t tier;		/* enum nf_tier */
	uint8_t action;		/* enum nf_action */
	int32_t priority;
};

struct nf_trie_entry {
	struct nf_peer_key key;
	struct nf_class val;
};

struct nf_port_entry {
	struct nf_port_key key;
	struct nf_port_val val;
};

struct nf_compiled {
	uint32_t tenant_id;
	uint32_t epoch;			/* the epoch these class ids were made for */
	struct nf_trie_entry *trie;
	size_t n_trie;
	struct nf_port_entry *ports;
	size_t n_ports;
	struct nf_rule_info *rules;	/* rules[rule_ref - 1] */
	size_t n_rules;
	uint32_t n_rules_dir[NF_DIR_MAX];
	uint32_t n_classes;
};

/*
 * Resolve a tenant name that a selector names to its id, or 0 when the
 * tenant has none. A name without an id gets no entry: no address belongs
 * to it (the ipcache maps addresses to ids), so in an In list it selects
 * nothing and in a NotIn list it excludes nothing. Selector names must not
 * allocate ids (SPEC §10.2: one policy naming 5,000 namespaces would use up
 * the 4,095 ids); when such a tenant gets its id later, the tenants whose
 * policies name it are recompiled (apply__tenant_id in apply.h).
 */
typedef uint32_t (*nf_tenant_id_fn)(const char *name, void *ctx);

/* A label identity (SPEC §11): a (tenant, label set) that pods have. */
struct nf_identity {
	uint32_t id;			/* NF_IDENT(tenant id, index >= 1) */
	const char *tenant;
	const struct nf_labels *labels;
	/* the named ports of its pods (egress named ports resolve against them) */
	const struct nf_named_port *ports;
	size_t n_ports;
};

/*
 * What a compile may look at besides the policies. Every field may be
 * NULL/0: then names resolve through id_fn only, namespaces have only their
 * name label, there are no label identities and named ports match nothing.
 */
struct nf_compile_env {
	nf_tenant_id_fn id_fn;
	void *id_ctx;
	/* The labels of tenant's Namespace document, or NULL (it has none: its
	 * only label is kubernetes.io/metadata.name). */
	const struct nf_labels *(*ns_labels)(const char *tenant, void *ctx);
	void *ns_ctx;
	/* Every tenant that has an id (sorted): namespaceSelectors on labels,
	 * and pod selectors matching the empty label set, are resolved over them. */
	const char *const *tenants;
	size_t n_tenants;
	/* Every label identity, of every tenant. */
	const struct nf_identity *idents;
	size_t n_idents;
	/* The named ports of the endpoints the rules are compiled for (ingress
	 * named ports resolve against them). */
	const struct nf_named_port *subject_ports;
	size_t n_subject_ports;
	/* SPEC §13 `nodes` peers: the Node documents; when there are none, a
	 * nodes peer is the local node's addresses (host_addrs, plen 128). */
	struct nf_node_obj *const *nodes;
	size_t n_nodes;
	const struct nf_cidr *host_addrs;
	size_t n_host_addrs;
};

/*
 * Compile every policy in `pols` (all of them belong to `tenant`; order does
 * not matter: rules are numbered after sorting policies by name) for
 * tenant_id at `epoch` (class ids are NF_CLASS_ID(tenant_id, epoch, i)).
 * Returns 0 and *out, or -errno (-ENOSPC: more classes than NF_CLASS_MAX_INDEX
 * or more entries than the maps hold; -ENOMEM).
 * Policies are not copied: *out points into them (rule_info.policy).
 */
int compile__tenant(const char *tenant, uint32_t tenant_id, uint32_t epoch,
		    struct nf_policy *const *pols, size_t n_pols,
		    nf_tenant_id_fn id_fn, void *id_ctx, struct nf_compiled **out);
/* The same, with everything labels need (compile__tenant: env with id_fn only). */
int compile__tenant_env(const char *tenant, uint32_t tenant_id, uint32_t epoch,
			struct nf_policy *const *pols, size_t n_pols,
			const struct nf_compile_env *env, struct nf_compiled **out);
void compile__free(struct nf_compiled *c);

/*
 * SPEC §11: the labels of tenant `tenant` as namespace selectors see them
 * (its Namespace document's, else only kubernetes.io/metadata.name), and
 * whether a NetworkPolicy's subject selects an endpoint with `labels`.
 */
bool compile__ns_matches(const struct nf_selector *sel, const char *tenant,
			 const struct nf_labels *ns_labels);
bool compile__subject_matches(const struct nf_policy *p, const struct nf_labels *labels);

/*
 * SPEC §12: of a tenant's policies, those that make the rules of its
 * endpoints on the network whose key is `key` ("namespace/name", see
 * nf_network_key): its MultiNetworkPolicies for that network if it has any,
 * else its NetworkPolicies (key NULL: the NetworkPolicies). Written to out
 * (room for n), in their order; returns how many. *multi (may be NULL):
 * whether they are MultiNetworkPolicies (the network has a rule set of its
 * own, compiled for its own policy slot).
 */
size_t compile__network_policies(struct nf_policy *const *pols, size_t n, const char *key,
				 struct nf_policy **out, bool *multi);

/*
 * Look the query (struct nf_query, lookup.h) up in the compiled tables with
 * the datapath's lookup (lookup__decide() over lookup__src_compiled(), see
 * lookup.h): the longest NF_PEER_ADDR prefix of the address; if peer_id is a
 * tenant's, its NF_PEER_IDENT entry (else the default one); the address class
 * decides when it allows (proto, port), else the identity class, each per
 * the precedence in abi.h. By the rules alone: NF_ID_HOST is looked up by
 * address only, and the node-ingress setting plays no part.
 * Returns the deciding rule_ref (1-based), or 0 for deny.
 */
uint32_t compile__lookup(const struct nf_compiled *c, const struct nf_query *q);

/*
 * Reference evaluator over the IR, independent of the compiler: walks every
 * rule of every policy (sorted by name) in the direction and returns true if
 * any matches (peer AND port). *policy and *index (may be NULL) get the first
 * matching rule. tenant_of(peer_id) maps an identity back to a tenant name
 * (NULL for 0 / unknown).
 */
typedef const char *(*nf_tenant_name_fn)(uint32_t id, void *ctx);
bool refeval__decide(const char *tenant, struct nf_policy *const *pols, size_t n_pols,
		     const struct nf_query *q, nf_tenant_name_fn name_fn, void *name_ctx,
		     const char **policy, uint32_t *index);

/*
 * What the reference evaluator knows of labels (SPEC §11): the endpoint's
 * own labels and named ports (subject selection, ingress named ports), the
 * labels and named ports of a peer identity (pod selectors, egress named
 * ports) and the Namespace labels of a tenant. NULL callbacks: none.
 * Egress named ports of peers that only an ipBlock covers match nothing.
 */
struct nf_ref_labels {
	const struct nf_labels *subject;
	const struct nf_named_port *subject_ports;
	size_t n_subject_ports;
	const struct nf_labels *(*pod_labels)(uint32_t peer_id, void *ctx);
	const struct nf_named_port *(*peer_ports)(uint32_t peer_id, size_t *n, void *ctx);
	const struct nf_labels *(*ns_labels)(const char *tenant, void *ctx);
	void *ctx;
};
bool refeval__decide_labels(const char *tenant, struct nf_policy *const *pols, size_t n_pols,
			    const struct nf_query *q, nf_tenant_name_fn name_fn, void *name_ctx,
			    const struct nf_ref_labels *labels, const char **policy,
			    uint32_t *index);

/*
 * SPEC §13, written from the text: the Admin tier (priority, kind, name,
 * rule order; Accept/Deny decide, Pass skips), then the NetworkPolicies if
 * any select the endpoint (allow if a rule matches, else deny), then the
 * Baseline tier, then default deny. pols: the policies of the tenant and the
 * cluster policies whose namespace subject selects it.
 */
struct nf_ref_verdict {
	bool allow;
	bool decided;		/* by a rule (else default deny, or NetworkPolicies' deny) */
	uint8_t tier;		/* enum nf_tier of the deciding rule */
	uint8_t action;		/* enum nf_action */
	const char *policy;
	uint32_t index;
};
void refeval__decide_tiers(const char *tenant, struct nf_policy *const *pols, size_t n_pols,
			   const struct nf_query *q, nf_tenant_name_fn name_fn, void *name_ctx,
			   const struct nf_ref_labels *labels, struct nf_ref_verdict *v);

/* Convert an inclusive port range into prefix blocks. Returns the count
 * written (at most 32), blocks as (port, plen). */
size_t compile__range_to_prefixes(uint16_t lo, uint16_t hi, uint16_t *ports, uint8_t *plens);

#endif /* NETFENCE_COMPILE_H */
