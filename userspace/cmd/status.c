// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence status [--json]: is the datapath loaded, tenants (id, name, epoch,
 * rules per direction, endpoints), endpoints (interface + netns or cgroup,
 * owner), the policies each tenant has in the state store
 * (store__list) and map usage.
 * Works without the datapath: says so and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <jansson.h>
#include "cmd.h"
#include "apply.h"
#include "identities.h"
#include "datapath.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: netfence status [--json]\n"
		   "\n"
		   "Show whether the datapath is loaded, the tenants (id, epoch, compiled rules,\n"
		   "endpoints), the endpoints, each tenant's stored policies, and map usage.\n"
		   "\n"
		   "  --json      one JSON document\n"
		   "  -h, --help  this help\n");
}

static const char *tenant_of(const struct nf_metrics *m, uint32_t id)
{
	size_t i;

	for (i = 0; i < m->n_tenants; i++)
		if (m->tenants[i].id == id && m->tenants[i].has_info)
			return m->tenants[i].name;
	return NF_METRICS_UNKNOWN_TENANT;
}

static void policies_line(const struct nf_store_obj *st, size_t n_st, const char *tenant)
{
	size_t i;
	int k = 0;

	for (i = 0; i < n_st; i++) {
		if (strcmp(st[i].tenant, tenant))
			continue;
		printf("%s%s/%s", k++ ? ", " : "", store__kind_name(st[i].kind), st[i].name);
	}
	if (!k)
		printf("(none)");
	putchar('\n');
}

/* Rule sets (SPEC §12): the slots of tenants' MultiNetworkPolicies per network. */
struct ruleset_row {
	uint32_t id, owner;
	struct nf_tenant_info info;
	const char *network;	/* into info.name: the network key (or "#hash") */
};

static struct ruleset_row *rulesets_of(struct nf_dp *dp, size_t *n)
{
	struct ruleset_row *rows = calloc(NF_MAX_TENANTS, sizeof(*rows));
	uint32_t id, owner;

	*n = 0;
	for (id = 1; rows && id < NF_MAX_TENANTS; id++) {
		struct ruleset_row *r = &rows[*n];

		if (!dp__is_ruleset(dp, id, &owner) || dp__tenant_info(dp, id, &r->info))
			continue;
		r->id = id;
		r->owner = owner;
		r->info.name[sizeof(r->info.name) - 1] = '\0';
		r->network = strchr(r->info.name, '/') + 1;
		(*n)++;
	}
	return rows;
}

/* The endpoint's network as given ("" in older records: the default). */
static const char *network_of(const struct nf_ep_record *e)
{
	return e->network[0] ? e->network : NF_NETWORK_DEFAULT;
}

/* SPEC §11: the label identities (identity table), one line each. */
static void identities_text(void)
{
	struct nf_ident_table tb;
	size_t i, j, k, n = 0;
	char pods[16];

	if (idtab__load(&tb))
		return;
	printf("\nIDENTITIES (label sets of pods)\n%-24s %-8s %-6s %s\n", "TENANT", "INDEX", "PODS",
	       "LABELS");
	for (i = 0; i < tb.n; i++)
		for (j = 0; j < tb.t[i].n_ids; j++, n++) {
			const struct nf_ident_entry *e = &tb.t[i].ids[j];

			printf("%-24s %-8u %-6s ", tb.t[i].name, e->idx,
			       e->n_pods ? (snprintf(pods, sizeof(pods), "%u", e->n_pods), pods) : "?");
			for (k = 0; k < e->labels.n; k++)
				printf("%s%s=%s", k ? "," : "", e->labels.v[k].key, e->labels.v[k].value);
			for (k = 0; k < e->n_ports; k++)
				printf("%s%s=%u/%u", k || e->labels.n ? " " : "", e->ports[k].name,
				       e->ports[k].port, e->ports[k].proto);
			putchar('\n');
		}
	if (!n)
		printf("(none)\n");
	idtab__free(&tb);
}

