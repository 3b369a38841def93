// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Policy input (SPEC §4): JSON documents -> validated IR (policy.h).
 *
 * Validation follows the Kubernetes API server (pkg/apis/networking/validation
 * ValidateNetworkPolicy, metav1validation.ValidateLabelSelector) plus what
 * netfence supports. Every problem becomes one line "FILE: PATH: message";
 * all problems of all documents are reported, not only the first. An object
 * with a problem is not added to the docset (and a docset with problems is
 * never compiled).
 *
 * Conventions: a parse function is called with the path already pointing at
 * the value it parses. JSON null counts as absent (as in Kubernetes' decoder).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "policy.h"

#define NS_NAME_LABEL	"kubernetes.io/metadata.name"
#define QUOTE_MAX	200	/* bytes of a user string quoted in a message */
#define QBUF_LEN	(QUOTE_MAX * 6 + 8)

static const char *const dir_names[NF_DIR_MAX] = { "Ingress", "Egress" };
static const char *const dir_keys[NF_DIR_MAX] = { "ingress", "egress" };
static const char *const peer_keys[NF_DIR_MAX] = { "from", "to" };

/* ---------------------------------------------------------------------------
 * Docset: the public struct plus capacities and a line reserved for "out of
 * memory", so that a failed allocation can never make a docset look valid.
 */
struct docset_priv {
	struct nf_docset pub;
	size_t cap_policies, cap_tenants, cap_problems;
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
	for (i = 0; i < ds->n_problems; i++)
		free(ds->problems[i]);
	free(ds->policies);
	free(ds->tenants);
	free(ds->problems);
	free(d->oom_line);
	free(d);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
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
static void ds_add_problem(struct nf_docset *ds, char *line)
{
	struct docset_priv *d = ds_priv(ds);

	if (line && grow((void **)&ds->problems, &d->cap_problems, ds->n_problems + 2,
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
static void ds_problemf(struct nf_docset *ds, const char *fmt, ...)
{
	char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	ds_add_problem(ds, line);
}

static int ds_add_policy(struct nf_docset *ds, struct nf_policy *p)
{
	struct docset_priv *d = ds_priv(ds);

	if (grow((void **)&ds->policies, &d->cap_policies, ds->n_policies + 1, sizeof(p)))
		return -ENOMEM;
	ds->policies[ds->n_policies++] = p;
	return 0;
}

static int ds_add_tenant(struct nf_docset *ds, struct nf_tenant_obj *t)
{
	struct docset_priv *d = ds_priv(ds);

	if (grow((void **)&ds->tenants, &d->cap_tenants, ds->n_tenants + 1, sizeof(t)))
		return -ENOMEM;
	ds->tenants[ds->n_tenants++] = t;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Parse context: file, current JSON path, problem reporting.
 */
struct pctx {
	struct nf_docset *ds;
	const char *file;
	char *path;
	size_t len, cap;
	bool oom;
};

static void path_append(struct pctx *c, const char *s)
{
	size_t n = strlen(s);

	if (c->oom)
		return;
	if (grow((void **)&c->path, &c->cap, c->len + n + 1, 1)) {
		c->oom = true;
		return;
	}
	memcpy(c->path + c->len, s, n + 1);
	c->len += n;
}

static size_t path_key(struct pctx *c, const char *key)
{
	size_t old = c->len;

	if (c->len)
		path_append(c, ".");
	path_append(c, key);
	return old;
}

static size_t path_index(struct pctx *c, size_t i)
{
	size_t old = c->len;
	char buf[32];

	snprintf(buf, sizeof(buf), "[%zu]", i);
	path_append(c, buf);
	return old;
}

static void path_pop(struct pctx *c, size_t old)
{
	if (c->path && old <= c->len) {
		c->len = old;
		c->path[old] = '\0';
	}
}

/*
 * Quote a user string for a message: JSON-style escapes for '"', '\' and
 * control characters (a problem is always one line), cut at QUOTE_MAX bytes
 * on a UTF-8 boundary.
 */
static const char *quote(const char *s, char *buf, size_t len)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; s[i] && o + 8 < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i >= QUOTE_MAX && (ch & 0xC0) != 0x80) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += snprintf(buf + o, len - o, "\\u%04x", ch);
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

__attribute__((format(printf, 2, 3)))
static void problem(struct pctx *c, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		ds_add_problem(c->ds, NULL);
		return;
	}
	ds_problemf(c->ds, "%s: %s: %s", c->file, c->len && c->path ? c->path : "(root)", msg);
	free(msg);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static bool expect_type(struct pctx *c, const json_t *v, json_type t)
{
	static const char *const want[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string", [JSON_INTEGER] = "an integer",
	};

	if (json_typeof(v) == t)
		return true;
	problem(c, "must be %s, got %s", want[t], type_name(v));
	return false;
}

/* A field's value, NULL when absent or null. */
static json_t *field(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

static void check_fields(struct pctx *c, json_t *obj, const char *const *known)
{
	char q[QBUF_LEN];
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v) {
		for (i = 0; known[i]; i++)
			if (!strcmp(key, known[i]))
				break;
		if (!known[i])
			problem(c, "unknown field %s", quote(key, q, sizeof(q)));
	}
}

/*
 * A field that must be a string. Reports "is required" when absent and
 * required, the type otherwise. Returns the string or NULL.
 */
static const char *string_field(struct pctx *c, json_t *obj, const char *key, bool required)
{
	json_t *v = field(obj, key);
	const char *s = NULL;
	size_t old = path_key(c, key);

	if (!v) {
		if (required)
			problem(c, "is required");
	} else if (expect_type(c, v, JSON_STRING)) {
		s = json_string_value(v);
	}
	path_pop(c, old);
	return s;
}

/* An optional array field with a size limit; NULL when absent or invalid. */
static json_t *array_field(struct pctx *c, json_t *obj, const char *key, size_t limit,
			   const char *what)
{
	json_t *v = field(obj, key);
	size_t old;

	if (!v)
		return NULL;
	old = path_key(c, key);
	if (!expect_type(c, v, JSON_ARRAY)) {
		v = NULL;
	} else if (limit && json_array_size(v) > limit) {
		problem(c, "at most %zu %s are supported by netfence, got %zu", limit, what,
			json_array_size(v));
		v = NULL;
	}
	path_pop(c, old);
	return v;
}

static char *xstrdup(struct pctx *c, const char *s)
{
	char *d = strdup(s);

	if (!d)
		c->oom = true;
	return d;
}

static void *xcalloc(struct pctx *c, size_t n, size_t size)
{
	void *p;

	if (!n)
		return NULL;
	p = calloc(n, size);
	if (!p)
		c->oom = true;
	return p;
}

/* ---------------------------------------------------------------------------
 * Names and addresses.
 */
static bool is_alnum_lower(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? of n bytes. */
static bool is_label_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool nf_is_dns1123_label(const char *s)
{
	return s && is_label_n(s, strlen(s));
}

/*
 * [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*, at most 253
 * bytes. Like Kubernetes (one regex over the name), a part may exceed 63.
 */
bool nf_is_dns1123_subdomain(const char *s)
{
	size_t n, i, start = 0;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!is_alnum_lower(s[i]) && s[i] != '-')
				return false;
			continue;
		}
		if (i == start || !is_alnum_lower(s[start]) || !is_alnum_lower(s[i - 1]))
			return false;
		start = i + 1;
	}
	return true;
}

int nf_parse_addr(const char *s, uint8_t addr[16], bool *is_v4)
{
	struct in_addr a4;

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(addr, 0, 10);
		addr[10] = 0xff;
		addr[11] = 0xff;
		memcpy(addr + 12, &a4, 4);
		if (is_v4)
			*is_v4 = true;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		if (is_v4)
			*is_v4 = false;
		return 0;
	}
	return -EINVAL;
}

static void clear_host_bits(uint8_t addr[16], unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		if (plen >= 8) {
			plen -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff << (8 - plen));
		plen = 0;
	}
}

int nf_parse_cidr(const char *s, struct nf_cidr *out)
{
	char abuf[INET6_ADDRSTRLEN + 1];
	const char *slash, *p;
	unsigned int plen = 0;
	struct nf_cidr c = {};
	size_t alen;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash)
		return -EINVAL;
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(abuf))
		return -EINVAL;
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';
	/* Decimal, no sign, no leading zero, at most 3 digits. */
	p = slash + 1;
	if (!*p || strlen(p) > 3 || (p[0] == '0' && p[1]))
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		plen = plen * 10 + (unsigned int)(*p - '0');
	}
	if (nf_parse_addr(abuf, c.addr, &c.is_v4))
		return -EINVAL;
	if (plen > (c.is_v4 ? 32u : 128u))
		return -EINVAL;
	c.plen = (uint8_t)(c.is_v4 ? 96 + plen : plen);
	clear_host_bits(c.addr, c.plen);
	*out = c;
	return 0;
}

