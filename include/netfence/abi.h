/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * netfence kernel/userspace ABI: map keys and values, enums, limits.
 *
 * Compiles both with vmlinux.h (BPF side) and with <linux/types.h> (userspace):
 * UAPI types only.
 *
 * Addresses: every address is 16 bytes. IPv4 is stored v4-mapped
 * (::ffff:a.b.c.d), so an IPv4 /p prefix is a /(96+p) prefix here and IPv4 and
 * IPv6 share every map and every code path.
 *
 * Pins: every map and program is pinned under NF_PIN_ROOT by its name, so
 * enforcement outlives any userspace process.
 */
#ifndef NETFENCE_ABI_H
#define NETFENCE_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NF_PIN_ROOT "/sys/fs/bpf/netfence"

/*
 * The datapath's version: the layout of its maps and the meaning of their
 * entries and programs (SPEC §10.1). Bump it with every change of either;
 * a netfence of a newer version upgrades a loaded datapath in place, an older
 * one refuses to change it. 0 is the datapath loaded before versions were
 * recorded (no nf_meta pin). A layout change appends fields to a value (the
 * upgrade carries entries over with the new fields zeroed) or gives the map
 * a new name.
 *
 * NF_TEST_NEXT_LAYOUT builds the variant the upgrade test moves to: one
 * version up, an nf_ct value with one more field, a program that sets it.
 */
#ifdef NF_TEST_NEXT_LAYOUT
#define NF_DATAPATH_VERSION	10
#else
/*
 * 2: identities with labels (NF_IDENT); 3: tiers (struct nf_class, nf_port_val);
 * 4: the verdict cache (nf_verdicts), policy_gen bumped by every verdict change;
 * 5: the flow cache (nf_flow_cache), policy_gen bumped after every write of
 *    nf_ct by userspace
 * 6: one program for both hooks of a veth's host-side peer (tc_peer, was
 *    tc_peer_ingress and tc_peer_egress)
 * 7: nf_flow_cache one ARRAY of every CPU's slots (was a PERCPU_ARRAY)
 * 8: nf_ct_closed a shared region and one per CPU, nf_ct_closed_cpu
 * 9: young connections (nf_ct_young, nf_young_flush), NF_CT_YOUNG
 */
#define NF_DATAPATH_VERSION	9
#endif

/*
 * Private instances only (tests, bench: tc_peer_cb in tc_peer's place): the
 * hook a BPF_PROG_TEST_RUN of tc_peer stands for, in the ctx's
 * cb[NF_TEST_HOOK_CB]. Attached, tc_peer reads the kernel's tc_at_ingress.
 */
#define NF_TEST_HOOK_CB		0
#define NF_TEST_HOOK_INGRESS	1
#define NF_TEST_HOOK_EGRESS	2

/* ---- nf_meta: ARRAY[1], what is loaded; written once, pinned last ---- */
struct nf_meta {
	__u32 version;		/* NF_DATAPATH_VERSION */
	__u32 pad;
	__u64 object_hash;	/* a digest of the BPF object: the build of the datapath */
	char build[48];		/* the netfence version that loaded it (git describe) */
};

/* Limits (map sizes). */
#define NF_MAX_TENANTS		4096	 /* tenant ids 1..4095 */
#define NF_MAX_ENDPOINTS	65536
#define NF_MAX_EP_ADDRS		(NF_MAX_ENDPOINTS * 4)
#define NF_MAX_IPCACHE		131072
#define NF_MAX_TRIE_ENTRIES	1048576	 /* nf_policy, all tenants, both parities */
#define NF_MAX_PORT_ENTRIES	1048576	 /* all tenants, old+new during a swap */
#define NF_MAX_CT		262144
#define NF_MAX_PEER_CACHE	65536
#define NF_MAX_VERDICTS		65536
#define NF_MAX_FRAGS		8192
#define NF_MAX_STATS		(NF_MAX_TENANTS * 16)
#define NF_RINGBUF_BYTES	(256 * 1024)
#define NF_TENANT_NAME_LEN	64	 /* DNS-1123 label: 63 chars + NUL */

/* Tenant id 0 means "none/unknown" (drops counted before an endpoint is found). */
#define NF_TENANT_NONE		0
/* ipcache identity of the node's own addresses. */
#define NF_ID_HOST		0xFFFFFFFFu
/* rule_ref of a flow allowed as ingress from the node itself
 * (NF_CFG_ALLOW_HOST_INGRESS), not by a rule: nf_ct_val.rule_ref can hold it. */
#define NF_RULE_HOST		0xFFFFFFFFu

