// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Policy compiler: IR -> policy trie entries + nf_ports entries (abi.h).
 *
 * Rules are numbered 1..n (rule_ref) in evaluation order (SPEC §13): the
 * Admin tier's cluster policies by priority, kind and name, then the
 * NetworkPolicies by name, then the Baseline tier's (left out of a direction
 * that NetworkPolicies select); for each policy, ingress rules then egress
 * rules (for the directions in its policyTypes). Each direction is then
 * compiled on its own:
 *
 * Addresses. Every ipBlock peer is "inside cidr and outside each of its own
 * excepts"; a rule without peers is a peer with cidr ::/0 (IPv4 and IPv6); an
 * IPv6 cidr that contains ::ffff:0:0/96 gets that range as an implicit
 * except (IPv6 CIDRs never cover IPv4 peers). All cidr and except prefixes
 * are sorted so that a prefix precedes the prefixes it contains (masked
 * address, then length) and walked depth first with a stack of the enclosing
 * prefixes. At each prefix the set of rules with at least one active peer is
 * exactly the set for every address whose longest enclosing prefix it is, so
 * emitting it as an LPM entry (unless it equals what the enclosing entry
 * already says) makes the longest prefix match return the right set: excepts
 * and overlaps are right by construction.
 *
 * Identities. For each tenant name in a namespaceSelector peer, the set of
 * rules whose peers select that tenant; plus a default entry (prefixlen 32)
 * for a tenant named nowhere (the rules with a NotIn-style peer).
 *
 * Classes. Equal rule sets share one class (hashing), numbered from 1. A
 * class allows everything when one of its rules has no ports (any_rule: the
 * lowest such rule_ref); otherwise, per L4 protocol, the union of its rules'
 * port ranges is cut into the fewest non-overlapping prefix blocks that each
 * lie inside one rule's range, and that rule decides the block. Deciding by
 * block rather than by port (lowest rule_ref per port) keeps a class whose
 * rules' ranges interleave from needing an entry per boundary: thousands of
 * overlapping rules would otherwise overflow nf_ports.
 *
 * Tiers. A class with an Admin or Baseline rule (tiered) gives, per port,
 * the first Admin decision and the first lower-tier one exactly (abi.h,
 * struct nf_class): its ranges' bounds cut the ports into intervals, each
 * run of equal decisions that differs from the portless rules' gets prefix
 * blocks of its own (cctx__tiered_ports). A NetworkPolicy-only class compiles
 * as above.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "compile.h"
#include "lookup.h"
#include "log.h"

#define ARR_RESERVE(arr, cap, need)						\
	({									\
		int __r = 0;							\
		size_t __need = (need);						\
		if (__need > (cap)) {						\
			size_t __nc = (cap) ? (cap) * 2 : 64;			\
			void *__np;						\
			while (__nc < __need)					\
				__nc *= 2;					\
			__np = realloc((arr), __nc * sizeof(*(arr)));		\
			if (__np) {						\
				(arr) = __np;					\
				(cap) = __nc;					\
			} else {						\
				__r = -ENOMEM;					\
			}							\
		}								\
		__r;								\
	})

static const uint8_t v4mapped_prefix[16] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0
};

/* ---- bits ---- */

static void addr__mask(uint8_t *dst, const uint8_t *src, unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		if (plen >= 8)
			dst[i] = src[i];
		else if (plen == 0)
			dst[i] = 0;
		else
			dst[i] = src[i] & (uint8_t)(0xff << (8 - plen));
		plen = plen >= 8 ? plen - 8 : 0;
	}
}

/* The first plen bits of a and b are equal. */
static bool addr__prefix_eq(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
	unsigned int full = plen / 8, rem = plen % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rem)
		return true;
	return !((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rem)));
}

/* ---- port ranges -> prefixes ---- */

size_t compile__range_to_prefixes(uint16_t lo, uint16_t hi, uint16_t *ports, uint8_t *plens)
{
	uint32_t cur = lo, end = hi, size;
	uint8_t plen;
	size_t n = 0;

	while (cur <= end) {
		size = cur ? (cur & -cur) : 0x10000;
		plen = 16;
		while (size > 1 && cur + size - 1 > end)
			size >>= 1;
		for (uint32_t s = size; s > 1; s >>= 1)
			plen--;
		ports[n] = (uint16_t)cur;
		plens[n] = plen;
		n++;
		cur += size;
	}
	return n;
}

/* ---- compile context ---- */

struct rset {
	size_t off;		/* into cx->pool */
	uint32_t n;
	uint32_t hash;
};

struct cctx {
	uint32_t tenant_id, epoch;
	const struct nf_compile_env *env;
	/* rules whose namespaceSelectors use labels, with their tenant sets resolved */
	struct nf_rule *resolved;
	size_t n_resolved;
	/* egress named ports resolved for a destination identity: derived rules
	 * (rule refs after the policies' own, same policy and index) */
	struct nf_compiled *out;
	struct nf_rule **derived;
	uint32_t *derived_of;		/* the rule ref each derives from */
	size_t n_derived;
	const struct nf_rule **rule;	/* rule[ref - 1] */
	uint8_t *rule_dir;		/* rule_dir[ref - 1] */
	size_t n_rule;
	/* of the policies' own rules (not derived ones): the decision word
	 * (abi.h: rule_ref and action) and the tier, by ref - 1 */
	uint32_t *rule_word;
	uint8_t *rule_tier;

	/* interned rule sets; class index = position + 1 */
	uint32_t *pool;
	size_t n_pool, cap_pool;
	struct rset *sets;
	size_t n_sets, cap_sets;
	uint32_t *ht;			/* set position + 1, 0 = empty slot */
	size_t ht_size;

	/* trie entries being built, with their class index */
	struct nf_trie_entry *trie;
	size_t n_trie, cap_trie;
	uint32_t *trie_cls;
	size_t cap_trie_cls;

	struct nf_port_entry *ports;
	size_t n_ports, cap_ports;

	/* scratch */
	uint32_t *tmp, *tmp2, *tmp3;
	size_t cap_tmp, cap_tmp2, cap_tmp3;
};

static void cctx__fini(struct cctx *cx)
{
	size_t i, j;

	for (i = 0; i < cx->n_resolved; i++) {
		for (j = 0; j < cx->resolved[i].n_peers; j++)
			if (cx->resolved[i].peers[j].ns_labels)
				free(cx->resolved[i].peers[j].names);
		free(cx->resolved[i].peers);
	}
	free(cx->resolved);
	for (i = 0; i < cx->n_derived; i++) {
		free(cx->derived[i]->ports);
		free(cx->derived[i]);
	}
	free(cx->derived);
	free(cx->derived_of);
	free(cx->rule_word);
	free(cx->rule_tier);
	free(cx->rule);
	free(cx->rule_dir);
	free(cx->pool);
	free(cx->sets);
	free(cx->ht);
	free(cx->trie);
	free(cx->trie_cls);
	free(cx->ports);
	free(cx->tmp);
	free(cx->tmp2);
	free(cx->tmp3);
}

static uint32_t refs__hash(const uint32_t *refs, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;
	uint32_t i;

	for (i = 0; i < n; i++) {
		h ^= refs[i];
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32);
}

static int cctx__ht_grow(struct cctx *cx)
{
	size_t size = cx->ht_size ? cx->ht_size * 2 : 1024, i, j;
	uint32_t *ht = calloc(size, sizeof(*ht));

	if (!ht)
		return -ENOMEM;
	for (i = 0; i < cx->n_sets; i++) {
		for (j = cx->sets[i].hash & (size - 1); ht[j]; j = (j + 1) & (size - 1))
			;
		ht[j] = (uint32_t)(i + 1);
	}
	free(cx->ht);
	cx->ht = ht;
	cx->ht_size = size;
	return 0;
}

