// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netfence apply / delete / check */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include "apply.h"
#include "cmd.h"
#include "lookup.h"
#include "datapath.h"
#include "log.h"
#include "policy.h"

static const char apply_usage[] =
	"usage: netfence apply [--prune] FILE|DIR|-...\n"
	"Validate, compile and install policies (NetworkPolicy, NetworkPolicyList, List,\n"
	"Tenant) atomically per tenant. Objects are keyed by (tenant, name) and replace\n"
	"what was applied before; --prune makes the given input the whole desired state.\n"
	"Invalid input: one line per problem on stderr, exit 2, nothing changes.\n";

int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prune", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct cmd_opts o = { .shortopts = "h", .longopts = opts, .usage = apply_usage };
	struct nf_apply_result res = {};
	bool prune = false;
	int c, err;

	while ((c = cmd_getopt(&o, argc, argv)))
		if (c == 'p')
			prune = true;
	if (o.ret >= 0)
		return o.ret;
	if (optind >= argc) {
		fputs(apply_usage, stderr);
		return NF_EXIT_USAGE;
	}
	policy__json_arena_allow();
	err = apply__paths(argv + optind, argc - optind, prune, &res);
	if (err == -EINVAL)
		return NF_EXIT_USAGE;
	if (err)
		return NF_EXIT_FAIL;
	printf("applied: %zu %s, %zu tenant object%s", res.n_policies,
	       res.n_policies == 1 ? "policy" : "policies", res.n_tenant_objs,
	       res.n_tenant_objs == 1 ? "" : "s");
	if (res.n_cluster || res.n_nodes)
		printf(", %zu cluster polic%s, %zu node%s", res.n_cluster,
		       res.n_cluster == 1 ? "y" : "ies", res.n_nodes, res.n_nodes == 1 ? "" : "s");
	if (res.n_pods)
		printf(", %zu pod%s%s", res.n_pods, res.n_pods == 1 ? "" : "s",
		       res.pods_only ? " (changed pods only)" : "");
	printf("; %zu tenant%s updated\n", res.n_tenants_changed,
	       res.n_tenants_changed == 1 ? "" : "s");
	return NF_EXIT_OK;
}

static const char delete_usage[] =
	"usage: netfence delete TENANT[/POLICY]\n"
	"       netfence delete --cluster KIND/NAME\n"
	"Remove one policy of a tenant, or all of a tenant's objects. A tenant left without\n"
	"policies denies everything (default deny). --cluster removes a cluster-scoped object:\n"
	"KIND is ClusterNetworkPolicy (cnp), AdminNetworkPolicy (anp),\n"
	"BaselineAdminNetworkPolicy (banp) or Node (any case); every tenant is recompiled.\n";