static json_t *identities_json(void)
{
	struct nf_ident_table tb;
	json_t *a = json_array();
	size_t i, j, k;

	if (!a || idtab__load(&tb))
		return a;
	for (i = 0; i < tb.n; i++)
		for (j = 0; j < tb.t[i].n_ids; j++) {
			const struct nf_ident_entry *e = &tb.t[i].ids[j];
			json_t *labels = json_object(), *ports = json_array();

			for (k = 0; k < e->labels.n; k++)
				json_object_set_new(labels, e->labels.v[k].key,
						    json_string(e->labels.v[k].value));
			for (k = 0; k < e->n_ports; k++)
				json_array_append_new(ports, json_pack("{s:s, s:i, s:i}", "name",
								       e->ports[k].name, "proto",
								       e->ports[k].proto, "port",
								       e->ports[k].port));
			json_array_append_new(a, json_pack("{s:s, s:i, s:o, s:o, s:o}", "tenant",
							   tb.t[i].name, "index", (int)e->idx,
							   "labels", labels, "ports", ports, "pods",
							   e->n_pods ? json_integer(e->n_pods) :
								       json_null()));
		}
	idtab__free(&tb);
	return a;
}

/* Which policies judge an interface endpoint: its rule set's kind ("N:" keys
 * are NetworkPolicies selecting a label set, the others a network's
 * MultiNetworkPolicies), or its tenant's NetworkPolicies. */
static const char *rules_of(const struct ruleset_row *rs, size_t n_rs,
			    const struct nf_ep_record *e)
{
	size_t i;

	for (i = 0; e->policy_id && i < n_rs; i++)
		if (rs[i].id == e->policy_id)
			return !strncmp(rs[i].network, "N:", 2) ? "NetworkPolicy" :
								  "MultiNetworkPolicy";
	return "NetworkPolicy";
}

/*
 * Quarantined: an interface `serve` found unattached in a fenced workload and
 * fenced default-deny (SPEC §3.11). What the kernel enforces decides (the
 * endpoint's NF_EPF_DENY_ALL); the record's owner when the entry is missing.
 */
static bool *quarantined_of(struct nf_dp *dp, const struct nf_ep_record *eps, size_t n)
{
	bool *q = calloc(n + 1, sizeof(*q));
	size_t i;

	for (i = 0; q && i < n; i++) {
		struct nf_ep_key k;
		struct nf_endpoint v;

		if (eps[i].is_cgroup)
			continue;
		dp__ep_key(&eps[i], &k);	/* the map key is where its programs run */
		if (!bpf_map_lookup_elem(dp__map_fd(dp, NF_MAP_ENDPOINTS), &k, &v))
			q[i] = v.flags & NF_EPF_DENY_ALL;
		else
			q[i] = !strcmp(eps[i].owner, NF_OWNER_UNFENCED);
	}
	return q;
}

/* Which hook each interface endpoint's programs run at, asked of the kernel. */
static const char **hooks_of(struct nf_dp *dp, const struct nf_ep_record *eps, size_t n)
{
	const char **h = calloc(n + 1, sizeof(*h));
	size_t i;

	for (i = 0; h && i < n; i++)
		h[i] = eps[i].is_cgroup ? NULL : dp__iface_hook(dp, &eps[i]);
	return h;
}

/* Cluster-scoped objects (SPEC §13): they are in force in every tenant they select. */
static void print_cluster(const struct nf_store_obj *cl, size_t n_cl)
{
	size_t i;

	if (!n_cl)
		return;
	printf("\nCLUSTER POLICIES AND NODES\n%-28s %s\n", "KIND", "NAME");
	for (i = 0; i < n_cl; i++)
		printf("%-28s %s\n", store__kind_name(cl[i].kind), cl[i].name);
}

static json_t *cluster_json(const struct nf_store_obj *cl, size_t n_cl)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n_cl; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "kind",
						   store__kind_name(cl[i].kind), "name",
						   cl[i].name));
	return a;
}

