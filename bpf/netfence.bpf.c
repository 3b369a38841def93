// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence datapath: one verdict core (nf_verdict) shared by the tc programs
 * on an endpoint's interface and the cgroup_skb programs on a fenced cgroup,
 * for IPv4 and IPv6 alike. Default deny: a packet passes only when
 *   - it is ARP or IPv6 neighbour discovery, or
 *   - it belongs to a tracked flow still allowed by the tenant's policy, or
 *     is an ICMP error about one, or
 *   - the tenant's policy allows it as a new flow (or, ingress, it comes from
 *     the node itself and that is enabled).
 * Every drop has one exit (the `drop:` label) and one reason code, counted
 * per (tenant, direction, reason, hook) and sent as a rate-limited event.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <netfence/abi.h>
#include "lib/consts.h"
#include "lib/addr.bpf.h"
#include "lib/maps.bpf.h"
#include "lib/parse.bpf.h"
#include "lib/policy.bpf.h"
#include "lib/ct.bpf.h"
#include "lib/fcache.bpf.h"
#include "lib/young.bpf.h"
#include "lib/notify.bpf.h"
#include "lib/gc.bpf.h"
#include "lib/link.bpf.h"

/* Bench knobs: keep repeated BPF_PROG_TEST_RUN runs on the new-flow path;
 * and off the verdict cache (struct nf_verdict_key), to measure its misses. */
const volatile bool bench_no_ct_insert = false;
const volatile bool bench_no_verdict_cache = false;

struct nf_where {
	__u64 scope;		/* netns cookie (tc) or cgroup id (cgroup) */
	__u32 ifindex;
	__u8 hook;
	__u8 dir;
	/*
	 * Another judge sees this packet after this one: a guarded endpoint's
	 * packets are judged on its own interface and then by the guard on the
	 * parent (egress), by the guard and then on its own interface
	 * (ingress). Only the second may end a closed flow: if the first
	 * removed it on the last ACK, the second would judge that ACK as a new
	 * flow's first packet and drop it, leaving the peer in LAST-ACK.
	 * NF_DEFER_IF_GUARDED: on an endpoint's own interface's egress, only
	 * when its netns is guarded (nf_guarded_ns), asked only of a packet
	 * that may end its flow (nf_defers_end).
	 */
	__u8 defer_end;
};

enum { NF_DEFER_NO, NF_DEFER_YES, NF_DEFER_IF_GUARDED };

/*
 * Whether w's judge leaves a flow's end to the next one. A hash lookup on
 * own-interface egress: asked only of a packet that may end its flow (a RST,
 * or one of a closed flow), never of the rest (it was every packet's:
 * bench_prog's own-interface row, 28-29 ns then, 21-22 ns without it).
 */
static __always_inline bool nf_defers_end(const struct nf_where *w)
{
	/* (a copy: w's address never escapes, so its constant fields fold) */
	__u64 ns = w->scope;

	if (w->defer_end == NF_DEFER_IF_GUARDED)
		return bpf_map_lookup_elem(&nf_guarded_ns, &ns) != NULL;
	return w->defer_end == NF_DEFER_YES;
}

/*
 * After nf_ct_touch: a TCP flow that ends with this packet (nf_ct_ends), and
 * whose end is not left to a later judge, goes now and is remembered as
 * closed under gen (nf_cl_record: its late packets pass).
 */
static __always_inline void nf_ct_close(struct nf_ct_val *ct, const struct nf_ct_key *ck,
					const struct nf_where *w, __u8 tcp_flags, __u32 gen,
					__u64 now)
{
	if (nf_ct_ends(ct, tcp_flags) && !nf_defers_end(w)) {
		nf_ct_delete(ck, ct);
		nf_cl_record(ck, w->dir, w->hook, gen, now);
	}
}

static __always_inline struct nf_tenant_info *nf_tenant(__u32 tenant_id)
{
	if (!tenant_id || tenant_id >= NF_MAX_TENANTS)
		return NULL;
	return bpf_map_lookup_elem(&nf_tenants, &tenant_id);
}

static __always_inline void nf_frag_key_fill(struct nf_frag_key *fk, __u32 ep_id, __u8 dir,
					     const struct nf_pkt *pkt)
{
	fk->ep_id = ep_id;
	fk->id = pkt->frag_id;
	fk->proto = pkt->proto;
	fk->dir = dir;
	nf_copy_addr(fk->saddr, pkt->saddr);
	nf_copy_addr(fk->daddr, pkt->daddr);
}

/*
 * Remember an allowed first fragment, so its later fragments follow it.
 * False when the tenant's share of nf_frags is full (conntrack_full).
 */
static __always_inline bool nf_frag_allow(__u32 ep_id, __u32 tenant_id, __u8 dir,
					  const struct nf_pkt *pkt, __u64 now,
					  const struct nf_config *cfg)
{
	struct nf_frag_key fk = {};
	struct nf_frag_val fv = {
		.sport = pkt->sport, .dport = pkt->dport, .tenant_id = tenant_id, .last_seen_ns = now,
	};

	if (pkt->frag != NF_FRAG_FIRST)
		return true;
	nf_frag_key_fill(&fk, ep_id, dir, pkt);
	return !nf_track(&nf_frags, &fk, &fv, tenant_id, cfg, true);
}

/*
 * The ethertype a frame really carries. skb->protocol is what the sender
 * said (a packet socket sets it to anything): the Ethernet header decides,
 * and a frame whose header disagrees with skb->protocol is malformed. A
 * VLAN tag (in the frame or offloaded) is no protocol of ours: denied. On
 * L3 devices the IP version nibble must agree with skb->protocol.
 */
