// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The datapath's policy lookup (bpf/lib/policy.bpf.h) against the userspace
 * one (userspace/lib/lookup.c) on the same random queries: they must give
 * the same verdict and name the same rule.
 *
 * Each round writes random NetworkPolicies for tenant "me" (ipBlock CIDRs
 * with excepts, IPv4 and IPv6, namespaceSelectors In / NotIn / {}, rules
 * without peers, ports, port ranges, TCP/UDP/SCTP, rules without ports,
 * both directions) as JSON, parses, compiles and installs them on a private
 * datapath, then sends random first packets (TCP SYN, UDP, SCTP, ICMP echo,
 * GRE) between the endpoint and random peers through tc_ingress / tc_egress
 * with BPF_PROG_TEST_RUN. The datapath's verdict is the program's return
 * value and its rule is the rule_ref of the conntrack entry the allowed
 * flow created. The same query goes to:
 *   - lookup__judge over the live maps (what `check` does),
 *   - lookup__decide over the compiled tables in memory, with the peer's
 *     identity from this file's own model of the ipcache,
 *   - compile__lookup (the same, by the rules alone),
 * and the names written at install (what `check` prints) must name the
 * rule the compiler numbered. Every round re-installs, so both parities
 * are used, and the node-ingress setting flips every other round.
 *
 * Deterministic: NF_SEED (printed; default fixed), NF_ROUNDS, NF_QUERIES.
 * Flows are deleted from nf_ct behind the datapath's back, so the tenant's
 * tracking share (nf_usage) only grows: keep the allowed flows under it
 * (NF_DEFAULT_CT_TENANT_MAX), or the datapath drops as conntrack_full and
 * the comparison fails.
 * Skipped without CAP_BPF (or CAP_SYS_ADMIN).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "compile.h"
#include "datapath.h"
#include "lookup.h"
#include "policy.h"
#include "dp_test.h"
#include "pkt.h"

#define TENANT	"me"
#define EP_ID	9
#define IFINDEX 1		/* lo: BPF_PROG_TEST_RUN runs tc programs there */
#define EP	"10.200.0.1"	/* outside the peer pool below */

/* ---- random ---- */

static uint64_t rng;

static uint32_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static uint32_t rndn(uint32_t n)
{
	return rnd() % n;
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *e = getenv(name);

	return e && *e ? strtoul(e, NULL, 0) : def;
}

/* ---- addresses: IPv4 10.a.b.c (IPv6: fd00::10.a.b.c), host order ---- */

static const uint8_t pool_b[] = { 0, 1, 2, 3, 128, 200 };
static const uint8_t pool_c[] = { 0, 1, 4, 7, 100, 127, 128, 255 };

static uint32_t pool_addr(void)
{
	uint32_t c = rndn(3) ? pool_c[rndn(sizeof(pool_c))] : rndn(256);

	return 10u << 24 | rndn(4) << 16 | (uint32_t)pool_b[rndn(sizeof(pool_b))] << 8 | c;
}

static uint32_t mask_of(unsigned int plen)
{
	return plen ? 0xFFFFFFFFu << (32 - plen) : 0;
}

