// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF_PROG_TEST_RUN fixture (see dp_test.h).
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "compile.h"
#include "datapath.h"
#include "policy.h"
#include "dp_test.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

bool dpt_can_bpf(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return false;
	if (d[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32)))
		return true;
	return d[CAP_BPF / 32].effective & (1u << (CAP_BPF % 32));
}

int dpt_open(struct dpt **out)
{
	struct dpt *f;
	int err;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->n_cpus = libbpf_num_possible_cpus();
	if (f->n_cpus <= 0) {
		free(f);
		return -EINVAL;
	}
	err = dp__netns_cookie("", &f->netns_cookie);
	if (!err)
		err = dp__open_private(&f->dp, 0);
	if (err) {
		free(f);
		return err;
	}
	*out = f;
	return 0;
}

void dpt_close(struct dpt *f)
{
	if (!f)
		return;
	dp__close(f->dp);
	free(f);
}

uint32_t dpt_tenant(struct dpt *f, const char *name)
{
	return dp__tenant_id(f->dp, name, true);
}

int dpt_add_endpoint(struct dpt *f, uint32_t ifindex, uint32_t tenant_id, uint32_t ep_id,
		     uint32_t flags)
{
	struct nf_ep_key k = { .netns_cookie = f->netns_cookie, .ifindex = ifindex };
	struct nf_endpoint v = { .tenant_id = tenant_id, .ep_id = ep_id, .flags = flags };

	if (bpf_map_update_elem(dp__map_fd(f->dp, NF_MAP_ENDPOINTS), &k, &v, BPF_ANY))
		return -errno;
	dp__verdicts_changed(f->dp);	/* as every attach does */
	return 0;
}

int dpt_add_ep_addr(struct dpt *f, uint32_t ep_id, const char *addr)
{
	struct nf_ep_addr_key k = { .ep_id = ep_id };
	__u8 one = 1;
	bool is_v4;

	if (nf_parse_addr(addr, k.addr, &is_v4))
		return -EINVAL;
	if (bpf_map_update_elem(dp__map_fd(f->dp, NF_MAP_EP_ADDRS), &k, &one, BPF_ANY))
		return -errno;
	dp__verdicts_changed(f->dp);
	return 0;
}

static uint32_t id_cb(const char *name, void *ctx)
{
	return dp__tenant_id(ctx, name, true);
}

/*
 * Compile the policies of `tenant` in json that make the rules of network
 * key `key` (NULL: its NetworkPolicies) and install them for slot id.
 */
static int apply_slot(struct dpt *f, const char *tenant, const char *key, uint32_t id,
		      const char *json)
{
	struct nf_docset *ds = policy__docset_new();
	struct nf_policy **mine = NULL, **pols = NULL;
	struct nf_compiled *c = NULL;
	size_t i, n_mine = 0, n;
	struct nf_tenant_info ti;
	int err;

	if (!ds)
		return -ENOMEM;
	err = policy__load_json(ds, "test.json", json, strlen(json));
	if (!err && ds->n_problems)
		err = -EINVAL;
	for (i = 0; i < ds->n_problems; i++)
		fprintf(stderr, "dpt_apply_json: %s\n", ds->problems[i]);
	if (err)
		goto out;
	mine = calloc(ds->n_policies + ds->n_cluster + 1, sizeof(*mine));
	pols = calloc(ds->n_policies + ds->n_cluster + 1, sizeof(*pols));
	if (!mine || !pols) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ds->n_policies; i++)
		if (!strcmp(ds->policies[i]->tenant, tenant))
			mine[n_mine++] = ds->policies[i];
	/* SPEC §13, as apply picks them: the cluster policies whose namespace
	 * subject selects the tenant (no Namespace document: its name label)
	 * and whose pod subject selects an endpoint without labels */
	for (i = 0; i < ds->n_cluster; i++)
		if (compile__ns_matches(ds->cluster[i]->ns_subject, tenant, NULL) &&
		    compile__subject_matches(ds->cluster[i], NULL))
			mine[n_mine++] = ds->cluster[i];
	n = compile__network_policies(mine, n_mine, key, pols, NULL);
	err = dp__tenant_info(f->dp, id, &ti);
	if (!err)
		err = compile__tenant(tenant, id, ti.epoch + 1, pols, n, id_cb, f->dp, &c);
	if (!err)
		err = dp__install_policy(f->dp, c);
