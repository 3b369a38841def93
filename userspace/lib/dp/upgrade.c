// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * In-place upgrade of a loaded datapath (SPEC §10.1).
 *
 * The pins under NF_PIN_ROOT are the loaded datapath; nf_meta records its
 * version and build (absent: version 0, loaded before versions were
 * recorded). Upgrading to this build's object:
 *  1. every map whose pinned layout (type, key and value size, capacity,
 *     flags) matches this build's is reused as it is (policy, tenants,
 *     counters, endpoints stay where they are); nf_gc (its timer calls the
 *     old programs) and nf_meta are always new;
 *  2. the object is loaded with those maps; every other map is new and its
 *     entries are carried over from the old one (a value that grew gets its
 *     new fields zeroed: the rule for layout changes in abi.h);
 *  3. every endpoint's programs are replaced where they run, each hook in one
 *     step (tc: the same handle and priority with replace; tcx: BPF_F_REPLACE;
 *     cgroup: BPF_F_REPLACE), so no packet meets an empty hook;
 *  4. tracking entries the old programs created during step 3 are carried
 *     over again, and the per-tenant shares recounted from the tables;
 *  5. the pins switch last: each new object is pinned beside its old pin and
 *     renamed over it, nf_meta last of all.
 * A crash before step 5 leaves the old nf_meta: the next command upgrades
 * again (replacing by program name, so endpoints already on a new program of
 * that first attempt are replaced too).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_internal.h"
#include "log.h"
#include "store.h"
#include "netfence.skel.h"
#include "netfence.objhash.h"

#define META_PIN	NF_PIN_ROOT "/nf_meta"

void dp__meta_self(struct nf_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->version = NF_DATAPATH_VERSION;
	m->object_hash = NF_OBJECT_HASH;	/* the Makefile's digest of the object */
	snprintf(m->build, sizeof(m->build), "%s", NF_VERSION);
}

int dp__meta(struct nf_meta *m)
{
	__u32 zero = 0;
	int fd, err = 0;

	memset(m, 0, sizeof(*m));
	fd = bpf_obj_get(META_PIN);
	if (fd < 0) {
		if (!dp_any_pin())
			return -ENOENT;
		snprintf(m->build, sizeof(m->build), "unrecorded");	/* version 0 */
		return 0;
	}
	if (bpf_map_lookup_elem(fd, &zero, m))
		err = -errno;
	close(fd);
	return err;
}

static int refuse_newer(const struct nf_meta *was)
{
	struct nf_meta self;

	dp__meta_self(&self);
	pr_err("the loaded datapath is version %u (build %s), newer than this netfence's "
	       "version %u (build %s): not changing it (netfence upgrade --allow-downgrade "
	       "replaces it)", was->version, was->build, self.version, self.build);
	return -EPROTO;
}

int dp_check_version(void)
{
	struct nf_meta was;

	if (dp__meta(&was) || was.version <= NF_DATAPATH_VERSION)
		return 0;
	return refuse_newer(&was);
}

bool dp_is_current(void)
{
	struct nf_meta was, self;

	dp__meta_self(&self);
	return !dp__meta(&was) && was.version == self.version &&
	       was.object_hash == self.object_hash;
}

/* ------------------------------------------------------------ the maps */

struct up_map {
	struct bpf_map *m;
	int old_fd;			/* the pinned map of this name, or -1 */
	struct bpf_map_info old;
	bool reuse;
};

/* nf_gc's timer calls the programs that started it; nf_meta names the build. */
/* nf_peer_cache, nf_verdicts, nf_flow_cache, nf_ct_closed and
 * nf_ct_closed_cpu: caches (the meaning of their values may change without
 * their size): new ones start empty rather than carrying entries over. */
static bool always_new(const char *name)
{
	return !strcmp(name, "nf_gc") || !strcmp(name, "nf_meta") ||
	       !strcmp(name, "nf_peer_cache") || !strcmp(name, "nf_verdicts") ||
	       !strcmp(name, "nf_flow_cache") || !strcmp(name, "nf_ct_closed") ||
	       !strcmp(name, "nf_ct_closed_cpu");
}

