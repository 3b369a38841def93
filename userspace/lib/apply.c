// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * apply / delete. The desired state is the set of objects keyed by (tenant,
 * kind, name), one JSON file each under /run/netfence/objects/<tenant>/.
 * A change is validated first (nothing happens on any problem), then every
 * touched tenant is compiled (nothing happens if one doesn't fit), then each
 * is installed atomically, and only then is the store updated.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <jansson.h>

#include "apply.h"
#include "compile.h"
#include "datapath.h"
#include "identities.h"
#include "log.h"
#include "policy.h"
#include "store.h"

/* OBJ_POLICY: a NetworkPolicy; OBJ_MNP: a MultiNetworkPolicy (both are an nf_policy).
 * OBJ_POD, OBJ_NAMESPACE: labels (SPEC §11); a Namespace's tenant is its name.
 * OBJ_CNP, OBJ_ANP, OBJ_BANP (an nf_policy each) and OBJ_NODE: cluster-scoped
 * (SPEC §13), their tenant is NF_STORE_CLUSTER. */
enum obj_kind { OBJ_POLICY, OBJ_TENANT, OBJ_MNP, OBJ_POD, OBJ_NAMESPACE, OBJ_CNP, OBJ_ANP,
		OBJ_BANP, OBJ_NODE };

static bool is_cluster(enum obj_kind k)
{
	return k >= OBJ_CNP;
}

static bool is_policy(enum obj_kind k)
{
	return k == OBJ_POLICY || k == OBJ_MNP;
}

struct obj {
	const char *tenant;
	const char *name;
	enum obj_kind kind;
	const char *json;
	struct nf_policy *pol;
	struct nf_tenant_obj *tobj;
	struct nf_pod_obj *pod;
	struct nf_namespace_obj *ns;
	struct nf_node_obj *node;
	bool removed;	/* in the store, not in the desired state */
	bool from_input;
	bool same;	/* input: the store holds it as it is (plan_changes) */
};

struct objset {
	struct obj *v;
	size_t n, cap;
};

static int objset_add(struct objset *s, const struct obj *o)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		struct obj *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *o;
	return 0;
}

static int objset_from_docset(struct objset *s, struct nf_docset *ds, bool input)
{
	size_t i;
	int err;

	for (i = 0; i < ds->n_policies; i++) {
		struct nf_policy *p = ds->policies[i];
		struct obj o = { .tenant = p->tenant, .name = p->name,
				 .kind = p->n_networks ? OBJ_MNP : OBJ_POLICY,
				 .json = p->json, .pol = p, .from_input = input };

		err = objset_add(s, &o);
		if (err)
			return err;
	}
	for (i = 0; i < ds->n_tenants; i++) {
		struct nf_tenant_obj *t = ds->tenants[i];
		struct obj o = { .tenant = t->name, .name = t->name, .kind = OBJ_TENANT,
				 .json = t->json, .tobj = t, .from_input = input };

		err = objset_add(s, &o);
		if (err)
			return err;
	}
	for (i = 0; i < ds->n_pods; i++) {
		struct nf_pod_obj *po = ds->pods[i];
		struct obj o = { .tenant = po->tenant, .name = po->name, .kind = OBJ_POD,
				 .json = po->json, .pod = po, .from_input = input };

		err = objset_add(s, &o);
		if (err)
			return err;
	}
	for (i = 0; i < ds->n_namespaces; i++) {
		struct nf_namespace_obj *ns = ds->namespaces[i];
		struct obj o = { .tenant = ns->name, .name = ns->name, .kind = OBJ_NAMESPACE,
				 .json = ns->json, .ns = ns, .from_input = input };

		err = objset_add(s, &o);
		if (err)
			return err;
	}
	for (i = 0; i < ds->n_cluster; i++) {
		struct nf_policy *p = ds->cluster[i];
		struct obj o = { .tenant = NF_STORE_CLUSTER, .name = p->name,
				 .kind = p->cnp_kind == NF_CNP_ANP ? OBJ_ANP :
					 p->cnp_kind == NF_CNP_BANP ? OBJ_BANP : OBJ_CNP,
				 .json = p->json, .pol = p, .from_input = input };

		err = objset_add(s, &o);
		if (err)
			return err;
	}
	for (i = 0; i < ds->n_nodes; i++) {
		struct nf_node_obj *nd = ds->nodes[i];
		struct obj o = { .tenant = NF_STORE_CLUSTER, .name = nd->name, .kind = OBJ_NODE,
				 .json = nd->json, .node = nd, .from_input = input };

		err = objset_add(s, &o);
		if (err)
			return err;
	}
	return 0;
}

static struct obj *objset_find(struct objset *s, const char *tenant, enum obj_kind kind,
			       const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].kind == kind && !strcmp(s->v[i].tenant, tenant) &&
		    !strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

static int obj_path(char *buf, size_t len, const struct obj *o)
{
	static const enum nf_store_kind kinds[] = {
		[OBJ_POLICY] = NF_STORE_POLICY, [OBJ_TENANT] = NF_STORE_TENANT,
		[OBJ_MNP] = NF_STORE_MNP, [OBJ_POD] = NF_STORE_POD,
		[OBJ_NAMESPACE] = NF_STORE_NAMESPACE, [OBJ_CNP] = NF_STORE_CNP,
		[OBJ_ANP] = NF_STORE_ANP, [OBJ_BANP] = NF_STORE_BANP, [OBJ_NODE] = NF_STORE_NODE,
	};

	return store__object_path(buf, len, o->tenant, kinds[o->kind], o->name);
}

/*
 * Load the stored desired state into ds (it was valid when stored): every
 * tenant's (only = NULL), or only the tenants named in only[0..n_only) —
 * an apply that isn't a prune touches nothing else, and reading 1,000
 * tenants' files would cost more than the apply itself.
 */
static int load_tenant_dir(struct nf_docset *ds, const char *dir, bool with_pods);

static int store_load_opt(struct nf_docset *ds, const char *const *only, size_t n_only,
			  bool with_pods);

static int store_load(struct nf_docset *ds, const char *const *only, size_t n_only)
{
	return store_load_opt(ds, only, n_only, true);
}

/* The stored objects of a tenant's directory but its Pod documents. */
static int not_pod(const struct dirent *de)
{
	size_t len = strlen(de->d_name);

	return de->d_name[0] != '.' && strncmp(de->d_name, "pod-", 4) && len > 5 &&
	       !strcmp(de->d_name + len - 5, ".json");
}

/* One tenant's directory; without its Pod documents unless with_pods. */
static int load_tenant_dir(struct nf_docset *ds, const char *dir, bool with_pods)
{
	struct dirent **ents = NULL;
	char path[PATH_MAX];
	int n, i, err = 0;

	if (with_pods)
		return policy__load_path(ds, dir);
	n = scandir(dir, &ents, not_pod, alphasort);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		if (!err && snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name) <
				    (int)sizeof(path))
			err = policy__load_path(ds, path);
		free(ents[i]);
	}
	free(ents);
	return err;
}

/*
 * with_pods false: a referrer's objects, which are recompiled for their
 * rules only: its Pod documents (thousands, in a big tenant) are not read.
 */
static int store_load_opt(struct nf_docset *ds, const char *const *only, size_t n_only,
			  bool with_pods)
{
	char path[PATH_MAX], **all = NULL;
	size_t i, j, n_all = 0;
	int err = 0;

	if (!only) {
		err = store__list_tenants(&all, &n_all);
		only = (const char *const *)all;
		n_only = n_all;
	}
	for (i = 0; i < n_only && !err; i++) {
		for (j = 0; j < i && strcmp(only[j], only[i]); j++)
			;
		if (j < i)
			continue;	/* named twice */
		if (store__tenant_dir(path, sizeof(path), only[i]) || access(path, F_OK))
			continue;
		err = load_tenant_dir(ds, path, with_pods);
	}
	store__free_names(all, n_all);
	if (!err && ds->n_problems) {
		pr_err("the stored state in %s is damaged: %s (run 'netfence reset' and apply again)",
		       NF_STORE_OBJECTS, ds->problems[0]);
		err = -EUCLEAN;
	}
	return err;
}

static void count_apply(bool ok)
{
	uint64_t n_ok = 0, n_err = 0;
	char buf[64];

	apply__counts(&n_ok, &n_err);
	if (ok)
		n_ok++;
	else
		n_err++;
	snprintf(buf, sizeof(buf), "ok %llu\nerror %llu\n", (unsigned long long)n_ok,
		 (unsigned long long)n_err);
	store__write(NF_STORE_APPLIES, buf, strlen(buf));
}

int apply__counts(uint64_t *ok, uint64_t *err)
{
	unsigned long long a = 0, b = 0;
	FILE *f = fopen(NF_STORE_APPLIES, "r");

	*ok = 0;
	*err = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fscanf(f, "ok %llu error %llu", &a, &b) == 2) {
		*ok = a;
		*err = b;
	}
	fclose(f);
	return 0;
}

/* ---- string lists (the strings are not owned) ---- */

struct strlist {
	const char **v;
	size_t n, cap;
};

static int strlist_add(struct strlist *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		const char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return 0;
}

static bool strlist_has(const struct strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The selector index's name for "any tenant": policies with a pod selector
 * over a negated set of tenants, or a namespaceSelector on labels, may
 * cover an identity of any tenant (SPEC §11). Never a tenant name.
 */
#define REF_ANY	"*"

/* Append every tenant name the policies' namespace selectors name (In and
 * NotIn alike), except `self`, and REF_ANY for selectors that may cover
 * any tenant's pods; then sort the whole list and drop repeats. */
static int selector_names(struct nf_policy *const *pols, size_t n_pols, const char *self,
			  struct strlist *out)
{
	size_t i, d, r, k, m, w;
	int err;

	for (i = 0; i < n_pols; i++)
		for (d = 0; d < NF_DIR_MAX; d++)
			for (r = 0; r < pols[i]->n_rules[d]; r++) {
				const struct nf_rule *rule = &pols[i]->rules[d][r];

				for (k = 0; k < rule->n_peers; k++) {
					const struct nf_peer *pe = &rule->peers[k];

					if (pe->kind != NF_PK_TENANTS && pe->kind != NF_PK_PODS)
						continue;
					if (pe->ns_labels ||
					    (pe->kind == NF_PK_PODS && pe->negate)) {
						err = strlist_add(out, REF_ANY);
						if (err)
							return err;
						if (pe->ns_labels)
							continue;
					}
					for (m = 0; m < pe->n_names; m++) {
						if (!pe->names[m] || !strcmp(pe->names[m], self))
							continue;
						err = strlist_add(out, pe->names[m]);
						if (err)
							return err;
					}
				}
			}
	if (!out->n)
		return 0;
	qsort(out->v, out->n, sizeof(*out->v), strp_cmp);
	for (i = 1, w = 1; i < out->n; i++)
		if (strcmp(out->v[i], out->v[w - 1]))
			out->v[w++] = out->v[i];
	out->n = w;
	return 0;
}

/*
 * The selector index. refs/<name>/<tenant> exists when the stored
 * policies of <tenant> name <name> in a namespace selector. A name without
 * a tenant id compiles to nothing (nf_tenant_id_fn in compile.h), so when
 * <name> gets its id the index says which tenants to recompile, without
 * reading every tenant's policies. It is derived from the store and may say
 * more than the store (an extra recompile is harmless), never less: names
 * are added before the store gains them and removed after it loses them.
 * refs/.complete marks an index built from the whole store; without it
 * (state written by a build that kept no index) the first reader builds it.
 *
 * refs/.pending-<name>: <name> is getting its id and the tenants
 * naming it may not be recompiled yet. Written before the id is created,
 * removed once they are installed; whoever next gives <name> an address
 * (attach, CNI ADD, a Tenant object) finishes that first (kill -9 safety).
 * Tenant names are DNS-1123 labels: they never start with '.'.
 */
static int refs_link(const char *name, const char *tenant)
{
	char path[PATH_MAX];
	int err = store__ref_path(path, sizeof(path), name, tenant);

	return err ? err : store__touch(path);
}

static void refs_unlink(const char *name, const char *tenant)
{
	char path[PATH_MAX];

	if (!store__ref_path(path, sizeof(path), name, tenant)) {
		store__reclaim_mark(name);	/* named no more, it may be free */
		store__remove(path, NF_STORE_REFS);	/* and refs/<name> when empty */
	}
}

/* add: link the names in `now` not in `was`; else unlink those in `was` not
 * in `now`. Both sorted and unique. */
static int refs_update(const char *tenant, const struct strlist *was, const struct strlist *now,
		       bool add)
{
	const struct strlist *from = add ? now : was, *other = add ? was : now;
	size_t i, j = 0;
	int err;

	for (i = 0; i < from->n; i++) {
		while (j < other->n && strcmp(other->v[j], from->v[i]) < 0)
			j++;
		if (j < other->n && !strcmp(other->v[j], from->v[i]))
			continue;
		if (!add) {
			refs_unlink(from->v[i], tenant);
			continue;
		}
		err = refs_link(from->v[i], tenant);
		if (err)
			return err;
	}
	return 0;
}

static int refs_rebuild(void)
{
	struct nf_docset *ds = policy__docset_new();
	struct strlist names = {};
	size_t i, j;
	int err;

	if (!ds)
		return -ENOMEM;
	err = store_load(ds, NULL, 0);
	for (i = 0; !err && i < ds->n_policies; i++) {
		struct nf_policy *p = ds->policies[i];

		names.n = 0;
		err = selector_names(&p, 1, p->tenant, &names);
		for (j = 0; !err && j < names.n; j++)
			err = refs_link(names.v[j], p->tenant);
	}
	if (!err)
		err = store__touch(NF_STORE_REFS_COMPLETE);
	free(names.v);
	policy__docset_free(ds);
	return err;
}

/* Append the tenants whose stored policies name `name` to out; the strings
 * are malloc'd and also listed in `keep` (the caller frees them). */
static int refs_of(const char *name, struct strlist *out, struct strlist *keep)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int err = 0;

	if (access(NF_STORE_REFS_COMPLETE, F_OK)) {
		err = refs_rebuild();
		if (err) {
			pr_err("cannot index the stored policies in %s: %s", NF_STORE_REFS,
			       strerror(-err));
			return err;
		}
	}
	if (store__ref_path(path, sizeof(path), name, NULL))
		return 0;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char *s;

		if (de->d_name[0] == '.')
			continue;
		s = strdup(de->d_name);
		if (!s || strlist_add(keep, s)) {
			free(s);
			err = -ENOMEM;
			break;
		}
		err = strlist_add(out, s);
		if (err)
			break;
	}
	closedir(d);
	return err;
}