out:
	compile__free(c);
	free(mine);
	free(pols);
	policy__docset_free(ds);
	return err;
}

int dpt_apply_json(struct dpt *f, const char *tenant, const char *json)
{
	uint32_t id = dpt_tenant(f, tenant);

	return id ? apply_slot(f, tenant, NULL, id, json) : -ENOSPC;
}

int dpt_apply_network_json(struct dpt *f, const char *tenant, const char *key, const char *json,
			   uint32_t *slot)
{
	uint32_t tid = dpt_tenant(f, tenant);

	*slot = tid ? dp__ruleset_id(f->dp, tid, key, true) : 0;
	return *slot ? apply_slot(f, tenant, key, *slot, json) : -ENOSPC;
}

int dpt_set_policy_id(struct dpt *f, uint32_t ifindex, uint32_t policy_id)
{
	struct nf_ep_key k = { .netns_cookie = f->netns_cookie, .ifindex = ifindex };
	struct nf_endpoint v;

	if (bpf_map_lookup_elem(dp__map_fd(f->dp, NF_MAP_ENDPOINTS), &k, &v))
		return -errno;
	v.policy_id = policy_id;
	if (bpf_map_update_elem(dp__map_fd(f->dp, NF_MAP_ENDPOINTS), &k, &v, BPF_EXIST))
		return -errno;
	dp__verdicts_changed(f->dp);	/* as dp__rulesets_sync does */
	return 0;
}

int dpt_ipcache(struct dpt *f, const char *cidr, uint32_t id)
{
	struct nf_cidr c;

	if (nf_parse_cidr(cidr, &c))
		return -EINVAL;
	return dp__ipcache_set(f->dp, &c, id);
}

int dpt_run(struct dpt *f, int prog_fd, const void *data, size_t len, uint32_t ifindex,
	    uint32_t *retval)
{
	struct __sk_buff ctx = { .ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	*retval = opts.retval;
	return 0;
}

/* New flows allowed (nf_flows, packets only) at index i, summed over CPUs. */
static int read_flows(struct dpt *f, __u32 i, __u64 *out)
{
	__u64 *v = calloc(f->n_cpus, sizeof(*v));
	int c, err = 0;

	*out = 0;
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(dp__map_fd(f->dp, NF_MAP_FLOWS), &i, v))
		err = -errno;
	for (c = 0; !err && c < f->n_cpus; c++)
		*out += v[c];
	free(v);
	return err;
}

/* Sum the per-CPU values at key; zero if absent. New flows allowed come
 * from nf_flows (packets; no bytes). */
