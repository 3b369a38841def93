// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netfence: the CLI and daemon. Commands live in userspace/cmd/. */
#include <stdio.h>
#include <string.h>
#include "cmd/cmd.h"
#include "log.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "apply", cmd_apply, "validate, compile and install policies atomically" },
	{ "validate", cmd_validate, "validate policies only" },
	{ "delete", cmd_delete, "remove a policy or all of a tenant's" },
	{ "attach", cmd_attach, "fence an interface or a cgroup for a tenant" },
	{ "detach", cmd_detach, "remove the fence from an interface or a cgroup" },
	{ "status", cmd_status, "tenants, endpoints, policies, rule and map usage" },
	{ "stats", cmd_stats, "drop counters per tenant, direction, reason" },
	{ "check", cmd_check, "verdict for a peer, and the policy and rule deciding it" },
	{ "monitor", cmd_monitor, "live stream of drop events" },
	{ "serve", cmd_serve, "Prometheus /metrics; watch a policy directory; follow node addresses; fence unattached interfaces" },
	{ "reset", cmd_reset, "detach everything, remove all state" },
	{ "upgrade", cmd_upgrade, "replace the loaded datapath in place" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: netfence [-v] COMMAND [ARGS]...\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'netfence COMMAND --help' for a command's options.\n"
		   "Exit codes: 0 success, 1 runtime failure, 2 bad usage or invalid input.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	while (argc > 1 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--verbose"))) {
		nf_log_set_level(NF_LOG_DEBUG);
		argv++;
		argc--;
	}
	if (argc < 2) {
		usage(stderr);
		return NF_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return NF_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("netfence %s\n", NF_VERSION);
		return NF_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "netfence: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return NF_EXIT_USAGE;
}
