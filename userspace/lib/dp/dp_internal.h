/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the files of userspace/lib/dp share; not part of the library's API
 * (that is datapath.h). Internal functions are dp_verb (one underscore),
 * return 0 or -errno like the public dp__ ones, and are documented where
 * they are defined.
 */
#ifndef NETFENCE_DP_INTERNAL_H
#define NETFENCE_DP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "datapath.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Where our programs sit on an interface (tc.c; upgrade.c replaces them there). */
#define NF_TC_HANDLE		0x4e46	/* "NF" */
#define NF_TC_PRIO		1	/* run first */
#define NF_TC_GUARD_HANDLE	0x4e47	/* "NG": beside our own filter, never replacing it */
#define NF_TC_GUARD_PRIO	2
#define NF_TCX_INGRESS	46	/* enum bpf_attach_type (uapi 6.6), newer than these headers */
#define NF_TCX_EGRESS	47
#define NF_F_REPLACE	(1U << 2)	/* BPF_F_REPLACE */
#define NF_F_BEFORE	(1U << 3)

struct nf_dp {
	struct nf_maps maps;
	int progs[NF_PROG__COUNT];
	struct netfence_bpf *skel;	/* only when this process loaded it */
	struct nf_tenant_info *tenants;	/* nf_tenants, mmapped: tenants[id] */
	struct nf_usage *usage;		/* nf_usage, mmapped: usage[id] (atomic updates) */
	__s32 *tally;			/* nf_ct_tally, mmapped (atomic updates, abi.h) */
	char tenant_dir[256];		/* key records: NF_RUN_DIR/tenants, or private */
	bool pinned;
};

/* ---- load.c ---- */
/* flock(LOCK_EX) on a file under NF_RUN_DIR: its fd, or -errno. */
int dp_lock_file(const char *path);
/* Every pin opened (no load, no version check); -ENOENT when one is missing. */
int dp_open_pinned(struct nf_dp **out);
/* This build's object opened, its maps sized for this machine; NULL (errno) on failure. */
struct netfence_bpf *dp_skel_open(void);
/* An instance over a loaded skeleton (which it takes over), its sweep started. */
int dp_from_skel(struct nf_dp **out, struct netfence_bpf *skel);
int dp_config_defaults(struct nf_dp *dp);
/* Run a housekeeping program (nf_gc_start, nf_young_flush) once through
 * BPF_PROG_TEST_RUN: 0 when it answered TC_ACT_OK, else -errno or -EIO. */
int dp_run_once(int prog_fd);

/* ---- upgrade.c ---- */
/* The pinned datapath replaced by this build's (node lock held): 0 when done
 * or nothing to do; -EPROTO (said) when the loaded one is newer. */
int dp_upgrade_locked(const struct nf_upgrade_opts *o);
/* Whether any pin of a datapath exists (a complete one or not). */
bool dp_any_pin(void);
/* -EPROTO (said) when the loaded datapath is newer than this build. */
int dp_check_version(void);
/* Whether the loaded datapath is this build's. */
bool dp_is_current(void);
/* The kernel's id of a program fd, 0 when it can't be read. */
__u32 dp_prog_id(int fd);
/* NETFENCE_TC_HOOK: *tcx true for "tcx"; -EINVAL (said) for a bad value. */
int dp_tc_hook_tcx(bool *tcx);

/* ---- install.c ---- */
/* Every entry of the tenant's policy, both parities, with its records. */
void dp_policy_purge(struct nf_dp *dp, uint32_t id);

/* ---- tenants.c ---- */
void dp_usage_put(struct nf_dp *dp, uint32_t tenant_id, bool frag, uint32_t n);
/* An nf_ct entry of key k deleted by userspace: its tally (abi.h) goes down. */
void dp_tally_put(struct nf_dp *dp, const struct nf_ct_key *k);
/* nf_ct_tally raised to at least what nf_ct holds now (an upgrade that did
 * not reuse it, or whose old programs wrote nf_ct meanwhile). */
void dp_tally_recount(struct nf_dp *dp);

/* ---- netns.c ---- */
/* The original netns while in another one (dp_netns_enter), else -1. */
struct netns_guard {
	int orig;
};

int dp_netns_enter(const char *netns, struct netns_guard *g);
void dp_netns_leave(struct netns_guard *g);
/* The cookie of this thread's netns. */
int dp_cur_netns_cookie(uint64_t *cookie);
/* The path in /var/run/netns/ of the netns with that cookie, or -ENOENT. */
int dp_netns_find(uint64_t cookie, char *path, size_t len);
int dp_iface_addrs(const char *ifname, struct nf_cidr **out, size_t *n);

