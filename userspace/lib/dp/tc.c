// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Interface endpoints: the tc programs on an interface (cls_bpf on clsact,
 * or tcx), the guard of a macvlan's parent, and attach/detach/check of an
 * interface endpoint.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_internal.h"
#include "log.h"
#include "vethpeer.h"

/*
 * Interface hooks. By default a cls_bpf filter (direct action, our handle and
 * priority 1: it runs first) on the clsact qdisc. With NETFENCE_TC_HOOK=tcx,
 * tcx (Linux 6.6+): the program runs straight from the device's hook, in
 * front of any other tool's program, without the qdisc and classifier layer
 * (which on a veth cost about as much per packet as the program itself), and
 * a deleted clsact qdisc does not take it away. But every tcx attach and
 * detach waits for RCU grace periods: 20-30 ms here against ~10 ms for a
 * filter, which alone would more than double a CNI ADD. A kernel without tcx
 * gets the filter either way.
 */
/* NF_TCX_INGRESS, NF_TCX_EGRESS, NF_F_BEFORE: dp_internal.h */

/*
 * An interface endpoint's program: on the host-side peer of its veth (one
 * program for both hooks, tc_peer), or on itself.
 */
static enum nf_prog_id tc_prog(bool peer, bool ingress)
{
	if (peer)
		return NF_PROG_TC_PEER;
	return ingress ? NF_PROG_TC_INGRESS : NF_PROG_TC_EGRESS;
}

static __u32 tcx_type(enum bpf_tc_attach_point point)
{
	return point == BPF_TC_INGRESS ? NF_TCX_INGRESS : NF_TCX_EGRESS;
}

/*
 * BPF_PROG_ATTACH for tcx: libbpf 1.1 predates its fields (relative_fd,
 * expected_revision). flags NF_F_BEFORE (relative_fd 0: in front of all) or
 * NF_F_REPLACE (replace_fd's place). 0 or -errno.
 */
int dp_tcx_attach(int ifindex, __u32 type, int prog_fd, __u32 flags, int replace_fd)
{
	struct {
		__u32 target_ifindex;
		__u32 attach_bpf_fd;
		__u32 attach_type;
		__u32 attach_flags;
		__u32 replace_bpf_fd;
		__u32 relative_fd;
		__u64 expected_revision;
	} attr = {
		.target_ifindex = (__u32)ifindex,
		.attach_bpf_fd = (__u32)prog_fd,
		.attach_type = type,
		.attach_flags = flags,
		.replace_bpf_fd = replace_fd > 0 ? (__u32)replace_fd : 0,
	};

	return syscall(__NR_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) ? -errno : 0;
}

static int tcx_attach(int ifindex, enum bpf_tc_attach_point point, int prog_fd)
{
	int err = dp_tcx_attach(ifindex, tcx_type(point), prog_fd, NF_F_BEFORE, 0);

	return err == -EEXIST ? 0 : err;	/* EEXIST: this program is there already */
}

/* *created: this call made the clsact qdisc (left as it was otherwise). */
static int tc_attach_one(int ifindex, enum bpf_tc_attach_point point, int prog_fd, bool tcx,
			 bool *created)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_HANDLE, .priority = NF_TC_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err = tcx ? tcx_attach(ifindex, point, prog_fd) : -EINVAL;

	if (err != -EINVAL)	/* EINVAL: a kernel without tcx */
		return err;
	/* -EEXIST: the clsact qdisc is there already (ours or another tool's) */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	if (!err)
		*created = true;
	return bpf_tc_attach(&hook, &opts);
}

static int count_msg(const struct nlmsghdr *nh, void *n)
{
	(*(int *)n)++;
	return 0;
}

/*
 * The filters on ifindex's clsact qdisc at one point, of every tool and
 * chain (one RTM_GETTFILTER dump): >= 0, or -errno (no clsact qdisc: the
 * kernel's error, -EINVAL).
 */
static int clsact_filters(int ifindex, enum bpf_tc_attach_point point)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETTFILTER,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.tc = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			.tcm_parent = TC_H_MAKE(TC_H_CLSACT, point == BPF_TC_INGRESS ?
							     TC_H_MIN_INGRESS : TC_H_MIN_EGRESS) },
	};
	int n = 0, err = dp_nl_dump(&req.nh, false, RTM_NEWTFILTER, count_msg, &n);

	return err ? err : n;
}

