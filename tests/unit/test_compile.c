// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Policy compiler tests: verdict tables, port range decomposition, a
 * randomized differential test of compile__lookup() against
 * refeval__decide(), and 100,000-rule compiles.
 *
 * Env: NF_SEED (random seed, printed; default fixed), NF_ITERS (random
 * tenants, default 5000), NF_PROBES (probes per tenant, default 1000),
 * NF_BIG=0 skips the 100k-rule compiles (e.g. under valgrind).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compile.h"

/* ---- allocation: everything a test builds goes to one arena ---- */

static void **arena;
static size_t n_arena, cap_arena;

static void *zalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	assert_non_null(p);
	if (n_arena == cap_arena) {
		cap_arena = cap_arena ? cap_arena * 2 : 256;
		arena = realloc(arena, cap_arena * sizeof(*arena));
		assert_non_null(arena);
	}
	arena[n_arena++] = p;
	return p;
}

static void arena_free(void)
{
	while (n_arena)
		free(arena[--n_arena]);
	free(arena);
	arena = NULL;
	cap_arena = 0;
}

static int teardown(void **state)
{
	arena_free();
	return 0;
}

/* ---- tenants: names t0..t9 / a..z have ids 1.. ---- */

static const char *const tnames[] = { "a", "b", "c", "d", "t0", "t1", "t2", "t3", "t4", "t5" };
#define N_TNAMES (sizeof(tnames) / sizeof(tnames[0]))
#define ID_UNKNOWN 77	/* an identity the name function does not know */

static uint32_t test_id_fn(const char *name, void *ctx)
{
	size_t i;

	for (i = 0; i < N_TNAMES; i++)
		if (!strcmp(tnames[i], name))
			return (uint32_t)(i + 1);
	return 0;
}

static const char *test_name_fn(uint32_t id, void *ctx)
{
	if (id >= 1 && id <= N_TNAMES)
		return tnames[id - 1];
	return NULL;
}

static uint32_t tid(const char *name)
{
	return test_id_fn(name, NULL);
}

/* ---- IR builders ---- */

#define CAP 16

static struct nf_cidr cidr(const char *s)
{
	struct nf_cidr c = {};
	char buf[64], *slash;
	uint8_t tmp[16];
	int plen;
	unsigned int i;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	if (inet_pton(AF_INET, buf, tmp) == 1) {
		c.is_v4 = true;
		c.addr[10] = c.addr[11] = 0xff;
		memcpy(c.addr + 12, tmp, 4);
		plen = slash ? atoi(slash + 1) + 96 : 128;
	} else {
		assert_int_equal(inet_pton(AF_INET6, buf, c.addr), 1);
		plen = slash ? atoi(slash + 1) : 128;
	}
	c.plen = (uint8_t)plen;
	for (i = (unsigned int)plen; i < 128; i++)
		c.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return c;
}

static struct nf_policy *mkpol(const char *name, bool ingress, bool egress)
{
	struct nf_policy *p = zalloc(sizeof(*p));

	p->tenant = "me";
	p->name = (char *)name;
	p->has_dir[NF_DIR_INGRESS] = ingress;
	p->has_dir[NF_DIR_EGRESS] = egress;
	p->rules[NF_DIR_INGRESS] = zalloc(CAP * sizeof(struct nf_rule));
	p->rules[NF_DIR_EGRESS] = zalloc(CAP * sizeof(struct nf_rule));
	return p;
}

static struct nf_rule *mkrule(struct nf_policy *p, int dir)
{
	struct nf_rule *r;

	assert_true(p->n_rules[dir] < CAP);
	r = &p->rules[dir][p->n_rules[dir]++];
	r->peers = zalloc(CAP * sizeof(struct nf_peer));
	r->ports = zalloc(CAP * sizeof(struct nf_port_range));
	return r;
}

/* ipBlock peer: cidr, then excepts, NULL-terminated. */
static struct nf_peer *ipblock(struct nf_rule *r, const char *c, ...)
{
	struct nf_peer *p = &r->peers[r->n_peers++];
	const char *e;
	va_list ap;

	p->kind = NF_PK_IPBLOCK;
	p->cidr = cidr(c);
	p->except = zalloc(CAP * sizeof(struct nf_cidr));
	va_start(ap, c);
	while ((e = va_arg(ap, const char *)))
		p->except[p->n_except++] = cidr(e);
	va_end(ap);
	return p;
}

/* namespaceSelector peer: names, NULL-terminated. */
static struct nf_peer *tenants(struct nf_rule *r, bool negate, ...)
{
	struct nf_peer *p = &r->peers[r->n_peers++];
	const char *n;
	va_list ap;

	p->kind = NF_PK_TENANTS;
	p->negate = negate;
	p->names = zalloc(CAP * sizeof(char *));
	va_start(ap, negate);
	while ((n = va_arg(ap, const char *)))
		p->names[p->n_names++] = (char *)n;
	va_end(ap);
	return p;
}

static void port(struct nf_rule *r, uint8_t proto, uint16_t lo, uint16_t hi)
{
	r->ports[r->n_ports++] = (struct nf_port_range){ .proto = proto, .lo = lo, .hi = hi };
}

/* ---- checking ---- */

static struct nf_compiled *compile_ok(struct nf_policy **pols, size_t n)
{
	struct nf_compiled *c = NULL;

	assert_int_equal(compile__tenant("me", 5, 3, pols, n, test_id_fn, NULL, &c), 0);
	assert_non_null(c);
	return c;
}

static struct nf_query query(int dir, const char *addr, uint32_t peer_id, uint8_t proto,
			     uint16_t port)
{
	struct nf_query q = { .dir = (uint8_t)dir, .peer_id = peer_id, .proto = proto,
			      .port = port };
	struct nf_cidr c = cidr(addr);

	memcpy(q.addr, c.addr, 16);
	return q;
}

/* Does the rule a compiled lookup names match the query on its own? */
static bool named_rule_matches(const struct nf_compiled *c, struct nf_policy *const *pols,
			       size_t n, const struct nf_query *q, uint32_t ref)
{
	const struct nf_rule_info *ri;
	struct nf_policy one = {}, *onep = &one;
	const struct nf_policy *src = NULL;
	size_t i;

	if (!ref || ref > c->n_rules)
		return false;
	ri = &c->rules[ref - 1];
	if (ri->dir != q->dir)
		return false;
	for (i = 0; i < n; i++)
		if (!strcmp(pols[i]->name, ri->policy))
			src = pols[i];
	if (!src || !src->has_dir[q->dir] || ri->index >= src->n_rules[q->dir])
		return false;
	one.name = (char *)ri->policy;
	one.has_dir[q->dir] = true;
	one.rules[q->dir] = &src->rules[q->dir][ri->index];
	one.n_rules[q->dir] = 1;
	return refeval__decide("me", &onep, 1, q, test_name_fn, NULL, NULL, NULL);
}

/* A verdict where more than one rule covers the whole port block: any of them. */
#define ANY_RULE "*"

/*
 * Expect a verdict: want_policy NULL = deny; otherwise the compiled lookup
 * must name exactly (want_policy, want_index) (or, with ANY_RULE, a rule that
 * matches), and refeval must agree.
 */
static void expect(const struct nf_compiled *c, struct nf_policy **pols, size_t n, int dir,
		   const char *addr, uint32_t peer_id, uint8_t proto, uint16_t port,
		   const char *want_policy, uint32_t want_index)
{
	struct nf_query q = query(dir, addr, peer_id, proto, port);
	uint32_t ref = compile__lookup(c, &q);
	bool ok = refeval__decide("me", pols, n, &q, test_name_fn, NULL, NULL, NULL);

	if (!want_policy) {
		if (ref || ok)
			fail_msg("%s id %u proto %u port %u: want deny, compiled %u, refeval %d",
				 addr, peer_id, proto, port, ref, ok);
		return;
	}
	if (!ref || !ok)
		fail_msg("%s id %u proto %u port %u: want allow, compiled rule %u, refeval %d",
			 addr, peer_id, proto, port, ref, ok);
	assert_true(named_rule_matches(c, pols, n, &q, ref));
	if (!strcmp(want_policy, ANY_RULE))
		return;
	if (strcmp(c->rules[ref - 1].policy, want_policy) ||
	    c->rules[ref - 1].index != want_index ||
	    c->rules[ref - 1].dir != dir)
		fail_msg("%s id %u proto %u port %u: decided by %s/%u/%u, want %s/%u", addr,
			 peer_id, proto, port, c->rules[ref - 1].policy, c->rules[ref - 1].dir,
			 c->rules[ref - 1].index, want_policy, want_index);
}

