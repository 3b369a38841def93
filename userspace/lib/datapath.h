/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The datapath as userspace sees it: the pinned programs and maps under
 * NF_PIN_ROOT, loading them on demand, tenants, endpoints (interfaces and
 * cgroups), atomic policy install, and the node lock.
 *
 * All functions return 0 or -errno and log a message saying what failed.
 * Implemented in userspace/lib/dp/, one file per concern (dp/dp_internal.h).
 */
#ifndef NETFENCE_DATAPATH_H
#define NETFENCE_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netfence/abi.h>
#include "compile.h"
#include "policy.h"	/* networks */

#include "store.h"	/* NF_RUN_DIR and its layout */

#define NF_LOCK_FILE	NF_RUN_DIR "/lock"
#define NF_EP_DIR	NF_STORE_ENDPOINTS	/* endpoint records, <ep_id>.json */

/*
 * The maps of the BPF object (bpf/lib/maps.bpf.h) that userspace uses, listed
 * once: X(id, BPF map name, usage label). The loader opens (and finds in a
 * freshly loaded object) each by its name, dp__map_fd() returns it by id, and
 * metrics__collect() reports the entries and capacity of those with a usage
 * label (NULL: not reported), in this order. Every map of the object is
 * pinned, listed here or not (nf_ev_bucket is the BPF side's own).
 */
#define NF_MAPS(X)                                                \
	X(NF_MAP_TENANTS, "nf_tenants", "tenants")                \
	X(NF_MAP_POLICY, "nf_policy", "policy")                   \
	X(NF_MAP_PORTS, "nf_ports", "ports")                      \
	X(NF_MAP_IPCACHE, "nf_ipcache", "ipcache")                \
	X(NF_MAP_ENDPOINTS, "nf_endpoints", "endpoints")          \
	X(NF_MAP_CG_ENDPOINTS, "nf_cg_endpoints", "cg_endpoints") \
	X(NF_MAP_EP_ADDRS, "nf_ep_addrs", "ep_addrs")             \
	X(NF_MAP_CT, "nf_ct", "ct")                               \
	X(NF_MAP_PEER_CACHE, "nf_peer_cache", "peer_cache")       \
	X(NF_MAP_VERDICTS, "nf_verdicts", "verdicts")             \
	X(NF_MAP_FRAGS, "nf_frags", "frags")                      \
	X(NF_MAP_STATS, "nf_stats", "stats")                      \
	X(NF_MAP_FLOWS, "nf_flows", NULL)                         \
	X(NF_MAP_CONFIG, "nf_config", NULL)                       \
	X(NF_MAP_EVENTS, "nf_events", NULL)                       \
	X(NF_MAP_EVENTS_LOST, "nf_events_lost", NULL)             \
	X(NF_MAP_USAGE, "nf_usage", NULL)                         \
	X(NF_MAP_GC, "nf_gc", NULL)                               \
	X(NF_MAP_GUARD, "nf_guard", NULL)                         \
	X(NF_MAP_GUARDED_NS, "nf_guarded_ns", NULL)               \
	X(NF_MAP_FLOW_CACHE, "nf_flow_cache", NULL)               \
	X(NF_MAP_CT_CLOSED, "nf_ct_closed", NULL)               \
	X(NF_MAP_CT_YOUNG, "nf_ct_young", NULL)                 \
	X(NF_MAP_CT_TALLY, "nf_ct_tally", NULL)

