// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SPEC §11 (labels, pods, named ports) and §13 (cluster policy tiers),
 * randomized and differential: the datapath's verdict against the reference
 * evaluator (refeval), which reads the policies literally and shares nothing
 * with the compiler but the selector primitive, nf_selector_matches() (checked here on its own).
 *
 * Each round draws a universe and writes it as JSON for the real parser:
 *   - tenants t1..t4 and "me" with ids (t5 has none: selectors may name it),
 *     each maybe with a Namespace document (labels env, team);
 *   - label identities: pods with random labels (app, role, tier, sometimes
 *     none) and named container ports (http, metrics, dns over TCP/UDP/SCTP,
 *     numbers from a small pool), 1-3 pod addresses each, in the ipcache as
 *     NF_IDENT(tenant id, index); pods with neither labels nor named ports
 *     carry the bare tenant id, as do Tenant-like CIDRs (10.T.0.0/16); some
 *     addresses belong to no pod (world), one is the node's;
 *   - the endpoint's own Pod (labels, named ports) and 0-4 NetworkPolicies of
 *     "me": podSelector subjects ({} / matchLabels / matchExpressions In,
 *     NotIn, Exists, DoesNotExist), peers podSelector alone, namespaceSelector
 *     alone (on the name label, on other labels, {}), both, ipBlock (with
 *     excepts), empty from/to; ports numeric, ranges, named; both directions,
 *     policyTypes sometimes defaulted.
 *   - in about half of the rounds (1 in NF_CNP_ODDS have none), 1-4
 *     cluster policies (SPEC §13): ClusterNetworkPolicies Admin or Baseline,
 *     some AdminNetworkPolicies, at most one BaselineAdminNetworkPolicy
 *     (v1alpha1); priorities from a small pool (ties, then ordered by kind
 *     and name), subjects by namespaces or pods, rules Accept / Deny / Pass
 *     (Pass in Admin only) with peers namespaces, pods (namespaceSelector
 *     optional in v1alpha2) and, egress, networks; protocols tcp/udp/sctp
 *     with numbers and ranges, destinationNamedPort (v1alpha1: ports
 *     portNumber, portRange, namedPort), or none. A third of those rounds
 *     have no NetworkPolicy, so that Baseline decides.
 * The policies that select the endpoint (compile__subject_matches, as apply
 * picks them; cluster policies also by namespace subject) are compiled with
 * compile__tenant_env (every tenant, every identity, the Namespace labels,
 * the endpoint's named ports) and installed on a private datapath. Random
 * first packets (TCP SYN, UDP, SCTP, ICMP echo, GRE, IPv4 and IPv6) to and
 * from random peers go through tc_ingress / tc_egress with
 * BPF_PROG_TEST_RUN. For each one:
 *   - allowed or not must be what refeval__decide_tiers says over ALL the
 *     tenant's policies and the cluster policies whose namespace subject
 *     selects it (it selects pod subjects itself), with the endpoint's, the
 *     peer identity's and the namespaces' labels; a drop must count exactly
 *     one packet of the reason refeval's verdict gives (admin_denied for an
 *     Admin Deny, baseline_denied for a Baseline Deny, else policy_denied);
 *   - lookup__judge over the live maps, lookup__decide over the compiled
 *     tables and compile__lookup must give the same decision word (the
 *     allowed flow's rule_ref in conntrack, when it passed), and the peer
 *     identity lookup__judge reads must be this file's model of the ipcache;
 *   - when refeval's verdict comes from an Admin or Baseline rule, the word
 *     names exactly that policy and rule index, with its action; from the
 *     NetworkPolicy tier, the rule it names (rule names file = compiler's
 *     numbering) must be of a policy that selects the endpoint and match the
 *     query on its own (refeval over that one rule): the compiler may pick
 *     another matching rule than refeval's first (address class first, port
 *     blocks: abi.h); with no rule deciding, the word is 0.
 * Every policy's selectors are also compared, on every label set of the
 * universe, with this file's own reading of Kubernetes' label selectors over
 * the generator's model (not the parsed IR).
 *
 * Deterministic: NF_SEED (printed; default fixed), NF_ROUNDS, NF_QUERIES,
 * NF_CNP_ODDS (0: no cluster policies). A mismatch prints the round's
 * documents, the ipcache, the identities and the query.
 * Flows are deleted from nf_ct behind the datapath's back; the tenant's
 * tracking share (nf_usage) is reset after each round for the same reason.
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
#define EP	"10.200.0.1"
#define NODE	0x0A000007u	/* 10.0.0.7: the node's */
#define NS_NAME "kubernetes.io/metadata.name"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

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

static uint32_t mask_of(unsigned int plen)
{
	return plen ? 0xFFFFFFFFu << (32 - plen) : 0;
}

static void v4_text(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* ---- JSON text ---- */

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

/* ---- label pools and the generator's model of label sets and selectors ---- */

struct lkey {
	const char *key;
	const char *vals[4];	/* the last one: only selectors use it */
	unsigned int n_vals;
};

static const struct lkey pod_keys[] = {
	{ "app", { "web", "db", "api", "cache" }, 4 },
	{ "role", { "front", "back", "batch" }, 3 },
	{ "tier", { "1", "2", "3" }, 3 },
};

static const struct lkey ns_keys[] = {
	{ NS_NAME, { "me", "t1", "t2", "t5" }, 4 },	/* more names below */
	{ "env", { "prod", "dev", "qa" }, 3 },
	{ "team", { "a", "b", "c" }, 3 },
};

/* Tenants: index into this; t5 has no id. Address block 10.<blk>.0.0/16. */
static const char *const tnames[] = { "t1", "t2", "t3", "t4", "t5", TENANT };
static const uint8_t tblock[] = { 1, 2, 3, 4, 5, 6 };
#define N_TEN ARRAY_LEN(tnames)
#define ME 5
#define NO_ID 4
static const char *const sel_names[] = { "t1", "t2", "t3", "t4", "t5", TENANT, "zz" };

#define MAX_L 4
struct lset {
	const char *k[MAX_L];
	const char *v[MAX_L];
	unsigned int n;
};

static const char *lset_get(const struct lset *l, const char *k)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->k[i], k))
			return l->v[i];
	return NULL;
}

#define MAX_REQ 4
#define MAX_VAL 3
struct mreq {
	const char *key;
	int op;			/* enum nf_sel_op */
	const char *vals[MAX_VAL];
	unsigned int n_vals;
};

struct msel {
	struct mreq r[MAX_REQ];
	unsigned int n;
};

/* This file's reading of Kubernetes' labels.Selector.Matches. */
static bool msel_matches(const struct msel *s, const struct lset *l)
{
	unsigned int i, j;

	for (i = 0; i < s->n; i++) {
		const char *v = lset_get(l, s->r[i].key);
		bool in = false;

		for (j = 0; v && j < s->r[i].n_vals; j++)
			in |= !strcmp(v, s->r[i].vals[j]);
		switch (s->r[i].op) {
		case NF_SEL_IN:
			if (!in)
				return false;
			break;
		case NF_SEL_NOTIN:
			if (in)
				return false;	/* an absent key is not In anything */
			break;
		case NF_SEL_EXISTS:
			if (!v)
				return false;
			break;
		default:
			if (v)
				return false;
		}
	}
	return true;
}

static const char *const op_names[] = { "In", "NotIn", "Exists", "DoesNotExist" };

/*
 * A random selector over keys: matchLabels (distinct keys) and/or
 * matchExpressions; n == 0 sometimes (selects everything).
 */
static void gen_selector(struct buf *b, const struct lkey *keys, unsigned int n_keys,
			 struct msel *m, unsigned int empty_odds)
{
	unsigned int n_ml = 0, n_me = 0, i, j, used = 0;

	m->n = 0;
	if (rndn(empty_odds) == 0) {
		put(b, "{}");
		return;
	}
	n_ml = rndn(2) ? 1 + (rndn(4) == 0) : 0;
	n_me = n_ml && rndn(3) ? 0 : 1 + (rndn(3) == 0);
	put(b, "{");
	if (n_ml) {
		put(b, "\"matchLabels\":{");
		for (i = 0; i < n_ml && i < n_keys; i++) {
			const struct lkey *k;
			unsigned int ki;

			do
				ki = rndn(n_keys);
			while (used & 1u << ki);
			used |= 1u << ki;
			k = &keys[ki];
			m->r[m->n] = (struct mreq){ .key = k->key, .op = NF_SEL_IN, .n_vals = 1 };
			m->r[m->n].vals[0] = k->vals[rndn(k->n_vals)];
			if (ki == 0 && keys == ns_keys)
				m->r[m->n].vals[0] = sel_names[rndn(ARRAY_LEN(sel_names))];
			put(b, "%s\"%s\":\"%s\"", i ? "," : "", k->key, m->r[m->n].vals[0]);
			m->n++;
		}
		put(b, "}");
	}
	if (n_me) {
		put(b, "%s\"matchExpressions\":[", n_ml ? "," : "");
		for (i = 0; i < n_me && m->n < MAX_REQ; i++) {
			unsigned int ki = rndn(n_keys);
			const struct lkey *k = &keys[ki];
			struct mreq *r = &m->r[m->n++];

			*r = (struct mreq){ .key = k->key, .op = (int)rndn(4) };
			put(b, "%s{\"key\":\"%s\",\"operator\":\"%s\"", i ? "," : "", k->key,
			    op_names[r->op]);
			if (r->op == NF_SEL_IN || r->op == NF_SEL_NOTIN) {
				r->n_vals = 1 + rndn(MAX_VAL);
				put(b, ",\"values\":[");
				for (j = 0; j < r->n_vals; j++) {
					r->vals[j] = ki == 0 && keys == ns_keys ?
							     sel_names[rndn(ARRAY_LEN(sel_names))] :
							     k->vals[rndn(k->n_vals)];
					put(b, "%s\"%s\"", j ? "," : "", r->vals[j]);
				}
				put(b, "]");
			}
			put(b, "}");
		}
		put(b, "]");
	}
	put(b, "}");
}

