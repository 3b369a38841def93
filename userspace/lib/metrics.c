// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The collector shared by serve, stats and status, and the Prometheus text
 * renderer. See metrics.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "log.h"
#include "identities.h"
#include "metrics.h"
#include "store.h"

static const char *const dir_names[NF_DIR_MAX] = { "ingress", "egress" };
static const char *const reason_names[NF_REASON_MAX] = {
	"allowed", "policy_denied", "spoofed_source", "malformed", "fragment",
	"conntrack_full", "admin_denied", "baseline_denied",
};
static const char *const hook_names[NF_HOOK_MAX] = { "tc", "cgroup" };

const char *metrics__dir_name(unsigned int dir)
{
	return dir < NF_DIR_MAX ? dir_names[dir] : NULL;
}

const char *metrics__reason_name(unsigned int reason)
{
	return reason < NF_REASON_MAX ? reason_names[reason] : NULL;
}

const char *metrics__hook_name(unsigned int hook)
{
	return hook < NF_HOOK_MAX ? hook_names[hook] : NULL;
}

const char *metrics__proto_name(unsigned int proto)
{
	switch (proto) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 58:
		return "icmpv6";
	case 132:
		return "sctp";
	default:
		return NULL;
	}
}

void metrics__init(struct nf_metrics *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->version, sizeof(m->version), "%s", NF_VERSION);
}

void metrics__free(struct nf_metrics *m)
{
	free(m->tenants);
	free(m->by_id);
	m->tenants = NULL;
	m->by_id = NULL;
	m->n_tenants = 0;
	m->cap_tenants = 0;
}

/*
 * The entry of id, or NULL. By the id index: with 4,000 tenants a linear
 * search per counter and per endpoint was most of a scrape (SPEC §9:
 * GET /metrics with 4,000 tenants < 100 ms). Ids beyond the index (none a
 * datapath gives) are searched for.
 */
static struct nf_tenant_metrics *find_tenant(const struct nf_metrics *m, uint32_t id)
{
	size_t i;

	if (id < NF_MAX_TENANTS)
		return m->by_id && m->by_id[id] ? &m->tenants[m->by_id[id] - 1] : NULL;
	for (i = 0; i < m->n_tenants; i++)
		if (m->tenants[i].id == id)
			return &m->tenants[i];
	return NULL;
}

static void index_tenants(struct nf_metrics *m)
{
	size_t i;

	if (!m->by_id)
		return;
	memset(m->by_id, 0, NF_MAX_TENANTS * sizeof(*m->by_id));
	for (i = 0; i < m->n_tenants; i++)
		if (m->tenants[i].id < NF_MAX_TENANTS && !m->by_id[m->tenants[i].id])
			m->by_id[m->tenants[i].id] = i + 1;
}

struct nf_tenant_metrics *metrics__tenant(struct nf_metrics *m, uint32_t id, const char *name)
{
	struct nf_tenant_metrics *t = find_tenant(m, id);

	if (t)
		return t;
	if (!m->by_id) {
		m->by_id = calloc(NF_MAX_TENANTS, sizeof(*m->by_id));
		if (!m->by_id)
			return NULL;
		index_tenants(m);
	}
	if (m->n_tenants == m->cap_tenants) {
		size_t cap = m->cap_tenants ? m->cap_tenants * 2 : 64;

		t = realloc(m->tenants, cap * sizeof(*t));
		if (!t)
			return NULL;
		m->tenants = t;
		m->cap_tenants = cap;
	}
	t = &m->tenants[m->n_tenants++];
	memset(t, 0, sizeof(*t));
	t->id = id;
	snprintf(t->name, sizeof(t->name), "%s", name && *name ? name : NF_METRICS_UNKNOWN_TENANT);
	if (id < NF_MAX_TENANTS)
		m->by_id[id] = m->n_tenants;
	return t;
}

static int cmp_tenant(const void *a, const void *b)
{
	const struct nf_tenant_metrics *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	return x->id < y->id ? -1 : x->id > y->id;
}

