// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The node's own addresses in the ipcache (identity NF_ID_HOST; SPEC §3.8:
 * ingress from them is trusted when NF_CFG_ALLOW_HOST_INGRESS is set).
 *
 * dp__sync_host_addrs() makes the ipcache's NF_ID_HOST entries equal to the
 * addresses of the calling thread's network namespace: new ones are added,
 * ones that are gone are removed. Every state-changing command calls it under
 * the node lock, and `serve` calls it on every rtnetlink address event
 * (nf_hostaddr_watch_*), so an address added to the node is trusted within a
 * second and one removed stops being trusted.
 *
 * Which entries are the node's is remembered in NF_STORE_HOST_ADDRS (one address a
 * line), so a sync costs one address dump and a lookup per address instead of
 * a walk of the whole ipcache (pods on other nodes, tenant CIDRs). Without
 * that file (first load, or /run wiped under a loaded datapath) the ipcache
 * is walked once.
 *
 * An address that another identity holds in the ipcache (an endpoint in the
 * node's own namespace, a hostNetwork Pod document) keeps that identity: only
 * entries that say NF_ID_HOST are added or removed here.
 *
 * The addresses come from one RTM_GETADDR dump, not getifaddrs(): glibc's
 * getifaddrs() dumps every link with its statistics too, which on a node with
 * a thousand pod veths is most of the cost, and every CNI ADD pays it.
 *
 * IPv6 link-local addresses (fe80::/10) are not node addresses here. Traffic
 * the node sends to a pod's address never has one as its source (source
 * address selection, RFC 6724 rule 2, picks an address of the destination's
 * scope); neighbour discovery and MLD, which do use them, are judged by
 * their shape (SPEC §3.8), not by this trust. And every pod's host-side veth
 * has one: trusting them made the node's trusted set, and the work of every
 * sync (a CNI ADD's too), grow with the number of pods, and each new pod
 * invalidated every tenant's peer cache (an ipcache change). A datapath that
 * trusted them before loses them at its first sync (they are "gone").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "dp_internal.h"
#include "log.h"
#include "store.h"

struct addr_set {
	__u8 (*a)[16];
	size_t n, cap;
};

/* Append; set_sort() afterwards makes it a set (sorted, unique). Sorted sets,
 * not a linear search: a node may have many addresses. */
static int set_add(struct addr_set *s, const __u8 *addr)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		void *p = realloc(s->a, cap * 16);

		if (!p)
			return -ENOMEM;
		s->a = p;
		s->cap = cap;
	}
	memcpy(s->a[s->n++], addr, 16);
	return 0;
}

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static void set_sort(struct addr_set *s)
{
	size_t i, j;

	if (!s->n)
		return;
	qsort(s->a, s->n, 16, addr_cmp);
	for (i = 1, j = 1; i < s->n; i++)
		if (memcmp(s->a[i], s->a[j - 1], 16))
			memcpy(s->a[j++], s->a[i], 16);
	s->n = j;
}

static bool set_has(const struct addr_set *s, const __u8 *addr)
{
	return s->n && bsearch(addr, s->a, s->n, 16, addr_cmp);
}

static void v4_mapped(__u8 *out, const void *v4)
{
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

static bool is_link_local(const __u8 *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

static int parse_addr_msg(struct addr_set *s, const struct nlmsghdr *nh)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	const struct rtattr *rta, *local = NULL, *address = NULL;
	int len = IFA_PAYLOAD(nh);
	__u8 a[16];

	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	for (rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFA_LOCAL)
			local = rta;
		else if (rta->rta_type == IFA_ADDRESS)
			address = rta;
	}
	/* IPv4 point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL our own. */
	rta = local ?: address;
	if (!rta)
		return 0;
	if (ifa->ifa_family == AF_INET) {
		if (RTA_PAYLOAD(rta) < 4)
			return 0;
		v4_mapped(a, RTA_DATA(rta));
	} else {
		if (RTA_PAYLOAD(rta) < 16)
			return 0;
		memcpy(a, RTA_DATA(rta), 16);
		if (is_link_local(a))
			return 0;	/* see the comment on top */
	}
	return set_add(s, a);
}