static bool same_layout(const struct bpf_map_info *i, const struct bpf_map *m)
{
	return i->type == bpf_map__type(m) && i->key_size == bpf_map__key_size(m) &&
	       i->value_size == bpf_map__value_size(m) &&
	       i->max_entries == bpf_map__max_entries(m) && i->map_flags == bpf_map__map_flags(m);
}

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static bool is_array(__u32 type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static size_t round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/*
 * Carry the entries of `from` (layout fi) into `to` (this build's map tm):
 * values copied field by field up to the shorter size, the rest zero (abi.h:
 * a layout change appends fields). flags BPF_NOEXIST keeps what `to` has.
 * Ring buffers carry nothing. *n counts the entries written.
 */
static int copy_entries(int from, const struct bpf_map_info *fi, int to, const struct bpf_map *tm,
			__u64 flags, size_t *n)
{
	__u32 type = bpf_map__type(tm);
	size_t ksz = fi->key_size, osz = fi->value_size, nsz = bpf_map__value_size(tm);
	size_t ncpu = 1, ostride, nstride, c;
	unsigned char *key = NULL, *next = NULL, *ov = NULL, *nv = NULL;
	bool first = true;
	__u32 idx, max;
	int err = 0;

	*n = 0;
	if (type == BPF_MAP_TYPE_RINGBUF || fi->type == BPF_MAP_TYPE_RINGBUF)
		return 0;
	if (ksz != bpf_map__key_size(tm) || is_percpu(fi->type) != is_percpu(type) ||
	    is_array(fi->type) != is_array(type)) {
		pr_info("upgrade: %s: key or kind changed, its entries are not carried over",
			bpf_map__name(tm));
		return 0;
	}
	if (is_percpu(type)) {
		int cpus = libbpf_num_possible_cpus();

		if (cpus < 1)
			return cpus ? cpus : -EINVAL;
		ncpu = (size_t)cpus;
	}
	ostride = ncpu > 1 || is_percpu(type) ? round8(osz) : osz;
	nstride = ncpu > 1 || is_percpu(type) ? round8(nsz) : nsz;
	key = calloc(1, ksz ? ksz : 1);
	next = calloc(1, ksz ? ksz : 1);
	ov = calloc(ncpu, ostride);
	nv = calloc(ncpu, nstride);
	if (!key || !next || !ov || !nv) {
		err = -ENOMEM;
		goto out;
	}
	max = fi->max_entries < bpf_map__max_entries(tm) ? fi->max_entries : bpf_map__max_entries(tm);
	/* A hash walk restarts when its key is deleted under it: bounded. */
	for (idx = 0; idx < 4 * (__u64)fi->max_entries + 4; idx++) {
		if (is_array(type)) {
			if (idx >= max)
				break;
			memcpy(next, &idx, sizeof(idx));
		} else {
			if (bpf_map_get_next_key(from, first ? NULL : key, next))
				break;	/* ENOENT: the end */
			first = false;
		}
		memcpy(key, next, ksz);
		if (bpf_map_lookup_elem(from, key, ov))
			continue;	/* deleted meanwhile */
		memset(nv, 0, ncpu * nstride);
		for (c = 0; c < ncpu; c++)
			memcpy(nv + c * nstride, ov + c * ostride, osz < nsz ? osz : nsz);
		if (bpf_map_update_elem(to, key, nv, is_array(type) ? BPF_ANY : flags)) {
			if (errno == EEXIST)
				continue;
			err = -errno;
			pr_err("upgrade: cannot carry an entry of %s over: %s", bpf_map__name(tm),
			       strerror(errno));
			goto out;
		}
		(*n)++;
	}
out:
	free(key);
	free(next);
	free(ov);
	free(nv);
	return err;
}

/* ------------------------------------------------------- the programs */

/* This build's programs, by their kernel name (BPF_OBJ_NAME_LEN-truncated). */
struct up_progs {
	size_t n;
	struct {
		char name[BPF_OBJ_NAME_LEN];
		int fd;
		__u32 id;
	} p[32];
	size_t replaced, failed;
};

static int prog_info(int fd, struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/*
 * Programs of earlier datapaths whose place a program of another name took
 * (kernel names, BPF_OBJ_NAME_LEN-truncated): version 6 runs one program at
 * both hooks of a veth's host-side peer.
 */
static const char *const renamed[][2] = {
	{ "tc_peer_ingress", "tc_peer" },
	{ "tc_peer_egress", "tc_peer" },
};

/* The name of this build's program for a running one called `name`. */
static const char *successor_name(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(renamed); i++)
		if (!strcmp(name, renamed[i][0]))
			return renamed[i][1];
	return name;
}

/*
 * The program of this build that replaces the one with id `id`, or -1: a
 * program is ours by name (ours run only at our handles, tcx entries and
 * cgroup hooks are checked by name too), and not already this build's.
 * *old gets an fd of the running one.
 */
static int successor(const struct up_progs *up, __u32 id, int *old)
{
	struct bpf_prog_info info;
	const char *name;
	size_t i;
	int fd;

	*old = -1;
	for (i = 0; i < up->n; i++)
		if (up->p[i].id == id)
			return -1;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -1;
	if (!prog_info(fd, &info))
		for (i = 0, name = successor_name(info.name); i < up->n; i++)
			if (!strcmp(name, up->p[i].name)) {
				*old = fd;
				return up->p[i].fd;
			}
	close(fd);
	return -1;
}

static void count(struct up_progs *up, int err, const char *what, const char *where)
{
	if (!err) {
		up->replaced++;
		return;
	}
	up->failed++;
	pr_err("upgrade: cannot replace the %s program at %s: %s", what, where, strerror(-err));
}

/* cls_bpf at our handle and priority: one replace. */
static void replace_tc(struct up_progs *up, int ifindex, enum bpf_tc_attach_point point,
		       __u32 handle, __u32 prio, const char *where)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = handle, .priority = prio);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = prio,
		    .flags = BPF_TC_F_REPLACE);
	libbpf_print_fn_t print = libbpf_set_print(NULL);	/* no filter: not an error */
	int err = bpf_tc_query(&hook, &q), old;

	libbpf_set_print(print);
	if (err)
		return;
	o.prog_fd = successor(up, q.prog_id, &old);
	if (o.prog_fd < 0)
		return;
	count(up, bpf_tc_attach(&hook, &o), "tc", where);
	close(old);
}

