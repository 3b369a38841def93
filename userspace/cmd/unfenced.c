// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unfenced interfaces (SPEC §3.11, §7 netfence_unfenced_interfaces_total).
 *
 * Which namespaces: the network namespace of every interface endpoint
 * (endpoint records, NF_EP_DIR) other than serve's own, identified by the
 * namespace's inode (stat of its path), so two paths of one namespace are
 * one. Endpoints this watcher created (owner NF_OWNER_UNFENCED) do not make a
 * namespace fenced.
 *
 * Events, not polling: inotify on NF_EP_DIR says when endpoints come and go;
 * per fenced namespace one NETLINK_ROUTE socket, created inside it and
 * subscribed to its link events, says when an interface appears, changes or
 * goes, and the same socket lists the namespace's links (RTM_GETLINK dump)
 * without entering it again. Idle, this costs nothing; an event costs one
 * dump of a few links. Every NF_FULL_RESCAN_MS everything is listed again,
 * in case an event was lost (netlink overflow).
 *
 * Which interfaces: every one but lo that is not an endpoint and that can
 * carry traffic out of the namespace by itself: a device without a link
 * kind (a NIC or an SR-IOV VF moved in: host-device), or any device whose
 * link is in another namespace (IFLA_LINK_NETNSID: a veth whose peer is
 * elsewhere, a macvlan/ipvlan on the node's NIC, a tunnel created outside),
 * or a kind not known to send through this namespace's own stack. A device
 * of a known kind whose link is in this same namespace (a VLAN on eth0, a
 * tunnel whose packets leave through eth0, the fallback tunl0/sit0/... every
 * namespace gets, a veth pair with both ends inside, a dummy) sends through
 * interfaces that are themselves endpoints or fenced here.
 *
 * Grace: an interface is fenced NF_GRACE_MS after it is first seen
 * unattached, so that a chain that does contain netfence-cni (which attaches
 * it a few milliseconds after the interface plugin created it) is not
 * reported. If netfence-cni attaches it later anyway, its attach replaces
 * this one (same interface: same endpoint id, its tenant and no DENY_ALL).
 *
 * Every change is made under the node lock after reading the records again,
 * so a CNI ADD that attached the interface meanwhile wins.
 *
 * Clean-up: a quarantine endpoint is detached when its interface is gone,
 * when its namespace is gone, or when the namespace has no other endpoint
 * any more (the workload was detached / CNI DEL).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "datapath.h"
#include "log.h"
#include "store.h"
#include "unfenced.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define NF_GRACE_MS		300
#define NF_RETRY_MS		5000	/* after a failed attach */
#define NF_FULL_RESCAN_MS	10000
#define NF_DIR_RETRY_MS		1000

static uint64_t total;	/* netfence_unfenced_interfaces_total */

uint64_t unfenced__total(void)
{
	return __atomic_load_n(&total, __ATOMIC_RELAXED);
}

struct cand {
	int ifindex;
	char name[IF_NAMESIZE];
	struct timespec due;
};

struct ns_watch {
	char path[256];		/* one path of the namespace (an endpoint's) */
	dev_t dev;
	ino_t ino;
	uint64_t cookie;
	int nl;			/* NETLINK_ROUTE socket inside it, RTMGRP_LINK */
	bool dirty;		/* list its links again */
	bool seen;		/* reconcile mark */
	struct cand *cands;
	size_t n_cands;
};

/* An endpoint record with the identity of its namespace. */
struct rec {
	struct nf_ep_record r;
	bool ns_ok;		/* the namespace path exists: dev/ino valid */
	dev_t dev;
	ino_t ino;
	bool unfenced;		/* owner NF_OWNER_UNFENCED */
};

struct nf_unfenced {
	int ep;			/* epoll: inotify + every ns_watch's socket */
	int ifd, wd;		/* inotify on NF_EP_DIR; wd -1 while missing */
	int own_ns;		/* fd of serve's network namespace */
	dev_t own_dev;
	ino_t own_ino;
	bool records_dirty;
	struct rec *recs;
	size_t n_recs;
	struct ns_watch **ns;
	size_t n_ns;
	struct timespec next_full, next_dir;
};

/* ---- time ---- */

static struct timespec ts_after(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static long ms_left(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

/* ---- namespaces ---- */

static bool ns_identity(const char *path, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (stat(path, &st))
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return true;
}

/* A NETLINK_ROUTE socket in the namespace at path, subscribed to link events. */
static int ns_socket(struct nf_unfenced *u, const char *path, uint64_t *cookie)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	socklen_t len = sizeof(*cookie);
	int nsfd, fd, err = 0, rcvbuf = 256 << 10;

	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return -errno;
	if (setns(nsfd, CLONE_NEWNET)) {
		err = -errno;
		close(nsfd);
		return err;
	}
	close(nsfd);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0) {
		err = -errno;
	} else {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
			err = -errno;
		/* the cookie of this namespace: any socket in it tells */
		else if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
			err = -errno;
	}
	if (setns(u->own_ns, CLONE_NEWNET)) {
		/* cannot happen with our own namespace fd; carrying on would act
		 * in the workload's namespace */
		pr_err("unfenced: cannot return to serve's network namespace: %s",
		       strerror(errno));
		abort();
	}
	if (err && fd >= 0)
		close(fd);
	return err ? err : fd;
}

static void watch_free(struct nf_unfenced *u, struct ns_watch *w)
{
	if (w->nl >= 0) {
		epoll_ctl(u->ep, EPOLL_CTL_DEL, w->nl, NULL);
		close(w->nl);
	}
	free(w->cands);
	free(w);
}

static struct ns_watch *watch_find(struct nf_unfenced *u, dev_t dev, ino_t ino)
{
	size_t i;

	for (i = 0; i < u->n_ns; i++)
		if (u->ns[i]->dev == dev && u->ns[i]->ino == ino)
			return u->ns[i];
	return NULL;
}

static struct ns_watch *watch_add(struct nf_unfenced *u, const char *path, dev_t dev, ino_t ino)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ns_watch *w, **tmp;
	int fd;

	tmp = realloc(u->ns, (u->n_ns + 1) * sizeof(*u->ns));
	if (!tmp)
		return NULL;
	u->ns = tmp;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	snprintf(w->path, sizeof(w->path), "%s", path);
	w->dev = dev;
	w->ino = ino;
	fd = ns_socket(u, path, &w->cookie);
	if (fd < 0) {
		pr_warn("unfenced: cannot watch the network namespace %s: %s", path,
			strerror(-fd));
		free(w);
		return NULL;
	}
	w->nl = fd;
	ev.data.ptr = w;
	if (epoll_ctl(u->ep, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		free(w);
		return NULL;
	}
	w->dirty = true;
	u->ns[u->n_ns++] = w;
	pr_debug("unfenced: watching %s", path);
	return w;
}

/* ---- links of a namespace ---- */

struct link {
	int ifindex;
	char name[IF_NAMESIZE];
	bool outward;	/* can carry traffic out of the namespace by itself */
};

/* Kinds that send through the stack of the namespace they are in when their
 * link is there too (no IFLA_LINK_NETNSID): see the comment on top. */
static bool kind_is_local(const char *kind)
{
	static const char *const local[] = {
		"ipip", "sit", "ip6tnl", "gre", "gretap", "ip6gre", "ip6gretap", "erspan",
		"ip6erspan", "vti", "vti6", "vlan", "macvlan", "macvtap", "ipvlan", "ipvtap",
		"vxlan", "geneve", "bareudp", "veth", "dummy", "bridge", "bond", "team", "ifb",
		"nlmon", "vrf", "netkit",
	};
	size_t i;

	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (!strcmp(kind, local[i]))
			return true;
	return false;
}

static void parse_link(const struct nlmsghdr *nh, struct link *l)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	const struct rtattr *rta;
	int len = IFLA_PAYLOAD(nh);
	bool netnsid = false;
	char kind[32] = "";

	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFLA_IFNAME) {
			snprintf(l->name, sizeof(l->name), "%.*s", (int)RTA_PAYLOAD(rta),
				 (const char *)RTA_DATA(rta));
		} else if (rta->rta_type == IFLA_LINK_NETNSID) {
			netnsid = true;
		} else if (rta->rta_type == IFLA_LINKINFO) {
			const struct rtattr *in = RTA_DATA(rta);
			int inlen = RTA_PAYLOAD(rta);

			for (; RTA_OK(in, inlen); in = RTA_NEXT(in, inlen))
				if (in->rta_type == IFLA_INFO_KIND)
					snprintf(kind, sizeof(kind), "%.*s", (int)RTA_PAYLOAD(in),
						 (const char *)RTA_DATA(in));
		}
	}
	l->outward = !(ifi->ifi_flags & IFF_LOOPBACK) &&
		     (!kind[0] || netnsid || !kind_is_local(kind));
}