static __always_inline __be16 nf_eth_proto(struct __sk_buff *skb, __u32 l3_off)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__be16 proto = skb->protocol;

	if (l3_off) {
		struct ethhdr *eth = data;

		if ((void *)(eth + 1) > data_end || skb->vlan_present)
			return 0;
		return eth->h_proto == proto ? proto : bpf_htons(NF_ETH_MISMATCH);
	}
	if (data + 1 > data_end)
		return 0;
	switch (*(__u8 *)data >> 4) {
	case 4:
		return proto == bpf_htons(ETH_P_IP) ? proto : bpf_htons(NF_ETH_MISMATCH);
	case 6:
		return proto == bpf_htons(ETH_P_IPV6) ? proto : bpf_htons(NF_ETH_MISMATCH);
	}
	return 0;
}

enum nf_fast {
	NF_FAST_UNPARSED,	/* not a common packet: nf_parse has to take it */
	NF_FAST_NO_FLOW,	/* parsed (the key is filled), and no tracked flow */
	NF_FAST_RECHECK,	/* parsed; a tracked flow due a refresh, or judged at an older epoch */
	NF_FAST_PASS,		/* a tracked flow whose verdict stands: passed and accounted */
};

/*
 * The tracked-flow fast path: the packet's flow is tracked, recently seen,
 * and its verdict stands. One hash lookup, one array lookup; an established
 * packet writes nothing to its entry, and fills this CPU's flow-cache slot
 * (lib/fcache.bpf.h), on which the flow's next such packets pass without
 * coming here. What goes to nf_verdict_full instead, which does
 * the whole of it with the entry found here (*found, NF_FAST_RECHECK):
 *   - its timestamp is older than NF_CT_REFRESH jiffies: refreshing it is
 *     the full path's, and so is expiry. An entry refreshed within
 *     NF_CT_REFRESH jiffies can't have expired, every lifetime being
 *     seconds long (NF_CT_TCP_CLOSED_S is the shortest): the same verdict
 *     as nf_ct_expired without computing the lifetime;
 *   - its tenant's policy changed since it was judged (revocation).
 * A packet that changes the entry (a TCP SYN, FIN or RST, a packet of a
 * closed flow, the first reply) is accounted here as the full path would
 * (nf_ct_touch, then nf_ct_ends): a connection's handshake and close then
 * cost no more than its established packets (bench: the veth rows' new
 * connections/s, bpf_stats per connection). Anti-spoofing and the
 * endpoint's tenant need no lookup: the key holds the endpoint's scope and
 * ifindex and the exact addresses and ports, and only a packet judged by
 * the full path (anti-spoofing on egress, an own address on ingress, the
 * endpoint's tenant and policy) ever created it; re-attaching the endpoint
 * to another tenant purges its entries. A parsed packet is never a
 * fragment (nf_parse_fast), so nf_frag_allow has nothing to do for it.
 */
static __always_inline enum nf_fast nf_ct_established(const struct nf_ct_key *ck,
						      const struct nf_where *w, __u8 tcp_flags,
						      struct nf_ct_val **found)
{
	__u8 proto = NF_CT_KEY_PROTO(ck), dir = w->dir, need;
	struct nf_tenant_info *ti;
	struct nf_config *cfg;
	struct nf_ct_val *ct;
	__u32 zero = 0, gen;
	bool change, stamped;
	__u64 t, now;

	ct = nf_ct_find(ck);
	if (!ct)
		return NF_FAST_NO_FLOW;
	*found = ct;
	now = nf_now();
	if ((__s64)(now - ct->last_seen_ns) > (__s64)NF_CT_REFRESH)
		return NF_FAST_RECHECK;
	need = dir != ct->origin_dir ? NF_CT_SEEN_REPLY : 0;
	change = (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) ||
		 (ct->flags & (NF_CT_CLOSED | need)) != need;
	/*
	 * Revocation. No epoch has moved since this entry's was found current
	 * (userspace bumps policy_gen after every flip): its verdict stands,
	 * without the tenant's epoch, a load that depends on the entry (bench:
	 * ~2 ns of the established flow's ~8 over the floor).
	 */
	cfg = bpf_map_lookup_elem(&nf_config, &zero);
	gen = cfg ? cfg->policy_gen : 0;
	stamped = gen && ct->gen == gen;
	if (!stamped) {
		/*
		 * Confirm the epoch and remember gen. gen was read first, and the
		 * epoch must be read after it: a fully ordered atomic fetch between
		 * them (clang makes it a fetch-or of 0: lock cmpxchg on x86, ldsetal
		 * on arm64), so that an epoch older than gen is never stamped with
		 * it. It changes nothing, and runs once per flow and flip.
		 */
		t = __sync_fetch_and_add(&ct->last_seen_ns, 0);
		asm volatile("" : : "r"(t) : "memory");
		ti = nf_tenant(NF_POLICY_ID(ct->tenant_id, ct->policy_id));
		if (!ti || ct->epoch != ti->epoch)
			return NF_FAST_RECHECK;
		if (gen)
			ct->gen = gen;
	}
	if (change) {
		if (nf_fc_unsettles(tcp_flags))
			nf_fc_forget(ck);
		nf_ct_touch(ct, dir, tcp_flags, proto, now);
		if (proto == NF_IPPROTO_TCP)
			nf_ct_close(ct, ck, w, tcp_flags, gen, now);
	} else if (stamped && w->hook == NF_HOOK_TC &&
		   !(ct->flags & (NF_CT_FIN_ORIG | NF_CT_FIN_REPLY))) {
		/* its next packets this way: the flow cache (lib/fcache.bpf.h) */
		nf_fc_fill(ck, dir, gen, ct->last_seen_ns, ct->tenant_id, false,
			   ct->flags & NF_CT_YOUNG);
	}
	return NF_FAST_PASS;
}

