// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The datapath's lifecycle: bpffs and the cgroup v2 mount, the node lock,
 * loading the BPF object and pinning it under NF_PIN_ROOT (or reopening the
 * pins), the NETFENCE_* settings from the environment, private instances for
 * tests and the bench, close, and reset. Kernel state (the pins) is the
 * source of truth; /run/netfence only keeps what the kernel can't: endpoint
 * records (names, owners) and the port keys each tenant has installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_internal.h"
#include "log.h"
#include "netfence.skel.h"

#define NF_DEFAULT_EVENTS_PER_SEC 100

/* The names of NF_MAPS and NF_PROGS (datapath.h), by id. */
#define NF_LIST_NAME(id, name, ...) [id] = name,
static const char *const map_names[NF_MAP__COUNT] = { NF_MAPS(NF_LIST_NAME) };
static const char *const prog_names[NF_PROG__COUNT] = { NF_PROGS(NF_LIST_NAME) };
#undef NF_LIST_NAME

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

int dp__ensure_bpffs(void)
{
	struct statfs st;
	int err;

	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	err = store__mkdirs("/sys/fs/bpf");
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

static int lock_file(const char *path, bool wait)
{
	int fd, err;

	err = store__mkdirs(NF_RUN_DIR);
	if (err)
		return err;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int dp_lock_file(const char *path)
{
	return lock_file(path, true);
}

/* The pinned program this process opened (0: none), for dp__lock(). */
static __u32 opened_id;
/* ... and the datapath it opened, whose interrupted endpoint changes
 * dp__lock() finishes. */
static struct nf_dp *opened_dp;

/* Any program pin identifies a load: every upgrade replaces them all. */
static __u32 pinned_id(void)
{
	char path[PATH_MAX];
	__u32 id;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", NF_PIN_ROOT, prog_names[NF_PROG_TC_PEER]);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	id = dp_prog_id(fd);
	close(fd);
	return id;
}

static int node_lock(bool wait)
{
	int fd = lock_file(NF_LOCK_FILE, wait), err;

	if (fd == -EWOULDBLOCK && !wait)
		return fd;
	if (fd < 0) {
		pr_err("cannot take the node lock %s: %s", NF_LOCK_FILE, strerror(-fd));
		return fd;
	}
	if (!opened_id)
		return fd;
	/* SPEC §10.1, §10.4: never write into a datapath another netfence
	 * replaced while this one waited, nor into a newer one. */
	if (pinned_id() != opened_id) {
		pr_err("the datapath was replaced (upgraded or reset) while this command waited "
		       "for the node lock: nothing changed, run it again");
		close(fd);
		return -ESTALE;
	}
	err = dp_check_version();
	if (err) {
		close(fd);
		return err;
	}
	if (opened_dp)
		dp__reconcile(opened_dp);
	return fd;
}

int dp__lock(void)
{
	return node_lock(true);
}

int dp__trylock(void)
{
	return node_lock(false);
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

	snprintf(dp->tenant_dir, sizeof(dp->tenant_dir), "%s", NF_STORE_KEY_RECORDS);
	for (i = 0; i < NF_MAP__COUNT; i++)
		dp->maps.fd[i] = -1;
	for (i = 0; i < NF_PROG__COUNT; i++)
		dp->progs[i] = -1;
}

int dp__map_fd(const struct nf_dp *dp, enum nf_map_id id)
{
	return id < NF_MAP__COUNT ? dp->maps.fd[id] : -1;
}

int dp__prog_fd(const struct nf_dp *dp, enum nf_prog_id id)
{
	return id < NF_PROG__COUNT ? dp->progs[id] : -1;
}

const char *dp__tenant_dir(const struct nf_dp *dp)
{
	return dp->tenant_dir;
}

const struct nf_maps *dp__maps(const struct nf_dp *dp)
{
	return &dp->maps;
}

__u32 dp_prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static size_t page_round(size_t sz)
{
	long page = sysconf(_SC_PAGESIZE);

	return (sz + page - 1) / page * page;
}

#define TENANTS_MAP_SIZE page_round((size_t)NF_MAX_TENANTS * sizeof(struct nf_tenant_info))
#define USAGE_MAP_SIZE	 page_round((size_t)NF_MAX_TENANTS * sizeof(struct nf_usage))
#define TALLY_MAP_SIZE	 page_round((size_t)NF_YOUNG_SLOTS * sizeof(__s32))

/* A BPF_F_MMAPABLE array of the datapath, mapped shared. */
static void *mmap_array(struct nf_dp *dp, enum nf_map_id id, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dp->maps.fd[id], 0);

	if (p != MAP_FAILED)
		return p;
	pr_err("cannot mmap %s: %s", map_names[id], strerror(errno));
	return NULL;
}

/* nf_tenants, nf_usage and nf_ct_tally, mmapped. */
static int mmap_tenants(struct nf_dp *dp)
{
	dp->tenants = mmap_array(dp, NF_MAP_TENANTS, TENANTS_MAP_SIZE);
	if (!dp->tenants)
		return -ENOMEM;
	dp->usage = mmap_array(dp, NF_MAP_USAGE, USAGE_MAP_SIZE);
	if (!dp->usage)
		return -ENOMEM;
	dp->tally = mmap_array(dp, NF_MAP_CT_TALLY, TALLY_MAP_SIZE);
	return dp->tally ? 0 : -ENOMEM;
}

/* dp_internal.h */
int dp_run_once(int prog_fd)
{
	unsigned char pkt[64] = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .repeat = 1);

	pkt[12] = 0x08;	/* an Ethernet frame: test runs of tc programs want one */
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return opts.retval == 0 /* TC_ACT_OK */ ? 0 : -EIO;
}

