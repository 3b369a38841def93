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
#include <jansson.h>

#include "apply.h"
#include "compile.h"
#include "datapath.h"
#include "log.h"
#include "policy.h"
#include "store.h"

/* OBJ_POLICY: a NetworkPolicy; OBJ_MNP: a MultiNetworkPolicy (both are an nf_policy). */
enum obj_kind { OBJ_POLICY, OBJ_TENANT, OBJ_MNP };

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
	bool removed;	/* in the store, not in the desired state */
	bool from_input;
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
	return store__object_path(buf, len, o->tenant,
				  o->kind == OBJ_POLICY ? NF_STORE_POLICY :
				  o->kind == OBJ_MNP ? NF_STORE_MNP : NF_STORE_TENANT, o->name);
}

/*
 * Load the stored desired state into ds (it was valid when stored): every
 * tenant's (only = NULL), or only the tenants named in only[0..n_only) —
 * an apply that isn't a prune touches nothing else, and reading 1,000
 * tenants' files would cost more than the apply itself.
 */
static int store_load(struct nf_docset *ds, const char *const *only, size_t n_only)
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
		err = policy__load_path(ds, path);
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

/* Append every tenant name the policies' namespace selectors name (In and
 * NotIn alike), except `self`; then sort the whole list and drop repeats. */
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

					if (pe->kind != NF_PK_TENANTS)
						continue;
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

/* A tenant's MultiNetworkPolicies for one network: a rule set (SPEC §12). */
struct plan_set {
	const char *key;		/* network key (points into a policy) */
	uint32_t id;			/* its slot (dp__ruleset_id) */
	bool fresh;			/* the slot was created for this plan */
	struct nf_policy **pols;
	size_t n_pols;
	struct nf_compiled *compiled;
};

struct tenant_plan {
	const char *tenant;
	uint32_t id;
	struct nf_policy **pols;	/* NetworkPolicies and MultiNetworkPolicies */
	size_t n_pols;
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
	if (!p->pols)
		return -ENOMEM;
	for (j = 0; j < in->n; j++)
		if (is_policy(in->v[j].kind) && !strcmp(in->v[j].tenant, p->tenant))
			p->pols[p->n_pols++] = in->v[j].pol;
	for (j = 0; j < stored->n; j++) {
		struct obj *s = &stored->v[j];

		if (!is_policy(s->kind) || s->removed || strcmp(s->tenant, p->tenant))
			continue;
		if (objset_find(in, s->tenant, s->kind, s->name))
			continue;	/* replaced */
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

/* Selector names resolve to ids without allocating them (see nf_tenant_id_fn). */
static uint32_t id_cb(const char *name, void *ctx)
{
	return dp__tenant_id(ctx, name, false);
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
	/* prune only these tenants (recovery: the journal's), not every tenant */
	struct strlist scope;
	bool recovering;	/* the journal exists already: it describes this change */
	bool recompile_all;	/* every stored tenant, its objects unchanged (upgrade) */
	bool committing;	/* ... and its install was complete: only commit is left */
	/* plan */
	struct nf_docset *stored_ds, *extra_ds;
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
};

static bool in_scope(const struct change *c, const char *tenant)
{
	return !c->scope.n || strlist_has(&c->scope, tenant);
}

/* ---- plan ---- */

/* The stored objects the change may touch: every tenant's when pruning. */
static int plan_read_store(struct change *c)
{
	size_t i;
	int err = 0;

	c->stored_ds = policy__docset_new();
	if (!c->stored_ds)
		return -ENOMEM;
	if ((c->prune || c->recompile_all) && !c->scope.n) {
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
		if (!err && c->only.n)
			err = store_load(c->stored_ds, c->only.v, c->only.n);
	}
	if (!err)
		err = objset_from_docset(&c->stored, c->stored_ds, false);
	if (!err && c->input)
		err = objset_from_docset(&c->in, c->input, true);
	return err;
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

		if (s && !strcmp(s->json, o->json))
			continue;
		if (is_policy(o->kind))
			err = plan_add(&c->plans, o->tenant, false);
	}
	for (i = 0; !err && i < c->stored.n; i++) {
		struct obj *s = &c->stored.v[i];

		if (c->del_tenant)
			s->removed = !strcmp(s->tenant, c->del_tenant) &&
				     (!c->del_policy ||
				      (is_policy(s->kind) && !strcmp(s->name, c->del_policy)));
		else if (c->prune && in_scope(c, s->tenant))
			s->removed = !objset_find(&c->in, s->tenant, s->kind, s->name);
		any_removed |= s->removed;
		if ((s->removed || c->recompile_all) && is_policy(s->kind))
			err = plan_add(&c->plans, s->tenant, false);
	}
	if (err)
		return err;
	if (c->del_tenant && !any_removed)
		return -ENOENT;
	c->n_changed = c->plans.n;
	for (i = 0; !err && i < c->plans.n; i++)
		err = plan_fill(&c->plans.v[i], &c->in, &c->stored);
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
		if (c->plans.v[i].n_pols && !strlist_has(&want, c->plans.v[i].tenant))
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
	int err = 0;

	for (i = 0; !err && i < c->created.n; i++) {
		refs.n = 0;
		err = refs_of(c->created.v[i], &refs, &c->keep);
		if (!err && c->ensure && !strcmp(c->created.v[i], c->ensure))
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
		err = c->extra_ds ? store_load(c->extra_ds, need.v, need.n) : -ENOMEM;
		if (!err)
			err = objset_from_docset(&c->stored, c->extra_ds, false);
	}
	for (i = c->n_changed; !err && i < c->plans.n; i++)
		err = plan_fill(&c->plans.v[i], &c->in, &c->stored);
	free(refs.v);
	free(need.v);
	return err;
}

static int plan(struct change *c)
{
	int err = plan_read_store(c);

	if (!err)
		err = plan_changes(c);
	if (!err)
		err = plan_ids(c);
	if (!err)
		err = plan_referrers(c);
	return err;
}

/* ---- compile ---- */

/* The rule set of network key `key` in p, added if new; NULL: out of memory. */
static struct plan_set *plan_set_of(struct tenant_plan *p, const char *key, size_t max)
{
	struct plan_set *ps;
	size_t i;

