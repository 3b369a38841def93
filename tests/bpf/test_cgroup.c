// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup_skb verdicts (cg_ingress, cg_egress) through BPF_PROG_TEST_RUN, on a
 * private instance of the real BPF object.
 *
 * What makes a cgroup_skb test run meaningful: the programs find their
 * endpoint through bpf_skb_ancestor_cgroup_id(), i.e. the cgroup of skb->sk.
 * BPF_PROG_TEST_RUN (net/bpf/test_run.c, bpf_prog_test_run_skb) gives the skb
 * a dummy socket from sk_alloc(), and sk_alloc() puts every socket in the
 * cgroup of the task creating it (cgroup_sk_alloc(): task_css_set(current)).
 * So the test run judges the packet as coming from, or going to, a socket of
 * the cgroup this test process is in. The test moves itself into a test
 * cgroup registered in nf_cg_endpoints, and back out at the end:
 *   - outside every fenced cgroup: CG_PASS and nothing counted (not ours);
 *   - inside: the tenant's policy, stateful replies, counters with
 *     hook = cgroup and bytes = the L3 length;
 *   - inside a child created after the endpoint: still fenced;
 *   - a nested endpoint (the child registered for another tenant): the
 *     deepest one decides.
 * The test run also does what the kernel does before cgroup_skb runs: it pulls
 * the Ethernet header (eth_type_trans), so skb->protocol is set and data
 * starts at the IP header, as at the real hooks (__cgroup_bpf_run_filter_skb
 * pushes back to the network header at ingress; ip_output/ip6_output set
 * skb->protocol before the egress hook).
 *
 * The sock_addr programs (connect4/6, sendmsg4/6) have no test_run in the
 * kernel (cg_sock_addr_prog_ops is empty): tests/e2e/test_cgroup.sh covers
 * them, and these hooks, with real sockets in network namespaces.
 *
 * Skipped without CAP_BPF/CAP_SYS_ADMIN, or without a writable cgroup v2
 * hierarchy.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "dp_test.h"
#include "pkt.h"

#define TENANT		"cgt"
#define TENANT2		"cgu"
#define EP_ID		11
#define EP2_ID		12
#define LOCAL		"10.0.0.1"

#define IN		NF_DIR_INGRESS
#define EG		NF_DIR_EGRESS
#define PASS		DPT_CG_PASS
#define DROP		DPT_CG_DROP
#define R_NONE		DPT_NO_COUNT

#define POLICY_JSON                                                                                \
	"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","                    \
	"\"metadata\":{\"name\":\"p\",\"namespace\":\"%s\"},\"spec\":{\"podSelector\":{},"         \
	"\"policyTypes\":[\"Egress\",\"Ingress\"],"                                                 \
	"\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.2.0.0/16\"}}],"                          \
	"\"ports\":[{\"protocol\":\"TCP\",\"port\":%d}]}],"                                        \
	"\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.3.0.0/16\"}}],"                       \
	"\"ports\":[{\"protocol\":\"UDP\",\"port\":53}]}]}}"

struct fx {
	int family;
	struct dpt *f;
	uint32_t tenant, tenant2;
	char root[PATH_MAX];	/* cgroup v2 mount */
	char home[PATH_MAX];	/* the cgroup this process came from */
	char cg[PATH_MAX];	/* the fenced test cgroup */
	char child[PATH_MAX];	/* its child */
	uint64_t cg_id, child_id;
};

static int fam4 = 4, fam6 = 6;

/* Move this process into the cgroup dir. */
static int enter_cgroup(const char *dir)
{
	char path[PATH_MAX + 16];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "0", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

/* This process's cgroup v2 directory, from /proc/self/cgroup ("0::/path"). */
static int own_cgroup(const char *root, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[PATH_MAX + 8];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		err = snprintf(buf, len, "%s%s", root, line + 3) < (int)len ? 0 : -ENAMETOOLONG;
		break;
	}
	fclose(f);
	return err;
}

static int add_cg_endpoint(struct fx *x, uint64_t cgid, uint32_t tenant, uint32_t ep_id)
{
	struct nf_endpoint v = { .tenant_id = tenant, .ep_id = ep_id };

	if (bpf_map_update_elem(dp__map_fd(x->f->dp, NF_MAP_CG_ENDPOINTS), &cgid, &v, BPF_ANY))
		return -errno;
	dp__verdicts_changed(x->f->dp);	/* as an attach does */
	return 0;
}

