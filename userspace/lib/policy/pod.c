// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kind Pod (v1, SPEC §11): the labels, addresses and named container ports
 * of a pod, as `kubectl get pods -A -o json` prints it. Only these fields are
 * read, and validated as the API server does:
 *   metadata.name, metadata.namespace (the tenant), metadata.labels;
 *   spec.containers[].ports[]: name (IsValidPortName, unique in its
 *     container), containerPort (1-65535, required), protocol (TCP default,
 *     UDP, SCTP); a port without a name is validated and otherwise unused;
 *   spec.hostNetwork: such a pod's addresses are the node's, not its own, so
 *     it has none here (Kubernetes leaves host-network pods out of
 *     NetworkPolicy);
 *   status.podIPs[].ip (else status.podIP), at most one per family;
 *   status.phase: a Succeeded or Failed pod has released its addresses (they
 *     may already be another pod's), so it has none here.
 * Every other field of a real dump (managedFields, conditions, volumes...)
 * is ignored, not reported. The stored JSON holds only what netfence uses
 * and parses back to the same object.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

struct pod_parse {
	struct nf_pod_obj *p;
	size_t cap_ports;
	json_t *containers;	/* the stored JSON's spec.containers */
	bool json_fail;
};

static bool set_new(struct pod_parse *pp, json_t *obj, const char *key, json_t *v)
{
	if (!obj || !v) {
		json_decref(v);
		pp->json_fail = true;
		return false;
	}
	if (json_object_set_new(obj, key, v)) {	/* v is released */
		pp->json_fail = true;
		return false;
	}
	return true;
}

static bool append_new(struct pod_parse *pp, json_t *arr, json_t *v)
{
	if (!arr || !v) {
		json_decref(v);
		pp->json_fail = true;
		return false;
	}
	if (json_array_append_new(arr, v)) {	/* v is released */
		pp->json_fail = true;
		return false;
	}
	return true;
}

/* A boolean field; false when absent or of another type (reported). */
static bool bool_field(struct pctx *c, json_t *obj, const char *key)
{
	json_t *v = nfp_field(obj, key);
	size_t old;

	if (!v || json_is_boolean(v))
		return json_is_true(v);
	old = nfp_path_key(c, key);
	nfp_problem(c, "must be a boolean, got %s", nfp_type_name(v));
	nfp_path_pop(c, old);
	return false;
}

/* One of a container's ports; a named one is added to the pod and to *out (stored JSON). */
static void parse_container_port(struct pctx *c, json_t *obj, struct pod_parse *pp,
				 const char **names, size_t n_names, json_t *out)
{
	const char *name, *proto_s;
	struct nf_named_port np = { .proto = IPPROTO_TCP };
	char q[QBUF_LEN];
	json_t *cp;
	bool ok = true;
	size_t old, i;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	name = nfp_string_field(c, obj, "name", false);
	if (name && *name) {
		old = nfp_path_key(c, "name");
		if (!nf_is_port_name(name)) {
			nfp_problem(c, "%s " NFP_PORT_NAME_MSG, nfp_quote(name, q, sizeof(q)));
			ok = false;
		}
		for (i = 0; ok && i < n_names; i++)
			if (names[i] && !strcmp(names[i], name)) {
				nfp_problem(c, "duplicate value %s", nfp_quote(name, q, sizeof(q)));
				ok = false;
			}
		nfp_path_pop(c, old);
	}
	cp = nfp_field(obj, "containerPort");
	old = nfp_path_key(c, "containerPort");
	if (!cp) {
		nfp_problem(c, "is required");
		ok = false;
	} else if (!nfp_expect_type(c, cp, JSON_INTEGER)) {
		ok = false;
	} else if (json_integer_value(cp) < 1 || json_integer_value(cp) > 65535) {
		nfp_problem(c, "%" JSON_INTEGER_FORMAT " must be between 1 and 65535, inclusive",
			    json_integer_value(cp));
		ok = false;
	} else {
		np.port = (uint16_t)json_integer_value(cp);
	}
	nfp_path_pop(c, old);
	proto_s = nfp_string_field(c, obj, "protocol", false);
	if (proto_s) {
		if (!strcmp(proto_s, "UDP")) {
			np.proto = IPPROTO_UDP;
		} else if (!strcmp(proto_s, "SCTP")) {
			np.proto = IPPROTO_SCTP;
		} else if (strcmp(proto_s, "TCP")) {
			old = nfp_path_key(c, "protocol");
			nfp_problem(c, "%s is not supported (must be TCP, UDP or SCTP)",
				    nfp_quote(proto_s, q, sizeof(q)));
			nfp_path_pop(c, old);
			ok = false;
		}
	}
	if (!ok || !name || !*name)
		return;
	strcpy(np.name, name);
	if (nfp_grow((void **)&pp->p->ports, &pp->cap_ports, pp->p->n_ports + 1,
		     sizeof(np))) {
		c->oom = true;
		return;
	}
	pp->p->ports[pp->p->n_ports++] = np;
	{
		json_t *o = json_object();

		if (set_new(pp, o, "name", json_string(name)) &&
		    set_new(pp, o, "containerPort", json_integer(np.port)) &&
		    set_new(pp, o, "protocol", json_string(np.proto == IPPROTO_UDP ? "UDP" :
							   np.proto == IPPROTO_SCTP ? "SCTP" :
							   "TCP")))
			append_new(pp, out, o);
		else
			json_decref(o);
	}
}

static void parse_container(struct pctx *c, json_t *ctr, struct pod_parse *pp)
{
	const char **names = NULL;
	json_t *ports, *out;
	size_t i, n, old;

	if (!nfp_expect_type(c, ctr, JSON_OBJECT))
		return;
	ports = nfp_array_field(c, ctr, "ports", 0, NULL);
	n = ports ? json_array_size(ports) : 0;
	if (!n)
		return;
	names = nfp_xcalloc(c, n, sizeof(*names));
	out = json_array();
	old = nfp_path_key(c, "ports");
	for (i = 0; names && i < n; i++) {
		json_t *port = json_array_get(ports, i);
		size_t o2 = nfp_path_index(c, i);

		parse_container_port(c, port, pp, names, i, out);
		if (json_is_object(port) && json_is_string(json_object_get(port, "name")))
			names[i] = json_string_value(json_object_get(port, "name"));
		nfp_path_pop(c, o2);
	}
	nfp_path_pop(c, old);
	free(names);
	/* the stored JSON keeps a container only for its named ports */
	if (out && json_array_size(out)) {
		json_t *o = json_object();

		if (set_new(pp, o, "ports", out))
			append_new(pp, pp->containers, o);
		else
			json_decref(o);
	} else {
		json_decref(out);
	}
}

static void parse_spec(struct pctx *c, json_t *spec, struct pod_parse *pp, bool *host_network)
{
	json_t *ctrs;
	size_t i, old;

	if (!nfp_expect_type(c, spec, JSON_OBJECT))
		return;
	*host_network = bool_field(c, spec, "hostNetwork");
	ctrs = nfp_array_field(c, spec, "containers", 0, NULL);
	if (!ctrs)
		return;
	old = nfp_path_key(c, "containers");
	for (i = 0; i < json_array_size(ctrs); i++) {
		size_t o2 = nfp_path_index(c, i);

		parse_container(c, json_array_get(ctrs, i), pp);
		nfp_path_pop(c, o2);
	}
	nfp_path_pop(c, old);
}

/* One address at the current path into ips (at most one per family, no repeats). */
static void add_ip(struct pctx *c, const char *s, struct nf_cidr *ips, size_t *n)
{
	char q[QBUF_LEN];
	struct nf_cidr ip = { .plen = 128 };
	size_t i;

	if (nf_parse_addr(s, ip.addr, &ip.is_v4)) {
		nfp_problem(c, "%s is not a valid IP address", nfp_quote(s, q, sizeof(q)));
		return;
	}
	for (i = 0; i < *n; i++) {
		if (!memcmp(ips[i].addr, ip.addr, 16)) {
			nfp_problem(c, "duplicate value %s", nfp_quote(s, q, sizeof(q)));
			return;
		}
		if (ips[i].is_v4 == ip.is_v4) {
			nfp_problem(c, "may specify no more than one IP for each IP family "
				    "(got %s)", nfp_quote(s, q, sizeof(q)));
			return;
		}
	}
	ips[(*n)++] = ip;
}

static void parse_status(struct pctx *c, json_t *st, struct nf_pod_obj *p)
{
	const char *pod_ip;
	json_t *ips;
	size_t i, n, old;

	if (!nfp_expect_type(c, st, JSON_OBJECT))
		return;
	nfp_string_field(c, st, "phase", false);
	pod_ip = nfp_string_field(c, st, "podIP", false);
	ips = nfp_array_field(c, st, "podIPs", 0, NULL);
	n = ips ? json_array_size(ips) : 0;
	/* two families at most; more is reported as the API server does */
	p->ips = nfp_xcalloc(c, n ? n : 1, sizeof(*p->ips));
	if (!p->ips)
		return;
	if (n) {
		old = nfp_path_key(c, "podIPs");
		for (i = 0; i < n; i++) {
			json_t *e = json_array_get(ips, i);
			size_t o2 = nfp_path_index(c, i);
			const char *s;

			if (nfp_expect_type(c, e, JSON_OBJECT)) {
				s = nfp_string_field(c, e, "ip", true);
				if (s) {
					size_t o3 = nfp_path_key(c, "ip");

					add_ip(c, s, p->ips, &p->n_ips);
					nfp_path_pop(c, o3);
				}
			}
			nfp_path_pop(c, o2);
		}
		nfp_path_pop(c, old);
	}
	if (pod_ip && *pod_ip) {
		struct nf_cidr one[1];
		size_t k = 0;

		old = nfp_path_key(c, "podIP");
		add_ip(c, pod_ip, one, &k);
		nfp_path_pop(c, old);
		if (k && !n)
			p->ips[p->n_ips++] = one[0];
	}
}

static int cmp_named_port(const void *a, const void *b)
{
	const struct nf_named_port *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (!r)
		r = (int)x->proto - (int)y->proto;
	if (!r)
		r = (int)x->port - (int)y->port;
	return r;
}

/* Sorted by (name, proto, port), exact repeats (one name in two containers) once. */
static void normalize_ports(struct nf_pod_obj *p)
{
	size_t i, o = 0;

	if (p->n_ports < 2)
		return;
	qsort(p->ports, p->n_ports, sizeof(*p->ports), cmp_named_port);
	for (i = 0; i < p->n_ports; i++)
		if (!o || cmp_named_port(&p->ports[o - 1], &p->ports[i]))
			p->ports[o++] = p->ports[i];
	p->n_ports = o;
}

/* The stored JSON: only the fields netfence uses (see the header comment). */
static char *dump_pod(struct pctx *c, struct pod_parse *pp)
{
	struct nf_pod_obj *p = pp->p;
	json_t *o = json_object(), *md = json_object(), *labels, *spec, *status, *ips;
	char *s = NULL;
	size_t i;

	set_new(pp, o, "apiVersion", json_string(nf_kind_pod.api_version));
	set_new(pp, o, "kind", json_string(nf_kind_pod.name));
	if (set_new(pp, o, "metadata", md)) {
		set_new(pp, md, "name", json_string(p->name));
		set_new(pp, md, "namespace", json_string(p->tenant));
		if (p->labels.n && set_new(pp, md, "labels", labels = json_object()))
			for (i = 0; i < p->labels.n; i++)
				set_new(pp, labels, p->labels.v[i].key,
					json_string(p->labels.v[i].value));
	}
	if (json_array_size(pp->containers) && set_new(pp, o, "spec", spec = json_object())) {
		set_new(pp, spec, "containers", pp->containers);
		pp->containers = NULL;
	}
	if (p->n_ips && set_new(pp, o, "status", status = json_object()) &&
	    set_new(pp, status, "podIPs", ips = json_array()))
		for (i = 0; i < p->n_ips; i++) {
			char buf[64];
			json_t *e = json_object();

			nf_format_addr(p->ips[i].addr, buf, sizeof(buf));
			if (set_new(pp, e, "ip", json_string(buf)))
				append_new(pp, ips, e);
			else
				json_decref(e);
		}
	if (!pp->json_fail)
		s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		c->oom = true;
	return s;
}

static void parse_pod(struct pctx *c, json_t *obj, size_t before)
{
	struct pod_parse pp = {};
	const char *name, *ns, *phase = NULL;
	bool host_network = false;
	json_t *md, *v;
	size_t old;

	pp.p = nfp_xcalloc(c, 1, sizeof(*pp.p));
	pp.containers = json_array();
	if (!pp.p || !pp.containers) {
		c->oom = true;
		goto out;
	}
	nfp_parse_metadata(c, obj, true, &name, &ns);
	md = nfp_field(obj, "metadata");
	v = json_is_object(md) ? nfp_field(md, "labels") : NULL;
	if (v) {
		old = nfp_path_key(c, "metadata");
		nfp_path_key(c, "labels");
		nfp_parse_labels(c, v, &pp.p->labels);
		nfp_path_pop(c, old);
	}
	v = nfp_field(obj, "spec");
	if (v) {
		old = nfp_path_key(c, "spec");
		parse_spec(c, v, &pp, &host_network);
		nfp_path_pop(c, old);
	}
	v = nfp_field(obj, "status");
	if (v) {
		old = nfp_path_key(c, "status");
		parse_status(c, v, pp.p);
		nfp_path_pop(c, old);
		if (json_is_object(v) && json_is_string(json_object_get(v, "phase")))
			phase = json_string_value(json_object_get(v, "phase"));
	}
	if (c->ds->n_problems != before || c->oom || !name || !ns)
		goto out;
	/* addresses that are not (or no longer) the pod's own */
	if (host_network || (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))))
		pp.p->n_ips = 0;
	normalize_ports(pp.p);
	pp.p->tenant = nfp_xstrdup(c, ns);
	pp.p->name = nfp_xstrdup(c, name);
	pp.p->file = nfp_xstrdup(c, c->file);
	if (!c->oom)
		pp.p->json = dump_pod(c, &pp);
	if (c->oom || nfp_ds_add_pod(c->ds, pp.p)) {
		c->oom = true;
		goto out;
	}
	pp.p = NULL;
out:
	pod_obj__free(pp.p);
	json_decref(pp.containers);
}

static void check_duplicates(struct nf_docset *ds)
{
	struct nfp_dup_key *e;
	size_t i;

	if (ds->n_pods < 2)
		return;
	e = calloc(ds->n_pods, sizeof(*e));
	if (!e) {
		nfp_ds_add_problem(ds, NULL);
		return;
	}
	for (i = 0; i < ds->n_pods; i++)
		e[i] = (struct nfp_dup_key){ ds->pods[i]->tenant, ds->pods[i]->name,
					     ds->pods[i]->file, i };
	nfp_report_duplicates(ds, e, ds->n_pods, "Pod");
	free(e);
}

const struct nf_kind nf_kind_pod = {
	.name = "Pod",
	.api_version = "v1",
	.allowed_in = NF_DOC_TOP | NF_DOC_LIST | NF_DOC_PODLIST,
	.parse = parse_pod,
	.check_duplicates = check_duplicates,
};