/* ---- the universe ---- */

struct named {
	const char *name;
	uint8_t proto;
	uint16_t port;
};

#define MAX_IDS 64
#define MAX_IPS 3
#define MAX_NP 3
struct ident {
	unsigned int t;			/* tenant index */
	uint32_t idx;			/* 0: the bare tenant id */
	struct lset l;
	struct named np[MAX_NP];
	unsigned int n_np;
	char key[256];			/* labels + ports, to merge equal ones */
	uint32_t ips[MAX_IPS];
	unsigned int n_ips;
	/* parsed (from the Pod document) */
	const struct nf_pod_obj *pod;
};

struct ipc_ent {
	uint32_t addr;
	unsigned int plen;
	uint32_t id;
};

#define MAX_IPC 256
#define MAX_HOT 2048
#define MAX_POL 4
#define MAX_CNP 4		/* cluster policies (SPEC §13) in a round */
#define MAX_RULES 5
#define MAX_PEERS 3

struct mpeer {
	bool has_pod, has_ns;
	struct msel pod, ns;
};

struct mpol {
	struct msel subject;
	struct msel ns_subject;	/* a cluster policy's subject namespaces */
	struct mpeer peers[NF_DIR_MAX][MAX_RULES][MAX_PEERS];
	unsigned int n_peers[NF_DIR_MAX][MAX_RULES];
	unsigned int n_rules[NF_DIR_MAX];
};

struct fx {
	struct dpt *f;
	uint32_t tid[N_TEN];		/* 0: no id */
	/* this round */
	struct ident ids[MAX_IDS];
	unsigned int n_ids;
	unsigned int n_pods[N_TEN];	/* addresses given out per tenant */
	struct ident *ep;		/* the endpoint's identity */
	bool has_ns[N_TEN];
	struct lset ns[N_TEN];		/* the Namespace's labels, name label included */
	const struct nf_labels *ns_parsed[N_TEN];
	struct ipc_ent ipc[MAX_IPC];
	size_t n_ipc;
	uint32_t hot[MAX_HOT];
	size_t n_hot;
	struct mpol mp[MAX_POL];
	unsigned int n_pols;
	struct mpol mc[MAX_CNP];	/* the cluster policies' models */
	unsigned int n_cnps;
	int banp;			/* mc index of the BaselineAdminNetworkPolicy, or -1 */
	/* what refeval judges by: the tenant's policies and the cluster
	 * policies whose namespace subject selects it */
	struct nf_policy *ref_pols[MAX_POL + MAX_CNP];
	size_t n_ref_pols;
	struct nf_docset *ds;
	/* the compile's environment */
	const char *env_tenants[N_TEN];
	struct nf_identity env_ids[MAX_IDS];
};

static void hot_add(struct fx *x, uint32_t a)
{
	if (x->n_hot < MAX_HOT)
		x->hot[x->n_hot++] = a;
}

static void ipc_add(struct fx *x, uint32_t addr, unsigned int plen, uint32_t id)
{
	assert_true(x->n_ipc < MAX_IPC);
	x->ipc[x->n_ipc++] = (struct ipc_ent){ addr, plen, id };
}

/* The identity the ipcache gives a v4 address: longest prefix (0: world). */
static uint32_t model_peer_id(const struct fx *x, uint32_t a)
{
	int best = -1;
	uint32_t id = 0;
	size_t i;

	for (i = 0; i < x->n_ipc; i++)
		if ((a & mask_of(x->ipc[i].plen)) == x->ipc[i].addr && (int)x->ipc[i].plen > best) {
			best = (int)x->ipc[i].plen;
			id = x->ipc[i].id;
		}
	return id;
}

static const struct named port_names[] = {
	{ "http", IPPROTO_TCP, 0 },	{ "http", IPPROTO_UDP, 0 },  { "metrics", IPPROTO_TCP, 0 },
	{ "metrics", IPPROTO_SCTP, 0 }, { "dns", IPPROTO_UDP, 0 },   { "dns", IPPROTO_TCP, 0 },
};
static const uint16_t named_nums[] = { 53, 80, 443, 8080, 9090, 1000 };
static const uint16_t port_pool[] = { 22, 53, 80, 443, 1000, 1024, 8080, 9090, 65535 };

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_UDP ? "UDP" : p == IPPROTO_SCTP ? "SCTP" : "TCP";
}

/* Random labels and named ports (names unique in a pod, as Kubernetes wants). */
static void gen_pod_labels(struct ident *d, unsigned int none_odds)
{
	unsigned int i, used = 0;
	size_t o = 0;

	d->l.n = 0;
	d->n_np = 0;
	if (rndn(none_odds) == 0)
		goto key;
	for (i = 0; i < ARRAY_LEN(pod_keys); i++) {
		if (rndn(3) == 0)
			continue;
		d->l.k[d->l.n] = pod_keys[i].key;
		d->l.v[d->l.n++] = pod_keys[i].vals[rndn(pod_keys[i].n_vals - 1)];
	}
	for (i = rndn(3); i; i--) {
		const struct named *n = &port_names[rndn(ARRAY_LEN(port_names))];
		unsigned int bit = !strcmp(n->name, "http") ? 1 : !strcmp(n->name, "dns") ? 2 : 4;

		if (used & bit)
			continue;
		used |= bit;
		d->np[d->n_np] = *n;
		d->np[d->n_np++].port = named_nums[rndn(ARRAY_LEN(named_nums))];
	}
key:
	/* labels come in pod_keys order; ports: sort by name */
	for (i = 1; i < d->n_np; i++)
		for (unsigned int j = i; j && strcmp(d->np[j - 1].name, d->np[j].name) > 0; j--) {
			struct named t = d->np[j];

			d->np[j] = d->np[j - 1];
			d->np[j - 1] = t;
		}
	d->key[0] = 0;
	for (i = 0; i < d->l.n; i++)
		o += (size_t)snprintf(d->key + o, sizeof(d->key) - o, "%s=%s,", d->l.k[i], d->l.v[i]);
	for (i = 0; i < d->n_np; i++)
		o += (size_t)snprintf(d->key + o, sizeof(d->key) - o, "|%s/%u/%u", d->np[i].name,
				      d->np[i].proto, d->np[i].port);
}

/* The identity of tenant t with d's labels and ports (added if new). */
static struct ident *ident_of(struct fx *x, unsigned int t, const struct ident *d)
{
	uint32_t next = 1;
	unsigned int i;

	for (i = 0; i < x->n_ids; i++) {
		if (x->ids[i].t != t)
			continue;
		if (!strcmp(x->ids[i].key, d->key))
			return &x->ids[i];
		if (x->ids[i].idx >= next)
			next = x->ids[i].idx + 1;
	}
	assert_true(x->n_ids < MAX_IDS);
	x->ids[x->n_ids] = *d;
	x->ids[x->n_ids].t = t;
	x->ids[x->n_ids].n_ips = 0;
	x->ids[x->n_ids].pod = NULL;
	/* no labels and no named ports: the bare tenant id (index 0) */
	x->ids[x->n_ids].idx = d->key[0] ? next : 0;
	return &x->ids[x->n_ids++];
}

static uint32_t ident_id(const struct fx *x, const struct ident *d)
{
	return NF_IDENT(x->tid[d->t], d->idx);
}

/* A fresh pod address of tenant t: 10.<blk>.1.n, or (remote pods) 10.8.<blk>.n. */
static uint32_t pod_addr(struct fx *x, unsigned int t)
{
	unsigned int n = ++x->n_pods[t];

	if (rndn(5) == 0)
		return 10u << 24 | 8u << 16 | (uint32_t)tblock[t] << 8 | (100 + n);
	return 10u << 24 | (uint32_t)tblock[t] << 16 | 1u << 8 | n;
}