/* A new flow's conntrack entry, as the verdict that allowed it found it. */
static __always_inline void nf_ct_new(struct nf_ct_val *nct, __u64 now, __u32 epoch, __u32 rule,
				      __u32 tenant_id, __u32 policy_id, __u32 ep_id, __u8 dir)
{
	__builtin_memset(nct, 0, sizeof(*nct));
	nct->last_seen_ns = now;
	nct->epoch = epoch;
	nct->rule_ref = rule;
	nct->tenant_id = tenant_id;
	nct->policy_id = (__u16)policy_id;
	nct->ep_id = ep_id;
	nct->origin_dir = dir;
#ifdef NF_TEST_NEXT_LAYOUT
	nct->test_next = 1;
#endif
}

/* The verdict cache's key of a flow's first packet (struct nf_verdict_key). */
static __always_inline void nf_verdict_key_fill(struct nf_verdict_key *vk,
						const struct nf_ct_key *ck, __u8 dir)
{
	vk->scope_proto = ck->scope_proto;
	vk->ifindex = ck->ifindex;
	vk->port = dir == NF_DIR_EGRESS ? ck->rport : ck->lport;
	vk->dir = dir;
	vk->pad = 0;
	nf_copy_addr(vk->laddr, ck->laddr);
	nf_copy_addr(vk->raddr, ck->raddr);
}

/*
 * The verdict cache's entry for a flow's first packet (struct
 * nf_verdict_key), when it was decided under the current policy_gen: an
 * allow that still holds. *cfg gets nf_config.
 */
static __always_inline struct nf_verdict_val *nf_verdict_entry(const struct nf_ct_key *ck,
							       __u8 dir, struct nf_config **cfg)
{
	struct nf_verdict_key vk;
	struct nf_verdict_val *v;
	__u32 zero = 0;

	*cfg = bpf_map_lookup_elem(&nf_config, &zero);
	if (!*cfg || !(*cfg)->policy_gen)
		return NULL;
	nf_verdict_key_fill(&vk, ck, dir);
	v = bpf_map_lookup_elem(&nf_verdicts, &vk);
	if (!v || v->gen != (*cfg)->policy_gen)
		return NULL;
	return v;
}

/*
 * A new TCP or UDP flow on a tc hook whose first packet's verdict is cached
 * (nf_verdict_entry). Tracks and counts it as the full verdict would have:
 * 1. Otherwise nothing changed: 0 when no verdict is cached for it, -1 when
 * one is but the packet is left to what follows (a flow over its tenant's
 * share, which the full verdict drops and counts, or as below).
 *
 * syn: a TCP SYN without ACK, before any conntrack lookup. A connection's
 * first packet, far more often than a retransmission or a closed tuple's
 * reuse: its entry is inserted only where none is (one hash walk, not a
 * lookup then an insert). An existing entry, or a flow its verdict does
 * not track, is left to the ordinary order (the conntrack lookup,
 * nf_ct_established, then this without syn).
 */
