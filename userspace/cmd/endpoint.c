// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netfence attach / detach / reset */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apply.h"
#include "cmd.h"
#include "datapath.h"
#include "log.h"
#include "policy.h"

#define NF_MAX_CLI_ADDRS 64

static const char attach_usage[] =
	"usage: netfence attach --tenant T --iface IF [--netns PATH] [--ip ADDR]...\n"
	"                       [--network NAME] [--pod NAME]\n"
	"       netfence attach --tenant T --cgroup DIR\n"
	"Make an interface (in a network namespace) or a cgroup v2 directory an endpoint of\n"
	"tenant T: from now on all its traffic is dropped unless T's policy allows it.\n"
	"Without --ip, the interface's current addresses are its addresses (anti-spoofing).\n"
	"--network: the network the interface is on, NAME or NAMESPACE/NAME (default\n"
	"\"default\"): T's MultiNetworkPolicies for it are its rules, if T has any.\n"
	"--pod: the Pod (a Pod document of namespace T) the interface belongs to: its labels\n"
	"and named ports select its rules (without it, the Pod with one of its addresses).\n";

static const char detach_usage[] =
	"usage: netfence detach --iface IF [--netns PATH] | --cgroup DIR\n"
	"Remove the fence from an interface or a cgroup and forget the endpoint.\n";

int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' }, { "iface", required_argument, NULL, 'i' },
		{ "netns", required_argument, NULL, 'n' },  { "ip", required_argument, NULL, 'a' },
		{ "cgroup", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ "network", required_argument, NULL, 'N' }, { "pod", required_argument, NULL, 'p' },
		{},
	};
	struct cmd_opts o = { .shortopts = "h", .longopts = opts, .usage = attach_usage };
	const char *network = NULL, *pod = NULL;
	struct nf_cidr addrs[NF_MAX_CLI_ADDRS];
	struct nf_iface_ep ep = {};
	const char *tenant = NULL, *iface = NULL, *netns = "", *cgroup = NULL;
	size_t n_addrs = 0;
	struct nf_dp *dp;
	int c, err, lock, ret = NF_EXIT_OK;
	uint32_t tid;

	while ((c = cmd_getopt(&o, argc, argv))) {
		switch (c) {
		case 't':
			tenant = optarg;
			break;
		case 'i':
			iface = optarg;
			break;
		case 'n':
			netns = optarg;
			break;
		case 'c':
			cgroup = optarg;
			break;
		case 'N':
			network = optarg;
			break;
		case 'p':
			pod = optarg;
			break;
		case 'a': {
			bool v4;

			if (n_addrs == NF_MAX_CLI_ADDRS) {
				fprintf(stderr, "netfence attach: at most %d --ip\n", NF_MAX_CLI_ADDRS);
				return NF_EXIT_USAGE;
			}
			memset(&addrs[n_addrs], 0, sizeof(addrs[0]));
			if (nf_parse_addr(optarg, addrs[n_addrs].addr, &v4)) {
				fprintf(stderr, "netfence attach: --ip: \"%s\" is not an IP address\n",
					optarg);
				return NF_EXIT_USAGE;
			}
			addrs[n_addrs].plen = 128;
			addrs[n_addrs].is_v4 = v4;
			n_addrs++;
			break;
		}
		}
	}
	if (o.ret >= 0)
		return o.ret;
	if (optind < argc || !tenant || (!iface == !cgroup) ||
	    (cgroup && (n_addrs || *netns || network))) {
		fputs(attach_usage, stderr);
		return NF_EXIT_USAGE;
	}
	if (network && !nf_is_network_name(network)) {
		fprintf(stderr, "netfence attach: --network: \"%s\" is not a network name (NAME or "
			"NAMESPACE/NAME: NAME of letters, digits, '_', '.' and '-', at most %d, "
			"starting with a letter or digit; NAMESPACE a DNS-1123 label)\n", network,
			NF_NETWORK_NAME_MAX);
		return NF_EXIT_USAGE;
	}
	if (pod && (!nf_is_dns1123_subdomain(pod) || strlen(pod) >= sizeof(ep.pod))) {
		fprintf(stderr, "netfence attach: --pod: \"%s\" is not a pod name (a DNS-1123 "
			"subdomain)\n", pod);
		return NF_EXIT_USAGE;
	}
	if (pod && cgroup) {
		fprintf(stderr, "netfence attach: --pod is for an interface (--iface)\n");
		return NF_EXIT_USAGE;
	}
	if (!nf_is_dns1123_label(tenant)) {
		fprintf(stderr, "netfence attach: --tenant: \"%s\" is not a DNS-1123 label\n", tenant);
		return NF_EXIT_USAGE;
	}
	if (iface && strlen(iface) >= sizeof(ep.ifname)) {
		fprintf(stderr, "netfence attach: --iface: \"%s\" is too long\n", iface);
		return NF_EXIT_USAGE;
	}
	err = dp__open(&dp, true);
	if (err)
		return err == -EINVAL ? NF_EXIT_USAGE : NF_EXIT_FAIL;
	lock = dp__lock();
	if (lock < 0) {
		dp__close(dp);
		return NF_EXIT_FAIL;
	}
	err = apply__tenant_id(dp, tenant, &tid);	/* says what failed */
	if (err) {
		ret = NF_EXIT_FAIL;
		goto out;
	}
	if (cgroup) {
		err = dp__attach_cgroup(dp, cgroup, tid);
	} else {
		snprintf(ep.netns, sizeof(ep.netns), "%s", netns);
		snprintf(ep.ifname, sizeof(ep.ifname), "%s", iface);
		ep.tenant_id = tid;
		snprintf(ep.network, sizeof(ep.network), "%s", network ?: NF_NETWORK_DEFAULT);
		snprintf(ep.pod, sizeof(ep.pod), "%s", pod ?: "");
		err = apply__endpoint_context(dp, tenant, ep.network, ep.pod, addrs, n_addrs,
					      &ep.policy_id, &ep.ident);
		ep.addrs = addrs;
		ep.n_addrs = n_addrs;
		if (!err)
			err = dp__attach_iface(dp, &ep);
	}
	if (err)
		ret = NF_EXIT_FAIL;
