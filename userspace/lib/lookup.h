/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy lookup, once, in userspace: what the datapath's nf_judge()
 * (bpf/lib/policy.bpf.h) does, step for step, over an abstract table source:
 *   1. the peer's identity from the ipcache (exact /128 match);
 *   2. the peer's address class: the longest NF_PEER_ADDR entry of
 *      (tenant, epoch parity, dir) matching the address; and, when the peer
 *      belongs to a tenant (identity neither 0 nor NF_ID_HOST), its identity
 *      class: the NF_PEER_IDENT entry of that id, else the default one;
 *   3. ingress from NF_ID_HOST with NF_CFG_ALLOW_HOST_INGRESS: NF_RULE_HOST;
 *   4. each class gives an Admin-tier and a lower-tier decision for (proto,
 *      port); they combine as struct nf_class in abi.h says (the first
 *      Admin Accept/Deny, else the first lower-tier decision). When the
 *      address class allows by the NetworkPolicy tier and the identity class
 *      has no tiered decision, the address rule is the one named.
 *
 * Sources: the compiler's output in memory (lookup__src_compiled) and the
 * live kernel maps (lookup__src_maps, lookup_maps.c). `check`, the compiler's
 * compile__lookup() and the tests all go through here.
 *
 * Also here: the names of a tenant's rules (rule_ref -> policy, direction,
 * index), written next to the key records at install for the parity being
 * installed, so `check` names the rule in force without recompiling.
 */
#ifndef NETFENCE_LOOKUP_H
#define NETFENCE_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netfence/abi.h>

struct nf_compiled;

/*
 * A query: direction, peer address (16 bytes, v4-mapped), the peer's
 * identity as the ipcache would give it (peer_id: a tenant id, NF_ID_HOST,
 * or 0 for an address no tenant owns), protocol (IPPROTO_*) and port (host
 * order, the packet's destination port; ignored unless TCP/UDP/SCTP).
 */
struct nf_query {
	uint8_t dir;
	uint8_t addr[16];
	uint32_t peer_id;
	uint8_t proto;
	uint16_t port;
};

/*
 * A table source. Each lookup returns 0 and fills its result, -ENOENT when
 * there is no entry, or another -errno when the tables cannot be read.
 */
struct nf_lookup_ops {
	/* nf_policy: longest prefix match, as the kernel's LPM trie does. */
	int (*trie)(void *ctx, const struct nf_policy_key *key, struct nf_class *out);
	/* nf_ports: exact match. */
	int (*port)(void *ctx, const struct nf_port_key *key, struct nf_port_val *out);
	/* nf_ipcache: the identity of addr (a /128 lookup). NULL: none (0). */
	int (*ipcache)(void *ctx, const uint8_t addr[16], uint32_t *id);
	/* nf_config.flags. NULL: 0. */
	int (*config_flags)(void *ctx, uint32_t *flags);
};

struct nf_lookup_src {
	const struct nf_lookup_ops *ops;
	void *ctx;
};

/*
 * nf_class_decide(): the low and adm decisions of cls for (proto, port)
 * (abi.h, struct nf_class). Returns 0 or -errno (a table that cannot be read).
 */
int lookup__class_decide(const struct nf_lookup_src *s, const struct nf_class *cls, uint8_t proto,
			 uint16_t port, uint32_t *low, uint32_t *adm);
/* nf_rule_first(): of two decisions (0: none), the one that comes first. */
uint32_t lookup__rule_first(uint32_t a, uint32_t b);
/* Whether a decision word (lookup__decide's *rule) allows the flow. */
bool lookup__allows(uint32_t rule);

/*
 * nf_peer_classes(): the address and identity classes of a peer for
 * (tenant_id, epoch & 1, dir). A class not found is all zero (allows
 * nothing). Returns 0 or -errno.
 */
int lookup__peer_classes(const struct nf_lookup_src *s, uint32_t tenant_id, uint32_t epoch,
			 uint8_t dir, const uint8_t addr[16], uint32_t peer_id,
			 struct nf_class *addr_cls, struct nf_class *ident_cls);

