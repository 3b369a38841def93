// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pinned datapath: load on demand, pin, reopen; tenants; atomic policy
 * install; interface and cgroup endpoints. Kernel state (the pins) is the
 * source of truth; /run/netfence only keeps what the kernel can't: endpoint
 * records (names, owners) and the port keys each tenant has installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "datapath.h"
#include "log.h"
#include "vethpeer.h"
#include "netfence.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define NF_TENANT_DIR	NF_RUN_DIR "/tenants"
#define NF_LOAD_LOCK	NF_RUN_DIR "/load.lock"
#define NF_TC_HANDLE	0x4e46		/* "NF" */
#define NF_TC_PRIO	1		/* run first */
#define NF_DEFAULT_EVENTS_PER_SEC 100

struct map_desc {
	const char *name;
	size_t off;
};

#define MAP(n, f) { #n, offsetof(struct nf_maps, f) }
static const struct map_desc map_descs[] = {
	MAP(nf_tenants, tenants),	MAP(nf_policy, policy),	  MAP(nf_ports, ports),
	MAP(nf_ipcache, ipcache),	MAP(nf_endpoints, endpoints),
	MAP(nf_cg_endpoints, cg_endpoints), MAP(nf_ep_addrs, ep_addrs), MAP(nf_ct, ct),
	MAP(nf_peer_cache, peer_cache), MAP(nf_frags, frags),	  MAP(nf_stats, stats),
	MAP(nf_config, config),		MAP(nf_events, events),	  MAP(nf_events_lost, events_lost),
	MAP(nf_usage, usage),		MAP(nf_gc, gc),		  MAP(nf_guard, guard),
	MAP(nf_guarded_ns, guarded_ns),
};

#define PROG(n) { #n, offsetof(struct nf_progs, n) }
static const struct map_desc prog_descs[] = {
	PROG(tc_ingress),  PROG(tc_egress),   PROG(cg_ingress),	 PROG(cg_egress),
	PROG(cg_connect4), PROG(cg_connect6), PROG(cg_sendmsg4), PROG(cg_sendmsg6),
	PROG(tc_peer_ingress), PROG(tc_peer_egress), PROG(nf_gc_start),
	PROG(tc_guard_ingress), PROG(tc_guard_egress), PROG(cg_sock_create),
};
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void rm_rf(const char *path);

static int *fd_at(void *base, size_t off)
{
	return (int *)((char *)base + off);
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

int dp__ensure_bpffs(void)
{
	struct statfs st;
	int err;

	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	err = mkdir_p("/sys/fs/bpf");
	if (err) {
		pr_err("cannot create /sys/fs/bpf: %s", strerror(-err));
		return err;
	}
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		err = -errno;
		pr_err("cannot mount bpffs at /sys/fs/bpf: %s", strerror(-err));
		return err;
	}
	pr_debug("mounted bpffs at /sys/fs/bpf");
	return 0;
}

int dp__cgroup2_root(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int err = -ENOENT;

	if (!f)
		return -errno;
	/* "36 35 0:30 / /sys/fs/cgroup/unified rw,... - cgroup2 cgroup2 rw" */
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], *sep;
		char fstype[64];

		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		snprintf(buf, len, "%s", mnt);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

static int lock_file(const char *path)
{
	int fd, err;

	err = mkdir_p(NF_RUN_DIR);
	if (err)
		return err;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int dp__lock(void)
{
	int fd = lock_file(NF_LOCK_FILE);

	if (fd < 0)
		pr_err("cannot take the node lock %s: %s", NF_LOCK_FILE, strerror(-fd));
	return fd;
}

void dp__unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

static void pin_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", NF_PIN_ROOT, name);
}

static void fds_init(struct nf_dp *dp)
{
	size_t i;

	snprintf(dp->tenant_dir, sizeof(dp->tenant_dir), "%s", NF_TENANT_DIR);
	for (i = 0; i < ARRAY_SIZE(map_descs); i++)
		*fd_at(&dp->maps, map_descs[i].off) = -1;
	for (i = 0; i < ARRAY_SIZE(prog_descs); i++)
		*fd_at(&dp->progs, prog_descs[i].off) = -1;
}

static size_t page_round(size_t sz)
{
	long page = sysconf(_SC_PAGESIZE);

	return (sz + page - 1) / page * page;
}

#define TENANTS_MAP_SIZE page_round((size_t)NF_MAX_TENANTS * sizeof(struct nf_tenant_info))
#define USAGE_MAP_SIZE	 page_round((size_t)NF_MAX_TENANTS * sizeof(struct nf_usage))

/* nf_tenants and nf_usage, mmapped (both BPF_F_MMAPABLE arrays). */
static int mmap_tenants(struct nf_dp *dp)
{
	void *p;

	p = mmap(NULL, TENANTS_MAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, dp->maps.tenants, 0);
	if (p == MAP_FAILED) {
		int err = -errno;

		pr_err("cannot mmap nf_tenants: %s", strerror(-err));
		return err;
	}
	dp->tenants = p;
	p = mmap(NULL, USAGE_MAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, dp->maps.usage, 0);
	if (p == MAP_FAILED) {
		int err = -errno;

		pr_err("cannot mmap nf_usage: %s", strerror(-err));
		return err;
	}
	dp->usage = p;
	return 0;
}

/*
 * Start the kernel's sweep of expired tracking entries (bpf/lib/gc.bpf.h):
 * its timer lives in the nf_gc map and runs as long as the map exists.
 */
