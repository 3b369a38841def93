// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster policies (SPEC §13), three kinds of one shape, validated as their
 * CRDs are (kubernetes-sigs/network-policy-api, apis/v1alpha2 and
 * apis/v1alpha1; the OpenAPI and CEL rules of config/crd):
 *   ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): spec.tier
 *     (Admin, Baseline), spec.priority (0-1000), rules of at most 25 with
 *     actions Accept, Deny, Pass, ports as `protocols`;
 *   AdminNetworkPolicy (v1alpha1): the Admin tier, spec.priority, at most
 *     100 rules, actions Allow (= Accept), Deny, Pass, ports as `ports`;
 *   BaselineAdminNetworkPolicy (v1alpha1): the Baseline tier, priority 0,
 *     named "default", actions Allow and Deny.
 * All three: spec.subject (exactly one of `namespaces` or `pods`), ingress
 * rules `from` namespaces/pods peers, egress rules `to` namespaces, pods,
 * networks (CIDRs) and nodes peers; rules keep their order and optional
 * name. `domainNames` peers are rejected (netfence does not resolve names).
 * A peer with no field netfence knows (a newer API's) "fails closed" as
 * upstream asks: in an Accept rule it matches nothing (NF_PK_NONE); a Deny
 * or Pass rule with one becomes "Deny all" (no peers, no ports). Every other
 * unknown field is a problem. Pass is accepted in the Baseline tier of a
 * v1alpha2 policy: upstream's CRD allows it (no rule restricts it by tier).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

#define RULE_NAME_MAX		100	/* rules[].name: maxLength 100 */
#define MAX_NETWORKS		25	/* egress peer networks: maxItems 25 */
#define MAX_PROTOCOLS		25	/* v1alpha2 protocols: maxItems 25 */
#define MAX_PORTS_V1		100	/* v1alpha1 ports: maxItems 100 */
#define PRIORITY_MAX		1000

/* What differs between the three kinds. */
struct flavor {
	const struct nf_kind *kind;
	enum nf_cnp_kind cnp_kind;
	bool v1alpha2;		/* tier, protocols, Accept, optional namespaceSelector */
	bool has_priority;
	size_t max_rules;	/* per direction */
	size_t max_peers;	/* from/to */
	const char *const *actions;	/* indexed by enum nf_action; NULL: not allowed */
	const char *actions_msg;
	const char *const *spec_fields;
};

static const char *const top_fields[] = { "apiVersion", "kind", "metadata", "spec", "status",
					  NULL };
static const char *const cnp_spec_fields[] = { "tier", "priority", "subject", "ingress", "egress",
					       NULL };
static const char *const anp_spec_fields[] = { "priority", "subject", "ingress", "egress", NULL };
static const char *const banp_spec_fields[] = { "subject", "ingress", "egress", NULL };
static const char *const subject_fields[] = { "namespaces", "pods", NULL };
static const char *const nspod_fields[] = { "namespaceSelector", "podSelector", NULL };
/* v1alpha2 */
static const char *const cnp_rule_fields[NF_DIR_MAX][5] = {
	{ "name", "action", "from", "protocols", NULL },
	{ "name", "action", "to", "protocols", NULL },
};
static const char *const protocol_fields[] = { "tcp", "udp", "sctp", "destinationNamedPort",
					       NULL };
static const char *const l4_fields[] = { "destinationPort", NULL };
static const char *const dport_fields[] = { "number", "range", NULL };
static const char *const range_fields[] = { "start", "end", NULL };
/* v1alpha1 */
static const char *const anp_rule_fields[NF_DIR_MAX][5] = {
	{ "name", "action", "from", "ports", NULL },
	{ "name", "action", "to", "ports", NULL },
};
static const char *const anp_port_fields[] = { "portNumber", "namedPort", "portRange", NULL };
static const char *const port_number_fields[] = { "protocol", "port", NULL };
static const char *const port_range_fields[] = { "protocol", "start", "end", NULL };
/* Every peer field of any version, in the order messages list them. */
static const char *const peer_fields[] = { "namespaces", "pods", "networks", "nodes",
					   "domainNames", NULL };

static const char *const peer_keys[NF_DIR_MAX] = { "from", "to" };
static const char *const dir_keys[NF_DIR_MAX] = { "ingress", "egress" };

static const char *const cnp_actions[] = {
	[NF_ACT_ACCEPT] = "Accept", [NF_ACT_DENY] = "Deny", [NF_ACT_PASS] = "Pass",
};
static const char *const anp_actions[] = {
	[NF_ACT_ACCEPT] = "Allow", [NF_ACT_DENY] = "Deny", [NF_ACT_PASS] = "Pass",
};
static const char *const banp_actions[] = {
	[NF_ACT_ACCEPT] = "Allow", [NF_ACT_DENY] = "Deny", [NF_ACT_PASS] = NULL,
};

static const struct flavor cnp_flavor = {
	.kind = &nf_kind_clusternetworkpolicy, .cnp_kind = NF_CNP_V1ALPHA2, .v1alpha2 = true,
	.has_priority = true, .max_rules = 25, .max_peers = 25, .actions = cnp_actions,
	.actions_msg = "Accept, Deny or Pass", .spec_fields = cnp_spec_fields,
};
static const struct flavor anp_flavor = {
	.kind = &nf_kind_adminnetworkpolicy, .cnp_kind = NF_CNP_ANP, .has_priority = true,
	.max_rules = 100, .max_peers = 100, .actions = anp_actions,
	.actions_msg = "Allow, Deny or Pass", .spec_fields = anp_spec_fields,
};
static const struct flavor banp_flavor = {
	.kind = &nf_kind_baselineadminnetworkpolicy, .cnp_kind = NF_CNP_BANP, .max_rules = 100,
	.max_peers = 100, .actions = banp_actions, .actions_msg = "Allow or Deny",
	.spec_fields = banp_spec_fields,
};

/* What a rule's parse learnt beyond the IR (for the checks across peers and ports). */
struct rule_info {
	bool action_ok;
	bool fail_closed;	/* a peer with no known field */
	bool addr_peer;		/* a networks or nodes peer */
	bool named_port;
};

/* ---- typed fields with the CRD's limits ---- */

/*
 * An array field with the CRD's minItems/maxItems; NULL when absent (reported
 * when required) or invalid.
 */
static json_t *list_field(struct pctx *c, json_t *obj, const char *key, size_t min, size_t max,
			  bool required)
{
	json_t *v = nfp_field(obj, key);
	size_t old = nfp_path_key(c, key), n;

	if (!v) {
		if (required)
			nfp_problem(c, "is required");
	} else if (!nfp_expect_type(c, v, JSON_ARRAY)) {
		v = NULL;
	} else if ((n = json_array_size(v)) < min) {
		nfp_problem(c, "must have at least %zu item%s", min, min == 1 ? "" : "s");
		v = NULL;
	} else if (n > max) {
		nfp_problem(c, "must have at most %zu items, got %zu", max, n);
		v = NULL;
	}
	nfp_path_pop(c, old);
	return v;
}

/* An integer field in [lo, hi]; false when absent (reported when required) or invalid. */
static bool int_field(struct pctx *c, json_t *obj, const char *key, json_int_t lo, json_int_t hi,
		      bool required, json_int_t *out)
{
	json_t *v = nfp_field(obj, key);
	size_t old = nfp_path_key(c, key);
	bool ok = false;

	if (!v) {
		if (required)
			nfp_problem(c, "is required");
	} else if (!nfp_expect_type(c, v, JSON_INTEGER)) {
		/* reported */
	} else if (json_integer_value(v) < lo || json_integer_value(v) > hi) {
		nfp_problem(c, "%" JSON_INTEGER_FORMAT " must be between %" JSON_INTEGER_FORMAT
			    " and %" JSON_INTEGER_FORMAT ", inclusive", json_integer_value(v), lo,
			    hi);
	} else {
		*out = json_integer_value(v);
		ok = true;
	}
	nfp_path_pop(c, old);
	return ok;
}

/* "a, b or c" of a NULL-ended list, in buf. */
static const char *join_or(const char *const *keys, char *buf, size_t len)
{
	size_t n = 0, i, o = 0;

	while (keys[n])
		n++;
	buf[0] = '\0';
	for (i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
				      !i ? "" : i == n - 1 ? " or " : ", ", keys[i]);
	return buf;
}

/*
 * The one field of a "exactly one of" object (MinProperties = MaxProperties
 * = 1): its index in keys, or -1 when none is set (reported when report_none),
 * -2 when several are (reported, naming them).
 */
static int one_of(struct pctx *c, json_t *obj, const char *const *keys, bool report_none)
{
	char list[256], got[256];
	size_t i, o = 0, n = 0;
	int idx = -1;

	got[0] = '\0';
	for (i = 0; keys[i]; i++) {
		if (!nfp_field(obj, keys[i]))
			continue;
		if (o < sizeof(got))
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s", n ? ", " : "",
					      keys[i]);
		n++;
		idx = (int)i;
	}
	if (n == 1)
		return idx;
	if (n > 1)
		nfp_problem(c, "must specify exactly one of %s (got %s)",
			    join_or(keys, list, sizeof(list)), got);
	else if (report_none)
		nfp_problem(c, "must specify exactly one of %s", join_or(keys, list, sizeof(list)));
	return n ? -2 : -1;
}

