/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * serve: interface endpoints attached on clsact (the CNI ADD's fast hook)
 * moved to tcx once the node is quiet (promote.c). Single-threaded: call
 * promote__run() from serve's loop, at the latest after promote__timeout_ms().
 */
#ifndef NETFENCE_CMD_PROMOTE_H
#define NETFENCE_CMD_PROMOTE_H

#include <stdint.h>

struct nf_promote;

/* 0 and *out; NETFENCE_TC_HOOK=clsact in serve's environment turns it off
 * (then *out is an instance that does nothing). */
int promote__open(struct nf_promote **out);
void promote__close(struct nf_promote *p);
/* Milliseconds until promote__run() has timed work, -1 for none. */
long promote__timeout_ms(const struct nf_promote *p);
void promote__run(struct nf_promote *p);
/* Endpoints this process moved to tcx. */
uint64_t promote__total(void);

#endif /* NETFENCE_CMD_PROMOTE_H */