static void print_text(bool loaded, const struct nf_metrics *m, const struct nf_ep_record *eps,
		       const bool *quar, const char *const *hooks, size_t n_eps, const struct nf_store_obj *st, size_t n_st,
		       const struct ruleset_row *rs, size_t n_rs)
{
	size_t i, j;

	if (!loaded) {
		printf("datapath not loaded\n");
	} else {
		struct nf_meta meta = {};

		dp__meta(&meta);
		printf("datapath: version %u, build %s, loaded (%s)\n", meta.version, meta.build,
		       NF_PIN_ROOT);
	}

	if (loaded) {
		printf("\nTENANTS\n%-6s %-24s %8s %8s %8s %9s %8s  %s\n", "ID", "NAME", "EPOCH",
		       "RULES_IN", "RULES_EG", "ENDPOINTS", "TRACKED", "POLICIES");
		for (i = 0; i < m->n_tenants; i++) {
			const struct nf_tenant_metrics *t = &m->tenants[i];

			if (!t->has_info)
				continue;
			printf("%-6u %-24s %8u %8u %8u %9u %8u  ", t->id, t->name, t->info.epoch,
			       t->info.n_rules[NF_DIR_INGRESS], t->info.n_rules[NF_DIR_EGRESS],
			       t->n_endpoints, t->usage.ct);
			policies_line(st, n_st, t->name);
		}
	}
	if (loaded && n_rs) {
		printf("\nRULE SETS (a network's MultiNetworkPolicies; M:/N: the MultiNetworkPolicies "
		       "or NetworkPolicies selecting a pod label set)\n%-6s %-24s %-32s %8s %8s %8s\n",
		       "ID", "TENANT", "NETWORK/KEY", "EPOCH", "RULES_IN", "RULES_EG");
		for (i = 0; i < n_rs; i++)
			printf("%-6u %-24s %-32s %8u %8u %8u\n", rs[i].id, tenant_of(m, rs[i].owner),
			       rs[i].network, rs[i].info.epoch, rs[i].info.n_rules[NF_DIR_INGRESS],
			       rs[i].info.n_rules[NF_DIR_EGRESS]);
	}
	/* stored objects of tenants the kernel does not know (yet) */
	for (i = 0; i < n_st; i++) {
		bool known = false;

		if (i && !strcmp(st[i].tenant, st[i - 1].tenant))
			continue;
		for (j = 0; loaded && j < m->n_tenants; j++)
			known |= m->tenants[j].has_info &&
				 !strcmp(m->tenants[j].name, st[i].tenant);
		if (!known) {
			printf("stored, not in the kernel: %-24s ", st[i].tenant);
			policies_line(st, n_st, st[i].tenant);
		}
	}
	if (!loaded)
		return;

	printf("\nENDPOINTS\n%-6s %-24s %-8s %s\n", "ID", "TENANT", "TYPE", "WHERE");
	for (i = 0; i < n_eps; i++) {
		const struct nf_ep_record *e = &eps[i];

		if (e->is_cgroup)
			printf("%-6u %-24s %-8s %s", e->ep_id, tenant_of(m, e->tenant_id), "cgroup",
			       e->cgroup);
		else
			printf("%-6u %-24s %-8s %s (ifindex %u) in %s, enforced on %s %s%s%s",
			       e->ep_id, tenant_of(m, e->tenant_id), "iface", e->ifname, e->ifindex,
			       e->netns[0] ? e->netns : "host netns",
			       e->attach_peer ? "its veth peer" : "the interface",
			       e->attach_ifname[0] ? e->attach_ifname : e->ifname,
			       e->attach_peer ? " in " : "",
			       !e->attach_peer ? "" : e->attach_netns[0] ? e->attach_netns : "host netns");
		if (!e->is_cgroup && hooks && hooks[i])
			printf(" (%s)", hooks[i]);
		if (!e->is_cgroup && e->guard)
			printf(", guarded on its parent %s", e->guard_ifname);
		if (!e->is_cgroup)
			printf(" network=%s rules=%s", network_of(e), rules_of(rs, n_rs, e));
		if (!e->is_cgroup && e->pod[0])
			printf(" pod=%s", e->pod);
		if (!e->is_cgroup && NF_IDENT_INDEX(e->ident))
			printf(" identity=%u", NF_IDENT_INDEX(e->ident));
		if (e->owner[0])
			printf(" owner=%s", e->owner);
		if (quar && quar[i])
			printf(" QUARANTINED (found unattached in a fenced workload: denies all)");
		putchar('\n');
	}
	if (!n_eps)
		printf("(none)\n");

	identities_text();
	printf("\nMAPS\n%-14s %10s %10s %6s\n", "MAP", "ENTRIES", "CAPACITY", "USE");
	for (i = 0; i < m->n_maps; i++)
		printf("%-14s %10u %10u %5.1f%%\n", m->maps[i].name, m->maps[i].entries,
		       m->maps[i].capacity,
		       m->maps[i].capacity ? 100.0 * m->maps[i].entries / m->maps[i].capacity : 0);
}

static json_t *policies_json(const struct nf_store_obj *st, size_t n_st, const char *tenant)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n_st; i++) {
		json_t *o;

		if (strcmp(st[i].tenant, tenant))
			continue;
		o = json_object();
		json_object_set_new(o, "kind", json_string(store__kind_name(st[i].kind)));
		json_object_set_new(o, "name", json_string(st[i].name));
		json_array_append_new(a, o);
	}
	return a;
}