/*
 * Class index of a sorted, duplicate-free rule set (0 for the empty set),
 * adding it if new. refs must not point into cx->pool.
 */
static int cctx__intern(struct cctx *cx, const uint32_t *refs, uint32_t n, uint32_t *cls)
{
	uint32_t h, s;
	size_t i;
	int err;

	*cls = 0;
	if (!n)
		return 0;
	if ((cx->n_sets + 1) * 2 > cx->ht_size) {
		err = cctx__ht_grow(cx);
		if (err)
			return err;
	}
	h = refs__hash(refs, n);
	for (i = h & (cx->ht_size - 1); (s = cx->ht[i]); i = (i + 1) & (cx->ht_size - 1)) {
		const struct rset *rs = &cx->sets[s - 1];

		if (rs->hash == h && rs->n == n &&
		    !memcmp(cx->pool + rs->off, refs, n * sizeof(*refs))) {
			*cls = s;
			return 0;
		}
	}
	if (cx->n_sets >= NF_CLASS_MAX_INDEX) {
		pr_err("policy needs more than %u peer classes", NF_CLASS_MAX_INDEX);
		return -ENOSPC;
	}
	if (ARR_RESERVE(cx->pool, cx->cap_pool, cx->n_pool + n) ||
	    ARR_RESERVE(cx->sets, cx->cap_sets, cx->n_sets + 1))
		return -ENOMEM;
	if (n)
		memcpy(cx->pool + cx->n_pool, refs, n * sizeof(*refs));
	cx->sets[cx->n_sets] = (struct rset){ .off = cx->n_pool, .n = n, .hash = h };
	cx->n_pool += n;
	cx->n_sets++;
	cx->ht[i] = (uint32_t)cx->n_sets;
	*cls = (uint32_t)cx->n_sets;
	return 0;
}

