// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Verdict tables for the datapath (SPEC §3), run with BPF_PROG_TEST_RUN on a
 * private instance of the real BPF object: default deny, ARP/ND, ports,
 * port ranges, protocols, except and union, stateful replies and related
 * ICMP errors, revocation, anti-spoofing, IPv6 extension headers, fragments,
 * malformed packets, node ingress and tenant selectors.
 *
 * Every case is one packet through tc_ingress or tc_egress and asserts both
 * the verdict and the exact change of nf_stats: one counter (tenant,
 * direction, reason, hook) up by one packet of the frame's length, or no
 * change at all, and nothing else changed.
 *
 * Every table runs twice, for IPv4 and IPv6: addresses and policy CIDRs are
 * written as IPv4 and mapped to fd00::/96 for IPv6 (tests/common/pkt.h).
 *
 * The endpoint under test is (this netns, ifindex 1 = lo): BPF_PROG_TEST_RUN
 * runs tc programs on lo when ctx_in's ifindex is 1. Its addresses are
 * 10.0.0.1 and fd00::10.0.0.1.
 *
 * Skipped without CAP_BPF (or CAP_SYS_ADMIN).
 *
 * Regressions these tables caught, all fixed in the datapath: a TCP header
 * shorter than 20 bytes or than its doff (and an SCTP common header under
 * 12 bytes) passing as well-formed; exactly 8 IPv6 extension headers
 * dropped as malformed; ICMP errors about a tracked flow dropped after a
 * policy replace that still allows the flow; an echo request passing as the
 * reply to our own echo request; IPv6 packets with v4-mapped addresses
 * matching IPv4 rules (now malformed, as RFC 4291 2.5.5.2 says). Cases can
 * still be marked .bug = "why" to skip them unless NF_TEST_BUGS=1.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "dp_test.h"
#include "lookup.h"
#include "pkt.h"

#define TENANT	"alpha"
#define EP_ID	7
#define IFINDEX 1
#define EP	"10.0.0.1"

#define IN	NF_DIR_INGRESS
#define EG	NF_DIR_EGRESS
#define PASS	DPT_TC_OK
#define DROP	DPT_TC_SHOT

/* What the case must count (exactly one packet), or R_NONE for nothing. */
#define R_NONE	    DPT_NO_COUNT
#define R_ALLOWED   NF_REASON_ALLOWED_FLOW
#define R_POLICY    NF_DROP_POLICY
#define R_SPOOFED   NF_DROP_SPOOFED
#define R_MALFORMED NF_DROP_MALFORMED
#define R_FRAGMENT  NF_DROP_FRAGMENT
#define R_CTFULL    NF_DROP_CT_FULL
#define R_ADMIN	    NF_DROP_ADMIN
#define R_BASELINE  NF_DROP_BASELINE

#define TCP	    IPPROTO_TCP
#define UDP	    IPPROTO_UDP
#define SCTP	    IPPROTO_SCTP
#define ICMP	    PKT_ICMP

#define SYN	    PKT_TCP_SYN
#define SYNACK	    (PKT_TCP_SYN | PKT_TCP_ACK)
#define ACK	    PKT_TCP_ACK

struct vcase {
	const char *desc;
	struct pkt_spec pkt;
	uint8_t dir; /* IN: tc_ingress, EG: tc_egress */
	uint32_t verdict; /* PASS / DROP */
	uint8_t reason; /* R_*: the one counter that must move */
	uint8_t only; /* 0: both families; 4 or 6: that family only */
	bool flush; /* forget tracked flows and fragments first */
	const char *tenant; /* whose counter (NULL: TENANT) */
	/*
	 * The frame's IP header is incomplete. BPF_PROG_TEST_RUN on 6.18
	 * refuses those (EINVAL: measured, every tc run with fewer than 20
	 * bytes of IPv4 or 40 of IPv6 header), so such a case passes when the
	 * kernel refuses it, and must give its verdict where the kernel runs it.
	 */
	bool kernel_may_refuse;
	/*
	 * A known datapath bug makes this case fail: it names the bug (see
	 * "Known bugs" above). Such cases are skipped unless NF_TEST_BUGS=1,
	 * so the suite stays green while they wait for their fix; once fixed,
	 * remove the mark.
	 */
	const char *bug;
};

struct fx {
	int family;
	struct dpt *f;
	uint32_t tenant_id;
	bool events; /* drop events are on: every case checks them too */
};

static int fam4 = 4, fam6 = 6;
static int load_err;

/* ------------------------------------------------------------ fixture */

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	char a[64];
	int err;

	if (!x)
		return -1;
	x->family = *(int *)*state;
	*state = x;
	if (!dpt_can_bpf())
		return 0; /* the test skips */
	/* A datapath that can't load fails every test; try (slowly) only once. */
	if (load_err) {
		fprintf(stderr, "the private datapath did not load: %s\n", strerror(-load_err));
		return -1;
	}
	err = dpt_open(&x->f);
	if (err) {
		load_err = err;
		fprintf(stderr, "cannot load a private datapath: %s\n", strerror(-err));
		return -1;
	}
	x->tenant_id = dpt_tenant(x->f, TENANT);
	if (!x->tenant_id)
		return -1;
	if (dpt_add_endpoint(x->f, IFINDEX, x->tenant_id, EP_ID, 0))
		return -1;
	pkt_addr_text(EP, x->family, a, sizeof(a));
	if (dpt_add_ep_addr(x->f, EP_ID, a))
		return -1;
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

static struct fx *fixture(void **state)
{
	struct fx *x = *state;

	if (!x->f)
		skip();
	return x;
}

/*
 * Apply policy JSON for a tenant. The JSON is written with single quotes
 * (C-friendly), turned into double quotes here, then mapped to the family.
 */
static void apply_for(struct fx *x, const char *tenant, const char *json)
{
	char *dq = strdup(json), *fj, *c;
	int err;

	assert_non_null(dq);
	for (c = dq; *c; c++)
		if (*c == '\'')
			*c = '"';
	fj = pkt_json_for_family(dq, x->family);
	assert_non_null(fj);
	err = dpt_apply_json(x->f, tenant, fj);
	if (err)
		fail_msg("applying policy failed (%s):\n%s", strerror(-err), fj);
	free(fj);
	free(dq);
}

static void apply(struct fx *x, const char *json)
{
	apply_for(x, TENANT, json);
}

/* JSON helpers: a NetworkPolicy of tenant alpha and a List of them. */
#define NP_NS(ns, name, types, rules)                                                           \
	"{'apiVersion':'networking.k8s.io/v1','kind':'NetworkPolicy','metadata':{'name':'" name \
	"','namespace':'" ns "'},'spec':{'podSelector':{},'policyTypes':" types "," rules "}}"
#define NP(name, types, rules) NP_NS(TENANT, name, types, rules)
#define LIST3(a, b, c)	       "{'apiVersion':'v1','kind':'List','items':[" a "," b "," c "]}"
#define LIST(items)	       "{'apiVersion':'v1','kind':'List','items':[" items "]}"
#define INGRESS		       "['Ingress']"
#define EGRESS		       "['Egress']"
#define BOTH		       "['Ingress','Egress']"

static void set_ipcache(struct fx *x, const char *v4cidr, uint32_t id)
{
	char a[80];

	pkt_addr_text(v4cidr, x->family, a, sizeof(a));
	if (x->family == 6 && strchr(a, '/')) {
		/* fd00::a.b.c.d/p -> /(96 + p) */
		char *slash = strchr(a, '/');
		int plen = atoi(slash + 1);

		snprintf(slash, sizeof(a) - (slash - a), "/%d", 96 + plen);
	}
	assert_int_equal(dpt_ipcache(x->f, a, id), 0);
}

/* ------------------------------------------------------------ running */

/*
 * With drop events on (x->events): a case that counts a drop must have sent
 * exactly one event, of that reason, tenant, direction and hook, about its
 * packet's ports; any other case none.
 */
static bool events_ok(struct fx *x, const struct vcase *c, const struct nf_stats_key *want)
{
	struct nf_event ev[4];
	size_t n = 0;
	bool drop = c->reason != R_NONE && c->reason != R_ALLOWED;
	uint16_t sport = c->pkt.proto == ICMP ? 0 : c->pkt.sport;
	uint16_t dport = c->pkt.proto == ICMP ? 0 : c->pkt.dport;

	assert_int_equal(dpt_events_drain(x->f, ev, 4, &n), 0);
	if (n == (drop ? 1u : 0u) &&
	    (!drop || (ev[0].reason == c->reason && ev[0].tenant_id == want->tenant_id &&
		       ev[0].dir == c->dir && ev[0].hook == NF_HOOK_TC &&
		       ev[0].family == x->family && (c->pkt.proto == ICMP ||
		       (ntohs(ev[0].sport) == sport && ntohs(ev[0].dport) == dport)))))
		return true;
	print_error("IPv%d %s: expected %s drop event, got %zu%s%s (tenant %u, dir %u, hook %u, "
		    "ports %u -> %u)\n", x->family, c->desc, drop ? "one" : "no", n,
		    n ? ", the first " : "", n ? dpt_reason_name(ev[0].reason) : "",
		    n ? ev[0].tenant_id : 0, n ? ev[0].dir : 0, n ? ev[0].hook : 0,
		    n ? ntohs(ev[0].sport) : 0, n ? ntohs(ev[0].dport) : 0);
	return false;
}

static size_t n_bug_skipped;

static bool run_bugs(void)
{
	const char *e = getenv("NF_TEST_BUGS");

	return e && *e && strcmp(e, "0");
}

/*
 * Run one case; returns true when verdict and counters are as expected,
 * printing what differs otherwise.
 */
static bool run_case(struct fx *x, const struct vcase *c)
{
	struct nf_stats_key want = { .dir = c->dir, .reason = c->reason, .hook = NF_HOOK_TC };
	struct dpt_stats before, after;
	struct pkt p;
	char msg[1024];
	uint32_t ret = 0xdead;
	bool ok = true;
	int prog, err;

	if (c->verdict == DROP && c->reason == R_ALLOWED)
		fail_msg("table error: '%s' drops but counts allowed_flow", c->desc);
	if (c->bug && !run_bugs()) {
		n_bug_skipped++;
		return true;
	}
	if (c->flush)
		dpt_flush_flows(x->f);
	if (pkt_build(&p, &c->pkt, x->family))
		fail_msg("cannot build the packet of '%s'", c->desc);
	want.tenant_id = c->tenant ? dpt_tenant(x->f, c->tenant) : x->tenant_id;
	prog = c->dir == IN ? dp__prog_fd(x->f->dp, NF_PROG_TC_INGRESS) :
			      dp__prog_fd(x->f->dp, NF_PROG_TC_EGRESS);

	if (x->events)
		assert_int_equal(dpt_events_drain(x->f, NULL, 0, NULL), 0);
	assert_int_equal(dpt_stats_read(x->f, &before), 0);
	err = dpt_run(x->f, prog, p.b, p.len, IFINDEX, &ret);
	if (err == -EINVAL && c->kernel_may_refuse) {
		dpt_stats_free(&before);
		return true;
	}
	if (err)
		fail_msg("IPv%d %s: BPF_PROG_TEST_RUN (%zu bytes): %s", x->family, c->desc, p.len,
			 strerror(-err));
	assert_int_equal(dpt_stats_read(x->f, &after), 0);

	if (ret != c->verdict) {
		print_error("IPv%d %s%s%s: verdict %s, expected %s\n", x->family, c->desc,
			    c->bug ? " -- known " : "", c->bug ? c->bug : "",
			    ret == PASS ? "pass" :
			    ret == DROP ? "drop" :
					  "?",
			    c->verdict == PASS ? "pass" : "drop");
		ok = false;
	}
	/* (new flows allowed are counted without bytes) */
	if (dpt_stats_expect(&before, &after, &want, c->reason == R_NONE ? 0 : 1,
			     c->reason == R_ALLOWED ? -1 : (int64_t)p.len, msg,
			     sizeof(msg))) {
		print_error("IPv%d %s%s%s: counters: expected %s, got:%s\n", x->family, c->desc,
			    c->bug ? " -- known " : "", c->bug ? c->bug : "",
			    dpt_reason_name(c->reason), msg);
		ok = false;
	}
	if (x->events && !events_ok(x, c, &want))
		ok = false;
	dpt_stats_free(&before);
	dpt_stats_free(&after);
	return ok;
}

static void run_table(struct fx *x, const struct vcase *cases, size_t n)
{
	size_t i, ran = 0, bad = 0;

	for (i = 0; i < n; i++) {
		if (cases[i].only && cases[i].only != x->family)
			continue;
		ran++;
		if (!run_case(x, &cases[i]))
			bad++;
	}
	if (bad)
		fail_msg("IPv%d: %zu of %zu cases failed", x->family, bad, ran);
}

#define RUN_TABLE(x, t) run_table(x, t, sizeof(t) / sizeof((t)[0]))

/* Shorthands for table rows (peer: the other end's address). */
#define TCP_IN(peer, sp, dp, fl)                                                                \
	{                                                                                       \
		.src = peer, .dst = EP, .proto = TCP, .sport = sp, .dport = dp, .tcp_flags = fl \
	}
#define TCP_OUT(peer, sp, dp, fl)                                                               \
	{                                                                                       \
		.src = EP, .dst = peer, .proto = TCP, .sport = sp, .dport = dp, .tcp_flags = fl \
	}
#define UDP_IN(peer, sp, dp)                                                   \
	{                                                                      \
		.src = peer, .dst = EP, .proto = UDP, .sport = sp, .dport = dp \
	}
#define UDP_OUT(peer, sp, dp)                                                  \
	{                                                                      \
		.src = EP, .dst = peer, .proto = UDP, .sport = sp, .dport = dp \
	}
#define SCTP_IN(peer, sp, dp)                                                   \
	{                                                                       \
		.src = peer, .dst = EP, .proto = SCTP, .sport = sp, .dport = dp \
	}
#define SCTP_OUT(peer, sp, dp)                                                  \
	{                                                                       \
		.src = EP, .dst = peer, .proto = SCTP, .sport = sp, .dport = dp \
	}
#define ECHO_IN(peer, id)                                                                      \
	{                                                                                      \
		.src = peer, .dst = EP, .proto = ICMP, .icmp = PKT_ECHO_REQUEST, .icmp_id = id \
	}
#define ECHO_OUT(peer, id)                                                                     \
	{                                                                                      \
		.src = EP, .dst = peer, .proto = ICMP, .icmp = PKT_ECHO_REQUEST, .icmp_id = id \
	}
#define ECHO_REPLY_IN(peer, id)                                                              \
	{                                                                                    \
		.src = peer, .dst = EP, .proto = ICMP, .icmp = PKT_ECHO_REPLY, .icmp_id = id \
	}

/* ------------------------------------------------------------ 3.1 default deny */

static void test_default_deny(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "ingress TCP SYN", TCP_IN("10.1.0.5", 40000, 80, SYN), IN, DROP, R_POLICY },
		{ "ingress TCP ACK", TCP_IN("10.1.0.5", 40000, 80, ACK), IN, DROP, R_POLICY },
		{ "ingress UDP", UDP_IN("10.1.0.5", 5353, 53), IN, DROP, R_POLICY },
		{ "ingress SCTP", SCTP_IN("10.1.0.5", 3868, 3868), IN, DROP, R_POLICY },
		{ "ingress ICMP echo", ECHO_IN("10.1.0.5", 1), IN, DROP, R_POLICY },
		{ "ingress ICMP echo reply", ECHO_REPLY_IN("10.1.0.5", 1), IN, DROP, R_POLICY },
		{ "ingress other protocol (GRE)",
		  { .src = "10.1.0.5", .dst = EP, .proto = 47, .payload = 8 },
		  IN,
		  DROP,
		  R_POLICY },
		{ "egress TCP SYN", TCP_OUT("10.1.0.5", 40000, 80, SYN), EG, DROP, R_POLICY },
		{ "egress UDP", UDP_OUT("10.1.0.5", 5353, 53), EG, DROP, R_POLICY },
		{ "egress SCTP", SCTP_OUT("10.1.0.5", 3868, 3868), EG, DROP, R_POLICY },
		{ "egress ICMP echo", ECHO_OUT("10.1.0.5", 1), EG, DROP, R_POLICY },
		{ "egress to the node", UDP_OUT("10.0.0.254", 5353, 53), EG, DROP, R_POLICY },
		{ "egress to itself", TCP_OUT(EP, 40000, 80, SYN), EG, DROP, R_POLICY },
	};

	RUN_TABLE(x, t);
	/* The same after an empty policy (no rules in either direction). */
	apply(x, NP("nothing", BOTH, "'ingress':[],'egress':[]"));
	RUN_TABLE(x, t);
	/* An egress-only policy leaves ingress denied, and the reverse. */
	apply(x, NP("e", EGRESS, "'egress':[{'to':[{'ipBlock':{'cidr':'10.9.0.0/16'}}]}]"));
	RUN_TABLE(x, t);
}

/* A packet on an interface with no endpoint entry: fail closed, tenant 0. */
static void test_unregistered_interface(void **state)
{
	struct fx *x = fixture(state);
	struct nf_ep_key k = { .netns_cookie = x->f->netns_cookie, .ifindex = IFINDEX };
	static const struct vcase t[] = {
		{ "ingress TCP, no endpoint", TCP_IN("10.1.0.5", 40000, 80, SYN), IN, DROP,
		  R_POLICY, .tenant = "" },
		{ "egress TCP, no endpoint", TCP_OUT("10.1.0.5", 40000, 80, SYN), EG, DROP,
		  R_POLICY, .tenant = "" },
		/* SPEC 3.8: ARP and ND are checked against the endpoint: none, fail closed */
		{ "ingress ARP, no endpoint",
		  { .arp = true, .src = "10.1.0.5", .dst = EP },
		  IN,
		  DROP,
		  R_POLICY,
		  .tenant = "",
		  .only = 4 },
		{ "ingress ND NS, no endpoint",
		  { .src = "fe80::2", .dst = "ff02::1:ff00:1", .icmp = PKT_ND_NS },
		  IN,
		  DROP,
		  R_POLICY,
		  .tenant = "",
		  .only = 6 },
		{ "egress ND NA, no endpoint",
		  { .src = "fe80::1", .dst = "fe80::2", .icmp = PKT_ND_NA },
		  EG,
		  DROP,
		  R_POLICY,
		  .tenant = "",
		  .only = 6 },
		{ "malformed, no endpoint",
		  { .src = "10.1.0.5", .dst = EP, .proto = TCP, .dport = 80, .doff = 4 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .tenant = "" },
	};

	apply(x, NP("all", BOTH, "'ingress':[{}],'egress':[{}]"));
	assert_int_equal(bpf_map_delete_elem(dp__map_fd(x->f->dp, NF_MAP_ENDPOINTS), &k), 0);
	dp__verdicts_changed(x->f->dp);	/* as a detach does */
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.8 ARP and ND */

static void test_arp_nd(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "ARP request in",
		  { .arp = true, .src = "10.0.0.254", .dst = EP },
		  IN,
		  PASS,
		  R_NONE,
		  .only = 4 },
		{ "ARP request out",
		  { .arp = true, .src = EP, .dst = "10.0.0.254" },
		  EG,
		  PASS,
		  R_NONE,
		  .only = 4 },
		/* a gratuitous ARP for someone else's address would poison caches */
		{ "ARP from an address not the endpoint's",
		  { .arp = true, .src = "10.0.0.99", .dst = "10.0.0.254" },
		  EG,
		  DROP,
		  R_SPOOFED,
		  .only = 4 },
		{ "ND router solicitation out",
		  { .src = "fe80::1", .dst = "ff02::2", .icmp = PKT_ND_RS },
		  EG,
		  PASS,
		  R_NONE,
		  .only = 6 },
		{ "ND router advertisement in",
		  { .src = "fe80::ff", .dst = "ff02::1", .icmp = PKT_ND_RA },
		  IN,
		  PASS,
		  R_NONE,
		  .only = 6 },
		{ "ND neighbour solicitation out (link-local source)",
		  { .src = "fe80::1", .dst = "ff02::1:ff00:2", .icmp = PKT_ND_NS },
		  EG,
		  PASS,
		  R_NONE,
		  .only = 6 },
		{ "ND neighbour solicitation in",
		  { .src = "fe80::ff", .dst = "ff02::1:ff00:1", .icmp = PKT_ND_NS },
		  IN,
		  PASS,
		  R_NONE,
		  .only = 6 },
		{ "ND neighbour advertisement out",
		  { .src = EP, .dst = "fe80::ff", .icmp = PKT_ND_NA },
		  EG,
		  PASS,
		  R_NONE,
		  .only = 6 },
		{ "ND neighbour advertisement in",
		  { .src = "fe80::ff", .dst = "fe80::1", .icmp = PKT_ND_NA },
		  IN,
		  PASS,
		  R_NONE,
		  .only = 6 },
		{ "MLDv2 report behind hop-by-hop out",
		  { .src = "fe80::1",
		    .dst = "ff02::16",
		    .proto = ICMP,
		    .icmp_type = 143,
		    .ext = { IPPROTO_HOPOPTS },
		    .n_ext = 1 },
		  EG,
		  PASS,
		  R_NONE,
		  .only = 6 },
		/* ICMPv6 that is not ND stays under policy */
		{ "ICMPv6 echo in is not ND", ECHO_IN("fe80::ff", 1), IN, DROP, R_POLICY,
		  .only = 6 },
		{ "ICMPv6 echo out is not ND",
		  { .src = EP,
		    .dst = "fe80::ff",
		    .proto = ICMP,
		    .icmp = PKT_ECHO_REQUEST,
		    .icmp_id = 1 },
		  EG,
		  DROP,
		  R_POLICY,
		  .only = 6 },
	};

	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.8 ARP, checked */

#define ARP_POKE(o, v)                 \
	.poke = { { .off = o, .val = v } }, \
	.n_poke = 1

/*
 * An endpoint's egress ARP must claim one of its own addresses (or 0.0.0.0,
 * a probe); any ARP must be Ethernet/IPv4 ARP; ingress ARP is allowed.
 * IPv4 only: the endpoint has no IPv4 address in the IPv6 runs.
 */
static void test_arp_checked(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "out: request, sender the endpoint", { .arp = true, .src = EP, .dst = "10.0.0.254" },
		  EG, PASS, R_NONE },
		{ "out: reply, sender the endpoint",
		  { .arp = true, .src = EP, .dst = "10.0.0.254", ARP_POKE(7, 2) },
		  EG,
		  PASS,
		  R_NONE },
		{ "out: probe, sender 0.0.0.0",
		  { .arp = true, .src = "0.0.0.0", .dst = "10.0.0.2" },
		  EG,
		  PASS,
		  R_NONE },
		{ "out: gratuitous, sender the endpoint", { .arp = true, .src = EP, .dst = EP }, EG,
		  PASS, R_NONE },
		{ "out: padded to 60 bytes", { .arp = true, .src = EP, .dst = "10.0.0.254", .payload = 18 },
		  EG, PASS, R_NONE },
		{ "out: request, sender another address in the subnet",
		  { .arp = true, .src = "10.0.0.99", .dst = "10.0.0.254" },
		  EG,
		  DROP,
		  R_SPOOFED },
		{ "out: gratuitous, claiming another host's address",
		  { .arp = true, .src = "10.0.0.2", .dst = "10.0.0.2" },
		  EG,
		  DROP,
		  R_SPOOFED },
		{ "out: reply claiming the gateway's address",
		  { .arp = true, .src = "10.0.0.254", .dst = "10.0.0.2", ARP_POKE(7, 2) },
		  EG,
		  DROP,
		  R_SPOOFED },
		{ "out: sender 255.255.255.255",
		  { .arp = true, .src = "255.255.255.255", .dst = "10.0.0.2" },
		  EG,
		  DROP,
		  R_SPOOFED },
		{ "out: hardware type 6 (IEEE 802)",
		  { .arp = true, .src = EP, .dst = "10.0.0.254", ARP_POKE(1, 6) },
		  EG,
		  DROP,
		  R_MALFORMED },
		{ "out: protocol type IPv6",
		  { .arp = true, .src = EP, .dst = "10.0.0.254", .n_poke = 2,
		    .poke = { { .off = 2, .val = 0x86 }, { .off = 3, .val = 0xdd } } },
		  EG,
		  DROP,
		  R_MALFORMED },
		{ "out: hardware address length 8",
		  { .arp = true, .src = EP, .dst = "10.0.0.254", ARP_POKE(4, 8) },
		  EG,
		  DROP,
		  R_MALFORMED },
		{ "out: protocol address length 16",
		  { .arp = true, .src = EP, .dst = "10.0.0.254", ARP_POKE(5, 16) },
		  EG,
		  DROP,
		  R_MALFORMED },
		{ "out: truncated to 20 bytes",
		  { .arp = true, .src = EP, .dst = "10.0.0.254", .cut = 14 + 20 },
		  EG,
		  DROP,
		  R_MALFORMED },
		{ "in: request from the gateway", { .arp = true, .src = "10.0.0.254", .dst = EP }, IN,
		  PASS, R_NONE },
		{ "in: reply from another host",
		  { .arp = true, .src = "10.0.0.2", .dst = EP, ARP_POKE(7, 2) },
		  IN,
		  PASS,
		  R_NONE },
		{ "in: gratuitous of another host", { .arp = true, .src = "10.0.0.2", .dst = "10.0.0.2" },
		  IN, PASS, R_NONE },
		{ "in: padded to 60 bytes",
		  { .arp = true, .src = "10.0.0.254", .dst = EP, .payload = 18 },
		  IN,
		  PASS,
		  R_NONE },
		{ "in: hardware type 6", { .arp = true, .src = "10.0.0.254", .dst = EP, ARP_POKE(1, 6) },
		  IN, DROP, R_MALFORMED },
		{ "in: truncated to 20 bytes",
		  { .arp = true, .src = "10.0.0.254", .dst = EP, .cut = 14 + 20 },
		  IN,
		  DROP,
		  R_MALFORMED },
	};

	RUN_TABLE(x, t);
	/* a policy allowing everything changes nothing for ARP */
	apply(x, NP("all", BOTH, "'ingress':[{}],'egress':[{}]"));
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.9 ethertypes */

