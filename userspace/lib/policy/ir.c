// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The IR's lifetime: freeing a policy, a rule, a Tenant, Pod, Namespace or
 * Node object, and the deep copy of a policy that the state store keeps.
 */
#include <stdlib.h>
#include <string.h>
#include "policy_internal.h"

static void peer_clear(struct nf_peer *pe)
{
	size_t i;

	free(pe->except);
	for (i = 0; i < pe->n_names; i++)
		free(pe->names[i]);
	free(pe->names);
	nfp_selector_free(pe->ns_sel);
	nfp_selector_free(pe->pod_sel);
	nfp_selector_free(pe->node_sel);
}

void nfp_rule_clear(struct nf_rule *r)
{
	size_t i;

	for (i = 0; i < r->n_peers; i++)
		peer_clear(&r->peers[i]);
	free(r->peers);
	free(r->ports);
	free(r->name);
}

void policy__free(struct nf_policy *p)
{
	size_t i;
	int d;

	if (!p)
		return;
	for (d = 0; d < NF_DIR_MAX; d++) {
		for (i = 0; i < p->n_rules[d]; i++)
			nfp_rule_clear(&p->rules[d][i]);
		free(p->rules[d]);
	}
	for (i = 0; i < p->n_networks; i++)
		free(p->networks[i]);
	free(p->networks);
	nfp_selector_free(p->subject);
	nfp_selector_free(p->ns_subject);
	free(p->tenant);
	free(p->name);
	free(p->file);
	free(p->json);
	free(p);
}

void tenant_obj__free(struct nf_tenant_obj *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->file);
	free(t->json);
	free(t->cidrs);
	free(t);
}

void pod_obj__free(struct nf_pod_obj *p)
{
	if (!p)
		return;
	free(p->tenant);
	free(p->name);
	free(p->file);
	free(p->json);
	nf_labels_clear(&p->labels);
	free(p->ips);
	free(p->ports);
	free(p);
}

void node_obj__free(struct nf_node_obj *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->file);
	free(n->json);
	nf_labels_clear(&n->labels);
	free(n->addrs);
	free(n);
}

void namespace_obj__free(struct nf_namespace_obj *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->file);
	free(n->json);
	nf_labels_clear(&n->labels);
	free(n);
}

static void *memdup(const void *src, size_t n, size_t size, bool *fail)
{
	void *d;

	if (!n || !src)
		return NULL;
	d = malloc(n * size);
	if (!d) {
		*fail = true;
		return NULL;
	}
	memcpy(d, src, n * size);
	return d;
}

static char *strdup_opt(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

static void peer_copy(struct nf_peer *dst, const struct nf_peer *src, bool *fail)
{
	size_t i;

	*dst = *src;
	dst->ns_sel = nfp_selector_dup(src->ns_sel, fail);
	dst->pod_sel = nfp_selector_dup(src->pod_sel, fail);
	dst->node_sel = nfp_selector_dup(src->node_sel, fail);
	dst->except = memdup(src->except, src->n_except, sizeof(*src->except), fail);
	if (!dst->except)
		dst->n_except = 0;
	dst->names = NULL;
	dst->n_names = 0;
	if (!src->n_names)
		return;
	dst->names = calloc(src->n_names, sizeof(char *));
	if (!dst->names) {
		*fail = true;
		return;
	}
	for (i = 0; i < src->n_names; i++) {
		dst->names[i] = strdup_opt(src->names[i], fail);
		dst->n_names = i + 1;
	}
}

struct nf_policy *policy__dup(const struct nf_policy *p)
{
	struct nf_policy *d;
	bool fail = false;
	size_t i, j;
	int dir;

	if (!p)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->tenant = strdup_opt(p->tenant, &fail);
	d->name = strdup_opt(p->name, &fail);
	d->file = strdup_opt(p->file, &fail);
	d->json = strdup_opt(p->json, &fail);
	d->subject = nfp_selector_dup(p->subject, &fail);
	d->ns_subject = nfp_selector_dup(p->ns_subject, &fail);
	d->cnp_kind = p->cnp_kind;
	d->tier = p->tier;
	d->priority = p->priority;
	if (p->n_networks) {
		d->networks = calloc(p->n_networks, sizeof(char *));
		if (!d->networks)
			fail = true;
		for (i = 0; d->networks && i < p->n_networks; i++) {
			d->networks[i] = strdup_opt(p->networks[i], &fail);
			d->n_networks = i + 1;
		}
	}
	for (dir = 0; dir < NF_DIR_MAX; dir++) {
		d->has_dir[dir] = p->has_dir[dir];
		if (!p->n_rules[dir])
			continue;
		d->rules[dir] = calloc(p->n_rules[dir], sizeof(struct nf_rule));
		if (!d->rules[dir]) {
			fail = true;
			break;
		}
		d->n_rules[dir] = p->n_rules[dir];
		for (i = 0; i < p->n_rules[dir]; i++) {
			const struct nf_rule *sr = &p->rules[dir][i];
			struct nf_rule *dr = &d->rules[dir][i];

			dr->action = sr->action;
			dr->name = strdup_opt(sr->name, &fail);
			dr->ports = memdup(sr->ports, sr->n_ports, sizeof(*sr->ports), &fail);
			if (dr->ports)
				dr->n_ports = sr->n_ports;
			if (!sr->n_peers)
				continue;
			dr->peers = calloc(sr->n_peers, sizeof(struct nf_peer));
			if (!dr->peers) {
				fail = true;
				continue;
			}
			for (j = 0; j < sr->n_peers; j++) {
				peer_copy(&dr->peers[j], &sr->peers[j], &fail);
				dr->n_peers = j + 1;
			}
		}
	}
	if (fail) {
		policy__free(d);
		return NULL;
	}
	return d;
}