static bool addr_is_v4mapped(const uint8_t addr[16])
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(addr, pfx, sizeof(pfx));
}

void nf_format_addr(const uint8_t addr[16], char *buf, size_t len)
{
	if (!len)
		return;
	if (addr_is_v4mapped(addr)) {
		if (!inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len))
			buf[0] = '\0';
	} else if (!inet_ntop(AF_INET6, addr, buf, (socklen_t)len)) {
		buf[0] = '\0';
	}
}

void nf_format_cidr(const struct nf_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (c->is_v4 && addr_is_v4mapped(c->addr) && c->plen >= 96) {
		nf_format_addr(c->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, c->plen - 96u);
	} else {
		if (!inet_ntop(AF_INET6, c->addr, a, sizeof(a)))
			a[0] = '\0';
		snprintf(buf, len, "%s/%u", a, c->plen);
	}
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
	unsigned int bytes = plen / 8, bits = plen % 8;
	uint8_t mask;

	if (plen > 128)
		return false;
	if (memcmp(a, b, bytes))
		return false;
	if (!bits)
		return true;
	mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool nf_cidr_contains(const struct nf_cidr *outer, const struct nf_cidr *inner)
{
	return inner->plen >= outer->plen && prefix_eq(outer->addr, inner->addr, outer->plen);
}

bool nf_cidr_has_addr(const struct nf_cidr *c, const uint8_t addr[16])
{
	return prefix_eq(c->addr, addr, c->plen);
}

/* ---------------------------------------------------------------------------
 * Freeing and copying the IR.
 */
static void peer_clear(struct nf_peer *pe)
{
	size_t i;

	free(pe->except);
	for (i = 0; i < pe->n_names; i++)
		free(pe->names[i]);
	free(pe->names);
}

static void rule_clear(struct nf_rule *r)
{
	size_t i;

	for (i = 0; i < r->n_peers; i++)
		peer_clear(&r->peers[i]);
	free(r->peers);
	free(r->ports);
}

void policy__free(struct nf_policy *p)
{
	size_t i;
	int d;

	if (!p)
		return;
	for (d = 0; d < NF_DIR_MAX; d++) {
		for (i = 0; i < p->n_rules[d]; i++)
			rule_clear(&p->rules[d][i]);
		free(p->rules[d]);
	}
	free(p->tenant);
	free(p->name);
	free(p->file);
	free(p->json);
	free(p);
}

void tenant_obj__free(struct nf_tenant_obj *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->file);
	free(t->json);
	free(t->cidrs);
	free(t);
}

static void *memdup(const void *src, size_t n, size_t size, bool *fail)
{
	void *d;

	if (!n || !src)
		return NULL;
	d = malloc(n * size);
	if (!d) {
		*fail = true;
		return NULL;
	}
	memcpy(d, src, n * size);
	return d;
}