/* A selector field at the current object; *out NULL when absent (reported when required). */
static void selector_field(struct pctx *c, json_t *obj, const char *key, enum sel_kind kind,
			   bool required, struct nf_selector **out, struct tset *set,
			   bool *ns_labels)
{
	json_t *v = nfp_field(obj, key);
	size_t old = nfp_path_key(c, key);

	*out = NULL;
	if (v)
		nfp_parse_selector(c, v, kind, out, set, ns_labels);
	else if (required)
		nfp_problem(c, "is required");
	nfp_path_pop(c, old);
}

/*
 * A NamespacedPod {namespaceSelector, podSelector}: *ns (never NULL unless a
 * problem or out of memory: absent in v1alpha2 is {}, every namespace) and
 * *pod. set/ns_labels as for nfp_parse_selector (may be NULL).
 */
static void parse_namespaced_pod(struct pctx *c, json_t *obj, const struct flavor *fl,
				 struct nf_selector **ns, struct tset *set, bool *ns_labels,
				 struct nf_selector **pod)
{
	*ns = NULL;
	*pod = NULL;
	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, nspod_fields);
	selector_field(c, obj, "namespaceSelector", SEL_NAMESPACE, !fl->v1alpha2, ns, set,
		       ns_labels);
	/* absent in v1alpha2: every namespace (*set stays negate, no names) */
	if (!*ns && !nfp_field(obj, "namespaceSelector") && fl->v1alpha2)
		*ns = nfp_xcalloc(c, 1, sizeof(**ns));
	selector_field(c, obj, "podSelector", SEL_POD, true, pod, NULL, NULL);
}