void metrics__sort(struct nf_metrics *m)
{
	if (m->n_tenants > 1)
		qsort(m->tenants, m->n_tenants, sizeof(*m->tenants), cmp_tenant);
	index_tenants(m);	/* the entries moved */
}

/* ---- map reading ---- */

struct map_desc {
	__u32 type, key_size, value_size, max_entries;
	size_t vsize; /* bytes per value as lookups return it (per-CPU: x ncpus) */
};

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static int map_describe(int fd, struct map_desc *d)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int ncpus;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	d->type = info.type;
	d->key_size = info.key_size;
	d->value_size = info.value_size;
	d->max_entries = info.max_entries;
	d->vsize = info.value_size;
	if (is_percpu(info.type)) {
		ncpus = libbpf_num_possible_cpus();
		if (ncpus <= 0)
			return ncpus < 0 ? ncpus : -EINVAL;
		d->vsize = ((info.value_size + 7) & ~7u) * (size_t)ncpus;
	}
	return 0;
}

/* Called for every entry; value is NULL when only counting. */
typedef void (*entry_fn)(const void *key, const void *value, void *ctx);

#define BATCH_ENTRIES 1024

/*
 * Batch lookup: one syscall per BATCH_ENTRIES entries instead of two per
 * entry (nf_ct holds up to 262,144). -ENOTSUPP/-EINVAL for map types without
 * batch ops (LPM trie, ...): the caller falls back to iteration.
 */
static int dump_batch(int fd, const struct map_desc *d, entry_fn fn, void *ctx, uint32_t *n)
{
	size_t tok = d->key_size > 8 ? d->key_size : 8;
	char *keys, *vals, *in = NULL, *out;
	char tok_a[tok], tok_b[tok];
	int err = 0;

	*n = 0;
	keys = malloc((size_t)BATCH_ENTRIES * d->key_size);
	vals = malloc((size_t)BATCH_ENTRIES * d->vsize);
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	out = tok_a;
	for (;;) {
		__u32 count = BATCH_ENTRIES, i;
		bool done;

		err = bpf_map_lookup_batch(fd, in, out, keys, vals, &count, NULL);
		done = err && errno == ENOENT;
		if (err && !done) {
			err = -errno;
			goto out;
		}
		for (i = 0; fn && i < count; i++)
			fn(keys + (size_t)i * d->key_size, vals + (size_t)i * d->vsize, ctx);
		*n += count;
		if (done) {
			err = 0;
			break;
		}
		in = out;
		out = out == tok_a ? tok_b : tok_a;
	}
out:
	free(keys);
	free(vals);
	return err;
}

static int dump_iter(int fd, const struct map_desc *d, entry_fn fn, void *ctx, uint32_t *n)
{
	char *key = malloc(d->key_size), *next = malloc(d->key_size);
	char *val = fn ? malloc(d->vsize) : NULL;
	void *prev = NULL;
	uint32_t guard = 0;
	int err = 0;

	*n = 0;
	if (!key || !next || (fn && !val)) {
		err = -ENOMEM;
		goto out;
	}
	/* guard: a concurrent delete can restart the walk; never loop forever */
	while (guard++ <= d->max_entries * 2u + 16) {
		if (bpf_map_get_next_key(fd, prev, next)) {
			if (errno != ENOENT)
				err = -errno;
			break;
		}
		memcpy(key, next, d->key_size);
		prev = key;
		if (fn) {
			if (bpf_map_lookup_elem(fd, key, val))
				continue; /* deleted meanwhile */
			fn(key, val, ctx);
		}
		(*n)++;
	}
out:
	free(key);
	free(next);
	free(val);
	return err;
}