static void v4_text(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* Addresses worth probing: every CIDR's and except's first address. */
#define MAX_HOT 4096
static uint32_t hot[MAX_HOT];
static size_t n_hot;

static void hot_add(uint32_t a)
{
	if (n_hot < MAX_HOT)
		hot[n_hot++] = a;
}

/* ---- the ipcache: fixed, nested, some of it the node's ---- */

struct ipc {
	const char *cidr;	/* IPv4; IPv6 is fd00::/96 + it */
	const char *tenant;	/* NULL: the node (NF_ID_HOST) */
};

static const struct ipc ipcache[] = {
	{ "10.1.0.0/16", "t1" },   { "10.1.2.0/24", "t2" },   { "10.2.0.0/16", "t3" },
	{ "10.2.3.4/32", NULL },   { "10.3.0.0/17", "t4" },   { "10.3.200.0/24", TENANT },
	{ "10.0.0.7/32", NULL },   { "10.0.128.0/30", "t2" },
};

static const char *const sel_names[] = { "t1", "t2", "t3", "t4", "t5", TENANT };

struct fx {
	struct dpt *f;
	uint32_t me;
	uint32_t ids[sizeof(ipcache) / sizeof(ipcache[0])];
};

/* The identity the ipcache gives a (v4 pool) address: longest prefix. */
static uint32_t model_peer_id(const struct fx *x, uint32_t a)
{
	int best = -1;
	uint32_t id = 0;
	size_t i;

	for (i = 0; i < sizeof(ipcache) / sizeof(ipcache[0]); i++) {
		unsigned int b[4], plen;
		uint32_t base;

		sscanf(ipcache[i].cidr, "%u.%u.%u.%u/%u", &b[0], &b[1], &b[2], &b[3], &plen);
		base = b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
		if ((a & mask_of(plen)) == base && (int)plen > best) {
			best = (int)plen;
			id = x->ids[i];
		}
	}
	return id;
}

/* ---- random policies as JSON ---- */

struct buf {
	char *s;
	size_t n, cap;
};

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		assert_true(k >= 0);
		if (b->n + (size_t)k < b->cap)
			break;
		b->cap = (b->cap + (size_t)k) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	b->n += (size_t)k;
}

/* A CIDR of the pool (IPv4 or its IPv6 twin) and maybe excepts inside it. */
static void gen_ipblock(struct buf *b)
{
	static const uint8_t plens[] = { 0, 8, 12, 16, 17, 20, 24, 24, 25, 28, 30, 31, 32 };
	bool v6 = rndn(3) == 0;
	unsigned int plen = plens[rndn(sizeof(plens))];
	uint32_t base = pool_addr() & mask_of(plen);
	char t[32];
	int i, n_ex = plen < 32 && rndn(2) ? 1 + (int)rndn(3) : 0;

	v4_text(base, t, sizeof(t));
	hot_add(base);
	if (v6 && plen == 0)
		put(b, "{\"ipBlock\":{\"cidr\":\"%s\"", rndn(2) ? "::/0" : "fd00::/64");
	else if (v6)
		put(b, "{\"ipBlock\":{\"cidr\":\"fd00::%s/%u\"", t, 96 + plen);
	else
		put(b, "{\"ipBlock\":{\"cidr\":\"%s/%u\"", t, plen);
	if (n_ex) {
		put(b, ",\"except\":[");
		for (i = 0; i < n_ex; i++) {
			unsigned int ep = plen + 1 + rndn(32 - plen);
			uint32_t ea = (base | (pool_addr() & ~mask_of(plen))) & mask_of(ep);

			v4_text(ea, t, sizeof(t));
			hot_add(ea);
			if (v6)
				put(b, "%s\"fd00::%s/%u\"", i ? "," : "", t, 96 + ep);
			else
				put(b, "%s\"%s/%u\"", i ? "," : "", t, ep);
		}
		put(b, "]");
	}
	put(b, "}}");
}

static void gen_selector(struct buf *b)
{
	unsigned int k = rndn(4), i, n;

	if (k == 0) {
		put(b, "{\"namespaceSelector\":{}}");
		return;
	}
	n = 1 + rndn(3);
	put(b, "{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":"
	       "\"kubernetes.io/metadata.name\",\"operator\":\"%s\",\"values\":[",
	    k == 1 ? "NotIn" : "In");
	for (i = 0; i < n; i++)
		put(b, "%s\"%s\"", i ? "," : "",
		    sel_names[rndn(sizeof(sel_names) / sizeof(sel_names[0]))]);
	put(b, "]}]}}");
}

/* Ports of the rules: the probes use them, their neighbours and others. */
static const uint16_t port_pool[] = { 1, 22, 53, 80, 443, 1000, 1023, 1024, 2000, 8080, 65535 };

static void gen_ports(struct buf *b)
{
	static const char *const protos[] = { "TCP", "UDP", "SCTP" };
	unsigned int n = 1 + rndn(3), i;

	put(b, ",\"ports\":[");
	for (i = 0; i < n; i++) {
		uint16_t p = port_pool[rndn(sizeof(port_pool) / sizeof(port_pool[0]))];

		put(b, "%s{", i ? "," : "");
		if (rndn(4))
			put(b, "\"protocol\":\"%s\",", protos[rndn(3)]);
		put(b, "\"port\":%u", p);
		if (rndn(3) == 0) {
			uint32_t end = p + rndn(rndn(2) ? 40 : 3000);

			put(b, ",\"endPort\":%u", end > 65535 ? 65535 : end);
		}
		put(b, "}");
	}
	put(b, "]");
}