static void gen_universe(struct fx *x, struct buf *b)
{
	unsigned int t, i, k;

	x->n_ids = 0;
	x->n_ipc = 0;
	x->n_hot = 0;
	memset(x->n_pods, 0, sizeof(x->n_pods));
	/* Namespaces */
	for (t = 0; t < N_TEN; t++) {
		struct lset *l = &x->ns[t];

		l->n = 0;
		l->k[l->n] = NS_NAME;
		l->v[l->n++] = tnames[t];
		x->has_ns[t] = rndn(4) != 0;
		if (!x->has_ns[t])
			continue;
		for (i = 1; i < ARRAY_LEN(ns_keys); i++)
			if (rndn(3)) {
				l->k[l->n] = ns_keys[i].key;
				l->v[l->n++] = ns_keys[i].vals[rndn(ns_keys[i].n_vals - 1)];
			}
		put(b, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\","
		       "\"labels\":{",
		    tnames[t]);
		for (i = 1; i < l->n; i++)
			put(b, "%s\"%s\":\"%s\"", i > 1 ? "," : "", l->k[i], l->v[i]);
		put(b, "}}},");
	}
	/* Pods of every tenant with an id (the endpoint's first) */
	for (t = 0; t < N_TEN; t++) {
		unsigned int n = t == NO_ID ? 0 : rndn(6);

		if (!x->tid[t])
			continue;
		/* Tenant-like CIDR: the bare tenant id, most of the time */
		if (rndn(5))
			ipc_add(x, 10u << 24 | (uint32_t)tblock[t] << 16, 16, x->tid[t]);
		for (i = 0; i < n; i++) {
			struct ident d, *id;

			gen_pod_labels(&d, 5);
			id = ident_of(x, t, &d);
			for (k = 1 + rndn(MAX_IPS); k && id->n_ips < MAX_IPS; k--)
				id->ips[id->n_ips++] = pod_addr(x, t);
		}
	}
	{
		struct ident d;

		gen_pod_labels(&d, 6);
		x->ep = ident_of(x, ME, &d);
		ipc_add(x, 0x0AC80001u, 32, ident_id(x, x->ep));	/* EP itself */
	}
	ipc_add(x, NODE, 32, NF_ID_HOST);
	for (i = 0; i < x->n_ids; i++) {
		struct ident *d = &x->ids[i];

		for (k = 0; k < d->n_ips; k++) {
			ipc_add(x, d->ips[k], 32, ident_id(x, d));
			hot_add(x, d->ips[k]);
		}
		if (!d->idx)
			continue;
		/* its Pod document: labels and named ports for the parser */
		put(b, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"id-%u\","
		       "\"namespace\":\"%s\",\"labels\":{",
		    i, tnames[d->t]);
		for (k = 0; k < d->l.n; k++)
			put(b, "%s\"%s\":\"%s\"", k ? "," : "", d->l.k[k], d->l.v[k]);
		put(b, "}},\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[");
		for (k = 0; k < d->n_np; k++)
			put(b, "%s{\"name\":\"%s\",\"containerPort\":%u,\"protocol\":\"%s\"}",
			    k ? "," : "", d->np[k].name, d->np[k].port, proto_name(d->np[k].proto));
		put(b, "]}]},\"status\":{\"phase\":\"Running\"}},");
	}
}

/* ---- random policies of "me" ---- */

/* An address worth covering: a pod's, a tenant block's, the node's, the world's. */
static uint32_t some_addr(struct fx *x)
{
	unsigned int k = rndn(10);

	if (k < 5 && x->n_hot)
		return x->hot[rndn((uint32_t)x->n_hot)];
	if (k < 8)
		return 10u << 24 | (uint32_t)tblock[rndn(N_TEN)] << 16 | rndn(3) << 8 | rndn(256);
	if (k < 9)
		return NODE;
	return 10u << 24 | (7 + rndn(2)) << 16 | rndn(256) << 8 | rndn(256);
}

/* A random CIDR worth covering, quoted (IPv6: fd00::/96 + an IPv4 one, or wider). */
static void gen_cidr(struct fx *x, struct buf *b, uint32_t *base_out, unsigned int *plen_out,
		     bool *v6_out)
{
	static const uint8_t plens[] = { 0, 8, 12, 16, 16, 20, 24, 24, 28, 30, 32, 32 };
	bool v6 = rndn(3) == 0;
	unsigned int plen = plens[rndn(sizeof(plens))];
	uint32_t base = some_addr(x) & mask_of(plen);
	char t[32];

	v4_text(base, t, sizeof(t));
	hot_add(x, base);
	if (v6 && plen == 0)
		put(b, "\"%s\"", rndn(2) ? "::/0" : "fd00::/64");
	else if (v6)
		put(b, "\"fd00::%s/%u\"", t, 96 + plen);
	else
		put(b, "\"%s/%u\"", t, plen);
	*base_out = base;
	*plen_out = plen;
	*v6_out = v6;
}

static void gen_ipblock(struct fx *x, struct buf *b)
{
	unsigned int plen;
	uint32_t base;
	bool v6;
	char t[32];
	int i, n_ex;

	put(b, "{\"ipBlock\":{\"cidr\":");
	gen_cidr(x, b, &base, &plen, &v6);
	n_ex = plen < 32 && rndn(2) ? 1 + (int)rndn(3) : 0;
	if (n_ex) {
		put(b, ",\"except\":[");
		for (i = 0; i < n_ex; i++) {
			unsigned int ep = plen + 1 + rndn(32 - plen);
			uint32_t ea = (base | (some_addr(x) & ~mask_of(plen))) & mask_of(ep);

			v4_text(ea, t, sizeof(t));
			hot_add(x, ea);
			if (v6)
				put(b, "%s\"fd00::%s/%u\"", i ? "," : "", t, 96 + ep);
			else
				put(b, "%s\"%s/%u\"", i ? "," : "", t, ep);
		}
		put(b, "]");
	}
	put(b, "}}");
}

static void gen_peer(struct fx *x, struct buf *b, struct mpeer *m)
{
	unsigned int k = rndn(10);

	m->has_pod = m->has_ns = false;
	if (k < 2) {
		gen_ipblock(x, b);
		return;
	}
	put(b, "{");
	if (k < 6 || k >= 8) {	/* podSelector: alone, or with a namespaceSelector */
		m->has_pod = true;
		put(b, "\"podSelector\":");
		gen_selector(b, pod_keys, ARRAY_LEN(pod_keys), &m->pod, 5);
	}
	if (k >= 6) {
		m->has_ns = true;
		put(b, "%s\"namespaceSelector\":", m->has_pod ? "," : "");
		/* on the name label alone half of the time */
		gen_selector(b, ns_keys, rndn(2) ? 1 : ARRAY_LEN(ns_keys), &m->ns, 6);
	}
	put(b, "}");
}

static void gen_ports(struct buf *b)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	unsigned int n = 1 + rndn(3), i;

	put(b, ",\"ports\":[");
	for (i = 0; i < n; i++) {
		unsigned int k = rndn(10);

		put(b, "%s{", i ? "," : "");
		if (k < 4) {	/* named: the protocol must agree with the pod's */
			const struct named *np = &port_names[rndn(ARRAY_LEN(port_names))];
			const char *name = rndn(8) ? np->name : "grpc";	/* a name no pod has */

			if (np->proto != IPPROTO_TCP || rndn(2))
				put(b, "\"protocol\":\"%s\",", proto_name(np->proto));
			put(b, "\"port\":\"%s\"}", name);
			continue;
		}
		if (k == 9) {	/* every port of the protocol */
			put(b, "\"protocol\":\"%s\"}", proto_name(protos[rndn(3)]));
			continue;
		}
		if (rndn(4))
			put(b, "\"protocol\":\"%s\",", proto_name(protos[rndn(3)]));
		{
			uint16_t p = port_pool[rndn(ARRAY_LEN(port_pool))];

			put(b, "\"port\":%u", p);
			if (k == 8) {
				uint32_t end = p + rndn(rndn(2) ? 40 : 3000);

				put(b, ",\"endPort\":%u", end > 65535 ? 65535 : end);
			}
		}
		put(b, "}");
	}
	put(b, "]");
}

static void gen_rules(struct fx *x, struct buf *b, struct mpol *m, int dir)
{
	const char *peers_key = dir == NF_DIR_INGRESS ? "from" : "to";
	unsigned int n = rndn(MAX_RULES), i, j, np;

	m->n_rules[dir] = n;
	put(b, ",\"%s\":[", dir == NF_DIR_INGRESS ? "ingress" : "egress");
	for (i = 0; i < n; i++) {
		put(b, "%s{", i ? "," : "");
		np = rndn(7) == 0 ? 0 : 1 + rndn(MAX_PEERS);	/* 0: any peer */
		m->n_peers[dir][i] = np;
		if (np || rndn(2)) {
			put(b, "\"%s\":[", peers_key);
			for (j = 0; j < np; j++) {
				if (j)
					put(b, ",");
				gen_peer(x, b, &m->peers[dir][i][j]);
			}
			put(b, "]");
		}
		if (rndn(5)) {	/* else: every protocol and port */
			if (b->s[b->n - 1] == '{')
				put(b, "\"ports\":[]");	/* an empty list: every port, too */
			else
				gen_ports(b);
		}
		put(b, "}");
	}
	put(b, "]");
}

/* A podSelector that selects the endpoint (and maybe others): one of its labels. */
static void gen_subject_of(struct fx *x, struct buf *b, struct msel *m)
{
	unsigned int i = rndn(x->ep->l.n);
	struct mreq *r = &m->r[0];

	m->n = 1;
	*r = (struct mreq){ .key = x->ep->l.k[i], .op = NF_SEL_IN, .n_vals = 1 };
	r->vals[0] = x->ep->l.v[i];
	switch (rndn(3)) {
	case 0:
		put(b, "{\"matchLabels\":{\"%s\":\"%s\"}}", r->key, r->vals[0]);
		break;
	case 1:
		r->op = NF_SEL_EXISTS;
		r->n_vals = 0;
		put(b, "{\"matchExpressions\":[{\"key\":\"%s\",\"operator\":\"Exists\"}]}",
		    r->key);
		break;
	default:
		r->op = NF_SEL_NOTIN;
		r->vals[0] = "nope";
		put(b, "{\"matchExpressions\":[{\"key\":\"%s\",\"operator\":\"NotIn\","
		       "\"values\":[\"nope\"]}]}", r->key);
	}
}

