// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Label selectors (metav1validation.ValidateLabelSelector): matchLabels and
 * matchExpressions, validated for any selector; for a namespaceSelector also
 * evaluated into the set of tenants it selects, since the only namespace
 * label netfence supports is kubernetes.io/metadata.name. A podSelector is
 * validated only (its caller decides what a non-empty one means).
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
 * Label selectors.
 */
static const char *const selector_fields[] = { "matchLabels", "matchExpressions", NULL };
static const char *const expr_fields[] = { "key", "operator", "values", NULL };

static bool check_ns_value(struct pctx *c, const char *v)
{
	char q[QBUF_LEN];

	if (nf_is_dns1123_label(v))
		return true;
	nfp_problem(c, "%s is not a valid tenant name (a DNS-1123 label: at most 63 lowercase "
		    "letters, digits and '-', starting and ending with a letter or digit)",
		    nfp_quote(v, q, sizeof(q)));
	return false;
}

static void unsupported_label(struct pctx *c, const char *key)
{
	char q[QBUF_LEN];

	nfp_problem(c, "label %s is not supported by netfence (only " NS_NAME_LABEL ")",
		    nfp_quote(key, q, sizeof(q)));
}

static void parse_match_labels(struct pctx *c, json_t *ml, enum sel_kind kind, bool *empty,
			       struct tset *set)
{
	char q[QBUF_LEN];
	const char *key;
	json_t *v;

	if (!nfp_expect_type(c, ml, JSON_OBJECT))
		return;
	json_object_foreach(ml, key, v) {
		size_t old;
		char *seg;
		int ok;

		*empty = false;
		/* matchLabels["key"] */
		nfp_quote(key, q, sizeof(q));
		if (asprintf(&seg, "[%s]", q) < 0) {
			c->oom = true;
			return;
		}
		old = c->len;
		nfp_path_append(c, seg);
		free(seg);
		ok = nfp_expect_type(c, v, JSON_STRING);
		nfp_path_pop(c, old);
		if (!ok || kind != SEL_NAMESPACE)
			continue;
		if (strcmp(key, NS_NAME_LABEL)) {
			unsupported_label(c, key);
			continue;
		}
		if (check_ns_value(c, json_string_value(v))) {
			struct tset one = { .negate = false };

			one.names = malloc(sizeof(*one.names));
			if (!one.names) {
				c->oom = true;
				continue;
			}
			one.names[0] = json_string_value(v);
			one.n = 1;
			tset_and(c, set, &one);
		}
	}
}

static void parse_expr(struct pctx *c, json_t *e, enum sel_kind kind, struct tset *set)
{
	const char *key, *op;
	json_t *values;
	struct tset t = {};
	bool key_ok, op_ok = true, vals_ok = true;
	char q[QBUF_LEN];
	size_t i, n = 0, old;
	int op_kind = -1;	/* 0 In, 1 NotIn, 2 Exists, 3 DoesNotExist */

	if (!nfp_expect_type(c, e, JSON_OBJECT))
		return;
	nfp_check_fields(c, e, expr_fields);
	key = nfp_string_field(c, e, "key", true);
	op = nfp_string_field(c, e, "operator", true);
	key_ok = key != NULL;
	if (key && kind == SEL_NAMESPACE && strcmp(key, NS_NAME_LABEL)) {
		old = nfp_path_key(c, "key");
		unsupported_label(c, key);
		nfp_path_pop(c, old);
		key_ok = false;
	}
	if (op) {
		static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };

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
	op_ok = op_kind >= 0;

	values = nfp_field(e, "values");
	old = nfp_path_key(c, "values");
	if (values && !nfp_expect_type(c, values, JSON_ARRAY)) {
		values = NULL;
		vals_ok = false;
	}
	n = values ? json_array_size(values) : 0;
	if (op_kind == 0 || op_kind == 1) {
		if (!n && vals_ok) {
			nfp_problem(c, "must be specified when operator is In or NotIn");
			vals_ok = false;
		}
	} else if (op_kind >= 2 && n) {
		nfp_problem(c, "may not be specified when operator is Exists or DoesNotExist");
		vals_ok = false;
	}
	if (n && vals_ok) {
		t.names = nfp_xcalloc(c, n, sizeof(*t.names));
		if (!t.names)
			vals_ok = false;
	}
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(values, i);
		size_t o2 = nfp_path_index(c, i);

		if (!nfp_expect_type(c, v, JSON_STRING)) {
			vals_ok = false;
		} else if (kind == SEL_NAMESPACE && key_ok) {
			if (!check_ns_value(c, json_string_value(v)))
				vals_ok = false;
			else if (t.names)
				t.names[t.n++] = json_string_value(v);
		}
		nfp_path_pop(c, o2);
	}
	nfp_path_pop(c, old);

	if (kind != SEL_NAMESPACE || !key_ok || !op_ok || !vals_ok) {
		free(t.names);
		return;
	}
	names_normalize(t.names, &t.n);
	switch (op_kind) {
	case 0:		/* In: exactly these */
		t.negate = false;
		break;
	case 1:		/* NotIn: every namespace has the name label, so the complement */
		t.negate = true;
		break;
	case 2:		/* Exists: all */
		t.negate = true;
		break;
	default:	/* DoesNotExist: none */
		t.negate = false;
		break;
	}
	tset_and(c, set, &t);
}

/*
 * A LabelSelector at the current path. *empty: it selects everything.
 * SEL_NAMESPACE: *set gets the tenants it selects.
 */
void nfp_parse_selector(struct pctx *c, json_t *sel, enum sel_kind kind, bool *empty,
			struct tset *set)
{
	json_t *ml, *me;
	size_t old, i;

	*empty = true;
	set->negate = true;
	set->names = NULL;
	set->n = 0;
	if (!nfp_expect_type(c, sel, JSON_OBJECT))
		return;
	nfp_check_fields(c, sel, selector_fields);
	ml = nfp_field(sel, "matchLabels");
	if (ml) {
		old = nfp_path_key(c, "matchLabels");
		parse_match_labels(c, ml, kind, empty, set);
		nfp_path_pop(c, old);
	}
	me = nfp_field(sel, "matchExpressions");
	if (me) {
		old = nfp_path_key(c, "matchExpressions");
		if (nfp_expect_type(c, me, JSON_ARRAY)) {
			for (i = 0; i < json_array_size(me); i++) {
				size_t o2 = nfp_path_index(c, i);

				*empty = false;
				parse_expr(c, json_array_get(me, i), kind, set);
				nfp_path_pop(c, o2);
			}
		}
		nfp_path_pop(c, old);
	}
}
