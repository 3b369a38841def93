// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster policy tiers (SPEC §13) through the compiler and the datapath's
 * lookup (compile__lookup, the same code as nf_judge): a verdict table of
 * documents and flows, each with the verdict, the deciding tier/policy/rule
 * and the drop reason, and every row also against the reference evaluator
 * (refeval__decide_tiers), which is written from the SPEC's text.
 *
 * Tenant "a" is the endpoint's; "b" and "c" are peers (identities 2 and 3,
 * addresses 10.0.2.5 and 10.0.3.5); 192.0.2.1 is the world.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

static const char *const tnames[] = { "a", "b", "c" };	/* ids 1, 2, 3; sorted */
#define N_T 3

static uint32_t id_fn(const char *name, void *ctx)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < N_T; i++)
		if (!strcmp(tnames[i], name))
			return (uint32_t)(i + 1);
	return 0;
}

static const char *name_fn(uint32_t id, void *ctx)
{
	(void)ctx;
	return id >= 1 && id <= N_T ? tnames[id - 1] : NULL;
}

/* ---- documents ---- */

#define NS(n) "{\"matchLabels\": {\"kubernetes.io/metadata.name\": \"" n "\"}}"
#define CNP(name, tier, prio, body)							\
	"{\"apiVersion\": \"policy.networking.k8s.io/v1alpha2\", \"kind\": "		\
	"\"ClusterNetworkPolicy\", \"metadata\": {\"name\": \"" name "\"}, \"spec\": "	\
	"{\"tier\": \"" tier "\", \"priority\": " #prio ", \"subject\": {\"namespaces\": " \
	NS("a") "}, " body "}}"
#define NP(name, body)									\
	"{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\", "	\
	"\"metadata\": {\"name\": \"" name "\", \"namespace\": \"a\"}, \"spec\": "	\
	"{\"podSelector\": {}, " body "}}"
#define FROM_NS(n) "\"from\": [{\"namespaces\": " NS(n) "}]"
#define TCP(p) "{\"tcp\": {\"destinationPort\": {\"number\": " #p "}}}"

/* NetworkPolicy: ingress from tenant b, TCP 80 only. */
#define NP_B80 NP("np-b80", "\"policyTypes\": [\"Ingress\"], \"ingress\": [{\"from\": "	\
		  "[{\"namespaceSelector\": " NS("b") "}], \"ports\": [{\"port\": 80}]}]")
/* NetworkPolicy: ingress from tenant b, everything. */
#define NP_BALL NP("np-ball", "\"policyTypes\": [\"Ingress\"], \"ingress\": [{\"from\": "	\
		   "[{\"namespaceSelector\": " NS("b") "}]}]")

struct row {
	const char *what;
	const char *docs;	/* a v1 List's items */
	uint8_t dir;
	const char *peer;	/* address */
	uint32_t peer_id;
	uint8_t proto;
	uint16_t port;
	bool allow;
	/* the deciding rule: policy name and index, or NULL (default or NP deny) */
	const char *policy;
	uint32_t index;
	uint32_t act;		/* NF_RULE_* of the decision word */
};

#define B "10.0.2.5", 2
#define C "10.0.3.5", 3
#define WORLD "192.0.2.1", 0
#define IN NF_DIR_INGRESS
#define OUT NF_DIR_EGRESS
#define T IPPROTO_TCP