static bool pending(const char *name)
{
	char path[PATH_MAX];

	return !store__pending_path(path, sizeof(path), name) && !access(path, F_OK);
}

static int pending_set(const char *name)
{
	char path[PATH_MAX];
	int err = store__pending_path(path, sizeof(path), name);

	return err ? err : store__touch(path);
}

static void pending_clear(const char *name)
{
	char path[PATH_MAX];

	if (!store__pending_path(path, sizeof(path), name))
		unlink(path);
}

/* ---- plans: the tenants one operation compiles and installs ---- */

/*
 * A rule set: the policies that judge one kind of endpoint of a tenant.
 * Endpoints differ by network (SPEC §12: a network's MultiNetworkPolicies)
 * and by labels (SPEC §11: the policies whose podSelector selects them, and
 * the numbers of the named ports their ingress rules use); `key` says which
 * (plan_context_key). The tenant's own slot holds the rules of an endpoint
 * on the default network without labels; every other key gets a slot.
 */
struct plan_set {
	char *key;			/* owned */
	uint32_t id;			/* its slot (dp__ruleset_id) */
	bool fresh;			/* the slot was created for this plan */
	struct nf_policy **pols;
	size_t n_pols;
	struct nf_named_port *ports;	/* the subject's named ports its rules use */
	size_t n_ports;
	struct nf_compiled *compiled;
};

struct tenant_plan {
	const char *tenant;
	uint32_t id;
	/* NetworkPolicies and MultiNetworkPolicies; from compile_plan on also
	 * the cluster policies that select the tenant (after the first n_own - 1) */
	struct nf_policy **pols;
	size_t n_pols, n_own;
	struct nf_pod_obj **pods;	/* its Pod documents (SPEC §11): the input's first */
	size_t n_pods;
	bool *moved;			/* pods[i] is applied now: the input's, changed */
	bool pods_changed;		/* a Pod document of it comes, goes or changes */
	bool pods_loaded;		/* pods are its Pod documents (else not read) */
	bool pods_partial;		/* ... only those that change (change.pods_only) */
	/* pods_partial, and its tables would come out as they are: no identity
	 * came or went and no changed pod is an endpoint's here (plan) */
	bool no_compile;
	char *def_key;			/* the context key of its own slot (compile_plan) */
	bool by_labels;			/* label_sensitive(), for compile_plan and want_cb */
	/* compile_plan: the NetworkPolicies compiled for the tenant's own id
	 * (NULL: none, deny), and a rule set per network its MNPs name */
	struct nf_compiled *compiled;
	struct plan_set *sets;
	size_t n_sets;
	/* Its objects do not change: recompiled because a tenant its policies
	 * name got an id. Never removes a policy. */
	bool referrer;
};

struct planset {
	struct tenant_plan *v;
	size_t n, cap;
};

static struct tenant_plan *plan_find(const struct planset *ps, const char *tenant)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		if (!strcmp(ps->v[i].tenant, tenant))
			return &ps->v[i];
	return NULL;
}