static int cctx__emit(struct cctx *cx, uint8_t dir, uint8_t kind, uint32_t prefixlen,
		      const uint8_t *data, uint32_t cls)
{
	struct nf_trie_entry *e;

	if (cx->n_trie >= NF_MAX_TRIE_ENTRIES) {
		pr_err("policy needs more than %u trie entries", NF_MAX_TRIE_ENTRIES);
		return -ENOSPC;
	}
	if (ARR_RESERVE(cx->trie, cx->cap_trie, cx->n_trie + 1) ||
	    ARR_RESERVE(cx->trie_cls, cx->cap_trie_cls, cx->n_trie + 1))
		return -ENOMEM;
	e = &cx->trie[cx->n_trie];
	memset(e, 0, sizeof(*e));
	e->key.prefixlen = prefixlen;
	e->key.dir = dir;
	e->key.kind = kind;
	if (data)
		memcpy(e->key.data, data, sizeof(e->key.data));
	cx->trie_cls[cx->n_trie] = cls;
	cx->n_trie++;
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort and deduplicate in place; returns the new length. */
static uint32_t refs__sort_unique(uint32_t *refs, uint32_t n)
{
	uint32_t i, m;
	bool sorted = true;

	for (i = 1; i < n && sorted; i++)
		sorted = refs[i - 1] <= refs[i];
	if (!sorted)
		qsort(refs, n, sizeof(*refs), u32_cmp);
	for (i = 0, m = 0; i < n; i++)
		if (!m || refs[m - 1] != refs[i])
			refs[m++] = refs[i];
	return m;
}

/* ---- addresses ---- */

struct apeer {
	uint32_t rule;
	uint32_t in_except;	/* enclosing except prefixes of this peer on the DFS path */
};

struct aev {
	uint8_t addr[16];	/* masked to plen */
	uint8_t plen;
	uint8_t except;		/* 0: the peer's cidr; 1: one of its excepts */
	uint8_t pad[2];
	uint32_t peer;
};

struct anode {
	size_t ev_start, ev_end;
	uint32_t cls;
};

static int aev_cmp(const void *a, const void *b)
{
	const struct aev *x = a, *y = b;
	int r = memcmp(x->addr, y->addr, 16);

	if (r)
		return r;
	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	if (x->except != y->except)
		return x->except < y->except ? -1 : 1;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

struct abuild {
	struct apeer *peers;
	size_t n_peers, cap_peers;
	struct aev *evs;
	size_t n_evs, cap_evs;
};

static int abuild__event(struct abuild *ab, const uint8_t *addr, unsigned int plen, bool except,
			 uint32_t peer)
{
	struct aev *ev;

	if (ARR_RESERVE(ab->evs, ab->cap_evs, ab->n_evs + 1))
		return -ENOMEM;
	ev = &ab->evs[ab->n_evs++];
	memset(ev, 0, sizeof(*ev));
	if (plen > 128)
		plen = 128;
	addr__mask(ev->addr, addr, plen);
	ev->plen = (uint8_t)plen;
	ev->except = except;
	ev->peer = peer;
	return 0;
}

static int abuild__peer(struct abuild *ab, uint32_t ref, const uint8_t *addr, unsigned int plen,
			bool is_v4, const struct nf_cidr *except, size_t n_except)
{
	uint32_t id = (uint32_t)ab->n_peers;
	size_t i;
	int err;

	if (!is_v4 && plen >= 96 && addr__prefix_eq(addr, v4mapped_prefix, 96))
		return 0;	/* an IPv6 cidr inside ::ffff:0:0/96 covers no address */
	if (ARR_RESERVE(ab->peers, ab->cap_peers, ab->n_peers + 1))
		return -ENOMEM;
	ab->peers[ab->n_peers++] = (struct apeer){ .rule = ref };
	err = abuild__event(ab, addr, plen, false, id);
	if (err)
		return err;
	if (!is_v4 && plen <= 96 && addr__prefix_eq(addr, v4mapped_prefix, plen)) {
		err = abuild__event(ab, v4mapped_prefix, 96, true, id);
		if (err)
			return err;
	}
	for (i = 0; i < n_except; i++) {
		err = abuild__event(ab, except[i].addr, except[i].plen, true, id);
		if (err)
			return err;
	}
	return 0;
}

/* The ipBlock peers of direction dir's rules (a rule without peers: ::/0). */
static int abuild__collect(struct abuild *ab, const struct cctx *cx, uint8_t dir)
{
	static const uint8_t zero[16];
	uint32_t ref;
	size_t i;
	int err;

	for (ref = 1; ref <= cx->n_rule; ref++) {
		const struct nf_rule *r = cx->rule[ref - 1];

		if (cx->rule_dir[ref - 1] != dir)
			continue;
		if (!r->n_peers) {
			err = abuild__peer(ab, ref, zero, 0, true, NULL, 0);
			if (err)
				return err;
			continue;
		}
		for (i = 0; i < r->n_peers; i++) {
			const struct nf_peer *p = &r->peers[i];

			if (p->kind != NF_PK_IPBLOCK)
				continue;
			err = abuild__peer(ab, ref, p->cidr.addr, p->cidr.plen, p->cidr.is_v4,
					   p->except, p->n_except);
			if (err)
				return err;
		}
	}
	return 0;
}

/*
 * The DFS path moved to the prefix of evs[i, j): the prefixes that do not
 * contain it left, it entered; each peer's in_except follows. Returns
 * whether the prefix is one of its peers' excepts.
 */
static bool abuild__enter(struct abuild *ab, struct anode *stack, size_t *depth, size_t i,
			  size_t j)
{
	const struct aev *node = &ab->evs[i];
	bool has_except = false;
	size_t k;

	/* Leave the prefixes that do not contain this one. */
	while (*depth) {
		const struct aev *top = &ab->evs[stack[*depth - 1].ev_start];

		if (top->plen <= node->plen && addr__prefix_eq(top->addr, node->addr, top->plen))
			break;
		(*depth)--;
		for (k = stack[*depth].ev_start; k < stack[*depth].ev_end; k++)
			if (ab->evs[k].except)
				ab->peers[ab->evs[k].peer].in_except--;
	}
	for (k = i; k < j; k++) {
		if (ab->evs[k].except) {
			ab->peers[ab->evs[k].peer].in_except++;
			has_except = true;
		}
	}
	stack[(*depth)++] = (struct anode){ .ev_start = i, .ev_end = j };
	return has_except;
}

/*
 * Rules with an active peer: peers whose cidr encloses us, not
 * excepted. Without an except here that is the enclosing
 * prefix's set plus the peers starting here; else walk the path.
 * Into cx->tmp, sorted and unique; their number in *n_out.
 */
static int abuild__node_rules(struct cctx *cx, const struct abuild *ab, const struct anode *stack,
			      size_t depth, bool has_except, uint32_t parent, size_t *n_out)
{
	size_t n_tmp = 0, d = has_except ? 0 : depth - 1, k;

	if (!has_except && parent) {
		const struct rset *ps = &cx->sets[parent - 1];

		if (ARR_RESERVE(cx->tmp, cx->cap_tmp, ps->n))
			return -ENOMEM;
		if (ps->n)
			memcpy(cx->tmp, cx->pool + ps->off, ps->n * sizeof(*cx->tmp));
		n_tmp = ps->n;
	}
	for (; d < depth; d++) {
		for (k = stack[d].ev_start; k < stack[d].ev_end; k++) {
			const struct aev *ev = &ab->evs[k];

			if (ev->except || ab->peers[ev->peer].in_except)
				continue;
			if (ARR_RESERVE(cx->tmp, cx->cap_tmp, n_tmp + 1))
				return -ENOMEM;
			cx->tmp[n_tmp++] = ab->peers[ev->peer].rule;
		}
	}
	*n_out = refs__sort_unique(cx->tmp, (uint32_t)n_tmp);
	return 0;
}

static int compile__addr_dir(struct cctx *cx, uint8_t dir)
{
	struct anode stack[130];
	struct abuild ab = {};
	size_t i, j, depth = 0, n_tmp;
	uint32_t cls, parent;
	bool has_except;
	int err;

	err = abuild__collect(&ab, cx, dir);
	if (err || !ab.n_evs)
		goto out;
	qsort(ab.evs, ab.n_evs, sizeof(*ab.evs), aev_cmp);

	for (i = 0; i < ab.n_evs; i = j) {
		const struct aev *node = &ab.evs[i];

		for (j = i + 1; j < ab.n_evs && ab.evs[j].plen == node->plen &&
		     !memcmp(ab.evs[j].addr, node->addr, 16); j++)
			;
		has_except = abuild__enter(&ab, stack, &depth, i, j);
		parent = depth > 1 ? stack[depth - 2].cls : 0;
		err = abuild__node_rules(cx, &ab, stack, depth, has_except, parent, &n_tmp);
		if (!err)
			err = cctx__intern(cx, cx->tmp, (uint32_t)n_tmp, &cls);
		if (err)
			goto out;
		stack[depth - 1].cls = cls;
		if (cls != parent) {
			err = cctx__emit(cx, dir, NF_PEER_ADDR, NF_PEER_KEY_FIXED_BITS + node->plen,
					 node->addr, cls);
			if (err)
				goto out;
		}
	}
out:
	free(ab.peers);
	free(ab.evs);
	return err;
}

/* ---- identities ---- */

struct iocc {
	const char *name;
	uint32_t rule;
	uint32_t peer;		/* unique per (rule, peer) */
	bool negate;
};

static int iocc_cmp(const void *a, const void *b)
{
	const struct iocc *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	if (x->peer != y->peer)
		return x->peer < y->peer ? -1 : 1;
	return (int)x->negate - (int)y->negate;
}

/* One direction's tenant-name peers, by name. */
struct ibuild {
	struct iocc *occ;	/* each name of each namespaceSelector peer */
	size_t n_occ, cap_occ;
	uint32_t *nneg;		/* nneg[ref]: rule ref's negated peers */
	uint32_t *def;		/* the rules with a negated peer, sorted */
	size_t n_def;
};

static void ibuild__fini(struct ibuild *ib)
{
	free(ib->occ);
	free(ib->nneg);
	free(ib->def);
}

/* The tenant-name peers of direction dir's rules. */
static int ibuild__collect(struct ibuild *ib, const struct cctx *cx, uint8_t dir)
{
	uint32_t ref, peer_seq = 0;
	size_t i, j;

	ib->nneg = calloc(cx->n_rule + 1, sizeof(*ib->nneg));
	ib->def = calloc(cx->n_rule + 1, sizeof(*ib->def));
	if (!ib->nneg || !ib->def)
		return -ENOMEM;
	for (ref = 1; ref <= cx->n_rule; ref++) {
		const struct nf_rule *r = cx->rule[ref - 1];

		if (cx->rule_dir[ref - 1] != dir)
			continue;
		for (i = 0; i < r->n_peers; i++) {
			const struct nf_peer *p = &r->peers[i];

			if (p->kind != NF_PK_TENANTS)
				continue;
			peer_seq++;
			if (p->negate)
				ib->nneg[ref]++;
			for (j = 0; j < p->n_names; j++) {
				if (!p->names[j])
					continue;
				if (ARR_RESERVE(ib->occ, ib->cap_occ, ib->n_occ + 1))
					return -ENOMEM;
				ib->occ[ib->n_occ++] = (struct iocc){ .name = p->names[j],
								      .rule = ref,
								      .peer = peer_seq,
								      .negate = p->negate };
			}
		}
		if (ib->nneg[ref])
			ib->def[ib->n_def++] = ref;
	}
	return 0;
}

/*
 * The rules that let tenant occ[i].name in (occ[i, j): its occurrences,
 * sorted by rule) into cx->tmp, sorted; their number in *n_set.
 */
static int ibuild__name_rules(struct cctx *cx, const struct ibuild *ib, size_t i, size_t j,
			      size_t *n_set)
{
	const struct iocc *occ = ib->occ;
	const uint32_t *def = ib->def;
	size_t n_def = ib->n_def, n_pos = 0, n_excl = 0, a, b, k;

	if (ARR_RESERVE(cx->tmp, cx->cap_tmp, (j - i) + n_def) ||
	    ARR_RESERVE(cx->tmp2, cx->cap_tmp2, j - i) ||
	    ARR_RESERVE(cx->tmp3, cx->cap_tmp3, j - i))
		return -ENOMEM;
	/* tmp2: rules selecting the name; tmp3: rules whose every negated peer names it */
	for (k = i; k < j; ) {
		uint32_t r = occ[k].rule, n_negp = 0, last_peer = 0;
		bool pos = false;

		for (; k < j && occ[k].rule == r; k++) {
			if (!occ[k].negate)
				pos = true;
			else if (occ[k].peer != last_peer)
				n_negp++, last_peer = occ[k].peer;
		}
		if (pos)
			cx->tmp2[n_pos++] = r;
		if (n_negp && n_negp == ib->nneg[r])
			cx->tmp3[n_excl++] = r;
	}
	/* (def - excluded) | positive; all three are sorted */
	*n_set = 0;
	for (a = 0, b = 0, k = 0; a < n_def || k < n_pos; ) {
		uint32_t r;

		if (a < n_def) {
			while (b < n_excl && cx->tmp3[b] < def[a])
				b++;
			if (b < n_excl && cx->tmp3[b] == def[a]) {
				a++;
				continue;
			}
		}
		if (k >= n_pos || (a < n_def && def[a] < cx->tmp2[k])) {
			r = def[a++];
		} else if (a < n_def && def[a] == cx->tmp2[k]) {
			r = def[a++];
			k++;
		} else {
			r = cx->tmp2[k++];
		}
		cx->tmp[(*n_set)++] = r;
	}
	return 0;
}

/* The identity entry of tenant name: class cls, keyed by the tenant's id. */
static int ident__emit(struct cctx *cx, uint8_t dir, const char *name, uint32_t cls,
		       nf_tenant_id_fn id_fn, void *id_ctx)
{
	uint8_t data[16] = {};
	uint32_t id;
	__be32 be;

	id = id_fn(name, id_ctx);
	if (!id)
		return 0;	/* no id: no address can carry it (see nf_tenant_id_fn) */
	if (id == NF_ID_HOST)
		return 0;	/* the node is never a tenant peer */
	be = htonl(id);
	memcpy(data, &be, sizeof(be));
	return cctx__emit(cx, dir, NF_PEER_IDENT, NF_PEER_KEY_FIXED_BITS + 32, data, cls);
}

/* A tenant name's identity class in one direction (names sorted). */
struct ncls {
	const char *name;
	uint32_t cls;
};

static int ncls_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ncls *)a)->name, ((const struct ncls *)b)->name);
}