#define E NF_DIR_EGRESS
#define I NF_DIR_INGRESS
#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define SCTP IPPROTO_SCTP
#define ICMP IPPROTO_ICMP
#define ICMP6 IPPROTO_ICMPV6

/* ---- table tests ---- */

static void test_overlapping_cidrs(void **state)
{
	struct nf_policy *p = mkpol("p", false, true);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, E);
	ipblock(r, "10.0.0.0/8", NULL);
	port(r, TCP, 80, 80);
	r = mkrule(p, E);
	ipblock(r, "10.1.0.0/16", NULL);
	port(r, TCP, 443, 443);
	c = compile_ok(&p, 1);
	expect(c, &p, 1, E, "10.1.2.3", 0, TCP, 443, "p", 1);
	expect(c, &p, 1, E, "10.1.2.3", 0, TCP, 80, "p", 0);
	expect(c, &p, 1, E, "10.2.0.1", 0, TCP, 80, "p", 0);
	expect(c, &p, 1, E, "10.2.0.1", 0, TCP, 443, NULL, 0);
	expect(c, &p, 1, E, "11.0.0.1", 0, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "9.255.255.255", 0, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "10.255.255.255", 0, TCP, 80, "p", 0);
	expect(c, &p, 1, E, "10.1.2.3", 0, UDP, 443, NULL, 0);
	/* ingress has no policy: default deny */
	expect(c, &p, 1, I, "10.1.2.3", 0, TCP, 443, NULL, 0);
	assert_int_equal(c->n_rules, 2);
	assert_int_equal(c->n_rules_dir[E], 2);
	assert_int_equal(c->n_rules_dir[I], 0);
	compile__free(c);
}

static void test_except_covered_elsewhere(void **state)
{
	struct nf_policy *p = mkpol("p", false, true);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, E);
	ipblock(r, "10.0.0.0/8", "10.1.0.0/16", NULL);
	port(r, TCP, 80, 80);
	r = mkrule(p, E);
	ipblock(r, "10.1.2.0/24", NULL);
	port(r, TCP, 80, 80);
	/* except of one peer covered by another peer of the same rule */
	r = mkrule(p, E);
	ipblock(r, "10.0.0.0/8", "10.5.0.0/16", NULL);
	ipblock(r, "10.5.5.0/24", NULL);
	port(r, UDP, 53, 53);
	c = compile_ok(&p, 1);
	expect(c, &p, 1, E, "10.1.2.3", 0, TCP, 80, "p", 1);
	expect(c, &p, 1, E, "10.1.3.3", 0, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "10.1.0.0", 0, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "10.0.255.255", 0, TCP, 80, "p", 0);
	expect(c, &p, 1, E, "10.2.0.0", 0, TCP, 80, "p", 0);
	expect(c, &p, 1, E, "10.5.5.5", 0, UDP, 53, "p", 2);
	expect(c, &p, 1, E, "10.5.6.5", 0, UDP, 53, NULL, 0);
	expect(c, &p, 1, E, "10.6.6.5", 0, UDP, 53, "p", 2);
	compile__free(c);
}

static void test_nested_excepts(void **state)
{
	struct nf_policy *p = mkpol("p", false, true);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, E);
	ipblock(r, "10.0.0.0/8", "10.1.0.0/16", "10.1.1.0/24", NULL);
	port(r, TCP, 80, 80);
	r = mkrule(p, E);
	ipblock(r, "10.1.0.0/16", "10.1.1.0/24", NULL);
	port(r, TCP, 22, 22);
	r = mkrule(p, E);
	ipblock(r, "fd00::/16", "fd00:1::/32", NULL);
	ipblock(r, "fd00:1:2::/48", "fd00:1:2:3::/64", NULL);
	c = compile_ok(&p, 1);
	expect(c, &p, 1, E, "10.1.1.5", 0, TCP, 22, NULL, 0);
	expect(c, &p, 1, E, "10.1.1.5", 0, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "10.1.2.5", 0, TCP, 22, "p", 1);
	expect(c, &p, 1, E, "10.1.2.5", 0, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "10.2.0.0", 0, TCP, 80, "p", 0);
	expect(c, &p, 1, E, "10.2.0.0", 0, TCP, 22, NULL, 0);
	expect(c, &p, 1, E, "fd00::1", 0, ICMP6, 0, "p", 2);
	expect(c, &p, 1, E, "fd00:1::1", 0, TCP, 1, NULL, 0);
	expect(c, &p, 1, E, "fd00:1:2::1", 0, TCP, 1, "p", 2);
	expect(c, &p, 1, E, "fd00:1:2:3::1", 0, TCP, 1, NULL, 0);
	expect(c, &p, 1, E, "fd00:1:2:4::1", 0, TCP, 1, "p", 2);
	expect(c, &p, 1, E, "fd01::1", 0, TCP, 1, NULL, 0);
	compile__free(c);
}

static void test_union_policies_and_refs(void **state)
{
	struct nf_policy *pols[3];
	struct nf_rule *r;
	struct nf_compiled *c;

	/* given out of order: rules are numbered after sorting by name */
	pols[0] = mkpol("zeta", true, true);
	pols[1] = mkpol("alpha", true, true);
	pols[2] = mkpol("mid", false, true);
	r = mkrule(pols[0], E);
	ipblock(r, "10.0.0.0/24", NULL);
	port(r, TCP, 80, 80);
	r = mkrule(pols[0], I);
	port(r, TCP, 8080, 8080);
	r = mkrule(pols[1], I);
	ipblock(r, "192.168.0.0/16", NULL);
	r = mkrule(pols[1], E);
	ipblock(r, "10.0.0.0/24", NULL);
	port(r, UDP, 53, 53);
	r = mkrule(pols[1], E);
	ipblock(r, "10.0.0.128/25", NULL);
	port(r, UDP, 54, 54);
	r = mkrule(pols[2], E);
	ipblock(r, "10.0.0.0/16", NULL);
	port(r, SCTP, 9, 9);
	/* has_dir false: rules there do not count */
	r = mkrule(pols[2], I);
	c = compile_ok(pols, 3);

	assert_int_equal(c->n_rules, 6);
	assert_int_equal(c->n_rules_dir[I], 2);
	assert_int_equal(c->n_rules_dir[E], 4);
	assert_string_equal(c->rules[0].policy, "alpha");
	assert_int_equal(c->rules[0].dir, I);
	assert_string_equal(c->rules[1].policy, "alpha");
	assert_int_equal(c->rules[1].dir, E);
	assert_int_equal(c->rules[1].index, 0);
	assert_string_equal(c->rules[2].policy, "alpha");
	assert_int_equal(c->rules[2].index, 1);
	assert_string_equal(c->rules[3].policy, "mid");
	assert_string_equal(c->rules[4].policy, "zeta");
	assert_int_equal(c->rules[4].dir, I);
	assert_string_equal(c->rules[5].policy, "zeta");
	assert_int_equal(c->rules[5].dir, E);

	expect(c, pols, 3, E, "10.0.0.1", 0, TCP, 80, "zeta", 0);
	expect(c, pols, 3, E, "10.0.0.1", 0, UDP, 53, "alpha", 0);
	expect(c, pols, 3, E, "10.0.0.129", 0, UDP, 54, "alpha", 1);
	expect(c, pols, 3, E, "10.0.0.1", 0, UDP, 54, NULL, 0);
	expect(c, pols, 3, E, "10.0.200.1", 0, SCTP, 9, "mid", 0);
	expect(c, pols, 3, E, "10.0.200.1", 0, TCP, 80, NULL, 0);
	expect(c, pols, 3, I, "192.168.3.4", 0, ICMP, 0, "alpha", 0);
	expect(c, pols, 3, I, "8.8.8.8", 0, TCP, 8080, "zeta", 0);
	expect(c, pols, 3, I, "2001:db8::1", 0, TCP, 8080, "zeta", 0);
	expect(c, pols, 3, I, "8.8.8.8", 0, TCP, 8081, NULL, 0);
	compile__free(c);
}