static void gen_rules(struct buf *b, const char *dir, const char *peers_key)
{
	unsigned int n = rndn(5), i, j, np;

	put(b, ",\"%s\":[", dir);
	for (i = 0; i < n; i++) {
		put(b, "%s{", i ? "," : "");
		np = rndn(6) == 0 ? 0 : 1 + rndn(3);	/* 0: any peer */
		if (np) {
			put(b, "\"%s\":[", peers_key);
			for (j = 0; j < np; j++) {
				if (j)
					put(b, ",");
				if (rndn(3))
					gen_ipblock(b);
				else
					gen_selector(b);
			}
			put(b, "]");
		} else {
			put(b, "\"%s\":[]", peers_key);
		}
		if (rndn(5))	/* else: every protocol and port */
			gen_ports(b);
		put(b, "}");
	}
	put(b, "]");
}

static char *gen_policies(void)
{
	struct buf b = {};
	unsigned int n = 1 + rndn(3), i;

	put(&b, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
	for (i = 0; i < n; i++) {
		unsigned int types = 1 + rndn(3);	/* 1 ingress, 2 egress, 3 both */

		put(&b, "%s{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			"\"metadata\":{\"name\":\"p%u\",\"namespace\":\"" TENANT "\"},"
			"\"spec\":{\"podSelector\":{},\"policyTypes\":[%s%s%s]",
		    i ? "," : "", rndn(100) * 10 + i,	/* names sort in any order */
		    types & 1 ? "\"Ingress\"" : "", types == 3 ? "," : "",
		    types & 2 ? "\"Egress\"" : "");
		if (types & 1)
			gen_rules(&b, "ingress", "from");
		if (types & 2)
			gen_rules(&b, "egress", "to");
		put(&b, "}}");
	}
	put(&b, "]}");
	return b.s;
}

/* ---- install: parse, compile, install, keeping the compiled tables ---- */

static uint32_t id_cb(const char *name, void *ctx)
{
	return dp__tenant_id(ctx, name, false);	/* as apply: names select, never allocate */
}

static struct nf_compiled *install(struct fx *x, const char *json, struct nf_docset **ds_out)
{
	struct nf_docset *ds = policy__docset_new();
	struct nf_compiled *c = NULL;
	struct nf_tenant_info ti;
	size_t i;
	int err;

	assert_non_null(ds);
	policy__load_json(ds, "random.json", json, strlen(json));
	for (i = 0; i < ds->n_problems; i++)
		print_error("%s\n", ds->problems[i]);
	if (ds->n_problems)
		fail_msg("the generated policy is invalid:\n%s", json);
	assert_int_equal(dp__tenant_info(x->f->dp, x->me, &ti), 0);
	err = compile__tenant(TENANT, x->me, ti.epoch + 1, ds->policies, ds->n_policies, id_cb,
			      x->f->dp, &c);
	if (err)
		fail_msg("compile: %s\n%s", strerror(-err), json);
	err = dp__install_policy(x->f->dp, c);
	if (err)
		fail_msg("install: %s", strerror(-err));
	*ds_out = ds;	/* c points into it */
	return c;
}

/* ---- the datapath's answer ---- */

/* Nothing tracked: every query's flow is deleted by its key (below). */
static bool ct_empty(struct fx *x)
{
	struct nf_ct_key k;

	return bpf_map_get_next_key(dp__map_fd(x->f->dp, NF_MAP_CT), NULL, &k) != 0;
}

/*
 * The conntrack key of the flow a query's first packet starts, as
 * nf_ct_key_fill() makes it on a tc hook: scoped by (netns cookie,
 * ifindex), oriented from the endpoint; an echo request is (id -> 0), other
 * protocols without ports (GRE) are (0 -> 0).
 */
static void ct_key_of(struct fx *x, int family, uint8_t dir, uint8_t proto, const char *peer,
		      uint16_t sport, uint16_t dport, struct nf_ct_key *k)
{
	memset(k, 0, sizeof(*k));
	k->scope_proto = NF_CT_SCOPE_PROTO(x->f->netns_cookie, proto);
	k->ifindex = IFINDEX;
	assert_int_equal(pkt_addr16(EP, family, k->laddr), 0);
	assert_int_equal(pkt_addr16(peer, family, k->raddr), 0);
	k->lport = htons(dir == NF_DIR_EGRESS ? sport : dport);
	k->rport = htons(dir == NF_DIR_EGRESS ? dport : sport);
}

struct query {
	int family;
	uint8_t dir;
	uint32_t peer;		/* v4 pool address */
	uint8_t proto;		/* IPPROTO_TCP/UDP/SCTP, PKT_ICMP, or 47 (GRE) */
	uint16_t port;
};

/* Run the query's first packet; *rule: the conntrack entry's rule_ref, 0: dropped. */
static void bpf_verdict(struct fx *x, const struct query *q, uint32_t *rule)
{
	struct pkt_spec s = { .proto = q->proto, .dport = q->port, .sport = 40000 + rndn(20000) };
	char peer[32];
	struct nf_ct_key k;
	struct nf_ct_val v;
	struct pkt p;
	uint32_t ret = 0xdead;
	int prog;

	v4_text(q->peer, peer, sizeof(peer));
	s.src = q->dir == NF_DIR_INGRESS ? peer : EP;
	s.dst = q->dir == NF_DIR_INGRESS ? EP : peer;
	if (q->proto == PKT_ICMP) {
		s.icmp = PKT_ECHO_REQUEST;
		s.icmp_id = (uint16_t)(1 + rndn(60000));
	} else if (q->proto == 47) {
		s.payload = 8;
	}
	assert_int_equal(pkt_build(&p, &s, q->family), 0);
	if (q->proto == PKT_ICMP)
		ct_key_of(x, q->family, q->dir, q->family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, peer,
			  s.icmp_id, 0, &k);
	else
		ct_key_of(x, q->family, q->dir, q->proto, peer, q->proto == 47 ? 0 : s.sport,
			  q->proto == 47 ? 0 : s.dport, &k);
	bpf_map_delete_elem(dp__map_fd(x->f->dp, NF_MAP_CT), &k);	/* an earlier query's same tuple */
	prog = q->dir == NF_DIR_INGRESS ? dp__prog_fd(x->f->dp, NF_PROG_TC_INGRESS) : dp__prog_fd(x->f->dp, NF_PROG_TC_EGRESS);
	assert_int_equal(dpt_run(x->f, prog, p.b, p.len, IFINDEX, &ret), 0);
	*rule = 0;
	if (ret == DPT_TC_SHOT)
		return;
	assert_int_equal(ret, DPT_TC_OK);
	dp__young_flush(x->f->dp);	/* a young connection's entry into nf_ct */
	if (bpf_map_lookup_elem(dp__map_fd(x->f->dp, NF_MAP_CT), &k, &v))
		fail_msg("IPv%d %s %s proto %u port %u: passed but no flow was tracked", q->family,
			 q->dir == NF_DIR_INGRESS ? "from" : "to", peer, q->proto, q->port);
	assert_int_equal(bpf_map_delete_elem(dp__map_fd(x->f->dp, NF_MAP_CT), &k), 0);
	*rule = v.rule_ref;
}

/* ---- the test ---- */

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	size_t i;

	if (!x)
		return -1;
	*state = x;
	if (!dpt_can_bpf())
		return 0;
	if (dpt_open(&x->f)) {
		fprintf(stderr, "cannot load a private datapath\n");
		return -1;
	}
	x->me = dpt_tenant(x->f, TENANT);
	if (!x->me || dpt_add_endpoint(x->f, IFINDEX, x->me, EP_ID, 0) ||
	    dpt_add_ep_addr(x->f, EP_ID, EP) || dpt_add_ep_addr(x->f, EP_ID, "fd00::" EP))
		return -1;
	/* t1..t4 have ids; t5 has none (a selector naming it selects nothing) */
	for (i = 0; i < sizeof(ipcache) / sizeof(ipcache[0]); i++) {
		char v6[64];
		unsigned int plen = atoi(strchr(ipcache[i].cidr, '/') + 1);

		x->ids[i] = ipcache[i].tenant ? dpt_tenant(x->f, ipcache[i].tenant) : NF_ID_HOST;
		snprintf(v6, sizeof(v6), "fd00::%.*s/%u",
			 (int)(strchr(ipcache[i].cidr, '/') - ipcache[i].cidr), ipcache[i].cidr,
			 96 + plen);
		if (!x->ids[i] || dpt_ipcache(x->f, ipcache[i].cidr, x->ids[i]) ||
		    dpt_ipcache(x->f, v6, x->ids[i]))
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	if (x)
		dpt_close(x->f);
	free(x);
	return 0;
}

static void set_host_ingress(struct fx *x, bool on)
{
	struct nf_config cfg;
	__u32 zero = 0;

	assert_int_equal(bpf_map_lookup_elem(dp__map_fd(x->f->dp, NF_MAP_CONFIG), &zero, &cfg), 0);
	cfg.flags = on ? cfg.flags | NF_CFG_ALLOW_HOST_INGRESS : cfg.flags & ~NF_CFG_ALLOW_HOST_INGRESS;
	assert_int_equal(bpf_map_update_elem(dp__map_fd(x->f->dp, NF_MAP_CONFIG), &zero, &cfg, BPF_ANY), 0);
}

static void gen_query(struct query *q)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP,
					  IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_SCTP, PKT_ICMP, 47 };
	uint32_t k = rndn(10);

	q->family = rndn(3) ? 4 : 6;
	q->dir = (uint8_t)rndn(2);
	if (k < 5 && n_hot) {
		q->peer = hot[rndn((uint32_t)n_hot)];
		if (rndn(2))	/* a neighbour: just inside or outside */
			q->peer += rndn(2) ? 1 : -1;
	} else if (k < 6) {
		q->peer = rndn(2) ? 0x0A020304 : 0x0A000007;	/* the node */
	} else {
		q->peer = pool_addr();
	}
	if (q->peer >> 24 != 10)	/* a neighbour of 0.0.0.0 or 10.0.0.0 */
		q->peer = pool_addr();
	q->proto = protos[rndn(sizeof(protos))];
	k = rndn(10);
	if (k < 6) {
		q->port = port_pool[rndn(sizeof(port_pool) / sizeof(port_pool[0]))];
		if (rndn(2))
			q->port += rndn(2) ? 1 : -1;
	} else {
		q->port = (uint16_t)rnd();
	}
	if (!q->port || q->proto == PKT_ICMP || q->proto == 47)
		q->port = q->proto == PKT_ICMP || q->proto == 47 ? 0 : 1;
}