/*
 * Start the kernel's sweep of expired tracking entries (bpf/lib/gc.bpf.h):
 * its timer lives in the nf_gc map and runs as long as the map exists.
 */
static int gc_start(struct nf_dp *dp)
{
	int err = dp_run_once(dp->progs[NF_PROG_GC_START]);

	if (err)
		pr_err("cannot start the conntrack sweep timer: %s", strerror(-err));
	return err;
}

int dp__young_flush(const struct nf_dp *dp)
{
	int err = dp_run_once(dp->progs[NF_PROG_YOUNG_FLUSH]);

	if (err)
		pr_err("cannot move young connections into nf_ct: %s", strerror(-err));
	return err;
}

/* Open every pin. -ENOENT if the datapath is not (completely) loaded. */
static int open_pins(struct nf_dp *dp)
{
	char path[PATH_MAX];
	size_t i;
	int fd;

	for (i = 0; i < NF_MAP__COUNT; i++) {
		pin_path(path, sizeof(path), map_names[i]);
		fd = bpf_obj_get(path);
		if (fd < 0)
			return -ENOENT;
		dp->maps.fd[i] = fd;
	}
	for (i = 0; i < NF_PROG__COUNT; i++) {
		pin_path(path, sizeof(path), prog_names[i]);
		fd = bpf_obj_get(path);
		if (fd < 0)
			return -ENOENT;
		dp->progs[i] = fd;
	}
	dp->pinned = true;
	return mmap_tenants(dp);
}

