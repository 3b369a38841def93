/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow cache (struct nf_fc_slot): per CPU, direct-mapped, in front of
 * nf_ct for the commonest packet of all, one of a tracked flow that changes
 * nothing (no SYN, FIN or RST, its direction already seen). A hit is a few
 * loads and compares with no call into the kernel: the nf_ct lookup is a
 * call to the hash map's lookup and another to jhash, and on this machine
 * (AMD, SRSO safe-RET) their returns cost most of a tracked packet (perf,
 * veth UDP flood: the instruction after the lookup's call took half of the
 * program's samples).
 *
 * A slot holds what the fast path found (nf_ct_established): the entry's
 * key, the directions whose packets changed nothing, its last_seen_ns and
 * the policy_gen its verdict stood under. It answers only while
 *   - policy_gen is still that gen: every policy flip, ipcache change,
 *     endpoint move and every write of nf_ct by userspace (purge, re-judge)
 *     bumps it, so no slot outlives one (revocation as on the fast path);
 *   - its last_seen_ns is at most NF_CT_REFRESH jiffies old: the entry can't
 *     have expired (every lifetime is seconds long), and once that passes
 *     the packet goes to nf_ct, which refreshes the entry as before;
 *   - the packet's direction is in dirs and it carries no SYN, FIN or RST.
 * A flow's FIN, RST or SYN without ACK forgets this CPU's slot
 * (nf_fc_unsettles, nf_fc_forget), and so does deleting its entry, so a
 * connection's last ACK still reaches nf_ct and ends it there. Slots are
 * filled only on tc, and only for flows whose entry has no FIN yet.
 *
 * What a slot can't see: a flow ended on another CPU. That CPU's SYN, FIN or
 * RST can't reach this CPU's slot, so this CPU may pass the flow's late
 * packets for up to NF_CT_REFRESH jiffies after its entry went (they were
 * allowed a moment before; conntrack keeps a closed flow 10 s).
 *
 * Per CPU, a slot has one writer at a time: tc programs run with bottom
 * halves off (egress) or in softirq (ingress), so one can't interrupt
 * another on its CPU. cgroup_skb programs can be interrupted by softirqs:
 * they neither read nor fill slots, and only forget (one byte store).
 * Colliding flows evict each other, which only costs the nf_ct lookup.
 */
#ifndef NF_BPF_FCACHE_H
#define NF_BPF_FCACHE_H

/* The slot of a key: its six words mixed by multiplication, top bits. */
static __always_inline __u32 nf_fc_index(const struct nf_ct_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = (w[0] ^ w[3]) * 0x9e3779b97f4a7c15ULL ^ (w[1] ^ w[4]) * 0xc2b2ae3d27d4eb4fULL ^
		  (w[2] ^ w[5]) * 0x165667b19e3779f9ULL;

	return (__u32)(((h ^ (h >> 32)) * 0x9e3779b97f4a7c15ULL) >> (64 - NF_FC_BITS));
}

/* This CPU's slot for k, holding k or not. */
static __always_inline struct nf_fc_slot *nf_fc_slot(const struct nf_ct_key *k)
{
	__u32 idx = nf_fc_index(k);

	return bpf_map_lookup_elem(&nf_flow_cache, &idx);
}

static __always_inline bool nf_fc_holds(const struct nf_fc_slot *s, const struct nf_ct_key *k)
{
	const __u64 *a = (const __u64 *)k, *b = (const __u64 *)&s->key;

	return !((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
		 (a[5] ^ b[5]));
}

/*
 * true: a packet of a tracked flow, on tc, that changes nothing and whose
 * entry's verdict stands (see above): pass it.
 */
static __always_inline bool nf_fc_hit(const struct nf_ct_key *k, __u8 dir, __u8 tcp_flags)
{
	struct nf_fc_slot *s;
	struct nf_config *cfg;
	__u32 zero = 0;

	if (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST))
		return false;
	s = nf_fc_slot(k);
	if (!s || !(s->dirs & (1 << dir)))
		return false;
	cfg = bpf_map_lookup_elem(&nf_config, &zero);
	if (!cfg || !cfg->policy_gen || s->gen != cfg->policy_gen)
		return false;
	if ((__s64)(nf_now() - s->seen) > (__s64)NF_CT_REFRESH)
		return false;
	return nf_fc_holds(s, k);
}

/*
 * Remember that dir's packets of k's flow change nothing, as its entry
 * (last_seen_ns seen) stood under gen. fresh: a new entry, the slot's other
 * direction is not known yet.
 */
static __always_inline void nf_fc_fill(const struct nf_ct_key *k, __u8 dir, __u32 gen, __u64 seen,
				       bool fresh)
{
	struct nf_fc_slot *s = nf_fc_slot(k);
	__u8 dirs = 1 << dir;

	if (!s)
		return;
	if (!fresh && s->gen == gen && nf_fc_holds(s, k)) {
		if ((s->dirs & dirs) && s->seen == seen)
			return;		/* nothing new: no store */
		dirs |= s->dirs;
	} else {
		__builtin_memcpy(&s->key, k, sizeof(s->key));
		s->gen = gen;
	}
	s->seen = seen;
	s->dirs = dirs;
}

/*
 * A TCP packet after which a direction's packets may change the entry again:
 * a FIN or RST (closing), or a SYN without ACK (a closed tuple reopened:
 * its reply is new again). A SYN-ACK changes nothing a slot holds (the first
 * reply marks only its own direction seen), so the SYN's slot stays for the
 * handshake's ACK.
 */
static __always_inline bool nf_fc_unsettles(__u8 tcp_flags)
{
	return (tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) ||
	       (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* This CPU's slot no longer speaks for k's flow. */
static __always_inline void nf_fc_forget(const struct nf_ct_key *k)
{
	struct nf_fc_slot *s = nf_fc_slot(k);

	if (s && s->dirs && nf_fc_holds(s, k))
		s->dirs = 0;
}

#endif
