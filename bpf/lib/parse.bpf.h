/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for tc and cgroup_skb alike: a cursor offset from skb->data
 * (tc: the Ethernet header, or the IP header on L3 devices; cgroup_skb: the IP
 * header), bounds checked before every header, every loop with a named
 * maximum. IPv4 and IPv6 end in the same struct nf_pkt with v4-mapped
 * addresses, so everything after parsing is family-agnostic.
 */
#ifndef NF_BPF_PARSE_H
#define NF_BPF_PARSE_H

#define NF_IPV6_EXT_MAX		8	/* extension headers walked before giving up (malformed) */
#define NF_MAX_DIRECT_OFF	512	/* direct packet access only below this offset */

enum nf_frag_kind {
	NF_FRAG_NONE = 0,
	NF_FRAG_FIRST = 1,	/* offset 0, more fragments: carries the L4 header */
	NF_FRAG_LATER = 2,	/* offset != 0: no L4 header, follows the first */
};

struct nf_pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;		/* ICMP echo request: the id; echo reply: 0 */
	__be16 dport;		/* ICMP echo reply: the id; echo request: 0 */
	__u8 proto;		/* L4 protocol after the IPv6 extension headers */
	__u8 family;		/* 4 or 6 */
	__u8 frag;		/* enum nf_frag_kind */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 is_nd;		/* IPv6 ND or MLD: allowed when its shape is (nf_nd_check) */
	__u8 is_icmp_err;	/* inner tuple below is valid */
	__u8 in_proto;
	__u8 hop_limit;		/* IPv6 hop limit (IPv4 TTL) */
	__u16 l4_len;		/* bytes from the L4 header to the end of the IP payload */
	__u32 frag_id;
	__be16 in_sport;
	__be16 in_dport;
	__u8 in_saddr[16];
	__u8 in_daddr[16];	/* ND: the NS/NA target address */
};

/* The frame's ethertype did not match skb->protocol (nf_tc): malformed. */
#define NF_ETH_MISMATCH		0xFFFF

/*
 * Copy len bytes at off: direct access when the bytes are in the linear part,
 * bpf_skb_load_bytes otherwise (non-linear skbs). len must be a constant.
 */
static __always_inline int nf_load(struct __sk_buff *skb, __u32 off, void *to, const __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (off <= NF_MAX_DIRECT_OFF) {
		__u64 o = off;
		void *p;

		/* clang drops a mask it can prove redundant; the verifier needs it
		 * to bound the packet pointer, so make it opaque. */
		asm volatile("%0 &= 0x3ff" : "+r"(o));
		p = data + o;

		if (p + len <= data_end) {
			__builtin_memcpy(to, p, len);
			return 0;
		}
	}
	return bpf_skb_load_bytes(skb, off, to, len);
}

#define NF_LOAD(skb, off, ptr) nf_load(skb, off, ptr, sizeof(*(ptr)))

/* Returns the L4 offset and fills pkt's addresses/proto/frag, or < 0 if malformed. */
static __always_inline int nf_parse_ipv4(struct __sk_buff *skb, __u32 off, struct nf_pkt *pkt,
					 __u8 *saddr, __u8 *daddr, __u8 *proto, bool inner)
{
	struct iphdr ip;
	__u32 hlen;
	__u16 frag_off;

	if (NF_LOAD(skb, off, &ip))
		return -1;
	if (ip.version != 4 || ip.ihl < 5)
		return -1;
	hlen = ip.ihl * 4;
	if (!inner && (bpf_ntohs(ip.tot_len) < hlen || bpf_ntohs(ip.tot_len) > skb->len - off))
		return -1;
	nf_v4_mapped(saddr, ip.saddr);
	nf_v4_mapped(daddr, ip.daddr);
	*proto = ip.protocol;
	if (!inner) {
		pkt->family = 4;
		pkt->hop_limit = ip.ttl;
		pkt->l4_len = bpf_ntohs(ip.tot_len) - hlen;
		frag_off = bpf_ntohs(ip.frag_off);
		if (frag_off & IP_OFFSET)
			pkt->frag = NF_FRAG_LATER;
		else if (frag_off & IP_MF)
			pkt->frag = NF_FRAG_FIRST;
		pkt->frag_id = bpf_ntohs(ip.id);
	}
	return off + hlen;
}

