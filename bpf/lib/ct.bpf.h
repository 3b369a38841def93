/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * netfence's own connection tracking. Keys are oriented from the endpoint
 * (local/remote), so a flow and its replies share one entry and one lookup.
 * An expired entry counts as absent; when the LRU is full the kernel evicts
 * the least recently used entry and that flow's next packet is judged by
 * policy again (SPEC §3.4): a miss never allows by itself.
 */
#ifndef NF_BPF_CT_H
#define NF_BPF_CT_H

/*
 * Conntrack time in jiffies: bpf_jiffies64() is inlined by the verifier into
 * one load, where bpf_ktime_get_coarse_ns() cost ~18 ns per packet (bench_prog,
 * established flow). CONFIG_HZ comes from the running kernel's config.
 */
extern int CONFIG_HZ __kconfig __weak;

static __always_inline __u64 nf_now(void)
{
	return bpf_jiffies64();
}

/*
 * A full barrier between the loads before and after it: a fully ordered
 * atomic on the stack (x86 keeps loads in order anyway, arm64 would not).
 */
static __always_inline void nf_fence(void)
{
	volatile __u64 fence = 0;
	__u64 t;

	t = __sync_fetch_and_add(&fence, 0);
	asm volatile("" : : "r"(t) : "memory");
}

/* Lifetimes in seconds; timestamps are jiffies (nf_now()), HZ from kconfig. */
#define NF_CT_TCP_CLOSED_S	10ULL
#define NF_CT_TCP_OPENING_S	60ULL
#define NF_CT_TCP_EST_S		(6ULL * 3600)
#define NF_CT_UDP_S		30ULL
#define NF_CT_UDP_REPLIED_S	180ULL
#define NF_CT_OTHER_S		60ULL
#define NF_FRAG_TIMEOUT_S	30ULL
#define NF_HZ			((__u64)(CONFIG_HZ ? CONFIG_HZ : 1000))
/* Writing the timestamp on every packet costs a cache line bounce between
 * CPUs; a refresh every few jiffies is enough for expiry. */
#define NF_CT_REFRESH		4

static __always_inline void nf_ct_key_fill(struct nf_ct_key *k, __u64 scope, __u32 ifindex,
					   __u8 proto, __u8 dir, const __u8 *saddr,
					   const __u8 *daddr, __be16 sport, __be16 dport)
{
	k->scope_proto = NF_CT_SCOPE_PROTO(scope, proto);
	k->ifindex = ifindex;
	if (dir == NF_DIR_EGRESS) {
		nf_copy_addr(k->laddr, saddr);
		nf_copy_addr(k->raddr, daddr);
		k->lport = sport;
		k->rport = dport;
	} else {
		nf_copy_addr(k->laddr, daddr);
		nf_copy_addr(k->raddr, saddr);
		k->lport = dport;
		k->rport = sport;
	}
}

static __always_inline __u64 nf_ct_lifetime(const struct nf_ct_val *v, __u8 proto)
{
	switch (proto) {
	case NF_IPPROTO_TCP:
		if (v->flags & NF_CT_CLOSED)
			return NF_CT_TCP_CLOSED_S * NF_HZ;
		return ((v->flags & NF_CT_SEEN_REPLY) ? NF_CT_TCP_EST_S : NF_CT_TCP_OPENING_S) * NF_HZ;
	case NF_IPPROTO_UDP:
		return ((v->flags & NF_CT_SEEN_REPLY) ? NF_CT_UDP_REPLIED_S : NF_CT_UDP_S) * NF_HZ;
	default:
		return NF_CT_OTHER_S * NF_HZ;
	}
}

/*
 * Jiffies since `then`, 0 when `then` is later than `now`: another CPU may
 * refresh an entry with a newer jiffy while a sweep or a packet holds an
 * older `now`, and the unsigned difference would wrap to "expired long ago"
 * (the sweep deleted live flows so).
 */
static __always_inline __u64 nf_age(__u64 now, __u64 then)
{
	__s64 d = (__s64)(now - then);

	return d > 0 ? (__u64)d : 0;
}

static __always_inline bool nf_ct_expired(const struct nf_ct_val *v, __u8 proto, __u64 now)
{
	return nf_age(now, v->last_seen_ns) > nf_ct_lifetime(v, proto);
}

/* Account a packet of a tracked flow: reply seen, TCP FIN/RST. */
static __always_inline void nf_ct_touch(struct nf_ct_val *v, __u8 dir, __u8 tcp_flags, __u8 proto,
					__u64 now)
{
	__u8 flags = v->flags;
	bool reply = dir != v->origin_dir;

	if (reply)
		flags |= NF_CT_SEEN_REPLY;
	if (proto == NF_IPPROTO_TCP) {
		if (tcp_flags & TCP_FLAG_RST)
			flags |= NF_CT_CLOSED;
		if (tcp_flags & TCP_FLAG_FIN)
			flags |= reply ? NF_CT_FIN_REPLY : NF_CT_FIN_ORIG;
		if ((flags & (NF_CT_FIN_ORIG | NF_CT_FIN_REPLY)) == (NF_CT_FIN_ORIG | NF_CT_FIN_REPLY))
			flags |= NF_CT_CLOSED;
		/* a new SYN on a closed tuple reopens it */
		if ((tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN && !reply)
			flags &= ~(NF_CT_CLOSED | NF_CT_FIN_ORIG | NF_CT_FIN_REPLY | NF_CT_SEEN_REPLY);
	}
	if (flags != v->flags)
		v->flags = flags;
	if (nf_age(now, v->last_seen_ns) > NF_CT_REFRESH)
		v->last_seen_ns = now;
}

/* The nf_pkt of a packet nf_parse_fast took: its key holds all of it. */
static __always_inline void nf_pkt_from_key(struct nf_pkt *pkt, const struct nf_ct_key *k, __u8 dir,
					    __u8 tcp_flags, __u8 family)
{
	bool egress = dir == NF_DIR_EGRESS;

	__builtin_memset(pkt, 0, sizeof(*pkt));
	nf_copy_addr(pkt->saddr, egress ? k->laddr : k->raddr);
	nf_copy_addr(pkt->daddr, egress ? k->raddr : k->laddr);
	pkt->sport = egress ? k->lport : k->rport;
	pkt->dport = egress ? k->rport : k->lport;
	pkt->proto = NF_CT_KEY_PROTO(k);
	pkt->family = family;
	pkt->tcp_flags = tcp_flags;
}

#endif