/* ---- subject ---- */

static void parse_subject(struct pctx *c, json_t *obj, const struct flavor *fl,
			  struct nf_policy *p)
{
	struct nf_selector *pod = NULL;
	size_t old;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, subject_fields);
	switch (one_of(c, obj, subject_fields, true)) {
	case 0:
		selector_field(c, obj, "namespaces", SEL_NAMESPACE, true, &p->ns_subject, NULL,
			       NULL);
		break;
	case 1:
		old = nfp_path_key(c, "pods");
		parse_namespaced_pod(c, nfp_field(obj, "pods"), fl, &p->ns_subject, NULL, NULL,
				     &pod);
		nfp_path_pop(c, old);
		/* {} selects every pod of the selected namespaces: no subject selector */
		if (pod && pod->n_reqs)
			p->subject = pod;
		else
			nfp_selector_free(pod);
		break;
	}
}

/* ---- peers ---- */

/* A zeroed peer appended to r; NULL when out of memory. */
static struct nf_peer *new_peer(struct pctx *c, struct nf_rule *r, size_t *cap)
{
	struct nf_peer *pe;

	if (nfp_grow((void **)&r->peers, cap, r->n_peers + 1, sizeof(*r->peers))) {
		c->oom = true;
		return NULL;
	}
	pe = &r->peers[r->n_peers++];
	memset(pe, 0, sizeof(*pe));
	return pe;
}

