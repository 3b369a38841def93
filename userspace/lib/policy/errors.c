// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Errors with JSON paths: the parse context (file, the JSON path of the
 * value being parsed), problem lines "FILE: PATH: message", user strings
 * quoted so that a problem stays one line, and typed field access that
 * reports wrong types, unknown fields and missing required fields in the
 * API server's words. Every kind's parser reports through these.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

void nfp_path_append(struct pctx *c, const char *s)
{
	size_t n = strlen(s);

	if (c->oom)
		return;
	if (nfp_grow((void **)&c->path, &c->cap, c->len + n + 1, 1)) {
		c->oom = true;
		return;
	}
	memcpy(c->path + c->len, s, n + 1);
	c->len += n;
}

size_t nfp_path_key(struct pctx *c, const char *key)
{
	size_t old = c->len;

	if (c->len)
		nfp_path_append(c, ".");
	nfp_path_append(c, key);
	return old;
}

size_t nfp_path_index(struct pctx *c, size_t i)
{
	size_t old = c->len;
	char buf[32];

	snprintf(buf, sizeof(buf), "[%zu]", i);
	nfp_path_append(c, buf);
	return old;
}

void nfp_path_pop(struct pctx *c, size_t old)
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
const char *nfp_quote(const char *s, char *buf, size_t len)
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
void nfp_problem(struct pctx *c, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		nfp_ds_add_problem(c->ds, NULL);
		return;
	}
	nfp_ds_problemf(c->ds, "%s: %s: %s", c->file, c->len && c->path ? c->path : "(root)", msg);
	free(msg);
}

const char *nfp_type_name(const json_t *v)
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

bool nfp_expect_type(struct pctx *c, const json_t *v, json_type t)
{
	static const char *const want[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string", [JSON_INTEGER] = "an integer",
	};

	if (json_typeof(v) == t)
		return true;
	nfp_problem(c, "must be %s, got %s", want[t], nfp_type_name(v));
	return false;
}

/* A field's value, NULL when absent or null. */
json_t *nfp_field(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

void nfp_check_fields(struct pctx *c, json_t *obj, const char *const *known)
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
			nfp_problem(c, "unknown field %s", nfp_quote(key, q, sizeof(q)));
	}
}

/*
 * A field that must be a string. Reports "is required" when absent and
 * required, the type otherwise. Returns the string or NULL.
 */
const char *nfp_string_field(struct pctx *c, json_t *obj, const char *key, bool required)
{
	json_t *v = nfp_field(obj, key);
	const char *s = NULL;
	size_t old = nfp_path_key(c, key);

	if (!v) {
		if (required)
			nfp_problem(c, "is required");
	} else if (nfp_expect_type(c, v, JSON_STRING)) {
		s = json_string_value(v);
	}
	nfp_path_pop(c, old);
	return s;
}

/* An optional array field with a size limit; NULL when absent or invalid. */
json_t *nfp_array_field(struct pctx *c, json_t *obj, const char *key, size_t limit,
			const char *what)
{
	json_t *v = nfp_field(obj, key);
	size_t old;

	if (!v)
		return NULL;
	old = nfp_path_key(c, key);
	if (!nfp_expect_type(c, v, JSON_ARRAY)) {
		v = NULL;
	} else if (limit && json_array_size(v) > limit) {
		nfp_problem(c, "at most %zu %s are supported by netfence, got %zu", limit, what,
			    json_array_size(v));
		v = NULL;
	}
	nfp_path_pop(c, old);
	return v;
}

char *nfp_xstrdup(struct pctx *c, const char *s)
{
	char *d = strdup(s);

	if (!d)
		c->oom = true;
	return d;
}

void *nfp_xcalloc(struct pctx *c, size_t n, size_t size)
{
	void *p;

	if (!n)
		return NULL;
	p = calloc(n, size);
	if (!p)
		c->oom = true;
	return p;
}
