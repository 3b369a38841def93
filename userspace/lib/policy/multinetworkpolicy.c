// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kind MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1, SPEC §12): the spec of
 * a NetworkPolicy (networkpolicy.c validates it), for the networks that its
 * annotation k8s.v1.cni.cncf.io/policy-for names: a comma-separated list of
 * NAME or NAMESPACE/NAME (spaces around an entry are ignored, as
 * multi-networkpolicy-iptables does); a bare NAME is in the policy's
 * namespace. The annotation is required: a MultiNetworkPolicy without it
 * would apply to no network at all, which is never what was meant.
 */
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

#define POLICY_FOR	"k8s.v1.cni.cncf.io/policy-for"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One entry (n bytes at s, trimmed) as a network key into p->networks. */
static void add_network(struct pctx *c, const char *s, size_t n, size_t pos, struct nf_policy *p)
{
	char name[NF_NETWORK_KEY_LEN + 1], key[NF_NETWORK_KEY_LEN], q[QBUF_LEN];

	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n) {
		nfp_problem(c, "network %zu of the list is empty (expected NAME or NAMESPACE/NAME, "
			    "comma-separated)", pos + 1);
		return;
	}
	if (n >= sizeof(name))
		n = sizeof(name) - 1;	/* too long for a network name: reported below */
	memcpy(name, s, n);
	name[n] = '\0';
	if (!p->tenant || nf_network_key(p->tenant, name, key, sizeof(key))) {
		if (p->tenant)
			nfp_problem(c, "%s is not a network name (expected NAME or "
				    "NAMESPACE/NAME: NAME of letters, digits, '_', '.' and '-', at "
				    "most %d, starting with a letter or digit; NAMESPACE a "
				    "DNS-1123 label)",
				    nfp_quote(name, q, sizeof(q)), NF_NETWORK_NAME_MAX);
		return;
	}
	p->networks[p->n_networks] = nfp_xstrdup(c, key);
	if (p->networks[p->n_networks])
		p->n_networks++;
}

/* metadata.annotations["k8s.v1.cni.cncf.io/policy-for"] -> p->networks. */
static void parse_policy_for(struct pctx *c, json_t *obj, struct nf_policy *p)
{
	json_t *md = nfp_field(obj, "metadata"), *ann, *v;
	size_t old, o2, i, w, n_max = 1, pos = 0;
	const char *s, *start;

	if (!md || !json_is_object(md))
		return;	/* nfp_parse_metadata reported it */
	old = nfp_path_key(c, "metadata");
	ann = nfp_field(md, "annotations");
	o2 = nfp_path_key(c, "annotations");
	if (ann && !nfp_expect_type(c, ann, JSON_OBJECT))
		goto out;
	nfp_path_append(c, "[\"" POLICY_FOR "\"]");
	v = ann ? nfp_field(ann, POLICY_FOR) : NULL;
	if (!v) {
		nfp_problem(c, "is required (it names the networks the MultiNetworkPolicy is for)");
		goto out;
	}
	if (!nfp_expect_type(c, v, JSON_STRING))
		goto out;
	s = json_string_value(v);
	for (i = 0; s[i]; i++)
		n_max += s[i] == ',';
	p->networks = nfp_xcalloc(c, n_max, sizeof(char *));
	if (!p->networks)
		goto out;
	for (start = s;; pos++) {
		const char *end = strchr(start, ',');
		size_t n = end ? (size_t)(end - start) : strlen(start);

		add_network(c, start, n, pos, p);
		if (!end)
			break;
		start = end + 1;
	}
	/* sorted and unique: "a, tenant/a" name one network */
	qsort(p->networks, p->n_networks, sizeof(char *), cmp_str);
	for (i = 1, w = p->n_networks ? 1 : 0; i < p->n_networks; i++) {
		if (strcmp(p->networks[i], p->networks[w - 1]))
			p->networks[w++] = p->networks[i];
		else
			free(p->networks[i]);
	}
	p->n_networks = w;
out:
	nfp_path_pop(c, o2);
	nfp_path_pop(c, old);
}

static void parse_mnp(struct pctx *c, json_t *obj, size_t before)
{
	nfp_parse_policy_object(c, obj, before, &nf_kind_multinetworkpolicy, parse_policy_for);
}

static void check_duplicates(struct nf_docset *ds)
{
	nfp_policy_duplicates(ds, true, "MultiNetworkPolicy");
}

const struct nf_kind nf_kind_multinetworkpolicy = {
	.name = "MultiNetworkPolicy",
	.api_version = "k8s.cni.cncf.io/v1beta1",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST | NF_DOC_MNPLIST,
	.parse = parse_mnp,
	.check_duplicates = check_duplicates,
};