static __always_inline int nf_verdict_cached(const struct nf_ct_key *ck, __u8 dir, __u8 hook,
					     __u8 tcp_flags, bool syn)
{
	struct nf_verdict_val *v;
	struct nf_config *cfg;
	struct nf_ct_val nct;
	int r;

	v = nf_verdict_entry(ck, dir, &cfg);
	if (!v || !cfg)
		return 0;
	if (syn && !v->track)
		return -1;
	/* A lone FIN or RST ends a flow that is not tracked: nothing to track. */
	if (NF_CT_KEY_PROTO(ck) == NF_IPPROTO_TCP && (tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		return 1;
	if (v->track && !bench_no_ct_insert) {
		nf_ct_new(&nct, nf_now(), v->epoch, v->rule_ref, v->tenant_id, v->policy_id,
			  v->ep_id, dir);
		nct.gen = v->gen;	/* its epoch was current under gen, which still holds */
		/*
		 * A SYN's entry: its young slot if free (lib/young.bpf.h), else
		 * nf_ct. One that nf_ct tracks (a closed tuple reused, a
		 * retransmission) is left to the ordinary order, as before.
		 */
		r = syn ? nf_track_young(ck, &nct, v->tenant_id, cfg) : -1;
		if (r > 0)
			return -1;
		if (r && nf_track_in(&nf_ct, ck, &nct, v->tenant_id, cfg, false, syn))
			return -1;
		/* the connection's next packet this way (its ACK): the flow cache */
		if (syn)
			nf_fc_fill(ck, dir, nct.gen, nct.last_seen_ns, v->tenant_id, true, !r);
	}
	nf_count_flow(v->tenant_id, dir, hook);
	return 1;
}

/*
 * nf_config.policy_gen, read before every load that follows (nf_fence
 * between them), so that a verdict decided from what is read next is never
 * stamped with a gen newer than what it saw.
 */
static __always_inline __u32 nf_gen_before(const struct nf_config *cfg)
{
	__u32 gen = cfg->policy_gen;

	nf_fence();
	return gen;
}

static __always_inline struct nf_endpoint *nf_tc_endpoint(const struct nf_where *w)
{
	struct nf_ep_key k = { .netns_cookie = w->scope, .ifindex = w->ifindex };

	return bpf_map_lookup_elem(&nf_endpoints, &k);
}

/*
 * The full verdict, for every packet the fast path did not pass; returns true
 * to pass it. fast says how far the fast path got: when it parsed the packet,
 * ck and tcp_flags hold it and it is not parsed again; NF_FAST_NO_FLOW skips
 * the conntrack lookup it already made. ep: the cgroup endpoint, or NULL for
 * tc, where the endpoint is looked up only when needed: a packet of a tracked
 * flow is decided by its conntrack entry, which carries the tenant and the
 * epoch it was judged at. l3_off: where the IP header starts (ETH_HLEN, or 0
 * on L3 devices and in cgroup_skb). Frames are judged by their own ethertype
 * (nf_eth_proto), never a value the sender chose.
 */
static __always_inline bool nf_verdict_full(struct __sk_buff *skb, struct nf_endpoint *ep,
					    const struct nf_where *w, __u32 l3_off,
					    struct nf_ct_key *ck, enum nf_fast fast, __u8 tcp_flags,
					    struct nf_ct_val *found)
{
	/* cgroup_skb sees IP packets only, and no link-layer header */
	__be16 eth_proto = w->hook == NF_HOOK_CGROUP ? skb->protocol : nf_eth_proto(skb, l3_off);
	struct nf_pkt pkt;
	struct nf_ct_val *ct, nct;
	struct nf_tenant_info *ti;
	struct nf_config *cfg;
	__u32 zero = 0, tenant_id = NF_TENANT_NONE, pol_id, rule, len = skb->len, gen = 0, epoch;
	__u32 cl_gen = 0;
	__u8 dir = w->dir, reason, track;
	enum nf_link link;
	__be16 port;
	__u64 now;

	cfg = bpf_map_lookup_elem(&nf_config, &zero);
	/* a first packet the verdict cache can take: read its gen first */
	if (w->hook == NF_HOOK_TC && fast == NF_FAST_NO_FLOW && cfg)
		gen = nf_gen_before(cfg);
	/* a tracked connection's close may be remembered (nf_cl_record): under this gen */
	else if (fast == NF_FAST_RECHECK && cfg && dir == NF_DIR_EGRESS &&
		 NF_CT_KEY_PROTO(ck) == NF_IPPROTO_TCP)
		cl_gen = nf_gen_before(cfg);
	__builtin_memset(&pkt, 0, sizeof(pkt));
	if (eth_proto == bpf_htons(ETH_P_ARP)) {
		if (!ep && w->hook == NF_HOOK_TC)
			ep = nf_tc_endpoint(w);
		if (!ep || (ep->flags & NF_EPF_DENY_ALL)) {
			reason = NF_DROP_POLICY;
			goto drop_ep;
		}
		pkt.family = 4;
		link = nf_arp_check(skb, l3_off, dir, ep, pkt.saddr);
		if (link == NF_LINK_PASS)
			return true;
		reason = link == NF_LINK_SPOOFED ? NF_DROP_SPOOFED : NF_DROP_MALFORMED;
		goto drop_ep;
	}
	if (eth_proto == bpf_htons(NF_ETH_MISMATCH)) {
		reason = NF_DROP_MALFORMED;
		goto drop_find_ep;
	}
	if (eth_proto != bpf_htons(ETH_P_IP) && eth_proto != bpf_htons(ETH_P_IPV6)) {
		reason = NF_DROP_POLICY;
		goto drop_find_ep;
	}
	if (fast != NF_FAST_UNPARSED) {
		nf_pkt_from_key(&pkt, ck, dir, tcp_flags, eth_proto == bpf_htons(ETH_P_IP) ? 4 : 6);
	} else if (nf_parse(skb, l3_off, eth_proto, &pkt)) {
		reason = NF_DROP_MALFORMED;
		goto drop_find_ep;
	}
	now = nf_now();

	/*
	 * 1. A tracked flow (a later fragment has no ports: it follows its first;
	 * neighbour discovery is judged by its shape, below).
	 */
	if (pkt.frag != NF_FRAG_LATER && !pkt.is_nd) {
		if (fast == NF_FAST_UNPARSED)
			nf_ct_key_fill(ck, w->scope, w->ifindex, pkt.proto, dir, pkt.saddr,
				       pkt.daddr, pkt.sport, pkt.dport);
		if (fast == NF_FAST_UNPARSED)
			ct = nf_ct_find(ck);
		else
			ct = fast == NF_FAST_RECHECK ? found : NULL;
		if (ct && nf_ct_expired(ct, pkt.proto, now)) {
			/* gone: this packet is judged as a new flow's first */
			nf_ct_delete(ck, ct);
		} else if (ct) {
			tenant_id = ct->tenant_id;
			pol_id = NF_POLICY_ID(tenant_id, ct->policy_id);
			ti = nf_tenant(pol_id);
			epoch = nf_epoch(ti);
			if (!ti || ct->epoch != epoch) {
				/*
				 * The policy changed since this flow was judged: judge it
				 * again, as its first packet (SPEC §3.5, revocation). The
				 * service port is the remote one for flows the endpoint
				 * opened, the local one otherwise.
				 */
				port = ct->origin_dir == NF_DIR_EGRESS ? ck->rport : ck->lport;
				rule = nf_policy_judge(pol_id, ti, epoch, cfg, ct->origin_dir,
						       ck->raddr, pkt.proto, port);
				reason = nf_rule_reason(rule);
				if (reason || !ti) {
					nf_ct_delete(ck, ct);
					if (!reason)
						reason = NF_DROP_POLICY;
					goto drop;
				}
				ct->rule_ref = rule;
				ct->epoch = epoch;
			}
			if (pkt.proto == NF_IPPROTO_TCP && nf_fc_unsettles(pkt.tcp_flags))
				nf_fc_forget(ck);
			nf_ct_touch(ct, dir, pkt.tcp_flags, pkt.proto, now);
			if (pkt.proto == NF_IPPROTO_TCP)
				nf_ct_close(ct, ck, w, pkt.tcp_flags, cl_gen, now);
			if (!nf_frag_allow(ct->ep_id, tenant_id, dir, &pkt, now, cfg)) {
				reason = NF_DROP_CT_FULL;
				goto drop;
			}
			return true;
		}
	}

	/* 2. Not tracked: whose endpoint is this? */
	if (!ep && w->hook == NF_HOOK_TC)
		ep = nf_tc_endpoint(w);
	if (!ep) {
		/* attached but not registered (being detached): fail closed */
		reason = NF_DROP_POLICY;
		goto drop;
	}
	tenant_id = ep->tenant_id;
	if (ep->flags & NF_EPF_DENY_ALL) {
		reason = NF_DROP_POLICY;
		goto drop;
	}

	if (pkt.is_nd) {
		link = nf_nd_check(&pkt, dir, ep);
		if (link == NF_LINK_PASS)
			return true;
		if (link == NF_LINK_SPOOFED) {
			reason = NF_DROP_SPOOFED;
			goto drop;
		}
		if (link == NF_LINK_DENIED) {
			reason = NF_DROP_POLICY;
			goto drop;
		}
		/* not in neighbour discovery's shape: an ordinary packet */
	}

	if (w->hook == NF_HOOK_TC && dir == NF_DIR_EGRESS && !(ep->flags & NF_EPF_NO_SPOOF_CHECK) &&
	    !nf_is_own_addr(ep, pkt.saddr)) {
		reason = NF_DROP_SPOOFED;
		goto drop;
	}

	if (pkt.frag == NF_FRAG_LATER) {
		struct nf_frag_key fk = {};
		struct nf_frag_val *fv;

		nf_frag_key_fill(&fk, ep->ep_id, dir, &pkt);
		fv = bpf_map_lookup_elem(&nf_frags, &fk);
		/* reassembly gives up after 30 s (ip_frag_time / ip6frag_time) */
		if (fv && nf_age(now, fv->last_seen_ns) <= NF_FRAG_TIMEOUT_S * NF_HZ)
			return true;
		reason = NF_DROP_FRAGMENT;
		goto drop;
	}

	/* judged by its network's rule set, if it has one (SPEC §12) */
	pol_id = NF_POLICY_ID(tenant_id, ep->policy_id);
	ti = nf_tenant(pol_id);
	epoch = nf_epoch(ti);
	if (pkt.is_icmp_err && ti) {
		/* The quoted packet went the other way: look up its flow. */
		struct nf_ct_key ik = {};
		struct nf_ct_val *ict;

		nf_ct_key_fill(&ik, w->scope, w->ifindex, pkt.in_proto, !dir, pkt.in_saddr,
			       pkt.in_daddr, pkt.in_sport, pkt.in_dport);
		ict = nf_ct_find(&ik);
		/*
		 * Related only when the error travels where the flow does (SPEC
		 * §3.12): sent by the endpoint, to the flow's peer; received, to the
		 * endpoint's own address of the flow. Else it is just ICMP.
		 */
		if (ict && !nf_ct_expired(ict, pkt.in_proto, now) &&
		    nf_addr_eq(pkt.daddr, dir == NF_DIR_EGRESS ? ik.raddr : ik.laddr)) {
			/* the flow as its first packet would be judged now (revocation) */
			if (ict->epoch == epoch)
				return true;
			port = ict->origin_dir == NF_DIR_EGRESS ? ik.rport : ik.lport;
			if (!nf_rule_reason(nf_policy_judge(pol_id, ti, epoch, cfg, ict->origin_dir,
							    ik.raddr, pkt.in_proto, port)))
				return true;
		}
	}

	/* 3. A new flow: the tenant's policy decides. */
	rule = nf_policy_judge(pol_id, ti, epoch, cfg, dir,
			       dir == NF_DIR_EGRESS ? pkt.daddr : pkt.saddr, pkt.proto, pkt.dport);
	reason = nf_rule_reason(rule);
	if (reason)
		goto drop;
	/*
	 * On an interface, only flows to one of the endpoint's own addresses are
	 * tracked from ingress (not broadcasts, not misrouted packets), so the
	 * local address of every tracked flow is the endpoint's: a packet that
	 * hits conntrack on egress needs no anti-spoofing lookup. A flow that
	 * doesn't fit in its tenant's share is dropped, not tracked half-way.
	 */
	/* A lone FIN or RST ends a flow that is not tracked: nothing to track. */
	if (pkt.proto == NF_IPPROTO_TCP && (pkt.tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		return true;
	track = ti && (w->hook != NF_HOOK_TC || dir == NF_DIR_EGRESS || nf_is_own_addr(ep, pkt.daddr));
	if (track && !bench_no_ct_insert) {
		nf_ct_new(&nct, now, epoch, rule, tenant_id, ep->policy_id, ep->ep_id, dir);
		/*
		 * A TCP SYN on tc into its young slot too (lib/young.bpf.h): its
		 * retransmission, admitted from the verdict cache, then finds
		 * it there instead of making a second entry.
		 */
		if (w->hook == NF_HOOK_TC && pkt.proto == NF_IPPROTO_TCP &&
		    (pkt.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN &&
		    !nf_track_young(ck, &nct, tenant_id, cfg)) {
			/* tracked */
		} else if (nf_track(&nf_ct, ck, &nct, tenant_id, cfg, false)) {
			reason = NF_DROP_CT_FULL;
			goto drop;
		}
	}
	if (!nf_frag_allow(ep->ep_id, tenant_id, dir, &pkt, now, cfg)) {
		reason = NF_DROP_CT_FULL;
		goto drop;
	}
	/* the next flow of this service decides on this (nf_verdict_cached) */
	if (gen && ti && !bench_no_verdict_cache) {
		struct nf_verdict_key vk;
		struct nf_verdict_val vv = {
			.gen = gen, .rule_ref = rule, .tenant_id = tenant_id, .ep_id = ep->ep_id,
			.epoch = epoch, .policy_id = (__u16)ep->policy_id, .track = track,
		};

		nf_verdict_key_fill(&vk, ck, dir);
		bpf_map_update_elem(&nf_verdicts, &vk, &vv, BPF_ANY);
	}
	nf_count_flow(tenant_id, dir, w->hook);
	return true;

drop_find_ep:
	if (!ep && w->hook == NF_HOOK_TC)
		ep = nf_tc_endpoint(w);
drop_ep:
	tenant_id = ep ? ep->tenant_id : NF_TENANT_NONE;
drop:
	nf_count(tenant_id, dir, reason, w->hook, len);
	nf_event(cfg, &pkt, tenant_id, w->scope, w->ifindex, len, dir, reason, w->hook);
	return false;
}

/*
 * Returns true to pass the packet: the established fast path first, then the
 * full verdict for everything it leaves (SPEC §3).
 */
static __always_inline bool nf_verdict(struct __sk_buff *skb, struct nf_endpoint *ep,
				       const struct nf_where *w, __u32 l3_off)
{
	/*
	 * In memory, written once here and once when the packet parsed: as
	 * plain values the compiler set them again on every one of
	 * nf_parse_fast's exits to the full verdict (a store per check).
	 */
	volatile __u8 fast = NF_FAST_UNPARSED, flags = 0;
	struct nf_ct_val *found = NULL;
	__u32 fc_tenant = 0, fc_gen = 0;
	enum nf_fc_answer fa;
	enum nf_fast f;
	struct nf_ct_key ck;
	__u8 tcp_flags;
	int cached = -1;

	if (nf_parse_fast(skb, l3_off, w->dir, w->scope, w->ifindex, &ck, &tcp_flags)) {
		/* a tracked flow's packet that changes nothing, seen a moment ago */
		if (w->hook == NF_HOOK_TC) {
			fa = nf_fc_hit(&ck, w->dir, tcp_flags,
				       (tcp_flags & TCP_FLAG_RST) && nf_defers_end(w), &fc_tenant,
				       &fc_gen);
			if (fa == NF_FC_PASS)
				return true;
			if (fa >= NF_FC_END) {
				/* a RST: its entry goes, as nf_ct_ends would have it */
				nf_ct_remove(&ck, fc_tenant, fa == NF_FC_END_YOUNG);
				nf_cl_record(&ck, w->dir, NF_HOOK_TC, fc_gen, nf_now());
				return true;
			}
		}
		/* a connection's first packet: the verdict cache, then the insert */
		if (w->hook == NF_HOOK_TC && NF_CT_KEY_PROTO(&ck) == NF_IPPROTO_TCP &&
		    (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_FIN | TCP_FLAG_RST)) ==
			    TCP_FLAG_SYN) {
			cached = nf_verdict_cached(&ck, w->dir, w->hook, tcp_flags, true);
			if (cached > 0)
				return true;
		}
		f = nf_ct_established(&ck, w, tcp_flags, &found);
		if (f == NF_FAST_PASS)
			return true;
		/* a late packet of a connection that just closed (lib/fcache.bpf.h) */
		if (f == NF_FAST_NO_FLOW && nf_cl_hit(&ck, tcp_flags))
			return true;
		/* (not when the SYN's lookup found no cached verdict) */
		if (w->hook == NF_HOOK_TC && f == NF_FAST_NO_FLOW && cached &&
		    nf_verdict_cached(&ck, w->dir, w->hook, tcp_flags, false) > 0)
			return true;
		fast = f;
		flags = tcp_flags;
	}
	/*
	 * The full verdict reads skb's fields again: keep clang from reusing
	 * the fast path's field addresses (the verifier refuses a load through
	 * a ctx pointer plus an offset).
	 */
	asm volatile("" : "+r"(skb));
	return nf_verdict_full(skb, ep, w, l3_off, &ck, fast, flags, found);
}

/* ---- tc: programs on the endpoint's interface, inside its netns ---- */

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

static __always_inline int nf_tc(struct __sk_buff *skb, __u8 dir, bool own)
{
	struct nf_where w = { .hook = NF_HOOK_TC, .dir = dir, .ifindex = skb->ifindex };
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device *dev = kskb->dev;
	__u32 l3_off = ETH_HLEN;

	/*
	 * The netns of the device the program runs on. bpf_get_netns_cookie(skb)
	 * in tc answers the skb's socket's netns, and the initial netns when there
	 * is no socket (any packet arriving over a veth): measured on 6.18, it
	 * returned the host's cookie at a pod's tc ingress. Direct (CO-RE
	 * relocated) loads through the trusted pointer: three
	 * bpf_probe_read_kernel calls cost more than the rest of a tracked packet.
	 */
	if (dev) {
		w.scope = dev->nd_net.net->net_cookie;
		/* L3 devices (tun, wireguard, ipip) carry no link-layer header */
		if (!dev->hard_header_len)
			l3_off = 0;
	}
	/* its own interface's egress, of a guarded workload: the guard judges next */
	if (own && dir == NF_DIR_EGRESS)
		w.defer_end = NF_DEFER_IF_GUARDED;
	return nf_verdict(skb, NULL, &w, l3_off) ? TC_ACT_OK : TC_ACT_SHOT;
}

/*
 * On the endpoint's own interface (macvlan, ipvlan, host-device: types with
 * no host-side peer). Packets arriving there: the endpoint's ingress.
 */
SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return nf_tc(skb, NF_DIR_INGRESS, true);
}

/* Packets the endpoint sends, on its own interface: its egress. */
SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	return nf_tc(skb, NF_DIR_EGRESS, true);
}

/*
 * On the host-side peer of an endpoint's veth, out of the workload's reach
 * (SPEC §3.11), at both hooks: what arrives there (ingress) is what the
 * endpoint sent (its egress), whatever socket or qdisc trick sent it; what
 * leaves there towards the endpoint (egress) is its ingress, judged before
 * it enters the workload's netns.
 *
 * Which hook it runs at (tcx or clsact): the kernel sets skb->tc_at_ingress
 * on the way into either (and clears it in __dev_queue_xmit before egress),
 * so nothing a workload sends or sets can change it. One program for both
 * hooks of an attach point: a packet between two endpoints passes both
 * hooks of two peers, and with one program per hook those were two copies
 * of the same code to fetch (bench/ab.sh, connect loop: 2,092 ns of program
 * time per connection with two, 1,849-1,931 with one).
 */
SEC("tc")
int tc_peer(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	__u8 dir = BPF_CORE_READ_BITFIELD(kskb, tc_at_ingress) ? NF_DIR_EGRESS : NF_DIR_INGRESS;

	/* one body for both directions: clang would otherwise copy nf_tc per
	 * direction, and the copies' stack went past the verifier's 512 bytes */
	asm volatile("" : "+r"(dir));
	return nf_tc(skb, dir, false);
}

/*
 * tc_peer for BPF_PROG_TEST_RUN, which leaves tc_at_ingress 0: the hook a
 * run stands for comes in skb->cb[NF_TEST_HOOK_CB]. Loaded only by private
 * instances (tests, bench_prog), in tc_peer's place, never attached. It was
 * a .rodata switch in tc_peer: the verifier drops the branch but keeps its
 * load, a cold line read by every packet (perf, connect loop: 4-10% of
 * tc_peer's samples).
 */
SEC("tc")
int tc_peer_cb(struct __sk_buff *skb)
{
	return nf_tc(skb, skb->cb[NF_TEST_HOOK_CB] == NF_TEST_HOOK_INGRESS ? NF_DIR_EGRESS :
									     NF_DIR_INGRESS,
		     false);
}

/*
 * The guard on a macvlan endpoint's parent device (struct nf_guard_key):
 * frames of guarded endpoints are judged again here, out of the workload's
 * reach, so a packet socket that skips the endpoint's own tc egress
 * (PACKET_QDISC_BYPASS) or lies about its protocol gets no further, and a
 * denied frame for the endpoint is dropped before its interface (and any tap
 * on it) sees it. Other frames are not the guard's business.
 */
static __always_inline int nf_tc_guard(struct __sk_buff *skb, __u8 dir)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device *dev = kskb->dev;
	/* arriving for a guarded endpoint: its own interface judges next */
	struct nf_where w = { .hook = NF_HOOK_TC, .dir = dir,
			      .defer_end = dir == NF_DIR_INGRESS ? NF_DEFER_YES : NF_DEFER_NO };
	struct nf_guard_key gk = { .ifindex = skb->ifindex };
	struct ethhdr *eth = data;
	struct nf_ep_key *ek;

	if (!dev || (void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	gk.netns_cookie = dev->nd_net.net->net_cookie;
	__builtin_memcpy(gk.mac, dir == NF_DIR_EGRESS ? eth->h_source : eth->h_dest, 6);
	ek = bpf_map_lookup_elem(&nf_guard, &gk);
	if (dir == NF_DIR_EGRESS) {
		/* sent by a socket of a guarded workload under a MAC not its own */
		__u64 sk_ns = bpf_get_netns_cookie(skb);
		__u32 *tenant = sk_ns != gk.netns_cookie ?
					bpf_map_lookup_elem(&nf_guarded_ns, &sk_ns) : NULL;

		if (tenant && (!ek || ek->netns_cookie != sk_ns)) {
			nf_count(*tenant, NF_DIR_EGRESS, NF_DROP_SPOOFED, NF_HOOK_TC, skb->len);
			return TC_ACT_SHOT;
		}
	}
	if (!ek)
		return TC_ACT_OK;
	w.scope = ek->netns_cookie;
	w.ifindex = ek->ifindex;
	return nf_verdict(skb, NULL, &w, ETH_HLEN) ? TC_ACT_OK : TC_ACT_SHOT;
}

/* Frames arriving at the parent: towards its guarded endpoints. */
SEC("tc")
int tc_guard_ingress(struct __sk_buff *skb)
{
	return nf_tc_guard(skb, NF_DIR_INGRESS);
}

/* Frames leaving through the parent: from its guarded endpoints. */
SEC("tc")
int tc_guard_egress(struct __sk_buff *skb)
{
	return nf_tc_guard(skb, NF_DIR_EGRESS);
}

/* ---- cgroup: every socket in a fenced cgroup and below it ---- */

/*
 * The fenced cgroup is the deepest ancestor (or self) with an endpoint: a
 * process can't escape by moving into a child cgroup, because the programs
 * attached to the parent run for the child too and find the parent here.
 */
static __always_inline struct nf_endpoint *nf_cg_lookup(struct __sk_buff *skb, __u64 *cgid)
{
	struct nf_endpoint *ep = NULL, *e;
	__u64 id;
	int level;

	for (level = 0; level <= NF_CGROUP_MAX_DEPTH; level++) {
		/* skb: the socket's cgroup; NULL (socket hooks): the caller's */
		id = skb ? bpf_skb_ancestor_cgroup_id(skb, level) :
			   bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			break;
		e = bpf_map_lookup_elem(&nf_cg_endpoints, &id);
		if (e) {
			ep = e;
			*cgid = id;
		}
	}
	return ep;
}

static __always_inline int nf_cg_skb(struct __sk_buff *skb, __u8 dir)
{
	struct nf_where w = { .hook = NF_HOOK_CGROUP, .dir = dir };
	struct nf_endpoint *ep;

	ep = nf_cg_lookup(skb, &w.scope);
	if (!ep)
		return CG_PASS;	/* a sibling program of another tool; not ours to judge */
	return nf_verdict(skb, ep, &w, 0) ? CG_PASS : CG_DROP;
}

SEC("cgroup_skb/ingress")
int cg_ingress(struct __sk_buff *skb)
{
	return nf_cg_skb(skb, NF_DIR_INGRESS);
}

SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	return nf_cg_skb(skb, NF_DIR_EGRESS);
}

/*
 * Socket hooks: refuse a denied egress at connect()/sendmsg() with EPERM, so
 * applications fail at once instead of timing out. The skb hooks remain the
 * enforcement of record; here we only refuse what is certainly a new flow the
 * policy denies. A datagram socket bound to a port that may be answering a
 * tracked flow (UDP replies) is left to the skb hooks unless its local address
 * is known and no tracked flow matches.
 */
static __always_inline int nf_sock_addr(struct bpf_sock_addr *ctx, bool v6)
{
	struct nf_pkt pkt = {};
	struct nf_endpoint *ep;
	struct nf_tenant_info *ti;
	struct nf_config *cfg;
	struct bpf_sock *sk;
	__u32 zero = 0;
	__u64 cgid = 0;
	bool local_known = false;
	__u8 reason;

	ep = nf_cg_lookup(NULL, &cgid);
	if (!ep)
		return 1;
	cfg = bpf_map_lookup_elem(&nf_config, &zero);
	ti = nf_tenant(ep->tenant_id);

	pkt.proto = ctx->protocol;
	pkt.dport = (__be16)ctx->user_port;
	if (v6) {
		pkt.family = 6;
		((__u32 *)pkt.daddr)[0] = ctx->user_ip6[0];
		((__u32 *)pkt.daddr)[1] = ctx->user_ip6[1];
		((__u32 *)pkt.daddr)[2] = ctx->user_ip6[2];
		((__u32 *)pkt.daddr)[3] = ctx->user_ip6[3];
	} else {
		pkt.family = 4;
		nf_v4_mapped(pkt.daddr, ctx->user_ip4);
	}

	sk = ctx->sk;
	/* connect() on a stream socket opens a new flow, bound or not: judge it.
	 * A bound datagram socket might be replying to a flow the peer opened. */
	if (ctx->type != SOCK_STREAM && sk && sk->src_port) {
		if (v6) {
			((__u32 *)pkt.saddr)[0] = sk->src_ip6[0];
			((__u32 *)pkt.saddr)[1] = sk->src_ip6[1];
			((__u32 *)pkt.saddr)[2] = sk->src_ip6[2];
			((__u32 *)pkt.saddr)[3] = sk->src_ip6[3];
			local_known = sk->src_ip6[0] | sk->src_ip6[1] | sk->src_ip6[2] |
				      sk->src_ip6[3];
		} else {
			nf_v4_mapped(pkt.saddr, sk->src_ip4);
			local_known = sk->src_ip4 != 0;
		}
		if (!local_known)
			return 1;
		pkt.sport = bpf_htons((__u16)sk->src_port);
		{
			struct nf_ct_key ck = {};

			nf_ct_key_fill(&ck, cgid, 0, pkt.proto, NF_DIR_EGRESS, pkt.saddr, pkt.daddr,
				       pkt.sport, pkt.dport);
			if (bpf_map_lookup_elem(&nf_ct, &ck))
				return 1;
		}
	}

	reason = nf_rule_reason(nf_policy_judge(ep->tenant_id, ti, nf_epoch(ti), cfg, NF_DIR_EGRESS,
						pkt.daddr, pkt.proto, pkt.dport));
	if (!reason)
		return 1;
	nf_count(ep->tenant_id, NF_DIR_EGRESS, reason, NF_HOOK_CGROUP, 0);
	nf_event(cfg, &pkt, ep->tenant_id, cgid, 0, 0, NF_DIR_EGRESS, reason, NF_HOOK_CGROUP);
	return 0;
}

SEC("cgroup/connect4")
int cg_connect4(struct bpf_sock_addr *ctx)
{
	return nf_sock_addr(ctx, false);
}

SEC("cgroup/connect6")
int cg_connect6(struct bpf_sock_addr *ctx)
{
	return nf_sock_addr(ctx, true);
}

SEC("cgroup/sendmsg4")
int cg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return nf_sock_addr(ctx, false);
}

SEC("cgroup/sendmsg6")
int cg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return nf_sock_addr(ctx, true);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* cgroup/sock_create: raw sockets in fenced cgroups (a header of its own) */
#include "lib/sock_create.bpf.h"