/* tcx: BPF_PROG_ATTACH with BPF_F_REPLACE keeps the program's place. */
static void replace_tcx(struct up_progs *up, int ifindex, __u32 type, const char *where)
{
	__u32 ids[64], i;
	LIBBPF_OPTS(bpf_prog_query_opts, q, .prog_ids = ids, .prog_cnt = 64);

	if (bpf_prog_query_opts(ifindex, type, &q))
		return;
	for (i = 0; i < q.prog_cnt && i < 64; i++) {
		int nfd, old;

		nfd = successor(up, ids[i], &old);
		if (nfd < 0)
			continue;
		count(up, dp_tcx_attach(ifindex, type, nfd, NF_F_REPLACE, old), "tcx", where);
		close(old);
	}
}

/* An interface's hooks: our filter (or a macvlan parent's guard filter) and tcx. */
static void replace_iface(struct up_progs *up, const char *netns, uint32_t ifindex,
			  const char *ifname, bool guard)
{
	__u32 handle = guard ? NF_TC_GUARD_HANDLE : NF_TC_HANDLE;
	__u32 prio = guard ? NF_TC_GUARD_PRIO : NF_TC_PRIO;
	struct netns_guard g;
	char where[320];

	if (!ifindex || dp_netns_enter(netns, &g))
		return;	/* gone: nothing runs there */
	snprintf(where, sizeof(where), "%s%s%s", ifname, *netns ? " in " : "", netns);
	replace_tcx(up, (int)ifindex, NF_TCX_INGRESS, where);
	replace_tcx(up, (int)ifindex, NF_TCX_EGRESS, where);
	replace_tc(up, (int)ifindex, BPF_TC_INGRESS, handle, prio, where);
	replace_tc(up, (int)ifindex, BPF_TC_EGRESS, handle, prio, where);
	dp_netns_leave(&g);
}