static const struct row rows[] = {
	{ "admin Deny beats a NetworkPolicy allow",
	  NP_BALL "," CNP("deny-b", "Admin", 10, "\"ingress\": [{\"name\": \"no-b\", \"action\": "
		  "\"Deny\", " FROM_NS("b") "}]"),
	  IN, B, T, 80, false, "deny-b", 0, NF_RULE_DENY_ADMIN },
	{ "admin Deny does not touch other peers",
	  NP_BALL "," CNP("deny-c", "Admin", 10, "\"ingress\": [{\"action\": \"Deny\", "
		  FROM_NS("c") "}]"),
	  IN, B, T, 80, true, "np-ball", 0, NF_RULE_ALLOW },
	{ "admin Accept beats the NetworkPolicy tier's deny",
	  NP_B80 "," CNP("accept-b", "Admin", 10, "\"ingress\": [{\"action\": \"Accept\", "
		 FROM_NS("b") "}]"),
	  IN, B, T, 81, true, "accept-b", 0, NF_RULE_ALLOW },
	{ "admin Pass: the NetworkPolicy allows port 80",
	  NP_B80 "," CNP("pass-b", "Admin", 10, "\"ingress\": [{\"action\": \"Pass\", "
		 FROM_NS("b") "}]"),
	  IN, B, T, 80, true, "np-b80", 0, NF_RULE_ALLOW },
	{ "admin Pass: the NetworkPolicy denies port 81",
	  NP_B80 "," CNP("pass-b", "Admin", 10, "\"ingress\": [{\"action\": \"Pass\", "
		 FROM_NS("b") "}]"),
	  IN, B, T, 81, false, NULL, 0, 0 },
	{ "priority: the lower number first (Accept 5 before Deny 10)",
	  CNP("deny-b", "Admin", 10, "\"ingress\": [{\"action\": \"Deny\", " FROM_NS("b") "}]") ","
	  CNP("accept-b", "Admin", 5, "\"ingress\": [{\"action\": \"Accept\", " FROM_NS("b") "}]"),
	  IN, B, T, 80, true, "accept-b", 0, NF_RULE_ALLOW },
	{ "priority tie: rule order within a policy (Accept 80, then Deny all)",
	  CNP("order", "Admin", 10, "\"ingress\": [{\"action\": \"Accept\", " FROM_NS("b")
	      ", \"protocols\": [" TCP(80) "]}, {\"name\": \"rest\", \"action\": \"Deny\", "
	      FROM_NS("b") "}]"),
	  IN, B, T, 80, true, "order", 0, NF_RULE_ALLOW },
	{ "priority tie: rule order within a policy, the second rule",
	  CNP("order", "Admin", 10, "\"ingress\": [{\"action\": \"Accept\", " FROM_NS("b")
	      ", \"protocols\": [" TCP(80) "]}, {\"name\": \"rest\", \"action\": \"Deny\", "
	      FROM_NS("b") "}]"),
	  IN, B, T, 81, false, "order", 1, NF_RULE_DENY_ADMIN },
	{ "Baseline Accept applies when no NetworkPolicy selects the endpoint",
	  CNP("base", "Baseline", 10, "\"ingress\": [{\"action\": \"Accept\", " FROM_NS("b") "}]"),
	  IN, B, T, 81, true, "base", 0, NF_RULE_ALLOW },
	{ "a NetworkPolicy overrides Baseline (its deny)",
	  NP_B80 "," CNP("base", "Baseline", 10, "\"ingress\": [{\"action\": \"Accept\", "
		 FROM_NS("b") "}]"),
	  IN, B, T, 81, false, NULL, 0, 0 },
	{ "Baseline Deny before a later Baseline Accept",
	  CNP("base-deny", "Baseline", 10, "\"ingress\": [{\"action\": \"Deny\", " FROM_NS("b") "}]") ","
	  CNP("base-all", "Baseline", 20, "\"ingress\": [{\"action\": \"Accept\", "
	      "\"from\": [{\"namespaces\": {}}]}]"),
	  IN, B, T, 80, false, "base-deny", 0, NF_RULE_DENY_BASELINE },
	{ "the later Baseline Accept for another tenant",
	  CNP("base-deny", "Baseline", 10, "\"ingress\": [{\"action\": \"Deny\", " FROM_NS("b") "}]") ","
	  CNP("base-all", "Baseline", 20, "\"ingress\": [{\"action\": \"Accept\", "
	      "\"from\": [{\"namespaces\": {}}]}]"),
	  IN, C, T, 80, true, "base-all", 0, NF_RULE_ALLOW },
	{ "address class Deny (networks) beats an identity-class NetworkPolicy allow",
	  NP("np-out", "\"policyTypes\": [\"Egress\"], \"egress\": [{\"to\": [{\"namespaceSelector\": "
	     NS("b") "}]}]") ","
	  CNP("deny-net", "Admin", 10, "\"egress\": [{\"action\": \"Deny\", \"to\": [{\"networks\": "
	      "[\"10.0.2.0/24\"]}]}]"),
	  OUT, B, T, 80, false, "deny-net", 0, NF_RULE_DENY_ADMIN },
	{ "egress: Deny networks (address) vs Pass namespace b (identity), Pass first",
	  NP("np-out", "\"policyTypes\": [\"Egress\"], \"egress\": [{\"to\": [{\"namespaceSelector\": "
	     NS("b") "}]}]") ","
	  CNP("pass-b", "Admin", 1, "\"egress\": [{\"action\": \"Pass\", \"to\": [{\"namespaces\": "
	      NS("b") "}]}]") ","
	  CNP("deny-net", "Admin", 2, "\"egress\": [{\"action\": \"Deny\", \"to\": [{\"networks\": "
	      "[\"10.0.0.0/8\"]}]}]"),
	  OUT, B, T, 80, true, "np-out", 0, NF_RULE_ALLOW },
	{ "egress: the same, Deny networks first",
	  NP("np-out", "\"policyTypes\": [\"Egress\"], \"egress\": [{\"to\": [{\"namespaceSelector\": "
	     NS("b") "}]}]") ","
	  CNP("pass-b", "Admin", 3, "\"egress\": [{\"action\": \"Pass\", \"to\": [{\"namespaces\": "
	      NS("b") "}]}]") ","
	  CNP("deny-net", "Admin", 2, "\"egress\": [{\"action\": \"Deny\", \"to\": [{\"networks\": "
	      "[\"10.0.0.0/8\"]}]}]"),
	  OUT, B, T, 80, false, "deny-net", 0, NF_RULE_DENY_ADMIN },
	{ "a port Deny leaves ICMP to the NetworkPolicy",
	  NP_BALL "," CNP("no-ssh", "Admin", 10, "\"ingress\": [{\"action\": \"Deny\", "
		  FROM_NS("b") ", \"protocols\": [" TCP(22) "]}]"),
	  IN, B, IPPROTO_ICMP, 0, true, "np-ball", 0, NF_RULE_ALLOW },
	{ "a port Deny denies its port",
	  NP_BALL "," CNP("no-ssh", "Admin", 10, "\"ingress\": [{\"action\": \"Deny\", "
		  FROM_NS("b") ", \"protocols\": [" TCP(22) "]}]"),
	  IN, B, T, 22, false, "no-ssh", 0, NF_RULE_DENY_ADMIN },
	{ "a range Deny: just below it",
	  NP_BALL "," CNP("range", "Admin", 10, "\"ingress\": [{\"action\": \"Deny\", " FROM_NS("b")
		  ", \"protocols\": [{\"tcp\": {\"destinationPort\": {\"range\": {\"start\": 1000, "
		  "\"end\": 2000}}}}]}]"),
	  IN, B, T, 999, true, "np-ball", 0, NF_RULE_ALLOW },
	{ "a range Deny: its last port",
	  NP_BALL "," CNP("range", "Admin", 10, "\"ingress\": [{\"action\": \"Deny\", " FROM_NS("b")
		  ", \"protocols\": [{\"tcp\": {\"destinationPort\": {\"range\": {\"start\": 1000, "
		  "\"end\": 2000}}}}]}]"),
	  IN, B, T, 2000, false, "range", 0, NF_RULE_DENY_ADMIN },
	{ "egress Accept to the world without NetworkPolicies",
	  CNP("world", "Admin", 10, "\"egress\": [{\"action\": \"Accept\", \"to\": [{\"networks\": "
	      "[\"0.0.0.0/0\"]}]}]"),
	  OUT, WORLD, T, 443, true, "world", 0, NF_RULE_ALLOW },
	{ "an IPv4 network never matches IPv6 (default deny)",
	  CNP("world", "Admin", 10, "\"egress\": [{\"action\": \"Accept\", \"to\": [{\"networks\": "
	      "[\"0.0.0.0/0\"]}]}]"),
	  OUT, "2001:db8::1", 0, T, 443, false, NULL, 0, 0 },
	{ "fail closed: a Deny rule with an unknown peer denies everything",
	  NP_BALL "," CNP("future", "Admin", 10, "\"ingress\": [{\"action\": \"Deny\", "
		  "\"from\": [{\"someNewPeer\": {}}]}]"),
	  IN, B, T, 80, false, "future", 0, NF_RULE_DENY_ADMIN },
	{ "fail closed: an Accept rule with an unknown peer matches nothing",
	  NP_B80 "," CNP("future", "Admin", 10, "\"ingress\": [{\"action\": \"Accept\", "
		  "\"from\": [{\"someNewPeer\": {}}]}]"),
	  IN, B, T, 81, false, NULL, 0, 0 },
	{ "AdminNetworkPolicy (v1alpha1) Deny, with its own field names",
	  NP_BALL ",{\"apiVersion\": \"policy.networking.k8s.io/v1alpha1\", \"kind\": "
	  "\"AdminNetworkPolicy\", \"metadata\": {\"name\": \"anp\"}, \"spec\": {\"priority\": 3, "
	  "\"subject\": {\"namespaces\": {}}, \"ingress\": [{\"name\": \"x\", \"action\": \"Deny\", "
	  "\"from\": [{\"namespaces\": " NS("b") "}], \"ports\": [{\"portNumber\": {\"protocol\": "
	  "\"TCP\", \"port\": 80}}]}]}}",
	  IN, B, T, 80, false, "anp", 0, NF_RULE_DENY_ADMIN },
	{ "BaselineAdminNetworkPolicy Allow",
	  "{\"apiVersion\": \"policy.networking.k8s.io/v1alpha1\", \"kind\": "
	  "\"BaselineAdminNetworkPolicy\", \"metadata\": {\"name\": \"default\"}, \"spec\": "
	  "{\"subject\": {\"namespaces\": {}}, \"ingress\": [{\"action\": \"Allow\", \"from\": "
	  "[{\"namespaces\": " NS("c") "}]}]}}",
	  IN, C, T, 80, true, "default", 0, NF_RULE_ALLOW },
	{ "a cluster policy whose subject is another namespace does not apply",
	  NP_B80 ",{\"apiVersion\": \"policy.networking.k8s.io/v1alpha2\", \"kind\": "
	  "\"ClusterNetworkPolicy\", \"metadata\": {\"name\": \"other\"}, \"spec\": {\"tier\": "
	  "\"Admin\", \"priority\": 1, \"subject\": {\"namespaces\": " NS("c") "}, \"ingress\": "
	  "[{\"action\": \"Accept\", " FROM_NS("b") "}]}}",
	  IN, B, T, 81, false, NULL, 0, 0 },
};

