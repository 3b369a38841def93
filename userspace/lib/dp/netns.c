// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Network namespaces: entering one and returning, netns cookies, and the
 * addresses of an interface inside one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "dp_internal.h"
#include "log.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static void sockaddr_to_addr(const struct sockaddr *sa, struct nf_cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->plen = 128;
	if (sa->sa_family == AF_INET) {
		c->addr[10] = 0xff;
		c->addr[11] = 0xff;
		memcpy(&c->addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
		c->is_v4 = true;
	} else {
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* Enter netns (path "" = stay). */
int dp_netns_enter(const char *netns, struct netns_guard *g)
{
	int fd, err;

	g->orig = -1;
	if (!netns || !*netns)
		return 0;
	fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	g->orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (g->orig < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (setns(fd, CLONE_NEWNET)) {
		err = -errno;
		close(fd);
		close(g->orig);
		g->orig = -1;
		return err;
	}
	close(fd);
	return 0;
}

void dp_netns_leave(struct netns_guard *g)
{
	if (g->orig < 0)
		return;
	if (setns(g->orig, CLONE_NEWNET))
		pr_err("cannot return to the original network namespace: %s", strerror(errno));
	close(g->orig);
	g->orig = -1;
}

int dp_cur_netns_cookie(uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);
	int s, err = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		err = -errno;
	close(s);
	return err;
}

int dp__netns_cookie(const char *netns, uint64_t *cookie)
{
	struct netns_guard g;
	int err;

	err = dp_netns_enter(netns, &g);
	if (err)
		return err;
	err = dp_cur_netns_cookie(cookie);
	dp_netns_leave(&g);
	return err;
}

int dp_netns_find(uint64_t cookie, char *path, size_t len)
{
	struct dirent *de;
	DIR *d = opendir("/var/run/netns");
	uint64_t c;
	int err = -ENOENT;

	while (d && err && (de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(path, len, "/var/run/netns/%s", de->d_name) >= len)
			continue;
		if (!dp__netns_cookie(path, &c) && c == cookie)
			err = 0;
	}
	if (d)
		closedir(d);
	return err;
}

/* Inside the netns: the interface's addresses. */
int dp_iface_addrs(const char *ifname, struct nf_cidr **out, size_t *n)
{
	struct ifaddrs *ifa, *i;
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && !strcmp(i->ifa_name, ifname) &&
		    (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
			cnt++;
	if (cnt) {
		*out = calloc(cnt, sizeof(**out));
		if (!*out) {
			freeifaddrs(ifa);
			return -ENOMEM;
		}
	}
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && !strcmp(i->ifa_name, ifname) &&
		    (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
			sockaddr_to_addr(i->ifa_addr, &(*out)[(*n)++]);
	freeifaddrs(ifa);
	return 0;
}