/*
 * Class ids are global: tenant_id << 20 | parity << 19 | index (index >= 1).
 * parity = epoch & 1. A new compile of a tenant uses the other parity than the
 * one in force, so its port entries never collide with the live ones and the
 * swap (one store of the tenant's epoch, see struct nf_policy_key) is atomic.
 */
#define NF_CLASS_ID(tenant, epoch, idx) \
	(((__u32)(tenant) << 20) | ((((__u32)(epoch)) & 1u) << 19) | ((__u32)(idx) & 0x7FFFFu))
#define NF_CLASS_MAX_INDEX	0x7FFFFu

enum nf_dir {
	NF_DIR_INGRESS = 0,	/* towards the endpoint */
	NF_DIR_EGRESS = 1,	/* from the endpoint */
	NF_DIR_MAX = 2,
};

enum nf_hook {
	NF_HOOK_TC = 0,
	NF_HOOK_CGROUP = 1,
	NF_HOOK_MAX = 2,
};

/* Stats reasons. NF_REASON_ALLOWED_FLOW counts new flows allowed; the rest are drops. */
enum nf_reason {
	NF_REASON_ALLOWED_FLOW = 0,
	NF_DROP_POLICY = 1,	/* policy_denied */
	NF_DROP_SPOOFED = 2,	/* spoofed_source */
	NF_DROP_MALFORMED = 3,	/* malformed */
	NF_DROP_FRAGMENT = 4,	/* fragment */
	NF_DROP_CT_FULL = 5,	/* conntrack_full: the tenant's tracking quota (or the table) is full */
	NF_DROP_ADMIN = 6,	/* admin_denied: an Admin-tier cluster policy's Deny (SPEC §13) */
	NF_DROP_BASELINE = 7,	/* baseline_denied: a Baseline-tier Deny */
	NF_REASON_MAX = 8,
};

/* L4 protocols with port rules, index into nf_class.plen_mask. */
enum nf_l4 {
	NF_L4_TCP = 0,
	NF_L4_UDP = 1,
	NF_L4_SCTP = 2,
	NF_L4_MAX = 3,
};

/*
 * ---- nf_tenants: ARRAY[NF_MAX_TENANTS], key __u32 id; name[0] == 0: free id ----
 * Each id is a policy slot: an epoch (whose parity picks the live entries of
 * nf_policy / nf_ports) and the rules installed under it. A tenant's id is
 * the slot of its NetworkPolicies and the identity, counter and tracking
 * quota key of everything it owns. A rule set (SPEC §12: a tenant's
 * MultiNetworkPolicies for one network) gets a slot of its own, flagged
 * NF_TIF_RULESET and named "<tenant id>/<network key>" (or, when that does
 * not fit, "<tenant id>/#<64-bit FNV-1a of the key, hex>"), so its swap is
 * one store of its own epoch, like a tenant's. Only policy lookups use a
 * rule set's id (struct nf_endpoint.policy_id); counters, identities and
 * quotas stay the tenant's. (The alternative, a network byte in every
 * policy key, would cost nothing per packet either, but would make every
 * network's swap a swap of the whole tenant.)
 */
#define NF_TIF_RULESET		(1u << 0)	/* a rule set's slot, not a tenant */

struct nf_tenant_info {
	__u32 epoch;		/* bumped after every policy swap; parity picks class ids */
	__u32 n_rules[NF_DIR_MAX]; /* compiled allow rules per direction (metrics) */
	__u32 flags;		/* NF_TIF_* */
	char name[NF_TENANT_NAME_LEN];
};

/*
 * The compiler's trie key (userspace/lib/compile.h): one tenant's view.
 * Field order matters: an LPM trie matches data bytes from the first one, so
 * the fields that are always fully matched (dir, kind, pad) come first and
 * prefixlen is always >= NF_PEER_KEY_FIXED_BITS.
 *   kind NF_PEER_ADDR:  data = peer address (v4-mapped for IPv4);
 *                       prefixlen = 32 + address prefix length (0..128).
 *   kind NF_PEER_IDENT: data[0..3] = the peer identity's tenant id, data[4..7]
 *                       its label set index (NF_IDENT_INDEX), both big
 *                       endian, rest zero; prefixlen = 32 + 64 for one
 *                       identity, 32 + 32 for every identity of one tenant
 *                       (those not listed on their own), or exactly 32 for
 *                       "any tenant not listed" (the default identity class).
 *                       The longest prefix is the most specific entry, so
 *                       a pod selector's entry for one label set overrides
 *                       its tenant's, with one lookup.
 */
#define NF_PEER_ADDR		1
#define NF_PEER_IDENT		2
#define NF_PEER_KEY_FIXED_BITS	32

