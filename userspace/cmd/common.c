// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Argument handling shared by the commands. */
#include <getopt.h>
#include <stdio.h>
#include "cmd.h"

void cmd_usage(const struct cmd_opts *o, FILE *f)
{
	if (o->usage)
		fputs(o->usage, f);
	else
		o->usage_fn(f);
}

int cmd_getopt(struct cmd_opts *o, int argc, char **argv)
{
	int c;

	if (!o->started) {
		o->started = true;
		o->ret = -1;
		optind = 0;	/* full re-initialisation: the dispatcher may have used getopt */
		opterr = !o->name;
	}
	if (o->ret >= 0)
		return 0;
	c = getopt_long(argc, argv, o->shortopts, o->longopts, NULL);
	switch (c) {
	case -1:
		return 0;
	case 'h':
		cmd_usage(o, stdout);
		o->ret = NF_EXIT_OK;
		return 0;
	case '?':
	case ':':
		if (o->name && optopt)
			fprintf(stderr, "netfence %s: unknown option -%c\n", o->name, optopt);
		else if (o->name)
			fprintf(stderr, "netfence %s: unknown option %s\n", o->name,
				argv[optind - 1]);
		cmd_usage(o, stderr);
		o->ret = NF_EXIT_USAGE;
		return 0;
	}
	return c;
}

int cmd_parse_json_only(int argc, char **argv, bool *json, void (*usage)(FILE *f))
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_opts o = { .shortopts = "jh", .longopts = opts, .usage_fn = usage };
	int c;

	*json = false;
	while ((c = cmd_getopt(&o, argc, argv)))
		if (c == 'j')
			*json = true;
	if (o.ret >= 0)
		return o.ret;
	if (optind != argc) {
		usage(stderr);
		return NF_EXIT_USAGE;
	}
	return -1;
}