/* min_pols..MAX_POL NetworkPolicies of "me". */
static void gen_policies(struct fx *x, struct buf *b, unsigned int min_pols)
{
	unsigned int i;

	x->n_pols = min_pols + rndn(MAX_POL + 1 - min_pols);
	for (i = 0; i < x->n_pols; i++) {
		struct mpol *m = &x->mp[i];
		unsigned int types = rndn(5);	/* 0: defaulted; 1 ingress, 2 egress, 3 both */

		memset(m, 0, sizeof(*m));
		put(b, "%s{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			"\"metadata\":{\"name\":\"p%u\",\"namespace\":\"" TENANT "\"},"
			"\"spec\":{\"podSelector\":",
		    i ? "," : "", rndn(100) * 10 + i);	/* names sort in any order */
		if (rndn(3) || !x->ep->l.n)
			gen_selector(b, pod_keys, ARRAY_LEN(pod_keys), &m->subject, 3);
		else
			gen_subject_of(x, b, &m->subject);
		if (types == 4)
			types = 3;
		if (types)
			put(b, ",\"policyTypes\":[%s%s%s]", types & 1 ? "\"Ingress\"" : "",
			    types == 3 ? "," : "", types & 2 ? "\"Egress\"" : "");
		if (!types || types & 1)
			gen_rules(x, b, m, NF_DIR_INGRESS);
		if (!types || types & 2)
			gen_rules(x, b, m, NF_DIR_EGRESS);
		put(b, "}}");
	}
}

/* ---- random cluster policies (SPEC §13) ---- */

/* A namespace selector that often selects "me": {}, its name, or any. */
static void gen_ns_subject(struct buf *b, struct msel *m)
{
	switch (rndn(4)) {
	case 0:
		m->n = 0;
		put(b, "{}");
		break;
	case 1:
		m->n = 1;
		m->r[0] = (struct mreq){ .key = NS_NAME, .op = NF_SEL_IN, .n_vals = 1,
					 .vals = { TENANT } };
		put(b, "{\"matchLabels\":{\"" NS_NAME "\":\"" TENANT "\"}}");
		break;
	default:
		gen_selector(b, ns_keys, ARRAY_LEN(ns_keys), m, 6);
	}
}

/*
 * protocols (v1alpha2) or ports (v1alpha1): numbers, ranges, named ports
 * (not with networks peers: upstream forbids it). v1alpha1 numbers may
 * leave the protocol out (TCP); its ranges may be one port, v1alpha2's not.
 */
static void gen_cnp_protocols(struct buf *b, bool named_ok, bool v1)
{
	static const char *const l4[] = { "tcp", "udp", "sctp" };
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	unsigned int n = 1 + rndn(3), i;

	put(b, ",\"%s\":[", v1 ? "ports" : "protocols");
	for (i = 0; i < n; i++) {
		unsigned int k = rndn(10), pi = rndn(3);
		uint16_t p = port_pool[rndn(ARRAY_LEN(port_pool))];
		uint32_t lo = p < 65535 ? p : 65534, hi = lo + !v1 + rndn(rndn(2) ? 40 : 3000);
		const char *name = rndn(8) ? port_names[rndn(ARRAY_LEN(port_names))].name : "grpc";

		if (hi > 65535)
			hi = 65535;
		if (i)
			put(b, ",");
		if (k < 2 && named_ok)
			put(b, "{\"%s\":\"%s\"}", v1 ? "namedPort" : "destinationNamedPort", name);
		else if (k < 7 && v1 && rndn(3))
			put(b, "{\"portNumber\":{\"protocol\":\"%s\",\"port\":%u}}",
			    proto_name(protos[pi]), p);
		else if (k < 7 && v1)
			put(b, "{\"portNumber\":{\"port\":%u}}", p);
		else if (k < 7)
			put(b, "{\"%s\":{\"destinationPort\":{\"number\":%u}}}", l4[pi], p);
		else if (v1)
			put(b, "{\"portRange\":{\"protocol\":\"%s\",\"start\":%u,\"end\":%u}}",
			    proto_name(protos[pi]), lo, hi);
		else
			put(b, "{\"%s\":{\"destinationPort\":{\"range\":"
			       "{\"start\":%u,\"end\":%u}}}}", l4[pi], lo, hi);
	}
	put(b, "]");
}

/*
 * A cluster peer: namespaces, pods (namespaceSelector optional in
 * v1alpha2), networks (egress).
 */
static void gen_cnp_peer(struct fx *x, struct buf *b, int dir, struct mpeer *m, bool *net,
			 bool v1)
{
	unsigned int k = rndn(10);

	m->has_pod = false;
	m->has_ns = true;
	m->ns.n = 0;
	if (k >= 7 && dir == NF_DIR_EGRESS) {	/* one CIDR: one parsed peer */
		unsigned int plen;
		uint32_t base;
		bool v6;

		m->has_ns = false;
		*net = true;
		put(b, "{\"networks\":[");
		gen_cidr(x, b, &base, &plen, &v6);
		put(b, "]}");
		return;
	}
	if (k < 4) {
		put(b, "{\"namespaces\":");
		gen_selector(b, ns_keys, rndn(2) ? 1 : ARRAY_LEN(ns_keys), &m->ns, 4);
		put(b, "}");
		return;
	}
	m->has_pod = true;
	put(b, "{\"pods\":{");
	if (v1 || rndn(3)) {	/* absent: every namespace */
		put(b, "\"namespaceSelector\":");
		gen_selector(b, ns_keys, rndn(2) ? 1 : ARRAY_LEN(ns_keys), &m->ns, 4);
		put(b, ",");
	}
	put(b, "\"podSelector\":");
	gen_selector(b, pod_keys, ARRAY_LEN(pod_keys), &m->pod, 5);
	put(b, "}}");
}

static void gen_cnp_rules(struct fx *x, struct buf *b, struct mpol *m, int dir, bool admin,
			  bool v1)
{
	static const char *const actions[2][3] = { { "Accept", "Deny", "Pass" },
						   { "Allow", "Deny", "Pass" } };
	unsigned int n = 1 + rndn(MAX_RULES - 1), i, j, np;

	m->n_rules[dir] = n;
	put(b, ",\"%s\":[", dir == NF_DIR_INGRESS ? "ingress" : "egress");
	for (i = 0; i < n; i++) {
		bool net = false;

		put(b, "%s{\"action\":\"%s\",", i ? "," : "", actions[v1][rndn(admin ? 3 : 2)]);
		if (rndn(2))
			put(b, "\"name\":\"r%u\",", i);
		np = 1 + rndn(MAX_PEERS);
		m->n_peers[dir][i] = np;
		put(b, "\"%s\":[", dir == NF_DIR_INGRESS ? "from" : "to");
		for (j = 0; j < np; j++) {
			if (j)
				put(b, ",");
			gen_cnp_peer(x, b, dir, &m->peers[dir][i][j], &net, v1);
		}
		put(b, "]");
		if (rndn(4))	/* else: every protocol and port */
			gen_cnp_protocols(b, !net, v1);
		put(b, "}");
	}
	put(b, "]");
}

/*
 * 1..MAX_CNP cluster policies: mostly ClusterNetworkPolicies (Admin or
 * Baseline), some AdminNetworkPolicies and at most one
 * BaselineAdminNetworkPolicy (v1alpha1, named "default"); priorities from a
 * small pool (ties: then by kind, then by name), subjects by namespaces or
 * pods.
 */
static void gen_cluster_policies(struct fx *x, struct buf *b)
{
	static const unsigned int prios[] = { 0, 5, 5, 10, 20 };
	unsigned int i;

	x->n_cnps = 1 + rndn(MAX_CNP);
	x->banp = -1;
	for (i = 0; i < x->n_cnps; i++) {
		struct mpol *m = &x->mc[i];
		unsigned int kind = rndn(10), dirs = 1 + rndn(3);	/* 1 in, 2 eg, 3 both */
		bool v1 = kind >= 7 && (kind < 9 || x->banp < 0), admin;

		memset(m, 0, sizeof(*m));
		put(b, "%s", x->n_pols || i ? "," : "");
		if (!v1) {
			admin = rndn(2) != 0;
			put(b, "{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\","
			       "\"kind\":\"ClusterNetworkPolicy\",\"metadata\":{\"name\":"
			       "\"c%u\"},\"spec\":{\"tier\":\"%s\",\"priority\":%u,",
			    rndn(100) * 10 + i, admin ? "Admin" : "Baseline",
			    prios[rndn(ARRAY_LEN(prios))]);
		} else if (kind < 9) {
			admin = true;
			put(b, "{\"apiVersion\":\"policy.networking.k8s.io/v1alpha1\","
			       "\"kind\":\"AdminNetworkPolicy\",\"metadata\":{\"name\":\"a%u\"},"
			       "\"spec\":{\"priority\":%u,",
			    rndn(100) * 10 + i, prios[rndn(ARRAY_LEN(prios))]);
		} else {
			admin = false;
			x->banp = (int)i;
			put(b, "{\"apiVersion\":\"policy.networking.k8s.io/v1alpha1\","
			       "\"kind\":\"BaselineAdminNetworkPolicy\",\"metadata\":"
			       "{\"name\":\"default\"},\"spec\":{");
		}
		put(b, "\"subject\":");
		if (rndn(3)) {
			put(b, "{\"namespaces\":");
			gen_ns_subject(b, &m->ns_subject);
			put(b, "}");
		} else {
			put(b, "{\"pods\":{\"namespaceSelector\":");
			gen_ns_subject(b, &m->ns_subject);
			put(b, ",\"podSelector\":");
			if (rndn(2) && x->ep->l.n)
				gen_subject_of(x, b, &m->subject);
			else
				gen_selector(b, pod_keys, ARRAY_LEN(pod_keys), &m->subject, 3);
			put(b, "}}");
		}
		if (dirs & 1)
			gen_cnp_rules(x, b, m, NF_DIR_INGRESS, admin, v1);
		if (dirs & 2)
			gen_cnp_rules(x, b, m, NF_DIR_EGRESS, admin, v1);
		put(b, "}}");
	}
}

/* The generator's model of a parsed policy (by its name's last digit). */
static const struct mpol *model_of(const struct fx *x, const struct nf_policy *p)
{
	unsigned int i = (unsigned int)strtoul(p->name + 1, NULL, 10) % 10;

	if (p->cnp_kind == NF_CNP_BANP)
		return &x->mc[x->banp];
	return p->cnp_kind ? &x->mc[i] : &x->mp[i];
}

