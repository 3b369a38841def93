// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netfence apply / delete / check */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "apply.h"
#include "cmd.h"
#include "compile.h"
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
	struct nf_apply_result res = {};
	bool prune = false;
	int c, err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			prune = true;
			break;
		case 'h':
			fputs(apply_usage, stdout);
			return NF_EXIT_OK;
		default:
			fputs(apply_usage, stderr);
			return NF_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(apply_usage, stderr);
		return NF_EXIT_USAGE;
	}
	err = apply__paths(argv + optind, argc - optind, prune, &res);
	if (err == -EINVAL)
		return NF_EXIT_USAGE;
	if (err)
		return NF_EXIT_FAIL;
	printf("applied: %zu %s, %zu tenant object%s; %zu tenant%s updated\n", res.n_policies,
	       res.n_policies == 1 ? "policy" : "policies", res.n_tenant_objs,
	       res.n_tenant_objs == 1 ? "" : "s", res.n_tenants_changed,
	       res.n_tenants_changed == 1 ? "" : "s");
	return NF_EXIT_OK;
}

static const char delete_usage[] =
	"usage: netfence delete TENANT[/POLICY]\n"
	"Remove one policy of a tenant, or all of a tenant's objects. A tenant left without\n"
	"policies denies everything (default deny).\n";

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
	"                      [--proto tcp|udp|sctp|icmp] [--port N]\n"
	"Answer from the tables installed in the kernel whether tenant T allows a new flow\n"
	"with PEER in that direction, and which policy and rule decide it.\n"
	"--port defaults the protocol to tcp.\n";

/* rule_ref for (proto, port) in class cls, read from the kernel's nf_ports. */
static uint32_t class_allows(struct nf_dp *dp, const struct nf_class *cls, uint8_t proto,
			     uint16_t port)
{
	int l4 = proto == 6 ? NF_L4_TCP : proto == 17 ? NF_L4_UDP : proto == 132 ? NF_L4_SCTP : -1;
	struct nf_port_key k = { .class_id = cls->class_id, .proto = proto };
	uint32_t rule;
	int p;

	if (cls->any_rule)
		return cls->any_rule;
	if (l4 < 0)
		return 0;
	for (p = 16; p >= 0; p--) {
		if (!(cls->plen_mask[l4] & (1u << p)))
			continue;
		k.plen = p;
		k.port = htons(p ? (port & (uint16_t)(0xFFFF << (16 - p))) : 0);
		if (!bpf_map_lookup_elem(dp__map_fd(dp, NF_MAP_PORTS), &k, &rule))
			return rule;
	}
	return 0;
}

/* rule_ref of a check answered by the node-ingress setting, not by a rule */
#define CHECK_RULE_HOST UINT32_MAX

static int check_verdict(struct nf_dp *dp, uint32_t tid, uint8_t dir, const uint8_t *addr,
			 uint8_t proto, uint16_t port, uint32_t *peer_id, uint32_t *rule)
{
	struct nf_lpm_addr_key ik = { .prefixlen = 128 };
	struct nf_ipcache_val iv;
	struct nf_policy_key pk = {};
	struct nf_tenant_info ti;
	struct nf_class cls;
	struct nf_config cfg = {};
	__u32 zero = 0;

	*rule = 0;
	*peer_id = 0;
	memcpy(ik.addr, addr, 16);
	if (!bpf_map_lookup_elem(dp__map_fd(dp, NF_MAP_IPCACHE), &ik, &iv))
		*peer_id = iv.id;
	bpf_map_lookup_elem(dp__map_fd(dp, NF_MAP_CONFIG), &zero, &cfg);
	if (dir == NF_DIR_INGRESS && *peer_id == NF_ID_HOST &&
	    (cfg.flags & NF_CFG_ALLOW_HOST_INGRESS)) {
		*rule = CHECK_RULE_HOST;
		return 0;
	}
	if (dp__tenant_info(dp, tid, &ti))
		return 0;
	/* the entries in force: the tenant's current parity */
	pk.prefixlen = NF_POLICY_KEY_FIXED_BITS + 128;
	pk.tenant_id = htonl(tid);
	pk.parity = ti.epoch & 1;
	pk.dir = dir;
	pk.kind = NF_PEER_ADDR;
	memcpy(pk.data, addr, 16);
	if (!bpf_map_lookup_elem(dp__map_fd(dp, NF_MAP_POLICY), &pk, &cls))
		*rule = class_allows(dp, &cls, proto, port);
	if (!*rule && *peer_id && *peer_id != NF_ID_HOST) {
		uint32_t be = htonl(*peer_id);

		memset(pk.data, 0, sizeof(pk.data));
		pk.prefixlen = NF_POLICY_KEY_FIXED_BITS + 32;
		pk.kind = NF_PEER_IDENT;
		memcpy(pk.data, &be, 4);
		if (!bpf_map_lookup_elem(dp__map_fd(dp, NF_MAP_POLICY), &pk, &cls))
			*rule = class_allows(dp, &cls, proto, port);
	}
	return 0;
}

