/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * CLI commands. Each takes the arguments after the command name (argv[0] is
 * the command name, getopt_long-ready) and returns the process exit code:
 * 0 success, 1 runtime failure, 2 bad usage or invalid input (SPEC §5).
 * Each handles --help itself.
 */
#ifndef NETFENCE_CMD_H
#define NETFENCE_CMD_H

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

/*
 * For commands whose only options are --json and --help: sets *json; returns
 * -1 to go on, or the exit code to return now (--help, bad usage).
 */
int cmd_parse_json_only(int argc, char **argv, bool *json, void (*usage)(FILE *f));

#endif
