/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fixture for BPF_PROG_TEST_RUN tests of the datapath: a private (unpinned)
 * instance of the real BPF object, endpoints registered straight into its
 * maps, policies applied from JSON through the real parser, compiler and
 * installer, packets run through the programs, and the drop/allow counters
 * of nf_stats read back (per-CPU values summed).
 *
 * Nothing here touches the node's pinned netfence state: every map belongs
 * to the private instance and goes away with dpt_close().
 *
 * The functions return 0 or -errno (no cmocka asserts), so any test binary
 * can use them.
 */
#ifndef NF_TEST_DP_TEST_H
#define NF_TEST_DP_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netfence/abi.h>
#include "datapath.h"

/* Program return values (bpf/lib/consts.h). */
#define DPT_TC_OK   0
#define DPT_TC_SHOT 2
#define DPT_CG_PASS 1
#define DPT_CG_DROP 0

/* "No counter may change" in place of a reason. */
#define DPT_NO_COUNT 0xFF

struct dpt {
	struct nf_dp *dp;
	uint64_t netns_cookie; /* of this process's netns: the test endpoint's key */
	int n_cpus;
};

/*
 * True when this process may load BPF programs (CAP_BPF or CAP_SYS_ADMIN in
 * its effective set); tests skip otherwise.
 */
bool dpt_can_bpf(void);

/* Load a private datapath. Returns 0 or -errno. */
int dpt_open(struct dpt **out);
void dpt_close(struct dpt *f);

/* Id of tenant `name`, created if new; 0 on failure. */
uint32_t dpt_tenant(struct dpt *f, const char *name);

/*
 * Register an interface endpoint {this netns, ifindex} for tenant, with
 * endpoint id ep_id and NF_EPF_* flags, as dp__attach_iface would (maps
 * only: nothing is attached anywhere).
 */
int dpt_add_endpoint(struct dpt *f, uint32_t ifindex, uint32_t tenant_id, uint32_t ep_id,
		     uint32_t flags);
/* Add an anti-spoofing address (text, IPv4 or IPv6) of endpoint ep_id. */
int dpt_add_ep_addr(struct dpt *f, uint32_t ep_id, const char *addr);

/*
 * Compile every NetworkPolicy for `tenant` found in json (one object, or a
 * List / NetworkPolicyList; Tenant objects are ignored), with the cluster
 * policies in it (SPEC §13) whose subject selects the tenant's endpoints
 * (namespaces by the name label; pods: an endpoint without labels), and
 * install it as the tenant's whole policy (replacing what it had). json must
 * be valid: problems are printed on stderr and give -EINVAL.
 */
int dpt_apply_json(struct dpt *f, const char *tenant, const char *json);

/*
 * SPEC §12: compile the MultiNetworkPolicies of `tenant` for network key
 * `key` ("namespace/name") found in json and install them as that
 * network's rule set, in its own slot (created if new: *slot gets its id).
 */
int dpt_apply_network_json(struct dpt *f, const char *tenant, const char *key, const char *json,
			   uint32_t *slot);
/* Set the policy slot of endpoint {this netns, ifindex} (0: its tenant's). */
int dpt_set_policy_id(struct dpt *f, uint32_t ifindex, uint32_t policy_id);

/* Map cidr text ("10.1.0.0/16", "fd00::1/128": the prefix length is required)
 * to identity id in the ipcache. */
int dpt_ipcache(struct dpt *f, const char *cidr, uint32_t id);

/*
 * Run prog_fd once on data (a frame with its Ethernet header; cgroup_skb
 * programs see it from the IP header on) with skb->ifindex = ifindex.
 * Returns 0 and *retval, or -errno from BPF_PROG_TEST_RUN.
 */
int dpt_run(struct dpt *f, int prog_fd, const void *data, size_t len, uint32_t ifindex,
	    uint32_t *retval);

/* The metric name of an enum nf_reason ("admin_denied"), "nothing" for DPT_NO_COUNT. */
const char *dpt_reason_name(uint8_t reason);

/* Summed (all CPUs) counter of (tenant, dir, reason, hook); zero if absent. */
int dpt_counter(struct dpt *f, uint32_t tenant_id, uint8_t dir, uint8_t reason, uint8_t hook,
		struct nf_counter *out);

/* Every nf_stats entry, summed over CPUs: a snapshot to diff. */
struct dpt_stat {
	struct nf_stats_key key;
	struct nf_counter val;
};