static __always_inline int nf_parse_ipv6(struct __sk_buff *skb, __u32 off, struct nf_pkt *pkt,
					 __u8 *saddr, __u8 *daddr, __u8 *proto, bool inner)
{
	struct ipv6hdr ip6;
	__u8 nexthdr;
	int i;

	if (NF_LOAD(skb, off, &ip6))
		return -1;
	if (ip6.version != 6)
		return -1;
	if (!inner && sizeof(ip6) + bpf_ntohs(ip6.payload_len) > skb->len - off)
		return -1;
	/*
	 * IPv4-mapped addresses never appear in IPv6 headers on the wire (RFC
	 * 4291 2.5.5.2; ip6_rcv drops them too). Here they would be read as the
	 * IPv4 address they map and match IPv4 rules.
	 */
	if (nf_is_v4_mapped(&ip6.saddr) || nf_is_v4_mapped(&ip6.daddr))
		return -1;
	nf_copy_addr(saddr, &ip6.saddr);
	nf_copy_addr(daddr, &ip6.daddr);
	if (!inner) {
		pkt->family = 6;
		pkt->hop_limit = ip6.hop_limit;
	}
	nexthdr = ip6.nexthdr;
	off += sizeof(ip6);
	/* the payload ends here: l4_len is taken from it below */
	if (!inner)
		pkt->l4_len = bpf_ntohs(ip6.payload_len);

	/*
	 * Walk extension headers to the transport header (SPEC §3.10: no bypass):
	 * up to NF_IPV6_EXT_MAX of them; the iteration after the last one only
	 * looks at the header type that follows.
	 */
	for (i = 0; i <= NF_IPV6_EXT_MAX; i++) {
		struct {
			__u8 nexthdr;
			__u8 hdrlen;
			__be16 frag_off;
			__be32 id;
		} ext;

		switch (nexthdr) {
		case NF_IPPROTO_HOPOPTS:
		case NF_IPPROTO_ROUTING:
		case NF_IPPROTO_DSTOPTS:
		case NF_IPPROTO_AH:
		case NF_IPPROTO_FRAGMENT:
			break;
		default:
			*proto = nexthdr;
			return off;
		}
		if (i == NF_IPV6_EXT_MAX)
			break;
		if (NF_LOAD(skb, off, &ext))
			return -1;
		if (nexthdr == NF_IPPROTO_FRAGMENT) {
			__u16 fo = bpf_ntohs(ext.frag_off);

			if (!inner) {
				if (fo & 0xFFF8)
					pkt->frag = NF_FRAG_LATER;
				else if (fo & 1)
					pkt->frag = NF_FRAG_FIRST;
				pkt->frag_id = bpf_ntohl(ext.id);
			}
			if (fo & 0xFFF8) {
				/* no transport header in a later fragment */
				*proto = ext.nexthdr;
				return off + 8;
			}
			off += 8;
		} else if (nexthdr == NF_IPPROTO_AH) {
			off += (ext.hdrlen + 2) * 4;
		} else {
			off += (ext.hdrlen + 1) * 8;
		}
		nexthdr = ext.nexthdr;
	}
	return -1;	/* more extension headers than we walk: malformed */
}

