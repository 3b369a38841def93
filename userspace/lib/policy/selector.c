// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Labels and label selectors (SPEC §11). A LabelSelector is validated as
 * metav1validation.ValidateLabelSelector does and parsed into a struct
 * nf_selector (matchLabels as In requirements). A namespaceSelector that
 * names only kubernetes.io/metadata.name is also evaluated into the set of
 * tenants it selects (every namespace has that label, with its name as the
 * value, so the set is exact without Namespace documents); one that names
 * any other label is marked ns_labels for the compiler to resolve against
 * Namespace documents. Also: metadata.labels of Pods and Namespaces, and
 * nf_selector_matches() (labels.Selector.Matches).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

/* ---------------------------------------------------------------------------
 * Tenant sets (struct tset): (negate, sorted unique names). Names point into
 * the JSON tree while they are computed.
 */

/* Sort and dedupe in place. */
static void names_normalize(const char **v, size_t *n)
{
	size_t i, o = 0;

	if (*n < 2)
		return;
	qsort(v, *n, sizeof(*v), nfp_cmp_str);
	for (i = 0; i < *n; i++)
		if (!o || strcmp(v[o - 1], v[i]))
			v[o++] = v[i];
	*n = o;
}

enum set_op { SET_AND, SET_MINUS, SET_OR };

/* Merge two sorted unique name lists. */
static int names_merge(const char **a, size_t na, const char **b, size_t nb, enum set_op op,
		       const char ***out, size_t *nout)
{
	const char **r = NULL;
	size_t i = 0, j = 0, o = 0;

	if (na + nb) {
		r = malloc((na + nb) * sizeof(*r));
		if (!r)
			return -ENOMEM;
	}
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i], b[j]);

		if (c == 0) {
			if (op != SET_MINUS)
				r[o++] = a[i];
			i++;
			j++;
		} else if (c < 0) {
			if (op != SET_AND)
				r[o++] = a[i];
			i++;
		} else {
			if (op == SET_OR)
				r[o++] = b[j];
			j++;
		}
	}
	*out = r;
	*nout = o;
	return 0;
}

/* *acc = *acc AND *b (b is consumed). */
static void tset_and(struct pctx *c, struct tset *acc, struct tset *b)
{
	const char **r = NULL;
	size_t n = 0;
	int err;

	if (!acc->negate && !b->negate)
		err = names_merge(acc->names, acc->n, b->names, b->n, SET_AND, &r, &n);
	else if (!acc->negate)
		err = names_merge(acc->names, acc->n, b->names, b->n, SET_MINUS, &r, &n);
	else if (!b->negate)
		err = names_merge(b->names, b->n, acc->names, acc->n, SET_MINUS, &r, &n);
	else
		err = names_merge(acc->names, acc->n, b->names, b->n, SET_OR, &r, &n);
	if (err)
		c->oom = true;
	free(acc->names);
	free(b->names);
	b->names = NULL;
	acc->negate = acc->negate && b->negate;
	acc->names = r;
	acc->n = n;
}

/* ---------------------------------------------------------------------------
 * Labels (metadata.labels): struct nf_labels, sorted by key.
 */

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct nf_label *)a)->key, ((const struct nf_label *)b)->key);
}

const char *nf_labels_get(const struct nf_labels *l, const char *key)
{
	struct nf_label k = { .key = (char *)key }, *f;

	if (!l || !l->n)
		return NULL;
	f = bsearch(&k, l->v, l->n, sizeof(*l->v), cmp_label);
	return f ? f->value : NULL;
}