/* networks: one NF_PK_IPBLOCK peer per CIDR (a set: no repeats). */
static void parse_networks(struct pctx *c, json_t *obj, struct nf_rule *r, size_t *cap)
{
	json_t *nets = list_field(c, obj, "networks", 1, MAX_NETWORKS, true);
	char q[QBUF_LEN];
	size_t i, j, old;

	if (!nets)
		return;
	old = nfp_path_key(c, "networks");
	for (i = 0; i < json_array_size(nets); i++) {
		json_t *v = json_array_get(nets, i);
		size_t o2 = nfp_path_index(c, i);
		struct nf_peer *pe;
		struct nf_cidr cd;
		const char *s;

		if (!nfp_expect_type(c, v, JSON_STRING))
			goto next;
		s = json_string_value(v);
		for (j = 0; j < i; j++)
			if (json_equal(v, json_array_get(nets, j)))
				break;
		if (j < i) {
			nfp_problem(c, "duplicate value %s", nfp_quote(s, q, sizeof(q)));
			goto next;
		}
		if (nf_parse_cidr(s, &cd)) {
			nfp_problem(c, "%s is not a valid CIDR", nfp_quote(s, q, sizeof(q)));
			goto next;
		}
		pe = new_peer(c, r, cap);
		if (!pe)
			goto next;
		pe->kind = NF_PK_IPBLOCK;
		pe->cidr = cd;
		if (nfp_cidr_covers_v4(&cd)) {
			pe->except = nfp_xcalloc(c, 1, sizeof(*pe->except));
			if (pe->except)
				nfp_add_v4_except(pe);
		}
next:
		nfp_path_pop(c, o2);
	}
	nfp_path_pop(c, old);
}

/* One from[i] / to[i] at the current path: appends 0 or more peers to r. */
static void parse_peer(struct pctx *c, json_t *obj, int dir, const struct flavor *fl,
		       struct nf_rule *r, size_t *cap, struct rule_info *ri)
{
	struct tset set = { .negate = true };
	char q[QBUF_LEN], got[256];
	size_t n = 0, o = 0, i, old;
	struct nf_peer *pe;
	const char *key;
	json_t *v;
	int f = -1;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	got[0] = '\0';
	json_object_foreach(obj, key, v) {
		if (json_is_null(v))
			continue;
		if (o < sizeof(got))
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s", n ? ", " : "",
					      nfp_quote(key, q, sizeof(q)));
		n++;
		for (i = 0; peer_fields[i]; i++)
			if (!strcmp(key, peer_fields[i]))
				f = (int)i;
	}
	if (f < 0) {
		/* no field netfence knows, only a newer API's: fail closed (see the top) */
		ri->fail_closed = true;
		pe = new_peer(c, r, cap);
		if (pe)
			pe->kind = NF_PK_NONE;
		return;
	}
	if (n > 1) {
		nfp_problem(c, "must specify exactly one of %s (got %s)",
			    dir == NF_DIR_INGRESS ? "namespaces or pods" :
			    "namespaces, pods, networks or nodes", got);
		return;
	}
	key = peer_fields[f];
	old = nfp_path_key(c, key);
	if (!strcmp(key, "domainNames")) {
		nfp_problem(c, "is not supported by netfence (it does not match traffic by "
			    "domain name)");
		goto out;
	}
	if (dir == NF_DIR_INGRESS && (!strcmp(key, "networks") || !strcmp(key, "nodes"))) {
		nfp_problem(c, "is not allowed in an ingress peer (only namespaces or pods)");
		goto out;
	}
	nfp_path_pop(c, old);
	if (!strcmp(key, "networks")) {
		ri->addr_peer = true;
		parse_networks(c, obj, r, cap);
		return;
	}
	pe = new_peer(c, r, cap);
	if (!pe)
		return;
	old = nfp_path_key(c, key);
	if (!strcmp(key, "namespaces")) {
		pe->kind = NF_PK_TENANTS;
		nfp_parse_selector(c, nfp_field(obj, key), SEL_NAMESPACE, &pe->ns_sel, &set,
				   &pe->ns_labels);
		nfp_peer_set_tenants(c, pe, &set);
	} else if (!strcmp(key, "pods")) {
		parse_namespaced_pod(c, nfp_field(obj, key), fl, &pe->ns_sel, &set,
				     &pe->ns_labels, &pe->pod_sel);
		nfp_peer_set_tenants(c, pe, &set);
		/* podSelector {}: the whole of the selected tenants */
		if (pe->pod_sel && pe->pod_sel->n_reqs) {
			pe->kind = NF_PK_PODS;
		} else {
			pe->kind = NF_PK_TENANTS;
			nfp_selector_free(pe->pod_sel);
			pe->pod_sel = NULL;
		}
	} else {	/* nodes */
		ri->addr_peer = true;
		pe->kind = NF_PK_NODES;
		nfp_parse_selector(c, nfp_field(obj, key), SEL_POD, &pe->node_sel, NULL, NULL);
	}