static int tx_msg(const struct nlmsghdr *nh, void *tx)
{
	const struct if_stats_msg *ifsm = NLMSG_DATA(nh);
	const struct rtattr *a = (const void *)((const char *)ifsm + NLMSG_ALIGN(sizeof(*ifsm)));
	int len = (int)nh->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*ifsm)));

	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_STATS_LINK_64 &&
		    RTA_PAYLOAD(a) >= sizeof(struct rtnl_link_stats64)) {
			const struct rtnl_link_stats64 *st = RTA_DATA(a);

			*(uint64_t *)tx = st->tx_packets;
			return 0;
		}
	return -EIO;
}

/* The packets ifindex has transmitted (towards the pod, on a host-side peer): 0 or -errno. */
static int link_tx_packets(int ifindex, uint64_t *tx)
{
	struct {
		struct nlmsghdr nh;
		struct if_stats_msg ifsm;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETSTATS,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 1 },
		.ifsm = { .family = AF_UNSPEC, .ifindex = (__u32)ifindex,
			  .filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64) },
	};
	uint64_t v = UINT64_MAX;
	int err = dp_nl_dump(&req.nh, false, RTM_NEWSTATS, tx_msg, &v);

	if (!err && v == UINT64_MAX)
		err = -EIO;
	if (!err)
		*tx = v;
	return err;
}

/* Detach prog_fd from the hook, tcx and cls_bpf alike; absent is fine. */
static int tc_detach_one(int ifindex, enum bpf_tc_attach_point point, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_HANDLE, .priority = NF_TC_PRIO);
	int err = 0;

	if (bpf_prog_detach2(prog_fd, ifindex, tcx_type(point)) && errno != ENOENT &&
	    errno != EINVAL)
		err = -errno;
	if (!bpf_tc_detach(&hook, &opts) || errno == ENOENT || errno == EINVAL)
		return err;
	return err ? err : -errno;
}

struct iface_id {
	uint64_t cookie;
	uint32_t ifindex;
	const char *netns;
	const char *ifname;
};

static bool match_iface(const struct nf_ep_record *r, const void *arg)
{
	const struct iface_id *id = arg;

	if (r->is_cgroup)
		return false;
	if (id->cookie && id->ifindex)
		return r->netns_cookie == id->cookie && r->ifindex == id->ifindex;
	return !strcmp(r->netns, id->netns) && !strcmp(r->ifname, id->ifname);
}

/*
 * Enter the netns of an interface endpoint's attach point, the one its record
 * names (the netns, and with it a veth pair, may be gone). A record's ""
 * netns is the one of the command that attached it (the node's): a command
 * running in another one (a test's node is a named netns, the CLI is not in
 * it) finds it by its cookie. 0: entered (g), and the device is there when
 * *here (same netns cookie, same ifindex by name); -ESRCH (said): its netns
 * is none this process can reach; -ENOENT: gone (nothing entered).
 */
static int attach_enter(const struct nf_ep_record *r, struct netns_guard *g, bool *here)
{
	const char *netns = r->attach_ifindex ? r->attach_netns : r->netns;
	const char *ifname = r->attach_ifindex ? r->attach_ifname : r->ifname;
	char found[sizeof(r->attach_netns)];
	struct nf_ep_key k;
	uint64_t cookie;

	dp__ep_key(r, &k);
	*here = false;
	if (!*netns && (dp_cur_netns_cookie(&cookie) || cookie != k.netns_cookie)) {
		if (dp_netns_find(k.netns_cookie, found, sizeof(found))) {
			pr_err("endpoint %u: %s is in the network namespace of the command that "
			       "attached it, not this one's nor in /var/run/netns: run this "
			       "there to reach its programs",
			       r->ep_id, ifname);
			return -ESRCH;
		}
		netns = found;
	}
	if (dp_netns_enter(netns, g))
		return -ENOENT;
	*here = !dp_cur_netns_cookie(&cookie) && cookie == k.netns_cookie &&
		if_nametoindex(ifname) == k.ifindex;
	return 0;
}

/*
 * Take our programs off an interface endpoint's attach point, if it is still
 * the one the record names, from tcx and clsact alike. If its netns cannot
 * be reached, the programs may still be there: -ESRCH, and the record stays
 * for a command that can.
 */
int dp_tc_detach_record(struct nf_dp *dp, const struct nf_ep_record *r)
{
	const char *ifname = r->attach_ifindex ? r->attach_ifname : r->ifname;
	struct nf_ep_key k;
	struct netns_guard g;
	bool here;
	int err = 0, err2;

	err = attach_enter(r, &g, &here);
	if (err)
		return err == -ENOENT ? 0 : err;
	dp__ep_key(r, &k);
	if (here) {
		err = tc_detach_one(k.ifindex, BPF_TC_INGRESS,
				    dp->progs[tc_prog(r->attach_peer, true)]);
		err2 = tc_detach_one(k.ifindex, BPF_TC_EGRESS,
				     dp->progs[tc_prog(r->attach_peer, false)]);
		err = err ? err : err2;
	}
	dp_netns_leave(&g);
	if (err)
		pr_err("endpoint %u: cannot take the programs off %s: %s", r->ep_id, ifname,
		       strerror(-err));
	return err;
}