static void test_port_ranges(void **state)
{
	struct nf_policy *p = mkpol("p", false, true);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, E);
	ipblock(r, "10.0.0.0/8", NULL);
	port(r, TCP, 1000, 2000);
	port(r, SCTP, 7, 7);
	r = mkrule(p, E);
	ipblock(r, "10.0.0.0/8", NULL);
	port(r, TCP, 1500, 65535);
	port(r, UDP, 0, 65535);	/* protocol only: every UDP port */
	c = compile_ok(&p, 1);
	expect(c, &p, 1, E, "10.0.0.1", 0, TCP, 999, NULL, 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, TCP, 1000, "p", 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, TCP, 1499, "p", 0);
	/* both rules cover these: either decides */
	expect(c, &p, 1, E, "10.0.0.1", 0, TCP, 1500, ANY_RULE, 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, TCP, 2000, ANY_RULE, 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, TCP, 2001, "p", 1);
	expect(c, &p, 1, E, "10.0.0.1", 0, TCP, 65535, "p", 1);
	expect(c, &p, 1, E, "10.0.0.1", 0, TCP, 0, NULL, 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, UDP, 0, "p", 1);
	expect(c, &p, 1, E, "10.0.0.1", 0, UDP, 65535, "p", 1);
	expect(c, &p, 1, E, "10.0.0.1", 0, SCTP, 7, "p", 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, SCTP, 6, NULL, 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, SCTP, 8, NULL, 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, SCTP, 1000, NULL, 0);	/* protocol mismatch */
	expect(c, &p, 1, E, "10.0.0.1", 0, ICMP, 0, NULL, 0);	/* never by ports */
	expect(c, &p, 1, E, "11.0.0.1", 0, TCP, 1000, NULL, 0);
	compile__free(c);
}

static void test_icmp_only_no_ports(void **state)
{
	struct nf_policy *p = mkpol("p", true, false);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, I);
	ipblock(r, "10.0.0.0/8", NULL);
	port(r, TCP, 80, 80);
	r = mkrule(p, I);
	ipblock(r, "10.1.0.0/16", NULL);
	r = mkrule(p, I);
	ipblock(r, "2001:db8::/32", NULL);
	r = mkrule(p, I);
	ipblock(r, "10.0.0.0/8", NULL);
	c = compile_ok(&p, 1);
	expect(c, &p, 1, I, "11.0.0.1", 0, ICMP, 0, NULL, 0);
	expect(c, &p, 1, I, "10.0.0.1", 0, ICMP, 0, "p", 3);
	expect(c, &p, 1, I, "10.0.0.1", 0, TCP, 80, "p", 3);
	/* two no-ports rules cover 10.1.0.1: the lowest decides */
	expect(c, &p, 1, I, "10.1.0.1", 0, ICMP, 0, "p", 1);
	/* a no-ports rule wins over the port entries, even for a port the first allows */
	expect(c, &p, 1, I, "10.1.0.1", 0, TCP, 80, "p", 1);
	expect(c, &p, 1, I, "10.1.0.1", 0, TCP, 81, "p", 1);
	expect(c, &p, 1, I, "10.1.0.1", 0, 47, 0, "p", 1);
	expect(c, &p, 1, I, "2001:db8::5", 0, ICMP6, 0, "p", 2);
	expect(c, &p, 1, I, "2001:db9::5", 0, ICMP6, 0, NULL, 0);
	expect(c, &p, 1, E, "10.1.0.1", 0, ICMP, 0, NULL, 0);
	compile__free(c);
}

static void test_any_peer(void **state)
{
	struct nf_policy *p = mkpol("p", false, true);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, E);
	port(r, TCP, 443, 443);
	r = mkrule(p, E);
	ipblock(r, "::/0", NULL);
	port(r, TCP, 80, 80);
	r = mkrule(p, E);
	ipblock(r, "::/80", NULL);	/* contains ::ffff:0:0/96, which stays IPv4-only */
	port(r, TCP, 81, 81);
	c = compile_ok(&p, 1);
	expect(c, &p, 1, E, "1.2.3.4", 0, TCP, 443, "p", 0);
	expect(c, &p, 1, E, "0.0.0.0", 0, TCP, 443, "p", 0);
	expect(c, &p, 1, E, "2001:db8::1", 0, TCP, 443, "p", 0);
	expect(c, &p, 1, E, "::", 0, TCP, 443, "p", 0);
	expect(c, &p, 1, E, "1.2.3.4", tid("a"), TCP, 443, "p", 0);
	expect(c, &p, 1, E, "1.2.3.4", NF_ID_HOST, TCP, 443, "p", 0);
	expect(c, &p, 1, E, "1.2.3.4", 0, TCP, 444, NULL, 0);
	/* an IPv6 ::/0 ipBlock does not cover IPv4 peers */
	expect(c, &p, 1, E, "2001:db8::1", 0, TCP, 80, "p", 1);
	expect(c, &p, 1, E, "1.2.3.4", 0, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "255.255.255.255", 0, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "::fffe:ffff:ffff", 0, TCP, 80, "p", 1);
	expect(c, &p, 1, E, "::1:0:0:0", 0, TCP, 80, "p", 1);
	expect(c, &p, 1, E, "::fffe:1:2", 0, TCP, 81, "p", 2);
	expect(c, &p, 1, E, "1.2.3.4", 0, TCP, 81, NULL, 0);
	expect(c, &p, 1, E, "::1:0:0:0", 0, TCP, 81, NULL, 0);
	compile__free(c);
}

static void test_v6_cidr_inside_v4_mapped(void **state)
{
	struct nf_policy *p = mkpol("p", false, true);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, E);
	ipblock(r, "::ffff:10.0.0.0/104", NULL);	/* written as IPv6: covers nothing */
	r = mkrule(p, E);
	ipblock(r, "10.0.0.0/8", NULL);
	port(r, UDP, 1, 2);
	c = compile_ok(&p, 1);
	assert_false(p->rules[E][0].peers[0].cidr.is_v4);
	expect(c, &p, 1, E, "10.0.0.1", 0, ICMP, 0, NULL, 0);
	expect(c, &p, 1, E, "10.0.0.1", 0, UDP, 2, "p", 1);
	compile__free(c);
}

static void test_tenant_peers(void **state)
{
	struct nf_policy *p = mkpol("p", true, true);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, I);
	tenants(r, false, "a", NULL);
	port(r, TCP, 80, 80);
	r = mkrule(p, I);
	tenants(r, true, "a", "b", NULL);
	port(r, UDP, 53, 53);
	r = mkrule(p, I);
	tenants(r, true, NULL);	/* namespaceSelector: {} */
	port(r, TCP, 22, 22);
	r = mkrule(p, I);
	tenants(r, false, "c", NULL);
	ipblock(r, "192.168.0.0/24", NULL);
	port(r, TCP, 9000, 9000);
	/* egress: NotIn [d] only; d needs an entry that allows nothing */
	r = mkrule(p, E);
	tenants(r, true, "d", NULL);
	c = compile_ok(&p, 1);

	expect(c, &p, 1, I, "10.9.9.9", tid("a"), TCP, 80, "p", 0);
	expect(c, &p, 1, I, "10.9.9.9", tid("a"), UDP, 53, NULL, 0);
	expect(c, &p, 1, I, "10.9.9.9", tid("a"), TCP, 22, "p", 2);
	expect(c, &p, 1, I, "10.9.9.9", tid("b"), TCP, 80, NULL, 0);
	expect(c, &p, 1, I, "10.9.9.9", tid("b"), UDP, 53, NULL, 0);
	expect(c, &p, 1, I, "10.9.9.9", tid("b"), TCP, 22, "p", 2);
	expect(c, &p, 1, I, "10.9.9.9", tid("c"), UDP, 53, "p", 1);
	expect(c, &p, 1, I, "10.9.9.9", tid("c"), TCP, 9000, "p", 3);
	expect(c, &p, 1, I, "10.9.9.9", tid("t3"), UDP, 53, "p", 1);
	expect(c, &p, 1, I, "10.9.9.9", ID_UNKNOWN, UDP, 53, "p", 1);
	expect(c, &p, 1, I, "10.9.9.9", tid("t3"), TCP, 9000, NULL, 0);
	expect(c, &p, 1, I, "192.168.0.7", 0, TCP, 9000, "p", 3);
	/* world and the node are no tenant */
	expect(c, &p, 1, I, "10.9.9.9", 0, TCP, 22, NULL, 0);
	expect(c, &p, 1, I, "10.9.9.9", 0, UDP, 53, NULL, 0);
	expect(c, &p, 1, I, "10.9.9.9", NF_ID_HOST, TCP, 22, NULL, 0);
	expect(c, &p, 1, I, "10.9.9.9", NF_ID_HOST, UDP, 53, NULL, 0);

	expect(c, &p, 1, E, "10.9.9.9", tid("d"), ICMP, 0, NULL, 0);
	expect(c, &p, 1, E, "10.9.9.9", tid("a"), ICMP, 0, "p", 0);
	expect(c, &p, 1, E, "10.9.9.9", 0, ICMP, 0, NULL, 0);
	compile__free(c);
}

/*
 * Both classes allow: the address class decides, as the datapath's lookup
 * does (bpf/lib/policy.bpf.h), even when the identity rule has the lower
 * number. (compile__lookup used to name the lowest rule_ref here.)
 */
