// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netfence upgrade: replace the loaded datapath in place (SPEC §10.1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include "apply.h"
#include "cmd.h"
#include "datapath.h"

static const char upgrade_usage[] =
	"usage: netfence upgrade [--dry-run] [--allow-downgrade]\n"
	"Replace the loaded datapath by this build's, in place: maps of unchanged layout\n"
	"reused, changed ones carried over, every endpoint's programs replaced where they\n"
	"run (each hook in one step), the pins switched last. No endpoint is ever without\n"
	"enforcement. Any state-changing command of a newer build does the same first.\n"
	"  --dry-run          say what would be done, change nothing\n"
	"  --allow-downgrade  replace a datapath newer than this build (refused otherwise)\n";

int cmd_upgrade(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "allow-downgrade", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_opts o = { .shortopts = "h", .longopts = longopts, .usage = upgrade_usage };
	struct nf_upgrade_opts u = { .verbose = true };
	int c, err;

	while ((c = cmd_getopt(&o, argc, argv))) {
		switch (c) {
		case 'n':
			u.dry_run = true;
			break;
		case 'D':
			u.allow_downgrade = true;
			break;
		}
	}
	if (o.ret >= 0)
		return o.ret;
	if (optind != argc) {
		cmd_usage(&o, stderr);
		return NF_EXIT_USAGE;
	}
	err = dp__upgrade(&u);
	/* every tenant's policy compiled again from the store by this build */
	if (!err && !u.dry_run)
		err = apply__settle();
	return err ? NF_EXIT_FAIL : NF_EXIT_OK;
}