/*
 * Where an interface endpoint's program runs at one point: HOOK_TCX, our
 * cls_bpf filter (HOOK_CLS), both, or neither (netns entered).
 */
#define HOOK_TCX	1
#define HOOK_CLS	2
static int hooks_at(int ifindex, enum bpf_tc_attach_point point, __u32 id)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_HANDLE, .priority = NF_TC_PRIO);
	libbpf_print_fn_t print;
	__u32 ids[64], i;
	LIBBPF_OPTS(bpf_prog_query_opts, q, .prog_ids = ids, .prog_cnt = 64);
	int h = 0;

	if (!id)
		return 0;
	if (!bpf_prog_query_opts(ifindex, tcx_type(point), &q))
		for (i = 0; i < q.prog_cnt && i < 64; i++)
			if (ids[i] == id)
				h |= HOOK_TCX;
	print = libbpf_set_print(NULL);	/* no filter: not an error */
	if (!bpf_tc_query(&hook, &opts) && opts.prog_id == id)
		h |= HOOK_CLS;
	libbpf_set_print(print);
	return h;
}

const char *dp__iface_hook(struct nf_dp *dp, const struct nf_ep_record *r)
{
	static const char *names[] = { "none", "tcx", "clsact", "tcx+clsact" };
	struct nf_ep_key k;
	struct netns_guard g;
	bool here;
	int h = 0;

	if (r->is_cgroup || attach_enter(r, &g, &here))
		return "unknown";
	dp__ep_key(r, &k);
	if (here) {
		int in = hooks_at(k.ifindex, BPF_TC_INGRESS,
				  dp_prog_id(dp->progs[tc_prog(r->attach_peer, true)]));
		int out = hooks_at(k.ifindex, BPF_TC_EGRESS,
				   dp_prog_id(dp->progs[tc_prog(r->attach_peer, false)]));

		/* one hook at both points, or a mix (a move under way or cut short) */
		if (in == out && in != (HOOK_TCX | HOOK_CLS))
			h = in;
		else
			h = HOOK_TCX | HOOK_CLS;
	}
	dp_netns_leave(&g);
	return here ? names[h] : "unknown";
}

/*
 * Move an interface endpoint from our cls_bpf filters to tcx (node lock
 * held): its programs attached through tcx in front of every other, then
 * the filters taken off. At every step each point runs the endpoint's
 * program once: it returns TC_ACT_OK or TC_ACT_SHOT (never TCX_NEXT), and a
 * tcx verdict ends the hook before the clsact qdisc is consulted. Nothing
 * in the record changes: detach, check and upgrade handle either hook.
 * 0: on tcx (now, or already); -EOPNOTSUPP: this kernel has no tcx;
 * -ENOENT: the attach point is gone.
 */
int dp__promote_tcx(struct nf_dp *dp, const struct nf_ep_record *r)
{
	static const enum bpf_tc_attach_point points[] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	struct nf_ep_key k;
	struct netns_guard g;
	int fd[2], h[2];
	bool here;
	size_t i;
	int err;

	if (r->is_cgroup)
		return -EINVAL;
	err = attach_enter(r, &g, &here);
	if (err)
		return err;
	dp__ep_key(r, &k);
	for (i = 0; i < ARRAY_SIZE(points); i++) {
		fd[i] = dp->progs[tc_prog(r->attach_peer, points[i] == BPF_TC_INGRESS)];
		h[i] = here ? hooks_at(k.ifindex, points[i], dp_prog_id(fd[i])) : 0;
	}
	if (!h[0] || !h[1])
		err = -ENOENT;	/* gone, or not attached here: nothing to move */
	else if (h[0] == HOOK_TCX && h[1] == HOOK_TCX)
		err = 0;	/* there already */
	else
		err = 1;
	for (i = 0; err == 1 && i < ARRAY_SIZE(points); i++) {
		int e;

		if (h[i] & HOOK_TCX)
			continue;
		e = tcx_attach(k.ifindex, points[i], fd[i]);
		if (e)
			err = e == -EINVAL ? -EOPNOTSUPP : e;	/* EINVAL: a kernel without tcx */
		dp_test_stop_at("promote-tcx");
	}
	/* attaching through tcx left the filters as they were */
	for (i = 0; err == 1 && i < ARRAY_SIZE(points); i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = k.ifindex, .attach_point = points[i]);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_HANDLE, .priority = NF_TC_PRIO);

		if ((h[i] & HOOK_CLS) && bpf_tc_detach(&hook, &opts) && errno != ENOENT)
			err = -errno;
	}
	dp_netns_leave(&g);
	return err;
}