static void test_bpf_vs_userspace(void **state)
{
	struct fx *x = *state;
	unsigned long seed = env_ul("NF_SEED", 0);
	size_t rounds = env_ul("NF_ROUNDS", 100), queries = env_ul("NF_QUERIES", 300), r, i;
	size_t allowed = 0, denied = 0, by_ident = 0, by_host = 0, total = 0;
	struct nf_lookup_maps maps;
	struct nf_lookup_src live, mem;

	if (!x->f)
		skip();
	if (!seed)
		seed = 20250101;	/* fixed, so CI runs are reproducible */
	rng = seed * 0x9E3779B97F4A7C15ULL | 1;
	print_message("bpf vs userspace lookup: NF_SEED=%lu, %zu rounds x %zu queries\n", seed,
		      rounds, queries);
	maps = (struct nf_lookup_maps){ .policy = dp__map_fd(x->f->dp, NF_MAP_POLICY),
					.ports = dp__map_fd(x->f->dp, NF_MAP_PORTS),
					.ipcache = dp__map_fd(x->f->dp, NF_MAP_IPCACHE),
					.config = dp__map_fd(x->f->dp, NF_MAP_CONFIG) };
	lookup__src_maps(&live, &maps);

	for (r = 0; r < rounds; r++) {
		struct nf_docset *ds = NULL;
		struct nf_rule_names *names = NULL;
		struct nf_tenant_info ti;
		struct nf_compiled *c;
		bool host_in = r % 2 == 0;
		char *json;

		n_hot = 0;
		json = gen_policies();
		c = install(x, json, &ds);
		set_host_ingress(x, host_in);
		assert_int_equal(dp__tenant_info(x->f->dp, x->me, &ti), 0);
		assert_int_equal(ti.epoch, c->epoch);
		lookup__src_compiled(&mem, c);
		if (lookup__names_read(dp__tenant_dir(x->f->dp), x->me, TENANT, ti.epoch, &names))
			fail_msg("round %zu: no rule names for epoch %u", r, ti.epoch);

		for (i = 0; i < queries; i++) {
			struct query q;
			struct nf_query nq = {};
			uint32_t b_rule, l_rule, m_rule, c_rule, l_peer;
			char peer[32];

			gen_query(&q);
			bpf_verdict(x, &q, &b_rule);

			nq.dir = q.dir;
			v4_text(q.peer, peer, sizeof(peer));
			assert_int_equal(pkt_addr16(peer, q.family, nq.addr), 0);
			nq.proto = q.proto == PKT_ICMP ?
					   (q.family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6) :
					   q.proto;
			nq.port = q.port;
			assert_int_equal(lookup__judge(&live, x->me, ti.epoch, &nq, &l_peer, &l_rule), 0);
			nq.peer_id = model_peer_id(x, q.peer);
			assert_int_equal(lookup__decide(&mem, x->me, ti.epoch, &nq,
							host_in ? NF_CFG_ALLOW_HOST_INGRESS : 0, &m_rule),
					 0);
			c_rule = compile__lookup(c, &nq);
			if (b_rule != l_rule || b_rule != m_rule || l_peer != nq.peer_id ||
			    (b_rule != NF_RULE_HOST && c_rule != b_rule)) {
				print_error("policies:\n%s\n", json);
				fail_msg("NF_SEED=%lu round %zu query %zu: IPv%d %s %s %s/%u: datapath "
					 "rule %u, lookup over the maps %u (peer id %u), over the "
					 "compiled tables %u (peer id %u), compile__lookup %u",
					 seed, r, i, q.family,
					 q.dir == NF_DIR_INGRESS ? "ingress from" : "egress to", peer,
					 q.proto == PKT_ICMP ? "icmp" : q.proto == 47 ? "gre" :
					 q.proto == IPPROTO_TCP ? "tcp" : q.proto == IPPROTO_UDP ? "udp" :
					 "sctp", q.port, b_rule, l_rule, l_peer, m_rule, nq.peer_id,
					 c_rule);
			}
			total++;
			if (!b_rule) {
				denied++;
				continue;
			}
			allowed++;
			if (b_rule == NF_RULE_HOST) {
				by_host++;
				continue;
			}
			/* `check`'s names say what the compiler numbered */
			{
				const struct nf_rule_info *ri = &c->rules[b_rule - 1];
				const char *pol;
				uint32_t index;
				uint8_t rdir;

				assert_true(b_rule <= c->n_rules);
				pol = lookup__rule_name(names, b_rule, &rdir, &index);
				assert_non_null(pol);
				assert_string_equal(pol, ri->policy);
				assert_int_equal(rdir, ri->dir);
				assert_int_equal(index, ri->index);
				assert_int_equal(ri->dir, q.dir);
			}
			{
				struct nf_class ac, ic;
				uint32_t ar, aa;

				assert_int_equal(lookup__peer_classes(&mem, x->me, ti.epoch, q.dir,
								      nq.addr, nq.peer_id, &ac, &ic), 0);
				assert_int_equal(lookup__class_decide(&mem, &ac, nq.proto, nq.port, &ar,
								      &aa), 0);
				if (!ar)
					by_ident++;
			}
		}
		/* every flow was found (and deleted) by the key it had to have */
		assert_true(ct_empty(x));
		lookup__names_free(names);
		compile__free(c);
		policy__docset_free(ds);
		free(json);
	}
	print_message("bpf vs userspace lookup: %zu queries: %zu allowed (%zu by an identity "
		      "class, %zu node ingress), %zu denied\n",
		      total, allowed, by_ident, by_host, denied);
	/* The generator must reach every outcome, or the comparison proves little. */
	assert_true(allowed >= total / 10);
	assert_true(denied >= total / 10);
	assert_true(by_ident >= total / 100);
	assert_true(by_host > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bpf_vs_userspace, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
