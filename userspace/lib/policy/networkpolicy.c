// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kind NetworkPolicy (networking.k8s.io/v1), validated as the API server
 * does (pkg/apis/networking/validation ValidateNetworkPolicy) plus
 * netfence's limits: spec.podSelector, the endpoints the policy applies to
 * (p->subject, SPEC §11), policyTypes defaulted as SetDefaults_NetworkPolicySpec does,
 * ingress/egress rules made of peers (peer.c) and ports (port.c). The
 * object parser is shared with MultiNetworkPolicy (multinetworkpolicy.c),
 * whose spec is the same.
 */
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

static const char *const dir_names[NF_DIR_MAX] = { "Ingress", "Egress" };
static const char *const dir_keys[NF_DIR_MAX] = { "ingress", "egress" };
static const char *const peer_keys[NF_DIR_MAX] = { "from", "to" };

static const char *const netpol_fields[] = { "apiVersion", "kind", "metadata", "spec", "status",
					      NULL };
static const char *const spec_fields[] = { "podSelector", "policyTypes", "ingress", "egress",
					   NULL };
static const char *const ingress_fields[] = { "from", "ports", NULL };
static const char *const egress_fields[] = { "to", "ports", NULL };

static void parse_rule(struct pctx *c, json_t *obj, int dir, const char *tenant, struct nf_rule *r)
{
	json_t *peers, *ports;
	size_t i, old;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, dir == NF_DIR_INGRESS ? ingress_fields : egress_fields);
	peers = nfp_array_field(c, obj, peer_keys[dir], NF_POLICY_MAX_PEERS, "peers");
	if (peers && json_array_size(peers)) {
		r->peers = nfp_xcalloc(c, json_array_size(peers), sizeof(*r->peers));
		old = nfp_path_key(c, peer_keys[dir]);
		for (i = 0; r->peers && i < json_array_size(peers); i++) {
			size_t o2 = nfp_path_index(c, i);

			r->n_peers = i + 1;
			nfp_parse_peer(c, json_array_get(peers, i), tenant, &r->peers[i]);
			nfp_path_pop(c, o2);
		}
		nfp_path_pop(c, old);
	}
	ports = nfp_array_field(c, obj, "ports", NF_POLICY_MAX_PORTS, "ports");
	if (ports && json_array_size(ports)) {
		r->ports = nfp_xcalloc(c, json_array_size(ports), sizeof(*r->ports));
		old = nfp_path_key(c, "ports");
		for (i = 0; r->ports && i < json_array_size(ports); i++) {
			size_t o2 = nfp_path_index(c, i);

			r->n_ports = i + 1;
			nfp_parse_port(c, json_array_get(ports, i), &r->ports[i]);
			nfp_path_pop(c, o2);
		}
		nfp_path_pop(c, old);
	}
}

static void parse_policy_types(struct pctx *c, json_t *pt, bool types[NF_DIR_MAX])
{
	char q[QBUF_LEN];
	size_t i, old;
	int d;

	old = nfp_path_key(c, "policyTypes");
	if (!nfp_expect_type(c, pt, JSON_ARRAY))
		goto out;
	if (json_array_size(pt) > 2)
		nfp_problem(c, "may not contain more than 2 values, got %zu", json_array_size(pt));
	for (i = 0; i < json_array_size(pt); i++) {
		json_t *v = json_array_get(pt, i);
		size_t o2 = nfp_path_index(c, i);
		const char *s;

		if (!nfp_expect_type(c, v, JSON_STRING))
			goto next;
		s = json_string_value(v);
		for (d = 0; d < NF_DIR_MAX; d++)
			if (!strcmp(s, dir_names[d]))
				break;
		if (d == NF_DIR_MAX)
			nfp_problem(c, "%s is not supported (must be Ingress or Egress)",
				    nfp_quote(s, q, sizeof(q)));
		else if (types[d])
			nfp_problem(c, "duplicate value %s", nfp_quote(s, q, sizeof(q)));
		else
			types[d] = true;
next:
		nfp_path_pop(c, o2);
	}
out:
	nfp_path_pop(c, old);
}