static int addr_msg(const struct nlmsghdr *nh, void *set)
{
	return parse_addr_msg(set, nh);
}

/*
 * Every IPv4 and IPv6 address of this thread's network namespace, or (ifindex
 * not 0) of that one link: a strict-checked dump filtered by the kernel, so
 * its cost does not grow with the links of the node.
 */
static int dump_addrs(struct addr_set *s, int ifindex)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETADDR,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.ifa = { .ifa_family = AF_UNSPEC, .ifa_index = (__u32)ifindex },
	};

	return dp_nl_dump(&req.nh, ifindex != 0, RTM_NEWADDR, addr_msg, s);
}

/* The NF_ID_HOST entries as last written; -ENOENT without the file. */
static int read_known(struct addr_set *s)
{
	char line[INET6_ADDRSTRLEN + 2];
	FILE *f = fopen(NF_STORE_HOST_ADDRS, "r");
	__u8 a[16];
	int err = 0;

	if (!f)
		return -errno;
	while (!err && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (inet_pton(AF_INET6, line, a) == 1)
			err = set_add(s, a);
	}
	fclose(f);
	return err;
}

/* Without the file: every /128 NF_ID_HOST entry of the ipcache. */
static int scan_known(struct nf_dp *dp, struct addr_set *s)
{
	struct nf_lpm_addr_key k, next;
	struct nf_ipcache_val v;
	bool first = true;
	int err = 0;

	while (!err &&
	       !bpf_map_get_next_key(dp->maps.fd[NF_MAP_IPCACHE], first ? NULL : &k, &next)) {
		first = false;
		k = next;
		if (k.prefixlen == 128 &&
		    !bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v) && v.id == NF_ID_HOST)
			err = set_add(s, k.addr);
	}
	return err;
}

static int write_known(const struct addr_set *s)
{
	char *text = malloc(s->n * INET6_ADDRSTRLEN + 1);
	size_t i, len = 0;
	int err;

	if (!text)
		return -ENOMEM;
	for (i = 0; i < s->n; i++) {
		inet_ntop(AF_INET6, s->a[i], text + len, INET6_ADDRSTRLEN);
		len += strlen(text + len);
		text[len++] = '\n';
	}
	err = store__write(NF_STORE_HOST_ADDRS, text, len);
	free(text);
	return err;
}

static void fmt_addr(const __u8 *a, char *buf, size_t len)
{
	if (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
		inet_ntop(AF_INET, a + 12, buf, len);
	else
		inet_ntop(AF_INET6, a, buf, len);
}

/*
 * Trust each address of cur (sorted) that the ipcache does not give to
 * another identity, adding those it lacks; now collects the trusted ones.
 */
static int trust_addrs(struct nf_dp *dp, const struct addr_set *cur, struct addr_set *now,
		       bool *changed, size_t *n_add)
{
	struct nf_lpm_addr_key k = { .prefixlen = 128 };
	struct nf_ipcache_val v;
	char buf[INET6_ADDRSTRLEN];
	size_t i;
	int err;

	for (i = 0; i < cur->n; i++) {
		memcpy(k.addr, cur->a[i], 16);
		if (!bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v)) {
			if (v.id == NF_ID_HOST) {
				err = set_add(now, cur->a[i]);
				if (err)
					return err;
			}
			continue;
		}
		v = (struct nf_ipcache_val){ .id = NF_ID_HOST };
		if (bpf_map_update_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v, BPF_ANY)) {
			err = -errno;
			pr_err("cannot add a node address to the ipcache: %s", strerror(-err));
			return err;
		}
		err = set_add(now, cur->a[i]);
		if (err)
			return err;
		*changed = true;
		fmt_addr(cur->a[i], buf, sizeof(buf));
		(*n_add)++;
		pr_debug("node address %s added: trusted as this node", buf);
	}
	return 0;
}