struct nf_peer_key {
	__u32 prefixlen;
	__u8 dir;		/* enum nf_dir */
	__u8 kind;		/* NF_PEER_ADDR | NF_PEER_IDENT */
	__u8 pad[2];		/* zero */
	__u8 data[16];
};

/*
 * ---- nf_policy: LPM_TRIE, every tenant's compiled peers -> struct nf_class ----
 * The key is struct nf_peer_key behind (tenant, parity), both always fully
 * matched: prefixlen = NF_POLICY_KEY_FIXED_BITS + (peer prefixlen - 32).
 * A tenant's live entries are those of parity (epoch & 1). An apply writes
 * the other parity aside, then flips the epoch with one store to nf_tenants:
 * the datapath, which reads the epoch once per packet, sees the old entries
 * or the new ones, never a mix. (A map-in-map swap would do the same, but
 * every outer-map update from userspace waits for an RCU grace period,
 * 6-20 ms here, over the 10 ms replace budget.) The entries of the parity
 * not in force are removed by the tenant's next apply, before it writes.
 * No entry for a peer: nothing allowed (default deny).
 */
#define NF_POLICY_KEY_FIXED_BITS 64

struct nf_policy_key {
	__u32 prefixlen;
	__be32 tenant_id;
	__u8 parity;		/* epoch & 1 */
	__u8 dir;
	__u8 kind;
	__u8 pad;		/* zero */
	__u8 data[16];
};

/*
 * Decisions (SPEC §13). A decision word is a rule_ref (1-based index into the
 * slot's rule table, in low 30 bits) and an action (high 2 bits). The
 * compiler numbers rules in evaluation order: the Admin tier's (by priority,
 * then policy name, then rule order), then the NetworkPolicy tier's, then
 * Baseline's; so of two decisions the one with the lower rule_ref wins.
 * 0: no decision. NF_RULE_HOST is none of these (test it first).
 */
#define NF_RULE_REF_MASK	0x3FFFFFFFu
#define NF_RULE_REF(d)		((d) & NF_RULE_REF_MASK)
#define NF_RULE_ACT(d)		((d) >> 30)
#define NF_RULE_ALLOW		0u	/* Accept (every NetworkPolicy rule) */
#define NF_RULE_PASS		1u	/* Admin Pass: the lower tiers decide */
#define NF_RULE_DENY_ADMIN	2u
#define NF_RULE_DENY_BASELINE	3u
#define NF_RULE_MAKE(ref, act)	(((__u32)(act) << 30) | ((__u32)(ref) & NF_RULE_REF_MASK))

/*
 * Peer class: the set of rules that cover a peer, already merged, so overlaps,
 * `except`, union across rules and policies, and tiers are right by
 * construction. A class gives two decisions for a (proto, port):
 *   adm: the first Admin-tier rule that matches (Accept, Deny or Pass), or 0;
 *   low: a NetworkPolicy-tier rule that matches (when NetworkPolicies select
 *        the endpoint for this direction: Baseline entries are then left
 *        out), else the first Baseline rule that matches, or 0.
 * Lookup: when proto is TCP/UDP/SCTP, for each port prefix length p set in
 * plen_mask[proto] (bit p, p = 0..16, longest first), look up nf_ports
 * {class_id, proto, p, port & mask(p)}: the first hit gives both decisions.
 * Otherwise (no hit, or another protocol such as ICMP) they are any_adm and
 * any_rule (the rules without ports). The compiler leaves out port entries
 * that cannot change the result.
 * The verdict for a peer with an address class A and an identity class I:
 * adm = the lower of A.adm, I.adm; an Accept or Deny there decides; else
 * (none, or Pass) low = the lower of A.low, I.low decides; 0 is default deny.
 * tiered == 0 says the class has no Admin or Baseline decision at all: an
 * Accept of the other class then needs no comparison with it.
 */
struct nf_class {
	__u32 class_id;		/* 0: no port entries */
	__u32 any_rule;		/* low decision for every port without an entry */
	__u32 plen_mask[NF_L4_MAX];
	__u32 any_adm;		/* adm decision for every port without an entry */
	__u32 tiered;
};

/* ---- nf_ports: HASH, key struct nf_port_key -> struct nf_port_val ---- */
struct nf_port_key {
	__u32 class_id;
	__u8 proto;		/* IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP */
	__u8 plen;		/* 0..16 significant high bits of port */
	__be16 port;		/* network order, masked to plen */
};

struct nf_port_val {
	__u32 rule_ref;		/* the low decision */
	__u32 adm;		/* the adm decision */
};