static void parse_spec(struct pctx *c, json_t *spec, struct nf_policy *p)
{
	json_t *ps, *pt, *rules[NF_DIR_MAX];
	bool types[NF_DIR_MAX] = {};
	size_t i, old;
	int d;

	if (!nfp_expect_type(c, spec, JSON_OBJECT))
		return;
	nfp_check_fields(c, spec, spec_fields);
	ps = nfp_field(spec, "podSelector");
	old = nfp_path_key(c, "podSelector");
	if (!ps) {
		nfp_problem(c, "is required");
	} else {
		nfp_parse_selector(c, ps, SEL_POD, &p->subject, NULL, NULL);
		/* {} selects every endpoint of the tenant: no subject selector */
		if (p->subject && !p->subject->n_reqs) {
			nfp_selector_free(p->subject);
			p->subject = NULL;
		}
	}
	nfp_path_pop(c, old);

	pt = nfp_field(spec, "policyTypes");
	if (pt)
		parse_policy_types(c, pt, types);
	for (d = 0; d < NF_DIR_MAX; d++) {
		rules[d] = nfp_array_field(c, spec, dir_keys[d], NF_POLICY_MAX_RULES, "rules");
		if (!rules[d] || !json_array_size(rules[d]))
			continue;
		p->rules[d] = nfp_xcalloc(c, json_array_size(rules[d]), sizeof(struct nf_rule));
		old = nfp_path_key(c, dir_keys[d]);
		for (i = 0; p->rules[d] && i < json_array_size(rules[d]); i++) {
			size_t o2 = nfp_path_index(c, i);

			p->n_rules[d] = i + 1;
			parse_rule(c, json_array_get(rules[d], i), d, p->tenant, &p->rules[d][i]);
			nfp_path_pop(c, o2);
		}
		nfp_path_pop(c, old);
	}

	/* Defaulting as the API server does (SetDefaults_NetworkPolicySpec). */
	if (!types[NF_DIR_INGRESS] && !types[NF_DIR_EGRESS]) {
		types[NF_DIR_INGRESS] = true;
		types[NF_DIR_EGRESS] = rules[NF_DIR_EGRESS] &&
				       json_array_size(rules[NF_DIR_EGRESS]);
	}
	for (d = 0; d < NF_DIR_MAX; d++) {
		p->has_dir[d] = types[d];
		/* Rules of a direction the policy does not apply to are inert. */
		if (!types[d]) {
			for (i = 0; i < p->n_rules[d]; i++)
				nfp_rule_clear(&p->rules[d][i]);
			free(p->rules[d]);
			p->rules[d] = NULL;
			p->n_rules[d] = 0;
		}
	}
}

/*
 * A NetworkPolicy-shaped object (NetworkPolicy, MultiNetworkPolicy): kind
 * says which (for the stored JSON); networks, when not NULL, parses what the
 * kind adds to metadata (MultiNetworkPolicy's policy-for annotation) into p.
 * before: the problem count when the object started (its kind/apiVersion
 * are checked).
 */
void nfp_parse_policy_object(struct pctx *c, json_t *obj, size_t before,
			     const struct nf_kind *kind,
			     void (*networks)(struct pctx *c, json_t *obj, struct nf_policy *p))
{
	const char *name, *ns;
	struct nf_policy *p;
	json_t *spec;
	size_t old;

	nfp_check_fields(c, obj, netpol_fields);
	p = nfp_xcalloc(c, 1, sizeof(*p));
	if (!p)
		return;
	nfp_parse_metadata(c, obj, true, &name, &ns);
	if (ns)
		p->tenant = nfp_xstrdup(c, ns);
	if (networks)
		networks(c, obj, p);
	spec = nfp_field(obj, "spec");
	old = nfp_path_key(c, "spec");
	if (!spec)
		nfp_problem(c, "is required");
	else
		parse_spec(c, spec, p);
	nfp_path_pop(c, old);

	if (c->ds->n_problems != before || c->oom || !name || !ns) {
		policy__free(p);
		return;
	}
	p->name = nfp_xstrdup(c, name);
	p->file = nfp_xstrdup(c, c->file);
	p->json = nfp_dump_object(c, obj, kind->api_version, kind->name);
	if (c->oom || nfp_ds_add_policy(c->ds, p)) {
		c->oom = true;
		policy__free(p);
	}
}

static void parse_netpol(struct pctx *c, json_t *obj, size_t before)
{
	nfp_parse_policy_object(c, obj, before, &nf_kind_networkpolicy, NULL);
}

void nfp_policy_duplicates(struct nf_docset *ds, bool multi, const char *kind)
{
	struct nfp_dup_key *e;
	size_t i, n = 0;

	if (ds->n_policies < 2)
		return;
	e = calloc(ds->n_policies, sizeof(*e));
	if (!e) {
		nfp_ds_add_problem(ds, NULL);
		return;
	}
	for (i = 0; i < ds->n_policies; i++)
		if ((ds->policies[i]->n_networks != 0) == multi)
			e[n++] = (struct nfp_dup_key){ ds->policies[i]->tenant,
						       ds->policies[i]->name,
						       ds->policies[i]->file, i };
	nfp_report_duplicates(ds, e, n, kind);
	free(e);
}

static void check_duplicates(struct nf_docset *ds)
{
	nfp_policy_duplicates(ds, false, "NetworkPolicy");
}

const struct nf_kind nf_kind_networkpolicy = {
	.name = "NetworkPolicy",
	.api_version = "networking.k8s.io/v1",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST | NF_DOC_NPLIST,
	.parse = parse_netpol,
	.check_duplicates = check_duplicates,
};