/*
 * After a move to tcx, the clsact qdisc this endpoint's attach created goes
 * when nothing is left on it and nothing went towards the endpoint for a
 * while. Why it goes: the kernel keeps every tc block of a device without
 * hardware offload (a veth) on one global list that each new clsact qdisc
 * walks (flow_indr_dev_setup_offload), so one left on each endpoint made
 * every CNI ADD cost more the more pods the node had (bench/README.md: CNI
 * ADD with 1,000 endpoints). Why it waits: Linux removes it from an
 * interface that is up by pointing the transmit queues at the noop qdisc
 * for an RCU grace period (dev_deactivate in qdisc_graft), which drops what
 * the host sends towards the pod meanwhile. So the interface's tx_packets
 * must not have moved since the caller's last sample (*tx, UINT64_MAX:
 * none), taken a while before (serve: NF_PROMOTE_TIDY_MS); the qdisc then
 * goes at once, and only a packet in the few hundred microseconds after a
 * quiet while can still meet the noop qdisc. A qdisc another tool made, or
 * one with another tool's filter, stays.
 * 1: removed; 0: nothing of ours to remove; -EAGAIN: packets went towards
 * the endpoint since *tx (now the new sample): ask again later; -errno.
 */
int dp__clsact_tidy(struct nf_dp *dp, const struct nf_ep_record *r, uint64_t *tx)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct nf_ep_key k;
	struct netns_guard g;
	uint64_t now;
	bool here;
	int err;

	(void)dp;
	if (r->is_cgroup || !r->qdisc_ours)
		return 0;
	err = attach_enter(r, &g, &here);
	if (err)
		return err == -ENOENT ? 0 : err;
	dp__ep_key(r, &k);
	hook.ifindex = (int)k.ifindex;
	if (!here || clsact_filters(k.ifindex, BPF_TC_INGRESS) != 0 ||
	    clsact_filters(k.ifindex, BPF_TC_EGRESS) != 0)
		err = 0;	/* gone, no qdisc (-EINVAL), or a filter on it */
	else if ((err = link_tx_packets(k.ifindex, &now)) == 0 && now != *tx) {
		*tx = now;
		err = -EAGAIN;
	} else if (!err) {
		err = bpf_tc_hook_destroy(&hook) ? -errno : 1;
		if (err == -ENOENT || err == -EINVAL)
			err = 0;
	}
	dp_netns_leave(&g);
	return err;
}

static void guard_key(const struct nf_ep_record *r, struct nf_guard_key *gk)
{
	memset(gk, 0, sizeof(*gk));
	gk->netns_cookie = r->guard_cookie;
	gk->ifindex = r->guard_ifindex;
	memcpy(gk->mac, r->mac, 6);
}

/* Enter r's guard netns and check its parent is still the device recorded. */
static bool guard_enter(const struct nf_ep_record *r, struct netns_guard *g)
{
	uint64_t cookie;

	if (dp_netns_enter(r->guard_netns, g))
		return false;
	if (!dp_cur_netns_cookie(&cookie) && cookie == r->guard_cookie &&
	    if_nametoindex(r->guard_ifname) == r->guard_ifindex)
		return true;
	dp_netns_leave(g);
	return false;
}

static int guard_filter(int ifindex, enum bpf_tc_attach_point point, int prog_fd, bool attach)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NF_TC_GUARD_HANDLE, .priority = NF_TC_GUARD_PRIO);
	int err;

	if (!attach) {
		err = bpf_tc_detach(&hook, &opts);
		return err == -ENOENT || err == -EINVAL ? 0 : err;
	}
	opts.prog_fd = prog_fd;
	opts.flags = BPF_TC_F_REPLACE;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

/*
 * A macvlan endpoint's guard (struct nf_guard_key): its MAC on its parent,
 * its netns among the guarded ones, and the guard programs on the parent
 * (one pair per parent, shared by every macvlan on it).
 */
