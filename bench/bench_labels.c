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
 *      peer cache hit after the first run, port lookup).
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
#define EP_LABELS	200	/* ep_ids of the measured endpoint */
#define EP_PLAIN	210
#define SUBJ_TENANT	0	/* the endpoint: tenant index 0, pod p0-0 */
#define PEER_TENANT	1	/* the peer: tenant index 1, pod p10-0 */
#define TEST_PORT	8080
#define PLAIN_TENANT	"nfbench-nolabel"
#define PLAIN_RULES	10
#define PLAIN_PORT(i)	(1024 + (i))

static struct {
	uint32_t rounds;
	uint32_t repeat;
	const char *docs;
	const char *prefix;
} cfg = { .rounds = 5, .repeat = 1000000, .prefix = "nfbench-l" };

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
	if (!s->ds || policy__load_path(s->ds, cfg.docs) || s->ds->n_problems) {
		fprintf(stderr, "bench_labels: %s: %s\n", cfg.docs,
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
	if (!s->subj || !s->peer || !pod_addr(s->subj, false) || !pod_addr(s->subj, true) ||
	    !pod_addr(s->peer, false) || !pod_addr(s->peer, true)) {
		fprintf(stderr, "bench_labels: %s: pods p0-0 / p10-0 (dual stack) missing\n",
			cfg.docs);
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

/* Ids, ipcache and compiled rules in one private instance. */
static int scen_install(struct scen *s, struct nf_dp *dp, uint32_t *subj_id, uint32_t *plain_id)
{
	struct nf_compile_env env = {};
	struct nf_policy **sel;
	struct nf_compiled *c = NULL;
	struct nf_tenant_info ti;
	size_t i, j, n_sel = 0;
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
	env = (struct nf_compile_env){
		.id_fn = id_cb, .id_ctx = dp, .ns_labels = ns_cb, .ns_ctx = &s->ids,
		.tenants = (const char *const *)s->tenants, .n_tenants = s->n_tenants,
		.idents = s->idents, .n_idents = s->n_idents,
		.subject_ports = s->subj->ports, .n_subject_ports = s->subj->n_ports,
	};
	/* the endpoint's rules: the policies that select its labels */
	sel = calloc(s->ds->n_policies + 1, sizeof(*sel));
	if (!sel)
		return -ENOMEM;
	for (i = 0; i < s->ds->n_policies; i++)
		if (!strcmp(s->ds->policies[i]->tenant, s->subj->tenant) &&
		    compile__subject_matches(s->ds->policies[i], &s->subj->labels))
			sel[n_sel++] = s->ds->policies[i];
	*subj_id = dp__tenant_id(dp, s->subj->tenant, false);
	dp__tenant_info(dp, *subj_id, &ti);
	err = compile__tenant_env(s->subj->tenant, *subj_id, ti.epoch + 1, sel, n_sel, &env, &c);
	free(sel);
	if (!err)
		err = dp__install_policy(dp, c);
	if (!err)
		fprintf(stderr, "bench_labels: %u pod addresses, %zu identities, %zu tenants; "
			"endpoint %s/%s: %zu of its tenant's policies, %zu trie entries, "
			"%zu port entries\n", n_ip, s->n_idents, s->n_tenants, s->subj->tenant,
			s->subj->name, n_sel, c->n_trie, c->n_ports);
	compile__free(c);
	c = NULL;
	if (err)
		return err;
	/* the tenant without labels */
	*plain_id = dp__tenant_id(dp, PLAIN_TENANT, true);
	if (!*plain_id)
		return -ENOSPC;
	dp__tenant_info(dp, *plain_id, &ti);
	env.subject_ports = NULL;
	env.n_subject_ports = 0;
	err = compile__tenant_env(PLAIN_TENANT, *plain_id, ti.epoch + 1, s->plain_ds->policies,
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

/* One case (labels, or no labels) of one family: the packets and the figures. */
struct kase {
	union pkt syn, ack;
	size_t len;
	uint32_t tid, ep_id;
	uint8_t ep_addrs[2][16];
	double est[MAX_ROUNDS], est_floor[MAX_ROUNDS], newf[MAX_ROUNDS];
	int est_verdict, new_verdict;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_labels --docs FILE [--rounds R] [--repeat M] [--prefix P]\n"
		   "Per-packet cost (BPF_PROG_TEST_RUN) with label identities vs the stateful\n"
		   "floor and vs a tenant without labels. FILE: bench/lib/labels_gen.sh's List.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "docs", required_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'm' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	static struct kase k[2][2];	/* [family][0 = labels, 1 = no labels] */
	static struct scen s;
	double floor_run[2][MAX_ROUNDS];
	struct nf_dp *a = NULL, *b = NULL;
	struct bench_ref_bpf *ref = NULL;
	char why[200] = "";
	uint32_t subj_a = 0, plain_a = 0, subj_b = 0, plain_b = 0;
	uint64_t cookie = 0;
	socklen_t cl = sizeof(cookie);
	int opt, err, sock, f, c, r;

	while ((opt = getopt_long(argc, argv, "d:r:m:p:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			cfg.docs = optarg;
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
	if (!cfg.docs || cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS || cfg.repeat < 1) {
		usage(stderr);
		return 2;
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
	if (!why[0] && (err = dp__open_private(&a, false)))
		snprintf(why, sizeof(why), "datapath does not load: %s", strerror(-err));
	if (!why[0] && (err = dp__open_private(&b, true)))
		snprintf(why, sizeof(why), "datapath (no-ct-insert) does not load: %s",
			 strerror(-err));
	if (!why[0] && ((err = scen_install(&s, a, &subj_a, &plain_a)) ||
			(err = scen_install(&s, b, &subj_b, &plain_b))))
		snprintf(why, sizeof(why), "installing the scenario failed: %s", strerror(-err));
	if (!why[0] && (subj_a != subj_b || plain_a != plain_b))
		snprintf(why, sizeof(why), "the two instances number tenants differently");

	for (f = 0; f < 2 && !why[0]; f++) {
		const uint8_t *src = pod_addr(s.peer, f), *dst = pod_addr(s.subj, f);
		uint8_t psrc[16] = {}, pdst[16];
		uint16_t plain_port = PLAIN_PORT(PLAIN_RULES / 2);

		k[f][0].tid = subj_a;
		k[f][0].ep_id = EP_LABELS + f;
		memcpy(k[f][0].ep_addrs[0], pod_addr(s.subj, false), 16);
		memcpy(k[f][0].ep_addrs[1], pod_addr(s.subj, true), 16);
		k[f][0].len = make_pkt(&k[f][0].syn, f, src, dst, 40000, TEST_PORT, true);
		make_pkt(&k[f][0].ack, f, src, dst, 40000, TEST_PORT, false);
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
		memcpy(pdst, dst, 16);
		k[f][1].tid = plain_a;
		k[f][1].ep_id = EP_PLAIN + f;
		memcpy(k[f][1].ep_addrs, k[f][0].ep_addrs, sizeof(k[f][1].ep_addrs));
		k[f][1].len = make_pkt(&k[f][1].syn, f, psrc, pdst, 40000, plain_port, true);
		make_pkt(&k[f][1].ack, f, psrc, pdst, 40000, plain_port, false);
	}

	for (r = 0; r < (int)cfg.rounds && !why[0]; r++) {
		for (f = 0; f < 2; f++) {
			test_run(bpf_program__fd(ref->progs.ref_floor), &k[f][0].ack, k[f][0].len,
				 cfg.repeat, &floor_run[f][r]);
			for (c = 0; c < 2; c++) {
				struct kase *x = &k[f][c];

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

	for (f = 0; f < 2; f++) {
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
	if (b)
		dp__close(b);
	if (a)
		dp__close(a);
	bench_ref_bpf__destroy(ref);
	return 0;
}