/* `delete --cluster KIND/NAME` (SPEC §13) */
static int delete_cluster(const char *arg)
{
	static const struct {
		const char *long_name, *short_name;
		enum nf_store_kind kind;
	} kinds[] = {
		{ "clusternetworkpolicy", "cnp", NF_STORE_CNP },
		{ "adminnetworkpolicy", "anp", NF_STORE_ANP },
		{ "baselineadminnetworkpolicy", "banp", NF_STORE_BANP },
		{ "node", "node", NF_STORE_NODE },
	};
	const char *slash = strchr(arg, '/');
	size_t i, klen = slash ? (size_t)(slash - arg) : 0;
	int err;

	for (i = 0; slash && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((strlen(kinds[i].long_name) == klen &&
		     !strncasecmp(arg, kinds[i].long_name, klen)) ||
		    (strlen(kinds[i].short_name) == klen &&
		     !strncasecmp(arg, kinds[i].short_name, klen)))
			break;
	if (!slash || i == sizeof(kinds) / sizeof(kinds[0]) ||
	    !nf_is_dns1123_subdomain(slash + 1)) {
		fprintf(stderr, "netfence delete: --cluster: \"%s\" is not KIND/NAME (KIND: "
			"ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy, "
			"Node)\n", arg);
		return NF_EXIT_USAGE;
	}
	err = apply__delete_cluster(kinds[i].kind, slash + 1);
	if (err == -ENOENT) {
		pr_err("nothing to delete: no %s %s applied", store__kind_name(kinds[i].kind),
		       slash + 1);
		return NF_EXIT_FAIL;
	}
	if (err)
		return NF_EXIT_FAIL;
	printf("deleted %s %s\n", store__kind_name(kinds[i].kind), slash + 1);
	return NF_EXIT_OK;
}

int cmd_delete(int argc, char **argv)
{
	char tenant[NF_TENANT_NAME_LEN + 1];
	const char *slash, *policy = NULL;
	size_t tlen;
	int err;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(delete_usage, stdout);
		return NF_EXIT_OK;
	}
	if (argc == 3 && !strcmp(argv[1], "--cluster"))
		return delete_cluster(argv[2]);
	if (argc != 2 || argv[1][0] == '-') {
		fputs(delete_usage, stderr);
		return NF_EXIT_USAGE;
	}
	slash = strchr(argv[1], '/');
	tlen = slash ? (size_t)(slash - argv[1]) : strlen(argv[1]);
	if (tlen >= sizeof(tenant)) {
		fprintf(stderr, "netfence delete: \"%s\" is not a tenant name\n", argv[1]);
		return NF_EXIT_USAGE;
	}
	memcpy(tenant, argv[1], tlen);
	tenant[tlen] = '\0';
	if (slash)
		policy = slash + 1;
	if (!nf_is_dns1123_label(tenant) || (policy && !nf_is_dns1123_subdomain(policy))) {
		fprintf(stderr, "netfence delete: \"%s\" is not TENANT or TENANT/POLICY\n", argv[1]);
		return NF_EXIT_USAGE;
	}
	err = apply__delete(tenant, policy);
	if (err == -ENOENT) {
		pr_err("nothing to delete: no %s%s%s applied", policy ? "policy " : "tenant ",
		       argv[1], policy ? "" : " objects");
		return NF_EXIT_FAIL;
	}
	if (err)
		return NF_EXIT_FAIL;
	printf("deleted %s\n", argv[1]);
	return NF_EXIT_OK;
}

static const char check_usage[] =
	"usage: netfence check --tenant T --direction ingress|egress --peer ADDR\n"
	"                      [--proto tcp|udp|sctp|icmp] [--port N] [--network NAME]\n"
	"Answer from the tables installed in the kernel whether tenant T allows a new flow\n"
	"with PEER in that direction, and which policy and rule decide it.\n"
	"--port defaults the protocol to tcp. --network: for an endpoint on that network\n"
	"(NAME or NAMESPACE/NAME, default \"default\"): T's MultiNetworkPolicies for it, if\n"
	"it has any, else its NetworkPolicies.\n"
	"       netfence check --pod NS/NAME --direction ... (SPEC §11): for that pod's endpoint:\n"
	"the policies whose podSelector selects its labels (tenant NS).\n";

/* The datapath's lookup (lookup.h) over the kernel's maps, at the tenant's epoch in force. */
static int check_verdict(struct nf_dp *dp, uint32_t tid, uint32_t epoch, const struct nf_query *q,
			 uint32_t *peer_id, uint32_t *rule)
{
	struct nf_lookup_maps maps = {
		.policy = dp__map_fd(dp, NF_MAP_POLICY),
		.ports = dp__map_fd(dp, NF_MAP_PORTS),
		.ipcache = dp__map_fd(dp, NF_MAP_IPCACHE),
		.config = dp__map_fd(dp, NF_MAP_CONFIG),
	};
	struct nf_lookup_src src;

	lookup__src_maps(&src, &maps);
	return lookup__judge(&src, tid, epoch, q, peer_id, rule);
}

/* What `check` is asked: the options, and the query they make. */
struct check_args {
	const char *tenant, *direction, *peer, *proto_s, *network;
	const char *pod;	/* --pod NS/NAME: its name (tenant = NS) */
	char pod_ns[NF_TENANT_NAME_LEN];
	long port;		/* -1: not given; 0 for icmp */
	bool is_icmp;
	struct nf_query q;
};

