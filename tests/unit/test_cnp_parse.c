// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster policies and Nodes in the parser (SPEC §13,
 * userspace/lib/policy/clusternetworkpolicy.c and node.c): the exact IR of
 * ClusterNetworkPolicy (v1alpha2), AdminNetworkPolicy and
 * BaselineAdminNetworkPolicy (v1alpha1) documents with every peer kind and
 * port form, "fail closed" peers, lists, duplicates, the deep copy, and one
 * case per validation rule with its exact problem line. Run from the
 * repository root (tests/run.sh does).
 *
 * JSON in this file is written with ' for " (converted before parsing).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <cmocka.h>
#include "policy.h"
#include "policy_test.h"

#define NSNAME "'kubernetes.io/metadata.name'"
#define CNP_API "'apiVersion':'policy.networking.k8s.io/v1alpha2','kind':'ClusterNetworkPolicy'"
#define ANP_API "'apiVersion':'policy.networking.k8s.io/v1alpha1','kind':'AdminNetworkPolicy'"
#define BANP_API "'apiVersion':'policy.networking.k8s.io/v1alpha1'," \
	"'kind':'BaselineAdminNetworkPolicy'"
/* A ClusterNetworkPolicy "c" with spec `spec`. */
#define CNP(spec) "{" CNP_API ",'metadata':{'name':'c'},'spec':" spec "}"
/* An Admin-tier ClusterNetworkPolicy of priority 5 for every namespace, rules `rules`. */
#define ADMIN(rules) CNP("{'tier':'Admin','priority':5,'subject':{'namespaces':{}}," rules "}")
#define ANP(spec) "{" ANP_API ",'metadata':{'name':'a'},'spec':" spec "}"
#define ANPR(rules) ANP("{'priority':1,'subject':{'namespaces':{}}," rules "}")
#define BANP(spec) "{" BANP_API ",'metadata':{'name':'default'},'spec':" spec "}"
#define BANPR(rules) BANP("{'subject':{'namespaces':{}}," rules "}")
#define NODE(body) "{'apiVersion':'v1','kind':'Node'," body "}"

#define P "t.json: "
#define DNS_SUB "is not a valid DNS-1123 subdomain (at most 253 lowercase letters, digits, " \
	"'-' and '.', starting and ending with a letter or digit)"
#define PORT_NAME "is not a valid port name (1 to 15 lowercase letters, digits and '-', at " \
	"least one letter, no '-' at either end or twice in a row)"
#define LABEL_KEY "is not a valid label key (an optional DNS-1123 subdomain and '/', then at " \
	"most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
#define NAMED_NET "cannot be used with networks or nodes peers (they have no named ports)"


static struct nf_docset *load(const char *json)
{
	struct nf_docset *ds = policy__docset_new();
	char *t = pt_unquote(json);

	assert_non_null(ds);
	assert_int_equal(policy__load_json(ds, "t.json", t, strlen(t)), 0);
	free(t);
	return ds;
}


/* A valid document: no problem, and the docset holds it. */
static struct nf_docset *load_ok(const char *json)
{
	struct nf_docset *ds = load(json);
	static const char *const none[] = { NULL };

	pt_check_problems(json, ds, none);
	return ds;
}