static int guard_attach(struct nf_dp *dp, const struct nf_ep_record *r, const struct nf_ep_key *k)
{
	struct nf_guard_key gk;
	struct netns_guard g;
	int err;

	guard_key(r, &gk);
	if (bpf_map_update_elem(dp->maps.fd[NF_MAP_GUARD], &gk, k, BPF_ANY) ||
	    bpf_map_update_elem(dp->maps.fd[NF_MAP_GUARDED_NS], &r->netns_cookie, &r->tenant_id,
				BPF_ANY)) {
		err = -errno;
		pr_err("cannot register the guard of %s: %s", r->ifname, strerror(-err));
		return err;
	}
	dp__verdicts_changed(dp);
	if (!guard_enter(r, &g)) {
		pr_err("the parent %s of %s is gone", r->guard_ifname, r->ifname);
		return -ENODEV;
	}
	err = guard_filter(r->guard_ifindex, BPF_TC_INGRESS, dp->progs[NF_PROG_TC_GUARD_INGRESS],
			   true);
	if (!err)
		err = guard_filter(r->guard_ifindex, BPF_TC_EGRESS,
				   dp->progs[NF_PROG_TC_GUARD_EGRESS], true);
	dp_netns_leave(&g);
	if (err)
		pr_err("cannot attach the guard to %s: %s", r->guard_ifname, strerror(-err));
	return err;
}

/* Undo guard_attach for r; the programs go with the parent's last guarded MAC. */
void dp_guard_detach(struct nf_dp *dp, const struct nf_ep_record *r)
{
	struct nf_ep_record *recs = NULL;
	struct nf_guard_key gk, cur, next;
	struct netns_guard g;
	bool parent_used = false, ns_used = false;
	size_t n = 0, i;

	guard_key(r, &gk);
	bpf_map_delete_elem(dp->maps.fd[NF_MAP_GUARD], &gk);
	dp__verdicts_changed(dp);
	if (!dp__list_endpoints(dp, &recs, &n))
		for (i = 0; i < n; i++)
			ns_used |= recs[i].ep_id != r->ep_id && recs[i].guard &&
				   recs[i].netns_cookie == r->netns_cookie;
	free(recs);
	if (!ns_used)
		bpf_map_delete_elem(dp->maps.fd[NF_MAP_GUARDED_NS], &r->netns_cookie);
	for (int e = bpf_map_get_next_key(dp->maps.fd[NF_MAP_GUARD], NULL, &cur); !e;
	     e = bpf_map_get_next_key(dp->maps.fd[NF_MAP_GUARD], &cur, &next), cur = next)
		parent_used |= cur.netns_cookie == gk.netns_cookie && cur.ifindex == gk.ifindex;
	if (parent_used || !guard_enter(r, &g))
		return;
	guard_filter(r->guard_ifindex, BPF_TC_INGRESS, -1, false);
	guard_filter(r->guard_ifindex, BPF_TC_EGRESS, -1, false);
	dp_netns_leave(&g);
}

/*
 * The interface of ep in its network namespace (entered: g): its ifindex
 * and netns cookie (iid) and where its programs go (ap).
 */
static int iface_locate(const struct nf_iface_ep *ep, const struct netns_guard *g,
			struct iface_id *iid, struct nf_attach_point *ap)
{
	int ifindex, err;

	ifindex = if_nametoindex(ep->ifname);
	if (!ifindex) {
		pr_err("no interface %s in network namespace %s", ep->ifname,
		       *ep->netns ? ep->netns : "(current)");
		return -ENODEV;
	}
	err = dp_cur_netns_cookie(&iid->cookie);
	if (err) {
		pr_err("cannot read the network namespace cookie: %s", strerror(-err));
		return err;
	}
	iid->ifindex = ifindex;
	/* Where its programs go: the veth's host-side peer, else the interface. */
	err = vethpeer__find(ifindex, g->orig, ap);
	if (err) {
		pr_err("cannot inspect interface %s: %s", ep->ifname, strerror(-err));
		return err;
	}
	if (!ap->peer) {
		snprintf(ap->dev.netns, sizeof(ap->dev.netns), "%s", ep->netns);
		snprintf(ap->dev.ifname, sizeof(ap->dev.ifname), "%s", ep->ifname);
		ap->dev.ifindex = ifindex;
		ap->dev.cookie = iid->cookie;
	}
	return 0;
}

/*
 * The endpoint's addresses (*out, allocated), read in its netns.
 * Without given addresses the interface's current ones are the endpoint's.
 * With given ones (CNI prevResult), its IPv6 link-local addresses are
 * added: the kernel sources MLD and ND from them, and they are the
 * endpoint's own.
 */
