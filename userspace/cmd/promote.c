// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * serve: interface endpoints moved from clsact to tcx.
 *
 * Why: on a veth, the qdisc and classifier layers of clsact cost about as
 * much per packet as the program itself (README, bench/README.md); tcx runs
 * the program straight from the device's hook. But every tcx attach waits
 * for an RCU grace period while it holds RTNL (kernel/bpf/tcx.c), which
 * would make a CNI ADD ~3x the bridge plugin's and queue parallel ADDs
 * behind each other. So ADD attaches through clsact (enforced before it
 * returns), and serve moves the endpoint to tcx later, off the ADD path:
 * dp__promote_tcx() attaches through tcx in front, then takes the filters
 * off; each point runs the endpoint's program exactly once at every step.
 * Then the clsact qdisc the ADD made goes (dp__clsact_tidy), once the
 * interface has sent nothing towards the pod for NF_PROMOTE_TIDY_MS:
 * removing it from a live interface drops what is sent meanwhile. An
 * endpoint found busy NF_PROMOTE_TIDY_EAGER times in a row is looked at
 * less and less often (a new sample, and the check a second later, after
 * 2, 4, ... up to NF_PROMOTE_TIDY_MAX_MS).
 *
 * When: an endpoint is a candidate NF_PROMOTE_QUIET_MS after serve first saw
 * its record (a burst of ADDs is over by then), one endpoint per
 * NF_PROMOTE_GAP_MS, and only when the node lock is free at once
 * (dp__trylock): a command or CNI call in progress goes first, and what the
 * promotion holds (the node lock, RTNL for two grace periods, ~30 ms) never
 * sits in front of more than one ADD. Records are read again when their
 * directory changes (its mtime), and again under the lock.
 *
 * Which: interface endpoints enforced on the host-side peer of their veth.
 * Endpoints on the interface itself (a macvlan, a veth whose peer netfence
 * cannot reach) keep their hook. A kernel without tcx turns this off; so
 * does NETFENCE_TC_HOOK=clsact in serve's environment.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "datapath.h"
#include "log.h"
#include "promote.h"

#define NF_PROMOTE_QUIET_MS	1000	/* after a record is first seen */
#define NF_PROMOTE_GAP_MS	200	/* between two promotions */
#define NF_PROMOTE_IDLE_MS	1000	/* how often the records' directory is looked at */
#define NF_PROMOTE_TIDY_MS	1000	/* nothing sent towards the pod for this long */
#define NF_PROMOTE_TIDY_BATCH	16	/* qdiscs looked at under one hold of the lock */
#define NF_PROMOTE_TIDY_EAGER	8	/* checks a second apart before backing off */
#define NF_PROMOTE_TIDY_MAX_MS	64000	/* the longest wait for a new sample */

enum stage {
	STAGE_MOVE,		/* to be moved to tcx */
	STAGE_TIDY,		/* on tcx: its clsact qdisc to go when quiet */
	STAGE_DONE,		/* nothing left to do, or not to be moved */
};

struct seen {
	uint32_t ep_id;
	uint32_t ifindex;	/* where its programs run */
	uint64_t cookie;
	struct timespec due;	/* of its next step */
	uint64_t tx;		/* STAGE_TIDY: the interface's last tx_packets sample */
	unsigned int busy;	/* STAGE_TIDY: checks in a row that found it sending */
	enum stage stage;
};

struct nf_promote {
	bool off;
	struct timespec due;
	struct timespec mtime;	/* of NF_EP_DIR when last read */
	bool read;
	struct seen *v;
	size_t n;
};

static uint64_t n_promoted;

uint64_t promote__total(void)
{
	return n_promoted;
}