static void replace_cgroup(struct up_progs *up, const char *dir)
{
	static const __u32 types[] = {
		BPF_CGROUP_INET_INGRESS, BPF_CGROUP_INET_EGRESS, BPF_CGROUP_INET4_CONNECT,
		BPF_CGROUP_INET6_CONNECT, BPF_CGROUP_UDP4_SENDMSG, BPF_CGROUP_UDP6_SENDMSG,
		BPF_CGROUP_INET_SOCK_CREATE,
	};
	int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t t;

	if (cgfd < 0)
		return;
	for (t = 0; t < ARRAY_SIZE(types); t++) {
		__u32 ids[64], cnt = 64, flags = 0, i;

		if (bpf_prog_query(cgfd, types[t], 0, &flags, ids, &cnt))
			continue;
		for (i = 0; i < cnt && i < 64; i++) {
			LIBBPF_OPTS(bpf_prog_attach_opts, o, .flags = BPF_F_ALLOW_MULTI | NF_F_REPLACE);
			int nfd, old;

			nfd = successor(up, ids[i], &old);
			if (nfd < 0)
				continue;
			o.replace_prog_fd = old;
			count(up, bpf_prog_attach_opts(nfd, cgfd, types[t], &o), "cgroup", dir);
			close(old);
		}
	}
	close(cgfd);
}

/* Every hook an endpoint record names: where its programs and guard run. */
static void replace_endpoints(struct nf_dp *dp, struct up_progs *up)
{
	struct nf_ep_record *recs;
	size_t n, i;

	if (dp__list_endpoints(dp, &recs, &n))
		return;
	for (i = 0; i < n; i++) {
		const struct nf_ep_record *r = &recs[i];

		if (r->is_cgroup) {
			replace_cgroup(up, r->cgroup);
			continue;
		}
		if (r->attach_peer)
			replace_iface(up, r->attach_netns, r->attach_ifindex, r->attach_ifname, false);
		else
			replace_iface(up, r->netns, r->ifindex, r->ifname, false);
		if (r->guard)
			replace_iface(up, r->guard_netns, r->guard_ifindex, r->guard_ifname, true);
	}
	free(recs);
}

/* ------------------------------------------------------------ upgrade */

/* The per-tenant shares of nf_ct and nf_frags, counted from the tables. */
static void recount_usage(struct nf_dp *dp)
{
	static __u32 ct[NF_MAX_TENANTS], frags[NF_MAX_TENANTS];
	struct nf_ct_key k, nk;
	struct nf_ct_val v;
	struct nf_frag_key fk, nfk;
	struct nf_frag_val fv;
	bool first = true;
	__u32 t, guard = 0;
	int ct_fd = dp->maps.fd[NF_MAP_CT], fr_fd = dp->maps.fd[NF_MAP_FRAGS];

	dp__young_flush(dp);
	memset(ct, 0, sizeof(ct));
	memset(frags, 0, sizeof(frags));
	while (guard++ < 2 * NF_MAX_CT && !bpf_map_get_next_key(ct_fd, first ? NULL : &k, &nk)) {
		first = false;
		k = nk;
		if (!bpf_map_lookup_elem(ct_fd, &k, &v) && v.tenant_id < NF_MAX_TENANTS)
			ct[v.tenant_id]++;
	}
	first = true;
	guard = 0;
	while (guard++ < 2 * NF_MAX_FRAGS &&
	       !bpf_map_get_next_key(fr_fd, first ? NULL : &fk, &nfk)) {
		first = false;
		fk = nfk;
		if (!bpf_map_lookup_elem(fr_fd, &fk, &fv) && fv.tenant_id < NF_MAX_TENANTS)
			frags[fv.tenant_id]++;
	}
	for (t = 1; t < NF_MAX_TENANTS; t++) {
		__atomic_store_n(&dp->usage[t].ct, ct[t], __ATOMIC_RELAXED);
		__atomic_store_n(&dp->usage[t].frags, frags[t], __ATOMIC_RELAXED);
	}
}