/*
 * Identities (SPEC §11). An ipcache id is a tenant id (low 12 bits) and the
 * index of a label set within that tenant (high 20 bits). Index 0 is the
 * tenant's addresses without labels (its Tenant CIDRs, endpoints with no Pod
 * document), so the id of a tenant without labels is its tenant id, as before
 * labels existed. NF_ID_HOST (all ones) is no identity: index 0xFFFFF is never
 * given out.
 */
#define NF_IDENT_TENANT_BITS	12
#define NF_IDENT(tenant, idx)	(((__u32)(idx) << NF_IDENT_TENANT_BITS) | ((__u32)(tenant) & 0xFFFu))
#define NF_IDENT_TENANT(id)	((__u32)(id) & 0xFFFu)
#define NF_IDENT_INDEX(id)	((__u32)(id) >> NF_IDENT_TENANT_BITS)
#define NF_IDENT_MAX_INDEX	0xFFFFEu

/* ---- nf_ipcache: LPM trie, address -> identity (NF_IDENT, or NF_ID_HOST) ---- */
struct nf_lpm_addr_key {
	__u32 prefixlen;	/* 0..128 */
	__u8 addr[16];
};

struct nf_ipcache_val {
	__u32 id;		/* identity (NF_IDENT), or NF_ID_HOST for the node's own addresses */
	__u32 flags;
};

/* ---- nf_endpoints: HASH, interface endpoints ---- */
struct nf_ep_key {
	__u64 netns_cookie;	/* SO_NETNS_COOKIE of the interface's netns */
	__u32 ifindex;		/* ifindex inside that netns */
	__u32 pad;		/* zero */
};

#define NF_EPF_NO_SPOOF_CHECK	(1u << 0)
/* Quarantine: an interface found in a fenced workload without being attached
 * (SPEC §3.11): every packet is dropped, ARP and neighbour discovery too. */
#define NF_EPF_DENY_ALL		(1u << 1)

struct nf_endpoint {
	__u32 tenant_id;
	__u32 ep_id;		/* unique per node, scopes conntrack and fragments */
	__u32 flags;		/* NF_EPF_* */
	/*
	 * The slot whose rules judge it: 0 (what every endpoint had before
	 * networks existed) is tenant_id's own; else the rule set of its
	 * network (see nf_tenants). Cgroup endpoints have no network: 0.
	 */
	__u32 policy_id;
};

/* The policy slot of an endpoint or a tracked flow: its rule set's or its tenant's. */
#define NF_POLICY_ID(tenant_id, policy_id)	((policy_id) ? (policy_id) : (tenant_id))

/*
 * ---- nf_guard: HASH, struct nf_guard_key -> struct nf_ep_key ----
 * An endpoint with no host-side peer (macvlan) is judged by programs on its
 * own interface, inside the workload's reach. Its frames to and from the
 * outside also cross its parent device in the node's netns, where the guard
 * programs find the endpoint by MAC (source leaving, destination arriving)
 * and judge the frame again, as the endpoint, with the same conntrack scope.
 */
struct nf_guard_key {
	__u64 netns_cookie;	/* the parent's netns */
	__u32 ifindex;		/* the parent device */
	__u8 mac[6];		/* the endpoint's MAC address */
	__u8 pad[2];
};

/*
 * ---- nf_guarded_ns: HASH, netns cookie -> tenant id ----
 * Workload netns with guarded endpoints: a frame leaving a guard's parent
 * from a socket in one of them, under a MAC that is none of its endpoints',
 * is dropped (spoofed_source).
 */

/* ---- nf_cg_endpoints: HASH, key __u64 cgroup id -> struct nf_endpoint ---- */
#define NF_CGROUP_MAX_DEPTH	16	/* ancestor levels walked to find the fenced cgroup */

/* ---- nf_ep_addrs: HASH, anti-spoofing: the endpoint's own addresses ---- */
struct nf_ep_addr_key {
	__u32 ep_id;
	__u32 pad;
	__u8 addr[16];
};

/*
 * ---- nf_ct: LRU_HASH, connection tracking ----
 * The tuple is oriented from the endpoint's point of view (local/remote), so
 * one lookup finds the flow in both directions; origin_dir tells whether the
 * packet is a forward packet or a reply. ICMP echo: a request is (id -> 0),
 * its reply (0 -> id), so only the reply matches the request's flow.
 * The key is scoped by where the endpoint is (netns cookie + ifindex for tc,
 * fenced cgroup id + 0 for cgroup), not by endpoint id, so a packet of an
 * established flow needs this one hash lookup and no endpoint lookup; the
 * value carries the tenant and the policy slot it was judged by. Entries of an endpoint are purged on detach and
 * when it moves to another tenant; expired ones by a timer in the kernel
 * (bpf/lib/gc.bpf.h). A plain hash, with per-tenant shares (see nf_usage).
 */