/* The programs userspace attaches or runs: X(id, BPF program name). */
#define NF_PROGS(X)                                     \
	/* on the endpoint's own interface */           \
	X(NF_PROG_TC_INGRESS, "tc_ingress")             \
	X(NF_PROG_TC_EGRESS, "tc_egress")               \
	/* on the host-side peer of its veth, both hooks */ \
	X(NF_PROG_TC_PEER, "tc_peer")                   \
	/* starts the sweep of expired entries */       \
	X(NF_PROG_GC_START, "nf_gc_start")              \
	/* moves young connections into nf_ct */       \
	X(NF_PROG_YOUNG_FLUSH, "nf_young_flush")        \
	/* on a macvlan endpoint's parent */            \
	X(NF_PROG_TC_GUARD_INGRESS, "tc_guard_ingress") \
	X(NF_PROG_TC_GUARD_EGRESS, "tc_guard_egress")   \
	X(NF_PROG_CG_INGRESS, "cg_ingress")             \
	X(NF_PROG_CG_EGRESS, "cg_egress")               \
	X(NF_PROG_CG_CONNECT4, "cg_connect4")           \
	X(NF_PROG_CG_CONNECT6, "cg_connect6")           \
	X(NF_PROG_CG_SENDMSG4, "cg_sendmsg4")           \
	X(NF_PROG_CG_SENDMSG6, "cg_sendmsg6")           \
	/* refuses raw IP sockets in fenced cgroups */  \
	X(NF_PROG_CG_SOCK_CREATE, "cg_sock_create")

#define NF_LIST_ID(id, ...) id,
enum nf_map_id { NF_MAPS(NF_LIST_ID) NF_MAP__COUNT };
enum nf_prog_id { NF_PROGS(NF_LIST_ID) NF_PROG__COUNT };
#undef NF_LIST_ID

/* Map fds of one datapath instance by id (pinned, private, or a test's own
 * maps); -1: not open. */
struct nf_maps {
	int fd[NF_MAP__COUNT];
};

/* One open datapath (opaque): its map and program fds, the mmapped tenant
 * table, and where its key records are. */
struct nf_dp;

/*
 * Open the pinned datapath; if it is not there and `load` is true, mount bpffs
 * if needed, load the BPF object, pin everything and return it. Returns
 * -ENOENT when not loaded and load is false.
 */
int dp__open(struct nf_dp **out, bool load);
/*
 * 0 when the NETFENCE_* settings in the environment (NETFENCE_ALLOW_HOST_INGRESS,
 * NETFENCE_TC_HOOK, NETFENCE_CT_TENANT_MAX) are valid or unset; -EINVAL, after saying which is not.
 * dp__open(.., true) checks them too, before it changes anything.
 */
int dp__check_env(void);
/* Load a private (unpinned) instance: for BPF_PROG_TEST_RUN tests and the bench.
 * bench: rodata knobs, 0 or DP_BENCH_*. */
#define DP_BENCH_NO_CT_INSERT	  1u	/* repeated runs of a packet stay "new flow" */
#define DP_BENCH_NO_VERDICT_CACHE 2u	/* ...and take the full verdict every time */
int dp__open_private(struct nf_dp **out, unsigned int bench);
void dp__close(struct nf_dp *dp);
bool dp__is_loaded(void);

/* The fds of an open datapath's maps and programs (owned by dp). */
int dp__map_fd(const struct nf_dp *dp, enum nf_map_id id);
int dp__prog_fd(const struct nf_dp *dp, enum nf_prog_id id);
/*
 * Move every young connection's entry (struct nf_young_slot) into nf_ct,
 * where userspace reads and writes them: before a scan of nf_ct, a purge, an
 * upgrade's carry-over. Entries the datapath makes after it are its own
 * (as nf_ct's new entries during a scan are). 0 or -errno.
 */
int dp__young_flush(const struct nf_dp *dp);
/* All map fds, for metrics__collect(). */
const struct nf_maps *dp__maps(const struct nf_dp *dp);
/* Where the tenants' key records and rule names are (NF_RUN_DIR/tenants, or
 * a private instance's own directory). */
const char *dp__tenant_dir(const struct nf_dp *dp);

/* ---- version and upgrade (SPEC §10.1, dp/upgrade.c) ---- */
/* What is loaded (nf_meta; version 0 and build "unrecorded" for a datapath
 * loaded before versions were recorded); -ENOENT when nothing is. */