/* Only IPv4, IPv6 and ARP frames pass, and only as what their header says. */
static void test_ethertypes(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "out: VLAN-tagged (802.1Q)",
		  { .src = EP, .dst = "10.2.0.5", .proto = UDP, .sport = 5353, .dport = 53,
		    .ethertype = 0x8100 },
		  EG,
		  DROP,
		  R_POLICY },
		{ "out: QinQ (802.1ad)",
		  { .src = EP, .dst = "10.2.0.5", .proto = UDP, .sport = 5353, .dport = 53,
		    .ethertype = 0x88a8 },
		  EG,
		  DROP,
		  R_POLICY },
		{ "out: LLDP", { .src = EP, .dst = "10.2.0.5", .proto = UDP, .ethertype = 0x88cc }, EG,
		  DROP, R_POLICY },
		{ "out: RARP", { .arp = true, .src = EP, .dst = "10.0.0.254", .ethertype = 0x8035 },
		  EG, DROP, R_POLICY },
		{ "in: VLAN-tagged",
		  { .src = "10.2.0.5", .dst = EP, .proto = UDP, .sport = 53, .dport = 5353,
		    .ethertype = 0x8100 },
		  IN,
		  DROP,
		  R_POLICY },
		{ "in: PPPoE session",
		  { .src = "10.2.0.5", .dst = EP, .proto = UDP, .ethertype = 0x8864 },
		  IN,
		  DROP,
		  R_POLICY },
		{ "out: ARP ethertype, IP inside",
		  { .src = EP, .dst = "10.2.0.5", .proto = UDP, .sport = 5353, .dport = 53,
		    .ethertype = 0x0806 },
		  EG,
		  DROP,
		  R_MALFORMED,
		  .only = 4 },
		/* an IPv6 header behind the IPv4 ethertype and the reverse */
		{ "out: IPv6 packet, IPv4 ethertype",
		  { .family = 6, .src = EP, .dst = "10.2.0.5", .proto = UDP, .sport = 5353,
		    .dport = 53, .ethertype = 0x0800 },
		  EG,
		  DROP,
		  R_MALFORMED },
		{ "out: IPv4 packet, IPv6 ethertype",
		  { .family = 4, .src = EP, .dst = "10.2.0.5", .proto = UDP, .sport = 5353,
		    .dport = 53, .ethertype = 0x86dd },
		  EG,
		  DROP,
		  R_MALFORMED,
		  .kernel_may_refuse = true },
	};

	apply(x, NP("all", BOTH, "'ingress':[{}],'egress':[{}]"));
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.8 ND, checked */

#define ND(t_, s, d, ...)                                          \
	{                                                          \
		.src = s, .dst = d, .icmp = t_, __VA_ARGS__ \
	}
#define ND_RAW(type, s, d, ...)                                                          \
	{                                                                                \
		.src = s, .dst = d, .proto = ICMP, .icmp_type = type, __VA_ARGS__ \
	}
#define T2     "fd00::10.0.0.2"	   /* a neighbour (denied by policy) */
#define T2_SNM "ff02::1:ff00:2"	   /* its solicited-node multicast group */
#define EP_SNM "ff02::1:ff00:1"	   /* the endpoint's */
#define OTHER  "fd00::10.0.0.99"   /* an address that is nobody's here */

/*
 * Neighbour discovery and MLD pass without a rule only in their valid shape
 * (hop limit 255, MLD 1; RS/NS/NA at most 64 bytes; ND addressing); egress
 * router advertisements and redirects never; an egress NA only for an own
 * target. Everything else is judged like any packet: anti-spoofing, then
 * policy (none here: default deny).
 */
static void test_nd_checked(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		/* valid shapes, egress */
		{ "out: RS from link-local", ND(PKT_ND_RS, "fe80::1", "ff02::2"), EG, PASS, R_NONE },
		{ "out: RS from ::", ND(PKT_ND_RS, "::", "ff02::2"), EG, PASS, R_NONE },
		{ "out: NS from link-local to the solicited-node group",
		  ND(PKT_ND_NS, "fe80::1", T2_SNM, .target = T2), EG, PASS, R_NONE },
		{ "out: NS from own address to the solicited-node group",
		  ND(PKT_ND_NS, EP, T2_SNM, .target = T2), EG, PASS, R_NONE },
		{ "out: NS for DAD (from ::)", ND(PKT_ND_NS, "::", EP_SNM, .target = EP), EG, PASS,
		  R_NONE },
		{ "out: NS to the target (unicast, a denied address)",
		  ND(PKT_ND_NS, EP, T2, .target = T2), EG, PASS, R_NONE },
		{ "out: NS to link-local unicast", ND(PKT_ND_NS, "fe80::1", "fe80::ff"), EG, PASS,
		  R_NONE },
		{ "out: NS of exactly 64 bytes",
		  ND(PKT_ND_NS, EP, T2_SNM, .target = T2, .payload = 40), EG, PASS, R_NONE },
		{ "out: NA for own address to all nodes", ND(PKT_ND_NA, EP, "ff02::1"), EG, PASS,
		  R_NONE },
		{ "out: NA solicited reply to a unicast address", ND(PKT_ND_NA, EP, T2), EG, PASS,
		  R_NONE },
		{ "out: NA from link-local for own address",
		  ND(PKT_ND_NA, "fe80::1", "fe80::ff", .target = EP), EG, PASS, R_NONE },
		{ "out: NA of exactly 64 bytes", ND(PKT_ND_NA, EP, "ff02::1", .payload = 40), EG, PASS,
		  R_NONE },
		{ "out: MLDv2 report", ND_RAW(143, "fe80::1", "ff02::16", .payload = 20), EG, PASS,
		  R_NONE },
		{ "out: MLDv2 report from ::", ND_RAW(143, "::", "ff02::16", .payload = 20), EG, PASS,
		  R_NONE },
		{ "out: MLDv1 report", ND_RAW(131, "fe80::1", EP_SNM, .payload = 16), EG, PASS,
		  R_NONE },
		{ "out: MLDv1 done", ND_RAW(132, "fe80::1", "ff02::2", .payload = 16), EG, PASS,
		  R_NONE },
		/* valid shapes, ingress */
		{ "in: RA from a router", ND(PKT_ND_RA, "fe80::ff", "ff02::1"), IN, PASS, R_NONE },
		{ "in: RA to the endpoint's link-local", ND(PKT_ND_RA, "fe80::ff", "fe80::1"), IN,
		  PASS, R_NONE },
		{ "in: redirect to own address",
		  ND_RAW(137, "fe80::ff", EP, .payload = 32), IN, PASS, R_NONE },
		{ "in: NS to own solicited-node group",
		  ND(PKT_ND_NS, "fe80::ff", EP_SNM, .target = EP), IN, PASS, R_NONE },
		{ "in: NS to own address", ND(PKT_ND_NS, T2, EP, .target = EP), IN, PASS, R_NONE },
		{ "in: NA to own address", ND(PKT_ND_NA, T2, EP), IN, PASS, R_NONE },
		{ "in: NA to all nodes", ND(PKT_ND_NA, T2, "ff02::1"), IN, PASS, R_NONE },
		{ "in: MLD query", ND_RAW(130, "fe80::ff", "ff02::1", .payload = 20), IN, PASS,
		  R_NONE },

		/* egress router advertisements and redirects: never */
		{ "out: RA from link-local", ND(PKT_ND_RA, "fe80::1", "ff02::1"), EG, DROP, R_POLICY },
		{ "out: RA from own address", ND(PKT_ND_RA, EP, "ff02::1"), EG, DROP, R_POLICY },
		{ "out: redirect", ND_RAW(137, "fe80::1", "fe80::ff", .payload = 32), EG, DROP,
		  R_POLICY },
		{ "out: redirect from own address", ND_RAW(137, EP, T2, .payload = 32), EG, DROP,
		  R_POLICY },
		/* egress NA: only for an own address */
		{ "out: NA for another host's address",
		  ND(PKT_ND_NA, EP, "ff02::1", .target = T2), EG, DROP, R_SPOOFED },
		{ "out: NA from link-local for another host's address",
		  ND(PKT_ND_NA, "fe80::1", "fe80::ff", .target = OTHER), EG, DROP, R_SPOOFED },
		{ "out: solicited NA for another host's address, to it",
		  ND(PKT_ND_NA, EP, T2, .target = T2), EG, DROP, R_SPOOFED },

		/* wrong shape: judged like any packet (own source: policy) */
		{ "out: NS with hop limit 64 to a denied address",
		  ND(PKT_ND_NS, EP, T2, .target = T2, .hop_limit = 64), EG, DROP, R_POLICY },
		{ "out: NS with hop limit 254", ND(PKT_ND_NS, EP, T2_SNM, .target = T2, .hop_limit = 254),
		  EG, DROP, R_POLICY },
		{ "out: NS to a unicast address that is not its target",
		  ND(PKT_ND_NS, EP, T2, .target = OTHER), EG, DROP, R_POLICY },
		{ "out: NS to a global multicast group",
		  ND(PKT_ND_NS, EP, "ff0e::1", .target = T2), EG, DROP, R_POLICY },
		{ "out: NS of 65 bytes (payload) to its target",
		  ND(PKT_ND_NS, EP, T2, .target = T2, .payload = 41), EG, DROP, R_POLICY },
		{ "out: NS with 200 bytes of payload to the solicited-node group",
		  ND(PKT_ND_NS, EP, T2_SNM, .target = T2, .payload = 200), EG, DROP, R_POLICY },
		{ "out: RS to a unicast address", ND(PKT_ND_RS, EP, T2), EG, DROP, R_POLICY },
		{ "out: RS with hop limit 64", ND(PKT_ND_RS, EP, "ff02::2", .hop_limit = 64), EG, DROP,
		  R_POLICY },
		{ "out: RS of 65 bytes", ND(PKT_ND_RS, EP, "ff02::2", .payload = 57), EG, DROP,
		  R_POLICY },
		{ "out: NA with hop limit 64", ND(PKT_ND_NA, EP, "ff02::1", .hop_limit = 64), EG, DROP,
		  R_POLICY },
		{ "out: NA of 65 bytes", ND(PKT_ND_NA, EP, "ff02::1", .payload = 41), EG, DROP,
		  R_POLICY },
		{ "out: NA from ::", ND(PKT_ND_NA, "::", "ff02::1", .target = EP), EG, DROP,
		  R_SPOOFED },
		{ "out: MLD report with hop limit 255 (link-local source)",
		  ND_RAW(143, "fe80::1", "ff02::16", .payload = 20, .hop_limit = 255), EG, DROP,
		  R_SPOOFED },
		{ "out: MLD report from own address to a unicast address",
		  ND_RAW(143, EP, T2, .payload = 20), EG, DROP, R_POLICY },
		/* wrong shape, source not own: anti-spoofing first */
		{ "out: NS from link-local to a unicast address that is not its target",
		  ND(PKT_ND_NS, "fe80::1", T2, .target = OTHER), EG, DROP, R_SPOOFED },
		{ "out: NS from another host's address", ND(PKT_ND_NS, T2, EP_SNM, .target = EP),
		  EG, DROP, R_SPOOFED },
		{ "out: RS from another host's address", ND(PKT_ND_RS, OTHER, "ff02::2"), EG, DROP,
		  R_SPOOFED },
		/* wrong shape, ingress: policy */
		{ "in: NS with hop limit 64", ND(PKT_ND_NS, T2, EP, .target = EP, .hop_limit = 64), IN,
		  DROP, R_POLICY },
		{ "in: RA with hop limit 64", ND(PKT_ND_RA, "fe80::ff", "ff02::1", .hop_limit = 64), IN,
		  DROP, R_POLICY },
		{ "in: NS to an address not the endpoint's",
		  ND(PKT_ND_NS, T2, OTHER, .target = OTHER), IN, DROP, R_POLICY },
		{ "in: NA to an address not the endpoint's", ND(PKT_ND_NA, T2, OTHER), IN, DROP,
		  R_POLICY },
		{ "in: NS of 200 bytes", ND(PKT_ND_NS, T2, EP, .target = EP, .payload = 200), IN,
		  DROP, R_POLICY },
		{ "in: MLD query with hop limit 64",
		  ND_RAW(130, "fe80::ff", "ff02::1", .payload = 20, .hop_limit = 64), IN, DROP, R_POLICY },
	};
	/* a policy that allows the address: a wrong-shaped ND is a normal flow there */
	static const struct vcase allowed[] = {
		{ "out: NS with hop limit 64 to an allowed address",
		  ND(PKT_ND_NS, EP, "fd00::10.2.0.5", .target = "fd00::10.2.0.5", .hop_limit = 64), EG,
		  PASS, R_ALLOWED, .flush = true },
		{ "out: RA to an allowed address is still dropped",
		  ND(PKT_ND_RA, EP, "fd00::10.2.0.5"), EG, DROP, R_POLICY, .flush = true },
		{ "out: NA for another host's address to an allowed address is still dropped",
		  ND(PKT_ND_NA, EP, "fd00::10.2.0.5", .target = T2), EG, DROP, R_SPOOFED,
		  .flush = true },
		{ "out: NS from link-local to an allowed address, not its target",
		  ND(PKT_ND_NS, "fe80::1", "fd00::10.2.0.5", .target = T2), EG, DROP, R_SPOOFED,
		  .flush = true },
	};

	RUN_TABLE(x, t);
	apply(x, NP("p", EGRESS, "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}]}]"));
	RUN_TABLE(x, t);
	RUN_TABLE(x, allowed);
}

/* ------------------------------------------------------------ 3.13 conntrack quota */

#define CT_MAX 4

/*
 * nf_config.ct_tenant_max = 4: a tenant's first four new flows are tracked,
 * the fifth is dropped (conntrack_full) in either direction, nothing of
 * theirs is evicted, and another tenant still inserts.
 */
static void test_conntrack_full(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase fill[] = {
		{ "flow 1", UDP_OUT("10.2.0.5", 1001, 53), EG, PASS, R_ALLOWED },
		{ "flow 2", UDP_OUT("10.2.0.5", 1002, 53), EG, PASS, R_ALLOWED },
		{ "flow 3", TCP_OUT("10.2.0.5", 1003, 443, SYN), EG, PASS, R_ALLOWED },
		{ "flow 4 (ingress)", TCP_IN("10.1.0.7", 33333, 80, SYN), IN, PASS, R_ALLOWED },
	};
	static const struct vcase full[] = {
		{ "flow 5: over the quota", UDP_OUT("10.2.0.5", 1005, 53), EG, DROP, R_CTFULL },
		{ "flow 5 again", UDP_OUT("10.2.0.5", 1005, 53), EG, DROP, R_CTFULL },
		{ "an ingress flow over the quota", TCP_IN("10.1.0.8", 33334, 80, SYN), IN, DROP,
		  R_CTFULL },
		{ "a SYN to flow 3's service over the quota (its verdict cached)",
		  TCP_OUT("10.2.0.5", 1010, 443, SYN), EG, DROP, R_CTFULL },
		{ "flow 3's SYN again (a retransmission): its own flow",
		  TCP_OUT("10.2.0.5", 1003, 443, SYN), EG, PASS, R_NONE },
		{ "a denied flow is still policy_denied", UDP_OUT("10.3.0.5", 1006, 53), EG, DROP,
		  R_POLICY },
		{ "flow 1 still works", UDP_OUT("10.2.0.5", 1001, 53), EG, PASS, R_NONE },
		{ "flow 1's answer", UDP_IN("10.2.0.5", 53, 1001), IN, PASS, R_NONE },
		{ "flow 3's SYN-ACK", TCP_IN("10.2.0.5", 443, 1003, SYNACK), IN, PASS, R_NONE },
		{ "flow 4's SYN-ACK", TCP_OUT("10.1.0.7", 80, 33333, SYNACK), EG, PASS, R_NONE },
	};
	static const struct vcase beta[] = {
		{ "tenant beta, same interface: a new flow is tracked",
		  UDP_OUT("10.2.0.5", 2001, 53), EG, PASS, R_ALLOWED, .tenant = "beta" },
		{ "tenant beta: its answer", UDP_IN("10.2.0.5", 53, 2001), IN, PASS, R_NONE,
		  .tenant = "beta" },
	};
	static const struct vcase alpha_again[] = {
		{ "alpha again: still full", UDP_OUT("10.2.0.5", 1007, 53), EG, DROP, R_CTFULL },
	};
	static const struct vcase revoke[] = {
		/* a revoked flow's entry goes at its next packet, and frees its place */
		{ "flow 1 revoked", UDP_OUT("10.2.0.5", 1001, 53), EG, DROP, R_POLICY },
		{ "a new flow takes its place", UDP_OUT("10.3.0.5", 1008, 53), EG, PASS, R_ALLOWED },
		{ "and the next is over the quota", UDP_OUT("10.3.0.5", 1009, 53), EG, DROP,
		  R_CTFULL },
	};
	uint32_t beta_id = dpt_tenant(x->f, "beta");
	char a[64];

	assert_int_equal(dpt_set_ct_tenant_max(x->f, CT_MAX), 0);
	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':80}]}],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'UDP','port':53},{'protocol':'TCP','port':443}]}]"));
	apply_for(x, "beta",
		  NP_NS("beta", "p", EGRESS,
			"'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
			"'ports':[{'protocol':'UDP','port':53}]}]"));
	RUN_TABLE(x, fill);
	assert_int_equal(dpt_ct_count(x->f), CT_MAX);
	RUN_TABLE(x, full);
	assert_int_equal(dpt_ct_count(x->f), CT_MAX);

	/* the interface now belongs to tenant beta (its own endpoint id) */
	assert_true(beta_id && beta_id != x->tenant_id);
	assert_int_equal(dpt_add_endpoint(x->f, IFINDEX, beta_id, EP_ID + 1, 0), 0);
	pkt_addr_text(EP, x->family, a, sizeof(a));
	assert_int_equal(dpt_add_ep_addr(x->f, EP_ID + 1, a), 0);
	RUN_TABLE(x, beta);
	assert_int_equal(dpt_ct_count(x->f), CT_MAX + 1);

	assert_int_equal(dpt_add_endpoint(x->f, IFINDEX, x->tenant_id, EP_ID, 0), 0);
	RUN_TABLE(x, alpha_again);

	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.3.0.0/16'}}],"
		    "'ports':[{'protocol':'UDP','port':53}]}]"));
	RUN_TABLE(x, revoke);
}