static int plan_add(struct planset *ps, const char *tenant, bool referrer)
{
	if (plan_find(ps, tenant))
		return 0;
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct tenant_plan *v = realloc(ps->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	ps->v[ps->n++] = (struct tenant_plan){ .tenant = tenant, .referrer = referrer };
	return 0;
}

/* The tenant's policies in the desired state: the input's, and the stored
 * ones neither removed nor replaced by the input. */
static int plan_fill(struct tenant_plan *p, struct objset *in, struct objset *stored)
{
	size_t j;

	p->pols = calloc(stored->n + in->n + 1, sizeof(*p->pols));
	p->pods = calloc(stored->n + in->n + 1, sizeof(*p->pods));
	p->moved = calloc(stored->n + in->n + 1, sizeof(*p->moved));
	if (!p->pols || !p->pods || !p->moved)
		return -ENOMEM;
	for (j = 0; j < in->n; j++) {
		if (strcmp(in->v[j].tenant, p->tenant))
			continue;
		if (is_policy(in->v[j].kind))
			p->pols[p->n_pols++] = in->v[j].pol;
		else if (in->v[j].kind == OBJ_POD) {
			p->moved[p->n_pods] = !in->v[j].same;
			p->pods[p->n_pods++] = in->v[j].pod;
		}
	}
	for (j = 0; j < stored->n; j++) {
		struct obj *s = &stored->v[j];

		if ((!is_policy(s->kind) && s->kind != OBJ_POD) || s->removed ||
		    strcmp(s->tenant, p->tenant))
			continue;
		if (objset_find(in, s->tenant, s->kind, s->name))
			continue;	/* replaced */
		if (s->kind == OBJ_POD)
			p->pods[p->n_pods++] = s->pod;
		else
			p->pols[p->n_pols++] = s->pol;
	}
	return 0;
}

/* The names the tenant's stored policies select (was) and its planned ones (now). */
static int plan_names(const struct tenant_plan *p, const struct objset *stored, struct strlist *was,
		      struct strlist *now)
{
	size_t j;
	int err = 0;

	was->n = 0;
	now->n = 0;
	for (j = 0; !err && j < stored->n; j++)
		if (is_policy(stored->v[j].kind) && !strcmp(stored->v[j].tenant, p->tenant))
			err = selector_names(&stored->v[j].pol, 1, p->tenant, was);
	/* selector_names sorts what it appended to: appending again and
	 * resorting is fine, it drops repeats across policies too */
	if (!err)
		err = selector_names(p->pols, p->n_pols, p->tenant, now);
	return err;
}

/* Apply Tenant objects' CIDRs to the ipcache: remove the old, add the new.
 * The tenant's id exists already (apply_locked gives every tenant with
 * objects one, before anything is installed). */
static int tenant_cidrs(struct nf_dp *dp, const char *tenant, const struct nf_tenant_obj *from,
			const struct nf_tenant_obj *to)
{
	uint32_t id;
	size_t i;
	int err;

	for (i = 0; from && i < from->n_cidrs; i++)
		dp__ipcache_del(dp, &from->cidrs[i]);
	if (!to)
		return 0;
	id = dp__tenant_id(dp, tenant, false);
	if (!id)
		return -ENOENT;
	for (i = 0; i < to->n_cidrs; i++) {
		err = dp__ipcache_set(dp, &to->cidrs[i], id);
		if (err)
			return err;
	}
	return 0;
}

/* A tenant's name and id, in a change's by-name index (env_build). */
struct tenant_idx {
	const char *name;
	uint32_t id;
};

/*
 * One change, node lock held: desired = stored, with `input` objects added
 * or replaced, and (prune) stored objects absent from input removed, or
 * (del_tenant) the named objects removed. `ensure`: a tenant that is about to
 * get an endpoint and so needs an id. It runs in four phases (apply_locked):
 *
 *   plan     which tenants change and their desired policies; ids for every
 *            tenant that will hold objects, and the referrers of those that
 *            get one (below)
 *   compile  every planned tenant, before the kernel sees anything; then
 *            the journal records the new objects of every touched tenant
 *   install  each tenant's atomic swap, then the identities (Tenant CIDRs);
 *            if one fails, every tenant installed so far goes back to its
 *            stored objects (all or nothing, SPEC §10.3)
 *   commit   the store follows the kernel: objects, selector index,
 *            markers; then the journal is removed
 *
 * kill -9 at any instant: see "Crash safety" below.
 *
 * Tenant ids go only to tenants with objects or endpoints; a tenant that
 * gets its id here makes every stored tenant whose policies name it a plan
 * too (a referrer), compiled and installed in the same operation, before any
 * address carries the new id: a NotIn selector compiled while the name had
 * no id would otherwise let that address in.
 */
struct change {
	struct nf_dp *dp;
	/* what is asked */
	struct nf_docset *input;
	bool prune;
	const char *del_tenant, *del_policy, *ensure;
	int del_kind;		/* deleting a cluster object: its obj_kind + 1 */
	/* prune only these tenants (recovery: the journal's), not every tenant */
	struct strlist scope;
	bool recovering;	/* the journal exists already: it describes this change */
	bool recompile_all;	/* every stored tenant, its objects unchanged (upgrade) */
	bool committing;	/* ... and its install was complete: only commit is left */
	/*
	 * Pods only (pod_only_eligible): only the changed Pod documents are
	 * read, not their tenants' others (the label-churn path: a change
	 * costs what its pods cost). -EAGAIN from plan when that can't be
	 * done right (pods_only_fallback): the caller runs it in full.
	 */
	bool pods_only, no_pods_only, pods_only_fallback;
	/* plan */
	struct nf_docset *stored_ds, *extra_ds, *rules_ds;
	struct objset stored, in;
	struct planset plans;	/* [0, n_changed): their objects change; then referrers */
	size_t n_changed, n_referrers;
	struct strlist only;	/* the tenants whose stored objects were read (no prune) */
	struct strlist created;	/* got their id here, or finish getting it (pending) */
	struct strlist fresh;	/* ... of which the id is new */
	struct strlist keep;	/* strings owned by the change */
	/* install */
	bool installing;	/* the kernel may have changed: ids are kept */
	size_t n_installed;	/* plans [0, n_installed) were swapped */
	bool cidrs_started;	/* Tenant CIDRs may have changed */
	/* labels (SPEC §11) */
	struct nf_ident_table ids;	/* the identity table as this change leaves it */
	struct strlist ns_changed;	/* tenants whose Namespace document changes */
	struct strlist pods_changed;	/* tenants whose Pod documents change */
	struct strlist wake;		/* selector-index names whose referrers recompile */
	struct nf_compile_env env;
	const char **env_tenants;
	struct tenant_idx *env_tidx;	/* env_tenants with their ids, by name */
	size_t n_env_tidx;
	struct nf_identity *env_idents;
	/* apply__endpoint_context: the endpoint about to be attached */
	const struct ep_ctx *attaching;
	const char *attaching_tenant;
	/* cluster policies and Nodes (SPEC §13), as the change leaves them */
	bool cluster_changed;		/* every tenant with an id is recompiled */
	struct nf_policy **cluster;	/* sorted by cluster_cmp */
	size_t n_cluster;
	struct nf_node_obj **nodes;
	size_t n_nodes;
	struct nf_cidr *host_addrs;	/* nodes peers without Node documents */
	size_t n_host_addrs;
};

static bool in_scope(const struct change *c, const char *tenant)
{
	return !c->scope.n || strlist_has(&c->scope, tenant);
}

/* ---- plan ---- */

/*
 * Whether the change can read only the Pod documents it changes (the label
 * churn of SPEC §9, §11: a change costs what its pods cost, not what their
 * tenants' thousands of others would): an apply, without prune or delete,
 * of Pod documents alone, each of a tenant that has its id.
 * NETFENCE_TEST_NO_PODS_ONLY (tests): never, to compare the two.
 */
static bool pods_only_eligible(const struct change *c)
{
	const struct nf_docset *in = c->input;
	size_t i;

	if (c->no_pods_only || !in || !in->n_pods || c->prune || c->del_tenant || c->del_kind ||
	    c->ensure || c->attaching || c->recovering || c->recompile_all || in->n_policies ||
	    in->n_tenants || in->n_namespaces || in->n_cluster || in->n_nodes ||
	    getenv("NETFENCE_TEST_NO_PODS_ONLY"))
		return false;
	for (i = 0; i < in->n_pods; i++)
		if (!dp__tenant_id(c->dp, in->pods[i]->tenant, false) || pending(in->pods[i]->tenant))
			return false;
	return true;
}

/*
 * pods_only: the stored documents of the input's pods. Their tenants'
 * other objects are read only for the tenants that are compiled
 * (pods_only_rules): most pod changes move no endpoint here, and leave
 * every table as it is.
 */
static int pods_only_read(struct change *c)
{
	char path[PATH_MAX];
	size_t i;
	int err = 0;

	for (i = 0; !err && i < c->input->n_pods; i++) {
		const struct nf_pod_obj *po = c->input->pods[i];

		if (store__object_path(path, sizeof(path), po->tenant, NF_STORE_POD, po->name) ||
		    access(path, F_OK))
			continue;	/* a new pod */
		err = policy__load_path(c->stored_ds, path);
		if (!err && c->stored_ds->n_problems) {
			pr_err("the stored state in %s is damaged: %s (run 'netfence reset' and "
			       "apply again)", NF_STORE_OBJECTS, c->stored_ds->problems[0]);
			err = -EUCLEAN;
		}
	}
	return err;
}

static bool pod_has_addr(const struct nf_pod_obj *p, const uint8_t addr[16])
{
	size_t i;

	for (i = 0; i < p->n_ips; i++)
		if (!memcmp(p->ips[i].addr, addr, 16))
			return true;
	return false;
}

/*
 * pods_only, after plan_changes: the addresses of the pods not read must
 * stay as they are. So each changed pod keeps every address it had (it may
 * add some), and an address it adds is no other Pod document's of its
 * tenant. Else -EAGAIN: the change runs in full (pod_ips sees every pod).
 */
static int pods_only_addrs(struct change *c)
{
	size_t i, j;

	for (i = 0; i < c->in.n; i++) {
		const struct obj *o = &c->in.v[i];
		const struct obj *s = objset_find(&c->stored, o->tenant, OBJ_POD, o->name);
		uint32_t tid = dp__tenant_id(c->dp, o->tenant, false);

		if (o->kind != OBJ_POD || (s && !strcmp(s->json, o->json)))
			continue;
		for (j = 0; s && j < s->pod->n_ips; j++)
			if (!pod_has_addr(o->pod, s->pod->ips[j].addr))
				goto full;
		for (j = 0; j < o->pod->n_ips; j++)
			if ((!s || !pod_has_addr(s->pod, o->pod->ips[j].addr)) &&
			    dp__ipcache_pod_held(c->dp, o->pod->ips[j].addr, tid))
				goto full;
	}
	return 0;
full:
	c->pods_only_fallback = true;
	return -EAGAIN;
}

/* The stored objects the change may touch: every tenant's when pruning. */
static int plan_read_store(struct change *c)
{
	size_t i;
	int err = 0;

	c->stored_ds = policy__docset_new();
	if (!c->stored_ds)
		return -ENOMEM;
	if (c->pods_only) {
		err = pods_only_read(c);
	} else if ((c->prune || c->recompile_all) && !c->scope.n) {
		err = store_load(c->stored_ds, NULL, 0);
	} else {
		for (i = 0; !err && i < c->scope.n; i++)
			err = strlist_add(&c->only, c->scope.v[i]);
		if (c->del_tenant)
			err = strlist_add(&c->only, c->del_tenant);
		if (!err && c->ensure)
			err = strlist_add(&c->only, c->ensure);
		for (i = 0; !err && c->input && i < c->input->n_policies; i++)
			err = strlist_add(&c->only, c->input->policies[i]->tenant);
		for (i = 0; !err && c->input && i < c->input->n_tenants; i++)
			err = strlist_add(&c->only, c->input->tenants[i]->name);
		for (i = 0; !err && c->input && i < c->input->n_pods; i++)
			err = strlist_add(&c->only, c->input->pods[i]->tenant);
		for (i = 0; !err && c->input && i < c->input->n_namespaces; i++)
			err = strlist_add(&c->only, c->input->namespaces[i]->name);
		if (!err && c->only.n)
			err = store_load(c->stored_ds, c->only.v, c->only.n);
	}
	/* cluster-scoped objects (SPEC §13): every tenant's compile needs them */
	if (!err && !strlist_has(&c->only, NF_STORE_CLUSTER)) {
		const char *cl = NF_STORE_CLUSTER;

		err = store_load(c->stored_ds, &cl, 1);
	}
	if (!err)
		err = objset_from_docset(&c->stored, c->stored_ds, false);
	if (!err && c->input)
		err = objset_from_docset(&c->in, c->input, true);
	return err;
}

/* Evaluation does not depend on it; keys and compiles are deterministic. */
static int cluster_cmp(const void *a, const void *b)
{
	const struct nf_policy *x = *(struct nf_policy *const *)a, *y = *(struct nf_policy *const *)b;

	if (x->cnp_kind != y->cnp_kind)
		return (int)x->cnp_kind - (int)y->cnp_kind;
	return strcmp(x->name, y->name);
}

/* The desired cluster policies and Nodes: the input's, and the stored ones
 * neither removed nor replaced. */
static int plan_cluster(struct change *c)
{
	size_t i, n = c->in.n + c->stored.n + 1;

	c->cluster = calloc(n, sizeof(*c->cluster));
	c->nodes = calloc(n, sizeof(*c->nodes));
	if (!c->cluster || !c->nodes)
		return -ENOMEM;
	for (i = 0; i < c->in.n + c->stored.n; i++) {
		const struct obj *o = i < c->in.n ? &c->in.v[i] : &c->stored.v[i - c->in.n];

		if (!is_cluster(o->kind) || o->removed ||
		    (i >= c->in.n && objset_find(&c->in, o->tenant, o->kind, o->name)))
			continue;
		if (o->kind == OBJ_NODE)
			c->nodes[c->n_nodes++] = o->node;
		else
			c->cluster[c->n_cluster++] = o->pol;
	}
	if (c->n_cluster > 1)
		qsort(c->cluster, c->n_cluster, sizeof(*c->cluster), cluster_cmp);
	return 0;
}

/*
 * SPEC §13: the cluster policies whose subject's namespace selector selects
 * tenant (whose Namespace labels are ns, NULL: only its name), appended to
 * pols[*n] in cluster order. Their pod selectors choose the endpoints, as a
 * NetworkPolicy's podSelector does.
 */
static void cluster_select(struct nf_policy *const *cl, size_t n_cl, const char *tenant,
			   const struct nf_labels *ns, struct nf_policy **pols, size_t *n)
{
	size_t i;

	for (i = 0; i < n_cl; i++)
		if (compile__ns_matches(cl[i]->ns_subject, tenant, ns))
			pols[(*n)++] = cl[i];
}

/* Which tenants change: a new or different policy, or a removed one; marks
 * the removed stored objects. -ENOENT: a delete that names nothing. */
static int plan_changes(struct change *c)
{
	bool any_removed = false;
	size_t i;
	int err = 0;

	for (i = 0; !err && i < c->in.n; i++) {
		struct obj *o = &c->in.v[i];
		struct obj *s = objset_find(&c->stored, o->tenant, o->kind, o->name);

		o->same = s && !strcmp(s->json, o->json);
		if (o->same)
			continue;
		c->cluster_changed |= is_cluster(o->kind);
		if (is_policy(o->kind) || o->kind == OBJ_POD)
			err = plan_add(&c->plans, o->tenant, false);
		if (!err && o->kind == OBJ_POD && !strlist_has(&c->pods_changed, o->tenant))
			err = strlist_add(&c->pods_changed, o->tenant);
		if (!err && o->kind == OBJ_NAMESPACE)
			err = strlist_add(&c->ns_changed, o->tenant);
	}
	for (i = 0; !err && i < c->stored.n; i++) {
		struct obj *s = &c->stored.v[i];

		if (c->del_kind)
			s->removed = (int)s->kind + 1 == c->del_kind &&
				     !strcmp(s->tenant, NF_STORE_CLUSTER) &&
				     !strcmp(s->name, c->del_policy);
		else if (c->del_tenant)
			s->removed = !strcmp(s->tenant, c->del_tenant) &&
				     (!c->del_policy ||
				      (is_policy(s->kind) && !strcmp(s->name, c->del_policy)));
		else if (c->prune && in_scope(c, s->tenant))
			s->removed = !objset_find(&c->in, s->tenant, s->kind, s->name);
		any_removed |= s->removed;
		/* after an upgrade, cluster policies are compiled again in every tenant */
		c->cluster_changed |= is_cluster(s->kind) && (s->removed || c->recompile_all);
		if ((s->removed || c->recompile_all) && (is_policy(s->kind) || s->kind == OBJ_POD))
			err = plan_add(&c->plans, s->tenant, false);
		if (!err && s->removed && s->kind == OBJ_POD &&
		    !strlist_has(&c->pods_changed, s->tenant))
			err = strlist_add(&c->pods_changed, s->tenant);
		if (!err && s->removed && s->kind == OBJ_NAMESPACE)
			err = strlist_add(&c->ns_changed, s->tenant);
	}
	/* recovering: every tenant of the journal, whose store the command may
	 * have written already, has its identities counted again (plan_labels) */
	for (i = 0; !err && c->recovering && i < c->scope.n; i++) {
		err = plan_add(&c->plans, c->scope.v[i], false);
		if (!err && !strlist_has(&c->pods_changed, c->scope.v[i]))
			err = strlist_add(&c->pods_changed, c->scope.v[i]);
	}
	if (err)
		return err;
	if (c->del_tenant && !any_removed)
		return -ENOENT;
	c->n_changed = c->plans.n;
	for (i = 0; !err && i < c->plans.n; i++)
		err = plan_fill(&c->plans.v[i], &c->in, &c->stored);
	if (!err)
		err = plan_cluster(c);
	return err;
}

/* An id for every tenant that will hold objects, and for `ensure`. A tenant
 * that gets one (or was getting one when a command died) is `created`. */
static int plan_ids(struct change *c)
{
	struct strlist want = {};
	size_t i;
	int err = 0;

	for (i = 0; !err && i < c->plans.n; i++)
		if ((c->plans.v[i].n_pols || c->plans.v[i].n_pods) &&
		    !strlist_has(&want, c->plans.v[i].tenant))
			err = strlist_add(&want, c->plans.v[i].tenant);
	for (i = 0; !err && i < c->in.n; i++)
		if (c->in.v[i].kind == OBJ_TENANT && !strlist_has(&want, c->in.v[i].tenant))
			err = strlist_add(&want, c->in.v[i].tenant);
	if (!err && c->ensure && !strlist_has(&want, c->ensure))
		err = strlist_add(&want, c->ensure);
	for (i = 0; !err && i < want.n; i++) {
		const char *w = want.v[i];
		uint32_t id = dp__tenant_id(c->dp, w, false);

		if (id && !pending(w))
			continue;
		err = pending_set(w);
		if (err) {
			pr_err("cannot write %s: %s", NF_STORE_REFS, strerror(-err));
			break;
		}
		if (!id) {
			id = dp__tenant_id(c->dp, w, true);
			if (!id) {
				pending_clear(w);
				pr_err("no free tenant id for %s (at most %d tenants)", w,
				       NF_MAX_TENANTS - 1);
				err = -EUSERS;
				break;
			}
			err = strlist_add(&c->fresh, w);
		}
		if (!err)
			err = strlist_add(&c->created, w);
	}
	free(want.v);
	return err;
}

/* The tenants whose stored policies name a tenant that got its id here
 * (and `ensure`'s own stored policies, should they exist without an id). */
static int plan_referrers(struct change *c)
{
	struct strlist refs = {}, need = {};
	size_t i, j;
	uint32_t id;
	int err = 0;

	if (c->attaching_tenant && !plan_find(&c->plans, c->attaching_tenant)) {
		err = plan_add(&c->plans, c->attaching_tenant, true);
		if (!err && !strlist_has(&c->only, c->attaching_tenant))
			err = strlist_add(&need, c->attaching_tenant);
	}
	/* a cluster policy or Node changed: every tenant with an id (SPEC §13) */
	for (id = 1; !err && c->cluster_changed && id < NF_MAX_TENANTS; id++) {
		struct nf_tenant_info ti;
		char *name;

		if (dp__tenant_info(c->dp, id, &ti) || !ti.name[0] || dp__is_ruleset(c->dp, id, NULL))
			continue;
		name = strndup(ti.name, sizeof(ti.name));
		if (!name || strlist_add(&c->keep, name)) {
			free(name);
			err = -ENOMEM;
			break;
		}
		if (plan_find(&c->plans, name))
			continue;
		err = plan_add(&c->plans, name, true);
		if (!err && !(c->prune && !c->scope.n) && !strlist_has(&c->only, name))
			err = strlist_add(&need, name);
	}
	for (i = 0; !err && i < c->created.n + c->wake.n; i++) {
		const char *name = i < c->created.n ? c->created.v[i] : c->wake.v[i - c->created.n];

		refs.n = 0;
		err = refs_of(name, &refs, &c->keep);
		if (!err && c->ensure && !strcmp(name, c->ensure))
			err = strlist_add(&refs, c->ensure);
		for (j = 0; !err && j < refs.n; j++) {
			if (plan_find(&c->plans, refs.v[j]))
				continue;
			err = plan_add(&c->plans, refs.v[j], true);
			if (!err && !(c->prune && !c->scope.n) && !strlist_has(&c->only, refs.v[j]))
				err = strlist_add(&need, refs.v[j]);
		}
	}
	if (!err && need.n) {
		c->extra_ds = policy__docset_new();
		err = c->extra_ds ? store_load_opt(c->extra_ds, need.v, need.n, false) : -ENOMEM;
		if (!err)
			err = objset_from_docset(&c->stored, c->extra_ds, false);
	}
	for (i = c->n_changed; !err && i < c->plans.n; i++)
		err = plan_fill(&c->plans.v[i], &c->in, &c->stored);
	free(refs.v);
	free(need.v);
	return err;
}

static size_t stored_pods(const struct change *c, const char *tenant, struct nf_pod_obj **out);
static const struct nf_pod_obj *ep_pod(const struct tenant_plan *p, const struct nf_ep_record *r);

/*
 * Whether none of p's (changed) pods is an endpoint's of this node: then
 * their change moves no endpoint to another rule set. 0 or -errno.
 */
static int pods_off_node(struct change *c, const struct tenant_plan *p, bool *off)
{
	struct nf_ep_record *recs = NULL;
	uint32_t tid = dp__tenant_id(c->dp, p->tenant, false);
	size_t n = 0, i;
	int err;

	*off = false;
	err = dp__list_endpoints(c->dp, &recs, &n);
	if (err)
		return err;
	*off = true;
	for (i = 0; i < n && *off; i++)
		*off = recs[i].is_cgroup || recs[i].tenant_id != tid || !ep_pod(p, &recs[i]);
	free(recs);
	return 0;
}

static int wake(struct change *c, const char *name)
{
	return strlist_has(&c->wake, name) ? 0 : strlist_add(&c->wake, name);
}

/* The desired Namespace document of tenant, or NULL. */
static const struct nf_namespace_obj *desired_ns(struct change *c, const char *tenant)
{
	const struct obj *o = objset_find(&c->in, tenant, OBJ_NAMESPACE, tenant);

	if (o)
		return o->ns;
	o = objset_find(&c->stored, tenant, OBJ_NAMESPACE, tenant);
	return o && !o->removed ? o->ns : NULL;
}

/* Whether a cluster policy's subject or peers depend on pod or namespace labels. */
static bool cluster_uses_labels(const struct change *c)
{
	size_t i, d, r, k;

	for (i = 0; i < c->n_cluster; i++) {
		const struct nf_policy *p = c->cluster[i];

		if (p->subject && p->subject->n_reqs)
			return true;
		for (k = 0; p->ns_subject && k < p->ns_subject->n_reqs; k++)
			if (strcmp(p->ns_subject->reqs[k].key, "kubernetes.io/metadata.name"))
				return true;
		for (d = 0; d < NF_DIR_MAX; d++)
			for (r = 0; r < p->n_rules[d]; r++)
				for (k = 0; k < p->rules[d][r].n_peers; k++)
					if (p->rules[d][r].peers[k].kind == NF_PK_PODS ||
					    p->rules[d][r].peers[k].ns_labels)
						return true;
	}
	return false;
}

/*
 * SPEC §11: the identity table follows the desired Pod and Namespace
 * documents. The tenants whose selectors may cover a changed tenant's pods
 * (the selector index: its name, and REF_ANY) are recompiled with it, so a
 * label change, a new pod or a deleted one is one atomic switch of each
 * affected tenant, revocation included; so are those with namespace label
 * selectors when a namespace's labels change or a tenant gets its id.
 */
static int plan_labels(struct change *c)
{
	size_t i;
	int err, r;

	err = idtab__load(&c->ids);
	if (err) {
		pr_err("cannot read %s: %s", NF_STORE_IDENTITIES, strerror(-err));
		return err;
	}
	for (i = 0; !err && i < c->n_changed; i++) {
		struct tenant_plan *p = &c->plans.v[i];

		p->pods_changed = strlist_has(&c->pods_changed, p->tenant);
		p->pods_loaded = true;
		p->pods_partial = c->pods_only;
		if (!p->pods_changed && !c->recompile_all && !c->recovering)
			continue;
		if (p->pods_partial) {
			struct nf_pod_obj **old = calloc(c->stored.n + 1, sizeof(*old));

			r = old ? idtab__move_pods(&c->ids, p->tenant, old,
						   stored_pods(c, p->tenant, old), p->pods,
						   p->n_pods) : -ENOMEM;
			free(old);
			if (r == -EAGAIN)
				c->pods_only_fallback = true;
			else if (!r)
				r = pods_off_node(c, p, &p->no_compile);
		} else {
			/* recovering: the counts of a store the command got to
			 * write may not be in the table yet (plan_changes) */
			r = idtab__sync_pods(&c->ids, p->tenant, p->pods, p->n_pods);
		}
		/* An identity came or went: the tables that name identities are
		 * recompiled. A pod that only moved between identities that
		 * stay needs none: its flows are judged again (labels_install). */
		if (r < 0)
			err = r;
		else if (r > 0 && (p->pods_changed || c->recovering))
			err = wake(c, p->tenant) ?: wake(c, REF_ANY);
	}
	for (i = 0; !err && i < c->ns_changed.n; i++) {
		const struct nf_namespace_obj *ns = desired_ns(c, c->ns_changed.v[i]);

		r = idtab__set_ns(&c->ids, c->ns_changed.v[i], ns ? &ns->labels : NULL);
		if (r < 0)
			err = r;
		else if (r)
			err = wake(c, REF_ANY);
	}
	if (!err && c->created.n)
		err = wake(c, REF_ANY);
	/*
	 * Cluster policies are compiled into every tenant they select, which the
	 * selector index does not record: a tenant that gets its id (a peer a
	 * cluster policy names or selects), or labels that change what their
	 * selectors match, recompile every tenant (SPEC §13).
	 */
	if (!err && c->n_cluster &&
	    (c->created.n || (cluster_uses_labels(c) && (c->wake.n || c->ns_changed.n))))
		c->cluster_changed = true;
	return err;
}

/* pods_only: the objects but Pod documents of the tenants that are compiled
 * after all, and their plans filled again with them. */
static int pods_only_rules(struct change *c)
{
	struct strlist need = {};
	size_t i;
	int err = 0;

	for (i = 0; !err && i < c->n_changed; i++)
		if (!c->plans.v[i].no_compile)
			err = strlist_add(&need, c->plans.v[i].tenant);
	if (!err && need.n) {
		c->rules_ds = policy__docset_new();
		err = c->rules_ds ? store_load_opt(c->rules_ds, need.v, need.n, false) : -ENOMEM;
		if (!err)
			err = objset_from_docset(&c->stored, c->rules_ds, false);
	}
	for (i = 0; !err && need.n && i < c->n_changed; i++) {
		struct tenant_plan *p = &c->plans.v[i];

		if (p->no_compile)
			continue;
		free(p->pols);
		free(p->pods);
		free(p->moved);
		p->n_pols = p->n_pods = 0;
		err = plan_fill(p, &c->in, &c->stored);
	}
	free(need.v);
	return err;
}

static int plan(struct change *c)
{
	int err = plan_read_store(c);
	size_t i;

	if (!err)
		err = plan_changes(c);
	if (!err && c->pods_only)
		err = pods_only_addrs(c);
	if (!err)
		err = plan_ids(c);
	if (!err)
		err = plan_labels(c);
	if (!err)
		err = plan_referrers(c);
	/*
	 * A tenant whose changed pods move no endpoint keeps its tables when the
	 * compile environment stays as it is; else (an identity came or went, a
	 * tenant got its id, a cluster policy is recompiled) it is compiled too.
	 */
	for (i = 0; i < c->plans.n; i++)
		c->plans.v[i].no_compile &= !c->wake.n && !c->created.n && !c->cluster_changed;
	if (!err && c->pods_only)
		err = pods_only_rules(c);
	return err;
}

/* ---- compile ---- */

/* The rule set of network key `key` in p, added if new; NULL: out of memory. */
static struct plan_set *plan_set_find(const struct tenant_plan *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->n_sets; i++)
		if (!strcmp(p->sets[i].key, key))
			return &p->sets[i];
	return NULL;
}

