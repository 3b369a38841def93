// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-packet cost of netfence's tc program in the kernel (SPEC §9), measured
 * with BPF_PROG_TEST_RUN beside the two reference programs of
 * bpf/bench_ref.bpf.c, and the memory cost of rules and tracked connections.
 *
 * Everything runs on private (unpinned) datapath instances, so the node's
 * netfence state is never touched:
 *   A  dp__open_private(0): connection tracking on. Established flows
 *      (a SYN, then ACKs that hit conntrack) and cold first packets.
 *   B  dp__open_private(DP_BENCH_NO_CT_INSERT): conntrack insert off, so
 *      every run of the same packet stays a new flow: conntrack miss, then
 *      the verdict cache's entry that the first run left (struct
 *      nf_verdict_key: the same peer and service port).
 *   C  the same with the verdict cache off: conntrack miss, the full
 *      verdict (peer-class cache hit after the first run, port lookup), as
 *      for the first flow to a seen peer's service port.
 * One tenant per (family, N) holds N ingress allow rules, rule i being
 * "from CIDR_i, TCP port 1024 + i % 60000" (IPv4: 10.0.0.0/8 cut in /28s;
 * IPv6: fd00:0:hi:lo::/64), split in policies of NF_POLICY_MAX_RULES rules.
 * The test packet comes from the middle rule's CIDR to that rule's port.
 * The endpoint is (this netns, ifindex 1 = lo), injected through ctx_in; the
 * endpoint entry is repointed at the tenant being measured.
 *
 * Every timed figure is the median over --rounds rounds; inside a round the
 * reference programs and netfence run interleaved on the same packet, so
 * noise on this shared machine hits both sides alike. The established-flow
 * ratio pairs each netfence run with a floor run just before it and takes
 * the median of those ratios. Prints Markdown table
 * rows (| measurement | netfence | reference | ratio | target | met |) on
 * stdout, progress on stderr.
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
#include "log.h"
#include "policy.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define MAX_ROUNDS	31
#define N_SIZES		4
#define TC_OK		0
#define RULE_PORT(i)	(1024 + (i) % 60000)
#define EP_ADDR4	0x0aff0001u	/* 10.255.0.1: outside every rule CIDR */
#define EP_ID_BASE	100

static const uint32_t sizes[N_SIZES] = { 10, 1000, 10000, 100000 };

static struct {
	uint32_t rounds;
	uint32_t repeat;
	uint32_t cold_samples;
	bool verbose;
} cfg = { .rounds = 5, .repeat = 1000000, .cold_samples = 2000 };

/* ---- packets ---- */

/* A test packet: Ethernet + IPv4/IPv6 + TCP, built field by field (no packed structs). */
union pkt {
	uint8_t b[128];
	uint64_t align;
};

/* Source address of rule i's CIDR (+ host offset `host`), as the 16-byte v4-mapped form. */
static void rule_addr(bool v6, uint32_t i, uint32_t host, uint8_t out[16])
{
	memset(out, 0, 16);
	if (!v6) {
		uint32_t a = htonl(0x0a000000u + i * 16 + host);

		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a, 4);
	} else {
		out[0] = 0xfd;
		out[4] = (i >> 24) & 0xff;	/* fd00:0:hi:lo::/64 */
		out[5] = (i >> 16) & 0xff;
		out[6] = (i >> 8) & 0xff;
		out[7] = i & 0xff;
		out[15] = (uint8_t)host;
	}
}

static void ep_addr(bool v6, uint8_t out[16])
{
	memset(out, 0, 16);
	if (!v6) {
		uint32_t a = htonl(EP_ADDR4);

		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a, 4);
	} else {
		out[0] = 0xfd;
		out[1] = 0x00;
		out[2] = 0xff;
		out[3] = 0xff;
		out[15] = 1;	/* fd00:ffff::1 */
	}
}

/*
 * A TCP packet between the endpoint and a peer in rule `rule`'s CIDR, port
 * sport on the peer's side and the rule's port on the endpoint's: towards the
 * endpoint (out false) or from it (out true), with TCP flags `flags`
 * (TCP_F_*). Returns its length.
 */
#define TCP_F_FIN	0x01
#define TCP_F_SYN	0x02
#define TCP_F_RST	0x04
#define TCP_F_ACK	0x10

static size_t make_tcp(union pkt *p, bool v6, uint32_t rule, uint32_t host, uint16_t sport,
		       uint8_t flags, bool out)
{
	struct ethhdr eth = { .h_proto = htons(v6 ? ETH_P_IPV6 : ETH_P_IP) };
	struct tcphdr tcp = {};
	uint8_t src[16], dst[16];
	size_t off = sizeof(eth);

	memset(p, 0, sizeof(*p));
	rule_addr(v6, rule, host, out ? dst : src);
	ep_addr(v6, out ? src : dst);
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
	tcp.source = htons(out ? RULE_PORT(rule) : sport);
	tcp.dest = htons(out ? sport : RULE_PORT(rule));
	tcp.doff = 5;
	tcp.window = htons(65535);
	tcp.fin = !!(flags & TCP_F_FIN);
	tcp.syn = !!(flags & TCP_F_SYN);
	tcp.rst = !!(flags & TCP_F_RST);
	tcp.ack = !!(flags & TCP_F_ACK);
	if (tcp.ack) {
		tcp.seq = htonl(1);
		tcp.ack_seq = htonl(1);
	}
	memcpy(p->b + off, &tcp, sizeof(tcp));
	return off + sizeof(tcp);
}