/* ---- endpoints.c ---- */
void dp_ep_record_path(char *buf, size_t len, uint32_t ep_id);
int dp_ep_record_write(const struct nf_ep_record *r, const struct nf_cidr *addrs, size_t n);
/* addrs may be NULL (not read); else *addrs is malloc()ed. */
int dp_ep_record_read(uint32_t ep_id, struct nf_ep_record *r, struct nf_cidr **addrs, size_t *n);
/* The first record match() accepts, or -ENOENT. */
int dp_find_record(struct nf_dp *dp, bool (*match)(const struct nf_ep_record *, const void *),
		   const void *arg, struct nf_ep_record *found);
/*
 * The same, reading only the record the index names for the interface
 * (its netns cookie and ifindex) or the cgroup (its id): what attach looks
 * up, in a time that does not grow with the endpoints there are.
 */
int dp_find_iface_record(struct nf_dp *dp, uint64_t cookie, uint32_t ifindex,
			 bool (*match)(const struct nf_ep_record *, const void *), const void *arg,
			 struct nf_ep_record *found);
int dp_find_cgroup_record(struct nf_dp *dp, uint64_t cgroup_id,
			  bool (*match)(const struct nf_ep_record *, const void *), const void *arg,
			  struct nf_ep_record *found);
void dp_ep_addrs_remove(struct nf_dp *dp, const struct nf_ep_record *r,
			const struct nf_cidr *addrs, size_t n, const struct nf_cidr *keep,
			size_t n_keep);
void dp_ct_purge(struct nf_dp *dp, __u64 scope, __u32 ifindex);
/*
 * Every entry of map fd, a batch at a time: fn(keys, vals, n, ctx) for each
 * batch of n. In a hash map fn may update or delete what it was given (the
 * batch cursor is a bucket); in a map whose batch continues from its last
 * key (an LPM trie) a delete sends the next batch back to the start. 0, or
 * -errno of the lookup (a map without batches), or fn's nonzero return
 * (which stops the scan).
 */
int dp_map_scan(int fd, size_t key_size, size_t val_size,
		int (*fn)(void *keys, void *vals, __u32 n, void *ctx), void *ctx);
int dp_detach_record(struct nf_dp *dp, const struct nf_ep_record *r);

/*
 * One rtnetlink dump of req (NLM_F_DUMP set) in this thread's netns:
 * fn(nh, ctx) for every message of that type until NLMSG_DONE. strict:
 * NETLINK_GET_STRICT_CHK, without which the kernel ignores the request's
 * filters (an ifindex). 0, the kernel's error, or fn's nonzero return.
 */
struct nlmsghdr;
int dp_nl_dump(const struct nlmsghdr *req, bool strict, uint16_t type,
	       int (*fn)(const struct nlmsghdr *nh, void *ctx), void *ctx);

/*
 * SPEC §10.3: an endpoint change in progress (NF_STORE_PENDING/<ep_id>),
 * marked before its first step and unmarked after its last. A command
 * killed in between leaves the mark, and the next one to take the node
 * lock finishes the change (dp__reconcile): an attach is completed (both
 * directions, every hook) or, if its interface or cgroup is gone, undone; a
 * detach is completed. Never a record without its programs, nor programs
 * half attached.
 */
enum dp_intent { DP_INTENT_ATTACH, DP_INTENT_DETACH };
int dp_intent_begin(uint32_t ep_id, enum dp_intent what);
void dp_intent_end(uint32_t ep_id);
/* Test-only: NETFENCE_TEST_STOP_AT=<point> stops the process (SIGSTOP) at
 * that point, so that a test can kill -9 it exactly there. */
void dp_test_stop_at(const char *point);

/* ---- tc.c ---- */
/* r's programs off its attach point: 0 (also when the attach point is
 * gone), or -errno while they may still be there. */
int dp_tc_detach_record(struct nf_dp *dp, const struct nf_ep_record *r);
void dp_guard_detach(struct nf_dp *dp, const struct nf_ep_record *r);

int dp_tcx_attach(int ifindex, __u32 type, int prog_fd, __u32 flags, int replace_fd);

/* ---- cgroup.c ---- */
void dp_cg_detach_progs(struct nf_dp *dp, const char *dir);

#endif /* NETFENCE_DP_INTERNAL_H */