static int iface_addrs(const struct nf_iface_ep *ep, struct nf_cidr **out, size_t *n_out)
{
	struct nf_cidr *found = NULL, *merged;
	size_t n_found = 0, n_ll = 0, i;
	int err;

	err = dp_iface_addrs(ep->ifname, &found, &n_found);
	if (err)
		return err;
	if (!ep->n_addrs) {
		*out = found;
		*n_out = n_found;
		return 0;
	}
	merged = calloc(ep->n_addrs + n_found + 1, sizeof(*merged));
	if (!merged) {
		free(found);
		return -ENOMEM;
	}
	memcpy(merged, ep->addrs, ep->n_addrs * sizeof(*merged));
	for (i = 0; i < n_found; i++)
		if (found[i].addr[0] == 0xfe && (found[i].addr[1] & 0xc0) == 0x80)
			merged[ep->n_addrs + n_ll++] = found[i];
	free(found);
	*out = merged;
	*n_out = ep->n_addrs + n_ll;
	return 0;
}

/*
 * The endpoint's id (rec->ep_id). Same interface again: keep its id
 * (idempotent) and its endpoint entry (no window without one: that would
 * drop as unregistered), forget only addresses it no longer has; *old is
 * its record then (*reattach).
 */
static int iface_ep_id(struct nf_dp *dp, const struct iface_id *iid, const struct nf_cidr *addrs,
		       size_t n_addrs, struct nf_ep_record *rec, struct nf_ep_record *old,
		       bool *reattach)
{
	if (!dp_find_iface_record(dp, iid->cookie, iid->ifindex, match_iface, iid, old)) {
		struct nf_cidr *old_addrs = NULL;
		size_t n_old = 0;

		*reattach = true;
		rec->ep_id = old->ep_id;
		if (!dp_ep_record_read(old->ep_id, old, &old_addrs, &n_old))
			dp_ep_addrs_remove(dp, old, old_addrs, n_old, addrs, n_addrs);
		free(old_addrs);
		return 0;
	}
	rec->ep_id = dp__alloc_ep_id(dp);
	if (!rec->ep_id) {
		pr_err("too many endpoints (%u)", NF_MAX_ENDPOINTS);
		return -ENOSPC;
	}
	return 0;
}

/* The rest of the endpoint's record: what it is and where its programs go. */
static void iface_record_fill(struct nf_ep_record *rec, const struct nf_iface_ep *ep,
			      const struct iface_id *iid, const struct nf_attach_point *ap)
{
	rec->tenant_id = ep->tenant_id;
	snprintf(rec->netns, sizeof(rec->netns), "%s", ep->netns);
	snprintf(rec->ifname, sizeof(rec->ifname), "%s", ep->ifname);
	rec->ifindex = iid->ifindex;
	rec->netns_cookie = iid->cookie;
	snprintf(rec->owner, sizeof(rec->owner), "%s", ep->owner);
	rec->attach_peer = ap->peer;
	snprintf(rec->attach_netns, sizeof(rec->attach_netns), "%s", ap->dev.netns);
	snprintf(rec->attach_ifname, sizeof(rec->attach_ifname), "%s", ap->dev.ifname);
	rec->attach_ifindex = ap->dev.ifindex;
	rec->attach_cookie = ap->dev.cookie;
	rec->guard = ap->guard;
	snprintf(rec->guard_netns, sizeof(rec->guard_netns), "%s", ap->parent.netns);
	snprintf(rec->guard_ifname, sizeof(rec->guard_ifname), "%s", ap->parent.ifname);
	rec->guard_ifindex = ap->parent.ifindex;
	rec->guard_cookie = ap->parent.cookie;
	memcpy(rec->mac, ap->mac, 6);
	rec->flags = ep->flags & NF_EPF_DENY_ALL;
	snprintf(rec->network, sizeof(rec->network), "%s", ep->network);
	rec->policy_id = ep->policy_id;
	snprintf(rec->pod, sizeof(rec->pod), "%s", ep->pod);
	rec->ident = ep->ident;
}

/* The endpoint in the maps: addresses (anti-spoofing, identity), then the
 * endpoint itself (*k: its key). */