static int gc_start(struct nf_dp *dp)
{
	unsigned char pkt[64] = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .repeat = 1);
	int err;

	pkt[12] = 0x08;	/* an Ethernet frame: test runs of tc programs want one */
	err = bpf_prog_test_run_opts(dp->progs.nf_gc_start, &opts);
	if (err || opts.retval != 0 /* TC_ACT_OK */) {
		err = err ? -errno : -EIO;
		pr_err("cannot start the conntrack sweep timer: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* Release n entries of a tenant's share of nf_ct (frag false) or nf_frags,
 * for entries this process deleted (struct nf_usage). */
static void usage_put(struct nf_dp *dp, uint32_t tenant_id, bool frag, uint32_t n)
{
	if (!dp->usage || !n || !tenant_id || tenant_id >= NF_MAX_TENANTS)
		return;
	if (frag)
		__atomic_fetch_sub(&dp->usage[tenant_id].frags, n, __ATOMIC_RELAXED);
	else
		__atomic_fetch_sub(&dp->usage[tenant_id].ct, n, __ATOMIC_RELAXED);
}

/* Open every pin. -ENOENT if the datapath is not (completely) loaded. */
static int open_pins(struct nf_dp *dp)
{
	char path[PATH_MAX];
	size_t i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(map_descs); i++) {
		pin_path(path, sizeof(path), map_descs[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			return -ENOENT;
		*fd_at(&dp->maps, map_descs[i].off) = fd;
	}
	for (i = 0; i < ARRAY_SIZE(prog_descs); i++) {
		pin_path(path, sizeof(path), prog_descs[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			return -ENOENT;
		*fd_at(&dp->progs, prog_descs[i].off) = fd;
	}
	dp->pinned = true;
	return mmap_tenants(dp);
}

static int config_defaults(struct nf_dp *dp)
{
	struct nf_config cfg = {
		.flags = NF_CFG_ALLOW_HOST_INGRESS,
		.events_per_sec = NF_DEFAULT_EVENTS_PER_SEC,
	};
	__u32 zero = 0;

	if (bpf_map_update_elem(dp->maps.config, &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

static int fill_fds_from_skel(struct nf_dp *dp)
{
	struct bpf_object *obj = dp->skel->obj;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(map_descs); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, map_descs[i].name);
		int fd = m ? dup(bpf_map__fd(m)) : -1;

		if (fd < 0)
			return -ENOENT;
		*fd_at(&dp->maps, map_descs[i].off) = fd;
	}
	for (i = 0; i < ARRAY_SIZE(prog_descs); i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, prog_descs[i].name);
		int fd = p ? dup(bpf_program__fd(p)) : -1;

		if (fd < 0)
			return -ENOENT;
		*fd_at(&dp->progs, prog_descs[i].off) = fd;
	}
	return 0;
}

/* Load the object, reusing whatever map pins exist, and pin the rest. */
static int load_and_pin(struct nf_dp *dp)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	struct bpf_program *prog;
	int err;

	err = mkdir_p(NF_PIN_ROOT);
	if (err) {
		pr_err("cannot create %s: %s", NF_PIN_ROOT, strerror(-err));
		return err;
	}
	dp->skel = netfence_bpf__open();
	if (!dp->skel) {
		err = -errno;
		pr_err("cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	bpf_object__for_each_map(map, dp->skel->obj) {
		if (bpf_map__is_internal(map))	/* .rodata, .kconfig: per load */
			continue;
		pin_path(path, sizeof(path), bpf_map__name(map));
		err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	err = netfence_bpf__load(dp->skel);
	if (err) {
		pr_err("cannot load the BPF datapath into the kernel: %s", strerror(-err));
		return err;
	}
	bpf_object__for_each_program(prog, dp->skel->obj) {
		pin_path(path, sizeof(path), bpf_program__name(prog));
		unlink(path);	/* a stale program pin from an older load */
		err = bpf_program__pin(prog, path);
		if (err) {
			pr_err("cannot pin %s: %s", path, strerror(-err));
			return err;
		}
	}
	err = fill_fds_from_skel(dp);
	if (err)
		return err;
	err = config_defaults(dp);
	if (err)
		return err;
	dp->pinned = true;
	err = mmap_tenants(dp);
	if (!err)
		err = gc_start(dp);
	if (err)
		return err;
	dp__sync_host_addrs(dp);
	pr_debug("datapath loaded and pinned under %s", NF_PIN_ROOT);
	return 0;
}

/*
 * NETFENCE_TC_HOOK=tcx in the environment of attach (or the CNI plugin)
 * attaches new interface endpoints through tcx; clsact (the default) as
 * cls_bpf filters. Checked with the other settings when the datapath is
 * opened for changes: a bad value changes nothing.
 */
static int tc_hook_tcx(bool *tcx)
{
	const char *v = getenv("NETFENCE_TC_HOOK");

	*tcx = v && !strcmp(v, "tcx");
	if (!v || !*v || *tcx || !strcmp(v, "clsact"))
		return 0;
	pr_err("NETFENCE_TC_HOOK=\"%s\": must be clsact or tcx", v);
	return -EINVAL;
}

/*
 * SPEC §3.8: ingress from the node's own addresses is allowed by default
 * (Kubernetes needs it for kubelet probes) and configurable. The setting is
 * node-wide state in nf_config; NETFENCE_ALLOW_HOST_INGRESS=0|1 in the
 * environment of any command that opens the datapath for changes (apply,
 * attach, the CNI plugin, serve) sets it; unset leaves it as it is.
 */
/*
 * NETFENCE_CT_TENANT_MAX=N: the connections each tenant may track (SPEC
 * §3.13, struct nf_usage), 1..NF_MAX_CT; *max 0 when unset. -EINVAL, after
 * saying so, when not a number in that range.
 */
static int env_ct_tenant_max(__u32 *max)
{
	const char *v = getenv("NETFENCE_CT_TENANT_MAX");
	unsigned long n;
	char *end;

	*max = 0;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || *v == '-' || n < 1 || n > NF_MAX_CT) {
		pr_err("NETFENCE_CT_TENANT_MAX=\"%s\": must be a number from 1 to %u", v, NF_MAX_CT);
		return -EINVAL;
	}
	*max = (__u32)n;
	return 0;
}

int dp__check_env(void)
{
	const char *v = getenv("NETFENCE_ALLOW_HOST_INGRESS");
	__u32 max;
	bool tcx;

	if (tc_hook_tcx(&tcx) || env_ct_tenant_max(&max))
		return -EINVAL;
	if (v && *v && strcmp(v, "0") && strcmp(v, "1")) {
		pr_err("NETFENCE_ALLOW_HOST_INGRESS=\"%s\": must be 0 or 1", v);
		return -EINVAL;
	}
	return 0;
}

static int apply_env_config(struct nf_dp *dp)
{
	const char *v = getenv("NETFENCE_ALLOW_HOST_INGRESS");
	struct nf_config cfg, was;
	__u32 zero = 0, ct_max;

	if (dp__check_env() || env_ct_tenant_max(&ct_max))
		return -EINVAL;
	if ((!v || !*v) && !ct_max)
		return 0;
	if (bpf_map_lookup_elem(dp->maps.config, &zero, &cfg))
		return -errno;
	was = cfg;
	if (v && *v == '1')
		cfg.flags |= NF_CFG_ALLOW_HOST_INGRESS;
	else if (v && *v == '0')
		cfg.flags &= ~NF_CFG_ALLOW_HOST_INGRESS;
	if (ct_max)
		cfg.ct_tenant_max = ct_max;
	if (!memcmp(&was, &cfg, sizeof(cfg)))
		return 0;
	if (bpf_map_update_elem(dp->maps.config, &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

bool dp__is_loaded(void)
{
	char path[PATH_MAX];

	pin_path(path, sizeof(path), "tc_egress");
	return access(path, F_OK) == 0;
}

int dp__open(struct nf_dp **out, bool load)
{
	struct nf_dp *dp;
	int err, lfd;

	*out = NULL;
	nf_log_setup_libbpf();
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	fds_init(dp);
	err = dp__ensure_bpffs();
	if (err)
		goto fail;
	err = open_pins(dp);
	if (!err)
		goto done;
	dp__close(dp);
	if (!load)
		return -ENOENT;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	fds_init(dp);
	/* Serialize first loads (CNI ADDs in parallel); then look again. */
	lfd = lock_file(NF_LOAD_LOCK);
	if (lfd < 0) {
		err = lfd;
		goto fail;
	}
	err = open_pins(dp);
	if (err) {
		dp__close(dp);
		dp = calloc(1, sizeof(*dp));
		if (!dp) {
			close(lfd);
			return -ENOMEM;
		}
		fds_init(dp);
		err = load_and_pin(dp);
	}
	close(lfd);
	if (err)
		goto fail;
done:
	if (load) {
		err = apply_env_config(dp);
		if (err)
			goto fail;
	}
	*out = dp;
	return 0;
fail:
	dp__close(dp);
	return err;
}

int dp__open_private(struct nf_dp **out, bool bench_no_ct_insert)
{
	struct nf_dp *dp;
	int err;

	*out = NULL;
	nf_log_setup_libbpf();
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	fds_init(dp);
	dp->skel = netfence_bpf__open();
	if (!dp->skel) {
		err = -errno;
		goto fail;
	}
	dp->skel->rodata->bench_no_ct_insert = bench_no_ct_insert;
	/* A private instance keeps its key records aside, never in the node's. */
	snprintf(dp->tenant_dir, sizeof(dp->tenant_dir), "/tmp/netfence-private.XXXXXX");
	if (!mkdtemp(dp->tenant_dir)) {
		err = -errno;
		dp->tenant_dir[0] = '\0';
		goto fail;
	}
	err = netfence_bpf__load(dp->skel);
	if (err) {
		pr_err("cannot load the BPF datapath: %s", strerror(-err));
		goto fail;
	}
	err = fill_fds_from_skel(dp);
	if (!err)
		err = config_defaults(dp);
	if (!err)
		err = mmap_tenants(dp);
	if (!err)
		err = gc_start(dp);
	if (err)
		goto fail;
	*out = dp;
	return 0;
fail:
	dp__close(dp);
	return err;
}

void dp__close(struct nf_dp *dp)
{
	size_t i;

	if (!dp)
		return;
	for (i = 0; i < ARRAY_SIZE(map_descs); i++) {
		int fd = *fd_at(&dp->maps, map_descs[i].off);

		if (fd > 0)
			close(fd);
	}
	for (i = 0; i < ARRAY_SIZE(prog_descs); i++) {
		int fd = *fd_at(&dp->progs, prog_descs[i].off);

		if (fd > 0)
			close(fd);
	}
	if (dp->tenants)
		munmap(dp->tenants, TENANTS_MAP_SIZE);
	if (dp->usage)
		munmap(dp->usage, USAGE_MAP_SIZE);
	if (!dp->pinned && !strncmp(dp->tenant_dir, "/tmp/netfence-private.", 22))
		rm_rf(dp->tenant_dir);
	netfence_bpf__destroy(dp->skel);
	free(dp);
}

/* ---------------------------------------------------------------- tenants */

uint32_t dp__tenant_id(struct nf_dp *dp, const char *name, bool create)
{
	uint32_t id, free_id = 0;

	if (!name || !*name || strlen(name) >= NF_TENANT_NAME_LEN)
		return 0;
	for (id = 1; id < NF_MAX_TENANTS; id++) {
		const char *n = dp->tenants[id].name;

		if (!n[0]) {
			if (!free_id)
				free_id = id;
			continue;
		}
		if (!strncmp(n, name, NF_TENANT_NAME_LEN))
			return id;
	}
	if (!create || !free_id)
		return 0;
	/* epoch continues from whatever the slot had: class ids of a previous
	 * owner of this id can never collide with ours (they were deleted). */
	memset(dp->tenants[free_id].n_rules, 0, sizeof(dp->tenants[free_id].n_rules));
	snprintf(dp->tenants[free_id].name, NF_TENANT_NAME_LEN, "%s", name);
	return free_id;
}

void dp__tenant_forget(struct nf_dp *dp, uint32_t id)
{
	if (!id || id >= NF_MAX_TENANTS)
		return;
	/* the epoch stays, as for any free slot (see dp__tenant_id) */
	memset(dp->tenants[id].n_rules, 0, sizeof(dp->tenants[id].n_rules));
	memset(dp->tenants[id].name, 0, sizeof(dp->tenants[id].name));
}

int dp__tenant_name(struct nf_dp *dp, uint32_t id, char *buf, size_t len)
{
	if (!id || id >= NF_MAX_TENANTS || !dp->tenants[id].name[0])
		return -ENOENT;
	snprintf(buf, len, "%.*s", NF_TENANT_NAME_LEN - 1, dp->tenants[id].name);
	return 0;
}

int dp__tenant_info(struct nf_dp *dp, uint32_t id, struct nf_tenant_info *out)
{
	if (!id || id >= NF_MAX_TENANTS || !dp->tenants[id].name[0])
		return -ENOENT;
	*out = dp->tenants[id];
	return 0;
}

/* ------------------------------------------------------- policy install */

/*
 * Key records. For each tenant, /run/netfence/tenants/<id>.trie and <id>.ports
 * list every nf_policy and nf_ports key it may own, in either parity. They
 * are written before the kernel gets new keys, so a crash at any point leaves
 * nothing unaccounted for.
 */
struct key_record {
	const char *suffix;
	size_t key_size;
	void *keys;
	size_t n;
};

static void record_path(char *buf, size_t len, const char *dir, uint32_t tenant_id,
			const char *suffix)
{
	snprintf(buf, len, "%s/%u.%s", dir, tenant_id, suffix);
}

static int record_read(const char *dir, uint32_t tenant_id, struct key_record *r)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, err = 0;

	r->keys = NULL;
	r->n = 0;
	record_path(path, sizeof(path), dir, tenant_id, r->suffix);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (!st.st_size)
		goto out;
	r->keys = malloc(st.st_size);
	if (!r->keys) {
		err = -ENOMEM;
		goto out;
	}
	if (read(fd, r->keys, st.st_size) != st.st_size) {
		err = -EIO;
		free(r->keys);
		r->keys = NULL;
		goto out;
	}
	r->n = st.st_size / r->key_size;
out:
	close(fd);
	return err;
}

/* Write the concatenation of two key arrays. */
static int record_write(const char *dir, uint32_t tenant_id, const char *suffix, size_t key_size,
			const void *a, size_t n_a, const void *b, size_t n_b)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int fd, err;

	err = mkdir_p(dir);
	if (err)
		return err;
	record_path(path, sizeof(path), dir, tenant_id, suffix);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if ((n_a && write(fd, a, n_a * key_size) != (ssize_t)(n_a * key_size)) ||
	    (n_b && write(fd, b, n_b * key_size) != (ssize_t)(n_b * key_size)))
		err = -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static bool port_key_parity(const void *k)
{
	return (((const struct nf_port_key *)k)->class_id >> 19) & 1;
}

static bool policy_key_parity(const void *k)
{
	return ((const struct nf_policy_key *)k)->parity & 1;
}

/*
 * Delete from map fd the recorded keys of one parity (the entries not in
 * force: left by the previous apply, or by an interrupted one) and compact
 * the record to the keys of the other parity, in place.
 */
static void record_drop_parity(int fd, struct key_record *r, bool parity,
			       bool (*key_parity)(const void *))
{
	char *keys = r->keys;
	size_t i, kept = 0;

	for (i = 0; i < r->n; i++) {
		char *k = keys + i * r->key_size;

		if (key_parity(k) == parity) {
			bpf_map_delete_elem(fd, k);
			continue;
		}
		if (kept != i)
			memmove(keys + kept * r->key_size, k, r->key_size);
		kept++;
	}
	r->n = kept;
}

static int ports_insert(struct nf_dp *dp, const struct nf_port_entry *e, size_t n)
{
	struct nf_port_key *keys;
	__u32 *vals, count;
	size_t i;
	int err = 0;

	if (!n)
		return 0;
	keys = malloc(n * sizeof(*keys));
	vals = malloc(n * sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		keys[i] = e[i].key;
		vals[i] = e[i].rule_ref;
	}
	count = n;
	if (bpf_map_update_batch(dp->maps.ports, keys, vals, &count, NULL)) {
		err = -errno;
		if (err == -EINVAL || err == -EOPNOTSUPP || err == -524 /* ENOTSUPP */) {
			err = 0;
			for (i = 0; i < n && !err; i++)
				if (bpf_map_update_elem(dp->maps.ports, &keys[i], &vals[i], BPF_ANY))
					err = -errno;
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* The compiler's per-tenant key, placed in the node-wide trie. */
static void policy_key_of(struct nf_policy_key *k, const struct nf_peer_key *pk, uint32_t tenant_id,
			  uint32_t epoch)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = NF_POLICY_KEY_FIXED_BITS + (pk->prefixlen - NF_PEER_KEY_FIXED_BITS);
	k->tenant_id = htonl(tenant_id);
	k->parity = epoch & 1;
	k->dir = pk->dir;
	k->kind = pk->kind;
	memcpy(k->data, pk->data, sizeof(k->data));
}

/* Delete the given keys from fd (undo of a failed install). */
static void keys_delete(int fd, const void *keys, size_t n, size_t key_size)
{
	size_t i;

	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, (const char *)keys + i * key_size);
}

/*
 * Install c for its tenant: write the entries of the parity not in force,
 * then flip the epoch. Until the flip nothing the datapath uses changes; a
 * failure before it removes what was written and leaves the old policy.
 */
int dp__install_policy(struct nf_dp *dp, const struct nf_compiled *c)
{
	struct key_record rt = { .suffix = "trie", .key_size = sizeof(struct nf_policy_key) };
	struct key_record rp = { .suffix = "ports", .key_size = sizeof(struct nf_port_key) };
	struct nf_policy_key *tkeys = NULL;
	struct nf_port_key *pkeys = NULL;
	struct nf_tenant_info *ti;
	__u32 id = c->tenant_id;
	bool parity = c->epoch & 1;
	size_t i, n_trie = 0;
	int err;

	if (!id || id >= NF_MAX_TENANTS || !dp->tenants[id].name[0])
		return -ENOENT;
	ti = &dp->tenants[id];
	if (c->epoch != ti->epoch + 1) {
		pr_err("internal: policy for tenant %u compiled for epoch %u, current %u", id,
		       c->epoch, ti->epoch);
		return -ESTALE;
	}
	err = record_read(dp->tenant_dir, id, &rt);
	if (!err)
		err = record_read(dp->tenant_dir, id, &rp);
	if (err)
		goto out;
	/* 1. Clear the parity we are about to write. */
	record_drop_parity(dp->maps.policy, &rt, parity, policy_key_parity);
	record_drop_parity(dp->maps.ports, &rp, parity, port_key_parity);

	tkeys = calloc(c->n_trie + 1, sizeof(*tkeys));
	pkeys = calloc(c->n_ports + 1, sizeof(*pkeys));
	if (!tkeys || !pkeys) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < c->n_trie; i++)
		policy_key_of(&tkeys[i], &c->trie[i].key, id, c->epoch);
	for (i = 0; i < c->n_ports; i++)
		pkeys[i] = c->ports[i].key;
	/* 2. Record first, then write the new entries aside. */
	err = record_write(dp->tenant_dir, id, "trie", sizeof(*tkeys), rt.keys, rt.n, tkeys, c->n_trie);
	if (!err)
		err = record_write(dp->tenant_dir, id, "ports", sizeof(*pkeys), rp.keys, rp.n, pkeys, c->n_ports);
	if (!err)	/* what the rule_refs name, for `check` (lookup.h) */
		err = lookup__names_write(dp->tenant_dir, ti->name, c);
	if (err) {
		pr_err("tenant %s: cannot write the key records in %s: %s", ti->name, dp->tenant_dir,
		       strerror(-err));
		goto out;
	}
	for (n_trie = 0; n_trie < c->n_trie; n_trie++) {
		if (bpf_map_update_elem(dp->maps.policy, &tkeys[n_trie], &c->trie[n_trie].val,
					BPF_ANY)) {
			err = -errno;
			pr_err("tenant %s: the policy does not fit the policy trie (%zu entries, capacity %u): %s",
			       ti->name, c->n_trie, NF_MAX_TRIE_ENTRIES, strerror(-err));
			goto undo;
		}
	}
	err = ports_insert(dp, c->ports, c->n_ports);
	if (err) {
		pr_err("tenant %s: the policy does not fit the port map (%zu entries, capacity %u): %s",
		       ti->name, c->n_ports, NF_MAX_PORT_ENTRIES, strerror(-err));
		goto undo;
	}
	/* 3. The swap: one store; tracked flows and cached peers get judged again. */
	ti->n_rules[NF_DIR_INGRESS] = c->n_rules_dir[NF_DIR_INGRESS];
	ti->n_rules[NF_DIR_EGRESS] = c->n_rules_dir[NF_DIR_EGRESS];
	__atomic_store_n(&ti->epoch, c->epoch, __ATOMIC_RELEASE);
	err = 0;
	goto out;
undo:
	keys_delete(dp->maps.policy, tkeys, n_trie, sizeof(*tkeys));
	keys_delete(dp->maps.ports, pkeys, c->n_ports, sizeof(*pkeys));
	record_write(dp->tenant_dir, id, "trie", sizeof(*tkeys), rt.keys, rt.n, NULL, 0);
	record_write(dp->tenant_dir, id, "ports", sizeof(*pkeys), rp.keys, rp.n, NULL, 0);
out:
	free(rt.keys);
	free(rp.keys);
	free(tkeys);
	free(pkeys);
	return err;
}

/* Back to deny-all: flip to a parity with no entries. */
int dp__remove_policy(struct nf_dp *dp, uint32_t tenant_id)
{
	struct key_record rt = { .suffix = "trie", .key_size = sizeof(struct nf_policy_key) };
	struct key_record rp = { .suffix = "ports", .key_size = sizeof(struct nf_port_key) };
	struct nf_tenant_info *ti;
	bool next;
	int err;

	if (!tenant_id || tenant_id >= NF_MAX_TENANTS)
		return -ENOENT;
	ti = &dp->tenants[tenant_id];
	next = (ti->epoch + 1) & 1;
	err = record_read(dp->tenant_dir, tenant_id, &rt);
	if (!err)
		err = record_read(dp->tenant_dir, tenant_id, &rp);
	if (!err) {
		record_drop_parity(dp->maps.policy, &rt, next, policy_key_parity);
		record_drop_parity(dp->maps.ports, &rp, next, port_key_parity);
		record_write(dp->tenant_dir, tenant_id, "trie", rt.key_size, rt.keys, rt.n, NULL, 0);
		record_write(dp->tenant_dir, tenant_id, "ports", rp.key_size, rp.keys, rp.n, NULL, 0);
	}
	free(rt.keys);
	free(rp.keys);
	if (err)
		return err;
	ti->n_rules[0] = 0;
	ti->n_rules[1] = 0;
	__atomic_add_fetch(&ti->epoch, 1, __ATOMIC_RELEASE);
	return 0;
}

/* ---------------------------------------------------------------- ipcache */

static void bump_ipc_epoch(struct nf_dp *dp)
{
	struct nf_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->maps.config, &zero, &cfg))
		return;
	cfg.ipc_epoch++;
	bpf_map_update_elem(dp->maps.config, &zero, &cfg, BPF_ANY);
}

int dp__ipcache_set(struct nf_dp *dp, const struct nf_cidr *c, uint32_t id)
{
	struct nf_lpm_addr_key k = { .prefixlen = c->plen };
	struct nf_ipcache_val v = { .id = id };

	memcpy(k.addr, c->addr, 16);
	if (bpf_map_update_elem(dp->maps.ipcache, &k, &v, BPF_ANY))
		return -errno;
	bump_ipc_epoch(dp);
	return 0;
}

int dp__ipcache_del(struct nf_dp *dp, const struct nf_cidr *c)
{
	struct nf_lpm_addr_key k = { .prefixlen = c->plen };

	memcpy(k.addr, c->addr, 16);
	if (bpf_map_delete_elem(dp->maps.ipcache, &k) && errno != ENOENT)
		return -errno;
	bump_ipc_epoch(dp);
	return 0;
}

void dp__ipcache_changed(struct nf_dp *dp)
{
	bump_ipc_epoch(dp);
}

static void sockaddr_to_addr(const struct sockaddr *sa, struct nf_cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->plen = 128;
	if (sa->sa_family == AF_INET) {
		c->addr[10] = 0xff;
		c->addr[11] = 0xff;
		memcpy(&c->addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
		c->is_v4 = true;
	} else {
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* ------------------------------------------------------ netns helpers */

struct netns_guard {
	int orig;
};

/* Enter netns (path "" = stay). */
static int netns_enter(const char *netns, struct netns_guard *g)
{
	int fd, err;

	g->orig = -1;
	if (!netns || !*netns)
		return 0;
	fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	g->orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (g->orig < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (setns(fd, CLONE_NEWNET)) {
		err = -errno;
		close(fd);
		close(g->orig);
		g->orig = -1;
		return err;
	}
	close(fd);
	return 0;
}

static void netns_leave(struct netns_guard *g)
{
	if (g->orig < 0)
		return;
	if (setns(g->orig, CLONE_NEWNET))
		pr_err("cannot return to the original network namespace: %s", strerror(errno));
	close(g->orig);
	g->orig = -1;
}

static int cur_netns_cookie(uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);
	int s, err = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		err = -errno;
	close(s);
	return err;
}

int dp__netns_cookie(const char *netns, uint64_t *cookie)
{
	struct netns_guard g;
	int err;

	err = netns_enter(netns, &g);
	if (err)
		return err;
	err = cur_netns_cookie(cookie);
	netns_leave(&g);
	return err;
}

/* Inside the netns: the interface's addresses. */
static int iface_addrs(const char *ifname, struct nf_cidr **out, size_t *n)
{
	struct ifaddrs *ifa, *i;
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && !strcmp(i->ifa_name, ifname) &&
		    (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
			cnt++;
	if (cnt) {
		*out = calloc(cnt, sizeof(**out));
		if (!*out) {
			freeifaddrs(ifa);
			return -ENOMEM;
		}
	}
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && !strcmp(i->ifa_name, ifname) &&
		    (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
			sockaddr_to_addr(i->ifa_addr, &(*out)[(*n)++]);
	freeifaddrs(ifa);
	return 0;
}

/* ------------------------------------------------------ endpoint records */

static void ep_record_path(char *buf, size_t len, uint32_t ep_id)
{
	snprintf(buf, len, "%s/%u.json", NF_EP_DIR, ep_id);
}

static int ep_record_write(const struct nf_ep_record *r, const struct nf_cidr *addrs, size_t n)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], buf[64];
	json_t *o, *a;
	size_t i;
	int err;

	err = mkdir_p(NF_EP_DIR);
	if (err)
		return err;
	a = json_array();
	for (i = 0; i < n; i++) {
		inet_ntop(AF_INET6, addrs[i].addr, buf, sizeof(buf));
		json_array_append_new(a, json_string(buf));
	}
	o = json_pack("{s:I, s:I, s:b, s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:o, s:b, s:s, s:s, s:I, "
		      "s:I, s:I}",
		      "ep_id", (json_int_t)r->ep_id, "tenant_id", (json_int_t)r->tenant_id,
		      "is_cgroup", r->is_cgroup, "netns", r->netns, "ifname", r->ifname,
		      "ifindex", (json_int_t)r->ifindex, "netns_cookie", (json_int_t)r->netns_cookie,
		      "cgroup", r->cgroup, "cgroup_id", (json_int_t)r->cgroup_id, "owner", r->owner,
		      "addrs", a, "attach_peer", r->attach_peer, "attach_netns", r->attach_netns,
		      "attach_ifname", r->attach_ifname, "attach_ifindex",
		      (json_int_t)r->attach_ifindex, "attach_cookie", (json_int_t)r->attach_cookie,
		      "flags", (json_int_t)r->flags);
	if (o && r->guard) {
		snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", r->mac[0], r->mac[1],
			 r->mac[2], r->mac[3], r->mac[4], r->mac[5]);
		json_object_set_new(o, "guard",
				    json_pack("{s:s, s:s, s:I, s:I, s:s}", "netns", r->guard_netns,
					      "ifname", r->guard_ifname, "ifindex",
					      (json_int_t)r->guard_ifindex, "cookie",
					      (json_int_t)r->guard_cookie, "mac", buf));
	}
	if (!o)
		return -ENOMEM;
	ep_record_path(path, sizeof(path), r->ep_id);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	err = json_dump_file(o, tmp, JSON_COMPACT) ? -EIO : 0;
	json_decref(o);
	if (!err && rename(tmp, path))
		err = -errno;
	return err;
}

static int ep_record_read(uint32_t ep_id, struct nf_ep_record *r, struct nf_cidr **addrs,
			  size_t *n)
{
	char path[PATH_MAX];
	json_t *o, *a, *v;
	size_t i;

	ep_record_path(path, sizeof(path), ep_id);
	o = json_load_file(path, 0, NULL);
	if (!o)
		return -ENOENT;
	memset(r, 0, sizeof(*r));
	r->ep_id = json_integer_value(json_object_get(o, "ep_id"));
	r->tenant_id = json_integer_value(json_object_get(o, "tenant_id"));
	r->is_cgroup = json_is_true(json_object_get(o, "is_cgroup"));
	snprintf(r->netns, sizeof(r->netns), "%s",
		 json_string_value(json_object_get(o, "netns")) ?: "");
	snprintf(r->ifname, sizeof(r->ifname), "%s",
		 json_string_value(json_object_get(o, "ifname")) ?: "");
	r->ifindex = json_integer_value(json_object_get(o, "ifindex"));
	r->netns_cookie = json_integer_value(json_object_get(o, "netns_cookie"));
	snprintf(r->cgroup, sizeof(r->cgroup), "%s",
		 json_string_value(json_object_get(o, "cgroup")) ?: "");
	r->cgroup_id = json_integer_value(json_object_get(o, "cgroup_id"));
	r->attach_peer = json_is_true(json_object_get(o, "attach_peer"));
	snprintf(r->attach_netns, sizeof(r->attach_netns), "%s",
		 json_string_value(json_object_get(o, "attach_netns")) ?: "");
	snprintf(r->attach_ifname, sizeof(r->attach_ifname), "%s",
		 json_string_value(json_object_get(o, "attach_ifname")) ?: "");
	r->attach_ifindex = json_integer_value(json_object_get(o, "attach_ifindex"));
	r->attach_cookie = json_integer_value(json_object_get(o, "attach_cookie"));
	r->flags = json_integer_value(json_object_get(o, "flags"));
	v = json_object_get(o, "guard");
	if (json_is_object(v)) {
		unsigned int m[6];
		const char *mac = json_string_value(json_object_get(v, "mac"));

		r->guard = true;
		snprintf(r->guard_netns, sizeof(r->guard_netns), "%s",
			 json_string_value(json_object_get(v, "netns")) ?: "");
		snprintf(r->guard_ifname, sizeof(r->guard_ifname), "%s",
			 json_string_value(json_object_get(v, "ifname")) ?: "");
		r->guard_ifindex = json_integer_value(json_object_get(v, "ifindex"));
		r->guard_cookie = json_integer_value(json_object_get(v, "cookie"));
		if (mac && sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
				  &m[5]) == 6)
			for (i = 0; i < 6; i++)
				r->mac[i] = (uint8_t)m[i];
	}
	snprintf(r->owner, sizeof(r->owner), "%s",
		 json_string_value(json_object_get(o, "owner")) ?: "");
	if (addrs) {
		a = json_object_get(o, "addrs");
		*n = 0;
		*addrs = calloc(json_array_size(a) + 1, sizeof(**addrs));
		if (!*addrs) {
			json_decref(o);
			return -ENOMEM;
		}
		json_array_foreach(a, i, v) {
			struct nf_cidr *c = &(*addrs)[*n];

			if (json_string_value(v) &&
			    inet_pton(AF_INET6, json_string_value(v), c->addr) == 1) {
				c->plen = 128;
				(*n)++;
			}
		}
	}
	json_decref(o);
	return 0;
}

int dp__list_endpoints(struct nf_dp *dp, struct nf_ep_record **out, size_t *n)
{
	struct nf_ep_record *recs = NULL, *tmp;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(NF_EP_DIR);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char *end;
		unsigned long id = strtoul(de->d_name, &end, 10);

		if (end == de->d_name || strcmp(end, ".json"))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(recs, cap * sizeof(*recs));
			if (!tmp) {
				free(recs);
				closedir(d);
				return -ENOMEM;
			}
			recs = tmp;
		}
		if (!ep_record_read(id, &recs[cnt], NULL, NULL))
			cnt++;
	}
	closedir(d);
	*out = recs;
	*n = cnt;
	return 0;
}

uint32_t dp__alloc_ep_id(struct nf_dp *dp)
{
	char path[PATH_MAX];
	uint32_t id;

	for (id = 1; id < NF_MAX_ENDPOINTS * 2u; id++) {
		ep_record_path(path, sizeof(path), id);
		if (access(path, F_OK))
			return id;
	}
	return 0;
}

/* --------------------------------------------------- interface endpoints */

/*
 * Interface hooks. By default a cls_bpf filter (direct action, our handle and
 * priority 1: it runs first) on the clsact qdisc. With NETFENCE_TC_HOOK=tcx,
 * tcx (Linux 6.6+): the program runs straight from the device's hook, in
 * front of any other tool's program, without the qdisc and classifier layer
 * (which on a veth cost about as much per packet as the program itself), and
 * a deleted clsact qdisc does not take it away. But every tcx attach and
 * detach waits for RCU grace periods: 20-30 ms here against ~10 ms for a
 * filter, which alone would more than double a CNI ADD. A kernel without tcx
 * gets the filter either way.
 */
#define NF_TCX_INGRESS	46	/* enum bpf_attach_type (uapi 6.6), newer than these headers */
#define NF_TCX_EGRESS	47
#define NF_F_BEFORE	(1U << 3)

static __u32 tcx_type(enum bpf_tc_attach_point point)
{
	return point == BPF_TC_INGRESS ? NF_TCX_INGRESS : NF_TCX_EGRESS;
}

/* BPF_PROG_ATTACH for tcx: libbpf 1.1 predates its fields (relative_fd, expected_revision). */
static int tcx_attach(int ifindex, enum bpf_tc_attach_point point, int prog_fd)
{
	struct {
		__u32 target_ifindex;
		__u32 attach_bpf_fd;
		__u32 attach_type;
		__u32 attach_flags;
		__u32 replace_bpf_fd;
		__u32 relative_fd;	/* 0 with BPF_F_BEFORE: in front of all */
		__u64 expected_revision;
	} attr = {
		.target_ifindex = (__u32)ifindex,
		.attach_bpf_fd = (__u32)prog_fd,
		.attach_type = tcx_type(point),
		.attach_flags = NF_F_BEFORE,
	};

	if (!syscall(__NR_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)))
		return 0;
	return errno == EEXIST ? 0 : -errno;	/* EEXIST: this program is there already */
}

static int tc_attach_one(int ifindex, enum bpf_tc_attach_point point, int prog_fd, bool tcx)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_HANDLE, .priority = NF_TC_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err = tcx ? tcx_attach(ifindex, point, prog_fd) : -EINVAL;

	if (err != -EINVAL)	/* EINVAL: a kernel without tcx */
		return err;
	/* -EEXIST: the clsact qdisc is there already (ours or another tool's) */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

/* Detach prog_fd from the hook, tcx and cls_bpf alike; absent is fine. */
static int tc_detach_one(int ifindex, enum bpf_tc_attach_point point, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_HANDLE, .priority = NF_TC_PRIO);
	int err = 0;

	if (bpf_prog_detach2(prog_fd, ifindex, tcx_type(point)) && errno != ENOENT &&
	    errno != EINVAL)
		err = -errno;
	if (!bpf_tc_detach(&hook, &opts) || errno == ENOENT || errno == EINVAL)
		return err;
	return err ? err : -errno;
}

/* Whether program id runs at (ifindex, point): through tcx or as our cls_bpf filter. */
static bool tc_has_prog(int ifindex, enum bpf_tc_attach_point point, __u32 id)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_HANDLE, .priority = NF_TC_PRIO);
	__u32 ids[64], i;
	LIBBPF_OPTS(bpf_prog_query_opts, q, .prog_ids = ids, .prog_cnt = 64);

	if (!id)
		return false;
	if (!bpf_prog_query_opts(ifindex, tcx_type(point), &q))
		for (i = 0; i < q.prog_cnt && i < 64; i++)
			if (ids[i] == id)
				return true;
	return !bpf_tc_query(&hook, &opts) && opts.prog_id == id;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static int find_record(struct nf_dp *dp, bool (*match)(const struct nf_ep_record *, const void *),
		       const void *arg, struct nf_ep_record *found)
{
	struct nf_ep_record *recs;
	size_t n, i;
	int err;

	err = dp__list_endpoints(dp, &recs, &n);
	if (err)
		return err;
	err = -ENOENT;
	for (i = 0; i < n; i++) {
		if (match(&recs[i], arg)) {
			*found = recs[i];
			err = 0;
			break;
		}
	}
	free(recs);
	return err;
}

struct iface_id {
	uint64_t cookie;
	uint32_t ifindex;
	const char *netns;
	const char *ifname;
};

static bool match_iface(const struct nf_ep_record *r, const void *arg)
{
	const struct iface_id *id = arg;

	if (r->is_cgroup)
		return false;
	if (id->cookie && id->ifindex)
		return r->netns_cookie == id->cookie && r->ifindex == id->ifindex;
	return !strcmp(r->netns, id->netns) && !strcmp(r->ifname, id->ifname);
}

static bool addr_listed(const struct nf_cidr *list, size_t n, const struct nf_cidr *a)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		if (!memcmp(list[i].addr, a->addr, 16))
			return true;
	return false;
}