static void run_row(const struct row *r)
{
	struct nf_docset *ds = policy__docset_new();
	struct nf_policy *sel[16];
	struct nf_compiled *c = NULL;
	struct nf_compile_env env = { .id_fn = id_fn, .tenants = (const char *const *)tnames,
				      .n_tenants = N_T };
	struct nf_query q = { .dir = r->dir, .peer_id = r->peer_id, .proto = r->proto,
			      .port = r->port };
	struct nf_ref_verdict v;
	char *json;
	size_t n = 0, i;
	uint32_t w;
	bool v4;

	assert_non_null(ds);
	assert_true(asprintf(&json, "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [%s]}",
			     r->docs) > 0);
	policy__load_json(ds, "t.json", json, strlen(json));
	free(json);
	for (i = 0; i < ds->n_problems; i++)
		print_error("%s: %s\n", r->what, ds->problems[i]);
	assert_int_equal(ds->n_problems, 0);
	for (i = 0; i < ds->n_policies; i++)
		sel[n++] = ds->policies[i];
	/* what apply gives the compiler: the cluster policies that select tenant a */
	for (i = 0; i < ds->n_cluster; i++)
		if (compile__ns_matches(ds->cluster[i]->ns_subject, "a", NULL))
			sel[n++] = ds->cluster[i];
	assert_int_equal(nf_parse_addr(r->peer, q.addr, &v4), 0);
	assert_int_equal(compile__tenant_env("a", 1, 1, sel, n, &env, &c), 0);
	w = compile__lookup(c, &q);
	refeval__decide_tiers("a", sel, n, &q, name_fn, NULL, NULL, &v);
	if (lookup__allows(w) != r->allow || v.allow != r->allow)
		fail_msg("%s: expected %s, the lookup says %#x, the reference %s", r->what,
			 r->allow ? "allow" : "deny", w, v.allow ? "allow" : "deny");
	if (r->policy) {
		const struct nf_rule_info *ri;

		assert_true(NF_RULE_REF(w) >= 1 && NF_RULE_REF(w) <= c->n_rules);
		ri = &c->rules[NF_RULE_REF(w) - 1];
		if (strcmp(ri->policy, r->policy) || ri->index != r->index ||
		    NF_RULE_ACT(w) != r->act)
			fail_msg("%s: decided by %s[%u] (action %u), expected %s[%u] (action %u)",
				 r->what, ri->policy, ri->index, NF_RULE_ACT(w), r->policy, r->index,
				 r->act);
		assert_true(v.decided);
		assert_string_equal(v.policy, r->policy);
		assert_int_equal(v.index, r->index);
	} else {
		/* default deny, or the NetworkPolicy tier's: no rule decides */
		assert_int_equal(w, 0);
		assert_false(v.decided);
	}
	compile__free(c);
	policy__docset_free(ds);
}

