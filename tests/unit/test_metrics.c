// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The metrics collector and renderer: exact text for a hand-filled
 * collection, `promtool check metrics` on it, and the collector on maps this
 * test creates itself (layouts from abi.h; skipped without CAP_BPF).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>
#include "metrics.h"

static const char expected_full[] =
	"# HELP netfence_drops_total Packets dropped, by tenant, direction (endpoint's view), "
	"reason and hook.\n"
	"# TYPE netfence_drops_total counter\n"
	"netfence_drops_total{tenant=\"a\\\"b\\\\c\\nd\",direction=\"ingress\","
	"reason=\"malformed\",hook=\"cgroup\"} 1\n"
	"netfence_drops_total{tenant=\"t1\",direction=\"ingress\",reason=\"policy_denied\","
	"hook=\"tc\"} 3\n"
	"netfence_drops_total{tenant=\"t1\",direction=\"egress\",reason=\"policy_denied\","
	"hook=\"tc\"} 5\n"
	"netfence_drops_total{tenant=\"t1\",direction=\"egress\",reason=\"spoofed_source\","
	"hook=\"tc\"} 0\n"
	"netfence_drops_total{tenant=\"t1\",direction=\"egress\",reason=\"fragment\","
	"hook=\"cgroup\"} 2\n"
	"netfence_drops_total{tenant=\"unknown\",direction=\"ingress\",reason=\"malformed\","
	"hook=\"tc\"} 9\n"
	"# HELP netfence_drop_bytes_total Bytes of the packets dropped, by tenant, direction, "
	"reason and hook.\n"
	"# TYPE netfence_drop_bytes_total counter\n"
	"netfence_drop_bytes_total{tenant=\"a\\\"b\\\\c\\nd\",direction=\"ingress\","
	"reason=\"malformed\",hook=\"cgroup\"} 60\n"
	"netfence_drop_bytes_total{tenant=\"t1\",direction=\"ingress\",reason=\"policy_denied\","
	"hook=\"tc\"} 294\n"
	"netfence_drop_bytes_total{tenant=\"t1\",direction=\"egress\",reason=\"policy_denied\","
	"hook=\"tc\"} 490\n"
	"netfence_drop_bytes_total{tenant=\"t1\",direction=\"egress\",reason=\"spoofed_source\","
	"hook=\"tc\"} 0\n"
	"netfence_drop_bytes_total{tenant=\"t1\",direction=\"egress\",reason=\"fragment\","
	"hook=\"cgroup\"} 3000\n"
	"netfence_drop_bytes_total{tenant=\"unknown\",direction=\"ingress\",reason=\"malformed\","
	"hook=\"tc\"} 540\n"
	"# HELP netfence_allowed_flows_total New flows allowed by policy, by tenant and "
	"direction.\n"
	"# TYPE netfence_allowed_flows_total counter\n"
	"netfence_allowed_flows_total{tenant=\"a\\\"b\\\\c\\nd\",direction=\"ingress\"} 0\n"
	"netfence_allowed_flows_total{tenant=\"a\\\"b\\\\c\\nd\",direction=\"egress\"} 0\n"
	"netfence_allowed_flows_total{tenant=\"t1\",direction=\"ingress\"} 0\n"
	"netfence_allowed_flows_total{tenant=\"t1\",direction=\"egress\"} 11\n"
	"# HELP netfence_endpoints Endpoints (interfaces and cgroups) per tenant.\n"
	"# TYPE netfence_endpoints gauge\n"
	"netfence_endpoints{tenant=\"a\\\"b\\\\c\\nd\"} 0\n"
	"netfence_endpoints{tenant=\"t1\"} 2\n"
	"# HELP netfence_identities Label identities per tenant: distinct label sets of its pods (SPEC 11).\n"
	"# TYPE netfence_identities gauge\n"
	"netfence_identities{tenant=\"a\\\"b\\\\c\\nd\"} 0\n"
	"netfence_identities{tenant=\"t1\"} 0\n"
	"# HELP netfence_policy_rules Compiled allow rules in force per tenant and direction.\n"
	"# TYPE netfence_policy_rules gauge\n"
	"netfence_policy_rules{tenant=\"a\\\"b\\\\c\\nd\",direction=\"ingress\"} 0\n"
	"netfence_policy_rules{tenant=\"a\\\"b\\\\c\\nd\",direction=\"egress\"} 0\n"
	"netfence_policy_rules{tenant=\"t1\",direction=\"ingress\"} 1\n"
	"netfence_policy_rules{tenant=\"t1\",direction=\"egress\"} 2\n"
	"# HELP netfence_conntrack_entries Entries in the connection tracking table.\n"
	"# TYPE netfence_conntrack_entries gauge\n"
	"netfence_conntrack_entries 17\n"
	"# HELP netfence_map_entries Entries in each datapath map.\n"
	"# TYPE netfence_map_entries gauge\n"
	"netfence_map_entries{map=\"ct\"} 17\n"
	"netfence_map_entries{map=\"stats\"} 6\n"
	"# HELP netfence_map_capacity Capacity (max_entries) of each datapath map.\n"
	"# TYPE netfence_map_capacity gauge\n"
	"netfence_map_capacity{map=\"ct\"} 262144\n"
	"netfence_map_capacity{map=\"stats\"} 65536\n"
	"# HELP netfence_policy_applies_total Policy applies on this node, by result.\n"
	"# TYPE netfence_policy_applies_total counter\n"
	"netfence_policy_applies_total{result=\"ok\"} 4\n"
	"netfence_policy_applies_total{result=\"error\"} 1\n"
	"# HELP netfence_unfenced_interfaces_total Interfaces found unattached in a fenced "
	"workload's network namespace and fenced default-deny by this serve.\n"
	"# TYPE netfence_unfenced_interfaces_total counter\n"
	"netfence_unfenced_interfaces_total 2\n"
	"# HELP netfence_build_info Build information; the value is always 1.\n"
	"# TYPE netfence_build_info gauge\n"
	"netfence_build_info{version=\"1.2.3\"} 1\n";

