// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Label sets and the evaluation of label selectors (Kubernetes' labels.Selector). */
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

static int label_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct nf_label *)elem)->key);
}

const char *nf_labels_get(const struct nf_labels *l, const char *key)
{
	const struct nf_label *hit;

	if (!l || !l->n)
		return NULL;
	hit = bsearch(key, l->v, l->n, sizeof(*l->v), label_cmp);
	return hit ? hit->value : NULL;
}

static bool values_has(const struct nf_sel_req *r, const char *v)
{
	size_t i;

	for (i = 0; i < r->n_values; i++)
		if (!strcmp(r->values[i], v))
			return true;
	return false;
}

bool nf_selector_matches(const struct nf_selector *s, const struct nf_labels *l)
{
	size_t i;

	for (i = 0; s && i < s->n_reqs; i++) {
		const struct nf_sel_req *r = &s->reqs[i];
		const char *v = nf_labels_get(l, r->key);

		switch (r->op) {
		case NF_SEL_IN:
			if (!v || !values_has(r, v))
				return false;
			break;
		case NF_SEL_NOTIN:
			if (v && values_has(r, v))
				return false;
			break;
		case NF_SEL_EXISTS:
			if (!v)
				return false;
			break;
		case NF_SEL_DOES_NOT_EXIST:
			if (v)
				return false;
			break;
		}
	}
	return true;
}
