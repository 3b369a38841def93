/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * `serve`'s unfenced-interface watcher (SPEC §3.11, last paragraph): an
 * interface that appears in a fenced workload's network namespace without
 * being an endpoint (a Multus network whose chain lacks netfence-cni) is
 * attached default-deny (NF_EPF_DENY_ALL, same tenant, owner
 * NF_OWNER_UNFENCED) within a second, logged and counted.
 *
 * Single-threaded: call unfenced__run() from the thread that polls
 * unfenced__fd(), at the latest after unfenced__timeout_ms().
 */
#ifndef NETFENCE_UNFENCED_H
#define NETFENCE_UNFENCED_H

#include <stdint.h>

struct nf_unfenced;

int unfenced__open(struct nf_unfenced **out);
void unfenced__close(struct nf_unfenced *u);
/* An fd (epoll) that is readable when there is something to do. */
int unfenced__fd(const struct nf_unfenced *u);
/* Milliseconds until unfenced__run() has timed work, -1 for none. */
long unfenced__timeout_ms(const struct nf_unfenced *u);
/* Handle pending events and due work; never blocks on the fd. */
void unfenced__run(struct nf_unfenced *u);
/* netfence_unfenced_interfaces_total; any thread. */
uint64_t unfenced__total(void);

#endif