static void plan_free_compiled(struct tenant_plan *p)
{
	size_t i;

	compile__free(p->compiled);
	p->compiled = NULL;
	free(p->def_key);
	p->def_key = NULL;
	for (i = 0; i < p->n_sets; i++) {
		free(p->sets[i].key);
		free(p->sets[i].pols);
		free(p->sets[i].ports);
		compile__free(p->sets[i].compiled);
	}
	free(p->sets);
	p->sets = NULL;
	p->n_sets = 0;
}

/* ---- labels: the environment of a compile (SPEC §11) ---- */

static const struct nf_labels *ns_cb(const char *tenant, void *ctx)
{
	const struct nf_ident_tenant *t = idtab__find(ctx, tenant);

	return t && t->has_ns ? &t->ns : NULL;
}

/*
 * SPEC §13: without Node documents a `nodes` peer is this node: its
 * addresses as the datapath last trusted them (NF_STORE_HOST_ADDRS, see
 * dp__sync_host_addrs), link-local ones left out.
 */
static int env_host_addrs(struct change *c)
{
	char line[INET6_ADDRSTRLEN + 2];
	struct nf_cidr a = { .plen = 128 }, *v;
	FILE *f;
	int err = 0;

	free(c->host_addrs);
	c->host_addrs = NULL;
	c->n_host_addrs = 0;
	if (c->n_nodes || !c->n_cluster)
		return 0;
	f = fopen(NF_STORE_HOST_ADDRS, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (!err && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (nf_parse_addr(line, a.addr, &a.is_v4) || (a.addr[0] == 0xfe && (a.addr[1] & 0xc0) == 0x80))
			continue;
		v = realloc(c->host_addrs, (c->n_host_addrs + 1) * sizeof(*v));
		if (!v) {
			err = -ENOMEM;
			break;
		}
		c->host_addrs = v;
		c->host_addrs[c->n_host_addrs++] = a;
	}
	fclose(f);
	return err;
}

static int tidx_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tenant_idx *)a)->name, ((const struct tenant_idx *)b)->name);
}

/*
 * Selector names resolve to ids without allocating them (see nf_tenant_id_fn).
 * The compiles of one change ask for every tenant's id, per tenant compiled:
 * they are found in the change's index (env_build), by name. A name not in
 * it (no tenant, a ruleset, an id given after env_build) is looked up in the
 * slots, as before, and so is one whose slot changed since.
 */
static uint32_t id_cb(const char *name, void *ctx)
{
	const struct change *c = ctx;
	size_t lo = 0, hi = c->n_env_tidx;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(name, c->env_tidx[mid].name);

		if (!d) {
			char now[NF_TENANT_NAME_LEN];
			uint32_t id = c->env_tidx[mid].id;

			/* still its slot (not forgotten since) */
			if (!dp__tenant_name(c->dp, id, now, sizeof(now)) && !strcmp(now, name))
				return id;
			break;
		}
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return dp__tenant_id(c->dp, name, false);
}

/* Every tenant with an id and every label identity, for this change's compiles. */
static int env_build(struct change *c)
{
	size_t n_t = 0, n_i = 0, i, j;
	uint32_t id;

	if (c->env.id_fn)
		return 0;
	c->env_tenants = calloc(NF_MAX_TENANTS, sizeof(*c->env_tenants));
	c->env_tidx = calloc(NF_MAX_TENANTS, sizeof(*c->env_tidx));
	for (i = 0; i < c->ids.n; i++)
		n_i += c->ids.t[i].n_ids;
	c->env_idents = calloc(n_i + 1, sizeof(*c->env_idents));
	if (!c->env_tenants || !c->env_tidx || !c->env_idents)
		return -ENOMEM;
	for (id = 1; id < NF_MAX_TENANTS; id++) {
		struct nf_tenant_info ti;
		char *name;

		if (dp__tenant_info(c->dp, id, &ti) || !ti.name[0] || dp__is_ruleset(c->dp, id, NULL))
			continue;
		name = strndup(ti.name, sizeof(ti.name));
		if (!name || strlist_add(&c->keep, name)) {
			free(name);
			return -ENOMEM;
		}
		c->env_tidx[n_t++] = (struct tenant_idx){ name, id };
	}
	if (n_t > 1)
		qsort(c->env_tidx, n_t, sizeof(*c->env_tidx), tidx_cmp);
	for (i = 0; i < n_t; i++)
		c->env_tenants[i] = c->env_tidx[i].name;
	c->n_env_tidx = n_t;
	n_i = 0;
	for (i = 0; i < c->ids.n; i++) {
		const struct nf_ident_tenant *t = &c->ids.t[i];

		id = id_cb(t->name, c);
		for (j = 0; id && j < t->n_ids; j++)
			c->env_idents[n_i++] = (struct nf_identity){
				.id = NF_IDENT(id, t->ids[j].idx), .tenant = t->name,
				.labels = &t->ids[j].labels, .ports = t->ids[j].ports,
				.n_ports = t->ids[j].n_ports };
	}
	if (env_host_addrs(c))
		return -ENOMEM;
	c->env = (struct nf_compile_env){
		.id_fn = id_cb, .id_ctx = c, .ns_labels = ns_cb, .ns_ctx = &c->ids,
		.tenants = c->env_tenants, .n_tenants = n_t,
		.idents = c->env_idents, .n_idents = n_i,
		.nodes = c->nodes, .n_nodes = c->n_nodes,
		.host_addrs = c->host_addrs, .n_host_addrs = c->n_host_addrs,
	};
	return 0;
}

static int compile_one(struct change *c, const char *what, const char *tenant, uint32_t id,
		       struct nf_policy **pols, size_t n, const struct nf_named_port *ports,
		       size_t n_ports, struct nf_compiled **out)
{
	struct nf_compile_env env;
	struct nf_tenant_info ti;
	int err;

	err = env_build(c);
	if (err)
		return err;
	env = c->env;
	env.subject_ports = ports;
	env.n_subject_ports = n_ports;
	dp__tenant_info(c->dp, id, &ti);
	err = compile__tenant_env(tenant, id, ti.epoch + 1, pols, n, &env, out);
	if (err == -ENOSPC)
		pr_err("tenant %s%s: the policy does not fit the datapath's maps", tenant, what);
	else if (err)
		pr_err("tenant %s%s: compile failed: %s", tenant, what, strerror(-err));
	return err;
}

/* The endpoint of a context: its network and its pod's labels and named ports. */
struct ep_ctx {
	const char *network;		/* as given; NULL or "": the default network */
	const struct nf_labels *labels;	/* NULL: none */
	const struct nf_named_port *ports;
	size_t n_ports;
};

static void ctx_set_pod(struct ep_ctx *x, const struct nf_pod_obj *pod)
{
	x->labels = pod ? &pod->labels : NULL;
	x->ports = pod ? pod->ports : NULL;
	x->n_ports = pod ? pod->n_ports : 0;
}

static bool uses_named_ingress(const struct nf_policy *pol)
{
	size_t r, k;

	for (r = 0; pol->has_dir[NF_DIR_INGRESS] && r < pol->n_rules[NF_DIR_INGRESS]; r++)
		for (k = 0; k < pol->rules[NF_DIR_INGRESS][r].n_ports; k++)
			if (pol->rules[NF_DIR_INGRESS][r].ports[k].name[0])
				return true;
	return false;
}

/* Whether the tenant's rules depend on its endpoints' labels: a policy with
 * a podSelector, or an ingress named port. */
static bool label_sensitive(const struct tenant_plan *p)
{
	size_t i;

	for (i = 0; i < p->n_pols; i++)
		if ((p->pols[i]->subject && p->pols[i]->subject->n_reqs) ||
		    uses_named_ingress(p->pols[i]))
			return true;
	return false;
}

/*
 * The Pod of an endpoint record (SPEC §11): by its pod name, else by an
 * address among the tenant's Pod documents' IPs. NULL: none.
 */
static const struct nf_pod_obj *find_pod(const struct tenant_plan *q, const char *pod,
					 const struct nf_cidr *addrs, size_t n_addrs);

static const struct nf_pod_obj *ep_pod(const struct tenant_plan *p, const struct nf_ep_record *r)
{
	const struct nf_pod_obj *hit;
	struct nf_cidr *addrs = NULL;
	size_t n = 0;

	if (r->pod[0])
		return find_pod(p, r->pod, NULL, 0);
	if (!p->n_pods || dp__endpoint_addrs(r->ep_id, &addrs, &n))
		return NULL;
	hit = find_pod(p, NULL, addrs, n);
	free(addrs);
	return hit;
}

/*
 * The labels and named ports of an endpoint record: from the plan's Pod
 * documents when it has them (its pods changed: the record's identity is
 * the old one), else from the identity its addresses carry (a referrer's
 * Pod documents are not read: reading them is what an apply would spend
 * its time on with thousands of pods).
 */
static void ep_ctx_of(struct change *c, const struct tenant_plan *p, const struct nf_ep_record *r,
		      struct ep_ctx *x)
{
	const struct nf_ident_entry *e;
	const struct nf_pod_obj *pod;