/* The entries as last written, or (no file) as the ipcache says. */
static int known_addrs(struct nf_dp *dp, struct addr_set *known, bool *file_stale)
{
	int err = read_known(known);

	if (err == -ENOENT) {
		*file_stale = true;
		err = scan_known(dp, known);
	}
	set_sort(known);
	return err;
}

/* Record now as the node's entries when it differs from known; tell the datapath. */
static void sync_done(struct nf_dp *dp, struct addr_set *now, const struct addr_set *known,
		      bool changed, bool file_stale, size_t n_add, size_t n_del)
{
	size_t i;
	int err;

	set_sort(now);
	if (now->n != known->n)
		file_stale = true;
	for (i = 0; !file_stale && i < now->n; i++)
		file_stale = !set_has(known, now->a[i]);
	if (changed) {
		dp__ipcache_changed(dp);
		if (nf_log_is_daemon())
			pr_info("node addresses: %zu added, %zu removed, %zu trusted", n_add, n_del,
				now->n);
	}
	if (file_stale && dp->pinned) {
		err = write_known(now);
		if (err)
			pr_warn("cannot write %s: %s", NF_STORE_HOST_ADDRS, strerror(-err));
	}
}

/*
 * Both syncs. links NULL: every address of the netns; those known and gone
 * stop being trusted. Else only the addresses of those n links are read, and
 * what is known stays (it may be on another link).
 */
static int sync_addrs(struct nf_dp *dp, const int *links, size_t n)
{
	struct addr_set cur = {}, known = {}, now = {};
	struct nf_lpm_addr_key k = { .prefixlen = 128 };
	struct nf_ipcache_val v;
	bool changed = false, file_stale = false;
	char buf[INET6_ADDRSTRLEN];
	size_t i, n_add = 0, n_del = 0;
	int err = links ? 0 : dump_addrs(&cur, 0);

	for (i = 0; !err && links && i < n; i++) {
		err = dump_addrs(&cur, links[i]);
		if (err == -ENODEV)	/* gone meanwhile: nothing of it to trust */
			err = 0;
	}
	if (err) {
		pr_err("cannot list the node's addresses: %s", strerror(-err));
		goto out;
	}
	set_sort(&cur);
	err = known_addrs(dp, &known, &file_stale);
	for (i = 0; !err && i < known.n; i++) {
		if (set_has(&cur, known.a[i]))
			continue;
		if (links) {	/* maybe on another link: still known */
			err = set_add(&now, known.a[i]);
			continue;
		}
		/* Gone from the node: no longer trusted (unless another identity holds it). */
		file_stale = true;
		memcpy(k.addr, known.a[i], 16);
		if (bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &k, &v) || v.id != NF_ID_HOST)
			continue;
		if (bpf_map_delete_elem(dp->maps.fd[NF_MAP_IPCACHE], &k) && errno != ENOENT) {
			err = -errno;
			break;
		}
		changed = true;
		fmt_addr(known.a[i], buf, sizeof(buf));
		n_del++;
		pr_debug("node address %s removed: no longer trusted", buf);
	}
	/* On the node: trusted, where no other identity holds the address. */
	if (!err)
		err = trust_addrs(dp, &cur, &now, &changed, &n_add);
	if (!err)
		sync_done(dp, &now, &known, changed, file_stale, n_add, n_del);
out:
	free(cur.a);
	free(known.a);
	free(now.a);
	return err;
}

int dp__sync_host_addrs(struct nf_dp *dp)
{
	return sync_addrs(dp, NULL, 0);
}

int dp__sync_host_addrs_of(struct nf_dp *dp, const int *ifindex, size_t n)
{
	return sync_addrs(dp, ifindex, n);
}

/* ---- rtnetlink address events (serve) ---- */

int nf_hostaddr_watch_open(void)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	};
	int fd, rcvbuf = 1 << 20;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

bool nf_hostaddr_watch_drain(int fd)
{
	char buf[16384] __attribute__((aligned(4)));
	bool any = false;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n > 0) {
			any = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* ENOBUFS: events were lost; a full sync covers them */
		if (n < 0 && errno == ENOBUFS)
			any = true;
		return any;
	}
}