/* ------------------------------------------------------------ 3.7 ports */

static void test_cidr_port(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "in: cidr + TCP port", TCP_IN("10.1.2.3", 40000, 80, SYN), IN, PASS, R_ALLOWED,
		  .flush = true },
		{ "in: first address of the cidr", TCP_IN("10.1.0.0", 40000, 80, SYN), IN, PASS,
		  R_ALLOWED, .flush = true },
		{ "in: last address of the cidr", TCP_IN("10.1.255.255", 40000, 80, SYN), IN, PASS,
		  R_ALLOWED, .flush = true },
		{ "in: just below the cidr", TCP_IN("10.0.255.255", 40000, 80, SYN), IN, DROP,
		  R_POLICY, .flush = true },
		{ "in: just above the cidr", TCP_IN("10.2.0.0", 40000, 80, SYN), IN, DROP, R_POLICY,
		  .flush = true },
		{ "in: other port", TCP_IN("10.1.2.3", 40000, 81, SYN), IN, DROP, R_POLICY,
		  .flush = true },
		{ "in: the source port does not count", TCP_IN("10.1.2.3", 80, 8080, SYN), IN, DROP,
		  R_POLICY, .flush = true },
		{ "in: UDP to the TCP port", UDP_IN("10.1.2.3", 40000, 80), IN, DROP, R_POLICY,
		  .flush = true },
		{ "in: SCTP to the TCP port", SCTP_IN("10.1.2.3", 40000, 80), IN, DROP, R_POLICY,
		  .flush = true },
		{ "in: ICMP from the cidr (rule has ports)", ECHO_IN("10.1.2.3", 9), IN, DROP,
		  R_POLICY, .flush = true },
		{ "in: egress-only peer", TCP_IN("10.2.0.9", 40000, 53, SYN), IN, DROP, R_POLICY,
		  .flush = true },
		{ "out: UDP rule", UDP_OUT("10.2.0.9", 5353, 53), EG, PASS, R_ALLOWED,
		  .flush = true },
		{ "out: UDP rule does not allow TCP", TCP_OUT("10.2.0.9", 40000, 53, SYN), EG, DROP,
		  R_POLICY, .flush = true },
		{ "out: other /24", UDP_OUT("10.2.1.9", 5353, 53), EG, DROP, R_POLICY,
		  .flush = true },
		{ "out: other UDP port", UDP_OUT("10.2.0.9", 5353, 54), EG, DROP, R_POLICY,
		  .flush = true },
		{ "out: the ingress rule does not allow egress",
		  TCP_OUT("10.1.2.3", 40000, 80, SYN), EG, DROP, R_POLICY, .flush = true },
		{ "out: /32 TCP 8080", TCP_OUT("192.168.1.7", 40000, 8080, SYN), EG, PASS,
		  R_ALLOWED, .flush = true },
		{ "out: next to the /32", TCP_OUT("192.168.1.8", 40000, 8080, SYN), EG, DROP,
		  R_POLICY, .flush = true },
	};

	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':80}]}],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/24'}}],"
		    "'ports':[{'protocol':'UDP','port':53}]},"
		    "{'to':[{'ipBlock':{'cidr':'192.168.1.7/32'}}],'ports':[{'port':8080}]}]"));
	RUN_TABLE(x, t);
}

static void test_port_range(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "TCP lo-1", TCP_IN("10.1.0.5", 40000, 999, SYN), IN, DROP, R_POLICY },
		{ "TCP lo", TCP_IN("10.1.0.5", 40000, 1000, SYN), IN, PASS, R_ALLOWED },
		{ "TCP middle", TCP_IN("10.1.0.5", 40000, 1500, SYN), IN, PASS, R_ALLOWED },
		{ "TCP hi", TCP_IN("10.1.0.5", 40000, 2000, SYN), IN, PASS, R_ALLOWED },
		{ "TCP hi+1", TCP_IN("10.1.0.5", 40000, 2001, SYN), IN, DROP, R_POLICY },
		{ "UDP in the TCP range", UDP_IN("10.1.0.5", 40000, 1500), IN, DROP, R_POLICY },
		{ "UDP lo-1", UDP_IN("10.1.0.5", 40000, 29999), IN, DROP, R_POLICY },
		{ "UDP lo", UDP_IN("10.1.0.5", 40000, 30000), IN, PASS, R_ALLOWED },
		{ "UDP hi", UDP_IN("10.1.0.5", 40000, 32767), IN, PASS, R_ALLOWED },
		{ "UDP hi+1", UDP_IN("10.1.0.5", 40000, 32768), IN, DROP, R_POLICY },
		{ "TCP top range lo-1", TCP_IN("10.1.0.5", 40000, 65532, SYN), IN, DROP, R_POLICY },
		{ "TCP top range lo", TCP_IN("10.1.0.5", 40000, 65533, SYN), IN, PASS, R_ALLOWED },
		{ "TCP top range hi (65535)", TCP_IN("10.1.0.5", 40000, 65535, SYN), IN, PASS,
		  R_ALLOWED },
		{ "TCP port 0", TCP_IN("10.1.0.5", 40000, 0, SYN), IN, DROP, R_POLICY },
		{ "TCP port 1 (bottom range lo)", TCP_IN("10.1.0.5", 40000, 1, SYN), IN, PASS,
		  R_ALLOWED },
		{ "TCP port 2 (bottom range hi)", TCP_IN("10.1.0.5", 40000, 2, SYN), IN, PASS,
		  R_ALLOWED },
		{ "TCP port 3 (bottom range hi+1)", TCP_IN("10.1.0.5", 40000, 3, SYN), IN, DROP,
		  R_POLICY },
		{ "SCTP range lo", SCTP_OUT("10.2.0.5", 40000, 38412), EG, PASS, R_ALLOWED },
		{ "SCTP range hi", SCTP_OUT("10.2.0.5", 40000, 38422), EG, PASS, R_ALLOWED },
		{ "SCTP range lo-1", SCTP_OUT("10.2.0.5", 40000, 38411), EG, DROP, R_POLICY },
		{ "SCTP range hi+1", SCTP_OUT("10.2.0.5", 40000, 38423), EG, DROP, R_POLICY },
	};

	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':1000,'endPort':2000},"
		    "{'protocol':'UDP','port':30000,'endPort':32767},"
		    "{'protocol':'TCP','port':65533,'endPort':65535},"
		    "{'protocol':'TCP','port':1,'endPort':2}]}],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'SCTP','port':38412,'endPort':38422}]}]"));
	RUN_TABLE(x, t);
}

static void test_sctp(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "in: SCTP 3868", SCTP_IN("10.1.0.5", 3868, 3868), IN, PASS, R_ALLOWED },
		{ "in: SCTP 3869", SCTP_IN("10.1.0.5", 3868, 3869), IN, DROP, R_POLICY },
		{ "in: TCP 3868", TCP_IN("10.1.0.5", 3868, 3868, SYN), IN, DROP, R_POLICY },
		{ "in: UDP 3868", UDP_IN("10.1.0.5", 3868, 3868), IN, DROP, R_POLICY },
		{ "in: SCTP 3868 from outside the cidr", SCTP_IN("10.9.0.5", 3868, 3868), IN, DROP,
		  R_POLICY },
		{ "out: SCTP 36412", SCTP_OUT("10.2.0.5", 50000, 36412), EG, PASS, R_ALLOWED },
		{ "out: SCTP reply in", SCTP_IN("10.2.0.5", 36412, 50000), IN, PASS, R_NONE },
		{ "out: UDP 36412", UDP_OUT("10.2.0.5", 50000, 36412), EG, DROP, R_POLICY },
	};

	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'SCTP','port':3868}]}],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'SCTP','port':36412}]}]"));
	RUN_TABLE(x, t);
}

/* A rule without ports allows every protocol (ICMP too); a rule with ports doesn't. */
static void test_no_ports_any_protocol(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "in: ICMP echo", ECHO_IN("10.1.0.5", 7), IN, PASS, R_ALLOWED },
		{ "in: TCP any port", TCP_IN("10.1.0.5", 40000, 12345, SYN), IN, PASS, R_ALLOWED },
		{ "in: UDP any port", UDP_IN("10.1.0.5", 40000, 1), IN, PASS, R_ALLOWED },
		{ "in: SCTP any port", SCTP_IN("10.1.0.5", 40000, 9), IN, PASS, R_ALLOWED },
		{ "in: GRE",
		  { .src = "10.1.0.5", .dst = EP, .proto = 47, .payload = 8 },
		  IN,
		  PASS,
		  R_ALLOWED },
		{ "in: ICMP from outside the cidr", ECHO_IN("10.3.0.5", 7), IN, DROP, R_POLICY },
		{ "in: ICMP from the ports-only cidr", ECHO_IN("10.2.0.5", 7), IN, DROP, R_POLICY },
		{ "in: TCP 22 from the ports-only cidr", TCP_IN("10.2.0.5", 40000, 22, SYN), IN,
		  PASS, R_ALLOWED },
		{ "out: ICMP echo anywhere (empty rule)", ECHO_OUT("8.8.8.8", 3), EG, PASS,
		  R_ALLOWED },
		{ "out: UDP anywhere (empty rule)", UDP_OUT("1.1.1.1", 5353, 53), EG, PASS,
		  R_ALLOWED },
		{ "out: echo reply of our ping", ECHO_REPLY_IN("8.8.8.8", 3), IN, PASS, R_NONE },
	};

	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}]},"
		    "{'from':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],'ports':[{'port':22}]}],"
		    "'egress':[{}]"));
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.2 / 3.6 except, union */

static void test_except_union(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "cidr outside the except", TCP_IN("10.1.6.1", 40000, 80, SYN), IN, PASS,
		  R_ALLOWED },
		{ "inside the except, no other rule", TCP_IN("10.1.5.1", 40000, 80, SYN), IN, DROP,
		  R_POLICY },
		{ "inside the except, first address", TCP_IN("10.1.5.0", 40000, 80, SYN), IN, DROP,
		  R_POLICY },
		{ "inside the except, covered by another rule",
		  TCP_IN("10.1.5.200", 40000, 80, SYN), IN, PASS, R_ALLOWED },
		{ "covered by another rule, its port only", TCP_IN("10.1.5.200", 40000, 81, SYN),
		  IN, DROP, R_POLICY },
		{ "nested except inside the other rule", TCP_IN("10.1.5.250", 40000, 80, SYN), IN,
		  DROP, R_POLICY },
		{ "except of one peer, another peer of the same rule covers it",
		  TCP_IN("10.1.7.9", 40000, 80, SYN), IN, PASS, R_ALLOWED },
		{ "except of one peer, TCP 443 of another policy",
		  TCP_IN("10.1.5.1", 40000, 443, SYN), IN, PASS, R_ALLOWED },
		{ "union: second policy's UDP rule", UDP_IN("10.3.0.1", 40000, 53), IN, PASS,
		  R_ALLOWED },
		{ "union: second policy's cidr, TCP 80", TCP_IN("10.3.0.1", 40000, 80, SYN), IN,
		  DROP, R_POLICY },
		{ "union: egress of the third policy", TCP_OUT("10.4.0.1", 40000, 5432, SYN), EG,
		  PASS, R_ALLOWED },
		{ "union: egress-only policy adds no ingress", TCP_IN("10.4.0.1", 40000, 5432, SYN),
		  IN, DROP, R_POLICY },
	};

	apply(x,
	      LIST3(NP("p1", INGRESS,
		       "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16',"
		       "'except':['10.1.5.0/24','10.1.7.0/24']}},"
		       "{'ipBlock':{'cidr':'10.1.7.0/24'}}],"
		       "'ports':[{'protocol':'TCP','port':80}]},"
		       "{'from':[{'ipBlock':{'cidr':'10.1.5.128/25','except':['10.1.5.248/29']}}],"
		       "'ports':[{'protocol':'TCP','port':80}]}]"),
		    NP("p2", INGRESS,
		       "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		       "'ports':[{'protocol':'TCP','port':443}]},"
		       "{'from':[{'ipBlock':{'cidr':'10.3.0.0/16'}}],"
		       "'ports':[{'protocol':'UDP','port':53}]}]"),
		    NP("p3", EGRESS,
		       "'egress':[{'to':[{'ipBlock':{'cidr':'10.4.0.0/16'}}],"
		       "'ports':[{'protocol':'TCP','port':5432}]}]")));
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.4 stateful */

#define ERR_IN(from, quoted)                                                                     \
	{                                                                                        \
		.src = from, .dst = EP, .proto = ICMP, .icmp = PKT_DEST_UNREACH, .icmp_code = 3, \
		.inner = quoted                                                                  \
	}

static const struct pkt_spec q_our_syn = TCP_OUT("10.2.0.5", 40000, 443, SYN);
/* what routers quote: the IP header and the first 8 bytes after it */
static const struct pkt_spec q_our_syn_8 = { .src = EP,
					     .dst = "10.2.0.5",
					     .proto = TCP,
					     .sport = 40000,
					     .dport = 443,
					     .l4_cut = 8 };
static const struct pkt_spec q_other_syn = TCP_OUT("10.2.0.5", 40001, 443, SYN);
static const struct pkt_spec q_our_dns = UDP_OUT("10.96.0.10", 5353, 53);
static const struct pkt_spec q_their_syn = TCP_IN("10.1.0.7", 33333, 80, SYN);

static void test_stateful(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "out: SYN allowed", TCP_OUT("10.2.0.5", 40000, 443, SYN), EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK reply", TCP_IN("10.2.0.5", 443, 40000, SYNACK), IN, PASS, R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, PASS, R_NONE },
		{ "in: data", TCP_IN("10.2.0.5", 443, 40000, ACK), IN, PASS, R_NONE },
		{ "in: unsolicited SYN, same peer, other port", TCP_IN("10.2.0.5", 5555, 22, SYN),
		  IN, DROP, R_POLICY },
		{ "in: same peer port, other local port", TCP_IN("10.2.0.5", 443, 40002, SYNACK),
		  IN, DROP, R_POLICY },
		{ "in: other peer, same ports", TCP_IN("10.2.0.6", 443, 40000, SYNACK), IN, DROP,
		  R_POLICY },
		{ "in: UDP on the TCP flow's ports", UDP_IN("10.2.0.5", 443, 40000), IN, DROP,
		  R_POLICY },
		{ "out: DNS query", UDP_OUT("10.96.0.10", 5353, 53), EG, PASS, R_ALLOWED },
		{ "in: DNS answer", UDP_IN("10.96.0.10", 53, 5353), IN, PASS, R_NONE },
		{ "in: DNS answer to another port", UDP_IN("10.96.0.10", 53, 5354), IN, DROP,
		  R_POLICY },
		{ "out: ping", ECHO_OUT("10.4.0.1", 77), EG, PASS, R_ALLOWED },
		{ "in: its echo reply", ECHO_REPLY_IN("10.4.0.1", 77), IN, PASS, R_NONE },
		{ "in: echo reply of another id", ECHO_REPLY_IN("10.4.0.1", 78), IN, DROP,
		  R_POLICY },
		{ "in: echo request of another id", ECHO_IN("10.4.0.1", 79), IN, DROP, R_POLICY },
		{ "in: echo request with our ping's id", ECHO_IN("10.4.0.1", 77), IN, DROP,
		  R_POLICY },
		/* ICMP errors */
		{ "in: dest unreachable about our SYN, from a router",
		  ERR_IN("10.9.9.9", &q_our_syn), IN, PASS, R_NONE },
		{ "in: dest unreachable about our SYN, from the peer",
		  ERR_IN("10.2.0.5", &q_our_syn), IN, PASS, R_NONE },
		{ "in: dest unreachable quoting IP + 8 bytes", ERR_IN("10.9.9.9", &q_our_syn_8), IN,
		  PASS, R_NONE },
		{ "in: time exceeded about our DNS query",
		  { .src = "10.9.9.9",
		    .dst = EP,
		    .proto = ICMP,
		    .icmp = PKT_TIME_EXCEEDED,
		    .inner = &q_our_dns },
		  IN,
		  PASS,
		  R_NONE },
		{ "in: dest unreachable about an unknown flow", ERR_IN("10.9.9.9", &q_other_syn),
		  IN, DROP, R_POLICY },
		{ "in: dest unreachable quoting a packet of the other direction",
		  ERR_IN("10.9.9.9", &q_their_syn), IN, DROP, R_POLICY },
		/* a flow the peer opened: our replies and our ICMP errors about it */
		{ "in: SYN to our service", TCP_IN("10.1.0.7", 33333, 80, SYN), IN, PASS,
		  R_ALLOWED },
		{ "out: SYN-ACK", TCP_OUT("10.1.0.7", 80, 33333, SYNACK), EG, PASS, R_NONE },
		{ "out: port unreachable about their flow",
		  { .src = EP,
		    .dst = "10.1.0.7",
		    .proto = ICMP,
		    .icmp = PKT_DEST_UNREACH,
		    .icmp_code = 3,
		    .inner = &q_their_syn },
		  EG,
		  PASS,
		  R_NONE },
		{ "out: port unreachable about a flow we don't have",
		  { .src = EP,
		    .dst = "10.1.0.8",
		    .proto = ICMP,
		    .icmp = PKT_DEST_UNREACH,
		    .icmp_code = 3,
		    .inner = &q_other_syn },
		  EG,
		  DROP,
		  R_POLICY },
		{ "out: SYN to the peer of their flow", TCP_OUT("10.1.0.7", 40010, 80, SYN), EG,
		  DROP, R_POLICY },
	};

	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':80}]}],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]},"
		    "{'to':[{'ipBlock':{'cidr':'10.96.0.10/32'}}],"
		    "'ports':[{'protocol':'UDP','port':53}]},"
		    "{'to':[{'ipBlock':{'cidr':'10.4.0.0/16'}}]}]"));
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.12 related ICMP */

#define ERR_OUT(from, to, quoted)                                                            \
	{                                                                                    \
		.src = from, .dst = to, .proto = ICMP, .icmp = PKT_DEST_UNREACH, .icmp_code = 3, \
		.inner = quoted                                                              \
	}
#define ERR_TO(to, quoted)                                                                     \
	{                                                                                      \
		.src = "10.9.9.9", .dst = to, .proto = ICMP, .icmp = PKT_DEST_UNREACH, .icmp_code = 3, \
		.inner = quoted                                                                \
	}

/* what the endpoint received of its DNS flow: the answer (peer -> EP) */
static const struct pkt_spec q_dns_answer = UDP_IN("10.96.0.10", 53, 5353);
/* the same, with data after the UDP header (a covert channel would carry it) */
static const struct pkt_spec q_dns_answer_data = { .src = "10.96.0.10",
						   .dst = EP,
						   .proto = UDP,
						   .sport = 53,
						   .dport = 5353,
						   .payload = 200 };

/*
 * An ICMP error passes as related only when its outer addresses fit the
 * quoted flow: egress to the flow's peer, ingress to the endpoint's own
 * address of the flow. Otherwise the policy decides.
 */
static void test_related_icmp_addrs(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase open[] = {
		{ "out: DNS query", UDP_OUT("10.96.0.10", 5353, 53), EG, PASS, R_ALLOWED },
		{ "in: its answer", UDP_IN("10.96.0.10", 53, 5353), IN, PASS, R_NONE },
		{ "in: SYN to our service", TCP_IN("10.1.0.7", 33333, 80, SYN), IN, PASS, R_ALLOWED },
	};
	static const struct vcase t[] = {
		/* egress: errors the endpoint sends about a tracked flow */
		{ "out: error about the DNS answer, to the DNS server",
		  ERR_OUT(EP, "10.96.0.10", &q_dns_answer), EG, PASS, R_NONE },
		{ "out: the same with data, to the DNS server",
		  ERR_OUT(EP, "10.96.0.10", &q_dns_answer_data), EG, PASS, R_NONE },
		{ "out: error about the DNS answer, to another address",
		  ERR_OUT(EP, "10.1.0.8", &q_dns_answer), EG, DROP, R_POLICY },
		{ "out: the same with data, to another address",
		  ERR_OUT(EP, "10.1.0.8", &q_dns_answer_data), EG, DROP, R_POLICY },
		{ "out: error about the DNS answer, to an allowed peer's address",
		  ERR_OUT(EP, "10.2.0.5", &q_dns_answer), EG, DROP, R_POLICY },
		{ "out: error about their SYN, to them", ERR_OUT(EP, "10.1.0.7", &q_their_syn), EG,
		  PASS, R_NONE },
		{ "out: error about their SYN, to their neighbour",
		  ERR_OUT(EP, "10.1.0.9", &q_their_syn), EG, DROP, R_POLICY },
		{ "out: error about their SYN, to them, spoofed source",
		  ERR_OUT("10.0.0.99", "10.1.0.7", &q_their_syn), EG, DROP, R_SPOOFED },
		/* ingress: errors about a tracked flow, to the endpoint's address of it */
		{ "in: error about our DNS query, from a router", ERR_TO(EP, &q_our_dns), IN, PASS,
		  R_NONE },
		{ "in: error about our DNS query, to another address",
		  ERR_TO("10.0.0.77", &q_our_dns), IN, DROP, R_POLICY },
		{ "in: error about our DNS query, to the DNS server's address",
		  ERR_TO("10.96.0.10", &q_our_dns), IN, DROP, R_POLICY },
	};

	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':80}]}],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.96.0.10/32'}}],"
		    "'ports':[{'protocol':'UDP','port':53}]},"
		    "{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]}]"));
	RUN_TABLE(x, open);
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.5 revocation */