void nf_labels_clear(struct nf_labels *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int nf_labels_copy(struct nf_labels *dst, const struct nf_labels *src)
{
	size_t i;

	dst->v = NULL;
	dst->n = 0;
	if (!src->n)
		return 0;
	dst->v = calloc(src->n, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	for (i = 0; i < src->n; i++) {
		dst->v[i].key = strdup(src->v[i].key);
		dst->v[i].value = strdup(src->v[i].value);
		dst->n = i + 1;
		if (!dst->v[i].key || !dst->v[i].value)
			return -ENOMEM;
	}
	return 0;
}

int nfp_labels_add(struct nf_labels *l, const char *key, const char *value)
{
	struct nf_label *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n].key = strdup(key);
	v[l->n].value = strdup(value);
	if (!v[l->n].key || !v[l->n].value) {
		free(v[l->n].key);
		free(v[l->n].value);
		return -ENOMEM;
	}
	l->n++;
	qsort(l->v, l->n, sizeof(*l->v), cmp_label);
	return 0;
}

static void invalid_key(struct pctx *c, const char *key)
{
	char q[QBUF_LEN];

	nfp_problem(c, "%s " NFP_LABEL_KEY_MSG, nfp_quote(key, q, sizeof(q)));
}

static void invalid_value(struct pctx *c, const char *v)
{
	char q[QBUF_LEN];

	nfp_problem(c, "%s " NFP_LABEL_VALUE_MSG, nfp_quote(v, q, sizeof(q)));
}

/* Path step ["key"] (a label key, quoted as in messages). */
static size_t path_label(struct pctx *c, const char *key)
{
	char q[QBUF_LEN], *seg;
	size_t old = c->len;

	nfp_quote(key, q, sizeof(q));
	if (asprintf(&seg, "[%s]", q) < 0) {
		c->oom = true;
		return old;
	}
	nfp_path_append(c, seg);
	free(seg);
	return old;
}

void nfp_parse_labels(struct pctx *c, json_t *obj, struct nf_labels *out)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	out->v = NULL;
	out->n = 0;
	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	out->v = nfp_xcalloc(c, json_object_size(obj), sizeof(*out->v));
	json_object_foreach(obj, key, v) {
		size_t old;

		if (!nf_is_label_key(key))
			invalid_key(c, key);
		old = path_label(c, key);
		if (nfp_expect_type(c, v, JSON_STRING) && !nf_is_label_value(json_string_value(v)))
			invalid_value(c, json_string_value(v));
		else if (json_is_string(v) && out->v) {
			out->v[n].key = nfp_xstrdup(c, key);
			out->v[n].value = nfp_xstrdup(c, json_string_value(v));
			n++;
			out->n = n;
		}
		nfp_path_pop(c, old);
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_label);
}

/* ---------------------------------------------------------------------------
 * Selectors: struct nf_selector.
 */

static void req_clear(struct nf_sel_req *r)
{
	size_t i;

	free(r->key);
	for (i = 0; i < r->n_values; i++)
		free(r->values[i]);
	free(r->values);
}

void nfp_selector_free(struct nf_selector *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n_reqs; i++)
		req_clear(&s->reqs[i]);
	free(s->reqs);
	free(s);
}

struct nf_selector *nfp_selector_dup(const struct nf_selector *s, bool *fail)
{
	struct nf_selector *d;
	size_t i, j;

	if (!s)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		goto oom;
	if (s->n_reqs) {
		d->reqs = calloc(s->n_reqs, sizeof(*d->reqs));
		if (!d->reqs)
			goto oom;
	}
	for (i = 0; i < s->n_reqs; i++) {
		const struct nf_sel_req *sr = &s->reqs[i];
		struct nf_sel_req *dr = &d->reqs[i];

		d->n_reqs = i + 1;
		dr->op = sr->op;
		dr->key = strdup(sr->key);
		if (!dr->key)
			goto oom;
		if (!sr->n_values)
			continue;
		dr->values = calloc(sr->n_values, sizeof(char *));
		if (!dr->values)
			goto oom;
		for (j = 0; j < sr->n_values; j++) {
			dr->values[j] = strdup(sr->values[j]);
			dr->n_values = j + 1;
			if (!dr->values[j])
				goto oom;
		}
	}
	return d;
oom:
	nfp_selector_free(d);
	*fail = true;
	return NULL;
}