	/* pods_partial: a pod that does not change carries its identity */
	if (p->pods_loaded && ((pod = ep_pod(p, r)) || !p->pods_partial)) {
		ctx_set_pod(x, pod);
		return;
	}
	e = NF_IDENT_INDEX(r->ident) ? idtab__entry(&c->ids, p->tenant, NF_IDENT_INDEX(r->ident)) :
				       NULL;
	x->labels = e ? &e->labels : NULL;
	x->ports = e ? e->ports : NULL;
	x->n_ports = e ? e->n_ports : 0;
}

/*
 * The key of a context: its network key, the policies that select it and
 * the named ports its ingress rules need; the policies in sel (room for
 * p->n_pols), the ports in ports/n_ports (pointing into the pod).
 * Returns a malloc'd key, or NULL (out of memory, or a network name that is
 * not one: then the default network).
 */
static const char *const cnp_key_prefix[] = {
	[NF_CNP_NONE] = "", [NF_CNP_V1ALPHA2] = "~c:", [NF_CNP_ANP] = "~a:", [NF_CNP_BANP] = "~b:",
};

static char *plan_context_key(const struct tenant_plan *p, const struct ep_ctx *x,
			      struct nf_policy **sel, size_t *n_sel,
			      const struct nf_named_port **ports, size_t *n_ports)
{
	char netkey[NF_NETWORK_KEY_LEN];
	struct nf_policy **cand;
	const struct nf_labels *labels = x->labels;
	bool named = false, multi = false;
	size_t n_cand, i, len, o;
	char *key;

	if (nf_network_key(p->tenant, x->network && *x->network ? x->network : NF_NETWORK_DEFAULT,
			   netkey, sizeof(netkey)))
		nf_network_key(p->tenant, NF_NETWORK_DEFAULT, netkey, sizeof(netkey));
	cand = calloc(p->n_pols + 1, sizeof(*cand));
	if (!cand)
		return NULL;
	n_cand = compile__network_policies(p->pols, p->n_pols, netkey, cand, &multi);
	*n_sel = 0;
	len = strlen(netkey) + 8;
	for (i = 0; i < n_cand; i++) {
		if (!compile__subject_matches(cand[i], labels))
			continue;
		sel[(*n_sel)++] = cand[i];
		named |= uses_named_ingress(cand[i]);
		len += strlen(cand[i]->name) + 8;
	}
	free(cand);
	*ports = named ? x->ports : NULL;
	*n_ports = named ? x->n_ports : 0;
	len += *n_ports * (NF_PORT_NAME_LEN + 16);
	key = malloc(len);
	if (!key)
		return NULL;
	/* All of a network's MultiNetworkPolicies, no named ports: the network
	 * key alone, the name rule sets had before labels existed. */
	if (multi && *n_sel == n_cand && !*n_ports) {
		snprintf(key, len, "%s", netkey);
		return key;
	}
	/*
	 * "M:" and the network (MultiNetworkPolicies) or "N:" (NetworkPolicies,
	 * the same on every network without MNPs) first, so a hashed slot name
	 * keeps the kind; then the policies and the named ports.
	 */
	o = multi ? (size_t)snprintf(key, len, "M:%s|", netkey) : (size_t)snprintf(key, len, "N:");
	/* a cluster policy's name with its kind (SPEC §13: a ClusterNetworkPolicy
	 * may have a NetworkPolicy's name) */
	for (i = 0; i < *n_sel; i++)
		o += (size_t)snprintf(key + o, len - o, "%s%s%s", i ? "," : "",
				      cnp_key_prefix[sel[i]->cnp_kind], sel[i]->name);
	for (i = 0; i < *n_ports; i++)
		o += (size_t)snprintf(key + o, len - o, "|%s/%u/%u", (*ports)[i].name,
				      (*ports)[i].proto, (*ports)[i].port);
	return key;
}

/* The contexts a plan compiles: the default one first, then each MNP
 * network's, then (labels matter) each endpoint's and the one attaching. */
static int plan_contexts(struct change *c, struct tenant_plan *p, struct ep_ctx **out,
			 size_t *n_out)
{
	struct nf_ep_record *recs = NULL;
	struct ep_ctx *v;
	size_t n_recs = 0, n = 0, i, j, cap;
	int err = 0;

	if (p->by_labels) {
		err = dp__list_endpoints(c->dp, &recs, &n_recs);
		if (err)
			return err;
	}
	cap = 2 + n_recs;
	for (i = 0; i < p->n_pols; i++)
		cap += p->pols[i]->n_networks;
	v = calloc(cap, sizeof(*v));
	if (!v) {
		free(recs);
		return -ENOMEM;
	}
	/* every network string is a copy (freed by ctx_free) */
	v[n++] = (struct ep_ctx){ NULL };
	for (i = 0; !err && i < p->n_pols; i++)
		for (j = 0; !err && j < p->pols[i]->n_networks; j++) {
			v[n].network = strdup(p->pols[i]->networks[j]);
			err = v[n++].network ? 0 : -ENOMEM;
		}
	for (i = 0; !err && i < n_recs; i++) {
		if (recs[i].is_cgroup || recs[i].tenant_id != p->id)
			continue;
		v[n].network = strdup(recs[i].network);
		ep_ctx_of(c, p, &recs[i], &v[n]);
		err = v[n++].network ? 0 : -ENOMEM;
	}
	if (!err && c->attaching && !strcmp(c->attaching_tenant, p->tenant)) {
		v[n].network = c->attaching->network ? strdup(c->attaching->network) : NULL;
		v[n].labels = c->attaching->labels;
		v[n].ports = c->attaching->ports;
		v[n].n_ports = c->attaching->n_ports;
		err = !c->attaching->network || v[n].network ? 0 : -ENOMEM;
		n++;
	}
	free(recs);
	*out = v;
	*n_out = n;
	return err;
}