out:
	nfp_path_pop(c, old);
}

/* ---- ports ---- */

static void parse_protocol_name(struct pctx *c, json_t *obj, const char *key, uint8_t *proto)
{
	const char *s = nfp_string_field(c, obj, key, false);
	char q[QBUF_LEN];
	size_t old;

	*proto = IPPROTO_TCP;	/* the CRD's default */
	if (!s)
		return;
	if (!strcmp(s, "TCP")) {
		*proto = IPPROTO_TCP;
	} else if (!strcmp(s, "UDP")) {
		*proto = IPPROTO_UDP;
	} else if (!strcmp(s, "SCTP")) {
		*proto = IPPROTO_SCTP;
	} else {
		old = nfp_path_key(c, key);
		nfp_problem(c, "%s is not supported (must be TCP, UDP or SCTP)",
			    nfp_quote(s, q, sizeof(q)));
		nfp_path_pop(c, old);
	}
}

/* A named port at the current path (the value of key in obj). */
static void parse_named_port(struct pctx *c, json_t *obj, const char *key,
			     struct nf_port_range *pr, struct rule_info *ri)
{
	const char *s = nfp_string_field(c, obj, key, true);
	char q[QBUF_LEN];
	size_t old;

	if (!s)
		return;
	ri->named_port = true;
	pr->proto = 0;		/* the container port of that name, whatever its protocol */
	pr->lo = pr->hi = 0;
	old = nfp_path_key(c, key);
	if (nf_is_port_name(s))
		strcpy(pr->name, s);
	else
		nfp_problem(c, "%s " NFP_PORT_NAME_MSG, nfp_quote(s, q, sizeof(q)));
	nfp_path_pop(c, old);
}

/*
 * start..end of a range object at the current path. strict: start < end
 * (v1alpha2's CEL rule); else start <= end (v1alpha1 has no such rule, but
 * a range with start > end would match nothing: a mistake netfence reports).
 */
static void parse_range(struct pctx *c, json_t *obj, bool strict, struct nf_port_range *pr)
{
	json_int_t start = 0, end = 0;
	bool ok;

	ok = int_field(c, obj, "start", 1, 65535, true, &start);
	ok = int_field(c, obj, "end", 1, 65535, true, &end) && ok;
	if (!ok)
		return;
	if (strict && start >= end)
		nfp_problem(c, "start %" JSON_INTEGER_FORMAT " must be less than end %"
			    JSON_INTEGER_FORMAT, start, end);
	else if (start > end)
		nfp_problem(c, "start %" JSON_INTEGER_FORMAT " must not be greater than end %"
			    JSON_INTEGER_FORMAT, start, end);
	pr->lo = (uint16_t)start;
	pr->hi = (uint16_t)end;
}

/* v1alpha2 tcp / udp / sctp: {destinationPort: {number: N} | {range: {start, end}}} */
static void parse_l4(struct pctx *c, json_t *obj, struct nf_port_range *pr)
{
	json_t *dp;
	json_int_t n;
	size_t old;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, l4_fields);
	dp = nfp_field(obj, "destinationPort");
	if (!dp) {
		nfp_problem(c, "must specify destinationPort");
		return;
	}
	old = nfp_path_key(c, "destinationPort");
	if (!nfp_expect_type(c, dp, JSON_OBJECT))
		goto out;
	nfp_check_fields(c, dp, dport_fields);
	switch (one_of(c, dp, dport_fields, true)) {
	case 0:
		if (int_field(c, dp, "number", 1, 65535, true, &n))
			pr->lo = pr->hi = (uint16_t)n;
		break;
	case 1:
		nfp_path_key(c, "range");
		if (nfp_expect_type(c, nfp_field(dp, "range"), JSON_OBJECT)) {
			nfp_check_fields(c, nfp_field(dp, "range"), range_fields);
			parse_range(c, nfp_field(dp, "range"), true, pr);
		}
		break;
	}
