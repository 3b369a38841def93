// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cgroup endpoints: the cgroup programs on the outermost fenced cgroup of
 * a subtree, handed over to nested endpoints when it leaves.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <bpf/bpf.h>

#include "dp_internal.h"
#include "log.h"

/* The cgroup id the kernel reports: the directory's file handle (kernfs id). */
int dp__cgroup_id(const char *dir, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	int mount_id;

	h.fh.handle_bytes = sizeof(h.id);
	if (name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0))
		return -errno;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

static bool match_cgroup(const struct nf_ep_record *r, const void *arg)
{
	return r->is_cgroup && r->cgroup_id == *(const uint64_t *)arg;
}

struct cg_hook {
	enum nf_prog_id prog;
	enum bpf_attach_type type;
};

static const struct cg_hook cg_hooks[] = {
	{ NF_PROG_CG_INGRESS, BPF_CGROUP_INET_INGRESS },
	{ NF_PROG_CG_EGRESS, BPF_CGROUP_INET_EGRESS },
	{ NF_PROG_CG_CONNECT4, BPF_CGROUP_INET4_CONNECT },
	{ NF_PROG_CG_CONNECT6, BPF_CGROUP_INET6_CONNECT },
	{ NF_PROG_CG_SENDMSG4, BPF_CGROUP_UDP4_SENDMSG },
	{ NF_PROG_CG_SENDMSG6, BPF_CGROUP_UDP6_SENDMSG },
	{ NF_PROG_CG_SOCK_CREATE, BPF_CGROUP_INET_SOCK_CREATE },
};

/* Is prog attached to the cgroup (directly)? */
static bool cg_prog_attached(int cgfd, enum bpf_attach_type type, __u32 id)
{
	__u32 ids[64], cnt = 64, flags = 0, i;

	if (bpf_prog_query(cgfd, type, 0, &flags, ids, &cnt))
		return false;
	for (i = 0; i < cnt; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * Only the outermost fenced cgroup of a subtree carries our programs: they run
 * for every descendant and find the deepest endpoint (nf_cg_lookup_skb). Were
 * they attached to a nested endpoint too, the kernel would run both copies
 * (the effective array holds each ancestor's multi programs), and every drop
 * would be counted twice.
 */

/*
 * Levels below the root of the cgroup v2 hierarchy (the root is 0), as the
 * BPF side counts them: nf_cg_lookup_skb walks ancestors from the root down to
 * NF_CGROUP_MAX_DEPTH, so a fenced cgroup deeper than that would be attached
 * but never found (its descendants are found through it at any depth). Counted
 * up to the mount's root; inside a cgroup namespace the kernel's level is
 * larger by the namespace root's own.
 */
static int cg_depth(const char *dir)
{
	char path[PATH_MAX];
	struct stat here, up;
	char *slash;
	int depth = 0;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path) || stat(path, &here))
		return INT_MAX;
	while ((slash = strrchr(path, '/')) && slash != path) {
		*slash = 0;
		if (stat(path, &up) || up.st_dev != here.st_dev)
			break;
		depth++;
	}
	return depth;
}

/* Is cgroup path `dir` strictly below `top`? */
static bool cg_below(const char *dir, const char *top)
{
	size_t n = strlen(top);

	return !strncmp(dir, top, n) && dir[n] == '/';
}

/*
 * Is the record's cgroup still the one at its path? A cgroup removed without
 * detach leaves its record; another cgroup made later at the same path has a
 * new id, and none of our programs.
 */
static bool cg_live(const struct nf_ep_record *r)
{
	uint64_t id = 0;

	return r->is_cgroup && !dp__cgroup_id(r->cgroup, &id) && id == r->cgroup_id;
}

/* Is dir below a live fenced cgroup other than the endpoints `self` and `skip`? */
static bool cg_covered(const struct nf_ep_record *recs, size_t n, const char *dir, uint32_t self,
		       uint32_t skip)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (recs[i].is_cgroup && recs[i].ep_id != self && recs[i].ep_id != skip &&
		    cg_below(dir, recs[i].cgroup) && cg_live(&recs[i]))
			return true;
	return false;
}

/* Attach our programs (multi: other tools' stay) where not already attached. */
static int cg_attach_progs(struct nf_dp *dp, int cgfd, const char *dir)
{
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(cg_hooks); i++) {
		int pfd = dp->progs[cg_hooks[i].prog];

		if (cg_prog_attached(cgfd, cg_hooks[i].type, dp_prog_id(pfd)))
			continue;
		if (bpf_prog_attach(pfd, cgfd, cg_hooks[i].type, BPF_F_ALLOW_MULTI)) {
			err = -errno;
			pr_err("cannot attach to cgroup %s: %s%s", dir, strerror(-err),
			       err == -EPERM ? " (a non-multi program is attached there)" : "");
			return err;
		}
		dp_test_stop_at("cgroup-attach-progs");
	}
	return 0;
}

/* Detach our programs only (by fd), wherever attached: never other tools'. */
void dp_cg_detach_progs(struct nf_dp *dp, const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t i;

	if (fd < 0)
		return;
	for (i = 0; i < ARRAY_SIZE(cg_hooks); i++)
		bpf_prog_detach2(dp->progs[cg_hooks[i].prog], fd, cg_hooks[i].type);
	close(fd);
}