/*
 * Drain what is queued on the namespace's socket (events: the namespace
 * changed), then, when asked, dump its links. Events that arrive during the
 * dump leave w->dirty set for another round.
 */
static int list_links(struct ns_watch *w, bool dump, struct link **out, size_t *n)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 0x4e46 },
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	char buf[32768] __attribute__((aligned(4)));
	struct link *links = NULL, *tmp;
	size_t cnt = 0;
	bool done = !dump;
	struct pollfd pfd = { .fd = w->nl, .events = POLLIN };

	*out = NULL;
	*n = 0;
	/* queued events first: this dump covers them */
	for (;;) {
		ssize_t len = recv(w->nl, buf, sizeof(buf), 0);

		if (len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (len < 0 && errno != EINTR && errno != ENOBUFS)
			return -errno;
	}
	if (!dump)
		return 0;
	w->dirty = false;
	if (send(w->nl, &req, sizeof(req), 0) < 0)
		return -errno;
	while (!done) {
		ssize_t len = recv(w->nl, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (poll(&pfd, 1, 1000) <= 0) {
					free(links);
					return -ETIMEDOUT;
				}
				continue;
			}
			if (errno == ENOBUFS) {
				w->dirty = true;
				continue;
			}
			free(links);
			return -errno;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_seq != req.nh.nlmsg_seq) {
				w->dirty = true; /* an event meanwhile */
				continue;
			}
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				free(links);
				return e->error ? e->error : -EIO;
			}
			if (nh->nlmsg_type != RTM_NEWLINK)
				continue;
			tmp = realloc(links, (cnt + 1) * sizeof(*links));
			if (!tmp) {
				free(links);
				return -ENOMEM;
			}
			links = tmp;
			parse_link(nh, &links[cnt++]);
		}
	}
	*out = links;
	*n = cnt;
	return 0;
}