static const char expected_empty[] =
	"# HELP netfence_drops_total Packets dropped, by tenant, direction (endpoint's view), "
	"reason and hook.\n"
	"# TYPE netfence_drops_total counter\n"
	"# HELP netfence_drop_bytes_total Bytes of the packets dropped, by tenant, direction, "
	"reason and hook.\n"
	"# TYPE netfence_drop_bytes_total counter\n"
	"# HELP netfence_allowed_flows_total New flows allowed by policy, by tenant and "
	"direction.\n"
	"# TYPE netfence_allowed_flows_total counter\n"
	"# HELP netfence_endpoints Endpoints (interfaces and cgroups) per tenant.\n"
	"# TYPE netfence_endpoints gauge\n"
	"# HELP netfence_identities Label identities per tenant: distinct label sets of its pods (SPEC 11).\n"
	"# TYPE netfence_identities gauge\n"
	"# HELP netfence_policy_rules Compiled allow rules in force per tenant and direction.\n"
	"# TYPE netfence_policy_rules gauge\n"
	"# HELP netfence_conntrack_entries Entries in the connection tracking table.\n"
	"# TYPE netfence_conntrack_entries gauge\n"
	"# HELP netfence_map_entries Entries in each datapath map.\n"
	"# TYPE netfence_map_entries gauge\n"
	"# HELP netfence_map_capacity Capacity (max_entries) of each datapath map.\n"
	"# TYPE netfence_map_capacity gauge\n"
	"# HELP netfence_policy_applies_total Policy applies on this node, by result.\n"
	"# TYPE netfence_policy_applies_total counter\n"
	"# HELP netfence_unfenced_interfaces_total Interfaces found unattached in a fenced "
	"workload's network namespace and fenced default-deny by this serve.\n"
	"# TYPE netfence_unfenced_interfaces_total counter\n"
	"# HELP netfence_build_info Build information; the value is always 1.\n"
	"# TYPE netfence_build_info gauge\n"
	"netfence_build_info{version=\"v\\\"x\"} 1\n";

