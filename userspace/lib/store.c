// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The state store under /run/netfence (layout in store.h): atomic writes,
 * paths and listing, so that no other file builds a store path by hand or
 * parses one back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "store.h"

static const char *const kind_file[] = {
	[NF_STORE_POLICY] = "networkpolicy",
	[NF_STORE_TENANT] = "tenant",
	[NF_STORE_MNP] = "multinetworkpolicy",
	[NF_STORE_POD] = "pod",
	[NF_STORE_NAMESPACE] = "namespace",
	[NF_STORE_CNP] = "clusternetworkpolicy",
	[NF_STORE_ANP] = "adminnetworkpolicy",
	[NF_STORE_BANP] = "baselineadminnetworkpolicy",
	[NF_STORE_NODE] = "node",
};
static const char *const kind_name[] = {
	[NF_STORE_POLICY] = "NetworkPolicy",
	[NF_STORE_TENANT] = "Tenant",
	[NF_STORE_MNP] = "MultiNetworkPolicy",
	[NF_STORE_POD] = "Pod",
	[NF_STORE_NAMESPACE] = "Namespace",
	[NF_STORE_CNP] = "ClusterNetworkPolicy",
	[NF_STORE_ANP] = "AdminNetworkPolicy",
	[NF_STORE_BANP] = "BaselineAdminNetworkPolicy",
	[NF_STORE_NODE] = "Node",
};
#define N_KINDS (sizeof(kind_file) / sizeof(kind_file[0]))

__attribute__((format(printf, 3, 4)))
static int fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int store__mkdirs(const char *dir)
{
	char buf[PATH_MAX];
	char *p;

	if (fmt(buf, sizeof(buf), "%s", dir))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The directory part of path into buf ("." when there is none). */
static void dir_of(char *buf, size_t len, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= w;
	}
	return 0;
}