static int map_dump(int fd, entry_fn fn, void *ctx, uint32_t *n, struct map_desc *dout)
{
	struct map_desc d;
	int err;

	err = map_describe(fd, &d);
	if (err)
		return err;
	if (dout)
		*dout = d;
	if ((d.type == BPF_MAP_TYPE_ARRAY || d.type == BPF_MAP_TYPE_PERCPU_ARRAY) && !fn) {
		/* arrays always hold max_entries elements */
		*n = d.max_entries;
		return 0;
	}
	if (d.type == BPF_MAP_TYPE_RINGBUF) {
		*n = 0;
		return 0;
	}
	err = dump_batch(fd, &d, fn, ctx, n);
	if (!err)
		return 0;
	return dump_iter(fd, &d, fn, ctx, n);
}

int metrics__map_count(int fd, uint32_t *entries)
{
	return map_dump(fd, NULL, NULL, entries, NULL);
}

int metrics__percpu_u64_sum(int fd, uint64_t *sum)
{
	int ncpus = libbpf_num_possible_cpus(), i;
	__u32 key = 0;
	__u64 *vals;

	*sum = 0;
	if (ncpus <= 0)
		return ncpus < 0 ? ncpus : -EINVAL;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, vals)) {
		int err = -errno;

		free(vals);
		return err;
	}
	for (i = 0; i < ncpus; i++)
		*sum += vals[i];
	free(vals);
	return 0;
}

struct collect_ctx {
	struct nf_metrics *m;
	size_t vsize_cpu; /* per-CPU stride of nf_stats values */
	uint32_t n_named; /* tenants in use (nf_tenants is an array) */
	uint32_t young;	  /* young connections' slots held (struct nf_young_slot) */
	int ncpus;
	int err;
};

static void young_cb(const void *key, const void *value, void *arg)
{
	struct collect_ctx *c = arg;
	__u32 state;

	(void)key;
	memcpy(&state, value, sizeof(state));	/* struct nf_young_slot's first field */
	if (state != NF_YOUNG_FREE)
		c->young++;
}

