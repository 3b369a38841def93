// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Label identities: the table in NF_STORE_IDENTITIES (identities.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* Append the decimal digits of v at s; returns past them. */
static char *put_u32(char *s, uint32_t v)
{
	char d[10];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*s++ = d[--n];
	return s;
}

static char *put_str(char *s, const char *v, size_t len)
{
	memcpy(s, v, len);
	return s + len;
}

/*
 * Canonical key of a label set and named ports: "k=v\n...\x01name/proto/port\n..."
 * Built by hand: every load of the table makes one per label set, and
 * snprintf made that a fifth of a one-pod apply's CPU time.
 */
static char *ident_key(const struct nf_labels *l, const struct nf_named_port *p, size_t n)
{
	size_t len = 2, i, kl, vl;
	char *s, *o;

	for (i = 0; i < l->n; i++)
		len += strlen(l->v[i].key) + strlen(l->v[i].value) + 2;
	len += n * (NF_PORT_NAME_LEN + 16);
	s = malloc(len);
	if (!s)
		return NULL;
	o = s;
	for (i = 0; i < l->n; i++) {
		kl = strlen(l->v[i].key);
		vl = strlen(l->v[i].value);
		o = put_str(o, l->v[i].key, kl);
		*o++ = '=';
		o = put_str(o, l->v[i].value, vl);
		*o++ = '\n';
	}
	*o++ = '\x01';
	for (i = 0; i < n; i++) {
		o = put_str(o, p[i].name, strnlen(p[i].name, NF_PORT_NAME_LEN - 1));
		*o++ = '/';
		o = put_u32(o, p[i].proto);
		*o++ = '/';
		o = put_u32(o, p[i].port);
		*o++ = '\n';
	}
	*o = '\0';
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

/* Append a copy of (key, value) to l (room made by the caller). */
static int label_push(struct nf_labels *l, const char *key, const char *value)
{
	l->v[l->n].key = strdup(key);
	l->v[l->n].value = strdup(value);
	l->n++;
	return l->v[l->n - 1].key && l->v[l->n - 1].value ? 0 : -ENOMEM;
}

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
		if (label_push(l, k, json_string_value(v)))
			return -ENOMEM;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), label_cmp);
	return 0;
}

/* A table as the datapath versions before 5 wrote it (JSON, no counts). */
static int load_json(struct nf_ident_table *tb, const char *path)
{
	json_t *root, *to, *ids, *e;
	const char *name;
	size_t i, j;
	int err = 0;

	root = json_load_file(path, 0, NULL);
	if (!root)
		return -EUCLEAN;
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
	tb->dirty = true;	/* written again in the text form */
	return err;
}

/*
 * The file, text (a change reads and writes it whole, so its cost is every
 * label-churn apply's; JSON took 70% of one):
 *
 *   netfence-identities 1
 *   t TENANT
 *   n KEY=VALUE...                   its Namespace labels (if a document gave them)
 *   i IDX PODS KEY=VALUE... ; NAME/PROTO/PORT...
 *
 * Every field is percent-encoded outside [A-Za-z0-9._/:@+-], so that no
 * field holds a space, '=', ';' or a newline.
 */
#define IDTAB_MAGIC "netfence-identities 1\n"

static bool plain(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("._/:@+-", ch) != NULL;
}

/* s percent-encoded: runs of plain characters in one write (the table is
 * written whole on every change; a call per character was most of it). */
static void put(FILE *f, const char *s)
{
	const char *run;

	while (*s) {
		for (run = s; *s && plain((unsigned char)*s); s++)
			;
		if (s > run)
			fwrite_unlocked(run, 1, (size_t)(s - run), f);
		if (*s) {
			fprintf(f, "%%%02X", (unsigned char)*s);
			s++;
		}
	}
}

static void put_labels(FILE *f, const struct nf_labels *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		fputc_unlocked(' ', f);
		put(f, l->v[i].key);
		fputc_unlocked('=', f);
		put(f, l->v[i].value);
	}
}

/* sep, then v in decimal */
static void put_num(FILE *f, char sep, uint32_t v)
{
	char b[12], *e;

	b[0] = sep;
	e = put_u32(b + 1, v);
	fwrite_unlocked(b, 1, (size_t)(e - b), f);
}

