// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Documents: a JSON text is one object whose "kind" picks its parser from
 * the kind table below (one file per kind). A kind is accepted only where
 * the table allows it (at the top, or as an item of a List or of a
 * NetworkPolicyList); anything else is a problem that lists the kinds the
 * place accepts. policy__check_duplicates() asks each kind in turn.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* In this order in messages ("expected NetworkPolicy, NetworkPolicyList, List, Tenant, ...
 * or NamespaceList"). */
static const struct nf_kind *const kinds[] = {
	&nf_kind_networkpolicy,
	&nf_kind_networkpolicylist,
	&nf_kind_list,
	&nf_kind_tenant,
	&nf_kind_multinetworkpolicy,
	&nf_kind_multinetworkpolicylist,
	&nf_kind_pod,
	&nf_kind_podlist,
	&nf_kind_namespace,
	&nf_kind_namespacelist,
	&nf_kind_clusternetworkpolicy,
	&nf_kind_clusternetworkpolicylist,
	&nf_kind_adminnetworkpolicy,
	&nf_kind_adminnetworkpolicylist,
	&nf_kind_baselineadminnetworkpolicy,
	&nf_kind_baselineadminnetworkpolicylist,
	&nf_kind_node,
	&nf_kind_nodelist,
};

/* The typed lists: where their items stand, their name in messages, their items' kind. */
static const struct {
	enum nf_doc_ctx where;
	const char *place;
	const struct nf_kind *item;
} typed_lists[] = {
	{ NF_DOC_NPLIST, " in a NetworkPolicyList", &nf_kind_networkpolicy },
	{ NF_DOC_MNPLIST, " in a MultiNetworkPolicyList", &nf_kind_multinetworkpolicy },
	{ NF_DOC_PODLIST, " in a PodList", &nf_kind_pod },
	{ NF_DOC_NSLIST, " in a NamespaceList", &nf_kind_namespace },
	{ NF_DOC_CNPLIST, " in a ClusterNetworkPolicyList", &nf_kind_clusternetworkpolicy },
	{ NF_DOC_ANPLIST, " in an AdminNetworkPolicyList", &nf_kind_adminnetworkpolicy },
	{ NF_DOC_BANPLIST, " in a BaselineAdminNetworkPolicyList",
	  &nf_kind_baselineadminnetworkpolicy },
	{ NF_DOC_NODELIST, " in a NodeList", &nf_kind_node },
};

/* The kind of a typed list's items, which may leave "kind" out; NULL: a List. */
static const struct nf_kind *item_kind(enum nf_doc_ctx where)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(typed_lists); i++)
		if (typed_lists[i].where == where)
			return typed_lists[i].item;
	return NULL;
}

/* "\"Pod\" is not supported in a List (expected NetworkPolicy or Tenant)" */
static void unsupported_kind(struct pctx *c, const char *kind, enum nf_doc_ctx where)
{
	const char *place = where == NF_DOC_LIST ? " in a List" : "";
	char q[QBUF_LEN], expected[512];
	size_t i, n = 0, k = 0, o = 0;
	size_t old;

	for (i = 0; i < ARRAY_SIZE(typed_lists); i++)
		if (typed_lists[i].where == where)
			place = typed_lists[i].place;
	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		n += (kinds[i]->allowed_in & where) != 0;
	expected[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (!(kinds[i]->allowed_in & where))
			continue;
		o += (size_t)snprintf(expected + o, sizeof(expected) - o, "%s%s",
				      !k ? "" : k == n - 1 ? " or " : ", ", kinds[i]->name);
		if (o >= sizeof(expected))
			o = sizeof(expected) - 1;
		k++;
	}
	old = nfp_path_key(c, "kind");
	nfp_problem(c, "%s is not supported%s (expected %s)", nfp_quote(kind, q, sizeof(q)), place,
		    expected);
	nfp_path_pop(c, old);
}

void nfp_parse_object(struct pctx *c, json_t *obj, enum nf_doc_ctx where)
{
	size_t before = c->ds->n_problems;
	const char *kind;
	size_t i;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	/* The API server's list responses leave kind/apiVersion out of the items. */
	kind = nfp_string_field(c, obj, "kind", !item_kind(where));
	if (!kind) {
		if (!item_kind(where) || nfp_field(obj, "kind"))
			return;
		kind = item_kind(where)->name;
	}
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (!(kinds[i]->allowed_in & where) || strcmp(kind, kinds[i]->name))
			continue;
		nfp_check_api_version(c, obj, kinds[i]->api_version, kind, !item_kind(where));
		kinds[i]->parse(c, obj, before);
		return;
	}
	unsupported_kind(c, kind, where);
}

int policy__load_json(struct nf_docset *ds, const char *file, const char *text, size_t len)
{
	struct pctx c = { .ds = ds, .file = file };
	json_error_t err;
	json_t *root;
	size_t i;

	/* Editors on some systems start files with a UTF-8 byte order mark. */
	if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
		text += 3;
		len -= 3;
	}
	root = nfp_json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!root) {
		/* Keep the line one line, whatever jansson quotes back. */
		for (i = 0; err.text[i]; i++)
			if ((unsigned char)err.text[i] < 0x20)
				err.text[i] = ' ';
		nfp_ds_problemf(ds, "%s: line %d, column %d: invalid JSON: %s", file, err.line,
				err.column, err.text);
		return 0;
	}
	nfp_parse_object(&c, root, NF_DOC_TOP);
	json_decref(root);
	free(c.path);
	if (c.oom) {
		nfp_ds_add_problem(ds, NULL);
		return -ENOMEM;
	}
	return 0;
}

void policy__check_duplicates(struct nf_docset *ds)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->check_duplicates)
			kinds[i]->check_duplicates(ds);
}