static int compile__pods_dir(struct cctx *cx, uint8_t dir, uint32_t cls_def,
			     const struct ncls *nc, size_t n_nc);

static int compile__ident_dir(struct cctx *cx, uint8_t dir, nf_tenant_id_fn id_fn, void *id_ctx)
{
	static const uint8_t zero[16];
	struct ibuild ib = {};
	struct ncls *nc = NULL;
	uint32_t cls_def = 0, cls;
	size_t i, j, n_set, n_nc = 0;
	int err;

	err = ibuild__collect(&ib, cx, dir);
	if (err)
		goto out;
	/* A tenant named nowhere: the rules with a negated selector. */
	err = cctx__intern(cx, ib.def, (uint32_t)ib.n_def, &cls_def);
	if (err)
		goto out;
	if (cls_def) {
		err = cctx__emit(cx, dir, NF_PEER_IDENT, NF_PEER_KEY_FIXED_BITS, zero, cls_def);
		if (err)
			goto out;
	}
	if (ib.n_occ) {
		qsort(ib.occ, ib.n_occ, sizeof(*ib.occ), iocc_cmp);
		nc = calloc(ib.n_occ, sizeof(*nc));
		if (!nc) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < ib.n_occ; i = j) {
		for (j = i + 1; j < ib.n_occ && !strcmp(ib.occ[j].name, ib.occ[i].name); j++)
			;
		err = ibuild__name_rules(cx, &ib, i, j, &n_set);
		if (!err)
			err = cctx__intern(cx, cx->tmp, (uint32_t)n_set, &cls);
		if (err)
			goto out;
		nc[n_nc++] = (struct ncls){ ib.occ[i].name, cls };
		if (cls == cls_def)
			continue;	/* the default entry already says it */
		err = ident__emit(cx, dir, ib.occ[i].name, cls, id_fn, id_ctx);
		if (err)
			goto out;
	}
	err = compile__pods_dir(cx, dir, cls_def, nc, n_nc);
out:
	free(nc);
	ibuild__fini(&ib);
	return err;
}

/* ---- label identities (SPEC §11) ---- */

static const struct nf_labels no_labels;

static const struct nf_labels *env_ns_labels(const struct nf_compile_env *env, const char *tenant)
{
	return env && env->ns_labels ? env->ns_labels(tenant, env->ns_ctx) : NULL;
}

bool compile__ns_matches(const struct nf_selector *sel, const char *tenant,
			 const struct nf_labels *ns_labels)
{
	struct nf_label one = { (char *)"kubernetes.io/metadata.name", (char *)tenant };
	struct nf_labels only_name = { &one, 1 };

	if (!sel)
		return true;
	return nf_selector_matches(sel, ns_labels ? ns_labels : &only_name);
}

bool compile__subject_matches(const struct nf_policy *p, const struct nf_labels *labels)
{
	if (!p->subject || !p->subject->n_reqs)
		return true;
	return nf_selector_matches(p->subject, labels ? labels : &no_labels);
}

static bool tset_has(const struct nf_peer *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n_names; i++)
		if (p->names[i] && !strcmp(p->names[i], name))
			return !p->negate;
	return p->negate;
}

/* One pod-selector peer of a rule covering one identity of the universe. */
struct pocc {
	uint32_t u;		/* index into the universe */
	uint32_t rule;
};