int dp_config_defaults(struct nf_dp *dp)
{
	struct nf_config cfg = {
		.flags = NF_CFG_ALLOW_HOST_INGRESS,
		.events_per_sec = NF_DEFAULT_EVENTS_PER_SEC,
		.policy_gen = 1,
	};
	__u32 zero = 0;

	if (bpf_map_update_elem(dp->maps.fd[NF_MAP_CONFIG], &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

/* The id of name in names[n], or -1: a map or program not listed. */
static int list_id(const char *const *names, int n, const char *name)
{
	int id;

	for (id = 0; id < n; id++)
		if (!strcmp(names[id], name))
			return id;
	return -1;
}

/*
 * Walk the loaded object and keep an fd of every listed map and program.
 * One listed but not in the object is a list out of step with the BPF code.
 */
static int fill_fds_from_skel(struct nf_dp *dp)
{
	struct bpf_program *prog;
	struct bpf_map *map;
	int id;

	bpf_object__for_each_map(map, dp->skel->obj) {
		id = list_id(map_names, NF_MAP__COUNT, bpf_map__name(map));
		if (id >= 0 && (dp->maps.fd[id] = dup(bpf_map__fd(map))) < 0)
			return -errno;
	}
	bpf_object__for_each_program(prog, dp->skel->obj) {
		if (!bpf_program__autoload(prog))
			continue;
		/* a private instance's tc_peer (dp__open_private) */
		id = prog == dp->skel->progs.tc_peer_cb ?
			     NF_PROG_TC_PEER :
			     list_id(prog_names, NF_PROG__COUNT, bpf_program__name(prog));
		if (id >= 0 && (dp->progs[id] = dup(bpf_program__fd(prog))) < 0)
			return -errno;
	}
	for (id = 0; id < NF_MAP__COUNT; id++) {
		if (dp->maps.fd[id] < 0) {
			pr_err("internal: the BPF object has no map %s", map_names[id]);
			return -ENOENT;
		}
	}
	for (id = 0; id < NF_PROG__COUNT; id++) {
		if (dp->progs[id] < 0) {
			pr_err("internal: the BPF object has no program %s", prog_names[id]);
			return -ENOENT;
		}
	}
	return 0;
}

struct netfence_bpf *dp_skel_open(void)
{
	struct netfence_bpf *skel = netfence_bpf__open();
	int cpus = libbpf_num_possible_cpus(), err;

	if (!skel)
		return NULL;
	/* tc_peer for test runs: loaded by private instances only */
	bpf_program__set_autoload(skel->progs.tc_peer_cb, false);
	/* the flow cache: NF_FC_SLOTS for every CPU; closes: a region for each (abi.h) */
	err = cpus > 0 ? bpf_map__set_max_entries(skel->maps.nf_flow_cache, NF_FC_SLOTS * cpus)
		       : cpus;
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.nf_ct_closed,
					       NF_CL_SLOTS + NF_CL_CPU_SLOTS * cpus);
	if (err) {
		netfence_bpf__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

/* Load the object and pin everything (nothing is pinned: dp__open()). */
static int load_and_pin(struct nf_dp *dp)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	struct bpf_program *prog;
	int err;

	err = store__mkdirs(NF_PIN_ROOT);
	if (err) {
		pr_err("cannot create %s: %s", NF_PIN_ROOT, strerror(-err));
		return err;
	}
	dp->skel = dp_skel_open();
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
		if (!bpf_program__autoload(prog))
			continue;	/* tc_peer_cb */
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
	err = dp_config_defaults(dp);
	if (err)
		return err;
	{
		struct nf_meta meta;
		__u32 zero = 0;

		dp__meta_self(&meta);
		if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.nf_meta), &zero, &meta, BPF_ANY))
			return -errno;
	}
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
int dp_tc_hook_tcx(bool *tcx)
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

	if (dp_tc_hook_tcx(&tcx) || env_ct_tenant_max(&max))
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
	if (bpf_map_lookup_elem(dp->maps.fd[NF_MAP_CONFIG], &zero, &cfg))
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
	if (bpf_map_update_elem(dp->maps.fd[NF_MAP_CONFIG], &zero, &cfg, BPF_ANY))
		return -errno;
	if (cfg.flags != was.flags)
		dp__verdicts_changed(dp);	/* host ingress decides verdicts */
	return 0;
}

bool dp__is_loaded(void)
{
	char path[PATH_MAX];

	pin_path(path, sizeof(path), "tc_egress");
	return access(path, F_OK) == 0;
}

int dp_open_pinned(struct nf_dp **out)
{
	struct nf_dp *dp = calloc(1, sizeof(*dp));
	int err;

	*out = NULL;
	if (!dp)
		return -ENOMEM;
	fds_init(dp);
	err = open_pins(dp);
	if (err) {
		dp__close(dp);
		return err;
	}
	*out = dp;
	return 0;
}

int dp_from_skel(struct nf_dp **out, struct netfence_bpf *skel)
{
	struct nf_dp *dp = calloc(1, sizeof(*dp));
	int err;

	*out = NULL;
	if (!dp) {
		netfence_bpf__destroy(skel);
		return -ENOMEM;
	}
	fds_init(dp);
	dp->skel = skel;
	dp->pinned = true;	/* it will be: never the private instance's cleanup */
	err = fill_fds_from_skel(dp);
	if (!err)
		err = mmap_tenants(dp);
	if (!err)
		err = gc_start(dp);
	if (err) {
		dp__close(dp);
		return err;
	}
	*out = dp;
	return 0;
}

/* The first load on this node: nothing is pinned yet (node lock held). */
static int first_load(void)
{
	struct nf_dp *dp = calloc(1, sizeof(*dp));
	int err;

	if (!dp)
		return -ENOMEM;
	fds_init(dp);
	err = load_and_pin(dp);
	dp__close(dp);
	return err;
}

static bool env_settings(void)
{
	const char *h = getenv("NETFENCE_ALLOW_HOST_INGRESS"), *c = getenv("NETFENCE_CT_TENANT_MAX");

	return (h && *h) || (c && *c);
}

