// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kind Tenant (netfence.io/v1alpha1, cluster-scoped): a tenant's name (a
 * DNS-1123 label, the namespace its policies name) and spec.cidrs, the
 * addresses that belong to it (SPEC §4).
 */
#include <stdlib.h>
#include "policy_internal.h"

static const char *const tenant_fields[] = { "apiVersion", "kind", "metadata", "spec", "status",
					     NULL };
static const char *const tenant_spec_fields[] = { "cidrs", NULL };

static void parse_tenant(struct pctx *c, json_t *obj, size_t before)
{
	size_t i, n, old;
	struct nf_tenant_obj *t;
	const char *name, *ns;
	char q[QBUF_LEN];
	json_t *spec, *cidrs = NULL;

	nfp_check_fields(c, obj, tenant_fields);
	t = nfp_xcalloc(c, 1, sizeof(*t));
	if (!t)
		return;
	nfp_parse_metadata(c, obj, false, &name, &ns);
	spec = nfp_field(obj, "spec");
	if (spec) {
		old = nfp_path_key(c, "spec");
		if (nfp_expect_type(c, spec, JSON_OBJECT)) {
			nfp_check_fields(c, spec, tenant_spec_fields);
			cidrs = nfp_array_field(c, spec, "cidrs", 0, NULL);
		}
		if (cidrs) {
			n = json_array_size(cidrs);
			t->cidrs = nfp_xcalloc(c, n, sizeof(*t->cidrs));
			nfp_path_key(c, "cidrs");
			for (i = 0; i < n; i++) {
				json_t *v = json_array_get(cidrs, i);
				size_t o2 = nfp_path_index(c, i);
				struct nf_cidr cd;

				if (!nfp_expect_type(c, v, JSON_STRING))
					;
				else if (nf_parse_cidr(json_string_value(v), &cd))
					nfp_problem(c, "%s is not a valid CIDR",
						    nfp_quote(json_string_value(v), q, sizeof(q)));
				else if (t->cidrs)
					t->cidrs[t->n_cidrs++] = cd;
				nfp_path_pop(c, o2);
			}
		}
		nfp_path_pop(c, old);
	}
	if (c->ds->n_problems != before || c->oom || !name) {
		tenant_obj__free(t);
		return;
	}
	t->name = nfp_xstrdup(c, name);
	t->file = nfp_xstrdup(c, c->file);
	t->json = nfp_dump_object(c, obj, nf_kind_tenant.api_version, nf_kind_tenant.name);
	if (c->oom || nfp_ds_add_tenant(c->ds, t)) {
		c->oom = true;
		tenant_obj__free(t);
	}
}

static void check_duplicates(struct nf_docset *ds)
{
	struct nfp_dup_key *e;
	size_t i;

	if (ds->n_tenants < 2)
		return;
	e = calloc(ds->n_tenants, sizeof(*e));
	if (!e) {
		nfp_ds_add_problem(ds, NULL);
		return;
	}
	for (i = 0; i < ds->n_tenants; i++)
		e[i] = (struct nfp_dup_key){ NULL, ds->tenants[i]->name, ds->tenants[i]->file, i };
	nfp_report_duplicates(ds, e, ds->n_tenants, "Tenant");
	free(e);
}

const struct nf_kind nf_kind_tenant = {
	.name = "Tenant",
	.api_version = "netfence.io/v1alpha1",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST,
	.parse = parse_tenant,
	.check_duplicates = check_duplicates,
};