/* Forget an endpoint's addresses, except those in keep (a re-attach). */
static void ep_addrs_remove(struct nf_dp *dp, const struct nf_ep_record *r,
			    const struct nf_cidr *addrs, size_t n, const struct nf_cidr *keep,
			    size_t n_keep)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < n; i++) {
		struct nf_ep_addr_key ak = { .ep_id = r->ep_id };
		struct nf_lpm_addr_key lk = { .prefixlen = 128 };
		struct nf_ipcache_val v;

		if (addr_listed(keep, n_keep, &addrs[i]))
			continue;
		memcpy(ak.addr, addrs[i].addr, 16);
		bpf_map_delete_elem(dp->maps.ep_addrs, &ak);
		/* only our own ipcache entry: another endpoint may own the address now */
		memcpy(lk.addr, addrs[i].addr, 16);
		if (!bpf_map_lookup_elem(dp->maps.ipcache, &lk, &v) && v.id == r->tenant_id &&
		    v.flags == r->ep_id) {
			bpf_map_delete_elem(dp->maps.ipcache, &lk);
			changed = true;
		}
	}
	if (changed)
		bump_ipc_epoch(dp);
}

/* The nf_endpoints key of an interface endpoint: where its programs run.
 * (Records written before attach points existed name the interface.) */