static void test_addr_class_first(void **state)
{
	struct nf_policy *p = mkpol("p", true, false);
	struct nf_rule *r;
	struct nf_compiled *c;

	r = mkrule(p, I);	/* rule_ref 1: tenant a, tcp/80 */
	tenants(r, false, "a", NULL);
	port(r, TCP, 80, 80);
	r = mkrule(p, I);	/* rule_ref 2: 10.1.0.0/16, tcp/80-81 */
	ipblock(r, "10.1.0.0/16", NULL);
	port(r, TCP, 80, 81);
	c = compile_ok(&p, 1);

	expect(c, &p, 1, I, "10.1.2.3", tid("a"), TCP, 80, "p", 1);
	expect(c, &p, 1, I, "10.2.2.3", tid("a"), TCP, 80, "p", 0);
	expect(c, &p, 1, I, "10.1.2.3", tid("b"), TCP, 81, "p", 1);
	expect(c, &p, 1, I, "10.2.2.3", tid("a"), TCP, 81, NULL, 0);
	compile__free(c);
}

/*
 * Rule names as `check` reads them: written per parity at install, found
 * only for the tenant and epoch they were written for.
 */
static void test_rule_names(void **state)
{
	struct nf_policy *a = mkpol("a", true, true), *b = mkpol("b", false, true);
	struct nf_policy *pols[] = { b, a };
	struct nf_compiled *c5 = NULL, *c6 = NULL;
	struct nf_rule_names *n = NULL;
	char dir[] = "/tmp/nf-names.XXXXXX", path[64];
	uint32_t ref, index;
	uint8_t d;
	int i;

	for (i = 0; i < 3; i++)
		ipblock(mkrule(a, I), "10.0.0.0/8", NULL);
	ipblock(mkrule(a, E), "10.0.0.0/8", NULL);
	for (i = 0; i < 2; i++)
		ipblock(mkrule(b, E), "10.0.0.0/8", NULL);
	assert_int_equal(compile__tenant("me", 5, 5, pols, 2, test_id_fn, NULL, &c5), 0);
	assert_int_equal(compile__tenant("me", 5, 6, &a, 1, test_id_fn, NULL, &c6), 0);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(lookup__names_write(dir, "me", c5), 0);
	assert_int_equal(lookup__names_write(dir, "me", c6), 0);

	assert_int_equal(lookup__names_read(dir, 5, "me", 5, &n), 0);
	assert_int_equal(c5->n_rules, 6);
	for (ref = 1; ref <= c5->n_rules; ref++) {
		const char *pol = lookup__rule_name(n, ref, &d, &index);

		assert_non_null(pol);
		assert_string_equal(pol, c5->rules[ref - 1].policy);
		assert_int_equal(d, c5->rules[ref - 1].dir);
		assert_int_equal(index, c5->rules[ref - 1].index);
	}
	assert_null(lookup__rule_name(n, 7, &d, &index));
	assert_null(lookup__rule_name(n, 0, &d, &index));
	assert_null(lookup__rule_name(n, NF_RULE_HOST, &d, &index));
	lookup__names_free(n);
	n = NULL;
	/* epoch 6 has its own file; 7 has the parity of epoch 5's file, which says 5 */
	assert_int_equal(lookup__names_read(dir, 5, "me", 6, &n), 0);
	assert_string_equal(lookup__rule_name(n, 4, &d, &index), "a");
	assert_null(lookup__rule_name(n, 5, &d, &index));
	lookup__names_free(n);
	n = NULL;
	assert_int_equal(lookup__names_read(dir, 5, "me", 7, &n), -ENOENT);
	assert_int_equal(lookup__names_read(dir, 5, "other", 5, &n), -ENOENT);
	assert_int_equal(lookup__names_read(dir, 6, "me", 5, &n), -ENOENT);
	assert_null(n);

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/5.rules.%d.json", dir, i);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(rmdir(dir), 0);
	compile__free(c5);
	compile__free(c6);
}

/*
 * SPEC §12: a network with MultiNetworkPolicies has them as its rules (its
 * own rule set, compiled for its own slot); any other network has the
 * NetworkPolicies.
 */
static void test_networks(void **state)
{
	struct nf_policy *np = mkpol("np", false, true), *m1 = mkpol("m1", false, true);
	struct nf_policy *m2 = mkpol("m2", false, true), *pols[3] = { np, m1, m2 }, *sel[3];
	static char *nets1[] = { "me/storage" }, *nets2[] = { "me/rdma", "me/storage" };
	struct nf_compiled *c = NULL;
	struct nf_rule *r;
	bool multi;
	size_t i;

	port(mkrule(np, E), TCP, 8080, 8080);
	r = mkrule(m1, E);
	ipblock(r, "10.127.0.0/24", NULL);
	port(r, TCP, 9090, 9090);
	port(mkrule(m2, E), UDP, 4791, 4791);
	m1->networks = nets1;
	m1->n_networks = 1;
	m2->networks = nets2;
	m2->n_networks = 2;

	assert_int_equal(compile__network_policies(pols, 3, "me/storage", sel, &multi), 2);
	assert_true(multi);
	assert_ptr_equal(sel[0], m1);
	assert_ptr_equal(sel[1], m2);
	assert_int_equal(compile__network_policies(pols, 3, "me/rdma", sel, &multi), 1);
	assert_true(multi);
	assert_ptr_equal(sel[0], m2);
	assert_int_equal(compile__network_policies(pols, 3, "me/default", sel, &multi), 1);
	assert_false(multi);
	assert_ptr_equal(sel[0], np);
	assert_int_equal(compile__network_policies(pols, 3, NULL, sel, &multi), 1);
	assert_ptr_equal(sel[0], np);

	/* the storage rule set, for slot 9: the MNPs' rules and only theirs */
	compile__network_policies(pols, 3, "me/storage", sel, NULL);
	assert_int_equal(compile__tenant("me", 9, 4, sel, 2, test_id_fn, NULL, &c), 0);
	expect(c, sel, 2, E, "10.127.0.5", 0, TCP, 9090, "m1", 0);
	expect(c, sel, 2, E, "10.128.0.5", 0, TCP, 9090, NULL, 0);
	expect(c, sel, 2, E, "10.127.0.5", 0, TCP, 8080, NULL, 0);
	expect(c, sel, 2, E, "192.0.2.1", 0, UDP, 4791, "m2", 0);
	for (i = 0; i < c->n_ports; i++)
		assert_int_equal(c->ports[i].key.class_id >> 20, 9);
	assert_int_equal(c->n_rules_dir[E], 2);
	compile__free(c);
	c = NULL;

	/* any other network: the NetworkPolicy */
	compile__network_policies(pols, 3, "me/primary", sel, NULL);
	assert_int_equal(compile__tenant("me", 5, 3, sel, 1, test_id_fn, NULL, &c), 0);
	expect(c, sel, 1, E, "10.127.0.5", 0, TCP, 8080, "np", 0);
	expect(c, sel, 1, E, "10.127.0.5", 0, TCP, 9090, NULL, 0);
	expect(c, sel, 1, E, "192.0.2.1", 0, UDP, 4791, NULL, 0);
	compile__free(c);
}

static void test_empty_and_errors(void **state)
{
	struct nf_policy *p = mkpol("p", true, true);
	struct nf_compiled *c = NULL;
	struct nf_rule *r;

	c = compile_ok(NULL, 0);
	assert_int_equal(c->n_trie, 0);
	assert_int_equal(c->n_rules, 0);
	expect(c, NULL, 0, E, "10.0.0.1", 0, ICMP, 0, NULL, 0);
	compile__free(c);

	/* a policy with both directions and no rules: isolates both ways */
	c = compile_ok(&p, 1);
	assert_int_equal(c->n_trie, 0);
	expect(c, &p, 1, I, "10.0.0.1", 0, ICMP, 0, NULL, 0);
	compile__free(c);

	assert_int_equal(compile__tenant("me", 0, 0, &p, 1, test_id_fn, NULL, &c), -EINVAL);
	assert_int_equal(compile__tenant("me", NF_MAX_TENANTS, 0, &p, 1, test_id_fn, NULL, &c),
			 -EINVAL);

	/* a name without an id is no error: it selects (or excludes) no address */
	r = mkrule(p, I);
	tenants(r, false, "nosuchtenant", NULL);
	r = mkrule(p, E);
	tenants(r, true, "nosuchtenant", NULL);
	c = compile_ok(&p, 1);
	assert_int_equal(c->n_rules, 2);
	/* In [nosuchtenant]: nothing; NotIn [nosuchtenant]: only the default identity entry */
	assert_int_equal(c->n_trie, 1);
	assert_int_equal(c->trie[0].key.kind, NF_PEER_IDENT);
	assert_int_equal(c->trie[0].key.prefixlen, NF_PEER_KEY_FIXED_BITS);
	expect(c, &p, 1, I, "10.9.9.9", tid("a"), TCP, 80, NULL, 0);
	expect(c, &p, 1, I, "10.9.9.9", ID_UNKNOWN, TCP, 80, NULL, 0);
	expect(c, &p, 1, E, "10.9.9.9", tid("a"), TCP, 80, "p", 0);
	expect(c, &p, 1, E, "10.9.9.9", ID_UNKNOWN, TCP, 80, "p", 0);
	expect(c, &p, 1, E, "10.9.9.9", 0, TCP, 80, NULL, 0);
	compile__free(c);
}