/* ---- parse and check the parsed documents against the model ---- */

static const struct nf_pod_obj *find_pod(const struct nf_docset *ds, const char *tenant,
					 const char *name)
{
	size_t i;

	for (i = 0; i < ds->n_pods; i++)
		if (!strcmp(ds->pods[i]->tenant, tenant) && !strcmp(ds->pods[i]->name, name))
			return ds->pods[i];
	return NULL;
}

static void parse_round(struct fx *x, const char *json)
{
	struct nf_docset *ds = policy__docset_new();
	unsigned int i, k;
	size_t j;

	assert_non_null(ds);
	policy__load_json(ds, "random.json", json, strlen(json));
	policy__check_duplicates(ds);
	for (j = 0; j < ds->n_problems; j++)
		print_error("%s\n", ds->problems[j]);
	if (ds->n_problems)
		fail_msg("the generated documents are invalid:\n%s", json);
	assert_int_equal(ds->n_policies, x->n_pols);
	assert_int_equal(ds->n_cluster, x->n_cnps);
	x->ds = ds;
	for (i = 0; i < N_TEN; i++) {
		x->ns_parsed[i] = NULL;
		for (j = 0; j < ds->n_namespaces; j++)
			if (!strcmp(ds->namespaces[j]->name, tnames[i]))
				x->ns_parsed[i] = &ds->namespaces[j]->labels;
		assert_true(!x->ns_parsed[i] == !x->has_ns[i]);
	}
	for (i = 0; i < x->n_ids; i++) {
		char name[32];

		if (!x->ids[i].idx)
			continue;
		snprintf(name, sizeof(name), "id-%u", i);
		x->ids[i].pod = find_pod(ds, tnames[x->ids[i].t], name);
		assert_non_null(x->ids[i].pod);
		assert_int_equal(x->ids[i].pod->labels.n, x->ids[i].l.n);
		assert_int_equal(x->ids[i].pod->n_ports, x->ids[i].n_np);
		for (k = 0; k < x->ids[i].n_np; k++) {
			assert_string_equal(x->ids[i].pod->ports[k].name, x->ids[i].np[k].name);
			assert_int_equal(x->ids[i].pod->ports[k].port, x->ids[i].np[k].port);
		}
	}
}

static const struct nf_labels *ident_labels(const struct ident *d)
{
	static const struct nf_labels none;

	return d->pod ? &d->pod->labels : &none;
}

/*
 * Every parsed selector against this file's model, on every label set of
 * the universe (pods: every identity's and the empty set; namespaces: every
 * tenant's). The compiler and refeval share nf_selector_matches(): this is
 * what checks it.
 */
static size_t check_selectors(struct fx *x, uint64_t *sel_true)
{
	static const struct nf_labels none;
	static const struct lset lnone;
	size_t checks = 0, pi;
	unsigned int i, t, dir, r, k;

	for (pi = 0; pi < x->ds->n_policies + x->ds->n_cluster; pi++) {
		const struct nf_policy *p = pi < x->ds->n_policies ? x->ds->policies[pi] :
				x->ds->cluster[pi - x->ds->n_policies];
		const struct mpol *m = model_of(x, p);

		for (t = 0; p->cnp_kind && t < N_TEN; t++) {	/* a cluster policy's subject */
			bool want = msel_matches(&m->ns_subject, &x->ns[t]);

			if (compile__ns_matches(p->ns_subject, tnames[t], x->ns_parsed[t]) != want)
				fail_msg("cluster policy %s: its subject %s namespace %s", p->name,
					 want ? "does not select" : "selects", tnames[t]);
			*sel_true += want;
			checks++;
		}
		for (i = 0; i <= x->n_ids; i++) {
			const struct lset *l = i < x->n_ids ? &x->ids[i].l : &lnone;
			const struct nf_labels *pl = i < x->n_ids ? ident_labels(&x->ids[i]) : &none;
			bool want = msel_matches(&m->subject, l);

			if (compile__subject_matches(p, pl) != want)
				fail_msg("policy %s: its podSelector %s the labels %s", p->name,
					 want ? "does not select" : "selects",
					 i < x->n_ids ? x->ids[i].key : "(none)");
			*sel_true += want;
			checks++;
		}
		for (dir = 0; dir < NF_DIR_MAX; dir++) {
			if (!p->has_dir[dir])
				continue;
			assert_int_equal(p->n_rules[dir], m->n_rules[dir]);
			for (r = 0; r < m->n_rules[dir]; r++) {
				const struct nf_rule *rule = &p->rules[dir][r];

				assert_int_equal(rule->n_peers, m->n_peers[dir][r]);
				for (k = 0; k < rule->n_peers; k++) {
					const struct nf_peer *pe = &rule->peers[k];
					const struct mpeer *mp = &m->peers[dir][r][k];

					if (pe->kind == NF_PK_IPBLOCK) {
						assert_false(mp->has_pod || mp->has_ns);
						continue;
					}
					assert_true(mp->has_pod || mp->has_ns);
					/* a podSelector that selects everything: a tenant peer */
					assert_int_equal(pe->kind, mp->has_pod && mp->pod.n ?
									   NF_PK_PODS : NF_PK_TENANTS);
					for (i = 0; pe->kind == NF_PK_PODS && i <= x->n_ids; i++) {
						const struct lset *l = i < x->n_ids ? &x->ids[i].l : &lnone;
						bool want = msel_matches(&mp->pod, l);

						if (nf_selector_matches(pe->pod_sel, i < x->n_ids ?
							ident_labels(&x->ids[i]) : &none) != want)
							fail_msg("policy %s rule %u peer %u: its "
								 "podSelector %s the labels %s", p->name,
								 r, k, want ? "does not select" : "selects",
								 i < x->n_ids ? x->ids[i].key : "(none)");
						*sel_true += want;
						checks++;
					}
					for (t = 0; mp->has_ns && t < N_TEN; t++) {
						bool want = msel_matches(&mp->ns, &x->ns[t]);

						if (compile__ns_matches(pe->ns_sel, tnames[t],
									x->ns_parsed[t]) != want)
							fail_msg("policy %s rule %u peer %u: its "
								 "namespaceSelector %s tenant %s",
								 p->name, r, k,
								 want ? "does not select" : "selects",
								 tnames[t]);
						*sel_true += want;
						checks++;
					}
				}
			}
		}
	}
	return checks;
}

/* ---- refeval's view of the universe ---- */

static struct fx *cur;

static const struct ident *ident_by_id(uint32_t id)
{
	unsigned int i;

	for (i = 0; i < cur->n_ids; i++)
		if (cur->ids[i].idx && ident_id(cur, &cur->ids[i]) == id)
			return &cur->ids[i];
	return NULL;
}

static const char *name_cb(uint32_t id, void *ctx)
{
	unsigned int t;

	(void)ctx;
	for (t = 0; id && t < N_TEN; t++)
		if (cur->tid[t] == id)
			return tnames[t];
	return NULL;
}

static const struct nf_labels *ref_pod_labels(uint32_t peer_id, void *ctx)
{
	const struct ident *d = ident_by_id(peer_id);

	(void)ctx;
	return d ? ident_labels(d) : NULL;
}

static const struct nf_named_port *ref_peer_ports(uint32_t peer_id, size_t *n, void *ctx)
{
	const struct ident *d = ident_by_id(peer_id);

	(void)ctx;
	*n = d && d->pod ? d->pod->n_ports : 0;
	return d && d->pod ? d->pod->ports : NULL;
}

static const struct nf_labels *ref_ns_labels(const char *tenant, void *ctx)
{
	unsigned int t;

	(void)ctx;
	for (t = 0; t < N_TEN; t++)
		if (!strcmp(tnames[t], tenant))
			return cur->ns_parsed[t];
	return NULL;
}

static uint32_t id_cb(const char *name, void *ctx)
{
	return dp__tenant_id(ctx, name, false);	/* as apply: names select, never allocate */
}

static const struct nf_labels *env_ns_cb(const char *tenant, void *ctx)
{
	return ref_ns_labels(tenant, ctx);
}

/* ---- install: the policies that select the endpoint, with the full env ---- */

static struct nf_compiled *install(struct fx *x, size_t *n_sel_out)
{
	struct nf_policy *sel[MAX_POL + MAX_CNP];
	struct nf_compile_env env;
	struct nf_tenant_info ti;
	struct nf_compiled *c = NULL;
	size_t n_t = 0, n_i = 0, n_sel = 0, i;
	unsigned int t;
	int err;

