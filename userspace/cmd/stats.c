// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence stats [--json]: drop counters per tenant, direction, reason and
 * hook (packets and bytes, summed over CPUs) and new flows allowed, read from
 * nf_stats through the metrics collector.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cmd.h"
#include "datapath.h"
#include "log.h"
#include "metrics.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: netfence stats [--json]\n"
		"\n"
		"Drop counters per tenant, direction, reason and hook (packets, bytes), and the\n"
		"new flows allowed per tenant and direction.\n"
		"\n"
		"  --json      one JSON document: {\"tenants\":[{\"tenant\":NAME,\n"
		"              \"drops\":[{\"direction\",\"reason\",\"hook\",\"packets\",\n"
		"              \"bytes\"}],\"allowed_flows\":{\"ingress\":N,\"egress\":N}}]}\n"
		"  -h, --help  this help\n");
}

static bool tenant_listed(const struct nf_tenant_metrics *t)
{
	int d, r, h;

	if (t->has_info)
		return true;
	for (d = 0; d < NF_DIR_MAX; d++)
		for (r = 0; r < NF_REASON_MAX; r++)
			for (h = 0; h < NF_HOOK_MAX; h++)
				if (t->seen[d][r][h])
					return true;
	return false;
}

static uint64_t allowed(const struct nf_tenant_metrics *t, int d)
{
	uint64_t n = 0;
	int h;

	for (h = 0; h < NF_HOOK_MAX; h++)
		n += t->cnt[d][NF_REASON_ALLOWED_FLOW][h].packets;
	return n;
}

static int print_json(const struct nf_metrics *m)
{
	json_t *root = json_object(), *tenants = json_array();
	size_t i;
	int d, r, h, err;

	json_object_set_new(root, "tenants", tenants);
	for (i = 0; i < m->n_tenants; i++) {
		const struct nf_tenant_metrics *t = &m->tenants[i];
		json_t *o, *drops, *af;

		if (!tenant_listed(t))
			continue;
		o = json_object();
		drops = json_array();
		af = json_object();
		json_object_set_new(o, "tenant", json_string(t->name));
		json_object_set_new(o, "drops", drops);
		for (d = 0; d < NF_DIR_MAX; d++)
			for (r = NF_DROP_POLICY; r < NF_REASON_MAX; r++)
				for (h = 0; h < NF_HOOK_MAX; h++) {
					json_t *x;

					if (!t->seen[d][r][h])
						continue;
					x = json_object();
					json_object_set_new(x, "direction",
							    json_string(metrics__dir_name(d)));
					json_object_set_new(x, "reason",
							    json_string(metrics__reason_name(r)));
					json_object_set_new(x, "hook",
							    json_string(metrics__hook_name(h)));
					json_object_set_new(x, "packets",
							    json_integer(t->cnt[d][r][h].packets));
					json_object_set_new(x, "bytes",
							    json_integer(t->cnt[d][r][h].bytes));
					json_array_append_new(drops, x);
				}
		for (d = 0; d < NF_DIR_MAX; d++)
			json_object_set_new(af, metrics__dir_name(d), json_integer(allowed(t, d)));
		json_object_set_new(o, "allowed_flows", af);
		json_array_append_new(tenants, o);
	}
	err = json_dumpf(root, stdout, JSON_INDENT(2));
	json_decref(root);
	putchar('\n');
	return err ? -EIO : 0;
}

static void print_table(const struct nf_metrics *m)
{
	size_t i;
	int d, r, h, rows = 0;

	printf("%-24s %-9s %-15s %-7s %12s %14s\n", "TENANT", "DIRECTION", "REASON", "HOOK",
	       "PACKETS", "BYTES");
	for (i = 0; i < m->n_tenants; i++) {
		const struct nf_tenant_metrics *t = &m->tenants[i];

		for (d = 0; d < NF_DIR_MAX; d++)
			for (r = NF_DROP_POLICY; r < NF_REASON_MAX; r++)
				for (h = 0; h < NF_HOOK_MAX; h++) {
					if (!t->seen[d][r][h])
						continue;
					printf("%-24s %-9s %-15s %-7s %12llu %14llu\n", t->name,
					       metrics__dir_name(d), metrics__reason_name(r),
					       metrics__hook_name(h),
					       (unsigned long long)t->cnt[d][r][h].packets,
					       (unsigned long long)t->cnt[d][r][h].bytes);
					rows++;
				}
	}
	if (!rows)
		printf("(no drops)\n");

	printf("\n%-24s %12s %12s\n", "ALLOWED FLOWS", "INGRESS", "EGRESS");
	rows = 0;
	for (i = 0; i < m->n_tenants; i++) {
		const struct nf_tenant_metrics *t = &m->tenants[i];

		if (!tenant_listed(t))
			continue;
		printf("%-24s %12llu %12llu\n", t->name,
		       (unsigned long long)allowed(t, NF_DIR_INGRESS),
		       (unsigned long long)allowed(t, NF_DIR_EGRESS));
		rows++;
	}
	if (!rows)
		printf("(no tenants)\n");
}

int cmd_stats(int argc, char **argv)
{
	struct nf_metrics m;
	struct nf_dp *dp = NULL;
	bool json = false;
	int c, err = 0;

	c = cmd_parse_json_only(argc, argv, &json, usage);
	if (c >= 0)
		return c;
	nf_log_setup_libbpf();

	metrics__init(&m);
	if (dp__is_loaded()) {
		err = dp__open(&dp, false);
		if (err == -ENOENT)
			err = 0;
		else if (!err) {
			err = metrics__collect(&m, dp__maps(dp));
			dp__close(dp);
		}
		if (err) {
			metrics__free(&m);
			return NF_EXIT_FAIL;
		}
	} else if (!json) {
		printf("datapath not loaded: no counters\n");
		metrics__free(&m);
		return NF_EXIT_OK;
	}
	if (json)
		err = print_json(&m);
	else
		print_table(&m);
	metrics__free(&m);
	return err ? NF_EXIT_FAIL : NF_EXIT_OK;
}