static int print_json(bool loaded, const struct nf_metrics *m, const struct nf_ep_record *eps,
		      const bool *quar, const char *const *hooks, size_t n_eps, const struct nf_store_obj *st, size_t n_st,
		      const struct ruleset_row *rs, size_t n_rs, const struct nf_store_obj *cl,
		      size_t n_cl)
{
	json_t *rulesets = json_array();
	json_t *root = json_object(), *dp = json_object(), *tenants = json_array();
	json_t *endpoints = json_array(), *maps = json_array(), *stored = json_array();
	size_t i, j;
	int err;

	json_object_set_new(dp, "loaded", json_boolean(loaded));
	json_object_set_new(dp, "pin_root", json_string(NF_PIN_ROOT));
	if (loaded) {
		struct nf_meta meta = {};
		char hash[24];

		dp__meta(&meta);
		snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)meta.object_hash);
		json_object_set_new(dp, "version", json_integer(meta.version));
		json_object_set_new(dp, "build", json_string(meta.build));
		json_object_set_new(dp, "object_hash", json_string(hash));
	}
	json_object_set_new(root, "datapath", dp);
	json_object_set_new(root, "tenants", tenants);
	json_object_set_new(root, "endpoints", endpoints);
	json_object_set_new(root, "rule_sets", rulesets);
	for (i = 0; loaded && i < n_rs; i++)
		json_array_append_new(
			rulesets,
			json_pack("{s:I, s:s, s:s, s:I, s:{s:I, s:I}}", "id", (json_int_t)rs[i].id,
				  "tenant", tenant_of(m, rs[i].owner), "network", rs[i].network,
				  "epoch", (json_int_t)rs[i].info.epoch, "rules", "ingress",
				  (json_int_t)rs[i].info.n_rules[NF_DIR_INGRESS], "egress",
				  (json_int_t)rs[i].info.n_rules[NF_DIR_EGRESS]));
	json_object_set_new(root, "maps", maps);
	json_object_set_new(root, "stored_only", stored);
	json_object_set_new(root, "cluster", cluster_json(cl, n_cl));
	if (loaded)
		json_object_set_new(root, "conntrack_entries", json_integer(m->ct_entries));

	for (i = 0; loaded && i < m->n_tenants; i++) {
		const struct nf_tenant_metrics *t = &m->tenants[i];
		json_t *o, *r;

		if (!t->has_info)
			continue;
		o = json_object();
		r = json_object();
		json_object_set_new(o, "id", json_integer(t->id));
		json_object_set_new(o, "name", json_string(t->name));
		json_object_set_new(o, "epoch", json_integer(t->info.epoch));
		/* its share of the connection table in use (SPEC §3.13) */
		json_object_set_new(o, "tracked_connections", json_integer(t->usage.ct));
		json_object_set_new(r, "ingress", json_integer(t->info.n_rules[NF_DIR_INGRESS]));
		json_object_set_new(r, "egress", json_integer(t->info.n_rules[NF_DIR_EGRESS]));
		json_object_set_new(o, "rules", r);
		json_object_set_new(o, "endpoints", json_integer(t->n_endpoints));
		json_object_set_new(o, "policies", policies_json(st, n_st, t->name));
		json_array_append_new(tenants, o);
	}
	for (i = 0; i < n_st; i++) {
		bool known = false;
		json_t *o;

		if (i && !strcmp(st[i].tenant, st[i - 1].tenant))
			continue;
		for (j = 0; loaded && j < m->n_tenants; j++)
			known |= m->tenants[j].has_info &&
				 !strcmp(m->tenants[j].name, st[i].tenant);
		if (known)
			continue;
		o = json_object();
		json_object_set_new(o, "tenant", json_string(st[i].tenant));
		json_object_set_new(o, "policies", policies_json(st, n_st, st[i].tenant));
		json_array_append_new(stored, o);
	}
	for (i = 0; i < n_eps; i++) {
		const struct nf_ep_record *e = &eps[i];
		json_t *o = json_object();

		json_object_set_new(o, "id", json_integer(e->ep_id));
		json_object_set_new(o, "tenant", json_string(tenant_of(m, e->tenant_id)));
		json_object_set_new(o, "type", json_string(e->is_cgroup ? "cgroup" : "iface"));
		if (e->is_cgroup) {
			json_object_set_new(o, "cgroup", json_string(e->cgroup));
		} else {
			json_object_set_new(o, "iface", json_string(e->ifname));
			json_object_set_new(o, "ifindex", json_integer(e->ifindex));
			json_object_set_new(o, "netns", json_string(e->netns));
			/* where its programs run (SPEC §3.11) */
			json_object_set_new(
				o, "attach",
				json_pack("{s:s, s:s, s:s, s:I, s:s}", "at",
					  e->attach_peer ? "veth-peer" : "interface", "netns",
					  e->attach_ifindex ? e->attach_netns : e->netns, "iface",
					  e->attach_ifindex ? e->attach_ifname : e->ifname, "ifindex",
					  (json_int_t)(e->attach_ifindex ? e->attach_ifindex : e->ifindex),
					  "hook", hooks && hooks[i] ? hooks[i] : "unknown"));
			if (e->guard)
				json_object_set_new(o, "guard",
						    json_pack("{s:s, s:s}", "netns", e->guard_netns,
							      "iface", e->guard_ifname));
			json_object_set_new(o, "quarantined", json_boolean(quar && quar[i]));
			/* SPEC §12: its network, and whether its MultiNetworkPolicies judge it */
			json_object_set_new(o, "network", json_string(network_of(e)));
			json_object_set_new(o, "rules", json_string(rules_of(rs, n_rs, e)));
			/* SPEC §11: its pod and the identity its addresses carry */
			json_object_set_new(o, "pod", json_string(e->pod));
			json_object_set_new(o, "identity", json_integer(e->ident ? e->ident :
									  e->tenant_id));
		}
		json_object_set_new(o, "owner", json_string(e->owner));
		json_array_append_new(endpoints, o);
	}
	for (i = 0; i < m->n_maps; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(m->maps[i].name));
		json_object_set_new(o, "entries", json_integer(m->maps[i].entries));
		json_object_set_new(o, "capacity", json_integer(m->maps[i].capacity));
		json_array_append_new(maps, o);
	}
	json_object_set_new(root, "identities", identities_json());
	err = json_dumpf(root, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(root);
	return err ? -EIO : 0;
}