/*
 * SPEC §13: the tenant's NetworkPolicy (egress 10.2.0.0/16 TCP port) with
 * an Admin Deny of 10.2.0.0/24 TCP 8080 and an Admin Accept of ingress from
 * tenant TENANT2.
 */
#define CNP_JSON                                                                                   \
	"{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\",\"kind\":\"ClusterNetworkPolicy\"," \
	"\"metadata\":{\"name\":\"admin\"},\"spec\":{\"tier\":\"Admin\",\"priority\":3,"           \
	"\"subject\":{\"namespaces\":{}},"                                                         \
	"\"egress\":[{\"action\":\"Deny\",\"to\":[{\"networks\":[\"10.2.0.0/24\"]}],"              \
	"\"protocols\":[{\"tcp\":{\"destinationPort\":{\"number\":8080}}}]}],"                     \
	"\"ingress\":[{\"action\":\"Accept\",\"from\":[{\"namespaces\":{\"matchLabels\":"          \
	"{\"kubernetes.io/metadata.name\":\"" TENANT2 "\"}}}]}]}}"

/* Apply POLICY_JSON for tenant with port, and with cluster policy `cnp` (NULL: none). */
static int apply_with(struct fx *x, const char *tenant, int port, const char *cnp)
{
	char np[2048], json[4096], *fam_json;
	int err;

	snprintf(np, sizeof(np), POLICY_JSON, tenant, port);
	if (cnp)
		snprintf(json, sizeof(json),
			 "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[%s,%s]}", np, cnp);
	else
		snprintf(json, sizeof(json), "%s", np);
	fam_json = pkt_json_for_family(json, x->family);
	if (!fam_json)
		return -ENOMEM;
	err = dpt_apply_json(x->f, tenant, fam_json);
	free(fam_json);
	return err;
}

static int apply(struct fx *x, const char *tenant, int port)
{
	return apply_with(x, tenant, port, NULL);
}

