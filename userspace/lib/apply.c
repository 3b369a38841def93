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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "compile.h"
#include "datapath.h"
#include "log.h"
#include "policy.h"

#define NF_OBJ_DIR	NF_RUN_DIR "/objects"
#define NF_APPLIES	NF_RUN_DIR "/applies"

enum obj_kind { OBJ_POLICY, OBJ_TENANT };

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
		struct obj o = { .tenant = p->tenant, .name = p->name, .kind = OBJ_POLICY,
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

static void obj_path(char *buf, size_t len, const struct obj *o)
{
	snprintf(buf, len, "%s/%s/%s-%s.json", NF_OBJ_DIR, o->tenant,
		 o->kind == OBJ_POLICY ? "networkpolicy" : "tenant", o->name);
}

/*
 * Load the stored desired state into ds (it was valid when stored): every
 * tenant's (only = NULL), or only the tenants named in only[0..n_only) —
 * an apply that isn't a prune touches nothing else, and reading 1,000
 * tenants' files would cost more than the apply itself.
 */
static int store_load(struct nf_docset *ds, const char *const *only, size_t n_only)
{
	struct dirent *de;
	size_t i;
	DIR *d;
	int err = 0;

	if (only) {
		for (i = 0; i < n_only && !err; i++) {
			char path[PATH_MAX];
			size_t j;

			for (j = 0; j < i && strcmp(only[j], only[i]); j++)
				;
			if (j < i)
				continue;	/* named twice */
			snprintf(path, sizeof(path), "%s/%s", NF_OBJ_DIR, only[i]);
			if (access(path, F_OK))
				continue;
			err = policy__load_path(ds, path);
		}
		goto check;
	}
	d = opendir(NF_OBJ_DIR);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", NF_OBJ_DIR, de->d_name);
		err = policy__load_path(ds, path);
		if (err)
			break;
	}
	closedir(d);
check:
	if (!err && ds->n_problems) {
		pr_err("the stored state in %s is damaged: %s (run 'netfence reset' and apply again)",
		       NF_OBJ_DIR, ds->problems[0]);
		err = -EUCLEAN;
	}
	return err;
}

static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8], dir[PATH_MAX], *slash;
	int fd, err = 0;
	size_t len = strlen(text);

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		mkdir(NF_RUN_DIR, 0755);
		mkdir(NF_OBJ_DIR, 0755);
		mkdir(dir, 0755);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		err = -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
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
	snprintf(buf, sizeof(buf), "ok %llu\nerror %llu", (unsigned long long)n_ok,
		 (unsigned long long)n_err);
	mkdir(NF_RUN_DIR, 0755);
	write_file(NF_APPLIES, buf);
}

int apply__counts(uint64_t *ok, uint64_t *err)
{
	unsigned long long a = 0, b = 0;
	FILE *f = fopen(NF_APPLIES, "r");

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
 * The selector index. NF_REFS_DIR/<name>/<tenant> exists when the stored
 * policies of <tenant> name <name> in a namespace selector. A name without
 * a tenant id compiles to nothing (nf_tenant_id_fn in compile.h), so when
 * <name> gets its id the index says which tenants to recompile, without
 * reading every tenant's policies. It is derived from the store and may say
 * more than the store (an extra recompile is harmless), never less: names
 * are added before the store gains them and removed after it loses them.
 * NF_REFS_COMPLETE marks an index built from the whole store; without it
 * (state written by a build that kept no index) the first reader builds it.
 *
 * NF_REFS_DIR/.pending-<name>: <name> is getting its id and the tenants
 * naming it may not be recompiled yet. Written before the id is created,
 * removed once they are installed; whoever next gives <name> an address
 * (attach, CNI ADD, a Tenant object) finishes that first (kill -9 safety).
 * Tenant names are DNS-1123 labels: they never start with '.'.
 */
#define NF_REFS_DIR	 NF_RUN_DIR "/refs"
#define NF_REFS_COMPLETE NF_REFS_DIR "/.complete"

static int mkdir_ok(const char *path)
{
	return mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int refs_dirs(void)
{
	int err = mkdir_ok(NF_RUN_DIR);

	return err ? err : mkdir_ok(NF_REFS_DIR);
}

static int refs_link(const char *name, const char *tenant)
{
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "%s/%s", NF_REFS_DIR, name);
	err = mkdir_ok(path);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s/%s", NF_REFS_DIR, name, tenant);
	return touch(path);
}

static void refs_unlink(const char *name, const char *tenant)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/%s", NF_REFS_DIR, name, tenant);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", NF_REFS_DIR, name);
	rmdir(path);	/* when empty */
}