/* A flow's two addresses, as conntrack keys hold them: local EP, remote peer. */
static void flow_addrs(struct fx *x, const char *peer, uint8_t l[16], uint8_t r[16])
{
	assert_int_equal(pkt_addr16(EP, x->family, l), 0);
	assert_int_equal(pkt_addr16(peer, x->family, r), 0);
}

/* Whether conntrack tracks (proto, local EP:lport, remote peer:rport). */
static bool tracked(struct fx *x, uint8_t proto, uint16_t lport, const char *peer, uint16_t rport)
{
	uint8_t l[16], r[16];

	flow_addrs(x, peer, l, r);
	return dpt_ct_has(x->f, proto, l, lport, r, rport);
}

static void test_revocation_egress(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase open[] = {
		{ "out: SYN", TCP_OUT("10.2.0.5", 40000, 443, SYN), EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40000, SYNACK), IN, PASS, R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase still[] = {
		{ "after a replace that still allows: ICMP error about the flow",
		  ERR_IN("10.9.9.9", &q_our_syn), IN, PASS, R_NONE },
		{ "after a replace that still allows: reply", TCP_IN("10.2.0.5", 443, 40000, ACK),
		  IN, PASS, R_NONE },
		{ "after a replace that still allows: data", TCP_OUT("10.2.0.5", 40000, 443, ACK),
		  EG, PASS, R_NONE },
	};
	static const struct vcase revoked[] = {
		{ "after revocation: data", TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, DROP,
		  R_POLICY },
		{ "after revocation: reply", TCP_IN("10.2.0.5", 443, 40000, ACK), IN, DROP,
		  R_POLICY },
		{ "after revocation: a new SYN", TCP_OUT("10.2.0.5", 40001, 443, SYN), EG, DROP,
		  R_POLICY },
		{ "after revocation: what the new policy allows",
		  TCP_OUT("10.3.0.5", 40000, 443, SYN), EG, PASS, R_ALLOWED },
	};

	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]}]"));
	RUN_TABLE(x, open);
	assert_true(tracked(x, TCP, 40000, "10.2.0.5", 443));

	/* a different policy (other name, wider cidr, another port) that still allows */
	apply(x, NP("q", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.0.0.0/8'}}],"
		    "'ports':[{'protocol':'TCP','port':8443},{'protocol':'TCP','port':443}]}]"));
	RUN_TABLE(x, still);
	assert_true(tracked(x, TCP, 40000, "10.2.0.5", 443));

	apply(x, NP("q", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.3.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]}]"));
	assert_true(tracked(x, TCP, 40000, "10.2.0.5",
			    443)); /* revoked at the next packet, not before */
	RUN_TABLE(x, revoked);
	assert_false(tracked(x, TCP, 80, "10.1.0.7", 33333));
}

/* ------------------------------------------------------------ 12 networks */

/* A MultiNetworkPolicy of tenant alpha for its network "storage". */
#define MNP(name, types, rules)                                                              \
	"{'apiVersion':'k8s.cni.cncf.io/v1beta1','kind':'MultiNetworkPolicy','metadata':"    \
	"{'name':'" name "','namespace':'" TENANT "','annotations':"                          \
	"{'k8s.v1.cni.cncf.io/policy-for':'storage'}},'spec':{'podSelector':{},'policyTypes':" \
	types "," rules "}}"
#define STORAGE TENANT "/storage"

static void apply_network(struct fx *x, const char *json, uint32_t *slot)
{
	char *dq = strdup(json), *fj, *c;
	int err;

	assert_non_null(dq);
	for (c = dq; *c; c++)
		if (*c == '\'')
			*c = '"';
	fj = pkt_json_for_family(dq, x->family);
	assert_non_null(fj);
	err = dpt_apply_network_json(x->f, TENANT, STORAGE, fj, slot);
	if (err)
		fail_msg("applying the rule set failed (%s):\n%s", strerror(-err), fj);
	free(fj);
	free(dq);
}

/*
 * An endpoint whose policy_id names its network's rule set: new flows are
 * judged by the rule set, counted on the tenant; a tracked flow carries the
 * slot it was judged by, so the rule set's swap revokes it and the tenant's
 * does not; a flow moved to the rule set (as dp__rulesets_sync does) is
 * judged again by it at its next packet.
 */
static void test_network_rule_set(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase tenant_rules[] = {
		{ "tenant's rules: 443", TCP_OUT("10.2.0.5", 40000, 443, SYN), EG, PASS, R_ALLOWED },
		{ "tenant's rules: not 9090", TCP_OUT("10.2.0.5", 40001, 9090, SYN), EG, DROP,
		  R_POLICY },
	};
	static const struct vcase set_rules[] = {
		{ "rule set: 9090", TCP_OUT("10.2.0.5", 40002, 9090, SYN), EG, PASS, R_ALLOWED },
		{ "rule set: its reply", TCP_IN("10.2.0.5", 9090, 40002, SYNACK), IN, PASS, R_NONE },
		{ "rule set: not 443", TCP_OUT("10.2.0.5", 40003, 443, SYN), EG, DROP, R_POLICY },
		{ "moved to the rule set: the 443 flow, judged again",
		  TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, DROP, R_POLICY },
	};
	static const struct vcase after_tenant_swap[] = {
		{ "the tenant's swap: the rule set's flow stands", TCP_OUT("10.2.0.5", 40002, 9090, ACK),
		  EG, PASS, R_NONE },
	};
	static const struct vcase after_set_swap[] = {
		{ "the rule set's swap: its flow revoked", TCP_OUT("10.2.0.5", 40002, 9090, ACK), EG,
		  DROP, R_POLICY },
		{ "the rule set's swap: what it allows now", TCP_OUT("10.2.0.5", 40004, 7000, SYN), EG,
		  PASS, R_ALLOWED },
	};
	struct nf_tenant_info ti;
	struct nf_ct_val ct;
	uint8_t l[16], r[16];
	uint32_t slot, slot2;

	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]}]"));
	apply_network(x, MNP("m", EGRESS,
			     "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
			     "'ports':[{'protocol':'TCP','port':9090}]}]"), &slot);
	assert_int_not_equal(slot, x->tenant_id);
	/* an installed rule set changes nothing for an endpoint not on it */
	RUN_TABLE(x, tenant_rules);

	assert_int_equal(dpt_set_policy_id(x->f, IFINDEX, slot), 0);
	/* its flow moved as dp__rulesets_sync moves it: the slot, an epoch it is past */
	flow_addrs(x, "10.2.0.5", l, r);
	assert_int_equal(dpt_ct_get(x->f, TCP, l, 40000, r, 443, &ct), 0);
	assert_int_equal(ct.policy_id, 0);
	assert_int_equal(dp__tenant_info(x->f->dp, slot, &ti), 0);
	ct.policy_id = (__u16)slot;
	ct.epoch = ti.epoch - 1;
	ct.gen = 0;
	assert_int_equal(dpt_ct_set(x->f, TCP, l, 40000, r, 443, &ct), 0);
	RUN_TABLE(x, set_rules);
	assert_int_equal(dpt_ct_get(x->f, TCP, l, 40002, r, 9090, &ct), 0);
	assert_int_equal(ct.policy_id, slot);
	assert_int_equal(ct.tenant_id, x->tenant_id);

	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443},{'protocol':'TCP','port':80}]}]"));
	RUN_TABLE(x, after_tenant_swap);
	apply_network(x, MNP("m", EGRESS,
			     "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
			     "'ports':[{'protocol':'TCP','port':7000}]}]"), &slot2);
	assert_int_equal(slot2, slot);
	RUN_TABLE(x, after_set_swap);
	assert_int_equal(dpt_set_policy_id(x->f, IFINDEX, 0), 0);
}

/* A flow the peer opened: its next packet after the port is revoked is dropped. */
static void test_revocation_ingress(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase open[] = {
		{ "in: SYN", TCP_IN("10.1.0.7", 33333, 80, SYN), IN, PASS, R_ALLOWED },
		{ "out: SYN-ACK", TCP_OUT("10.1.0.7", 80, 33333, SYNACK), EG, PASS, R_NONE },
		{ "in: ACK", TCP_IN("10.1.0.7", 33333, 80, ACK), IN, PASS, R_NONE },
	};
	static const struct vcase revoked[] = {
		{ "after revocation: our reply first", TCP_OUT("10.1.0.7", 80, 33333, ACK), EG,
		  DROP, R_POLICY },
		{ "after revocation: their data", TCP_IN("10.1.0.7", 33333, 80, ACK), IN, DROP,
		  R_POLICY },
		{ "after revocation: the new port", TCP_IN("10.1.0.7", 33334, 81, SYN), IN, PASS,
		  R_ALLOWED },
	};

	apply(x, NP("p", INGRESS,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':80}]}]"));
	RUN_TABLE(x, open);
	assert_true(tracked(x, TCP, 80, "10.1.0.7", 33333));
	apply(x, NP("p", INGRESS,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':81}]}]"));
	RUN_TABLE(x, revoked);
	assert_false(tracked(x, TCP, 80, "10.1.0.7", 33333));
}

/* ------------------------------------------------------------ 3.4 conntrack lifecycle */

/* The conntrack value of (proto, EP:lport, peer:rport); fails the test if untracked. */
static struct nf_ct_val ct_val(struct fx *x, uint8_t proto, uint16_t lport, const char *peer,
			       uint16_t rport)
{
	struct nf_ct_val v;
	uint8_t l[16], r[16];

	flow_addrs(x, peer, l, r);
	assert_int_equal(dpt_ct_get(x->f, proto, l, lport, r, rport, &v), 0);
	return v;
}

/* Whether that flow is tracked at all. */
static bool ct_tracked(struct fx *x, uint8_t proto, uint16_t lport, const char *peer,
		       uint16_t rport)
{
	struct nf_ct_val v;
	uint8_t l[16], r[16];

	flow_addrs(x, peer, l, r);
	return dpt_ct_get(x->f, proto, l, lport, r, rport, &v) == 0;
}

/* Overwrite the conntrack value of that flow; fails the test if untracked. */
static void ct_set(struct fx *x, uint8_t proto, uint16_t lport, const char *peer, uint16_t rport,
		   const struct nf_ct_val *v)
{
	uint8_t l[16], r[16];

	flow_addrs(x, peer, l, r);
	assert_int_equal(dpt_ct_set(x->f, proto, l, lport, r, rport, v), 0);
}

/*
 * Make the flow look CT_AGE jiffies older. 11,000 jiffies is over 10 s
 * (closed TCP) at any CONFIG_HZ up to 1000, and under 6 h (established TCP)
 * or 180 s (answered UDP) at any CONFIG_HZ from 100.
 */
#define CT_AGE 11000
static void ct_age_by(struct fx *x, uint8_t proto, uint16_t lport, const char *peer,
		      uint16_t rport, uint64_t jiffies)
{
	struct nf_ct_val v = ct_val(x, proto, lport, peer, rport);

	v.last_seen_ns -= jiffies;
	ct_set(x, proto, lport, peer, rport, &v);
}

static void ct_age(struct fx *x, uint8_t proto, uint16_t lport, const char *peer, uint16_t rport)
{
	ct_age_by(x, proto, lport, peer, rport, CT_AGE);
}

/*
 * Seen 1,000 jiffies from now: no refresh (NF_CT_REFRESH jiffies after the
 * last, taken by the full path) falls due during the next packets, however
 * slowly a loaded machine runs them, so they take the fast path.
 */
static void ct_hold(struct fx *x, uint8_t proto, uint16_t lport, const char *peer, uint16_t rport)
{
	ct_age_by(x, proto, lport, peer, rport, (uint64_t)-1000);
}

/* Idle past every lifetime (6 h of established TCP) at any CONFIG_HZ up to 1000. */
#define CT_AGE_GONE (7ULL * 3600 * 1000)

#define FIN (PKT_TCP_FIN | PKT_TCP_ACK)
#define RST PKT_TCP_RST

/*
 * A tracked flow's state moves with its packets, whichever path the datapath
 * takes for them (established fast path or full verdict): the reply marks
 * it answered, FIN both ways closes it and the last ACK ends it (its entry
 * goes), a RST ends it at once, a lone FIN or RST of an untracked tuple is
 * not tracked, a new SYN reopens a closed tuple. Only egress is allowed, so
 * an ingress packet passes only while its flow is tracked and alive.
 */
/* nf_config.policy_gen, as the datapath reads it. */
static __u32 policy_gen(struct fx *x)
{
	struct nf_config cfg;
	__u32 zero = 0;

	assert_int_equal(bpf_map_lookup_elem(dp__map_fd(x->f->dp, NF_MAP_CONFIG), &zero, &cfg), 0);
	return cfg.policy_gen;
}

/*
 * An established packet passes on its entry's stamp (nf_ct_val.gen equal to
 * nf_config.policy_gen) without reading its tenant's epoch. The first packet
 * the fast path passes stamps it; every flip bumps policy_gen, so a stamp
 * never outlives a policy change; an entry written by userspace has none.
 */
static void test_ct_gen(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase open_[] = {
		{ "out: SYN (the full verdict: no stamp)", TCP_OUT("10.2.0.5", 40000, 443, SYN), EG,
		  PASS, R_ALLOWED },
	};
	static const struct vcase reply[] = {
		{ "in: SYN-ACK (first reply: the fast path)", TCP_IN("10.2.0.5", 443, 40000, SYNACK),
		  IN, PASS, R_NONE },
	};
	static const struct vcase data[] = {
		{ "out: data", TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase revoked[] = {
		{ "out: data after the flip: judged by the new policy",
		  TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, DROP, R_POLICY },
	};
	struct nf_tenant_info ti;
	struct nf_ct_val v;
	__u32 g0;

	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443},{'protocol':'UDP','port':53}]}]"));
	g0 = policy_gen(x);
	assert_int_not_equal(g0, 0);
	RUN_TABLE(x, open_);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).gen, 0);
	ct_hold(x, TCP, 40000, "10.2.0.5", 443);
	RUN_TABLE(x, reply);
	v = ct_val(x, TCP, 40000, "10.2.0.5", 443);
	assert_int_equal(v.gen, g0);
	assert_true(v.flags & NF_CT_SEEN_REPLY);
	RUN_TABLE(x, data);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).gen, g0);

	/* the stamp is what passes it: with a stale epoch and a current stamp... */
	assert_int_equal(dp__tenant_info(x->f->dp, x->tenant_id, &ti), 0);
	v = ct_val(x, TCP, 40000, "10.2.0.5", 443);
	v.epoch = ti.epoch - 1;
	ct_set(x, TCP, 40000, "10.2.0.5", 443, &v);
	RUN_TABLE(x, data);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).epoch, ti.epoch - 1);
	/* ...and without a stamp (as userspace writes entries) it is judged again */
	v.gen = 0;
	ct_set(x, TCP, 40000, "10.2.0.5", 443, &v);
	RUN_TABLE(x, data);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).epoch, ti.epoch);
	ct_hold(x, TCP, 40000, "10.2.0.5", 443);
	RUN_TABLE(x, data);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).gen, g0);

	/* a flip bumps policy_gen: the stamped flow is judged by the new policy */
	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'UDP','port':53}]}]"));
	assert_true(policy_gen(x) != g0);
	RUN_TABLE(x, revoked);
	assert_false(ct_tracked(x, TCP, 40000, "10.2.0.5", 443));

	/* so does removing the tenant's policy (back to deny-all) */
	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]}]"));
	RUN_TABLE(x, open_);
	RUN_TABLE(x, data);
	ct_hold(x, TCP, 40000, "10.2.0.5", 443);
	RUN_TABLE(x, data);
	g0 = policy_gen(x);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).gen, g0);
	assert_int_equal(dp__remove_policy(x->f->dp, x->tenant_id), 0);
	RUN_TABLE(x, revoked);
	assert_true(policy_gen(x) != g0);
	assert_false(ct_tracked(x, TCP, 40000, "10.2.0.5", 443));
}

/* Entries in the verdict cache (nf_verdicts). */
static size_t verdicts_count(struct fx *x)
{
	int fd = dp__map_fd(x->f->dp, NF_MAP_VERDICTS);
	struct nf_verdict_key k, next;
	size_t n = 0;

	for (int e = bpf_map_get_next_key(fd, NULL, &next); !e;
	     e = bpf_map_get_next_key(fd, &k, &next)) {
		k = next;
		n++;
	}
	return n;
}

/*
 * The verdict cache (struct nf_verdict_key): the first packet of a new flow
 * that the full verdict allows is remembered for the next flow between the
 * same addresses to the same service port. Which path took a packet shows
 * in its conntrack entry: the full verdict leaves gen 0, a cached verdict
 * stamps the gen it was decided under. Anything that changes the verdict
 * (endpoint's tenant, policy, own addresses, node flags) moves policy_gen,
 * and the cached verdict no longer counts; the direction is part of the key;
 * denials are never cached; a different source address is another key, so
 * anti-spoofing is never skipped.
 */
static void test_verdict_cache(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase first[] = {
		{ "out: first SYN to 10.2.0.5:443 (full verdict)",
		  TCP_OUT("10.2.0.5", 40000, 443, SYN), EG, PASS, R_ALLOWED },
	};
	static const struct vcase second[] = {
		{ "out: another client port, the same service (cached)",
		  TCP_OUT("10.2.0.5", 40001, 443, SYN), EG, PASS, R_ALLOWED },
		{ "out: UDP 53 of the same peer: another key (full verdict)",
		  UDP_OUT("10.2.0.5", 40002, 53), EG, PASS, R_ALLOWED },
		{ "out: a denied port: dropped", TCP_OUT("10.2.0.5", 40003, 444, SYN), EG, DROP,
		  R_POLICY },
		{ "out: again: still dropped (denials are not cached)",
		  TCP_OUT("10.2.0.5", 40004, 444, SYN), EG, DROP, R_POLICY },
		{ "out: a spoofed source to the cached service: anti-spoofing",
		  { .src = "10.0.0.99", .dst = "10.2.0.5", .proto = TCP, .sport = 40005,
		    .dport = 443, .tcp_flags = SYN },
		  EG, DROP, R_SPOOFED },
		{ "in: from 10.2.0.5 to local port 443: the other direction, denied",
		  TCP_IN("10.2.0.5", 50000, 443, SYN), IN, DROP, R_POLICY },
	};
	static const struct vcase beta[] = {
		{ "out: after a re-attach to beta (no policy): denied",
		  TCP_OUT("10.2.0.5", 40010, 443, SYN), EG, DROP, R_POLICY, .tenant = "beta" },
	};
	static const struct vcase again[] = {
		{ "out: 40001's SYN again (a retransmission): its flow, not a new one",
		  TCP_OUT("10.2.0.5", 40001, 443, SYN), EG, PASS, R_NONE },
		{ "in: 40001's SYN-ACK", TCP_IN("10.2.0.5", 443, 40001, SYNACK), IN, PASS, R_NONE },
		{ "out: 40001's RST: the flow ends", TCP_OUT("10.2.0.5", 40001, 443, RST), EG, PASS,
		  R_NONE },
		{ "out: 40001 reused: a new flow, from the cached verdict",
		  TCP_OUT("10.2.0.5", 40001, 443, SYN), EG, PASS, R_ALLOWED },
	};
	static const struct vcase alpha[] = {
		{ "out: back in alpha: allowed", TCP_OUT("10.2.0.5", 40011, 443, SYN), EG, PASS,
		  R_ALLOWED },
		{ "out: and cached again", TCP_OUT("10.2.0.5", 40012, 443, SYN), EG, PASS,
		  R_ALLOWED },
	};
	static const struct vcase alpha2[] = {
		{ "out: alpha again: allowed", TCP_OUT("10.2.0.5", 40014, 443, SYN), EG, PASS,
		  R_ALLOWED },
	};
	static const struct vcase revoked[] = {
		{ "out: 443 no longer allowed", TCP_OUT("10.2.0.5", 40013, 443, SYN), EG, DROP,
		  R_POLICY },
	};
	uint32_t beta_id = dpt_tenant(x->f, "beta");
	struct nf_ct_val v;
	char a[64];
	size_t n;
	__u32 g;

	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443},{'protocol':'UDP','port':53}]}]"));
	g = policy_gen(x);
	RUN_TABLE(x, first);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).gen, 0);
	assert_int_equal(verdicts_count(x), 1);
	RUN_TABLE(x, second);
	v = ct_val(x, TCP, 40001, "10.2.0.5", 443);
	assert_int_equal(v.gen, g);
	assert_int_equal(v.tenant_id, x->tenant_id);
	assert_int_equal(v.ep_id, EP_ID);
	assert_int_equal(v.origin_dir, EG);
	assert_int_equal(ct_val(x, UDP, 40002, "10.2.0.5", 53).gen, 0);
	assert_int_equal(verdicts_count(x), 2);	/* TCP 443 and UDP 53: no denial */

	/* a SYN of a tracked tuple leaves its entry to it: not a second insert */
	n = dpt_ct_count(x->f);
	RUN_TABLE(x, again);
	assert_int_equal(dpt_ct_count(x->f), n);
	assert_int_equal(ct_val(x, TCP, 40001, "10.2.0.5", 443).gen, g);

	/* a gen that moved makes the entry count for nothing: full verdict */
	assert_int_equal(dpt_set_policy_id(x->f, IFINDEX, 0), 0);	/* bumps only */
	assert_true(policy_gen(x) != g);
	RUN_TABLE(x, alpha);
	assert_int_equal(ct_val(x, TCP, 40011, "10.2.0.5", 443).gen, 0);
	assert_int_equal(ct_val(x, TCP, 40012, "10.2.0.5", 443).gen, policy_gen(x));

	/* the interface re-attached to tenant beta, which allows nothing */
	assert_true(beta_id && beta_id != x->tenant_id);
	assert_int_equal(dpt_add_endpoint(x->f, IFINDEX, beta_id, EP_ID + 1, 0), 0);
	pkt_addr_text(EP, x->family, a, sizeof(a));
	assert_int_equal(dpt_add_ep_addr(x->f, EP_ID + 1, a), 0);
	RUN_TABLE(x, beta);
	assert_int_equal(dpt_add_endpoint(x->f, IFINDEX, x->tenant_id, EP_ID, 0), 0);
	RUN_TABLE(x, alpha2);

	/* a policy change */
	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'UDP','port':53}]}]"));
	RUN_TABLE(x, revoked);
}

