// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference evaluator: SPEC §3 read literally, over the IR, one query at a
 * time. Deliberately shares nothing with compile.c, so that tests comparing
 * the two catch mistakes in either.
 */
#include <string.h>
#include <netinet/in.h>
#include "compile.h"

/* ::ffff:0:0/96 */
static bool ref_addr_is_v4(const uint8_t *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, pfx, sizeof(pfx));
}

/* Bit i (0 = most significant) of a 16-byte address. */
static int ref_bit(const uint8_t *a, unsigned int i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

static bool ref_in_cidr(const struct nf_cidr *c, const uint8_t *addr)
{
	unsigned int i, plen = c->plen > 128 ? 128 : c->plen;

	for (i = 0; i < plen; i++)
		if (ref_bit(c->addr, i) != ref_bit(addr, i))
			return false;
	return true;
}

/* The labels a namespace selector sees of tenant `name`. */
static bool ref_ns_selected(const struct nf_peer *p, const char *name, const struct nf_ref_labels *L)
{
	const struct nf_labels *ns = L && L->ns_labels ? L->ns_labels(name, L->ctx) : NULL;
	struct nf_label one = { (char *)"kubernetes.io/metadata.name", (char *)name };
	struct nf_labels only = { &one, 1 };

	return nf_selector_matches(p->ns_sel, ns ? ns : &only);
}

static bool ref_peer_matches(const struct nf_peer *p, const struct nf_query *q,
			     nf_tenant_name_fn name_fn, void *name_ctx, const struct nf_ref_labels *L)
{
	static const struct nf_labels none;
	const struct nf_labels *pl;
	const char *name;
	bool named = false;
	size_t i;

	switch (p->kind) {
	case NF_PK_IPBLOCK:
		/* An IPv6 CIDR never covers an IPv4 peer, even ::/0. */
		if (!p->cidr.is_v4 && ref_addr_is_v4(q->addr))
			return false;
		if (!ref_in_cidr(&p->cidr, q->addr))
			return false;
		for (i = 0; i < p->n_except; i++)
			if (ref_in_cidr(&p->except[i], q->addr))
				return false;
		return true;
	case NF_PK_TENANTS:
	case NF_PK_PODS:
		/* World (0) and the node are no tenant. */
		if (q->peer_id == 0 || q->peer_id == NF_ID_HOST)
			return false;
		/* An identity without a known name is a tenant no selector names. */
		name = name_fn ? name_fn(NF_IDENT_TENANT(q->peer_id), name_ctx) : NULL;
		if (p->ns_labels) {
			named = name && ref_ns_selected(p, name, L);
		} else {
			for (i = 0; name && i < p->n_names && !named; i++)
				named = p->names[i] && !strcmp(p->names[i], name);
			named = p->negate ? !named : named;
		}
		if (!named || p->kind == NF_PK_TENANTS)
			return named;
		/* SPEC §11: the peer's pod labels (index 0: none) */
		pl = L && L->pod_labels ? L->pod_labels(q->peer_id, L->ctx) : NULL;
		return nf_selector_matches(p->pod_sel, pl ? pl : &none);
	case NF_PK_NODES:	/* the compiler resolves them into ipBlocks */
	case NF_PK_NONE:
		return false;
	}
	return false;
}

/*
 * A named port (SPEC §11): the port of that name and protocol of the
 * endpoint (ingress) or of the peer pod (egress; only a peer covered by a
 * pod or namespace selector, or by a rule without peers, is one).
 */
static bool ref_named_port(const struct nf_port_range *pr, const struct nf_query *q,
			   const struct nf_ref_labels *L, bool peer_is_pod)
{
	const struct nf_named_port *np = NULL;
	size_t n = 0, i;

	if (!L)
		return false;
	if (q->dir == NF_DIR_INGRESS) {
		np = L->subject_ports;
		n = L->n_subject_ports;
	} else if (peer_is_pod && L->peer_ports && q->peer_id && q->peer_id != NF_ID_HOST) {
		np = L->peer_ports(q->peer_id, &n, L->ctx);
	}
	/* proto 0: a ClusterNetworkPolicy's destinationNamedPort, any protocol */
	for (i = 0; np && i < n; i++)
		if (np[i].proto == (pr->proto ? pr->proto : q->proto) && !strcmp(np[i].name, pr->name))
			return q->port == np[i].port;
	return false;
}

static bool ref_rule_matches(const struct nf_rule *r, const struct nf_query *q,
			     nf_tenant_name_fn name_fn, void *name_ctx, const struct nf_ref_labels *L)
{
	bool peer_ok = r->n_peers == 0, port_ok = r->n_ports == 0, by_sel = r->n_peers == 0;
	size_t i;

	for (i = 0; i < r->n_peers; i++)
		if (ref_peer_matches(&r->peers[i], q, name_fn, name_ctx, L)) {
			peer_ok = true;
			by_sel |= r->peers[i].kind != NF_PK_IPBLOCK;
		}
	if (!peer_ok)
		return false;
	if (q->proto != IPPROTO_TCP && q->proto != IPPROTO_UDP && q->proto != IPPROTO_SCTP)
		return port_ok;
	for (i = 0; i < r->n_ports && !port_ok; i++)
		port_ok = (r->ports[i].proto == q->proto || (r->ports[i].name[0] && !r->ports[i].proto)) &&
			  (r->ports[i].name[0] ? ref_named_port(&r->ports[i], q, L, by_sel) :
			   q->port >= r->ports[i].lo && q->port <= r->ports[i].hi);
	return port_ok;
}

bool refeval__decide(const char *tenant, struct nf_policy *const *pols, size_t n_pols,
		     const struct nf_query *q, nf_tenant_name_fn name_fn, void *name_ctx,
		     const char **policy, uint32_t *index)
{
	return refeval__decide_labels(tenant, pols, n_pols, q, name_fn, name_ctx, NULL, policy,
				      index);
}

bool refeval__decide_labels(const char *tenant, struct nf_policy *const *pols, size_t n_pols,
			    const struct nf_query *q, nf_tenant_name_fn name_fn, void *name_ctx,
			    const struct nf_ref_labels *L, const char **policy, uint32_t *index)
{
	struct nf_ref_verdict v;

	refeval__decide_tiers(tenant, pols, n_pols, q, name_fn, name_ctx, L, &v);
	if (!v.allow)
		return false;
	if (policy)
		*policy = v.policy;
	if (index)
		*index = v.index;
	return true;
}

/* Whether a comes before b in its tier: priority, kind, name (SPEC §13). */
static bool ref_before(const struct nf_policy *a, const struct nf_policy *b)
{
	int r;

	if (a->priority != b->priority)
		return a->priority < b->priority;
	if (a->cnp_kind != b->cnp_kind)
		return a->cnp_kind < b->cnp_kind;
	r = strcmp(a->name ? a->name : "", b->name ? b->name : "");
	return r < 0;
}

/*
 * The first rule of tier that matches q, in evaluation order: the policy
 * that comes first (ref_before) among those with a matching rule, its first
 * matching rule. For the NetworkPolicy tier, where every rule allows, the
 * policy with the smallest name (the compiler's order). *selected: whether
 * any policy of the tier selects the endpoint for q's direction.
 */
static bool ref_first_in_tier(struct nf_policy *const *pols, size_t n_pols, enum nf_tier tier,
			      const struct nf_query *q, nf_tenant_name_fn name_fn, void *name_ctx,
			      const struct nf_ref_labels *L, const struct nf_policy **pol,
			      uint32_t *index, bool *selected)
{
	static const struct nf_labels none;
	const struct nf_policy *first = NULL;
	uint32_t first_idx = 0;
	size_t i, j;

	*selected = false;
	for (i = 0; i < n_pols; i++) {
		const struct nf_policy *p = pols[i];

		if (p->tier != tier || !p->has_dir[q->dir])
			continue;
		/* SPEC §11: only the policies whose podSelector selects the endpoint */
		if (p->subject && !nf_selector_matches(p->subject, L && L->subject ? L->subject : &none))
			continue;
		*selected = true;
		if (first && !ref_before(p, first))
			continue;
		for (j = 0; j < p->n_rules[q->dir]; j++) {
			if (ref_rule_matches(&p->rules[q->dir][j], q, name_fn, name_ctx, L)) {
				first = p;
				first_idx = (uint32_t)j;
				break;
			}
		}
	}
	*pol = first;
	*index = first_idx;
	return first != NULL;
}

void refeval__decide_tiers(const char *tenant, struct nf_policy *const *pols, size_t n_pols,
			   const struct nf_query *q, nf_tenant_name_fn name_fn, void *name_ctx,
			   const struct nf_ref_labels *L, struct nf_ref_verdict *v)
{
	const struct nf_policy *p;
	uint32_t idx;
	bool sel;

	(void)tenant;
	memset(v, 0, sizeof(*v));
	if (q->dir >= NF_DIR_MAX)
		return;
	/* Admin: Accept and Deny decide, Pass goes on to the NetworkPolicy tier */
	if (ref_first_in_tier(pols, n_pols, NF_TIER_ADMIN, q, name_fn, name_ctx, L, &p, &idx,
			      &sel) &&
	    p->rules[q->dir][idx].action != NF_ACT_PASS) {
		v->allow = p->rules[q->dir][idx].action == NF_ACT_ACCEPT;
		goto decided;
	}
	/* NetworkPolicies that select the endpoint decide: a rule allows, or deny */
	if (ref_first_in_tier(pols, n_pols, NF_TIER_NP, q, name_fn, name_ctx, L, &p, &idx, &sel)) {
		v->allow = true;
		goto decided;
	}
	if (sel)
		return;
	if (ref_first_in_tier(pols, n_pols, NF_TIER_BASELINE, q, name_fn, name_ctx, L, &p, &idx,
			      &sel)) {
		v->allow = p->rules[q->dir][idx].action == NF_ACT_ACCEPT;
		goto decided;
	}
	return;	/* default deny */
decided:
	v->decided = true;
	v->tier = p->tier;
	v->action = p->rules[q->dir][idx].action;
	v->policy = p->name;
	v->index = idx;
}
