/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cgroup/sock_create: a process in a fenced cgroup may not create a raw IP
 * socket (SOCK_RAW, AF_INET or AF_INET6). Through one it could forge any IP
 * header, which the cgroup_skb hooks would then judge as if the kernel had
 * built it. Refused with EPERM, counted as a drop (tenant, egress,
 * policy_denied, cgroup) and reported like a refused connect().
 *
 * What this hook cannot see (SPEC §3.11, README "cgroup mode"): the kernel
 * runs BPF_CGROUP_INET_SOCK_CREATE from inet_create() and inet6_create()
 * only. packet_create() does not run it, so AF_PACKET sockets (and
 * socket(AF_INET, SOCK_PACKET), which __sock_create() turns into one) are
 * created without it: checked on 6.18, where a sock_create program sees
 * families 2 and 10 and never 17. The AF_PACKET test below is there for a
 * kernel that one day does. lsm_cgroup/socket_post_create would see every
 * family, but needs the BPF LSM (and BTF-attached programs, which some
 * hosts refuse to load); it is not used. Frames from packet sockets skip the
 * cgroup_skb hooks too: a fenced cgroup must not hold CAP_NET_RAW.
 *
 * Included at the end of netfence.bpf.c: it uses nf_cg_lookup, nf_tenant's
 * maps and the counters from there.
 */
#ifndef NF_BPF_SOCK_CREATE_H
#define NF_BPF_SOCK_CREATE_H

SEC("cgroup/sock_create")
int cg_sock_create(struct bpf_sock *ctx)
{
	struct nf_pkt pkt = {};
	struct nf_endpoint *ep;
	struct nf_config *cfg;
	__u32 zero = 0, family = ctx->family;
	__u64 cgid = 0;

	if (family != AF_PACKET &&
	    !((family == AF_INET || family == AF_INET6) && ctx->type == SOCK_RAW))
		return CG_PASS;
	/* the creating task's cgroup: the socket is not in use yet */
	ep = nf_cg_lookup(NULL, &cgid);
	if (!ep)
		return CG_PASS;
	cfg = bpf_map_lookup_elem(&nf_config, &zero);
	pkt.family = family == AF_INET6 ? 6 : family == AF_INET ? 4 : 0;
	pkt.proto = (__u8)ctx->protocol;
	nf_count(ep->tenant_id, NF_DIR_EGRESS, NF_DROP_POLICY, NF_HOOK_CGROUP, 0);
	nf_event(cfg, &pkt, ep->tenant_id, cgid, 0, 0, NF_DIR_EGRESS, NF_DROP_POLICY,
		 NF_HOOK_CGROUP);
	return CG_DROP;
}

#endif