/* add: link the names in `now` not in `was`; else unlink those in `was` not
 * in `now`. Both sorted and unique. */
static int refs_update(const char *tenant, const struct strlist *was, const struct strlist *now,
		       bool add)
{
	const struct strlist *from = add ? now : was, *other = add ? was : now;
	size_t i, j = 0;
	int err;

	if (add && from->n) {
		err = refs_dirs();
		if (err)
			return err;
	}
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
	if (!err)
		err = refs_dirs();
	for (i = 0; !err && i < ds->n_policies; i++) {
		struct nf_policy *p = ds->policies[i];

		names.n = 0;
		err = selector_names(&p, 1, p->tenant, &names);
		for (j = 0; !err && j < names.n; j++)
			err = refs_link(names.v[j], p->tenant);
	}
	if (!err)
		err = touch(NF_REFS_COMPLETE);
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

	if (access(NF_REFS_COMPLETE, F_OK)) {
		err = refs_rebuild();
		if (err) {
			pr_err("cannot index the stored policies in %s: %s", NF_REFS_DIR,
			       strerror(-err));
			return err;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", NF_REFS_DIR, name);
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

static void pending_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/.pending-%s", NF_REFS_DIR, name);
}

static bool pending(const char *name)
{
	char path[PATH_MAX];

	pending_path(path, sizeof(path), name);
	return !access(path, F_OK);
}

static int pending_set(const char *name)
{
	char path[PATH_MAX];
	int err = refs_dirs();

	pending_path(path, sizeof(path), name);
	return err ? err : touch(path);
}

static void pending_clear(const char *name)
{
	char path[PATH_MAX];

	pending_path(path, sizeof(path), name);
	unlink(path);
}

/* ---- plans: the tenants one operation compiles and installs ---- */

struct tenant_plan {
	const char *tenant;
	uint32_t id;
	struct nf_policy **pols;
	size_t n_pols;
	struct nf_compiled *compiled;
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
		if (in->v[j].kind == OBJ_POLICY && !strcmp(in->v[j].tenant, p->tenant))
			p->pols[p->n_pols++] = in->v[j].pol;
	for (j = 0; j < stored->n; j++) {
		struct obj *s = &stored->v[j];

		if (s->kind != OBJ_POLICY || s->removed || strcmp(s->tenant, p->tenant))
			continue;
		if (objset_find(in, s->tenant, OBJ_POLICY, s->name))
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
		if (stored->v[j].kind == OBJ_POLICY && !strcmp(stored->v[j].tenant, p->tenant))
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
static int apply_tenant_cidrs(struct nf_dp *dp, const struct obj *stored, const struct obj *want)
{
	uint32_t id;
	size_t i;
	int err;

	if (stored && stored->tobj)
		for (i = 0; i < stored->tobj->n_cidrs; i++)
			dp__ipcache_del(dp, &stored->tobj->cidrs[i]);
	if (!want || want->removed || !want->tobj)
		return 0;
	id = dp__tenant_id(dp, want->tenant, false);
	if (!id)
		return -ENOENT;
	for (i = 0; i < want->tobj->n_cidrs; i++) {
		err = dp__ipcache_set(dp, &want->tobj->cidrs[i], id);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The core, node lock held: desired = stored, with `input` objects added or
 * replaced, and (prune) stored objects absent from input removed, or
 * (del_tenant) the named objects removed. `ensure`: a tenant that is about to
 * get an endpoint and so needs an id.
 *
 * Tenant ids go only to tenants with objects or endpoints; a tenant that
 * gets its id here makes every stored tenant whose policies name it a plan
 * too (a referrer), compiled and installed in the same operation, before any
 * address carries the new id: a NotIn selector compiled while the name had
 * no id would otherwise let that address in.
 */
static int apply_locked(struct nf_dp *dp, struct nf_docset *input, bool prune,
			const char *del_tenant, const char *del_policy, const char *ensure,
			struct nf_apply_result *res)
{
	struct nf_docset *stored_ds = policy__docset_new(), *extra_ds = NULL;
	struct strlist only = {}, want = {}, created = {}, fresh = {}, need = {}, keep = {};
	struct strlist refs = {}, was = {}, now = {};
	struct objset stored = {}, in = {};
	struct planset plans = {};
	size_t n_changed = 0, n_referrers = 0, i, j;
	bool installing = false;
	int err = 0;

	if (!stored_ds)
		return -ENOMEM;
	if (prune) {
		err = store_load(stored_ds, NULL, 0);
	} else {
		if (del_tenant)
			err = strlist_add(&only, del_tenant);
		if (!err && ensure)
			err = strlist_add(&only, ensure);
		for (i = 0; !err && input && i < input->n_policies; i++)
			err = strlist_add(&only, input->policies[i]->tenant);
		for (i = 0; !err && input && i < input->n_tenants; i++)
			err = strlist_add(&only, input->tenants[i]->name);
		if (!err && only.n)
			err = store_load(stored_ds, only.v, only.n);
	}
	if (err)
		goto out;
	err = objset_from_docset(&stored, stored_ds, false);
	if (!err && input)
		err = objset_from_docset(&in, input, true);
	if (err)
		goto out;

	/* Which tenants change: a new or different object, or a removed one. */
	for (i = 0; !err && i < in.n; i++) {
		struct obj *s = objset_find(&stored, in.v[i].tenant, in.v[i].kind, in.v[i].name);

		if (s && !strcmp(s->json, in.v[i].json))
			continue;
		if (in.v[i].kind == OBJ_POLICY)
			err = plan_add(&plans, in.v[i].tenant, false);
	}
	for (i = 0; !err && i < stored.n; i++) {
		struct obj *s = &stored.v[i];

		if (del_tenant)
			s->removed = !strcmp(s->tenant, del_tenant) &&
				     (!del_policy || (s->kind == OBJ_POLICY && !strcmp(s->name, del_policy)));
		else if (prune)
			s->removed = !objset_find(&in, s->tenant, s->kind, s->name);
		if (s->removed && s->kind == OBJ_POLICY)
			err = plan_add(&plans, s->tenant, false);
	}
	if (err)
		goto out;
	if (del_tenant) {
		bool any = false;

		for (i = 0; i < stored.n; i++)
			any |= stored.v[i].removed;
		if (!any) {
			err = -ENOENT;
			goto out;
		}
	}
	n_changed = plans.n;
	for (i = 0; !err && i < plans.n; i++)
		err = plan_fill(&plans.v[i], &in, &stored);
	if (err)
		goto out;

	/* Ids: every tenant that will hold objects, and `ensure`. */
	for (i = 0; !err && i < plans.n; i++)
		if (plans.v[i].n_pols && !strlist_has(&want, plans.v[i].tenant))
			err = strlist_add(&want, plans.v[i].tenant);
	for (i = 0; !err && i < in.n; i++)
		if (in.v[i].kind == OBJ_TENANT && !strlist_has(&want, in.v[i].tenant))
			err = strlist_add(&want, in.v[i].tenant);
	if (!err && ensure && !strlist_has(&want, ensure))
		err = strlist_add(&want, ensure);
	for (i = 0; !err && i < want.n; i++) {
		const char *w = want.v[i];
		uint32_t id = dp__tenant_id(dp, w, false);

		if (id && !pending(w))
			continue;
		err = pending_set(w);
		if (err) {
			pr_err("cannot write %s: %s", NF_REFS_DIR, strerror(-err));
			break;
		}
		if (!id) {
			id = dp__tenant_id(dp, w, true);
			if (!id) {
				pending_clear(w);
				pr_err("no free tenant id for %s (at most %d tenants)", w,
				       NF_MAX_TENANTS - 1);
				err = -EUSERS;
				break;
			}
			err = strlist_add(&fresh, w);
		}
		if (!err)
			err = strlist_add(&created, w);
	}
	/* The tenants that name a tenant that got its id here. */
	for (i = 0; !err && i < created.n; i++) {
		refs.n = 0;
		err = refs_of(created.v[i], &refs, &keep);
		/* ... and its own stored policies, should they exist without an id */
		if (!err && ensure && !strcmp(created.v[i], ensure))
			err = strlist_add(&refs, ensure);
		for (j = 0; !err && j < refs.n; j++) {
			if (plan_find(&plans, refs.v[j]))
				continue;
			err = plan_add(&plans, refs.v[j], true);
			if (!err && !prune && !strlist_has(&only, refs.v[j]))
				err = strlist_add(&need, refs.v[j]);
		}
	}
	if (!err && need.n) {
		extra_ds = policy__docset_new();
		err = extra_ds ? store_load(extra_ds, need.v, need.n) : -ENOMEM;
		if (!err)
			err = objset_from_docset(&stored, extra_ds, false);
	}
	for (i = n_changed; !err && i < plans.n; i++)
		err = plan_fill(&plans.v[i], &in, &stored);
	if (err)
		goto out;

	/* Compile every plan before the kernel sees anything. */
	for (i = 0; i < plans.n; i++) {
		struct tenant_plan *p = &plans.v[i];
		struct nf_tenant_info ti;

		p->id = dp__tenant_id(dp, p->tenant, false);
		if (!p->id || !p->n_pols)
			continue;	/* nothing installed: no id; removal: below */
		if (p->referrer)
			n_referrers++;
		dp__tenant_info(dp, p->id, &ti);
		err = compile__tenant(p->tenant, p->id, ti.epoch + 1, p->pols, p->n_pols, id_cb, dp,
				      &p->compiled);
		if (err) {
			if (err == -ENOSPC)
				pr_err("tenant %s: the policy does not fit the datapath's maps", p->tenant);
			else
				pr_err("tenant %s: compile failed: %s", p->tenant, strerror(-err));
			goto out;
		}
	}
	/* The index learns new names before the store holds them. */
	for (i = 0; i < n_changed; i++) {
		err = plan_names(&plans.v[i], &stored, &was, &now);
		if (!err)
			err = refs_update(plans.v[i].tenant, &was, &now, true);
		if (err) {
			pr_err("cannot write %s: %s", NF_REFS_DIR, strerror(-err));
			goto out;
		}
	}
	if (n_referrers)
		pr_info("recompiling %zu tenant%s whose policies name %s", n_referrers,
			n_referrers == 1 ? "" : "s", created.n == 1 ? created.v[0] : "new tenants");

	/*
	 * Each tenant's atomic swap, then the identities (Tenant CIDRs): a rule
	 * naming a tenant that just got its id knows that id before an address
	 * carries it.
	 */
	installing = true;
	for (i = 0; i < plans.n; i++) {
		struct tenant_plan *p = &plans.v[i];

		if (p->compiled)
			err = dp__install_policy(dp, p->compiled);
		else if (!p->referrer && p->id)
			err = dp__remove_policy(dp, p->id);
		if (err) {
			pr_err("tenant %s: install failed: %s (its previous policy stays in force)",
			       p->tenant, strerror(-err));
			goto out;
		}
	}
	for (i = 0; i < in.n; i++) {
		struct obj *s;

		if (in.v[i].kind != OBJ_TENANT)
			continue;
		s = objset_find(&stored, in.v[i].tenant, OBJ_TENANT, in.v[i].name);
		if (s && !strcmp(s->json, in.v[i].json))
			continue;
		err = apply_tenant_cidrs(dp, s, &in.v[i]);
		if (err)
			goto out;
	}
	for (i = 0; i < stored.n; i++)
		if (stored.v[i].kind == OBJ_TENANT && stored.v[i].removed)
			apply_tenant_cidrs(dp, &stored.v[i], NULL);

	/* The store follows the kernel. */
	for (i = 0; i < in.n; i++) {
		char path[PATH_MAX];

		obj_path(path, sizeof(path), &in.v[i]);
		err = write_file(path, in.v[i].json);
		if (err) {
			pr_err("cannot write %s: %s", path, strerror(-err));
			goto out;
		}
	}
	for (i = 0; i < stored.n; i++) {
		char path[PATH_MAX];

		if (!stored.v[i].removed)
			continue;
		obj_path(path, sizeof(path), &stored.v[i]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", NF_OBJ_DIR, stored.v[i].tenant);
		rmdir(path);	/* when empty */
	}
	/* ... and the index forgets names after the store has. */
	for (i = 0; i < n_changed; i++)
		if (!plan_names(&plans.v[i], &stored, &was, &now))
			refs_update(plans.v[i].tenant, &was, &now, false);
	for (i = 0; i < created.n; i++)
		pending_clear(created.v[i]);
	if (res) {
		res->n_policies = input ? input->n_policies : 0;
		res->n_tenant_objs = input ? input->n_tenants : 0;
		res->n_tenants_changed = n_changed;
	}
	err = 0;
out:
	/* Nothing installed: the ids created here were never used; give them back. */
	if (err && !installing) {
		for (i = 0; i < fresh.n; i++) {
			dp__tenant_forget(dp, dp__tenant_id(dp, fresh.v[i], false));
			pending_clear(fresh.v[i]);
		}
	}
	for (i = 0; i < plans.n; i++) {
		free(plans.v[i].pols);
		compile__free(plans.v[i].compiled);
	}
	free(plans.v);
	for (i = 0; i < keep.n; i++)
		free((char *)keep.v[i]);
	free(keep.v);
	free(only.v);
	free(want.v);
	free(created.v);
	free(fresh.v);
	free(need.v);
	free(refs.v);
	free(was.v);
	free(now.v);
	free(stored.v);
	free(in.v);
	policy__docset_free(stored_ds);
	policy__docset_free(extra_ds);
	return err;
}

static int apply_change(struct nf_docset *input, bool prune, const char *del_tenant,
			const char *del_policy, struct nf_apply_result *res)
{
	struct nf_dp *dp = NULL;
	int lock, err;

	err = dp__open(&dp, true);
	if (err)
		return err;
	lock = dp__lock();
	if (lock < 0) {
		dp__close(dp);
		return lock;
	}
	err = apply_locked(dp, input, prune, del_tenant, del_policy, NULL, res);
	dp__sync_host_addrs(dp);	/* SPEC §3.8: every change refreshes them */
	count_apply(!err || err == -ENOENT);
	dp__unlock(lock);
	dp__close(dp);
	return err;
}

int apply__tenant_id(struct nf_dp *dp, const char *tenant, uint32_t *id)
{
	int err;

	*id = dp__tenant_id(dp, tenant, false);
	if (*id && !pending(tenant))
		return 0;
	err = apply_locked(dp, NULL, false, NULL, NULL, tenant, NULL);
	if (err)
		return err;
	*id = dp__tenant_id(dp, tenant, false);
	return *id ? 0 : -EUSERS;
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