int dp__meta(struct nf_meta *m);
/* What this build would load. */
void dp__meta_self(struct nf_meta *m);
struct nf_upgrade_opts {
	bool dry_run;		/* say what would be done, change nothing */
	bool allow_downgrade;	/* replace a newer datapath too */
	bool verbose;		/* say what is done on stdout */
	bool complete;		/* this build's, but pins are missing: load what is */
};
/*
 * Replace the loaded datapath by this build's in place: maps of unchanged
 * layout reused, changed ones carried over, every endpoint's programs
 * replaced hook by hook, pins switched last. Takes the node lock. 0 when
 * done or already this build's; -EPROTO (said) when the loaded one is newer
 * and !allow_downgrade. dp__open(.., true) does the same implicitly.
 */
int dp__upgrade(const struct nf_upgrade_opts *o);

/*
 * Node lock (flock on NF_LOCK_FILE), held by every state-changing command.
 * Refused (-EPROTO, said) when the loaded datapath is newer than this build,
 * and (-ESTALE, said) when it was replaced since this process opened it.
 */
int dp__lock(void);
/* The same without waiting: -EWOULDBLOCK (quietly) while another holds it. */
int dp__trylock(void);
void dp__unlock(int fd);

/* Mount bpffs at /sys/fs/bpf if it is not; find the cgroup v2 mount. */
int dp__ensure_bpffs(void);
int dp__cgroup2_root(char *buf, size_t len);

/* ---- tenants ---- */
/* Find a tenant id by name; create it (lowest free id) if create. 0 = none. */
uint32_t dp__tenant_id(struct nf_dp *dp, const char *name, bool create);
/* Free an id nothing refers to (no policy entry, endpoint or address names
 * it): one just created by an operation that then failed. */
void dp__tenant_forget(struct nf_dp *dp, uint32_t id);
/*
 * SPEC §10.2: free a tenant nothing refers to (no stored object, no endpoint,
 * no selector naming it: the caller checks): every entry it owns, in both
 * parities, its counters, flows, identities and records. The id may be
 * reused; its epoch goes on rising, so nothing of the old tenant counts for
 * the next one.
 */
int dp__tenant_reclaim(struct nf_dp *dp, uint32_t id);
/* Remove the entries of the parity not in force of the tenants that flipped
 * more than a second ago (no packet can still use them; each flip leaves a
 * mark, so only those tenants are visited); how many were done. Node lock
 * held. */
int dp__sweep_old_parity(struct nf_dp *dp);
int dp__tenant_name(struct nf_dp *dp, uint32_t id, char *buf, size_t len);
int dp__tenant_info(struct nf_dp *dp, uint32_t id, struct nf_tenant_info *out);

/*
 * Install compiled tables for c->tenant_id atomically: remove the tenant's
 * entries of the parity not in force (the previous policy's), write the new
 * trie and port entries under that parity, then flip the tenant's epoch with
 * one store (see struct nf_policy_key). On any error before the flip,
 * everything new is removed and the old policy stays.
 * c->epoch must be the tenant's current epoch + 1.
 */
int dp__install_policy(struct nf_dp *dp, const struct nf_compiled *c);
/* Remove the tenant's policy: flip to a parity without entries (deny all).
 * The tenant keeps its id. */
int dp__remove_policy(struct nf_dp *dp, uint32_t tenant_id);

/* ---- rule sets (SPEC §12, struct nf_tenant_info in abi.h) ---- */
/* The slot name of tenant_id's rule set for network key `key` ("<id>/<key>",
 * or "<id>/#<hash>" when that does not fit NF_TENANT_NAME_LEN). */
void dp__ruleset_name(uint32_t tenant_id, const char *key, char *buf, size_t len);
/* The id of that rule set's slot; create: allocate it (flagged
 * NF_TIF_RULESET) if there is none. 0: none (or no free id). */