static int read_counter(struct dpt *f, const struct nf_stats_key *k, struct nf_counter *out)
{
	struct nf_counter *v;
	int i, err = 0;

	memset(out, 0, sizeof(*out));
	if (k->reason == NF_REASON_ALLOWED_FLOW)
		return k->tenant_id < NF_MAX_TENANTS ?
			       read_flows(f, NF_FLOWS_INDEX(k->tenant_id, k->dir, k->hook),
					  &out->packets) :
			       0;
	v = calloc(f->n_cpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(dp__map_fd(f->dp, NF_MAP_STATS), k, v)) {
		err = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	for (i = 0; i < f->n_cpus; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
	}
out:
	free(v);
	return err;
}

int dpt_counter(struct dpt *f, uint32_t tenant_id, uint8_t dir, uint8_t reason, uint8_t hook,
		struct nf_counter *out)
{
	struct nf_stats_key k = {
		.tenant_id = tenant_id, .dir = dir, .reason = reason, .hook = hook
	};

	return read_counter(f, &k, out);
}

/* Append (k, val) to out (cap: its allocated entries). */
static int stats_push(struct dpt_stats *out, size_t *cap, const struct nf_stats_key *k,
		      const struct nf_counter *val)
{
	if (out->n == *cap) {
		struct dpt_stat *bigger;

		*cap = *cap ? *cap * 2 : 16;
		bigger = realloc(out->v, *cap * sizeof(*bigger));
		if (!bigger)
			return -ENOMEM;
		out->v = bigger;
	}
	out->v[out->n].key = *k;
	out->v[out->n].val = *val;
	out->n++;
	return 0;
}

/* Append the nf_stats entry k with its counter. */
static int stats_add(struct dpt *f, struct dpt_stats *out, size_t *cap,
		     const struct nf_stats_key *k)
{
	struct nf_counter val;
	int err = read_counter(f, k, &val);

	return err ? err : stats_push(out, cap, k, &val);
}

/* The nonzero nf_flows counters, as NF_REASON_ALLOWED_FLOW keys: the whole
 * array in one batch read (a lookup per index would take long enough for
 * a test's flows to need their conntrack refresh). */
static int flows_add(struct dpt *f, struct dpt_stats *out, size_t *cap)
{
	__u32 *keys = calloc(NF_FLOWS_ENTRIES, sizeof(*keys)), count = NF_FLOWS_ENTRIES, i, batch;
	__u64 *vals = calloc((size_t)NF_FLOWS_ENTRIES * f->n_cpus, sizeof(*vals));
	int err = 0, c;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	if (bpf_map_lookup_batch(dp__map_fd(f->dp, NF_MAP_FLOWS), NULL, &batch, keys, vals,
				 &count, NULL) && errno != ENOENT) {
		err = -errno;
		goto out;
	}
	for (i = 0; !err && i < count; i++) {
		struct nf_stats_key fk = {
			.tenant_id = NF_FLOWS_TENANT(keys[i]),
			.dir = NF_FLOWS_DIR(keys[i]),
			.reason = NF_REASON_ALLOWED_FLOW,
			.hook = NF_FLOWS_HOOK(keys[i]),
		};
		struct nf_counter n = { 0, 0 };

		for (c = 0; c < f->n_cpus; c++)
			n.packets += vals[(size_t)i * f->n_cpus + c];
		if (n.packets)
			err = stats_push(out, cap, &fk, &n);
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* Every nf_stats entry, and the nf_flows counters (as NF_REASON_ALLOWED_FLOW
 * keys) of every tenant id that has one. */
int dpt_stats_read(struct dpt *f, struct dpt_stats *out)
{
	struct nf_stats_key k, next, *prev = NULL;
	size_t cap = 0;
	int err = 0;

	out->v = NULL;
	out->n = 0;
	while (!err && !bpf_map_get_next_key(dp__map_fd(f->dp, NF_MAP_STATS), prev, &next)) {
		err = stats_add(f, out, &cap, &next);
		k = next;
		prev = &k;
	}
	if (!err && errno != ENOENT)
		err = -errno;
	if (!err)
		err = flows_add(f, out, &cap);
	if (err)
		dpt_stats_free(out);
	return err;
}

void dpt_stats_free(struct dpt_stats *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static bool key_eq(const struct nf_stats_key *a, const struct nf_stats_key *b)
{
	return a->tenant_id == b->tenant_id && a->dir == b->dir && a->reason == b->reason &&
	       a->hook == b->hook;
}

static struct nf_counter stat_of(const struct dpt_stats *s, const struct nf_stats_key *k)
{
	struct nf_counter zero = {};
	size_t i;

	for (i = 0; i < s->n; i++)
		if (key_eq(&s->v[i].key, k))
			return s->v[i].val;
	return zero;
}

const char *dpt_reason_name(uint8_t reason)
{
	static const char *const names[NF_REASON_MAX] = {
		[NF_REASON_ALLOWED_FLOW] = "allowed_flow", [NF_DROP_POLICY] = "policy_denied",
		[NF_DROP_SPOOFED] = "spoofed_source",	   [NF_DROP_MALFORMED] = "malformed",
		[NF_DROP_FRAGMENT] = "fragment",	   [NF_DROP_CT_FULL] = "conntrack_full",
		[NF_DROP_ADMIN] = "admin_denied",	   [NF_DROP_BASELINE] = "baseline_denied",
	};

	if (reason == DPT_NO_COUNT)
		return "nothing";
	return reason < NF_REASON_MAX && names[reason] ? names[reason] : "?";
}

static void key_text(const struct nf_stats_key *k, char *buf, size_t len)
{
	snprintf(buf, len, "(tenant %u, %s, %s, %s)", k->tenant_id,
		 k->dir == NF_DIR_INGRESS ? "ingress" :
		 k->dir == NF_DIR_EGRESS  ? "egress" :
					    "?",
		 dpt_reason_name(k->reason),
		 k->hook == NF_HOOK_TC	   ? "tc" :
		 k->hook == NF_HOOK_CGROUP ? "cgroup" :
					     "?");
}

int dpt_stats_expect(const struct dpt_stats *before, const struct dpt_stats *after,
		     const struct nf_stats_key *want, uint64_t packets, int64_t bytes, char *msg,
		     size_t msg_len)
{
	size_t i, o = 0;
	bool seen_want = false;
	int bad = 0;

	if (msg_len)
		msg[0] = 0;
	for (i = 0; i < after->n; i++) {
		const struct nf_stats_key *k = &after->v[i].key;
		struct nf_counter b = stat_of(before, k), a = after->v[i].val;
		uint64_t dp = a.packets - b.packets, db = a.bytes - b.bytes;
		bool is_want = packets && key_eq(k, want);
		char kt[96];

		if (is_want) {
			seen_want = true;
			if (dp == packets && (bytes < 0 || db == (uint64_t)bytes))
				continue;
		} else if (!dp && !db) {
			continue;
		}
		bad = -1;
		key_text(k, kt, sizeof(kt));
		if (o < msg_len)
			o += snprintf(msg + o, msg_len - o,
				      " %s +%" PRIu64 " packets +%" PRIu64 " bytes%s;", kt, dp, db,
				      is_want ? " (not the expected delta)" : "");
	}
	if (packets && !seen_want) {
		char kt[96];

		bad = -1;
		key_text(want, kt, sizeof(kt));
		if (o < msg_len)
			o += snprintf(msg + o, msg_len - o, " %s never counted;", kt);
	}
	return bad;
}

/* Delete every key of a hash map (keys collected first: deleting while
 * iterating restarts the walk). */
static void map_clear(int fd, size_t key_size)
{
	uint8_t *keys = NULL, *prev = NULL;
	size_t n = 0, cap = 0, i;

	for (;;) {
		if (n == cap) {
			uint8_t *bigger;

			cap = cap ? cap * 2 : 64;
			bigger = realloc(keys, cap * key_size);
			if (!bigger)
				break;
			keys = bigger;
			prev = n ? keys + (n - 1) * key_size : NULL;
		}
		if (bpf_map_get_next_key(fd, prev, keys + n * key_size))
			break;
		prev = keys + n * key_size;
		n++;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * key_size);
	free(keys);
}

/* Set the __u32 field of nf_config at offset off. */
static int config_set(struct dpt *f, size_t off, uint32_t val)
{
	struct nf_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp__map_fd(f->dp, NF_MAP_CONFIG), &zero, &cfg))
		return -errno;
	memcpy((char *)&cfg + off, &val, sizeof(val));
	if (bpf_map_update_elem(dp__map_fd(f->dp, NF_MAP_CONFIG), &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

int dpt_set_ct_tenant_max(struct dpt *f, uint32_t max)
{
	return config_set(f, offsetof(struct nf_config, ct_tenant_max), max);
}

int dpt_set_events_per_sec(struct dpt *f, uint32_t per_sec)
{
	return config_set(f, offsetof(struct nf_config, events_per_sec), per_sec);
}

struct ev_sink {
	struct nf_event *out;
	size_t max, n, seen;
};

static int ev_take(void *ctx, void *data, size_t size)
{
	struct ev_sink *s = ctx;

	if (size >= sizeof(struct nf_event) && s->n < s->max)
		memcpy(&s->out[s->n++], data, sizeof(struct nf_event));
	s->seen++;
	return 0;
}

int dpt_events_drain(struct dpt *f, struct nf_event *out, size_t max, size_t *n)
{
	struct ev_sink s = { .out = out, .max = max };
	struct ring_buffer *rb;
	int err;

	rb = ring_buffer__new(dp__map_fd(f->dp, NF_MAP_EVENTS), ev_take, &s, NULL);
	if (!rb)
		return -errno;
	err = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	if (err < 0)
		return err;
	if (n)
		*n = s.seen;
	return 0;
}

/* Every CPU's flow cache slots, changed by fn; returns how many held a flow. */
static size_t fc_each(struct dpt *f, void (*fn)(struct nf_fc_slot *s, int64_t arg), int64_t arg)
{
	int fd = dp__map_fd(f->dp, NF_MAP_FLOW_CACHE), ncpu = libbpf_num_possible_cpus(), c;
	struct nf_fc_slot v;
	size_t held = 0;
	__u32 i, k;

	if (fd < 0 || ncpu <= 0)
		return 0;
	for (c = 0; c < ncpu; c++) {
		for (i = 0; i < NF_FC_SLOTS; i++) {
			k = (__u32)c << NF_FC_BITS | i;
			if (bpf_map_lookup_elem(fd, &k, &v))
				continue;
			held += v.dirs != 0;
			if (fn) {
				fn(&v, arg);
				bpf_map_update_elem(fd, &k, &v, BPF_ANY);
			}
		}
	}
	return held;
}

static void fc_shift(struct nf_fc_slot *s, int64_t jiffies)
{
	if (s->dirs)
		s->seen -= (uint32_t)jiffies;
}

void dpt_fc_age(struct dpt *f, int64_t jiffies)
{
	fc_each(f, fc_shift, jiffies);
}

size_t dpt_fc_held(struct dpt *f)
{
	return fc_each(f, NULL, 0);
}

static void fc_zero(struct nf_fc_slot *s, int64_t unused)
{
	(void)unused;
	memset(s, 0, sizeof(*s));
}

/*
 * Empty the flow cache (struct nf_fc_slot) on every CPU: what a slot says
 * lasts NF_CT_REFRESH jiffies and no longer than policy_gen, which userspace
 * bumps after writing nf_ct; a test that writes nf_ct (or ages an entry)
 * stands for both having happened.
 */
void dpt_fc_clear(struct dpt *f)
{
	fc_each(f, fc_zero, 0);
}

/* How many slots nf_ct_closed has: the shared region and every CPU's. */
static __u32 closed_slots(int fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.max_entries : 0;
}

/*
 * Every slot of nf_ct_closed changed by fn; how many hold a closed
 * connection (a CPU region's first slot, its counter, holds none: gen 0).
 */
static size_t closed_each(struct dpt *f, void (*fn)(struct nf_closed_slot *s, int64_t arg),
			  int64_t arg)
{
	int fd = dp__map_fd(f->dp, NF_MAP_CT_CLOSED);
	__u32 i, n = closed_slots(fd);
	struct nf_closed_slot s;
	size_t held = 0;

	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &i, &s))
			continue;
		held += s.gen != 0;
		if (fn && s.gen) {
			fn(&s, arg);
			bpf_map_update_elem(fd, &i, &s, BPF_ANY);
		}
	}
	return held;
}

static void closed_zero(struct nf_closed_slot *s, int64_t unused)
{
	(void)unused;
	memset(s, 0, sizeof(*s));
}

static void closed_shift(struct nf_closed_slot *s, int64_t jiffies)
{
	s->at -= (uint32_t)jiffies;
}

/* Forget every recently closed connection (nf_ct_closed): a gen bump does. */
void dpt_closed_clear(struct dpt *f)
{
	closed_each(f, closed_zero, 0);
}

void dpt_closed_age(struct dpt *f, int64_t jiffies)
{
	closed_each(f, closed_shift, jiffies);
}

size_t dpt_closed_held(struct dpt *f)
{
	return closed_each(f, NULL, 0);
}

int dpt_closed_first(struct dpt *f, struct nf_closed_slot *out)
{
	int fd = dp__map_fd(f->dp, NF_MAP_CT_CLOSED);
	__u32 i, n = closed_slots(fd);

	for (i = 0; i < n; i++)
		if (!bpf_map_lookup_elem(fd, &i, out) && out->gen)
			return (int)i;
	return -1;
}

/* Young slots held (struct nf_young_slot); with clear, each freed. */
static size_t young_each(struct dpt *f, bool clear)
{
	int fd = dp__map_fd(f->dp, NF_MAP_CT_YOUNG);
	struct nf_young_slot s, zero = { 0 };
	size_t n = 0;
	__u32 i;

	for (i = 0; i < NF_YOUNG_SLOTS; i++) {
		if (bpf_map_lookup_elem(fd, &i, &s) || s.state == NF_YOUNG_FREE)
			continue;
		n++;
		if (clear)
			bpf_map_update_elem(fd, &i, &zero, BPF_ANY);
	}
	return n;
}

size_t dpt_young_held(struct dpt *f)
{
	return young_each(f, false);
}

void dpt_young_age(struct dpt *f, uint32_t jiffies)
{
	int fd = dp__map_fd(f->dp, NF_MAP_CT_YOUNG);
	struct nf_young_slot s;
	__u32 i;

	for (i = 0; i < NF_YOUNG_SLOTS; i++)
		if (!bpf_map_lookup_elem(fd, &i, &s) && s.state == NF_YOUNG_HELD) {
			s.born -= jiffies;
			bpf_map_update_elem(fd, &i, &s, BPF_ANY);
		}
}

int32_t dpt_tally(struct dpt *f, uint32_t idx)
{
	__s32 t = 0;

	bpf_map_lookup_elem(dp__map_fd(f->dp, NF_MAP_CT_TALLY), &idx, &t);
	return t;
}

size_t dpt_ct_count_raw(struct dpt *f)
{
	struct nf_ct_key k, next;
	size_t n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(dp__map_fd(f->dp, NF_MAP_CT), prev, &next)) {
		n++;
		k = next;
		prev = &k;
	}
	return n;
}

int dpt_young_first(struct dpt *f, struct nf_young_slot *out)
{
	int fd = dp__map_fd(f->dp, NF_MAP_CT_YOUNG);
	__u32 i;

	for (i = 0; i < NF_YOUNG_SLOTS; i++)
		if (!bpf_map_lookup_elem(fd, &i, out) && out->state != NF_YOUNG_FREE)
			return (int)i;
	return -1;
}

void dpt_flush_flows(struct dpt *f)
{
	young_each(f, true);
	dpt_fc_clear(f);
	dpt_closed_clear(f);
	map_clear(dp__map_fd(f->dp, NF_MAP_CT), sizeof(struct nf_ct_key));
	map_clear(dp__map_fd(f->dp, NF_MAP_FRAGS), sizeof(struct nf_frag_key));
	map_clear(dp__map_fd(f->dp, NF_MAP_PEER_CACHE), sizeof(struct nf_peer_cache_key));
	map_clear(dp__map_fd(f->dp, NF_MAP_VERDICTS), sizeof(struct nf_verdict_key));
}

/* The key of the first nf_ct entry of the tuple, whatever its scope. */
static int ct_find(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
		   const uint8_t raddr[16], uint16_t rport, struct nf_ct_key *out)
{
	struct nf_ct_key k, next;
	void *prev = NULL;

	dp__young_flush(f->dp);	/* young connections too: userspace reads nf_ct */
	while (!bpf_map_get_next_key(dp__map_fd(f->dp, NF_MAP_CT), prev, &next)) {
		if (NF_CT_KEY_PROTO(&next) == proto && next.lport == htons(lport) &&
		    next.rport == htons(rport) && !memcmp(next.laddr, laddr, 16) &&
		    !memcmp(next.raddr, raddr, 16)) {
			*out = next;
			return 0;
		}
		k = next;
		prev = &k;
	}
	return -ENOENT;
}

bool dpt_ct_has(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
		const uint8_t raddr[16], uint16_t rport)
{
	struct nf_ct_key k;

	return ct_find(f, proto, laddr, lport, raddr, rport, &k) == 0;
}

int dpt_ct_get(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
	       const uint8_t raddr[16], uint16_t rport, struct nf_ct_val *val)
{
	struct nf_ct_key k;
	int err = ct_find(f, proto, laddr, lport, raddr, rport, &k);

	if (err)
		return err;
	return bpf_map_lookup_elem(dp__map_fd(f->dp, NF_MAP_CT), &k, val) ? -errno : 0;
}

int dpt_ct_set(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
	       const uint8_t raddr[16], uint16_t rport, const struct nf_ct_val *val)
{
	struct nf_ct_key k;
	int err = ct_find(f, proto, laddr, lport, raddr, rport, &k);

	if (err)
		return err;
	dpt_fc_clear(f);
	dpt_closed_clear(f);
	return bpf_map_update_elem(dp__map_fd(f->dp, NF_MAP_CT), &k, val, BPF_EXIST) ? -errno : 0;
}

int dpt_ct_del_raw(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
		   const uint8_t raddr[16], uint16_t rport)
{
	struct nf_ct_key k;
	int err = ct_find(f, proto, laddr, lport, raddr, rport, &k);

	if (err)
		return err;
	return bpf_map_delete_elem(dp__map_fd(f->dp, NF_MAP_CT), &k) ? -errno : 0;
}

size_t dpt_ct_count(struct dpt *f)
{
	dp__young_flush(f->dp);
	return dpt_ct_count_raw(f);
}
