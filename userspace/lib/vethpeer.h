/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Where an interface endpoint's programs go: the host-side peer of its veth. */
#ifndef NETFENCE_VETHPEER_H
#define NETFENCE_VETHPEER_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

/* A device and its netns: path ("" = the caller's own) and cookie. */
struct nf_dev_ref {
	char netns[256];
	char ifname[32];	/* as struct nf_iface_ep */
	int ifindex;
	uint64_t cookie;
};

struct nf_attach_point {
	bool peer;		/* a veth: its peer, outside the workload's netns */
	struct nf_dev_ref dev;	/* where the programs go (peer: the peer) */
	bool guard;		/* a macvlan: its parent, outside the workload's netns */
	struct nf_dev_ref parent;
	uint8_t mac[6];		/* the macvlan's MAC (guard) */
};

/*
 * Called inside the endpoint's netns for its interface ifindex; home_ns: an
 * fd of the caller's own netns, or -1 if that is where it runs already.
 * Fills out->dev (out->peer true) when the interface is a veth whose peer is
 * in home_ns or a netns of /var/run/netns; out->parent (out->guard true) when
 * it is a macvlan whose parent is there. Neither: the caller fills out->dev
 * with the interface itself. Returns in the endpoint's netns; 0 or -errno.
 */
int vethpeer__find(int ifindex, int home_ns, struct nf_attach_point *out);

#endif
