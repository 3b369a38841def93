// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The docset: what policy__load_*() fill. Its object arrays, its problem
 * list (one line each, with a line reserved for "out of memory" so that a
 * failed allocation can never make a docset look valid) and the report of
 * objects defined twice. Knows no JSON and no kind's fields.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

/* The public struct plus capacities and the reserved out-of-memory line. */
struct docset_priv {
	struct nf_docset pub;
	size_t cap_policies, cap_tenants, cap_pods, cap_namespaces, cap_cluster, cap_nodes;
	size_t cap_problems;
	char *oom_line;
};

static struct docset_priv *ds_priv(struct nf_docset *ds)
{
	return (struct docset_priv *)((char *)ds - offsetof(struct docset_priv, pub));
}

struct nf_docset *policy__docset_new(void)
{
	struct docset_priv *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->oom_line = strdup("netfence: out of memory while loading policies");
	d->pub.problems = calloc(1, sizeof(char *));
	if (!d->oom_line || !d->pub.problems) {
		free(d->oom_line);
		free(d->pub.problems);
		free(d);
		return NULL;
	}
	d->cap_problems = 1;
	return &d->pub;
}

void policy__docset_free(struct nf_docset *ds)
{
	struct docset_priv *d;
	size_t i;

	if (!ds)
		return;
	d = ds_priv(ds);
	for (i = 0; i < ds->n_policies; i++)
		policy__free(ds->policies[i]);
	for (i = 0; i < ds->n_tenants; i++)
		tenant_obj__free(ds->tenants[i]);
	for (i = 0; i < ds->n_pods; i++)
		pod_obj__free(ds->pods[i]);
	for (i = 0; i < ds->n_namespaces; i++)
		namespace_obj__free(ds->namespaces[i]);
	for (i = 0; i < ds->n_cluster; i++)
		policy__free(ds->cluster[i]);
	for (i = 0; i < ds->n_nodes; i++)
		node_obj__free(ds->nodes[i]);
	for (i = 0; i < ds->n_problems; i++)
		free(ds->problems[i]);
	free(ds->policies);
	free(ds->tenants);
	free(ds->pods);
	free(ds->namespaces);
	free(ds->cluster);
	free(ds->nodes);
	free(ds->problems);
	free(d->oom_line);
	free(d);
}

int nfp_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

/*
 * Append a problem line (takes ownership; NULL means the line could not be
 * allocated). One slot past the end is always allocated, so the out-of-memory
 * line always finds room.
 */
void nfp_ds_add_problem(struct nf_docset *ds, char *line)
{
	struct docset_priv *d = ds_priv(ds);

	if (line && nfp_grow((void **)&ds->problems, &d->cap_problems, ds->n_problems + 2,
			     sizeof(char *)) == 0) {
		ds->problems[ds->n_problems++] = line;
		return;
	}
	free(line);
	if (d->oom_line) {
		ds->problems[ds->n_problems++] = d->oom_line;
		d->oom_line = NULL;
	}
}

__attribute__((format(printf, 2, 3)))
void nfp_ds_problemf(struct nf_docset *ds, const char *fmt, ...)
{
	char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	nfp_ds_add_problem(ds, line);
}

int nfp_ds_add_policy(struct nf_docset *ds, struct nf_policy *p)
{
	struct docset_priv *d = ds_priv(ds);

	if (nfp_grow((void **)&ds->policies, &d->cap_policies, ds->n_policies + 1, sizeof(p)))
		return -ENOMEM;
	ds->policies[ds->n_policies++] = p;
	return 0;
}

int nfp_ds_add_tenant(struct nf_docset *ds, struct nf_tenant_obj *t)
{
	struct docset_priv *d = ds_priv(ds);

	if (nfp_grow((void **)&ds->tenants, &d->cap_tenants, ds->n_tenants + 1, sizeof(t)))
		return -ENOMEM;
	ds->tenants[ds->n_tenants++] = t;
	return 0;
}

int nfp_ds_add_pod(struct nf_docset *ds, struct nf_pod_obj *p)
{
	struct docset_priv *d = ds_priv(ds);

	if (nfp_grow((void **)&ds->pods, &d->cap_pods, ds->n_pods + 1, sizeof(p)))
		return -ENOMEM;
	ds->pods[ds->n_pods++] = p;
	return 0;
}

int nfp_ds_add_namespace(struct nf_docset *ds, struct nf_namespace_obj *n)
{
	struct docset_priv *d = ds_priv(ds);

	if (nfp_grow((void **)&ds->namespaces, &d->cap_namespaces, ds->n_namespaces + 1,
		     sizeof(n)))
		return -ENOMEM;
	ds->namespaces[ds->n_namespaces++] = n;
	return 0;
}

int nfp_ds_add_cluster(struct nf_docset *ds, struct nf_policy *p)
{
	struct docset_priv *d = ds_priv(ds);

	if (nfp_grow((void **)&ds->cluster, &d->cap_cluster, ds->n_cluster + 1, sizeof(p)))
		return -ENOMEM;
	ds->cluster[ds->n_cluster++] = p;
	return 0;
}

int nfp_ds_add_node(struct nf_docset *ds, struct nf_node_obj *n)
{
	struct docset_priv *d = ds_priv(ds);

	if (nfp_grow((void **)&ds->nodes, &d->cap_nodes, ds->n_nodes + 1, sizeof(n)))
		return -ENOMEM;
	ds->nodes[ds->n_nodes++] = n;
	return 0;
}

int nfp_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* By key, then by position: the first of equal keys is the one not reported. */
static int cmp_dup(const void *x, const void *y)
{
	const struct nfp_dup_key *p = x, *q = y;
	int r = strcmp(p->ns ? p->ns : "", q->ns ? q->ns : "");

	if (!r)
		r = strcmp(p->name, q->name);
	if (!r)
		r = p->idx < q->idx ? -1 : p->idx > q->idx;
	return r;
}

static bool same_key(const struct nfp_dup_key *a, const struct nfp_dup_key *b)
{
	return !strcmp(a->ns ? a->ns : "", b->ns ? b->ns : "") && !strcmp(a->name, b->name);
}

void nfp_report_duplicates(struct nf_docset *ds, struct nfp_dup_key *e, size_t n,
			   const char *kind)
{
	size_t i, first = 0;

	if (n < 2)
		return;
	qsort(e, n, sizeof(*e), cmp_dup);
	for (i = 1; i < n; i++) {
		if (!same_key(&e[i], &e[first])) {
			first = i;
			continue;
		}
		if (e[i].ns)
			nfp_ds_problemf(ds, "%s: metadata.name: %s \"%s/%s\" is defined twice "
					"(also in %s)", e[i].file, kind, e[i].ns, e[i].name,
					e[first].file);
		else
			nfp_ds_problemf(ds, "%s: metadata.name: %s \"%s\" is defined twice (also "
					"in %s)", e[i].file, kind, e[i].name, e[first].file);
	}
}