/* p->pols: its own policies, then the cluster policies that select it (once). */
static int plan_with_cluster(struct change *c, struct tenant_plan *p)
{
	struct nf_policy **v;

	if (!p->n_own)
		p->n_own = p->n_pols + 1;	/* +1: 0 means "not yet counted" */
	p->n_pols = p->n_own - 1;
	if (!c->n_cluster)
		return 0;
	v = realloc(p->pols, (p->n_pols + c->n_cluster + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->pols = v;
	cluster_select(c->cluster, c->n_cluster, p->tenant, ns_cb(p->tenant, &c->ids), p->pols,
		       &p->n_pols);
	return 0;
}

/*
 * The tenant's rule sets (SPEC §11, §12): one per distinct context key;
 * the default context's is compiled for the tenant's own id, every other
 * one for a slot of its own (created here if it has none).
 */
static int compile_plan(struct change *c, struct tenant_plan *p)
{
	struct nf_policy **sel = NULL;
	const struct nf_named_port *ports;
	struct ep_ctx *ctx = NULL;
	size_t i, n_ctx = 0, n_sel, n_ports, n_def = 0;
	char what[NF_NETWORK_KEY_LEN + 16];
	char *key;
	int err = 0;

	p->id = dp__tenant_id(c->dp, p->tenant, false);
	free(p->def_key);
	p->def_key = NULL;
	err = plan_with_cluster(c, p);
	if (err)
		return err;
	if (!p->id || !p->n_pols)
		return 0;	/* nothing installed: no id; removal: install_all */
	if (p->referrer)
		c->n_referrers++;
	p->by_labels = label_sensitive(p);
	err = plan_contexts(c, p, &ctx, &n_ctx);
	sel = calloc(p->n_pols + 1, sizeof(*sel));
	p->sets = calloc(n_ctx + 1, sizeof(*p->sets));
	if (err || !sel || !p->sets) {
		err = err ?: -ENOMEM;
		goto out;
	}
	for (i = 0; !err && i < n_ctx; i++) {
		struct plan_set *ps;

		key = plan_context_key(p, &ctx[i], sel, &n_sel, &ports, &n_ports);
		if (!key) {
			err = -ENOMEM;
			break;
		}
		if (!i) {
			p->def_key = key;
			n_def = n_sel;
			if (n_sel)
				err = compile_one(c, "", p->tenant, p->id, sel, n_sel, ports,
						  n_ports, &p->compiled);
			continue;
		}
		if (!strcmp(key, p->def_key) || plan_set_find(p, key)) {
			free(key);
			continue;
		}
		ps = &p->sets[p->n_sets++];
		*ps = (struct plan_set){ .key = key };
		ps->pols = calloc(n_sel + 1, sizeof(*ps->pols));
		ps->ports = calloc(n_ports + 1, sizeof(*ps->ports));
		if (!ps->pols || !ps->ports) {
			err = -ENOMEM;
			break;
		}
		if (n_sel)
			memcpy(ps->pols, sel, n_sel * sizeof(*sel));
		ps->n_pols = n_sel;
		if (n_ports)
			memcpy(ps->ports, ports, n_ports * sizeof(*ports));
		ps->n_ports = n_ports;
		ps->id = dp__ruleset_id(c->dp, p->id, ps->key, false);
		if (!ps->id) {
			ps->id = dp__ruleset_id(c->dp, p->id, ps->key, true);
			ps->fresh = ps->id != 0;
		}
		if (!ps->id) {
			pr_err("tenant %s: no free policy slot for the rules of %s (at most %d "
			       "tenants and rule sets)", p->tenant, ps->key, NF_MAX_TENANTS - 1);
			err = -EUSERS;
			break;
		}
		snprintf(what, sizeof(what), ", rule set %.*s", NF_NETWORK_KEY_LEN, ps->key);
		err = compile_one(c, what, p->tenant, ps->id, ps->pols, ps->n_pols, ps->ports,
				  ps->n_ports, &ps->compiled);
	}
	(void)n_def;
out:
	for (i = 0; ctx && i < n_ctx; i++)
		free((char *)ctx[i].network);
	free(ctx);
	free(sel);
	return err;
}

/* The slot an endpoint record's context is compiled in (0: the tenant's own). */
struct want_ctx {
	struct change *c;
	struct tenant_plan *p;
};

static uint32_t want_cb(const struct nf_ep_record *r, void *arg)
{
	struct want_ctx *w = arg;
	struct ep_ctx x = { r->network };
	const struct nf_named_port *ports;
	const struct plan_set *ps;
	struct nf_policy **sel;
	size_t n_sel, n_ports;
	uint32_t id = 0;
	char *key;

	if (!w->p->def_key)
		return 0;
	if (w->p->by_labels)
		ep_ctx_of(w->c, w->p, r, &x);
	sel = calloc(w->p->n_pols + 1, sizeof(*sel));
	key = sel ? plan_context_key(w->p, &x, sel, &n_sel, &ports, &n_ports) : NULL;
	if (key && strcmp(key, w->p->def_key)) {
		ps = plan_set_find(w->p, key);
		id = ps ? ps->id : 0;
	}
	free(key);
	free(sel);
	return id;
}

/* SPEC §11: each endpoint of the tenant carries its pod's identity. */
static int endpoint_idents(struct change *c, struct tenant_plan *p)
{
	struct nf_ep_record *recs = NULL;
	size_t n = 0, i;
	int err;

	err = dp__list_endpoints(c->dp, &recs, &n);
	for (i = 0; !err && i < n; i++) {
		const struct nf_pod_obj *pod;
		uint32_t want;

		if (recs[i].is_cgroup || recs[i].tenant_id != p->id)
			continue;
		pod = ep_pod(p, &recs[i]);
		if (!pod && p->pods_partial)
			continue;	/* its pod did not change */
		want = NF_IDENT(p->id, pod ? idtab__index(&c->ids, pod) : 0);
		if ((recs[i].ident ? recs[i].ident : p->id) != want)
			err = dp__endpoint_set_ident(c->dp, recs[i].ep_id, want);
	}
	free(recs);
	if (err)
		pr_err("tenant %s: cannot give its endpoints their identities: %s", p->tenant,
		       strerror(-err));
	return err;
}

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* Append pod's addresses to the array *v (*n of them, room for *cap). */
static int addrs_add(uint8_t (**v)[16], size_t *n, size_t *cap, const struct nf_pod_obj *pod)
{
	size_t i;

	for (i = 0; i < pod->n_ips; i++) {
		if (*n == *cap) {
			void *nv = realloc(*v, (*cap = *cap ? *cap * 2 : 16) * sizeof(**v));

			if (!nv)
				return -ENOMEM;
			*v = nv;
		}
		memcpy((*v)[(*n)++], pod->ips[i].addr, 16);
	}
	return 0;
}

/*
 * SPEC §11: the ipcache entries of a tenant's Pod documents' IPs (a pod on
 * any node): from the pods `from` to the pods `to`, where moved[i] says
 * to[i] is applied now (an input document that the store does not hold as
 * it is; a journal finished by recovery holds every pod of its tenants, most
 * of them as stored). An address an endpoint of this node holds keeps the
 * endpoint's entry (endpoint_idents).
 * Written: the moved pods' addresses, and those that other pods leave or
 * change (an address no pod keeps goes). Two pods on one address (an IP
 * reused while a finished pod's document stays): the one applied last has
 * it; another pod that has it too is written first. So a pod that is not
 * moved and shares no address with one keeps its entries as they are, and
 * the result is the same whether the tenant's other pods were read or not
 * (change.pods_only).
 */
static int pod_ips(struct change *c, uint32_t tid, struct nf_pod_obj *const *from, size_t n_from,
		   struct nf_pod_obj *const *to, size_t n_to, const bool *moved,
		   const struct nf_ident_table *tb)
{
	uint8_t (*touched)[16] = NULL;
	size_t i, j, k, l, n_touched = 0, cap = 0;
	bool changed = false;
	int err = 0, r, pass;

	/* the addresses of the moved pods, and of those that leave or change */
	for (i = 0; !err && i < n_to; i++)
		if (moved[i])
			err = addrs_add(&touched, &n_touched, &cap, to[i]);
	for (i = 0; !err && i < n_from; i++) {
		for (k = 0; k < n_to && to[k] != from[i] &&
			    (strcmp(to[k]->name, from[i]->name) || strcmp(to[k]->json, from[i]->json));
		     k++)
			;
		if (k == n_to)	/* not in `to` as it is: gone, or replaced */
			err = addrs_add(&touched, &n_touched, &cap, from[i]);
	}
	if (err) {
		free(touched);
		return err;
	}
	if (n_touched > 1)
		qsort(touched, n_touched, sizeof(*touched), addr_cmp);
	for (i = 0; i < n_from; i++)
		for (j = 0; j < from[i]->n_ips; j++) {
			bool kept = false;

			for (k = 0; k < n_to && !kept; k++)
				for (l = 0; l < to[k]->n_ips && !kept; l++)
					kept = !memcmp(to[k]->ips[l].addr, from[i]->ips[j].addr, 16);
			if (!kept)
				changed |= dp__ipcache_pod_del(c->dp, from[i]->ips[j].addr, tid) > 0;
		}
	/* the pods not moved on touched addresses first, then the moved ones */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; !err && i < n_to; i++) {
			uint32_t want;

			if (moved[i] != (pass == 1))
				continue;
			want = NF_IDENT(tid, idtab__index(tb, to[i]));
			for (j = 0; !err && j < to[i]->n_ips; j++) {
				if (!moved[i] && !bsearch(to[i]->ips[j].addr, touched, n_touched,
							  sizeof(*touched), addr_cmp))
					continue;
				r = dp__ipcache_pod_set(c->dp, to[i]->ips[j].addr, want);
				if (r < 0)
					err = r;
				changed |= r > 0;
			}
		}
	free(touched);
	if (changed)
		dp__ipcache_changed(c->dp);
	return err;
}

/* The stored (previous) Pod documents of a tenant into out (room for c->stored.n). */
static size_t stored_pods(const struct change *c, const char *tenant, struct nf_pod_obj **out)
{
	size_t i, n = 0;

	for (i = 0; i < c->stored.n; i++)
		if (c->stored.v[i].kind == OBJ_POD && !strcmp(c->stored.v[i].tenant, tenant))
			out[n++] = c->stored.v[i].pod;
	return n;
}

/*
 * One tenant's swap: its rule sets first (each its own atomic flip), then
 * its own rules, then its endpoints are pointed at the rule sets of their
 * contexts, the slots it no longer uses are freed, and its endpoints'
 * addresses carry their pods' identities. Every step leaves each endpoint
 * judged by a complete rule set, old or new.
 */
static int install_plan(struct change *c, struct tenant_plan *p)
{
	struct want_ctx w = { c, p };
	struct nf_ruleset_ref *refs;
	size_t i;
	int err = 0;

	for (i = 0; !err && i < p->n_sets; i++)
		err = dp__install_policy(c->dp, p->sets[i].compiled);
	if (!err && p->compiled)
		err = dp__install_policy(c->dp, p->compiled);
	else if (!err && !p->referrer && p->id)
		err = dp__remove_policy(c->dp, p->id);
	if (err || !p->id)
		return err;
	refs = calloc(p->n_sets + 1, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (i = 0; i < p->n_sets; i++)
		refs[i] = (struct nf_ruleset_ref){ p->sets[i].key, p->sets[i].id };
	err = dp__rulesets_sync_by(c->dp, p->id, p->tenant, refs, p->n_sets, want_cb, &w);
	free(refs);
	return err;
}

/* Add to *addrs the addresses of the pods that come, go or change between a and b. */
static int changed_pod_addrs(struct nf_pod_obj *const *a, size_t na, struct nf_pod_obj *const *b,
			     size_t nb, struct nf_cidr **addrs, size_t *n_addrs, size_t *cap_addrs)
{
	size_t n = *n_addrs, cap = *cap_addrs, i, j, k;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		struct nf_pod_obj *const *x = pass ? b : a, *const *y = pass ? a : b;
		size_t nx = pass ? nb : na, ny = pass ? na : nb;

		for (i = 0; i < nx; i++) {
			for (j = 0; j < ny; j++)
				if (!strcmp(x[i]->name, y[j]->name))
					break;
			if (j < ny && !strcmp(x[i]->json, y[j]->json))
				continue;	/* unchanged */
			for (k = 0; k < x[i]->n_ips; k++) {
				if (n == cap) {
					void *v = realloc(*addrs, (cap = cap ? cap * 2 : 16) *
								  sizeof(**addrs));

					if (!v)
						return -ENOMEM;
					*addrs = v;
					*cap_addrs = cap;
				}
				(*addrs)[n++] = x[i]->ips[k];
				*n_addrs = n;
			}
		}
	}
	return 0;
}

/* Forget the environment (after the identity table changed under it). */
static void env_reset(struct change *c)
{
	free(c->env_tenants);
	free(c->env_tidx);
	free(c->env_idents);
	c->env_tenants = NULL;
	c->env_tidx = NULL;
	c->n_env_tidx = 0;
	c->env_idents = NULL;
	memset(&c->env, 0, sizeof(c->env));
}

/*
 * SPEC §11, after every table is in: the addresses of the pods of each
 * tenant whose Pod documents changed carry their new identities (`back`:
 * their old ones, the table reloaded as stored).
 */
/*
 * Which of the stored pods `old` the input replaces by another document
 * (pod_ips going back).
 */
static int pods_replaced(struct change *c, const char *tenant, struct nf_pod_obj *const *old,
			 size_t n_old, bool **out)
{
	const struct obj *o;
	size_t i;

	*out = calloc(n_old + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < n_old; i++)
		(*out)[i] = (o = objset_find(&c->in, tenant, OBJ_POD, old[i]->name)) && !o->same;
	return 0;
}

static int labels_install(struct change *c, size_t n_plans, bool back)
{
	struct nf_cidr *rejudge = NULL;
	size_t i, n_old, n_rejudge = 0, cap_rejudge = 0;
	struct nf_pod_obj **old;
	bool *moved;
	int err = 0, e;

	old = calloc(c->stored.n + 1, sizeof(*old));
	if (!old)
		return -ENOMEM;
	for (i = 0; i < n_plans; i++) {
		struct tenant_plan *p = &c->plans.v[i], q;
		uint32_t tid;

		if (!p->pods_changed || !(tid = dp__tenant_id(c->dp, p->tenant, false)))
			continue;
		n_old = stored_pods(c, p->tenant, old);
		q = (struct tenant_plan){ .tenant = p->tenant, .id = tid,
					  .pods = back ? old : p->pods,
					  .n_pods = back ? n_old : p->n_pods,
					  .pods_partial = p->pods_partial };
		if (back) {
			e = pods_replaced(c, p->tenant, old, n_old, &moved);
			if (!e)
				e = pod_ips(c, tid, p->pods, p->n_pods, old, n_old, moved, &c->ids);
			free(moved);
		} else {
			e = pod_ips(c, tid, old, n_old, p->pods, p->n_pods, p->moved, &c->ids);
		}
		if (!e)
			e = endpoint_idents(c, &q);
		if (!e)
			e = changed_pod_addrs(old, n_old, p->pods, p->n_pods, &rejudge, &n_rejudge,
					      &cap_rejudge);
		if (e) {
			pr_err("tenant %s: cannot install its pods' identities: %s", p->tenant,
			       strerror(-e));
			err = err ?: e;
			if (!back)
				break;
		}
	}
	free(old);
	/* the flows of every changed address judged again: one conntrack scan */
	dp__ct_rejudge_peers(c->dp, rejudge, n_rejudge);
	free(rejudge);
	return err;
}

/* Every plan, before the kernel sees anything; then the selector index
 * learns the new names (before the store holds them). */
static int compile_all(struct change *c)
{
	struct strlist was = {}, now = {};
	size_t i;
	int err = 0;

	for (i = 0; !err && i < c->plans.n; i++)
		if (!c->plans.v[i].no_compile)
			err = compile_plan(c, &c->plans.v[i]);
	for (i = 0; !err && i < c->n_changed; i++) {
		err = plan_names(&c->plans.v[i], &c->stored, &was, &now);
		if (!err)
			err = refs_update(c->plans.v[i].tenant, &was, &now, true);
		if (err)
			pr_err("cannot write %s: %s", NF_STORE_REFS, strerror(-err));
	}
	free(was.v);
	free(now.v);
	return err;
}

/* ---- the journal ---- */

/*
 * The tenants whose objects this change adds, replaces or removes (policies
 * and Tenant objects; referrers' objects do not change).
 */
static int touched_tenants(const struct change *c, struct strlist *out)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < c->in.n; i++) {
		const struct obj *o = &c->in.v[i];
		struct obj *s = objset_find((struct objset *)&c->stored, o->tenant, o->kind, o->name);

		if ((!s || strcmp(s->json, o->json)) && !strlist_has(out, o->tenant))
			err = strlist_add(out, o->tenant);
	}
	for (i = 0; !err && i < c->stored.n; i++)
		if (c->stored.v[i].removed && !strlist_has(out, c->stored.v[i].tenant))
			err = strlist_add(out, c->stored.v[i].tenant);
	return err;
}

/*
 * NF_STORE_JOURNAL: {"commit": BOOL, "tenants": [NAME...], "objects": [JSON...],
 * "partial": BOOL}.
 * objects: the whole desired state of each tenant named (the input's
 * objects and the stored ones neither replaced nor removed), as the store
 * would hold them; partial (pods_only): of their Pod documents only those
 * that change, so recovery must not prune. commit: the kernel has all of
 * it; only the store is left.
 * Written with store__write: it exists whole or not at all.
 */
static int journal_write(struct change *c, bool commit)
{
	struct strlist tenants = {};
	struct store_buf b = {};
	const char *sep = "";
	size_t i;
	int err;

	err = touched_tenants(c, &tenants);
	if (err || !tenants.n) {
		free(tenants.v);
		return err;	/* no object changes: ids and referrers only (pending markers) */
	}
	/*
	 * Written by hand rather than as a jansson tree: the objects are JSON
	 * texts already, which json_strings copied and json_dumps escaped a
	 * character at a time, twice an apply (A/B: about 5% of applying
	 * 100,000 rules).
	 */
	store__buf_puts(&b, commit ? "{\"commit\":true," : "{\"commit\":false,");
	if (c->pods_only)
		store__buf_puts(&b, "\"partial\":true,");
	store__buf_puts(&b, "\"tenants\":[");
	for (i = 0; i < tenants.n; i++, sep = ",") {
		store__buf_puts(&b, sep);
		store__buf_json_string(&b, tenants.v[i]);
	}
	store__buf_puts(&b, "],\"objects\":[");
	sep = "";
	for (i = 0; i < c->in.n; i++)
		if (strlist_has(&tenants, c->in.v[i].tenant)) {
			store__buf_puts(&b, sep);
			sep = ",";
			store__buf_json_string(&b, c->in.v[i].json);
		}
	for (i = 0; i < c->stored.n; i++) {
		const struct obj *s = &c->stored.v[i];

		if (!s->removed && strlist_has(&tenants, s->tenant) &&
		    !objset_find(&c->in, s->tenant, s->kind, s->name)) {
			store__buf_puts(&b, sep);
			sep = ",";
			store__buf_json_string(&b, s->json);
		}
	}
	store__buf_puts(&b, "]}");
	free(tenants.v);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	err = store__write(NF_STORE_JOURNAL, b.p, b.len);
	free(b.p);
	if (err)
		pr_err("cannot write %s: %s", NF_STORE_JOURNAL, strerror(-err));
	return err;
}

/* The journal as a change to finish: its objects as input, pruning its tenants. */
static int journal_read(struct change *c)
{
	json_t *root, *v;
	size_t i;
	int err = 0;

	root = json_load_file(NF_STORE_JOURNAL, 0, NULL);
	if (!root || !json_is_array(json_object_get(root, "tenants")) ||
	    !json_is_array(json_object_get(root, "objects"))) {
		json_decref(root);
		return -EUCLEAN;
	}
	c->input = policy__docset_new();
	if (!c->input) {
		json_decref(root);
		return -ENOMEM;
	}
	c->prune = !json_is_true(json_object_get(root, "partial"));
	c->recovering = true;
	c->committing = json_is_true(json_object_get(root, "commit"));
	json_array_foreach(json_object_get(root, "tenants"), i, v) {
		char *t = strdup(json_string_value(v) ?: "");

		if (!t || strlist_add(&c->keep, t) || strlist_add(&c->scope, t)) {
			free(t);
			err = -ENOMEM;
			break;
		}
	}
	json_array_foreach(json_object_get(root, "objects"), i, v) {
		if (err)
			break;
		err = policy__load_json(c->input, NF_STORE_JOURNAL, json_string_value(v) ?: "",
					json_string_length(v));
	}
	json_decref(root);
	if (!err && c->input->n_problems)
		err = -EUCLEAN;
	return err;
}

/* ---- install ---- */

/*
 * Test-only fault injection: NETFENCE_TEST_FAIL_INSTALL=<tenant> makes the
 * install of that tenant fail as a full map would, after the tenants before
 * it were installed (the e2e tests of all-or-nothing use it).
 */
static int test_fail_install(const char *tenant)
{
	const char *v = getenv("NETFENCE_TEST_FAIL_INSTALL");

	if (!v || strcmp(v, tenant))
		return 0;
	pr_err("tenant %s: NETFENCE_TEST_FAIL_INSTALL (test only)", tenant);
	return -ENOSPC;
}

/*
 * Test-only: NETFENCE_TEST_STOP_AFTER=<tenant> stops the process (SIGSTOP)
 * right after that tenant's swap, so that a test can kill -9 it at exactly
 * that point of an install.
 */
static void test_stop_after(const char *tenant)
{
	const char *v = getenv("NETFENCE_TEST_STOP_AFTER");

	if (v && !strcmp(v, tenant))
		raise(SIGSTOP);
}

/* Each tenant's atomic swap, then the identities (Tenant CIDRs): a rule
 * naming a tenant that just got its id knows that id before an address
 * carries it. */
