/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy lookup. A new flow in direction dir to/from peer P, protocol, port:
 *   1. peer cache {tenant, epoch, ipc_epoch, dir, P} -> (address class,
 *      identity class, identity). On a miss: the ipcache gives P's identity;
 *      the tenant's trie gives P's address class (longest prefix) and, when P
 *      belongs to a tenant, its identity class; the result is cached. The
 *      tenant epoch and ipcache epoch in the key make stale entries
 *      unreachable after a swap, so the cache never needs flushing.
 *   2. each class gives an Admin-tier and a lower-tier decision, combined as
 *      documented at struct nf_class.
 * Cost after the first packet to a peer is two hash lookups, flat in the
 * number of rules.
 *
 * userspace/lib/lookup.c does the same lookup from userspace (check, the
 * compiler's compile__lookup, tests); tests/bpf/test_lookup.c requires both
 * to give the same verdict and rule. A change here changes it there.
 */
#ifndef NF_BPF_POLICY_H
#define NF_BPF_POLICY_H

static __always_inline int nf_l4_index(__u8 proto)
{
	switch (proto) {
	case NF_IPPROTO_TCP:
		return NF_L4_TCP;
	case NF_IPPROTO_UDP:
		return NF_L4_UDP;
	case NF_IPPROTO_SCTP:
		return NF_L4_SCTP;
	}
	return -1;
}

/*
 * The two decisions of class cls for (proto, port) (abi.h, struct nf_class):
 * adm in the high 32 bits, low in the low ones (returned, not written
 * through pointers: that would put them on nf_judge's stack, which shares
 * the 512 bytes with the programs that call it).
 */
#define NF_DEC(low, adm)	(((__u64)(adm) << 32) | (__u32)(low))
#define NF_DEC_LOW(d)		((__u32)(d))
#define NF_DEC_ADM(d)		((__u32)((d) >> 32))

static __always_inline __u64 nf_class_decide(const struct nf_peer_class *cls, __u8 proto,
					     __be16 port)
{
	struct nf_port_key key = {};
	struct nf_port_val *v;
	__u32 mask;
	__u16 hport;
	int l4, p;

	l4 = nf_l4_index(proto);
	if (l4 < 0)
		return NF_DEC(cls->any_rule, cls->any_adm);
	mask = cls->plen_mask[l4] & NF_PC_PORTS;
	if (!mask)
		return NF_DEC(cls->any_rule, cls->any_adm);
	key.class_id = cls->class_id;
	key.proto = proto;
	hport = bpf_ntohs(port);
	for (p = 16; p >= 0; p--) {
		if (!(mask & (1u << p)))
			continue;
		key.plen = p;
		key.port = bpf_htons(p ? (hport & (__u16)(0xFFFF << (16 - p))) : 0);
		v = bpf_map_lookup_elem(&nf_ports, &key);
		if (v)
			return NF_DEC(v->rule_ref, v->adm);
	}
	return NF_DEC(cls->any_rule, cls->any_adm);
}

/* The decision that comes first (the lower rule_ref), 0 meaning none. */
static __always_inline __u32 nf_rule_first(__u32 a, __u32 b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return NF_RULE_REF(a) <= NF_RULE_REF(b) ? a : b;
}

/* The drop reason of a decision (0: allowed), SPEC §7. */
static __always_inline __u8 nf_rule_reason(__u32 rule)
{
	if (!rule)
		return NF_DROP_POLICY;
	if (rule == NF_RULE_HOST)
		return 0;
	switch (NF_RULE_ACT(rule)) {
	case NF_RULE_DENY_ADMIN:
		return NF_DROP_ADMIN;
	case NF_RULE_DENY_BASELINE:
		return NF_DROP_BASELINE;
	case NF_RULE_PASS:	/* never final: nf_judge resolves it */
		return NF_DROP_POLICY;
	}
	return 0;
}

static __always_inline void nf_peer_class_set(struct nf_peer_class *pc, const struct nf_class *c)
{
	pc->class_id = c->class_id;
	pc->any_rule = c->any_rule;
	pc->any_adm = c->any_adm;
	pc->plen_mask[0] = c->plen_mask[0] | (c->tiered ? NF_PC_TIERED : 0);
	pc->plen_mask[1] = c->plen_mask[1];
	pc->plen_mask[2] = c->plen_mask[2];
}

static __always_inline void nf_peer_classes(__u32 tenant_id, __u32 epoch, __u8 dir,
					    const __u8 *addr, __u32 peer_id,
					    struct nf_peer_cache_val *out)
{
	struct nf_policy_key pk = {};
	struct nf_class *cls;

	pk.prefixlen = NF_POLICY_KEY_FIXED_BITS + 128;
	pk.tenant_id = bpf_htonl(tenant_id);
	pk.parity = epoch & 1;
	pk.dir = dir;
	pk.kind = NF_PEER_ADDR;
	nf_copy_addr(pk.data, addr);
	cls = bpf_map_lookup_elem(&nf_policy, &pk);
	if (cls)
		nf_peer_class_set(&out->addr_cls, cls);
	if (peer_id == NF_ID_HOST)
		out->addr_cls.plen_mask[0] |= NF_PC_HOST;
	if (peer_id && peer_id != NF_ID_HOST) {
		__builtin_memset(pk.data, 0, sizeof(pk.data));
		pk.prefixlen = NF_POLICY_KEY_FIXED_BITS + 64;
		pk.kind = NF_PEER_IDENT;
		*(__be32 *)pk.data = bpf_htonl(NF_IDENT_TENANT(peer_id));
		*(__be32 *)(pk.data + 4) = bpf_htonl(NF_IDENT_INDEX(peer_id));
		cls = bpf_map_lookup_elem(&nf_policy, &pk);
		if (cls)
			nf_peer_class_set(&out->ident_cls, cls);
	}
}

static __always_inline __u32 nf_ipcache_id(const __u8 *addr)
{
	struct nf_lpm_addr_key k = { .prefixlen = 128 };
	struct nf_ipcache_val *v;

	nf_copy_addr(k.addr, addr);
	v = bpf_map_lookup_elem(&nf_ipcache, &k);
	return v ? v->id : 0;
}

/* A peer address, as nf_judge's argument (a pointer to 16 bytes). */
struct nf_peer_addr {
	__u8 a[16];
};

/* nf_judge's scalar arguments packed into one: dir, proto, port, host ingress. */
#define NF_JUDGE_ARGS(dir, proto, port, host_in)					\
	(((__u64)(host_in) << 32) | ((__u64)(dir) << 24) | ((__u64)(proto) << 16) |	\
	 (__u64)bpf_ntohs(port))

/*
 * Judge a new flow: returns the deciding decision word (abi.h: a rule_ref
 * and its action), NF_RULE_HOST, or 0 (default deny); nf_rule_reason() says
 * whether it allows. Global (verified once on its own) and context-free, so
 * the tc, cgroup_skb and sock_addr programs all call the same code. Its
 * arguments are scalars and one pointer, not a struct on the caller's stack:
 * the caller's frame and this one share the 512 bytes of stack.
 */
__noinline __u32 nf_judge(__u32 tenant_id, __u32 epoch, __u32 ipc_epoch, __u64 args,
			  const struct nf_peer_addr *peer)
{
	struct nf_peer_cache_key ck = {};
	struct nf_peer_cache_val *cv, nv = {};
	__u8 dir = (__u8)(args >> 24), proto = (__u8)(args >> 16);
	__be16 port = bpf_htons((__u16)args);
	__u32 adm;
	__u64 a, i;

	if (!peer)
		return 0;
	ck.tenant_id = tenant_id;
	ck.epoch = epoch;
	ck.ipc_epoch = ipc_epoch;
	ck.dir = dir;
	nf_copy_addr(ck.addr, peer->a);
	/* Work on a copy: the verifier rejects clang's arithmetic on the
	 * maybe-NULL pointer that a "cv = hit ?: &local" pattern compiles to. */
	cv = bpf_map_lookup_elem(&nf_peer_cache, &ck);
	if (cv) {
		nv = *cv;
	} else {
		nf_peer_classes(tenant_id, epoch, dir, peer->a, nf_ipcache_id(peer->a), &nv);
		bpf_map_update_elem(&nf_peer_cache, &ck, &nv, BPF_ANY);
	}
	if (dir == NF_DIR_INGRESS && (nv.addr_cls.plen_mask[0] & NF_PC_HOST) && (args >> 32))
		return NF_RULE_HOST;
	a = nf_class_decide(&nv.addr_cls, proto, port);
	/* NetworkPolicy tier only (the common case): an allow of one class decides */
	if (!NF_DEC_ADM(a) && NF_DEC_LOW(a) && !(nv.ident_cls.plen_mask[0] & NF_PC_TIERED))
		return NF_DEC_LOW(a);
	i = nf_class_decide(&nv.ident_cls, proto, port);
	adm = nf_rule_first(NF_DEC_ADM(a), NF_DEC_ADM(i));
	if (adm && NF_RULE_ACT(adm) != NF_RULE_PASS)
		return adm;
	return nf_rule_first(NF_DEC_LOW(a), NF_DEC_LOW(i));
}

/*
 * A policy slot's epoch, read once: the verdict judged at it and the entries
 * that record it (conntrack, verdict cache) must carry the same epoch, or a
 * flip between two reads would stamp an old verdict with the new epoch.
 */
static __always_inline __u32 nf_epoch(const struct nf_tenant_info *tinfo)
{
	return tinfo ? *(const volatile __u32 *)&tinfo->epoch : 0;
}

/* tinfo NULL (unknown tenant): deny. epoch: nf_epoch(tinfo). */
static __always_inline __u32 nf_policy_judge(__u32 tenant_id, const struct nf_tenant_info *tinfo,
					     __u32 epoch, const struct nf_config *cfg, __u8 dir,
					     const __u8 *peer, __u8 proto, __be16 port)
{
	if (!tinfo)
		return 0;
	return nf_judge(tenant_id, epoch, cfg ? cfg->ipc_epoch : 0,
			NF_JUDGE_ARGS(dir, proto, port,
				      cfg && (cfg->flags & NF_CFG_ALLOW_HOST_INGRESS)),
			(const struct nf_peer_addr *)peer);
}

#endif