static int iface_register(struct nf_dp *dp, const struct nf_ep_record *rec,
			  const struct nf_cidr *addrs, size_t n_addrs, struct nf_ep_key *k)
{
	struct nf_endpoint v = {};
	size_t i;
	int err;

	for (i = 0; i < n_addrs; i++) {
		struct nf_ep_addr_key ak = { .ep_id = rec->ep_id };
		struct nf_lpm_addr_key lk = { .prefixlen = 128 };
		struct nf_ipcache_val iv = { .id = rec->ident ? rec->ident : rec->tenant_id,
					     .flags = rec->ep_id };
		__u8 one = 1;

		memcpy(ak.addr, addrs[i].addr, 16);
		memcpy(lk.addr, addrs[i].addr, 16);
		if (bpf_map_update_elem(dp->maps.fd[NF_MAP_EP_ADDRS], &ak, &one, BPF_ANY) ||
		    bpf_map_update_elem(dp->maps.fd[NF_MAP_IPCACHE], &lk, &iv, BPF_ANY)) {
			err = -errno;
			pr_err("cannot register the endpoint's addresses: %s", strerror(-err));
			return err;
		}
	}
	dp__ipcache_changed(dp);
	dp__ep_key(rec, k);
	v.tenant_id = rec->tenant_id;
	v.ep_id = rec->ep_id;
	v.flags = rec->flags;
	v.policy_id = rec->policy_id;
	if (bpf_map_update_elem(dp->maps.fd[NF_MAP_ENDPOINTS], k, &v, BPF_ANY)) {
		err = -errno;
		pr_err("cannot register the endpoint: %s", strerror(-err));
		return err;
	}
	dp__verdicts_changed(dp);	/* a re-attach may change its tenant or flags */
	return 0;
}

/* Both tc programs on the attach point, entered in its netns (g: the
 * interface's netns before, the attach point's after). */
static int iface_attach_progs(struct nf_dp *dp, const struct nf_attach_point *ap, bool tcx,
			      struct netns_guard *g, bool *created)
{
	int err;

	if (ap->peer) {
		dp_netns_leave(g);
		err = dp_netns_enter(ap->dev.netns, g);
		if (err) {
			pr_err("cannot enter network namespace %s: %s",
			       *ap->dev.netns ? ap->dev.netns : "(host)", strerror(-err));
			return err;
		}
	}
	err = tc_attach_one(ap->dev.ifindex, BPF_TC_INGRESS, dp->progs[tc_prog(ap->peer, true)],
			    tcx, created);
	dp_test_stop_at("attach-progs");
	if (!err)
		err = tc_attach_one(ap->dev.ifindex, BPF_TC_EGRESS,
				    dp->progs[tc_prog(ap->peer, false)], tcx, created);
	if (err)
		pr_err("cannot attach tc programs to %s: %s", ap->dev.ifname, strerror(-err));
	return err;
}

/* An attach point that changed (a record of an older build): the old one goes. */
static void iface_forget_old(struct nf_dp *dp, const struct nf_ep_record *old,
			     const struct nf_ep_record *rec, const struct nf_ep_key *k)
{
	struct nf_ep_key old_k;

	dp__ep_key(old, &old_k);
	if (old_k.netns_cookie != k->netns_cookie || old_k.ifindex != k->ifindex) {
		dp_tc_detach_record(dp, old);
		bpf_map_delete_elem(dp->maps.fd[NF_MAP_ENDPOINTS], &old_k);
		dp__verdicts_changed(dp);
	}
	if (old->guard && (!rec->guard || memcmp(old->mac, rec->mac, 6) ||
			   old->guard_ifindex != rec->guard_ifindex))
		dp_guard_detach(dp, old);
}

