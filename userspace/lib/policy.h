/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy input: JSON documents (SPEC §4) -> validated IR.
 *
 * policy__load_*() parse NetworkPolicy, NetworkPolicyList/List and Tenant
 * documents, validate them like the Kubernetes API server plus netfence's own
 * limits, and append them to a struct nf_docset. Every problem is reported as
 * one line "FILE: JSON.PATH: message" through the problem list; a docset with
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

struct nf_port_range {
	uint8_t proto;		/* IPPROTO_TCP (6), IPPROTO_UDP (17), IPPROTO_SCTP (132) */
	uint16_t lo, hi;	/* inclusive; 1..65535, or lo = 0, hi = 65535 for "all ports" */
};

enum nf_peer_kind {
	NF_PK_IPBLOCK = 1,	/* cidr minus excepts */
	NF_PK_TENANTS = 2,	/* address sets of a set of tenants */
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
	 * NF_PK_TENANTS: negate == false: exactly the tenants in names;
	 * negate == true: every tenant except those in names (n_names == 0: all).
	 */
	bool negate;
	char **names;
	size_t n_names;
};

struct nf_rule {
	struct nf_peer *peers;	/* n_peers == 0: any peer, external included */
	size_t n_peers;
	struct nf_port_range *ports; /* n_ports == 0: every protocol and port */
	size_t n_ports;
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

struct nf_docset {
	struct nf_policy **policies;
	size_t n_policies;
	struct nf_tenant_obj **tenants;
	size_t n_tenants;
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

/* Parse and validate a JSON text; `file` names it in messages. */
int policy__load_json(struct nf_docset *ds, const char *file, const char *text, size_t len);

/* Duplicate (kind, tenant, name) keys across the docset are problems too. */
void policy__check_duplicates(struct nf_docset *ds);

void policy__free(struct nf_policy *p);
void tenant_obj__free(struct nf_tenant_obj *t);

/* Deep copies (the state store keeps its own). */
struct nf_policy *policy__dup(const struct nf_policy *p);

/* Helpers shared with the CLI and tests. */
bool nf_is_dns1123_label(const char *s);
bool nf_is_dns1123_subdomain(const char *s);
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