uint32_t dp__ruleset_id(struct nf_dp *dp, uint32_t tenant_id, const char *key, bool create);
/* Whether id is a rule set's slot; *owner (may be NULL) gets its tenant's id. */
bool dp__is_ruleset(struct nf_dp *dp, uint32_t id, uint32_t *owner);
/* The policy slot of an endpoint of tenant (id and name) on `network` (""
 * is NF_NETWORK_DEFAULT): its network's rule set, or 0 (the tenant's own). */
uint32_t dp__endpoint_policy_id(struct nf_dp *dp, uint32_t tenant_id, const char *tenant,
				const char *network);

struct nf_ep_record;
struct nf_ruleset_ref {
	const char *key;	/* network key ("namespace/name") */
	uint32_t id;		/* its slot */
};
/*
 * After a tenant's rule sets were installed: point each of its interface
 * endpoints (map entry and record) at the rule set of its network among
 * sets[0..n), or at the tenant's own rules (0); the tracked flows of an
 * endpoint that moves are marked so that their next packet is judged again
 * by its new rules (revocation, SPEC §3.5). Then every rule set slot of the
 * tenant not in sets is flipped to deny and freed. Idempotent: recovery
 * and roll-back run it again. Node lock held.
 */
int dp__rulesets_sync(struct nf_dp *dp, uint32_t tenant_id, const char *tenant,
		      const struct nf_ruleset_ref *sets, size_t n);
/*
 * The same, with each endpoint's slot chosen by want(record, ctx) (0: the
 * tenant's own), one of sets[].id (SPEC §11: by labels as well as network).
 */
int dp__rulesets_sync_by(struct nf_dp *dp, uint32_t tenant_id, const char *tenant,
			 const struct nf_ruleset_ref *sets, size_t n,
			 uint32_t (*want)(const struct nf_ep_record *r, void *ctx), void *ctx);

/* SPEC §11: tracked flows with a peer among addrs are judged again on their
 * next packet (their peer's identity changed). Lock held. */
void dp__ct_rejudge_peers(struct nf_dp *dp, const struct nf_cidr *addrs, size_t n);

/* ---- ipcache ---- */
int dp__ipcache_set(struct nf_dp *dp, const struct nf_cidr *c, uint32_t id);
int dp__ipcache_del(struct nf_dp *dp, const struct nf_cidr *c);
/* SPEC §11: Pod documents' addresses (see dp/ipcache.c); callers then call
 * dp__ipcache_changed. */
int dp__ipcache_pod_set(struct nf_dp *dp, const uint8_t addr[16], uint32_t ident);
int dp__ipcache_pod_del(struct nf_dp *dp, const uint8_t addr[16], uint32_t tid);
uint32_t dp__ipcache_pod_ident(struct nf_dp *dp, const uint8_t addr[16], uint32_t tid);
bool dp__ipcache_pod_held(struct nf_dp *dp, const uint8_t addr[16], uint32_t tid);
/* After direct ipcache writes: tell the datapath's peer cache (ipc_epoch). */
void dp__ipcache_changed(struct nf_dp *dp);
/* After a change of anything a verdict depends on, outside the functions
 * here that make it themselves (nf_config.policy_gen). */
void dp__verdicts_changed(struct nf_dp *dp);
/*
 * Make the ipcache's node entries (NF_ID_HOST) the addresses of this thread's
 * network namespace: add new ones, remove ones that are gone (dp/hostaddr.c).
 * Every state-changing command calls it under the node lock.
 */
int dp__sync_host_addrs(struct nf_dp *dp);
/*
 * The same for the addresses of n links only (ifindexes in this thread's
 * netns), adding what they have and removing nothing: for a CNI ADD, whose
 * plugins may have just put the node's address for the pod on them (a
 * bridge gateway, a ptp host address). Its cost does not grow with the
 * node's links. Lock held.
 */