/*
 * Where in its region of nf_ct_closed a key goes: bpf/lib/fcache.bpf.h's
 * nf_fc_mix, its top NF_CL_BITS in the shared region (idx below
 * NF_CL_SLOTS), its top NF_CL_CPU_BITS (0 taken as 1) in a CPU's (checked
 * against where the datapath put a close).
 */
static uint32_t closed_index(const struct nf_ct_key *k, uint32_t idx)
{
	const uint64_t *w = (const uint64_t *)k;
	uint64_t h = w[3] * 0x9e3779b97f4a7c15ULL ^ (w[1] ^ w[4]) * 0xc2b2ae3d27d4eb4fULL ^
		     (w[2] ^ w[5]) * 0x165667b19e3779f9ULL;
	uint32_t in;

	h = (h ^ (h >> 32)) * 0x9e3779b97f4a7c15ULL;
	if (idx < NF_CL_SLOTS)
		return (uint32_t)(h >> (64 - NF_CL_BITS));
	in = (uint32_t)(h >> (64 - NF_CL_CPU_BITS));
	return (idx & ~(NF_CL_CPU_SLOTS - 1)) | (in ? in : 1);
}

/*
 * A client port other than `not` whose tuple (the closed connection's key
 * with that local port) takes the same nf_ct_closed slot as the close
 * held at *idx: the datapath must tell them apart by the key.
 */
static uint16_t closed_collider(struct fx *x, uint16_t not, int *idx)
{
	struct nf_closed_slot s;
	struct nf_ct_key k;
	uint32_t p;

	*idx = dpt_closed_first(x->f, &s);
	assert_true(*idx >= 0);
	assert_int_equal(closed_index(&s.key, (uint32_t)*idx), (uint32_t)*idx);
	for (p = 1024; p < 65536; p++) {
		k = s.key;
		k.lport = htons((uint16_t)p);
		if (p != not && closed_index(&k, (uint32_t)*idx) == (uint32_t)*idx)
			return (uint16_t)p;
	}
	fail_msg("no port collides with the closed slot %d", *idx);
	return 0;
}

static void test_ct_lifecycle(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase open_[] = {
		{ "out: SYN", TCP_OUT("10.2.0.5", 40000, 443, SYN), EG, PASS, R_ALLOWED },
	};
	static const struct vcase answer[] = {
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40000, SYNACK), IN, PASS, R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, PASS, R_NONE },
		{ "in: data", TCP_IN("10.2.0.5", 443, 40000, ACK), IN, PASS, R_NONE },
	};
	static const struct vcase fin_out[] = {
		{ "out: FIN", TCP_OUT("10.2.0.5", 40000, 443, FIN), EG, PASS, R_NONE },
	};
	static const struct vcase fin_in[] = {
		{ "in: FIN", TCP_IN("10.2.0.5", 443, 40000, FIN), IN, PASS, R_NONE },
	};
	static const struct vcase last_ack[] = {
		{ "out: last ACK ends the flow", TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, PASS,
		  R_NONE },
	};
	static const struct vcase late[] = {
		{ "in: a late ACK of the ended flow passes (recently closed), untracked",
		  TCP_IN("10.2.0.5", 443, 40000, ACK), IN, PASS, R_NONE },
		{ "out: and a late FIN of it", TCP_OUT("10.2.0.5", 40000, 443, FIN), EG, PASS, R_NONE },
	};
	static const struct vcase after_close[] = {
		{ "in: ACK of an ended flow, the policy changed since", TCP_IN("10.2.0.5", 443, 40000, ACK),
		  IN, DROP, R_POLICY },
		{ "out: a lone FIN of it passes, untracked", TCP_OUT("10.2.0.5", 40000, 443, FIN), EG,
		  PASS, R_NONE },
		{ "out: ACK of it is judged again as new (and allowed)",
		  TCP_OUT("10.2.0.5", 40000, 443, ACK), EG, PASS, R_ALLOWED },
	};
	static const struct vcase rst[] = {
		{ "out: SYN", TCP_OUT("10.2.0.5", 40001, 443, SYN), EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40001, SYNACK), IN, PASS, R_NONE },
		{ "out: RST", TCP_OUT("10.2.0.5", 40001, 443, RST), EG, PASS, R_NONE },
	};
	static const struct vcase after_rst[] = {
		{ "in: a late ACK of the reset flow passes", TCP_IN("10.2.0.5", 443, 40001, ACK), IN,
		  PASS, R_NONE },
		{ "in: a SYN-ACK is no late packet: dropped", TCP_IN("10.2.0.5", 443, 40001, SYNACK),
		  IN, DROP, R_POLICY },
	};
	static const struct vcase rst_long_ago[] = {
		{ "in: ACK of the reset flow past NF_CT_TCP_CLOSED_S", TCP_IN("10.2.0.5", 443, 40001, ACK),
		  IN, DROP, R_POLICY },
		{ "out: a new SYN on the tuple is judged as new", TCP_OUT("10.2.0.5", 40001, 443, SYN),
		  EG, PASS, R_ALLOWED },
	};
	static const struct vcase reopen[] = {
		{ "out: SYN on the closed tuple", TCP_OUT("10.2.0.5", 40000, 443, SYN), EG, PASS,
		  R_NONE },
	};
	static const struct vcase est_aged[] = {
		{ "in: data of an answered flow after 11,000 jiffies",
		  TCP_IN("10.2.0.5", 443, 40000, ACK), IN, PASS, R_NONE },
	};
	static const struct vcase est_gone[] = {
		{ "in: data of an answered flow idle past its lifetime",
		  TCP_IN("10.2.0.5", 443, 40000, ACK), IN, DROP, R_POLICY },
	};
	static const struct vcase udp[] = {
		{ "out: UDP query", UDP_OUT("10.2.0.5", 5353, 53), EG, PASS, R_ALLOWED },
		{ "in: UDP answer", UDP_IN("10.2.0.5", 53, 5353), IN, PASS, R_NONE },
	};
	static const struct vcase udp_aged[] = {
		{ "in: UDP answer after 11,000 jiffies", UDP_IN("10.2.0.5", 53, 5353), IN, PASS,
		  R_NONE },
	};
	struct nf_ct_val v;

	apply(x, NP("p", BOTH,
		    "'ingress':[],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443},{'protocol':'UDP','port':53}]}]"));

	RUN_TABLE(x, open_);
	v = ct_val(x, TCP, 40000, "10.2.0.5", 443);
	assert_int_equal(v.origin_dir, NF_DIR_EGRESS);
	assert_int_equal(v.flags, 0);
	RUN_TABLE(x, answer);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).flags, NF_CT_SEEN_REPLY);
	RUN_TABLE(x, fin_out);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).flags,
			 NF_CT_SEEN_REPLY | NF_CT_FIN_ORIG);
	RUN_TABLE(x, fin_in);
	assert_true(ct_val(x, TCP, 40000, "10.2.0.5", 443).flags & NF_CT_CLOSED);
	RUN_TABLE(x, last_ack);
	assert_false(ct_tracked(x, TCP, 40000, "10.2.0.5", 443));
	assert_int_equal(dpt_closed_held(x->f), 1);
	/* its late packets pass as Linux conntrack passes a closed one's, and track nothing */
	RUN_TABLE(x, late);
	assert_false(ct_tracked(x, TCP, 40000, "10.2.0.5", 443));
	/* until a verdict changes (policy_gen): then they are judged again */
	dp__verdicts_changed(x->f->dp);
	RUN_TABLE(x, after_close);
	assert_true(ct_tracked(x, TCP, 40000, "10.2.0.5", 443));	/* the ACK, as new */

	dpt_closed_clear(x->f);	/* (what it held stood under the gen before) */
	RUN_TABLE(x, rst);
	assert_false(ct_tracked(x, TCP, 40001, "10.2.0.5", 443));
	assert_int_equal(dpt_closed_held(x->f), 1);	/* sent by the endpoint: remembered */
	RUN_TABLE(x, after_rst);
	{
		/* another tuple in the same slot is not the closed connection */
		int idx;
		uint16_t p = closed_collider(x, 40001, &idx);
		const struct vcase other[] = {
			{ "in: ACK of another client port, in the closed one's slot: dropped",
			  TCP_IN("10.2.0.5", 443, p, ACK), IN, DROP, R_POLICY },
		};

		RUN_TABLE(x, other);
		assert_int_equal(dpt_closed_first(x->f, &(struct nf_closed_slot){ 0 }), idx);
	}
	assert_false(ct_tracked(x, TCP, 40001, "10.2.0.5", 443));
	/* or until NF_CT_TCP_CLOSED_S have passed */
	dpt_closed_age(x->f, CT_AGE);
	RUN_TABLE(x, rst_long_ago);
	assert_true(ct_tracked(x, TCP, 40001, "10.2.0.5", 443));

	/* a closed (not yet expired) tuple reused by a new SYN starts afresh */
	v = ct_val(x, TCP, 40000, "10.2.0.5", 443);	/* tracked again since after_close */
	v.flags = NF_CT_SEEN_REPLY | NF_CT_FIN_ORIG | NF_CT_FIN_REPLY | NF_CT_CLOSED;
	ct_set(x, TCP, 40000, "10.2.0.5", 443, &v);
	RUN_TABLE(x, reopen);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).flags, 0);
	RUN_TABLE(x, answer);
	ct_age(x, TCP, 40000, "10.2.0.5", 443);
	v = ct_val(x, TCP, 40000, "10.2.0.5", 443);
	RUN_TABLE(x, est_aged);
	/* an entry idle for more than NF_CT_REFRESH jiffies is refreshed by its packet */
	assert_true(ct_val(x, TCP, 40000, "10.2.0.5", 443).last_seen_ns > v.last_seen_ns);
	assert_int_equal(ct_val(x, TCP, 40000, "10.2.0.5", 443).flags, NF_CT_SEEN_REPLY);
	/* one idle past its lifetime is gone: its next packet is judged as new */
	ct_age_by(x, TCP, 40000, "10.2.0.5", 443, CT_AGE_GONE);
	RUN_TABLE(x, est_gone);
	assert_false(ct_tracked(x, TCP, 40000, "10.2.0.5", 443));

	RUN_TABLE(x, udp);
	assert_int_equal(ct_val(x, UDP, 5353, "10.2.0.5", 53).flags, NF_CT_SEEN_REPLY);
	ct_age(x, UDP, 5353, "10.2.0.5", 53);
	RUN_TABLE(x, udp_aged);
}

/* The tracked connections counted against the fixture tenant's share (nf_usage). */
static uint32_t ct_usage(struct fx *x)
{
	struct nf_usage u;

	assert_int_equal(bpf_map_lookup_elem(dp__map_fd(x->f->dp, NF_MAP_USAGE), &x->tenant_id, &u),
			 0);
	return u.ct;
}

/* Delete the flow's entry only, as the datapath on another CPU would end it. */
static void ct_del_raw(struct fx *x, uint8_t proto, uint16_t lport, const char *peer,
		       uint16_t rport)
{
	uint8_t l[16], r[16];

	flow_addrs(x, peer, l, r);
	assert_int_equal(dpt_ct_del_raw(x->f, proto, l, lport, r, rport), 0);
}

/* Pin this thread to CPU cpu (runs execute where they are called). */
static void pin_cpu(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
}

/*
 * tc keeps a close in the region of the CPU that saw it, and
 * nf_ct_closed_cpu names that CPU for the slot: a late packet judged on
 * another CPU finds it there. A later close of another tuple in the same
 * slot, on another CPU, takes the name: the first close's late packets are
 * then judged as new (dropped), never passed on a stranger's close.
 */
static void test_closed_across_cpus(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase rst[] = {
		{ "out: SYN", TCP_OUT("10.2.0.5", 40001, 443, SYN), EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40001, SYNACK), IN, PASS, R_NONE },
		{ "out: RST", TCP_OUT("10.2.0.5", 40001, 443, RST), EG, PASS, R_NONE },
	};
	static const struct vcase late[] = {
		{ "in: a late ACK of the reset flow, on the other CPU: passes",
		  TCP_IN("10.2.0.5", 443, 40001, ACK), IN, PASS, R_NONE },
	};
	static const struct vcase late_lost[] = {
		{ "in: a late ACK of the first reset flow, its slot's name taken: dropped",
		  TCP_IN("10.2.0.5", 443, 40001, ACK), IN, DROP, R_POLICY },
	};
	struct nf_closed_slot s;
	cpu_set_t was;
	int a, b, idx, idx2;
	uint16_t p;

	assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
	if (CPU_COUNT(&was) < 2)
		skip();		/* one CPU: nothing crosses */
	for (a = 0; !CPU_ISSET(a, &was); a++)
		;
	for (b = a + 1; !CPU_ISSET(b, &was); b++)
		;
	apply(x, NP("p", BOTH,
		    "'ingress':[],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]}]"));
	dpt_closed_clear(x->f);

	pin_cpu(a);
	RUN_TABLE(x, rst);
	idx = dpt_closed_first(x->f, &s);
	assert_int_equal(dpt_closed_held(x->f), 1);
	/* in CPU a's region, at the slot its key hashes to */
	assert_true(idx >= (int)(NF_CL_SLOTS + ((uint32_t)a << NF_CL_CPU_BITS)) &&
		    idx < (int)(NF_CL_SLOTS + ((uint32_t)(a + 1) << NF_CL_CPU_BITS)));
	assert_int_equal(closed_index(&s.key, (uint32_t)idx), (uint32_t)idx);
	pin_cpu(b);
	RUN_TABLE(x, late);
	assert_false(ct_tracked(x, TCP, 40001, "10.2.0.5", 443));

	/* another tuple of the same slot closed on CPU b */
	p = closed_collider(x, 40001, &idx2);
	assert_int_equal(idx2, idx);
	{
		const struct vcase rst_b[] = {
			{ "out: SYN (CPU b)", TCP_OUT("10.2.0.5", p, 443, SYN), EG, PASS, R_ALLOWED },
			{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, p, SYNACK), IN, PASS, R_NONE },
			{ "out: RST", TCP_OUT("10.2.0.5", p, 443, RST), EG, PASS, R_NONE },
		};
		const struct vcase late_b[] = {
			{ "in: a late ACK of the second reset flow, on CPU a: passes",
			  TCP_IN("10.2.0.5", 443, p, ACK), IN, PASS, R_NONE },
		};

		RUN_TABLE(x, rst_b);
		assert_int_equal(dpt_closed_held(x->f), 2);	/* one in each region */
		pin_cpu(a);
		RUN_TABLE(x, late_b);
	}
	RUN_TABLE(x, late_lost);
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
}

/*
 * The flow cache (bpf/lib/fcache.bpf.h): a packet of a tracked flow that
 * changes nothing passes on this CPU's slot without the nf_ct lookup. Its
 * hits are seen here by deleting the entry behind the datapath's back (as
 * another CPU ending the flow would): a packet that still passes, counting
 * nothing, passed on the slot; one that is dropped found none. A slot
 * answers only under the policy_gen it was written under, for a direction
 * it was written for, and for NF_CT_REFRESH jiffies after the entry was
 * seen; a FIN, RST or SYN without ACK of its flow and its entry's deletion
 * forget it.
 * BPF_PROG_TEST_RUN runs on the calling CPU, and slots are per CPU: the
 * test holds itself to one CPU.
 */
