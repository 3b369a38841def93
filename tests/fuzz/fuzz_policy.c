// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: policy parser + validator + compiler (ASan/UBSan).
 *
 * Any input: load it as a JSON document, check duplicates, and when it is
 * valid: deep-copy every policy, compile each tenant's policies, and probe
 * the compiled tables against the reference evaluator (refeval__decide) on
 * addresses and ports taken from the policies themselves. A disagreement
 * aborts: the compiler and the evaluator must agree on every valid input.
 *
 * The problem lines must stay one line each (SPEC §4): checked too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "policy.h"
#include "compile.h"

/* Weak, so the target still links (parser only) where compile.c is absent. */
#pragma weak compile__tenant
#pragma weak compile__tenant_env
#pragma weak compile__subject_matches
#pragma weak compile__free
#pragma weak compile__lookup
#pragma weak refeval__decide
#pragma weak refeval__decide_tiers
#pragma weak compile__ns_matches
#pragma weak lookup__allows

#define MAX_NAMES	64
#define MAX_PROBES	256

struct names {
	const char *v[MAX_NAMES];
	size_t n;
};

/* Tenant ids 1..n in order of first use; 0 (no id) once the table is full. */
static uint32_t fz_id(const char *name, void *ctx)
{
	struct names *t = ctx;
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->v[i], name))
			return (uint32_t)(i + 1);
	if (t->n == MAX_NAMES)
		return 0;
	t->v[t->n++] = name;
	return (uint32_t)t->n;
}