static void tenant_cb(const void *key, const void *value, void *arg)
{
	struct collect_ctx *c = arg;
	const struct nf_tenant_info *info = value;
	struct nf_tenant_metrics *t;
	char name[NF_TENANT_NAME_LEN];
	__u32 id;

	memcpy(&id, key, sizeof(id));
	memcpy(name, info->name, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	if (!name[0] || !id)
		return; /* free slot of the nf_tenants array */
	c->n_named++;	/* map usage: a rule set's slot uses an id too */
	if (info->flags & NF_TIF_RULESET)
		return; /* a tenant's rule set for a network: part of the tenant (SPEC §12) */
	t = metrics__tenant(c->m, id, name);
	if (!t) {
		c->err = -ENOMEM;
		return;
	}
	t->has_info = true;
	t->info = *info;
	t->info.name[sizeof(t->info.name) - 1] = '\0';
}

static void usage_cb(const void *key, const void *value, void *arg)
{
	struct collect_ctx *c = arg;
	struct nf_tenant_metrics *t;
	__u32 id;

	memcpy(&id, key, sizeof(id));
	t = id ? find_tenant(c->m, id) : NULL;
	if (t)
		memcpy(&t->usage, value, sizeof(t->usage));
}

/* Counters of ids without a tenant entry go to "unknown" (id 0). */
static struct nf_tenant_metrics *known_or_unknown(struct collect_ctx *c, uint32_t id)
{
	struct nf_tenant_metrics *t = find_tenant(c->m, id);

	if (t && (t->has_info || id == 0))
		return t;
	t = metrics__tenant(c->m, 0, NULL);
	if (!t)
		c->err = -ENOMEM;
	return t;
}

static void stats_cb(const void *key, const void *value, void *arg)
{
	struct collect_ctx *c = arg;
	const struct nf_stats_key *k = key;
	struct nf_tenant_metrics *t;
	struct nf_counter sum = { 0, 0 }, v;
	int i;

	if (k->dir >= NF_DIR_MAX || k->reason >= NF_REASON_MAX || k->hook >= NF_HOOK_MAX)
		return;
	for (i = 0; i < c->ncpus; i++) {
		memcpy(&v, (const char *)value + (size_t)i * c->vsize_cpu, sizeof(v));
		sum.packets += v.packets;
		sum.bytes += v.bytes;
	}
	t = known_or_unknown(c, k->tenant_id);
	if (!t)
		return;
	t->cnt[k->dir][k->reason][k->hook].packets += sum.packets;
	t->cnt[k->dir][k->reason][k->hook].bytes += sum.bytes;
	t->seen[k->dir][k->reason][k->hook] = true;
}

/* nf_flows: new flows allowed, counted as nf_stats' NF_REASON_ALLOWED_FLOW. */
static void flows_cb(const void *key, const void *value, void *arg)
{
	struct collect_ctx *c = arg;
	struct nf_tenant_metrics *t;
	uint64_t sum = 0, v;
	__u32 idx;
	int i;

	memcpy(&idx, key, sizeof(idx));
	for (i = 0; i < c->ncpus; i++) {
		memcpy(&v, (const char *)value + (size_t)i * sizeof(v), sizeof(v));
		sum += v;
	}
	if (!sum || idx >= NF_FLOWS_ENTRIES)
		return;
	t = known_or_unknown(c, NF_FLOWS_TENANT(idx));
	if (!t)
		return;
	t->cnt[NF_FLOWS_DIR(idx)][NF_REASON_ALLOWED_FLOW][NF_FLOWS_HOOK(idx)].packets += sum;
	t->seen[NF_FLOWS_DIR(idx)][NF_REASON_ALLOWED_FLOW][NF_FLOWS_HOOK(idx)] = true;
}

static void endpoint_cb(const void *key, const void *value, void *arg)
{
	struct collect_ctx *c = arg;
	const struct nf_endpoint *ep = value;
	struct nf_tenant_metrics *t = known_or_unknown(c, ep->tenant_id);

	if (t)
		t->n_endpoints++;
}

/* entries_io: in: the entries when already known (UINT32_MAX: count them); out: the count */
static int add_usage(struct nf_metrics *m, const char *name, int fd, uint32_t *entries_io)
{
	struct nf_map_usage *u;
	struct map_desc d;
	uint32_t n;
	int err;

	if (fd < 0 || m->n_maps >= NF_METRICS_MAX_MAPS)
		return 0;
	if (entries_io && *entries_io != UINT32_MAX) {
		n = *entries_io;
		err = map_describe(fd, &d);
	} else {
		err = map_dump(fd, NULL, NULL, &n, &d);
	}
	if (err) {
		pr_warn("reading map %s: %s", name, strerror(-err));
		return err;
	}
	u = &m->maps[m->n_maps++];
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->entries = n;
	u->capacity = d.max_entries;
	if (entries_io)
		*entries_io = n;
	return 0;
}

/* The label of each map's usage metric, NULL for maps not reported (NF_MAPS). */
#define NF_LIST_LABEL(id, name, label) [id] = label,
static const char *const usage_label[NF_MAP__COUNT] = { NF_MAPS(NF_LIST_LABEL) };
#undef NF_LIST_LABEL

/* SPEC §11: each tenant's label identities, from the identity table. */
static void identities_count(struct nf_metrics *m)
{
	struct nf_ident_table tb;
	size_t i, j;

	if (idtab__load(&tb))
		return;
	for (i = 0, j = 0; i < tb.n; i++)
		for (j = 0; j < m->n_tenants; j++)
			if (m->tenants[j].has_info && !strcmp(m->tenants[j].name, tb.t[i].name)) {
				m->tenants[j].n_identities = (uint32_t)tb.t[i].n_ids;
				break;
			}
	idtab__free(&tb);
}

int metrics__collect(struct nf_metrics *m, const struct nf_maps *maps)
{
	struct collect_ctx c = { .m = m };
	struct map_desc d;
	uint32_t n, ct = UINT32_MAX, known[NF_MAP__COUNT];
	int mi, err = 0;

	for (mi = 0; mi < NF_MAP__COUNT; mi++)
		known[mi] = UINT32_MAX;	/* counted below when dumped anyway */

	c.ncpus = libbpf_num_possible_cpus();
	if (c.ncpus <= 0)
		return c.ncpus < 0 ? c.ncpus : -EINVAL;

	if (maps->fd[NF_MAP_TENANTS] >= 0) {
		err = map_dump(maps->fd[NF_MAP_TENANTS], tenant_cb, &c, &n, &d);
		if (err || c.err)
			goto fail;
		if (d.value_size != sizeof(struct nf_tenant_info) || d.key_size != sizeof(__u32)) {
			err = -EPROTO;
			goto fail;
		}
	}
	/* each tenant's use of its tracking shares (mmapable array, like nf_tenants) */
	if (maps->fd[NF_MAP_USAGE] > 0 && m->n_tenants) {
		/* one batch read of the array, not a lookup per tenant */
		err = map_dump(maps->fd[NF_MAP_USAGE], usage_cb, &c, &n, &d);
		if (err || d.value_size != sizeof(struct nf_usage) || d.key_size != sizeof(__u32)) {
			err = err ?: -EPROTO;
			goto fail;
		}
	}
	if (maps->fd[NF_MAP_STATS] >= 0) {
		err = map_describe(maps->fd[NF_MAP_STATS], &d);
		if (err)
			goto fail;
		if (d.key_size != sizeof(struct nf_stats_key) ||
		    d.value_size != sizeof(struct nf_counter) || !is_percpu(d.type)) {
			err = -EPROTO;
			goto fail;
		}
		c.vsize_cpu = (d.value_size + 7) & ~7u;
		err = map_dump(maps->fd[NF_MAP_STATS], stats_cb, &c, &known[NF_MAP_STATS], NULL);
		if (err || c.err)
			goto fail;
	}
	if (maps->fd[NF_MAP_FLOWS] >= 0) {
		/* one batch read of the array */
		err = map_dump(maps->fd[NF_MAP_FLOWS], flows_cb, &c, &n, &d);
		if (err || c.err || d.key_size != sizeof(__u32) || d.value_size != sizeof(__u64) ||
		    !is_percpu(d.type)) {
			err = err ?: c.err ?: -EPROTO;
			goto fail;
		}
	}
	if (maps->fd[NF_MAP_ENDPOINTS] >= 0) {
		err = map_dump(maps->fd[NF_MAP_ENDPOINTS], endpoint_cb, &c, &known[NF_MAP_ENDPOINTS],
			       NULL);
		if (err || c.err)
			goto fail;
	}
	if (maps->fd[NF_MAP_CG_ENDPOINTS] >= 0) {
		err = map_dump(maps->fd[NF_MAP_CG_ENDPOINTS], endpoint_cb, &c,
			       &known[NF_MAP_CG_ENDPOINTS], NULL);
		if (err || c.err)
			goto fail;
	}

	if (maps->fd[NF_MAP_CT_YOUNG] >= 0) {
		/* tracked connections too, not yet in nf_ct (bpf/lib/young.bpf.h) */
		err = map_dump(maps->fd[NF_MAP_CT_YOUNG], young_cb, &c, &n, &d);
		/* state leads the slot in every layout (abi.h: the value grows at its end) */
		if (err || d.value_size < sizeof(__u32)) {
			err = err ?: -EPROTO;
			goto fail;
		}
	}

	identities_count(m);
	m->n_maps = 0;
	for (mi = 0; mi < NF_MAP__COUNT; mi++) {
		uint32_t *entries = &known[mi];

		if (mi == NF_MAP_TENANTS)
			entries = &c.n_named; /* tenants: ids in use, not the array's size */
		else if (mi == NF_MAP_CT)
			entries = &ct;

		if (usage_label[mi] && (err = add_usage(m, usage_label[mi], maps->fd[mi], entries)))
			break;
	}
	if (err)
		goto fail;
	m->ct_entries = (ct == UINT32_MAX ? 0 : ct) + c.young;
	m->loaded = true;
	metrics__sort(m);
	return 0;
fail:
	if (!err)
		err = c.err;
	if (err == -EPROTO)
		pr_err("datapath maps do not match this netfence build (ABI mismatch): "
		       "run `netfence reset` and load again");
	else
		pr_err("reading the datapath maps: %s", strerror(-err));
	return err;
}

/* ---- rendering ---- */

static void put_label_value(FILE *f, const char *s)
{
	if (!strpbrk(s, "\\\"\n")) {
		fputs(s, f);	/* the common case: nothing to escape */
		return;
	}
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void tenant_label(FILE *f, const char *metric, const struct nf_tenant_metrics *t)
{
	fprintf(f, "%s{tenant=\"", metric);
	put_label_value(f, t->name);
	fputc('"', f);
}

static void render_drop(FILE *f, const char *name, const struct nf_tenant_metrics *t, int d, int r,
			int h, bool bytes)
{
	const struct nf_counter *c = &t->cnt[d][r][h];

	tenant_label(f, name, t);
	fprintf(f, ",direction=\"%s\",reason=\"%s\",hook=\"%s\"} %llu\n", dir_names[d],
		reason_names[r], hook_names[h],
		(unsigned long long)(bytes ? c->bytes : c->packets));
}

static void render_drops(FILE *f, const struct nf_metrics *m, bool bytes)
{
	const char *name = bytes ? "netfence_drop_bytes_total" : "netfence_drops_total";
	size_t i;
	int d, r, h;

	for (i = 0; i < m->n_tenants; i++)
		for (d = 0; d < NF_DIR_MAX; d++)
			for (r = NF_DROP_POLICY; r < NF_REASON_MAX; r++)
				for (h = 0; h < NF_HOOK_MAX; h++)
					if (m->tenants[i].seen[d][r][h])
						render_drop(f, name, &m->tenants[i], d, r, h,
							    bytes);
}

/*
 * The text goes into one buffer sized for it up front (about 800 bytes a
 * tenant), doubled if short: open_memstream grows from nothing, and with
 * 4,000 tenants (3 MB) its copies and the page faults of each new block
 * were a third of a scrape.
 */
static ssize_t render_write(void *cookie, const char *data, size_t n)
{
	return store__buf_add(cookie, data, n) ? (ssize_t)n : -1;
}

int metrics__render(const struct nf_metrics *m, char **buf, size_t *len)
{
	struct store_buf b = { .cap = 16384 + m->n_tenants * 1024 };
	FILE *f;
	size_t i;
	int d, h;

	*buf = NULL;
	*len = 0;
	b.p = malloc(b.cap);
	if (!b.p)
		return -ENOMEM;
	b.p[0] = '\0';
	f = fopencookie(&b, "w", (cookie_io_functions_t){ .write = render_write });
	if (!f || setvbuf(f, NULL, _IOFBF, 65536)) {
		if (f)
			fclose(f);
		free(b.p);
		return -ENOMEM;
	}

	family(f, "netfence_drops_total", "counter",
	       "Packets dropped, by tenant, direction (endpoint's view), reason and hook.");
	render_drops(f, m, false);

	family(f, "netfence_drop_bytes_total", "counter",
	       "Bytes of the packets dropped, by tenant, direction, reason and hook.");
	render_drops(f, m, true);

	family(f, "netfence_allowed_flows_total", "counter",
	       "New flows allowed by policy, by tenant and direction.");
	for (i = 0; i < m->n_tenants; i++) {
		const struct nf_tenant_metrics *t = &m->tenants[i];
		bool any = t->has_info;

		for (d = 0; d < NF_DIR_MAX; d++)
			for (h = 0; h < NF_HOOK_MAX; h++)
				any |= t->seen[d][NF_REASON_ALLOWED_FLOW][h];
		if (!any)
			continue;
		for (d = 0; d < NF_DIR_MAX; d++) {
			unsigned long long n = 0;

			for (h = 0; h < NF_HOOK_MAX; h++)
				n += t->cnt[d][NF_REASON_ALLOWED_FLOW][h].packets;
			tenant_label(f, "netfence_allowed_flows_total", t);
			fprintf(f, ",direction=\"%s\"} %llu\n", dir_names[d], n);
		}
	}

	family(f, "netfence_endpoints", "gauge", "Endpoints (interfaces and cgroups) per tenant.");
	for (i = 0; i < m->n_tenants; i++) {
		const struct nf_tenant_metrics *t = &m->tenants[i];

		if (!t->has_info && !t->n_endpoints)
			continue;
		tenant_label(f, "netfence_endpoints", t);
		fprintf(f, "} %u\n", t->n_endpoints);
	}

	family(f, "netfence_identities", "gauge",
	       "Label identities per tenant: distinct label sets of its pods (SPEC 11).");
	for (i = 0; i < m->n_tenants; i++) {
		const struct nf_tenant_metrics *t = &m->tenants[i];

		if (!t->has_info)
			continue;
		tenant_label(f, "netfence_identities", t);
		fprintf(f, "} %u\n", t->n_identities);
	}

	family(f, "netfence_policy_rules", "gauge",
	       "Compiled allow rules in force per tenant and direction.");
	for (i = 0; i < m->n_tenants; i++) {
		const struct nf_tenant_metrics *t = &m->tenants[i];

		if (!t->has_info)
			continue;
		for (d = 0; d < NF_DIR_MAX; d++) {
			tenant_label(f, "netfence_policy_rules", t);
			fprintf(f, ",direction=\"%s\"} %u\n", dir_names[d], t->info.n_rules[d]);
		}
	}

	family(f, "netfence_conntrack_entries", "gauge",
	       "Entries in the connection tracking table.");
	if (m->loaded)
		fprintf(f, "netfence_conntrack_entries %llu\n", (unsigned long long)m->ct_entries);

	family(f, "netfence_map_entries", "gauge", "Entries in each datapath map.");
	for (i = 0; i < m->n_maps; i++) {
		fputs("netfence_map_entries{map=\"", f);
		put_label_value(f, m->maps[i].name);
		fprintf(f, "\"} %u\n", m->maps[i].entries);
	}

	family(f, "netfence_map_capacity", "gauge", "Capacity (max_entries) of each datapath map.");
	for (i = 0; i < m->n_maps; i++) {
		fputs("netfence_map_capacity{map=\"", f);
		put_label_value(f, m->maps[i].name);
		fprintf(f, "\"} %u\n", m->maps[i].capacity);
	}

	family(f, "netfence_policy_applies_total", "counter",
	       "Policy applies on this node, by result.");
	if (m->have_applies) {
		fprintf(f, "netfence_policy_applies_total{result=\"ok\"} %llu\n",
			(unsigned long long)m->applies_ok);
		fprintf(f, "netfence_policy_applies_total{result=\"error\"} %llu\n",
			(unsigned long long)m->applies_err);
	}

	family(f, "netfence_unfenced_interfaces_total", "counter",
	       "Interfaces found unattached in a fenced workload's network namespace and fenced "
	       "default-deny by this serve.");
	if (m->have_unfenced)
		fprintf(f, "netfence_unfenced_interfaces_total %llu\n",
			(unsigned long long)m->unfenced_ifaces);

	family(f, "netfence_build_info", "gauge", "Build information; the value is always 1.");
	fputs("netfence_build_info{version=\"", f);
	put_label_value(f, m->version);
	if (m->datapath[0]) {
		fputs("\",datapath=\"", f);
		put_label_value(f, m->datapath);
	}
	fputs("\"} 1\n", f);

	if (fclose(f)) {
		free(b.p);
		return -ENOMEM;
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}
