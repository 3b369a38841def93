// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Label identities: the table in NF_STORE_IDENTITIES (identities.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "identities.h"
#include "store.h"

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct nf_label *)a)->key, ((const struct nf_label *)b)->key);
}

static bool labels_equal(const struct nf_labels *a, const struct nf_labels *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, b->v[i].key) || strcmp(a->v[i].value, b->v[i].value))
			return false;
	return true;
}

static void entry_clear(struct nf_ident_entry *e)
{
	nf_labels_clear(&e->labels);
	free(e->ports);
	free(e->key);
	memset(e, 0, sizeof(*e));
}

static void tenant_clear(struct nf_ident_tenant *t)
{
	size_t i;

	for (i = 0; i < t->n_ids; i++)
		entry_clear(&t->ids[i]);
	free(t->ids);
	nf_labels_clear(&t->ns);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

void idtab__free(struct nf_ident_table *tb)
{
	size_t i;

	for (i = 0; i < tb->n; i++)
		tenant_clear(&tb->t[i]);
	free(tb->t);
	memset(tb, 0, sizeof(*tb));
}

/* Canonical key of a label set and named ports: "k=v\n...\x01name/proto/port\n..." */
static char *ident_key(const struct nf_labels *l, const struct nf_named_port *p, size_t n)
{
	size_t len = 2, i, o = 0;
	char *s;

	for (i = 0; i < l->n; i++)
		len += strlen(l->v[i].key) + strlen(l->v[i].value) + 2;
	len += n * (NF_PORT_NAME_LEN + 16);
	s = malloc(len);
	if (!s)
		return NULL;
	for (i = 0; i < l->n; i++)
		o += (size_t)snprintf(s + o, len - o, "%s=%s\n", l->v[i].key, l->v[i].value);
	o += (size_t)snprintf(s + o, len - o, "\x01");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, len - o, "%s/%u/%u\n", p[i].name, p[i].proto,
				      p[i].port);
	return s;
}

static int tenant_cmp(const void *a, const void *b)
{
	return strcmp(((const struct nf_ident_tenant *)a)->name,
		      ((const struct nf_ident_tenant *)b)->name);
}

static struct nf_ident_tenant *find_mut(const struct nf_ident_table *tb, const char *tenant)
{
	struct nf_ident_tenant key = { .name = (char *)tenant };

	if (!tb->n)
		return NULL;
	return bsearch(&key, tb->t, tb->n, sizeof(*tb->t), tenant_cmp);
}

const struct nf_ident_tenant *idtab__find(const struct nf_ident_table *tb, const char *tenant)
{
	return find_mut(tb, tenant);
}

static struct nf_ident_tenant *get(struct nf_ident_table *tb, const char *tenant)
{
	struct nf_ident_tenant *t = find_mut(tb, tenant), *v;
	char *name;

	if (t)
		return t;
	name = strdup(tenant);
	v = realloc(tb->t, (tb->n + 1) * sizeof(*v));
	if (!name || !v) {
		free(name);
		if (v)
			tb->t = v;
		return NULL;
	}
	tb->t = v;
	memset(&tb->t[tb->n], 0, sizeof(*tb->t));
	tb->t[tb->n++].name = name;
	qsort(tb->t, tb->n, sizeof(*tb->t), tenant_cmp);
	return find_mut(tb, tenant);
}

/* Drop a tenant left with neither identities nor namespace labels. */
static void drop_if_empty(struct nf_ident_table *tb, const char *tenant)
{
	struct nf_ident_tenant *t = find_mut(tb, tenant);
	size_t i;

	if (!t || t->n_ids || t->has_ns)
		return;
	i = (size_t)(t - tb->t);
	tenant_clear(t);
	memmove(&tb->t[i], &tb->t[i + 1], (tb->n - i - 1) * sizeof(*tb->t));
	tb->n--;
}

void idtab__forget(struct nf_ident_table *tb, const char *tenant)
{
	struct nf_ident_tenant *t = find_mut(tb, tenant);

	if (!t)
		return;
	while (t->n_ids)
		entry_clear(&t->ids[--t->n_ids]);
	nf_labels_clear(&t->ns);
	t->has_ns = false;
	drop_if_empty(tb, tenant);
	tb->dirty = true;
}

/* ---- the file ---- */

static int labels_from_json(json_t *o, struct nf_labels *l)
{
	const char *k;
	json_t *v;

	l->n = 0;
	l->v = calloc(json_object_size(o) + 1, sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	json_object_foreach(o, k, v) {
		if (!json_is_string(v))
			continue;
		l->v[l->n].key = strdup(k);
		l->v[l->n].value = strdup(json_string_value(v));
		l->n++;
		if (!l->v[l->n - 1].key || !l->v[l->n - 1].value)
			return -ENOMEM;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), label_cmp);
	return 0;
}

static json_t *labels_to_json(const struct nf_labels *l)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; o && i < l->n; i++)
		json_object_set_new(o, l->v[i].key, json_string(l->v[i].value));
	return o;
}