/* Ports (or echo id) of the L4 header at off. */
static __always_inline int nf_parse_l4(struct __sk_buff *skb, __u32 off, __u8 proto,
				       __be16 *sport, __be16 *dport, struct nf_pkt *pkt, bool inner)
{
	switch (proto) {
	case NF_IPPROTO_TCP: {
		struct {
			__be16 sport, dport;
			__be32 seq, ack;
			__u8 doff_res;
			__u8 flags;
			__be16 window, csum, urg;
		} th;

		if (inner) {
			/* ICMP errors quote at least 8 bytes of the original header */
			if (NF_LOAD(skb, off, (__be32 *)&th))
				return -1;
		} else {
			__u32 doff;

			if (NF_LOAD(skb, off, &th))
				return -1;
			/* the whole header, options included, must be there */
			doff = (th.doff_res >> 4) * 4;
			if (doff < 20 || off + doff > skb->len)
				return -1;
			pkt->tcp_flags = th.flags;
		}
		*sport = th.sport;
		*dport = th.dport;
		return 0;
	}
	case NF_IPPROTO_UDP: {
		struct {
			__be16 sport, dport;
			__be16 len, csum;
		} uh;

		if (NF_LOAD(skb, off, &uh))
			return -1;
		*sport = uh.sport;
		*dport = uh.dport;
		return 0;
	}
	case NF_IPPROTO_SCTP: {
		/* the common header: ports, verification tag, checksum */
		struct {
			__be16 sport, dport;
			__be32 vtag, csum;
		} sh;

		/* an ICMP error quotes only 8 bytes of it */
		if (inner ? NF_LOAD(skb, off, (__u64 *)&sh) : NF_LOAD(skb, off, &sh))
			return -1;
		*sport = sh.sport;
		*dport = sh.dport;
		return 0;
	}
	case NF_IPPROTO_ICMP:
	case NF_IPPROTO_ICMPV6: {
		struct {
			__u8 type, code;
			__be16 csum;
			__be16 id, seq;
		} ih;

		if (NF_LOAD(skb, off, &ih))
			return -1;
		if (!inner)
			pkt->icmp_type = ih.type;
		/*
		 * Echo: the id stands for the requester's port, so a request is
		 * (id -> 0) and its reply (0 -> id): the reply matches the
		 * request's flow, and a request coming back the other way doesn't.
		 */
		if ((proto == NF_IPPROTO_ICMP && ih.type == ICMP_ECHO) ||
		    (proto == NF_IPPROTO_ICMPV6 && ih.type == ICMPV6_ECHO_REQUEST))
			*sport = ih.id;
		else if ((proto == NF_IPPROTO_ICMP && ih.type == ICMP_ECHOREPLY) ||
			 (proto == NF_IPPROTO_ICMPV6 && ih.type == ICMPV6_ECHO_REPLY))
			*dport = ih.id;
		return 0;
	}
	default:
		return 0;
	}
}

static __always_inline bool nf_is_icmp_error(__u8 proto, __u8 type)
{
	if (proto == NF_IPPROTO_ICMP)
		return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
		       type == ICMP_PARAMETERPROB;
	if (proto == NF_IPPROTO_ICMPV6)
		return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
	return false;
}

/* The 64-bit word whose memory holds lo, then hi (either byte order). */
static __always_inline __u64 nf_w64(__u32 lo, __u32 hi)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u64)hi << 32 | lo;
#else
	return (__u64)lo << 32 | hi;
#endif
}

/* nf_parse_fast writes nf_ct_key as these words */
_Static_assert(__builtin_offsetof(struct nf_ct_key, ifindex) == 8 &&
		       __builtin_offsetof(struct nf_ct_key, lport) == 12 &&
		       __builtin_offsetof(struct nf_ct_key, rport) == 14 &&
		       __builtin_offsetof(struct nf_ct_key, laddr) == 16 &&
		       __builtin_offsetof(struct nf_ct_key, raddr) == 32,
	       "nf_ct_key's words");