/* ---- endpoint records ---- */

static int load_records(struct nf_unfenced *u)
{
	struct nf_ep_record *recs = NULL;
	struct rec *r;
	size_t n = 0, i;
	int err;

	err = dp__list_endpoints(NULL, &recs, &n);
	if (err)
		return err;
	r = calloc(n + 1, sizeof(*r));
	if (!r) {
		free(recs);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		r[i].r = recs[i];
		r[i].unfenced = !strcmp(recs[i].owner, NF_OWNER_UNFENCED);
		if (!recs[i].is_cgroup && recs[i].netns[0])
			r[i].ns_ok = ns_identity(recs[i].netns, &r[i].dev, &r[i].ino);
	}
	free(recs);
	free(u->recs);
	u->recs = r;
	u->n_recs = n;
	return 0;
}

static bool rec_in(const struct rec *r, const struct ns_watch *w)
{
	return !r->r.is_cgroup && r->ns_ok && r->dev == w->dev && r->ino == w->ino;
}

/* r is one of our quarantines in w, and its interface is not among links. */
static bool quarantine_gone(const struct rec *r, const struct ns_watch *w, const struct link *links,
			    size_t n)
{
	size_t j;

	if (!r->unfenced || !rec_in(r, w))
		return false;
	for (j = 0; j < n; j++)
		if (!strcmp(links[j].name, r->r.ifname))
			return false;
	return true;
}

/* Is this interface of w an endpoint (any owner)? By name as given at attach,
 * or by where it is (netns cookie + ifindex). */