/* The options into a; -1 to go on, or the exit code to return now. */
static int check_parse_opts(struct check_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' }, { "direction", required_argument, NULL, 'd' },
		{ "peer", required_argument, NULL, 'p' },   { "proto", required_argument, NULL, 'P' },
		{ "port", required_argument, NULL, 'n' },   { "help", no_argument, NULL, 'h' },
		{ "network", required_argument, NULL, 'N' }, { "pod", required_argument, NULL, 'o' },
		{},
	};
	struct cmd_opts o = { .shortopts = "h", .longopts = opts, .usage = check_usage };
	const char *slash;
	int c;

	while ((c = cmd_getopt(&o, argc, argv))) {
		switch (c) {
		case 't': a->tenant = optarg; break;
		case 'd': a->direction = optarg; break;
		case 'p': a->peer = optarg; break;
		case 'P': a->proto_s = optarg; break;
		case 'N': a->network = optarg; break;
		case 'o': a->pod = optarg; break;
		case 'n': {
			char *end;

			a->port = strtol(optarg, &end, 10);
			if (*end || a->port < 1 || a->port > 65535) {
				fprintf(stderr, "netfence check: --port: \"%s\" is not a port (1-65535)\n",
					optarg);
				return NF_EXIT_USAGE;
			}
			break;
		}
		}
	}
	if (o.ret >= 0)
		return o.ret;
	if (a->pod) {
		slash = strchr(a->pod, '/');
		if (!slash || (size_t)(slash - a->pod) >= sizeof(a->pod_ns) ||
		    !nf_is_dns1123_subdomain(slash + 1)) {
			fprintf(stderr, "netfence check: --pod: \"%s\" is not NAMESPACE/NAME\n", a->pod);
			return NF_EXIT_USAGE;
		}
		snprintf(a->pod_ns, sizeof(a->pod_ns), "%.*s", (int)(slash - a->pod), a->pod);
		if (!nf_is_dns1123_label(a->pod_ns) || (a->tenant && strcmp(a->tenant, a->pod_ns))) {
			fprintf(stderr, "netfence check: --pod: \"%s\": its namespace is not %s\n",
				a->pod, a->tenant ? a->tenant : "a tenant name");
			return NF_EXIT_USAGE;
		}
		a->tenant = a->pod_ns;
		a->pod = slash + 1;
	}
	if (optind < argc || !a->tenant || !a->direction || !a->peer) {
		fputs(check_usage, stderr);
		return NF_EXIT_USAGE;
	}
	if (a->network && !nf_is_network_name(a->network)) {
		fprintf(stderr, "netfence check: --network: \"%s\" is not a network name (NAME or "
			"NAMESPACE/NAME: NAME of letters, digits, '_', '.' and '-', at most %d, "
			"starting with a letter or digit; NAMESPACE a DNS-1123 label)\n", a->network,
			NF_NETWORK_NAME_MAX);
		return NF_EXIT_USAGE;
	}
	return -1;
}

/* The direction, peer, protocol and port as a query (a->q); 0 or
 * NF_EXIT_USAGE after saying which is wrong. */
static int check_make_query(struct check_args *a)
{
	struct nf_query *q = &a->q;
	bool v4;

	if (!strcmp(a->direction, "ingress")) {
		q->dir = NF_DIR_INGRESS;
	} else if (!strcmp(a->direction, "egress")) {
		q->dir = NF_DIR_EGRESS;
	} else {
		fprintf(stderr, "netfence check: --direction: \"%s\" is not ingress or egress\n",
			a->direction);
		return NF_EXIT_USAGE;
	}
	if (nf_parse_addr(a->peer, q->addr, &v4)) {
		fprintf(stderr, "netfence check: --peer: \"%s\" is not an IP address\n", a->peer);
		return NF_EXIT_USAGE;
	}
	if (!a->proto_s)
		a->proto_s = "tcp";
	if (!strcmp(a->proto_s, "tcp"))
		q->proto = IPPROTO_TCP;
	else if (!strcmp(a->proto_s, "udp"))
		q->proto = IPPROTO_UDP;
	else if (!strcmp(a->proto_s, "sctp"))
		q->proto = IPPROTO_SCTP;
	else if (!strcmp(a->proto_s, "icmp"))
		q->proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	else {
		fprintf(stderr, "netfence check: --proto: \"%s\" is not tcp, udp, sctp or icmp\n",
			a->proto_s);
		return NF_EXIT_USAGE;
	}
	a->is_icmp = q->proto == IPPROTO_ICMP || q->proto == IPPROTO_ICMPV6;
	if (!a->is_icmp && a->port < 0) {
		fprintf(stderr, "netfence check: --port is required for %s\n", a->proto_s);
		return NF_EXIT_USAGE;
	}
	if (a->port < 0)
		a->port = 0;
	q->port = (uint16_t)a->port;
	return 0;
}

