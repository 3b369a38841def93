/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * CLI commands. Each takes the arguments after the command name (argv[0] is
 * the command name, getopt_long-ready) and returns the process exit code:
 * 0 success, 1 runtime failure, 2 bad usage or invalid input (SPEC §5).
 * Each handles --help itself.
 */
#ifndef NETFENCE_CMD_H
#define NETFENCE_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#define NF_EXIT_OK	0
#define NF_EXIT_FAIL	1
#define NF_EXIT_USAGE	2

int cmd_apply(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_upgrade(int argc, char **argv);

/*
 * The option loop every command has, as an iterator:
 *
 *	struct cmd_opts o = { .shortopts = "h", .longopts = opts, .usage = text };
 *
 *	while ((c = cmd_getopt(&o, argc, argv))) {
 *		switch (c) { ...the command's own options... }
 *	}
 *	if (o.ret >= 0)
 *		return o.ret;
 *	operands: argv[optind..argc)
 *
 * cmd_getopt() runs getopt_long from argv[1] (the first call re-initialises
 * getopt) and returns each option of the command. It handles the rest the
 * same way for every command and then returns 0 with o->ret set:
 * -h/--help prints the usage on stdout, ret 0 (NF_EXIT_OK); an unknown
 * option or a missing argument prints one line naming it (getopt's own,
 * e.g. "apply: unrecognized option '--x'", or with .name set
 * "netfence NAME: unknown option --x") and the usage on stderr, ret 2
 * (NF_EXIT_USAGE). At the end of the options it returns 0 with ret -1.
 */
struct cmd_opts {
	const char *shortopts;		/* with 'h'; a leading '+' stops at the first operand */
	const struct option *longopts;	/* ending in an all-zero entry */
	const char *usage;		/* the usage text, printed as is; or NULL and: */
	void (*usage_fn)(FILE *f);	/* prints the usage (the long help when f is stdout) */
	const char *name;		/* NULL: getopt reports bad options; else see above */
	int ret;			/* -1: go on; else the exit code to return */
	bool started;
};

int cmd_getopt(struct cmd_opts *o, int argc, char **argv);
void cmd_usage(const struct cmd_opts *o, FILE *f);

/*
 * For commands whose only options are --json and --help: sets *json; returns
 * -1 to go on, or the exit code to return now (--help, bad usage).
 */
int cmd_parse_json_only(int argc, char **argv, bool *json, void (*usage)(FILE *f));

#endif