static const struct rec *rec_of_link(const struct rec *recs, size_t n, const struct ns_watch *w,
				     int ifindex, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!rec_in(&recs[i], w))
			continue;
		if (!strcmp(recs[i].r.ifname, name) ||
		    (recs[i].r.netns_cookie == w->cookie && (int)recs[i].r.ifindex == ifindex))
			return &recs[i];
	}
	return NULL;
}

/* The tenant of the workload in w: of an endpoint not made by us; 0 if none. */
static uint32_t workload_tenant(const struct rec *recs, size_t n, const struct ns_watch *w)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rec_in(&recs[i], w) && !recs[i].unfenced)
			return recs[i].r.tenant_id;
	return 0;
}

/* ---- changes, under the node lock ---- */

struct locked {
	struct nf_dp *dp;
	int lock;
};

static bool lock_dp(struct nf_unfenced *u, struct locked *l)
{
	l->dp = NULL;
	l->lock = -1;
	if (dp__open(&l->dp, false))
		return false;
	l->lock = dp__lock();
	if (l->lock < 0) {
		dp__close(l->dp);
		return false;
	}
	/* what CNI and the CLI did meanwhile */
	if (load_records(u)) {
		dp__unlock(l->lock);
		dp__close(l->dp);
		return false;
	}
	return true;
}

static void unlock_dp(struct locked *l)
{
	dp__unlock(l->lock);
	dp__close(l->dp);
}

static void detach_unfenced(struct nf_dp *dp, const struct nf_ep_record *r, const char *why)
{
	dp__detach_endpoint(dp, r->ep_id);
	pr_info("unfenced interface %s in %s: fence removed (%s)", r->ifname,
		r->netns[0] ? r->netns : "(serve's namespace)", why);
}

static void fence(struct nf_unfenced *u, struct ns_watch *w, struct cand *c)
{
	struct nf_iface_ep ep = { .flags = NF_EPF_DENY_ALL };
	char tenant[NF_TENANT_NAME_LEN] = "?";
	struct locked l;
	int err;

	if (!lock_dp(u, &l)) {
		c->due = ts_after(NF_RETRY_MS);
		return;
	}
	ep.tenant_id = workload_tenant(u->recs, u->n_recs, w);
	if (!ep.tenant_id || rec_of_link(u->recs, u->n_recs, w, c->ifindex, c->name)) {
		/* attached meanwhile, or the workload is gone: nothing to do */
		c->ifindex = -1;
		unlock_dp(&l);
		w->dirty = true;
		return;
	}
	snprintf(ep.netns, sizeof(ep.netns), "%s", w->path);
	snprintf(ep.ifname, sizeof(ep.ifname), "%s", c->name);
	snprintf(ep.owner, sizeof(ep.owner), "%s", NF_OWNER_UNFENCED);
	err = dp__attach_iface(l.dp, &ep);
	dp__tenant_name(l.dp, ep.tenant_id, tenant, sizeof(tenant));
	if (err == -ENODEV) {
		c->ifindex = -1; /* gone (or renamed: the next listing sees it) */
		w->dirty = true;
	} else if (err) {
		pr_warn("unfenced interface %s in %s (tenant %s): cannot fence it: %s; retrying",
			c->name, w->path, tenant, strerror(-err));
		c->due = ts_after(NF_RETRY_MS);
	} else {
		__atomic_add_fetch(&total, 1, __ATOMIC_RELAXED);
		pr_warn("unfenced interface %s (ifindex %d) in %s, a network namespace of tenant "
			"%s: not a netfence endpoint; fenced default-deny",
			c->name, c->ifindex, w->path, tenant);
		c->ifindex = -1;
	}
	load_records(u);
	unlock_dp(&l);
}

/* ---- reconcile: which namespaces, which interfaces ---- */

/* Records changed: watch the namespaces of fenced workloads, drop the others,
 * and remove quarantines whose workload is gone. */