int dp__attach_iface(struct nf_dp *dp, const struct nf_iface_ep *ep)
{
	struct nf_cidr *addrs = NULL;
	size_t n_addrs = 0;
	struct nf_ep_record rec = {}, old;
	struct nf_attach_point ap;
	struct netns_guard g;
	struct iface_id iid = {};
	struct nf_ep_key k = {};
	bool tcx, reattach = false, created = false;
	int err;

	if (!ep->tenant_id)
		return -EINVAL;
	err = dp_tc_hook_tcx(&tcx);
	if (err)
		return err;
	err = dp_netns_enter(ep->netns, &g);
	if (err) {
		pr_err("cannot enter network namespace %s: %s", ep->netns, strerror(-err));
		return err;
	}
	err = iface_locate(ep, &g, &iid, &ap);
	if (!err)
		err = iface_addrs(ep, &addrs, &n_addrs);
	if (!err)
		err = iface_ep_id(dp, &iid, addrs, n_addrs, &rec, &old, &reattach);
	if (err)
		goto leave;
	iface_record_fill(&rec, ep, &iid, &ap);

	/* 0. Marked in progress: a killed attach is finished by the next command. */
	err = dp_intent_begin(rec.ep_id, DP_INTENT_ATTACH);
	if (err)
		goto leave;
	/* 1. The record first: an interrupted attach leaves what detach can remove. */
	err = dp_ep_record_write(&rec, addrs, n_addrs);
	if (err) {
		pr_err("cannot write the endpoint record: %s", strerror(-err));
		goto leave;
	}
	/* 2. Maps: addresses (anti-spoofing, identity), then the endpoint itself. */
	err = iface_register(dp, &rec, addrs, n_addrs, &k);
	if (err)
		goto leave;
	/*
	 * Moved to another tenant or network (or quarantined): the flows it
	 * tracked were judged by other rules. Forgotten, their next packets are
	 * judged by the new one (SPEC §3.13).
	 */
	if (reattach && (old.tenant_id != rec.tenant_id || old.flags != rec.flags ||
			 old.policy_id != rec.policy_id))
		dp_ct_purge(dp, k.netns_cookie, k.ifindex);

	/* 3. Attach: from here on every packet is judged (default deny). */
	err = iface_attach_progs(dp, &ap, tcx, &g, &created);
	if (err)
		goto leave;
	/* Made the clsact qdisc: the record says so, for clsact_tidy. Written
	 * after the attach, so only a qdisc that this attach made is claimed;
	 * a kill before it leaves the qdisc unclaimed (it stays). */
	if (created) {
		rec.qdisc_ours = true;
		err = dp_ep_record_write(&rec, addrs, n_addrs);
		if (err) {
			pr_err("cannot write the endpoint record: %s", strerror(-err));
			goto leave;
		}
	}
	dp_netns_leave(&g);
	/* 4. A macvlan: the guard on its parent, out of the workload's reach. */
	if (ap.guard) {
		err = guard_attach(dp, &rec, &k);
		if (err)
			goto leave;
	}
	if (reattach)
		iface_forget_old(dp, &old, &rec, &k);
leave:
	/* A failure is the caller's to report (CNI DEL undoes it); only a
	 * kill leaves the mark. */
	if (rec.ep_id)
		dp_intent_end(rec.ep_id);
	dp_netns_leave(&g);
	free(addrs);
	return err;
}

int dp__detach_iface(struct nf_dp *dp, const char *netns, const char *ifname)
{
	struct iface_id iid = { .netns = netns ? netns : "", .ifname = ifname };
	struct nf_ep_record r;
	struct netns_guard g;

	/* Identify by (cookie, ifindex) when the netns still exists, else by name. */
	if (!dp_netns_enter(iid.netns, &g)) {
		if (dp_cur_netns_cookie(&iid.cookie))
			iid.cookie = 0;
		iid.ifindex = if_nametoindex(ifname);
		dp_netns_leave(&g);
	}
	if (!iid.cookie || !iid.ifindex ||
	    dp_find_iface_record(dp, iid.cookie, iid.ifindex, match_iface, &iid, &r)) {
		iid.cookie = 0;
		iid.ifindex = 0;
		if (dp_find_record(dp, match_iface, &iid, &r))
			return -ENOENT;
	}
	return dp_detach_record(dp, &r);
}

int dp__check_iface(struct nf_dp *dp, const char *netns, const char *ifname)
{
	struct iface_id iid = { .netns = netns ? netns : "", .ifname = ifname };
	struct nf_ep_record r;
	struct netns_guard g;
	struct nf_endpoint v;
	struct nf_ep_key k;
	uint64_t cookie;
	bool attached;
	int err;

	err = dp_netns_enter(iid.netns, &g);
	if (err)
		return -ENOENT;
	iid.ifindex = if_nametoindex(ifname);
	err = !iid.ifindex || dp_cur_netns_cookie(&iid.cookie);
	dp_netns_leave(&g);
	if (err || dp_find_iface_record(dp, iid.cookie, iid.ifindex, match_iface, &iid, &r))
		return -ENOENT;
	/* the programs, where the record says they run */
	dp__ep_key(&r, &k);
	if (dp_netns_enter(r.attach_ifindex ? r.attach_netns : r.netns, &g))
		return -ENOENT;
	attached = !dp_cur_netns_cookie(&cookie) && cookie == k.netns_cookie &&
		   hooks_at(k.ifindex, BPF_TC_INGRESS,
			    dp_prog_id(dp->progs[tc_prog(r.attach_peer, true)])) &&
		   hooks_at(k.ifindex, BPF_TC_EGRESS,
			    dp_prog_id(dp->progs[tc_prog(r.attach_peer, false)]));
	dp_netns_leave(&g);
	if (bpf_map_lookup_elem(dp->maps.fd[NF_MAP_ENDPOINTS], &k, &v))
		return -ENOENT;
	if (!attached)
		return -ENOENT;
	return 0;
}