/*
 * nf_judge() with the peer's identity given (q->peer_id) and nf_config.flags
 * given (cfg_flags): *rule = the deciding decision word (a rule_ref and its
 * action: lookup__allows() says whether it allows), NF_RULE_HOST, or 0
 * (default deny).
 * Returns 0 or -errno.
 */
int lookup__decide(const struct nf_lookup_src *s, uint32_t tenant_id, uint32_t epoch,
		   const struct nf_query *q, uint32_t cfg_flags, uint32_t *rule);

/*
 * nf_judge(): as lookup__decide, with the peer's identity from the source's
 * ipcache (q->peer_id is ignored; *peer_id gets it) and the flags from its
 * config. Returns 0 or -errno.
 */
int lookup__judge(const struct nf_lookup_src *s, uint32_t tenant_id, uint32_t epoch,
		  const struct nf_query *q, uint32_t *peer_id, uint32_t *rule);

/*
 * Source: compiled tables in memory, for c->tenant_id at c->epoch's parity
 * (other tenants and parities have no entries). It has no ipcache and no
 * config: use lookup__decide. c->trie and c->ports must be in the order
 * lookup__sort_compiled() leaves them (compile__tenant() does it).
 */
void lookup__src_compiled(struct nf_lookup_src *s, const struct nf_compiled *c);
/* Sort c->trie and c->ports for lookup__src_compiled (binary search). */
void lookup__sort_compiled(struct nf_compiled *c);

/* Source: the kernel maps (fds of nf_policy, nf_ports, nf_ipcache, nf_config). */
struct nf_lookup_maps {
	int policy, ports, ipcache, config;
};
void lookup__src_maps(struct nf_lookup_src *s, const struct nf_lookup_maps *m);

/* ---- rule names ---- */

/* A run of consecutive rule_refs: rules index, index + 1, ... of one
 * direction of one policy. */
struct nf_rule_run {
	char *policy;
	uint8_t dir;
	uint32_t index;
	uint32_t count;
	/* a cluster policy's run (SPEC §13), else cnp_kind 0 and no names */
	uint8_t cnp_kind;	/* enum nf_cnp_kind */
	uint8_t tier;		/* enum nf_tier */
	int32_t priority;
	char **names;		/* count rule names (NULL: unnamed) */
};

struct nf_rule_names {
	char tenant[NF_TENANT_NAME_LEN];
	uint32_t epoch;
	struct nf_rule_run *runs;	/* in rule_ref order, from rule_ref 1 */
	size_t n_runs;
};

/*
 * Write what c's rule_refs name, for tenant (its name) at c->epoch, to
 * dir/<tenant id>.rules.<parity>.json, atomically. The installer calls it
 * before it flips the tenant's epoch to c->epoch; the file of the other
 * parity (the one in force) is left alone. Returns 0 or -errno.
 */
int lookup__names_write(const char *dir, const char *tenant, const struct nf_compiled *c);
/*
 * Read the names of tenant (id and name) at epoch, the epoch in force.
 * -ENOENT when there is no file for it, or it was written for another epoch
 * or another tenant that held the id (names unknown); other -errno: unreadable.
 */
int lookup__names_read(const char *dir, uint32_t tenant_id, const char *tenant, uint32_t epoch,
		       struct nf_rule_names **out);
void lookup__names_free(struct nf_rule_names *n);
/* The run rule_ref (a decision word) is in, *offset its place there; or NULL. */
const struct nf_rule_run *lookup__rule_run(const struct nf_rule_names *n, uint32_t rule_ref,
					   uint32_t *offset);
/* The policy, direction and index of rule_ref, or NULL when n has no such rule. */
const char *lookup__rule_name(const struct nf_rule_names *n, uint32_t rule_ref, uint8_t *dir,
			      uint32_t *index);

#endif /* NETFENCE_LOOKUP_H */
