// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Peers (a NetworkPolicyPeer: from[i] / to[i]): podSelector,
 * namespaceSelector and ipBlock, validated as the API server does and turned
 * into an nf_peer: an ipBlock; a set of tenants (namespaceSelector and/or
 * podSelector {}); or the pods a non-empty podSelector selects in a set of
 * tenants (SPEC §11). Any kind whose peers have this shape uses
 * nfp_parse_peer().
 */
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

static const char *const peer_fields[] = { "podSelector", "namespaceSelector", "ipBlock", NULL };
static const char *const ipblock_fields[] = { "cidr", "except", NULL };

/* ::ffff:0.0.0.0/96, the IPv4 space in the 128-bit address space. */
static const struct nf_cidr v4_space = {
	.addr = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, .plen = 96, .is_v4 = true,
};

static void parse_ipblock(struct pctx *c, json_t *ib, struct nf_peer *pe)
{
	char q1[QBUF_LEN], q2[QBUF_LEN];
	const char *cidr_s;
	bool cidr_ok = false, implicit;
	size_t i, n, old = c->len;
	json_t *ex;

	if (!nfp_expect_type(c, ib, JSON_OBJECT))
		return;
	nfp_check_fields(c, ib, ipblock_fields);
	cidr_s = nfp_string_field(c, ib, "cidr", true);
	if (cidr_s) {
		old = nfp_path_key(c, "cidr");
		cidr_ok = nf_parse_cidr(cidr_s, &pe->cidr) == 0;
		if (!cidr_ok)
			nfp_problem(c, "%s is not a valid CIDR", nfp_quote(cidr_s, q1, sizeof(q1)));
		nfp_path_pop(c, old);
	}
	ex = nfp_array_field(c, ib, "except", NF_POLICY_MAX_EXCEPTS, "except entries");
	n = ex ? json_array_size(ex) : 0;
	/*
	 * An IPv6 ipBlock never matches IPv4 packets in Kubernetes, but an IPv6
	 * prefix up to /96 covers the v4-mapped range here: exclude it explicitly.
	 */
	implicit = cidr_ok && nfp_cidr_covers_v4(&pe->cidr);
	pe->except = nfp_xcalloc(c, n + implicit, sizeof(*pe->except));
	if (!ex && !implicit)
		return;
	if (ex)
		old = nfp_path_key(c, "except");
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(ex, i);
		struct nf_cidr e;
		size_t o2 = nfp_path_index(c, i);
		const char *s;

		if (!nfp_expect_type(c, v, JSON_STRING))
			goto next;
		s = json_string_value(v);
		if (nf_parse_cidr(s, &e)) {
			nfp_problem(c, "%s is not a valid CIDR", nfp_quote(s, q1, sizeof(q1)));
			goto next;
		}
		if (!cidr_ok)
			goto next;
		if (e.is_v4 != pe->cidr.is_v4)
			nfp_problem(c, "%s must be the same address family as cidr %s",
				    nfp_quote(s, q1, sizeof(q1)),
				    nfp_quote(cidr_s, q2, sizeof(q2)));
		else if (!nf_cidr_contains(&pe->cidr, &e) || e.plen <= pe->cidr.plen)
			nfp_problem(c, "%s must be a strict subset of cidr %s",
				    nfp_quote(s, q1, sizeof(q1)),
				    nfp_quote(cidr_s, q2, sizeof(q2)));
		else if (pe->except)
			pe->except[pe->n_except++] = e;
next:
		nfp_path_pop(c, o2);
	}
	if (ex)
		nfp_path_pop(c, old);
	if (implicit && pe->except)
		nfp_add_v4_except(pe);
}

bool nfp_cidr_covers_v4(const struct nf_cidr *cidr)
{
	return !cidr->is_v4 && cidr->plen < 96 && nf_cidr_contains(cidr, &v4_space);
}

void nfp_add_v4_except(struct nf_peer *pe)
{
	pe->except[pe->n_except++] = v4_space;
}

void nfp_peer_set_tenants(struct pctx *c, struct nf_peer *pe, struct tset *set)
{
	size_t i;

	pe->negate = set->negate;
	if (set->n) {
		pe->names = nfp_xcalloc(c, set->n, sizeof(char *));
		for (i = 0; pe->names && i < set->n; i++) {
			pe->names[i] = nfp_xstrdup(c, set->names[i]);
			pe->n_names = i + 1;
		}
	}
	free(set->names);
	set->names = NULL;
	set->n = 0;
}

void nfp_parse_peer(struct pctx *c, json_t *obj, const char *tenant, struct nf_peer *pe)
{
	struct nf_selector *pod_sel = NULL;
	json_t *ps, *ns, *ib;
	struct tset set = {};
	size_t old;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, peer_fields);
	ps = nfp_field(obj, "podSelector");
	ns = nfp_field(obj, "namespaceSelector");
	ib = nfp_field(obj, "ipBlock");
	if (!ps && !ns && !ib) {
		nfp_problem(c, "must specify at least one of podSelector, namespaceSelector or "
			    "ipBlock");
		return;
	}
	if (ib && (ps || ns))
		nfp_problem(c, "ipBlock may not be combined with podSelector or namespaceSelector");
	if (ps) {
		old = nfp_path_key(c, "podSelector");
		nfp_parse_selector(c, ps, SEL_POD, &pod_sel, NULL, NULL);
		nfp_path_pop(c, old);
	}
	if (ib) {
		nfp_selector_free(pod_sel);
		pe->kind = NF_PK_IPBLOCK;
		old = nfp_path_key(c, "ipBlock");
		parse_ipblock(c, ib, pe);
		nfp_path_pop(c, old);
		return;
	}
	/* podSelector {} (or none, with a namespaceSelector): whole tenants */
	if (pod_sel && pod_sel->n_reqs) {
		pe->kind = NF_PK_PODS;
		pe->pod_sel = pod_sel;
	} else {
		pe->kind = NF_PK_TENANTS;
		nfp_selector_free(pod_sel);
	}
	if (ns) {
		old = nfp_path_key(c, "namespaceSelector");
		nfp_parse_selector(c, ns, SEL_NAMESPACE, &pe->ns_sel, &set, &pe->ns_labels);
		nfp_path_pop(c, old);
	} else {
		/* podSelector alone: in the policy's own tenant. */
		set.negate = false;
		set.names = tenant ? malloc(sizeof(*set.names)) : NULL;
		if (set.names) {
			set.names[0] = tenant;
			set.n = 1;
		} else if (tenant) {
			c->oom = true;
		}
	}
	nfp_peer_set_tenants(c, pe, &set);
}