/*
 * Opened for changes (load): the datapath is this build's, loaded first if
 * nothing is, upgraded in place if another build's is (SPEC §10.1: a newer
 * one is refused), completed if a load was interrupted; and the settings of
 * the environment written. All of that under the node lock, so it is
 * serialized with every state-changing command; the common case (this
 * build's, no settings) takes no lock here.
 */
int dp__open(struct nf_dp **out, bool load)
{
	struct nf_upgrade_opts quiet = {};
	struct nf_dp *dp = NULL;
	int err, lock;

	*out = NULL;
	nf_log_setup_libbpf();
	if (load && dp__check_env())
		return -EINVAL;
	err = dp__ensure_bpffs();
	if (err)
		return err;
	err = dp_open_pinned(&dp);
	if (!load) {
		if (err)
			return -ENOENT;
		goto done;
	}
	if (!err && !env_settings() && dp_is_current())
		goto done;
	dp__close(dp);
	dp = NULL;
	lock = dp_lock_file(NF_LOCK_FILE);
	if (lock < 0) {
		pr_err("cannot take the node lock %s: %s", NF_LOCK_FILE, strerror(-lock));
		return lock;
	}
	if (!dp_any_pin()) {
		err = first_load();
	} else {
		/* again, under the lock. A pin missing (an interrupted load, a
		 * removed pin): the rest is kept, never loaded over with defaults
		 * (nf_config's settings would be lost). */
		err = dp_open_pinned(&dp);
		dp__close(dp);
		dp = NULL;
		quiet.complete = err != 0;
		err = quiet.complete || !dp_is_current() ? dp_upgrade_locked(&quiet) : 0;
	}
	if (!err)
		err = dp_open_pinned(&dp);
	if (!err)
		err = apply_env_config(dp);
	close(lock);
	if (err) {
		dp__close(dp);
		return err;
	}
done:
	opened_id = dp_prog_id(dp->progs[NF_PROG_TC_PEER]);
	opened_dp = dp;
	*out = dp;
	return 0;
}

int dp__open_private(struct nf_dp **out, unsigned int bench)
{
	struct nf_dp *dp;
	int err;

	*out = NULL;
	nf_log_setup_libbpf();
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	fds_init(dp);
	dp->skel = dp_skel_open();
	if (!dp->skel) {
		err = -errno;
		goto fail;
	}
	dp->skel->rodata->bench_no_ct_insert = !!(bench & DP_BENCH_NO_CT_INSERT);
	dp->skel->rodata->bench_no_verdict_cache = !!(bench & DP_BENCH_NO_VERDICT_CACHE);
	/* never attached: test runs say their hook (skb->cb) */
	bpf_program__set_autoload(dp->skel->progs.tc_peer, false);
	bpf_program__set_autoload(dp->skel->progs.tc_peer_cb, true);
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
		err = dp_config_defaults(dp);
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
	if (dp == opened_dp)
		opened_dp = NULL;
	for (i = 0; i < NF_MAP__COUNT; i++)
		if (dp->maps.fd[i] > 0)
			close(dp->maps.fd[i]);
	for (i = 0; i < NF_PROG__COUNT; i++)
		if (dp->progs[i] > 0)
			close(dp->progs[i]);
	if (dp->tenants)
		munmap(dp->tenants, TENANTS_MAP_SIZE);
	if (dp->usage)
		munmap(dp->usage, USAGE_MAP_SIZE);
	if (dp->tally)
		munmap(dp->tally, TALLY_MAP_SIZE);
	if (!dp->pinned && !strncmp(dp->tenant_dir, "/tmp/netfence-private.", 22))
		rm_rf(dp->tenant_dir);
	netfence_bpf__destroy(dp->skel);
	free(dp);
}

/* ---------------------------------------------------------------- reset */

int dp__reset(void)
{
	struct nf_ep_record *recs = NULL;
	struct nf_dp *dp;
	size_t n = 0, i;

	if (!dp__open(&dp, false)) {
		if (!dp__list_endpoints(dp, &recs, &n))
			for (i = 0; i < n; i++)
				dp_detach_record(dp, &recs[i]);
		free(recs);
		dp__close(dp);
	}
	rm_rf(NF_PIN_ROOT);
	rm_rf(NF_EP_DIR);
	rm_rf(NF_STORE_KEY_RECORDS);
	rm_rf(NF_STORE_OBJECTS);	/* and the journal */
	rm_rf(NF_STORE_REFS);
	rm_rf(NF_STORE_CNI);
	unlink(NF_STORE_APPLIES);
	unlink(NF_STORE_HOST_ADDRS);
	return 0;
}