void dp__ep_key(const struct nf_ep_record *r, struct nf_ep_key *k)
{
	memset(k, 0, sizeof(*k));
	k->netns_cookie = r->attach_ifindex ? r->attach_cookie : r->netns_cookie;
	k->ifindex = r->attach_ifindex ? r->attach_ifindex : r->ifindex;
}

static void ep_maps_remove(struct nf_dp *dp, const struct nf_ep_record *r,
			   const struct nf_cidr *addrs, size_t n)
{
	struct nf_ep_key k;

	if (r->is_cgroup) {
		bpf_map_delete_elem(dp->maps.cg_endpoints, &r->cgroup_id);
		return;
	}
	dp__ep_key(r, &k);
	bpf_map_delete_elem(dp->maps.endpoints, &k);
	ep_addrs_remove(dp, r, addrs, n, NULL, 0);
}

static void ct_purge(struct nf_dp *dp, __u64 scope, __u32 ifindex);

/*
 * Take our programs off an interface endpoint's attach point, if it is still
 * the one the record names (the netns, and with it a veth pair, may be gone).
 */
static void tc_detach_record(struct nf_dp *dp, const struct nf_ep_record *r)
{
	const char *netns = r->attach_ifindex ? r->attach_netns : r->netns;
	const char *ifname = r->attach_ifindex ? r->attach_ifname : r->ifname;
	struct nf_ep_key k;
	struct netns_guard g;
	uint64_t cookie;

	dp__ep_key(r, &k);
	if (netns_enter(netns, &g))
		return;
	if (!cur_netns_cookie(&cookie) && cookie == k.netns_cookie &&
	    if_nametoindex(ifname) == k.ifindex) {
		tc_detach_one(k.ifindex, BPF_TC_INGRESS,
			      r->attach_peer ? dp->progs.tc_peer_ingress : dp->progs.tc_ingress);
		tc_detach_one(k.ifindex, BPF_TC_EGRESS,
			      r->attach_peer ? dp->progs.tc_peer_egress : dp->progs.tc_egress);
	}
	netns_leave(&g);
}