int dp__sync_host_addrs_of(struct nf_dp *dp, const int *ifindex, size_t n);
/* serve: a NETLINK_ROUTE socket (non-blocking) subscribed to IPv4 and IPv6
 * address events of this netns, or -errno. */
int nf_hostaddr_watch_open(void);
/* Read everything queued; true when any event (or an overflow) was seen. */
bool nf_hostaddr_watch_drain(int fd);

/* ---- interface endpoints ---- */
struct nf_iface_ep {
	char netns[256];	/* netns path, "" = current */
	char ifname[32];
	uint32_t tenant_id;
	struct nf_cidr *addrs;	/* /32 or /128 host addresses (plen 128) */
	size_t n_addrs;
	char owner[128];	/* e.g. CNI "containerid/ifname", "" for CLI */
	uint32_t flags;		/* NF_EPF_*: NF_EPF_DENY_ALL quarantines an unattached interface */
	char network[NF_NETWORK_KEY_LEN];	/* SPEC §12; "" is NF_NETWORK_DEFAULT */
	uint32_t policy_id;	/* apply__endpoint_context() of tenant, network and pod */
	char pod[254];		/* SPEC §11: its Pod's name, "" if not given */
	uint32_t ident;		/* the identity its addresses carry (0: the tenant's) */
};

/* Owner of the endpoints `serve` creates for unattached interfaces it finds in
 * a fenced workload's network namespace (flags NF_EPF_DENY_ALL, SPEC §3.11). */
#define NF_OWNER_UNFENCED "netfence-serve:unfenced"

/* Register the endpoint (maps first, so it is fenced from the first packet)
 * and attach tc ingress+egress inside its netns. If n_addrs == 0, the
 * interface's current addresses are used. Idempotent for the same iface. */
int dp__attach_iface(struct nf_dp *dp, const struct nf_iface_ep *ep);
/* Detach and forget. Succeeds if the netns, the interface or the endpoint is gone. */
int dp__detach_iface(struct nf_dp *dp, const char *netns, const char *ifname);
/* 0 if the endpoint is registered and both tc programs are attached, -ENOENT otherwise. */
int dp__check_iface(struct nf_dp *dp, const char *netns, const char *ifname);

/* Which hook an interface endpoint's programs run at, asked of the kernel:
 * "tcx", "clsact", "tcx+clsact" (a move between them, or a mix), "none", or
 * "unknown" (its attach point is gone or out of reach). */
const char *dp__iface_hook(struct nf_dp *dp, const struct nf_ep_record *r);
/* The endpoint's programs moved from clsact to tcx (serve, node lock held):
 * 1 moved, 0 on tcx already; -EOPNOTSUPP: no tcx in this kernel; -ENOENT:
 * its attach point is gone or runs none of them. Enforced throughout (tc.c). */
int dp__promote_tcx(struct nf_dp *dp, const struct nf_ep_record *r);
/* After the move (serve, node lock held), the clsact qdisc the endpoint's
 * attach made removed when nothing is on it and the interface transmitted
 * nothing since *tx, the caller's last sample (UINT64_MAX: none yet).
 * 1 removed; 0 nothing of ours to remove; -EAGAIN: *tx is the new sample,
 * ask again later (tc.c). */
int dp__clsact_tidy(struct nf_dp *dp, const struct nf_ep_record *r, uint64_t *tx);

/* ---- cgroup endpoints ---- */
/* The id the kernel gives the cgroup at dir (its kernfs file handle): the
 * key of nf_cg_endpoints, as bpf_skb_ancestor_cgroup_id() returns it. */
int dp__cgroup_id(const char *dir, uint64_t *id);
int dp__attach_cgroup(struct nf_dp *dp, const char *dir, uint32_t tenant_id);
int dp__detach_cgroup(struct nf_dp *dp, const char *dir);

