/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Link control that is always allowed, but checked (SPEC §3.8): ARP and IPv6
 * neighbour discovery / MLD pass without a policy rule only in the shape the
 * protocols define, so they can't carry anything else; an endpoint can't
 * claim an address that isn't its own, nor act as a router. What fails the
 * shape is judged like any other packet (anti-spoofing, then policy).
 */
#ifndef NF_BPF_LINK_H
#define NF_BPF_LINK_H

static __always_inline bool nf_is_own_addr(const struct nf_endpoint *ep, const __u8 *addr)
{
	struct nf_ep_addr_key ak = { .ep_id = ep->ep_id };

	nf_copy_addr(ak.addr, addr);
	return bpf_map_lookup_elem(&nf_ep_addrs, &ak) != NULL;
}

enum nf_link {
	NF_LINK_PASS,		/* valid link control: pass */
	NF_LINK_NOT,		/* not valid link control: judge as an ordinary packet */
	NF_LINK_SPOOFED,	/* claims an address not the endpoint's: spoofed_source */
	NF_LINK_DENIED,		/* router advertisement or redirect from an endpoint */
	NF_LINK_MALFORMED,
};

static __always_inline bool nf_addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline bool nf_addr_unspec(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !(w[0] | w[1] | w[2] | w[3]);
}

/* fe80::/10 */
static __always_inline bool nf_addr_ll(const __u8 *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

static __always_inline bool nf_addr_mcast(const __u8 *a)
{
	return a[0] == 0xff;
}

/* ff02::/16: link-local scope multicast (all-nodes, all-routers, MLDv2, ...) */
static __always_inline bool nf_addr_ll_mcast(const __u8 *a)
{
	return a[0] == 0xff && a[1] == 0x02;
}

/* ff02::1:ff00:0/104: solicited-node multicast */
static __always_inline bool nf_addr_solicited(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == bpf_htonl(0xff020000) && !w[1] && w[2] == bpf_htonl(1) && a[12] == 0xff;
}

struct nf_arphdr {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

/*
 * ARP (l3_off: the ARP header). Only Ethernet/IPv4 ARP exists here; what an
 * endpoint sends must claim one of its own addresses as sender (or 0.0.0.0,
 * an address probe): a gratuitous ARP for someone else's address would
 * poison its neighbours' caches.
 */
static __always_inline enum nf_link nf_arp_check(struct __sk_buff *skb, __u32 l3_off, __u8 dir,
						 const struct nf_endpoint *ep, __u8 *spa_mapped)
{
	struct nf_arphdr arp;
	__be32 spa;

	if (NF_LOAD(skb, l3_off, &arp))
		return NF_LINK_MALFORMED;
	if (arp.htype != bpf_htons(ARPHRD_ETHER) || arp.ptype != bpf_htons(ETH_P_IP) ||
	    arp.hlen != 6 || arp.plen != 4)
		return NF_LINK_MALFORMED;
	__builtin_memcpy(&spa, arp.spa, 4);
	nf_v4_mapped(spa_mapped, spa);
	if (dir == NF_DIR_INGRESS || !spa || (ep->flags & NF_EPF_NO_SPOOF_CHECK))
		return NF_LINK_PASS;
	return nf_is_own_addr(ep, spa_mapped) ? NF_LINK_PASS : NF_LINK_SPOOFED;
}

#define NF_ND_MAX_LEN	64	/* RS/NS/NA with their link-layer address and nonce options */

/*
 * IPv6 neighbour discovery and MLD (pkt->is_nd). Hop limit 255 (MLD: 1) so
 * the message can't have been routed; addressing as RFC 4861/3810 define it;
 * short enough to hold nothing but the options these messages carry.
 */
static __always_inline enum nf_link nf_nd_check(const struct nf_pkt *pkt, __u8 dir,
						const struct nf_endpoint *ep)
{
	__u8 type = pkt->icmp_type;
	bool egress = dir == NF_DIR_EGRESS;
	bool mld = type < NDISC_ROUTER_SOLICIT || type == ICMPV6_MLD2_REPORT;
	const __u8 *s = pkt->saddr, *d = pkt->daddr;
	bool src_ok;

	if (egress && (type == NDISC_ROUTER_ADVERTISEMENT || type == NDISC_REDIRECT))
		return NF_LINK_DENIED;
	if (mld) {
		if (pkt->hop_limit != 1 || !nf_addr_mcast(d))
			return NF_LINK_NOT;
		return nf_addr_ll(s) || (nf_addr_unspec(s) && type != ICMPV6_MLD_QUERY) ?
			       NF_LINK_PASS : NF_LINK_NOT;
	}
	if (pkt->hop_limit != 255)
		return NF_LINK_NOT;
	/* RS, NS, NA either way (an RA or redirect only comes in: it may be longer) */
	if (type != NDISC_ROUTER_ADVERTISEMENT && type != NDISC_REDIRECT &&
	    pkt->l4_len > NF_ND_MAX_LEN)
		return NF_LINK_NOT;
	if (egress) {
		src_ok = nf_addr_ll(s) || nf_is_own_addr(ep, s) ||
			 (nf_addr_unspec(s) &&
			  (type == NDISC_ROUTER_SOLICIT || type == NDISC_NEIGHBOUR_SOLICITATION));
		if (!src_ok)
			return NF_LINK_NOT;
		switch (type) {
		case NDISC_ROUTER_SOLICIT:
			return nf_addr_ll_mcast(d) ? NF_LINK_PASS : NF_LINK_NOT;
		case NDISC_NEIGHBOUR_SOLICITATION:
			return nf_addr_solicited(d) || nf_addr_ll(d) || nf_addr_eq(d, pkt->in_daddr) ?
				       NF_LINK_PASS : NF_LINK_NOT;
		case NDISC_NEIGHBOUR_ADVERTISEMENT:
			/* the answer goes to whoever solicited, any unicast address */
			if (!(ep->flags & NF_EPF_NO_SPOOF_CHECK) && !nf_is_own_addr(ep, pkt->in_daddr))
				return NF_LINK_SPOOFED;
			return !nf_addr_mcast(d) || nf_addr_ll_mcast(d) ? NF_LINK_PASS : NF_LINK_NOT;
		}
		return NF_LINK_NOT;
	}
	/* towards the endpoint: to it, or link scope */
	return nf_addr_ll_mcast(d) || nf_addr_ll(d) || nf_is_own_addr(ep, d) ? NF_LINK_PASS :
									      NF_LINK_NOT;
}

#endif