static void test_flow_cache(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase open_[] = {
		{ "out: SYN", TCP_OUT("10.2.0.5", 40100, 443, SYN), EG, PASS, R_ALLOWED,
		  .flush = true },
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40100, SYNACK), IN, PASS, R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40100, 443, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase steady[] = {
		{ "out: data (fills this CPU's slot, egress)", TCP_OUT("10.2.0.5", 40100, 443, ACK),
		  EG, PASS, R_NONE },
		{ "in: data (and ingress)", TCP_IN("10.2.0.5", 443, 40100, ACK), IN, PASS, R_NONE },
	};
	static const struct vcase hit[] = {
		{ "in: data, its entry gone: passes on the slot",
		  TCP_IN("10.2.0.5", 443, 40100, ACK), IN, PASS, R_NONE },
		{ "out: data, the same", TCP_OUT("10.2.0.5", 40100, 443, ACK), EG, PASS, R_NONE },
		{ "in: a SYN-ACK, the slot not filled by a new connection's SYN: dropped",
		  TCP_IN("10.2.0.5", 443, 40100, SYNACK), IN, DROP, R_POLICY },
		{ "in: another client port of the same peer: no slot, dropped",
		  TCP_IN("10.2.0.5", 443, 40199, ACK), IN, DROP, R_POLICY },
	};
	static const struct vcase void_[] = {
		{ "in: data, entry gone, slot of an older gen: dropped",
		  TCP_IN("10.2.0.5", 443, 40100, ACK), IN, DROP, R_POLICY },
	};
	static const struct vcase open2[] = {
		{ "out: SYN", TCP_OUT("10.2.0.5", 40101, 443, SYN), EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40101, SYNACK), IN, PASS, R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40101, 443, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase steady2[] = {
		{ "out: data", TCP_OUT("10.2.0.5", 40101, 443, ACK), EG, PASS, R_NONE },
		{ "in: data", TCP_IN("10.2.0.5", 443, 40101, ACK), IN, PASS, R_NONE },
	};
	static const struct vcase resyn[] = {
		{ "out: a SYN again on the answered flow: its reply is new again",
		  TCP_OUT("10.2.0.5", 40101, 443, SYN), EG, PASS, R_NONE },
		{ "in: data: not from the slot, nf_ct marks the reply seen again",
		  TCP_IN("10.2.0.5", 443, 40101, ACK), IN, PASS, R_NONE },
	};
	static const struct vcase rst[] = {
		{ "in: RST: the slot ends the flow (and is forgotten)",
		  TCP_IN("10.2.0.5", 443, 40101, RST), IN, PASS, R_NONE },
	};
	static const struct vcase rst_after[] = {
		{ "in: data after the peer's RST: no entry, no slot, no close remembered: dropped",
		  TCP_IN("10.2.0.5", 443, 40101, ACK), IN, DROP, R_POLICY },
	};
	static const struct vcase open3[] = {
		{ "out: SYN", TCP_OUT("10.2.0.5", 40102, 443, SYN), EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40102, SYNACK), IN, PASS, R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40102, 443, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase close3[] = {
		{ "out: data", TCP_OUT("10.2.0.5", 40102, 443, ACK), EG, PASS, R_NONE },
		{ "in: data", TCP_IN("10.2.0.5", 443, 40102, ACK), IN, PASS, R_NONE },
		{ "out: FIN (forgets the slot)", TCP_OUT("10.2.0.5", 40102, 443, FIN), EG, PASS,
		  R_NONE },
		{ "in: FIN", TCP_IN("10.2.0.5", 443, 40102, FIN), IN, PASS, R_NONE },
		{ "out: the last ACK reaches nf_ct and ends the flow",
		  TCP_OUT("10.2.0.5", 40102, 443, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase open4[] = {
		{ "out: UDP query", UDP_OUT("10.2.0.5", 5354, 53), EG, PASS, R_ALLOWED },
		{ "in: UDP answer (the first: changes the entry)", UDP_IN("10.2.0.5", 53, 5354), IN,
		  PASS, R_NONE },
	};
	static const struct vcase steady4[] = {
		{ "in: UDP answer (fills)", UDP_IN("10.2.0.5", 53, 5354), IN, PASS, R_NONE },
	};
	static const struct vcase aged4[] = {
		{ "in: UDP answer, entry gone, slot over NF_CT_REFRESH old: dropped",
		  UDP_IN("10.2.0.5", 53, 5354), IN, DROP, R_POLICY },
	};
	static const struct vcase syn5[] = {
		{ "out: SYN from the verdict cache (fills egress)", TCP_OUT("10.2.0.5", 40105, 443, SYN),
		  EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK (the first reply: leaves the slot)",
		  TCP_IN("10.2.0.5", 443, 40105, SYNACK), IN, PASS, R_NONE },
	};
	static const struct vcase ack5[] = {
		{ "out: its ACK, entry gone: passes on the slot", TCP_OUT("10.2.0.5", 40105, 443, ACK),
		  EG, PASS, R_NONE },
		{ "in: ingress was never filled: dropped", TCP_IN("10.2.0.5", 443, 40105, ACK), IN,
		  DROP, R_POLICY },
		{ "out: a SYN-ACK the way the SYN went: not from the slot, judged as a new flow",
		  TCP_OUT("10.2.0.5", 40105, 443, SYNACK), EG, PASS, R_ALLOWED },
	};
	static const struct vcase syn6[] = {
		{ "out: SYN from the verdict cache (fills egress, and the SYN-ACK's way)",
		  TCP_OUT("10.2.0.5", 40106, 443, SYN), EG, PASS, R_ALLOWED },
	};
	static const struct vcase synack6[] = {
		{ "in: its SYN-ACK, entry gone: passes on the slot",
		  TCP_IN("10.2.0.5", 443, 40106, SYNACK), IN, PASS, R_NONE },
		{ "in: a SYN-ACK leaves the first reply unmarked: data in, entry gone: dropped",
		  TCP_IN("10.2.0.5", 443, 40106, ACK), IN, DROP, R_POLICY },
	};
	static const struct vcase synack6b[] = {
		{ "in: its SYN-ACK, from the slot", TCP_IN("10.2.0.5", 443, 40106, SYNACK), IN, PASS,
		  R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40106, 443, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase reply6[] = {
		{ "in: the first data in: nf_ct marks the reply", TCP_IN("10.2.0.5", 443, 40106, ACK),
		  IN, PASS, R_NONE },
	};
	static const struct vcase rst7[] = {
		{ "out: a RST, entry gone: the slot answers it (and it is remembered closed)",
		  TCP_OUT("10.2.0.5", 40106, 443, RST), EG, PASS, R_NONE },
	};
	static const struct vcase rst7b[] = {
		{ "out: a RST with its slot forgotten and no entry: no late packet of a known close,"
		  " judged as new (untracked, passes: RST)", TCP_OUT("10.2.0.5", 40106, 443, RST), EG,
		  PASS, R_NONE },
		{ "in: data of it, no entry, no slot, no close remembered: dropped",
		  TCP_IN("10.2.0.5", 443, 40106, ACK), IN, DROP, R_POLICY },
	};
	cpu_set_t was;
	uint32_t u0;

	assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
	pin_cpu(sched_getcpu());

	apply(x, NP("p", BOTH,
		    "'ingress':[],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443},{'protocol':'UDP','port':53}]}]"));

	/* 1. filled by packets that change nothing; answers with the entry gone */
	RUN_TABLE(x, open_);
	ct_hold(x, TCP, 40100, "10.2.0.5", 443);	/* no refresh due while the test runs */
	assert_int_equal(dpt_fc_held(x->f), 0);		/* writing nf_ct: see dpt_fc_clear */
	RUN_TABLE(x, steady);
	assert_int_equal(dpt_fc_held(x->f), 1);	/* one slot, both directions */
	ct_del_raw(x, TCP, 40100, "10.2.0.5", 443);
	RUN_TABLE(x, hit);
	/* 2. a policy_gen bump (every verdict change) makes every slot count for nothing */
	dp__verdicts_changed(x->f->dp);
	RUN_TABLE(x, void_);

	/* 3. a SYN without ACK forgets the slot (its reply must be seen again),
	 * a RST too: the flow's next packet finds no entry */
	RUN_TABLE(x, open2);
	ct_hold(x, TCP, 40101, "10.2.0.5", 443);
	RUN_TABLE(x, steady2);
	RUN_TABLE(x, resyn);
	assert_int_equal(ct_val(x, TCP, 40101, "10.2.0.5", 443).flags, NF_CT_SEEN_REPLY);
	RUN_TABLE(x, steady2);	/* both directions in the slot again */
	u0 = ct_usage(x);
	RUN_TABLE(x, rst);
	assert_false(ct_tracked(x, TCP, 40101, "10.2.0.5", 443));
	assert_int_equal(ct_usage(x), u0 - 1);		/* the tenant's share released */
	assert_int_equal(dpt_closed_held(x->f), 0);	/* received: the peer's last word */
	RUN_TABLE(x, rst_after);

	/* 4. FIN both ways: the last ACK is not taken from the slot, the flow ends */
	RUN_TABLE(x, open3);
	ct_hold(x, TCP, 40102, "10.2.0.5", 443);
	RUN_TABLE(x, close3);
	assert_false(ct_tracked(x, TCP, 40102, "10.2.0.5", 443));

	/* 5. a slot over NF_CT_REFRESH jiffies old answers nothing */
	RUN_TABLE(x, open4);
	ct_hold(x, UDP, 5354, "10.2.0.5", 53);
	RUN_TABLE(x, steady4);
	assert_true(dpt_fc_held(x->f) >= 1);
	dpt_fc_age(x->f, 1000 + 5);	/* ct_hold's 1,000 jiffies ahead, then past NF_CT_REFRESH */
	ct_del_raw(x, UDP, 5354, "10.2.0.5", 53);
	RUN_TABLE(x, aged4);

	/* 6. a SYN admitted from the verdict cache fills its direction for the
	 * handshake's ACK, and its SYN-ACK leaves that be */
	dpt_fc_clear(x->f);
	RUN_TABLE(x, syn5);
	assert_int_equal(dpt_fc_held(x->f), 1);
	dpt_fc_age(x->f, -1000);	/* its ACK within NF_CT_REFRESH, however slow the run */
	ct_del_raw(x, TCP, 40105, "10.2.0.5", 443);
	RUN_TABLE(x, ack5);

	/* 7. ... and the SYN-ACK of that connection, coming back, passes on the slot
	 * too, without marking the first reply: the next packet in does */
	dpt_fc_clear(x->f);
	RUN_TABLE(x, syn6);
	dpt_fc_age(x->f, -1000);
	ct_del_raw(x, TCP, 40106, "10.2.0.5", 443);
	RUN_TABLE(x, synack6);
	RUN_TABLE(x, syn6);	/* the tuple's next connection, its entry kept this time */
	dpt_fc_age(x->f, -1000);
	RUN_TABLE(x, synack6b);
	assert_int_equal(ct_val(x, TCP, 40106, "10.2.0.5", 443).flags, 0);
	RUN_TABLE(x, reply6);
	assert_int_equal(ct_val(x, TCP, 40106, "10.2.0.5", 443).flags, NF_CT_SEEN_REPLY);

	/* 8. a RST in a filled direction: the slot ends the flow without nf_ct's
	 * lookup (seen with the entry gone), and the close is remembered */
	dpt_closed_clear(x->f);
	ct_del_raw(x, TCP, 40106, "10.2.0.5", 443);
	RUN_TABLE(x, rst7);
	assert_int_equal(dpt_closed_held(x->f), 1);
	dpt_closed_clear(x->f);
	RUN_TABLE(x, rst7b);

	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
}

/*
 * Young connections (bpf/lib/young.bpf.h): a TCP SYN's entry goes into a
 * slot of nf_ct_young, not nf_ct; the connection's packets find it there and
 * its RST or FINs free it with its share; a SYN whose slot another flow
 * holds goes to nf_ct; the kernel's sweep moves a slot older than
 * NF_YOUNG_MAX_AGE into nf_ct, where nf_ct_tally counts it, and a SYN of
 * that tuple then goes the ordinary way instead of making a second entry.
 */
static void test_young(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase open_[] = {
		{ "out: SYN (full verdict): into a young slot", TCP_OUT("10.2.0.5", 40200, 443, SYN),
		  EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK: its entry found in the slot", TCP_IN("10.2.0.5", 443, 40200, SYNACK),
		  IN, PASS, R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40200, 443, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase rst[] = {
		{ "out: RST: the slot freed", TCP_OUT("10.2.0.5", 40200, 443, RST), EG, PASS, R_NONE },
		{ "in: a SYN-ACK of it: no entry, dropped", TCP_IN("10.2.0.5", 443, 40200, SYNACK), IN,
		  DROP, R_POLICY },
	};
	static const struct vcase fin[] = {
		{ "out: SYN (verdict cache): into a young slot", TCP_OUT("10.2.0.5", 40201, 443, SYN),
		  EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40201, SYNACK), IN, PASS, R_NONE },
		{ "out: ACK", TCP_OUT("10.2.0.5", 40201, 443, ACK), EG, PASS, R_NONE },
		{ "in: data", TCP_IN("10.2.0.5", 443, 40201, ACK), IN, PASS, R_NONE },
		{ "out: FIN", TCP_OUT("10.2.0.5", 40201, 443, FIN), EG, PASS, R_NONE },
		{ "in: FIN", TCP_IN("10.2.0.5", 443, 40201, FIN), IN, PASS, R_NONE },
		{ "out: the last ACK ends it: the slot freed", TCP_OUT("10.2.0.5", 40201, 443, ACK),
		  EG, PASS, R_NONE },
		{ "in: a SYN-ACK of it after its end: dropped", TCP_IN("10.2.0.5", 443, 40201, SYNACK), IN,
		  DROP, R_POLICY },
	};
	static const struct vcase collide[] = {
		{ "out: SYN: into a young slot", TCP_OUT("10.2.0.5", 40202, 443, SYN), EG, PASS,
		  R_ALLOWED },
		{ "out: SYN of a flow with the same slot (ports 1,024 apart): into nf_ct",
		  TCP_OUT("10.2.0.5", 41226, 443, SYN), EG, PASS, R_ALLOWED },
	};
	static const struct vcase collide_end[] = {
		{ "in: the first one's SYN-ACK", TCP_IN("10.2.0.5", 443, 40202, SYNACK), IN, PASS,
		  R_NONE },
		{ "in: the second one's", TCP_IN("10.2.0.5", 443, 41226, SYNACK), IN, PASS, R_NONE },
		{ "out: RST of the first", TCP_OUT("10.2.0.5", 40202, 443, RST), EG, PASS, R_NONE },
		{ "out: RST of the second", TCP_OUT("10.2.0.5", 41226, 443, RST), EG, PASS, R_NONE },
	};
	static const struct vcase old[] = {
		{ "out: SYN: into a young slot", TCP_OUT("10.2.0.5", 40203, 443, SYN), EG, PASS,
		  R_ALLOWED },
	};
	static const struct vcase resyn[] = {
		{ "out: its SYN again, its entry in nf_ct now: its flow, not a second entry",
		  TCP_OUT("10.2.0.5", 40203, 443, SYN), EG, PASS, R_NONE },
		{ "out: its RST ends it in nf_ct", TCP_OUT("10.2.0.5", 40203, 443, RST), EG, PASS,
		  R_NONE },
	};
	static const struct vcase share[] = {
		{ "out: SYN: into a young slot, the share's last place",
		  TCP_OUT("10.2.0.5", 40204, 443, SYN), EG, PASS, R_ALLOWED },
		{ "out: SYN of another flow: over the share", TCP_OUT("10.2.0.5", 40205, 443, SYN), EG,
		  DROP, R_CTFULL },
		{ "out: the first one's RST", TCP_OUT("10.2.0.5", 40204, 443, RST), EG, PASS, R_NONE },
	};
	static const struct vcase old6[] = {
		{ "out: SYN: into a young slot", TCP_OUT("10.2.0.5", 40206, 443, SYN), EG, PASS,
		  R_ALLOWED },
	};
	static const struct vcase still6[] = {
		{ "in: its SYN-ACK, nf_ct full: found young", TCP_IN("10.2.0.5", 443, 40206, SYNACK),
		  IN, PASS, R_NONE },
	};
	/* seen in the future: never expired, so the sweep leaves it */
	struct nf_ct_val filler = { .last_seen_ns = 1ULL << 62 };
	struct nf_ct_key key = { 0 };
	struct nf_young_slot s;
	cpu_set_t was;
	uint32_t u0, idx, n;
	int i, ct_fd;

	assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
	pin_cpu(sched_getcpu());	/* the flow cache is per CPU */
	apply(x, NP("p", EGRESS,
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]}]"));
	u0 = ct_usage(x);

	/* 1. held in a slot, touched there (the reply seen), freed by a RST */
	RUN_TABLE(x, open_);
	assert_int_equal(dpt_young_held(x->f), 1);
	assert_int_equal(dpt_ct_count_raw(x->f), 0);
	assert_int_equal(ct_usage(x), u0 + 1);
	assert_true(dpt_young_first(x->f, &s) >= 0);
	assert_int_equal(s.state, NF_YOUNG_HELD);
	assert_int_equal(s.val.flags, NF_CT_YOUNG | NF_CT_SEEN_REPLY);
	assert_int_equal(s.val.tenant_id, x->tenant_id);
	RUN_TABLE(x, rst);
	assert_int_equal(dpt_young_held(x->f), 0);
	assert_int_equal(ct_usage(x), u0);

	/* 2. ... or by both FINs and the last ACK */
	RUN_TABLE(x, fin);
	assert_int_equal(dpt_young_held(x->f), 0);
	assert_int_equal(dpt_ct_count_raw(x->f), 0);
	assert_int_equal(ct_usage(x), u0);

	/* 3. a slot taken: the SYN's entry goes to nf_ct */
	RUN_TABLE(x, collide);
	assert_int_equal(dpt_young_held(x->f), 1);
	assert_int_equal(dpt_ct_count_raw(x->f), 1);
	assert_int_equal(ct_usage(x), u0 + 2);
	RUN_TABLE(x, collide_end);
	assert_int_equal(dpt_young_held(x->f), 0);
	assert_int_equal(dpt_ct_count_raw(x->f), 0);
	assert_int_equal(ct_usage(x), u0);

	/* 4. the sweep moves an old slot into nf_ct and tallies it */
	RUN_TABLE(x, old);
	assert_true(dpt_young_first(x->f, &s) >= 0);
	idx = nf_young_index(&s.key);
	assert_int_equal(dpt_tally(x->f, idx), 0);
	dpt_young_age(x->f, 1000000);
	for (i = 0; i < 80 && (dpt_young_held(x->f) || dpt_ct_count_raw(x->f) != 1); i++)
		usleep(50 * 1000);	/* the sweep runs about once a second */
	assert_int_equal(dpt_young_held(x->f), 0);
	assert_int_equal(dpt_ct_count_raw(x->f), 1);
	assert_int_equal(dpt_tally(x->f, idx), 1);
	assert_int_equal(ct_val(x, TCP, 40203, "10.2.0.5", 443).flags & NF_CT_YOUNG, 0);
	assert_int_equal(ct_usage(x), u0 + 1);
	RUN_TABLE(x, resyn);
	assert_int_equal(dpt_young_held(x->f), 0);
	assert_int_equal(dpt_ct_count_raw(x->f), 0);
	assert_int_equal(dpt_tally(x->f, idx), 0);
	assert_int_equal(ct_usage(x), u0);

	/* 5. a young entry counts in its tenant's share */
	assert_int_equal(dpt_set_ct_tenant_max(x->f, u0 + 1), 0);
	RUN_TABLE(x, share);
	assert_int_equal(dpt_set_ct_tenant_max(x->f, 0), 0);
	assert_int_equal(dpt_young_held(x->f), 0);
	assert_int_equal(ct_usage(x), u0);

	/* 6. nf_ct full: a move leaves the connection young, the next one moves it */
	ct_fd = dp__map_fd(x->f->dp, NF_MAP_CT);
	key.scope_proto = NF_CT_SCOPE_PROTO(7, IPPROTO_UDP);	/* no endpoint's scope */
	for (n = 0;; n++) {
		key.ifindex = n + 1;
		if (bpf_map_update_elem(ct_fd, &key, &filler, BPF_NOEXIST))
			break;
	}
	assert_int_equal(errno, E2BIG);
	RUN_TABLE(x, old6);
	assert_int_equal(dpt_young_held(x->f), 1);
	assert_int_equal(dp__young_flush(x->f->dp), 0);
	assert_int_equal(dpt_young_held(x->f), 1);	/* still young, still tracked */
	RUN_TABLE(x, still6);
	key.ifindex = 1;
	assert_int_equal(bpf_map_delete_elem(ct_fd, &key), 0);
	assert_int_equal(dp__young_flush(x->f->dp), 0);
	assert_int_equal(dpt_young_held(x->f), 0);
	assert_true(ct_tracked(x, TCP, 40206, "10.2.0.5", 443));
	assert_int_equal(ct_usage(x), u0 + 1);
	for (i = 1; i < (int)n; i++) {
		key.ifindex = i + 1;
		assert_int_equal(bpf_map_delete_elem(ct_fd, &key), 0);
	}

	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
}

/*
 * A guarded endpoint (macvlan) has every packet judged twice: its egress on
 * its own interface (tc_egress here) and then by the guard on the parent.
 * The first judge must not end a closed flow on its last ACK, or the guard
 * would judge that ACK as new and drop it (the peer stuck in LAST-ACK): with
 * this netns in nf_guarded_ns the last ACK leaves the closed entry to the
 * guard (or to its 10 s lifetime); without, it ends the flow here.
 */
static void test_ct_end_guarded(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase flow[] = {
		{ "out: SYN", TCP_OUT("10.2.0.5", 40010, 443, SYN), EG, PASS, R_ALLOWED },
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40010, SYNACK), IN, PASS, R_NONE },
		{ "out: FIN", TCP_OUT("10.2.0.5", 40010, 443, FIN), EG, PASS, R_NONE },
		{ "in: FIN", TCP_IN("10.2.0.5", 443, 40010, FIN), IN, PASS, R_NONE },
	};
	static const struct vcase last_ack[] = {
		{ "out: last ACK, first of two judges", TCP_OUT("10.2.0.5", 40010, 443, ACK), EG,
		  PASS, R_NONE },
	};
	static const struct vcase last_ack_again[] = {
		{ "out: the same ACK, second judge: passes", TCP_OUT("10.2.0.5", 40010, 443, ACK),
		  EG, PASS, R_NONE },
	};
	static const struct vcase open2[] = {
		{ "out: SYN (verdict cache: fills the flow cache)", TCP_OUT("10.2.0.5", 40011, 443, SYN),
		  EG, PASS, R_ALLOWED },
	};
	static const struct vcase rst2[] = {
		{ "in: SYN-ACK", TCP_IN("10.2.0.5", 443, 40011, SYNACK), IN, PASS, R_NONE },
		{ "out: RST, first of two judges (its slot must not end it)",
		  TCP_OUT("10.2.0.5", 40011, 443, RST), EG, PASS, R_NONE },
	};
	__u64 cookie = x->f->netns_cookie;
	__u32 tenant = 1;
	int fd = dp__map_fd(x->f->dp, NF_MAP_GUARDED_NS);
	cpu_set_t was;

	apply(x, NP("p", BOTH,
		    "'ingress':[],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':443}]}]"));
	assert_int_equal(bpf_map_update_elem(fd, &cookie, &tenant, BPF_ANY), 0);
	RUN_TABLE(x, flow);
	RUN_TABLE(x, last_ack);
	assert_true(ct_tracked(x, TCP, 40010, "10.2.0.5", 443));
	assert_true(ct_val(x, TCP, 40010, "10.2.0.5", 443).flags & NF_CT_CLOSED);
	RUN_TABLE(x, last_ack_again);

	/* a RST the flow cache could answer is left to the guard too (one CPU: slots are per CPU) */
	assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
	pin_cpu(sched_getcpu());
	RUN_TABLE(x, open2);
	dpt_fc_age(x->f, -1000);	/* within NF_CT_REFRESH, however slow the run */
	RUN_TABLE(x, rst2);
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
	assert_true(ct_tracked(x, TCP, 40011, "10.2.0.5", 443));
	assert_true(ct_val(x, TCP, 40011, "10.2.0.5", 443).flags & NF_CT_CLOSED);

	/* not guarded: the same last ACK ends it */
	assert_int_equal(bpf_map_delete_elem(fd, &cookie), 0);
	RUN_TABLE(x, last_ack_again);
	assert_false(ct_tracked(x, TCP, 40010, "10.2.0.5", 443));
}

/* ------------------------------------------------------------ 3.9 anti-spoofing */

static void test_spoofing(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "own source", UDP_OUT("10.2.0.5", 5353, 53), EG, PASS, R_ALLOWED, .flush = true },
		{ "other source in the subnet",
		  { .src = "10.0.0.99", .dst = "10.2.0.5", .proto = UDP, .sport = 5353, .dport = 53 },
		  EG,
		  DROP,
		  R_SPOOFED,
		  .flush = true },
		{ "source of the peer",
		  { .src = "10.2.0.5", .dst = "10.2.0.6", .proto = TCP, .sport = 1, .dport = 2 },
		  EG,
		  DROP,
		  R_SPOOFED,
		  .flush = true },
		{ "unspecified source",
		  { .src = "0.0.0.0", .dst = "10.2.0.5", .proto = UDP, .sport = 68, .dport = 67 },
		  EG,
		  DROP,
		  R_SPOOFED,
		  .flush = true,
		  .only = 4 },
		{ "unspecified source",
		  { .src = "::", .dst = "fd00::10.2.0.5", .proto = UDP, .sport = 68, .dport = 67 },
		  EG,
		  DROP,
		  R_SPOOFED,
		  .flush = true,
		  .only = 6 },
		{ "link-local source, TCP",
		  { .src = "fe80::1", .dst = "fd00::10.2.0.5", .proto = TCP, .sport = 1, .dport = 2 },
		  EG,
		  DROP,
		  R_SPOOFED,
		  .flush = true,
		  .only = 6 },
		{ "spoofed ICMP echo",
		  { .src = "10.0.0.2", .dst = "10.2.0.5", .proto = ICMP, .icmp = PKT_ECHO_REQUEST },
		  EG,
		  DROP,
		  R_SPOOFED,
		  .flush = true },
		{ "spoofed later fragment",
		  { .src = "10.0.0.2",
		    .dst = "10.2.0.5",
		    .proto = UDP,
		    .frag = { .on = true, .offset = 100, .id = 5 } },
		  EG,
		  DROP,
		  R_SPOOFED,
		  .flush = true },
		{ "ingress to another address is not checked",
		  { .src = "10.2.0.5", .dst = "10.0.0.77", .proto = UDP, .sport = 53, .dport = 5353 },
		  IN,
		  PASS,
		  R_ALLOWED,
		  .flush = true },
	};
	static const struct vcase unchecked[] = {
		{ "spoof check off: other source",
		  { .src = "10.0.0.99", .dst = "10.2.0.5", .proto = UDP, .sport = 5353, .dport = 53 },
		  EG,
		  PASS,
		  R_ALLOWED,
		  .flush = true },
	};

	apply(x, NP("all", BOTH, "'ingress':[{}],'egress':[{}]"));
	RUN_TABLE(x, t);
	assert_int_equal(
		dpt_add_endpoint(x->f, IFINDEX, x->tenant_id, EP_ID, NF_EPF_NO_SPOOF_CHECK), 0);
	RUN_TABLE(x, unchecked);
}

/* ------------------------------------------------------------ 3.10 no bypass */

#define EXT6(...) .ext = { __VA_ARGS__ }, .n_ext = sizeof((uint8_t[]){ __VA_ARGS__ })
#define HBH	  IPPROTO_HOPOPTS
#define RT	  IPPROTO_ROUTING
#define DST	  IPPROTO_DSTOPTS

static void test_ipv6_ext_headers(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "TCP 80 behind hop-by-hop + dest-opts",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH, DST) },
		  IN,
		  PASS,
		  R_ALLOWED,
		  .flush = true },
		{ "TCP 81 behind hop-by-hop + dest-opts",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 81,
		    EXT6(HBH, DST) },
		  IN,
		  DROP,
		  R_POLICY,
		  .flush = true },
		{ "TCP 80 behind a routing header",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(RT) },
		  IN,
		  PASS,
		  R_ALLOWED,
		  .flush = true },
		{ "UDP 80 behind hop-by-hop (rule is TCP)",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = UDP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH) },
		  IN,
		  DROP,
		  R_POLICY,
		  .flush = true },
		{ "ICMPv6 echo behind dest-opts (rule has ports)",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = ICMP,
		    .icmp = PKT_ECHO_REQUEST,
		    EXT6(DST) },
		  IN,
		  DROP,
		  R_POLICY,
		  .flush = true },
		{ "7 extension headers, TCP 80",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH, DST, RT, DST, DST, DST, DST) },
		  IN,
		  PASS,
		  R_ALLOWED,
		  .flush = true },
		{ "8 extension headers, TCP 80",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH, DST, RT, DST, DST, DST, DST, DST) },
		  IN,
		  PASS,
		  R_ALLOWED,
		  .flush = true },
		{ "9 extension headers (over the walk limit of 8)",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH, DST, RT, DST, DST, DST, DST, DST, DST) },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
		{ "10 extension headers, egress",
		  { .src = EP,
		    .dst = "10.2.0.5",
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH, DST, RT, DST, DST, DST, DST, DST, DST, DST) },
		  EG,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
		{ "hop-by-hop header cut",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH, DST),
		    .cut = 14 + 40 + 4,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
		{ "dest-opts header cut (after a whole hop-by-hop)",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH, DST),
		    .cut = 14 + 40 + 8 + 3,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
		{ "TCP cut after two extension headers",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH, DST),
		    .cut = 14 + 40 + 16 + 6,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
		{ "extension header claiming more bytes than the packet has",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    EXT6(HBH),
		    .poke = { { 40 + 1, 200 } },
		    .n_poke = 1 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
	};

	if (x->family != 6)
		skip();
	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'TCP','port':80}]}],'egress':[{}]"));
	RUN_TABLE(x, t);
}

