// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One rtnetlink dump, in the calling thread's network namespace: the node's
 * addresses (hostaddr.c) and the filters on a clsact qdisc (tc.c). A single
 * get sent with NLM_F_ACK works too: its ACK ends it like a dump's DONE.
 */
#include <errno.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include "dp_internal.h"

int dp_nl_dump(const struct nlmsghdr *req, bool strict, uint16_t type,
	       int (*fn)(const struct nlmsghdr *nh, void *ctx), void *ctx)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[32768] __attribute__((aligned(4)));
	int fd, one = 1, err = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* without strict checking the kernel ignores a dump's filters */
	if (strict && setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one))) {
		err = -errno;
		goto out;
	}
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE)
				goto out;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				/* error 0 is the ACK of a single get (NLM_F_ACK) */
				err = e->error;
				goto out;
			}
			if (nh->nlmsg_type == type) {
				err = fn(nh, ctx);
				if (err)
					goto out;
			}
		}
	}
out:
	close(fd);
	return err;
}