static int install_all(struct change *c)
{
	size_t i;
	int err = 0;

	if (c->n_referrers && c->created.n)
		pr_info("recompiling %zu tenant%s whose policies name %s", c->n_referrers,
			c->n_referrers == 1 ? "" : "s",
			c->created.n == 1 ? c->created.v[0] : "new tenants");
	else if (c->n_referrers && c->wake.n)
		pr_info("recompiling %zu tenant%s whose selectors may cover the changed pods or "
			"namespace labels", c->n_referrers, c->n_referrers == 1 ? "" : "s");
	c->installing = true;
	for (i = 0; i < c->plans.n; i++) {
		struct tenant_plan *p = &c->plans.v[i];

		err = test_fail_install(p->tenant);
		if (!err && !p->no_compile) {
			err = install_plan(c, p);
			/* a plan is several swaps (rule sets, then the tenant's): part
			 * of it may be in, so it goes back with the ones before it */
			if (err)
				c->n_installed = i + 1;
		}
		if (err) {
			pr_err("tenant %s: install failed: %s", p->tenant, strerror(-err));
			return err;
		}
		c->n_installed = i + 1;
		test_stop_after(p->tenant);
	}
	c->cidrs_started = true;
	err = labels_install(c, c->n_changed, false);
	for (i = 0; !err && i < c->in.n; i++) {
		struct obj *o = &c->in.v[i], *s;

		if (o->kind != OBJ_TENANT)
			continue;
		s = objset_find(&c->stored, o->tenant, OBJ_TENANT, o->name);
		if (!s || strcmp(s->json, o->json))
			err = tenant_cidrs(c->dp, o->tenant, s ? s->tobj : NULL, o->tobj);
	}
	for (i = 0; !err && i < c->stored.n; i++)
		if (c->stored.v[i].kind == OBJ_TENANT && c->stored.v[i].removed)
			tenant_cidrs(c->dp, c->stored.v[i].tenant, c->stored.v[i].tobj, NULL);
	return err;
}

/*
 * All or nothing: undo install_all after a failure. The identities go back
 * first (no address carries a changed id any more), then every installed
 * tenant whose objects change gets its stored (previous) objects compiled
 * and installed again: the store is untouched until commit. Referrers stay
 * as installed: their objects did not change, and their new tables are the
 * right ones for the ids as they are now (an id given out here is kept, as
 * its pending marker is). When recovering, the interrupted command may have
 * installed any of the touched tenants and identities: all go back.
 * 0 when every tenant is back.
 */
static int roll_back(struct change *c)
{
	size_t n_back = c->recovering ? c->n_changed : c->n_installed;
	bool cidrs = c->recovering || c->cidrs_started;
	struct nf_policy **pols = NULL;
	struct nf_pod_obj **pods = NULL;
	size_t i, j, n;
	int err = 0, e;

	pr_err("rolling back %zu tenant%s: none of this change is applied", n_back,
	       n_back == 1 ? "" : "s");
	/* the identities as stored, then every address back on its old one */
	idtab__free(&c->ids);
	env_reset(c);
	err = idtab__load(&c->ids);
	if (!err && cidrs)
		err = labels_install(c, c->n_changed, true);
	for (i = 0; cidrs && i < c->in.n; i++) {
		struct obj *o = &c->in.v[i], *s;

		if (o->kind != OBJ_TENANT)
			continue;
		s = objset_find(&c->stored, o->tenant, OBJ_TENANT, o->name);
		if (!s || strcmp(s->json, o->json))
			tenant_cidrs(c->dp, o->tenant, o->tobj, s ? s->tobj : NULL);
	}
	for (i = 0; cidrs && i < c->stored.n; i++)
		if (c->stored.v[i].kind == OBJ_TENANT && c->stored.v[i].removed)
			tenant_cidrs(c->dp, c->stored.v[i].tenant, NULL, c->stored.v[i].tobj);
	pols = calloc(c->stored.n + 1, sizeof(*pols));
	if (!pols)
		return -ENOMEM;
	pods = calloc(c->stored.n + 1, sizeof(*pods));
	if (!pods) {
		free(pols);
		return -ENOMEM;
	}
	for (i = 0; i < n_back; i++) {
		struct tenant_plan p = { .tenant = c->plans.v[i].tenant, .pols = pols,
					 .pods = pods, .pods_loaded = true,
					 .pods_partial = c->pods_only };

		if (c->plans.v[i].referrer || c->plans.v[i].no_compile)
			continue;
		for (j = 0, n = 0; j < c->stored.n; j++)
			if (is_policy(c->stored.v[j].kind) &&
			    !strcmp(c->stored.v[j].tenant, p.tenant))
				pols[n++] = c->stored.v[j].pol;
		p.n_pols = n;
		p.n_pods = stored_pods(c, p.tenant, pods);
		e = compile_plan(c, &p);
		if (!e && !p.id) {
			plan_free_compiled(&p);
			continue;	/* never had an id: nothing installed */
		}
		if (!e)
			e = install_plan(c, &p);
		plan_free_compiled(&p);
		if (e) {
			pr_err("tenant %s: cannot roll back: %s", p.tenant, strerror(-e));
			err = err ?: e;
		}
	}
	free(pols);
	free(pods);
	return err;
}

/* ---- commit ---- */

/* The store follows the kernel; the index forgets names after the store
 * has; the tenants that got their ids are no longer pending. */
static int commit_store(struct change *c)
{
	struct strlist was = {}, now = {};
	char path[PATH_MAX];
	size_t i;
	int err = 0;

	for (i = 0; !err && i < c->in.n; i++) {
		const struct obj *o = &c->in.v[i];

		err = obj_path(path, sizeof(path), o);
		if (!err)
			err = store__write2(path, o->json, strlen(o->json), "\n", 1);
		if (err)
			pr_err("cannot write %s: %s", path, strerror(-err));
	}
	for (i = 0; !err && i < c->stored.n; i++)
		if (c->stored.v[i].removed && !obj_path(path, sizeof(path), &c->stored.v[i])) {
			if (!is_cluster(c->stored.v[i].kind))
				store__reclaim_mark(c->stored.v[i].tenant);
			store__remove(path, NF_STORE_OBJECTS);
		}
	if (err)
		return err;
	for (i = 0; i < c->n_changed; i++)
		if (!plan_names(&c->plans.v[i], &c->stored, &was, &now))
			refs_update(c->plans.v[i].tenant, &was, &now, false);
	for (i = 0; i < c->created.n; i++)
		pending_clear(c->created.v[i]);
	free(was.v);
	free(now.v);
	err = idtab__save(&c->ids);
	if (err)
		pr_err("cannot write %s: %s", NF_STORE_IDENTITIES, strerror(-err));
	return err;
}

static void change_free(struct change *c)
{
	size_t i;

	for (i = 0; i < c->plans.n; i++) {
		free(c->plans.v[i].pols);
		free(c->plans.v[i].pods);
		free(c->plans.v[i].moved);
		plan_free_compiled(&c->plans.v[i]);
	}
	free(c->plans.v);
	env_reset(c);
	idtab__free(&c->ids);
	free(c->ns_changed.v);
	free(c->pods_changed.v);
	free(c->wake.v);
	for (i = 0; i < c->keep.n; i++)
		free((char *)c->keep.v[i]);
	free(c->keep.v);
	free(c->only.v);
	free(c->scope.v);
	free(c->created.v);
	free(c->fresh.v);
	free(c->stored.v);
	free(c->in.v);
	policy__docset_free(c->stored_ds);
	policy__docset_free(c->extra_ds);
	policy__docset_free(c->rules_ds);
	free(c->cluster);
	free(c->nodes);
	free(c->host_addrs);
}

static int apply_locked(struct change *c, struct nf_apply_result *res)
{
	size_t i;
	int err;

	err = plan(c);
	if (!err && !c->committing) {
		err = compile_all(c);
		if (!err && !c->recovering)
			err = journal_write(c, false);
		if (!err)
			err = install_all(c);
		/* all or nothing; once back on the old state nothing is left to finish */
		if (err && (c->installing || c->recovering) && !roll_back(c))
			unlink(NF_STORE_JOURNAL);
		/* from here on the change completes, it never goes back */
		if (!err)
			err = journal_write(c, true);
	}
	if (!err)
		err = commit_store(c);
	if (!err)
		unlink(NF_STORE_JOURNAL);
	if (!err && res) {
		res->n_policies = c->input ? c->input->n_policies : 0;
		res->n_tenant_objs = c->input ? c->input->n_tenants : 0;
		/* a cluster policy change recompiles every tenant (referrer plans) */
		res->n_tenants_changed = c->cluster_changed ? c->plans.n : c->n_changed;
		res->n_cluster = c->input ? c->input->n_cluster : 0;
		res->n_nodes = c->input ? c->input->n_nodes : 0;
		res->n_pods = c->input ? c->input->n_pods : 0;
		res->pods_only = c->pods_only;
	}
	/*
	 * Rule-set slots created for plans never installed, nor rolled back
	 * (which may have used them): all of them when nothing was installed,
	 * else those after the plan that failed.
	 */
	i = !err ? c->plans.n : !c->installing ? 0 : c->recovering ? c->plans.n : c->n_installed;
	for (; i < c->plans.n; i++) {
		size_t j;

		for (j = 0; j < c->plans.v[i].n_sets; j++)
			if (c->plans.v[i].sets[j].fresh)
				dp__tenant_forget(c->dp, c->plans.v[i].sets[j].id);
	}
	/* Nothing installed: the ids created here were never used; give them back. */
	if (err && !c->installing) {
		for (i = 0; i < c->fresh.n; i++) {
			dp__tenant_forget(c->dp, dp__tenant_id(c->dp, c->fresh.v[i], false));
			pending_clear(c->fresh.v[i]);
		}
		if (!c->recovering)
			unlink(NF_STORE_JOURNAL);
	}
	change_free(c);
	return err;
}

/*
 * Crash safety (SPEC §10.3). The store is the desired state and the kernel
 * follows it; a change writes, under the node lock and before the kernel
 * sees anything, the journal (NF_STORE_JOURNAL: the new objects of every
 * tenant it touches), then installs each tenant (atomic per tenant), marks
 * the journal "commit", writes the store and removes the journal. A command
 * killed at any instant leaves each tenant on its old or its new tables (one
 * epoch flip each) and, if it got as far as the journal, the journal. The
 * next command that takes the lock (apply, delete, attach, CNI ADD, serve's
 * policy-dir) finishes it first: before "commit", by installing the
 * journal's objects again and committing them (if that install fails, every
 * tenant goes back to the stored objects, which are still the old ones);
 * after "commit", by writing the store. Either way all of the touched
 * tenants end on the new state or all on the old one. Before the journal
 * exists nothing but tenant ids changed (their pending markers cover them).
 * status and check finish it too when no command holds the lock, so that
 * they describe what the kernel enforces.
 * 0 when nothing is left to finish (finished or rolled back).
 */
static int recover_journal(struct nf_dp *dp)
{
	struct change c = { .dp = dp };
	struct nf_docset *input;
	int err;

	if (access(NF_STORE_JOURNAL, F_OK))
		return 0;
	err = journal_read(&c);
	input = c.input;
	if (err) {
		pr_err("%s is damaged: %s (run 'netfence reset' and apply again)", NF_STORE_JOURNAL,
		       strerror(-err));
		change_free(&c);
		policy__docset_free(input);
		return err;
	}
	pr_warn("finishing a change to %zu tenant%s that was interrupted", c.scope.n,
		c.scope.n == 1 ? "" : "s");
	err = apply_locked(&c, NULL);
	policy__docset_free(input);
	if (!access(NF_STORE_JOURNAL, F_OK)) {
		pr_err("an interrupted change could not be finished or rolled back: %s",
		       strerror(-(err ?: EAGAIN)));
		return err ?: -EAGAIN;
	}
	return 0;
}

/*
 * SPEC §10.1: after an upgrade (NF_STORE_RECOMPILE), every tenant's policy
 * compiled again from its stored objects by this build, like an apply that
 * changes every tenant (journal, one flip each, all or nothing). Until then
 * the entries the upgrade carried over enforce the same policy.
 */
static int recompile_after_upgrade(struct nf_dp *dp)
{
	struct change c = { .dp = dp, .recompile_all = true };
	struct nf_apply_result res = {};
	int err;

	if (access(NF_STORE_RECOMPILE, F_OK))
		return 0;
	/* No journal: every tenant's new tables say what its old ones said, so
	 * any mix of recompiled and carried-over tenants enforces the store. A
	 * kill leaves the mark (all again next time); a failure is said, and
	 * the carried-over tables go on enforcing. */
	err = apply_locked(&c, &res);
	if (err)
		pr_err("cannot compile the stored policies again after the upgrade (%s): the "
		       "tables carried over still enforce them; apply them again to retry",
		       strerror(-err));
	else
		pr_info("upgrade: the policies of %zu tenant%s compiled again from the store",
			res.n_tenants_changed, res.n_tenants_changed == 1 ? "" : "s");
	unlink(NF_STORE_RECOMPILE);
	return 0;
}

static int recover(struct nf_dp *dp)
{
	int err = recover_journal(dp);

	return err ? err : recompile_after_upgrade(dp);
}

/* Whether directory path has an entry (not . or ..). */
static bool dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while (!any && (de = readdir(d)))
		any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return any;
}

/* Whether tenant `name` (id) is still kept by something: an endpoint, a
 * pending id, stored objects, a selector naming it. */
static bool reclaim_kept(const char *name, uint32_t id, const bool *has_endpoint)
{
	char path[PATH_MAX];

	if (has_endpoint[id])
		return true;
	if (pending(name))
		return true;	/* getting its id: its referrers are not recompiled yet */
	if (!store__tenant_dir(path, sizeof(path), name) && dir_has_entries(path))
		return true;	/* stored objects */
	if (!store__ref_path(path, sizeof(path), name, NULL) && dir_has_entries(path))
		return true;	/* a selector names it: its id is in their tables */
	return false;
}

static void reclaim_unmark(const char *name)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", NF_STORE_RECLAIM, name) < (int)sizeof(path))
		unlink(path);
}

/* The candidates: the tenants marked in reclaim/ (a mark is removed once
 * looked at: what keeps the tenant now marks it again when it goes), or every
 * tenant the first time (reclaim/.complete absent: a store of an older
 * build). */