static void test_verdicts(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);
}

/*
 * A NetworkPolicy-only tenant compiles as before tiers existed: no class is
 * tiered and no decision has an action (the datapath's one-class early exit).
 */
static void test_np_only_untiered(void **state)
{
	struct nf_docset *ds = policy__docset_new();
	struct nf_compiled *c = NULL;
	struct nf_compile_env env = { .id_fn = id_fn };
	static const char json[] = NP_B80;
	size_t i;

	(void)state;
	policy__load_json(ds, "t.json", json, strlen(json));
	assert_int_equal(ds->n_problems, 0);
	assert_int_equal(compile__tenant_env("a", 1, 1, ds->policies, ds->n_policies, &env, &c), 0);
	for (i = 0; i < c->n_trie; i++) {
		assert_int_equal(c->trie[i].val.tiered, 0);
		assert_int_equal(c->trie[i].val.any_adm, 0);
	}
	for (i = 0; i < c->n_ports; i++) {
		assert_int_equal(c->ports[i].val.adm, 0);
		assert_int_equal(NF_RULE_ACT(c->ports[i].val.rule_ref), NF_RULE_ALLOW);
	}
	compile__free(c);
	policy__docset_free(ds);
}

/* egress verdict of tenant a's compiled tables to addr (TCP 443) */
static bool egress_allows(const struct nf_compiled *c, const char *addr)
{
	struct nf_query q = { .dir = NF_DIR_EGRESS, .proto = IPPROTO_TCP, .port = 443 };
	bool v4;

	assert_int_equal(nf_parse_addr(addr, q.addr, &v4), 0);
	return lookup__allows(compile__lookup(c, &q));
}

