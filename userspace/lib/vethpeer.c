// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Where an interface endpoint is enforced (SPEC §3.11). A workload is root in
 * its own network namespace: anything attached there (qdiscs, filters, the
 * interface itself) is within its reach, and packet sockets can skip its tc
 * egress. A veth has a second end outside: the host-side peer. Everything the
 * workload sends arrives there, and everything it receives leaves from there,
 * so that is where a veth endpoint's programs go.
 *
 * The peer is found from the workload's side: IFLA_LINK names its ifindex and
 * IFLA_LINK_NETNSID its namespace, as an id relative to the workload's. The
 * namespace is the caller's own (the node, for CNI and the CLI) or one of
 * /var/run/netns/; a candidate is the one when the workload's namespace gives
 * it that id (RTM_GETNSID), and the peer is checked to point back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/net_namespace.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "datapath.h"
#include "log.h"
#include "vethpeer.h"

#define NETNS_RUN_DIR "/var/run/netns"

struct link_info {
	char kind[16];		/* "veth", "macvlan", ... ("" if none) */
	int link;		/* IFLA_LINK: the peer or parent ifindex */
	int nsid;		/* IFLA_LINK_NETNSID, -1: the same netns */
	uint8_t mac[6];
};

/* In the current netns: what ifindex is and what it links to. */
static int link_info(int ifindex, struct link_info *li)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *l = NULL;
	struct nl_addr *a;
	int32_t nsid;
	int err;

	memset(li, 0, sizeof(*li));
	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (!err)
		err = rtnl_link_get_kernel(sk, ifindex, NULL, &l);
	if (err) {
		nl_socket_free(sk);
		return -ENODEV;
	}
	if (rtnl_link_get_type(l))
		snprintf(li->kind, sizeof(li->kind), "%s", rtnl_link_get_type(l));
	li->link = rtnl_link_get_link(l);
	li->nsid = rtnl_link_get_link_netnsid(l, &nsid) ? -1 : nsid;
	a = rtnl_link_get_addr(l);
	if (a && nl_addr_get_len(a) == 6)
		memcpy(li->mac, nl_addr_get_binary_addr(a), 6);
	rtnl_link_put(l);
	nl_socket_free(sk);
	return 0;
}

/* In the current netns: the id it gives the netns nsfd, or -1 (none assigned). */
static int netns_id_of(int nsfd)
{
	struct {
		struct nlmsghdr n;
		struct rtgenmsg g;
		char pad[3];
		struct nlattr a;
		__u32 fd;
	} req = {
		.n = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETNSID,
		       .nlmsg_flags = NLM_F_REQUEST },
		.g = { .rtgen_family = AF_UNSPEC },
		.a = { .nla_len = NLA_HDRLEN + sizeof(__u32), .nla_type = NETNSA_FD },
		.fd = (__u32)nsfd,
	};
	char buf[256];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	int s, id = -1;
	ssize_t n;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -1;
	if (send(s, &req, sizeof(req), 0) < 0 || (n = recv(s, buf, sizeof(buf), 0)) < 0) {
		close(s);
		return -1;
	}
	close(s);
	if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type != RTM_NEWNSID)
		return -1;
	{
		struct rtgenmsg *g = NLMSG_DATA(h);
		struct nlattr *a = (struct nlattr *)((char *)g + NLMSG_ALIGN(sizeof(*g)));
		int left = (int)h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*g)));

		while (left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= left) {
			if ((a->nla_type & NLA_TYPE_MASK) == NETNSA_NSID)
				memcpy(&id, (char *)a + NLA_HDRLEN, sizeof(id));
			left -= NLA_ALIGN(a->nla_len);
			a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
		}
	}
	return id;
}

/*
 * Is ifindex (a veth peer pointing back at pod_ifindex, or with pod_ifindex
 * 0 any device) in the netns cand, which pod_ns knows as nsid? Visits it and
 * returns to pod_ns. 1 yes (ref filled but for its netns path), 0 no, < 0 error.
 */
static int try_candidate(int cand, int pod_ns, int ifindex, int pod_ifindex, struct nf_dev_ref *ref)
{
	struct link_info li;
	int back, ok = 0;

	if (setns(cand, CLONE_NEWNET))
		return -errno;
	back = netns_id_of(pod_ns);
	if (!link_info(ifindex, &li) &&
	    (!pod_ifindex || (!strcmp(li.kind, "veth") && li.link == pod_ifindex &&
			      li.nsid >= 0 && li.nsid == back)) &&
	    if_indextoname(ifindex, ref->ifname) && !dp__netns_cookie("", &ref->cookie)) {
		ref->ifindex = ifindex;
		ok = 1;
	}
	if (setns(pod_ns, CLONE_NEWNET))
		return -errno;
	return ok;
}

/* Find the netns that the current one calls nsid, holding ifindex (see try_candidate). */
static int find_in_netns(int nsid, int home_ns, int ifindex, int pod_ifindex,
			 struct nf_dev_ref *ref)
{
	int pod_ns, found = 0;
	DIR *d;

	memset(ref, 0, sizeof(*ref));
	pod_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (pod_ns < 0)
		return -errno;
	if (home_ns >= 0 && netns_id_of(home_ns) == nsid)
		found = try_candidate(home_ns, pod_ns, ifindex, pod_ifindex, ref);
	d = found ? NULL : opendir(NETNS_RUN_DIR);
	while (d && !found) {
		struct dirent *de = readdir(d);
		char path[sizeof(ref->netns)];
		int fd;

		if (!de)
			break;
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, de->d_name) >=
		    sizeof(path))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (netns_id_of(fd) == nsid) {
			found = try_candidate(fd, pod_ns, ifindex, pod_ifindex, ref);
			if (found > 0)
				memcpy(ref->netns, path, sizeof(ref->netns));
		}
		close(fd);
	}
	if (d)
		closedir(d);
	close(pod_ns);
	return found;
}

int vethpeer__find(int ifindex, int home_ns, struct nf_attach_point *out)
{
	struct link_info li;
	int err, found;

	memset(out, 0, sizeof(*out));
	err = link_info(ifindex, &li);
	if (err)
		return err;
	if (li.nsid < 0 || li.link <= 0)
		return 0;	/* no link, or one in this very netns: nothing outside */
	if (!strcmp(li.kind, "veth")) {
		found = find_in_netns(li.nsid, home_ns, li.link, ifindex, &out->dev);
		if (found < 0)
			return found;
		out->peer = found;
	} else if (!strcmp(li.kind, "macvlan") || !strcmp(li.kind, "macvtap")) {
		found = find_in_netns(li.nsid, home_ns, li.link, 0, &out->parent);
		if (found < 0)
			return found;
		out->guard = found;
		memcpy(out->mac, li.mac, 6);
	} else {
		return 0;
	}
	if (!found)
		pr_warn("the %s link of ifindex %d is in no network namespace netfence can "
			"enter: enforcing on the interface alone",
			li.kind, ifindex);
	return 0;
}