/* Whose address the peer is: this node, a tenant's, or the world's. */
static void check_print_peer(struct nf_dp *dp, const char *peer, uint32_t peer_id)
{
	char peer_name[NF_TENANT_NAME_LEN] = "";

	if (peer_id && peer_id != NF_ID_HOST)
		dp__tenant_name(dp, NF_IDENT_TENANT(peer_id), peer_name, sizeof(peer_name));
	printf("peer %s: %s\n", peer,
	       peer_id == NF_ID_HOST ? "this node" :
	       peer_id ? "" : "not a known tenant's address (world)");
	if (peer_id && peer_id != NF_ID_HOST && NF_IDENT_INDEX(peer_id))
		printf("  belongs to tenant %s, identity %u (a label set of its pods)\n", peer_name,
		       NF_IDENT_INDEX(peer_id));
	else if (peer_id && peer_id != NF_ID_HOST)
		printf("  belongs to tenant %s\n", peer_name);
}

/* No rule allows the flow: what was asked, and how many rules there are. */
static void check_print_deny(const struct check_args *a, const struct nf_tenant_info *ti,
			     const char *netkey)
{
	uint8_t dir = a->q.dir;
	const char *dirname = dir == NF_DIR_INGRESS ? "ingress" : "egress";
	char what[32];

	if (a->is_icmp)
		snprintf(what, sizeof(what), "icmp");
	else
		snprintf(what, sizeof(what), "%s/%ld", a->proto_s, a->port);
	printf("deny: no rule of tenant %s%s%s allows %s %s %s %s (default deny; %u %s rule%s "
	       "installed)\n",
	       a->tenant, netkey ? " on network " : "", netkey ?: "", dirname,
	       dir == NF_DIR_EGRESS ? "to" : "from", a->peer, what,
	       ti->n_rules[dir], dirname, ti->n_rules[dir] == 1 ? "" : "s");
}

static const char *const cnp_kind_names[] = {
	[NF_CNP_V1ALPHA2] = "ClusterNetworkPolicy",
	[NF_CNP_ANP] = "AdminNetworkPolicy",
	[NF_CNP_BANP] = "BaselineAdminNetworkPolicy",
};

/* A rule decides the flow: its policy and place in the spec, from the names
 * written when this epoch's tables were installed; else its number. A
 * cluster policy's rule (SPEC §13) with its tier, priority, name and action. */
static void check_print_rule(const struct nf_rule_names *names, const char *tenant, uint32_t rule,
			     bool multi)
{
	const char *verdict = lookup__allows(rule) ? "allow" : "deny";
	const struct nf_rule_run *r = NULL;
	uint32_t off = 0;

	if (names)
		r = lookup__rule_run(names, rule, &off);
	if (r && r->cnp_kind && r->cnp_kind <= NF_CNP_BANP) {
		const char *name = r->names ? r->names[off] : NULL;

		printf("%s: %s %s (%s tier, priority %d), spec.%s[%u]%s%s%s (%s)\n", verdict,
		       cnp_kind_names[r->cnp_kind], r->policy,
		       r->tier == NF_TIER_BASELINE ? "Baseline" : "Admin", r->priority,
		       r->dir == NF_DIR_INGRESS ? "ingress" : "egress", r->index + off,
		       name ? " \"" : "", name ?: "", name ? "\"" : "",
		       lookup__allows(rule) ? "Accept" :
		       NF_RULE_ACT(rule) == NF_RULE_PASS ? "Pass: no later tier, default deny" :
							    "Deny");
	} else if (r) {
		printf("%s: %s %s/%s, spec.%s[%u]\n", verdict,
		       multi ? "MultiNetworkPolicy" : "policy", tenant, r->policy,
		       r->dir == NF_DIR_INGRESS ? "ingress" : "egress", r->index + off);
	} else {
		printf("%s: rule #%u of tenant %s\n", verdict, NF_RULE_REF(rule), tenant);
	}
}

/* The rule names of slot id (a tenant or a network's rule set) at epoch:
 * written under the slot's name (a rule set's is not the tenant's). */
static struct nf_rule_names *check_names(struct nf_dp *dp, uint32_t id, const char *tenant,
					 uint32_t epoch)
{
	struct nf_rule_names *names = NULL;
	char slot[NF_TENANT_NAME_LEN];

	if (dp__tenant_name(dp, id, slot, sizeof(slot)))
		snprintf(slot, sizeof(slot), "%s", tenant);
	if (lookup__names_read(dp__tenant_dir(dp), id, slot, epoch, &names))
		return NULL;
	return names;
}