struct nf_ct_key {
	__u64 scope_proto;	/* NF_CT_SCOPE_PROTO(scope, L4 protocol) */
	__u32 ifindex;		/* tc: the interface; cgroup: 0 */
	__be16 lport;
	__be16 rport;
	__u8 laddr[16];
	__u8 raddr[16];
};

/*
 * 48 bytes, no padding: the kernel hashes a key three 32-bit words per jhash
 * round, and this size takes a round less than a separate protocol field
 * would (bench: established flow). Scopes never reach the top byte: netns
 * cookies count network namespaces created since boot, cgroup ids count
 * cgroup-id wraps (2^31 cgroups each) in their high half.
 */
#define NF_CT_SCOPE_BITS	56
#define NF_CT_SCOPE_MASK	((1ULL << NF_CT_SCOPE_BITS) - 1)
#define NF_CT_SCOPE_PROTO(scope, proto) \
	(((__u64)(scope) & NF_CT_SCOPE_MASK) | ((__u64)(proto) << NF_CT_SCOPE_BITS))
#define NF_CT_KEY_SCOPE(k)	((k)->scope_proto & NF_CT_SCOPE_MASK)
#define NF_CT_KEY_PROTO(k)	((__u8)((k)->scope_proto >> NF_CT_SCOPE_BITS))

#define NF_CT_SEEN_REPLY	(1u << 0)
#define NF_CT_FIN_ORIG		(1u << 1)
#define NF_CT_FIN_REPLY		(1u << 2)
#define NF_CT_CLOSED		(1u << 3)	/* RST seen, or FIN both ways */
#define NF_CT_YOUNG		(1u << 4)	/* in nf_ct_young, not nf_ct (never in nf_ct) */

struct nf_ct_val {
	__u64 last_seen_ns;	/* jiffies (bpf_jiffies64()) */
	__u32 epoch;		/* tenant epoch when the flow was last judged */
	__u32 rule_ref;		/* rule that allowed the flow */
	__u32 tenant_id;
	__u32 ep_id;
	__u8 origin_dir;	/* enum nf_dir of the first packet */
	__u8 flags;		/* NF_CT_* */
	/* the endpoint's policy_id when judged (0: the tenant's); epoch is that
	 * slot's. Slot ids are < NF_MAX_TENANTS, so 16 bits hold them. */
	__u16 policy_id;
	/*
	 * nf_config.policy_gen when the datapath last found epoch current; 0:
	 * not yet. While it equals policy_gen, no epoch has moved since, and an
	 * established packet passes without reading its tenant's epoch (the fast
	 * path, bpf/netfence.bpf.c). Userspace writing an entry zeroes it, and
	 * bumps policy_gen after its last write of nf_ct (deletes too): the
	 * flow cache (struct nf_fc_slot) holds what an entry said under a gen.
	 */
	__u32 gen;
#ifdef NF_TEST_NEXT_LAYOUT
	__u64 test_next;	/* set by the variant's programs on new entries */
#endif
};

/*
 * ---- nf_verdicts: LRU_HASH, struct nf_verdict_key -> struct nf_verdict_val ----
 * The verdict cache: what the full verdict allowed as the first packet of a
 * TCP or UDP flow on a tc hook, for the next flow between the same two
 * addresses to the same service port (a new connection differs only in its
 * client's port). Everything the verdict depended on (the endpoint behind
 * the key's scope and ifindex, its tenant, rule set, flags and own
 * addresses, the policy epochs, the ipcache, the node-wide flags) moves
 * nf_config.policy_gen when it changes; an entry counts only while its gen
 * equals it. Entries are never changed in place (one update replaces an
 * entry whole), so a reader sees all of one. Only allows are cached.
 */
struct nf_verdict_key {
	__u64 scope_proto;	/* as struct nf_ct_key: NF_CT_SCOPE_PROTO(scope, TCP or UDP) */
	__u32 ifindex;
	__be16 port;		/* the service port: the remote one egress, the local one ingress */
	__u8 dir;		/* enum nf_dir */
	__u8 pad;		/* zero */
	__u8 laddr[16];		/* the endpoint's address (v4-mapped) */
	__u8 raddr[16];		/* the peer's */
};

struct nf_verdict_val {
	__u32 gen;		/* nf_config.policy_gen it was decided under (never 0) */
	__u32 rule_ref;		/* the deciding decision word (nf_ct_val.rule_ref) */
	__u32 tenant_id;
	__u32 ep_id;
	__u32 epoch;		/* the policy slot's epoch */
	__u16 policy_id;	/* as nf_ct_val.policy_id */
	__u8 track;		/* 1: the flow gets a conntrack entry */
	__u8 pad;
};