/* As apply compiles: a name without an id selects no address. */
static uint32_t check_id_cb(const char *name, void *ctx)
{
	return dp__tenant_id(ctx, name, false);
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' }, { "direction", required_argument, NULL, 'd' },
		{ "peer", required_argument, NULL, 'p' },   { "proto", required_argument, NULL, 'P' },
		{ "port", required_argument, NULL, 'n' },   { "help", no_argument, NULL, 'h' },
		{},
	};
	const char *tenant = NULL, *direction = NULL, *peer = NULL, *proto_s = NULL;
	const char *dirname;
	char peer_name[NF_TENANT_NAME_LEN] = "";
	uint8_t addr[16], dir, proto = 0;
	long port = -1;
	uint32_t tid, peer_id, rule;
	struct nf_docset *ds = NULL;
	struct nf_dp *dp;
	struct nf_tenant_info ti;
	bool v4;
	int c, err, ret = NF_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't': tenant = optarg; break;
		case 'd': direction = optarg; break;
		case 'p': peer = optarg; break;
		case 'P': proto_s = optarg; break;
		case 'n': {
			char *end;

			port = strtol(optarg, &end, 10);
			if (*end || port < 1 || port > 65535) {
				fprintf(stderr, "netfence check: --port: \"%s\" is not a port (1-65535)\n",
					optarg);
				return NF_EXIT_USAGE;
			}
			break;
		}
		case 'h':
			fputs(check_usage, stdout);
			return NF_EXIT_OK;
		default:
			fputs(check_usage, stderr);
			return NF_EXIT_USAGE;
		}
	}
	if (optind < argc || !tenant || !direction || !peer) {
		fputs(check_usage, stderr);
		return NF_EXIT_USAGE;
	}
	if (!strcmp(direction, "ingress")) {
		dir = NF_DIR_INGRESS;
	} else if (!strcmp(direction, "egress")) {
		dir = NF_DIR_EGRESS;
	} else {
		fprintf(stderr, "netfence check: --direction: \"%s\" is not ingress or egress\n",
			direction);
		return NF_EXIT_USAGE;
	}
	dirname = dir == NF_DIR_INGRESS ? "ingress" : "egress";
	if (nf_parse_addr(peer, addr, &v4)) {
		fprintf(stderr, "netfence check: --peer: \"%s\" is not an IP address\n", peer);
		return NF_EXIT_USAGE;
	}
	if (!proto_s)
		proto_s = "tcp";
	if (!strcmp(proto_s, "tcp"))
		proto = 6;
	else if (!strcmp(proto_s, "udp"))
		proto = 17;
	else if (!strcmp(proto_s, "sctp"))
		proto = 132;
	else if (!strcmp(proto_s, "icmp"))
		proto = v4 ? 1 : 58;
	else {
		fprintf(stderr, "netfence check: --proto: \"%s\" is not tcp, udp, sctp or icmp\n",
			proto_s);
		return NF_EXIT_USAGE;
	}
	if (proto != 1 && proto != 58 && port < 0) {
		fprintf(stderr, "netfence check: --port is required for %s\n", proto_s);
		return NF_EXIT_USAGE;
	}
	if (port < 0)
		port = 0;

	err = dp__open(&dp, false);
	if (err) {
		pr_err("the datapath is not loaded (nothing attached, nothing applied)");
		return NF_EXIT_FAIL;
	}
	tid = dp__tenant_id(dp, tenant, false);
	if (!tid) {
		printf("deny: tenant %s is unknown here: default deny\n", tenant);
		goto out;
	}
	err = check_verdict(dp, tid, dir, addr, proto, port, &peer_id, &rule);
	if (err) {
		pr_err("cannot read the policy tables: %s", strerror(-err));
		ret = NF_EXIT_FAIL;
		goto out;
	}
	if (peer_id && peer_id != NF_ID_HOST)
		dp__tenant_name(dp, peer_id, peer_name, sizeof(peer_name));
	printf("peer %s: %s\n", peer,
	       peer_id == NF_ID_HOST ? "this node" :
	       peer_id ? "" : "not a known tenant's address (world)");
	if (peer_id && peer_id != NF_ID_HOST)
		printf("  belongs to tenant %s\n", peer_name);
	if (rule == CHECK_RULE_HOST) {
		printf("allow: ingress from the node's own addresses is always allowed\n");
		goto out;
	}
	if (!rule) {
		dp__tenant_info(dp, tid, &ti);
		char what[32];

		if (proto == 1 || proto == 58)
			snprintf(what, sizeof(what), "icmp");
		else
			snprintf(what, sizeof(what), "%s/%ld", proto_s, port);
		printf("deny: no rule of tenant %s allows %s %s %s %s (default deny; %u %s rule%s "
		       "installed)\n",
		       tenant, dirname, dir == NF_DIR_EGRESS ? "to" : "from", peer, what,
		       ti.n_rules[dir], dirname, ti.n_rules[dir] == 1 ? "" : "s");
		goto out;
	}
	/* Name the rule: number the stored policies as the compiler did. */
	err = apply__stored_policies(tenant, &ds);
	if (!err && ds->n_policies) {
		struct nf_compiled *cc = NULL;

		dp__tenant_info(dp, tid, &ti);
		if (!compile__tenant(tenant, tid, ti.epoch, ds->policies, ds->n_policies, check_id_cb,
				     dp, &cc)) {
			if (cc && rule >= 1 && rule <= cc->n_rules) {
				const struct nf_rule_info *ri = &cc->rules[rule - 1];

				printf("allow: policy %s/%s, spec.%s[%u]\n", tenant, ri->policy,
				       ri->dir == NF_DIR_INGRESS ? "ingress" : "egress", ri->index);
				compile__free(cc);
				goto out;
			}
			compile__free(cc);
		}
	}
	printf("allow: rule #%u of tenant %s\n", rule, tenant);
out:
	policy__docset_free(ds);
	dp__close(dp);
	return ret;
}