static int setup(void **state)
{
	struct fx *x;
	char name[64];
	int err;

	if (!dpt_can_bpf()) {
		print_message("skipped: needs CAP_BPF or CAP_SYS_ADMIN\n");
		skip();
	}
	x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->family = *(int *)*state;
	if (dp__cgroup2_root(x->root, sizeof(x->root)) ||
	    own_cgroup(x->root, x->home, sizeof(x->home))) {
		free(x);
		print_message("skipped: no cgroup v2 hierarchy\n");
		skip();
	}
	snprintf(name, sizeof(name), "nfbt%d-%d", (int)getpid(), x->family);
	if (snprintf(x->cg, sizeof(x->cg), "%s/%s", x->root, name) >= (int)sizeof(x->cg) ||
	    snprintf(x->child, sizeof(x->child), "%s/child", x->cg) >= (int)sizeof(x->child)) {
		free(x);
		print_message("skipped: cgroup v2 mount path too long\n");
		skip();
	}
	if (mkdir(x->cg, 0755)) {
		err = errno;
		free(x);
		print_message("skipped: cannot create a test cgroup: %s\n", strerror(err));
		skip();
	}
	assert_int_equal(dp__cgroup_id(x->cg, &x->cg_id), 0);
	err = dpt_open(&x->f);
	if (err)
		fail_msg("dpt_open: %s", strerror(-err));
	x->tenant = dpt_tenant(x->f, TENANT);
	x->tenant2 = dpt_tenant(x->f, TENANT2);
	assert_true(x->tenant && x->tenant2);
	assert_int_equal(add_cg_endpoint(x, x->cg_id, x->tenant, EP_ID), 0);
	assert_int_equal(apply(x, TENANT, 8080), 0);
	assert_int_equal(apply(x, TENANT2, 9090), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	if (!x || x == (void *)&fam4 || x == (void *)&fam6)
		return 0;
	enter_cgroup(x->home);
	rmdir(x->child);
	rmdir(x->cg);
	dpt_close(x->f);
	free(x);
	return 0;
}

struct ccase {
	const char *desc;
	struct pkt_spec pkt;
	uint8_t dir;
	uint32_t verdict;
	uint8_t reason;		/* the one counter that must move, or R_NONE */
	uint32_t *tenant;	/* whose counter (NULL: the fenced cgroup's tenant) */
};

static void run_case(struct fx *x, const struct ccase *c)
{
	int prog = c->dir == IN ? dp__prog_fd(x->f->dp, NF_PROG_CG_INGRESS) :
				  dp__prog_fd(x->f->dp, NF_PROG_CG_EGRESS);
	struct dpt_stats before, after;
	struct nf_stats_key want = {};
	char msg[1024];
	struct pkt p;
	uint32_t ret;
	int err;

	assert_int_equal(pkt_build(&p, &c->pkt, x->family), 0);
	assert_int_equal(dpt_stats_read(x->f, &before), 0);
	err = dpt_run(x->f, prog, p.b, p.len, 1, &ret);
	if (err)
		fail_msg("%s: BPF_PROG_TEST_RUN: %s", c->desc, strerror(-err));
	assert_int_equal(dpt_stats_read(x->f, &after), 0);
	if (ret != c->verdict)
		fail_msg("IPv%d %s: verdict %u, expected %u", x->family, c->desc, ret, c->verdict);
	want.tenant_id = c->tenant ? *c->tenant : x->tenant;
	want.dir = c->dir;
	want.reason = c->reason;
	want.hook = NF_HOOK_CGROUP;
	/* bytes: skb->len at a cgroup hook is the L3 packet, without Ethernet */
	if (dpt_stats_expect(&before, &after, &want, c->reason == R_NONE ? 0 : 1,
			     c->reason == NF_REASON_ALLOWED_FLOW ? -1 : (int64_t)(p.len - p.l3_off),
			     msg, sizeof(msg)))
		fail_msg("IPv%d %s: counters: %s", x->family, c->desc, msg);
	dpt_stats_free(&before);
	dpt_stats_free(&after);
}

#define RUN(x, t)                                                                                  \
	do {                                                                                       \
		size_t _i;                                                                         \
		for (_i = 0; _i < sizeof(t) / sizeof((t)[0]); _i++)                                \
			run_case(x, &(t)[_i]);                                                     \
	} while (0)

#define TCP_TO(peer, port, fl)                                                                     \
	{ .src = LOCAL, .dst = peer, .proto = IPPROTO_TCP, .sport = 40000, .dport = port,          \
	  .tcp_flags = fl }
#define TCP_FROM(peer, port, fl)                                                                   \
	{ .src = peer, .dst = LOCAL, .proto = IPPROTO_TCP, .sport = port, .dport = 40000,          \
	  .tcp_flags = fl }
#define UDP_IN(peer, port)                                                                         \
	{ .src = peer, .dst = LOCAL, .proto = IPPROTO_UDP, .sport = 33333, .dport = port }

/* Not in a fenced cgroup: the program passes and counts nothing. */
static void test_outside(void **state)
{
	struct fx *x = *state;
	static const struct ccase t[] = {
		{ "egress, not fenced", TCP_TO("10.9.0.1", 22, PKT_TCP_SYN), EG, PASS, R_NONE },
		{ "ingress, not fenced", UDP_IN("10.9.0.1", 5000), IN, PASS, R_NONE },
	};

	RUN(x, t);
}

static const struct ccase fenced[] = {
	{ "egress denied port", TCP_TO("10.2.0.5", 22, PKT_TCP_SYN), EG, DROP, NF_DROP_POLICY },
	{ "egress denied peer", TCP_TO("10.9.0.5", 8080, PKT_TCP_SYN), EG, DROP, NF_DROP_POLICY },
	{ "egress allowed SYN", TCP_TO("10.2.0.5", 8080, PKT_TCP_SYN), EG, PASS,
	  NF_REASON_ALLOWED_FLOW },
	{ "its SYN-ACK (reply)", TCP_FROM("10.2.0.5", 8080, PKT_TCP_SYN | PKT_TCP_ACK), IN, PASS,
	  R_NONE },
	{ "its ACK", TCP_TO("10.2.0.5", 8080, PKT_TCP_ACK), EG, PASS, R_NONE },
	{ "ingress allowed UDP 53", UDP_IN("10.3.0.7", 53), IN, PASS, NF_REASON_ALLOWED_FLOW },
	{ "its reply", { .src = LOCAL, .dst = "10.3.0.7", .proto = IPPROTO_UDP, .sport = 53,
			 .dport = 33333 }, EG, PASS, R_NONE },
	{ "ingress denied UDP 54", UDP_IN("10.3.0.7", 54), IN, DROP, NF_DROP_POLICY },
	{ "ingress denied peer", UDP_IN("10.9.0.7", 53), IN, DROP, NF_DROP_POLICY },
	{ "malformed (TCP data offset 4)", { .src = LOCAL, .dst = "10.2.0.5", .proto = IPPROTO_TCP,
					     .dport = 8080, .doff = 4 },
	  EG, DROP, NF_DROP_MALFORMED },
};

/* In the fenced cgroup: the tenant's policy, state and counters. */
static void test_fenced(void **state)
{
	struct fx *x = *state;

	assert_int_equal(enter_cgroup(x->cg), 0);
	dpt_flush_flows(x->f);
	RUN(x, fenced);
}

/* A child created after the endpoint: the parent's fence still applies. */
static void test_child(void **state)
{
	struct fx *x = *state;

	assert_int_equal(mkdir(x->child, 0755), 0);
	assert_int_equal(enter_cgroup(x->child), 0);
	dpt_flush_flows(x->f);
	RUN(x, fenced);
}

/* The child is an endpoint of its own (another tenant): the deepest decides. */
static void test_nested(void **state)
{
	struct fx *x = *state;
	struct ccase t[] = {
		{ "egress to 8080 (parent's tenant allows it)", TCP_TO("10.2.0.5", 8080, PKT_TCP_SYN),
		  EG, DROP, NF_DROP_POLICY, &x->tenant2 },
		{ "egress to 9090 (child's tenant allows it)", TCP_TO("10.2.0.5", 9090, PKT_TCP_SYN),
		  EG, PASS, NF_REASON_ALLOWED_FLOW, &x->tenant2 },
	};

	assert_int_equal(mkdir(x->child, 0755), 0);
	assert_int_equal(dp__cgroup_id(x->child, &x->child_id), 0);
	assert_int_equal(add_cg_endpoint(x, x->child_id, x->tenant2, EP2_ID), 0);
	assert_int_equal(enter_cgroup(x->child), 0);
	dpt_flush_flows(x->f);
	RUN(x, t);
}

/* SPEC §13 at the cgroup hooks: admin_denied counted with hook = cgroup. */
static void test_tiers(void **state)
{
	struct fx *x = *state;
	static const struct ccase t[] = {
		{ "egress: Admin Deny beats the NetworkPolicy",
		  TCP_TO("10.2.0.5", 8080, PKT_TCP_SYN), EG, DROP, NF_DROP_ADMIN },
		{ "egress: outside the Deny's network, the NetworkPolicy allows",
		  TCP_TO("10.2.1.5", 8080, PKT_TCP_SYN), EG, PASS, NF_REASON_ALLOWED_FLOW },
		{ "ingress: Admin Accept of tenant cgu beats the NetworkPolicy's deny",
		  UDP_IN("10.3.0.7", 54), IN, PASS, NF_REASON_ALLOWED_FLOW },
		{ "ingress: not cgu, the NetworkPolicy denies", UDP_IN("10.3.0.8", 54), IN, DROP,
		  NF_DROP_POLICY },
	};
	char a[64], cidr[80];

	pkt_addr_text("10.3.0.7", x->family, a, sizeof(a));
	snprintf(cidr, sizeof(cidr), "%s/%d", a, x->family == 4 ? 32 : 128);
	assert_int_equal(dpt_ipcache(x->f, cidr, x->tenant2), 0);
	assert_int_equal(apply_with(x, TENANT, 8080, CNP_JSON), 0);
	assert_int_equal(enter_cgroup(x->cg), 0);
	dpt_flush_flows(x->f);
	RUN(x, t);
}

#define T(name, fn)                                                                                \
	{ name "/ipv4", fn, setup, teardown, &fam4 }, { name "/ipv6", fn, setup, teardown, &fam6 }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("outside a fenced cgroup", test_outside),
		T("in the fenced cgroup", test_fenced),
		T("in a child of the fenced cgroup", test_child),
		T("nested endpoints: the deepest decides", test_nested),
		T("cluster policy tiers", test_tiers),
	};

	return cmocka_run_group_tests_name("cgroup_skb", tests, NULL, NULL);
}
