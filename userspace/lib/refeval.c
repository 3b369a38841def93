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

static bool ref_peer_matches(const struct nf_peer *p, const struct nf_query *q,
			     nf_tenant_name_fn name_fn, void *name_ctx)
{
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
		/* World (0) and the node are no tenant. */
		if (q->peer_id == 0 || q->peer_id == NF_ID_HOST)
			return false;
		/* An identity without a known name is a tenant no selector names. */
		name = name_fn ? name_fn(q->peer_id, name_ctx) : NULL;
		for (i = 0; name && i < p->n_names && !named; i++)
			named = p->names[i] && !strcmp(p->names[i], name);
		return p->negate ? !named : named;
	case NF_PK_PODS:
		/* the parser does not produce pod selectors yet (SPEC §11, in progress) */
		return false;
	}
	return false;
}

static bool ref_rule_matches(const struct nf_rule *r, const struct nf_query *q,
			     nf_tenant_name_fn name_fn, void *name_ctx)
{
	bool peer_ok = r->n_peers == 0, port_ok = r->n_ports == 0;
	size_t i;

	for (i = 0; i < r->n_peers && !peer_ok; i++)
		peer_ok = ref_peer_matches(&r->peers[i], q, name_fn, name_ctx);
	if (!peer_ok)
		return false;
	if (q->proto != IPPROTO_TCP && q->proto != IPPROTO_UDP && q->proto != IPPROTO_SCTP)
		return port_ok;
	for (i = 0; i < r->n_ports && !port_ok; i++)
		port_ok = r->ports[i].proto == q->proto &&
			  q->port >= r->ports[i].lo && q->port <= r->ports[i].hi;
	return port_ok;
}

bool refeval__decide(const char *tenant, struct nf_policy *const *pols, size_t n_pols,
		     const struct nf_query *q, nf_tenant_name_fn name_fn, void *name_ctx,
		     const char **policy, uint32_t *index)
{
	const struct nf_policy *first = NULL;
	uint32_t first_idx = 0;
	size_t i, j;

	if (q->dir >= NF_DIR_MAX)
		return false;
	/*
	 * Policies in name order, rules in order: instead of sorting, keep the
	 * matching rule of the policy with the smallest name.
	 */
	for (i = 0; i < n_pols; i++) {
		const struct nf_policy *p = pols[i];
		const char *pn = p->name ? p->name : "";

		if (!p->has_dir[q->dir])
			continue;
		if (first && strcmp(pn, first->name ? first->name : "") >= 0)
			continue;
		for (j = 0; j < p->n_rules[q->dir]; j++) {
			if (ref_rule_matches(&p->rules[q->dir][j], q, name_fn, name_ctx)) {
				first = p;
				first_idx = (uint32_t)j;
				break;
			}
		}
	}
	if (!first)
		return false;
	if (policy)
		*policy = first->name;
	if (index)
		*index = first_idx;
	return true;
}