#define FRAG_IN(peer, sp, dp, off, mf, fid)                                                    \
	{                                                                                      \
		.src = peer, .dst = EP, .proto = UDP, .sport = sp, .dport = dp, .payload = 64, \
		.frag = {                                                                      \
			.on = true,                                                            \
			.offset = off,                                                         \
			.more = mf,                                                            \
			.id = fid                                                              \
		}                                                                              \
	}

static void test_fragments(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "first fragment, allowed", FRAG_IN("10.1.0.5", 6000, 5000, 0, true, 0x1234), IN,
		  PASS, R_ALLOWED },
		{ "its second fragment", FRAG_IN("10.1.0.5", 0, 0, 185, true, 0x1234), IN, PASS,
		  R_NONE },
		{ "its last fragment", FRAG_IN("10.1.0.5", 0, 0, 370, false, 0x1234), IN, PASS,
		  R_NONE },
		{ "later fragment, unknown id", FRAG_IN("10.1.0.5", 0, 0, 185, true, 0x9999), IN,
		  DROP, R_FRAGMENT },
		{ "later fragment, same id, other source",
		  FRAG_IN("10.1.0.6", 0, 0, 185, true, 0x1234), IN, DROP, R_FRAGMENT },
		{ "later fragment, same id, other protocol",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .frag = { .on = true, .offset = 185, .more = true, .id = 0x1234 } },
		  IN,
		  DROP,
		  R_FRAGMENT },
		{ "later fragment, same id, other direction",
		  { .src = EP,
		    .dst = "10.1.0.5",
		    .proto = UDP,
		    .frag = { .on = true, .offset = 185, .more = true, .id = 0x1234 } },
		  EG,
		  DROP,
		  R_FRAGMENT },
		{ "first fragment, denied port", FRAG_IN("10.1.0.5", 6000, 5001, 0, true, 0x5555),
		  IN, DROP, R_POLICY },
		{ "its later fragment", FRAG_IN("10.1.0.5", 0, 0, 185, false, 0x5555), IN, DROP,
		  R_FRAGMENT },
		{ "first fragment, denied peer", FRAG_IN("10.3.0.5", 6000, 5000, 0, true, 0x6666),
		  IN, DROP, R_POLICY },
		{ "its later fragment", FRAG_IN("10.3.0.5", 0, 0, 185, false, 0x6666), IN, DROP,
		  R_FRAGMENT },
		{ "next datagram of the tracked flow, first fragment",
		  FRAG_IN("10.1.0.5", 6000, 5000, 0, true, 0x1235), IN, PASS, R_NONE },
		{ "its later fragment", FRAG_IN("10.1.0.5", 0, 0, 185, false, 0x1235), IN, PASS,
		  R_NONE },
		{ "unfragmented datagram of the flow", UDP_IN("10.1.0.5", 6000, 5000), IN, PASS,
		  R_NONE },
		{ "egress: later fragment without a first",
		  { .src = EP,
		    .dst = "10.2.0.5",
		    .proto = UDP,
		    .frag = { .on = true, .offset = 10, .id = 0x4242 } },
		  EG,
		  DROP,
		  R_FRAGMENT },
		{ "egress: first fragment (policy allows)",
		  { .src = EP,
		    .dst = "10.2.0.5",
		    .proto = UDP,
		    .sport = 7000,
		    .dport = 9000,
		    .payload = 64,
		    .frag = { .on = true, .more = true, .id = 0x4243 } },
		  EG,
		  PASS,
		  R_ALLOWED },
		{ "egress: its later fragment",
		  { .src = EP,
		    .dst = "10.2.0.5",
		    .proto = UDP,
		    .frag = { .on = true, .offset = 10, .id = 0x4243 } },
		  EG,
		  PASS,
		  R_NONE },
		{ "IPv6 fragment header, offset 0 and no MF (atomic)",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = UDP,
		    .sport = 6001,
		    .dport = 5000,
		    .frag = { .on = true, .id = 0x7777 } },
		  IN,
		  PASS,
		  R_ALLOWED,
		  .only = 6 },
		{ "atomic fragment to a denied port",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = UDP,
		    .sport = 6001,
		    .dport = 5001,
		    .frag = { .on = true, .id = 0x7778 } },
		  IN,
		  DROP,
		  R_POLICY,
		  .only = 6 },
		{ "fragment header behind hop-by-hop, later fragment",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = UDP,
		    EXT6(HBH),
		    .frag = { .on = true, .offset = 185, .id = 0x1234 } },
		  IN,
		  PASS,
		  R_NONE,
		  .only = 6 },
	};

	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],"
		    "'ports':[{'protocol':'UDP','port':5000}]}],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.2.0.0/16'}}],"
		    "'ports':[{'protocol':'UDP','port':9000}]}]"));
	RUN_TABLE(x, t);
}

/* a quoted packet cut inside its IP header */
static const struct pkt_spec q_cut = { .src = EP,
				       .dst = "10.2.0.5",
				       .proto = TCP,
				       .sport = 40000,
				       .dport = 443,
				       .cut = 10 };
/* a quoted packet cut inside its TCP ports */
static const struct pkt_spec q_cut_ports = { .src = EP,
					     .dst = "10.2.0.5",
					     .proto = TCP,
					     .sport = 40000,
					     .dport = 443,
					     .l4_cut = 2 };

static void test_malformed(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		/* (another source port than the cases below: no tracked flow for them) */
		{ "sanity: whole packet", TCP_IN("10.1.0.5", 40001, 80, SYN), IN, PASS, R_ALLOWED },
		{ "one byte of IP header",
		  { .src = "10.1.0.5", .dst = EP, .proto = TCP, .dport = 80, .cut = 15 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .kernel_may_refuse = true },
		{ "IP header cut",
		  { .src = "10.1.0.5", .dst = EP, .proto = TCP, .dport = 80, .cut = 14 + 10 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .kernel_may_refuse = true },
		{ "IP header cut, egress",
		  { .src = EP, .dst = "10.1.0.5", .proto = TCP, .dport = 80, .cut = 14 + 19 },
		  EG,
		  DROP,
		  R_MALFORMED,
		  .kernel_may_refuse = true },
		{ "IPv4 options cut (ihl 6, 20 bytes of header)",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .dport = 80,
		    .ihl = 6,
		    .cut = 14 + 20 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 4 },
		{ "IPv4 options cut, IP length consistent",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .dport = 80,
		    .ihl = 6,
		    .cut = 14 + 22,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 4 },
		{ "TCP header cut (IP length claims more)",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .l4_cut = 10 },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "TCP header cut to 10 bytes, IP length consistent",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .l4_cut = 10,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "UDP header cut",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = UDP,
		    .sport = 1,
		    .dport = 53,
		    .l4_cut = 6,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "SCTP common header cut",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = SCTP,
		    .sport = 1,
		    .dport = 53,
		    .l4_cut = 6,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "ICMP header cut",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = ICMP,
		    .icmp = PKT_ECHO_REQUEST,
		    .l4_cut = 4,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "ICMP error header cut",
		  { .src = "10.9.9.9",
		    .dst = EP,
		    .proto = ICMP,
		    .icmp = PKT_DEST_UNREACH,
		    .inner = &q_cut,
		    .l4_cut = 6,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "ICMP error quoting a cut IP header",
		  { .src = "10.9.9.9",
		    .dst = EP,
		    .proto = ICMP,
		    .icmp = PKT_DEST_UNREACH,
		    .inner = &q_cut },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "ICMP error quoting 2 bytes of TCP",
		  { .src = "10.9.9.9",
		    .dst = EP,
		    .proto = ICMP,
		    .icmp = PKT_DEST_UNREACH,
		    .inner = &q_cut_ports },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "IPv4 ihl 4",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .ihl = 4 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 4 },
		{ "IPv4 ihl 0",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .ihl = PKT_ZERO },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 4 },
		{ "IPv4 ihl 15 past the end",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .poke = { { 0, 0x4f } },
		    .n_poke = 1 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 4 },
		{ "IPv4 total length below the header",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .poke = { { 2, 0 }, { 3, 19 } },
		    .n_poke = 2 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 4 },
		{ "IPv4 version 6 in an IPv4 frame",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .poke = { { 0, 0x65 } },
		    .n_poke = 1 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 4 },
		{ "IPv6 version 4 in an IPv6 frame",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .poke = { { 0, 0x40 } },
		    .n_poke = 1 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 6 },
		{ "IPv6 payload length past the end",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .poke = { { 4, 1 } },
		    .n_poke = 1 },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .only = 6 },
		{ "TCP header cut to 16 bytes, IP length consistent",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .l4_cut = 16,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
		{ "TCP doff 15, 20 bytes of TCP header",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .doff = 15,
		    .l4_cut = 20,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
		{ "SCTP common header cut to 10 bytes",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = SCTP,
		    .sport = 1,
		    .dport = 53,
		    .l4_cut = 10,
		    .cut_fix_len = true },
		  IN,
		  DROP,
		  R_MALFORMED,
		  .flush = true },
		{ "TCP doff 4",
		  { .src = "10.1.0.5",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .doff = 4 },
		  IN,
		  DROP,
		  R_MALFORMED },
		{ "TCP doff 0, egress",
		  { .src = EP,
		    .dst = "10.1.0.5",
		    .proto = TCP,
		    .sport = 40000,
		    .dport = 80,
		    .doff = PKT_ZERO },
		  EG,
		  DROP,
		  R_MALFORMED },
	};

	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'ipBlock':{'cidr':'10.0.0.0/8'}}]}],"
		    "'egress':[{'to':[{'ipBlock':{'cidr':'10.0.0.0/8'}}]}]"));
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 3.8 node ingress */

static void test_node_ingress(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "TCP from the node", TCP_IN("10.0.0.254", 40000, 8080, SYN), IN, PASS, R_ALLOWED,
		  .flush = true },
		{ "ICMP from the node", ECHO_IN("10.0.0.254", 1), IN, PASS, R_ALLOWED,
		  .flush = true },
		{ "UDP from the node's other address", UDP_IN("172.16.0.1", 40000, 9999), IN, PASS,
		  R_ALLOWED, .flush = true },
		{ "TCP from next to the node", TCP_IN("10.0.0.253", 40000, 8080, SYN), IN, DROP,
		  R_POLICY, .flush = true },
		{ "egress to the node (host rule is ingress only)",
		  TCP_OUT("10.0.0.254", 40000, 8080, SYN), EG, DROP, R_POLICY, .flush = true },
	};
	static const struct vcase off[] = {
		{ "host ingress off: TCP from the node", TCP_IN("10.0.0.254", 40000, 8080, SYN), IN,
		  DROP, R_POLICY, .flush = true },
	};
	struct nf_config cfg;
	__u32 zero = 0;

	set_ipcache(x, "10.0.0.254/32", NF_ID_HOST);
	set_ipcache(x, "172.16.0.1/32", NF_ID_HOST);
	RUN_TABLE(x, t); /* no policy at all */
	apply(x, NP("p", BOTH, "'ingress':[],'egress':[]"));
	RUN_TABLE(x, t); /* a policy allowing nothing */

	assert_int_equal(bpf_map_lookup_elem(dp__map_fd(x->f->dp, NF_MAP_CONFIG), &zero, &cfg), 0);
	assert_true(cfg.flags & NF_CFG_ALLOW_HOST_INGRESS); /* the default */
	cfg.flags &= ~NF_CFG_ALLOW_HOST_INGRESS;
	assert_int_equal(
		bpf_map_update_elem(dp__map_fd(x->f->dp, NF_MAP_CONFIG), &zero, &cfg, BPF_ANY), 0);
	dp__verdicts_changed(x->f->dp);	/* as netfence's setter does (load.c) */
	RUN_TABLE(x, off);
}

/* ------------------------------------------------------------ 3.6 selectors */

/*
 * Tenants beta and gamma, known by address through the ipcache (as the
 * daemon fills it from endpoints and Tenant objects), and one more address
 * of our own tenant. 10.7.0.1 belongs to no tenant.
 */
static void selector_peers(struct fx *x)
{
	uint32_t beta = dpt_tenant(x->f, "beta"), gamma = dpt_tenant(x->f, "gamma");

	assert_true(beta && gamma && beta != gamma && beta != x->tenant_id);
	set_ipcache(x, "10.5.0.2/32", beta);
	set_ipcache(x, "10.5.3.0/24", beta);
	set_ipcache(x, "10.6.0.3/32", gamma);
	set_ipcache(x, "10.0.0.2/32", x->tenant_id);
}

static void test_selector_by_name(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "from tenant beta", TCP_IN("10.5.0.2", 40000, 80, SYN), IN, PASS, R_ALLOWED,
		  .flush = true },
		{ "from tenant beta's cidr", TCP_IN("10.5.3.3", 40000, 80, SYN), IN, PASS,
		  R_ALLOWED, .flush = true },
		{ "from tenant beta, other port", TCP_IN("10.5.0.2", 40000, 81, SYN), IN, DROP,
		  R_POLICY, .flush = true },
		{ "from tenant gamma", TCP_IN("10.6.0.3", 40000, 80, SYN), IN, DROP, R_POLICY,
		  .flush = true },
		{ "from an address of no tenant", TCP_IN("10.7.0.1", 40000, 80, SYN), IN, DROP,
		  R_POLICY, .flush = true },
		{ "from our own tenant", TCP_IN("10.0.0.2", 40000, 80, SYN), IN, DROP, R_POLICY,
		  .flush = true },
		{ "to tenant gamma (egress In [gamma])", UDP_OUT("10.6.0.3", 5353, 53), EG, PASS,
		  R_ALLOWED, .flush = true },
		{ "to tenant beta (egress In [gamma])", UDP_OUT("10.5.0.2", 5353, 53), EG, DROP,
		  R_POLICY, .flush = true },
		{ "to our own tenant (podSelector {})", TCP_OUT("10.0.0.2", 40000, 9090, SYN), EG,
		  PASS, R_ALLOWED, .flush = true },
		{ "to beta on the own-tenant port", TCP_OUT("10.5.0.2", 40000, 9090, SYN), EG, DROP,
		  R_POLICY, .flush = true },
		{ "to no tenant on the own-tenant port", TCP_OUT("10.7.0.1", 40000, 9090, SYN), EG,
		  DROP, R_POLICY, .flush = true },
	};

	selector_peers(x);
	apply(x, NP("p", BOTH,
		    "'ingress':[{'from':[{'namespaceSelector':{'matchLabels':"
		    "{'kubernetes.io/metadata.name':'beta'}}}],"
		    "'ports':[{'protocol':'TCP','port':80}]}],"
		    "'egress':[{'to':[{'namespaceSelector':{'matchExpressions':"
		    "[{'key':'kubernetes.io/metadata.name','operator':'In','values':['gamma']}]}}],"
		    "'ports':[{'protocol':'UDP','port':53}]},"
		    "{'to':[{'podSelector':{}}],'ports':[{'protocol':'TCP','port':9090}]}]"));
	RUN_TABLE(x, t);
}

static void test_selector_not_in(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "NotIn gamma: beta", TCP_IN("10.5.0.2", 40000, 80, SYN), IN, PASS, R_ALLOWED,
		  .flush = true },
		{ "NotIn gamma: our own tenant", TCP_IN("10.0.0.2", 40000, 80, SYN), IN, PASS,
		  R_ALLOWED, .flush = true },
		{ "NotIn gamma: gamma", TCP_IN("10.6.0.3", 40000, 80, SYN), IN, DROP, R_POLICY,
		  .flush = true },
		{ "NotIn gamma: no tenant", TCP_IN("10.7.0.1", 40000, 80, SYN), IN, DROP, R_POLICY,
		  .flush = true },
	};

	selector_peers(x);
	apply(x,
	      NP("p", INGRESS,
		 "'ingress':[{'from':[{'namespaceSelector':{'matchExpressions':"
		 "[{'key':'kubernetes.io/metadata.name','operator':'NotIn','values':['gamma']}]}}],"
		 "'ports':[{'protocol':'TCP','port':80}]}]"));
	RUN_TABLE(x, t);
}

static void test_selector_all(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "namespaceSelector {}: beta", TCP_IN("10.5.0.2", 40000, 80, SYN), IN, PASS,
		  R_ALLOWED, .flush = true },
		{ "namespaceSelector {}: gamma", TCP_IN("10.6.0.3", 40000, 80, SYN), IN, PASS,
		  R_ALLOWED, .flush = true },
		{ "namespaceSelector {}: a tenant created after the apply",
		  TCP_IN("10.8.0.1", 40000, 80, SYN), IN, PASS, R_ALLOWED, .flush = true },
		{ "namespaceSelector {}: no tenant", TCP_IN("10.7.0.1", 40000, 80, SYN), IN, DROP,
		  R_POLICY, .flush = true },
		{ "namespaceSelector {}: other port", TCP_IN("10.5.0.2", 40000, 81, SYN), IN, DROP,
		  R_POLICY, .flush = true },
	};

	selector_peers(x);
	apply(x, NP("p", INGRESS,
		    "'ingress':[{'from':[{'namespaceSelector':{}}],"
		    "'ports':[{'protocol':'TCP','port':80}]}]"));
	set_ipcache(x, "10.8.0.1/32", dpt_tenant(x->f, "delta"));
	RUN_TABLE(x, t);
}

/* An IPv4 ipBlock never matches IPv6 traffic, v4-mapped addresses included. */
static void test_v4mapped(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase t[] = {
		{ "IPv4 packet, IPv4 rule",
		  { .family = 4,
		    .src = "10.1.0.9",
		    .dst = EP,
		    .proto = TCP,
		    .sport = 33333,
		    .dport = 80 },
		  IN,
		  PASS,
		  R_ALLOWED },
		/* v4-mapped addresses never appear on the wire (RFC 4291 2.5.5.2) */
		{ "IPv6 packet from ::ffff:10.1.0.9, IPv4 rule",
		  TCP_IN("::ffff:10.1.0.9", 33333, 80, SYN), IN, DROP, R_MALFORMED },
		{ "IPv6 packet from fd00::10.1.0.9, IPv4 rule",
		  TCP_IN("fd00::10.1.0.9", 33333, 80, SYN), IN, DROP, R_POLICY },
	};

	/* applied as written: no fd00::/96 mapping of the IPv4 cidr */
	assert_int_equal(dpt_apply_json(x->f, TENANT,
					"{\"apiVersion\":\"networking.k8s.io/v1\","
					"\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"p\","
					"\"namespace\":\"" TENANT
					"\"},\"spec\":{\"podSelector\":{},"
					"\"ingress\":[{\"from\":[{\"ipBlock\":"
					"{\"cidr\":\"10.1.0.0/16\"}}]}]}}"),
			 0);
	RUN_TABLE(x, t);
}