static const char *fz_name(uint32_t id, void *ctx)
{
	struct names *t = ctx;

	return id >= 1 && id <= t->n ? t->v[id - 1] : NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Ids for the tenant and every name its peers name, before compiling: the
 * tenants with ids are what namespaceSelectors on labels and pod selectors
 * are resolved over (SPEC §11), as apply gives the compiler every tenant
 * with an id. Sorted into *sorted (room for MAX_NAMES).
 */
static size_t fz_universe(struct names *names, const char *tenant, struct nf_policy *const *pols,
			  size_t n, const char **sorted)
{
	size_t i, d, r, k, m;

	fz_id(tenant, names);
	for (i = 0; i < n; i++)
		for (d = 0; d < NF_DIR_MAX; d++)
			for (r = 0; r < pols[i]->n_rules[d]; r++)
				for (k = 0; k < pols[i]->rules[d][r].n_peers; k++)
					for (m = 0; m < pols[i]->rules[d][r].peers[k].n_names; m++)
						if (pols[i]->rules[d][r].peers[k].names[m])
							fz_id(pols[i]->rules[d][r].peers[k].names[m],
							      names);
	memcpy(sorted, names->v, names->n * sizeof(*sorted));
	qsort(sorted, names->n, sizeof(*sorted), cmp_str);
	return names->n;
}

static int cmp_tenant(const void *a, const void *b)
{
	const struct nf_policy *const *x = a, *const *y = b;

	return strcmp((*x)->tenant, (*y)->tenant);
}

struct prober {
	const struct nf_compiled *c;
	const char *tenant;
	struct nf_policy *const *pols;
	size_t n_pols;
	struct names *names;
	size_t n_probes;
};

static void probe(struct prober *pr, uint8_t dir, const uint8_t addr[16], uint32_t peer_id,
		  uint8_t proto, uint16_t port)
{
	struct nf_query q = { .dir = dir, .peer_id = peer_id, .proto = proto, .port = port };
	struct nf_ref_verdict v;
	uint32_t ref;
	bool ok;

	if (pr->n_probes++ >= MAX_PROBES)
		return;
	memcpy(q.addr, addr, 16);
	ref = compile__lookup(pr->c, &q);
	/* SPEC §13: the verdict through every tier, not only "some rule" */
	refeval__decide_tiers(pr->tenant, pr->pols, pr->n_pols, &q, fz_name, pr->names, NULL, &v);
	ok = v.allow;
	if (lookup__allows(ref) != ok) {
		char buf[64];

		nf_format_addr(addr, buf, sizeof(buf));
		fprintf(stderr, "compiled rule %u but refeval %d: tenant %s dir %u addr %s id %u "
			"proto %u port %u\n", ref, ok, pr->tenant, dir, buf, peer_id, proto, port);
		abort();
	}
}

/* Last address of a prefix. */
static void cidr_last(const struct nf_cidr *c, uint8_t out[16])
{
	unsigned int i;

	memcpy(out, c->addr, 16);
	for (i = c->plen; i < 128; i++)
		out[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

static void probe_addr(struct prober *pr, uint8_t dir, const uint8_t addr[16])
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP };
	size_t p, d, r, k, id;

	for (id = 0; id <= pr->names->n + 1 && id < 4; id++)
		for (k = 0; k < sizeof(protos); k++)
			probe(pr, dir, addr, (uint32_t)id, protos[k], 80);
	/* Port edges of every port range in the direction. */
	for (p = 0; p < pr->n_pols; p++)
		for (r = 0; r < pr->pols[p]->n_rules[dir]; r++) {
			const struct nf_rule *ru = &pr->pols[p]->rules[dir][r];

			for (k = 0; k < ru->n_ports; k++)
				for (d = 0; d < 4; d++) {
					int32_t port = d == 0 ? ru->ports[k].lo : d == 1 ?
						ru->ports[k].hi : d == 2 ? ru->ports[k].lo - 1 :
						ru->ports[k].hi + 1;

					if (port >= 0 && port <= 65535)
						probe(pr, dir, addr, 0, ru->ports[k].proto,
						      (uint16_t)port);
				}
		}
}

static void probe_tenant(struct prober *pr)
{
	static const uint8_t outside[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t v4[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 1 };
	uint8_t last[16];
	size_t p, r, k, e;
	uint8_t dir;

	for (dir = 0; dir < NF_DIR_MAX; dir++) {
		probe_addr(pr, dir, outside);
		probe_addr(pr, dir, v4);
		for (p = 0; p < pr->n_pols; p++)
			for (r = 0; r < pr->pols[p]->n_rules[dir]; r++) {
				const struct nf_rule *ru = &pr->pols[p]->rules[dir][r];

				for (k = 0; k < ru->n_peers; k++) {
					const struct nf_peer *pe = &ru->peers[k];

					if (pe->kind != NF_PK_IPBLOCK)
						continue;
					probe_addr(pr, dir, pe->cidr.addr);
					cidr_last(&pe->cidr, last);
					probe_addr(pr, dir, last);
					for (e = 0; e < pe->n_except; e++)
						probe_addr(pr, dir, pe->except[e].addr);
				}
			}
	}
}

static void compile_all(struct nf_docset *ds)
{
	static const char cluster_only[] = "fz-cluster-only";
	struct nf_policy **pols;
	size_t i, j;

	if (!ds->n_policies && !ds->n_cluster)
		return;
	pols = calloc(ds->n_policies + 1, sizeof(*pols));
	if (!pols)
		return;
	/* Work on deep copies: policy__dup must be complete. */
	for (i = 0; i < ds->n_policies; i++) {
		pols[i] = policy__dup(ds->policies[i]);
		if (!pols[i])
			abort();
		if (strcmp(pols[i]->json, ds->policies[i]->json))
			abort();
	}
	if (ds->n_policies > 1)
		qsort(pols, ds->n_policies, sizeof(*pols), cmp_tenant);
	/* cluster policies alone: one tenant that only they can select */
	for (i = 0; i < ds->n_policies || (!i && ds->n_cluster); i = j) {
		struct nf_compiled *c = NULL;
		struct names names = {};
		const char *tenant = ds->n_policies ? pols[i]->tenant : cluster_only;

		for (j = i + 1; j < ds->n_policies && !strcmp(pols[j]->tenant, pols[i]->tenant); j++)
			;
		const char *sorted[MAX_NAMES];
		struct nf_policy *sel[j - i + ds->n_cluster + 1];
		struct nf_compile_env env = { .id_fn = fz_id, .id_ctx = &names, .tenants = sorted };
		size_t k, n_sel = 0;

		if (!compile__tenant_env || !compile__subject_matches || !compile__free ||
		    !compile__ns_matches)
			continue;
		/* an endpoint without labels: the policies whose podSelector selects it,
		 * and the cluster policies whose subject selects it (SPEC §13) */
		for (k = i; k < j && ds->n_policies; k++)
			if (compile__subject_matches(pols[k], NULL))
				sel[n_sel++] = pols[k];
		for (k = 0; k < ds->n_cluster; k++)
			if (compile__ns_matches(ds->cluster[k]->ns_subject, tenant, NULL) &&
			    compile__subject_matches(ds->cluster[k], NULL))
				sel[n_sel++] = ds->cluster[k];
		env.n_tenants = fz_universe(&names, tenant, sel, n_sel, sorted);
		if (compile__tenant_env(tenant, 1, (uint32_t)i & 1, sel, n_sel, &env, &c) == 0) {
			if (compile__lookup && refeval__decide_tiers && lookup__allows) {
				struct prober pr = { c, tenant, sel, n_sel, &names, 0 };

				probe_tenant(&pr);
#ifdef FUZZ_TRACE
				fprintf(stderr, "tenant %s: %zu probes\n", pr.tenant, pr.n_probes);
#endif
			}
			compile__free(c);
		}
	}
	for (i = 0; i < ds->n_policies; i++)
		policy__free(pols[i]);
	free(pols);
}

/* Cluster policies (SPEC §13): not compiled here yet; their deep copy must be complete. */
static void dup_cluster(struct nf_docset *ds)
{
	size_t i;

	for (i = 0; i < ds->n_cluster; i++) {
		struct nf_policy *d = policy__dup(ds->cluster[i]);

		if (!d || strcmp(d->json, ds->cluster[i]->json) ||
		    d->tier != ds->cluster[i]->tier || !d->ns_subject)
			abort();
		policy__free(d);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nf_docset *ds = policy__docset_new();
	size_t i;

	if (!ds)
		return 0;
	policy__load_json(ds, "fuzz.json", (const char *)data, size);
	policy__check_duplicates(ds);
	for (i = 0; i < ds->n_problems; i++) {
		const unsigned char *s = (const unsigned char *)ds->problems[i];

		if (strncmp((const char *)s, "fuzz.json: ", 11))
			abort();
		for (; *s; s++)
			if (*s < 0x20)
				abort();
	}
	if (!ds->n_problems) {
		compile_all(ds);
		dup_cluster(ds);
	}
	policy__docset_free(ds);
	return 0;
}
