// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence validate FILE|DIR|-...: load and validate policy documents
 * (SPEC §4) without touching the kernel. Every problem is printed as one
 * line on stderr and the exit code is 2; otherwise a summary goes to stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "log.h"
#include "policy.h"

static const char validate_usage[] = "usage: netfence validate FILE|DIR|-...\n";

static void validate__help(FILE *f)
{
	fputs(validate_usage, f);
	if (f == stdout)
		fputs("\nValidate NetworkPolicy, Tenant, MultiNetworkPolicy, Pod, Namespace,\n"
		      "ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy\n"
		      "and Node JSON documents (also in their lists and in a List) from files,\n"
		      "directories (every *.json) or stdin (-). Prints every problem as\n"
		      "\"FILE: PATH: message\" on stderr and exits 2 if any.\n", f);
}

int cmd_validate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_opts o = { .shortopts = "+h", .longopts = opts, .usage_fn = validate__help,
			      .name = "validate" };
	struct nf_docset *ds;
	size_t np, nt, npod, nns, ncp, nnode, i;
	int ret;

	while (cmd_getopt(&o, argc, argv))
		;	/* no options but --help */
	if (o.ret >= 0)
		return o.ret;
	if (optind >= argc) {
		fprintf(stderr, "netfence validate: no FILE, DIR or - given\n");
		validate__help(stderr);
		return NF_EXIT_USAGE;
	}

	policy__json_arena_allow();
	ds = policy__docset_new();
	if (!ds) {
		pr_err("out of memory");
		return NF_EXIT_FAIL;
	}
	for (i = (size_t)optind; i < (size_t)argc; i++)
		policy__load_path(ds, argv[i]);
	policy__check_duplicates(ds);

	if (ds->n_problems) {
		for (i = 0; i < ds->n_problems; i++)
			fprintf(stderr, "%s\n", ds->problems[i]);
		ret = NF_EXIT_USAGE;
	} else {
		np = ds->n_policies;
		nt = ds->n_tenants;
		npod = ds->n_pods;
		nns = ds->n_namespaces;
		ncp = ds->n_cluster;
		nnode = ds->n_nodes;
		printf("valid: %zu %s, %zu %s, %zu %s, %zu %s, %zu cluster %s, %zu %s\n", np,
		       np == 1 ? "policy" : "policies", nt, nt == 1 ? "tenant" : "tenants", npod,
		       npod == 1 ? "pod" : "pods", nns, nns == 1 ? "namespace" : "namespaces",
		       ncp, ncp == 1 ? "policy" : "policies", nnode, nnode == 1 ? "node" : "nodes");
		ret = NF_EXIT_OK;
	}
	policy__docset_free(ds);
	return ret;
}