out:
	dp__sync_host_addrs(dp);	/* SPEC §3.8: every change refreshes them */
	dp__unlock(lock);
	dp__close(dp);
	return ret;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iface", required_argument, NULL, 'i' }, { "netns", required_argument, NULL, 'n' },
		{ "cgroup", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{},
	};
	struct cmd_opts o = { .shortopts = "h", .longopts = opts, .usage = detach_usage };
	const char *iface = NULL, *netns = "", *cgroup = NULL;
	struct nf_dp *dp;
	int c, err, lock;

	while ((c = cmd_getopt(&o, argc, argv))) {
		switch (c) {
		case 'i':
			iface = optarg;
			break;
		case 'n':
			netns = optarg;
			break;
		case 'c':
			cgroup = optarg;
			break;
		}
	}
	if (o.ret >= 0)
		return o.ret;
	if (optind < argc || (!iface == !cgroup) || (cgroup && *netns)) {
		fputs(detach_usage, stderr);
		return NF_EXIT_USAGE;
	}
	err = dp__open(&dp, false);
	if (err) {
		pr_err("no such endpoint: the datapath is not loaded");
		return NF_EXIT_FAIL;
	}
	lock = dp__lock();
	if (lock < 0) {
		dp__close(dp);
		return NF_EXIT_FAIL;
	}
	err = cgroup ? dp__detach_cgroup(dp, cgroup) : dp__detach_iface(dp, netns, iface);
	if (err == -ENOENT)
		pr_err("no such endpoint: %s%s%s", cgroup ? cgroup : iface, *netns ? " in " : "",
		       netns);
	if (!err)
		apply__reclaim(dp);	/* its tenant may be left with nothing */
	dp__sync_host_addrs(dp);
	dp__unlock(lock);
	dp__close(dp);
	return err ? NF_EXIT_FAIL : NF_EXIT_OK;
}

int cmd_reset(int argc, char **argv)
{
	int lock;

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			puts("usage: netfence reset\nDetach every endpoint and remove all netfence state "
			     "(pins under " NF_PIN_ROOT ", " NF_RUN_DIR ").");
			return NF_EXIT_OK;
		}
		fputs("usage: netfence reset\n", stderr);
		return NF_EXIT_USAGE;
	}
	lock = dp__lock();
	if (lock < 0)
		return NF_EXIT_FAIL;
	dp__reset();
	dp__unlock(lock);
	return NF_EXIT_OK;
}