/* Room for n more bytes (and a NUL) in b; false (b->oom) when there is none. */
static bool buf_room(struct store_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->len + n < b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap <= b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

bool store__buf_add(struct store_buf *b, const void *data, size_t n)
{
	if (!buf_room(b, n))
		return false;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

void store__buf_puts(struct store_buf *b, const char *s)
{
	store__buf_add(b, s, strlen(s));
}

/* How json_dumps escapes c (0 when c stands for itself): its short escape, or 'u'. */
static char json_escape(unsigned char c)
{
	switch (c) {
	case '"':  return '"';
	case '\\': return '\\';
	case '\b': return 'b';
	case '\f': return 'f';
	case '\n': return 'n';
	case '\r': return 'r';
	case '\t': return 't';
	}
	return c < 0x20 ? 'u' : 0;
}

void store__buf_json_string(struct store_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t n = 2;
	char e, *o;

	/* the length first (one allocation), then the bytes */
	for (p = (const unsigned char *)s; *p; p++) {
		e = json_escape(*p);
		n += !e ? 1 : e == 'u' ? 6 : 2;
	}
	if (!buf_room(b, n))
		return;
	o = b->p + b->len;
	*o++ = '"';
	for (p = (const unsigned char *)s; *p; p++) {
		e = json_escape(*p);
		if (!e) {
			*o++ = (char)*p;
			continue;
		}
		*o++ = '\\';
		*o++ = e;
		if (e == 'u') {
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o++ = '"';
	*o = 0;
	b->len += n;
}

int store__write_json(const char *path, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int err;

	json_decref(o);
	if (!text)
		return -ENOMEM;
	err = store__write(path, text, strlen(text));
	free(text);
	return err;
}

int store__write2(const char *path, const void *a, size_t len_a, const void *b, size_t len_b)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, err;

	if (fmt(tmp, sizeof(tmp), "%s.tmp", path))
		return -ENAMETOOLONG;
	dir_of(dir, sizeof(dir), path);
	err = store__mkdirs(dir);
	if (err)
		return err;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, a, len_a);
	if (!err)
		err = write_all(fd, b, len_b);
	/* the data reaches the disk before the name points at it */
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	/* ... and the rename itself is durable (no-op on tmpfs, kept for a disk) */
	return fsync_dir(dir);
}

int store__write(const char *path, const void *data, size_t len)
{
	return store__write2(path, data, len, NULL, 0);
}

int store__touch(const char *path)
{
	char dir[PATH_MAX];
	int fd, err;

	dir_of(dir, sizeof(dir), path);
	err = store__mkdirs(dir);
	if (err)
		return err;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

void store__reclaim_mark(const char *tenant)
{
	char path[PATH_MAX];

	if (!*tenant || *tenant == '.' || strchr(tenant, '/') ||
	    snprintf(path, sizeof(path), "%s/%s", NF_STORE_RECLAIM, tenant) >= (int)sizeof(path))
		return;
	store__touch(path);
}

void store__remove(const char *path, const char *top)
{
	size_t top_len = strlen(top);
	char dir[PATH_MAX];

	unlink(path);
	if (strncmp(path, top, top_len) || path[top_len] != '/')
		return;
	dir_of(dir, sizeof(dir), path);
	while (strlen(dir) > top_len && !rmdir(dir))
		dir_of(dir, sizeof(dir), dir);
}

/* ---- objects ---- */

const char *store__kind_name(enum nf_store_kind kind)
{
	return (size_t)kind < N_KINDS ? kind_name[kind] : "";
}

int store__object_path(char *buf, size_t len, const char *tenant, enum nf_store_kind kind,
		       const char *name)
{
	return fmt(buf, len, NF_STORE_OBJECTS "/%s/%s-%s.json", tenant,
		   kind_file[(size_t)kind < N_KINDS ? kind : 0], name);
}

int store__tenant_dir(char *buf, size_t len, const char *tenant)
{
	return fmt(buf, len, NF_STORE_OBJECTS "/%s", tenant);
}

/* "<kind>-<name>.json" -> kind and name; false if it is not an object file. */
static bool parse_object_file(const char *fname, struct nf_store_obj *o)
{
	size_t len = strlen(fname), k, kl;

	if (fname[0] == '.' || len < 6 || strcmp(fname + len - 5, ".json"))
		return false;
	for (k = 0; k < N_KINDS; k++) {
		kl = strlen(kind_file[k]);
		if (!strncmp(fname, kind_file[k], kl) && fname[kl] == '-' &&
		    len - 5 - kl - 1 < sizeof(o->name)) {
			o->kind = k;
			snprintf(o->name, sizeof(o->name), "%.*s", (int)(len - 5 - kl - 1),
				 fname + kl + 1);
			return true;
		}
	}
	return false;
}

static int cmp_obj(const void *a, const void *b)
{
	const struct nf_store_obj *x = a, *y = b;
	int r = strcmp(x->tenant, y->tenant);

	if (!r)
		r = strcmp(kind_name[x->kind], kind_name[y->kind]);
	return r ? r : strcmp(x->name, y->name);
}

static int list_tenant(const char *tenant, struct nf_store_obj **v, size_t *n, size_t *cap)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int err = 0;

	if (store__tenant_dir(path, sizeof(path), tenant))
		return 0;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct nf_store_obj o = {};

		if (!parse_object_file(de->d_name, &o))
			continue;
		snprintf(o.tenant, sizeof(o.tenant), "%s", tenant);
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			struct nf_store_obj *nv = realloc(*v, c * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			*v = nv;
			*cap = c;
		}
		(*v)[(*n)++] = o;
	}
	closedir(d);
	return err;
}

int store__list(const char *tenant, struct nf_store_obj **out, size_t *n)
{
	struct nf_store_obj *v = NULL;
	char **names = NULL;
	size_t cnt = 0, cap = 0, n_names = 0, i;
	int err;

	*out = NULL;
	*n = 0;
	if (tenant) {
		err = list_tenant(tenant, &v, &cnt, &cap);
	} else {
		err = store__list_tenants(&names, &n_names);
		for (i = 0; !err && i < n_names; i++)
			err = list_tenant(names[i], &v, &cnt, &cap);
		store__free_names(names, n_names);
	}
	if (err) {
		free(v);
		return err;
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), cmp_obj);
	*out = v;
	*n = cnt;
	return 0;
}

int store__list_tenants(char ***out, size_t *n)
{
	char **v = NULL, **nv;
	struct dirent *de;
	size_t cnt = 0;
	DIR *d;
	int err = 0;

	*out = NULL;
	*n = 0;
	d = opendir(NF_STORE_OBJECTS);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= NF_TENANT_NAME_LEN)
			continue;
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv || !(nv[cnt] = strdup(de->d_name))) {
			if (nv)
				v = nv;
			err = -ENOMEM;
			break;
		}
		v = nv;
		cnt++;
	}
	closedir(d);
	if (err) {
		store__free_names(v, cnt);
		return err;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void store__free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ---- the selector index ---- */

int store__ref_path(char *buf, size_t len, const char *name, const char *tenant)
{
	if (!tenant)
		return fmt(buf, len, NF_STORE_REFS "/%s", name);
	return fmt(buf, len, NF_STORE_REFS "/%s/%s", name, tenant);
}

int store__pending_path(char *buf, size_t len, const char *name)
{
	return fmt(buf, len, NF_STORE_REFS "/.pending-%s", name);
}