#define NF_TC_GUARD_HANDLE	0x4e47		/* "NG": beside our own filter, never replacing it */
#define NF_TC_GUARD_PRIO	2

static void guard_key(const struct nf_ep_record *r, struct nf_guard_key *gk)
{
	memset(gk, 0, sizeof(*gk));
	gk->netns_cookie = r->guard_cookie;
	gk->ifindex = r->guard_ifindex;
	memcpy(gk->mac, r->mac, 6);
}

/* Enter r's guard netns and check its parent is still the device recorded. */
static bool guard_enter(const struct nf_ep_record *r, struct netns_guard *g)
{
	uint64_t cookie;

	if (netns_enter(r->guard_netns, g))
		return false;
	if (!cur_netns_cookie(&cookie) && cookie == r->guard_cookie &&
	    if_nametoindex(r->guard_ifname) == r->guard_ifindex)
		return true;
	netns_leave(g);
	return false;
}

static int guard_filter(int ifindex, enum bpf_tc_attach_point point, int prog_fd, bool attach)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_GUARD_HANDLE, .priority = NF_TC_GUARD_PRIO);
	int err;

	if (!attach) {
		err = bpf_tc_detach(&hook, &opts);
		return err == -ENOENT || err == -EINVAL ? 0 : err;
	}
	opts.prog_fd = prog_fd;
	opts.flags = BPF_TC_F_REPLACE;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

