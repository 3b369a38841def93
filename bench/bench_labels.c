// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-packet cost with labels (SPEC §9, §11): the established-flow and
 * new-flow rows of bench_prog, with the scenario of bench/lib/labels_gen.sh
 * (10,000 pods in 1,000 label sets over 10 tenants, policies with pod and
 * namespace selectors) read from its JSON (--docs FILE) and compiled by the
 * real compiler (compile__tenant_env), measured by BPF_PROG_TEST_RUN beside
 * the stateful floor of bpf/bench_ref.bpf.c, and beside a tenant without
 * labels (10 ipBlock rules, the N=10 case of bench_prog) in the same run.
 *
 * Like bench_prog, everything runs on private (unpinned) datapath instances:
 *   A  conntrack on: a SYN, then ACKs that hit conntrack (established);
 *   B  conntrack insert off: every run stays a new flow (conntrack miss,
 *      then the verdict cache's entry that the first run left).
 * Both get the same set-up: every pod address in the ipcache with its
 * identity NF_IDENT(tenant id, label set index) (indexes as `netfence apply`
 * gives them: idtab__sync_pods), every tenant's id, and the rules of the
 * measured endpoint: the first pod of the first tenant (app=app0, role=r0),
 * compiled from the policies whose podSelector selects its labels (fence,
 * web, mon) with its named ports, as apply compiles an endpoint's rule set.
 * The endpoint is (this netns, lo), owning that pod's addresses; the test
 * packet comes from pod p10-0 of the second tenant (team1, role=r1) to TCP
 * 8080: allowed by web's namespaceSelector + podSelector rule, i.e. through
 * the peer's label identity.
 *
 * With --cnp FILE (bench/lib/cnp.sh's ClusterNetworkPolicies, SPEC
 * §13) it prints the CNP rows instead: the same endpoint compiled twice, in
 * two policy slots of each instance, from its NetworkPolicies alone and from
 * those plus every cluster policy that selects it (as apply selects them:
 * namespace subject, then pod subject), and two flows measured on both,
 * alternating: (a) from p10-0 of the second tenant to TCP 8080 (decided by
 * NetworkPolicy web; no cluster rule matches it), (b) from p50-0 of the
 * second tenant (app0, r5) to TCP 9100 (NetworkPolicy mon alone; an Admin
 * Accept rule with the cluster policies). Which rule decides each is checked
 * on the compiled tables (compile__lookup) before anything is timed. Beside
 * the established and new-flow figures, the cold first packet: conntrack
 * miss and insert (a source port never used), a verdict cache miss and a
 * peer cache miss (their entries deleted before each run, repeat = 1),
 * beside the floor's first packet.
 *
 * Prints Markdown rows (| measurement | netfence | reference | ratio |
 * target | met |) on stdout, progress on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench_ref.skel.h"
#include "compile.h"
#include "datapath.h"
#include "identities.h"
#include "log.h"
#include "policy.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define MAX_ROUNDS	31
#define TC_OK		0
#define EP_ID(c, f)	(200 + 10 * (c) + (f))	/* ep_id of case c, family f */
#define SUBJ_TENANT	0	/* the endpoint: tenant index 0, pod p0-0 */
#define PEER_TENANT	1	/* the peer: tenant index 1, pod p10-0 */
#define TEST_PORT	8080
#define PLAIN_TENANT	"nfbench-nolabel"
#define PLAIN_RULES	10
#define PLAIN_PORT(i)	(1024 + (i))
#define CNP_SLOT	"nfbench-cnp"	/* the endpoint's rules with the cluster policies */
#define MON_PEER	"p50-0"		/* flow (b)'s peer, in PEER_TENANT: app0, r5 */
#define MON_PORT	9100
#define N_CASES		4
#define MAX_COLD	9000	/* cold source ports (1024 + 4 * sample + case) stay < 40000 */

static struct {
	uint32_t rounds;
	uint32_t repeat;
	uint32_t cold_samples;
	const char *docs;
	const char *cnp;
	const char *prefix;
} cfg = { .rounds = 5, .repeat = 1000000, .cold_samples = 2000, .prefix = "nfbench-l" };

union pkt {
	uint8_t b[128];
	uint64_t align;
};

static size_t make_pkt(union pkt *p, bool v6, const uint8_t src[16], const uint8_t dst[16],
		       uint16_t sport, uint16_t dport, bool syn)
{
	struct ethhdr eth = { .h_proto = htons(v6 ? ETH_P_IPV6 : ETH_P_IP) };
	struct tcphdr tcp = {};
	size_t off = sizeof(eth);

	memset(p, 0, sizeof(*p));
	memcpy(p->b, &eth, sizeof(eth));
	if (!v6) {
		struct iphdr ip = { .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_TCP,
				    .tot_len = htons(sizeof(struct iphdr) + sizeof(tcp)) };

		memcpy(&ip.saddr, src + 12, 4);
		memcpy(&ip.daddr, dst + 12, 4);
		memcpy(p->b + off, &ip, sizeof(ip));
		off += sizeof(ip);
	} else {
		struct ipv6hdr ip = { .version = 6, .nexthdr = IPPROTO_TCP, .hop_limit = 64,
				      .payload_len = htons(sizeof(tcp)) };

		memcpy(&ip.saddr, src, 16);
		memcpy(&ip.daddr, dst, 16);
		memcpy(p->b + off, &ip, sizeof(ip));
		off += sizeof(ip);
	}
	tcp.source = htons(sport);
	tcp.dest = htons(dport);
	tcp.doff = 5;
	tcp.window = htons(65535);
	if (syn) {
		tcp.syn = 1;
	} else {
		tcp.ack = 1;
		tcp.seq = htonl(1);
		tcp.ack_seq = htonl(1);
	}
	memcpy(p->b + off, &tcp, sizeof(tcp));
	return off + sizeof(tcp);
}

static int test_run(int prog_fd, union pkt *p, size_t len, uint32_t repeat, double *ns)
{
	struct __sk_buff ctx = { .ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p, .data_size_in = len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	if (ns)
		*ns = opts.duration;
	return (int)opts.retval;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the scenario ---- */

struct scen {
	struct nf_docset *ds;
	struct nf_ident_table ids;
	char **tenants;			/* sorted names */
	size_t n_tenants;
	struct nf_identity *idents;
	size_t n_idents;
	const struct nf_pod_obj *subj, *peer;
	struct nf_docset *plain_ds;
	/* --cnp: flow (b)'s peer; the cluster policies that select the endpoint;
	 * what decides flow (a) and (b) [flow] without / with them [with] */
	const struct nf_pod_obj *peer_b;
	size_t n_cnp_sel;
	char decided[2][2][160];
	bool by_cnp[2][2];
};

static const struct nf_labels *ns_cb(const char *tenant, void *ctx)
{
	const struct nf_ident_tenant *t = idtab__find(ctx, tenant);

	return t && t->has_ns ? &t->ns : NULL;
}

static uint32_t id_cb(const char *name, void *ctx)
{
	return dp__tenant_id(ctx, name, false);
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct nf_pod_obj *find_pod(const struct nf_docset *ds, const char *tenant,
					 const char *name)
{
	size_t i;

	for (i = 0; i < ds->n_pods; i++)
		if (!strcmp(ds->pods[i]->tenant, tenant) && !strcmp(ds->pods[i]->name, name))
			return ds->pods[i];
	return NULL;
}

/* The pod's IPv4 (v6 false) or IPv6 address; NULL if it has none. */
static const uint8_t *pod_addr(const struct nf_pod_obj *p, bool v6)
{
	size_t i;

	for (i = 0; i < p->n_ips; i++)
		if (p->ips[i].is_v4 == !v6)
			return p->ips[i].addr;
	return NULL;
}

/* Load the documents, number the identities as apply does. */
static int scen_load(struct scen *s)
{
	struct nf_pod_obj **pods;
	char name[64], json[4096];
	size_t i, j, n, o;
	int err;

	s->ds = policy__docset_new();
	if (!s->ds || policy__load_path(s->ds, cfg.docs) ||
	    (cfg.cnp && policy__load_path(s->ds, cfg.cnp)) || s->ds->n_problems) {
		fprintf(stderr, "bench_labels: %s: %s\n", cfg.cnp ? "the documents" : cfg.docs,
			s->ds && s->ds->n_problems ? s->ds->problems[0] : "cannot read");
		return -EINVAL;
	}
	s->tenants = calloc(s->ds->n_namespaces + 1, sizeof(*s->tenants));
	pods = calloc(s->ds->n_pods + 1, sizeof(*pods));
	if (!s->tenants || !pods)
		return -ENOMEM;
	for (i = 0; i < s->ds->n_namespaces; i++) {
		s->tenants[s->n_tenants++] = s->ds->namespaces[i]->name;
		if (idtab__set_ns(&s->ids, s->ds->namespaces[i]->name,
				  &s->ds->namespaces[i]->labels) < 0)
			return -ENOMEM;
	}
	qsort(s->tenants, s->n_tenants, sizeof(*s->tenants), strp_cmp);
	for (i = 0; i < s->n_tenants; i++) {
		for (j = 0, n = 0; j < s->ds->n_pods; j++)
			if (!strcmp(s->ds->pods[j]->tenant, s->tenants[i]))
				pods[n++] = s->ds->pods[j];
		err = idtab__sync_pods(&s->ids, s->tenants[i], pods, n);
		if (err < 0)
			return err;
	}
	free(pods);
	for (i = 0, n = 0; i < s->ids.n; i++)
		n += s->ids.t[i].n_ids;
	s->idents = calloc(n + 1, sizeof(*s->idents));
	if (!s->idents)
		return -ENOMEM;
	snprintf(name, sizeof(name), "%s%02d", cfg.prefix, SUBJ_TENANT);
	s->subj = find_pod(s->ds, name, "p0-0");
	snprintf(name, sizeof(name), "%s%02d", cfg.prefix, PEER_TENANT);
	s->peer = find_pod(s->ds, name, "p10-0");
	s->peer_b = find_pod(s->ds, name, MON_PEER);
	if (!s->subj || !s->peer || !s->peer_b || !pod_addr(s->subj, false) ||
	    !pod_addr(s->subj, true) || !pod_addr(s->peer, false) || !pod_addr(s->peer, true) ||
	    !pod_addr(s->peer_b, false) || !pod_addr(s->peer_b, true)) {
		fprintf(stderr, "bench_labels: %s: pods p0-0 / p10-0 / %s (dual stack) missing\n",
			cfg.docs, MON_PEER);
		return -EINVAL;
	}
	if (cfg.cnp && !s->ds->n_cluster) {
		fprintf(stderr, "bench_labels: %s: no ClusterNetworkPolicy\n", cfg.cnp);
		return -EINVAL;
	}
	/* the tenant without labels: PLAIN_RULES ipBlock rules (10.200.i.0/28,
	 * fd00:200:0:i::/64, TCP PLAIN_PORT(i)), as bench_prog's N=10 */
	o = (size_t)snprintf(json, sizeof(json),
			     "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			     "\"metadata\":{\"name\":\"plain\",\"namespace\":\"%s\"},\"spec\":{"
			     "\"podSelector\":{},\"policyTypes\":[\"Ingress\"],\"ingress\":[",
			     PLAIN_TENANT);
	for (i = 0; i < PLAIN_RULES; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o,
				      "%s{\"from\":[{\"ipBlock\":{\"cidr\":\"10.200.%zu.0/28\"}},"
				      "{\"ipBlock\":{\"cidr\":\"fd00:200:0:%zx::/64\"}}],"
				      "\"ports\":[{\"protocol\":\"TCP\",\"port\":%zu}]}",
				      i ? "," : "", i, i, (size_t)PLAIN_PORT(i));
	snprintf(json + o, sizeof(json) - o, "]}}");
	s->plain_ds = policy__docset_new();
	if (!s->plain_ds || policy__load_json(s->plain_ds, "<plain>", json, strlen(json)) ||
	    s->plain_ds->n_problems || s->plain_ds->n_policies != 1) {
		fprintf(stderr, "bench_labels: the no-label policy does not load: %s\n",
			s->plain_ds && s->plain_ds->n_problems ? s->plain_ds->problems[0] : "?");
		return -EINVAL;
	}
	return 0;
}

/*
 * Compile the endpoint's rules and install them in policy slot `slot`: the
 * policies of its tenant that select its labels and, with_cnp, the cluster
 * policies that select it (namespace subject, then pod subject), as apply
 * selects them. *out: the compiled tables (the caller frees them).
 */
static int install_subject(struct scen *s, struct nf_dp *dp, const struct nf_compile_env *env,
			   uint32_t slot, bool with_cnp, struct nf_compiled **out)
{
	const struct nf_labels *ns = ns_cb(s->subj->tenant, &s->ids);
	struct nf_policy **sel = calloc(s->ds->n_policies + s->ds->n_cluster + 1, sizeof(*sel));
	struct nf_tenant_info ti;
	size_t i, n_sel = 0, n_np;
	int err;

	if (!sel)
		return -ENOMEM;
	for (i = 0; i < s->ds->n_policies; i++)
		if (!strcmp(s->ds->policies[i]->tenant, s->subj->tenant) &&
		    compile__subject_matches(s->ds->policies[i], &s->subj->labels))
			sel[n_sel++] = s->ds->policies[i];
	n_np = n_sel;
	for (i = 0; with_cnp && i < s->ds->n_cluster; i++)
		if (compile__ns_matches(s->ds->cluster[i]->ns_subject, s->subj->tenant, ns) &&
		    compile__subject_matches(s->ds->cluster[i], &s->subj->labels))
			sel[n_sel++] = s->ds->cluster[i];
	if (with_cnp)
		s->n_cnp_sel = n_sel - n_np;
	dp__tenant_info(dp, slot, &ti);
	err = compile__tenant_env(s->subj->tenant, slot, ti.epoch + 1, sel, n_sel, env, out);
	free(sel);
	if (!err)
		err = dp__install_policy(dp, *out);
	if (!err)
		fprintf(stderr, "bench_labels: endpoint %s/%s in slot %u: %zu of its tenant's "
			"policies, %zu cluster policies, %zu trie entries, %zu port entries\n",
			s->subj->tenant, s->subj->name, slot, n_np, n_sel - n_np, (*out)->n_trie,
			(*out)->n_ports);
	return err;
}

/* What decides TCP `port` from `peer` (IPv4) in c, as text; returns whether a cluster rule. */
static bool decided_by(const struct scen *s, struct nf_dp *dp, const struct nf_compiled *c,
		       const struct nf_pod_obj *peer, uint16_t port, char *out, size_t len)
{
	static const char *const acts[] = { "Accept", "Deny", "Pass" };
	struct nf_query q = { .dir = NF_DIR_INGRESS, .proto = IPPROTO_TCP, .port = port };
	const struct nf_rule_info *ri;
	uint32_t w;

	memcpy(q.addr, pod_addr(peer, false), 16);
	q.peer_id = NF_IDENT(dp__tenant_id(dp, peer->tenant, false), idtab__index(&s->ids, peer));
	w = compile__lookup(c, &q);
	if (!w || NF_RULE_REF(w) > c->n_rules) {
		snprintf(out, len, "no rule (deny)");
		return false;
	}
	ri = &c->rules[NF_RULE_REF(w) - 1];
	if (ri->cnp_kind == NF_CNP_NONE) {
		snprintf(out, len, "NetworkPolicy %s", ri->policy);
		return false;
	}
	snprintf(out, len, "%s %s rule %s (%s)",
		 ri->tier == NF_TIER_ADMIN ? "Admin" : "Baseline", ri->policy,
		 ri->rule_name ? ri->rule_name : "?", ri->action < 3 ? acts[ri->action] : "?");
	return true;
}

/*
 * Ids, ipcache and compiled rules in one private instance: the endpoint's
 * rules in its tenant's slot (*subj_id), and in *alt_id the tenant without
 * labels or, with --cnp, the endpoint's rules with the cluster policies.
 */
static int scen_install(struct scen *s, struct nf_dp *dp, uint32_t *subj_id, uint32_t *alt_id)
{
	struct nf_compile_env env = {};
	struct nf_compiled *c = NULL;
	struct nf_tenant_info ti;
	size_t i, j, w;
	uint32_t id, n_ip = 0;
	int err;

	for (i = 0; i < s->n_tenants; i++)
		if (!dp__tenant_id(dp, s->tenants[i], true))
			return -ENOSPC;
	s->n_idents = 0;
	for (i = 0; i < s->ids.n; i++) {
		id = dp__tenant_id(dp, s->ids.t[i].name, false);
		for (j = 0; id && j < s->ids.t[i].n_ids; j++)
			s->idents[s->n_idents++] = (struct nf_identity){
				.id = NF_IDENT(id, s->ids.t[i].ids[j].idx),
				.tenant = s->ids.t[i].name, .labels = &s->ids.t[i].ids[j].labels,
				.ports = s->ids.t[i].ids[j].ports,
				.n_ports = s->ids.t[i].ids[j].n_ports };
	}
	for (i = 0; i < s->ds->n_pods; i++) {
		const struct nf_pod_obj *p = s->ds->pods[i];

		id = NF_IDENT(dp__tenant_id(dp, p->tenant, false), idtab__index(&s->ids, p));
		for (j = 0; j < p->n_ips; j++, n_ip++) {
			err = dp__ipcache_pod_set(dp, p->ips[j].addr, id);
			if (err < 0)
				return err;
		}
	}
	dp__ipcache_changed(dp);
	fprintf(stderr, "bench_labels: %u pod addresses, %zu identities, %zu tenants\n", n_ip,
		s->n_idents, s->n_tenants);
	env = (struct nf_compile_env){
		.id_fn = id_cb, .id_ctx = dp, .ns_labels = ns_cb, .ns_ctx = &s->ids,
		.tenants = (const char *const *)s->tenants, .n_tenants = s->n_tenants,
		.idents = s->idents, .n_idents = s->n_idents,
		.subject_ports = s->subj->ports, .n_subject_ports = s->subj->n_ports,
	};
	*subj_id = dp__tenant_id(dp, s->subj->tenant, false);
	for (w = 0; w < (cfg.cnp ? 2u : 1u); w++) {
		if (w && !(*alt_id = dp__tenant_id(dp, CNP_SLOT, true)))
			return -ENOSPC;
		err = install_subject(s, dp, &env, w ? *alt_id : *subj_id, w, &c);
		if (!err && cfg.cnp) {
			s->by_cnp[0][w] = decided_by(s, dp, c, s->peer, TEST_PORT,
						     s->decided[0][w], sizeof(s->decided[0][w]));
			s->by_cnp[1][w] = decided_by(s, dp, c, s->peer_b, MON_PORT,
						     s->decided[1][w], sizeof(s->decided[1][w]));
		}
		compile__free(c);
		c = NULL;
		if (err)
			return err;
	}
	if (cfg.cnp)
		return 0;
	/* the tenant without labels */
	*alt_id = dp__tenant_id(dp, PLAIN_TENANT, true);
	if (!*alt_id)
		return -ENOSPC;
	dp__tenant_info(dp, *alt_id, &ti);
	env.subject_ports = NULL;
	env.n_subject_ports = 0;
	err = compile__tenant_env(PLAIN_TENANT, *alt_id, ti.epoch + 1, s->plain_ds->policies,
				  1, &env, &c);
	if (!err)
		err = dp__install_policy(dp, c);
	compile__free(c);
	return err;
}

/* The endpoint (this netns, lo) as tenant tid, owning addrs[0..n). */
static int set_endpoint(struct nf_dp *dp, uint64_t cookie, uint32_t tid, uint32_t ep_id,
			const uint8_t (*addrs)[16], size_t n)
{
	struct nf_ep_key key = { .netns_cookie = cookie, .ifindex = 1 };
	struct nf_endpoint ep = { .tenant_id = tid, .ep_id = ep_id,
				  .flags = NF_EPF_NO_SPOOF_CHECK };
	__u8 one = 1;
	size_t i;

	for (i = 0; i < n; i++) {
		struct nf_ep_addr_key ak = { .ep_id = ep_id };

		memcpy(ak.addr, addrs[i], 16);
		if (bpf_map_update_elem(dp__map_fd(dp, NF_MAP_EP_ADDRS), &ak, &one, BPF_ANY))
			return -errno;
	}
	if (bpf_map_update_elem(dp__map_fd(dp, NF_MAP_ENDPOINTS), &key, &ep, BPF_ANY))
		return -errno;
	dp__verdicts_changed(dp);	/* as an attach does */
	return 0;
}

/* ---- output ---- */

static void row(const char *what, const char *nf, const char *ref, double ratio,
		double target_max, const char *target_txt)
{
	char r[32];

	if (ratio > 0)
		snprintf(r, sizeof(r), "%.2fx", ratio);
	else
		snprintf(r, sizeof(r), "n/a");
	printf("| %s | %s | %s | %s | %s | %s |\n", what, nf, ref, r, target_txt,
	       target_max <= 0 ? "report" : ratio <= 0 ? "n/a" : ratio <= target_max ? "yes" : "NO");
	fflush(stdout);
}

static void row_na(const char *what, const char *target, const char *why)
{
	printf("| %s | n/a (%s) | — | n/a | %s | n/a |\n", what, why, target);
	fflush(stdout);
}

/*
 * One case of one family, the packets and the figures: labels (0) and no
 * labels (1); with --cnp flow (a) (0, 1) and (b) (2, 3), each without and
 * with the cluster policies.
 */
struct kase {
	union pkt syn, ack;
	size_t len;
	uint8_t src[16], dst[16];
	uint16_t dport;
	uint32_t tid, ep_id;
	uint8_t ep_addrs[2][16];
	double est[MAX_ROUNDS], est_floor[MAX_ROUNDS], newf[MAX_ROUNDS];
	double *cold;		/* --cnp: cfg.cold_samples first packets */
	int est_verdict, new_verdict;
};

/* The median of a[i] / b[i], i < n (n <= MAX_ROUNDS); a and b stay as they are. */
static double median_ratio(const double *a, const double *b, size_t n)
{
	double t[MAX_ROUNDS];
	size_t i;

	for (i = 0; i < n; i++)
		t[i] = b[i] > 0 ? a[i] / b[i] : 0;
	return median(t, n);
}

/* The median of v[0..n), v staying as it is. */
static double median_of(const double *v, size_t n)
{
	double *t = malloc((n + 1) * sizeof(*t)), m;

	if (!t)
		return 0;
	memcpy(t, v, n * sizeof(*t));
	m = median(t, n);
	free(t);
	return m;
}

/*
 * --cnp: the cold first packet of every case, interleaved (the order turns
 * round every sample). Before each run (repeat = 1) the case's peer cache
 * entry is deleted (its key is taken from a first run on an empty cache),
 * and so is every verdict cache entry, and the SYN's source port has not
 * been used, so the run is a conntrack miss and insert, a verdict and a
 * peer cache miss and the whole lookup. The floor's first
 * packet (an LRU miss and insert) is timed beside, in floor.
 */
static int measure_cold(struct nf_dp *a, struct bench_ref_bpf *ref, uint64_t cookie, bool v6,
			struct kase *k, int n, double *floor)
{
	int fd = dp__map_fd(a, NF_MAP_PEER_CACHE), vfd = dp__map_fd(a, NF_MAP_VERDICTS), c, v;
	struct nf_peer_cache_key key, keys[N_CASES];
	struct nf_verdict_key vk;
	union pkt p;
	size_t len;
	uint32_t i, sport;

	for (i = 0; i <= cfg.cold_samples; i++) {
		for (c = 0; c < n; c++) {
			int ci = i & 1 ? n - 1 - c : c;
			struct kase *x = &k[ci];

			/* i == 0: a first run on an empty cache leaves the case's key */
			sport = i ? 1024 + 4 * (i - 1) + (uint32_t)ci : 1000 + (uint32_t)ci;
			len = make_pkt(&p, v6, x->src, x->dst, (uint16_t)sport, x->dport, true);
			set_endpoint(a, cookie, x->tid, x->ep_id,
				     (const uint8_t (*)[16])x->ep_addrs, 2);
			while (!i && !bpf_map_get_next_key(fd, NULL, &key) &&
			       !bpf_map_delete_elem(fd, &key))
				;
			if (i)
				bpf_map_delete_elem(fd, &keys[ci]);
			while (!bpf_map_get_next_key(vfd, NULL, &vk) &&
			       !bpf_map_delete_elem(vfd, &vk))
				;
			v = test_run(dp__prog_fd(a, NF_PROG_TC_INGRESS), &p, len, 1,
				     i ? &x->cold[i - 1] : NULL);
			if (v != TC_OK)
				return v < 0 ? v : -EACCES;
			if (!i && bpf_map_get_next_key(fd, NULL, &keys[ci]))
				return -ENOENT;
		}
		if (!i)
			continue;
		len = make_pkt(&p, v6, k[0].src, k[0].dst, 1024 + 4 * (i - 1), k[0].dport, true);
		if (test_run(bpf_program__fd(ref->progs.ref_floor), &p, len, 1, &floor[i - 1]) < 0)
			return -errno;
	}
	return 0;
}

/* --cnp: flow (a) must be decided by the same NetworkPolicy rule with the
 * cluster policies as without; flow (b) by a cluster rule with them only. */
static bool cnp_check(const struct scen *s, char *why, size_t len)
{
	if (s->by_cnp[0][0] || s->by_cnp[0][1] || strcmp(s->decided[0][0], s->decided[0][1]))
		snprintf(why, len, "flow (a) is decided by %s without the cluster policies and by "
			 "%s with them", s->decided[0][0], s->decided[0][1]);
	else if (s->by_cnp[1][0] || !s->by_cnp[1][1])
		snprintf(why, len, "flow (b) is decided by %s without the cluster policies and by "
			 "%s with them", s->decided[1][0], s->decided[1][1]);
	return !why[0];
}

/* --cnp: the rows of one family: flow (a) and (b), each established, new and cold. */
static void cnp_rows(const struct scen *s, bool v6, struct kase *k, const double *floor_run,
		     const double *cold_floor, const char *cold_why, const char *why)
{
	static const char *const kinds[] = { "established flow", "new flow to a seen peer",
					     "cold first packet (peer cache miss)" };
	static const char target[] = "report (≈ 1.0x: SPEC §13)";
	double fl = median_of(floor_run, cfg.rounds), cfl = median_of(cold_floor, cfg.cold_samples);
	char what[300], nf[96], refs[800];
	int fw, kind;

	for (fw = 0; fw < 2; fw++) {
		struct kase *x0 = &k[2 * fw], *x1 = &k[2 * fw + 1];
		double m[2], r[2], ratio;
		char dec[400];

		if (fw)
			snprintf(dec, sizeof(dec), "decided by %s (without them: %s)",
				 s->decided[fw][1], s->decided[fw][0]);
		else
			snprintf(dec, sizeof(dec), "decided by %s (with and without them)",
				 s->decided[fw][1]);

		for (kind = 0; kind < 3; kind++) {
			snprintf(what, sizeof(what), "per-packet, %s, %zu ClusterNetworkPolicies "
				 "selecting the tenant vs none, flow (%c), %s decides: %s",
				 v6 ? "IPv6" : "IPv4", s->n_cnp_sel, 'a' + fw,
				 fw ? "an Admin Accept rule" : "a NetworkPolicy rule", kinds[kind]);
			if (why || (kind == 2 && cold_why[0])) {
				row_na(what, target, why ? why : cold_why);
				continue;
			}
			if ((kind < 2 && (x0->est_verdict != TC_OK || x1->est_verdict != TC_OK ||
					  x0->new_verdict != TC_OK || x1->new_verdict != TC_OK))) {
				row_na(what, target, "a packet was not allowed");
				continue;
			}
			if (kind == 0) {
				m[0] = median_of(x0->est, cfg.rounds);
				m[1] = median_of(x1->est, cfg.rounds);
				r[0] = median_ratio(x0->est, x0->est_floor, cfg.rounds);
				r[1] = median_ratio(x1->est, x1->est_floor, cfg.rounds);
				ratio = median_ratio(x1->est, x0->est, cfg.rounds);
			} else if (kind == 1) {
				m[0] = median_of(x0->newf, cfg.rounds);
				m[1] = median_of(x1->newf, cfg.rounds);
				r[0] = m[0] / fl;
				r[1] = m[1] / fl;
				ratio = median_ratio(x1->newf, x0->newf, cfg.rounds);
			} else {
				m[0] = median_of(x0->cold, cfg.cold_samples);
				m[1] = median_of(x1->cold, cfg.cold_samples);
				r[0] = m[0] / cfl;
				r[1] = m[1] / cfl;
				ratio = m[1] / m[0];
			}
			snprintf(nf, sizeof(nf), "%.1f ns (%.2fx floor)", m[1], r[1]);
			snprintf(refs, sizeof(refs),
				 "without them %.1f ns (%.2fx floor); floor %.1f ns%s; %s",
				 m[0], r[0], kind == 0 ?
				 median_of(x1->est_floor, cfg.rounds) : kind == 1 ? fl : cfl,
				 kind == 0 ? " (run beside each)" : kind == 2 ? " (first packet), "
				 "medians of the samples" : "", dec);
			row(what, nf, refs, ratio, 0, target);
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_labels --docs FILE [--cnp FILE] [--rounds R] [--repeat M]\n"
		   "                    [--cold-samples K] [--prefix P]\n"
		   "Per-packet cost (BPF_PROG_TEST_RUN) with label identities vs the stateful\n"
		   "floor and vs a tenant without labels. FILE: bench/lib/labels_gen.sh's List.\n"
		   "--cnp FILE: instead, the endpoint with vs without the cluster policies of\n"
		   "FILE (bench/lib/cnp.sh's List), also cold first packets (K samples).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "docs", required_argument, NULL, 'd' },
		{ "cnp", required_argument, NULL, 'c' },
		{ "cold-samples", required_argument, NULL, 'k' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'm' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	static struct kase k[2][N_CASES];	/* [family][case] (struct kase) */
	static struct scen s;
	double floor_run[2][MAX_ROUNDS], *cold_floor[2] = {};
	struct nf_dp *a = NULL, *b = NULL;
	struct bench_ref_bpf *ref = NULL;
	char why[400] = "", cold_why[2][160] = {};
	uint32_t subj_a = 0, alt_a = 0, subj_b = 0, alt_b = 0;
	uint64_t cookie = 0;
	socklen_t cl = sizeof(cookie);
	int opt, err, sock, f, c, r, n_cases;

	while ((opt = getopt_long(argc, argv, "d:c:k:r:m:p:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			cfg.docs = optarg;
			break;
		case 'c':
			cfg.cnp = optarg;
			break;
		case 'k':
			cfg.cold_samples = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			cfg.rounds = strtoul(optarg, NULL, 10);
			break;
		case 'm':
			cfg.repeat = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			cfg.prefix = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!cfg.docs || cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS || cfg.repeat < 1 ||
	    cfg.cold_samples < 1 || cfg.cold_samples > MAX_COLD) {
		usage(stderr);
		return 2;
	}
	n_cases = cfg.cnp ? N_CASES : 2;
	for (f = 0; f < 2 && cfg.cnp; f++) {
		cold_floor[f] = calloc(cfg.cold_samples, sizeof(double));
		for (c = 0; c < n_cases; c++)
			k[f][c].cold = calloc(cfg.cold_samples, sizeof(double));
		if (!cold_floor[f] || !k[f][0].cold || !k[f][1].cold || !k[f][2].cold ||
		    !k[f][3].cold) {
			fprintf(stderr, "bench_labels: out of memory\n");
			return 1;
		}
	}
	nf_log_setup_libbpf();
	ref = bench_ref_bpf__open_and_load();
	if (!ref) {
		fprintf(stderr, "bench_labels: cannot load the reference programs: %s\n",
			strerror(errno));
		return 1;
	}
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (sock < 0 || getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl))
		snprintf(why, sizeof(why), "no netns cookie: %s", strerror(errno));
	if (sock >= 0)
		close(sock);
	if (!why[0] && (err = scen_load(&s)))
		snprintf(why, sizeof(why), "scenario does not load: %s", strerror(-err));
	if (!why[0] && (err = dp__open_private(&a, 0)))
		snprintf(why, sizeof(why), "datapath does not load: %s", strerror(-err));
	if (!why[0] && (err = dp__open_private(&b, DP_BENCH_NO_CT_INSERT)))
		snprintf(why, sizeof(why), "datapath (no-ct-insert) does not load: %s",
			 strerror(-err));
	if (!why[0] && ((err = scen_install(&s, a, &subj_a, &alt_a)) ||
			(err = scen_install(&s, b, &subj_b, &alt_b))))
		snprintf(why, sizeof(why), "installing the scenario failed: %s", strerror(-err));
	if (!why[0] && (subj_a != subj_b || alt_a != alt_b))
		snprintf(why, sizeof(why), "the two instances number tenants differently");
	if (!why[0] && cfg.cnp && cnp_check(&s, why, sizeof(why)))
		fprintf(stderr, "bench_labels: flow (a): %s; flow (b): %s, without them %s\n",
			s.decided[0][1], s.decided[1][1], s.decided[1][0]);

	for (f = 0; f < 2 && !why[0]; f++) {
		const uint8_t *dst = pod_addr(s.subj, f), *src;
		uint8_t psrc[16] = {};

		/* no labels: from the middle rule's CIDR to its port, same endpoint addresses */
		if (!f) {
			psrc[10] = psrc[11] = 0xff;
			psrc[12] = 10;
			psrc[13] = 200;
			psrc[14] = PLAIN_RULES / 2;
			psrc[15] = 1;
		} else {
			psrc[0] = 0xfd;
			psrc[2] = 0x02;
			psrc[7] = PLAIN_RULES / 2;
			psrc[15] = 1;
		}
		for (c = 0; c < n_cases; c++) {
			struct kase *x = &k[f][c];

			if (cfg.cnp) {	/* (a) without, with; (b) without, with */
				src = pod_addr(c < 2 ? s.peer : s.peer_b, f);
				x->dport = c < 2 ? TEST_PORT : MON_PORT;
			} else {	/* labels; no labels */
				src = c ? psrc : pod_addr(s.peer, f);
				x->dport = c ? PLAIN_PORT(PLAIN_RULES / 2) : TEST_PORT;
			}
			x->tid = c % 2 ? alt_a : subj_a;
			x->ep_id = EP_ID(c, f);
			memcpy(x->ep_addrs[0], pod_addr(s.subj, false), 16);
			memcpy(x->ep_addrs[1], pod_addr(s.subj, true), 16);
			memcpy(x->src, src, 16);
			memcpy(x->dst, dst, 16);
			x->len = make_pkt(&x->syn, f, src, dst, 40000 + c, x->dport, true);
			make_pkt(&x->ack, f, src, dst, 40000 + c, x->dport, false);
		}
	}

	for (r = 0; r < (int)cfg.rounds && !why[0]; r++) {
		for (f = 0; f < 2; f++) {
			test_run(bpf_program__fd(ref->progs.ref_floor), &k[f][0].ack, k[f][0].len,
				 cfg.repeat, &floor_run[f][r]);
			for (c = 0; c < n_cases; c++) {
				/* --cnp: without / with turns round every round */
				struct kase *x = &k[f][cfg.cnp && (r & 1) ? c ^ 1 : c];

				/* established: the floor on the same ACK right before */
				test_run(bpf_program__fd(ref->progs.ref_floor), &x->ack, x->len,
					 cfg.repeat, &x->est_floor[r]);
				set_endpoint(a, cookie, x->tid, x->ep_id,
					     (const uint8_t (*)[16])x->ep_addrs, 2);
				test_run(dp__prog_fd(a, NF_PROG_TC_INGRESS), &x->syn, x->len, 1,
					 NULL);
				x->est_verdict = test_run(dp__prog_fd(a, NF_PROG_TC_INGRESS),
							  &x->ack, x->len, cfg.repeat, &x->est[r]);
				/* new flow to a seen peer: the first run fills the peer cache */
				set_endpoint(b, cookie, x->tid, x->ep_id,
					     (const uint8_t (*)[16])x->ep_addrs, 2);
				test_run(dp__prog_fd(b, NF_PROG_TC_INGRESS), &x->syn, x->len, 1,
					 NULL);
				x->new_verdict = test_run(dp__prog_fd(b, NF_PROG_TC_INGRESS),
							  &x->syn, x->len, cfg.repeat, &x->newf[r]);
			}
		}
		fprintf(stderr, "bench_labels: round %d/%u done\n", r + 1, cfg.rounds);
	}
	for (f = 0; f < 2 && cfg.cnp && !why[0]; f++) {
		fprintf(stderr, "bench_labels: %s cold first packets, %u per case\n",
			f ? "IPv6" : "IPv4", cfg.cold_samples);
		err = measure_cold(a, ref, cookie, f, k[f], n_cases, cold_floor[f]);
		if (err)
			snprintf(cold_why[f], sizeof(cold_why[f]), "cold run failed: %s",
				 err == -EACCES ? "packet dropped" : strerror(-err));
	}
	for (f = 0; f < 2 && cfg.cnp; f++)
		cnp_rows(&s, f, k[f], floor_run[f], cold_floor[f], cold_why[f],
			 why[0] ? why : NULL);

	for (f = 0; f < 2 && !cfg.cnp; f++) {
		const char *fam = f ? "IPv6" : "IPv4";
		char what[200], nf[64], refs[160];
		double est_ratio[2][MAX_ROUNDS], est[2], est_fl[2], nw[2], fl;

		snprintf(what, sizeof(what), "per-packet, %s, labels: 10,000 pods in 1,000 label "
			 "sets, established flow", fam);
		if (why[0]) {
			row_na(what, "≤ 1.25x floor", why);
			snprintf(what, sizeof(what), "per-packet, %s, labels: 10,000 pods in 1,000 "
				 "label sets, new flow to a seen peer", fam);
			row_na(what, "≤ 2.0x floor", why);
			continue;
		}
		fl = median(floor_run[f], cfg.rounds);
		for (c = 0; c < 2; c++) {
			for (r = 0; r < (int)cfg.rounds; r++)
				est_ratio[c][r] = k[f][c].est_floor[r] > 0 ?
							  k[f][c].est[r] / k[f][c].est_floor[r] : 0;
			est[c] = median(k[f][c].est, cfg.rounds);
			est_fl[c] = median(k[f][c].est_floor, cfg.rounds);
			nw[c] = median(k[f][c].newf, cfg.rounds);
		}
		if (k[f][0].est_verdict != TC_OK) {
			row_na(what, "≤ 1.25x floor", "established packet not allowed");
		} else {
			snprintf(nf, sizeof(nf), "%.1f ns", est[0]);
			snprintf(refs, sizeof(refs), "floor %.1f ns (run beside it); no labels "
				 "(N=10 ipBlocks) %.1f ns", est_fl[0], est[1]);
			row(what, nf, refs, median(est_ratio[0], cfg.rounds), 1.25,
			    "≤ 1.25x floor");
		}
		snprintf(what, sizeof(what), "per-packet, %s, labels: 10,000 pods in 1,000 label "
			 "sets, new flow to a seen peer", fam);
		if (k[f][0].new_verdict != TC_OK) {
			row_na(what, "≤ 2.0x floor", "new-flow packet not allowed");
		} else {
			snprintf(nf, sizeof(nf), "%.1f ns", nw[0]);
			snprintf(refs, sizeof(refs),
				 "floor %.1f ns; no labels (N=10 ipBlocks) %.1f ns", fl, nw[1]);
			row(what, nf, refs, nw[0] / fl, 2.0, "≤ 2.0x floor");
		}
		/* flat: labels vs no labels, both run in this round-robin */
		snprintf(what, sizeof(what), "per-packet, %s, labels vs no labels (N=10 ipBlocks): "
			 "established; new flow", fam);
		if (k[f][1].est_verdict != TC_OK || k[f][1].new_verdict != TC_OK ||
		    k[f][0].est_verdict != TC_OK || k[f][0].new_verdict != TC_OK) {
			row_na(what, "report (flat)", "a packet was not allowed");
		} else {
			snprintf(nf, sizeof(nf), "%.1f ns; %.1f ns", est[0], nw[0]);
			snprintf(refs, sizeof(refs),
				 "no labels %.1f ns; %.1f ns (est. %.2fx x floor)", est[1], nw[1],
				 median(est_ratio[1], cfg.rounds));
			printf("| %s | %s | %s | %.2fx; %.2fx | report (flat) | report |\n", what,
			       nf, refs, est[0] / est[1], nw[0] / nw[1]);
		}
	}
	for (f = 0; f < 2; f++) {
		free(cold_floor[f]);
		for (c = 0; c < N_CASES; c++)
			free(k[f][c].cold);
	}
	if (b)
		dp__close(b);
	if (a)
		dp__close(a);
	bench_ref_bpf__destroy(ref);
	return 0;
}