/*
 * Three installs on one tenant: the third has the first one's class-id
 * parity. Nothing of the first policy may come back.
 */
static void test_reinstall_same_parity(void **state)
{
	struct fx *x = fixture(state);
	struct nf_tenant_info ti;
	static const struct vcase t[] = {
		{ "third policy: port 80 of the first", TCP_IN("10.1.0.5", 33333, 80, SYN), IN,
		  DROP, R_POLICY, .flush = true },
		{ "third policy: port 22 of the second", TCP_IN("10.1.0.5", 33333, 22, SYN), IN,
		  DROP, R_POLICY, .flush = true },
		{ "third policy: its own port 443", TCP_IN("10.1.0.5", 33333, 443, SYN), IN, PASS,
		  R_ALLOWED, .flush = true },
	};

	apply(x,
	      NP("p", INGRESS,
		 "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],'ports':[{'port':80}]}]"));
	apply(x,
	      NP("p", INGRESS,
		 "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],'ports':[{'port':22}]}]"));
	apply(x,
	      NP("p", INGRESS,
		 "'ingress':[{'from':[{'ipBlock':{'cidr':'10.1.0.0/16'}}],'ports':[{'port':443}]}]"));
	assert_int_equal(dp__tenant_info(x->f->dp, x->tenant_id, &ti), 0);
	assert_int_equal(ti.epoch, 3);
	RUN_TABLE(x, t);
}

/* ------------------------------------------------------------ 13 cluster policy tiers */

/* A ClusterNetworkPolicy whose subject is tenant alpha, and its peers. */
#define CNP(name, tier, prio, rules)                                                             \
	"{'apiVersion':'policy.networking.k8s.io/v1alpha2','kind':'ClusterNetworkPolicy',"      \
	"'metadata':{'name':'" name "'},'spec':{'tier':'" tier "','priority':" #prio ","         \
	"'subject':{'namespaces':{'matchLabels':{'kubernetes.io/metadata.name':'" TENANT "'}}}," \
	rules "}}"
#define NS_NAMED(n)  "{'matchLabels':{'kubernetes.io/metadata.name':'" n "'}}"
#define FROM_NS(n)   "'from':[{'namespaces':" NS_NAMED(n) "}]"
#define TO_NET(cidr) "'to':[{'networks':['" cidr "']}]"
#define CNP_TCP(p)   "'protocols':[{'tcp':{'destinationPort':{'number':" #p "}}}]"

/* Drop events on for the rest of the test: every case checks them. */
static void events_on(struct fx *x)
{
	assert_int_equal(dpt_set_events_per_sec(x->f, 100000), 0);
	assert_int_equal(dpt_events_drain(x->f, NULL, 0, NULL), 0);
	x->events = true;
}

/*
 * The tracked flow (proto, EP:lport, peer:rport) was allowed by rule `index`
 * of policy `policy` with action `act`: its rule_ref, as `check` names it.
 */
static void assert_flow_rule(struct fx *x, uint8_t proto, uint16_t lport, const char *peer,
			     uint16_t rport, const char *policy, uint32_t index, uint32_t act)
{
	struct nf_rule_names *names = NULL;
	struct nf_tenant_info ti;
	struct nf_ct_val v = ct_val(x, proto, lport, peer, rport);
	const char *pol;
	uint32_t idx = 0;
	uint8_t dir = 0xFF;

	assert_int_equal(dp__tenant_info(x->f->dp, x->tenant_id, &ti), 0);
	assert_int_equal(v.epoch, ti.epoch);
	assert_int_equal(lookup__names_read(dp__tenant_dir(x->f->dp), x->tenant_id, TENANT,
					    ti.epoch, &names), 0);
	pol = lookup__rule_name(names, v.rule_ref, &dir, &idx);
	if (!pol || strcmp(pol, policy) || idx != index || dir != v.origin_dir ||
	    NF_RULE_ACT(v.rule_ref) != act)
		fail_msg("IPv%d flow to port %u: rule_ref %#x names %s[%u] (dir %u, action %u), "
			 "expected %s[%u] (action %u)", x->family, lport, v.rule_ref,
			 pol ? pol : "nothing", idx, dir, NF_RULE_ACT(v.rule_ref), policy, index,
			 act);
	lookup__names_free(names);
}

/*
 * SPEC §13 on the wire: Admin Accept/Deny/Pass by priority around the
 * tenant's NetworkPolicies, ports and ICMP, address (networks) and identity
 * (namespaces) peers; then Baseline, which applies only in a direction no
 * NetworkPolicy selects the endpoint for. Drops count admin_denied /
 * baseline_denied (and send an event with that reason), never policy_denied.
 */
static void test_tiers(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase admin[] = {
		{ "Admin Deny TCP 22 beats the NetworkPolicy's allow",
		  TCP_IN("10.5.0.2", 40000, 22, SYN), IN, DROP, R_ADMIN, .flush = true },
		{ "the TCP 22 Deny leaves UDP 22 to the NetworkPolicy",
		  UDP_IN("10.5.0.2", 40000, 22), IN, PASS, R_ALLOWED, .flush = true },
		{ "the TCP 22 Deny leaves ICMP to the NetworkPolicy", ECHO_IN("10.5.0.2", 7), IN,
		  PASS, R_ALLOWED, .flush = true },
		{ "Admin Pass TCP 80 (priority 5) before Deny 80-90 (30): the NetworkPolicy allows",
		  TCP_IN("10.5.0.2", 40000, 80, SYN), IN, PASS, R_ALLOWED, .flush = true },
		{ "Admin Deny 80-90: port 85", TCP_IN("10.5.0.2", 40000, 85, SYN), IN, DROP,
		  R_ADMIN, .flush = true },
		{ "Admin Deny 80-90: port 91 is the NetworkPolicy's",
		  TCP_IN("10.5.0.2", 40000, 91, SYN), IN, PASS, R_ALLOWED, .flush = true },
		{ "no tenant: no cluster rule, the NetworkPolicy denies",
		  TCP_IN("10.7.0.1", 40000, 80, SYN), IN, DROP, R_POLICY, .flush = true },
		{ "egress: Admin Deny of a network inside the NetworkPolicy's ipBlock",
		  TCP_OUT("10.5.3.3", 40000, 443, SYN), EG, DROP, R_ADMIN, .flush = true },
		{ "egress: what nothing allows", TCP_OUT("10.5.0.2", 40000, 80, SYN), EG, DROP,
		  R_POLICY, .flush = true },
		/* the last two flows stay tracked: their rules are checked below */
		{ "egress: the NetworkPolicy allows beta 443", TCP_OUT("10.5.0.2", 40000, 443, SYN),
		  EG, PASS, R_ALLOWED, .flush = true },
		{ "Admin Accept gamma: what no NetworkPolicy allows",
		  TCP_IN("10.6.0.3", 40000, 9999, SYN), IN, PASS, R_ALLOWED },
	};
	static const struct vcase baseline[] = {
		{ "ingress, no NetworkPolicy: Baseline Deny beta (priority 10)",
		  TCP_IN("10.5.0.2", 40000, 80, SYN), IN, DROP, R_BASELINE, .flush = true },
		{ "ingress, no NetworkPolicy: no tenant, no Baseline rule: default deny",
		  TCP_IN("10.7.0.1", 40000, 80, SYN), IN, DROP, R_POLICY, .flush = true },
		{ "egress has a NetworkPolicy: it allows 443, Baseline's Deny unused",
		  TCP_OUT("10.5.0.2", 40000, 443, SYN), EG, PASS, R_ALLOWED, .flush = true },
		{ "egress has a NetworkPolicy: it denies 80, not Baseline",
		  TCP_OUT("10.5.0.2", 40000, 80, SYN), EG, DROP, R_POLICY, .flush = true },
		{ "ingress, no NetworkPolicy: Baseline Accept every namespace (20)",
		  TCP_IN("10.6.0.3", 40000, 80, SYN), IN, PASS, R_ALLOWED, .flush = true },
	};

	selector_peers(x);
	events_on(x);
	apply(x, LIST(NP("np", BOTH,
			 "'ingress':[{'from':[{'namespaceSelector':" NS_NAMED("beta") "}]}],"
			 "'egress':[{'to':[{'ipBlock':{'cidr':'10.5.0.0/16'}}],"
			 "'ports':[{'protocol':'TCP','port':443}]}]") ","
		      CNP("a-deny-ssh", "Admin", 10, "'ingress':[{'action':'Deny'," FROM_NS("beta")
			  "," CNP_TCP(22) "}]") ","
		      CNP("a-pass-web", "Admin", 5, "'ingress':[{'action':'Pass'," FROM_NS("beta")
			  "," CNP_TCP(80) "}]") ","
		      CNP("a-deny-web", "Admin", 30, "'ingress':[{'action':'Deny'," FROM_NS("beta")
			  ",'protocols':[{'tcp':{'destinationPort':{'range':{'start':80,"
			  "'end':90}}}}]}]") ","
		      CNP("a-accept-gamma", "Admin", 20, "'ingress':[{'action':'Accept',"
			  FROM_NS("gamma") "}]") ","
		      CNP("a-deny-net", "Admin", 40, "'egress':[{'action':'Deny',"
			  TO_NET("10.5.3.0/24") "}]")));
	RUN_TABLE(x, admin);
	assert_flow_rule(x, TCP, 9999, "10.6.0.3", 40000, "a-accept-gamma", 0, NF_RULE_ALLOW);
	assert_flow_rule(x, TCP, 40000, "10.5.0.2", 443, "np", 0, NF_RULE_ALLOW);

	apply(x, LIST(NP("np-out", EGRESS,
			 "'egress':[{'to':[{'ipBlock':{'cidr':'10.0.0.0/8'}}],"
			 "'ports':[{'protocol':'TCP','port':443}]}]") ","
		      CNP("b-deny-beta", "Baseline", 10, "'ingress':[{'action':'Deny',"
			  FROM_NS("beta") "}],'egress':[{'action':'Deny',"
			  TO_NET("10.0.0.0/8") "}]") ","
		      CNP("b-accept-all", "Baseline", 20, "'ingress':[{'action':'Accept',"
			  "'from':[{'namespaces':{}}]}]")));
	RUN_TABLE(x, baseline);
	assert_flow_rule(x, TCP, 80, "10.6.0.3", 40000, "b-accept-all", 0, NF_RULE_ALLOW);
}

/*
 * Revocation across tiers (SPEC §3.5, §13): a flow the NetworkPolicy allowed
 * is dropped as admin_denied at its next packet once an Admin Deny covers
 * it (its entry rejudged on the epoch change, then gone); one an Admin Pass
 * covers stands; a Baseline-allowed flow ends with baseline_denied when
 * Baseline turns to Deny, and with policy_denied when a NetworkPolicy
 * starts to select the endpoint.
 */
static void test_tier_revocation(void **state)
{
	struct fx *x = fixture(state);
	static const struct vcase open[] = {
		{ "in: SYN", TCP_IN("10.5.0.2", 33333, 80, SYN), IN, PASS, R_ALLOWED,
		  .flush = true },
		{ "out: SYN-ACK", TCP_OUT("10.5.0.2", 80, 33333, SYNACK), EG, PASS, R_NONE },
		{ "out: SYN to 443", TCP_OUT("10.5.3.3", 40000, 443, SYN), EG, PASS, R_ALLOWED },
		{ "in: its SYN-ACK", TCP_IN("10.5.3.3", 443, 40000, SYNACK), IN, PASS, R_NONE },
	};
	static const struct vcase passed[] = {
		{ "Admin Pass: the flow stands", TCP_IN("10.5.0.2", 33333, 80, ACK), IN, PASS,
		  R_NONE },
		{ "Admin Pass: its reply", TCP_OUT("10.5.0.2", 80, 33333, ACK), EG, PASS, R_NONE },
	};
	static const struct vcase denied[] = {
		{ "Admin Deny: our reply, judged again", TCP_OUT("10.5.0.2", 80, 33333, ACK), EG,
		  DROP, R_ADMIN },
		{ "Admin Deny: their data, no flow now", TCP_IN("10.5.0.2", 33333, 80, ACK), IN,
		  DROP, R_ADMIN },
		{ "Admin Deny of the network: our data", TCP_OUT("10.5.3.3", 40000, 443, ACK), EG,
		  DROP, R_ADMIN },
	};
	static const struct vcase base_open[] = {
		{ "Baseline Accept: in SYN", TCP_IN("10.6.0.3", 33333, 80, SYN), IN, PASS,
		  R_ALLOWED, .flush = true },
		{ "Baseline Accept: another flow", TCP_IN("10.6.0.3", 33334, 81, SYN), IN, PASS,
		  R_ALLOWED },
	};
	static const struct vcase base_denied[] = {
		{ "Baseline Deny: our reply", TCP_OUT("10.6.0.3", 80, 33333, ACK), EG, DROP,
		  R_BASELINE },
	};
	static const struct vcase np_selects[] = {
		{ "a NetworkPolicy selects the endpoint: Baseline no longer applies",
		  TCP_OUT("10.6.0.3", 81, 33334, ACK), EG, DROP, R_POLICY },
	};
#define NP_BETA                                                                        \
	NP("np", BOTH,                                                                 \
	   "'ingress':[{'from':[{'namespaceSelector':" NS_NAMED("beta") "}]}],"        \
	   "'egress':[{'to':[{'ipBlock':{'cidr':'10.5.0.0/16'}}]}]")

	selector_peers(x);
	events_on(x);
	apply(x, LIST(NP_BETA));
	RUN_TABLE(x, open);
	apply(x, LIST(NP_BETA "," CNP("pass", "Admin", 1, "'ingress':[{'action':'Pass',"
				       FROM_NS("beta") "}]")));
	RUN_TABLE(x, passed);
	/* judged again at the epoch change: Pass, then the NetworkPolicy's rule */
	assert_flow_rule(x, TCP, 80, "10.5.0.2", 33333, "np", 0, NF_RULE_ALLOW);
	apply(x, LIST(NP_BETA "," CNP("deny", "Admin", 1, "'ingress':[{'action':'Deny',"
				       FROM_NS("beta") "," CNP_TCP(80) "}],'egress':[{'action':"
				       "'Deny'," TO_NET("10.5.3.0/24") "}]")));
	assert_true(tracked(x, TCP, 80, "10.5.0.2", 33333)); /* judged at its next packet */
	RUN_TABLE(x, denied);
	assert_false(tracked(x, TCP, 80, "10.5.0.2", 33333));
	assert_false(tracked(x, TCP, 40000, "10.5.3.3", 443));

	apply(x, LIST(CNP("base", "Baseline", 1, "'ingress':[{'action':'Accept',"
			  FROM_NS("gamma") "}]")));
	RUN_TABLE(x, base_open);
	apply(x, LIST(CNP("base", "Baseline", 1, "'ingress':[{'action':'Deny',"
			  FROM_NS("gamma") "," CNP_TCP(80) "},{'action':'Accept',"
			  FROM_NS("gamma") "}]")));
	RUN_TABLE(x, base_denied);
	assert_false(tracked(x, TCP, 80, "10.6.0.3", 33333));
	assert_true(tracked(x, TCP, 81, "10.6.0.3", 33334));
	apply(x, LIST(NP("np", INGRESS, "'ingress':[{'from':[{'namespaceSelector':"
			 NS_NAMED("beta") "}]}]") ","
		      CNP("base", "Baseline", 1, "'ingress':[{'action':'Deny',"
			  FROM_NS("gamma") "," CNP_TCP(80) "},{'action':'Accept',"
			  FROM_NS("gamma") "}]")));
	RUN_TABLE(x, np_selects);
#undef NP_BETA
}

/* ------------------------------------------------------------ truncation sweep */

/*
 * An allowed TCP SYN cut at every length from 15 (one byte of IP header) to
 * one byte short of the whole: each is dropped as malformed, with the IP
 * length fields left claiming the whole packet and with them fixed to match
 * the cut. Cuts inside the IP header may be refused by BPF_PROG_TEST_RUN
 * (see kernel_may_refuse).
 */
static void test_truncation_sweep(void **state)
{
	struct fx *x = fixture(state);
	const struct pkt_spec s = TCP_IN("10.1.0.5", 40000, 80, SYN);
	struct pkt whole;
	size_t cut, bad = 0;
	int fix;

	apply(x, NP("p", INGRESS, "'ingress':[{'from':[{'ipBlock':{'cidr':'10.0.0.0/8'}}]}]"));
	assert_int_equal(pkt_build(&whole, &s, x->family), 0);
	for (fix = 0; fix < 2; fix++) {
		for (cut = 15; cut < whole.len; cut++) {
			struct vcase c = { "",
					   s,
					   IN,
					   DROP,
					   R_MALFORMED,
					   .flush = true,
					   .kernel_may_refuse = cut < whole.l4_off };

			char desc[96];

			c.pkt.cut = cut;
			c.pkt.cut_fix_len = fix;
			snprintf(desc, sizeof(desc), "TCP SYN cut at %zu of %zu bytes%s", cut,
				 whole.len, fix ? ", IP length fixed" : "");
			c.desc = desc;
			if (!run_case(x, &c))
				bad++;
		}
	}
	if (bad)
		fail_msg("IPv%d: %zu cuts not dropped as malformed", x->family, bad);
}

/* ------------------------------------------------------------ cgroup_skb */

/*
 * cgroup_skb programs find their endpoint through the socket's cgroup
 * ancestors. BPF_PROG_TEST_RUN gives the skb a dummy socket; with no
 * nf_cg_endpoints entry for any of its cgroups, the programs pass the packet
 * untouched (CG_PASS, not ours to judge) and count nothing. Real cgroup
 * enforcement is tested in a namespace elsewhere.
 */
static void test_cgroup_no_endpoint(void **state)
{
	struct fx *x = fixture(state);
	const struct pkt_spec specs[] = {
		TCP_IN("10.1.0.5", 40000, 80, SYN),
		TCP_OUT("10.1.0.5", 40000, 80, SYN),
		{ .src = "10.1.0.5", .dst = EP, .proto = TCP, .dport = 80, .doff = 4 },
	};
	const int progs[] = { dp__prog_fd(x->f->dp, NF_PROG_CG_INGRESS),
			      dp__prog_fd(x->f->dp, NF_PROG_CG_EGRESS) };
	struct dpt_stats before, after;
	char msg[512];
	size_t i, j;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		for (j = 0; j < 2; j++) {
			struct pkt p;
			uint32_t ret = 0xdead;

			assert_int_equal(pkt_build(&p, &specs[i], x->family), 0);
			assert_int_equal(dpt_stats_read(x->f, &before), 0);
			assert_int_equal(dpt_run(x->f, progs[j], p.b, p.len, IFINDEX, &ret), 0);
			assert_int_equal(dpt_stats_read(x->f, &after), 0);
			assert_int_equal(ret, DPT_CG_PASS);
			if (dpt_stats_expect(&before, &after, NULL, 0, 0, msg, sizeof(msg)))
				fail_msg("spec %zu prog %zu: counters changed:%s", i, j, msg);
			dpt_stats_free(&before);
			dpt_stats_free(&after);
		}
	}
}

#define T(name, fn)                                      \
	{ name "/ipv4", fn, setup, teardown, &fam4 },    \
	{                                                \
		name "/ipv6", fn, setup, teardown, &fam6 \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("default_deny", test_default_deny),
		T("unregistered_interface", test_unregistered_interface),
		T("arp_nd", test_arp_nd),
		{ "arp_checked/ipv4", test_arp_checked, setup, teardown, &fam4 },
		T("ethertypes", test_ethertypes),
		{ "nd_checked/ipv6", test_nd_checked, setup, teardown, &fam6 },
		T("related_icmp_addrs", test_related_icmp_addrs),
		T("conntrack_full", test_conntrack_full),
		T("cidr_port", test_cidr_port),
		T("port_range", test_port_range),
		T("sctp", test_sctp),
		T("no_ports_any_protocol", test_no_ports_any_protocol),
		T("except_union", test_except_union),
		T("stateful", test_stateful),
		T("ct_lifecycle", test_ct_lifecycle),
		T("closed_across_cpus", test_closed_across_cpus),
		T("flow_cache", test_flow_cache),
		T("young", test_young),
		T("ct_gen", test_ct_gen),
		T("verdict_cache", test_verdict_cache),
		T("ct_end_guarded", test_ct_end_guarded),
		T("revocation_egress", test_revocation_egress),
		T("revocation_ingress", test_revocation_ingress),
		T("network_rule_set", test_network_rule_set),
		T("spoofing", test_spoofing),
		{ "ipv6_ext_headers/ipv6", test_ipv6_ext_headers, setup, teardown, &fam6 },
		T("fragments", test_fragments),
		T("malformed", test_malformed),
		T("truncation_sweep", test_truncation_sweep),
		T("node_ingress", test_node_ingress),
		T("selector_by_name", test_selector_by_name),
		T("selector_not_in", test_selector_not_in),
		T("selector_all", test_selector_all),
		T("tiers", test_tiers),
		T("tier_revocation", test_tier_revocation),
		T("cgroup_no_endpoint", test_cgroup_no_endpoint),
		{ "v4mapped/ipv6", test_v4mapped, setup, teardown, &fam6 },
		T("reinstall_same_parity", test_reinstall_same_parity),
	};

	int failed = cmocka_run_group_tests_name("verdict", tests, NULL, NULL);

	if (n_bug_skipped)
		printf("%zu cases of known bugs skipped (NF_TEST_BUGS=1 runs them)\n",
		       n_bug_skipped);
	return failed;
}