static struct timespec now_ts(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static struct timespec after(long ms)
{
	struct timespec t = now_ts();

	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

int promote__open(struct nf_promote **out)
{
	const char *hook = getenv("NETFENCE_TC_HOOK");
	struct nf_promote *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->off = hook && !strcmp(hook, "clsact");
	if (p->off)
		pr_info("NETFENCE_TC_HOOK=clsact: endpoints stay on clsact");
	p->due = now_ts();
	*out = p;
	return 0;
}

void promote__close(struct nf_promote *p)
{
	if (!p)
		return;
	free(p->v);
	free(p);
}

long promote__timeout_ms(const struct nf_promote *p)
{
	long ms;
	struct timespec now = now_ts();

	if (!p || p->off)
		return -1;
	ms = ms_between(&now, &p->due);
	return ms < 0 ? 0 : ms;
}

static bool candidate(const struct nf_ep_record *r)
{
	return !r->is_cgroup && r->attach_peer && r->attach_ifindex;
}

static bool same_ep(const struct seen *s, const struct nf_ep_record *r)
{
	return s->ep_id == r->ep_id && s->ifindex == r->attach_ifindex &&
	       s->cookie == r->attach_cookie;
}

static struct seen *find(struct nf_promote *p, const struct nf_ep_record *r)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (same_ep(&p->v[i], r))
			return &p->v[i];
	return NULL;
}

/* p->v made to follow the records: new ones added (first seen now), gone ones dropped. */
static int sync_seen(struct nf_promote *p, const struct nf_ep_record *recs, size_t n)
{
	struct seen *v = calloc(n + 1, sizeof(*v));
	struct timespec quiet = after(NF_PROMOTE_QUIET_MS);
	size_t i, k = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct seen *old;

		if (!candidate(&recs[i]))
			continue;
		old = find(p, &recs[i]);
		v[k++] = old ? *old :
			       (struct seen){ .ep_id = recs[i].ep_id,
					      .ifindex = recs[i].attach_ifindex,
					      .cookie = recs[i].attach_cookie, .due = quiet,
					      .stage = STAGE_MOVE };
	}
	free(p->v);
	p->v = v;
	p->n = k;
	return 0;
}

/* The records again when their directory changed; true when read (or unchanged). */
static bool refresh(struct nf_promote *p)
{
	struct nf_ep_record *recs = NULL;
	struct nf_dp *dp = NULL;
	struct stat st;
	size_t n = 0;
	int err;

	if (stat(NF_EP_DIR, &st))
		return false;	/* no endpoint yet */
	if (p->read && st.st_mtim.tv_sec == p->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == p->mtime.tv_nsec)
		return true;
	if (dp__open(&dp, false))
		return false;	/* no datapath (yet) */
	err = dp__list_endpoints(dp, &recs, &n);
	if (!err)
		err = sync_seen(p, recs, n);
	free(recs);
	dp__close(dp);
	if (err)
		return false;
	p->mtime = st.st_mtim;
	p->read = true;
	return true;
}

/* Whether s's next step is due; if not, *wait is lowered to when it will be. */
static bool due(const struct seen *s, const struct timespec *now, long *wait)
{
	long ms = ms_between(now, &s->due);

	if (s->stage == STAGE_DONE)
		return false;
	if (ms <= 0)
		return true;
	if (*wait < 0 || ms < *wait)
		*wait = ms;
	return false;
}

/* Whether any endpoint's step is due; *wait: ms until the next one will be (-1: none). */
static bool any_due(struct nf_promote *p, long *wait)
{
	struct timespec now = now_ts();
	bool any = false;
	size_t i;

	*wait = -1;
	for (i = 0; i < p->n; i++)
		any |= due(&p->v[i], &now, wait);
	return any;
}

static const struct nf_ep_record *rec_of(const struct seen *s, const struct nf_ep_record *recs,
					 size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (same_ep(s, &recs[i]))
			return &recs[i];
	return NULL;
}

/* s's clsact qdisc looked at (STAGE_TIDY): removed, kept (nothing of ours
 * to remove), or looked at again later: NF_PROMOTE_TIDY_MS after a sample,
 * or after a backoff for a new one when the endpoint keeps sending. */
