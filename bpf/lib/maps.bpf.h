/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the datapath. Keys and values are documented in
 * include/netfence/abi.h; the loader (userspace/lib/dp/load.c) pins each one
 * under NF_PIN_ROOT by its name and reuses the pins on the next load.
 */
#ifndef NF_BPF_MAPS_H
#define NF_BPF_MAPS_H

/*
 * tenant id -> info; an array so the per-packet epoch read is inlined, and
 * mmapable so userspace resolves names without one syscall per id.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NF_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct nf_tenant_info);
} nf_tenants SEC(".maps");

/* Every tenant's compiled peers (see struct nf_policy_key). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NF_MAX_TRIE_ENTRIES);
	__type(key, struct nf_policy_key);
	__type(value, struct nf_class);
} nf_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NF_MAX_PORT_ENTRIES);
	__type(key, struct nf_port_key);
	__type(value, struct nf_port_val);
} nf_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NF_MAX_IPCACHE);
	__type(key, struct nf_lpm_addr_key);
	__type(value, struct nf_ipcache_val);
} nf_ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_ENDPOINTS);
	__type(key, struct nf_ep_key);
	__type(value, struct nf_endpoint);
} nf_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_ENDPOINTS);
	__type(key, __u64);
	__type(value, struct nf_endpoint);
} nf_cg_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_ENDPOINTS);
	__type(key, struct nf_guard_key);
	__type(value, struct nf_ep_key);
} nf_guard SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_ENDPOINTS);
	__type(key, __u64);
	__type(value, __u32);
} nf_guarded_ns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_EP_ADDRS);
	__type(key, struct nf_ep_addr_key);
	__type(value, __u8);
} nf_ep_addrs SEC(".maps");

/* Plain hashes, not LRU: see struct nf_usage (per-tenant shares, no eviction). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_CT);
	__type(key, struct nf_ct_key);
	__type(value, struct nf_ct_val);
} nf_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NF_MAX_PEER_CACHE);
	__type(key, struct nf_peer_cache_key);
	__type(value, struct nf_peer_cache_val);
} nf_peer_cache SEC(".maps");

/* The verdict cache (struct nf_verdict_key): allowed first packets, by service. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NF_MAX_VERDICTS);
	__type(key, struct nf_verdict_key);
	__type(value, struct nf_verdict_val);
} nf_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NF_MAX_FRAGS);
	__type(key, struct nf_frag_key);
	__type(value, struct nf_frag_val);
} nf_frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NF_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct nf_usage);
} nf_usage SEC(".maps");

/* The sweep of expired tracking entries (bpf/lib/gc.bpf.h): one timer. */
struct nf_gc {
	struct bpf_timer timer;
	__u64 sweeps;
	__u64 swept;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nf_gc);
} nf_gc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NF_FLOWS_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} nf_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, NF_MAX_STATS);
	__type(key, struct nf_stats_key);
	__type(value, struct nf_counter);
} nf_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nf_config);
} nf_config SEC(".maps");

/* What is loaded (struct nf_meta): read by userspace only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nf_meta);
} nf_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NF_RINGBUF_BYTES);
} nf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} nf_events_lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nf_ev_bucket);
} nf_ev_bucket SEC(".maps");

/* The flow cache (struct nf_fc_slot, lib/fcache.bpf.h): NF_FC_SLOTS per
 * possible CPU, sized by the loader (dp_skel_open). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NF_FC_SLOTS);
	__type(key, __u32);
	__type(value, struct nf_fc_slot);
} nf_flow_cache SEC(".maps");

/* Young connections (struct nf_young_slot, lib/young.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NF_YOUNG_SLOTS);
	__type(key, __u32);
	__type(value, struct nf_young_slot);
} nf_ct_young SEC(".maps");

/* How many nf_ct entries have keys of each young index (abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NF_YOUNG_SLOTS);
	__type(key, __u32);
	__type(value, __s32);
} nf_ct_tally SEC(".maps");

/* Recently closed connections (struct nf_closed_slot, lib/fcache.bpf.h): the
 * shared region and one CPU's, sized for every CPU by the loader
 * (dp_skel_open). Mmapable: its values start on a page, so no slot straddles
 * two cache lines. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NF_CL_SLOTS + NF_CL_CPU_SLOTS);
	__type(key, __u32);
	__type(value, struct nf_closed_slot);
} nf_ct_closed SEC(".maps");

/* Which CPU's region of nf_ct_closed took a slot last (struct nf_cl_where). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nf_cl_where);
} nf_ct_closed_cpu SEC(".maps");

#endif