int idtab__load(struct nf_ident_table *tb)
{
	json_t *root, *to, *ids, *e;
	const char *name;
	size_t i, j;
	int err = 0;

	memset(tb, 0, sizeof(*tb));
	root = json_load_file(NF_STORE_IDENTITIES, 0, NULL);
	if (!root)
		return 0;
	json_object_foreach(root, name, to) {
		struct nf_ident_tenant *t = get(tb, name);
		json_t *ns;

		if (!t) {
			err = -ENOMEM;
			break;
		}
		ns = json_object_get(to, "ns");
		if (json_is_object(ns)) {
			t->has_ns = true;
			err = labels_from_json(ns, &t->ns);
		}
		ids = json_object_get(to, "ids");
		t->ids = calloc(json_array_size(ids) + 1, sizeof(*t->ids));
		if (!t->ids)
			err = -ENOMEM;
		json_array_foreach(ids, i, e) {
			struct nf_ident_entry *ie;
			json_t *ports = json_object_get(e, "ports"), *p;

			if (err)
				break;
			ie = &t->ids[t->n_ids++];
			ie->idx = (uint32_t)json_integer_value(json_object_get(e, "idx"));
			err = labels_from_json(json_object_get(e, "labels"), &ie->labels);
			ie->ports = calloc(json_array_size(ports) + 1, sizeof(*ie->ports));
			if (!ie->ports) {
				err = -ENOMEM;
				break;
			}
			json_array_foreach(ports, j, p) {
				struct nf_named_port *np = &ie->ports[ie->n_ports++];

				snprintf(np->name, sizeof(np->name), "%s",
					 json_string_value(json_array_get(p, 0)) ?: "");
				np->proto = (uint8_t)json_integer_value(json_array_get(p, 1));
				np->port = (uint16_t)json_integer_value(json_array_get(p, 2));
			}
			ie->key = ident_key(&ie->labels, ie->ports, ie->n_ports);
			if (!ie->key)
				err = -ENOMEM;
		}
		if (err)
			break;
	}
	json_decref(root);
	if (err)
		idtab__free(tb);
	return err;
}

int idtab__save(struct nf_ident_table *tb)
{
	json_t *root = json_object();
	size_t i, j, k;
	int err;

	if (!tb->dirty) {
		json_decref(root);
		return 0;
	}
	for (i = 0; root && i < tb->n; i++) {
		const struct nf_ident_tenant *t = &tb->t[i];
		json_t *to = json_object(), *ids = json_array();

		if (!to || !ids) {
			json_decref(to);
			json_decref(ids);
			json_decref(root);
			return -ENOMEM;
		}
		if (t->has_ns)
			json_object_set_new(to, "ns", labels_to_json(&t->ns));
		for (j = 0; j < t->n_ids; j++) {
			const struct nf_ident_entry *e = &t->ids[j];
			json_t *ports = json_array();

			for (k = 0; ports && k < e->n_ports; k++)
				json_array_append_new(ports, json_pack("[s,i,i]", e->ports[k].name,
								       e->ports[k].proto,
								       e->ports[k].port));
			json_array_append_new(ids, json_pack("{s:i, s:o, s:o}", "idx", (int)e->idx,
							     "labels", labels_to_json(&e->labels),
							     "ports", ports));
		}
		json_object_set_new(to, "ids", ids);
		json_object_set_new(root, t->name, to);
	}
	err = store__write_json(NF_STORE_IDENTITIES, root);
	if (!err)
		tb->dirty = false;
	return err;
}

/* ---- changes ---- */

static bool pod_has_identity(const struct nf_pod_obj *p)
{
	return p->labels.n || p->n_ports;
}

uint32_t idtab__index(const struct nf_ident_table *tb, const struct nf_pod_obj *pod)
{
	const struct nf_ident_tenant *t;
	uint32_t idx = 0;
	size_t i;
	char *key;

	if (!pod_has_identity(pod))
		return 0;
	t = idtab__find(tb, pod->tenant);
	key = ident_key(&pod->labels, pod->ports, pod->n_ports);
	for (i = 0; t && key && i < t->n_ids && !idx; i++)
		if (!strcmp(t->ids[i].key, key))
			idx = t->ids[i].idx;
	free(key);
	return idx;
}