/*
 * A macvlan endpoint's guard (struct nf_guard_key): its MAC on its parent,
 * its netns among the guarded ones, and the guard programs on the parent
 * (one pair per parent, shared by every macvlan on it).
 */
static int guard_attach(struct nf_dp *dp, const struct nf_ep_record *r, const struct nf_ep_key *k)
{
	struct nf_guard_key gk;
	struct netns_guard g;
	int err;

	guard_key(r, &gk);
	if (bpf_map_update_elem(dp->maps.guard, &gk, k, BPF_ANY) ||
	    bpf_map_update_elem(dp->maps.guarded_ns, &r->netns_cookie, &r->tenant_id, BPF_ANY)) {
		err = -errno;
		pr_err("cannot register the guard of %s: %s", r->ifname, strerror(-err));
		return err;
	}
	if (!guard_enter(r, &g)) {
		pr_err("the parent %s of %s is gone", r->guard_ifname, r->ifname);
		return -ENODEV;
	}
	err = guard_filter(r->guard_ifindex, BPF_TC_INGRESS, dp->progs.tc_guard_ingress, true);
	if (!err)
		err = guard_filter(r->guard_ifindex, BPF_TC_EGRESS, dp->progs.tc_guard_egress, true);
	netns_leave(&g);
	if (err)
		pr_err("cannot attach the guard to %s: %s", r->guard_ifname, strerror(-err));
	return err;
}

/* Undo guard_attach for r; the programs go with the parent's last guarded MAC. */
static void guard_detach(struct nf_dp *dp, const struct nf_ep_record *r)
{
	struct nf_ep_record *recs = NULL;
	struct nf_guard_key gk, cur, next;
	struct netns_guard g;
	bool parent_used = false, ns_used = false;
	size_t n = 0, i;

	guard_key(r, &gk);
	bpf_map_delete_elem(dp->maps.guard, &gk);
	if (!dp__list_endpoints(dp, &recs, &n))
		for (i = 0; i < n; i++)
			ns_used |= recs[i].ep_id != r->ep_id && recs[i].guard &&
				   recs[i].netns_cookie == r->netns_cookie;
	free(recs);
	if (!ns_used)
		bpf_map_delete_elem(dp->maps.guarded_ns, &r->netns_cookie);
	for (int e = bpf_map_get_next_key(dp->maps.guard, NULL, &cur); !e;
	     e = bpf_map_get_next_key(dp->maps.guard, &cur, &next), cur = next)
		parent_used |= cur.netns_cookie == gk.netns_cookie && cur.ifindex == gk.ifindex;
	if (parent_used || !guard_enter(r, &g))
		return;
	guard_filter(r->guard_ifindex, BPF_TC_INGRESS, -1, false);
	guard_filter(r->guard_ifindex, BPF_TC_EGRESS, -1, false);
	netns_leave(&g);
}