/*
 * SPEC §13 `nodes` peers: the addresses of the Node documents whose labels
 * the selector matches; without Node documents, the local node's addresses.
 */
static void test_nodes(void **state)
{
	static const char json[] =
		"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": ["
		"{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n1\", "
		"\"labels\": {\"role\": \"control\"}}, \"status\": {\"addresses\": ["
		"{\"type\": \"InternalIP\", \"address\": \"172.16.0.1\"}, "
		"{\"type\": \"Hostname\", \"address\": \"n1\"}]}},"
		"{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n2\", "
		"\"labels\": {\"role\": \"worker\"}}, \"status\": {\"addresses\": ["
		"{\"type\": \"InternalIP\", \"address\": \"172.16.0.2\"}, "
		"{\"type\": \"ExternalIP\", \"address\": \"2001:db8::2\"}]}},"
		CNP("nodes", "Admin", 1, "\"egress\": [{\"action\": \"Deny\", \"to\": [{\"nodes\": "
		    "{\"matchLabels\": {\"role\": \"control\"}}}]}, {\"action\": \"Accept\", "
		    "\"to\": [{\"nodes\": {}}]}]") "]}";
	struct nf_docset *ds = policy__docset_new();
	struct nf_cidr host = { .plen = 128 };
	struct nf_compiled *c = NULL;
	struct nf_compile_env env = { .id_fn = id_fn };

	(void)state;
	policy__load_json(ds, "t.json", json, strlen(json));
	assert_int_equal(ds->n_problems, 0);
	assert_int_equal(ds->n_nodes, 2);
	assert_int_equal(ds->n_cluster, 1);
	env.nodes = ds->nodes;
	env.n_nodes = ds->n_nodes;
	assert_int_equal(compile__tenant_env("a", 1, 1, ds->cluster, 1, &env, &c), 0);
	assert_false(egress_allows(c, "172.16.0.1"));	/* the control node: Deny first */
	assert_true(egress_allows(c, "172.16.0.2"));	/* every node: Accept */
	assert_true(egress_allows(c, "2001:db8::2"));	/* ExternalIP too */
	assert_false(egress_allows(c, "172.16.0.3"));	/* not a node */
	compile__free(c);

	/* no Node documents: a nodes peer is this node (its addresses, as given),
	 * a node without labels: role=control does not select it, {} does */
	assert_int_equal(nf_parse_addr("192.0.2.7", host.addr, &host.is_v4), 0);
	env = (struct nf_compile_env){ .id_fn = id_fn, .host_addrs = &host, .n_host_addrs = 1 };
	assert_int_equal(compile__tenant_env("a", 1, 1, ds->cluster, 1, &env, &c), 0);
	assert_true(egress_allows(c, "192.0.2.7"));
	assert_false(egress_allows(c, "172.16.0.2"));
	compile__free(c);
	policy__docset_free(ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_np_only_untiered),
		cmocka_unit_test(test_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