/* ---- nf_peer_cache: LRU_HASH, peer -> classes, for peers already seen ---- */
struct nf_peer_cache_key {
	__u32 tenant_id;	/* the policy slot: the tenant's id or its rule set's */
	__u32 epoch;		/* the slot's epoch: a swap invalidates its entries */
	__u32 ipc_epoch;	/* nf_config.ipc_epoch: an ipcache change invalidates all */
	__u8 dir;
	__u8 pad[3];
	__u8 addr[16];
};

/*
 * A class as the cache holds it: struct nf_class with its flags in the high
 * bits of plen_mask[0] (the port bits are 0..16), so that the value stays
 * 48 bytes: nf_judge copies it onto a stack it shares with its callers.
 */
#define NF_PC_TIERED	(1u << 31)	/* nf_class.tiered */
#define NF_PC_HOST	(1u << 30)	/* (addr_cls) the peer is the node (NF_ID_HOST) */
#define NF_PC_PORTS	0x1FFFFu	/* the plen_mask bits */

struct nf_peer_class {
	__u32 class_id;
	__u32 any_rule;
	__u32 any_adm;
	__u32 plen_mask[NF_L4_MAX];	/* | NF_PC_* in [0] */
};

struct nf_peer_cache_val {
	struct nf_peer_class addr_cls;	/* all zero: none */
	struct nf_peer_class ident_cls;
};

/* ---- nf_frags: LRU_HASH, fragments follow their first fragment ---- */
struct nf_frag_key {
	__u32 ep_id;
	__u32 id;		/* IPv4 id (16 bit) or IPv6 fragment id */
	__u8 proto;
	__u8 dir;
	__u8 pad[2];
	__u8 saddr[16];
	__u8 daddr[16];
};

struct nf_frag_val {
	__be16 sport;
	__be16 dport;
	__u32 tenant_id;	/* whose share of nf_frags this entry uses */
	__u64 last_seen_ns;	/* jiffies */
};

/*
 * ---- nf_usage: ARRAY[NF_MAX_TENANTS], mmapable: entries each tenant holds ----
 * nf_ct and nf_frags are plain hashes, never LRU: nothing is evicted, so one
 * tenant's flood cannot push out another tenant's flows (SPEC §3.13). A new
 * entry is admitted while its tenant holds fewer than its share
 * (nf_config.ct_tenant_max / frag_tenant_max); every insert that creates an
 * entry adds 1, every delete that removes one (datapath, the in-kernel sweep
 * of expired entries, userspace purges) subtracts 1, atomically.
 */
struct nf_usage {
	__u32 ct;
	__u32 frags;
};

/*
 * ---- nf_flows: PERCPU_ARRAY[NF_FLOWS_ENTRIES] of __u64: new flows allowed ----
 * At NF_FLOWS_INDEX(tenant, dir, hook). An array, so that the counter every
 * new flow moves is an inlined lookup, not a hash's (bench: ~7 ns of a new
 * flow). Datapaths before version 4 counted them in nf_stats under
 * NF_REASON_ALLOWED_FLOW; readers add the two.
 */
#define NF_FLOWS_ENTRIES		(NF_MAX_TENANTS * NF_DIR_MAX * NF_HOOK_MAX)
#define NF_FLOWS_INDEX(tenant, dir, hook)	\
	(((__u32)(tenant) * NF_DIR_MAX + (dir)) * NF_HOOK_MAX + (hook))
/* ...and back, for readers */
#define NF_FLOWS_TENANT(i)	((__u32)(i) / NF_HOOK_MAX / NF_DIR_MAX)
#define NF_FLOWS_DIR(i)		((__u32)(i) / NF_HOOK_MAX % NF_DIR_MAX)
#define NF_FLOWS_HOOK(i)	((__u32)(i) % NF_HOOK_MAX)

/* ---- nf_stats: PERCPU_HASH, key struct nf_stats_key -> struct nf_counter ---- */
struct nf_stats_key {
	__u32 tenant_id;
	__u8 dir;		/* enum nf_dir */
	__u8 reason;		/* enum nf_reason */
	__u8 hook;		/* enum nf_hook */
	__u8 pad;
};

struct nf_counter {
	__u64 packets;
	__u64 bytes;
};

/* ---- nf_config: ARRAY[1], node-wide settings ---- */
#define NF_CFG_ALLOW_HOST_INGRESS	(1u << 0)	/* default on (Kubernetes requires it) */