int dp__attach_iface(struct nf_dp *dp, const struct nf_iface_ep *ep)
{
	struct nf_cidr *found_addrs = NULL, *merged = NULL;
	const struct nf_cidr *addrs = ep->addrs;
	size_t n_addrs = ep->n_addrs, n_found = 0, i;
	struct nf_ep_record rec = {}, old;
	struct nf_attach_point ap;
	struct netns_guard g;
	struct iface_id iid = {};
	struct nf_ep_key k = {}, old_k;
	struct nf_endpoint v = {};
	bool tcx, reattach = false;
	int ifindex, err;

	if (!ep->tenant_id)
		return -EINVAL;
	err = tc_hook_tcx(&tcx);
	if (err)
		return err;
	err = netns_enter(ep->netns, &g);
	if (err) {
		pr_err("cannot enter network namespace %s: %s", ep->netns, strerror(-err));
		return err;
	}
	ifindex = if_nametoindex(ep->ifname);
	if (!ifindex) {
		err = -ENODEV;
		pr_err("no interface %s in network namespace %s", ep->ifname,
		       *ep->netns ? ep->netns : "(current)");
		goto leave;
	}
	err = cur_netns_cookie(&iid.cookie);
	if (err) {
		pr_err("cannot read the network namespace cookie: %s", strerror(-err));
		goto leave;
	}
	/* Where its programs go: the veth's host-side peer, else the interface. */
	err = vethpeer__find(ifindex, g.orig, &ap);
	if (err) {
		pr_err("cannot inspect interface %s: %s", ep->ifname, strerror(-err));
		goto leave;
	}
	if (!ap.peer) {
		snprintf(ap.dev.netns, sizeof(ap.dev.netns), "%s", ep->netns);
		snprintf(ap.dev.ifname, sizeof(ap.dev.ifname), "%s", ep->ifname);
		ap.dev.ifindex = ifindex;
		ap.dev.cookie = iid.cookie;
	}
	/*
	 * Without given addresses the interface's current ones are the endpoint's.
	 * With given ones (CNI prevResult), its IPv6 link-local addresses are
	 * added: the kernel sources MLD and ND from them, and they are the
	 * endpoint's own.
	 */
	err = iface_addrs(ep->ifname, &found_addrs, &n_found);
	if (err)
		goto leave;
	if (!n_addrs) {
		addrs = found_addrs;
		n_addrs = n_found;
	} else {
		size_t n_ll = 0;

		merged = calloc(n_addrs + n_found + 1, sizeof(*merged));
		if (!merged) {
			err = -ENOMEM;
			goto leave;
		}
		memcpy(merged, ep->addrs, n_addrs * sizeof(*merged));
		for (i = 0; i < n_found; i++)
			if (found_addrs[i].addr[0] == 0xfe && (found_addrs[i].addr[1] & 0xc0) == 0x80)
				merged[n_addrs + n_ll++] = found_addrs[i];
		addrs = merged;
		n_addrs += n_ll;
	}
	iid.ifindex = ifindex;

	/*
	 * Same interface again: keep its id (idempotent) and its endpoint entry
	 * (no window without one: that would drop as unregistered), forget only
	 * addresses it no longer has.
	 */
	if (!find_record(dp, match_iface, &iid, &old)) {
		struct nf_cidr *old_addrs = NULL;
		size_t n_old = 0;

		reattach = true;
		rec.ep_id = old.ep_id;
		if (!ep_record_read(old.ep_id, &old, &old_addrs, &n_old))
			ep_addrs_remove(dp, &old, old_addrs, n_old, addrs, n_addrs);
		free(old_addrs);
	} else {
		rec.ep_id = dp__alloc_ep_id(dp);
		if (!rec.ep_id) {
			err = -ENOSPC;
			pr_err("too many endpoints (%u)", NF_MAX_ENDPOINTS);
			goto leave;
		}
	}
	rec.tenant_id = ep->tenant_id;
	snprintf(rec.netns, sizeof(rec.netns), "%s", ep->netns);
	snprintf(rec.ifname, sizeof(rec.ifname), "%s", ep->ifname);
	rec.ifindex = ifindex;
	rec.netns_cookie = iid.cookie;
	snprintf(rec.owner, sizeof(rec.owner), "%s", ep->owner);
	rec.attach_peer = ap.peer;
	snprintf(rec.attach_netns, sizeof(rec.attach_netns), "%s", ap.dev.netns);
	snprintf(rec.attach_ifname, sizeof(rec.attach_ifname), "%s", ap.dev.ifname);
	rec.attach_ifindex = ap.dev.ifindex;
	rec.attach_cookie = ap.dev.cookie;
	rec.guard = ap.guard;
	snprintf(rec.guard_netns, sizeof(rec.guard_netns), "%s", ap.parent.netns);
	snprintf(rec.guard_ifname, sizeof(rec.guard_ifname), "%s", ap.parent.ifname);
	rec.guard_ifindex = ap.parent.ifindex;
	rec.guard_cookie = ap.parent.cookie;
	memcpy(rec.mac, ap.mac, 6);
	rec.flags = ep->flags & NF_EPF_DENY_ALL;

	/* 1. The record first: an interrupted attach leaves what detach can remove. */
	err = ep_record_write(&rec, addrs, n_addrs);
	if (err) {
		pr_err("cannot write the endpoint record: %s", strerror(-err));
		goto leave;
	}
	/* 2. Maps: addresses (anti-spoofing, identity), then the endpoint itself. */
	for (i = 0; i < n_addrs; i++) {
		struct nf_ep_addr_key ak = { .ep_id = rec.ep_id };
		struct nf_lpm_addr_key lk = { .prefixlen = 128 };
		struct nf_ipcache_val iv = { .id = rec.tenant_id, .flags = rec.ep_id };
		__u8 one = 1;

		memcpy(ak.addr, addrs[i].addr, 16);
		memcpy(lk.addr, addrs[i].addr, 16);
		if (bpf_map_update_elem(dp->maps.ep_addrs, &ak, &one, BPF_ANY) ||
		    bpf_map_update_elem(dp->maps.ipcache, &lk, &iv, BPF_ANY)) {
			err = -errno;
			pr_err("cannot register the endpoint's addresses: %s", strerror(-err));
			goto leave;
		}
	}
	bump_ipc_epoch(dp);
	dp__ep_key(&rec, &k);
	v.tenant_id = rec.tenant_id;
	v.ep_id = rec.ep_id;
	v.flags = rec.flags;
	if (bpf_map_update_elem(dp->maps.endpoints, &k, &v, BPF_ANY)) {
		err = -errno;
		pr_err("cannot register the endpoint: %s", strerror(-err));
		goto leave;
	}
	/*
	 * Moved to another tenant (or quarantined): the flows it tracked were
	 * judged by the old tenant's policy. Forgotten, their next packets are
	 * judged by the new one (SPEC §3.13).
	 */
	if (reattach && (old.tenant_id != rec.tenant_id || old.flags != rec.flags))
		ct_purge(dp, k.netns_cookie, k.ifindex);

	/* 3. Attach: from here on every packet is judged (default deny). */
	if (ap.peer) {
		netns_leave(&g);
		err = netns_enter(ap.dev.netns, &g);
		if (err) {
			pr_err("cannot enter network namespace %s: %s",
			       *ap.dev.netns ? ap.dev.netns : "(host)", strerror(-err));
			goto leave;
		}
	}
	err = tc_attach_one(ap.dev.ifindex, BPF_TC_INGRESS,
			    ap.peer ? dp->progs.tc_peer_ingress : dp->progs.tc_ingress, tcx);
	if (!err)
		err = tc_attach_one(ap.dev.ifindex, BPF_TC_EGRESS,
				    ap.peer ? dp->progs.tc_peer_egress : dp->progs.tc_egress, tcx);
	if (err) {
		pr_err("cannot attach tc programs to %s: %s", ap.dev.ifname, strerror(-err));
		goto leave;
	}
	netns_leave(&g);
	/* 4. A macvlan: the guard on its parent, out of the workload's reach. */
	if (ap.guard) {
		err = guard_attach(dp, &rec, &k);
		if (err)
			goto leave;
	}
	/* An attach point that changed (a record of an older build): the old one goes. */
	if (reattach) {
		dp__ep_key(&old, &old_k);
		if (old_k.netns_cookie != k.netns_cookie || old_k.ifindex != k.ifindex) {
			tc_detach_record(dp, &old);
			bpf_map_delete_elem(dp->maps.endpoints, &old_k);
		}
		if (old.guard && (!rec.guard || memcmp(old.mac, rec.mac, 6) ||
				  old.guard_ifindex != rec.guard_ifindex))
			guard_detach(dp, &old);
	}
leave:
	netns_leave(&g);
	free(found_addrs);
	free(merged);
	return err;
}

/*
 * Forget the tracked flows of one endpoint scope: conntrack is keyed by
 * where the endpoint is, and a later endpoint in the same place (another
 * tenant) must not inherit them.
 */
static void ct_purge(struct nf_dp *dp, __u64 scope, __u32 ifindex)
{
	enum { BATCH = 4096 };
	struct nf_ct_key *keys = calloc(BATCH, sizeof(*keys)), *del = calloc(BATCH, sizeof(*del));
	struct nf_ct_val *vals = calloc(BATCH, sizeof(*vals));
	uint32_t *del_tenant = calloc(BATCH, sizeof(*del_tenant));
	struct nf_ct_key in, out;
	bool first = true;

	if (!keys || !vals || !del || !del_tenant)
		goto out;
	for (;;) {
		__u32 count = BATCH, i, n_del = 0;
		int err = bpf_map_lookup_batch(dp->maps.ct, first ? NULL : &in, &out, keys, vals,
					       &count, NULL);

		if (err && errno != ENOENT)
			break;
		for (i = 0; i < count; i++)
			if (NF_CT_KEY_SCOPE(&keys[i]) == (scope & NF_CT_SCOPE_MASK) &&
			    keys[i].ifindex == ifindex) {
				del_tenant[n_del] = vals[i].tenant_id;
				del[n_del++] = keys[i];
			}
		for (i = 0; i < n_del; i++)
			if (!bpf_map_delete_elem(dp->maps.ct, &del[i]))
				usage_put(dp, del_tenant[i], false, 1);
		if (err)
			break;	/* ENOENT: that was the last batch */
		in = out;
		first = false;
	}
out:
	free(keys);
	free(vals);
	free(del);
	free(del_tenant);
}

