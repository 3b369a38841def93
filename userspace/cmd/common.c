// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Argument handling shared by the commands. */
#include <getopt.h>
#include <stdio.h>
#include "cmd.h"

int cmd_parse_json_only(int argc, char **argv, bool *json, void (*usage)(FILE *f))
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			usage(stdout);
			return NF_EXIT_OK;
		default:
			usage(stderr);
			return NF_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return NF_EXIT_USAGE;
	}
	return -1;
}