struct nf_config {
	__u32 flags;		/* NF_CFG_* */
	__u32 ipc_epoch;	/* bumped on every nf_ipcache change */
	__u32 events_per_sec;	/* drop events per CPU per second, 0 = none */
	__u32 ct_tenant_max;	/* tracked connections per tenant (SPEC §3.13); 0: NF_DEFAULT_CT_TENANT_MAX */
	__u32 frag_tenant_max;	/* tracked fragment trains per tenant; 0: NF_DEFAULT_FRAG_TENANT_MAX */
	/*
	 * Bumped after every change that can change a verdict: an epoch flip of
	 * any tenant or rule set, an ipcache change, an endpoint attached,
	 * detached or changed (tenant, rule set, flags, own addresses, guard),
	 * a tenant slot freed, a node-wide flag (never 0 once a datapath of
	 * this build loaded): see nf_ct_val.gen and struct nf_verdict_key.
	 */
	__u32 policy_gen;
};

/* Per-tenant shares of the tracking tables: one tenant's flood can fill its
 * own share, never evict another tenant's entries (nothing is evicted). */
#define NF_DEFAULT_CT_TENANT_MAX	(NF_MAX_CT / 4)
#define NF_DEFAULT_FRAG_TENANT_MAX	(NF_MAX_FRAGS / 4)

/* ---- nf_events: RINGBUF of struct nf_event; nf_events_lost: PERCPU_ARRAY[1] __u64 ---- */
struct nf_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns() */
	__u64 scope;		/* netns cookie (tc) or cgroup id (cgroup) */
	__u32 tenant_id;
	__u32 ifindex;		/* tc: interface; cgroup: 0 */
	__u32 len;		/* packet length */
	__u8 dir;
	__u8 reason;
	__u8 hook;
	__u8 proto;		/* L4 protocol, 0 if not parsed */
	__u8 family;		/* 4 or 6, 0 if not IP */
	__u8 pad[1];
	__be16 sport;
	__be16 dport;
	__u8 pad2[2];
	__u8 saddr[16];
	__u8 daddr[16];
};

/*
 * ---- nf_flow_cache: ARRAY[NF_FC_SLOTS x possible CPUs] of struct nf_fc_slot ----
 * The datapath's own (userspace never reads it; an upgrade starts it empty):
 * per CPU (CPU c's slot i at c << NF_FC_BITS | i) and direct-mapped, what
 * a tracked flow's entry said when a packet of it last passed on tc
 * changing nothing, so that the next such packet passes without the nf_ct
 * lookup (bpf/lib/fcache.bpf.h). 64 bytes, one cache line; 128 KiB per CPU.
 */
#define NF_FC_BITS	11
#define NF_FC_SLOTS	(1U << NF_FC_BITS)

struct nf_fc_slot {
	struct nf_ct_key key;
	__u32 seen;		/* the entry's last_seen_ns (jiffies), low 32 bits, when written */
	__u32 gen;		/* nf_config.policy_gen its verdict stood under */
	__u32 tenant_id;	/* the entry's: a RST taken here releases its share */
	__u8 dirs;		/* 1 << enum nf_dir: directions whose packets change nothing;
				 * NF_FC_SYNACK: a new connection's, the reply's SYN-ACK too */
	__u8 pad[3];
};

#define NF_FC_SYNACK	(1u << NF_DIR_MAX)
#define NF_FC_YOUNG	(1u << (NF_DIR_MAX + 1))	/* the entry is in nf_ct_young */

/*
 * ---- nf_ct_young: ARRAY[NF_YOUNG_SLOTS] of struct nf_young_slot ----
 * Tracked connections in their first second or two (bpf/lib/young.bpf.h): a
 * new TCP connection's SYN, allowed on tc, puts its entry here when its slot
 * is free, instead of into nf_ct, and a connection that ends within that
 * time (its RST, or FINs) frees the slot with a store. The
 * kernel's sweep moves what is older into nf_ct. Lookups read nf_ct first,
 * then the slot. Slots are direct-mapped: the ports pick an index's low
 * NF_YOUNG_LOC_BITS, so one client's successive connections to a service
 * take neighbouring slots whose lines and pages stay warm (a hashed slot,
 * like the hash map's bucket, is a cache and TLB miss per connection:
 * README, Performance). Userspace reads nf_ct only: it first runs
 * nf_young_flush, which moves every held slot into nf_ct.
 * state: NF_YOUNG_FREE, then WRITING (claimed by a compare-and-swap), HELD
 * (key and val valid), TAKEN (being freed or moved, by whoever swapped it
 * from HELD), FREE. born: jiffies (low 32 bits) when written.
 */