static bool req_has_value(const struct nf_sel_req *r, const char *v)
{
	size_t lo = 0, hi = r->n_values;

	while (lo < hi) {	/* values are sorted */
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(v, r->values[mid]);

		if (!cmp)
			return true;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

bool nf_selector_matches(const struct nf_selector *s, const struct nf_labels *l)
{
	size_t i;

	for (i = 0; s && i < s->n_reqs; i++) {
		const struct nf_sel_req *r = &s->reqs[i];
		const char *v = nf_labels_get(l, r->key);
		bool ok;

		switch (r->op) {
		case NF_SEL_IN:
			ok = v && req_has_value(r, v);
			break;
		case NF_SEL_NOTIN:
			ok = !v || !req_has_value(r, v);
			break;
		case NF_SEL_EXISTS:
			ok = v != NULL;
			break;
		case NF_SEL_DOES_NOT_EXIST:
			ok = v == NULL;
			break;
		default:
			ok = false;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------------
 * Parsing a LabelSelector.
 */
static const char *const selector_fields[] = { "matchLabels", "matchExpressions", NULL };
static const char *const expr_fields[] = { "key", "operator", "values", NULL };

/*
 * A value of a requirement on key: a tenant name for the name label of a
 * namespaceSelector (no namespace has another value), else a label value.
 */
static bool check_value(struct pctx *c, enum sel_kind kind, const char *key, const char *v)
{
	char q[QBUF_LEN];

	if (kind == SEL_NAMESPACE && key && !strcmp(key, NS_NAME_LABEL)) {
		if (nf_is_dns1123_label(v))
			return true;
		nfp_problem(c, "%s is not a valid tenant name (a DNS-1123 label: at most 63 "
			    "lowercase letters, digits and '-', starting and ending with a letter "
			    "or digit)", nfp_quote(v, q, sizeof(q)));
		return false;
	}
	if (nf_is_label_value(v))
		return true;
	invalid_value(c, v);
	return false;
}

/* Append a requirement (takes key and values). */
static void add_req(struct pctx *c, struct nf_selector *s, char *key, enum nf_sel_op op,
		    char **values, size_t n_values)
{
	struct nf_sel_req *r;
	size_t i;

	if (!key) {
		c->oom = true;
		for (i = 0; i < n_values; i++)
			free(values[i]);
		free(values);
		return;
	}
	r = &s->reqs[s->n_reqs++];
	r->key = key;
	r->op = op;
	r->values = values;
	r->n_values = n_values;
}

static void parse_match_labels(struct pctx *c, json_t *ml, enum sel_kind kind,
			       struct nf_selector *s)
{
	const char *key;
	json_t *v;

	if (!nfp_expect_type(c, ml, JSON_OBJECT))
		return;
	json_object_foreach(ml, key, v) {
		size_t old;
		bool ok, name_label;

		if (!nf_is_label_key(key))
			invalid_key(c, key);
		name_label = kind == SEL_NAMESPACE && !strcmp(key, NS_NAME_LABEL);
		old = path_label(c, key);
		ok = nfp_expect_type(c, v, JSON_STRING);
		if (ok && !name_label)
			ok = check_value(c, kind, key, json_string_value(v));
		nfp_path_pop(c, old);
		/* a tenant name is reported at matchLabels (as it always was) */
		if (ok && name_label)
			ok = check_value(c, kind, key, json_string_value(v));
		if (ok) {
			char **vals = nfp_xcalloc(c, 1, sizeof(char *));

			if (!vals)
				continue;
			vals[0] = nfp_xstrdup(c, json_string_value(v));
			add_req(c, s, nfp_xstrdup(c, key), NF_SEL_IN, vals, vals[0] ? 1 : 0);
		}
	}
}

static void parse_expr(struct pctx *c, json_t *e, enum sel_kind kind, struct nf_selector *s)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
	const char *key, *op;
	json_t *values;
	bool ok, vals_ok = true;
	char q[QBUF_LEN], **vals = NULL;
	size_t i, n = 0, nv = 0, old;
	int op_kind = -1;

	if (!nfp_expect_type(c, e, JSON_OBJECT))
		return;
	nfp_check_fields(c, e, expr_fields);
	key = nfp_string_field(c, e, "key", true);
	op = nfp_string_field(c, e, "operator", true);
	if (op) {
		for (i = 0; i < 4; i++)
			if (!strcmp(op, ops[i]))
				op_kind = (int)i;
		if (op_kind < 0) {
			old = nfp_path_key(c, "operator");
			nfp_problem(c, "%s is not a valid operator (must be In, NotIn, Exists or "
				    "DoesNotExist)", nfp_quote(op, q, sizeof(q)));
			nfp_path_pop(c, old);
		}
	}
	ok = key && op_kind >= 0;

	values = nfp_field(e, "values");
	old = nfp_path_key(c, "values");
	if (values && !nfp_expect_type(c, values, JSON_ARRAY)) {
		values = NULL;
		vals_ok = false;
	}
	n = values ? json_array_size(values) : 0;
	if (op_kind == NF_SEL_IN || op_kind == NF_SEL_NOTIN) {
		if (!n && vals_ok) {
			nfp_problem(c, "must be specified when operator is In or NotIn");
			vals_ok = false;
		}
	} else if (op_kind >= NF_SEL_EXISTS && n) {
		nfp_problem(c, "may not be specified when operator is Exists or DoesNotExist");
		vals_ok = false;
	}
	nfp_path_pop(c, old);
	if (key && !nf_is_label_key(key)) {
		old = nfp_path_key(c, "key");
		invalid_key(c, key);
		nfp_path_pop(c, old);
		ok = false;
	}
	if (n && vals_ok)
		vals = nfp_xcalloc(c, n, sizeof(*vals));
	old = nfp_path_key(c, "values");
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(values, i);
		size_t o2 = nfp_path_index(c, i);

		if (!nfp_expect_type(c, v, JSON_STRING) ||
		    !check_value(c, kind, key, json_string_value(v)))
			vals_ok = false;
		else if (vals)
			vals[nv++] = (char *)json_string_value(v);
		nfp_path_pop(c, o2);
	}
	nfp_path_pop(c, old);

	if (!ok || !vals_ok) {
		free(vals);
		return;
	}
	/* sorted and unique; then owned copies */
	names_normalize((const char **)vals, &nv);
	for (i = 0; i < nv; i++)
		vals[i] = nfp_xstrdup(c, vals[i]);
	for (i = 0; i < nv; i++)
		if (!vals[i]) {
			for (i = 0; i < nv; i++)
				free(vals[i]);
			free(vals);
			return;
		}
	add_req(c, s, nfp_xstrdup(c, key), (enum nf_sel_op)op_kind, vals, nv);
}

/* Requirements sorted by key (stable: insertion sort, selectors are short). */
static void sort_reqs(struct nf_selector *s)
{
	size_t i, j;

	for (i = 1; i < s->n_reqs; i++) {
		struct nf_sel_req r = s->reqs[i];

		for (j = i; j > 0 && strcmp(s->reqs[j - 1].key, r.key) > 0; j--)
			s->reqs[j] = s->reqs[j - 1];
		s->reqs[j] = r;
	}
}

/* The tenants a namespaceSelector on the name label only selects (s is valid). */
static void selector_tenants(struct pctx *c, const struct nf_selector *s, struct tset *set)
{
	size_t i;

	for (i = 0; i < s->n_reqs; i++) {
		const struct nf_sel_req *r = &s->reqs[i];
		struct tset t = {};

		if (r->n_values) {
			t.names = nfp_xcalloc(c, r->n_values, sizeof(*t.names));
			if (!t.names)
				return;
			memcpy(t.names, r->values, r->n_values * sizeof(*t.names));
			t.n = r->n_values;
		}
		switch (r->op) {
		case NF_SEL_IN:			/* exactly these */
			t.negate = false;
			break;
		case NF_SEL_NOTIN:	/* every namespace has the label: the complement */
		case NF_SEL_EXISTS:		/* all */
			t.negate = true;
			break;
		case NF_SEL_DOES_NOT_EXIST:	/* none */
			t.negate = false;
			break;
		}
		tset_and(c, set, &t);
	}
}

void nfp_parse_selector(struct pctx *c, json_t *sel, enum sel_kind kind, struct nf_selector **out,
			struct tset *set, bool *ns_labels)
{
	struct nf_selector *s;
	json_t *ml, *me;
	size_t old, i, n = 0;

	*out = NULL;
	if (set) {
		set->negate = true;
		set->names = NULL;
		set->n = 0;
	}
	if (ns_labels)
		*ns_labels = false;
	if (!nfp_expect_type(c, sel, JSON_OBJECT))
		return;
	nfp_check_fields(c, sel, selector_fields);
	ml = nfp_field(sel, "matchLabels");
	me = nfp_field(sel, "matchExpressions");
	if (json_is_object(ml))
		n += json_object_size(ml);
	if (json_is_array(me))
		n += json_array_size(me);
	s = nfp_xcalloc(c, 1, sizeof(*s));
	if (!s)
		return;
	*out = s;
	s->reqs = nfp_xcalloc(c, n, sizeof(*s->reqs));
	if (n && !s->reqs)
		return;
	if (ml) {
		old = nfp_path_key(c, "matchLabels");
		parse_match_labels(c, ml, kind, s);
		nfp_path_pop(c, old);
	}
	if (me) {
		old = nfp_path_key(c, "matchExpressions");
		if (nfp_expect_type(c, me, JSON_ARRAY)) {
			for (i = 0; i < json_array_size(me); i++) {
				size_t o2 = nfp_path_index(c, i);

				parse_expr(c, json_array_get(me, i), kind, s);
				nfp_path_pop(c, o2);
			}
		}
		nfp_path_pop(c, old);
	}
	sort_reqs(s);
	if (kind != SEL_NAMESPACE)
		return;
	for (i = 0; i < s->n_reqs; i++)
		if (strcmp(s->reqs[i].key, NS_NAME_LABEL)) {
			/* resolved against Namespace documents by the compiler: no tenant here */
			if (ns_labels)
				*ns_labels = true;
			if (set)
				set->negate = false;
			return;
		}
	if (set)
		selector_tenants(c, s, set);
}
