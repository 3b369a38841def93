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

#define NF_CT_TCP_CLOSED_NS	(10ULL * NS_PER_SEC)
#define NF_CT_TCP_OPENING_NS	(60ULL * NS_PER_SEC)
#define NF_CT_TCP_EST_NS	(6ULL * 3600 * NS_PER_SEC)
#define NF_CT_UDP_NS		(30ULL * NS_PER_SEC)
#define NF_CT_UDP_REPLIED_NS	(180ULL * NS_PER_SEC)
#define NF_CT_OTHER_NS		(60ULL * NS_PER_SEC)

static __always_inline void nf_ct_key_fill(struct nf_ct_key *k, __u32 ep_id, __u8 proto, __u8 dir,
					   const __u8 *saddr, const __u8 *daddr, __be16 sport,
					   __be16 dport)
{
	k->ep_id = ep_id;
	k->proto = proto;
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
			return NF_CT_TCP_CLOSED_NS;
		return (v->flags & NF_CT_SEEN_REPLY) ? NF_CT_TCP_EST_NS : NF_CT_TCP_OPENING_NS;
	case NF_IPPROTO_UDP:
		return (v->flags & NF_CT_SEEN_REPLY) ? NF_CT_UDP_REPLIED_NS : NF_CT_UDP_NS;
	default:
		return NF_CT_OTHER_NS;
	}
}

static __always_inline bool nf_ct_expired(const struct nf_ct_val *v, __u8 proto, __u64 now)
{
	return now - v->last_seen_ns > nf_ct_lifetime(v, proto);
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
	/* Writing the timestamp on every packet costs a cache line bounce
	 * between CPUs; a coarse (1/16 s) refresh is enough for expiry. */
	if (now - v->last_seen_ns > (NS_PER_SEC >> 4))
		v->last_seen_ns = now;
}

#endif