/* Decode s in place; -1 on a bad escape. */
static int unescape(char *s)
{
	char *o = s, hex[3] = "";

	for (; *s; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
			return -1;
		hex[0] = s[1];
		hex[1] = s[2];
		*o++ = (char)strtoul(hex, NULL, 16);
		s += 2;
	}
	*o = '\0';
	return 0;
}

/* "KEY=VALUE" fields tok[0..n) into l (sorted), up to a ";" field; the fields used. */
static int labels_from_fields(char **tok, size_t n, struct nf_labels *l, size_t *used)
{
	size_t i;
	char *eq;

	l->n = 0;
	l->v = calloc(n + 1, sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	for (i = 0; i < n && strcmp(tok[i], ";"); i++) {
		eq = strchr(tok[i], '=');
		if (!eq)
			return -EUCLEAN;
		*eq = '\0';
		if (unescape(tok[i]) || unescape(eq + 1))
			return -EUCLEAN;
		if (label_push(l, tok[i], eq + 1))
			return -ENOMEM;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), label_cmp);
	*used = i;
	return 0;
}

/* One "i" line's fields after the "i". */
static int entry_from_fields(struct nf_ident_tenant *t, char **tok, size_t n)
{
	struct nf_ident_entry *v, *e;
	size_t used = 0, i;
	unsigned long long idx, pods;
	char *end;
	int err;

	if (n < 2)
		return -EUCLEAN;
	idx = strtoull(tok[0], &end, 10);
	if (*end || !idx || idx > NF_IDENT_MAX_INDEX)
		return -EUCLEAN;
	pods = strtoull(tok[1], &end, 10);
	if (*end || pods > UINT32_MAX)
		return -EUCLEAN;
	/* room doubles at every power of two: a tenant's lines come one by one */
	if (!(t->n_ids & (t->n_ids - 1))) {
		v = realloc(t->ids, (t->n_ids ? 2 * t->n_ids : 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->ids = v;
	}
	e = &t->ids[t->n_ids++];
	memset(e, 0, sizeof(*e));
	e->idx = (uint32_t)idx;
	e->n_pods = (uint32_t)pods;
	err = labels_from_fields(tok + 2, n - 2, &e->labels, &used);
	if (err)
		return err;
	i = 2 + used + (2 + used < n);	/* past the ";" */
	e->ports = calloc(n - i + 1, sizeof(*e->ports));
	if (!e->ports)
		return -ENOMEM;
	for (; i < n; i++) {
		struct nf_named_port *np = &e->ports[e->n_ports++];
		char *a = strrchr(tok[i], '/'), *b;
		unsigned long proto, port;

		if (!a || a == tok[i])
			return -EUCLEAN;
		*a = '\0';
		b = strrchr(tok[i], '/');
		if (!b)
			return -EUCLEAN;
		*b = '\0';
		proto = strtoul(b + 1, &end, 10);
		if (*end || proto > 255)
			return -EUCLEAN;
		port = strtoul(a + 1, &end, 10);
		if (*end || port > 65535 || unescape(tok[i]) ||
		    strlen(tok[i]) >= sizeof(np->name))
			return -EUCLEAN;
		snprintf(np->name, sizeof(np->name), "%s", tok[i]);
		np->proto = (uint8_t)proto;
		np->port = (uint16_t)port;
	}
	e->key = ident_key(&e->labels, e->ports, e->n_ports);
	return e->key ? 0 : -ENOMEM;
}

static int load_text(struct nf_ident_table *tb, char *text)
{
	struct nf_ident_tenant *t = NULL;
	char *line, *next, **tok = NULL, *save;
	size_t n, cap = 0, used;
	int err = 0;

	for (line = text + strlen(IDTAB_MAGIC); !err && *line; line = next) {
		next = strchr(line, '\n');
		if (!next)
			return -EUCLEAN;
		*next++ = '\0';
		n = 0;
		for (char *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
			if (n == cap) {
				char **v = realloc(tok, (cap = cap ? cap * 2 : 16) * sizeof(*v));

				if (!v) {
					free(tok);
					return -ENOMEM;
				}
				tok = v;
			}
			tok[n++] = w;
		}
		if (!n || strlen(tok[0]) != 1) {
			err = -EUCLEAN;
		} else if (tok[0][0] == 't' && n == 2) {
			err = unescape(tok[1]) ? -EUCLEAN : 0;
			if (!err && !(t = get(tb, tok[1])))
				err = -ENOMEM;
		} else if (tok[0][0] == 'n' && t && !t->has_ns) {
			t->has_ns = true;
			err = labels_from_fields(tok + 1, n - 1, &t->ns, &used);
		} else if (tok[0][0] == 'i' && t) {
			err = entry_from_fields(t, tok + 1, n - 1);
		} else {
			err = -EUCLEAN;
		}
	}
	free(tok);
	return err;
}

static int load_path(struct nf_ident_table *tb, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	memset(tb, 0, sizeof(*tb));
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	/* the whole file, NUL-terminated */
	for (;;) {
		char *v = realloc(text, len + 65536 + 1);
		size_t got;

		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		text = v;
		got = fread(text + len, 1, 65536, f);
		len += got;
		if (got < 65536)
			break;
	}
	text[len] = '\0';
	if (ferror(f) || strlen(text) != len) {
		err = -EUCLEAN;
		goto out;
	}
	if (text[0] == '{')
		err = load_json(tb, path);
	else if (!strncmp(text, IDTAB_MAGIC, strlen(IDTAB_MAGIC)))
		err = load_text(tb, text);
	else
		err = -EUCLEAN;
out:
	fclose(f);
	free(text);
	if (err)
		idtab__free(tb);
	return err;
}

static int save_path(struct nf_ident_table *tb, const char *path)
{
	char *text = NULL;
	size_t len = 0, i, j, k;
	FILE *f;
	int err;

	if (!tb->dirty)
		return 0;
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	fputs(IDTAB_MAGIC, f);
	for (i = 0; i < tb->n; i++) {
		const struct nf_ident_tenant *t = &tb->t[i];

		fputs_unlocked("t ", f);
		put(f, t->name);
		fputc_unlocked('\n', f);
		if (t->has_ns) {
			fputc_unlocked('n', f);
			put_labels(f, &t->ns);
			fputc_unlocked('\n', f);
		}
		for (j = 0; j < t->n_ids; j++) {
			const struct nf_ident_entry *e = &t->ids[j];

			fputc_unlocked('i', f);
			put_num(f, ' ', e->idx);
			put_num(f, ' ', e->n_pods);
			put_labels(f, &e->labels);
			fputs_unlocked(" ;", f);
			for (k = 0; k < e->n_ports; k++) {
				fputc_unlocked(' ', f);
				put(f, e->ports[k].name);
				put_num(f, '/', e->ports[k].proto);
				put_num(f, '/', e->ports[k].port);
			}
			fputc_unlocked('\n', f);
		}
	}
	if (fclose(f)) {
		free(text);
		return -ENOMEM;
	}
	err = store__write(path, text, len);
	free(text);
	if (!err)
		tb->dirty = false;
	return err;
}

int idtab__load(struct nf_ident_table *tb)
{
	if (access(NF_STORE_IDENTITIES, F_OK) && !access(NF_STORE_IDENTITIES_V1, F_OK))
		return load_path(tb, NF_STORE_IDENTITIES_V1);
	return load_path(tb, NF_STORE_IDENTITIES);
}

int idtab__save(struct nf_ident_table *tb)
{
	bool wrote = tb->dirty;
	int err = save_path(tb, NF_STORE_IDENTITIES);

	if (!err && wrote)
		unlink(NF_STORE_IDENTITIES_V1);	/* read once, when this one was absent */
	return err;
}

int idtab__load_file(struct nf_ident_table *tb, const char *path)
{
	return load_path(tb, path);
}

int idtab__save_file(struct nf_ident_table *tb, const char *path)
{
	return save_path(tb, path);
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
	uint32_t *old_idx = NULL, *cnt = NULL, next = 1;
	char **keys = NULL;
	size_t n_keys = 0, n_old, i, j, o, n_new = 0;
	int changed = 0, err = 0;

	/* the distinct keys wanted */
	keys = calloc(n_pods + 1, sizeof(*keys));
	cnt = calloc(n_pods + 1, sizeof(*cnt));
	if (!keys || !cnt) {
		free(keys);
		free(cnt);
		return -ENOMEM;
	}
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
			cnt[o - 1]++;
			continue;
		}
		cnt[o] = 1;
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
			if (t->ids[j].n_pods != cnt[i])
				tb->dirty = true;	/* counts only: no identity changes */
			t->ids[j].n_pods = cnt[i];
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
		e->n_pods = cnt[i];
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
	free(cnt);
	free(old_idx);
	return err ? err : changed;
}

static struct nf_ident_entry *entry_by_key(struct nf_ident_tenant *t, const char *key)
{
	size_t i;

	for (i = 0; t && i < t->n_ids; i++)
		if (!strcmp(t->ids[i].key, key))
			return &t->ids[i];
	return NULL;
}

/* A new entry for pod's label set: the lowest index no entry has. */
static int entry_add(struct nf_ident_tenant *t, const struct nf_pod_obj *p, char *key)
{
	struct nf_ident_entry *v, *e;
	uint32_t idx;
	size_t i;

	for (idx = 1;; idx++) {
		for (i = 0; i < t->n_ids && t->ids[i].idx != idx; i++)
			;
		if (i == t->n_ids)
			break;
	}
	if (idx > NF_IDENT_MAX_INDEX)
		return -EUSERS;
	v = realloc(t->ids, (t->n_ids + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->ids = v;
	e = &t->ids[t->n_ids];
	memset(e, 0, sizeof(*e));
	e->ports = calloc(p->n_ports + 1, sizeof(*e->ports));
	if (!e->ports || nf_labels_copy(&e->labels, &p->labels)) {
		entry_clear(e);
		return -ENOMEM;
	}
	if (p->n_ports)
		memcpy(e->ports, p->ports, p->n_ports * sizeof(*e->ports));
	e->n_ports = p->n_ports;
	e->idx = idx;
	e->key = key;
	e->n_pods = 1;
	t->n_ids++;
	return 0;
}

int idtab__move_pods(struct nf_ident_table *tb, const char *tenant,
		     struct nf_pod_obj *const *from, size_t n_from,
		     struct nf_pod_obj *const *to, size_t n_to)
{
	struct nf_ident_tenant *t = find_mut(tb, tenant);
	struct nf_ident_entry *e;
	char **keys;
	uint32_t *need = NULL;
	size_t i, j;
	int changed = 0, err = 0;

	keys = calloc(n_from + n_to + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n_from + n_to; i++) {
		const struct nf_pod_obj *p = i < n_from ? from[i] : to[i - n_from];

		if (pod_has_identity(p) &&
		    !(keys[i] = ident_key(&p->labels, p->ports, p->n_ports))) {
			err = -ENOMEM;
			goto out;
		}
	}
	/* every count known, and enough pods on each identity `from` leaves */
	need = calloc((t ? t->n_ids : 0) + 1, sizeof(*need));
	if (!need) {
		err = -ENOMEM;
		goto out;
	}
	for (j = 0; t && j < t->n_ids; j++)
		if (!t->ids[j].n_pods) {
			err = -EAGAIN;
			goto out;
		}
	for (i = 0; i < n_from; i++) {
		if (!keys[i])
			continue;
		e = entry_by_key(t, keys[i]);
		if (!e || ++need[e - t->ids] > e->n_pods) {
			err = -EAGAIN;
			goto out;
		}
	}
	/* the pods arrive first, so an index freed here is not given out here */
	for (i = n_from; i < n_from + n_to; i++) {
		if (!keys[i])
			continue;
		if (!t && !(t = get(tb, tenant))) {
			err = -ENOMEM;
			goto out;
		}
		e = entry_by_key(t, keys[i]);
		if (e) {
			e->n_pods++;
		} else {
			err = entry_add(t, to[i - n_from], keys[i]);
			if (err)
				goto out;
			keys[i] = NULL;
			changed = 1;
		}
		tb->dirty = true;
	}
	for (i = 0; i < n_from; i++) {
		if (!keys[i] || !(e = entry_by_key(t, keys[i])))
			continue;
		tb->dirty = true;
		if (--e->n_pods)
			continue;
		j = (size_t)(e - t->ids);
		entry_clear(e);
		memmove(&t->ids[j], &t->ids[j + 1], (t->n_ids - j - 1) * sizeof(*t->ids));
		t->n_ids--;
		changed = 1;
	}
	if (t && changed)
		drop_if_empty(tb, tenant);
out:
	for (i = 0; i < n_from + n_to; i++)
		free(keys[i]);
	free(keys);
	free(need);
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
