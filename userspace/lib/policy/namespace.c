// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kind Namespace (v1, cluster-scoped, SPEC §11): a tenant's labels, for
 * namespaceSelectors on labels other than kubernetes.io/metadata.name. Read:
 * metadata.name (a DNS-1123 label: the tenant) and metadata.labels, which
 * always hold kubernetes.io/metadata.name = the name (Kubernetes sets it;
 * added when missing, another value is a problem). Every other field of a
 * real dump is ignored. The stored JSON holds only the name and the labels.
 */
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

static char *dump_namespace(struct pctx *c, const struct nf_namespace_obj *n)
{
	json_t *o = json_pack("{s:s, s:s, s:{s:s, s:{}}}", "apiVersion",
			      nf_kind_namespace.api_version, "kind", nf_kind_namespace.name,
			      "metadata", "name", n->name, "labels");
	json_t *labels = o ? json_object_get(json_object_get(o, "metadata"), "labels") : NULL;
	bool fail = !labels;
	char *s = NULL;
	size_t i;

	for (i = 0; !fail && i < n->labels.n; i++)
		fail = json_object_set_new(labels, n->labels.v[i].key,
					   json_string(n->labels.v[i].value)) != 0;
	if (!fail)
		s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		c->oom = true;
	return s;
}

static void parse_namespace(struct pctx *c, json_t *obj, size_t before)
{
	struct nf_namespace_obj *n;
	const char *name, *ns, *v;
	char q1[QBUF_LEN], q2[QBUF_LEN];
	json_t *md, *labels;
	size_t old;

	n = nfp_xcalloc(c, 1, sizeof(*n));
	if (!n)
		return;
	nfp_parse_metadata(c, obj, false, &name, &ns);
	md = nfp_field(obj, "metadata");
	labels = json_is_object(md) ? nfp_field(md, "labels") : NULL;
	if (labels) {
		old = nfp_path_key(c, "metadata");
		nfp_path_key(c, "labels");
		nfp_parse_labels(c, labels, &n->labels);
		v = nf_labels_get(&n->labels, NS_NAME_LABEL);
		if (v && name && strcmp(v, name)) {
			nfp_path_append(c, "[\"" NS_NAME_LABEL "\"]");
			nfp_problem(c, "%s must be the namespace's name %s",
				    nfp_quote(v, q1, sizeof(q1)), nfp_quote(name, q2, sizeof(q2)));
		}
		nfp_path_pop(c, old);
	}
	if (c->ds->n_problems != before || c->oom || !name) {
		namespace_obj__free(n);
		return;
	}
	if (!nf_labels_get(&n->labels, NS_NAME_LABEL) &&
	    nfp_labels_add(&n->labels, NS_NAME_LABEL, name))
		c->oom = true;
	n->name = nfp_xstrdup(c, name);
	n->file = nfp_xstrdup(c, c->file);
	if (!c->oom)
		n->json = dump_namespace(c, n);
	if (c->oom || nfp_ds_add_namespace(c->ds, n)) {
		c->oom = true;
		namespace_obj__free(n);
	}
}

static void check_duplicates(struct nf_docset *ds)
{
	struct nfp_dup_key *e;
	size_t i;

	if (ds->n_namespaces < 2)
		return;
	e = calloc(ds->n_namespaces, sizeof(*e));
	if (!e) {
		nfp_ds_add_problem(ds, NULL);
		return;
	}
	for (i = 0; i < ds->n_namespaces; i++)
		e[i] = (struct nfp_dup_key){ NULL, ds->namespaces[i]->name,
					     ds->namespaces[i]->file, i };
	nfp_report_duplicates(ds, e, ds->n_namespaces, "Namespace");
	free(e);
}

const struct nf_kind nf_kind_namespace = {
	.name = "Namespace",
	.api_version = "v1",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST | NF_DOC_NSLIST,
	.parse = parse_namespace,
	.check_duplicates = check_duplicates,
};