/* bpffs refuses names with a dot: new pins wait in this directory. */
#define NEXT_DIR	NF_PIN_ROOT "/upgrade_next"

/* Pin obj_fd at NF_PIN_ROOT/name in one step: aside first, then renamed over. */
static int pin_switch(int obj_fd, const char *name)
{
	char tmp[PATH_MAX], path[PATH_MAX];

	if (mkdir(NEXT_DIR, 0700) && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s/%s", NEXT_DIR, name);
	snprintf(path, sizeof(path), "%s/%s", NF_PIN_ROOT, name);
	unlink(tmp);
	if (bpf_obj_pin(obj_fd, tmp) || rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		pr_err("upgrade: cannot pin %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

/* Pins of names this build does not have (maps and programs it dropped). */
static void unpin_others(struct netfence_bpf *skel)
{
	DIR *d = opendir(NF_PIN_ROOT);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.' || de->d_type == DT_DIR ||
		    bpf_object__find_map_by_name(skel->obj, de->d_name) ||
		    bpf_object__find_program_by_name(skel->obj, de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", NF_PIN_ROOT, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Whether the loaded datapath had a map of that name (and this build one). */
static bool maps_had(const struct up_map *maps, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(bpf_map__name(maps[i].m), name))
			return maps[i].old_fd >= 0;
	return false;
}

static const char *map_fate(const struct up_map *u)
{
	if (u->reuse)
		return "reused as it is";
	if (u->old_fd < 0)
		return "new";
	if (always_new(bpf_map__name(u->m)))
		return "new (replaces the old one)";
	if (!strcmp(bpf_map__name(u->m), "nf_ct_young"))
		return "new (the old one's connections go through nf_ct)";
	return "new, entries carried over";
}

/* One upgrade in progress: this build's object and the fate of each map. */
struct upgrade {
	const struct nf_upgrade_opts *o;
	struct netfence_bpf *skel;	/* until loaded into dp */
	struct nf_dp *dp;		/* the new datapath */
	struct up_map maps[64];
	size_t n_maps;
	struct up_progs *up;
};

/*
 * nf_ct_young is reused when its layout is the same, else never copied: a
 * slot caught between two writes would stay claimed. The old programs'
 * young connections go through the old nf_ct instead (carry_late_entries).
 */
static bool carried(const struct up_map *u)
{
	return !u->reuse && u->old_fd >= 0 && !always_new(bpf_map__name(u->m)) &&
	       strcmp(bpf_map__name(u->m), "nf_ct_young");
}

/*
 * The old programs' young connections into the old nf_ct (their pinned
 * nf_young_flush, if they have one), once no hook runs them: from there the
 * late copy carries them, or they are where the new programs look (nf_ct
 * reused). Nothing to do when nf_ct_young itself was reused.
 */
static void flush_old_young(struct upgrade *g)
{
	char path[PATH_MAX];
	size_t i;
	int fd;

	for (i = 0; i < g->n_maps; i++)
		if (!strcmp(bpf_map__name(g->maps[i].m), "nf_ct_young") && g->maps[i].reuse)
			return;
	snprintf(path, sizeof(path), "%s/nf_young_flush", NF_PIN_ROOT);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;		/* a datapath from before young connections */
	if (dp_run_once(fd))
		pr_info("upgrade: the old datapath's young connections were not moved into nf_ct");
	close(fd);
}

/* 1. Which pinned maps this build's object can use as they are. */
static int plan_maps(struct upgrade *g)
{
	struct bpf_map *m;
	int err;

	bpf_object__for_each_map(m, g->skel->obj) {
		struct up_map *u;
		char path[PATH_MAX];
		__u32 len = sizeof(u->old);

		if (bpf_map__is_internal(m))
			continue;
		if (g->n_maps == ARRAY_SIZE(g->maps))
			return -E2BIG;
		u = &g->maps[g->n_maps++];
		u->m = m;
		snprintf(path, sizeof(path), "%s/%s", NF_PIN_ROOT, bpf_map__name(m));
		u->old_fd = bpf_obj_get(path);
		if (u->old_fd >= 0 && bpf_obj_get_info_by_fd(u->old_fd, &u->old, &len)) {
			close(u->old_fd);
			u->old_fd = -1;
		}
		u->reuse = u->old_fd >= 0 && !always_new(bpf_map__name(m)) &&
			   same_layout(&u->old, m);
		if (u->reuse) {
			err = bpf_map__reuse_fd(m, u->old_fd);
			if (err)
				return err;
		}
		if (g->o->verbose)
			printf("  map %-16s %s\n", bpf_map__name(m), map_fate(u));
	}
	return 0;
}

/* 2. Load; carry the entries of changed maps over; a datapath over it. */
static int load_new(struct upgrade *g, const struct nf_meta *self)
{
	__u32 zero = 0;
	size_t i, n;
	int err;

	err = netfence_bpf__load(g->skel);
	if (err) {
		pr_err("upgrade: cannot load the new datapath: %s", strerror(-err));
		return err;
	}
	for (i = 0; i < g->n_maps; i++) {
		struct up_map *u = &g->maps[i];

		if (!carried(u))
			continue;
		err = copy_entries(u->old_fd, &u->old, bpf_map__fd(u->m), u->m, BPF_NOEXIST, &n);
		if (err)
			return err;
		if (g->o->verbose)
			printf("  %s: %zu entries carried over\n", bpf_map__name(u->m), n);
	}
	if (bpf_map_update_elem(bpf_map__fd(g->skel->maps.nf_meta), &zero, self, BPF_ANY))
		return -errno;
	err = dp_from_skel(&g->dp, g->skel);	/* takes the skeleton over; starts its sweep */
	g->skel = NULL;
	if (!err)
		dp_tally_recount(g->dp);	/* nf_ct carried or reused; before any hook runs it */
	if (!err && !maps_had(g->maps, g->n_maps, "nf_config"))
		err = dp_config_defaults(g->dp);
	return err;
}

/* 3. Every endpoint's programs, replaced where they run. */
static int replace_programs(struct upgrade *g)
{
	struct bpf_program *prog;
	struct up_progs *up;

	up = g->up = calloc(1, sizeof(*up));
	if (!up)
		return -ENOMEM;
	bpf_object__for_each_program(prog, g->dp->skel->obj) {
		struct bpf_prog_info info;
		int fd = bpf_program__fd(prog);

		if (up->n == ARRAY_SIZE(up->p) || prog_info(fd, &info))
			continue;
		snprintf(up->p[up->n].name, sizeof(up->p[0].name), "%s", info.name);
		up->p[up->n].fd = fd;
		up->p[up->n].id = info.id;
		up->n++;
	}
	replace_endpoints(g->dp, up);
	if (g->o->verbose)
		printf("  %zu hooks now run the new programs\n", up->replaced);
	return 0;
}

/* 4. What the old programs tracked meanwhile; the shares recounted. */
static void carry_late_entries(struct upgrade *g)
{
	bool tracking = false;
	size_t i, n;

	flush_old_young(g);
	for (i = 0; i < g->n_maps; i++) {
		struct up_map *u = &g->maps[i];
		const char *name = bpf_map__name(u->m);

		if (!carried(u) || is_array(u->old.type))
			continue;
		copy_entries(u->old_fd, &u->old, bpf_map__fd(u->m), u->m, BPF_NOEXIST, &n);
		tracking |= !strcmp(name, "nf_ct") || !strcmp(name, "nf_frags");
	}
	if (tracking)
		recount_usage(g->dp);
	/* what the old programs (and the late copy) put into nf_ct meanwhile */
	dp_tally_recount(g->dp);
}

/* 5. The pins: programs, new maps, what this build dropped, nf_meta last. */
static int switch_pins(struct upgrade *g)
{
	struct bpf_program *prog;
	size_t i;
	int err;

	bpf_object__for_each_program(prog, g->dp->skel->obj) {
		if (!bpf_program__autoload(prog))
			continue;	/* tc_peer_cb */
		err = pin_switch(bpf_program__fd(prog), bpf_program__name(prog));
		if (err)
			return err;
	}
	for (i = 0; i < g->n_maps; i++) {
		if (g->maps[i].reuse || !strcmp(bpf_map__name(g->maps[i].m), "nf_meta"))
			continue;
		err = pin_switch(bpf_map__fd(g->maps[i].m), bpf_map__name(g->maps[i].m));
		if (err)
			return err;
	}
	unpin_others(g->dp->skel);
	err = pin_switch(bpf_map__fd(g->dp->skel->maps.nf_meta), "nf_meta");
	rmdir(NEXT_DIR);
	return err;
}

static void dry_run_endpoints(void)
{
	struct nf_ep_record *recs;
	struct nf_dp *old;
	size_t n;

	if (dp_open_pinned(&old))
		return;
	if (!dp__list_endpoints(old, &recs, &n)) {
		printf("  programs replaced at %zu endpoints\n", n);
		free(recs);
	}
	dp__close(old);
}

/*
 * Replace the loaded datapath by this build's (node lock held): the steps of
 * the comment at the top. 0 when done or nothing to do, -EPROTO (said) when
 * the loaded one is newer and !allow_downgrade.
 */
int dp_upgrade_locked(const struct nf_upgrade_opts *o)
{
	struct upgrade g = { .o = o };
	struct nf_meta was, self;
	size_t i;
	int err;

	err = dp__meta(&was);
	if (err)
		return err;
	dp__meta_self(&self);
	if (was.version == self.version && was.object_hash == self.object_hash && !o->complete) {
		if (o->verbose)
			printf("the loaded datapath is this build's (version %u, %s): nothing to do\n",
			       was.version, was.build);
		return 0;
	}
	if (was.version > self.version && !o->allow_downgrade)
		return refuse_newer(&was);
	if (o->verbose)
		printf("%s datapath version %u (build %s) -> version %u (build %s)\n",
		       o->dry_run ? "would upgrade" : "upgrading", was.version, was.build,
		       self.version, self.build);
	g.skel = dp_skel_open();
	if (!g.skel)
		return -errno;
	err = plan_maps(&g);
	if (!err && o->dry_run)
		dry_run_endpoints();
	else if (!err)
		err = load_new(&g, &self);
	if (!err && !o->dry_run)
		err = replace_programs(&g);
	if (!err && !o->dry_run) {
		carry_late_entries(&g);
		/* The policy maps' entries were carried over as they were; the
		 * next command compiles every tenant's policy again from its
		 * stored objects with this build's compiler (apply.c), each in
		 * one atomic flip. Marked before the switch: a kill after it
		 * leaves the mark. */
		err = store__touch(NF_STORE_RECOMPILE);
		if (!err)
			err = switch_pins(&g);
	}
	if (!err && g.up && g.up->failed) {
		pr_err("upgrade: %zu hooks still run the old programs (said above); "
		       "`netfence upgrade` replaces them", g.up->failed);
		err = -EIO;
	}
	for (i = 0; i < g.n_maps; i++)
		if (g.maps[i].old_fd >= 0)
			close(g.maps[i].old_fd);
	free(g.up);
	netfence_bpf__destroy(g.skel);
	dp__close(g.dp);
	return err;
}

bool dp_any_pin(void)
{
	DIR *d = opendir(NF_PIN_ROOT);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while (!any && (de = readdir(d)))
		any = de->d_name[0] != '.' && de->d_type != DT_DIR;
	closedir(d);
	return any;
}

int dp__upgrade(const struct nf_upgrade_opts *o)
{
	int lock, err;

	nf_log_setup_libbpf();
	err = dp__ensure_bpffs();
	if (err)
		return err;
	if (!dp_any_pin()) {
		pr_err("no datapath is loaded: nothing to upgrade");
		return -ENOENT;
	}
	lock = dp_lock_file(NF_LOCK_FILE);
	if (lock < 0) {
		pr_err("cannot take the node lock %s: %s", NF_LOCK_FILE, strerror(-lock));
		return lock;
	}
	err = dp_upgrade_locked(o);
	close(lock);
	return err;
}