int cmd_status(int argc, char **argv)
{
	struct nf_ep_record *eps = NULL;
	struct nf_store_obj *st = NULL, *cl = NULL;
	struct ruleset_row *rs = NULL;
	bool *quar = NULL;
	const char **hooks = NULL;
	size_t n_eps = 0, n_st = 0, n_rs = 0, n_cl = 0;
	struct nf_metrics m;
	struct nf_dp *dp = NULL;
	bool json = false, loaded = false;
	int c, err = 0;

	c = cmd_parse_json_only(argc, argv, &json, usage);
	if (c >= 0)
		return c;
	nf_log_setup_libbpf();

	metrics__init(&m);
	apply__settle();	/* a killed apply's journal: describe the kernel */
	if (dp__is_loaded()) {
		err = dp__open(&dp, false);
		if (err == -ENOENT) {
			err = 0;
		} else if (!err) {
			loaded = true;
			err = metrics__collect(&m, dp__maps(dp));
			if (!err)
				err = dp__list_endpoints(dp, &eps, &n_eps);
			if (!err)
				quar = quarantined_of(dp, eps, n_eps);
			if (!err)
				hooks = hooks_of(dp, eps, n_eps);
			if (!err)
				rs = rulesets_of(dp, &n_rs);
		}
	}
	if (!err) {
		err = store__list(NULL, &st, &n_st);
		if (!err)
			err = store__list(NF_STORE_CLUSTER, &cl, &n_cl);
		if (err)
			pr_warn("reading %s: %s", NF_STORE_OBJECTS, strerror(-err));
		err = 0;
	}
	if (!err) {
		if (json) {
			err = print_json(loaded, &m, eps, quar, hooks, n_eps, st, n_st, rs, n_rs, cl, n_cl);
		} else {
			print_text(loaded, &m, eps, quar, hooks, n_eps, st, n_st, rs, n_rs);
			print_cluster(cl, n_cl);
		}
	}
	free(cl);
	free(eps);
	free(quar);
	free(hooks);
	free(rs);
	free(st);
	metrics__free(&m);
	if (dp)
		dp__close(dp);
	return err ? NF_EXIT_FAIL : NF_EXIT_OK;
}