/*
 * One policy naming 5,000 namespaces, 3 of which have ids: 3 identity
 * entries, and the id function (which never allocates) asked about each name.
 */
static unsigned int n_id_asks;

static uint32_t counting_id_fn(const char *name, void *ctx)
{
	n_id_asks++;
	return test_id_fn(name, ctx);
}

static void test_many_names_no_ids(void **state)
{
	enum { N = 5000 };
	struct nf_policy *p = mkpol("p", true, false);
	struct nf_compiled *c = NULL;
	struct nf_peer *pe;
	struct nf_rule *r;
	size_t i;

	r = mkrule(p, I);
	pe = tenants(r, false, NULL);
	pe->names = zalloc(N * sizeof(char *));
	for (i = 0; i < N; i++) {
		pe->names[i] = zalloc(16);
		snprintf(pe->names[i], 16, "ns%zu", i);
	}
	pe->names[10] = "a";
	pe->names[2000] = "c";
	pe->names[4999] = "t5";
	pe->n_names = N;
	port(r, TCP, 80, 80);
	n_id_asks = 0;
	assert_int_equal(compile__tenant("me", 5, 3, &p, 1, counting_id_fn, NULL, &c), 0);
	assert_int_equal(n_id_asks, N);
	assert_int_equal(c->n_trie, 3);
	expect(c, &p, 1, I, "10.9.9.9", tid("a"), TCP, 80, "p", 0);
	expect(c, &p, 1, I, "10.9.9.9", tid("c"), TCP, 80, "p", 0);
	expect(c, &p, 1, I, "10.9.9.9", tid("t5"), TCP, 80, "p", 0);
	expect(c, &p, 1, I, "10.9.9.9", tid("b"), TCP, 80, NULL, 0);
	compile__free(c);
}

static void test_class_ids(void **state)
{
	struct nf_policy *p = mkpol("p", false, true);
	struct nf_compiled *c = NULL;
	struct nf_rule *r;
	size_t i;

	r = mkrule(p, E);
	ipblock(r, "10.0.0.0/8", NULL);
	port(r, TCP, 80, 81);
	r = mkrule(p, E);
	ipblock(r, "10.1.0.0/16", NULL);
	port(r, TCP, 80, 80);
	for (uint32_t epoch = 0; epoch < 2; epoch++) {
		assert_int_equal(compile__tenant("me", 4095, epoch, &p, 1, test_id_fn, NULL, &c),
				 0);
		assert_int_equal(c->n_classes, 2);
		assert_int_equal(c->n_trie, 2);
		/* [80, 81] is one /15 block: rule 1 keeps 80 and 81 in both classes */
		assert_int_equal(c->n_ports, 2);
		for (i = 0; i < c->n_trie; i++) {
			uint32_t id = c->trie[i].val.class_id;

			assert_int_equal(id >> 20, 4095);
			assert_int_equal((id >> 19) & 1, epoch);
			assert_in_range(id & NF_CLASS_MAX_INDEX, 1, 2);
			assert_int_equal(c->trie[i].val.plen_mask[NF_L4_TCP], 1u << 15);
		}
		compile__free(c);
	}
}

/* ---- range -> prefixes ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint32_t rndn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static void check_range(uint32_t lo, uint32_t hi, bool brute)
{
	uint16_t ports[32];
	uint8_t plens[32];
	size_t n, i;
	uint32_t next = lo;

	n = compile__range_to_prefixes((uint16_t)lo, (uint16_t)hi, ports, plens);
	assert_true(n >= 1 && n <= 30);
	for (i = 0; i < n; i++) {
		uint32_t size = 1u << (16 - plens[i]);

		assert_true(plens[i] <= 16);
		/* aligned, consecutive, in order */
		assert_int_equal(ports[i] & (size - 1), 0);
		assert_int_equal(ports[i], next);
		next = ports[i] + size;
		/* minimal: two equal neighbours never form one aligned block */
		if (i && plens[i] == plens[i - 1] && plens[i] &&
		    !(ports[i - 1] & ((size << 1) - 1)))
			fail_msg("[%u, %u]: blocks %zu and %zu could merge", lo, hi, i - 1, i);
	}
	assert_int_equal(next, hi + 1);
	if (brute) {
		static uint8_t hit[65536];

		memset(hit, 0, sizeof(hit));
		for (i = 0; i < n; i++) {
			uint32_t size = 1u << (16 - plens[i]), m = 0xffffu & ~(size - 1);

			for (uint32_t p = 0; p < 65536; p++)
				if ((p & m) == ports[i])
					hit[p]++;
		}
		for (uint32_t p = 0; p < 65536; p++)
			assert_int_equal(hit[p], p >= lo && p <= hi);
	}
}

static void test_range_to_prefixes(void **state)
{
	uint32_t lo, hi, k;

	for (lo = 0; lo < 70; lo++)
		for (hi = lo; hi < 140; hi++)
			check_range(lo, hi, false);
	for (lo = 65400; lo < 65536; lo++)
		for (hi = lo; hi < 65536; hi++)
			check_range(lo, hi, false);
	check_range(0, 65535, true);
	check_range(1, 65535, true);
	check_range(0, 65534, true);
	check_range(1, 65534, true);
	check_range(32768, 32768, true);
	check_range(32767, 32768, true);
	for (k = 0; k < 200000; k++) {
		lo = rndn(65536);
		if (k & 1)
			hi = lo + rndn(300);
		else
			hi = lo + rndn(65536 - lo);
		check_range(lo, hi > 65535 ? 65535 : hi, k < 60);
	}
}

/* ---- randomized differential test ---- */

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 0) : def;
}

static const char *const pnames[] = { "p0", "p1", "p2", "p3", "p4", "p5" };

struct gen {
	uint32_t v4_bits;	/* random low address bits of the pools */
	uint32_t v6_bits;
	uint32_t max_rules;
	/*
	 * A big tenant: every rule has ports (else some rule allows everything)
	 * and few cidrs are wide (each class carries the port entries of all its
	 * rules, so thousands of rules all overlapping exceed the port map).
	 */
	bool big;
};

static void gen_addr(const struct gen *g, uint8_t *a, bool v4)
{
	uint32_t low;

	memset(a, 0, 16);
	if (v4) {
		a[10] = a[11] = 0xff;
		a[12] = 10;
		low = rndn(1u << g->v4_bits);
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
		low = rndn(1u << g->v6_bits);
		if (!rndn(8))
			a[7] = 1;
	}
	a[13] |= (uint8_t)(low >> 16);
	a[14] = (uint8_t)(low >> 8);
	a[15] = (uint8_t)low;
}