static void set(struct nf_tenant_metrics *t, int dir, int reason, int hook, uint64_t p, uint64_t b)
{
	t->cnt[dir][reason][hook].packets = p;
	t->cnt[dir][reason][hook].bytes = b;
	t->seen[dir][reason][hook] = true;
}

static void fill(struct nf_metrics *m)
{
	struct nf_tenant_metrics *t;

	metrics__init(m);
	snprintf(m->version, sizeof(m->version), "1.2.3");
	m->loaded = true;

	t = metrics__tenant(m, 1, "t1");
	assert_non_null(t);
	t->has_info = true;
	t->info.n_rules[NF_DIR_INGRESS] = 1;
	t->info.n_rules[NF_DIR_EGRESS] = 2;
	t->n_endpoints = 2;
	set(t, NF_DIR_EGRESS, NF_DROP_POLICY, NF_HOOK_TC, 5, 490);
	set(t, NF_DIR_INGRESS, NF_DROP_POLICY, NF_HOOK_TC, 3, 294);
	set(t, NF_DIR_EGRESS, NF_DROP_SPOOFED, NF_HOOK_TC, 0, 0);
	set(t, NF_DIR_EGRESS, NF_DROP_FRAGMENT, NF_HOOK_CGROUP, 2, 3000);
	set(t, NF_DIR_EGRESS, NF_REASON_ALLOWED_FLOW, NF_HOOK_TC, 7, 700);
	set(t, NF_DIR_EGRESS, NF_REASON_ALLOWED_FLOW, NF_HOOK_CGROUP, 4, 400);

	/* unknown: counters only, no tenant entry: no endpoints/rules lines */
	t = metrics__tenant(m, 0, NULL);
	assert_non_null(t);
	set(t, NF_DIR_INGRESS, NF_DROP_MALFORMED, NF_HOOK_TC, 9, 540);

	/* a name needing every escape (the kernel map could hold anything) */
	t = metrics__tenant(m, 2, "a\"b\\c\nd");
	assert_non_null(t);
	t->has_info = true;
	set(t, NF_DIR_INGRESS, NF_DROP_MALFORMED, NF_HOOK_CGROUP, 1, 60);

	m->ct_entries = 17;
	m->n_maps = 2;
	snprintf(m->maps[0].name, sizeof(m->maps[0].name), "ct");
	m->maps[0].entries = 17;
	m->maps[0].capacity = NF_MAX_CT;
	snprintf(m->maps[1].name, sizeof(m->maps[1].name), "stats");
	m->maps[1].entries = 6;
	m->maps[1].capacity = NF_MAX_STATS;
	m->have_applies = true;
	m->have_unfenced = true;
	m->unfenced_ifaces = 2;
	m->applies_ok = 4;
	m->applies_err = 1;
	metrics__sort(m);
}

static int promtool_check(const char *text)
{
	char path[] = "/tmp/nf-test-metrics-XXXXXX";
	char cmd[256];
	int fd, rc;
	FILE *f;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		return -ENOENT;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	rc = system(cmd);
	unlink(path);
	return rc;
}

static void test_render_full(void **state)
{
	struct nf_metrics m;
	char *buf;
	size_t len;

	fill(&m);
	assert_int_equal(metrics__render(&m, &buf, &len), 0);
	assert_int_equal(len, strlen(buf));
	assert_string_equal(buf, expected_full);
	free(buf);
	metrics__free(&m);
}

static void test_render_empty(void **state)
{
	struct nf_metrics m;
	char *buf;
	size_t len;

	metrics__init(&m);
	snprintf(m.version, sizeof(m.version), "v\"x");
	assert_int_equal(metrics__render(&m, &buf, &len), 0);
	assert_string_equal(buf, expected_empty);
	free(buf);
	metrics__free(&m);
}