static char *strdup_opt(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

static void peer_copy(struct nf_peer *dst, const struct nf_peer *src, bool *fail)
{
	size_t i;

	*dst = *src;
	dst->except = memdup(src->except, src->n_except, sizeof(*src->except), fail);
	if (!dst->except)
		dst->n_except = 0;
	dst->names = NULL;
	dst->n_names = 0;
	if (!src->n_names)
		return;
	dst->names = calloc(src->n_names, sizeof(char *));
	if (!dst->names) {
		*fail = true;
		return;
	}
	for (i = 0; i < src->n_names; i++) {
		dst->names[i] = strdup_opt(src->names[i], fail);
		dst->n_names = i + 1;
	}
}

struct nf_policy *policy__dup(const struct nf_policy *p)
{
	struct nf_policy *d;
	bool fail = false;
	size_t i, j;
	int dir;

	if (!p)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->tenant = strdup_opt(p->tenant, &fail);
	d->name = strdup_opt(p->name, &fail);
	d->file = strdup_opt(p->file, &fail);
	d->json = strdup_opt(p->json, &fail);
	for (dir = 0; dir < NF_DIR_MAX; dir++) {
		d->has_dir[dir] = p->has_dir[dir];
		if (!p->n_rules[dir])
			continue;
		d->rules[dir] = calloc(p->n_rules[dir], sizeof(struct nf_rule));
		if (!d->rules[dir]) {
			fail = true;
			break;
		}
		d->n_rules[dir] = p->n_rules[dir];
		for (i = 0; i < p->n_rules[dir]; i++) {
			const struct nf_rule *sr = &p->rules[dir][i];
			struct nf_rule *dr = &d->rules[dir][i];

			dr->ports = memdup(sr->ports, sr->n_ports, sizeof(*sr->ports), &fail);
			if (dr->ports)
				dr->n_ports = sr->n_ports;
			if (!sr->n_peers)
				continue;
			dr->peers = calloc(sr->n_peers, sizeof(struct nf_peer));
			if (!dr->peers) {
				fail = true;
				continue;
			}
			for (j = 0; j < sr->n_peers; j++) {
				peer_copy(&dr->peers[j], &sr->peers[j], &fail);
				dr->n_peers = j + 1;
			}
		}
	}
	if (fail) {
		policy__free(d);
		return NULL;
	}
	return d;
}

/* ---------------------------------------------------------------------------
 * Tenant sets for namespaceSelector: (negate, sorted unique names).
 * Names point into the JSON tree while they are computed.
 */
struct tset {
	bool negate;
	const char **names;
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort and dedupe in place. */
static void names_normalize(const char **v, size_t *n)
{
	size_t i, o = 0;

	if (*n < 2)
		return;
	qsort(v, *n, sizeof(*v), cmp_str);
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
enum sel_kind { SEL_POD, SEL_NAMESPACE };

static const char *const selector_fields[] = { "matchLabels", "matchExpressions", NULL };
static const char *const expr_fields[] = { "key", "operator", "values", NULL };

static bool check_ns_value(struct pctx *c, const char *v)
{
	char q[QBUF_LEN];

	if (nf_is_dns1123_label(v))
		return true;
	problem(c, "%s is not a valid tenant name (a DNS-1123 label: at most 63 lowercase "
		"letters, digits and '-', starting and ending with a letter or digit)",
		quote(v, q, sizeof(q)));
	return false;
}

static void unsupported_label(struct pctx *c, const char *key)
{
	char q[QBUF_LEN];

	problem(c, "label %s is not supported by netfence (only " NS_NAME_LABEL ")",
		quote(key, q, sizeof(q)));
}

static void parse_match_labels(struct pctx *c, json_t *ml, enum sel_kind kind, bool *empty,
			       struct tset *set)
{
	char q[QBUF_LEN];
	const char *key;
	json_t *v;

	if (!expect_type(c, ml, JSON_OBJECT))
		return;
	json_object_foreach(ml, key, v) {
		size_t old;
		char *seg;
		int ok;

		*empty = false;
		/* matchLabels["key"] */
		quote(key, q, sizeof(q));
		if (asprintf(&seg, "[%s]", q) < 0) {
			c->oom = true;
			return;
		}
		old = c->len;
		path_append(c, seg);
		free(seg);
		ok = expect_type(c, v, JSON_STRING);
		path_pop(c, old);
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

	if (!expect_type(c, e, JSON_OBJECT))
		return;
	check_fields(c, e, expr_fields);
	key = string_field(c, e, "key", true);
	op = string_field(c, e, "operator", true);
	key_ok = key != NULL;
	if (key && kind == SEL_NAMESPACE && strcmp(key, NS_NAME_LABEL)) {
		old = path_key(c, "key");
		unsupported_label(c, key);
		path_pop(c, old);
		key_ok = false;
	}
	if (op) {
		static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };

		for (i = 0; i < 4; i++)
			if (!strcmp(op, ops[i]))
				op_kind = (int)i;
		if (op_kind < 0) {
			old = path_key(c, "operator");
			problem(c, "%s is not a valid operator (must be In, NotIn, Exists or "
				"DoesNotExist)", quote(op, q, sizeof(q)));
			path_pop(c, old);
		}
	}
	op_ok = op_kind >= 0;

	values = field(e, "values");
	old = path_key(c, "values");
	if (values && !expect_type(c, values, JSON_ARRAY)) {
		values = NULL;
		vals_ok = false;
	}
	n = values ? json_array_size(values) : 0;
	if (op_kind == 0 || op_kind == 1) {
		if (!n && vals_ok) {
			problem(c, "must be specified when operator is In or NotIn");
			vals_ok = false;
		}
	} else if (op_kind >= 2 && n) {
		problem(c, "may not be specified when operator is Exists or DoesNotExist");
		vals_ok = false;
	}
	if (n && vals_ok) {
		t.names = xcalloc(c, n, sizeof(*t.names));
		if (!t.names)
			vals_ok = false;
	}
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(values, i);
		size_t o2 = path_index(c, i);

		if (!expect_type(c, v, JSON_STRING)) {
			vals_ok = false;
		} else if (kind == SEL_NAMESPACE && key_ok) {
			if (!check_ns_value(c, json_string_value(v)))
				vals_ok = false;
			else if (t.names)
				t.names[t.n++] = json_string_value(v);
		}
		path_pop(c, o2);
	}
	path_pop(c, old);

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
static void parse_selector(struct pctx *c, json_t *sel, enum sel_kind kind, bool *empty,
			   struct tset *set)
{
	json_t *ml, *me;
	size_t old, i;

	*empty = true;
	set->negate = true;
	set->names = NULL;
	set->n = 0;
	if (!expect_type(c, sel, JSON_OBJECT))
		return;
	check_fields(c, sel, selector_fields);
	ml = field(sel, "matchLabels");
	if (ml) {
		old = path_key(c, "matchLabels");
		parse_match_labels(c, ml, kind, empty, set);
		path_pop(c, old);
	}
	me = field(sel, "matchExpressions");
	if (me) {
		old = path_key(c, "matchExpressions");
		if (expect_type(c, me, JSON_ARRAY)) {
			for (i = 0; i < json_array_size(me); i++) {
				size_t o2 = path_index(c, i);

				*empty = false;
				parse_expr(c, json_array_get(me, i), kind, set);
				path_pop(c, o2);
			}
		}
		path_pop(c, old);
	}
}

/* ---------------------------------------------------------------------------
 * NetworkPolicy.
 */
static const char *const netpol_fields[] = { "apiVersion", "kind", "metadata", "spec", "status",
					      NULL };
static const char *const spec_fields[] = { "podSelector", "policyTypes", "ingress", "egress",
					   NULL };
static const char *const peer_fields[] = { "podSelector", "namespaceSelector", "ipBlock", NULL };
static const char *const ipblock_fields[] = { "cidr", "except", NULL };
static const char *const port_fields[] = { "protocol", "port", "endPort", NULL };
static const char *const ingress_fields[] = { "from", "ports", NULL };
static const char *const egress_fields[] = { "to", "ports", NULL };

/* ::ffff:0.0.0.0/96, the IPv4 space in the 128-bit address space. */
static const struct nf_cidr v4_space = {
	.addr = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, .plen = 96, .is_v4 = true,
};

static void parse_ipblock(struct pctx *c, json_t *ib, struct nf_peer *pe)
{
	char q1[QBUF_LEN], q2[QBUF_LEN];
	const char *cidr_s;
	bool cidr_ok = false, implicit;
	size_t i, n, old = c->len;
	json_t *ex;

	if (!expect_type(c, ib, JSON_OBJECT))
		return;
	check_fields(c, ib, ipblock_fields);
	cidr_s = string_field(c, ib, "cidr", true);
	if (cidr_s) {
		old = path_key(c, "cidr");
		cidr_ok = nf_parse_cidr(cidr_s, &pe->cidr) == 0;
		if (!cidr_ok)
			problem(c, "%s is not a valid CIDR", quote(cidr_s, q1, sizeof(q1)));
		path_pop(c, old);
	}
	ex = array_field(c, ib, "except", NF_POLICY_MAX_EXCEPTS, "except entries");
	n = ex ? json_array_size(ex) : 0;
	/*
	 * An IPv6 ipBlock never matches IPv4 packets in Kubernetes, but an IPv6
	 * prefix up to /96 covers the v4-mapped range here: exclude it explicitly.
	 */
	implicit = cidr_ok && !pe->cidr.is_v4 && pe->cidr.plen < 96 &&
		   nf_cidr_contains(&pe->cidr, &v4_space);
	pe->except = xcalloc(c, n + implicit, sizeof(*pe->except));
	if (!ex && !implicit)
		return;
	if (ex)
		old = path_key(c, "except");
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(ex, i);
		struct nf_cidr e;
		size_t o2 = path_index(c, i);
		const char *s;

		if (!expect_type(c, v, JSON_STRING))
			goto next;
		s = json_string_value(v);
		if (nf_parse_cidr(s, &e)) {
			problem(c, "%s is not a valid CIDR", quote(s, q1, sizeof(q1)));
			goto next;
		}
		if (!cidr_ok)
			goto next;
		if (e.is_v4 != pe->cidr.is_v4)
			problem(c, "%s must be the same address family as cidr %s",
				quote(s, q1, sizeof(q1)), quote(cidr_s, q2, sizeof(q2)));
		else if (!nf_cidr_contains(&pe->cidr, &e) || e.plen <= pe->cidr.plen)
			problem(c, "%s must be a strict subset of cidr %s",
				quote(s, q1, sizeof(q1)), quote(cidr_s, q2, sizeof(q2)));
		else if (pe->except)
			pe->except[pe->n_except++] = e;
next:
		path_pop(c, o2);
	}
	if (ex)
		path_pop(c, old);
	if (implicit && pe->except)
		pe->except[pe->n_except++] = v4_space;
}

static void parse_peer(struct pctx *c, json_t *obj, const char *tenant, struct nf_peer *pe)
{
	json_t *ps, *ns, *ib;
	bool ps_empty = true, ns_empty;
	struct tset set = {};
	size_t old;

	if (!expect_type(c, obj, JSON_OBJECT))
		return;
	check_fields(c, obj, peer_fields);
	ps = field(obj, "podSelector");
	ns = field(obj, "namespaceSelector");
	ib = field(obj, "ipBlock");
	if (!ps && !ns && !ib) {
		problem(c, "must specify at least one of podSelector, namespaceSelector or ipBlock");
		return;
	}
	if (ib && (ps || ns))
		problem(c, "ipBlock may not be combined with podSelector or namespaceSelector");
	if (ps) {
		struct tset unused;

		old = path_key(c, "podSelector");
		parse_selector(c, ps, SEL_POD, &ps_empty, &unused);
		if (!ps_empty)
			problem(c, "non-empty podSelector is not supported by netfence (use {} — it "
				"selects whole tenants)");
		path_pop(c, old);
	}
	if (ib) {
		pe->kind = NF_PK_IPBLOCK;
		old = path_key(c, "ipBlock");
		parse_ipblock(c, ib, pe);
		path_pop(c, old);
		return;
	}
	pe->kind = NF_PK_TENANTS;
	if (ns) {
		old = path_key(c, "namespaceSelector");
		parse_selector(c, ns, SEL_NAMESPACE, &ns_empty, &set);
		path_pop(c, old);
	} else {
		/* podSelector {} alone: the policy's own tenant. */
		set.negate = false;
		set.names = tenant ? malloc(sizeof(*set.names)) : NULL;
		if (set.names) {
			set.names[0] = tenant;
			set.n = 1;
		}
	}
	pe->negate = set.negate;
	if (set.n) {
		size_t i;

		pe->names = xcalloc(c, set.n, sizeof(char *));
		for (i = 0; pe->names && i < set.n; i++) {
			pe->names[i] = xstrdup(c, set.names[i]);
			pe->n_names = i + 1;
		}
	}
	free(set.names);
}

static void range_problem(struct pctx *c, json_int_t v)
{
	problem(c, "%" JSON_INTEGER_FORMAT " must be between 1 and 65535, inclusive", v);
}

static void parse_port(struct pctx *c, json_t *obj, struct nf_port_range *pr)
{
	const char *proto;
	json_t *port, *end;
	bool numeric = false, named = false;
	char q[QBUF_LEN];
	json_int_t pv = 0;
	size_t old;

	if (!expect_type(c, obj, JSON_OBJECT))
		return;
	check_fields(c, obj, port_fields);
	pr->proto = IPPROTO_TCP;
	proto = string_field(c, obj, "protocol", false);
	if (proto) {
		if (!strcmp(proto, "TCP")) {
			pr->proto = IPPROTO_TCP;
		} else if (!strcmp(proto, "UDP")) {
			pr->proto = IPPROTO_UDP;
		} else if (!strcmp(proto, "SCTP")) {
			pr->proto = IPPROTO_SCTP;
		} else {
			old = path_key(c, "protocol");
			problem(c, "%s is not supported (must be TCP, UDP or SCTP)",
				quote(proto, q, sizeof(q)));
			path_pop(c, old);
		}
	}
	pr->lo = 0;
	pr->hi = 65535;
	port = field(obj, "port");
	if (port) {
		old = path_key(c, "port");
		if (json_is_integer(port)) {
			pv = json_integer_value(port);
			if (pv < 1 || pv > 65535)
				range_problem(c, pv);
			else
				numeric = true;
		} else if (json_is_string(port)) {
			const char *s = json_string_value(port);
			size_t k = strspn(s, "0123456789");

			named = true;
			if (*s && !s[k])
				problem(c, "named ports are not supported by netfence (got %s; write "
					"the number without quotes)", quote(s, q, sizeof(q)));
			else
				problem(c, "named ports are not supported by netfence (got %s)",
					quote(s, q, sizeof(q)));
		} else {
			problem(c, "must be an integer or a string, got %s", type_name(port));
		}
		path_pop(c, old);
	}
	if (numeric) {
		pr->lo = (uint16_t)pv;
		pr->hi = (uint16_t)pv;
	}
	end = field(obj, "endPort");
	if (!end)
		return;
	old = path_key(c, "endPort");
	if (!expect_type(c, end, JSON_INTEGER)) {
		/* reported */
	} else if (!port) {
		problem(c, "may not be specified when port is not specified");
	} else if (named) {
		problem(c, "may not be specified when port is a named port");
	} else if (json_integer_value(end) < 1 || json_integer_value(end) > 65535) {
		range_problem(c, json_integer_value(end));
	} else if (numeric && json_integer_value(end) < pv) {
		problem(c, "%" JSON_INTEGER_FORMAT " must be greater than or equal to port %"
			JSON_INTEGER_FORMAT, json_integer_value(end), pv);
	} else if (numeric) {
		pr->hi = (uint16_t)json_integer_value(end);
	}
	path_pop(c, old);
}

static void parse_rule(struct pctx *c, json_t *obj, int dir, const char *tenant, struct nf_rule *r)
{
	json_t *peers, *ports;
	size_t i, old;

	if (!expect_type(c, obj, JSON_OBJECT))
		return;
	check_fields(c, obj, dir == NF_DIR_INGRESS ? ingress_fields : egress_fields);
	peers = array_field(c, obj, peer_keys[dir], NF_POLICY_MAX_PEERS, "peers");
	if (peers && json_array_size(peers)) {
		r->peers = xcalloc(c, json_array_size(peers), sizeof(*r->peers));
		old = path_key(c, peer_keys[dir]);
		for (i = 0; r->peers && i < json_array_size(peers); i++) {
			size_t o2 = path_index(c, i);

			r->n_peers = i + 1;
			parse_peer(c, json_array_get(peers, i), tenant, &r->peers[i]);
			path_pop(c, o2);
		}
		path_pop(c, old);
	}
	ports = array_field(c, obj, "ports", NF_POLICY_MAX_PORTS, "ports");
	if (ports && json_array_size(ports)) {
		r->ports = xcalloc(c, json_array_size(ports), sizeof(*r->ports));
		old = path_key(c, "ports");
		for (i = 0; r->ports && i < json_array_size(ports); i++) {
			size_t o2 = path_index(c, i);

			r->n_ports = i + 1;
			parse_port(c, json_array_get(ports, i), &r->ports[i]);
			path_pop(c, o2);
		}
		path_pop(c, old);
	}
}

static void parse_policy_types(struct pctx *c, json_t *pt, bool types[NF_DIR_MAX])
{
	char q[QBUF_LEN];
	size_t i, old;
	int d;

	old = path_key(c, "policyTypes");
	if (!expect_type(c, pt, JSON_ARRAY))
		goto out;
	if (json_array_size(pt) > 2)
		problem(c, "may not contain more than 2 values, got %zu", json_array_size(pt));
	for (i = 0; i < json_array_size(pt); i++) {
		json_t *v = json_array_get(pt, i);
		size_t o2 = path_index(c, i);
		const char *s;

		if (!expect_type(c, v, JSON_STRING))
			goto next;
		s = json_string_value(v);
		for (d = 0; d < NF_DIR_MAX; d++)
			if (!strcmp(s, dir_names[d]))
				break;
		if (d == NF_DIR_MAX)
			problem(c, "%s is not supported (must be Ingress or Egress)",
				quote(s, q, sizeof(q)));
		else if (types[d])
			problem(c, "duplicate value %s", quote(s, q, sizeof(q)));
		else
			types[d] = true;
next:
		path_pop(c, o2);
	}
out:
	path_pop(c, old);
}

static void parse_spec(struct pctx *c, json_t *spec, struct nf_policy *p)
{
	json_t *ps, *pt, *rules[NF_DIR_MAX];
	bool types[NF_DIR_MAX] = {}, empty;
	struct tset unused;
	size_t i, old;
	int d;

	if (!expect_type(c, spec, JSON_OBJECT))
		return;
	check_fields(c, spec, spec_fields);
	ps = field(spec, "podSelector");
	old = path_key(c, "podSelector");
	if (!ps) {
		problem(c, "is required");
	} else {
		parse_selector(c, ps, SEL_POD, &empty, &unused);
		if (!empty)
			problem(c, "non-empty podSelector is not supported by netfence (use {} — a "
				"policy applies to the whole tenant)");
	}
	path_pop(c, old);

	pt = field(spec, "policyTypes");
	if (pt)
		parse_policy_types(c, pt, types);
	for (d = 0; d < NF_DIR_MAX; d++) {
		rules[d] = array_field(c, spec, dir_keys[d], NF_POLICY_MAX_RULES, "rules");
		if (!rules[d] || !json_array_size(rules[d]))
			continue;
		p->rules[d] = xcalloc(c, json_array_size(rules[d]), sizeof(struct nf_rule));
		old = path_key(c, dir_keys[d]);
		for (i = 0; p->rules[d] && i < json_array_size(rules[d]); i++) {
			size_t o2 = path_index(c, i);

			p->n_rules[d] = i + 1;
			parse_rule(c, json_array_get(rules[d], i), d, p->tenant, &p->rules[d][i]);
			path_pop(c, o2);
		}
		path_pop(c, old);
	}

	/* Defaulting as the API server does (SetDefaults_NetworkPolicySpec). */
	if (!types[NF_DIR_INGRESS] && !types[NF_DIR_EGRESS]) {
		types[NF_DIR_INGRESS] = true;
		types[NF_DIR_EGRESS] = rules[NF_DIR_EGRESS] && json_array_size(rules[NF_DIR_EGRESS]);
	}
	for (d = 0; d < NF_DIR_MAX; d++) {
		p->has_dir[d] = types[d];
		/* Rules of a direction the policy does not apply to are inert. */
		if (!types[d]) {
			for (i = 0; i < p->n_rules[d]; i++)
				rule_clear(&p->rules[d][i]);
			free(p->rules[d]);
			p->rules[d] = NULL;
			p->n_rules[d] = 0;
		}
	}
}

static void invalid_name(struct pctx *c, const char *s, bool subdomain)
{
	char q[QBUF_LEN];

	if (subdomain)
		problem(c, "%s is not a valid DNS-1123 subdomain (at most 253 lowercase letters, "
			"digits, '-' and '.', starting and ending with a letter or digit)",
			quote(s, q, sizeof(q)));
	else
		problem(c, "%s is not a valid DNS-1123 label (at most 63 lowercase letters, "
			"digits and '-', starting and ending with a letter or digit)",
			quote(s, q, sizeof(q)));
}

/* metadata.name (+ metadata.namespace for a policy); other keys are ignored. */
static void parse_metadata(struct pctx *c, json_t *obj, bool is_policy, const char **name,
			   const char **ns)
{
	json_t *md = field(obj, "metadata");
	size_t old = path_key(c, "metadata");
	const char *s;

	*name = NULL;
	*ns = NULL;
	if (!md) {
		problem(c, "is required");
		goto out;
	}
	if (!expect_type(c, md, JSON_OBJECT))
		goto out;
	s = string_field(c, md, "name", true);
	if (s) {
		size_t o2 = path_key(c, "name");

		if (is_policy ? nf_is_dns1123_subdomain(s) : nf_is_dns1123_label(s))
			*name = s;
		else
			invalid_name(c, s, is_policy);
		path_pop(c, o2);
	}
	if (!is_policy)
		goto out;
	s = string_field(c, md, "namespace", false);
	if (s) {
		size_t o2 = path_key(c, "namespace");

		if (nf_is_dns1123_label(s))
			*ns = s;
		else
			invalid_name(c, s, false);
		path_pop(c, o2);
	} else if (!field(md, "namespace")) {
		size_t o2 = path_key(c, "namespace");

		problem(c, "is required (it names the tenant)");
		path_pop(c, o2);
	}
out:
	path_pop(c, old);
}

/* The stored JSON is a complete document even for an item of a NetworkPolicyList. */
static char *dump_object(struct pctx *c, json_t *obj, const char *api, const char *kind)
{
	char *s;

	if (!json_object_get(obj, "apiVersion"))
		json_object_set_new(obj, "apiVersion", json_string(api));
	if (!json_object_get(obj, "kind"))
		json_object_set_new(obj, "kind", json_string(kind));
	s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		c->oom = true;
	return s;
}

/* before: the problem count when the object started (its kind/apiVersion are checked). */
static void parse_netpol(struct pctx *c, json_t *obj, size_t before)
{
	const char *name, *ns;
	struct nf_policy *p;
	json_t *spec;
	size_t old;

	check_fields(c, obj, netpol_fields);
	p = xcalloc(c, 1, sizeof(*p));
	if (!p)
		return;
	parse_metadata(c, obj, true, &name, &ns);
	if (ns)
		p->tenant = xstrdup(c, ns);
	spec = field(obj, "spec");
	old = path_key(c, "spec");
	if (!spec)
		problem(c, "is required");
	else
		parse_spec(c, spec, p);
	path_pop(c, old);

	if (c->ds->n_problems != before || c->oom || !name || !ns) {
		policy__free(p);
		return;
	}
	p->name = xstrdup(c, name);
	p->file = xstrdup(c, c->file);
	p->json = dump_object(c, obj, "networking.k8s.io/v1", "NetworkPolicy");
	if (c->oom || ds_add_policy(c->ds, p)) {
		c->oom = true;
		policy__free(p);
	}
}

/* ---------------------------------------------------------------------------
 * Tenant.
 */
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

	check_fields(c, obj, tenant_fields);
	t = xcalloc(c, 1, sizeof(*t));
	if (!t)
		return;
	parse_metadata(c, obj, false, &name, &ns);
	spec = field(obj, "spec");
	if (spec) {
		old = path_key(c, "spec");
		if (expect_type(c, spec, JSON_OBJECT)) {
			check_fields(c, spec, tenant_spec_fields);
			cidrs = array_field(c, spec, "cidrs", 0, NULL);
		}
		if (cidrs) {
			n = json_array_size(cidrs);
			t->cidrs = xcalloc(c, n, sizeof(*t->cidrs));
			path_key(c, "cidrs");
			for (i = 0; i < n; i++) {
				json_t *v = json_array_get(cidrs, i);
				size_t o2 = path_index(c, i);
				struct nf_cidr cd;

				if (!expect_type(c, v, JSON_STRING))
					;
				else if (nf_parse_cidr(json_string_value(v), &cd))
					problem(c, "%s is not a valid CIDR",
						quote(json_string_value(v), q, sizeof(q)));
				else if (t->cidrs)
					t->cidrs[t->n_cidrs++] = cd;
				path_pop(c, o2);
			}
		}
		path_pop(c, old);
	}
	if (c->ds->n_problems != before || c->oom || !name) {
		tenant_obj__free(t);
		return;
	}
	t->name = xstrdup(c, name);
	t->file = xstrdup(c, c->file);
	t->json = dump_object(c, obj, "netfence.io/v1alpha1", "Tenant");
	if (c->oom || ds_add_tenant(c->ds, t)) {
		c->oom = true;
		tenant_obj__free(t);
	}
}

/* ---------------------------------------------------------------------------
 * Documents.
 */
enum doc_ctx { DOC_TOP, DOC_NPLIST, DOC_LIST };

static const char *const list_fields[] = { "apiVersion", "kind", "metadata", "items", NULL };

static void parse_object(struct pctx *c, json_t *obj, enum doc_ctx where);

static void parse_list(struct pctx *c, json_t *obj, enum doc_ctx where)
{
	json_t *items;
	size_t i, old;

	check_fields(c, obj, list_fields);
	items = field(obj, "items");
	old = path_key(c, "items");
	if (!items)
		problem(c, "is required");
	else if (expect_type(c, items, JSON_ARRAY))
		for (i = 0; i < json_array_size(items); i++) {
			size_t o2 = path_index(c, i);

			parse_object(c, json_array_get(items, i), where);
			path_pop(c, o2);
		}
	path_pop(c, old);
}

static void check_api_version(struct pctx *c, json_t *obj, const char *want, const char *kind,
			      bool required)
{
	const char *api = string_field(c, obj, "apiVersion", required);
	char q[QBUF_LEN];
	size_t old;

	if (!api || !strcmp(api, want))
		return;
	old = path_key(c, "apiVersion");
	problem(c, "%s is not supported for kind %s (expected \"%s\")", quote(api, q, sizeof(q)),
		kind, want);
	path_pop(c, old);
}

static void parse_object(struct pctx *c, json_t *obj, enum doc_ctx where)
{
	size_t before = c->ds->n_problems;
	const char *kind;
	char q[QBUF_LEN];
	size_t old;

	if (!expect_type(c, obj, JSON_OBJECT))
		return;
	/* The API server's list responses leave kind/apiVersion out of the items. */
	kind = string_field(c, obj, "kind", where != DOC_NPLIST);
	if (!kind) {
		if (where != DOC_NPLIST || field(obj, "kind"))
			return;
		kind = "NetworkPolicy";
	}
	if (!strcmp(kind, "NetworkPolicy")) {
		check_api_version(c, obj, "networking.k8s.io/v1", kind, where != DOC_NPLIST);
		parse_netpol(c, obj, before);
		return;
	}
	if (!strcmp(kind, "Tenant") && where != DOC_NPLIST) {
		check_api_version(c, obj, "netfence.io/v1alpha1", kind, true);
		parse_tenant(c, obj, before);
		return;
	}
	if (where == DOC_TOP && !strcmp(kind, "NetworkPolicyList")) {
		check_api_version(c, obj, "networking.k8s.io/v1", kind, true);
		parse_list(c, obj, DOC_NPLIST);
		return;
	}
	if (where == DOC_TOP && !strcmp(kind, "List")) {
		check_api_version(c, obj, "v1", kind, true);
		parse_list(c, obj, DOC_LIST);
		return;
	}
	old = path_key(c, "kind");
	quote(kind, q, sizeof(q));
	if (where == DOC_TOP)
		problem(c, "%s is not supported (expected NetworkPolicy, NetworkPolicyList, List "
			"or Tenant)", q);
	else if (where == DOC_LIST)
		problem(c, "%s is not supported in a List (expected NetworkPolicy or Tenant)", q);
	else
		problem(c, "%s is not supported in a NetworkPolicyList (expected NetworkPolicy)",
			q);
	path_pop(c, old);
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
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!root) {
		/* Keep the line one line, whatever jansson quotes back. */
		for (i = 0; err.text[i]; i++)
			if ((unsigned char)err.text[i] < 0x20)
				err.text[i] = ' ';
		ds_problemf(ds, "%s: line %d, column %d: invalid JSON: %s", file, err.line,
			    err.column, err.text);
		return 0;
	}
	parse_object(&c, root, DOC_TOP);
	json_decref(root);
	free(c.path);
	if (c.oom) {
		ds_add_problem(ds, NULL);
		return -ENOMEM;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * Paths: files, directories, stdin.
 */
static int read_fd(int fd, char **out, size_t *out_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	ssize_t r;

	for (;;) {
		if (grow((void **)&buf, &cap, len + 65536, 1)) {
			free(buf);
			return -ENOMEM;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			free(buf);
			return (int)r;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

static int load_file(struct nf_docset *ds, const char *path, const char *name)
{
	size_t len = 0;
	char *buf = NULL;
	int fd, err;

	if (!strcmp(path, "-")) {
		err = read_fd(STDIN_FILENO, &buf, &len);
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
		} else {
			err = read_fd(fd, &buf, &len);
			close(fd);
		}
	}
	if (err) {
		ds_problemf(ds, "%s: cannot read: %s", name, strerror(-err));
		return err;
	}
	err = policy__load_json(ds, name, buf, len);
	free(buf);
	return err;
}

static bool is_json_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && !strcmp(n + l - 5, ".json");
}

static int load_dir(struct nf_docset *ds, const char *path)
{
	size_t n = 0, cap = 0, i;
	char **files = NULL;
	struct dirent *de;
	int err = 0;
	DIR *d;

	d = opendir(path);
	if (!d) {
		err = -errno;
		ds_problemf(ds, "%s: cannot read: %s", path, strerror(-err));
		return err;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		char *full;
		size_t pl = strlen(path);

		if (!is_json_name(de->d_name))
			continue;
		if (asprintf(&full, "%s%s%s", path, pl && path[pl - 1] == '/' ? "" : "/",
			     de->d_name) < 0) {
			err = -ENOMEM;
			break;
		}
		/* Follow symlinks (a mounted ConfigMap's files are symlinks). */
		if (stat(full, &st) || !S_ISREG(st.st_mode)) {
			free(full);
			continue;
		}
		if (grow((void **)&files, &cap, n + 1, sizeof(char *))) {
			free(full);
			err = -ENOMEM;
			break;
		}
		files[n++] = full;
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (err) {
		ds_problemf(ds, "%s: cannot read: %s", path, strerror(-err));
	} else {
		if (n > 1)
			qsort(files, n, sizeof(char *), cmp_str);
		for (i = 0; i < n; i++)
			if (load_file(ds, files[i], files[i]) == -ENOMEM)
				err = -ENOMEM;
	}
	for (i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return err;
}

int policy__load_path(struct nf_docset *ds, const char *path)
{
	struct stat st;
	int err;

	if (!strcmp(path, "-"))
		return load_file(ds, "-", "<stdin>");
	if (stat(path, &st)) {
		err = -errno;
		ds_problemf(ds, "%s: cannot read: %s", path, strerror(-err));
		return err;
	}
	if (S_ISDIR(st.st_mode))
		return load_dir(ds, path);
	return load_file(ds, path, path);
}

/* ---------------------------------------------------------------------------
 * Duplicates: sort indices by key, report each later occurrence.
 */
struct dup_ent {
	const char *a, *b;	/* tenant (or "" for a Tenant object), name */
	const char *file;
	size_t idx;
};

static int cmp_dup(const void *x, const void *y)
{
	const struct dup_ent *p = x, *q = y;
	int r = strcmp(p->a, q->a);

	if (!r)
		r = strcmp(p->b, q->b);
	if (!r)
		r = p->idx < q->idx ? -1 : p->idx > q->idx;
	return r;
}

static void check_dups(struct nf_docset *ds, struct dup_ent *e, size_t n, bool policies)
{
	size_t i, first = 0;

	qsort(e, n, sizeof(*e), cmp_dup);
	for (i = 1; i < n; i++) {
		if (strcmp(e[i].a, e[first].a) || strcmp(e[i].b, e[first].b)) {
			first = i;
			continue;
		}
		if (policies)
			ds_problemf(ds, "%s: metadata.name: NetworkPolicy \"%s/%s\" is defined "
				    "twice (also in %s)", e[i].file, e[i].a, e[i].b,
				    e[first].file);
		else
			ds_problemf(ds, "%s: metadata.name: Tenant \"%s\" is defined twice (also "
				    "in %s)", e[i].file, e[i].b, e[first].file);
	}
}

void policy__check_duplicates(struct nf_docset *ds)
{
	size_t n = ds->n_policies > ds->n_tenants ? ds->n_policies : ds->n_tenants, i;
	struct dup_ent *e;

	if (n < 2)
		return;
	e = calloc(n, sizeof(*e));
	if (!e) {
		ds_add_problem(ds, NULL);
		return;
	}
	for (i = 0; i < ds->n_policies; i++)
		e[i] = (struct dup_ent){ ds->policies[i]->tenant, ds->policies[i]->name,
					 ds->policies[i]->file, i };
	check_dups(ds, e, ds->n_policies, true);
	for (i = 0; i < ds->n_tenants; i++)
		e[i] = (struct dup_ent){ "", ds->tenants[i]->name, ds->tenants[i]->file, i };
	check_dups(ds, e, ds->n_tenants, false);
	free(e);
}