	for (i = 0; i < p->n_sets; i++)
		if (!strcmp(p->sets[i].key, key))
			return &p->sets[i];
	ps = &p->sets[p->n_sets];
	*ps = (struct plan_set){ .key = key, .pols = calloc(max, sizeof(*ps->pols)) };
	if (!ps->pols)
		return NULL;
	p->n_sets++;
	return ps;
}

static void plan_free_compiled(struct tenant_plan *p)
{
	size_t i;

	compile__free(p->compiled);
	p->compiled = NULL;
	for (i = 0; i < p->n_sets; i++) {
		free(p->sets[i].pols);
		compile__free(p->sets[i].compiled);
	}
	free(p->sets);
	p->sets = NULL;
	p->n_sets = 0;
}

static int compile_one(struct change *c, const char *what, const char *tenant, uint32_t id,
		       struct nf_policy **pols, size_t n, struct nf_compiled **out)
{
	struct nf_tenant_info ti;
	int err;

	dp__tenant_info(c->dp, id, &ti);
	err = compile__tenant(tenant, id, ti.epoch + 1, pols, n, id_cb, c->dp, out);
	if (err == -ENOSPC)
		pr_err("tenant %s%s: the policy does not fit the datapath's maps", tenant, what);
	else if (err)
		pr_err("tenant %s%s: compile failed: %s", tenant, what, strerror(-err));
	return err;
}

/*
 * The tenant's NetworkPolicies for its own id, and its MultiNetworkPolicies
 * for the slot of each network they name (a policy for two networks is in
 * both rule sets). A rule set's slot is created here if it has none.
 */
static int compile_plan(struct change *c, struct tenant_plan *p)
{
	struct nf_policy **base;
	size_t i, j, n_base = 0, n_keys = 0;
	char what[NF_NETWORK_KEY_LEN + 16];
	int err = 0;

	p->id = dp__tenant_id(c->dp, p->tenant, false);
	if (!p->id || !p->n_pols)
		return 0;	/* nothing installed: no id; removal: install_all */
	if (p->referrer)
		c->n_referrers++;
	for (i = 0; i < p->n_pols; i++)
		n_keys += p->pols[i]->n_networks;
	base = calloc(p->n_pols, sizeof(*base));
	p->sets = calloc(n_keys + 1, sizeof(*p->sets));
	if (!base || !p->sets) {
		free(base);
		return -ENOMEM;
	}
	n_base = compile__network_policies(p->pols, p->n_pols, NULL, base, NULL);
	for (i = 0; !err && i < p->n_pols; i++)
		for (j = 0; !err && j < p->pols[i]->n_networks; j++) {
			struct plan_set *ps = plan_set_of(p, p->pols[i]->networks[j], p->n_pols);

			if (!ps)
				err = -ENOMEM;
			else if (!ps->n_pols)
				ps->n_pols = compile__network_policies(p->pols, p->n_pols, ps->key,
								       ps->pols, NULL);
		}
	if (!err && n_base)
		err = compile_one(c, "", p->tenant, p->id, base, n_base, &p->compiled);
	for (i = 0; !err && i < p->n_sets; i++) {
		struct plan_set *ps = &p->sets[i];

		ps->id = dp__ruleset_id(c->dp, p->id, ps->key, false);
		if (!ps->id) {
			ps->id = dp__ruleset_id(c->dp, p->id, ps->key, true);
			ps->fresh = ps->id != 0;
		}
		if (!ps->id) {
			pr_err("tenant %s, network %s: no free policy slot (at most %d tenants and "
			       "networks with MultiNetworkPolicies)", p->tenant, ps->key,
			       NF_MAX_TENANTS - 1);
			err = -EUSERS;
			break;
		}
		snprintf(what, sizeof(what), ", network %s", ps->key);
		err = compile_one(c, what, p->tenant, ps->id, ps->pols, ps->n_pols, &ps->compiled);
	}
	free(base);
	return err;
}

/*
 * One tenant's swap: its rule sets first (each its own atomic flip), then
 * its NetworkPolicies, then its endpoints are pointed at the rule sets of
 * their networks and the slots it no longer uses are freed. Every step
 * leaves each endpoint judged by a complete rule set, old or new.
 */
static int install_plan(struct change *c, struct tenant_plan *p)
{
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
	err = dp__rulesets_sync(c->dp, p->id, p->tenant, refs, p->n_sets);
	free(refs);
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
 * NF_STORE_JOURNAL: {"commit": BOOL, "tenants": [NAME...], "objects": [JSON...]}.
 * objects: the whole desired state of each tenant named (the input's
 * objects and the stored ones neither replaced nor removed), as the store
 * would hold them. commit: the kernel has all of it; only the store is left.
 * Written with store__write: it exists whole or not at all.
 */
static int journal_write(struct change *c, bool commit)
{
	struct strlist tenants = {};
	json_t *root, *jt, *jo;
	char *text = NULL;
	size_t i;
	int err;

	err = touched_tenants(c, &tenants);
	if (err || !tenants.n) {
		free(tenants.v);
		return err;	/* no object changes: ids and referrers only (pending markers) */
	}
	root = json_object();
	jt = json_array();
	jo = json_array();
	json_object_set_new(root, "commit", json_boolean(commit));
	json_object_set_new(root, "tenants", jt);
	json_object_set_new(root, "objects", jo);
	for (i = 0; i < tenants.n; i++)
		json_array_append_new(jt, json_string(tenants.v[i]));
	for (i = 0; i < c->in.n; i++)
		if (strlist_has(&tenants, c->in.v[i].tenant))
			json_array_append_new(jo, json_string(c->in.v[i].json));
	for (i = 0; i < c->stored.n; i++) {
		const struct obj *s = &c->stored.v[i];

		if (!s->removed && strlist_has(&tenants, s->tenant) &&
		    !objset_find(&c->in, s->tenant, s->kind, s->name))
			json_array_append_new(jo, json_string(s->json));
	}
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	free(tenants.v);
	if (!text)
		return -ENOMEM;
	err = store__write(NF_STORE_JOURNAL, text, strlen(text));
	free(text);
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
	c->prune = true;
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

	if (c->n_referrers)
		pr_info("recompiling %zu tenant%s whose policies name %s", c->n_referrers,
			c->n_referrers == 1 ? "" : "s",
			c->created.n == 1 ? c->created.v[0] : "new tenants");
	c->installing = true;
	for (i = 0; i < c->plans.n; i++) {
		struct tenant_plan *p = &c->plans.v[i];

		err = test_fail_install(p->tenant);
		if (!err) {
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
	size_t i, j, n;
	int err = 0, e;

	pr_err("rolling back %zu tenant%s: none of this change is applied", n_back,
	       n_back == 1 ? "" : "s");
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
	for (i = 0; i < n_back; i++) {
		struct tenant_plan p = { .tenant = c->plans.v[i].tenant, .pols = pols };

		if (c->plans.v[i].referrer)
			continue;
		for (j = 0, n = 0; j < c->stored.n; j++)
			if (is_policy(c->stored.v[j].kind) &&
			    !strcmp(c->stored.v[j].tenant, p.tenant))
				pols[n++] = c->stored.v[j].pol;
		p.n_pols = n;
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
	return 0;
}

static void change_free(struct change *c)
{
	size_t i;

	for (i = 0; i < c->plans.n; i++) {
		free(c->plans.v[i].pols);
		plan_free_compiled(&c->plans.v[i]);
	}
	free(c->plans.v);
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
		res->n_tenants_changed = c->n_changed;
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
			const char *del_policy, struct nf_apply_result *res)
{
	struct change c = { .input = input, .prune = prune, .del_tenant = del_tenant,
			    .del_policy = del_policy };
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
	if (!err)
		err = apply_locked(&c, res);
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
	err = apply_change(ds, prune, NULL, NULL, res);
	policy__docset_free(ds);
	return err;
}

int apply__delete(const char *tenant, const char *policy)
{
	return apply_change(NULL, false, tenant, policy, NULL);
}