out:
	nfp_path_pop(c, old);
}

static void parse_protocol(struct pctx *c, json_t *obj, struct nf_port_range *pr,
			   struct rule_info *ri)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	size_t old;
	int f;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, protocol_fields);
	f = one_of(c, obj, protocol_fields, true);
	if (f < 0)
		return;
	if (f == 3) {
		parse_named_port(c, obj, "destinationNamedPort", pr, ri);
		return;
	}
	pr->proto = protos[f];
	old = nfp_path_key(c, protocol_fields[f]);
	parse_l4(c, nfp_field(obj, protocol_fields[f]), pr);
	nfp_path_pop(c, old);
}

/* v1alpha1 ports[i]: portNumber {protocol, port} | namedPort | portRange {protocol, start, end} */
static void parse_anp_port(struct pctx *c, json_t *obj, struct nf_port_range *pr,
			   struct rule_info *ri)
{
	json_int_t n;
	json_t *v;
	size_t old;
	int f;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, anp_port_fields);
	f = one_of(c, obj, anp_port_fields, true);
	if (f < 0)
		return;
	if (f == 1) {
		parse_named_port(c, obj, "namedPort", pr, ri);
		return;
	}
	old = nfp_path_key(c, anp_port_fields[f]);
	v = nfp_field(obj, anp_port_fields[f]);
	if (!nfp_expect_type(c, v, JSON_OBJECT))
		goto out;
	nfp_check_fields(c, v, f == 0 ? port_number_fields : port_range_fields);
	parse_protocol_name(c, v, "protocol", &pr->proto);
	if (f == 2)
		parse_range(c, v, false, pr);
	else if (int_field(c, v, "port", 1, 65535, true, &n))
		pr->lo = pr->hi = (uint16_t)n;
out:
	nfp_path_pop(c, old);
}

/* ---- rules ---- */

static void parse_action(struct pctx *c, json_t *obj, const struct flavor *fl, struct nf_rule *r,
			 struct rule_info *ri)
{
	const char *s = nfp_string_field(c, obj, "action", true);
	char q[QBUF_LEN];
	size_t old;
	int a;

	if (!s)
		return;
	for (a = NF_ACT_ACCEPT; a <= NF_ACT_PASS; a++)
		if (fl->actions[a] && !strcmp(s, fl->actions[a])) {
			r->action = (enum nf_action)a;
			ri->action_ok = true;
			return;
		}
	old = nfp_path_key(c, "action");
	nfp_problem(c, "%s is not supported (must be %s)", nfp_quote(s, q, sizeof(q)),
		    fl->actions_msg);
	nfp_path_pop(c, old);
}

/* The rule's name: at most 100 characters (the CRD's maxLength counts characters, not bytes). */
static void parse_rule_name(struct pctx *c, json_t *obj, struct nf_rule *r)
{
	const char *s = nfp_string_field(c, obj, "name", false);
	size_t chars = 0, i, old;

	if (!s || !*s)
		return;		/* "" is no name (omitempty) */
	for (i = 0; s[i]; i++)
		chars += ((unsigned char)s[i] & 0xC0) != 0x80;
	if (chars > RULE_NAME_MAX) {
		old = nfp_path_key(c, "name");
		nfp_problem(c, "must be at most %d characters, got %zu", RULE_NAME_MAX, chars);
		nfp_path_pop(c, old);
		return;
	}
	r->name = nfp_xstrdup(c, s);
}