/* ---- endpoint registry (/run/netfence/endpoints) ---- */
struct nf_ep_record {
	uint32_t ep_id;
	uint32_t tenant_id;
	bool is_cgroup;
	char netns[256];	/* iface: netns path ("" = host) */
	char ifname[32];
	uint32_t ifindex;
	uint64_t netns_cookie;
	char cgroup[512];	/* cgroup: directory */
	uint64_t cgroup_id;
	char owner[128];	/* CNI: "containerid/ifname" */
	/* Where an interface endpoint's programs run and its map key points
	 * (SPEC §3.11): the host-side peer of its veth, or the interface. */
	bool attach_peer;
	char attach_netns[256];	/* the peer's netns path ("" = host) */
	char attach_ifname[32];
	uint32_t attach_ifindex;
	uint64_t attach_cookie;
	/* A macvlan's guard on its parent device (struct nf_guard_key). */
	bool guard;
	char guard_netns[256];
	char guard_ifname[32];
	uint32_t guard_ifindex;
	uint64_t guard_cookie;
	uint8_t mac[6];
	uint32_t flags;		/* NF_EPF_* */
	char network[NF_NETWORK_KEY_LEN];	/* its network as given; "" in records of
						 * older builds: NF_NETWORK_DEFAULT */
	uint32_t policy_id;	/* struct nf_endpoint.policy_id */
	/* SPEC §11: the Pod it is ("" : none given; then linked by address), and
	 * the identity its addresses carry in the ipcache (NF_IDENT; 0: the
	 * tenant's, no labels). */
	char pod[254];
	uint32_t ident;
	/* The clsact qdisc of the attach point was created by this endpoint's
	 * attach (not another tool's): serve may remove it once the endpoint is
	 * on tcx and nothing else is on it (dp__clsact_tidy). */
	bool qdisc_ours;
};
/* The nf_endpoints key of an interface endpoint (where its programs run):
 * the scope and ifindex its conntrack entries, counters and events carry. */
void dp__ep_key(const struct nf_ep_record *r, struct nf_ep_key *k);
int dp__list_endpoints(struct nf_dp *dp, struct nf_ep_record **out, size_t *n);
/* The addresses of endpoint ep_id (from its record); *addrs malloc'd. */
int dp__endpoint_addrs(uint32_t ep_id, struct nf_cidr **addrs, size_t *n);
/* SPEC §11: the identity the endpoint's addresses carry in the ipcache (its
 * pod's label set), in the ipcache and its record. Lock held. */
int dp__endpoint_set_ident(struct nf_dp *dp, uint32_t ep_id, uint32_t ident);
/* The interface endpoint a CNI owner ("containerid/ifname") added, from the
 * index: 0 and *found; -ENOENT: none indexed (a record of a build before
 * the owner index has no entry until the index is rebuilt: callers that
 * must not miss one scan, see netfence-cni's DEL); -EINVAL: an owner the
 * index cannot name (a container id outside the CNI spec's characters). */
int dp__find_owner_record(struct nf_dp *dp, const char *owner, struct nf_ep_record *found);
/* Detach (if still attached) and forget one endpoint by id; 0 if already gone. */
int dp__detach_endpoint(struct nf_dp *dp, uint32_t ep_id);
/* used[id] = true for every tenant id with an endpoint (interface or
 * cgroup), read from the maps; used has NF_MAX_TENANTS entries. Lock held. */
int dp__tenants_with_endpoints(struct nf_dp *dp, bool *used);
/* Endpoint changes a killed command left half done (SPEC §10.3): true if
 * any; dp__reconcile (node lock held; dp__lock does it) finishes them. */
bool dp__changes_pending(void);
void dp__reconcile(struct nf_dp *dp);

/* ---- everything ---- */
int dp__reset(void);

/* Allocate an endpoint id not used by any record (lock held). */
uint32_t dp__alloc_ep_id(struct nf_dp *dp);
/* The netns cookie of a netns path ("" = this process's netns). */
int dp__netns_cookie(const char *netns, uint64_t *cookie);

#endif /* NETFENCE_DATAPATH_H */