static void assert_cidr(const struct nf_cidr *c, const char *want)
{
	char buf[64];

	nf_format_cidr(c, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void assert_port(const struct nf_port_range *pr, uint8_t proto, uint16_t lo, uint16_t hi,
			const char *name)
{
	assert_int_equal(pr->proto, proto);
	assert_int_equal(pr->lo, lo);
	assert_int_equal(pr->hi, hi);
	assert_string_equal(pr->name, name);
}

/* ---- the IR ---- */

static void test_cnp_admin_ir(void **state)
{
	struct nf_docset *ds = load_ok(ADMIN(
		"'ingress':[{'name':'from-x','action':'Accept','from':["
		"{'namespaces':{'matchLabels':{" NSNAME ":'x'}}},"
		"{'namespaces':{'matchLabels':{'team':'a'}}},"
		"{'pods':{'namespaceSelector':{},'podSelector':{'matchLabels':{'app':'db'}}}},"
		"{'pods':{'podSelector':{}}}],"
		"'protocols':[{'tcp':{'destinationPort':{'number':80}}},"
		"{'udp':{'destinationPort':{'range':{'start':1000,'end':2000}}}},"
		"{'sctp':{'destinationPort':{'number':9}}},"
		"{'destinationNamedPort':'http'}]},"
		"{'action':'Pass','from':[{'namespaces':{}}]}],"
		"'egress':[{'action':'Deny','to':[{'networks':['10.1.2.3/8','2001:db8::/32',"
		"'::/0']},"
		"{'nodes':{'matchLabels':{'node-role':'cp'}}}],"
		"'protocols':[{'tcp':{'destinationPort':{'number':443}}}]},"
		"{'name':'to-pods','action':'Accept','to':[{'pods':{'namespaceSelector':"
		"{'matchExpressions':[{'key':" NSNAME ",'operator':'NotIn','values':"
		"['kube-system']}]},"
		"'podSelector':{'matchLabels':{'a':'b'}}}}]}]"));
	const struct nf_policy *p;
	const struct nf_rule *r;
	const struct nf_peer *pe;

	assert_int_equal(ds->n_policies, 0);
	assert_int_equal(ds->n_cluster, 1);
	p = ds->cluster[0];
	assert_null(p->tenant);
	assert_string_equal(p->name, "c");
	assert_string_equal(p->file, "t.json");
	assert_int_equal(p->cnp_kind, NF_CNP_V1ALPHA2);
	assert_int_equal(p->tier, NF_TIER_ADMIN);
	assert_int_equal(p->priority, 5);
	assert_non_null(p->ns_subject);
	assert_int_equal(p->ns_subject->n_reqs, 0);
	assert_null(p->subject);
	assert_int_equal(p->n_networks, 0);
	assert_true(p->has_dir[NF_DIR_INGRESS]);
	assert_true(p->has_dir[NF_DIR_EGRESS]);
	assert_int_equal(p->n_rules[NF_DIR_INGRESS], 2);
	assert_int_equal(p->n_rules[NF_DIR_EGRESS], 2);
	assert_non_null(strstr(p->json, "\"kind\":\"ClusterNetworkPolicy\""));
	assert_non_null(strstr(p->json, "\"name\":\"from-x\""));

	r = &p->rules[NF_DIR_INGRESS][0];
	assert_string_equal(r->name, "from-x");
	assert_int_equal(r->action, NF_ACT_ACCEPT);
	assert_int_equal(r->n_peers, 4);
	pe = &r->peers[0];	/* the name label: resolved to tenant x */
	assert_int_equal(pe->kind, NF_PK_TENANTS);
	assert_non_null(pe->ns_sel);
	assert_false(pe->ns_labels);
	assert_false(pe->negate);
	assert_int_equal(pe->n_names, 1);
	assert_string_equal(pe->names[0], "x");
	assert_null(pe->pod_sel);
	pe = &r->peers[1];	/* another label: the compiler resolves it */
	assert_int_equal(pe->kind, NF_PK_TENANTS);
	assert_true(pe->ns_labels);
	assert_false(pe->negate);
	assert_int_equal(pe->n_names, 0);
	assert_int_equal(pe->ns_sel->n_reqs, 1);
	assert_string_equal(pe->ns_sel->reqs[0].key, "team");
	pe = &r->peers[2];	/* pods in every tenant */
	assert_int_equal(pe->kind, NF_PK_PODS);
	assert_non_null(pe->ns_sel);
	assert_int_equal(pe->ns_sel->n_reqs, 0);
	assert_true(pe->negate);
	assert_int_equal(pe->n_names, 0);
	assert_int_equal(pe->pod_sel->n_reqs, 1);
	assert_string_equal(pe->pod_sel->reqs[0].key, "app");
	pe = &r->peers[3];	/* podSelector {} without namespaceSelector: every tenant */
	assert_int_equal(pe->kind, NF_PK_TENANTS);
	assert_null(pe->pod_sel);
	assert_non_null(pe->ns_sel);
	assert_int_equal(pe->ns_sel->n_reqs, 0);
	assert_true(pe->negate);
	assert_int_equal(pe->n_names, 0);
	assert_int_equal(r->n_ports, 4);
	assert_port(&r->ports[0], IPPROTO_TCP, 80, 80, "");
	assert_port(&r->ports[1], IPPROTO_UDP, 1000, 2000, "");
	assert_port(&r->ports[2], IPPROTO_SCTP, 9, 9, "");
	assert_port(&r->ports[3], 0, 0, 0, "http");

	r = &p->rules[NF_DIR_INGRESS][1];
	assert_null(r->name);
	assert_int_equal(r->action, NF_ACT_PASS);
	assert_int_equal(r->n_peers, 1);
	assert_int_equal(r->peers[0].kind, NF_PK_TENANTS);
	assert_true(r->peers[0].negate);
	assert_int_equal(r->peers[0].n_names, 0);
	assert_int_equal(r->n_ports, 0);

	r = &p->rules[NF_DIR_EGRESS][0];
	assert_null(r->name);
	assert_int_equal(r->action, NF_ACT_DENY);
	assert_int_equal(r->n_peers, 4);	/* three networks, one nodes */
	assert_int_equal(r->peers[0].kind, NF_PK_IPBLOCK);
	assert_cidr(&r->peers[0].cidr, "10.0.0.0/8");
	assert_true(r->peers[0].cidr.is_v4);
	assert_int_equal(r->peers[0].n_except, 0);
	assert_int_equal(r->peers[1].kind, NF_PK_IPBLOCK);
	assert_cidr(&r->peers[1].cidr, "2001:db8::/32");
	assert_int_equal(r->peers[1].n_except, 0);
	assert_int_equal(r->peers[2].kind, NF_PK_IPBLOCK);
	assert_cidr(&r->peers[2].cidr, "::/0");
	assert_int_equal(r->peers[2].n_except, 1);	/* IPv6 never matches IPv4 */
	assert_int_equal(r->peers[2].except[0].plen, 96);
	assert_true(r->peers[2].except[0].is_v4);
	assert_int_equal(r->peers[3].kind, NF_PK_NODES);
	assert_non_null(r->peers[3].node_sel);
	assert_int_equal(r->peers[3].node_sel->n_reqs, 1);
	assert_string_equal(r->peers[3].node_sel->reqs[0].key, "node-role");
	assert_null(r->peers[3].ns_sel);
	assert_int_equal(r->n_ports, 1);
	assert_port(&r->ports[0], IPPROTO_TCP, 443, 443, "");

	r = &p->rules[NF_DIR_EGRESS][1];
	assert_string_equal(r->name, "to-pods");
	assert_int_equal(r->action, NF_ACT_ACCEPT);
	assert_int_equal(r->n_peers, 1);
	pe = &r->peers[0];
	assert_int_equal(pe->kind, NF_PK_PODS);
	assert_true(pe->negate);		/* every tenant but kube-system */
	assert_int_equal(pe->n_names, 1);
	assert_string_equal(pe->names[0], "kube-system");
	assert_int_equal(pe->pod_sel->n_reqs, 1);
	policy__docset_free(ds);
}

static void test_cnp_baseline_ir(void **state)
{
	/* Pass is valid in the Baseline tier: upstream's CRD does not restrict it by tier. */
	struct nf_docset *ds = load_ok(CNP(
		"{'tier':'Baseline','priority':1000,'subject':{'pods':{'namespaceSelector':"
		"{'matchLabels':{'env':'prod'}},'podSelector':{'matchLabels':{'app':'web'}}}},"
		"'egress':[{'action':'Pass','to':[{'nodes':{}}]},"
		"{'action':'Deny','to':[{'networks':['0.0.0.0/0']}]}],"
		"'ingress':[]}"));
	const struct nf_policy *p = ds->cluster[0];

	assert_int_equal(p->tier, NF_TIER_BASELINE);
	assert_int_equal(p->priority, 1000);
	assert_int_equal(p->ns_subject->n_reqs, 1);
	assert_string_equal(p->ns_subject->reqs[0].key, "env");
	assert_non_null(p->subject);
	assert_int_equal(p->subject->n_reqs, 1);
	assert_string_equal(p->subject->reqs[0].key, "app");
	assert_false(p->has_dir[NF_DIR_INGRESS]);	/* no rules: does not affect ingress */
	assert_int_equal(p->n_rules[NF_DIR_INGRESS], 0);
	assert_true(p->has_dir[NF_DIR_EGRESS]);
	assert_int_equal(p->n_rules[NF_DIR_EGRESS], 2);
	assert_int_equal(p->rules[NF_DIR_EGRESS][0].action, NF_ACT_PASS);
	assert_int_equal(p->rules[NF_DIR_EGRESS][0].peers[0].kind, NF_PK_NODES);
	assert_int_equal(p->rules[NF_DIR_EGRESS][0].peers[0].node_sel->n_reqs, 0);
	assert_int_equal(p->rules[NF_DIR_EGRESS][1].action, NF_ACT_DENY);
	assert_cidr(&p->rules[NF_DIR_EGRESS][1].peers[0].cidr, "0.0.0.0/0");
	policy__docset_free(ds);

	/* subject pods with podSelector {} and no namespaceSelector: every pod */
	ds = load_ok(CNP("{'tier':'Baseline','priority':0,'subject':{'pods':{'podSelector':{}}},"
			 "'ingress':[{'action':'Deny','from':[{'namespaces':{}}]}]}"));
	p = ds->cluster[0];
	assert_int_equal(p->priority, 0);
	assert_non_null(p->ns_subject);
	assert_int_equal(p->ns_subject->n_reqs, 0);
	assert_null(p->subject);
	assert_true(p->has_dir[NF_DIR_INGRESS]);
	assert_false(p->has_dir[NF_DIR_EGRESS]);
	policy__docset_free(ds);
}

static void test_anp_ir(void **state)
{
	struct nf_docset *ds = load_ok(ANP(
		"{'priority':0,'subject':{'pods':{'namespaceSelector':{'matchLabels':{" NSNAME
		":'a'}},'podSelector':{}}},"
		"'ingress':[{'name':'allow-mon','action':'Allow','from':[{'pods':"
		"{'namespaceSelector':{'matchLabels':{" NSNAME ":'mon'}},'podSelector':{}}}],"
		"'ports':[{'portNumber':{'port':53}},{'portNumber':{'protocol':'UDP','port':53}},"
		"{'namedPort':'dns'},{'portRange':{'protocol':'SCTP','start':5,'end':5}},"
		"{'portRange':{'start':8000,'end':9000}}]}],"
		"'egress':[{'name':'pass','action':'Pass','to':[{'namespaces':{}}]},"
		"{'name':'deny','action':'Deny','to':[{'networks':['192.168.0.0/16']},"
		"{'nodes':{'matchExpressions':[{'key':'role','operator':'Exists'}]}}]}]}"));
	const struct nf_policy *p;
	const struct nf_rule *r;

	assert_int_equal(ds->n_cluster, 1);
	p = ds->cluster[0];
	assert_int_equal(p->cnp_kind, NF_CNP_ANP);
	assert_int_equal(p->tier, NF_TIER_ADMIN);
	assert_int_equal(p->priority, 0);
	assert_string_equal(p->name, "a");
	assert_int_equal(p->ns_subject->n_reqs, 1);
	assert_null(p->subject);
	r = &p->rules[NF_DIR_INGRESS][0];
	assert_string_equal(r->name, "allow-mon");
	assert_int_equal(r->action, NF_ACT_ACCEPT);
	assert_int_equal(r->n_peers, 1);
	assert_int_equal(r->peers[0].kind, NF_PK_TENANTS);
	assert_int_equal(r->peers[0].n_names, 1);
	assert_string_equal(r->peers[0].names[0], "mon");
	assert_int_equal(r->n_ports, 5);
	assert_port(&r->ports[0], IPPROTO_TCP, 53, 53, "");	/* protocol defaults to TCP */
	assert_port(&r->ports[1], IPPROTO_UDP, 53, 53, "");
	assert_port(&r->ports[2], 0, 0, 0, "dns");
	assert_port(&r->ports[3], IPPROTO_SCTP, 5, 5, "");
	assert_port(&r->ports[4], IPPROTO_TCP, 8000, 9000, "");
	r = &p->rules[NF_DIR_EGRESS][0];
	assert_string_equal(r->name, "pass");
	assert_int_equal(r->action, NF_ACT_PASS);
	r = &p->rules[NF_DIR_EGRESS][1];
	assert_int_equal(r->action, NF_ACT_DENY);
	assert_int_equal(r->n_peers, 2);
	assert_int_equal(r->peers[0].kind, NF_PK_IPBLOCK);
	assert_cidr(&r->peers[0].cidr, "192.168.0.0/16");
	assert_int_equal(r->peers[1].kind, NF_PK_NODES);
	assert_int_equal(r->peers[1].node_sel->reqs[0].op, NF_SEL_EXISTS);
	policy__docset_free(ds);
}

static void test_banp_ir(void **state)
{
	struct nf_docset *ds = load_ok(BANP(
		"{'subject':{'namespaces':{'matchExpressions':[{'key':'tier','operator':'In',"
		"'values':['x','y']}]}},"
		"'ingress':[{'name':'deny-all','action':'Deny','from':[{'namespaces':{}}]}],"
		"'egress':[{'action':'Allow','to':[{'pods':{'namespaceSelector':{},"
		"'podSelector':{'matchLabels':{'k':'v'}}}}],'ports':[{'portNumber':"
		"{'protocol':'TCP','port':443}}]}]}"));
	const struct nf_policy *p = ds->cluster[0];

	assert_int_equal(p->cnp_kind, NF_CNP_BANP);
	assert_int_equal(p->tier, NF_TIER_BASELINE);
	assert_int_equal(p->priority, 0);
	assert_string_equal(p->name, "default");
	assert_int_equal(p->ns_subject->n_reqs, 1);
	assert_int_equal(p->ns_subject->reqs[0].n_values, 2);
	assert_null(p->subject);
	assert_string_equal(p->rules[NF_DIR_INGRESS][0].name, "deny-all");
	assert_int_equal(p->rules[NF_DIR_INGRESS][0].action, NF_ACT_DENY);
	assert_int_equal(p->rules[NF_DIR_EGRESS][0].action, NF_ACT_ACCEPT);
	assert_int_equal(p->rules[NF_DIR_EGRESS][0].peers[0].kind, NF_PK_PODS);
	assert_port(&p->rules[NF_DIR_EGRESS][0].ports[0], IPPROTO_TCP, 443, 443, "");
	assert_non_null(strstr(p->json, "\"kind\":\"BaselineAdminNetworkPolicy\""));
	policy__docset_free(ds);
}

/* A peer with no field netfence knows: Accept -> matches nothing; Deny/Pass -> Deny all. */
static void test_fail_closed(void **state)
{
	struct nf_docset *ds = load_ok(ADMIN(
		"'ingress':[{'name':'acc','action':'Accept','from':[{},{'namespaces':{}},"
		"{'futurePeer':{'x':1}}],'protocols':[{'tcp':{'destinationPort':{'number':1}}}]},"
		"{'name':'den','action':'Deny','from':[{'namespaces':{}},{'futurePeer':{}}],"
		"'protocols':[{'tcp':{'destinationPort':{'number':1}}}]},"
		"{'action':'Pass','from':[{}]}],"
		"'egress':[{'action':'Pass','to':[{'networks':['10.0.0.0/8']},{'nope':null,"
		"'newer':[]}],'protocols':[{'udp':{'destinationPort':{'number':53}}}]}]"));
	const struct nf_policy *p = ds->cluster[0];
	const struct nf_rule *r;

	r = &p->rules[NF_DIR_INGRESS][0];
	assert_string_equal(r->name, "acc");
	assert_int_equal(r->action, NF_ACT_ACCEPT);
	assert_int_equal(r->n_peers, 3);
	assert_int_equal(r->peers[0].kind, NF_PK_NONE);
	assert_int_equal(r->peers[1].kind, NF_PK_TENANTS);
	assert_int_equal(r->peers[2].kind, NF_PK_NONE);
	assert_int_equal(r->n_ports, 1);
	r = &p->rules[NF_DIR_INGRESS][1];
	assert_string_equal(r->name, "den");	/* the name stays (for check) */
	assert_int_equal(r->action, NF_ACT_DENY);
	assert_int_equal(r->n_peers, 0);
	assert_null(r->peers);
	assert_int_equal(r->n_ports, 0);
	assert_null(r->ports);
	r = &p->rules[NF_DIR_INGRESS][2];	/* Pass -> Deny all */
	assert_null(r->name);
	assert_int_equal(r->action, NF_ACT_DENY);
	assert_int_equal(r->n_peers, 0);
	assert_int_equal(r->n_ports, 0);
	r = &p->rules[NF_DIR_EGRESS][0];
	assert_int_equal(r->action, NF_ACT_DENY);
	assert_int_equal(r->n_peers, 0);
	assert_int_equal(r->n_ports, 0);
	policy__docset_free(ds);

	/* v1alpha1 the same: Allow keeps the rule, Deny becomes Deny all */
	ds = load_ok(BANPR("'ingress':[{'action':'Allow','from':[{}]},"
			   "{'action':'Deny','from':[{'pods':{'namespaceSelector':{},"
			   "'podSelector':{}}},{'later':{}}],'ports':[{'namedPort':'x'}]}]"));
	p = ds->cluster[0];
	assert_int_equal(p->rules[NF_DIR_INGRESS][0].action, NF_ACT_ACCEPT);
	assert_int_equal(p->rules[NF_DIR_INGRESS][0].n_peers, 1);
	assert_int_equal(p->rules[NF_DIR_INGRESS][0].peers[0].kind, NF_PK_NONE);
	assert_int_equal(p->rules[NF_DIR_INGRESS][1].action, NF_ACT_DENY);
	assert_int_equal(p->rules[NF_DIR_INGRESS][1].n_peers, 0);
	assert_int_equal(p->rules[NF_DIR_INGRESS][1].n_ports, 0);
	policy__docset_free(ds);
}

static void test_node_ir(void **state)
{
	struct nf_docset *ds = load_ok(NODE(
		"'metadata':{'name':'node-1.example','labels':{'role':'cp','zone':''},"
		"'uid':'x'},'spec':{'podCIDR':'10.244.0.0/24'},"
		"'status':{'addresses':[{'type':'Hostname','address':'node-1'},"
		"{'type':'InternalIP','address':'10.0.0.1'},"
		"{'type':'ExternalIP','address':'2001:db8::1'},"
		"{'type':'ExternalIP','address':'10.0.0.1'},"
		"{'type':'InternalDNS','address':'not an address'}],'capacity':{}}"));
	const struct nf_node_obj *n;
	char buf[64];

	assert_int_equal(ds->n_nodes, 1);
	assert_int_equal(ds->n_cluster, 0);
	n = ds->nodes[0];
	assert_string_equal(n->name, "node-1.example");
	assert_string_equal(n->file, "t.json");
	assert_int_equal(n->labels.n, 2);
	assert_string_equal(nf_labels_get(&n->labels, "role"), "cp");
	assert_string_equal(nf_labels_get(&n->labels, "zone"), "");
	assert_int_equal(n->n_addrs, 2);	/* the repeated address once */
	assert_int_equal(n->addrs[0].plen, 128);
	assert_true(n->addrs[0].is_v4);
	nf_format_addr(n->addrs[0].addr, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.1");
	assert_false(n->addrs[1].is_v4);
	nf_format_addr(n->addrs[1].addr, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");
	assert_string_equal(n->json, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":"
			    "{\"name\":\"node-1.example\",\"labels\":{\"role\":\"cp\",\"zone\":"
			    "\"\"}},\"status\":{\"addresses\":[{\"type\":\"InternalIP\","
			    "\"address\":\"10.0.0.1\"},{\"type\":\"ExternalIP\",\"address\":"
			    "\"2001:db8::1\"}]}}");
	policy__docset_free(ds);

	/* no usable address: valid, selects nothing */
	ds = load_ok(NODE("'metadata':{'name':'n'},'status':{'addresses':[{'type':'Hostname',"
			  "'address':'n'}]}"));
	assert_int_equal(ds->n_nodes, 1);
	assert_int_equal(ds->nodes[0]->n_addrs, 0);
	assert_int_equal(ds->nodes[0]->labels.n, 0);
	assert_string_equal(ds->nodes[0]->json, "{\"apiVersion\":\"v1\",\"kind\":\"Node\","
			    "\"metadata\":{\"name\":\"n\"}}");
	policy__docset_free(ds);
}

/* A v1 List mixing every kind, and the typed lists (whose items may leave out kind). */
static void test_lists(void **state)
{
	struct nf_docset *ds = policy__docset_new();
	size_t i;

	assert_non_null(ds);
	assert_int_equal(policy__load_path(ds, "tests/unit/data/cluster-policies-list.json"), 0);
	for (i = 0; i < ds->n_problems; i++)
		fprintf(stderr, "%s\n", ds->problems[i]);
	assert_int_equal(ds->n_problems, 0);
	assert_int_equal(ds->n_cluster, 3);
	assert_int_equal(ds->cluster[0]->cnp_kind, NF_CNP_V1ALPHA2);
	assert_int_equal(ds->cluster[1]->cnp_kind, NF_CNP_ANP);
	assert_int_equal(ds->cluster[2]->cnp_kind, NF_CNP_BANP);
	assert_int_equal(ds->n_nodes, 1);
	assert_int_equal(ds->n_policies, 1);
	assert_int_equal(ds->n_namespaces, 1);
	for (i = 0; i < ds->n_cluster; i++)
		assert_string_equal(ds->cluster[i]->file,
				    "tests/unit/data/cluster-policies-list.json");
	policy__check_duplicates(ds);
	assert_int_equal(ds->n_problems, 0);	/* a CNP and an ANP may share a name */
	policy__docset_free(ds);

	ds = load_ok("{'apiVersion':'policy.networking.k8s.io/v1alpha2','kind':"
		     "'ClusterNetworkPolicyList','metadata':{},'items':[{'metadata':{'name':'x'},"
		     "'spec':{'tier':'Admin','priority':1,'subject':{'namespaces':{}}}}]}");
	assert_int_equal(ds->n_cluster, 1);
	assert_non_null(strstr(ds->cluster[0]->json, "\"kind\":\"ClusterNetworkPolicy\""));
	assert_non_null(strstr(ds->cluster[0]->json,
			       "\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\""));
	assert_false(ds->cluster[0]->has_dir[NF_DIR_INGRESS]);
	assert_false(ds->cluster[0]->has_dir[NF_DIR_EGRESS]);
	policy__docset_free(ds);

	ds = load_ok("{'apiVersion':'policy.networking.k8s.io/v1alpha1','kind':"
		     "'AdminNetworkPolicyList','items':[{'metadata':{'name':'x'},'spec':"
		     "{'priority':1,'subject':{'namespaces':{}}}}]}");
	assert_int_equal(ds->cluster[0]->cnp_kind, NF_CNP_ANP);
	policy__docset_free(ds);
	ds = load_ok("{'apiVersion':'policy.networking.k8s.io/v1alpha1','kind':"
		     "'BaselineAdminNetworkPolicyList','items':[{'metadata':{'name':'default'},"
		     "'spec':{'subject':{'namespaces':{}}}}]}");
	assert_int_equal(ds->cluster[0]->cnp_kind, NF_CNP_BANP);
	policy__docset_free(ds);
	ds = load_ok("{'apiVersion':'v1','kind':'NodeList','items':[{'metadata':{'name':'a'}},"
		     "{'metadata':{'name':'b'}}]}");
	assert_int_equal(ds->n_nodes, 2);
	policy__docset_free(ds);
}

static void test_duplicates(void **state)
{
	static const char *const want[] = {
		"b.json: metadata.name: ClusterNetworkPolicy \"c\" is defined twice (also in "
		"a.json)",
		"b.json: metadata.name: AdminNetworkPolicy \"a\" is defined twice (also in a.json)",
		"b.json: metadata.name: BaselineAdminNetworkPolicy \"default\" is defined twice "
		"(also in a.json)",
		"b.json: metadata.name: Node \"n\" is defined twice (also in a.json)",
		NULL,
	};
	static const char *const docs[] = {
		ADMIN("'ingress':[]"), ANPR("'egress':[]"), BANPR("'egress':[]"),
		NODE("'metadata':{'name':'n'}"),
		/* same name, other kind: not a duplicate */
		"{" ANP_API ",'metadata':{'name':'c'},'spec':{'priority':1,'subject':"
		"{'namespaces':{}}}}",
	};
	struct nf_docset *ds = policy__docset_new();
	const char *files[] = { "a.json", "b.json" };
	size_t f, i;

	assert_non_null(ds);
	for (f = 0; f < 2; f++)
		for (i = 0; i < sizeof(docs) / sizeof(docs[0]) - (f == 1); i++) {
			char *t = pt_unquote(docs[i]);

			assert_int_equal(policy__load_json(ds, files[f], t, strlen(t)), 0);
			free(t);
		}
	assert_int_equal(ds->n_problems, 0);
	policy__check_duplicates(ds);
	pt_check_problems("duplicates", ds, want);
	policy__docset_free(ds);
}

/* policy__dup copies everything a cluster policy holds (valgrind checks the frees). */
static void test_dup(void **state)
{
	struct nf_docset *ds = load_ok(CNP(
		"{'tier':'Baseline','priority':7,'subject':{'pods':{'namespaceSelector':"
		"{'matchLabels':{'e':'p'}},'podSelector':{'matchLabels':{'a':'w'}}}},"
		"'egress':[{'name':'r0','action':'Pass','to':[{'nodes':{'matchLabels':{'n':'1'}}},"
		"{'networks':['::/0']},{'pods':{'podSelector':{'matchLabels':{'x':'y'}}}}],"
		"'protocols':[{'tcp':{'destinationPort':{'number':5}}}]},"
		"{'action':'Accept','to':[{'bogus':1}]}]}"));
	const struct nf_policy *p = ds->cluster[0];
	struct nf_policy *d = policy__dup(p);
	const struct nf_rule *r;

	assert_non_null(d);
	assert_int_equal(d->cnp_kind, NF_CNP_V1ALPHA2);
	assert_int_equal(d->tier, NF_TIER_BASELINE);
	assert_int_equal(d->priority, 7);
	assert_null(d->tenant);
	assert_string_equal(d->json, p->json);
	assert_ptr_not_equal(d->ns_subject, p->ns_subject);
	assert_string_equal(d->ns_subject->reqs[0].key, "e");
	assert_string_equal(d->subject->reqs[0].key, "a");
	assert_false(d->has_dir[NF_DIR_INGRESS]);
	assert_true(d->has_dir[NF_DIR_EGRESS]);
	assert_int_equal(d->n_rules[NF_DIR_EGRESS], 2);
	r = &d->rules[NF_DIR_EGRESS][0];
	assert_ptr_not_equal(r->name, p->rules[NF_DIR_EGRESS][0].name);
	assert_string_equal(r->name, "r0");
	assert_int_equal(r->action, NF_ACT_PASS);
	assert_int_equal(r->n_peers, 3);
	assert_int_equal(r->peers[0].kind, NF_PK_NODES);
	assert_ptr_not_equal(r->peers[0].node_sel, p->rules[NF_DIR_EGRESS][0].peers[0].node_sel);
	assert_string_equal(r->peers[0].node_sel->reqs[0].key, "n");
	assert_int_equal(r->peers[1].n_except, 1);
	assert_int_equal(r->peers[2].kind, NF_PK_PODS);
	assert_port(&r->ports[0], IPPROTO_TCP, 5, 5, "");
	r = &d->rules[NF_DIR_EGRESS][1];
	assert_null(r->name);
	assert_int_equal(r->action, NF_ACT_ACCEPT);
	assert_int_equal(r->peers[0].kind, NF_PK_NONE);
	policy__free(d);
	policy__docset_free(ds);
}

/* ---- validation: one case per rule, the exact problem lines ---- */

struct pcase {
	const char *name;
	const char *json;
	const char *want[6];	/* exact problem lines, NULL-terminated; none: valid */
};

#define NAME101 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaa"
/* 100 two-byte characters: 200 bytes, 100 characters (valid) */
#define E10 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define NAME100U E10 E10 E10 E10 E10 E10 E10 E10 E10 E10
#define IN0 P "spec.ingress[0]."
#define EG0 P "spec.egress[0]."
#define NSALL "{'namespaces':{}}"

static const struct pcase cases[] = {
	/* metadata, apiVersion, kinds */
	{ "priority 1001", CNP("{'tier':'Admin','priority':1001,'subject':{'namespaces':{}}}"),
	  { P "spec.priority: 1001 must be between 0 and 1000, inclusive" } },
	{ "priority -1", CNP("{'tier':'Admin','priority':-1,'subject':{'namespaces':{}}}"),
	  { P "spec.priority: -1 must be between 0 and 1000, inclusive" } },
	{ "priority missing", CNP("{'tier':'Admin','subject':{'namespaces':{}}}"),
	  { P "spec.priority: is required" } },
	{ "priority type", CNP("{'tier':'Admin','priority':'1','subject':{'namespaces':{}}}"),
	  { P "spec.priority: must be an integer, got string" } },
	{ "ANP priority 1001", ANP("{'priority':1001,'subject':{'namespaces':{}}}"),
	  { P "spec.priority: 1001 must be between 0 and 1000, inclusive" } },
	{ "ANP priority missing", ANP("{'subject':{'namespaces':{}}}"),
	  { P "spec.priority: is required" } },
	{ "BANP priority", BANP("{'priority':1,'subject':{'namespaces':{}}}"),
	  { P "spec: unknown field \"priority\"" } },
	{ "ANP tier", ANP("{'tier':'Admin','priority':1,'subject':{'namespaces':{}}}"),
	  { P "spec: unknown field \"tier\"" } },
	{ "tier Foo", CNP("{'tier':'Foo','priority':1,'subject':{'namespaces':{}}}"),
	  { P "spec.tier: \"Foo\" is not supported (must be Admin or Baseline)" } },
	{ "tier missing", CNP("{'priority':1,'subject':{'namespaces':{}}}"),
	  { P "spec.tier: is required" } },
	{ "spec missing", "{" CNP_API ",'metadata':{'name':'c'}}", { P "spec: is required" } },
	{ "spec unknown field", ADMIN("'policyTypes':['Ingress']"),
	  { P "spec: unknown field \"policyTypes\"" } },
	{ "top unknown field", "{" CNP_API ",'metadata':{'name':'c'},'spec':{'tier':'Admin',"
	  "'priority':1,'subject':{'namespaces':{}}},'extra':1}",
	  { P "(root): unknown field \"extra\"" } },
	{ "status ignored", "{" CNP_API ",'metadata':{'name':'c'},'spec':{'tier':'Admin',"
	  "'priority':1,'subject':{'namespaces':{}}},'status':{'conditions':[{'x':1}]}}", {} },
	{ "name invalid", "{" CNP_API ",'metadata':{'name':'Bad'},'spec':{'tier':'Admin',"
	  "'priority':1,'subject':{'namespaces':{}}}}",
	  { P "metadata.name: \"Bad\" " DNS_SUB } },
	{ "name subdomain", "{" CNP_API ",'metadata':{'name':'a.b-c'},'spec':{'tier':'Admin',"
	  "'priority':1,'subject':{'namespaces':{}}}}", {} },
	{ "name missing", "{" CNP_API ",'metadata':{},'spec':{'tier':'Admin',"
	  "'priority':1,'subject':{'namespaces':{}}}}", { P "metadata.name: is required" } },
	{ "apiVersion of ANP on CNP", "{'apiVersion':'policy.networking.k8s.io/v1alpha1',"
	  "'kind':'ClusterNetworkPolicy','metadata':{'name':'c'},'spec':{'tier':'Admin',"
	  "'priority':1,'subject':{'namespaces':{}}}}",
	  { P "apiVersion: \"policy.networking.k8s.io/v1alpha1\" is not supported for kind "
	      "ClusterNetworkPolicy (expected \"policy.networking.k8s.io/v1alpha2\")" } },
	{ "BANP name", "{" BANP_API ",'metadata':{'name':'foo'},'spec':{'subject':"
	  "{'namespaces':{}}}}",
	  { P "metadata.name: \"foo\" must be \"default\" (a cluster has one "
	      "BaselineAdminNetworkPolicy, named default)" } },
	{ "CNP in a NodeList", "{'apiVersion':'v1','kind':'NodeList','items':["
	  ADMIN("'ingress':[]") "]}",
	  { P "items[0].kind: \"ClusterNetworkPolicy\" is not supported in a NodeList "
	      "(expected Node)" } },

	/* subject */
	{ "no subject", CNP("{'tier':'Admin','priority':1}"), { P "spec.subject: is required" } },
	{ "empty subject", CNP("{'tier':'Admin','priority':1,'subject':{}}"),
	  { P "spec.subject: must specify exactly one of namespaces or pods" } },
	{ "two fields in subject", CNP("{'tier':'Admin','priority':1,'subject':"
	  "{'namespaces':{},'pods':{'podSelector':{}}}}"),
	  { P "spec.subject: must specify exactly one of namespaces or pods (got namespaces, "
	      "pods)" } },
	{ "subject unknown field", CNP("{'tier':'Admin','priority':1,'subject':"
	  "{'namespaces':{},'nodes':{}}}"),
	  { P "spec.subject: unknown field \"nodes\"" } },
	{ "subject pods without podSelector", CNP("{'tier':'Admin','priority':1,'subject':"
	  "{'pods':{'namespaceSelector':{}}}}"),
	  { P "spec.subject.pods.podSelector: is required" } },
	{ "ANP subject pods without namespaceSelector", ANP("{'priority':1,'subject':"
	  "{'pods':{'podSelector':{}}}}"),
	  { P "spec.subject.pods.namespaceSelector: is required" } },
	{ "subject selector", CNP("{'tier':'Admin','priority':1,'subject':"
	  "{'namespaces':{'matchLabels':{'-x':'y'}}}}"),
	  { P "spec.subject.namespaces.matchLabels: \"-x\" " LABEL_KEY } },

	/* rules */
	{ "action Allow in v1alpha2", ADMIN("'ingress':[{'action':'Allow','from':[" NSALL "]}]"),
	  { IN0 "action: \"Allow\" is not supported (must be Accept, Deny or Pass)" } },
	{ "action Accept in ANP", ANPR("'ingress':[{'action':'Accept','from':[" NSALL "]}]"),
	  { IN0 "action: \"Accept\" is not supported (must be Allow, Deny or Pass)" } },
	{ "action Pass in BANP", BANPR("'egress':[{'action':'Pass','to':[" NSALL "]}]"),
	  { EG0 "action: \"Pass\" is not supported (must be Allow or Deny)" } },
	{ "Pass in Baseline tier", CNP("{'tier':'Baseline','priority':1,'subject':"
	  "{'namespaces':{}},'ingress':[{'action':'Pass','from':[" NSALL "]}]}"), {} },
	{ "action missing", ADMIN("'ingress':[{'from':[" NSALL "]}]"),
	  { IN0 "action: is required" } },
	{ "rule name 101", ADMIN("'ingress':[{'name':'" NAME101 "','action':'Deny','from':["
	  NSALL "]}]"),
	  { IN0 "name: must be at most 100 characters, got 101" } },
	{ "ANP rule name 101", ANPR("'egress':[{'name':'" NAME101 "','action':'Deny','to':["
	  NSALL "]}]"),
	  { EG0 "name: must be at most 100 characters, got 101" } },
	{ "rule name 100 characters", ADMIN("'ingress':[{'name':'" NAME100U "','action':'Deny',"
	  "'from':[" NSALL "]}]"), {} },
	{ "rule name type", ADMIN("'ingress':[{'name':1,'action':'Deny','from':[" NSALL "]}]"),
	  { IN0 "name: must be a string, got integer" } },
	{ "from missing", ADMIN("'ingress':[{'action':'Deny'}]"), { IN0 "from: is required" } },
	{ "from empty", ADMIN("'ingress':[{'action':'Deny','from':[]}]"),
	  { IN0 "from: must have at least 1 item" } },
	{ "to in ingress", ADMIN("'ingress':[{'action':'Deny','to':[" NSALL "],'from':[" NSALL
	  "]}]"),
	  { P "spec.ingress[0]: unknown field \"to\"" } },
	{ "v1alpha1 ports in v1alpha2", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'ports':[{'portNumber':{'port':1}}]}]"),
	  { P "spec.ingress[0]: unknown field \"ports\"" } },
	{ "rules not an array", ADMIN("'ingress':{}"),
	  { P "spec.ingress: must be an array, got object" } },

	/* peers */
	{ "two fields in a peer", ADMIN("'ingress':[{'action':'Deny','from':[{'namespaces':{},"
	  "'pods':{'podSelector':{}}}]}]"),
	  { IN0 "from[0]: must specify exactly one of namespaces or pods (got \"namespaces\", "
	      "\"pods\")" } },
	{ "known and unknown field in a peer", ADMIN("'egress':[{'action':'Accept','to':"
	  "[{'networks':['10.0.0.0/8'],'future':{}}]}]"),
	  { EG0 "to[0]: must specify exactly one of namespaces, pods, networks or nodes (got "
	      "\"networks\", \"future\")" } },
	{ "networks in ingress", ADMIN("'ingress':[{'action':'Deny','from':[{'networks':"
	  "['10.0.0.0/8']}]}]"),
	  { IN0 "from[0].networks: is not allowed in an ingress peer (only namespaces or "
	      "pods)" } },
	{ "nodes in ingress", ANPR("'ingress':[{'action':'Deny','from':[{'nodes':{}}]}]"),
	  { IN0 "from[0].nodes: is not allowed in an ingress peer (only namespaces or pods)" } },
	{ "domainNames", ADMIN("'egress':[{'action':'Accept','to':[{'domainNames':"
	  "['example.com']}]}]"),
	  { EG0 "to[0].domainNames: is not supported by netfence (it does not match traffic "
	      "by domain name)" } },
	{ "ANP domainNames", ANPR("'egress':[{'action':'Allow','to':[{'domainNames':"
	  "['*.example.com']}]}]"),
	  { EG0 "to[0].domainNames: is not supported by netfence (it does not match traffic "
	      "by domain name)" } },
	{ "bad CIDR", ADMIN("'egress':[{'action':'Deny','to':[{'networks':['10.0.0.0/8',"
	  "'10.0.0.0/33']}]}]"),
	  { EG0 "to[0].networks[1]: \"10.0.0.0/33\" is not a valid CIDR" } },
	{ "CIDR type", ADMIN("'egress':[{'action':'Deny','to':[{'networks':[10]}]}]"),
	  { EG0 "to[0].networks[0]: must be a string, got integer" } },
	{ "duplicate network", ADMIN("'egress':[{'action':'Deny','to':[{'networks':"
	  "['10.0.0.0/8','10.0.0.0/8']}]}]"),
	  { EG0 "to[0].networks[1]: duplicate value \"10.0.0.0/8\"" } },
	{ "networks empty", ADMIN("'egress':[{'action':'Deny','to':[{'networks':[]}]}]"),
	  { EG0 "to[0].networks: must have at least 1 item" } },
	{ "pods without podSelector", ADMIN("'egress':[{'action':'Deny','to':[{'pods':"
	  "{'namespaceSelector':{}}}]}]"),
	  { EG0 "to[0].pods.podSelector: is required" } },
	{ "ANP pods without namespaceSelector", ANPR("'egress':[{'action':'Deny','to':[{'pods':"
	  "{'podSelector':{}}}]}]"),
	  { EG0 "to[0].pods.namespaceSelector: is required" } },
	{ "pods unknown field", ADMIN("'egress':[{'action':'Deny','to':[{'pods':"
	  "{'podSelector':{},'nodeSelector':{}}}]}]"),
	  { EG0 "to[0].pods: unknown field \"nodeSelector\"" } },
	{ "nodes selector invalid", ADMIN("'egress':[{'action':'Deny','to':[{'nodes':"
	  "{'matchExpressions':[{'key':'a','operator':'Gt','values':['1']}]}}]}]"),
	  { EG0 "to[0].nodes.matchExpressions[0].operator: \"Gt\" is not a valid "
	      "operator (must be In, NotIn, Exists or DoesNotExist)" } },
	{ "tenant name in namespaces", ADMIN("'egress':[{'action':'Deny','to':[{'namespaces':"
	  "{'matchLabels':{" NSNAME ":'A'}}}]}]"),
	  { EG0 "to[0].namespaces.matchLabels: \"A\" is not a "
	      "valid tenant name (a DNS-1123 label: at most 63 lowercase letters, digits and "
	      "'-', starting and ending with a letter or digit)" } },
	{ "peer not an object", ADMIN("'egress':[{'action':'Deny','to':['x']}]"),
	  { EG0 "to[0]: must be an object, got string" } },

	/* ports */
	{ "port 0", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],'protocols':[{'tcp':"
	  "{'destinationPort':{'number':0}}}]}]"),
	  { IN0 "protocols[0].tcp.destinationPort.number: 0 must be between 1 and 65535, "
	      "inclusive" } },
	{ "port 65536", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],'protocols':"
	  "[{'udp':{'destinationPort':{'number':65536}}}]}]"),
	  { IN0 "protocols[0].udp.destinationPort.number: 65536 must be between 1 and 65535, "
	      "inclusive" } },
	{ "range start > end", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'tcp':{'destinationPort':{'range':{'start':90,'end':80}}}}]}]"),
	  { IN0 "protocols[0].tcp.destinationPort.range: start 90 must be less than end 80" } },
	{ "range start = end", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'sctp':{'destinationPort':{'range':{'start':80,'end':80}}}}]}]"),
	  { IN0 "protocols[0].sctp.destinationPort.range: start 80 must be less than end 80" } },
	{ "range end missing", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'tcp':{'destinationPort':{'range':{'start':1}}}}]}]"),
	  { IN0 "protocols[0].tcp.destinationPort.range.end: is required" } },
	{ "number and range", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'tcp':{'destinationPort':{'number':1,'range':{'start':1,'end':2}}}}]}]"),
	  { IN0 "protocols[0].tcp.destinationPort: must specify exactly one of number or range "
	      "(got number, range)" } },
	{ "tcp without destinationPort", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'tcp':{}}]}]"),
	  { IN0 "protocols[0].tcp: must specify destinationPort" } },
	{ "tcp and udp", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'tcp':{'destinationPort':{'number':1}},'udp':{'destinationPort':"
	  "{'number':1}}}]}]"),
	  { IN0 "protocols[0]: must specify exactly one of tcp, udp, sctp or "
	      "destinationNamedPort (got tcp, udp)" } },
	{ "protocol empty", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{}]}]"),
	  { IN0 "protocols[0]: must specify exactly one of tcp, udp, sctp or "
	      "destinationNamedPort" } },
	{ "protocol icmp", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'icmp':{}}]}]"),
	  { IN0 "protocols[0]: unknown field \"icmp\"",
	    IN0 "protocols[0]: must specify exactly one of tcp, udp, sctp or "
	        "destinationNamedPort" } },
	{ "protocols empty", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[]}]"),
	  { IN0 "protocols: must have at least 1 item" } },
	{ "bad named port", ADMIN("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'destinationNamedPort':'HTTP'}]}]"),
	  { IN0 "protocols[0].destinationNamedPort: \"HTTP\" " PORT_NAME } },
	{ "destinationNamedPort with networks", ADMIN("'egress':[{'action':'Deny','to':["
	  NSALL ",{'networks':['10.0.0.0/8']}],'protocols':[{'destinationNamedPort':'http'}]}]"),
	  { P "spec.egress[0]: destinationNamedPort " NAMED_NET } },
	{ "destinationNamedPort with nodes", ADMIN("'egress':[{'action':'Accept','to':["
	  "{'nodes':{}}],'protocols':[{'tcp':{'destinationPort':{'number':1}}},"
	  "{'destinationNamedPort':'http'}]}]"),
	  { P "spec.egress[0]: destinationNamedPort " NAMED_NET } },
	{ "destinationNamedPort with pods", ADMIN("'egress':[{'action':'Accept','to':["
	  "{'pods':{'podSelector':{}}}],'protocols':[{'destinationNamedPort':'http'}]}]"), {} },
	{ "ANP namedPort with nodes", ANPR("'egress':[{'action':'Allow','to':[{'nodes':{}}],"
	  "'ports':[{'namedPort':'http'}]}]"),
	  { P "spec.egress[0]: namedPort " NAMED_NET } },
	{ "ANP portRange start > end", ANPR("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'ports':[{'portRange':{'start':90,'end':80}}]}]"),
	  { IN0 "ports[0].portRange: start 90 must not be greater than end 80" } },
	{ "ANP port 0", ANPR("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'ports':[{'portNumber':{'port':0}}]}]"),
	  { IN0 "ports[0].portNumber.port: 0 must be between 1 and 65535, inclusive" } },
	{ "ANP port missing", ANPR("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'ports':[{'portNumber':{'protocol':'UDP'}}]}]"),
	  { IN0 "ports[0].portNumber.port: is required" } },
	{ "ANP protocol ICMP", ANPR("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'ports':[{'portNumber':{'protocol':'ICMP','port':1}}]}]"),
	  { IN0 "ports[0].portNumber.protocol: \"ICMP\" is not supported (must be TCP, UDP or "
	      "SCTP)" } },
	{ "ANP two port fields", ANPR("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'ports':[{'namedPort':'a','portNumber':{'port':1}}]}]"),
	  { IN0 "ports[0]: must specify exactly one of portNumber, namedPort or portRange (got "
	      "portNumber, namedPort)" } },
	{ "ANP protocols in v1alpha1", ANPR("'ingress':[{'action':'Deny','from':[" NSALL "],"
	  "'protocols':[{'tcp':{'destinationPort':{'number':1}}}]}]"),
	  { P "spec.ingress[0]: unknown field \"protocols\"" } },

	/* Node */
	{ "Node bad address", NODE("'metadata':{'name':'n'},'status':{'addresses':"
	  "[{'type':'InternalIP','address':'10.0.0.300'}]}"),
	  { P "status.addresses[0].address: \"10.0.0.300\" is not a valid IP address" } },
	{ "Node address missing", NODE("'metadata':{'name':'n'},'status':{'addresses':"
	  "[{'type':'ExternalIP'}]}"),
	  { P "status.addresses[0].address: is required" } },
	{ "Node address type missing", NODE("'metadata':{'name':'n'},'status':{'addresses':"
	  "[{'address':'10.0.0.1'}]}"),
	  { P "status.addresses[0].type: is required" } },
	{ "Node bad label", NODE("'metadata':{'name':'n','labels':{'a b':'c'}}"),
	  { P "metadata.labels: \"a b\" " LABEL_KEY } },
	{ "Node bad name", NODE("'metadata':{'name':'N_1'}"),
	  { P "metadata.name: \"N_1\" " DNS_SUB } },
	{ "Node addresses type", NODE("'metadata':{'name':'n'},'status':{'addresses':{}}"),
	  { P "status.addresses: must be an array, got object" } },
	{ "Node apiVersion", "{'apiVersion':'v2','kind':'Node','metadata':{'name':'n'}}",
	  { P "apiVersion: \"v2\" is not supported for kind Node (expected \"v1\")" } },
};