const struct nf_ident_entry *idtab__entry(const struct nf_ident_table *tb, const char *tenant,
					  uint32_t idx)
{
	const struct nf_ident_tenant *t = idtab__find(tb, tenant);
	size_t i;

	for (i = 0; t && i < t->n_ids; i++)
		if (t->ids[i].idx == idx)
			return &t->ids[i];
	return NULL;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int idtab__sync_pods(struct nf_ident_table *tb, const char *tenant,
		     struct nf_pod_obj *const *pods, size_t n_pods)
{
	struct nf_ident_tenant *t;
	struct nf_ident_entry *nv = NULL;
	uint32_t *old_idx = NULL, next = 1;
	char **keys = NULL;
	size_t n_keys = 0, n_old, i, j, o, n_new = 0;
	int changed = 0, err = 0;

	/* the distinct keys wanted */
	keys = calloc(n_pods + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n_pods; i++) {
		if (!pod_has_identity(pods[i]))
			continue;
		keys[n_keys] = ident_key(&pods[i]->labels, pods[i]->ports, pods[i]->n_ports);
		if (!keys[n_keys]) {
			err = -ENOMEM;
			goto out;
		}
		n_keys++;
	}
	if (n_keys > 1)
		qsort(keys, n_keys, sizeof(*keys), str_cmp);
	for (i = 0, o = 0; i < n_keys; i++) {
		if (o && !strcmp(keys[o - 1], keys[i])) {
			free(keys[i]);
			continue;
		}
		keys[o++] = keys[i];
	}
	n_keys = o;
	t = n_keys ? get(tb, tenant) : find_mut(tb, tenant);
	if (!t) {
		err = n_keys ? -ENOMEM : 0;
		goto out;
	}
	n_old = t->n_ids;
	old_idx = calloc(n_old + 1, sizeof(*old_idx));
	nv = calloc(n_keys + 1, sizeof(*nv));
	if (!old_idx || !nv) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n_old; i++)
		old_idx[i] = t->ids[i].idx;
	if (n_old > 1)
		qsort(old_idx, n_old, sizeof(*old_idx), u32_cmp);
	/* keep what still has a pod */
	for (i = 0; i < n_keys; i++) {
		for (j = 0; j < n_old; j++)
			if (t->ids[j].key && !strcmp(t->ids[j].key, keys[i]))
				break;
		if (j < n_old) {
			nv[n_new++] = t->ids[j];
			memset(&t->ids[j], 0, sizeof(t->ids[j]));
			free(keys[i]);
			keys[i] = NULL;
		}
	}
	/* new label sets: the lowest index no identity had before this change */
	for (i = 0; i < n_keys; i++) {
		const struct nf_pod_obj *p = NULL;
		struct nf_ident_entry *e;

		if (!keys[i])
			continue;
		for (j = 0; j < n_pods && !p; j++) {
			char *k;

			if (!pod_has_identity(pods[j]))
				continue;
			k = ident_key(&pods[j]->labels, pods[j]->ports, pods[j]->n_ports);
			if (k && !strcmp(k, keys[i]))
				p = pods[j];
			free(k);
		}
		for (;; next++) {
			bool used = n_old &&
				    bsearch(&next, old_idx, n_old, sizeof(*old_idx), u32_cmp);

			for (j = 0; j < n_new && !used; j++)
				used = nv[j].idx == next;
			if (!used)
				break;
		}
		if (!p || next > NF_IDENT_MAX_INDEX) {
			err = p ? -EUSERS : -EINVAL;
			goto out;
		}
		e = &nv[n_new++];
		e->idx = next++;
		e->key = keys[i];
		keys[i] = NULL;
		err = nf_labels_copy(&e->labels, &p->labels);
		e->ports = calloc(p->n_ports + 1, sizeof(*e->ports));
		if (err || !e->ports) {
			err = -ENOMEM;
			goto out;
		}
		if (p->n_ports)
			memcpy(e->ports, p->ports, p->n_ports * sizeof(*e->ports));
		e->n_ports = p->n_ports;
		changed = 1;
	}
	for (i = 0; i < n_old; i++) {
		if (t->ids[i].key)
			changed = 1;	/* no pod has it any more */
		entry_clear(&t->ids[i]);
	}
	free(t->ids);
	t->ids = nv;
	t->n_ids = n_new;
	nv = NULL;
	if (changed)
		tb->dirty = true;
	drop_if_empty(tb, tenant);
out:
	if (nv) {
		for (i = 0; i < n_new; i++)
			entry_clear(&nv[i]);
		free(nv);
	}
	for (i = 0; keys && i < n_keys; i++)
		free(keys[i]);
	free(keys);
	free(old_idx);
	return err ? err : changed;
}

int idtab__set_ns(struct nf_ident_table *tb, const char *tenant, const struct nf_labels *ns)
{
	struct nf_ident_tenant *t = ns ? get(tb, tenant) : find_mut(tb, tenant);
	int err;

	if (!t)
		return ns ? -ENOMEM : 0;
	if (!ns) {
		if (!t->has_ns)
			return 0;
		nf_labels_clear(&t->ns);
		t->has_ns = false;
		tb->dirty = true;
		drop_if_empty(tb, tenant);
		return 1;
	}
	if (t->has_ns && labels_equal(&t->ns, ns))
		return 0;
	nf_labels_clear(&t->ns);
	err = nf_labels_copy(&t->ns, ns);
	if (err)
		return err;
	t->has_ns = true;
	tb->dirty = true;
	return 1;
}
