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

struct tenant_plan {
	const char *tenant;
	uint32_t id;
	struct nf_policy **pols;
	size_t n_pols;
	struct nf_compiled *compiled;
};

static uint32_t id_cb(const char *name, void *ctx)
{
	return dp__tenant_id(ctx, name, true);
}

static bool tenant_listed(struct tenant_plan *plans, size_t n, const char *tenant)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(plans[i].tenant, tenant))
			return true;
	return false;
}

/* Apply Tenant objects' CIDRs to the ipcache: remove the old, add the new. */
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
	id = dp__tenant_id(dp, want->tenant, true);
	if (!id)
		return -ENOSPC;
	for (i = 0; i < want->tobj->n_cidrs; i++) {
		err = dp__ipcache_set(dp, &want->tobj->cidrs[i], id);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The core: desired = stored, with `input` objects added or replaced, and
 * (prune) stored objects absent from input removed, or (del_tenant) the
 * named objects removed.
 */
static int apply_change(struct nf_docset *input, bool prune, const char *del_tenant,
			const char *del_policy, struct nf_apply_result *res)
{
	struct nf_docset *stored_ds = policy__docset_new();
	struct objset stored = {}, in = {};
	struct tenant_plan *plans = NULL;
	size_t n_plans = 0, i, j;
	struct nf_dp *dp = NULL;
	int lock = -1, err;

	if (!stored_ds)
		return -ENOMEM;
	err = dp__open(&dp, true);
	if (err)
		goto out;
	lock = dp__lock();
	if (lock < 0) {
		err = lock;
		goto out;
	}
	if (prune) {
		err = store_load(stored_ds, NULL, 0);
	} else {
		const char **only = calloc((input ? input->n_policies + input->n_tenants : 0) + 1,
					   sizeof(*only));
		size_t n_only = 0;

		if (!only) {
			err = -ENOMEM;
			goto out;
		}
		if (del_tenant)
			only[n_only++] = del_tenant;
		for (i = 0; input && i < input->n_policies; i++)
			only[n_only++] = input->policies[i]->tenant;
		for (i = 0; input && i < input->n_tenants; i++)
			only[n_only++] = input->tenants[i]->name;
		err = store_load(stored_ds, only, n_only);
		free(only);
	}
	if (err)
		goto out;
	err = objset_from_docset(&stored, stored_ds, false);
	if (!err && input)
		err = objset_from_docset(&in, input, true);
	if (err)
		goto out;

	plans = calloc(stored.n + in.n + 1, sizeof(*plans));
	if (!plans) {
		err = -ENOMEM;
		goto out;
	}
	/* Which tenants change: a new or different object, or a removed one. */
	for (i = 0; i < in.n; i++) {
		struct obj *s = objset_find(&stored, in.v[i].tenant, in.v[i].kind, in.v[i].name);

		if (s && !strcmp(s->json, in.v[i].json))
			continue;
		if (in.v[i].kind == OBJ_POLICY && !tenant_listed(plans, n_plans, in.v[i].tenant))
			plans[n_plans++].tenant = in.v[i].tenant;
	}
	for (i = 0; i < stored.n; i++) {
		struct obj *s = &stored.v[i];

		if (del_tenant)
			s->removed = !strcmp(s->tenant, del_tenant) &&
				     (!del_policy || (s->kind == OBJ_POLICY && !strcmp(s->name, del_policy)));
		else if (prune)
			s->removed = !objset_find(&in, s->tenant, s->kind, s->name);
		if (s->removed && s->kind == OBJ_POLICY && !tenant_listed(plans, n_plans, s->tenant))
			plans[n_plans++].tenant = s->tenant;
	}
	if (del_tenant) {
		bool any = false;

		for (i = 0; i < stored.n; i++)
			any |= stored.v[i].removed;
		if (!any) {
			err = -ENOENT;
			goto out;
		}
	}

	/* Compile every touched tenant before the kernel sees anything. */
	for (i = 0; i < n_plans; i++) {
		struct tenant_plan *p = &plans[i];
		struct nf_tenant_info ti;

		p->pols = calloc(stored.n + in.n + 1, sizeof(*p->pols));
		if (!p->pols) {
			err = -ENOMEM;
			goto out;
		}
		for (j = 0; j < in.n; j++)
			if (in.v[j].kind == OBJ_POLICY && !strcmp(in.v[j].tenant, p->tenant))
				p->pols[p->n_pols++] = in.v[j].pol;
		for (j = 0; j < stored.n; j++) {
			struct obj *s = &stored.v[j];

			if (s->kind != OBJ_POLICY || s->removed || strcmp(s->tenant, p->tenant))
				continue;
			if (objset_find(&in, s->tenant, OBJ_POLICY, s->name))
				continue;	/* replaced */
			p->pols[p->n_pols++] = s->pol;
		}
		p->id = dp__tenant_id(dp, p->tenant, true);
		if (!p->id) {
			pr_err("no free tenant id for %s (at most %d tenants)", p->tenant,
			       NF_MAX_TENANTS - 1);
			err = -ENOSPC;
			goto out;
		}
		if (!p->n_pols)
			continue;
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

	/* Identities first (Tenant CIDRs), then each tenant's atomic swap. */
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
	for (i = 0; i < n_plans; i++) {
		struct tenant_plan *p = &plans[i];

		err = p->compiled ? dp__install_policy(dp, p->compiled) : dp__remove_policy(dp, p->id);
		if (err) {
			pr_err("tenant %s: install failed: %s (its previous policy stays in force)",
			       p->tenant, strerror(-err));
			goto out;
		}
	}

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
	if (res) {
		res->n_policies = input ? input->n_policies : 0;
		res->n_tenant_objs = input ? input->n_tenants : 0;
		res->n_tenants_changed = n_plans;
	}
	err = 0;
out:
	if (plans) {
		for (i = 0; i < n_plans; i++) {
			free(plans[i].pols);
			compile__free(plans[i].compiled);
		}
		free(plans);
	}
	free(stored.v);
	free(in.v);
	policy__docset_free(stored_ds);
	if (lock >= 0) {
		dp__sync_host_addrs(dp);	/* SPEC §3.8: every change refreshes them */
		count_apply(!err || err == -ENOENT);
		dp__unlock(lock);
	}
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

/* For `check`: the tenant's stored policies, compiled as installed. */
int apply__stored_policies(const char *tenant, struct nf_docset **out)
{
	struct nf_docset *ds = policy__docset_new();
	char path[PATH_MAX];
	int err;

	*out = NULL;
	if (!ds)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s", NF_OBJ_DIR, tenant);
	if (access(path, F_OK)) {
		*out = ds;
		return 0;
	}
	err = policy__load_path(ds, path);
	if (err) {
		policy__docset_free(ds);
		return err;
	}
	*out = ds;
	return 0;
}