	/* every tenant with an id, sorted ("me" < "t1" < ...) */
	for (t = 0; t < N_TEN; t++)
		if (x->tid[t])
			x->env_tenants[n_t++] = tnames[t];
	for (i = 1; i < n_t; i++)
		for (size_t j = i; j && strcmp(x->env_tenants[j - 1], x->env_tenants[j]) > 0; j--) {
			const char *s = x->env_tenants[j];

			x->env_tenants[j] = x->env_tenants[j - 1];
			x->env_tenants[j - 1] = s;
		}
	for (i = 0; i < x->n_ids; i++) {
		const struct ident *d = &x->ids[i];

		if (!d->idx)
			continue;
		x->env_ids[n_i++] = (struct nf_identity){
			.id = ident_id(x, d), .tenant = tnames[d->t], .labels = &d->pod->labels,
			.ports = d->pod->ports, .n_ports = d->pod->n_ports };
	}
	env = (struct nf_compile_env){
		.id_fn = id_cb, .id_ctx = x->f->dp, .ns_labels = env_ns_cb, .ns_ctx = x,
		.tenants = x->env_tenants, .n_tenants = n_t, .idents = x->env_ids, .n_idents = n_i,
		.subject_ports = x->ep->pod ? x->ep->pod->ports : NULL,
		.n_subject_ports = x->ep->pod ? x->ep->pod->n_ports : 0,
	};
	/* refeval gets the tenant's policies and the cluster policies whose
	 * namespace subject selects it (and chooses by pod subject itself);
	 * the compiler, as apply, those whose pod subject selects the endpoint */
	x->n_ref_pols = 0;
	for (i = 0; i < x->ds->n_policies; i++)
		x->ref_pols[x->n_ref_pols++] = x->ds->policies[i];
	for (i = 0; i < x->ds->n_cluster; i++)
		if (compile__ns_matches(x->ds->cluster[i]->ns_subject, TENANT, x->ns_parsed[ME]))
			x->ref_pols[x->n_ref_pols++] = x->ds->cluster[i];
	for (i = 0; i < x->n_ref_pols; i++)
		if (compile__subject_matches(x->ref_pols[i], ident_labels(x->ep)))
			sel[n_sel++] = x->ref_pols[i];
	assert_int_equal(dp__tenant_info(x->f->dp, x->tid[ME], &ti), 0);
	err = compile__tenant_env(TENANT, x->tid[ME], ti.epoch + 1, sel, n_sel, &env, &c);
	if (err)
		fail_msg("compile: %s", strerror(-err));
	err = dp__install_policy(x->f->dp, c);
	if (err)
		fail_msg("install: %s", strerror(-err));
	*n_sel_out = n_sel;
	return c;
}

/* ---- the datapath's answer ---- */

static bool ct_empty(struct fx *x)
{
	struct nf_ct_key k;

	return bpf_map_get_next_key(dp__map_fd(x->f->dp, NF_MAP_CT), NULL, &k) != 0;
}

/* The conntrack key of the flow a query's first packet starts (see test_lookup.c). */
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
	uint32_t peer;		/* v4 address (IPv6: fd00:: + it) */
	uint8_t proto;		/* IPPROTO_TCP/UDP/SCTP, PKT_ICMP, or 47 (GRE) */
	uint16_t port;
};

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
	bpf_map_delete_elem(dp__map_fd(x->f->dp, NF_MAP_CT), &k);
	prog = dp__prog_fd(x->f->dp, q->dir == NF_DIR_INGRESS ? NF_PROG_TC_INGRESS :
							      NF_PROG_TC_EGRESS);
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

static void gen_query(struct fx *x, struct query *q)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP,
					  IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_SCTP, PKT_ICMP, 47 };
	uint32_t k = rndn(20);

	q->family = rndn(3) ? 4 : 6;
	q->dir = (uint8_t)rndn(2);
	if (k < 9) {	/* a pod */
		const struct ident *d = &x->ids[rndn(x->n_ids)];

		q->peer = d->n_ips ? d->ips[rndn(d->n_ips)] : some_addr(x);
	} else if (k < 15 && x->n_hot) {
		q->peer = x->hot[rndn((uint32_t)x->n_hot)];
		if (rndn(4) == 0)	/* a neighbour: just inside or outside */
			q->peer += rndn(2) ? 1 : -1;
	} else {
		q->peer = some_addr(x);
	}
	if (q->peer >> 24 != 10 || q->peer == 0x0AC80001u)
		q->peer = some_addr(x);
	if (q->peer >> 24 != 10 || q->peer == 0x0AC80001u)
		q->peer = NODE;
	q->proto = protos[rndn(sizeof(protos))];
	k = rndn(10);
	if (k < 5)
		q->port = named_nums[rndn(ARRAY_LEN(named_nums))];
	else if (k < 8)
		q->port = port_pool[rndn(ARRAY_LEN(port_pool))] + (rndn(3) ? 0 : rndn(2) ? 1 : -1);
	else
		q->port = (uint16_t)rnd();
	if (!q->port || q->proto == PKT_ICMP || q->proto == 47)
		q->port = q->proto == PKT_ICMP || q->proto == 47 ? 0 : 1;
}

/* The identity whose pod has address a, or NULL. */
static const struct ident *ident_at(const struct fx *x, uint32_t a)
{
	unsigned int i, k;

	for (i = 0; i < x->n_ids; i++)
		for (k = 0; k < x->ids[i].n_ips; k++)
			if (x->ids[i].ips[k] == a)
				return &x->ids[i];
	return NULL;
}

/*
 * A query aimed at one random rule of a random policy (the endpoint's or
 * not): a peer it names (an address of an ipBlock, a pod or tenant address
 * its selectors select, per this file's model), a port it names (a named
 * port as some pod, or the endpoint, numbers it). Falls back to gen_query.
 */
static void gen_aimed_query(struct fx *x, struct query *q)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	const struct nf_policy *p = x->ref_pols[rndn((uint32_t)x->n_ref_pols)];
	const struct mpol *m;
	const struct nf_rule *r;
	uint8_t dir = (uint8_t)rndn(2);
	unsigned int ri, i, n_cand = 0;
	uint32_t cand[MAX_IDS * MAX_IPS + N_TEN];

	/* mostly a policy that selects the endpoint */
	for (i = 0; i < 4 && !compile__subject_matches(p, ident_labels(x->ep)); i++)
		p = x->ref_pols[rndn((uint32_t)x->n_ref_pols)];
	m = model_of(x, p);
	gen_query(x, q);
	if (!p->has_dir[dir] || !p->n_rules[dir])
		return;
	ri = rndn((uint32_t)p->n_rules[dir]);
	r = &p->rules[dir][ri];
	q->dir = dir;
	if (r->n_peers) {
		unsigned int k = rndn((uint32_t)r->n_peers);
		const struct nf_peer *pe = &r->peers[k];
		const struct mpeer *mp = &m->peers[dir][ri][k];

		if (pe->kind == NF_PK_IPBLOCK) {
			uint32_t base, span;
			unsigned int plen = pe->cidr.plen > 96 ? pe->cidr.plen - 96 : 0;

			memcpy(&base, pe->cidr.addr + 12, 4);
			base = ntohl(base);
			if (pe->cidr.plen < 96 || base >> 24 != 10)
				base = some_addr(x);	/* ::/0, fd00::/64, 0.0.0.0/0 ... */
			span = plen >= 32 ? 1 : plen <= 16 ? 65536 : 1u << (32 - plen);
			q->peer = base + (rndn(2) ? 0 : rndn(span));
			q->family = pe->cidr.is_v4 ? 4 : 6;
		} else {
			/* a third of the time a near miss: a pod of the right tenants */
			bool near = rndn(3) == 0;

			for (i = 0; i < x->n_ids; i++) {
				const struct ident *d = &x->ids[i];
				bool t_ok = mp->has_ns ? msel_matches(&mp->ns, &x->ns[d->t]) : d->t == ME;
				bool l_ok = near || !mp->has_pod || msel_matches(&mp->pod, &d->l);

				for (k = 0; t_ok && l_ok && k < d->n_ips; k++)
					cand[n_cand++] = d->ips[k];
			}
			for (i = 0; i < N_TEN; i++) {	/* Tenant CIDRs: no labels */
				static const struct lset none;
				bool t_ok = mp->has_ns ? msel_matches(&mp->ns, &x->ns[i]) : i == ME;

				if (x->tid[i] && t_ok && (!mp->has_pod || msel_matches(&mp->pod, &none)))
					cand[n_cand++] = 10u << 24 | (uint32_t)tblock[i] << 16 |
							 2u << 8 | rndn(256);
			}
			if (n_cand)
				q->peer = cand[rndn(n_cand)];
		}
	}
	if (q->peer >> 24 != 10 || q->peer == 0x0AC80001u)
		q->peer = NODE;
	if (!r->n_ports) {
		if (rndn(3) == 0)
			return;	/* gen_query's protocol: ICMP and GRE too */
		q->proto = protos[rndn(3)];
		q->port = (uint16_t)(1 + rndn(65535));
		return;
	}
	{
		const struct nf_port_range *pr = &r->ports[rndn((uint32_t)r->n_ports)];

		/* a cluster policy's named port has no protocol: any */
		q->proto = pr->proto ? pr->proto : protos[rndn(3)];
		if (!pr->name[0]) {
			q->port = (uint16_t)(pr->lo + rndn((uint32_t)pr->hi - pr->lo + 1));
			if (!q->port)
				q->port = 1;
			return;
		}
		/* a named port: the number the endpoint (ingress) or the peer (egress)
		 * gives it, or some other pod */
		for (i = 0; i < 8; i++) {
			const struct ident *d = i < 4 && dir == NF_DIR_INGRESS ? x->ep :
						i < 4 && ident_at(x, q->peer) ? ident_at(x, q->peer) :
						&x->ids[rndn(x->n_ids)];
			unsigned int k;

			for (k = 0; k < d->n_np; k++)
				if (!strcmp(d->np[k].name, pr->name) &&
				    (!pr->proto || d->np[k].proto == pr->proto)) {
					q->proto = d->np[k].proto;
					q->port = d->np[k].port;
					return;
				}
		}
		q->port = named_nums[rndn(ARRAY_LEN(named_nums))];
	}
}

static const char *proto_text(const struct query *q)
{
	return q->proto == PKT_ICMP ? "icmp" : q->proto == 47 ? "gre" :
	       q->proto == IPPROTO_TCP ? "tcp" : q->proto == IPPROTO_UDP ? "udp" : "sctp";
}