static void reconcile(struct nf_unfenced *u)
{
	struct locked l;
	bool stale = false;
	size_t i, j;

	u->records_dirty = false;
	if (load_records(u))
		return;
	for (i = 0; i < u->n_ns; i++)
		u->ns[i]->seen = false;
	for (i = 0; i < u->n_recs; i++) {
		const struct rec *r = &u->recs[i];
		struct ns_watch *w;

		if (r->r.is_cgroup || r->unfenced || !r->ns_ok ||
		    (r->dev == u->own_dev && r->ino == u->own_ino))
			continue;
		w = watch_find(u, r->dev, r->ino);
		if (!w)
			w = watch_add(u, r->r.netns, r->dev, r->ino);
		if (w)
			w->seen = true;
	}
	for (i = j = 0; i < u->n_ns; i++) {
		if (u->ns[i]->seen) {
			u->ns[j++] = u->ns[i];
		} else {
			pr_debug("unfenced: no longer watching %s", u->ns[i]->path);
			watch_free(u, u->ns[i]);
		}
	}
	u->n_ns = j;
	/* quarantines outside every fenced namespace */
	for (i = 0; i < u->n_recs; i++) {
		const struct rec *r = &u->recs[i];

		if (r->unfenced && (!r->ns_ok || !watch_find(u, r->dev, r->ino)))
			stale = true;
	}
	if (!stale || !lock_dp(u, &l))
		return;
	for (i = 0; i < u->n_recs; i++) {
		const struct rec *r = &u->recs[i];

		if (!r->unfenced)
			continue;
		if (!r->ns_ok)
			detach_unfenced(l.dp, &r->r, "its network namespace is gone");
		else if (!watch_find(u, r->dev, r->ino) &&
			 !workload_tenant(u->recs, u->n_recs,
					  &(struct ns_watch){ .dev = r->dev, .ino = r->ino }))
			detach_unfenced(l.dp, &r->r, "no workload endpoint in its namespace");
	}
	load_records(u);
	unlock_dp(&l);
}

static struct cand *cand_find(struct ns_watch *w, int ifindex, const char *name)
{
	size_t i;

	for (i = 0; i < w->n_cands; i++)
		if (w->cands[i].ifindex == ifindex && !strcmp(w->cands[i].name, name))
			return &w->cands[i];
	return NULL;
}

/* List w's links: new unattached ones become candidates, quarantines of
 * interfaces that are gone are removed. */
static void rescan(struct nf_unfenced *u, struct ns_watch *w)
{
	struct cand *keep = NULL;
	struct link *links = NULL;
	size_t n = 0, i, k = 0;
	bool gone = false;
	int err;

	err = list_links(w, true, &links, &n);
	if (err) {
		pr_debug("unfenced: listing the links of %s: %s", w->path, strerror(-err));
		w->dirty = true; /* the full rescan retries; the namespace may be going */
		return;
	}
	keep = calloc(n + 1, sizeof(*keep));
	if (!keep) {
		free(links);
		return;
	}
	for (i = 0; i < n; i++) {
		struct cand *c;

		if (!links[i].outward || rec_of_link(u->recs, u->n_recs, w, links[i].ifindex,
						     links[i].name))
			continue;
		c = cand_find(w, links[i].ifindex, links[i].name);
		if (c) {
			keep[k++] = *c;
		} else {
			keep[k].ifindex = links[i].ifindex;
			snprintf(keep[k].name, sizeof(keep[k].name), "%s", links[i].name);
			keep[k++].due = ts_after(NF_GRACE_MS);
			pr_debug("unfenced: %s in %s is not an endpoint", links[i].name, w->path);
		}
	}
	free(w->cands);
	w->cands = keep;
	w->n_cands = k;

	/* our quarantines whose interface is gone */
	for (i = 0; i < u->n_recs && !gone; i++)
		gone = quarantine_gone(&u->recs[i], w, links, n);
	if (gone) {
		struct locked l;

		if (lock_dp(u, &l)) {
			for (i = 0; i < u->n_recs; i++)
				if (quarantine_gone(&u->recs[i], w, links, n))
					detach_unfenced(l.dp, &u->recs[i].r, "the interface is gone");
			load_records(u);
			unlock_dp(&l);
		}
	}
	free(links);
}

/* ---- the loop's interface ---- */