static void cg_detach_progs(struct nf_dp *dp, const char *dir);

static int detach_record(struct nf_dp *dp, const struct nf_ep_record *r)
{
	struct nf_cidr *addrs = NULL;
	struct nf_ep_record full;
	char path[PATH_MAX];
	size_t n = 0;

	if (!ep_record_read(r->ep_id, &full, &addrs, &n))
		r = &full;
	if (r->is_cgroup) {
		cg_detach_progs(dp, r->cgroup);	/* every hook of cg_hooks */
	} else {
		/* The netns may be gone (CNI DEL after teardown): then so are the filters. */
		tc_detach_record(dp, r);
		if (r->guard)
			guard_detach(dp, r);
	}
	ep_maps_remove(dp, r, addrs, n);
	if (r->is_cgroup) {
		ct_purge(dp, r->cgroup_id, 0);
	} else {
		struct nf_ep_key k;

		dp__ep_key(r, &k);
		ct_purge(dp, k.netns_cookie, k.ifindex);
	}
	free(addrs);
	ep_record_path(path, sizeof(path), r->ep_id);
	unlink(path);
	return 0;
}

int dp__detach_endpoint(struct nf_dp *dp, uint32_t ep_id)
{
	struct nf_ep_record r;

	if (ep_record_read(ep_id, &r, NULL, NULL))
		return 0;
	return detach_record(dp, &r);
}

int dp__detach_iface(struct nf_dp *dp, const char *netns, const char *ifname)
{
	struct iface_id iid = { .netns = netns ? netns : "", .ifname = ifname };
	struct nf_ep_record r;
	struct netns_guard g;

	/* Identify by (cookie, ifindex) when the netns still exists, else by name. */
	if (!netns_enter(iid.netns, &g)) {
		if (cur_netns_cookie(&iid.cookie))
			iid.cookie = 0;
		iid.ifindex = if_nametoindex(ifname);
		netns_leave(&g);
	}
	if (find_record(dp, match_iface, &iid, &r)) {
		iid.cookie = 0;
		iid.ifindex = 0;
		if (find_record(dp, match_iface, &iid, &r))
			return -ENOENT;
	}
	return detach_record(dp, &r);
}

int dp__check_iface(struct nf_dp *dp, const char *netns, const char *ifname)
{
	struct iface_id iid = { .netns = netns ? netns : "", .ifname = ifname };
	struct nf_ep_record r;
	struct netns_guard g;
	struct nf_endpoint v;
	struct nf_ep_key k;
	uint64_t cookie;
	bool attached;
	int err;

	err = netns_enter(iid.netns, &g);
	if (err)
		return -ENOENT;
	iid.ifindex = if_nametoindex(ifname);
	err = !iid.ifindex || cur_netns_cookie(&iid.cookie);
	netns_leave(&g);
	if (err || find_record(dp, match_iface, &iid, &r))
		return -ENOENT;
	/* the programs, where the record says they run */
	dp__ep_key(&r, &k);
	if (netns_enter(r.attach_ifindex ? r.attach_netns : r.netns, &g))
		return -ENOENT;
	attached = !cur_netns_cookie(&cookie) && cookie == k.netns_cookie &&
		   tc_has_prog(k.ifindex, BPF_TC_INGRESS,
			       prog_id(r.attach_peer ? dp->progs.tc_peer_ingress : dp->progs.tc_ingress)) &&
		   tc_has_prog(k.ifindex, BPF_TC_EGRESS,
			       prog_id(r.attach_peer ? dp->progs.tc_peer_egress : dp->progs.tc_egress));
	netns_leave(&g);
	if (bpf_map_lookup_elem(dp->maps.endpoints, &k, &v))
		return -ENOENT;
	if (!attached)
		return -ENOENT;
	return 0;
}

/* ------------------------------------------------------ cgroup endpoints */

static int cgroup_id_of(const char *dir, uint64_t *id)
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
	size_t prog_off;
	enum bpf_attach_type type;
};

static const struct cg_hook cg_hooks[] = {
	{ offsetof(struct nf_progs, cg_ingress), BPF_CGROUP_INET_INGRESS },
	{ offsetof(struct nf_progs, cg_egress), BPF_CGROUP_INET_EGRESS },
	{ offsetof(struct nf_progs, cg_connect4), BPF_CGROUP_INET4_CONNECT },
	{ offsetof(struct nf_progs, cg_connect6), BPF_CGROUP_INET6_CONNECT },
	{ offsetof(struct nf_progs, cg_sendmsg4), BPF_CGROUP_UDP4_SENDMSG },
	{ offsetof(struct nf_progs, cg_sendmsg6), BPF_CGROUP_UDP6_SENDMSG },
	{ offsetof(struct nf_progs, cg_sock_create), BPF_CGROUP_INET_SOCK_CREATE },
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

	return r->is_cgroup && !cgroup_id_of(r->cgroup, &id) && id == r->cgroup_id;
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
		int pfd = *fd_at(&dp->progs, cg_hooks[i].prog_off);

		if (cg_prog_attached(cgfd, cg_hooks[i].type, prog_id(pfd)))
			continue;
		if (bpf_prog_attach(pfd, cgfd, cg_hooks[i].type, BPF_F_ALLOW_MULTI)) {
			err = -errno;
			pr_err("cannot attach to cgroup %s: %s%s", dir, strerror(-err),
			       err == -EPERM ? " (a non-multi program is attached there)" : "");
			return err;
		}
	}
	return 0;
}

/* Detach our programs only (by fd), wherever attached: never other tools'. */
static void cg_detach_progs(struct nf_dp *dp, const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t i;

	if (fd < 0)
		return;
	for (i = 0; i < ARRAY_SIZE(cg_hooks); i++)
		bpf_prog_detach2(*fd_at(&dp->progs, cg_hooks[i].prog_off), fd, cg_hooks[i].type);
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
	err = cgroup_id_of(real, &cgid);
	if (err) {
		pr_err("cannot read the id of cgroup %s: %s", real, strerror(-err));
		goto out;
	}
	if (!find_record(dp, match_cgroup, &cgid, &old))
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
	err = ep_record_write(&rec, NULL, 0);
	if (err)
		goto out;
	v.tenant_id = tenant_id;
	v.ep_id = rec.ep_id;
	if (bpf_map_update_elem(dp->maps.cg_endpoints, &cgid, &v, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	err = dp__list_endpoints(dp, &recs, &n);
	if (err)
		goto out;
	if (cg_covered(recs, n, real, rec.ep_id, 0)) {
		/* a fenced ancestor's programs judge this cgroup already, by its entry */
		cg_detach_progs(dp, real);
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
			cg_detach_progs(dp, recs[i].cgroup);
out:
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
			err = detach_record(dp, &recs[i]);
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

	if (!realpath(dir, real) || cgroup_id_of(real, &cgid))
		return cg_detach_stale(dp, dir);
	if (find_record(dp, match_cgroup, &cgid, &r))
		return cg_detach_stale(dp, real);
	err = cg_hand_over(dp, &r);
	if (err) {
		pr_err("cgroup %s stays fenced: the cgroups below it that are endpoints would not be",
		       real);
		return err;
	}
	return detach_record(dp, &r);
}

/* ---------------------------------------------------------------- reset */

static void rm_rf(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	char sub[PATH_MAX];

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
			rm_rf(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

int dp__reset(void)
{
	struct nf_ep_record *recs = NULL;
	struct nf_dp *dp;
	size_t n = 0, i;

	if (!dp__open(&dp, false)) {
		if (!dp__list_endpoints(dp, &recs, &n))
			for (i = 0; i < n; i++)
				detach_record(dp, &recs[i]);
		free(recs);
		dp__close(dp);
	}
	rm_rf(NF_PIN_ROOT);
	rm_rf(NF_EP_DIR);
	rm_rf(NF_TENANT_DIR);
	rm_rf(NF_RUN_DIR "/objects");
	rm_rf(NF_RUN_DIR "/refs");
	rm_rf(NF_RUN_DIR "/cni");
	unlink(NF_RUN_DIR "/applies");
	unlink(NF_RUN_DIR "/host_addrs");
	return 0;
}