static int pocc_cmp(const void *a, const void *b)
{
	const struct pocc *x = a, *y = b;

	if (x->u != y->u)
		return x->u < y->u ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Whether rule r's peers cover identity u (ipBlock peers never do here). */
static bool rule_covers_ident(const struct nf_rule *r, const struct nf_identity *u)
{
	size_t i;

	if (!r->n_peers)
		return true;
	for (i = 0; i < r->n_peers; i++) {
		const struct nf_peer *p = &r->peers[i];

		if (p->kind == NF_PK_TENANTS && tset_has(p, u->tenant))
			return true;
		if (p->kind == NF_PK_PODS && tset_has(p, u->tenant) &&
		    nf_selector_matches(p->pod_sel, u->labels ? u->labels : &no_labels))
			return true;
	}
	return false;
}

static bool rule_has_named(const struct nf_rule *r)
{
	size_t i;

	for (i = 0; i < r->n_ports; i++)
		if (r->ports[i].name[0])
			return true;
	return false;
}

/*
 * An egress rule's named ports resolved against identity u's ports (SPEC
 * §11: per destination pod): the derived rule holding them (found or
 * added), *ref its rule ref; 0 with *ref = 0 when none of them resolves.
 */
static int cctx__derive(struct cctx *cx, uint32_t ref, const struct nf_identity *u, uint32_t *ref_out)
{
	const struct nf_rule *r = cx->rule[ref - 1];
	struct nf_port_range *ports;
	struct nf_rule *d;
	size_t i, j, n = 0;
	void *np;

	*ref_out = 0;
	/* a named port of any protocol (proto 0, SPEC §13) resolves to up to one per L4 */
	ports = calloc(r->n_ports * NF_L4_MAX, sizeof(*ports));
	if (!ports)
		return -ENOMEM;
	for (i = 0; i < r->n_ports; i++) {
		uint8_t seen = 0;

		if (!r->ports[i].name[0])
			continue;
		for (j = 0; j < u->n_ports; j++) {
			uint8_t bit = u->ports[j].proto == IPPROTO_TCP ? 1 :
				      u->ports[j].proto == IPPROTO_UDP ? 2 : 4;

			if ((r->ports[i].proto && u->ports[j].proto != r->ports[i].proto) ||
			    (seen & bit) || strcmp(u->ports[j].name, r->ports[i].name))
				continue;
			seen |= bit;
			ports[n++] = (struct nf_port_range){ .proto = u->ports[j].proto,
							     .lo = u->ports[j].port,
							     .hi = u->ports[j].port };
		}
	}
	if (!n) {
		free(ports);
		return 0;
	}
	for (i = 0; i < cx->n_derived; i++) {
		d = cx->derived[i];
		if (cx->derived_of[i] == ref && d->n_ports == n &&
		    !memcmp(d->ports, ports, n * sizeof(*ports))) {
			free(ports);
			*ref_out = (uint32_t)(cx->n_rule - cx->n_derived + i + 1);
			return 0;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		free(ports);
		return -ENOMEM;
	}
	d->ports = ports;
	d->n_ports = n;
	np = realloc(cx->derived, (cx->n_derived + 1) * sizeof(*cx->derived));
	if (np)
		cx->derived = np;
	np = np ? realloc(cx->derived_of, (cx->n_derived + 1) * sizeof(*cx->derived_of)) : NULL;
	if (np)
		cx->derived_of = np;
	if (!np) {
		free(ports);
		free(d);
		return -ENOMEM;
	}
	cx->derived[cx->n_derived] = d;
	cx->derived_of[cx->n_derived++] = ref;
	/* the rule tables grow by one: same policy and index as ref */
	np = realloc(cx->rule, (cx->n_rule + 1) * sizeof(*cx->rule));
	if (np)
		cx->rule = np;
	np = np ? realloc(cx->rule_dir, (cx->n_rule + 1) * sizeof(*cx->rule_dir)) : NULL;
	if (np)
		cx->rule_dir = np;
	np = np ? realloc(cx->out->rules, (cx->n_rule + 1) * sizeof(*cx->out->rules)) : NULL;
	if (np)
		cx->out->rules = np;
	if (!np)
		return -ENOMEM;	/* d is freed with cx */
	cx->rule[cx->n_rule] = d;
	cx->rule_dir[cx->n_rule] = cx->rule_dir[ref - 1];
	cx->out->rules[cx->n_rule] = cx->out->rules[ref - 1];
	cx->n_rule++;
	cx->out->n_rules = cx->n_rule;
	*ref_out = (uint32_t)cx->n_rule;
	return 0;
}

/*
 * The identities pod selectors cover: every label identity, and every
 * tenant's addresses without labels (index 0: its endpoints without a Pod
 * document, its Tenant CIDRs), which a selector matching the empty label
 * set covers. An identity a pod-selector peer covers gets an entry of its
 * own (prefix 32 + 64): its tenant's rules (what its tenant entry, or the
 * default one, says) plus the rules whose pod selectors cover it.
 */
static int compile__pods_dir(struct cctx *cx, uint8_t dir, uint32_t cls_def,
			     const struct ncls *nc, size_t n_nc)
{
	const struct nf_compile_env *env = cx->env;
	struct nf_identity *u = NULL;
	struct pocc *occ = NULL;
	size_t n_u = 0, n_occ = 0, cap_occ = 0, i, j, k, pi;
	bool any = false;
	uint32_t ref;
	int err = 0;

	uint32_t n_own = (uint32_t)(cx->n_rule - cx->n_derived);

	for (ref = 1; ref <= n_own && !any; ref++) {
		if (cx->rule_dir[ref - 1] != dir)
			continue;
		any |= dir == NF_DIR_EGRESS && rule_has_named(cx->rule[ref - 1]);
		for (pi = 0; pi < cx->rule[ref - 1]->n_peers; pi++)
			any |= cx->rule[ref - 1]->peers[pi].kind == NF_PK_PODS;
	}
	if (!any || !env)
		return 0;
	u = calloc(env->n_idents + env->n_tenants + 1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	for (i = 0; i < env->n_idents; i++)
		u[n_u++] = env->idents[i];
	for (i = 0; i < env->n_tenants; i++) {
		uint32_t tid = env->id_fn ? env->id_fn(env->tenants[i], env->id_ctx) : 0;

		if (tid && tid < NF_MAX_TENANTS)
			u[n_u++] = (struct nf_identity){ .id = NF_IDENT(tid, 0),
							 .tenant = env->tenants[i],
							 .labels = &no_labels };
	}
	for (ref = 1; ref <= n_own; ref++) {
		const struct nf_rule *r = cx->rule[ref - 1];

		if (cx->rule_dir[ref - 1] != dir)
			continue;
		/* egress named ports: resolved per destination identity */
		for (k = 0; dir == NF_DIR_EGRESS && rule_has_named(r) && k < n_u; k++) {
			uint32_t dref;

			if (!u[k].n_ports || !rule_covers_ident(r, &u[k]))
				continue;
			err = cctx__derive(cx, ref, &u[k], &dref);
			if (!err && dref && ARR_RESERVE(occ, cap_occ, n_occ + 1))
				err = -ENOMEM;
			if (err)
				goto out;
			if (dref)
				occ[n_occ++] = (struct pocc){ (uint32_t)k, dref };
			r = cx->rule[ref - 1];	/* cx->rule may have moved */
		}
		for (pi = 0; pi < r->n_peers; pi++) {
			const struct nf_peer *p = &r->peers[pi];

			if (p->kind != NF_PK_PODS)
				continue;
			for (k = 0; k < n_u; k++) {
				if (!tset_has(p, u[k].tenant) ||
				    !nf_selector_matches(p->pod_sel,
							 u[k].labels ? u[k].labels : &no_labels))
					continue;
				if (ARR_RESERVE(occ, cap_occ, n_occ + 1)) {
					err = -ENOMEM;
					goto out;
				}
				occ[n_occ++] = (struct pocc){ (uint32_t)k, ref };
			}
		}
	}
	if (n_occ > 1)
		qsort(occ, n_occ, sizeof(*occ), pocc_cmp);
	for (i = 0; i < n_occ; i = j) {
		struct ncls key = { .name = u[occ[i].u].tenant };
		const struct ncls *hit = n_nc ? bsearch(&key, nc, n_nc, sizeof(*nc), ncls_cmp) : NULL;
		uint32_t base = hit ? hit->cls : cls_def, cls, id = u[occ[i].u].id;
		size_t n_base = base ? cx->sets[base - 1].n : 0, n_tmp;
		uint8_t data[16] = {};
		__be32 be;

		for (j = i + 1; j < n_occ && occ[j].u == occ[i].u; j++)
			;
		if (ARR_RESERVE(cx->tmp, cx->cap_tmp, n_base + (j - i))) {
			err = -ENOMEM;
			goto out;
		}
		if (n_base)
			memcpy(cx->tmp, cx->pool + cx->sets[base - 1].off, n_base * sizeof(*cx->tmp));
		n_tmp = n_base;
		for (k = i; k < j; k++)
			cx->tmp[n_tmp++] = occ[k].rule;
		n_tmp = refs__sort_unique(cx->tmp, (uint32_t)n_tmp);
		err = cctx__intern(cx, cx->tmp, (uint32_t)n_tmp, &cls);
		if (err)
			goto out;
		if (cls == base)
			continue;
		be = htonl(NF_IDENT_TENANT(id));
		memcpy(data, &be, sizeof(be));
		be = htonl(NF_IDENT_INDEX(id));
		memcpy(data + 4, &be, sizeof(be));
		err = cctx__emit(cx, dir, NF_PEER_IDENT, NF_PEER_KEY_FIXED_BITS + 64, data, cls);
		if (err)
			goto out;
	}
out:
	free(occ);
	free(u);
	return err;
}

/*
 * A rule whose namespaceSelectors use labels other than the name label: a
 * copy with their tenant sets resolved against the tenants' labels now
 * (*out: the rule itself when nothing needs resolving). cx->resolved has
 * room for every rule.
 */
/* SPEC §13: the addresses a `nodes` peer selects (see struct nf_compile_env). */
static size_t nodes_addrs(const struct nf_compile_env *env, const struct nf_peer *p,
			  struct nf_peer *out)
{
	size_t i, k, n = 0;

	static const struct nf_labels no_labels;

	if (!env)
		return 0;
	/* no Node documents: the local node, whose labels netfence does not know */
	if (!env->n_nodes) {
		if (!nf_selector_matches(p->node_sel, &no_labels))
			return 0;
		for (k = 0; k < env->n_host_addrs; k++, n++)
			if (out)
				out[n] = (struct nf_peer){ .kind = NF_PK_IPBLOCK,
							   .cidr = env->host_addrs[k] };
		return n;
	}
	for (i = 0; i < env->n_nodes; i++) {
		const struct nf_node_obj *nd = env->nodes[i];

		if (!nf_selector_matches(p->node_sel, &nd->labels))
			continue;
		for (k = 0; k < nd->n_addrs; k++, n++)
			if (out)
				out[n] = (struct nf_peer){ .kind = NF_PK_IPBLOCK,
							   .cidr = nd->addrs[k] };
	}
	return n;
}

/*
 * A rule whose peers need the environment: namespaceSelectors on labels
 * (resolved to the tenants they select) and `nodes` peers (become one
 * ipBlock per node address). *out: r itself when it needs nothing.
 */
static int cctx__resolve(struct cctx *cx, const struct nf_rule *r, const struct nf_rule **out)
{
	const struct nf_compile_env *env = cx->env;
	struct nf_rule *c;
	size_t i, t, n = 0;
	bool need = false;

	*out = r;
	for (i = 0; i < r->n_peers; i++) {
		need |= (r->peers[i].ns_labels && r->peers[i].ns_sel) ||
			r->peers[i].kind == NF_PK_NODES;
		n += r->peers[i].kind == NF_PK_NODES ? nodes_addrs(env, &r->peers[i], NULL) : 1;
	}
	if (!need)
		return 0;
	c = &cx->resolved[cx->n_resolved];
	*c = *r;
	c->n_peers = 0;
	c->peers = calloc(n ? n : 1, sizeof(*c->peers));
	if (!c->peers)
		return -ENOMEM;
	cx->n_resolved++;
	for (i = 0; i < r->n_peers; i++) {
		struct nf_peer *p = &c->peers[c->n_peers];

		if (r->peers[i].kind == NF_PK_NODES) {
			/* nothing selected: the rule keeps a peer that matches nothing */
			c->n_peers += nodes_addrs(env, &r->peers[i], p);
			continue;
		}
		*p = r->peers[i];
		c->n_peers++;
		if (!p->ns_labels || !p->ns_sel) {
			p->ns_labels = false;	/* not ours to free */
			continue;
		}
		p->negate = false;
		p->n_names = 0;
		p->names = calloc(env && env->n_tenants ? env->n_tenants : 1, sizeof(*p->names));
		if (!p->names)
			return -ENOMEM;
		for (t = 0; env && t < env->n_tenants; t++)
			if (compile__ns_matches(p->ns_sel, env->tenants[t],
						env_ns_labels(env, env->tenants[t])))
				p->names[p->n_names++] = (char *)env->tenants[t];
	}
	if (!c->n_peers) {
		/* every peer was a nodes peer that selects no address: no peer,
		 * which is not "any peer" (n_peers 0) */
		c->peers[0] = (struct nf_peer){ .kind = NF_PK_NONE };
		c->n_peers = 1;
	}
	*out = c;
	return 0;
}

/* ---- classes and ports ---- */

struct prange {
	uint32_t lo, hi;
	uint32_t ref;
};

static int prange_lo_cmp(const void *a, const void *b)
{
	const struct prange *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->ref < y->ref ? -1 : x->ref > y->ref;
}

static int cctx__port_entry(struct cctx *cx, uint32_t class_id, uint8_t proto, uint32_t port,
			    uint8_t plen, uint32_t low, uint32_t adm, uint32_t *mask)
{
	struct nf_port_entry *e;

	if (cx->n_ports >= NF_MAX_PORT_ENTRIES / 2) {
		pr_err("policy needs more than %u port entries", NF_MAX_PORT_ENTRIES / 2);
		return -ENOSPC;
	}
	if (ARR_RESERVE(cx->ports, cx->cap_ports, cx->n_ports + 1))
		return -ENOMEM;
	e = &cx->ports[cx->n_ports++];
	memset(e, 0, sizeof(*e));
	e->key.class_id = class_id;
	e->key.proto = proto;
	e->key.plen = plen;
	e->key.port = htons((uint16_t)port);
	e->val.rule_ref = low;
	e->val.adm = adm;
	*mask |= 1u << plen;
	return 0;
}

/* The decision word of rule ref: a derived rule decides as the rule it
 * derives from (same policy, index, rank and action). */
static uint32_t cctx__own_ref(const struct cctx *cx, uint32_t ref)
{
	uint32_t n_own = (uint32_t)(cx->n_rule - cx->n_derived);

	return ref > n_own ? cx->derived_of[ref - n_own - 1] : ref;
}

static uint32_t cctx__word(const struct cctx *cx, uint32_t ref)
{
	return cx->rule_word[cctx__own_ref(cx, ref) - 1];
}

static bool cctx__is_admin(const struct cctx *cx, uint32_t ref)
{
	return cx->rule_tier[cctx__own_ref(cx, ref) - 1] == NF_TIER_ADMIN;
}

struct pcover {
	struct cctx *cx;
	const struct prange *rng;	/* sorted by lo */
	const struct prange *best;	/* best[i]: max hi (then lowest ref) among rng[0..i] */
	size_t nr;
	uint32_t class_id, *mask;
	uint8_t proto;
};

/*
 * Emit the block [port, port + 2^(16 - plen)), which lies inside the union
 * of the ranges, as one entry if a single range covers it, else as its two
 * halves. A single port is always covered, so this ends; and a block is
 * split only when no one range covers it, so no cover by non-overlapping
 * blocks inside single ranges has fewer entries.
 */
static int pcover__block(const struct pcover *pc, uint32_t port, uint8_t plen)
{
	uint32_t last = port + (0x10000u >> plen) - 1;
	size_t lo = 0, hi = pc->nr;
	int err;

	while (lo < hi) {	/* first range starting after port */
		size_t mid = lo + (hi - lo) / 2;

		if (pc->rng[mid].lo <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && pc->best[lo - 1].hi >= last)
		return cctx__port_entry(pc->cx, pc->class_id, pc->proto, port, plen,
					cctx__word(pc->cx, pc->best[lo - 1].ref), 0, pc->mask);
	if (plen >= 16)
		return -EINVAL;	/* not inside the union: cannot happen */
	err = pcover__block(pc, port, plen + 1);
	if (!err)
		err = pcover__block(pc, port + (0x10000u >> (plen + 1)), plen + 1);
	return err;
}

/*
 * Port entries of one class for one protocol: the union of its rules'
 * ranges, cut into the fewest prefix blocks each inside one rule's range.
 * The deciding rule of a block is one that covers all of it (the one
 * reaching furthest), not necessarily the lowest rule_ref for each port.
 */
static int cctx__class_ports(struct cctx *cx, uint32_t class_id, uint8_t proto,
			     struct prange *rng, size_t nr, uint32_t *mask)
{
	struct pcover pc = { .cx = cx, .rng = rng, .nr = nr, .class_id = class_id,
			     .mask = mask, .proto = proto };
	uint16_t ports[32];
	uint8_t plens[32];
	struct prange *best;
	size_t i, k, n;
	uint32_t run_lo, run_hi;
	int err = 0;

	best = malloc(nr * sizeof(*best));
	if (!best)
		return -ENOMEM;
	qsort(rng, nr, sizeof(*rng), prange_lo_cmp);
	for (i = 0; i < nr; i++) {
		best[i] = rng[i];
		if (i && (best[i - 1].hi > rng[i].hi ||
			  (best[i - 1].hi == rng[i].hi && best[i - 1].ref < rng[i].ref)))
			best[i] = best[i - 1];
	}
	pc.best = best;
	for (i = 0; i < nr && !err; i = k) {
		run_lo = rng[i].lo;
		run_hi = rng[i].hi;
		for (k = i + 1; k < nr && rng[k].lo <= run_hi + 1; k++)
			if (rng[k].hi > run_hi)
				run_hi = rng[k].hi;
		n = compile__range_to_prefixes((uint16_t)run_lo, (uint16_t)run_hi, ports, plens);
		for (size_t b = 0; b < n && !err; b++)
			err = pcover__block(&pc, ports[b], plens[b]);
	}
	free(best);
	return err;
}

static const uint8_t l4_protos[NF_L4_MAX] = {
	[NF_L4_TCP] = IPPROTO_TCP,
	[NF_L4_UDP] = IPPROTO_UDP,
	[NF_L4_SCTP] = IPPROTO_SCTP,
};

/*
 * A named port (SPEC §11) of rule ref: an ingress rule's resolves against
 * the ports of the endpoints compiled for (the same name and protocol); an
 * egress rule's against its destination pod's, which only an identity
 * entry knows (the rule's derived copy per identity, compile__named_egress).
 * false: it matches nothing here.
 */
static bool cctx__named_port(const struct cctx *cx, uint32_t ref, const struct nf_port_range *pr,
			     uint8_t proto, uint32_t *lo, uint32_t *hi)
{
	const struct nf_compile_env *env = cx->env;
	size_t i;

	if (cx->rule_dir[ref - 1] != NF_DIR_INGRESS || !env)
		return false;
	for (i = 0; i < env->n_subject_ports; i++) {
		const struct nf_named_port *np = &env->subject_ports[i];

		if (np->proto == proto && !strcmp(np->name, pr->name)) {
			*lo = *hi = np->port;
			return true;
		}
	}
	return false;
}

/* The port ranges of class refs for protocol proto (named ports resolved). */
static int cctx__ranges(struct cctx *cx, const uint32_t *refs, uint32_t n, uint8_t proto,
			struct prange **rng, size_t *cap, size_t *nr)
{
	size_t i, j;

	*nr = 0;
	for (i = 0; i < n; i++) {
		const struct nf_rule *r = cx->rule[refs[i] - 1];

		for (j = 0; j < r->n_ports; j++) {
			const struct nf_port_range *pr = &r->ports[j];
			uint32_t lo = pr->lo, hi = pr->hi;

			/* proto 0: a ClusterNetworkPolicy's named port, of any protocol */
			if (pr->proto != proto && !(pr->name[0] && !pr->proto))
				continue;
			if (pr->name[0] && !cctx__named_port(cx, refs[i], pr, proto, &lo, &hi))
				continue;
			if (lo > hi)
				continue;
			if (ARR_RESERVE(*rng, *cap, *nr + 1))
				return -ENOMEM;
			(*rng)[(*nr)++] = (struct prange){ lo, hi, refs[i] };
		}
	}
	return 0;
}

static int u32_val_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Port entries of a tiered class (one with Admin or Baseline rules) for one
 * protocol: per port, the first Admin decision and the first lower-tier one
 * (abi.h, struct nf_class), exactly. The ranges' bounds cut the ports into
 * intervals on which both are constant; runs of intervals that decide as
 * the class's rules without ports do get no entry, the others one entry per
 * prefix block (blocks do not overlap).
 */
static int cctx__tiered_ports(struct cctx *cx, const struct nf_class *v, uint8_t proto,
			      const struct prange *rng, size_t nr, uint32_t *mask)
{
	uint16_t ports[32];
	uint8_t plens[32];
	uint32_t *cut, low, adm, run_low = 0, run_adm = 0, run_lo = 0;
	size_t n_cut = 0, i, k, b, n;
	bool in_run = false;
	int err = 0;

	cut = malloc((2 * nr + 1) * sizeof(*cut));
	if (!cut)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		cut[n_cut++] = rng[i].lo;
		cut[n_cut++] = rng[i].hi + 1;
	}
	qsort(cut, n_cut, sizeof(*cut), u32_val_cmp);
	for (i = 0, k = 0; i < n_cut; i++)	/* unique */
		if (!k || cut[k - 1] != cut[i])
			cut[k++] = cut[i];
	n_cut = k;
	/* cut[i] .. cut[i + 1] - 1, and a last sentinel interval that is never in a range */
	for (i = 0; i < n_cut && !err; i++) {
		bool covered = i + 1 < n_cut;

		low = v->any_rule;
		adm = v->any_adm;
		for (k = 0; covered && k < nr; k++) {
			uint32_t w;

			if (rng[k].lo > cut[i] || rng[k].hi < cut[i])
				continue;
			w = cctx__word(cx, rng[k].ref);
			if (cctx__is_admin(cx, rng[k].ref))
				adm = lookup__rule_first(adm, w);
			else
				low = lookup__rule_first(low, w);
		}
		if (in_run && (!covered || low != run_low || adm != run_adm)) {
			/* the run [run_lo, cut[i] - 1] ends */
			n = compile__range_to_prefixes((uint16_t)run_lo, (uint16_t)(cut[i] - 1),
						       ports, plens);
			for (b = 0; b < n && !err; b++)
				err = cctx__port_entry(cx, v->class_id, proto, ports[b], plens[b],
						       run_low, run_adm, mask);
			in_run = false;
		}
		if (covered && !in_run && (low != v->any_rule || adm != v->any_adm)) {
			in_run = true;
			run_lo = cut[i];
			run_low = low;
			run_adm = adm;
		}
	}
	free(cut);
	return err;
}

static int cctx__classes(struct cctx *cx, struct nf_class *classes)
{
	struct prange *rng = NULL;
	size_t cap_rng = 0, s, i, nr;
	int err = 0, l4;

	for (s = 0; s < cx->n_sets; s++) {
		const uint32_t *refs = cx->pool + cx->sets[s].off;
		uint32_t n = cx->sets[s].n;
		struct nf_class *v = &classes[s + 1];

		memset(v, 0, sizeof(*v));
		v->class_id = NF_CLASS_ID(cx->tenant_id, cx->epoch, s + 1);
		for (i = 0; i < n; i++) {
			uint32_t w = cctx__word(cx, refs[i]);

			if (cx->rule_tier[cctx__own_ref(cx, refs[i]) - 1] != NF_TIER_NP)
				v->tiered = 1;
			if (cx->rule[refs[i] - 1]->n_ports)
				continue;
			if (cctx__is_admin(cx, refs[i]))
				v->any_adm = lookup__rule_first(v->any_adm, w);
			else
				v->any_rule = lookup__rule_first(v->any_rule, w);
		}
		/* NetworkPolicy rules only: a rule without ports allows everything */
		if (!v->tiered && v->any_rule)
			continue;
		for (l4 = 0; l4 < NF_L4_MAX; l4++) {
			err = cctx__ranges(cx, refs, n, l4_protos[l4], &rng, &cap_rng, &nr);
			if (!err && nr && v->tiered)
				err = cctx__tiered_ports(cx, v, l4_protos[l4], rng, nr,
							 &v->plen_mask[l4]);
			else if (!err && nr)
				err = cctx__class_ports(cx, v->class_id, l4_protos[l4], rng, nr,
							&v->plen_mask[l4]);
			if (err)
				goto out;
		}
	}
out:
	free(rng);
	return err;
}

/* ---- lookup ---- */

/* By the rules alone: no node-ingress setting (cfg_flags 0), the identity as given. */
uint32_t compile__lookup(const struct nf_compiled *c, const struct nf_query *q)
{
	struct nf_lookup_src src;
	uint32_t rule = 0;

	lookup__src_compiled(&src, c);
	if (lookup__decide(&src, c->tenant_id, c->epoch, q, 0, &rule))
		return 0;	/* memory tables cannot fail to read */
	return rule;
}

/* ---- entry points ---- */

struct pol_ord {
	struct nf_policy *p;
	size_t idx;
};

/* Evaluation order of the tiers (SPEC §13): Admin, NetworkPolicy, Baseline. */
static int tier_rank(enum nf_tier t)
{
	return t == NF_TIER_ADMIN ? 0 : t == NF_TIER_NP ? 1 : 2;
}

/*
 * Rules are numbered in evaluation order: by tier, then priority, then
 * policy kind and name (upstream leaves the order of equal priorities to
 * the implementation: netfence's is by name), then as written.
 */
static int pol_ord_cmp(const void *a, const void *b)
{
	const struct pol_ord *x = a, *y = b;
	int r = tier_rank(x->p->tier) - tier_rank(y->p->tier);

	if (!r)
		r = (x->p->priority > y->p->priority) - (x->p->priority < y->p->priority);
	if (!r)
		r = (int)x->p->cnp_kind - (int)y->p->cnp_kind;
	if (!r)
		r = strcmp(x->p->name ? x->p->name : "", y->p->name ? y->p->name : "");
	if (r)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The decision word of a rule of policy p (abi.h). */
static uint32_t rule_word(const struct nf_policy *p, const struct nf_rule *r, uint32_t ref)
{
	uint32_t act = NF_RULE_ALLOW;

	if (r->action == NF_ACT_PASS)
		act = NF_RULE_PASS;
	else if (r->action == NF_ACT_DENY)
		act = p->tier == NF_TIER_BASELINE ? NF_RULE_DENY_BASELINE : NF_RULE_DENY_ADMIN;
	return NF_RULE_MAKE(ref, act);
}

void compile__free(struct nf_compiled *c)
{
	if (!c)
		return;
	free(c->trie);
	free(c->ports);
	free(c->rules);
	free(c);
}

int compile__tenant(const char *tenant, uint32_t tenant_id, uint32_t epoch,
		    struct nf_policy *const *pols, size_t n_pols,
		    nf_tenant_id_fn id_fn, void *id_ctx, struct nf_compiled **out)
{
	struct nf_compile_env env = { .id_fn = id_fn, .id_ctx = id_ctx };

	return compile__tenant_env(tenant, tenant_id, epoch, pols, n_pols, &env, out);
}

int compile__tenant_env(const char *tenant, uint32_t tenant_id, uint32_t epoch,
			struct nf_policy *const *pols, size_t n_pols,
			const struct nf_compile_env *env, struct nf_compiled **out)
{
	nf_tenant_id_fn id_fn = env->id_fn;
	void *id_ctx = env->id_ctx;
	struct nf_class *classes = NULL;
	struct pol_ord *ord = NULL;
	struct nf_compiled *c;
	struct cctx cx = { .tenant_id = tenant_id, .epoch = epoch, .env = env };
	size_t i, j, n_rules = 0;
	bool np_dir[NF_DIR_MAX] = {};
	uint8_t dir;
	int err = 0;

	*out = NULL;
	if (!tenant_id || tenant_id >= NF_MAX_TENANTS)
		return -EINVAL;	/* NF_CLASS_ID() has 12 bits for it */
	c = calloc(1, sizeof(*c));
	ord = calloc(n_pols ? n_pols : 1, sizeof(*ord));
	if (!c || !ord) {
		err = -ENOMEM;
		goto out;
	}
	c->tenant_id = tenant_id;
	c->epoch = epoch;
	/* SPEC §13: NetworkPolicies that select the endpoints for a direction
	 * decide there (allow or deny): Baseline rules never apply to it. */
	for (i = 0; i < n_pols; i++)
		for (dir = 0; dir < NF_DIR_MAX; dir++)
			np_dir[dir] |= pols[i]->tier == NF_TIER_NP && pols[i]->has_dir[dir];
	for (i = 0; i < n_pols; i++) {
		ord[i] = (struct pol_ord){ .p = pols[i], .idx = i };
		for (dir = 0; dir < NF_DIR_MAX; dir++)
			if (pols[i]->has_dir[dir])
				n_rules += pols[i]->n_rules[dir];
	}
	if (n_pols > 1)
		qsort(ord, n_pols, sizeof(*ord), pol_ord_cmp);

	c->rules = calloc(n_rules ? n_rules : 1, sizeof(*c->rules));
	cx.rule = calloc(n_rules ? n_rules : 1, sizeof(*cx.rule));
	cx.rule_dir = calloc(n_rules ? n_rules : 1, sizeof(*cx.rule_dir));
	cx.resolved = calloc(n_rules ? n_rules : 1, sizeof(*cx.resolved));
	cx.rule_word = calloc(n_rules ? n_rules : 1, sizeof(*cx.rule_word));
	cx.rule_tier = calloc(n_rules ? n_rules : 1, sizeof(*cx.rule_tier));
	if (!c->rules || !cx.rule || !cx.rule_dir || !cx.resolved || !cx.rule_word ||
	    !cx.rule_tier) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n_pols; i++) {
		struct nf_policy *p = ord[i].p;

		for (dir = 0; dir < NF_DIR_MAX; dir++) {
			if (!p->has_dir[dir] || (p->tier == NF_TIER_BASELINE && np_dir[dir]))
				continue;
			for (j = 0; j < p->n_rules[dir]; j++) {
				const struct nf_rule *r = &p->rules[dir][j];

				c->rules[c->n_rules] = (struct nf_rule_info){
					.policy = p->name, .dir = dir, .index = (uint32_t)j,
					.rule_name = r->name, .cnp_kind = (uint8_t)p->cnp_kind,
					.tier = (uint8_t)p->tier, .action = (uint8_t)r->action,
					.priority = p->priority };
				err = cctx__resolve(&cx, r, &cx.rule[c->n_rules]);
				if (err)
					goto out;
				cx.rule_dir[c->n_rules] = dir;
				cx.rule_word[c->n_rules] = rule_word(p, r, (uint32_t)c->n_rules + 1);
				cx.rule_tier[c->n_rules] = (uint8_t)p->tier;
				c->n_rules++;
				c->n_rules_dir[dir]++;
			}
		}
	}
	cx.n_rule = c->n_rules;
	cx.out = c;

	for (dir = 0; dir < NF_DIR_MAX; dir++) {
		if (!c->n_rules_dir[dir])
			continue;
		err = compile__addr_dir(&cx, dir);
		if (!err)
			err = compile__ident_dir(&cx, dir, id_fn, id_ctx);
		if (err)
			goto out;
	}

	classes = calloc(cx.n_sets + 1, sizeof(*classes));
	if (!classes) {
		err = -ENOMEM;
		goto out;
	}
	err = cctx__classes(&cx, classes);
	if (err)
		goto out;
	for (i = 0; i < cx.n_trie; i++)
		cx.trie[i].val = classes[cx.trie_cls[i]];

	c->trie = cx.trie;
	c->n_trie = cx.n_trie;
	cx.trie = NULL;
	c->ports = cx.ports;
	c->n_ports = cx.n_ports;
	cx.ports = NULL;
	c->n_classes = (uint32_t)cx.n_sets;
	lookup__sort_compiled(c);
	pr_debug("compiled tenant %s: %zu rules, %u classes, %zu trie entries, %zu port entries",
		 tenant ? tenant : "?", c->n_rules, c->n_classes, c->n_trie, c->n_ports);
	*out = c;
	c = NULL;
out:
	if (err == -ENOMEM)
		pr_err("compiling tenant %s: out of memory", tenant ? tenant : "?");
	compile__free(c);
	free(classes);
	free(ord);
	cctx__fini(&cx);
	return err;
}

size_t compile__network_policies(struct nf_policy *const *pols, size_t n, const char *key,
				 struct nf_policy **out, bool *multi)
{
	size_t i, k = 0;

	size_t n_multi = 0;

	for (i = 0; key && i < n; i++)
		if (policy__is_for_network(pols[i], key))
			out[k++] = pols[i];
	n_multi = k;
	if (multi)
		*multi = n_multi != 0;
	/* cluster policies (SPEC §13) apply on every network */
	for (i = 0; i < n; i++)
		if (!pols[i]->n_networks && (!n_multi || pols[i]->cnp_kind))
			out[k++] = pols[i];
	return k;
}