#define NF_YOUNG_BITS		14
#define NF_YOUNG_SLOTS		(1U << NF_YOUNG_BITS)
#define NF_YOUNG_LOC_BITS	10

enum nf_young_state {
	NF_YOUNG_FREE = 0,
	NF_YOUNG_WRITING = 1,
	NF_YOUNG_HELD = 2,
	NF_YOUNG_TAKEN = 3,
};

struct nf_young_slot {
	__u32 state;		/* enum nf_young_state */
	__u32 born;
	struct nf_ct_key key;
	struct nf_ct_val val;	/* last: a layout change appends to it */
};

/*
 * A key's young slot (and tally, below): its addresses, interface and
 * protocol mixed for the high bits, its ports for the low NF_YOUNG_LOC_BITS.
 * The first word (scope and protocol) is left out as in the flow cache's
 * mix: a cold load on a connection's first packet; compares take it.
 */
static __inline__ __u32 nf_young_index(const struct nf_ct_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = (w[1] & 0xffffffffULL) * 0x9e3779b97f4a7c15ULL ^
		  (w[2] ^ w[4]) * 0xc2b2ae3d27d4eb4fULL ^ (w[3] ^ w[5]) * 0x165667b19e3779f9ULL;
	__u32 ports = (__u32)__builtin_bswap16(k->lport) ^ (__u32)__builtin_bswap16(k->rport);
	__u32 loc = (1U << NF_YOUNG_LOC_BITS) - 1;

	h = (h ^ (h >> 32)) * 0x9e3779b97f4a7c15ULL;
	return ((__u32)(h >> (64 - NF_YOUNG_BITS)) & ~loc) | (ports & loc);
}

/*
 * ---- nf_ct_tally: ARRAY[NF_YOUNG_SLOTS] of __s32, mmapable ----
 * At least how many nf_ct entries have keys of each nf_young_index: a SYN
 * whose tally is 0 knows nf_ct has no entry of its key without looking
 * (a lookup is the hash map's bucket miss the young slots avoid), and one
 * whose tally is above 0 looks. The datapath adds before it inserts and
 * takes away after it deletes; userspace takes away what it deletes
 * (a count left too high only costs lookups; one too low would let a SYN
 * make a second entry of a key nf_ct tracks). An upgrade that does not
 * reuse it recounts it from nf_ct.
 */

/*
 * ---- nf_ct_closed: ARRAY[NF_CL_SLOTS + NF_CL_CPU_SLOTS x possible CPUs] of
 *      struct nf_closed_slot ----
 * The datapath's own (userspace never reads it; an upgrade starts it empty):
 * direct-mapped, the TCP connections whose entry went with their RST or last
 * ACK, so that a late packet of one (the peer's FIN or ACK in flight when
 * the RST went out) passes as Linux conntrack passes a closed connection's,
 * instead of being judged as a new flow and counted a policy drop
 * (bpf/lib/fcache.bpf.h). 64 bytes each. seq is odd while the slot is
 * written.
 *   - slots 0 .. NF_CL_SLOTS - 1 (256 KiB): shared, the closes seen by
 *     cgroup programs, on any CPU;
 *   - CPU c's region, from NF_CL_SLOTS + (c << NF_CL_CPU_BITS) (64 KiB per
 *     CPU): the closes seen by tc programs on CPU c, written by them alone.
 *     Its first slot is no close: its seq counts the region's writes.
 * The loader sizes the map (a CPU outside it keeps no close).
 */
#define NF_CL_BITS	12
#define NF_CL_SLOTS	(1U << NF_CL_BITS)
#define NF_CL_CPU_BITS	10
#define NF_CL_CPU_SLOTS	(1U << NF_CL_CPU_BITS)

struct nf_closed_slot {
	struct nf_ct_key key;
	__u64 seq;
	__u32 gen;		/* nf_config.policy_gen the connection's verdict stood under */
	__u32 at;		/* when it ended (jiffies, low 32 bits) */
};

/*
 * ---- nf_ct_closed_cpu: ARRAY[1] of struct nf_cl_where ----
 * The datapath's own, like nf_ct_closed: for slot i of the CPU regions, 1 +
 * the CPU whose region took slot i last (0: none), where a late packet's
 * reader looks.
 */
struct nf_cl_where {
	__u16 cpu1[NF_CL_CPU_SLOTS];
};

/* ---- nf_ev_bucket: PERCPU_ARRAY[1], token bucket for event rate limiting ---- */
struct nf_ev_bucket {
	__u64 last_ns;
	__u64 tokens;
};

#endif /* NETFENCE_ABI_H */