static void test_cases(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *k = &cases[i];
		struct nf_docset *ds = load(k->json);

		pt_check_problems(k->name, ds, k->want);
		/* an object with a problem is not kept */
		if (k->want[0])
			assert_int_equal(ds->n_cluster + ds->n_nodes, 0);
		else
			assert_int_equal(ds->n_cluster + ds->n_nodes, 1);
		policy__docset_free(ds);
	}
}

/* A document of `rules` rules per direction and `peers` peers per rule (ADMIN / ANPR shape). */
static char *gen(bool anp, size_t rules, size_t peers, size_t nets)
{
	size_t cap = 64 + rules * (64 + peers * 24) + nets * 24, o = 0, i, j;
	char *s = malloc(cap);

	assert_non_null(s);
	o += (size_t)snprintf(s + o, cap - o, anp ? "{" ANP_API ",'metadata':{'name':'a'},"
			      "'spec':{'priority':1," : "{" CNP_API ",'metadata':{'name':'c'},"
			      "'spec':{'tier':'Admin','priority':1,");
	o += (size_t)snprintf(s + o, cap - o, "'subject':{'namespaces':{}},'egress':[");
	for (i = 0; i < rules; i++) {
		o += (size_t)snprintf(s + o, cap - o, "%s{'action':'Deny','to':[", i ? "," : "");
		for (j = 0; j < peers; j++)
			o += (size_t)snprintf(s + o, cap - o, "%s{'namespaces':{}}", j ? "," : "");
		if (nets) {
			o += (size_t)snprintf(s + o, cap - o, "%s{'networks':[", peers ? "," : "");
			for (j = 0; j < nets; j++)
				o += (size_t)snprintf(s + o, cap - o, "%s'10.%zu.0.0/16'",
						      j ? "," : "", j);
			o += (size_t)snprintf(s + o, cap - o, "]}");
		}
		o += (size_t)snprintf(s + o, cap - o, "]}");
	}
	snprintf(s + o, cap - o, "]}}");
	assert_true(o < cap - 4);
	return s;
}