struct dpt_stats {
	struct dpt_stat *v;
	size_t n;
};

int dpt_stats_read(struct dpt *f, struct dpt_stats *out);
void dpt_stats_free(struct dpt_stats *s);

/*
 * Compare two snapshots: returns 0 when the only change is `packets` more
 * packets (and `bytes` more bytes, unless bytes is -1) on key `want`, and
 * nothing else changed (packets == 0: nothing at all changed). Otherwise
 * returns -1 and writes a description of every difference into msg.
 */
int dpt_stats_expect(const struct dpt_stats *before, const struct dpt_stats *after,
		     const struct nf_stats_key *want, uint64_t packets, int64_t bytes, char *msg,
		     size_t msg_len);

/*
 * Set nf_config.ct_tenant_max (tracked connections per tenant, SPEC §3.13),
 * as NETFENCE_CT_TENANT_MAX does. Returns 0 or -errno.
 */
int dpt_set_ct_tenant_max(struct dpt *f, uint32_t max);

/* Set nf_config.events_per_sec (drop events per CPU per second, 0: none). */
int dpt_set_events_per_sec(struct dpt *f, uint32_t per_sec);
/*
 * Read every drop event waiting in nf_events: the first max of them into
 * out, how many there were into *n (may be NULL). Returns 0 or -errno.
 */
int dpt_events_drain(struct dpt *f, struct nf_event *out, size_t max, size_t *n);

/* Young connections' slots held (struct nf_young_slot, bpf/lib/young.bpf.h),
 * and the first of them (its index, -1 if none). The dpt_ct_* functions see
 * nf_ct only, after moving every young connection there (dp__young_flush). */
size_t dpt_young_held(struct dpt *f);
int dpt_young_first(struct dpt *f, struct nf_young_slot *out);
/* Make every held young slot look jiffies older (its born; not its entry). */
void dpt_young_age(struct dpt *f, uint32_t jiffies);
/* nf_ct_tally's count at a young index (abi.h). */
int32_t dpt_tally(struct dpt *f, uint32_t idx);
/* nf_ct's entries, young connections not moved there first. */
size_t dpt_ct_count_raw(struct dpt *f);
/* Empty the per-flow state maps (conntrack, young connections, flow cache,
 * closed connections, fragments, peer and verdict caches). */
void dpt_flush_flows(struct dpt *f);
/* Empty the flow cache (struct nf_fc_slot), as time or a policy_gen bump would. */
void dpt_fc_clear(struct dpt *f);
/* Make every flow cache slot that holds a flow `jiffies` older (negative: younger). */
void dpt_fc_age(struct dpt *f, int64_t jiffies);
/* How many flow cache slots hold a flow, all CPUs together. */
size_t dpt_fc_held(struct dpt *f);
/* Empty nf_ct_closed (the recently closed connections), as a policy_gen bump would. */
void dpt_closed_clear(struct dpt *f);
/* Make every recently closed connection `jiffies` older (negative: younger). */
void dpt_closed_age(struct dpt *f, int64_t jiffies);
/* How many recently closed connections nf_ct_closed holds. */
size_t dpt_closed_held(struct dpt *f);
/* The first slot of nf_ct_closed holding a close (into *out): its index, or -1. */
int dpt_closed_first(struct dpt *f, struct nf_closed_slot *out);

/*
 * Whether nf_ct holds an entry for this tuple, oriented from the endpoint
 * (local/remote, 16-byte addresses, ports in host order), whatever else
 * scopes the key.
 */
bool dpt_ct_has(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
		const uint8_t raddr[16], uint16_t rport);
/*
 * The nf_ct entry of that tuple (as dpt_ct_has finds it): its value into
 * *val (dpt_ct_get), or *val written over it (dpt_ct_set). 0 or -ENOENT.
 */
int dpt_ct_get(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
	       const uint8_t raddr[16], uint16_t rport, struct nf_ct_val *val);
int dpt_ct_set(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
	       const uint8_t raddr[16], uint16_t rport, const struct nf_ct_val *val);
/* Delete the tuple's entry and nothing else (the flow cache is left as it is),
 * as the datapath on another CPU ending the flow would. 0 or -ENOENT. */
int dpt_ct_del_raw(struct dpt *f, uint8_t proto, const uint8_t laddr[16], uint16_t lport,
		   const uint8_t raddr[16], uint16_t rport);
/* Number of nf_ct entries. */
size_t dpt_ct_count(struct dpt *f);

#endif /* NF_TEST_DP_TEST_H */