static void watch_dir(struct nf_unfenced *u)
{
	u->next_dir = ts_after(NF_DIR_RETRY_MS);
	store__mkdirs(NF_STORE_ENDPOINTS);
	u->wd = inotify_add_watch(u->ifd, NF_STORE_ENDPOINTS,
				  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
					  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
	if (u->wd >= 0)
		u->records_dirty = true;
}

int unfenced__open(struct nf_unfenced **out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct nf_unfenced *u = calloc(1, sizeof(*u));
	int err;

	*out = NULL;
	if (!u)
		return -ENOMEM;
	u->ifd = u->own_ns = -1;
	u->wd = -1;
	u->ep = epoll_create1(EPOLL_CLOEXEC);
	u->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	u->own_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (u->ep < 0 || u->ifd < 0 || u->own_ns < 0 ||
	    !ns_identity("/proc/thread-self/ns/net", &u->own_dev, &u->own_ino) ||
	    epoll_ctl(u->ep, EPOLL_CTL_ADD, u->ifd, &ev)) {
		err = -errno;
		unfenced__close(u);
		return err ? err : -EIO;
	}
	watch_dir(u);
	u->next_full = ts_after(NF_FULL_RESCAN_MS);
	*out = u;
	return 0;
}

void unfenced__close(struct nf_unfenced *u)
{
	size_t i;

	if (!u)
		return;
	for (i = 0; i < u->n_ns; i++)
		watch_free(u, u->ns[i]);
	free(u->ns);
	free(u->recs);
	if (u->ifd >= 0)
		close(u->ifd);
	if (u->own_ns >= 0)
		close(u->own_ns);
	if (u->ep >= 0)
		close(u->ep);
	free(u);
}

int unfenced__fd(const struct nf_unfenced *u)
{
	return u->ep;
}

long unfenced__timeout_ms(const struct nf_unfenced *u)
{
	long t = ms_left(&u->next_full), c;
	size_t i, j;

	if (u->records_dirty)
		return 0;
	if (u->wd < 0 && ms_left(&u->next_dir) < t)
		t = ms_left(&u->next_dir);
	for (i = 0; i < u->n_ns; i++) {
		if (u->ns[i]->dirty)
			return 0;
		for (j = 0; j < u->ns[i]->n_cands; j++) {
			c = ms_left(&u->ns[i]->cands[j].due);
			if (c < t)
				t = c;
		}
	}
	return t < 0 ? 0 : t;
}

static void read_inotify(struct nf_unfenced *u)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	char *p;

	while ((n = read(u->ifd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n;
		     p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_IGNORED) {
				u->wd = -1; /* NF_EP_DIR removed (reset): watch it again */
				u->next_dir = ts_after(0);
			}
			u->records_dirty = true;
		}
	}
}

void unfenced__run(struct nf_unfenced *u)
{
	struct epoll_event evs[64];
	size_t i, j;
	int n, k;

	while ((n = epoll_wait(u->ep, evs, 64, 0)) > 0) {
		for (k = 0; k < n; k++) {
			struct ns_watch *w = evs[k].data.ptr;

			if (!w) {
				read_inotify(u);
			} else {
				struct link *none;
				size_t zero;

				list_links(w, false, &none, &zero); /* drain */
				w->dirty = true;
			}
		}
		if (n < 64)
			break;
	}
	if (u->wd < 0 && ms_left(&u->next_dir) <= 0)
		watch_dir(u);
	if (ms_left(&u->next_full) <= 0) {
		u->next_full = ts_after(NF_FULL_RESCAN_MS);
		u->records_dirty = true;
		for (i = 0; i < u->n_ns; i++)
			u->ns[i]->dirty = true;
	}
	if (u->records_dirty)
		reconcile(u);
	for (i = 0; i < u->n_ns; i++) {
		struct ns_watch *w = u->ns[i];

		if (w->dirty)
			rescan(u, w);
		for (j = 0; j < w->n_cands; j++)
			if (w->cands[j].ifindex > 0 && ms_left(&w->cands[j].due) <= 0)
				fence(u, w, &w->cands[j]);
	}
}