static void tidy(struct nf_dp *dp, struct seen *s, const struct nf_ep_record *r)
{
	bool first = s->tx == UINT64_MAX;	/* a first sample, nothing to compare */
	int err = dp__clsact_tidy(dp, r, &s->tx);

	if (err == -EAGAIN) {
		unsigned int over;

		if (first || ++s->busy < NF_PROMOTE_TIDY_EAGER) {
			s->due = after(NF_PROMOTE_TIDY_MS);
			return;
		}
		over = s->busy - NF_PROMOTE_TIDY_EAGER;
		if (!over)
			pr_info("endpoint %u (%s, on %s): still sent to after %d s; its empty "
				"clsact qdisc is looked at less often (up to every %d s)",
				r->ep_id, r->ifname, r->attach_ifname, NF_PROMOTE_TIDY_EAGER,
				NF_PROMOTE_TIDY_MAX_MS / 1000);
		s->tx = UINT64_MAX;
		s->due = after(over >= 6 ? NF_PROMOTE_TIDY_MAX_MS : 2000L << over);
		return;
	}
	s->stage = STAGE_DONE;
	if (err == 1) {
		pr_info("endpoint %u (%s, on %s): removed the clsact qdisc its attach made",
			r->ep_id, r->ifname, r->attach_ifname);
	} else if (err < 0) {
		pr_warn("endpoint %u (%s): cannot remove the empty clsact qdisc of %s: %s",
			r->ep_id, r->ifname, r->attach_ifname, strerror(-err));
	}
}

/* s moved to tcx (STAGE_MOVE); true when a move was made or tried. */
static bool move(struct nf_promote *p, struct nf_dp *dp, struct seen *s,
		 const struct nf_ep_record *r)
{
	int err = dp__promote_tcx(dp, r);

	s->stage = STAGE_DONE;
	if (err == 0 || err == 1) {
		/* on tcx: the qdisc next, first sampled now */
		s->stage = STAGE_TIDY;
		s->tx = UINT64_MAX;
		tidy(dp, s, r);
	}
	if (err == 1) {
		n_promoted++;
		pr_info("endpoint %u (%s, on %s): moved from clsact to tcx", r->ep_id, r->ifname,
			r->attach_ifname);
	} else if (err == -EOPNOTSUPP) {
		p->off = true;
		pr_info("this kernel has no tcx: endpoints stay on clsact");
	} else if (err < 0 && err != -ENOENT && err != -ESRCH) {
		pr_warn("endpoint %u (%s): cannot move it to tcx, it stays on clsact: %s",
			r->ep_id, r->ifname, strerror(-err));
	}
	return err == 1 || (err < 0 && err != -ENOENT && err != -ESRCH);
}

/*
 * Under the node lock, with the records read again: the due steps of every
 * endpoint, but at most one move (or try: the next waits NF_PROMOTE_GAP_MS)
 * and NF_PROMOTE_TIDY_BATCH qdiscs. Endpoints already on tcx go straight to
 * their qdisc.
 */
static void promote_locked(struct nf_promote *p, struct nf_dp *dp)
{
	struct timespec now = now_ts();
	struct nf_ep_record *recs = NULL;
	unsigned int tidies = 0;
	bool moved = false;
	size_t i, n = 0;
	long wait = -1;

	if (dp__list_endpoints(dp, &recs, &n))
		return;
	for (i = 0; i < p->n && !p->off; i++) {
		struct seen *s = &p->v[i];
		const struct nf_ep_record *r;

		if (!due(s, &now, &wait) || (s->stage == STAGE_MOVE && moved) ||
		    (s->stage == STAGE_TIDY && tidies >= NF_PROMOTE_TIDY_BATCH))
			continue;
		r = rec_of(s, recs, n);
		if (!r)
			s->stage = STAGE_DONE;	/* detached meanwhile */
		else if (s->stage == STAGE_MOVE)
			moved = move(p, dp, s, r);
		else
			tidy(dp, s, r), tidies++;
	}
	free(recs);
}

void promote__run(struct nf_promote *p)
{
	struct timespec now = now_ts();
	struct nf_dp *dp = NULL;
	long wait = -1;
	int lock;

	if (!p || p->off || ms_between(&now, &p->due) > 0)
		return;
	p->due = after(NF_PROMOTE_IDLE_MS);
	if (!refresh(p) || !any_due(p, &wait)) {
		if (wait >= 0 && wait < NF_PROMOTE_IDLE_MS)
			p->due = after(wait);
		return;
	}
	p->due = after(NF_PROMOTE_GAP_MS);
	if (dp__open(&dp, false))
		return;
	lock = dp__trylock();
	if (lock < 0) {
		dp__close(dp);
		return;		/* busy: a command or CNI call goes first */
	}
	promote_locked(p, dp);
	dp__unlock(lock);
	dp__close(dp);
}