/*
 * check reads the tables without the node lock. The entries (and rule
 * names) of epoch E are rewritten only by the install of E + 2, which comes
 * after the flip to E + 1, and an id changes hands only with its name: a
 * verdict read while the tenant's epoch and name stayed the same is E's.
 * Else it is read again (a reader descheduled across two applies of the
 * tenant read a mix: "deny" for a flow both policies allow, or the rule's
 * name lost).
 */
#define CHECK_READS	50

static bool tenant_same(struct nf_dp *dp, uint32_t tid, const struct nf_tenant_info *was)
{
	struct nf_tenant_info now;

	return !dp__tenant_info(dp, tid, &now) && now.epoch == was->epoch &&
	       !strcmp(now.name, was->name);
}

int cmd_check(int argc, char **argv)
{
	struct check_args a = { .port = -1 };
	struct nf_rule_names *names = NULL;
	char netkey[NF_NETWORK_KEY_LEN];
	uint32_t tid, peer_id, rule, slot = 0;
	bool multi = false;
	struct nf_tenant_info ti;
	struct nf_dp *dp;
	int err, ret, reads;

	ret = check_parse_opts(&a, argc, argv);
	if (ret >= 0)
		return ret;
	ret = check_make_query(&a);
	if (ret)
		return ret;

	apply__settle();	/* a killed apply's journal: describe what the kernel enforces */
	err = dp__open(&dp, false);
	if (err) {
		pr_err("the datapath is not loaded (nothing attached, nothing applied)");
		return NF_EXIT_FAIL;
	}
	if (a.network && nf_network_key(a.tenant, a.network, netkey, sizeof(netkey))) {
		fprintf(stderr, "netfence check: --network: \"%s\" is too long\n", a.network);
		ret = NF_EXIT_USAGE;
		goto out;
	}
	for (reads = 1;; reads++) {
		tid = dp__tenant_id(dp, a.tenant, false);
		if (!tid) {
			printf("deny: tenant %s is unknown here: default deny\n", a.tenant);
			goto out;
		}
		/* SPEC §11, §12: the rule set of the pod's labels and network */
		if (a.pod || a.network) {
			err = apply__context_slot(dp, a.tenant, a.network, a.pod, &slot, &multi);
			if (err == -ENOENT) {
				printf("deny: the rules of pod %s/%s%s%s are not installed on this node "
				       "(no endpoint of its kind is attached): default deny\n",
				       a.tenant, a.pod ?: "-", a.network ? " on network " : "",
				       a.network ?: "");
				goto out;
			}
			if (err) {
				ret = NF_EXIT_FAIL;
				goto out;
			}
		}
		err = dp__tenant_info(dp, slot ?: tid, &ti);
		if (!err)
			err = check_verdict(dp, slot ?: tid, ti.epoch, &a.q, &peer_id, &rule);
		if (!err && rule && rule != NF_RULE_HOST)
			names = check_names(dp, slot ?: tid, a.tenant, ti.epoch);
		if (!err && tenant_same(dp, slot ?: tid, &ti))
			break;
		lookup__names_free(names);
		names = NULL;
		/* -ENOENT: the tenant (or rule set) was forgotten meanwhile */
		if ((!err || err == -ENOENT) && reads < CHECK_READS)
			continue;
		if (!err)
			pr_err("tenant %s's policy changed %d times while it was read: try again",
			       a.tenant, reads);
		else
			pr_err("cannot read the policy tables: %s", strerror(-err));
		ret = NF_EXIT_FAIL;
		goto out;
	}
	if (a.pod)
		printf("pod %s/%s: %s\n", a.tenant, a.pod,
		       slot ? "the policies whose podSelector selects its labels decide" :
			      "its tenant's rules for pods without labels decide");
	if (a.network && !a.pod) {
		if (multi)
			printf("network %s: the MultiNetworkPolicies of tenant %s for it decide\n",
			       netkey, a.tenant);
		else
			printf("network %s: tenant %s has no MultiNetworkPolicy for it: its "
			       "NetworkPolicies decide\n", netkey, a.tenant);
	}
	check_print_peer(dp, a.peer, peer_id);
	if (rule == NF_RULE_HOST)
		printf("allow: ingress from the node's own addresses is always allowed\n");
	else if (!rule)
		check_print_deny(&a, &ti, slot && a.network ? netkey : NULL);	/* --pod alone: no key */
	else
		check_print_rule(names, a.tenant, rule, multi);
out:
	lookup__names_free(names);
	dp__close(dp);
	return ret;
}
