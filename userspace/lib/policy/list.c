// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The list kinds: NetworkPolicyList (networking.k8s.io/v1, what
 * `kubectl get networkpolicy -o json` prints; its items are NetworkPolicies
 * and may leave out kind and apiVersion), MultiNetworkPolicyList
 * (k8s.cni.cncf.io/v1beta1, the same for MultiNetworkPolicies), PodList and
 * NamespaceList (v1, the API server's answer to a list of pods or
 * namespaces), ClusterNetworkPolicyList (policy.networking.k8s.io/v1alpha2),
 * AdminNetworkPolicyList and BaselineAdminNetworkPolicyList (v1alpha1),
 * NodeList (v1) and List (v1, items of any kind allowed in a List: what
 * `kubectl get pods,ns,netpol -A -o json` prints). Each item is dispatched by kind
 * (document.c) with the JSON path items[i]; lists do not nest.
 */
#include "policy_internal.h"

static const char *const list_fields[] = { "apiVersion", "kind", "metadata", "items", NULL };

static void parse_items(struct pctx *c, json_t *obj, enum nf_doc_ctx where)
{
	json_t *items;
	size_t i, old;

	nfp_check_fields(c, obj, list_fields);
	items = nfp_field(obj, "items");
	old = nfp_path_key(c, "items");
	if (!items)
		nfp_problem(c, "is required");
	else if (nfp_expect_type(c, items, JSON_ARRAY))
		for (i = 0; i < json_array_size(items); i++) {
			size_t o2 = nfp_path_index(c, i);

			nfp_parse_object(c, json_array_get(items, i), where);
			nfp_path_pop(c, o2);
		}
	nfp_path_pop(c, old);
}

/* A list is not an object of the docset: its problems are its items' (before is unused). */
static void parse_networkpolicylist(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_NPLIST);
}

static void parse_multinetworkpolicylist(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_MNPLIST);
}

static void parse_podlist(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_PODLIST);
}

static void parse_namespacelist(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_NSLIST);
}

static void parse_cnplist(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_CNPLIST);
}

static void parse_anplist(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_ANPLIST);
}

static void parse_banplist(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_BANPLIST);
}

static void parse_nodelist(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_NODELIST);
}

static void parse_list(struct pctx *c, json_t *obj, size_t before)
{
	parse_items(c, obj, NF_DOC_LIST);
}

const struct nf_kind nf_kind_networkpolicylist = {
	.name = "NetworkPolicyList",
	.api_version = "networking.k8s.io/v1",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_networkpolicylist,
};

const struct nf_kind nf_kind_list = {
	.name = "List",
	.api_version = "v1",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_list,
};

const struct nf_kind nf_kind_multinetworkpolicylist = {
	.name = "MultiNetworkPolicyList",
	.api_version = "k8s.cni.cncf.io/v1beta1",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_multinetworkpolicylist,
};

const struct nf_kind nf_kind_podlist = {
	.name = "PodList",
	.api_version = "v1",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_podlist,
};

const struct nf_kind nf_kind_namespacelist = {
	.name = "NamespaceList",
	.api_version = "v1",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_namespacelist,
};

const struct nf_kind nf_kind_clusternetworkpolicylist = {
	.name = "ClusterNetworkPolicyList",
	.api_version = "policy.networking.k8s.io/v1alpha2",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_cnplist,
};

const struct nf_kind nf_kind_adminnetworkpolicylist = {
	.name = "AdminNetworkPolicyList",
	.api_version = "policy.networking.k8s.io/v1alpha1",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_anplist,
};

const struct nf_kind nf_kind_baselineadminnetworkpolicylist = {
	.name = "BaselineAdminNetworkPolicyList",
	.api_version = "policy.networking.k8s.io/v1alpha1",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_banplist,
};

const struct nf_kind nf_kind_nodelist = {
	.name = "NodeList",
	.api_version = "v1",
	.allowed_in = NF_DOC_TOP,
	.parse = parse_nodelist,
};