static void check_gen(bool anp, size_t rules, size_t peers, size_t nets, const char *line)
{
	const char *want[] = { line, NULL };
	char *s = gen(anp, rules, peers, nets);
	struct nf_docset *ds = load(s);

	pt_check_problems(s, ds, want);
	if (!line) {
		assert_int_equal(ds->n_cluster, 1);
		assert_int_equal(ds->cluster[0]->n_rules[NF_DIR_EGRESS], rules);
		assert_int_equal(ds->cluster[0]->rules[NF_DIR_EGRESS][0].n_peers, peers + nets);
	}
	policy__docset_free(ds);
	free(s);
}

/* The upstream list limits: exactly at the limit is valid, one more is not. */
static void test_limits(void **state)
{
	check_gen(false, 25, 1, 0, NULL);
	check_gen(false, 26, 1, 0, P "spec.egress: must have at most 25 items, got 26");
	check_gen(false, 1, 24, 25, NULL);	/* 25 peers, the last with 25 networks */
	check_gen(false, 1, 26, 0, P "spec.egress[0].to: must have at most 25 items, got 26");
	check_gen(false, 1, 0, 26, P "spec.egress[0].to[0].networks: must have at most 25 "
		  "items, got 26");
	check_gen(true, 100, 1, 0, NULL);
	check_gen(true, 101, 1, 0, P "spec.egress: must have at most 100 items, got 101");
	check_gen(true, 1, 100, 0, NULL);
	check_gen(true, 1, 101, 0, P "spec.egress[0].to: must have at most 100 items, got 101");
}