static void test_promtool(void **state)
{
	struct nf_metrics m;
	char *buf;
	size_t len;
	int rc;

	fill(&m);
	assert_int_equal(metrics__render(&m, &buf, &len), 0);
	rc = promtool_check(buf);
	if (rc == -ENOENT) {
		free(buf);
		metrics__free(&m);
		skip();
	}
	assert_int_equal(rc, 0);
	free(buf);
	metrics__free(&m);

	metrics__init(&m);
	assert_int_equal(metrics__render(&m, &buf, &len), 0);
	assert_int_equal(promtool_check(buf), 0);
	free(buf);
	metrics__free(&m);
}

static void test_names(void **state)
{
	assert_string_equal(metrics__dir_name(NF_DIR_EGRESS), "egress");
	assert_string_equal(metrics__reason_name(NF_DROP_SPOOFED), "spoofed_source");
	assert_string_equal(metrics__hook_name(NF_HOOK_CGROUP), "cgroup");
	assert_string_equal(metrics__proto_name(17), "udp");
	assert_null(metrics__proto_name(250));
	assert_null(metrics__reason_name(NF_REASON_MAX));
}

/* ---- the collector on real maps ---- */

struct own_maps {
	struct nf_maps maps;
	int fds[8];
	int n;
};

static int mk(struct own_maps *o, enum bpf_map_type type, const char *name, __u32 ks, __u32 vs,
	      __u32 max, __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	int fd = bpf_map_create(type, name, ks, vs, max, &opts);

	if (fd >= 0)
		o->fds[o->n++] = fd;
	return fd;
}

static void close_maps(struct own_maps *o)
{
	while (o->n)
		close(o->fds[--o->n]);
}

static void put_stat(int fd, int ncpus, __u32 tenant, int dir, int reason, int hook, uint64_t base)
{
	struct nf_stats_key k = { .tenant_id = tenant, .dir = dir, .reason = reason, .hook = hook };
	struct nf_counter *v = calloc(ncpus, sizeof(*v));
	int i;

	assert_non_null(v);
	/* CPU i holds base + i packets and 100 bytes per packet */
	for (i = 0; i < ncpus; i++) {
		v[i].packets = base + i;
		v[i].bytes = (base + i) * 100;
	}
	assert_int_equal(bpf_map_update_elem(fd, &k, v, BPF_ANY), 0);
	free(v);
}

/* nf_flows at (tenant, dir, hook): CPU i holds base + i new flows. */
static void put_flows(int fd, int ncpus, __u32 tenant, int dir, int hook, uint64_t base)
{
	__u32 k = NF_FLOWS_INDEX(tenant, dir, hook);
	__u64 *v = calloc(ncpus, sizeof(*v));
	int i;

	assert_non_null(v);
	for (i = 0; i < ncpus; i++)
		v[i] = base + i;
	assert_int_equal(bpf_map_update_elem(fd, &k, v, BPF_ANY), 0);
	free(v);
}