/* ---- setup ---- */

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	unsigned int t;

	if (!x)
		return -1;
	*state = x;
	if (!dpt_can_bpf())
		return 0;
	if (dpt_open(&x->f)) {
		fprintf(stderr, "cannot load a private datapath\n");
		return -1;
	}
	for (t = 0; t < N_TEN; t++) {
		if (t == NO_ID)
			continue;	/* t5 has no id: a selector naming it selects nothing */
		x->tid[t] = dpt_tenant(x->f, tnames[t]);
		if (!x->tid[t])
			return -1;
	}
	if (dpt_add_endpoint(x->f, IFINDEX, x->tid[ME], EP_ID, 0) ||
	    dpt_add_ep_addr(x->f, EP_ID, EP) || dpt_add_ep_addr(x->f, EP_ID, "fd00::" EP))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	if (x) {
		if (x->ds)
			policy__docset_free(x->ds);
		dpt_close(x->f);
	}
	free(x);
	return 0;
}

static void ipcache_write(struct fx *x, bool add)
{
	size_t i;

	for (i = 0; i < x->n_ipc; i++) {
		char a[32], c4[48], c6[64];
		struct nf_cidr c;

		v4_text(x->ipc[i].addr, a, sizeof(a));
		snprintf(c4, sizeof(c4), "%s/%u", a, x->ipc[i].plen);
		snprintf(c6, sizeof(c6), "fd00::%s/%u", a, 96 + x->ipc[i].plen);
		if (add) {
			assert_int_equal(dpt_ipcache(x->f, c4, x->ipc[i].id), 0);
			assert_int_equal(dpt_ipcache(x->f, c6, x->ipc[i].id), 0);
			continue;
		}
		assert_int_equal(nf_parse_cidr(c4, &c), 0);
		dp__ipcache_del(x->f->dp, &c);
		assert_int_equal(nf_parse_cidr(c6, &c), 0);
		dp__ipcache_del(x->f->dp, &c);
	}
}

static void set_config(struct fx *x)
{
	struct nf_config cfg;
	__u32 zero = 0;

	assert_int_equal(bpf_map_lookup_elem(dp__map_fd(x->f->dp, NF_MAP_CONFIG), &zero, &cfg), 0);
	cfg.flags &= ~NF_CFG_ALLOW_HOST_INGRESS;	/* the node is a peer like any other */
	assert_int_equal(bpf_map_update_elem(dp__map_fd(x->f->dp, NF_MAP_CONFIG), &zero, &cfg,
					     BPF_ANY), 0);
}

/* The flows were deleted behind the datapath's back: so is their count. */
static void usage_reset(struct fx *x)
{
	struct nf_usage u = {};
	__u32 key = x->tid[ME];

	assert_int_equal(bpf_map_update_elem(dp__map_fd(x->f->dp, NF_MAP_USAGE), &key, &u, BPF_ANY), 0);
}

static void print_round(struct fx *x, const char *json)
{
	unsigned int i, k;

	print_error("documents:\n%s\n", json);
	print_error("ipcache (IPv6: fd00::/96 + the same):\n");
	for (i = 0; i < x->n_ipc; i++) {
		char a[32];

		v4_text(x->ipc[i].addr, a, sizeof(a));
		print_error("  %s/%u -> %#x\n", a, x->ipc[i].plen, x->ipc[i].id);
	}
	print_error("identities:\n");
	for (i = 0; i < x->n_ids; i++) {
		print_error("  %s index %u {%s}%s:", tnames[x->ids[i].t], x->ids[i].idx,
			    x->ids[i].key, &x->ids[i] == x->ep ? " (the endpoint)" : "");
		for (k = 0; k < x->ids[i].n_ips; k++) {
			char a[32];

			v4_text(x->ids[i].ips[k], a, sizeof(a));
			print_error(" %s", a);
		}
		print_error("\n");
	}
}

/* Whether rule ref (the compiler's numbering) matches q on its own, as refeval reads it. */
static bool named_rule_matches(struct fx *x, const struct nf_compiled *c, const struct nf_query *q,
			       uint32_t ref, const struct nf_ref_labels *L)
{
	const struct nf_rule_info *ri;
	const struct nf_policy *src = NULL;
	struct nf_policy one = {}, *onep = &one;
	size_t i;

	if (!ref || ref > c->n_rules)
		return false;
	ri = &c->rules[ref - 1];
	if (ri->dir != q->dir)
		return false;
	for (i = 0; i < x->ds->n_policies; i++)
		if (!strcmp(x->ds->policies[i]->name, ri->policy))
			src = x->ds->policies[i];
	if (!src || !src->has_dir[q->dir] || ri->index >= src->n_rules[q->dir])
		return false;
	one.name = (char *)ri->policy;
	one.subject = src->subject;
	one.has_dir[q->dir] = true;
	one.rules[q->dir] = &src->rules[q->dir][ri->index];
	one.n_rules[q->dir] = 1;
	return refeval__decide_labels(TENANT, &onep, 1, q, name_cb, NULL, L, NULL, NULL);
}

/* The drop counters of (me, dir, tc) that a policy verdict can move. */
static const uint8_t verdict_reasons[] = { NF_DROP_POLICY, NF_DROP_ADMIN, NF_DROP_BASELINE };

static void drops_read(struct fx *x, uint8_t dir, uint64_t out[3])
{
	struct nf_counter c;
	size_t i;

	for (i = 0; i < ARRAY_LEN(verdict_reasons); i++) {
		assert_int_equal(dpt_counter(x->f, x->tid[ME], dir, verdict_reasons[i], NF_HOOK_TC,
					     &c), 0);
		out[i] = c.packets;
	}
}

/* The reason one packet moved (DPT_NO_COUNT: none; 0xFE: more than one, or by more). */
static uint8_t drops_moved(const uint64_t before[3], const uint64_t after[3])
{
	uint8_t moved = DPT_NO_COUNT;
	size_t i;

	for (i = 0; i < ARRAY_LEN(verdict_reasons); i++) {
		if (after[i] == before[i])
			continue;
		if (after[i] != before[i] + 1 || moved != DPT_NO_COUNT)
			return 0xFE;
		moved = verdict_reasons[i];
	}
	return moved;
}

/* SPEC §7: the drop reason of a reference verdict that denies. */
static uint8_t ref_reason(const struct nf_ref_verdict *v)
{
	if (v->decided && v->action == NF_ACT_DENY)
		return v->tier == NF_TIER_ADMIN ? NF_DROP_ADMIN : NF_DROP_BASELINE;
	return NF_DROP_POLICY;
}

/* The decision word's action a reference verdict decided by a rule must have. */
static uint32_t ref_act(const struct nf_ref_verdict *v)
{
	if (v->action != NF_ACT_DENY)
		return NF_RULE_ALLOW;
	return v->tier == NF_TIER_ADMIN ? NF_RULE_DENY_ADMIN : NF_RULE_DENY_BASELINE;
}

/*
 * Whether decision word w is the one the reference verdict v says decides:
 * an Admin or Baseline rule exactly (policy, index, action); a NetworkPolicy
 * rule that matches on its own (the compiler may name another matching one);
 * none (0) for the default deny or the NetworkPolicies' deny.
 */
static bool word_agrees(struct fx *x, const struct nf_compiled *c, const struct nf_query *q,
			uint32_t w, const struct nf_ref_verdict *v, const struct nf_ref_labels *L)
{
	const struct nf_rule_info *ri;

	if (!v->decided)
		return w == 0;
	if (v->tier == NF_TIER_NP)
		return NF_RULE_ACT(w) == NF_RULE_ALLOW &&
		       named_rule_matches(x, c, q, NF_RULE_REF(w), L);
	if (!NF_RULE_REF(w) || NF_RULE_REF(w) > c->n_rules)
		return false;
	ri = &c->rules[NF_RULE_REF(w) - 1];
	return !strcmp(ri->policy, v->policy) && ri->index == v->index && ri->dir == q->dir &&
	       ri->tier == v->tier && NF_RULE_ACT(w) == ref_act(v);
}

static const char *const tier_names[NF_TIER_MAX] = { "NetworkPolicy", "Admin", "Baseline" };
static const char *const act_names[] = { "Accept", "Deny", "Pass" };