/*
 * The common packet, parsed inline with direct packet access straight into
 * its conntrack key, oriented from the endpoint (dir): IPv4 without options
 * or fragmentation, or IPv6 without extension headers, carrying TCP or UDP,
 * all in the linear part, behind an Ethernet header whose ethertype is the
 * skb's protocol and no VLAN tag (l3_off ETH_HLEN), or none (0: an L3 device
 * or cgroup_skb, where the IP version must agree with the protocol). Returns
 * true when it filled ck and *tcp_flags; anything else (including anything
 * malformed) is left to nf_parse, which has the last word. Nearly every
 * packet is one of these, and a packet of an established flow needs nothing
 * else: no struct nf_pkt, no second copy of the addresses, no nf_eth_proto.
 */
static __always_inline bool nf_parse_fast(struct __sk_buff *skb, __u32 l3_off, __u8 dir,
					  __u64 scope, __u32 ifindex, struct nf_ct_key *ck,
					  __u8 *tcp_flags)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	bool egress = dir == NF_DIR_EGRESS;
	__u64 *la = (__u64 *)ck->laddr, *ra = (__u64 *)ck->raddr;
	__be16 eth_proto = skb->protocol;
	__u32 l4_off, len = skb->len, pp;
	__be16 *ports;
	void *l3 = data;
	__u8 proto;

	/*
	 * Every store goes to a fixed field of ck, the endpoint's side chosen
	 * by value (egress: source is local): pointers chosen by dir made the
	 * compiler spill them on this path. And every store is a whole 64-bit
	 * word of ck: the flow cache's hash and compare read it back as such
	 * right away, and a load that spans two narrower stores still in
	 * flight cannot be forwarded from them; it waits for them to reach the
	 * cache (perf, veth UDP flood: the hash's first loads took a fifth of
	 * the program's samples when ck was written 32 and 16 bits at a time).
	 */
	if (l3_off == ETH_HLEN) {
		struct ethhdr *eth = data;

		/* the frame's own ethertype decides (nf_eth_proto) */
		if ((void *)(eth + 1) > data_end || eth->h_proto != eth_proto ||
		    skb->vlan_present)
			return false;
		l3 = eth + 1;
	} else if (l3_off) {
		return false;
	}
	if (eth_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		__u16 tot_len;
		__be32 s, d;

		/* version 4, no options */
		if ((void *)(ip + 1) > data_end || *(__u8 *)ip != 0x45 ||
		    (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
			return false;
		tot_len = bpf_ntohs(ip->tot_len);
		if (tot_len < sizeof(*ip) || tot_len > len - l3_off)
			return false;
		s = ip->saddr;
		d = ip->daddr;
		/* ::ffff:a.b.c.d */
		la[0] = 0;
		la[1] = nf_w64(bpf_htonl(0x0000ffff), egress ? s : d);
		ra[0] = 0;
		ra[1] = nf_w64(bpf_htonl(0x0000ffff), egress ? d : s);
		proto = ip->protocol;
		ports = (void *)(ip + 1);
		l4_off = l3_off + sizeof(*ip);
	} else if (eth_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		const __u64 *s, *d;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6 ||
		    sizeof(*ip6) + bpf_ntohs(ip6->payload_len) > len - l3_off ||
		    nf_is_v4_mapped(&ip6->saddr) || nf_is_v4_mapped(&ip6->daddr))
			return false;
		s = (const __u64 *)&ip6->saddr;
		d = (const __u64 *)&ip6->daddr;
		la[0] = egress ? s[0] : d[0];
		la[1] = egress ? s[1] : d[1];
		ra[0] = egress ? d[0] : s[0];
		ra[1] = egress ? d[1] : s[1];
		proto = ip6->nexthdr;
		ports = (void *)(ip6 + 1);
		l4_off = l3_off + sizeof(*ip6);
	} else {
		return false;
	}

	if (proto == NF_IPPROTO_TCP) {
		struct tcphdr *th = (void *)ports;

		if ((void *)(th + 1) > data_end || th->doff < 5 || l4_off + th->doff * 4 > len)
			return false;
		*tcp_flags = ((__u8 *)th)[13];
	} else if (proto == NF_IPPROTO_UDP) {
		if ((void *)(ports + 4) > data_end)	/* the whole UDP header */
			return false;
		*tcp_flags = 0;
	} else {
		return false;
	}
	ck->scope_proto = NF_CT_SCOPE_PROTO(scope, proto);
	/*
	 * ifindex, lport, rport: the key's second word, in one store. The two
	 * ports in one load, source then destination, as lport then rport on
	 * egress; on ingress their halves swapped (a 16-bit rotation, in
	 * either byte order).
	 */
	pp = *(__u32 *)ports;
	if (!egress)
		pp = pp << 16 | pp >> 16;
	*(__u64 *)&ck->ifindex = nf_w64(ifindex, pp);
	return true;
}