static void parse_rule(struct pctx *c, json_t *obj, int dir, const struct flavor *fl,
		       struct nf_rule *r)
{
	const char *ports_key = fl->v1alpha2 ? "protocols" : "ports";
	struct rule_info ri = {};
	size_t i, old, cap = 0;
	json_t *peers, *ports;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, fl->v1alpha2 ? cnp_rule_fields[dir] : anp_rule_fields[dir]);
	parse_rule_name(c, obj, r);
	parse_action(c, obj, fl, r, &ri);

	peers = list_field(c, obj, peer_keys[dir], 1, fl->max_peers, true);
	if (peers) {
		old = nfp_path_key(c, peer_keys[dir]);
		for (i = 0; i < json_array_size(peers); i++) {
			size_t o2 = nfp_path_index(c, i);

			parse_peer(c, json_array_get(peers, i), dir, fl, r, &cap, &ri);
			nfp_path_pop(c, o2);
		}
		nfp_path_pop(c, old);
	}

	ports = list_field(c, obj, ports_key, 1, fl->v1alpha2 ? MAX_PROTOCOLS : MAX_PORTS_V1,
			   false);
	if (ports) {
		r->ports = nfp_xcalloc(c, json_array_size(ports), sizeof(*r->ports));
		old = nfp_path_key(c, ports_key);
		for (i = 0; r->ports && i < json_array_size(ports); i++) {
			size_t o2 = nfp_path_index(c, i);

			r->n_ports = i + 1;
			if (fl->v1alpha2)
				parse_protocol(c, json_array_get(ports, i), &r->ports[i], &ri);
			else
				parse_anp_port(c, json_array_get(ports, i), &r->ports[i], &ri);
			nfp_path_pop(c, o2);
		}
		nfp_path_pop(c, old);
	}

	/* Upstream's CEL rule on egress rules: networks and nodes have no named ports. */
	if (ri.addr_peer && ri.named_port)
		nfp_problem(c, "%s cannot be used with networks or nodes peers (they have no "
			    "named ports)", fl->v1alpha2 ? "destinationNamedPort" : "namedPort");

	/* Fail closed: a Deny or Pass rule with an unknown peer denies everything. */
	if (ri.fail_closed && ri.action_ok && r->action != NF_ACT_ACCEPT) {
		char *name = r->name;

		r->name = NULL;
		nfp_rule_clear(r);
		memset(r, 0, sizeof(*r));
		r->name = name;
		r->action = NF_ACT_DENY;
	}
}

/* ---- the object ---- */

static void parse_spec(struct pctx *c, json_t *spec, const struct flavor *fl, struct nf_policy *p)
{
	json_int_t prio = 0;
	json_t *rules, *v;
	char q[QBUF_LEN];
	size_t i, old;
	const char *tier;
	int d;

	if (!nfp_expect_type(c, spec, JSON_OBJECT))
		return;
	nfp_check_fields(c, spec, fl->spec_fields);
	p->tier = fl->cnp_kind == NF_CNP_BANP ? NF_TIER_BASELINE : NF_TIER_ADMIN;
	if (fl->v1alpha2) {
		tier = nfp_string_field(c, spec, "tier", true);
		if (tier && !strcmp(tier, "Admin")) {
			p->tier = NF_TIER_ADMIN;
		} else if (tier && !strcmp(tier, "Baseline")) {
			p->tier = NF_TIER_BASELINE;
		} else if (tier) {
			old = nfp_path_key(c, "tier");
			nfp_problem(c, "%s is not supported (must be Admin or Baseline)",
				    nfp_quote(tier, q, sizeof(q)));
			nfp_path_pop(c, old);
		}
	}
	if (fl->has_priority && int_field(c, spec, "priority", 0, PRIORITY_MAX, true, &prio))
		p->priority = (int32_t)prio;

	v = nfp_field(spec, "subject");
	old = nfp_path_key(c, "subject");
	if (!v)
		nfp_problem(c, "is required");
	else
		parse_subject(c, v, fl, p);
	nfp_path_pop(c, old);

	for (d = 0; d < NF_DIR_MAX; d++) {
		rules = list_field(c, spec, dir_keys[d], 0, fl->max_rules, false);
		if (!rules || !json_array_size(rules))
			continue;
		p->rules[d] = nfp_xcalloc(c, json_array_size(rules), sizeof(struct nf_rule));
		old = nfp_path_key(c, dir_keys[d]);
		for (i = 0; p->rules[d] && i < json_array_size(rules); i++) {
			size_t o2 = nfp_path_index(c, i);

			p->n_rules[d] = i + 1;
			parse_rule(c, json_array_get(rules, i), d, fl, &p->rules[d][i]);
			nfp_path_pop(c, o2);
		}
		nfp_path_pop(c, old);
		/* a cluster policy without rules in a direction does not affect it */
		p->has_dir[d] = p->n_rules[d] != 0;
	}
}