static void mask_cidr(struct nf_cidr *c)
{
	for (unsigned int i = c->plen; i < 128; i++)
		c->addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

static bool in_cidr(const struct nf_cidr *c, const uint8_t *a)
{
	for (unsigned int i = 0; i < c->plen; i++)
		if (((c->addr[i / 8] ^ a[i / 8]) >> (7 - i % 8)) & 1)
			return false;
	return true;
}

static struct nf_cidr gen_cidr(const struct gen *g)
{
	struct nf_cidr c = {};
	uint32_t k = rndn(100);

	c.is_v4 = rndn(5) < 3;
	gen_addr(g, c.addr, c.is_v4);
	if (g->big) {
		c.plen = (uint8_t)(128 - rndn((c.is_v4 ? g->v4_bits : g->v6_bits) / 2));
		mask_cidr(&c);
		return c;
	}
	if (c.is_v4) {
		if (k < 75)
			c.plen = (uint8_t)(128 - rndn(g->v4_bits + 2));
		else
			c.plen = (uint8_t)(96 + rndn(32));
	} else {
		if (k < 70) {
			c.plen = (uint8_t)(128 - rndn(g->v6_bits + 2));
		} else if (k < 80) {
			static const uint8_t wide[] = { 0, 0, 16, 32, 64, 80, 95, 96 };

			c.plen = wide[rndn(sizeof(wide))];
		} else if (k < 85) {
			/* an IPv6 cidr over v4-mapped addresses */
			gen_addr(g, c.addr, true);
			c.plen = (uint8_t)(96 + rndn(33));
		} else {
			c.plen = (uint8_t)rndn(129);
		}
	}
	mask_cidr(&c);
	return c;
}

static struct nf_cidr gen_except(const struct gen *g, const struct nf_cidr *in)
{
	struct nf_cidr e = *in;
	uint8_t a[16];
	unsigned int span = 128 - in->plen, lo, i;

	gen_addr(g, a, rndn(2));
	if (!in_cidr(in, a)) {
		memcpy(a, in->addr, 16);
		for (i = in->plen; i < 128; i++)
			if (rndn(2))
				a[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	}
	memcpy(e.addr, a, 16);
	/* strictly inside, mostly at the pools' granularity */
	lo = 128 - (in->is_v4 ? g->v4_bits : g->v6_bits) - 1;
	if (lo <= in->plen || rndn(4) == 0)
		e.plen = (uint8_t)(in->plen + 1 + rndn(span));
	else
		e.plen = (uint8_t)(lo + rndn(128 - lo + 1));
	mask_cidr(&e);
	return e;
}

static void gen_port(const struct gen *g, struct nf_port_range *pr)
{
	static const uint8_t protos[] = { TCP, TCP, TCP, UDP, UDP, SCTP };
	uint32_t k = rndn(100);

	pr->proto = protos[rndn(sizeof(protos))];
	if (k < 65) {
		pr->lo = (uint16_t)(1 + rndn(30));
		pr->hi = (uint16_t)(pr->lo + (rndn(2) ? 0 : rndn(12)));
	} else if (k < 75) {
		pr->lo = 0;
		pr->hi = 65535;
	} else if (k < 85 || g->big) {
		pr->lo = (uint16_t)(65520 + rndn(16));
		pr->hi = (uint16_t)(pr->lo + rndn(65536 - pr->lo));
	} else {
		pr->lo = (uint16_t)(1 + rndn(65535));
		pr->hi = (uint16_t)(pr->lo + rndn(65536 - pr->lo));
	}
}

static void gen_rule(const struct gen *g, struct nf_rule *r)
{
	size_t i, j;

	r->n_peers = rndn(g->big ? 2000 : 7) == 0 ? 0 : 1 + rndn(3);
	r->peers = zalloc((r->n_peers ? r->n_peers : 1) * sizeof(*r->peers));
	for (i = 0; i < r->n_peers; i++) {
		struct nf_peer *p = &r->peers[i];

		if (rndn(4)) {
			p->kind = NF_PK_IPBLOCK;
			p->cidr = gen_cidr(g);
			p->n_except = (p->cidr.plen < 128 && rndn(3) == 0) ? 1 + rndn(3) : 0;
			p->except = zalloc((p->n_except ? p->n_except : 1) * sizeof(*p->except));
			for (j = 0; j < p->n_except; j++)
				p->except[j] = gen_except(g, &p->cidr);
			/* policy/peer.c adds ::ffff:0:0/96 itself to IPv6 cidrs up to /95 */
			if (!p->cidr.is_v4 && p->cidr.plen < 96 && rndn(2)) {
				struct nf_cidr v4 = cidr("0.0.0.0/0");

				if (in_cidr(&p->cidr, v4.addr)) {
					p->except = zalloc((p->n_except + 1) * sizeof(*p->except));
					for (j = 0; j < p->n_except; j++)
						p->except[j] = gen_except(g, &p->cidr);
					p->except[p->n_except++] = v4;
				}
			}
		} else {
			p->kind = NF_PK_TENANTS;
			p->negate = rndn(5) < 2;
			p->n_names = rndn(4);
			p->names = zalloc((p->n_names ? p->n_names : 1) * sizeof(char *));
			for (j = 0; j < p->n_names; j++)
				p->names[j] = (char *)tnames[rndn(N_TNAMES)];
		}
	}
	r->n_ports = (!g->big && rndn(10) < 3) ? 0 : 1 + rndn(3);
	r->ports = zalloc((r->n_ports ? r->n_ports : 1) * sizeof(*r->ports));
	for (i = 0; i < r->n_ports; i++)
		gen_port(g, &r->ports[i]);
}

static size_t gen_tenant(const struct gen *g, struct nf_policy **pols, size_t max_pols)
{
	size_t n = g->big ? max_pols : 1 + rndn((uint32_t)max_pols), i, j;
	const char *names[6];
	int dir;

	memcpy(names, pnames, sizeof(names));
	for (i = 0; i < 6; i++) {
		const char *t;

		j = i + rndn((uint32_t)(6 - i));
		t = names[i];
		names[i] = names[j];
		names[j] = t;
	}
	for (i = 0; i < n; i++) {
		struct nf_policy *p = zalloc(sizeof(*p));

		p->tenant = "me";
		p->name = (char *)names[i];
		p->has_dir[NF_DIR_INGRESS] = rndn(3) != 0;
		p->has_dir[NF_DIR_EGRESS] = !p->has_dir[NF_DIR_INGRESS] || rndn(2);
		for (dir = 0; dir < NF_DIR_MAX; dir++) {
			p->n_rules[dir] = rndn(g->max_rules + 1);
			p->rules[dir] = zalloc((p->n_rules[dir] ? p->n_rules[dir] : 1) *
					       sizeof(struct nf_rule));
			for (j = 0; j < p->n_rules[dir]; j++)
				gen_rule(g, &p->rules[dir][j]);
		}
		pols[i] = p;
	}
	return n;
}

/* addr +/- 1 in 128 bits */
static void addr_step(uint8_t *a, int delta)
{
	for (int i = 15; i >= 0; i--) {
		if (delta > 0) {
			if (++a[i])
				break;
		} else {
			if (a[i]--)
				break;
		}
	}
}

/* Random peer address, biased to the prefixes and boundaries the policies use. */
static void gen_probe_addr(const struct gen *g, struct nf_policy **pols, size_t n, uint8_t *a)
{
	const struct nf_policy *p = pols[rndn((uint32_t)n)];
	const struct nf_rule *r;
	const struct nf_peer *pe;
	struct nf_cidr c;
	int dir = rndn(2);
	uint32_t k = rndn(100), i;

	if (k < 55 && p->n_rules[dir]) {
		r = &p->rules[dir][rndn((uint32_t)p->n_rules[dir])];
		if (r->n_peers) {
			pe = &r->peers[rndn((uint32_t)r->n_peers)];
			if (pe->kind == NF_PK_IPBLOCK) {
				c = pe->cidr;
				if (pe->n_except && rndn(2))
					c = pe->except[rndn((uint32_t)pe->n_except)];
				memcpy(a, c.addr, 16);
				switch (rndn(5)) {
				case 0:	/* first - 1 */
					addr_step(a, -1);
					break;
				case 1:	/* first */
					break;
				case 2:	/* last, last + 1 */
				case 3:
					for (i = c.plen; i < 128; i++)
						a[i / 8] |= (uint8_t)(0x80 >> (i % 8));
					if (rndn(2))
						addr_step(a, 1);
					break;
				default:	/* inside */
					for (i = c.plen; i < 128; i++)
						if (rndn(2))
							a[i / 8] |= (uint8_t)(0x80 >> (i % 8));
				}
				return;
			}
		}
	}
	if (k < 90) {
		gen_addr(g, a, rndn(2));
		return;
	}
	for (i = 0; i < 16; i++)
		a[i] = (uint8_t)rnd();
	if (k < 95) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
	} else if (k < 97) {
		memset(a, 0, 16);
	}
}

static uint16_t gen_probe_port(struct nf_policy **pols, size_t n)
{
	const struct nf_policy *p = pols[rndn((uint32_t)n)];
	int dir = rndn(2);
	uint32_t k = rndn(100);

	if (k < 60 && p->n_rules[dir]) {
		const struct nf_rule *r = &p->rules[dir][rndn((uint32_t)p->n_rules[dir])];

		if (r->n_ports) {
			const struct nf_port_range *pr = &r->ports[rndn((uint32_t)r->n_ports)];

			switch (rndn(4)) {
			case 0:
				return (uint16_t)(pr->lo - 1);
			case 1:
				return pr->lo;
			case 2:
				return pr->hi;
			default:
				return (uint16_t)(pr->hi + 1);
			}
		}
	}
	if (k < 80)
		return (uint16_t)rndn(45);
	if (k < 85)
		return 0;
	if (k < 90)
		return 65535;
	return (uint16_t)rnd();
}

static void gen_query(const struct gen *g, struct nf_policy **pols, size_t n, struct nf_query *q)
{
	static const uint8_t protos[] = { TCP, TCP, TCP, TCP, UDP, UDP, UDP, SCTP, SCTP,
					  ICMP, ICMP6, 0, 47 };
	uint32_t k = rndn(100);

	memset(q, 0, sizeof(*q));
	q->dir = (uint8_t)rndn(2);
	gen_probe_addr(g, pols, n, q->addr);
	if (k < 40)
		q->peer_id = 0;
	else if (k < 90)
		q->peer_id = 1 + rndn(N_TNAMES);
	else if (k < 95)
		q->peer_id = ID_UNKNOWN;
	else
		q->peer_id = NF_ID_HOST;
	q->proto = protos[rndn(sizeof(protos))];
	q->port = gen_probe_port(pols, n);
}

/* The structure of compiled tables: what the datapath relies on. */
static void check_structure(const struct nf_compiled *c, uint32_t tenant_id, uint32_t epoch)
{
	size_t i;

	for (i = 0; i < c->n_trie; i++) {
		const struct nf_peer_key *k = &c->trie[i].key;
		const struct nf_class *v = &c->trie[i].val;
		unsigned int b;

		assert_true(k->kind == NF_PEER_ADDR || k->kind == NF_PEER_IDENT);
		assert_true(k->dir < NF_DIR_MAX);
		assert_true(!k->pad[0] && !k->pad[1]);
		assert_true(k->prefixlen >= 32 && k->prefixlen <= 160);
		if (k->kind == NF_PEER_IDENT)
			assert_true(k->prefixlen == 32 || k->prefixlen == 64);
		for (b = k->prefixlen - 32; b < 128; b++)
			assert_false((k->data[b / 8] >> (7 - b % 8)) & 1);
		if (i)
			assert_true(memcmp(&c->trie[i - 1].key, k, sizeof(*k)) != 0);
		if (v->class_id) {
			assert_int_equal(v->class_id >> 20, tenant_id);
			assert_int_equal((v->class_id >> 19) & 1, epoch & 1);
			assert_true((v->class_id & NF_CLASS_MAX_INDEX) >= 1);
			assert_true((v->class_id & NF_CLASS_MAX_INDEX) <= c->n_classes);
		} else {
			assert_int_equal(v->any_rule, 0);
		}
		assert_true(NF_RULE_REF(v->any_rule) <= c->n_rules);
		assert_true(NF_RULE_REF(v->any_adm) <= c->n_rules);
		for (b = 0; b < NF_L4_MAX; b++)
			assert_int_equal(v->plen_mask[b] >> 17, 0);
	}
	for (i = 0; i < c->n_ports; i++) {
		const struct nf_port_key *k = &c->ports[i].key;

		assert_true(k->plen <= 16);
		assert_int_equal(ntohs(k->port) & (0xffffu >> k->plen), 0);
		assert_true(c->ports[i].val.rule_ref || c->ports[i].val.adm);
		assert_true(NF_RULE_REF(c->ports[i].val.rule_ref) <= c->n_rules);
		assert_true(NF_RULE_REF(c->ports[i].val.adm) <= c->n_rules);
		assert_int_equal(k->class_id >> 20, tenant_id);
		if (i)
			assert_true(memcmp(&c->ports[i - 1].key, k, sizeof(*k)) != 0);
	}
}

static void print_query(const struct nf_query *q)
{
	char buf[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, q->addr, buf, sizeof(buf));
	print_error("query: dir %u addr %s peer_id %u proto %u port %u\n", q->dir, buf,
		    q->peer_id, q->proto, q->port);
}

/* Compile one random tenant and probe it; returns the number of allowed probes. */
static size_t differential_one(const struct gen *g, struct nf_policy **pols, size_t n,
			       size_t probes, unsigned long long seed, size_t iter)
{
	struct nf_compiled *c = NULL;
	struct nf_query q;
	size_t allowed = 0, k;
	uint32_t tenant_id = 1 + rndn(4095), epoch = rndn(4);
	int err;

	err = compile__tenant("me", tenant_id, epoch, pols, n, test_id_fn, NULL, &c);
	if (err)
		fail_msg("seed %llu iter %zu: compile failed: %d", seed, iter, err);
	check_structure(c, tenant_id, epoch);
	for (k = 0; k < probes; k++) {
		uint32_t ref, idx = 0;
		const char *pol = NULL;
		bool ok;

		gen_query(g, pols, n, &q);
		ref = compile__lookup(c, &q);
		ok = refeval__decide("me", pols, n, &q, test_name_fn, NULL, &pol, &idx);
		if (!!ref != ok) {
			print_query(&q);
			fail_msg("seed %llu iter %zu probe %zu: compiled %u, refeval %d (%s/%u)",
				 seed, iter, k, ref, ok, pol ? pol : "-", idx);
		}
		if (!ref)
			continue;
		allowed++;
		/* the rule the compiled tables name must match on its own */
		if (!named_rule_matches(c, pols, n, &q, ref)) {
			print_query(&q);
			fail_msg("seed %llu iter %zu probe %zu: rule %u (%s/%u) does not match",
				 seed, iter, k, ref, c->rules[ref - 1].policy,
				 c->rules[ref - 1].index);
		}
	}
	compile__free(c);
	return allowed;
}

static unsigned long long seed_init(void)
{
	unsigned long long seed = env_ul("NF_SEED", 0);

	if (!seed)
		seed = 20240601;	/* fixed, so CI runs are reproducible */
	rng_state = seed;
	return seed;
}

static void test_differential(void **state)
{
	struct gen g = { .v4_bits = 10, .v6_bits = 10, .max_rules = 4 };
	unsigned long long seed = seed_init();
	size_t iters = env_ul("NF_ITERS", 5000), probes = env_ul("NF_PROBES", 1000);
	size_t it, total = 0, allowed = 0;
	struct nf_policy *pols[6];

	print_message("differential: NF_SEED=%llu, %zu tenants x %zu probes\n", seed, iters,
		      probes);
	for (it = 0; it < iters; it++) {
		size_t n;

		/* vary how concentrated the address pools are */
		g.v4_bits = 3 + rndn(10);
		g.v6_bits = 3 + rndn(10);
		n = gen_tenant(&g, pols, 3);
		allowed += differential_one(&g, pols, n, probes, seed, it);
		total += probes;
		arena_free();
	}
	print_message("differential: %zu probes, %zu allowed\n", total, allowed);
	/* both outcomes must be well represented for the test to mean something */
	assert_true(allowed > total / 20 && allowed < total - total / 20);
}

static void test_differential_large(void **state)
{
	struct gen g = { .v4_bits = 16, .v6_bits = 16, .max_rules = 1800, .big = true };
	unsigned long long seed = seed_init();
	size_t probes = env_ul("NF_PROBES", 1000) * 20, allowed;
	struct nf_policy *pols[6];
	size_t n, i, rules = 0;

	n = gen_tenant(&g, pols, 6);
	for (i = 0; i < n; i++)
		rules += pols[i]->n_rules[0] + pols[i]->n_rules[1];
	print_message("differential large: NF_SEED=%llu, %zu rules x %zu probes\n", seed, rules,
		      probes);
	allowed = differential_one(&g, pols, n, probes, seed, 0);
	print_message("differential large: %zu allowed\n", allowed);
}

/* ---- 100,000 rules ---- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define BIG_RULES 100000
#define BIG_POLS 10	/* the validator allows 10,000 rules per direction per policy */

static struct nf_policy **big_tenant(bool v6, uint16_t lo, uint16_t hi)
{
	struct nf_policy **pols = zalloc(BIG_POLS * sizeof(*pols));
	struct nf_rule *rules = zalloc(BIG_RULES * sizeof(*rules));
	struct nf_peer *peers = zalloc(BIG_RULES * sizeof(*peers));
	struct nf_port_range *ports = zalloc(BIG_RULES * sizeof(*ports));
	static char names[BIG_POLS][16];
	size_t i, per = BIG_RULES / BIG_POLS;

	for (i = 0; i < BIG_POLS; i++) {
		pols[i] = zalloc(sizeof(**pols));
		snprintf(names[i], sizeof(names[i]), "big-%02zu", i);
		pols[i]->name = names[i];
		pols[i]->has_dir[NF_DIR_EGRESS] = true;
		pols[i]->rules[NF_DIR_EGRESS] = rules + i * per;
		pols[i]->n_rules[NF_DIR_EGRESS] = per;
	}
	for (i = 0; i < BIG_RULES; i++) {
		struct nf_peer *p = &peers[i];
		uint16_t one = (uint16_t)(1 + i % 60000);

		p->kind = NF_PK_IPBLOCK;
		if (v6) {
			/* 2001:db8:0:i::/64 */
			p->cidr.addr[0] = 0x20;
			p->cidr.addr[1] = 0x01;
			p->cidr.addr[2] = 0x0d;
			p->cidr.addr[3] = 0xb8;
			p->cidr.addr[5] = (uint8_t)(i >> 16);
			p->cidr.addr[6] = (uint8_t)(i >> 8);
			p->cidr.addr[7] = (uint8_t)i;
			p->cidr.plen = 64;
		} else {
			/* 10.i/32 */
			p->cidr.is_v4 = true;
			p->cidr.addr[10] = p->cidr.addr[11] = 0xff;
			p->cidr.addr[12] = 10;
			p->cidr.addr[13] = (uint8_t)(i >> 16);
			p->cidr.addr[14] = (uint8_t)(i >> 8);
			p->cidr.addr[15] = (uint8_t)i;
			p->cidr.plen = 128;
		}
		ports[i] = (struct nf_port_range){ .proto = TCP, .lo = lo ? lo : one,
						   .hi = hi ? hi : one };
		rules[i].peers = p;
		rules[i].n_peers = 1;
		rules[i].ports = &ports[i];
		rules[i].n_ports = 1;
	}
	return pols;
}

static void test_big(void **state)
{
	struct nf_compiled *c = NULL;
	struct nf_policy **pols;
	struct nf_query q = { .dir = E, .proto = TCP };
	uint16_t bp[32];
	uint8_t bl[32];
	size_t blocks;
	double t;

	if (!env_ul("NF_BIG", 1))
		skip();

	/* IPv4: 100k /32s, one TCP port each */
	pols = big_tenant(false, 0, 0);
	t = now();
	assert_int_equal(compile__tenant("big", 7, 0, pols, BIG_POLS, test_id_fn, NULL, &c), 0);
	print_message("100k IPv4 /32 rules compiled in %.3f s\n", now() - t);
	assert_int_equal(c->n_rules, BIG_RULES);
	assert_int_equal(c->n_rules_dir[E], BIG_RULES);
	assert_int_equal(c->n_trie, BIG_RULES);
	assert_int_equal(c->n_ports, BIG_RULES);
	assert_int_equal(c->n_classes, BIG_RULES);
	q.addr[10] = q.addr[11] = 0xff;
	q.addr[12] = 10;
	q.addr[13] = 1;		/* 10.1.134.159 = rule 100000 (index 99999) */
	q.addr[14] = 0x86;
	q.addr[15] = 0x9f;
	q.port = 1 + 99999 % 60000;
	assert_int_equal(compile__lookup(c, &q), BIG_RULES);
	assert_string_equal(c->rules[BIG_RULES - 1].policy, "big-09");
	q.port++;
	assert_int_equal(compile__lookup(c, &q), 0);
	compile__free(c);

	/* IPv6: 100k /64s, TCP 8000-8080 each */
	pols = big_tenant(true, 8000, 8080);
	blocks = compile__range_to_prefixes(8000, 8080, bp, bl);
	t = now();
	assert_int_equal(compile__tenant("big", 7, 1, pols, BIG_POLS, test_id_fn, NULL, &c), 0);
	print_message("100k IPv6 /64 rules (%zu port blocks each) compiled in %.3f s\n", blocks,
		      now() - t);
	assert_int_equal(c->n_rules, BIG_RULES);
	assert_int_equal(c->n_trie, BIG_RULES);
	assert_int_equal(c->n_ports, BIG_RULES * blocks);
	memset(&q, 0, sizeof(q));
	q.dir = E;
	q.proto = TCP;
	q.addr[0] = 0x20;
	q.addr[1] = 0x01;
	q.addr[2] = 0x0d;
	q.addr[3] = 0xb8;
	q.addr[6] = 0x03;	/* 2001:db8:0:3e8::1 = rule 1001 */
	q.addr[7] = 0xe8;
	q.addr[15] = 1;
	q.port = 8080;
	assert_int_equal(compile__lookup(c, &q), 1001);
	q.port = 8081;
	assert_int_equal(compile__lookup(c, &q), 0);
	compile__free(c);

	/* 100k classes of 30 port blocks each: more than nf_ports may hold */
	pols = big_tenant(false, 1, 65534);
	c = (struct nf_compiled *)1;
	assert_int_equal(compile__tenant("big", 7, 0, pols, BIG_POLS, test_id_fn, NULL, &c),
			 -ENOSPC);
	assert_null(c);
}

/* One class over 100k rules sharing a cidr: the sweep must not be quadratic. */
static void test_big_one_class(void **state)
{
	struct nf_compiled *c = NULL;
	struct nf_policy **pols;
	size_t i;
	double t;

	if (!env_ul("NF_BIG", 1))
		skip();
	pols = big_tenant(false, 0, 0);
	for (i = 0; i < BIG_POLS; i++) {
		struct nf_rule *r = pols[i]->rules[E];

		for (size_t j = 0; j < pols[i]->n_rules[E]; j++)
			r[j].peers[0].cidr.plen = 96 + 8;	/* all 10.0.0.0/8 */
	}
	t = now();
	assert_int_equal(compile__tenant("big", 7, 0, pols, BIG_POLS, test_id_fn, NULL, &c), 0);
	print_message("100k rules on one cidr compiled in %.3f s\n", now() - t);
	assert_int_equal(c->n_trie, 1);
	assert_int_equal(c->n_classes, 1);
	/*
	 * Rule i has the single port 1 + i % 60000: no range covers two ports,
	 * so the union [1, 60000] needs one /16 entry per port.
	 */
	assert_int_equal(c->n_ports, 60000);
	compile__free(c);

	/*
	 * 100k /32s under one rule with 10,000 copies of 10.0.0.0/8 (ports
	 * 60000-60010): the walk must not rescan the enclosing peers at every
	 * prefix (10^9 steps).
	 */
	pols = big_tenant(false, 0, 0);
	{
		struct nf_policy *p = mkpol("aaa", false, true);
		struct nf_rule *r = mkrule(p, E);
		struct nf_policy **all = zalloc((BIG_POLS + 1) * sizeof(*all));

		r->peers = zalloc(10000 * sizeof(*r->peers));
		for (i = 0; i < 10000; i++) {
			r->peers[i].kind = NF_PK_IPBLOCK;
			r->peers[i].cidr = cidr("10.0.0.0/8");
		}
		r->n_peers = 10000;
		port(r, TCP, 60000, 60010);
		memcpy(all, pols, BIG_POLS * sizeof(*all));
		all[BIG_POLS] = p;
		t = now();
		assert_int_equal(compile__tenant("big", 7, 0, all, BIG_POLS + 1, test_id_fn, NULL,
						 &c), 0);
		print_message("100k /32 rules inside 10,000 enclosing peers compiled in %.3f s\n",
			      now() - t);
		assert_int_equal(c->n_trie, BIG_RULES + 1);
		assert_int_equal(c->n_classes, BIG_RULES + 1);
		compile__free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_overlapping_cidrs, teardown),
		cmocka_unit_test_teardown(test_networks, teardown),
		cmocka_unit_test_teardown(test_except_covered_elsewhere, teardown),
		cmocka_unit_test_teardown(test_nested_excepts, teardown),
		cmocka_unit_test_teardown(test_union_policies_and_refs, teardown),
		cmocka_unit_test_teardown(test_port_ranges, teardown),
		cmocka_unit_test_teardown(test_icmp_only_no_ports, teardown),
		cmocka_unit_test_teardown(test_any_peer, teardown),
		cmocka_unit_test_teardown(test_v6_cidr_inside_v4_mapped, teardown),
		cmocka_unit_test_teardown(test_tenant_peers, teardown),
		cmocka_unit_test_teardown(test_addr_class_first, teardown),
		cmocka_unit_test_teardown(test_rule_names, teardown),
		cmocka_unit_test_teardown(test_empty_and_errors, teardown),
		cmocka_unit_test_teardown(test_many_names_no_ids, teardown),
		cmocka_unit_test_teardown(test_class_ids, teardown),
		cmocka_unit_test_teardown(test_range_to_prefixes, teardown),
		cmocka_unit_test_teardown(test_differential, teardown),
		cmocka_unit_test_teardown(test_differential_large, teardown),
		cmocka_unit_test_teardown(test_big, teardown),
		cmocka_unit_test_teardown(test_big_one_class, teardown),
	};

	return cmocka_run_group_tests_name("compile", tests, NULL, NULL);
}