static int reclaim_candidates(struct nf_dp *dp, bool full, bool *cand)
{
	struct dirent *de;
	bool any = false;
	uint32_t id;
	DIR *d;

	if (full) {
		char name[NF_TENANT_NAME_LEN];

		for (id = 1; id < NF_MAX_TENANTS; id++)
			any |= cand[id] = !dp__tenant_name(dp, id, name, sizeof(name));
		return any;
	}
	d = opendir(NF_STORE_RECLAIM);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		id = dp__tenant_id(dp, de->d_name, false);
		if (id && id < NF_MAX_TENANTS)
			any |= cand[id] = true;
		else
			reclaim_unmark(de->d_name);	/* no such tenant (any more) */
	}
	closedir(d);
	return any;
}

int apply__reclaim(struct nf_dp *dp)
{
	bool full = access(NF_STORE_RECLAIM_COMPLETE, F_OK) != 0;
	bool *cand = calloc(NF_MAX_TENANTS, sizeof(bool));
	bool *has_endpoint = calloc(NF_MAX_TENANTS, sizeof(bool));
	int n = 0;
	uint32_t id;

	if (!cand || !has_endpoint)
		goto out;
	if (access(NF_STORE_REFS_COMPLETE, F_OK) && refs_rebuild())
		goto out;	/* without the whole index, a named tenant could look unnamed */
	if (!reclaim_candidates(dp, full, cand))
		goto done;
	if (dp__tenants_with_endpoints(dp, has_endpoint))
		goto out;
	for (id = 1; id < NF_MAX_TENANTS; id++) {
		char name[NF_TENANT_NAME_LEN];

		if (!cand[id] || dp__is_ruleset(dp, id, NULL) ||
		    dp__tenant_name(dp, id, name, sizeof(name)))
			continue;	/* a rule set goes with its tenant's MNPs (dp__rulesets_sync) */
		/* Unmarked once looked at (a kill before that leaves the mark):
		 * what keeps it now marks it again when it goes. */
		if (!reclaim_kept(name, id, has_endpoint) && !dp__tenant_reclaim(dp, id))
			n++;
		reclaim_unmark(name);
	}
	if (n)
		pr_debug("reclaimed %d tenant id%s", n, n == 1 ? "" : "s");
done:
	if (full)
		store__touch(NF_STORE_RECLAIM_COMPLETE);
out:
	free(cand);
	free(has_endpoint);
	return n;
}

static int apply_change(struct nf_docset *input, bool prune, const char *del_tenant,
			const char *del_policy, int del_kind, struct nf_apply_result *res)
{
	struct change c = { .input = input, .prune = prune, .del_tenant = del_tenant,
			    .del_policy = del_policy, .del_kind = del_kind };
	int lock, err;

	err = dp__open(&c.dp, true);
	if (err)
		return err;
	lock = dp__lock();
	if (lock < 0) {
		dp__close(c.dp);
		return lock;
	}
	err = recover(c.dp);
	if (!err) {
		c.pods_only = pods_only_eligible(&c);
		err = apply_locked(&c, res);
	}
	if (err == -EAGAIN && c.pods_only_fallback) {
		/* its pods can't be changed alone: the change in full */
		c = (struct change){ .dp = c.dp, .input = input, .no_pods_only = true };
		err = apply_locked(&c, res);
	}
	if (!err) {	/* SPEC §10.2 */
		apply__reclaim(c.dp);
		dp__sweep_old_parity(c.dp);
	}
	dp__sync_host_addrs(c.dp);	/* SPEC §3.8: every change refreshes them */
	count_apply(!err || err == -ENOENT);
	dp__unlock(lock);
	dp__close(c.dp);
	return err;
}

int apply__tenant_id(struct nf_dp *dp, const char *tenant, uint32_t *id)
{
	struct change c = { .dp = dp, .ensure = tenant };
	int err;

	err = recover(dp);
	if (err)
		return err;
	*id = dp__tenant_id(dp, tenant, false);
	if (*id && !pending(tenant))
		return 0;
	err = apply_locked(&c, NULL);
	if (err)
		return err;
	*id = dp__tenant_id(dp, tenant, false);
	if (*id)	/* its endpoint keeps it; if the attach fails, nothing does */
		store__reclaim_mark(tenant);
	return *id ? 0 : -EUSERS;
}

/*
 * The tenant's stored policies as a plan (q->pols, q->pods malloc'd), with
 * the Pod document named `pod` if there is one: not its other pods (a CNI
 * ADD must not read thousands of them).
 */
static int stored_plan(struct nf_docset *ds, const char *tenant, uint32_t tid, const char *pod,
		       struct tenant_plan *q)
{
	char path[PATH_MAX];
	size_t i;
	int err;

	const char *cl = NF_STORE_CLUSTER;
	const struct nf_labels *ns = NULL;

	err = store_load_opt(ds, &tenant, 1, false);
	if (!err)
		err = store_load_opt(ds, &cl, 1, false);
	if (!err && pod && *pod &&
	    !store__object_path(path, sizeof(path), tenant, NF_STORE_POD, pod) &&
	    !access(path, F_OK))
		err = policy__load_path(ds, path);
	if (!err && ds->n_problems)
		err = -EUCLEAN;
	if (err)
		return err;
	*q = (struct tenant_plan){ .tenant = tenant, .id = tid, .pods_loaded = true };
	q->pols = calloc(ds->n_policies + ds->n_cluster + 1, sizeof(*q->pols));
	q->pods = calloc(ds->n_pods + 1, sizeof(*q->pods));
	if (!q->pols || !q->pods)
		return -ENOMEM;
	for (i = 0; i < ds->n_policies; i++)
		q->pols[q->n_pols++] = ds->policies[i];
	/* the cluster policies that select it, in the order a change appends them */
	for (i = 0; i < ds->n_namespaces; i++)
		if (!strcmp(ds->namespaces[i]->name, tenant))
			ns = &ds->namespaces[i]->labels;
	if (ds->n_cluster > 1)
		qsort(ds->cluster, ds->n_cluster, sizeof(*ds->cluster), cluster_cmp);
	cluster_select(ds->cluster, ds->n_cluster, tenant, ns, q->pols, &q->n_pols);
	for (i = 0; i < ds->n_pods; i++)
		q->pods[q->n_pods++] = ds->pods[i];
	return 0;
}

/* The tenant's pod named `pod`, else the one with one of addrs. */
static const struct nf_pod_obj *find_pod(const struct tenant_plan *q, const char *pod,
					 const struct nf_cidr *addrs, size_t n_addrs)
{
	size_t i, j, k;

	for (i = 0; i < q->n_pods; i++) {
		if (pod && *pod) {
			if (!strcmp(q->pods[i]->name, pod))
				return q->pods[i];
			continue;
		}
		for (j = 0; j < q->pods[i]->n_ips; j++)
			for (k = 0; k < n_addrs; k++)
				if (!memcmp(q->pods[i]->ips[j].addr, addrs[k].addr, 16))
					return q->pods[i];
	}
	return NULL;
}

/* The slot of a context among the installed ones (0: the tenant's own); *key set. */
static int context_slot(struct nf_dp *dp, const struct tenant_plan *q, const struct ep_ctx *x,
			uint32_t *slot, bool *missing)
{
	const struct ep_ctx def = { NULL };
	const struct nf_named_port *ports;
	struct nf_policy **sel;
	size_t n_sel, n_ports;
	char *key = NULL, *dkey = NULL;
	int err = 0;

	*slot = 0;
	*missing = false;
	if (!q->n_pols)
		return 0;	/* nothing installed: the tenant's (deny) */
	sel = calloc(q->n_pols + 1, sizeof(*sel));
	if (sel) {
		key = plan_context_key(q, x, sel, &n_sel, &ports, &n_ports);
		dkey = plan_context_key(q, &def, sel, &n_sel, &ports, &n_ports);
	}
	if (!key || !dkey) {
		err = -ENOMEM;
	} else if (strcmp(key, dkey)) {
		*slot = dp__ruleset_id(dp, q->id, key, false);
		*missing = !*slot;
	}
	free(key);
	free(dkey);
	free(sel);
	return err;
}

int apply__context_slot(struct nf_dp *dp, const char *tenant, const char *network,
			const char *pod, uint32_t *slot, bool *multi)
{
	char netkey[NF_NETWORK_KEY_LEN];
	struct nf_policy **tmp;
	struct nf_docset *ds = policy__docset_new();
	struct tenant_plan q = {};
	struct ep_ctx x = { network };
	const struct nf_pod_obj *found = NULL;
	uint32_t tid = dp__tenant_id(dp, tenant, false);
	bool missing = false;
	int err;

	*slot = 0;
	if (!ds)
		return -ENOMEM;
	err = tid ? stored_plan(ds, tenant, tid, pod, &q) : -ENOENT;
	if (!err && pod && *pod && !(found = find_pod(&q, pod, NULL, 0)))
		pr_info("pod %s/%s has no Pod document: it has no labels", tenant, pod);
	ctx_set_pod(&x, found);
	*multi = false;
	tmp = err ? NULL : calloc(q.n_pols + 1, sizeof(*tmp));
	if (tmp && !nf_network_key(tenant, network && *network ? network : NF_NETWORK_DEFAULT,
				   netkey, sizeof(netkey)))
		compile__network_policies(q.pols, q.n_pols, netkey, tmp, multi);
	free(tmp);
	if (!err)
		err = context_slot(dp, &q, &x, slot, &missing);
	if (!err && missing)
		err = -ENOENT;
	free(q.pols);
	free(q.pods);
	policy__docset_free(ds);
	return err;
}

int apply__endpoint_context(struct nf_dp *dp, const char *tenant, const char *network,
			    const char *pod, const struct nf_cidr *addrs, size_t n_addrs,
			    uint32_t *policy_id, uint32_t *ident)
{
	struct nf_docset *ds = policy__docset_new();
	struct nf_ident_table tb = {};
	struct tenant_plan q = {};
	struct ep_ctx x = { network };
	const struct nf_pod_obj *found;
	uint32_t tid = dp__tenant_id(dp, tenant, false);
	bool missing = false;
	int err;

	*policy_id = 0;
	*ident = tid;
	if (!ds)
		return -ENOMEM;
	if (!tid) {
		err = -ENOENT;
		goto out;
	}
	err = stored_plan(ds, tenant, tid, pod, &q);
	if (!err)
		err = idtab__load(&tb);
	if (err)
		goto out;
	if (pod && *pod) {
		found = find_pod(&q, pod, NULL, 0);
		ctx_set_pod(&x, found);
		if (found)
			*ident = NF_IDENT(tid, idtab__index(&tb, found));
	} else {
		/* by address: the identity a Pod document gave it (ipcache) */
		const struct nf_ident_entry *e = NULL;
		size_t i;

		for (i = 0; i < n_addrs && *ident == tid; i++) {
			uint32_t id = dp__ipcache_pod_ident(dp, addrs[i].addr, tid);

			if (id)
				*ident = id;
		}
		if (NF_IDENT_INDEX(*ident))
			e = idtab__entry(&tb, tenant, NF_IDENT_INDEX(*ident));
		x.labels = e ? &e->labels : NULL;
		x.ports = e ? e->ports : NULL;
		x.n_ports = e ? e->n_ports : 0;
	}
	err = context_slot(dp, &q, &x, policy_id, &missing);
	if (!err && missing) {
		/* a rule set no endpoint had yet: compile and install it first */
		struct change c = { .dp = dp, .attaching = &x, .attaching_tenant = tenant };

		err = apply_locked(&c, NULL);
		if (!err)
			err = context_slot(dp, &q, &x, policy_id, &missing);
		if (!err && missing)
			err = -EUSERS;
	}
out:
	if (err)
		pr_err("tenant %s: cannot find the rules of the endpoint%s%s: %s", tenant,
		       pod && *pod ? " of pod " : "", pod && *pod ? pod : "", strerror(-err));
	idtab__free(&tb);
	free(q.pols);
	free(q.pods);
	policy__docset_free(ds);
	return err;
}

int apply__settle(void)
{
	struct nf_dp *dp = NULL;
	int lock, err;

	if ((access(NF_STORE_JOURNAL, F_OK) && access(NF_STORE_RECOMPILE, F_OK) &&
	     !dp__changes_pending()) ||
	    dp__open(&dp, false))
		return 0;
	/* a command holding the lock is changing things: it finishes first */
	lock = open(NF_LOCK_FILE, O_RDWR | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB)) {
		if (lock >= 0)
			close(lock);
		dp__close(dp);
		return 0;
	}
	err = recover(dp);
	dp__reconcile(dp);
	close(lock);
	dp__close(dp);
	return err;
}

int apply__paths(char *const *paths, size_t n_paths, bool prune, struct nf_apply_result *res)
{
	struct nf_docset *ds = policy__docset_new();
	size_t i;
	int err;

	if (!ds)
		return -ENOMEM;
	for (i = 0; i < n_paths; i++)
		policy__load_path(ds, paths[i]);
	policy__check_duplicates(ds);
	if (ds->n_problems) {
		/* The CLI contract is one bare line per problem; the daemon logs them. */
		for (i = 0; i < ds->n_problems; i++)
			if (nf_log_is_daemon())
				pr_err("%s", ds->problems[i]);
			else
				fprintf(stderr, "%s\n", ds->problems[i]);
		policy__docset_free(ds);
		{
			int lock = dp__lock();

			if (lock >= 0) {
				count_apply(false);
				dp__unlock(lock);
			}
		}
		return -EINVAL;
	}
	err = apply_change(ds, prune, NULL, NULL, 0, res);
	policy__docset_free(ds);
	return err;
}

int apply__delete(const char *tenant, const char *policy)
{
	return apply_change(NULL, false, tenant, policy, 0, NULL);
}

int apply__delete_cluster(enum nf_store_kind kind, const char *name)
{
	static const enum obj_kind of[] = {
		[NF_STORE_CNP] = OBJ_CNP, [NF_STORE_ANP] = OBJ_ANP, [NF_STORE_BANP] = OBJ_BANP,
		[NF_STORE_NODE] = OBJ_NODE,
	};

	if (kind < NF_STORE_CNP || kind > NF_STORE_NODE)
		return -EINVAL;
	return apply_change(NULL, false, NF_STORE_CLUSTER, name, (int)of[kind] + 1, NULL);
}