/* A TCP packet towards the endpoint from rule `rule`'s CIDR: a SYN or an ACK. */
static size_t make_pkt(union pkt *p, bool v6, uint32_t rule, uint32_t host, uint16_t sport,
		       bool syn)
{
	return make_tcp(p, v6, rule, host, sport, syn ? TCP_F_SYN : TCP_F_ACK, false);
}

/* ---- BPF_PROG_TEST_RUN ---- */

/*
 * Run prog on the packet `repeat` times with skb->ifindex = 1 (lo), at the
 * tc hook `hook` (NF_TEST_HOOK_*, for tc_peer; 0 for the others).
 * *ns_per_run gets the kernel's average; returns the verdict or -errno.
 */
static int test_run_at(int prog_fd, uint32_t hook, union pkt *p, size_t len, uint32_t repeat,
		       double *ns_per_run)
{
	struct __sk_buff ctx = { .ifindex = 1, .cb[NF_TEST_HOOK_CB] = hook };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p, .data_size_in = len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	if (ns_per_run)
		*ns_per_run = opts.duration;
	return (int)opts.retval;
}

static int test_run(int prog_fd, union pkt *p, size_t len, uint32_t repeat, double *ns_per_run)
{
	return test_run_at(prog_fd, 0, p, len, repeat, ns_per_run);
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

static double percentile(double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(p * (n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* Delete every entry of a hash map (keys collected first: deleting while walking skips keys). */
static int flush_map(int fd)
{
	struct bpf_map_info info = {};
	uint32_t info_len = sizeof(info), n = 0, cap = 1024, i;
	uint8_t *keys, *prev = NULL;

	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return -errno;
	keys = malloc((size_t)cap * info.key_size);
	if (!keys)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, keys + (size_t)n * info.key_size) == 0) {
		prev = keys + (size_t)n * info.key_size;
		if (++n == cap) {
			uint8_t *k = realloc(keys, (size_t)cap * 2 * info.key_size);

			if (!k) {
				free(keys);
				return -ENOMEM;
			}
			keys = k;
			cap *= 2;
			prev = keys + (size_t)(n - 1) * info.key_size;
		}
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + (size_t)i * info.key_size);
	free(keys);
	return (int)n;
}

/* The kernel's own figure for a map's memory (fdinfo "memlock"), in bytes; -1 if unknown. */
static long long map_memlock(int fd)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static uint32_t map_max_entries(int fd)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

/* ---- policies ---- */

struct tenant_set {
	uint32_t id;
	uint32_t ep_id;
	char name[32];
	bool ok;
	char why[160];
	char cold_why[160];
};

/* Policies of `n` ingress rules for tenant `name`, NF_POLICY_MAX_RULES per policy. */
static struct nf_policy **make_policies(const char *name, bool v6, uint32_t n, size_t *n_pols)
{
	size_t np = (n + NF_POLICY_MAX_RULES - 1) / NF_POLICY_MAX_RULES, k;
	struct nf_policy **pols = calloc(np, sizeof(*pols));
	uint32_t i = 0;

	if (!pols)
		return NULL;
	for (k = 0; k < np; k++) {
		uint32_t cnt = n - i < NF_POLICY_MAX_RULES ? n - i : NF_POLICY_MAX_RULES, j;
		struct nf_policy *p = calloc(1, sizeof(*p));
		char pname[32];

		if (!p)
			return NULL;
		snprintf(pname, sizeof(pname), "bench-%03zu", k);
		p->tenant = strdup(name);
		p->name = strdup(pname);
		p->file = strdup("<bench>");
		p->json = strdup("{}");
		p->has_dir[NF_DIR_INGRESS] = true;
		p->rules[NF_DIR_INGRESS] = calloc(cnt, sizeof(struct nf_rule));
		p->n_rules[NF_DIR_INGRESS] = cnt;
		if (!p->rules[NF_DIR_INGRESS])
			return NULL;
		for (j = 0; j < cnt; j++, i++) {
			struct nf_rule *r = &p->rules[NF_DIR_INGRESS][j];

			r->peers = calloc(1, sizeof(*r->peers));
			r->ports = calloc(1, sizeof(*r->ports));
			if (!r->peers || !r->ports)
				return NULL;
			r->n_peers = 1;
			r->n_ports = 1;
			r->peers[0].kind = NF_PK_IPBLOCK;
			rule_addr(v6, i, 0, r->peers[0].cidr.addr);
			r->peers[0].cidr.plen = v6 ? 64 : 96 + 28;
			r->peers[0].cidr.is_v4 = !v6;
			r->ports[0].proto = IPPROTO_TCP;
			r->ports[0].lo = r->ports[0].hi = RULE_PORT(i);
		}
		pols[k] = p;
	}
	*n_pols = np;
	return pols;
}

static void free_policies(struct nf_policy **pols, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pols[i])
			policy__free(pols[i]);
	free(pols);
}

struct id_ctx {
	struct nf_dp *dp;
};

static uint32_t id_of(const char *name, void *ctx)
{
	return dp__tenant_id(((struct id_ctx *)ctx)->dp, name, true);
}

/*
 * Make tenant `name` hold n rules in dp; *policy_bytes gets the kernel's
 * memory for them (the tenant's new trie + what nf_ports grew by).
 */
static int install(struct nf_dp *dp, const char *name, bool v6, uint32_t n, uint32_t *tid,
		   long long *policy_bytes)
{
	struct nf_tenant_info info = {};
	struct nf_compiled *c = NULL;
	struct id_ctx ctx = { dp };
	struct nf_policy **pols;
	long long ports_before, ports_after, trie_before, trie_after;
	size_t np = 0;
	int err;

	*tid = dp__tenant_id(dp, name, true);
	if (!*tid)
		return -ENOSPC;
	err = dp__tenant_info(dp, *tid, &info);
	if (err)
		return err;
	pols = make_policies(name, v6, n, &np);
	if (!pols)
		return -ENOMEM;
	err = compile__tenant(name, *tid, info.epoch + 1, pols, np, id_of, &ctx, &c);
	if (err)
		goto out;
	ports_before = map_memlock(dp__map_fd(dp, NF_MAP_PORTS));
	trie_before = map_memlock(dp__map_fd(dp, NF_MAP_POLICY));
	err = dp__install_policy(dp, c);
	if (err)
		goto out;
	ports_after = map_memlock(dp__map_fd(dp, NF_MAP_PORTS));
	trie_after = map_memlock(dp__map_fd(dp, NF_MAP_POLICY));
	if (policy_bytes)
		*policy_bytes = trie_before < 0 || ports_before < 0 ? -1 :
				(trie_after - trie_before) + (ports_after - ports_before);
out:
	compile__free(c);
	free_policies(pols, np);
	return err;
}

/*
 * Point the endpoint (this netns, lo) at tenant tid, with id ep_id, owning
 * its IPv4 and IPv6 addresses (ingress flows are tracked only when addressed
 * to one of the endpoint's own addresses, as on a real interface).
 */
static int set_endpoint(struct nf_dp *dp, uint64_t cookie, uint32_t tid, uint32_t ep_id)
{
	struct nf_ep_key key = { .netns_cookie = cookie, .ifindex = 1 };
	struct nf_endpoint ep = { .tenant_id = tid, .ep_id = ep_id,
				  .flags = NF_EPF_NO_SPOOF_CHECK };
	__u8 one = 1;
	int v6;

	for (v6 = 0; v6 <= 1; v6++) {
		struct nf_ep_addr_key ak = { .ep_id = ep_id };

		ep_addr(v6, ak.addr);
		if (bpf_map_update_elem(dp__map_fd(dp, NF_MAP_EP_ADDRS), &ak, &one, BPF_ANY))
			return -errno;
	}
	if (bpf_map_update_elem(dp__map_fd(dp, NF_MAP_ENDPOINTS), &key, &ep, BPF_ANY))
		return -errno;
	dp__verdicts_changed(dp);	/* as an attach does */
	return 0;
}

/* ---- output ---- */

static void fmt_ns(char *buf, size_t len, double ns)
{
	snprintf(buf, len, "%.1f ns", ns);
}

/* One Markdown row; target_max <= 0 means "reported only". */
static void row(const char *what, const char *nf, const char *ref, double ratio,
		double target_max, const char *target_txt)
{
	char r[32];

	if (ratio > 0)
		snprintf(r, sizeof(r), "%.2fx", ratio);
	else
		snprintf(r, sizeof(r), "n/a");
	printf("| %s | %s | %s | %s | %s | %s |\n", what, nf, ref, r, target_txt,
	       target_max <= 0 ? "report" : ratio <= 0 ? "no" : ratio <= target_max ? "yes" : "NO");
	fflush(stdout);
}

static void row_na(const char *what, const char *ref, const char *target, const char *why)
{
	printf("| %s | n/a (%s) | %s | n/a | %s | n/a |\n", what, why, ref, target);
	fflush(stdout);
}

/* ---- the measurement ---- */

struct fam_res {
	double noop[MAX_ROUNDS], floor[MAX_ROUNDS];
	double est[N_SIZES][MAX_ROUNDS], newf[N_SIZES][MAX_ROUNDS], newmiss[N_SIZES][MAX_ROUNDS];
	double est_floor[N_SIZES][MAX_ROUNDS];	/* the floor, run just before est */
	double cold_nf[N_SIZES], cold_floor[N_SIZES];	/* medians of repeat=1 runs */
	double conn_nf[N_SIZES], conn_floor[N_SIZES], conn_noop[N_SIZES];	/* whole connections */
	int conn_err[N_SIZES];
	int est_verdict[N_SIZES], new_verdict[N_SIZES], miss_verdict[N_SIZES];
	/* N=10: an established flow's packet the endpoint sends, on its own interface */
	double est_own[MAX_ROUNDS], est_own_floor[MAX_ROUNDS];
	int est_own_verdict;
	long long policy_bytes[N_SIZES];
};

static const char *fam_name(bool v6)
{
	return v6 ? "IPv6" : "IPv4";
}

/*
 * Cold first packets: for `samples` packets, each from a peer never seen
 * before (distinct addresses inside the rules' CIDRs, each rule's port),
 * run once (repeat = 1) on netfence (instance A) and on the floor. Between
 * passes over the available peers, conntrack, the peer and verdict caches
 * and the floor's flow table are flushed, so every sample is a first packet.
 */
static int measure_cold(struct nf_dp *a, struct bench_ref_bpf *ref, bool v6, uint32_t n,
			double *nf_med, double *floor_med)
{
	uint32_t hosts = 16, peers = n * hosts, s = 0, k;
	double *nf = calloc(cfg.cold_samples, sizeof(double));
	double *fl = calloc(cfg.cold_samples, sizeof(double));
	int verdict = 0, err = 0;
	union pkt p;
	size_t len;

	if (!nf || !fl) {
		err = -ENOMEM;
		goto out;
	}
	while (s < cfg.cold_samples) {
		dp__young_flush(a);	/* young connections into nf_ct, then all of it */
		flush_map(dp__map_fd(a, NF_MAP_CT));
		flush_map(dp__map_fd(a, NF_MAP_PEER_CACHE));
		flush_map(dp__map_fd(a, NF_MAP_VERDICTS));
		flush_map(bpf_map__fd(ref->maps.ref_flows));
		for (k = 0; k < peers && s < cfg.cold_samples; k++, s++) {
			/* spread peers over the rules: rule = k % n, host = k / n */
			len = make_pkt(&p, v6, k % n, k / n, 40000, true);
			verdict = test_run(dp__prog_fd(a, NF_PROG_TC_INGRESS), &p, len, 1, &nf[s]);
			if (verdict != TC_OK) {
				err = verdict < 0 ? verdict : -EACCES;
				goto out;
			}
			if (test_run(bpf_program__fd(ref->progs.ref_floor), &p, len, 1, &fl[s]) < 0) {
				err = -errno;
				goto out;
			}
		}
	}
	*nf_med = median(nf, s);
	*floor_med = median(fl, s);
	if (cfg.verbose)
		fprintf(stderr, "bench_prog: cold %s N=%u: p90 nf %.0f ns floor %.0f ns\n",
			fam_name(v6), n, percentile(nf, s, 0.9), percentile(fl, s, 0.9));
out:
	free(nf);
	free(fl);
	return err;
}

/*
 * Whole TCP connections to the endpoint (the server: rule `mid`'s port), each
 * seven packets run once on the programs of a veth's host side, as the
 * endpoint sees them: SYN in, SYN-ACK out, ACK in, FIN in, ACK out, FIN out,
 * last ACK in (which ends the tracked flow). The peer is the same client, on
 * a new source port each time, so after the first connection its SYN is a
 * verdict-cache hit, as a client's repeated connections to a service are.
 * The floor and the no-op run the same seven packets right after. *nf_med,
 * *floor_med and *noop_med get the medians of the seven runs' summed
 * durations (the no-op's: what the kernel's per-run timing adds to each). Fails with -EACCES
 * when a packet was dropped, -ENOTEMPTY when a connection left its conntrack
 * entry behind.
 */
static int measure_conn(struct nf_dp *a, struct bench_ref_bpf *ref, bool v6, uint32_t rule,
			double *nf_med, double *floor_med, double *noop_med)
{
	static const struct { uint8_t flags; bool out; } seq[] = {
		{ TCP_F_SYN, false }, { TCP_F_SYN | TCP_F_ACK, true }, { TCP_F_ACK, false },
		{ TCP_F_FIN | TCP_F_ACK, false }, { TCP_F_ACK, true },
		{ TCP_F_FIN | TCP_F_ACK, true }, { TCP_F_ACK, false },
	};
	int peer_fd = dp__prog_fd(a, NF_PROG_TC_PEER);
	int fl_fd = bpf_program__fd(ref->progs.ref_floor);
	int noop_fd = bpf_program__fd(ref->progs.ref_noop);
	double *nf = calloc(cfg.cold_samples, sizeof(double));
	double *fl = calloc(cfg.cold_samples, sizeof(double));
	double *no = calloc(cfg.cold_samples, sizeof(double));
	uint32_t s, k;
	int err = 0, v;

	if (!nf || !fl || !no) {
		err = -ENOMEM;
		goto out;
	}
	dp__young_flush(a);
	flush_map(dp__map_fd(a, NF_MAP_CT));
	for (s = 0; s < cfg.cold_samples; s++) {
		uint16_t sport = 1024 + s % 60000;

		for (k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
			union pkt p;
			size_t len = make_tcp(&p, v6, rule, 1, sport, seq[k].flags, seq[k].out);
			double d;

			/* sent by the endpoint: the peer's ingress; towards it: egress */
			v = test_run_at(peer_fd,
					seq[k].out ? NF_TEST_HOOK_INGRESS : NF_TEST_HOOK_EGRESS, &p,
					len, 1, &d);
			if (v != TC_OK) {
				err = v < 0 ? v : -EACCES;
				goto out;
			}
			nf[s] += d;
			if (test_run(fl_fd, &p, len, 1, &d) < 0) {
				err = -errno;
				goto out;
			}
			fl[s] += d;
			if (test_run(noop_fd, &p, len, 1, &d) < 0) {
				err = -errno;
				goto out;
			}
			no[s] += d;
		}
	}
	/* every connection ended: nothing of them is left tracked (a young
	 * connection left behind is moved into nf_ct first) */
	dp__young_flush(a);
	if (flush_map(dp__map_fd(a, NF_MAP_CT)) != 0) {
		err = -ENOTEMPTY;
		goto out;
	}
	*nf_med = median(nf, s);
	*floor_med = median(fl, s);
	*noop_med = median(no, s);
out:
	free(nf);
	free(fl);
	free(no);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_prog [--rounds R] [--repeat M] [--cold-samples K] [-v]\n"
		   "Per-packet cost (BPF_PROG_TEST_RUN) of netfence vs the reference programs,\n"
		   "and memory per rule / per tracked connection. Markdown rows on stdout.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'm' },
		{ "cold-samples", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct tenant_set ts[2][N_SIZES] = {};
	struct fam_res *res = calloc(2, sizeof(*res));
	struct nf_dp *a = NULL, *b = NULL, *c = NULL;
	struct bench_ref_bpf *ref = NULL;
	char nf_why[160] = "";
	uint64_t cookie = 0;
	socklen_t cl = sizeof(cookie);
	int opt, err, sock, f, i, r;

	while ((opt = getopt_long(argc, argv, "r:m:c:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			cfg.rounds = strtoul(optarg, NULL, 10);
			break;
		case 'm':
			cfg.repeat = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			cfg.cold_samples = strtoul(optarg, NULL, 10);
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!res || cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS || cfg.repeat < 1 ||
	    cfg.cold_samples < 1) {
		usage(stderr);
		return 2;
	}
	nf_log_setup_libbpf();

	ref = bench_ref_bpf__open_and_load();
	if (!ref) {
		fprintf(stderr, "bench_prog: cannot load the reference programs: %s\n",
			strerror(errno));
		return 1;
	}

	sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (sock < 0 || getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl)) {
		snprintf(nf_why, sizeof(nf_why), "no netns cookie: %s", strerror(errno));
	}
	if (sock >= 0)
		close(sock);

	/* Three private instances; any failure turns the netfence columns into n/a. */
	if (!nf_why[0] && (err = dp__open_private(&a, 0)))
		snprintf(nf_why, sizeof(nf_why), "datapath does not load: %s", strerror(-err));
	if (!nf_why[0] && (err = dp__open_private(&b, DP_BENCH_NO_CT_INSERT)))
		snprintf(nf_why, sizeof(nf_why), "datapath (no-ct-insert) does not load: %s",
			 strerror(-err));
	if (!nf_why[0] &&
	    (err = dp__open_private(&c, DP_BENCH_NO_CT_INSERT | DP_BENCH_NO_VERDICT_CACHE)))
		snprintf(nf_why, sizeof(nf_why), "datapath (no verdict cache) does not load: %s",
			 strerror(-err));

	for (f = 0; f < 2 && !nf_why[0]; f++) {
		for (i = 0; i < N_SIZES; i++) {
			struct tenant_set *t = &ts[f][i];
			uint32_t tid_b;

			snprintf(t->name, sizeof(t->name), "bench-%s-%u", f ? "v6" : "v4", sizes[i]);
			t->ep_id = EP_ID_BASE + f * N_SIZES + i;
			fprintf(stderr, "bench_prog: installing %u %s rules for %s\n", sizes[i],
				fam_name(f), t->name);
			err = install(a, t->name, f, sizes[i], &t->id, &res[f].policy_bytes[i]);
			if (!err)
				err = install(b, t->name, f, sizes[i], &tid_b, NULL);
			if (!err && tid_b != t->id)
				err = -EINVAL;	/* the instances number tenants alike */
			if (!err)
				err = install(c, t->name, f, sizes[i], &tid_b, NULL);
			if (!err && tid_b != t->id)
				err = -EINVAL;
			if (err) {
				snprintf(t->why, sizeof(t->why), "installing %u rules failed: %s",
					 sizes[i], strerror(-err));
				continue;
			}
			t->ok = true;
		}
	}

	/* Interleaved rounds: no-op, floor, then every N established and new flow. */
	for (r = 0; r < (int)cfg.rounds; r++) {
		for (f = 0; f < 2; f++) {
			union pkt syn, ack;
			size_t len = make_pkt(&syn, f, 0, 1, 40000, true);

			make_pkt(&ack, f, 0, 1, 40000, false);
			test_run(bpf_program__fd(ref->progs.ref_noop), &ack, len, cfg.repeat,
				 &res[f].noop[r]);
			test_run(bpf_program__fd(ref->progs.ref_floor), &ack, len, cfg.repeat,
				 &res[f].floor[r]);
			for (i = 0; i < N_SIZES && !nf_why[0]; i++) {
				struct tenant_set *t = &ts[f][i];
				uint32_t mid = sizes[i] / 2;

				if (!t->ok)
					continue;
				len = make_pkt(&syn, f, mid, 1, 40000, true);
				make_pkt(&ack, f, mid, 1, 40000, false);
				/*
				 * established: the SYN creates the flow, the ACKs hit it;
				 * the floor runs on the same ACK right before, so a drift
				 * of the machine's speed during a round hits both alike
				 */
				test_run(bpf_program__fd(ref->progs.ref_floor), &ack, len,
					 cfg.repeat, &res[f].est_floor[i][r]);
				set_endpoint(a, cookie, t->id, t->ep_id);
				test_run(dp__prog_fd(a, NF_PROG_TC_INGRESS), &syn, len, 1, NULL);
				res[f].est_verdict[i] = test_run(dp__prog_fd(a, NF_PROG_TC_INGRESS),
								 &ack, len, cfg.repeat,
								 &res[f].est[i][r]);
				/*
				 * the same flow's packets the endpoint sends, on its own
				 * interface (tc_egress: macvlan, and every interface with
				 * no host-side peer), after its SYN-ACK
				 */
				if (i == 0) {
					union pkt sa, out;

					make_tcp(&sa, f, mid, 1, 40000, TCP_F_SYN | TCP_F_ACK, true);
					make_tcp(&out, f, mid, 1, 40000, TCP_F_ACK, true);
					test_run(bpf_program__fd(ref->progs.ref_floor), &out, len,
						 cfg.repeat, &res[f].est_own_floor[r]);
					test_run(dp__prog_fd(a, NF_PROG_TC_EGRESS), &sa, len, 1, NULL);
					res[f].est_own_verdict =
						test_run(dp__prog_fd(a, NF_PROG_TC_EGRESS), &out, len,
							 cfg.repeat, &res[f].est_own[r]);
				}
				/* new flow to a seen peer: the first run fills the peer cache */
				set_endpoint(b, cookie, t->id, t->ep_id);
				test_run(dp__prog_fd(b, NF_PROG_TC_INGRESS), &syn, len, 1, NULL);
				res[f].new_verdict[i] = test_run(dp__prog_fd(b, NF_PROG_TC_INGRESS),
								 &syn, len, cfg.repeat,
								 &res[f].newf[i][r]);
				/* the same, without the verdict cache */
				set_endpoint(c, cookie, t->id, t->ep_id);
				test_run(dp__prog_fd(c, NF_PROG_TC_INGRESS), &syn, len, 1, NULL);
				res[f].miss_verdict[i] = test_run(dp__prog_fd(c, NF_PROG_TC_INGRESS),
								  &syn, len, cfg.repeat,
								  &res[f].newmiss[i][r]);
			}
		}
		fprintf(stderr, "bench_prog: round %d/%u done\n", r + 1, cfg.rounds);
	}

	/* Cold first packets (repeat = 1, many distinct peers). */
	for (f = 0; f < 2; f++) {
		for (i = 0; i < N_SIZES && !nf_why[0]; i++) {
			struct tenant_set *t = &ts[f][i];

			if (!t->ok)
				continue;
			set_endpoint(a, cookie, t->id, t->ep_id);
			err = measure_cold(a, ref, f, sizes[i], &res[f].cold_nf[i],
					   &res[f].cold_floor[i]);
			if (err)
				snprintf(t->cold_why, sizeof(t->cold_why), "cold run failed: %s",
					 err == -EACCES ? "packet dropped" : strerror(-err));
		}
	}

	/* Whole connections (repeat = 1, at the smallest and the largest N). */
	for (f = 0; f < 2; f++) {
		for (i = 0; i < N_SIZES && !nf_why[0]; i += N_SIZES - 1) {
			struct tenant_set *t = &ts[f][i];

			if (!t->ok)
				continue;
			set_endpoint(a, cookie, t->id, t->ep_id);
			res[f].conn_err[i] = measure_conn(a, ref, f, sizes[i] / 2, &res[f].conn_nf[i],
							  &res[f].conn_floor[i],
							  &res[f].conn_noop[i]);
		}
	}

	/* ---- rows ---- */
	for (f = 0; f < 2; f++) {
		double noop = median(res[f].noop, cfg.rounds), fl = median(res[f].floor, cfg.rounds);
		double new10 = 0;
		bool continue_flat;
		char what[128], nf[64], refs[128];

		snprintf(what, sizeof(what), "per-packet, %s: reference programs", fam_name(f));
		snprintf(refs, sizeof(refs), "floor %.1f ns; no-op %.1f ns", fl, noop);
		printf("| %s | — | %s | — | — | — |\n", what, refs);
		for (i = 0; i < N_SIZES; i++) {
			struct tenant_set *t = &ts[f][i];
			double est = median(res[f].est[i], cfg.rounds);
			double est_fl = median(res[f].est_floor[i], cfg.rounds);
			double est_ratio[MAX_ROUNDS];
			double nw = median(res[f].newf[i], cfg.rounds);
			const char *why = nf_why[0] ? nf_why : t->why[0] ? t->why : NULL;

			/* established vs the floor */
			snprintf(what, sizeof(what), "per-packet, %s, N=%u, established flow",
				 fam_name(f), sizes[i]);
			snprintf(refs, sizeof(refs), "floor %.1f ns (run beside it); no-op %.1f ns",
				 est_fl, noop);
			for (r = 0; r < (int)cfg.rounds; r++)
				est_ratio[r] = res[f].est_floor[i][r] > 0 ?
						       res[f].est[i][r] / res[f].est_floor[i][r] : 0;
			if (why || !t->ok)
				row_na(what, refs, "≤ 1.25x floor", why ? why : "not installed");
			else if (res[f].est_verdict[i] != TC_OK)
				row_na(what, refs, "≤ 1.25x floor", "established packet not allowed");
			else {
				/* the median of the rounds' paired ratios */
				fmt_ns(nf, sizeof(nf), est);
				row(what, nf, refs, median(est_ratio, cfg.rounds), 1.25,
				    "≤ 1.25x floor");
			}

			if (i == 0) {
				double own = median(res[f].est_own, cfg.rounds);
				double own_fl = median(res[f].est_own_floor, cfg.rounds);

				snprintf(what, sizeof(what),
					 "per-packet, %s, N=%u, established flow, sent on the endpoint's own interface (tc_egress)",
					 fam_name(f), sizes[i]);
				snprintf(refs, sizeof(refs), "floor %.1f ns (run beside it)", own_fl);
				for (r = 0; r < (int)cfg.rounds; r++)
					est_ratio[r] = res[f].est_own_floor[r] > 0 ?
							       res[f].est_own[r] / res[f].est_own_floor[r] : 0;
				if (why || !t->ok)
					row_na(what, refs, "≤ 1.25x floor", why ? why : "not installed");
				else if (res[f].est_own_verdict != TC_OK)
					row_na(what, refs, "≤ 1.25x floor",
					       "established packet not allowed");
				else {
					fmt_ns(nf, sizeof(nf), own);
					row(what, nf, refs, median(est_ratio, cfg.rounds), 1.25,
					    "≤ 1.25x floor");
				}
			}

			/* new flow to a seen peer: against the floor, and flat in N */
			snprintf(what, sizeof(what),
				 "per-packet, %s, N=%u, new flow to a seen peer", fam_name(f),
				 sizes[i]);
			if (why || !t->ok || res[f].new_verdict[i] != TC_OK) {
				row_na(what, "—", "≤ 2.0x floor",
				       why ? why : !t->ok ? "not installed" :
						       "new-flow packet not allowed");
				continue_flat = false;
			} else {
				fmt_ns(nf, sizeof(nf), nw);
				snprintf(refs, sizeof(refs), "floor %.1f ns", fl);
				row(what, nf, refs, nw / fl, 2.0, "≤ 2.0x floor");
				continue_flat = true;
			}
			if (i == 0) {
				new10 = continue_flat ? nw : 0;
			} else {
				snprintf(what, sizeof(what),
					 "per-packet, %s, N=%u, new flow to a seen peer, vs N=10",
					 fam_name(f), sizes[i]);
				if (!continue_flat || new10 <= 0) {
					row_na(what, "—", "≤ 1.5x N=10", "no figure");
				} else {
					fmt_ns(nf, sizeof(nf), nw);
					snprintf(refs, sizeof(refs), "N=10: %.1f ns", new10);
					row(what, nf, refs, nw / new10, 1.5, "≤ 1.5x N=10");
				}
			}

			/* the first flow to a seen peer's port: the verdict cache misses */
			snprintf(what, sizeof(what),
				 "per-packet, %s, N=%u, new flow to a seen peer, verdict cache off",
				 fam_name(f), sizes[i]);
			if (why || !t->ok || res[f].miss_verdict[i] != TC_OK) {
				row_na(what, "—", "report (x floor)",
				       why ? why : !t->ok ? "not installed" :
						       "new-flow packet not allowed");
			} else {
				double nm = median(res[f].newmiss[i], cfg.rounds);

				fmt_ns(nf, sizeof(nf), nm);
				snprintf(refs, sizeof(refs), "floor %.1f ns", fl);
				row(what, nf, refs, nm / fl, 0, "report (x floor)");
			}

			/* cold first packet to a never-seen peer */
			snprintf(what, sizeof(what),
				 "per-packet, %s, N=%u, cold first packet to a never-seen peer (repeat=1, median of %u)",
				 fam_name(f), sizes[i], cfg.cold_samples);
			if (why || !t->ok || t->cold_why[0] || res[f].cold_floor[i] <= 0) {
				row_na(what, "—", "report",
				       why ? why : !t->ok ? "not installed" :
				       t->cold_why[0] ? t->cold_why : "no figure");
			} else {
				fmt_ns(nf, sizeof(nf), res[f].cold_nf[i]);
				snprintf(refs, sizeof(refs), "floor first packet %.1f ns",
					 res[f].cold_floor[i]);
				row(what, nf, refs, res[f].cold_nf[i] / res[f].cold_floor[i], 0,
				    "report (x floor)");
			}

			/* a whole TCP connection, as a veth's host side sees it */
			if (i != 0 && i != N_SIZES - 1)
				continue;
			snprintf(what, sizeof(what),
				 "per-connection, %s, N=%u, TCP connection's 7 packets, SYN to last ACK (repeat=1, median of %u)",
				 fam_name(f), sizes[i], cfg.cold_samples);
			if (why || !t->ok || res[f].conn_err[i] || res[f].conn_floor[i] <= 0) {
				int e = res[f].conn_err[i];

				row_na(what, "—", "report",
				       why ? why : !t->ok ? "not installed" :
				       e == -EACCES ? "a packet was dropped" :
				       e == -ENOTEMPTY ? "conntrack entries left behind" :
				       e ? strerror(-e) : "no figure");
			} else {
				double over_nf = res[f].conn_nf[i] - res[f].conn_noop[i];
				double over_fl = res[f].conn_floor[i] - res[f].conn_noop[i];

				fmt_ns(nf, sizeof(nf), res[f].conn_nf[i]);
				snprintf(refs, sizeof(refs),
					 "floor %.1f ns; no-op %.1f ns; above the no-op %.2fx",
					 res[f].conn_floor[i], res[f].conn_noop[i],
					 over_fl > 0 ? over_nf / over_fl : 0);
				row(what, nf, refs, res[f].conn_nf[i] / res[f].conn_floor[i], 0,
				    "report (x floor)");
			}
		}
	}

	/* ---- memory ---- */
	for (f = 0; f < 2; f++) {
		char what[128], nf[64], refs[64];

		i = N_SIZES - 1;
		snprintf(what, sizeof(what), "memory per rule, %s, N=%u (policy trie + port entries)",
			 fam_name(f), sizes[i]);
		if (nf_why[0] || !ts[f][i].ok || res[f].policy_bytes[i] < 0) {
			row_na(what, "—", "holds 100,000 rules",
			       nf_why[0] ? nf_why : ts[f][i].why[0] ? ts[f][i].why :
			       "no memlock figure");
			continue;
		}
		snprintf(nf, sizeof(nf), "%.0f B/rule",
			 (double)res[f].policy_bytes[i] / sizes[i]);
		snprintf(refs, sizeof(refs), "%u rules installed", sizes[i]);
		printf("| %s | %s | %s | — | holds 100,000 rules | yes |\n", what, nf, refs);
	}
	{
		int fl_fd = bpf_map__fd(ref->maps.ref_flows);
		double fl_b = (double)map_memlock(fl_fd) / map_max_entries(fl_fd);
		const char *what = "memory per tracked connection (conntrack hash memlock / entries)";
		char nf[64], refs[64];

		snprintf(refs, sizeof(refs), "floor LRU %.0f B/entry", fl_b);
		if (nf_why[0]) {
			row_na(what, refs, "holds 262,144 connections", nf_why);
		} else {
			uint32_t cap = map_max_entries(dp__map_fd(a, NF_MAP_CT));
			double ct_b = (double)map_memlock(dp__map_fd(a, NF_MAP_CT)) / cap;

			snprintf(nf, sizeof(nf), "%.0f B/conn (%u entries)", ct_b, cap);
			printf("| %s | %s | %s | %.2fx | holds 262,144 connections | %s |\n", what,
			       nf, refs, ct_b / fl_b, cap >= 262144 ? "yes" : "NO");
		}
	}

	if (c)
		dp__close(c);
	if (b)
		dp__close(b);
	if (a)
		dp__close(a);
	bench_ref_bpf__destroy(ref);
	free(res);
	return 0;
}