/*
 * Parse an IP packet at l3_off with ethertype proto (network order).
 * Returns 0, or -1 if malformed or truncated.
 *
 * A global (non-inlined) function: the verifier checks it once, on its own,
 * instead of once per path through the caller, which kept the whole program
 * below the verifier's instruction budget.
 */
__noinline int nf_parse(struct __sk_buff *skb, __u32 l3_off, __u32 eth_proto, struct nf_pkt *pkt)
{
	int l4;

	if (!skb || !pkt)
		return -1;
	if (eth_proto == bpf_htons(ETH_P_IP)) {
		l4 = nf_parse_ipv4(skb, l3_off, pkt, pkt->saddr, pkt->daddr, &pkt->proto, false);
	} else {
		l4 = nf_parse_ipv6(skb, l3_off, pkt, pkt->saddr, pkt->daddr, &pkt->proto, false);
		/* payload_len counts the extension headers too */
		if (l4 >= 0) {
			__u32 ext = l4 - l3_off - 40;

			if (ext > pkt->l4_len)
				return -1;
			pkt->l4_len -= ext;
		}
	}
	if (l4 < 0)
		return -1;
	if (pkt->frag == NF_FRAG_LATER)
		return 0;
	if (nf_parse_l4(skb, l4, pkt->proto, &pkt->sport, &pkt->dport, pkt, false))
		return -1;

	/* IPv6 link control: neighbour discovery and multicast listener
	 * discovery (MLD, MLDv2 report), without which IPv6 doesn't work. */
	if (pkt->proto == NF_IPPROTO_ICMPV6 &&
	    ((pkt->icmp_type >= NDISC_ROUTER_SOLICIT && pkt->icmp_type <= NDISC_REDIRECT) ||
	     (pkt->icmp_type >= ICMPV6_MLD_QUERY && pkt->icmp_type <= ICMPV6_MLD_DONE) ||
	     pkt->icmp_type == ICMPV6_MLD2_REPORT)) {
		pkt->is_nd = 1;
		/* NS and NA name a target address after 4 reserved bytes */
		if ((pkt->icmp_type == NDISC_NEIGHBOUR_SOLICITATION ||
		     pkt->icmp_type == NDISC_NEIGHBOUR_ADVERTISEMENT) &&
		    nf_load(skb, l4 + 8, pkt->in_daddr, 16))
			return -1;
		return 0;
	}

	/* ICMP errors: the quoted packet, to find the connection they relate to. */
	if (nf_is_icmp_error(pkt->proto, pkt->icmp_type)) {
		int in_l4;

		l4 += 8;
		if (pkt->family == 4)
			in_l4 = nf_parse_ipv4(skb, l4, pkt, pkt->in_saddr, pkt->in_daddr,
					      &pkt->in_proto, true);
		else
			in_l4 = nf_parse_ipv6(skb, l4, pkt, pkt->in_saddr, pkt->in_daddr,
					      &pkt->in_proto, true);
		if (in_l4 < 0)
			return -1;
		if (nf_parse_l4(skb, in_l4, pkt->in_proto, &pkt->in_sport, &pkt->in_dport, pkt,
				true))
			return -1;
		pkt->is_icmp_err = 1;
	}
	return 0;
}

#endif