int dp__attach_cgroup(struct nf_dp *dp, const char *dir, uint32_t tenant_id)
{
	struct nf_ep_record rec = {}, old, *recs = NULL;
	struct nf_endpoint v = {};
	char real[PATH_MAX];
	uint64_t cgid;
	size_t n = 0, i;
	int fd, err;

	if (!realpath(dir, real)) {
		err = -errno;
		pr_err("cgroup %s: %s", dir, strerror(-err));
		return err;
	}
	fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_err("cgroup %s: %s", real, strerror(-err));
		return err;
	}
	{
		struct statfs st;

		if (fstatfs(fd, &st) || st.f_type != CGROUP2_SUPER_MAGIC) {
			pr_err("%s is not a cgroup v2 directory", real);
			close(fd);
			return -EINVAL;
		}
	}
	if (cg_depth(real) > NF_CGROUP_MAX_DEPTH) {
		/* attached, it would fence nothing: fail closed here instead */
		pr_err("cgroup %s is more than %d levels below the cgroup v2 root: the datapath "
		       "can't find it there",
		       real, NF_CGROUP_MAX_DEPTH);
		close(fd);
		return -EINVAL;
	}
	err = dp__cgroup_id(real, &cgid);
	if (err) {
		pr_err("cannot read the id of cgroup %s: %s", real, strerror(-err));
		goto out;
	}
	if (!dp_find_cgroup_record(dp, cgid, match_cgroup, &cgid, &old))
		rec.ep_id = old.ep_id;
	else
		rec.ep_id = dp__alloc_ep_id(dp);
	if (!rec.ep_id) {
		err = -ENOSPC;
		goto out;
	}
	rec.tenant_id = tenant_id;
	rec.is_cgroup = true;
	if (strlen(real) >= sizeof(rec.cgroup)) {
		err = -ENAMETOOLONG;
		pr_err("cgroup path too long: %s", real);
		goto out;
	}
	memcpy(rec.cgroup, real, strlen(real) + 1);
	rec.cgroup_id = cgid;
	err = dp_intent_begin(rec.ep_id, DP_INTENT_ATTACH);
	if (err)
		goto out;
	err = dp_ep_record_write(&rec, NULL, 0);
	if (err)
		goto out;
	v.tenant_id = tenant_id;
	v.ep_id = rec.ep_id;
	if (bpf_map_update_elem(dp->maps.fd[NF_MAP_CG_ENDPOINTS], &cgid, &v, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	dp__verdicts_changed(dp);
	err = dp__list_endpoints(dp, &recs, &n);
	if (err)
		goto out;
	if (cg_covered(recs, n, real, rec.ep_id, 0)) {
		/* a fenced ancestor's programs judge this cgroup already, by its entry */
		dp_cg_detach_progs(dp, real);
		goto out;
	}
	/* Multi-attach: programs of other tools on this cgroup stay and still run. */
	err = cg_attach_progs(dp, fd, real);
	if (err)
		goto out;
	/* Ours here now cover the nested endpoints: theirs go (after: no gap). */
	for (i = 0; i < n; i++)
		if (recs[i].is_cgroup && recs[i].ep_id != rec.ep_id &&
		    cg_below(recs[i].cgroup, real))
			dp_cg_detach_progs(dp, recs[i].cgroup);
out:
	if (rec.ep_id)
		dp_intent_end(rec.ep_id);
	free(recs);
	close(fd);
	return err;
}

/*
 * Before the programs leave `r`, attach them to the nested endpoints they
 * covered that no other fenced cgroup covers: no moment without a fence.
 */
static int cg_hand_over(struct nf_dp *dp, const struct nf_ep_record *r)
{
	struct nf_ep_record *recs;
	size_t n, i;
	int fd, err;

	err = dp__list_endpoints(dp, &recs, &n);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++) {
		const struct nf_ep_record *d = &recs[i];

		if (!d->is_cgroup || d->ep_id == r->ep_id || !cg_below(d->cgroup, r->cgroup) ||
		    !cg_live(d) || cg_covered(recs, n, d->cgroup, d->ep_id, r->ep_id))
			continue;
		fd = open(d->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone: nothing to fence */
		err = cg_attach_progs(dp, fd, d->cgroup);
		close(fd);
	}
	free(recs);
	return err;
}

/* Forget the record of a cgroup that is gone, or was removed and made again
 * (a new id): found by its path. */
static int cg_detach_stale(struct nf_dp *dp, const char *path)
{
	struct nf_ep_record *recs;
	size_t n, i;
	int err = -ENOENT;

	if (dp__list_endpoints(dp, &recs, &n))
		return -ENOENT;
	for (i = 0; i < n; i++) {
		if (recs[i].is_cgroup && !strcmp(recs[i].cgroup, path) && !cg_live(&recs[i])) {
			err = dp_detach_record(dp, &recs[i]);
			break;
		}
	}
	free(recs);
	return err;
}

int dp__detach_cgroup(struct nf_dp *dp, const char *dir)
{
	struct nf_ep_record r;
	char real[PATH_MAX];
	uint64_t cgid = 0;
	int err;

	if (!realpath(dir, real) || dp__cgroup_id(real, &cgid))
		return cg_detach_stale(dp, dir);
	if (dp_find_cgroup_record(dp, cgid, match_cgroup, &cgid, &r))
		return cg_detach_stale(dp, real);
	err = cg_hand_over(dp, &r);
	if (err) {
		pr_err("cgroup %s stays fenced: the cgroups below it that are endpoints would not be",
		       real);
		return err;
	}
	return dp_detach_record(dp, &r);
}