static void parse_cluster_policy(struct pctx *c, json_t *obj, size_t before,
				 const struct flavor *fl)
{
	const char *name;
	char q[QBUF_LEN];
	struct nf_policy *p;
	json_t *spec;
	size_t old;

	nfp_check_fields(c, obj, top_fields);
	p = nfp_xcalloc(c, 1, sizeof(*p));
	if (!p)
		return;
	p->cnp_kind = fl->cnp_kind;
	nfp_parse_cluster_metadata(c, obj, &name);
	if (name && fl->cnp_kind == NF_CNP_BANP && strcmp(name, "default")) {
		old = nfp_path_key(c, "metadata");
		nfp_path_key(c, "name");
		nfp_problem(c, "%s must be \"default\" (a cluster has one "
			    "BaselineAdminNetworkPolicy, named default)",
			    nfp_quote(name, q, sizeof(q)));
		nfp_path_pop(c, old);
	}
	spec = nfp_field(obj, "spec");
	old = nfp_path_key(c, "spec");
	if (!spec)
		nfp_problem(c, "is required");
	else
		parse_spec(c, spec, fl, p);
	nfp_path_pop(c, old);

	if (c->ds->n_problems != before || c->oom || !name || !p->ns_subject) {
		policy__free(p);
		return;
	}
	p->name = nfp_xstrdup(c, name);
	p->file = nfp_xstrdup(c, c->file);
	p->json = nfp_dump_object(c, obj, fl->kind->api_version, fl->kind->name);
	if (c->oom || nfp_ds_add_cluster(c->ds, p)) {
		c->oom = true;
		policy__free(p);
	}
}

static void parse_cnp(struct pctx *c, json_t *obj, size_t before)
{
	parse_cluster_policy(c, obj, before, &cnp_flavor);
}

static void parse_anp(struct pctx *c, json_t *obj, size_t before)
{
	parse_cluster_policy(c, obj, before, &anp_flavor);
}

static void parse_banp(struct pctx *c, json_t *obj, size_t before)
{
	parse_cluster_policy(c, obj, before, &banp_flavor);
}

/* Cluster policies of one kind defined twice (a CNP and an ANP may share a name). */
static void cluster_duplicates(struct nf_docset *ds, const struct flavor *fl)
{
	struct nfp_dup_key *e;
	size_t i, n = 0;

	if (ds->n_cluster < 2)
		return;
	e = calloc(ds->n_cluster, sizeof(*e));
	if (!e) {
		nfp_ds_add_problem(ds, NULL);
		return;
	}
	for (i = 0; i < ds->n_cluster; i++)
		if (ds->cluster[i]->cnp_kind == fl->cnp_kind)
			e[n++] = (struct nfp_dup_key){ NULL, ds->cluster[i]->name,
						       ds->cluster[i]->file, i };
	nfp_report_duplicates(ds, e, n, fl->kind->name);
	free(e);
}

static void cnp_duplicates(struct nf_docset *ds)
{
	cluster_duplicates(ds, &cnp_flavor);
}

static void anp_duplicates(struct nf_docset *ds)
{
	cluster_duplicates(ds, &anp_flavor);
}

static void banp_duplicates(struct nf_docset *ds)
{
	cluster_duplicates(ds, &banp_flavor);
}

const struct nf_kind nf_kind_clusternetworkpolicy = {
	.name = "ClusterNetworkPolicy",
	.api_version = "policy.networking.k8s.io/v1alpha2",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST | NF_DOC_CNPLIST,
	.parse = parse_cnp,
	.check_duplicates = cnp_duplicates,
};

const struct nf_kind nf_kind_adminnetworkpolicy = {
	.name = "AdminNetworkPolicy",
	.api_version = "policy.networking.k8s.io/v1alpha1",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST | NF_DOC_ANPLIST,
	.parse = parse_anp,
	.check_duplicates = anp_duplicates,
};

const struct nf_kind nf_kind_baselineadminnetworkpolicy = {
	.name = "BaselineAdminNetworkPolicy",
	.api_version = "policy.networking.k8s.io/v1alpha1",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST | NF_DOC_BANPLIST,
	.parse = parse_banp,
	.check_duplicates = banp_duplicates,
};