static void test_collect(void **state)
{
	struct own_maps o = { .n = 0 };
	struct nf_maps *mp = &o.maps;
	struct nf_tenant_info ti;
	struct nf_endpoint ep = { 0 };
	struct nf_metrics m;
	struct nf_tenant_metrics *t1 = NULL, *unk = NULL, *t2 = NULL;
	int ncpus = libbpf_num_possible_cpus();
	uint64_t sum_base = 0;
	__u32 id;
	size_t i;
	char *buf, line[256];
	size_t len;

	memset(mp, -1, sizeof(*mp));
	/* an array: free ids have an empty name and must not be listed */
	mp->fd[NF_MAP_TENANTS] =
		mk(&o, BPF_MAP_TYPE_ARRAY, "nf_tenants", 4, sizeof(ti), NF_MAX_TENANTS, 0);
	if (mp->fd[NF_MAP_TENANTS] < 0)
		skip(); /* no CAP_BPF */
	mp->fd[NF_MAP_STATS] = mk(&o, BPF_MAP_TYPE_PERCPU_HASH, "nf_stats",
				  sizeof(struct nf_stats_key), sizeof(struct nf_counter),
				  NF_MAX_STATS, 0);
	mp->fd[NF_MAP_ENDPOINTS] = mk(&o, BPF_MAP_TYPE_HASH, "nf_endpoints",
				      sizeof(struct nf_ep_key), sizeof(struct nf_endpoint),
				      NF_MAX_ENDPOINTS, 0);
	mp->fd[NF_MAP_CG_ENDPOINTS] = mk(&o, BPF_MAP_TYPE_HASH, "nf_cg_endpoints", 8,
					 sizeof(struct nf_endpoint), NF_MAX_ENDPOINTS, 0);
	mp->fd[NF_MAP_CT] = mk(&o, BPF_MAP_TYPE_LRU_HASH, "nf_ct", sizeof(struct nf_ct_key),
			       sizeof(struct nf_ct_val), NF_MAX_CT, 0);
	/* LPM trie: no batch ops, exercises the iteration fallback */
	mp->fd[NF_MAP_IPCACHE] = mk(&o, BPF_MAP_TYPE_LPM_TRIE, "nf_ipcache",
				    sizeof(struct nf_lpm_addr_key), sizeof(struct nf_ipcache_val),
				    NF_MAX_IPCACHE, BPF_F_NO_PREALLOC);
	mp->fd[NF_MAP_FLOWS] = mk(&o, BPF_MAP_TYPE_PERCPU_ARRAY, "nf_flows", 4, 8,
				  NF_FLOWS_ENTRIES, 0);
	assert_true(mp->fd[NF_MAP_FLOWS] >= 0);
	mp->fd[NF_MAP_CT_YOUNG] = mk(&o, BPF_MAP_TYPE_ARRAY, "nf_ct_young", 4,
				     sizeof(struct nf_young_slot), NF_YOUNG_SLOTS, 0);
	assert_true(mp->fd[NF_MAP_CT_YOUNG] >= 0);
	assert_true(mp->fd[NF_MAP_STATS] >= 0 && mp->fd[NF_MAP_ENDPOINTS] >= 0 &&
		    mp->fd[NF_MAP_CG_ENDPOINTS] >= 0 && mp->fd[NF_MAP_CT] >= 0 &&
		    mp->fd[NF_MAP_IPCACHE] >= 0);

	memset(&ti, 0, sizeof(ti));
	id = 1;
	ti.epoch = 3;
	ti.n_rules[NF_DIR_INGRESS] = 4;
	ti.n_rules[NF_DIR_EGRESS] = 2;
	snprintf(ti.name, sizeof(ti.name), "t1");
	assert_int_equal(bpf_map_update_elem(mp->fd[NF_MAP_TENANTS], &id, &ti, BPF_ANY), 0);
	id = 2;
	memset(&ti, 0, sizeof(ti));
	snprintf(ti.name, sizeof(ti.name), "t2");
	assert_int_equal(bpf_map_update_elem(mp->fd[NF_MAP_TENANTS], &id, &ti, BPF_ANY), 0);

	put_stat(mp->fd[NF_MAP_STATS], ncpus, 1, NF_DIR_EGRESS, NF_DROP_POLICY, NF_HOOK_TC, 5);
	put_stat(mp->fd[NF_MAP_STATS], ncpus, 1, NF_DIR_EGRESS, NF_REASON_ALLOWED_FLOW, NF_HOOK_TC,
		 1);
	put_stat(mp->fd[NF_MAP_STATS], ncpus, 1, NF_DIR_EGRESS, NF_REASON_ALLOWED_FLOW,
		 NF_HOOK_CGROUP, 2);
	put_stat(mp->fd[NF_MAP_STATS], ncpus, 0, NF_DIR_INGRESS, NF_DROP_MALFORMED, NF_HOOK_TC, 10);
	/* tenant 7 is gone: its counters are added to "unknown" */
	put_stat(mp->fd[NF_MAP_STATS], ncpus, 7, NF_DIR_INGRESS, NF_DROP_MALFORMED, NF_HOOK_TC, 20);
	/* new flows allowed as datapath 4 counts them, added to the nf_stats ones
	 * an older datapath left (the two above) */
	put_flows(mp->fd[NF_MAP_FLOWS], ncpus, 1, NF_DIR_EGRESS, NF_HOOK_TC, 4);
	put_flows(mp->fd[NF_MAP_FLOWS], ncpus, 2, NF_DIR_EGRESS, NF_HOOK_CGROUP, 6);

	for (i = 0; i < 3; i++) {
		struct nf_ep_key k = { .netns_cookie = 100 + i, .ifindex = 2 };

		ep.tenant_id = 1;
		ep.ep_id = i + 1;
		assert_int_equal(bpf_map_update_elem(mp->fd[NF_MAP_ENDPOINTS], &k, &ep, BPF_ANY),
				 0);
	}
	{
		__u64 cg = 4242;

		ep.tenant_id = 2;
		ep.ep_id = 9;
		assert_int_equal(
			bpf_map_update_elem(mp->fd[NF_MAP_CG_ENDPOINTS], &cg, &ep, BPF_ANY), 0);
	}
	/* more ct entries than one batch */
	for (i = 0; i < 2500; i++) {
		struct nf_ct_key k = { .scope_proto = NF_CT_SCOPE_PROTO(1, 6) };
		struct nf_ct_val v = { .last_seen_ns = i };

		k.lport = htons(i);
		assert_int_equal(bpf_map_update_elem(mp->fd[NF_MAP_CT], &k, &v, BPF_ANY), 0);
	}
	/* three young connections (tracked, not in nf_ct yet) */
	for (i = 0; i < 3; i++) {
		struct nf_young_slot s = { .state = NF_YOUNG_HELD };
		__u32 idx = 5 + i * 5000;

		assert_int_equal(bpf_map_update_elem(mp->fd[NF_MAP_CT_YOUNG], &idx, &s, BPF_ANY), 0);
	}
	for (i = 0; i < 3; i++) {
		struct nf_lpm_addr_key k = { .prefixlen = 128 };
		struct nf_ipcache_val v = { .id = 1 };

		k.addr[15] = i;
		assert_int_equal(bpf_map_update_elem(mp->fd[NF_MAP_IPCACHE], &k, &v, BPF_ANY), 0);
	}

	metrics__init(&m);
	assert_int_equal(metrics__collect(&m, mp), 0);
	assert_true(m.loaded);
	assert_int_equal(m.n_tenants, 3);
	for (i = 0; i < m.n_tenants; i++) {
		if (!strcmp(m.tenants[i].name, "t1"))
			t1 = &m.tenants[i];
		else if (!strcmp(m.tenants[i].name, "t2"))
			t2 = &m.tenants[i];
		else if (!strcmp(m.tenants[i].name, "unknown"))
			unk = &m.tenants[i];
	}
	assert_non_null(t1);
	assert_non_null(t2);
	assert_non_null(unk);
	/* sum over CPUs of (base + i) */
	for (i = 0; i < (size_t)ncpus; i++)
		sum_base += i;
	assert_int_equal(t1->cnt[NF_DIR_EGRESS][NF_DROP_POLICY][NF_HOOK_TC].packets,
			 5 * ncpus + sum_base);
	assert_int_equal(t1->cnt[NF_DIR_EGRESS][NF_DROP_POLICY][NF_HOOK_TC].bytes,
			 (5 * ncpus + sum_base) * 100);
	assert_int_equal(unk->cnt[NF_DIR_INGRESS][NF_DROP_MALFORMED][NF_HOOK_TC].packets,
			 30 * ncpus + 2 * sum_base);
	assert_int_equal(t1->n_endpoints, 3);
	assert_int_equal(t2->n_endpoints, 1);
	assert_int_equal(t1->info.epoch, 3);
	assert_int_equal(m.ct_entries, 2500 + 3);	/* nf_ct and the young slots */

	assert_int_equal(metrics__render(&m, &buf, &len), 0);
	snprintf(line, sizeof(line),
		 "\nnetfence_drops_total{tenant=\"t1\",direction=\"egress\","
		 "reason=\"policy_denied\",hook=\"tc\"} %llu\n",
		 (unsigned long long)(5 * ncpus + sum_base));
	assert_non_null(strstr(buf, line));
	snprintf(line, sizeof(line),
		 "\nnetfence_allowed_flows_total{tenant=\"t1\",direction=\"egress\"} %llu\n",
		 (unsigned long long)(7 * ncpus + 3 * sum_base));
	assert_non_null(strstr(buf, line));
	snprintf(line, sizeof(line),
		 "\nnetfence_allowed_flows_total{tenant=\"t2\",direction=\"egress\"} %llu\n",
		 (unsigned long long)(6 * ncpus + sum_base));
	assert_non_null(strstr(buf, line));
	assert_non_null(strstr(buf, "\nnetfence_allowed_flows_total{tenant=\"t2\","
				    "direction=\"ingress\"} 0\n"));
	assert_non_null(strstr(buf, "\nnetfence_endpoints{tenant=\"t1\"} 3\n"));
	assert_non_null(strstr(buf, "\nnetfence_endpoints{tenant=\"t2\"} 1\n"));
	assert_non_null(
		strstr(buf, "\nnetfence_policy_rules{tenant=\"t1\",direction=\"ingress\"} 4\n"));
	assert_non_null(strstr(buf, "\nnetfence_conntrack_entries 2503\n"));
	assert_non_null(strstr(buf, "\nnetfence_map_entries{map=\"ct\"} 2500\n"));
	assert_non_null(strstr(buf, "\nnetfence_map_capacity{map=\"ct\"} 262144\n"));
	assert_non_null(strstr(buf, "\nnetfence_map_entries{map=\"ipcache\"} 3\n"));
	assert_non_null(strstr(buf, "\nnetfence_map_entries{map=\"stats\"} 5\n"));
	assert_non_null(strstr(buf, "\nnetfence_map_entries{map=\"tenants\"} 2\n"));
	assert_non_null(strstr(buf, "\nnetfence_map_capacity{map=\"tenants\"} 4096\n"));
	assert_null(strstr(buf, "map=\"frags\"")); /* fd -1: skipped */
	if (promtool_check(buf) != -ENOENT)
		assert_int_equal(promtool_check(buf), 0);
	free(buf);
	metrics__free(&m);
	close_maps(&o);
}

static void test_percpu_sum(void **state)
{
	struct own_maps o = { .n = 0 };
	int ncpus = libbpf_num_possible_cpus(), fd, i;
	__u64 *v = calloc(ncpus, sizeof(*v));
	uint64_t sum;
	__u32 key = 0;

	assert_non_null(v);
	fd = mk(&o, BPF_MAP_TYPE_PERCPU_ARRAY, "nf_events_lost", 4, 8, 1, 0);
	if (fd < 0) {
		free(v);
		skip();
	}
	for (i = 0; i < ncpus; i++)
		v[i] = 10 + i;
	assert_int_equal(bpf_map_update_elem(fd, &key, v, BPF_ANY), 0);
	assert_int_equal(metrics__percpu_u64_sum(fd, &sum), 0);
	assert_int_equal(sum, 10 * ncpus + ncpus * (ncpus - 1) / 2);
	free(v);
	close_maps(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_full), cmocka_unit_test(test_render_empty),
		cmocka_unit_test(test_promtool),    cmocka_unit_test(test_names),
		cmocka_unit_test(test_collect),	    cmocka_unit_test(test_percpu_sum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
