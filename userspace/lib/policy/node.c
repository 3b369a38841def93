// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kind Node (v1, cluster-scoped, SPEC §13): what a ClusterNetworkPolicy
 * `nodes` peer selects. Read: metadata.name (a DNS-1123 subdomain),
 * metadata.labels, and status.addresses[] of type InternalIP or ExternalIP
 * (each a valid IPv4 or IPv6 address; the same address twice is kept once).
 * Addresses of other types (Hostname, InternalDNS, ...) are names, not
 * addresses: skipped unchecked. Every other field of a real dump is
 * ignored. A Node without a usable address is valid (it selects nothing).
 * The stored JSON holds only the name, the labels and the addresses used.
 */
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

/* The address types a `nodes` peer matches (upstream: node.Status.Addresses' IPs). */
static bool ip_type(const char *t)
{
	return !strcmp(t, "InternalIP") || !strcmp(t, "ExternalIP");
}

/* One status.addresses[] entry at the current path; adds its address to n (types[] alongside). */
static void parse_address(struct pctx *c, json_t *e, struct nf_node_obj *n, const char **types)
{
	const char *type, *addr;
	struct nf_cidr a = { .plen = 128 };
	char q[QBUF_LEN];
	size_t i, old;

	if (!nfp_expect_type(c, e, JSON_OBJECT))
		return;
	type = nfp_string_field(c, e, "type", true);
	if (!type || !ip_type(type))
		return;
	addr = nfp_string_field(c, e, "address", true);
	if (!addr)
		return;
	old = nfp_path_key(c, "address");
	if (nf_parse_addr(addr, a.addr, &a.is_v4)) {
		nfp_problem(c, "%s is not a valid IP address", nfp_quote(addr, q, sizeof(q)));
		nfp_path_pop(c, old);
		return;
	}
	nfp_path_pop(c, old);
	for (i = 0; i < n->n_addrs; i++)
		if (!memcmp(n->addrs[i].addr, a.addr, 16))
			return;
	types[n->n_addrs] = type;
	n->addrs[n->n_addrs++] = a;
}

static void parse_status(struct pctx *c, json_t *st, struct nf_node_obj *n, const char ***types)
{
	json_t *addrs;
	size_t i, cnt, old;

	if (!nfp_expect_type(c, st, JSON_OBJECT))
		return;
	addrs = nfp_array_field(c, st, "addresses", 0, NULL);
	cnt = addrs ? json_array_size(addrs) : 0;
	if (!cnt)
		return;
	n->addrs = nfp_xcalloc(c, cnt, sizeof(*n->addrs));
	*types = nfp_xcalloc(c, cnt, sizeof(**types));
	if (!n->addrs || !*types)
		return;
	old = nfp_path_key(c, "addresses");
	for (i = 0; i < cnt; i++) {
		size_t o2 = nfp_path_index(c, i);

		parse_address(c, json_array_get(addrs, i), n, *types);
		nfp_path_pop(c, o2);
	}
	nfp_path_pop(c, old);
}

/* {"apiVersion":"v1","kind":"Node","metadata":{"name","labels"},"status":{"addresses":[..]}} */
static char *dump_node(struct pctx *c, const struct nf_node_obj *n, const char **types)
{
	json_t *o = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", nf_kind_node.api_version, "kind",
			      nf_kind_node.name, "metadata", "name", n->name);
	json_t *md = o ? json_object_get(o, "metadata") : NULL, *labels, *addrs;
	bool fail = !md;
	char *s = NULL, buf[64];
	size_t i;

	if (!fail && n->labels.n) {
		labels = json_object();
		fail = json_object_set_new(md, "labels", labels) != 0;
		for (i = 0; !fail && i < n->labels.n; i++)
			fail = json_object_set_new(labels, n->labels.v[i].key,
						   json_string(n->labels.v[i].value)) != 0;
	}
	if (!fail && n->n_addrs) {
		addrs = json_array();	/* owned by status (json_pack's "o" takes it) */
		fail = json_object_set_new(o, "status",
					   json_pack("{s:o}", "addresses", addrs)) != 0;
		for (i = 0; !fail && i < n->n_addrs; i++) {
			nf_format_addr(n->addrs[i].addr, buf, sizeof(buf));
			fail = json_array_append_new(addrs, json_pack("{s:s, s:s}", "type",
								      types[i], "address",
								      buf)) != 0;
		}
	}
	if (!fail)
		s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		c->oom = true;
	return s;
}

static void parse_node(struct pctx *c, json_t *obj, size_t before)
{
	struct nf_node_obj *n;
	const char **types = NULL;
	const char *name;
	json_t *md, *v;
	size_t old;

	n = nfp_xcalloc(c, 1, sizeof(*n));
	if (!n)
		return;
	nfp_parse_cluster_metadata(c, obj, &name);
	md = nfp_field(obj, "metadata");
	v = json_is_object(md) ? nfp_field(md, "labels") : NULL;
	if (v) {
		old = nfp_path_key(c, "metadata");
		nfp_path_key(c, "labels");
		nfp_parse_labels(c, v, &n->labels);
		nfp_path_pop(c, old);
	}
	v = nfp_field(obj, "status");
	if (v) {
		old = nfp_path_key(c, "status");
		parse_status(c, v, n, &types);
		nfp_path_pop(c, old);
	}
	if (c->ds->n_problems != before || c->oom || !name)
		goto fail;
	n->name = nfp_xstrdup(c, name);
	n->file = nfp_xstrdup(c, c->file);
	if (!c->oom)
		n->json = dump_node(c, n, types);
	if (c->oom || nfp_ds_add_node(c->ds, n)) {
		c->oom = true;
		goto fail;
	}
	free(types);
	return;
fail:
	free(types);
	node_obj__free(n);
}

static void check_duplicates(struct nf_docset *ds)
{
	struct nfp_dup_key *e;
	size_t i;

	if (ds->n_nodes < 2)
		return;
	e = calloc(ds->n_nodes, sizeof(*e));
	if (!e) {
		nfp_ds_add_problem(ds, NULL);
		return;
	}
	for (i = 0; i < ds->n_nodes; i++)
		e[i] = (struct nfp_dup_key){ NULL, ds->nodes[i]->name, ds->nodes[i]->file, i };
	nfp_report_duplicates(ds, e, ds->n_nodes, "Node");
	free(e);
}

const struct nf_kind nf_kind_node = {
	.name = "Node",
	.api_version = "v1",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST | NF_DOC_NODELIST,
	.parse = parse_node,
	.check_duplicates = check_duplicates,
};