static void test_labels_diff(void **state)
{
	struct fx *x = *state;
	unsigned long seed = env_ul("NF_SEED", 0);
	size_t rounds = env_ul("NF_ROUNDS", 100), queries = env_ul("NF_QUERIES", 300), r, i;
	unsigned long cnp_odds = env_ul("NF_CNP_ODDS", 2);	/* 1 in n rounds: none */
	size_t allowed = 0, denied = 0, total = 0, by_label_peer = 0, label_dep = 0;
	size_t n_pols = 0, n_sel_total = 0, sel_checks = 0, n_idents = 0, by_named = 0;
	size_t n_cnp_rounds = 0, n_cnps = 0, n_v1 = 0, by_tier[NF_TIER_MAX][2] = {};
	uint64_t sel_true = 0;
	struct nf_lookup_maps maps;
	struct nf_lookup_src live, mem;

	if (!x->f)
		skip();
	if (!seed)
		seed = 20250611;	/* fixed, so CI runs are reproducible */
	rng = seed * 0x9E3779B97F4A7C15ULL | 1;
	cur = x;
	print_message("labels differential: NF_SEED=%lu, %zu rounds x %zu queries\n", seed, rounds,
		      queries);
	maps = (struct nf_lookup_maps){ .policy = dp__map_fd(x->f->dp, NF_MAP_POLICY),
					.ports = dp__map_fd(x->f->dp, NF_MAP_PORTS),
					.ipcache = dp__map_fd(x->f->dp, NF_MAP_IPCACHE),
					.config = dp__map_fd(x->f->dp, NF_MAP_CONFIG) };
	lookup__src_maps(&live, &maps);
	set_config(x);

	for (r = 0; r < rounds; r++) {
		struct nf_rule_names *names = NULL;
		struct nf_tenant_info ti;
		struct nf_compiled *c;
		struct nf_ref_labels L, L0 = {};
		struct buf b = {};
		bool cnp_round;
		size_t n_sel;

		put(&b, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
		gen_universe(x, &b);
		cnp_round = cnp_odds && rndn((uint32_t)cnp_odds) != 0;
		/* with cluster policies, sometimes no NetworkPolicy: Baseline decides */
		gen_policies(x, &b, cnp_round && rndn(3) == 0 ? 0 : 1);
		x->n_cnps = 0;
		if (cnp_round) {
			gen_cluster_policies(x, &b);
			n_cnp_rounds++;
			n_cnps += x->n_cnps;
		}
		put(&b, "]}");
		parse_round(x, b.s);
		for (i = 0; i < x->ds->n_cluster; i++)
			n_v1 += x->ds->cluster[i]->cnp_kind != NF_CNP_V1ALPHA2;
		sel_checks += check_selectors(x, &sel_true);
		ipcache_write(x, true);
		c = install(x, &n_sel);
		n_pols += x->n_pols + x->n_cnps;
		n_sel_total += n_sel;
		for (i = 0; i < x->n_ids; i++)
			n_idents += x->ids[i].idx != 0;
		assert_int_equal(dp__tenant_info(x->f->dp, x->tid[ME], &ti), 0);
		assert_int_equal(ti.epoch, c->epoch);
		lookup__src_compiled(&mem, c);
		if (lookup__names_read(dp__tenant_dir(x->f->dp), x->tid[ME], TENANT, ti.epoch, &names))
			fail_msg("round %zu: no rule names for epoch %u", r, ti.epoch);
		L = (struct nf_ref_labels){
			.subject = ident_labels(x->ep),
			.subject_ports = x->ep->pod ? x->ep->pod->ports : NULL,
			.n_subject_ports = x->ep->pod ? x->ep->pod->n_ports : 0,
			.pod_labels = ref_pod_labels, .peer_ports = ref_peer_ports,
			.ns_labels = ref_ns_labels,
		};
		L0.subject = L.subject;	/* what refeval says knowing no peer's labels */

		for (i = 0; i < queries; i++) {
			struct query q;
			struct nf_query nq = {};
			struct nf_ref_verdict v, v0;
			uint32_t b_rule, l_rule, m_rule, c_rule, l_peer;
			uint64_t d_before[3], d_after[3];
			uint8_t moved, want_moved;
			char peer[32];

			if (rndn(2) && x->n_ref_pols)
				gen_aimed_query(x, &q);
			else
				gen_query(x, &q);
			drops_read(x, q.dir, d_before);
			bpf_verdict(x, &q, &b_rule);
			drops_read(x, q.dir, d_after);
			moved = drops_moved(d_before, d_after);

			nq.dir = q.dir;
			v4_text(q.peer, peer, sizeof(peer));
			assert_int_equal(pkt_addr16(peer, q.family, nq.addr), 0);
			nq.proto = q.proto == PKT_ICMP ?
					   (q.family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6) :
					   q.proto;
			nq.port = q.port;
			assert_int_equal(lookup__judge(&live, x->tid[ME], ti.epoch, &nq, &l_peer,
						       &l_rule), 0);
			nq.peer_id = model_peer_id(x, q.peer);
			assert_int_equal(lookup__decide(&mem, x->tid[ME], ti.epoch, &nq, 0, &m_rule), 0);
			c_rule = compile__lookup(c, &nq);
			refeval__decide_tiers(TENANT, x->ref_pols, x->n_ref_pols, &nq, name_cb,
					      NULL, &L, &v);
			want_moved = v.allow ? DPT_NO_COUNT : ref_reason(&v);
			/* b_rule: the tracked flow's decision word (0: dropped) */
			if ((b_rule && b_rule != l_rule) || l_rule != m_rule ||
			    l_peer != nq.peer_id || c_rule != l_rule || v.allow != (b_rule != 0) ||
			    lookup__allows(l_rule) != v.allow || moved != want_moved ||
			    !word_agrees(x, c, &nq, l_rule, &v, &L)) {
				print_round(x, b.s);
				fail_msg("NF_SEED=%lu round %zu query %zu: IPv%d %s %s (id %#x) %s/%u: "
					 "datapath %s, rule %#x (%s/%u), drop counted %s; lookup "
					 "over the maps %#x (peer id %#x), over the compiled "
					 "tables %#x, compile__lookup %#x; refeval: %s, %s (%s tier "
					 "%s, %s/%u)",
					 seed, r, i, q.family,
					 q.dir == NF_DIR_INGRESS ? "ingress from" : "egress to", peer,
					 nq.peer_id, proto_text(&q), q.port,
					 b_rule ? "allows" : "drops", b_rule,
					 NF_RULE_REF(l_rule) && NF_RULE_REF(l_rule) <= c->n_rules ?
						 c->rules[NF_RULE_REF(l_rule) - 1].policy : "-",
					 NF_RULE_REF(l_rule) && NF_RULE_REF(l_rule) <= c->n_rules ?
						 c->rules[NF_RULE_REF(l_rule) - 1].index : 0,
					 moved == 0xFE ? "wrong" : dpt_reason_name(moved), l_rule,
					 l_peer, m_rule, c_rule, v.allow ? "allow" : "deny",
					 dpt_reason_name(want_moved),
					 v.decided ? act_names[v.action] : "no rule",
					 v.decided ? tier_names[v.tier] : "-",
					 v.policy ? v.policy : "-", v.index);
			}
			total++;
			if (v.decided)
				by_tier[v.tier][v.action == NF_ACT_DENY]++;
			refeval__decide_tiers(TENANT, x->ref_pols, x->n_ref_pols, &nq, name_cb,
					      NULL, &L0, &v0);
			if (v.allow != v0.allow)
				label_dep++;
			if (!b_rule) {
				denied++;
				continue;
			}
			allowed++;
			by_label_peer += NF_IDENT_INDEX(nq.peer_id) != 0 && nq.peer_id != NF_ID_HOST;
			/* `check`'s names say what the compiler numbered */
			{
				const struct nf_rule_info *ri = &c->rules[NF_RULE_REF(b_rule) - 1];
				const struct nf_policy *src = NULL;
				const struct nf_rule *rr;
				const char *pol;
				uint32_t index;
				uint8_t rdir;
				size_t k;

				pol = lookup__rule_name(names, b_rule, &rdir, &index);
				assert_non_null(pol);
				assert_string_equal(pol, ri->policy);
				assert_int_equal(rdir, ri->dir);
				assert_int_equal(index, ri->index);
				assert_int_equal(ri->dir, q.dir);
				for (k = 0; k < x->n_ref_pols; k++)
					if (!strcmp(x->ref_pols[k]->name, ri->policy))
						src = x->ref_pols[k];
				assert_non_null(src);
				rr = &src->rules[q.dir][ri->index];
				for (k = 0; k < rr->n_ports; k++)
					if (rr->ports[k].name[0] &&
					    (rr->ports[k].proto == nq.proto || !rr->ports[k].proto))
						break;
				by_named += rr->n_ports && k < rr->n_ports;
			}
		}
		/* every flow was found (and deleted) by the key it had to have */
		assert_true(ct_empty(x));
		usage_reset(x);
		lookup__names_free(names);
		compile__free(c);
		ipcache_write(x, false);
		policy__docset_free(x->ds);
		x->ds = NULL;
		free(b.s);
	}
	print_message("labels differential: %zu rounds: %zu identities, %zu policies (%zu select "
		      "the endpoint), %zu selector checks (%llu true)\n",
		      rounds, n_idents, n_pols, n_sel_total, sel_checks,
		      (unsigned long long)sel_true);
	print_message("labels differential: %zu queries: %zu allowed (%.1f%%; %zu from/to a "
		      "labelled pod, %zu by a rule with a named port of the protocol), %zu denied; "
		      "%zu verdicts depend on peer/namespace labels or named ports\n",
		      total, allowed, total ? 100.0 * (double)allowed / (double)total : 0.0,
		      by_label_peer, by_named, denied, label_dep);
	print_message("labels differential: %zu rounds with %zu cluster policies (%zu of them "
		      "v1alpha1); decided by Admin Accept %zu, Deny %zu; NetworkPolicy %zu; "
		      "Baseline Accept %zu, Deny %zu\n",
		      n_cnp_rounds, n_cnps, n_v1, by_tier[NF_TIER_ADMIN][0],
		      by_tier[NF_TIER_ADMIN][1], by_tier[NF_TIER_NP][0],
		      by_tier[NF_TIER_BASELINE][0], by_tier[NF_TIER_BASELINE][1]);
	/* The generator must reach every outcome, or the comparison proves little. */
	assert_true(allowed >= total / 5);
	assert_true(denied >= total / 5);
	assert_true(by_label_peer >= total / 50);
	assert_true(by_named > 0);
	assert_true(label_dep >= total / 100);
	assert_true(n_sel_total < n_pols && n_sel_total > 0);
	if (n_cnp_rounds >= rounds / 4 && rounds >= 20) {
		assert_true(by_tier[NF_TIER_ADMIN][0] >= total / 500);
		assert_true(by_tier[NF_TIER_ADMIN][1] >= total / 500);
		/* Baseline decides only where no NetworkPolicy selects the endpoint */
		assert_true(by_tier[NF_TIER_BASELINE][0] >= total / 3000);
		assert_true(by_tier[NF_TIER_BASELINE][1] >= total / 3000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_labels_diff, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