/* netfence validate counts cluster policies and nodes. */
static void test_cli(void **state)
{
	char out[4096];
	FILE *p;
	size_t n;

	if (access("build/netfence", X_OK)) {
		skip();
		return;
	}
	p = popen("build/netfence validate tests/unit/data/cluster-policies-list.json 2>&1", "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(WEXITSTATUS(pclose(p)), 0);
	assert_string_equal(out, "valid: 1 policy, 0 tenants, 0 pods, 1 namespace, "
			    "3 cluster policies, 1 node\n");
	p = popen("echo '{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\",\"kind\":"
		  "\"ClusterNetworkPolicy\",\"metadata\":{\"name\":\"c\"},\"spec\":{\"tier\":"
		  "\"Admin\",\"priority\":1,\"subject\":{\"namespaces\":{}},\"egress\":[{"
		  "\"action\":\"Deny\",\"to\":[{\"domainNames\":[\"a.b\"]}]}]}}' | "
		  "build/netfence validate - 2>&1 >/dev/null", "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(WEXITSTATUS(pclose(p)), 2);
	assert_string_equal(out, "<stdin>: spec.egress[0].to[0].domainNames: is not supported by "
			    "netfence (it does not match traffic by domain name)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cnp_admin_ir),
		cmocka_unit_test(test_cnp_baseline_ir),
		cmocka_unit_test(test_anp_ir),
		cmocka_unit_test(test_banp_ir),
		cmocka_unit_test(test_fail_closed),
		cmocka_unit_test(test_node_ir),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_cli),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
